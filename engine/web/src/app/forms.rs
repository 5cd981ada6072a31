//! HTML forms: reading `application/x-www-form-urlencoded` bodies (repeated keys kept),
//! the CSRF check, turning a step's form into typed answers, and turning answers and field
//! errors back into the step page's field view models.

use std::collections::{BTreeSet, HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use blankett_core::Field;
use blankett_core::def::{Display, FieldType};
use blankett_core::model::Step;
use blankett_core::rules::FieldError;
use serde_json::{Map, Value, json};

use super::{AppError, Ctx, session};

/// A submitted form: every name/value pair in order, indexed by name (and by repeating-group
/// prefix), so that reading a step of thousands of fields stays linear in the form's size.
pub struct Form {
    pairs: Vec<(String, String)>,
    /// Name → positions in `pairs`.
    by_name: HashMap<String, Vec<usize>>,
    /// `g` → the item numbers of `g.N.…` names (below [`MAX_ITEMS`]).
    items: HashMap<String, BTreeSet<usize>>,
}

/// Item numbers at or above this are not read from a form.
const MAX_ITEMS: usize = blankett_core::link::MAX_GROUP_ITEMS;

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Form, AppError> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(AppError::BadRequest("expected a form"));
        }
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::TooLarge
            } else {
                AppError::BadRequest("the form is unreadable")
            }
        })?;
        Ok(Form::parse(&body))
    }
}

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form::from_pairs(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A form from its name/value pairs in order (a multipart form's text fields).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Form {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut items: HashMap<String, BTreeSet<usize>> = HashMap::new();
        for (i, (k, _)) in pairs.iter().enumerate() {
            by_name.entry(k.clone()).or_default().push(i);
            // Every numeric segment of `a.b.3.c` numbers an item of the group before it.
            let mut end = 0;
            for seg in k.split('.') {
                if end > 0
                    && let Ok(n) = seg.parse::<usize>()
                    && n < MAX_ITEMS
                {
                    items.entry(k[..end - 1].to_owned()).or_default().insert(n);
                }
                end += seg.len() + 1;
            }
        }
        Form {
            pairs,
            by_name,
            items,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        let i = *self.by_name.get(name)?.first()?;
        self.pairs.get(i).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.by_name
            .get(name)
            .map(|at| {
                at.iter()
                    .filter_map(|i| self.pairs.get(*i))
                    .map(|(_, v)| v.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Refuses the form unless it carries the session's CSRF token.
    pub fn check_csrf(&self, ctx: &Ctx) -> Result<(), AppError> {
        let expected = ctx.session.expected_csrf();
        match self.get("_csrf") {
            Some(given) if session::tokens_match(&expected, given) => Ok(()),
            _ => Err(AppError::Csrf),
        }
    }

    /// The case revision the form was rendered from (optimistic locking).
    pub fn revision(&self) -> Result<u64, AppError> {
        self.get("_revision")
            .and_then(|r| r.parse().ok())
            .ok_or(AppError::BadRequest("the form has no revision"))
    }

    /// The item indexes of a repeating group named `prefix` present in the form.
    fn indexes(&self, prefix: &str) -> BTreeSet<usize> {
        self.items.get(prefix).cloned().unwrap_or_default()
    }
}

/// The step's answers as typed JSON, read from the form. Values that do not parse as their
/// type stay strings, so validation reports them and the page shows what was typed.
pub fn step_answers(step: &Step, form: &Form) -> Value {
    let mut obj = Map::new();
    read_fields(&step.fields, form, "", &mut obj);
    Value::Object(obj)
}

fn read_fields(fields: &[Field], form: &Form, prefix: &str, obj: &mut Map<String, Value>) {
    for f in fields {
        let path = f.local_path();
        let name = format!("{prefix}{}", path.join("."));
        let value = match f.kind {
            FieldType::Info | FieldType::File => continue,
            FieldType::Group => {
                let mut items = Vec::new();
                for i in form.indexes(&name) {
                    let mut item = Map::new();
                    read_fields(&f.children, form, &format!("{name}.{i}."), &mut item);
                    items.push(Value::Object(item));
                }
                Value::Array(items)
            }
            FieldType::MultiChoice => Value::Array(
                form.all(&name)
                    .into_iter()
                    .filter(|v| !v.is_empty())
                    .map(|v| Value::String(v.to_owned()))
                    .collect(),
            ),
            FieldType::Boolean => match form.get(&name) {
                Some("true") => Value::Bool(true),
                Some("false") => Value::Bool(false),
                _ => Value::Null,
            },
            FieldType::Integer => match form.get(&name).map(str::trim) {
                None | Some("") => Value::Null,
                Some(t) => t
                    .replace([' ', '\u{a0}'], "")
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(t.to_owned())),
            },
            FieldType::Decimal => match form.get(&name).map(str::trim) {
                None | Some("") => Value::Null,
                Some(t) => t
                    .replace([' ', '\u{a0}'], "")
                    .replace(',', ".")
                    .parse::<f64>()
                    .ok()
                    .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
                    .unwrap_or_else(|| Value::String(t.to_owned())),
            },
            _ => match form.get(&name) {
                Some(v) => Value::String(v.to_owned()),
                None => Value::Null,
            },
        };
        set_at(obj, &path, value);
    }
}

fn set_at(obj: &mut Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            obj.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = obj
                .entry(first.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(m) = entry {
                set_at(m, rest, value);
            }
        }
    }
}

/// What a step form's button asks for (its `_action`), read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// "Spara och fortsätt" (also Enter, and a form without `_action`).
    Next,
    /// "Spara utkast": save and stay.
    Save,
    /// "Tillbaka": save and go to the previous step.
    Back,
    /// Add an item to the group at this dotted path.
    Add(String),
    /// Remove item `group.N`.
    Remove(String),
    /// Put back what was removed last on this step.
    UndoRemove,
}

impl StepAction {
    /// Reads `_action`; anything unknown means [`StepAction::Next`], as a form without the
    /// field does (the save itself is never skipped).
    pub fn parse(value: Option<&str>) -> StepAction {
        let Some(v) = value else {
            return StepAction::Next;
        };
        if let Some(group) = v.strip_prefix("add:") {
            return StepAction::Add(group.to_owned());
        }
        if let Some(path) = v.strip_prefix("remove:") {
            return StepAction::Remove(path.to_owned());
        }
        match v {
            "save" => StepAction::Save,
            "back" => StepAction::Back,
            "undo-remove" => StepAction::UndoRemove,
            _ => StepAction::Next,
        }
    }
}

/// Adds an empty item to the group at dotted `path` (relative to the step), or removes
/// item `path.N`.
pub fn add_item(answers: &mut Value, path: &str) {
    if let Some(Value::Array(items)) = pointer_mut(answers, path) {
        items.push(json!({}));
    } else if let Some(slot) = pointer_slot(answers, path) {
        *slot = json!([{}]);
    }
}

pub fn remove_item(answers: &mut Value, path: &str) -> Option<Value> {
    let (group, index) = path.rsplit_once('.')?;
    let i = index.parse::<usize>().ok()?;
    match pointer_mut(answers, group) {
        Some(Value::Array(items)) if i < items.len() => Some(items.remove(i)),
        _ => None,
    }
}

/// Puts an item removed from the group at dotted `group` back at `index` (or last, when the
/// group has fewer items now).
pub fn restore_item(answers: &mut Value, group: &str, index: usize, item: Value) {
    if let Some(Value::Array(items)) = pointer_mut(answers, group) {
        let at = index.min(items.len());
        items.insert(at, item);
    } else if let Some(slot) = pointer_slot(answers, group) {
        *slot = Value::Array(vec![item]);
    }
}

/// The label of a group's item as the page shows it ("Sammanträde 2"), for `path.N`.
pub fn item_label(fields: &[Field], path: &str, en: bool) -> Option<String> {
    item_context(fields, &format!("{path}.x"), en)
}

/// Gives every repeating group (also nested ones) of `fields` in the step object `answers` as
/// many empty items as the page draws when it has fewer (its minimum, at least one), so that
/// visibility is decided for exactly the items the person sees.
pub fn pad_groups(fields: &[Field], answers: &mut Value) {
    for f in fields {
        if f.kind != FieldType::Group {
            continue;
        }
        let min = (f.min.unwrap_or(0.0).max(0.0) as usize).max(1);
        let Some(slot) = pointer_slot(answers, &f.local_path().join(".")) else {
            continue;
        };
        if !slot.is_array() {
            *slot = json!([]);
        }
        if let Value::Array(items) = slot {
            while items.len() < min {
                items.push(json!({}));
            }
            for item in items.iter_mut() {
                pad_groups(&f.children, item);
            }
        }
    }
}

fn pointer_mut<'a>(v: &'a mut Value, dotted: &str) -> Option<&'a mut Value> {
    let pointer: String = dotted.split('.').map(|s| format!("/{s}")).collect();
    v.pointer_mut(&pointer)
}

