//! Loading and linking: sources in, linked flows and every diagnostic out.
//!
//! Each file is parsed (with positions), checked against the format's JSON Schema, read into
//! the `def` types, and then linked: `use:` is expanded from the form-defs (missing ones and
//! cycles are errors), ids are checked for duplicates, expressions are compiled and every name
//! they read is resolved, roles and parties are checked, the template must exist, and the
//! sample answers must pass validation. Nothing stops at the first problem.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::def::{
    FieldDef, FieldType, FlowDef, FormDef, NotifyEvent, Prefill, SigningOrder, StepKind,
};
use crate::diag::{Diagnostics, Pos, did_you_mean};
use crate::expr::{Expr, ExprErrorKind, template_names};
use crate::model::{
    ChoiceOption, Field, Flow, Notify, OrderRule, Origin, Party, Retention, Role, Section,
    SignerSlot, Step, Text,
};
use crate::schema::{DefKind, check_and_read};
use crate::shape::{Shape, default_of, default_value, shape_of};
use crate::source::{FlowSource, Sources};
use crate::yaml::{Doc, parse_one};

/// Names every expression may read besides the answers.
pub const BUILTIN_NAMES: &[&str] = &["case", "today", "now", "identity", "flow"];
/// Names text templates (document title, file name, sign message) may read in addition.
pub const TEMPLATE_NAMES: &[&str] = &["document", "signer"];
/// Where templates see the shared includes (`Sources::shared`).
pub const SHARED_PREFIX: &str = "_shared/";

/// The result of loading: the flows that linked without errors.
#[derive(Debug, Default)]
pub struct Definitions {
    pub flows: Vec<Flow>,
    pub form_defs: Vec<String>,
}

impl Definitions {
    pub fn flow(&self, id: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.id == id)
    }
}

struct FormEntry {
    path: String,
    doc: Doc,
    def: FormDef,
    hash: String,
}

/// Loads and links everything; returns the flows without errors and all diagnostics.
pub fn load(sources: &Sources) -> (Definitions, Diagnostics) {
    let mut diags = Diagnostics::new();
    for p in &sources.problems {
        diags.error(&p.file, p.pos, p.message.clone());
    }

    let mut forms: HashMap<String, FormEntry> = HashMap::new();
    for src in &sources.form_defs {
        if let Some(prev) = forms.get(&src.name) {
            diags.error(
                &src.path,
                Pos::START,
                format!(
                    "a form-def named `{}` is also defined in {}",
                    src.name, prev.path
                ),
            );
            continue;
        }
        let Some(mut doc) = parse_one(&src.path, &src.text, &mut diags) else {
            continue;
        };
        let Some(def) =
            check_and_read::<FormDef>(DefKind::FormDef, &src.path, &mut doc, &mut diags)
        else {
            continue;
        };
        if def.version != 1 {
            diags.error(
                &src.path,
                doc.value_pos("/version"),
                format!(
                    "format version {} is not supported; this Blankett reads version 1",
                    def.version
                ),
            );
        }
        if def.id != src.name {
            diags.error(
                &src.path,
                doc.value_pos("/id"),
                format!(
                    "the id `{}` must equal the file name `{}`",
                    def.id, src.name
                ),
            );
        }
        forms.insert(
            src.name.clone(),
            FormEntry {
                path: src.path.clone(),
                doc,
                def,
                hash: sha256_hex(src.text.as_bytes()),
            },
        );
    }

    // Check every form-def on its own, so that mistakes in unused ones are found too.
    let mut names: Vec<&String> = forms.keys().collect();
    names.sort();
    for name in &names {
        if let Some(entry) = forms.get(*name) {
            let mut ex = Expander::new(&forms);
            ex.stack.push((*name).clone());
            let fields = ex.expand(
                &entry.def.fields,
                &entry.path,
                &entry.doc,
                "/fields",
                &[],
                &[],
            );
            check_siblings(&fields, &mut ex.diags);
            diags.extend(ex.diags);
        }
    }

    let mut defs = Definitions {
        form_defs: names.iter().map(|s| (*s).clone()).collect(),
        ..Default::default()
    };
    let mut seen_ids: HashMap<String, String> = HashMap::new();
    for src in &sources.flows {
        let file = src.path_of("flow.yaml");
        let Some(mut doc) = parse_one(&file, &src.flow_yaml, &mut diags) else {
            continue;
        };
        let Some(def) = check_and_read::<FlowDef>(DefKind::Flow, &file, &mut doc, &mut diags)
        else {
            continue;
        };
        if let Some(other) = seen_ids.insert(def.id.clone(), file.clone()) {
            diags.error(
                &file,
                doc.value_pos("/id"),
                format!("flow id `{}` is also used by {other}", def.id),
            );
            continue;
        }
        let before = diags.error_count();
        let flow = link_flow(src, &sources.shared, &file, &doc, def, &forms, &mut diags);
        if let Some(flow) = flow
            && diags.error_count() == before
        {
            defs.flows.push(flow);
        }
    }
    defs.flows.sort_by(|a, b| a.id.cmp(&b.id));
    (defs, diags)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---- expansion of fields -----------------------------------------------------------------

/// Most fields a flow may hold, counting every field a `use:` inserts and every field of a
/// group (the shipped flows have at most a few hundred).
pub const MAX_FIELDS: usize = 50_000;
/// How deep groups may nest inside groups.
pub const MAX_GROUP_DEPTH: usize = 8;
/// How deep `use:` may nest (a form-def that uses a form-def …).
pub const MAX_USE_DEPTH: usize = 16;
/// Most options of one choice field.
pub const MAX_OPTIONS: usize = 5_000;
/// Most steps of one flow.
pub const MAX_STEPS: usize = 1_000;
/// The largest `max_size` of a file field (50 MB).
pub const MAX_FILE_BYTES: u64 = 50_000_000;

/// The largest `max:` of a group, and the number of items a group without `max:` takes.
pub const MAX_GROUP_ITEMS: usize = 10_000;

struct Expander<'a> {
    forms: &'a HashMap<String, FormEntry>,
    diags: Diagnostics,
    stack: Vec<String>,
    used: IndexMap<String, String>,
    /// Fields made so far, against [`MAX_FIELDS`]; past it nothing more is expanded.
    count: usize,
    /// Groups open around the field being expanded, against [`MAX_GROUP_DEPTH`].
    group_depth: usize,
}

impl<'a> Expander<'a> {
    fn new(forms: &'a HashMap<String, FormEntry>) -> Self {
        Self {
            forms,
            diags: Diagnostics::new(),
            stack: Vec::new(),
            used: IndexMap::new(),
            count: 0,
            group_depth: 0,
        }
    }