fn pointer_slot<'a>(v: &'a mut Value, dotted: &str) -> Option<&'a mut Value> {
    let mut cur = v;
    for seg in dotted.split('.') {
        if cur.is_null() {
            *cur = json!({});
        }
        let m = cur.as_object_mut()?;
        cur = m.entry(seg.to_owned()).or_insert(Value::Null);
    }
    Some(cur)
}

/// What the step page needs to draw one field (see `step.html`).
pub struct FieldContext<'a> {
    /// The case, for the links to its uploaded files.
    pub case_id: &'a str,
    pub step_id: &'a str,
    pub errors: &'a [FieldError],
    pub en: bool,
    /// Visibility by dotted path relative to the step, from `rules::visible_fields`.
    pub visible: &'a [(String, bool)],
}

/// [`FieldContext`]'s lists by path, so that drawing a page is linear in its fields.
pub struct FieldIndex<'a> {
    hidden: HashSet<&'a str>,
    errors: HashMap<&'a str, &'a FieldError>,
}

impl<'a> FieldIndex<'a> {
    pub fn of(cx: &FieldContext<'a>) -> FieldIndex<'a> {
        let mut errors = HashMap::new();
        for e in cx.errors {
            errors.entry(e.path.as_str()).or_insert(e);
        }
        FieldIndex {
            hidden: cx
                .visible
                .iter()
                .filter(|(_, shown)| !*shown)
                .map(|(p, _)| p.as_str())
                .collect(),
            errors,
        }
    }
}

impl FieldContext<'_> {
    fn shown(&self, ix: &FieldIndex<'_>, path: &str) -> bool {
        // A path the rules did not evaluate (an item the page adds itself) is shown.
        !ix.hidden.contains(path)
    }