    /// Expands `defs` (at JSON pointer `ptr` in `file`) into linked fields under `parent`.
    fn expand(
        &mut self,
        defs: &[FieldDef],
        file: &str,
        doc: &Doc,
        ptr: &str,
        parent: &[String],
        inherited_show: &[Expr],
    ) -> Vec<Field> {
        let mut out = Vec::new();
        for (i, fd) in defs.iter().enumerate() {
            let here = format!("{ptr}/{i}");
            if self.count >= MAX_FIELDS {
                if self.count == MAX_FIELDS {
                    self.count += 1;
                    self.diags.error(
                        file,
                        doc.value_pos(&here),
                        format!(
                            "the flow has more than {MAX_FIELDS} fields (counting those `use:` inserts and those of groups); the rest is not read"
                        ),
                    );
                }
                return out;
            }
            if let Some(name) = &fd.use_def {
                out.extend(self.expand_use(fd, name, file, doc, &here, parent, inherited_show));
            } else if let Some(field) = self.field(fd, file, doc, &here, parent, inherited_show) {
                self.count += 1;
                out.push(field);
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn expand_use(
        &mut self,
        fd: &FieldDef,
        name: &str,
        file: &str,
        doc: &Doc,
        here: &str,
        parent: &[String],
        inherited_show: &[Expr],
    ) -> Vec<Field> {
        let d = &mut self.diags;
        let pos = doc.value_pos(&format!("{here}/use"));
        if fd.id.is_some() || fd.kind.is_some() {
            d.error(
                file,
                doc.key_pos(here),
                "a field has either `use` or `id` and `type`, not both",
            );
        }
        for (key, set) in [
            ("required", fd.required),
            ("compute", fd.compute.is_some()),
            ("options", !fd.options.is_empty()),
            ("fields", !fd.fields.is_empty()),
            ("prefill", fd.prefill.is_some()),
            ("required_if", fd.required_if.is_some()),
        ] {
            if set {
                d.error(
                    file,
                    doc.key_pos(&format!("{here}/{key}")),
                    format!("`{key}` cannot be set on a `use`; set it in the form-def"),
                );
            }
        }
        if let Some(start) = self.stack.iter().position(|s| s == name) {
            let mut chain: Vec<&str> = self.stack[start..].iter().map(String::as_str).collect();
            chain.push(name);
            d.error(
                file,
                pos,
                format!("`use: {name}` makes a cycle: {}", chain.join(" → ")),
            );
            return Vec::new();
        }
        if self.stack.len() >= MAX_USE_DEPTH {
            d.error(
                file,
                pos,
                format!(
                    "`use: {name}` nests form-defs more than {MAX_USE_DEPTH} deep: {} → {name}",
                    self.stack.join(" → ")
                ),
            );
            return Vec::new();
        }
        let forms = self.forms;
        let Some(entry) = forms.get(name) else {
            let hint = did_you_mean(name, forms.keys().map(String::as_str));
            d.error(
                file,
                pos,
                format!("`use: {name}`: there is no form-def `{name}` (looked for form-defs/{name}.yaml){hint}"),
            );
            return Vec::new();
        };
        self.used.insert(name.to_owned(), entry.hash.clone());
        let mut show = inherited_show.to_vec();
        if let Some(src) = &fd.show_if
            && let Some(e) = compile(src, file, doc, &format!("{here}/show_if"), &mut self.diags)
        {
            show.push(e);
        }
        let mut sub_parent = parent.to_vec();
        if let Some(prefix) = &fd.prefix {
            sub_parent.push(prefix.clone());
        } else if fd.label.is_some() {
            self.diags.warning(
                file,
                doc.key_pos(&format!("{here}/label")),
                "`label` on a `use` without `as` is not shown; add `as:` to make it a titled group",
            );
        }
        self.stack.push(name.to_owned());
        let mut fields = self.expand(
            &entry.def.fields,
            &entry.path,
            &entry.doc,
            "/fields",
            &sub_parent,
            &show,
        );
        self.stack.pop();
        if fd.prefix.is_some()
            && let Some(first) = fields.first_mut()
        {
            first.section = Some(Section {
                prefix: sub_parent.clone(),
                label: fd
                    .label
                    .as_ref()
                    .map(Text::from)
                    .or_else(|| Some(Text::from(&entry.def.title))),
            });
        }
        fields
    }

    fn field(
        &mut self,
        fd: &FieldDef,
        file: &str,
        doc: &Doc,
        here: &str,
        parent: &[String],
        inherited_show: &[Expr],
    ) -> Option<Field> {
        let at = |k: &str| doc.key_pos(&format!("{here}/{k}"));
        let (Some(id), Some(kind)) = (&fd.id, fd.kind) else {
            let missing = if fd.id.is_none() { "id" } else { "type" };
            self.diags.error(
                file,
                doc.value_pos(here),
                format!("a field needs `{missing}` (or `use:` to insert a form-def)"),
            );
            return None;
        };
        let d = &mut self.diags;
        if fd.prefix.is_some() {
            d.error(file, at("as"), "`as` only goes with `use`");
        }
        // Which keys apply to which types.
        let textual = kind.is_textual();
        let numeric = matches!(kind, FieldType::Integer | FieldType::Decimal);
        let choice = matches!(kind, FieldType::Choice | FieldType::MultiChoice);
        let checks: [(&str, bool, &str); 11] = [
            (
                "options",
                !fd.options.is_empty() && !choice,
                "choice and multi_choice fields",
            ),
            (
                "display",
                fd.display.is_some() && !choice,
                "choice and multi_choice fields",
            ),
            (
                "min",
                fd.min.is_some() && !numeric && kind != FieldType::Group,
                "integer, decimal and group fields",
            ),
            (
                "max",
                fd.max.is_some() && !numeric && kind != FieldType::Group,
                "integer, decimal and group fields",
            ),
            (
                "min_length",
                fd.min_length.is_some() && !textual,
                "text fields",
            ),
            (
                "max_length",
                fd.max_length.is_some() && !textual,
                "text fields",
            ),
            ("pattern", fd.pattern.is_some() && !textual, "text fields"),
            (
                "decimals",
                fd.decimals.is_some() && kind != FieldType::Decimal,
                "decimal fields",
            ),
            (
                "max_size",
                fd.max_size.is_some() && kind != FieldType::File,
                "file fields",
            ),
            (
                "accept",
                !fd.accept.is_empty() && kind != FieldType::File,
                "file fields",
            ),
            (
                "fields",
                !fd.fields.is_empty() && kind != FieldType::Group,
                "group fields",
            ),
        ];
        for (key, wrong, which) in checks {
            if wrong {
                d.error(
                    file,
                    at(key),
                    format!(
                        "`{key}` does not apply to a {} field; it is for {which}",
                        kind.name()
                    ),
                );
            }
        }
        if choice && fd.options.is_empty() {
            d.error(
                file,
                doc.value_pos(here),
                format!("a {} field needs `options`", kind.name()),
            );
        }
        if fd.options.len() > MAX_OPTIONS {
            d.error(
                file,
                at("options"),
                format!(
                    "{} options; a field may have at most {MAX_OPTIONS}",
                    fd.options.len()
                ),
            );
        }
        let mut seen_values = HashSet::new();
        for (i, o) in fd.options.iter().enumerate() {
            if !seen_values.insert(o.value.as_str()) {
                d.error(
                    file,
                    doc.value_pos(&format!("{here}/options/{i}/value")),
                    format!("option value `{}` appears twice", o.value),
                );
            }
        }
        match (kind, fd.display) {
            (FieldType::Choice, Some(crate::def::Display::Checkboxes)) => d.error(
                file,
                at("display"),
                "a single choice is shown as `radio` or `select`; `checkboxes` is for multi_choice",
            ),
            (
                FieldType::MultiChoice,
                Some(crate::def::Display::Radio | crate::def::Display::Select),
            ) => d.error(
                file,
                at("display"),
                "a multi_choice is shown as `checkboxes`",
            ),
            _ => {}
        }
        if kind == FieldType::Group && fd.fields.is_empty() {
            d.error(file, doc.value_pos(here), "a group field needs `fields`");
        }
        if kind == FieldType::Info {
            if fd.text.is_none() {
                d.error(file, doc.value_pos(here), "an info field needs `text`");
            }
            for (key, set) in [
                ("required", fd.required),
                ("compute", fd.compute.is_some()),
                ("prefill", fd.prefill.is_some()),
            ] {
                if set {
                    d.error(
                        file,
                        at(key),
                        format!("`{key}` does not apply to an info field"),
                    );
                }
            }
        } else if fd.text.is_some() {
            d.error(
                file,
                at("text"),
                "`text` is for info fields; use `help` for help text",
            );
        }
        if kind != FieldType::Info && fd.label.is_none() {
            d.error(
                file,
                doc.value_pos(here),
                format!("field `{id}` needs a `label` (every input must be labelled)"),
            );
        }
        if let (Some(min), Some(max)) = (fd.min, fd.max)
            && min > max
        {
            d.error(
                file,
                at("min"),
                format!("`min` ({min}) is larger than `max` ({max})"),
            );
        }
        if let (Some(min), Some(max)) = (fd.min_length, fd.max_length)
            && min > max
        {
            d.error(
                file,
                at("min_length"),
                "`min_length` is larger than `max_length`",
            );
        }
        if kind == FieldType::Group {
            for (key, v) in [("min", fd.min), ("max", fd.max)] {
                if let Some(v) = v
                    && (v < 0.0 || v.fract() != 0.0)
                {
                    d.error(
                        file,
                        at(key),
                        format!("`{key}` of a group is a whole number of items"),
                    );
                } else if let Some(v) = v
                    && v > MAX_GROUP_ITEMS as f64
                {
                    d.error(
                        file,
                        at(key),
                        format!("`{key}` of a group is at most {MAX_GROUP_ITEMS} items"),
                    );
                }
            }
        }
        if let Some(p) = &fd.pattern
            && jsonschema::options()
                .build(&json!({"type": "string", "pattern": p}))
                .is_err()
        {
            d.error(
                file,
                doc.value_pos(&format!("{here}/pattern")),
                format!("`{p}` is not a valid regular expression"),
            );
        }
        if let Some(pf) = fd.prefill {
            let ok = match pf {
                Prefill::Personnummer => kind == FieldType::Personnummer,
                _ => matches!(kind, FieldType::Text),
            };
            if !ok {
                d.error(
                    file,
                    at("prefill"),
                    format!(
                        "`prefill` of this kind does not fit a {} field",
                        kind.name()
                    ),
                );
            }
        }
        if fd.compute.is_some() {
            if matches!(kind, FieldType::File | FieldType::Group | FieldType::Info) {
                d.error(
                    file,
                    at("compute"),
                    format!("a {} field cannot be computed", kind.name()),
                );
            }
            if fd.required || fd.required_if.is_some() {
                d.warning(
                    file,
                    at("compute"),
                    "a computed field is never entered, so `required` has no effect",
                );
            }
            if fd.prefill.is_some() {
                d.error(
                    file,
                    at("prefill"),
                    "a field is either computed or prefilled, not both",
                );
            }
        }
        if fd.required && fd.required_if.is_some() {
            d.warning(
                file,
                at("required_if"),
                "`required: true` already makes the field required; `required_if` has no effect",
            );
        }
        let max_size = match &fd.max_size {
            Some(s) => match parse_size(s) {
                Some(n) => Some(n),
                None => {
                    d.error(
                        file,
                        doc.value_pos(&format!("{here}/max_size")),
                        format!("`{s}` is not a size such as 10MB"),
                    );
                    None
                }
            },
            None if kind == FieldType::File => Some(10 * 1024 * 1024),
            None => None,
        };
        for (i, a) in fd.accept.iter().enumerate() {
            if crate::files::accept_type(a).is_none() {
                let known: Vec<&str> = crate::files::KNOWN_TYPES
                    .iter()
                    .flat_map(|(t, exts)| std::iter::once(*t).chain(exts.iter().copied()))
                    .collect();
                d.error(
                    file,
                    doc.value_pos(&format!("{here}/accept/{i}")),
                    format!(
                        "`{a}` is not a file type Blankett can recognise by its content; use one of: {}",
                        known.join(", ")
                    ),
                );
            }
        }
        if let Some(n) = max_size
            && n > MAX_FILE_BYTES
        {
            d.error(
                file,
                doc.value_pos(&format!("{here}/max_size")),
                format!(
                    "a file field takes at most {} MB (`limits.upload_bytes` bounds a whole request)",
                    MAX_FILE_BYTES / 1_000_000
                ),
            );
        }
        let mut show = inherited_show.to_vec();
        if let Some(src) = &fd.show_if
            && let Some(e) = compile(src, file, doc, &format!("{here}/show_if"), &mut self.diags)
        {
            show.push(e);
        }
        let required_if = fd.required_if.as_ref().and_then(|s| {
            compile(
                s,
                file,
                doc,
                &format!("{here}/required_if"),
                &mut self.diags,
            )
        });
        let compute = fd
            .compute
            .as_ref()
            .and_then(|s| compile(s, file, doc, &format!("{here}/compute"), &mut self.diags));
        if kind == FieldType::File && self.group_depth > 0 {
            self.diags.error(
                file,
                doc.value_pos(&format!("{here}/type")),
                "a `file` field cannot be inside a repeating group yet; put it directly on a step",
            );
        }
        let children = if kind == FieldType::Group {
            if self.group_depth >= MAX_GROUP_DEPTH {
                self.diags.error(
                    file,
                    doc.value_pos(here),
                    format!("groups nest more than {MAX_GROUP_DEPTH} deep here"),
                );
                Vec::new()
            } else {
                self.group_depth += 1;
                let children =
                    self.expand(&fd.fields, file, doc, &format!("{here}/fields"), &[], &[]);
                self.group_depth -= 1;
                children
            }
        } else {
            Vec::new()
        };
        Some(Field {
            id: id.clone(),
            parent: parent.to_vec(),
            kind,
            label: fd.label.as_ref().map(Text::from).unwrap_or_default(),
            help: fd.help.as_ref().map(Text::from),
            text: fd.text.as_ref().map(Text::from),
            section: None,
            required: fd.required,
            required_if,
            show_if: show,
            compute,
            prefill: fd.prefill,
            min: fd.min,
            max: fd.max,
            min_length: fd.min_length,
            max_length: fd.max_length,
            pattern: fd.pattern.clone(),
            pattern_message: fd.pattern_message.as_ref().map(Text::from),
            decimals: fd.decimals.unwrap_or(2),
            options: fd.options.iter().map(ChoiceOption::from).collect(),
            display: fd.display,
            max_size,
            accept: fd.accept.clone(),
            autocomplete: fd.autocomplete.clone(),
            children,
            origin: Origin {
                file: file.to_owned(),
                pos: doc.value_pos(here),
            },
        })
    }
}

fn compile(src: &str, file: &str, doc: &Doc, ptr: &str, diags: &mut Diagnostics) -> Option<Expr> {
    match Expr::compile(src) {
        Ok(e) => Some(e.located(file, doc.value_pos(ptr))),
        Err(e) => {
            let mut pos = doc.value_pos(ptr);
            if let Some(l) = e.line.filter(|l| *l > 1) {
                pos.line += l - 1;
            }
            diags.error(
                file,
                pos,
                format!("in expression `{}`: {}", src.trim(), e.message),
            );
            None
        }
    }
}

/// `10MB`, `500kB`, `2MiB`, `100B` → bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "B" => 1,
        "kB" | "KB" => 1000,
        "KiB" | "kiB" => 1024,
        "MB" => 1000 * 1000,
        "MiB" => 1024 * 1024,
        "GB" => 1000 * 1000 * 1000,
        "GiB" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// A duration that is not `Nd`, `Nw`, `Nm`, `Ny` or `keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a duration such as 30d, 12w, 6m, 10y or keep")]
pub struct BadDuration;

/// `30d`, `12w`, `6m`, `10y` → days (months as 30, years as 365); `keep` → None.
pub fn parse_days(s: &str) -> Result<Option<u32>, BadDuration> {
    if s == "keep" {
        return Ok(None);
    }
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u32 = num.parse().map_err(|_| BadDuration)?;
    let per = match unit {
        "d" => 1,
        "w" => 7,
        "m" => 30,
        "y" => 365,
        _ => return Err(BadDuration),
    };
    n.checked_mul(per).map(Some).ok_or(BadDuration)
}

/// Duplicate ids among fields that share an object.
fn check_siblings(fields: &[Field], diags: &mut Diagnostics) {
    let mut seen: HashMap<Vec<String>, &Field> = HashMap::new();
    for f in fields {
        let path = f.local_path();
        if let Some(prev) = seen.get(&path) {
            diags.error(
                &f.origin.file,
                f.origin.pos,
                format!(
                    "`{}` is defined twice here (also at {}:{})",
                    path.join("."),
                    prev.origin.file,
                    prev.origin.pos.line
                ),
            );
        } else {
            seen.insert(path.clone(), f);
        }
        // a prefix must not also be a field id
        for depth in 1..path.len() {
            let prefix = path[..depth].to_vec();
            if let Some(prev) = seen.get(&prefix)
                && prev.kind != FieldType::Group
            {
                diags.error(
                    &f.origin.file,
                    f.origin.pos,
                    format!(
                        "`{}` is both a field and a prefix of `{}`",
                        prefix.join("."),
                        path.join(".")
                    ),
                );
            }
        }
        check_siblings(&f.children, diags);
    }
}

// ---- names and shapes ----------------------------------------------------------------------

fn leaf_obj(keys: &[&str]) -> Shape {
    Shape::Obj(
        keys.iter()
            .map(|k| ((*k).to_owned(), Shape::Leaf(None)))
            .collect(),
    )
}

/// The names every expression may read besides the answers (`BUILTIN_NAMES`).
fn builtin_shapes() -> IndexMap<String, Shape> {
    let mut m = IndexMap::new();
    m.insert("case".into(), leaf_obj(&["id", "number", "created_at"]));
    m.insert("today".into(), Shape::Leaf(None));
    m.insert("now".into(), Shape::Leaf(None));
    m.insert(
        "identity".into(),
        leaf_obj(&["name", "given_name", "surname", "personnummer"]),
    );
    m.insert("flow".into(), leaf_obj(&["id", "title", "revision"]));
    m
}

/// The names text templates may read in addition (`TEMPLATE_NAMES`).
fn template_only_shapes() -> IndexMap<String, Shape> {
    let mut m = IndexMap::new();
    m.insert(
        "document".into(),
        leaf_obj(&["title", "sha256", "filename"]),
    );
    m.insert("signer".into(), leaf_obj(&["label", "name"]));
    m
}

struct NameCheck<'a> {
    diags: &'a mut Diagnostics,
    /// Step id → index, for "answered in a later step" warnings.
    step_index: HashMap<String, usize>,
}

impl NameCheck<'_> {
    /// Checks every name an expression reads against `layers` (innermost first).
    /// `current_step` is the index of the step the expression belongs to, if any.
    fn check(
        &mut self,
        expr: &Expr,
        layers: &[&IndexMap<String, Shape>],
        current_step: Option<usize>,
        what: &str,
    ) -> Vec<usize> {
        let Some((file, pos)) = expr.origin().map(|(f, p)| (f.to_owned(), p)) else {
            return Vec::new();
        };
        let mut steps_read = Vec::new();
        let mut names: Vec<String> = expr.names().into_iter().collect();
        names.sort();
        // Dry run with empty answers (below): only the names the expression reads, so the
        // cost is that of the expression, not of the whole flow.
        let mut ctx = Map::new();
        for name in &names {
            let first = name.split('.').next().unwrap_or(name);
            if !ctx.contains_key(first)
                && let Some(shape) = layers.iter().find_map(|l| l.get(first))
            {
                ctx.insert(first.to_owned(), default_value(shape));
            }
        }
        for name in names {
            match resolve(&name, layers) {
                Ok(top_level_step) => {
                    if let Some(s) = top_level_step.and_then(|s| self.step_index.get(&s)) {
                        steps_read.push(*s);
                        if let Some(cur) = current_step
                            && *s > cur
                        {
                            self.diags.warning(
                                    &file,
                                    pos,
                                    format!("{what} reads `{name}`, which is answered in a later step; here it is always empty"),
                                );
                        }
                    }
                }
                Err(msg) => self.diags.error(&file, pos, format!("{what}: {msg}")),
            }
        }
        // Dry run with empty answers: finds unknown filters and functions.
        if let Err(e) = expr.eval(&Value::Object(ctx))
            && e.kind == ExprErrorKind::UnknownFilterOrFunction
        {
            self.diags
                .error(&file, pos, format!("{what}: {}", e.message));
        }
        steps_read
    }

    fn check_template(
        &mut self,
        src: &str,
        file: &str,
        pos: Pos,
        layers: &[&IndexMap<String, Shape>],
        what: &str,
    ) {
        match template_names(src) {
            Ok(names) => {
                let mut names: Vec<String> = names.into_iter().collect();
                names.sort();
                for name in names {
                    if let Err(msg) = resolve(&name, layers) {
                        self.diags.error(file, pos, format!("{what}: {msg}"));
                    }
                }
            }
            Err(e) => {
                let mut pos = pos;
                if let Some(l) = e.line.filter(|l| *l > 1) {
                    pos.line += l - 1;
                }
                self.diags
                    .error(file, pos, format!("{what}: {}", e.message));
            }
        }
    }
}

/// Resolves a dotted name; on success returns the top-level name when it is a step id.
fn resolve(name: &str, layers: &[&IndexMap<String, Shape>]) -> Result<Option<String>, String> {
    let segs: Vec<&str> = name.split('.').collect();
    let Some(first) = segs.first() else {
        return Ok(None);
    };
    let top = layers.last();
    let Some((depth, mut shape)) = layers
        .iter()
        .enumerate()
        .find_map(|(i, l)| l.get(*first).map(|s| (i, s)))
    else {
        let mut candidates: Vec<&str> = Vec::new();
        for l in layers {
            candidates.extend(l.keys().map(String::as_str));
        }
        let hint = did_you_mean(first, candidates.iter().copied());
        return Err(format!("unknown name `{first}`{hint}"));
    };
    let is_top_level = depth + 1 == layers.len() && top.is_some();
    let mut walked = (*first).to_owned();
    for seg in &segs[1..] {
        match shape {
            Shape::Obj(m) => match m.get(*seg) {
                Some(s) => shape = s,
                None => {
                    let hint = did_you_mean(seg, m.keys().map(String::as_str));
                    return Err(format!("`{walked}` has no `{seg}`{hint}"));
                }
            },
            Shape::List(_) => {
                return Err(format!(
                    "`{walked}` is a repeating group (a list); use a filter such as `length` or `sum(attribute=\"…\")`, or a loop"
                ));
            }
            Shape::Leaf(Some(kind)) => {
                return Err(format!(
                    "`{walked}` is a {} field; it has no `{seg}`",
                    kind.name()
                ));
            }
            Shape::Leaf(None) => return Err(format!("`{walked}` has no `{seg}`")),
        }
        walked.push('.');
        walked.push_str(seg);
    }
    Ok(if is_top_level {
        Some((*first).to_owned())
    } else {
        None
    })
}

// ---- linking a flow --------------------------------------------------------------------------

fn link_flow(
    src: &FlowSource,
    shared: &BTreeMap<String, Vec<u8>>,
    file: &str,
    doc: &Doc,
    def: FlowDef,
    forms: &HashMap<String, FormEntry>,
    diags: &mut Diagnostics,
) -> Option<Flow> {
    if def.version != 1 {
        diags.error(
            file,
            doc.value_pos("/version"),
            format!(
                "format version {} is not supported; this Blankett reads version 1",
                def.version
            ),
        );
        return None;
    }
    if def.id != src.folder_name {
        diags.error(
            file,
            doc.value_pos("/id"),
            format!(
                "the id `{}` must equal the folder name `{}`",
                def.id, src.folder_name
            ),
        );
    }
    if def.start.is_empty() {
        diags.error(
            file,
            doc.value_pos("/start"),
            "`start` must name at least one of: citizen, case_worker",
        );
    }
    let retention = Retention {
        drafts_days: retention_days(&def.retention.drafts, file, doc, "/retention/drafts", diags),
        cases_days: retention_days(&def.retention.cases, file, doc, "/retention/cases", diags),
    };

    // Parties.
    let mut parties = IndexMap::new();
    for (name, p) in &def.parties {
        let ptr = format!("/parties/{}", crate::yaml::pointer_segment(name));
        // The built-in roles, and the names the audit log gives those who are no party
        // (`ActorRole`: the scheduler, an API key, anyone else).
        if matches!(
            name.as_str(),
            "applicant" | "case_worker" | "next_signer" | "signers" | "system" | "other"
        ) || name.contains(':')
        {
            diags.error(
                file,
                doc.key_pos(&ptr),
                format!("`{name}` is a built-in role; choose another party name"),
            );
        }
        let c =
            |k: &str, s: &str, d: &mut Diagnostics| compile(s, file, doc, &format!("{ptr}/{k}"), d);
        let each = p.each.as_ref().and_then(|s| c("each", s, diags));
        let pnr = c("personnummer", &p.personnummer, diags);
        let full_name = c("name", &p.name, diags);
        let email = p.email.as_ref().and_then(|s| c("email", s, diags));
        let phone = p.phone.as_ref().and_then(|s| c("phone", s, diags));
        if let (Some(personnummer), Some(full_name)) = (pnr, full_name) {
            parties.insert(
                name.clone(),
                Party {
                    name: name.clone(),
                    label: Text::from(&p.label),
                    each,
                    personnummer,
                    full_name,
                    email,
                    phone,
                },
            );
        }
    }
    let contact = match &def.contact {
        None => (None, None),
        Some(cd) => {
            let c = |k: &str, s: &str, d: &mut Diagnostics| {
                compile(s, file, doc, &format!("/contact/{k}"), d)
            };
            (
                cd.email.as_ref().and_then(|s| c("email", s, diags)),
                cd.phone.as_ref().and_then(|s| c("phone", s, diags)),
            )
        }
    };
    let role_ok = |r: &str| r == "applicant" || r == "case_worker" || def.parties.contains_key(r);
    let role_names = || {
        let mut v = vec!["applicant", "case_worker"];
        v.extend(def.parties.keys().map(String::as_str));
        v
    };

    // Steps and fields.
    let mut ex = Expander::new(forms);
    let mut steps: Vec<Step> = Vec::new();
    let mut step_ids: HashMap<String, usize> = HashMap::new();
    if def.steps.len() > MAX_STEPS {
        diags.error(
            file,
            doc.key_pos("/steps"),
            format!(
                "{} steps; a flow may have at most {MAX_STEPS}",
                def.steps.len()
            ),
        );
        return None;
    }
    for (i, sd) in def.steps.iter().enumerate() {
        let ptr = format!("/steps/{i}");
        if let Some(prev) = step_ids.get(&sd.id) {
            ex.diags.error(
                file,
                doc.value_pos(&format!("{ptr}/id")),
                format!("step id `{}` is used twice (also step {})", sd.id, prev + 1),
            );
            continue;
        }
        if BUILTIN_NAMES.contains(&sd.id.as_str())
            || TEMPLATE_NAMES.contains(&sd.id.as_str())
            || sd.id == "item"
        {
            ex.diags.error(
                file,
                doc.value_pos(&format!("{ptr}/id")),
                format!("`{}` is a built-in name; choose another step id", sd.id),
            );
        }
        if !role_ok(&sd.by) {
            let hint = did_you_mean(&sd.by, role_names());
            ex.diags.error(
                file,
                doc.value_pos(&format!("{ptr}/by")),
                format!(
                    "unknown role `{}`: use applicant, case_worker or a party from `parties`{hint}",
                    sd.by
                ),
            );
        }
        let when = sd
            .when
            .as_ref()
            .and_then(|s| compile(s, file, doc, &format!("{ptr}/when"), &mut ex.diags));
        if sd.kind == StepKind::Review && !sd.fields.is_empty() {
            ex.diags.error(
                file,
                doc.key_pos(&format!("{ptr}/fields")),
                "a review step shows the answers; it has no fields of its own",
            );
        }
        if sd.kind == StepKind::Form && sd.fields.is_empty() {
            ex.diags.warning(
                file,
                doc.value_pos(&ptr),
                format!("step `{}` has no fields", sd.id),
            );
        }
        let fields = ex.expand(&sd.fields, file, doc, &format!("{ptr}/fields"), &[], &[]);
        check_siblings(&fields, &mut ex.diags);
        let title = match (&sd.title, sd.kind) {
            (Some(t), _) => Text::from(t),
            (None, StepKind::Review) => Text::new("Granska och skicka", "Check your answers"),
            (None, StepKind::Form) => {
                ex.diags.error(
                    file,
                    doc.value_pos(&ptr),
                    format!("step `{}` needs a `title`", sd.id),
                );
                Text::default()
            }
        };
        step_ids.insert(sd.id.clone(), steps.len());
        steps.push(Step {
            id: sd.id.clone(),
            kind: sd.kind,
            title,
            description: sd.description.as_ref().map(Text::from),
            by: Role::parse(&sd.by),
            when,
            schema: crate::rules::StepSchema::build(&fields),
            empty_answers: default_of(&shape_of(&fields)),
            fields,
        });
    }
    if !steps.iter().any(|s| s.kind == StepKind::Review) {
        ex.diags.warning(file, doc.key_pos("/steps"), "the flow has no review step (`type: review`): people cannot check their answers before sending");
    }
    let uses = ex.used.clone();
    diags.extend(ex.diags);

    // Names in expressions.
    let mut top: IndexMap<String, Shape> = builtin_shapes();
    for s in &steps {
        top.insert(s.id.clone(), Shape::Obj(shape_of(&s.fields)));
    }
    let mut nc = NameCheck {
        diags,
        step_index: step_ids.clone(),
    };
    for (i, step) in steps.iter().enumerate() {
        if let Some(w) = &step.when {
            let read = nc.check(
                w,
                &[&top],
                Some(i),
                &format!("`when` of step `{}`", step.id),
            );
            if read.contains(&i)
                && let Some((f, p)) = w.origin()
            {
                nc.diags.error(
                    f,
                    p,
                    format!(
                        "the `when` of step `{}` cannot depend on the step's own answers",
                        step.id
                    ),
                );
            }
            if w.names().is_empty()
                && !w.truthy(&Value::Object(Map::new())).unwrap_or(true)
                && let Some((f, p)) = w.origin()
            {
                nc.diags.error(
                    f,
                    p,
                    format!(
                        "step `{}` can never be reached: its `when` is always false",
                        step.id
                    ),
                );
            }
        }
        let step_shape = match top.get(&step.id) {
            Some(Shape::Obj(m)) => m.clone(),
            _ => IndexMap::new(),
        };
        check_field_exprs(&mut nc, &step.fields, &step_shape, &[&step_shape, &top], i);
    }
    for (what, e) in [("email", contact.0.as_ref()), ("phone", contact.1.as_ref())] {
        if let Some(e) = e {
            nc.check(e, &[&top], None, &format!("`{what}` of `contact`"));
        }
    }
    // Parties: their expressions read the answers; steps they fill must come after those.
    let mut party_reads: HashMap<String, usize> = HashMap::new();
    for (name, p) in &parties {
        let mut item_layer = IndexMap::new();
        let mut layers: Vec<&IndexMap<String, Shape>> = vec![&top];
        let mut latest = 0usize;
        if let Some(each) = &p.each {
            latest = latest.max(
                nc.check(each, &layers, None, &format!("`each` of party `{name}`"))
                    .into_iter()
                    .max()
                    .unwrap_or(0),
            );
            if let Some(Shape::List(item)) = each_shape(each, &top) {
                item_layer.insert("item".to_owned(), Shape::Obj(item));
            } else {
                item_layer.insert("item".to_owned(), Shape::Leaf(None));
                if let Some((f, pos)) = each.origin() {
                    nc.diags.error(f, pos, format!("`each` of party `{name}` must name a repeating group, e.g. `contract.signatories`"));
                }
            }
            layers.insert(0, &item_layer);
        }
        for (what, e) in [
            ("personnummer", Some(&p.personnummer)),
            ("name", Some(&p.full_name)),
            ("email", p.email.as_ref()),
            ("phone", p.phone.as_ref()),
        ] {
            if let Some(e) = e {
                let read = nc.check(e, &layers, None, &format!("`{what}` of party `{name}`"));
                latest = latest.max(read.into_iter().max().unwrap_or(0));
            }
        }
        party_reads.insert(name.clone(), latest);
    }
    for (i, step) in steps.iter().enumerate() {
        if let Role::Party(p) = &step.by
            && let Some(read) = party_reads.get(p)
            && *read >= i
        {
            let pos = doc.value_pos(&format!("/steps/{i}/by"));
            nc.diags.error(
                        file,
                        pos,
                        format!("step `{}` is filled by `{p}`, who is only known from step `{}`; the step can never be reached", step.id, steps.get(*read).map(|s| s.id.as_str()).unwrap_or("?")),
                    );
        }
    }

    // Document and signing.
    let mut tmpl_layers_owned = top.clone();
    tmpl_layers_owned.extend(template_only_shapes());
    if let Some(d) = &def.document {
        if !src.files.contains_key(d.template.trim_start_matches("./")) {
            nc.diags.error(
                file,
                doc.value_pos("/document/template"),
                format!(
                    "the template `{}` does not exist in {}",
                    d.template, src.dir
                ),
            );
        }
        nc.check_template(
            &d.title,
            file,
            doc.value_pos("/document/title"),
            &[&tmpl_layers_owned],
            "document title",
        );
        if let Some(f) = &d.filename {
            nc.check_template(
                f,
                file,
                doc.value_pos("/document/filename"),
                &[&tmpl_layers_owned],
                "document file name",
            );
        }
        if let Some(from) = &d.from {
            let pos = doc.value_pos("/document/from");
            let field = from.split_once('.').and_then(|(step, rest)| {
                steps
                    .iter()
                    .find(|s| s.id == step)?
                    .fields
                    .iter()
                    .find(|f| f.local_path().join(".") == rest)
            });
            match field {
                None => nc.diags.error(
                    file,
                    pos,
                    format!(
                        "`{from}` is not a field of this flow: name a `file` field as `step.field`"
                    ),
                ),
                Some(f) if f.kind != FieldType::File => nc.diags.error(
                    file,
                    pos,
                    format!(
                        "`{from}` is a `{}` field; the document must come from a `file` field",
                        f.kind.name()
                    ),
                ),
                Some(f) => {
                    if !f.required {
                        nc.diags.error(
                            file,
                            pos,
                            format!("`{from}` must be `required: true`: the case has no document without it"),
                        );
                    }
                    let only_pdf = !f.accept.is_empty()
                        && f.accept.iter().all(|a| {
                            crate::files::accept_type(a).as_deref() == Some("application/pdf")
                        });
                    if !only_pdf {
                        nc.diags.error(
                            file,
                            pos,
                            format!("`{from}` must accept only PDF files (`accept: [.pdf]`)"),
                        );
                    }
                }
            }
        } else if !d.require_pdfa {
            nc.diags.warning(
                file,
                doc.key_pos("/document/require_pdfa"),
                "`require_pdfa` only applies to a document uploaded `from` a file field",
            );
        }
    }
    let mut signers = Vec::new();
    let mut sign_message = default_sign_message().to_owned();
    let mut signing_expires_days = 14;
    let mut signing_order = OrderRule::Fixed(SigningOrder::Sequential);
    if let Some(sg) = &def.signing {
        if def.document.is_none() {
            nc.diags.error(
                file,
                doc.key_pos("/signing"),
                "`signing` needs a `document` to sign",
            );
        }
        if sg.signers.is_empty() {
            nc.diags.error(
                file,
                doc.value_pos("/signing/signers"),
                "`signers` is empty",
            );
        }
        for (i, s) in sg.signers.iter().enumerate() {
            if !role_ok(&s.who) {
                let hint = did_you_mean(&s.who, role_names());
                nc.diags.error(
                    file,
                    doc.value_pos(&format!("/signing/signers/{i}/who")),
                    format!("unknown signer `{}`: use case_worker, applicant or a party from `parties`{hint}", s.who),
                );
            }
            if sg.signers[..i].iter().any(|o| o.who == s.who) {
                nc.diags.error(
                    file,
                    doc.value_pos(&format!("/signing/signers/{i}/who")),
                    format!("`{}` signs twice", s.who),
                );
            }
            signers.push(SignerSlot {
                who: Role::parse(&s.who),
                label: Text::from(&s.label),
            });
        }
        if let Some(m) = &sg.message {
            nc.check_template(
                m,
                file,
                doc.value_pos("/signing/message"),
                &[&tmpl_layers_owned],
                "sign message",
            );
            sign_message = m.clone();
        }
        signing_order = match sg.order.trim() {
            "sequential" => OrderRule::Fixed(SigningOrder::Sequential),
            "any" => OrderRule::Fixed(SigningOrder::Any),
            expr => match compile(expr, file, doc, "/signing/order", nc.diags) {
                Some(e) => {
                    nc.check(&e, &[&top], None, "`order` of `signing`");
                    OrderRule::Expr(e)
                }
                None => OrderRule::Fixed(SigningOrder::Sequential),
            },
        };
        match parse_days(&sg.expires_after) {
            Ok(Some(d)) if d > 0 => signing_expires_days = d,
            _ => nc.diags.error(
                file,
                doc.value_pos("/signing/expires_after"),
                "`expires_after` must be a duration such as 14d",
            ),
        }
    }

    // Notifications.
    let mut notify = Vec::new();
    for (i, n) in def.notify.iter().enumerate() {
        let ptr = format!("/notify/{i}");
        for (j, to) in n.to.iter().enumerate() {
            let ok = role_ok(to) || to == "next_signer" || to == "signers";
            if !ok {
                let mut cands = role_names();
                cands.extend(["next_signer", "signers"]);
                let hint = did_you_mean(to, cands);
                nc.diags.error(
                    file,
                    doc.value_pos(&format!("{ptr}/to/{j}")),
                    format!("unknown recipient `{to}`{hint}"),
                );
            }
        }
        let after_days = match (&n.after, n.on) {
            (Some(a), NotifyEvent::Reminder) => parse_days(a).ok().flatten(),
            (None, NotifyEvent::Reminder) => {
                nc.diags.error(
                    file,
                    doc.value_pos(&ptr),
                    "a `reminder` needs `after`, e.g. `after: 3d`",
                );
                None
            }
            (Some(_), _) => {
                nc.diags.error(
                    file,
                    doc.key_pos(&format!("{ptr}/after")),
                    "`after` only applies to `on: reminder`",
                );
                None
            }
            (None, _) => None,
        };
        if matches!(
            n.on,
            NotifyEvent::SignatureRequested
                | NotifyEvent::Reminder
                | NotifyEvent::SigningExpired
                | NotifyEvent::Declined
        ) && def.signing.is_none()
        {
            nc.diags.warning(
                file,
                doc.value_pos(&format!("{ptr}/on")),
                "this event needs `signing`; the flow has none",
            );
        }
        notify.push(Notify {
            on: n.on,
            to: n.to.clone(),
            by: n.by.clone(),
            after_days,
        });
    }

    // Content hash: every file of the folder and every form-def used.
    let mut h = Sha256::new();
    h.update(b"flow.yaml\0");
    h.update(src.flow_yaml.as_bytes());
    for (rel, bytes) in &src.files {
        h.update(b"\0");
        h.update(rel.as_bytes());
        h.update(b"\0");
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let mut used_sorted: BTreeMap<&String, &String> = BTreeMap::new();
    used_sorted.extend(uses.iter());
    for (name, hash) in used_sorted {
        h.update(b"\0form-def\0");
        h.update(name.as_bytes());
        h.update(hash.as_bytes());
    }
    let mut files = src.files.clone();
    for (rel, bytes) in shared {
        h.update(b"\0shared\0");
        h.update(rel.as_bytes());
        h.update(b"\0");
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
        files.insert(format!("{SHARED_PREFIX}{rel}"), bytes.clone());
    }
    let content_hash = hex::encode(h.finalize());

    let flow = Flow {
        id: def.id.clone(),
        title: Text::from(&def.title),
        content_hash: content_hash.into(),
        dir: src.dir.clone(),
        steps,
        parties,
        signers,
        sign_message,
        signing_expires_days,
        signing_order,
        allow_same_signer: def.signing.as_ref().is_some_and(|s| s.allow_same_signer),
        document: def.document.clone(),
        notify,
        contact,
        retention,
        uses,
        files: Arc::new(files),
        def,
    };

    // The sample answers must be complete and valid.
    let sample_path = src.path_of("sample-answers.json");
    match src.text("sample-answers.json") {
        None => nc.diags.error(
            file,
            Pos::START,
            format!("{sample_path} is missing: every flow carries realistic sample answers"),
        ),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Err(e) => nc.diags.error(
                &sample_path,
                Pos {
                    line: e.line().max(1),
                    col: e.column().max(1),
                },
                format!("not valid JSON: {e}"),
            ),
            Ok(answers) => {
                let env = crate::rules::Env::sample();
                let report = crate::rules::validate_all(&flow, &answers, &env);
                for e in report.errors {
                    let pos = locate_in_json(text, &e.path);
                    nc.diags.error(
                        &sample_path,
                        pos,
                        format!("`{}`: {} ({})", e.path, e.message.en, e.code),
                    );
                }
            }
        },
    }
    Some(flow)
}

fn each_shape(each: &Expr, top: &IndexMap<String, Shape>) -> Option<Shape> {
    let src = each.source().trim();
    let mut shape = None;
    let mut cur = top;
    for seg in src.split('.') {
        let s = cur.get(seg)?;
        shape = Some(s.clone());
        match s {
            Shape::Obj(m) => cur = m,
            _ => continue,
        }
    }
    shape
}

fn check_field_exprs(
    nc: &mut NameCheck<'_>,
    fields: &[Field],
    scope_root: &IndexMap<String, Shape>,
    outer: &[&IndexMap<String, Shape>],
    step: usize,
) {
    for f in fields {
        // The objects from the innermost prefix outward, then the outer layers.
        let mut chain: Vec<IndexMap<String, Shape>> = Vec::new();
        let mut cur = scope_root;
        let mut ok = true;
        for seg in &f.parent {
            match cur.get(seg) {
                Some(Shape::Obj(m)) => {
                    chain.push(m.clone());
                    cur = m;
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        let mut layers: Vec<&IndexMap<String, Shape>> = chain.iter().rev().collect();
        layers.extend_from_slice(outer);
        let label = format!("field `{}`", f.local_path().join("."));
        for e in &f.show_if {
            nc.check(e, &layers, Some(step), &format!("`show_if` of {label}"));
        }
        if let Some(e) = &f.required_if {
            nc.check(e, &layers, Some(step), &format!("`required_if` of {label}"));
        }
        if let Some(e) = &f.compute {
            nc.check(e, &layers, Some(step), &format!("`compute` of {label}"));
            if e.names().iter().any(|n| n == &f.id)
                && let Some((file, pos)) = e.origin()
            {
                nc.diags.error(
                    file,
                    pos,
                    format!("`compute` of {label} reads its own value"),
                );
            }
        }
        if f.kind == FieldType::Group {
            // An item's fields see their siblings in the item first, then what the group sees.
            let item = shape_of(&f.children);
            let mut inner: Vec<&IndexMap<String, Shape>> = vec![&item];
            inner.extend_from_slice(&layers);
            check_field_exprs(nc, &f.children, &item, &inner, step);
        }
    }
}

fn retention_days(
    s: &str,
    file: &str,
    doc: &Doc,
    ptr: &str,
    diags: &mut Diagnostics,
) -> Option<u32> {
    match parse_days(s) {
        Ok(v) => v,
        Err(BadDuration) => {
            diags.error(
                file,
                doc.value_pos(ptr),
                format!("`{s}` is not a duration such as 30d, 12w, 6m, 10y, or `keep`"),
            );
            None
        }
    }
}

/// The default text shown in the eID app when signing.
pub fn default_sign_message() -> &'static str {
    "Jag undertecknar {{ document.title }}, ärende {{ case.number }}.\n\nDokumentets kontrollsumma (SHA-256): {{ document.sha256 }}"
}

/// Best-effort position of an answer path (`step.field.0.sub`) in a JSON text: the line of the
/// last key of the path.
pub fn locate_in_json(text: &str, path: &str) -> Pos {
    let mut from = 0usize;
    let mut found = None;
    for seg in path.split('.') {
        if seg.parse::<usize>().is_ok() {
            continue;
        }
        let needle = format!("\"{seg}\"");
        if let Some(i) = text[from..].find(&needle) {
            from += i;
            found = Some(from);
            from += needle.len();
        } else {
            break;
        }
    }
    match found {
        None => Pos::START,
        Some(i) => {
            let before = &text[..i];
            let line = before.matches('\n').count() + 1;
            let col = before
                .rsplit('\n')
                .next()
                .map(|l| l.chars().count())
                .unwrap_or(0)
                + 1;
            Pos { line, col }
        }
    }
}