    fn error(&self, ix: &FieldIndex<'_>, path: &str) -> Option<String> {
        let full = format!("{}.{path}", self.step_id);
        ix.errors
            .get(full.as_str())
            .map(|e| self.text(&e.message).to_owned())
    }

    fn text<'t>(&self, t: &'t blankett_core::Text) -> &'t str {
        if self.en { &t.en } else { &t.sv }
    }
}

/// Which item of which repeating group a path (relative to the step: `items.1.date`) is in,
/// as a person reads it: "Sammanträde 2" (nested groups: "Ledamot 3, Uppdrag 1"); `None`
/// outside groups. The error summary puts it before the message, so three "Fyll i ”Datum”"
/// say which dates.
pub fn item_context(fields: &[Field], rel: &str, en: bool) -> Option<String> {
    let segs: Vec<&str> = rel.split('.').collect();
    let mut parts = Vec::new();
    let mut fields = fields;
    let mut i = 0;
    while let Some(group) = fields.iter().find(|f| {
        let p = f.local_path();
        f.kind == FieldType::Group
            && segs.len() > i + p.len()
            && p.iter().zip(&segs[i..]).all(|(a, b)| a == b)
    }) {
        let at = i + group.local_path().len();
        let Some(index) = segs.get(at).and_then(|s| s.parse::<usize>().ok()) else {
            break;
        };
        let label = if en { &group.label.en } else { &group.label.sv };
        parts.push(format!("{label} {}", index + 1));
        fields = &group.children;
        i = at + 1;
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The `id` of a field's input (and the error summary's link target).
pub fn anchor(path: &str) -> String {
    format!("f-{}", path.replace('.', "-"))
}

/// View models of the shown fields, with the values of `answers` (the step's object).
pub fn field_views(
    fields: &[Field],
    answers: &Value,
    cx: &FieldContext<'_>,
    prefix: &str,
) -> Vec<Value> {
    let ix = FieldIndex::of(cx);
    views(fields, answers, cx, &ix, prefix)
}

fn views(
    fields: &[Field],
    answers: &Value,
    cx: &FieldContext<'_>,
    ix: &FieldIndex<'_>,
    prefix: &str,
) -> Vec<Value> {
    let mut out = Vec::new();
    for f in fields {
        let path = format!("{prefix}{}", f.local_path().join("."));
        // A hidden field is drawn hidden (the `hidden` attribute, which needs no script), so
        // that the page's script can show it the moment an answer reveals it.
        let hidden = !cx.shown(ix, &path);
        let value = get_path(answers, &f.local_path());
        let section = f
            .section
            .as_ref()
            .and_then(|s| s.label.as_ref())
            .map(|l| cx.text(l).to_owned());
        let mut view = json!({
            "path": path,
            "name": path,
            "id": anchor(&path),
            "label": cx.text(&f.label),
            "help": f.help.as_ref().map(|h| cx.text(h)),
            "required": f.required,
            // Only a field that may always be left empty is called optional: one required
            // under a condition is not, nor a computed value.
            "optional": !f.required && f.required_if.is_none() && f.compute.is_none(),
            "error": cx.error(ix, &path),
            "section": section,
            "readonly": f.compute.is_some(),
            "hidden": hidden,
            "value": "",
            "options": [],
            "input_type": "text",
            "inputmode": Value::Null,
            "autocomplete": f.autocomplete,
            "paragraphs": [],
            "items": [],
            "file": Value::Null,
        });
        let set = |view: &mut Value, k: &str, v: Value| {
            if let Value::Object(m) = view {
                m.insert(k.to_owned(), v);
            }
        };
        let kind = match f.kind {
            FieldType::Info => {
                let paragraphs: Vec<&str> = f
                    .text
                    .as_ref()
                    .map(|t| cx.text(t).split("\n\n").collect())
                    .unwrap_or_default();
                set(&mut view, "paragraphs", json!(paragraphs));
                "info"
            }
            FieldType::Textarea => "textarea",
            FieldType::Boolean => {
                let current = value.and_then(Value::as_bool);
                set(
                    &mut view,
                    "options",
                    json!([
                        {"value": "true", "label": if cx.en {"Yes"} else {"Ja"}, "checked": current == Some(true)},
                        {"value": "false", "label": if cx.en {"No"} else {"Nej"}, "checked": current == Some(false)},
                    ]),
                );
                "boolean"
            }
            FieldType::Choice | FieldType::MultiChoice => {
                let chosen: Vec<String> = match value {
                    Some(Value::Array(a)) => a.iter().map(value_string).collect(),
                    Some(v) => vec![value_string(v)],
                    None => Vec::new(),
                };
                let options: Vec<Value> = f
                    .options
                    .iter()
                    .map(|o| json!({"value": o.value, "label": cx.text(&o.label), "checked": chosen.contains(&o.value)}))
                    .collect();
                set(&mut view, "options", Value::Array(options));
                match (f.kind, f.display) {
                    (FieldType::MultiChoice, _) => "checkboxes",
                    (_, Some(Display::Select)) => "select",
                    (_, Some(Display::Radio)) => "radio",
                    _ if f.options.len() > 6 => "select",
                    _ => "radio",
                }
            }
            FieldType::File => {
                let max = f.max_size.unwrap_or(0);
                set(
                    &mut view,
                    "max_size",
                    json!(blankett_core::files::display_size(max, cx.en)),
                );
                set(&mut view, "accept_text", json!(f.accept.join(", ")));
                // The browser's chooser is only a hint; the server judges the content.
                let mut hint: Vec<String> = Vec::new();
                for (a, t) in f
                    .accept
                    .iter()
                    .filter_map(|a| blankett_core::files::accept_type(a).map(|t| (a, t)))
                {
                    for x in [a.to_lowercase(), t] {
                        if !hint.contains(&x) {
                            hint.push(x);
                        }
                    }
                }
                set(&mut view, "accept_attr", json!(hint.join(",")));
                if let Some(file) = value.filter(|v| v.is_object()) {
                    set(&mut view, "file", file_view(cx.case_id, file, cx.en));
                }
                "file"
            }
            FieldType::Group => {
                let items: Vec<Value> = match value {
                    Some(Value::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                let min = f.min.unwrap_or(0.0).max(0.0) as usize;
                let max = f.max.map(|m| m as usize).unwrap_or(50);
                let mut items = items;
                while items.len() < min.max(1) {
                    items.push(json!({}));
                }
                let views: Vec<Value> = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        json!({
                            "index": i,
                            "number": i + 1,
                            "fields": views(&f.children, item, cx, ix, &format!("{path}.{i}.")),
                        })
                    })
                    .collect();
                set(&mut view, "can_add", json!(items.len() < max));
                set(&mut view, "can_remove", json!(items.len() > min.max(1)));
                set(&mut view, "items", Value::Array(views));
                "group"
            }
            other => {
                let (input_type, inputmode) = match other {
                    FieldType::Email => ("email", None),
                    FieldType::Phone => ("tel", None),
                    FieldType::Date => ("date", None),
                    FieldType::Datetime => ("datetime-local", None),
                    FieldType::Integer | FieldType::Personnummer => ("text", Some("numeric")),
                    FieldType::Decimal => ("text", Some("decimal")),
                    _ => ("text", None),
                };
                set(&mut view, "input_type", json!(input_type));
                set(&mut view, "inputmode", json!(inputmode));
                "input"
            }
        };
        if !matches!(
            f.kind,
            FieldType::Group
                | FieldType::Choice
                | FieldType::MultiChoice
                | FieldType::Boolean
                | FieldType::File
        ) && let Some(v) = value
        {
            set(&mut view, "value", Value::String(display_input(f, v)));
        }
        // A computed value is shown as a value (as the document shows it), not as an input.
        let kind = if f.compute.is_some() && matches!(kind, "input" | "textarea") {
            let shown = match value {
                Some(Value::Number(n)) => display_number(f, n),
                Some(v) => value_string(v),
                None => String::new(),
            };
            set(&mut view, "value", Value::String(shown));
            "computed"
        } else {
            kind
        };
        set(&mut view, "kind", json!(kind));
        out.push(view);
    }
    out
}

/// A file answer as pages show it: name, size and type for people, and its download link.
pub fn file_view(case_id: &str, file: &Value, en: bool) -> Value {
    let text = |k: &str| file.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let size = file.get("size").and_then(Value::as_u64).unwrap_or(0);
    json!({
        "name": text("name"),
        "size": blankett_core::files::display_size(size, en),
        "type": text("content_type"),
        "url": format!("/cases/{case_id}/files/{}", super::urlencode(&text("id"))),
    })
}

fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = cur.get(seg)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// A value as typed into a text input (decimals with a comma, as Swedes write them).
fn display_input(f: &Field, v: &Value) -> String {
    match (f.kind, v) {
        (FieldType::Decimal, Value::Number(n)) => n.to_string().replace('.', ","),
        _ => value_string(v),
    }
}

pub fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The questions (paths relative to the step) a save revealed that the page did not show: a
/// field evaluated as hidden before the save and shown after it. A field that was not
/// evaluated before (an item of a repeating group the page added by itself) was shown by the
/// page, as [`FieldContext`] shows every field it has no verdict on, so it is not new.
pub fn newly_shown(before: &[(String, bool)], after: &[(String, bool)]) -> BTreeSet<String> {
    let hidden: BTreeSet<&str> = before
        .iter()
        .filter(|(_, shown)| !*shown)
        .map(|(p, _)| p.as_str())
        .collect();
    after
        .iter()
        .filter(|(p, shown)| *shown && hidden.contains(p.as_str()))
        .map(|(p, _)| p.clone())
        .collect()
}

/// A number as documents show it: a space between thousands, a decimal comma, the field's
/// decimals ("5 705,00").
pub fn display_number(f: &Field, n: &serde_json::Number) -> String {
    let decimals = if f.kind == FieldType::Decimal {
        f.decimals
    } else {
        0
    };
    match n.as_f64() {
        Some(x) => blankett_core::expr::swedish_number(x, decimals),
        None => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_step_action_is_read_once_and_anything_else_means_next() {
        use StepAction::*;
        let cases = [
            (None, Next),
            (Some("next"), Next),
            (Some("save"), Save),
            (Some("back"), Back),
            (Some("undo-remove"), UndoRemove),
            (Some("add:children"), Add("children".into())),
            (Some("remove:children.2"), Remove("children.2".into())),
            (Some("delete-everything"), Next),
            (Some(""), Next),
        ];
        for (raw, want) in cases {
            assert_eq!(StepAction::parse(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn repeated_keys_and_escapes_are_kept() {
        let f = Form::parse(b"a=1&a=2&b=%C3%A5+%26");
        assert_eq!(f.all("a"), vec!["1", "2"]);
        assert_eq!(f.get("b"), Some("å &"));
        assert_eq!(f.indexes("g"), BTreeSet::new());
        let g = Form::parse(b"g.0.x=1&g.2.x=2&g.x.y=3&gg.1.x=4");
        assert_eq!(g.indexes("g"), BTreeSet::from([0, 2]));
    }

    #[test]
    fn only_fields_that_were_hidden_count_as_revealed() {
        let v = |x: &[(&str, bool)]| -> Vec<(String, bool)> {
            x.iter().map(|(p, s)| ((*p).to_owned(), *s)).collect()
        };
        let before = v(&[("kind", true), ("detail", false)]);
        // An item the page showed by default, without a verdict before: not new.
        let items = v(&[("kind", true), ("detail", false), ("g.0.name", true)]);
        assert!(newly_shown(&before, &items).is_empty());
        // A choice that shows a hidden field: new.
        let shown = v(&[("kind", true), ("detail", true)]);
        assert!(!newly_shown(&before, &shown).is_empty());
        // Hiding a field is not a new question.
        assert!(newly_shown(&shown, &before).is_empty());
    }

    #[test]
    fn an_error_in_a_group_item_names_the_item() {
        let sources = crate::defs_fs::read(&[
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows/arvode")
        ]);
        let (defs, _) = blankett_core::load(&sources);
        let flow = defs.flow("arvode").unwrap();
        let step = flow.step("meetings").unwrap();
        assert_eq!(
            item_context(&step.fields, "items.1.date", false).as_deref(),
            Some("Sammanträde 2")
        );
        assert_eq!(
            item_context(&step.fields, "items.0.date", true).as_deref(),
            Some("Meeting 1")
        );
        assert_eq!(item_context(&step.fields, "items", false), None);
        assert_eq!(item_context(&step.fields, "total", false), None);
    }

    #[test]
    fn groups_grow_and_shrink() {
        let mut v = json!({"g": [{"a": 1}]});
        add_item(&mut v, "g");
        assert_eq!(v, json!({"g": [{"a": 1}, {}]}));
        remove_item(&mut v, "g.0");
        assert_eq!(v, json!({"g": [{}]}));
        let mut w = json!({});
        add_item(&mut w, "p.g");
        assert_eq!(w, json!({"p": {"g": [{}]}}));
    }
}
