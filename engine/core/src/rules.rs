//! Running a flow's rules over answers: which steps apply, which fields are shown and
//! required, computed values, and validation of a step's answers.
//!
//! Answers are one JSON object: `{ step_id: { field: value, prefix: { … }, group: [ { … } ] } }`.
//! Invalid input is a value — a list of field errors with messages in Swedish and English —
//! never a panic.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::def::{FieldType, StepKind};
use crate::expr::Context;
use crate::ids::{IdError, Organisationsnummer, Personnummer};
pub use crate::model::StepSchema;
use crate::model::{Field, Flow, Step, Text};
use crate::shape::{default_of, shape_of};

/// What expressions may read besides the answers: the case, the clock's date, the person.
#[derive(Debug, Clone, Serialize)]
pub struct Env {
    pub case: Value,
    /// `YYYY-MM-DD`, from the engine's clock.
    pub today: String,
    /// `YYYY-MM-DDTHH:MM`, from the engine's clock.
    pub now: String,
    /// The logged-in person, when there is one.
    pub identity: Option<IdentityView>,
    pub flow: Value,
}

/// The parts of a verified identity that prefill and expressions may use.
#[derive(Clone, Serialize, serde::Deserialize, PartialEq, Eq, Default)]
pub struct IdentityView {
    pub personnummer: String,
    pub name: String,
    pub given_name: String,
    pub surname: String,
}

impl std::fmt::Debug for IdentityView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityView(<redacted>)")
    }
}

impl Env {
    /// A fixed environment for checking sample answers (no clock is read).
    pub fn sample() -> Env {
        Env {
            case: json!({"id": "00000000-0000-0000-0000-000000000000", "number": "2026-0001", "created_at": "2026-01-15T09:00"}),
            today: "2026-01-15".into(),
            now: "2026-01-15T09:00".into(),
            identity: None,
            flow: Value::Null,
        }
    }

    fn top(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("case".into(), self.case.clone());
        m.insert("today".into(), Value::String(self.today.clone()));
        m.insert("now".into(), Value::String(self.now.clone()));
        m.insert(
            "identity".into(),
            self.identity
                .as_ref()
                .and_then(|i| serde_json::to_value(i).ok())
                .unwrap_or(Value::Null),
        );
        m.insert("flow".into(), self.flow.clone());
        m
    }
}

/// One problem with one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Dotted path from the top of the answers: `child.guardians.0.personnummer`.
    pub path: String,
    /// A stable code: `required`, `type`, `min`, `max`, `min_length`, `max_length`, `pattern`,
    /// `choice`, `personnummer`, `organisationsnummer`, `email`, `phone`, `date`, `datetime`,
    /// `min_items`, `max_items`, `file_type`, `file_size`, `unknown_field`, `not_an_object`,
    /// `compute`, `characters`.
    pub code: &'static str,
    pub message: Text,
}

/// The outcome of saving one step.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// The step's answers, cleaned: trimmed, normalised, hidden fields dropped, computed
    /// values filled in.
    pub answers: Value,
    pub errors: Vec<FieldError>,
}

/// The outcome of checking several steps.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The steps that apply, in order (their `when` holds).
    pub path: Vec<String>,
    pub answers: Value,
    pub errors: Vec<FieldError>,
}

impl StepSchema {
    /// Builds the step's schema: types, formats, bounds, options, item counts. Whether a field
    /// is required depends on the answers and is decided by `apply_step`, not by the schema.
    pub fn build(fields: &[Field]) -> StepSchema {
        let schema = object_schema(fields);
        StepSchema(
            jsonschema::options()
                .should_validate_formats(true)
                .with_format("personnummer", |s: &str| Personnummer::parse(s).is_ok())
                .with_format("organisationsnummer", |s: &str| {
                    Organisationsnummer::parse(s).is_ok()
                })
                .with_format("phone", valid_phone)
                .with_format("local-date", |s: &str| {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
                })
                .with_format("local-datetime", |s: &str| parse_datetime(s).is_some())
                .with_format("email", valid_email)
                .build(&schema)
                .ok()
                .map(Arc::new),
        )
    }
}

fn parse_datetime(s: &str) -> Option<chrono::NaiveDateTime> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
}

fn valid_phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+' | '(' | ')'))
        && !s[1..].contains('+')
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && s.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

fn insert_nested(root: &mut Map<String, Value>, parent: &[String], key: &str, schema: Value) {
    let mut cur = root;
    for seg in parent {
        let entry = cur.entry(seg.clone()).or_insert_with(
            || json!({"type": "object", "properties": {}, "additionalProperties": false}),
        );
        let Some(props) = entry.get_mut("properties").and_then(Value::as_object_mut) else {
            return;
        };
        cur = props;
    }
    cur.insert(key.to_owned(), schema);
}

fn object_schema(fields: &[Field]) -> Value {
    let mut props = Map::new();
    for f in fields {
        if let Some(s) = field_schema(f) {
            insert_nested(&mut props, &f.parent, &f.id, s);
        }
    }
    json!({"type": "object", "properties": props, "additionalProperties": false})
}

fn field_schema(f: &Field) -> Option<Value> {
    let mut s = Map::new();
    let mut put = |k: &str, v: Value| {
        s.insert(k.to_owned(), v);
    };
    match f.kind {
        FieldType::Info => return None,
        FieldType::Text | FieldType::Textarea => put("type", json!("string")),
        FieldType::Email => {
            put("type", json!("string"));
            put("format", json!("email"));
        }
        FieldType::Phone => {
            put("type", json!("string"));
            put("format", json!("phone"));
        }
        FieldType::Integer => put("type", json!("integer")),
        FieldType::Decimal => put("type", json!("number")),
        FieldType::Date => {
            put("type", json!("string"));
            put("format", json!("local-date"));
        }
        FieldType::Datetime => {
            put("type", json!("string"));
            put("format", json!("local-datetime"));
        }
        FieldType::Boolean => put("type", json!("boolean")),
        FieldType::Choice => {
            put("type", json!("string"));
            put(
                "enum",
                json!(
                    f.options
                        .iter()
                        .map(|o| o.value.clone())
                        .collect::<Vec<_>>()
                ),
            );
        }
        FieldType::MultiChoice => {
            put("type", json!("array"));
            put("uniqueItems", json!(true));
            put(
                "items",
                json!({"type": "string", "enum": f.options.iter().map(|o| o.value.clone()).collect::<Vec<_>>()}),
            );
        }
        FieldType::Personnummer => {
            put("type", json!("string"));
            put("format", json!("personnummer"));
        }
        FieldType::Organisationsnummer => {
            put("type", json!("string"));
            put("format", json!("organisationsnummer"));
        }
        FieldType::File => {
            put("type", json!("object"));
            put("required", json!(["id", "name", "size", "content_type"]));
            let mut size = json!({"type": "integer", "minimum": 0});
            if let Some(max) = f.max_size {
                size["maximum"] = json!(max);
            }
            put(
                "properties",
                json!({
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "size": size,
                    "content_type": {"type": "string"},
                    "sha256": {"type": "string"}
                }),
            );
            put("additionalProperties", json!(false));
        }
        FieldType::Group => {
            put("type", json!("array"));
            put("items", object_schema(&f.children));
            if let Some(min) = f.min {
                put("minItems", json!(min as u64));
            }
            if let Some(max) = f.max {
                put("maxItems", json!(max as u64));
            }
        }
    }
    if matches!(f.kind, FieldType::Integer | FieldType::Decimal) {
        if let Some(min) = f.min {
            s.insert("minimum".into(), json!(min));
        }
        if let Some(max) = f.max {
            s.insert("maximum".into(), json!(max));
        }
    }
    if f.kind.is_textual() {
        if let Some(n) = f.min_length {
            s.insert("minLength".into(), json!(n));
        }
        if let Some(n) = f.max_length {
            s.insert("maxLength".into(), json!(n));
        }
        if let Some(p) = &f.pattern {
            s.insert("pattern".into(), json!(format!("^(?:{p})$")));
        }
    }
    Some(Value::Object(s))
}

// ---- evaluation --------------------------------------------------------------------------

/// The expression context for the top level: builtins and every step's answers (with empty
/// defaults for unanswered fields, so conditions never fail on a missing answer).
pub fn top_context(flow: &Flow, answers: &Value, env: &Env) -> Map<String, Value> {
    let mut top = env.top();
    for step in &flow.steps {
        let mut base = step.empty_answers.clone();
        if let Some(a) = answers.get(&step.id) {
            overlay(&mut base, a);
        }
        top.insert(step.id.clone(), base);
    }
    top
}

fn overlay(base: &mut Value, top: &Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(k) {
                    Some(slot) => overlay(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// Whether a step applies, given the answers so far.
pub fn step_applies(step: &Step, top: &Map<String, Value>) -> bool {
    match &step.when {
        None => true,
        Some(w) => w.truthy(&Value::Object(top.clone())).unwrap_or(false),
    }
}

/// Visibility of every field of a step, keyed by dotted path relative to the step
/// (`guardians.0.address.street`), for the current answers.
pub fn visible_fields(flow: &Flow, step: &Step, answers: &Value, env: &Env) -> Vec<(String, bool)> {
    let top = top_context(flow, answers, env);
    let step_obj = top.get(&step.id).cloned().unwrap_or_else(|| json!({}));
    let top_ctx = Context::from_map(&top);
    let step_ctx = Context::from_json(&step_obj);
    let mut out = Vec::new();
    walk_fields(
        &step.fields,
        &top_ctx,
        std::slice::from_ref(&step_ctx),
        &step_obj,
        &step_ctx,
        "",
        false,
        &mut |f, path, ctx| {
            let shown = f.show_if.iter().all(|e| e.truthy_in(ctx).unwrap_or(false));
            out.push((path.to_owned(), shown));
            true
        },
    );
    out
}

/// Calls `visit` with every field of `fields` (in `obj`, whose context is `obj_ctx`), its
/// dotted path and the context its expressions see; descends into a group's items (numbered,
/// or all as `*` when `star`) when `visit` returns true. Linear in the answers: each object is
/// turned into a context once.
#[allow(clippy::too_many_arguments)]
fn walk_fields(
    fields: &[Field],
    top: &Context,
    outer: &[Context],
    obj: &Value,
    obj_ctx: &Context,
    prefix: &str,
    star: bool,
    visit: &mut dyn FnMut(&Field, &str, &Context) -> bool,
) {
    for f in fields {
        let layers = field_layers(outer, obj_ctx, &f.parent);
        let ctx = top.over(&layers);
        let path = format!("{prefix}{}", f.local_path().join("."));
        if !visit(f, &path, &ctx) || f.kind != FieldType::Group {
            continue;
        }
        if let Some(Value::Array(items)) = get_at(obj, &f.local_path()) {
            for (i, item) in items.iter().enumerate() {
                let item_ctx = Context::from_json(item);
                let mut inner = layers.clone();
                inner.push(item_ctx.clone());
                let at = if star { "*".to_owned() } else { i.to_string() };
                walk_fields(
                    &f.children,
                    top,
                    &inner,
                    item,
                    &item_ctx,
                    &format!("{path}.{at}."),
                    star,
                    visit,
                );
            }
        }
    }
}

/// The outcome of every condition the answers reach, for flow tests' coverage: each step's
/// `when`, and each field's `show_if` (all of a field's `show_if` together) and `required_if`,
/// named as [`conditions_of`] names them (group items as `*`). A field that is hidden, or a
/// step that does not apply, reaches none of the conditions inside it.
pub fn condition_outcomes(flow: &Flow, answers: &Value, env: &Env) -> Vec<(String, bool)> {
    let top = top_context(flow, answers, env);
    let top_ctx = Context::from_map(&top);
    let mut out = Vec::new();
    for step in &flow.steps {
        let applies = step_applies(step, &top);
        if step.when.is_some() {
            out.push((format!("`when` of step {}", step.id), applies));
        }
        if !applies {
            continue;
        }
        let step_obj = top.get(&step.id).cloned().unwrap_or_else(|| json!({}));
        let step_ctx = Context::from_json(&step_obj);
        let prefix = format!("{}.", step.id);
        walk_fields(
            &step.fields,
            &top_ctx,
            std::slice::from_ref(&step_ctx),
            &step_obj,
            &step_ctx,
            &prefix,
            true,
            &mut |f, path, ctx| {
                if !f.show_if.is_empty() {
                    let shown = f.show_if.iter().all(|e| e.truthy_in(ctx).unwrap_or(false));
                    out.push((format!("`show_if` of {path}"), shown));
                    if !shown {
                        return false;
                    }
                }
                if let Some(e) = &f.required_if {
                    out.push((
                        format!("`required_if` of {path}"),
                        e.truthy_in(ctx).unwrap_or(false),
                    ));
                }
                true
            },
        );
    }
    out
}

/// Every condition of a flow, named as [`condition_outcomes`] names them.
pub fn conditions_of(flow: &Flow) -> Vec<String> {
    fn walk(fields: &[Field], prefix: &str, out: &mut Vec<String>) {
        for f in fields {
            let path = format!("{prefix}{}", f.local_path().join("."));
            if !f.show_if.is_empty() {
                out.push(format!("`show_if` of {path}"));
            }
            if f.required_if.is_some() {
                out.push(format!("`required_if` of {path}"));
            }
            if f.kind == FieldType::Group {
                walk(&f.children, &format!("{path}.*."), out);
            }
        }
    }
    let mut out = Vec::new();
    for step in &flow.steps {
        if step.when.is_some() {
            out.push(format!("`when` of step {}", step.id));
        }
        walk(&step.fields, &format!("{}.", step.id), &mut out);
    }
    out
}

/// The layers a field's expressions see: the enclosing objects, then each object of the
/// field's `use … as` prefixes inside `obj`.
fn field_layers(outer: &[Context], obj: &Context, parent: &[String]) -> Vec<Context> {
    let mut layers: Vec<Context> = outer.to_vec();
    let mut cur = obj.clone();
    for seg in parent {
        match cur.get(seg) {
            Some(v) => {
                layers.push(v.clone());
                cur = v;
            }
            None => break,
        }
    }
    layers
}

fn get_at<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = cur.get(seg)?;
    }
    Some(cur)
}

fn remove_at(v: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parents {
        match cur.get_mut(seg) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Value::Object(m) = cur {
        m.shift_remove(last);
    }
}

fn set_at(v: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for seg in parents {
        if !cur.get(seg).is_some_and(Value::is_object)
            && let Value::Object(m) = cur
        {
            m.insert(seg.clone(), json!({}));
        }
        match cur.get_mut(seg) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Value::Object(m) = cur {
        m.insert(last.clone(), value);
    }
}

/// Whether any name the expression reads is empty in `ctx`.
fn reads_empty(e: &crate::expr::Expr, ctx: &Context) -> bool {
    e.names().iter().any(|name| ctx.is_empty_at(name))
}

/// Removes objects left empty inside a step's answers (a hidden `use … as` section).
fn prune_empty_objects(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for child in m.values_mut() {
                prune_empty_objects(child);
            }
            m.retain(|_, c| !matches!(c, Value::Object(o) if o.is_empty()));
        }
        Value::Array(items) => items.iter_mut().for_each(prune_empty_objects),
        _ => {}
    }
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// Normalises an entered value: trims text, drops empty text, canonicalises identity numbers.
fn normalise(f: &Field, v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return None;
            }
            let canon = match f.kind {
                FieldType::Personnummer => Personnummer::parse(t).map(String::from).ok(),
                FieldType::Organisationsnummer => {
                    Organisationsnummer::parse(t).map(String::from).ok()
                }
                FieldType::Textarea => Some(t.replace("\r\n", "\n")),
                _ => None,
            };
            Some(Value::String(canon.unwrap_or_else(|| t.to_owned())))
        }
        Value::Array(a) if f.kind == FieldType::MultiChoice && a.is_empty() => None,
        other => Some(other.clone()),
    }
}

/// Rounds and types a computed value for its field.
fn typed_compute(f: &Field, v: Value) -> Result<Option<Value>, String> {
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(match f.kind {
        FieldType::Integer => match v.as_f64() {
            Some(n) => json!(n.round() as i64),
            None => return Err(format!("expected a number, got {v}")),
        },
        FieldType::Decimal => match v.as_f64() {
            Some(n) => {
                let p = 10f64.powi(f.decimals as i32);
                json!((n * p).round() / p)
            }
            None => return Err(format!("expected a number, got {v}")),
        },
        FieldType::Boolean => json!(match &v {
            Value::Bool(b) => *b,
            Value::String(s) => !s.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::Array(a) => !a.is_empty(),
            _ => false,
        }),
        FieldType::Date => match v.as_str().map(|t| t.get(..10).unwrap_or(t)) {
            Some(d) if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok() => {
                Value::String(d.to_owned())
            }
            _ => return Err(format!("expected a date, got {v}")),
        },
        FieldType::Text | FieldType::Textarea | FieldType::Datetime | FieldType::Choice => {
            match v {
                Value::String(s) => Value::String(s),
                Value::Number(n) => Value::String(n.to_string()),
                other => return Err(format!("expected text, got {other}")),
            }
        }
        _ => v,
    }))
}

struct Walk<'a> {
    /// The top level ([`top_context`]) as an expression context, made once per pass.
    top_ctx: Context,
    errors: Vec<FieldError>,
    /// Errors of `compute` expressions: reported only when the answers have no other errors
    /// (a computation over an invalid answer is not a second mistake).
    compute_errors: Vec<FieldError>,
    step_id: &'a str,
}

/// Sets (or with `None` removes) the value at `path`; whether anything changed.
fn put(obj: &mut Value, path: &[String], v: Option<Value>) -> bool {
    if get_at(obj, path) == v.as_ref() {
        return false;
    }
    match v {
        Some(v) => set_at(obj, path, v),
        None => remove_at(obj, path),
    }
    true
}

impl Walk<'_> {
    /// Cleans and checks `fields` located in `obj` (the step object or a group item).
    /// `outer` are the enclosing scope objects for expressions (without `obj` itself).
    /// `empty` is `obj` with every field empty (see `Step::empty_answers`).
    ///
    /// A field's expressions see `obj` as it is when the field's turn comes (earlier fields
    /// cleaned and computed). The context of `obj` is made when a field with an expression
    /// first needs it, and made again only after `obj` changed, so a large case with few
    /// expressions is walked in time linear in its answers.
    fn fields(
        &mut self,
        fields: &[Field],
        empty: &Value,
        obj: &mut Value,
        outer: &[Context],
        prefix: &str,
    ) {
        let mut local: Option<Context> = None;
        for f in fields {
            let path = f.local_path();
            let dotted = format!("{}.{prefix}{}", self.step_id, path.join("."));
            let needs_ctx = !f.show_if.is_empty() || f.compute.is_some() || f.required_if.is_some();
            let ctx = if needs_ctx {
                // Unanswered fields of this object read as empty (null / []), not undefined.
                let l = local
                    .get_or_insert_with(|| {
                        let mut v = empty.clone();
                        overlay(&mut v, obj);
                        Context::from_json(&v)
                    })
                    .clone();
                let mut with_local = outer.to_vec();
                with_local.push(l.clone());
                Some(self.top_ctx.over(&field_layers(&with_local, &l, &f.parent)))
            } else {
                None
            };
            let shown = match &ctx {
                Some(ctx) => f.show_if.iter().all(|e| e.truthy_in(ctx).unwrap_or(false)),
                None => true,
            };
            if !shown || f.kind == FieldType::Info {
                if put(obj, &path, None) {
                    local = None;
                }
                continue;
            }
            if let (Some(c), Some(ctx)) = (&f.compute, &ctx) {
                let value = match c
                    .eval_in(ctx)
                    .map_err(|e| e.to_string())
                    .and_then(|v| typed_compute(f, v))
                {
                    Ok(v) => v,
                    // A computation over an unanswered input has no value yet; that is not
                    // an error of the person filling in the form.
                    Err(_) if reads_empty(c, ctx) => None,
                    Err(msg) => {
                        self.compute_errors.push(FieldError {
                            path: dotted,
                            code: "compute",
                            message: Text::new(
                                format!("Värdet kunde inte beräknas: {msg}"),
                                format!("The value could not be computed: {msg}"),
                            ),
                        });
                        None
                    }
                };
                if put(obj, &path, value) {
                    local = None;
                }
                continue;
            }
            let cleaned = get_at(obj, &path).and_then(|v| normalise(f, v));
            if put(obj, &path, cleaned) {
                local = None;
            }
            if let Some(Value::String(text)) = get_at(obj, &path) {
                let bad = crate::charset::unshowable(text);
                if !bad.is_empty() {
                    self.errors.push(FieldError {
                        path: dotted.clone(),
                        code: "characters",
                        message: characters_message(f, &bad),
                    });
                }
            }
            if f.kind == FieldType::File
                && let Some(file) = get_at(obj, &path).filter(|v| v.is_object())
            {
                let ct = file
                    .get("content_type")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !file_type_allowed(f, ct) {
                    let (sv, en) = label(f);
                    self.errors.push(FieldError {
                            path: dotted.clone(),
                            code: "file_type",
                            message: Text::new(
                                format!("Filen i ”{sv}” har en typ som inte tas emot (tillåtet: {}).", f.accept.join(", ")),
                                format!("The file in ‘{en}’ is of a type that is not accepted (allowed: {}).", f.accept.join(", ")),
                            ),
                        });
                }
            }
            if f.kind == FieldType::Group {
                let mut items = match get_at(obj, &path) {
                    Some(Value::Array(a)) => a.clone(),
                    Some(_) => {
                        // wrong type: leave it for the schema to report
                        continue;
                    }
                    None => Vec::new(),
                };
                let mut scope: Vec<Context> = outer.to_vec();
                scope.push(Context::from_json(obj));
                let empty_item = default_of(&shape_of(&f.children));
                for (i, item) in items.iter_mut().enumerate() {
                    if item.is_object() {
                        self.fields(
                            &f.children,
                            &empty_item,
                            item,
                            &scope,
                            &format!("{prefix}{}.{i}.", path.join(".")),
                        );
                    }
                }
                if put(obj, &path, Some(Value::Array(items))) {
                    local = None;
                }
                continue;
            }
            let required = f.required
                || match (&f.required_if, &ctx) {
                    (Some(e), Some(ctx)) => e.truthy_in(ctx).unwrap_or(false),
                    _ => false,
                };
            if required && is_empty(get_at(obj, &path)) {
                self.errors.push(FieldError {
                    path: dotted,
                    code: "required",
                    message: required_message(f),
                });
            }
        }
    }
}

/// The top level of expression contexts ([`top_context`]) kept as one context per name, so
/// that replacing one step's answers costs that step, not the whole case.
struct Top {
    /// The builtins (`case`, `today`, …), then every step by id, in flow order.
    entries: Vec<(String, Context)>,
    /// Index of each step's entry.
    step_at: HashMap<String, usize>,
}

impl Top {
    fn new(flow: &Flow, answers: &Value, env: &Env) -> Top {
        let mut entries: Vec<(String, Context)> = env
            .top()
            .iter()
            .map(|(k, v)| (k.clone(), Context::from_json(v)))
            .collect();
        let mut step_at = HashMap::new();
        for step in &flow.steps {
            step_at.insert(step.id.clone(), entries.len());
            entries.push((step.id.clone(), step_context(step, answers.get(&step.id))));
        }
        Top { entries, step_at }
    }

    /// Sets a step's answers (with empty defaults under them).
    fn set_step(&mut self, step: &Step, answers: Option<&Value>) {
        if let Some(i) = self.step_at.get(&step.id) {
            self.entries[*i].1 = step_context(step, answers);
        }
    }

    fn context(&self) -> Context {
        Context::from_entries(&self.entries)
    }
}

/// A step's answers as the top level shows them: unanswered fields empty.
fn step_context(step: &Step, answers: Option<&Value>) -> Context {
    match answers {
        Some(a) => {
            let mut base = step.empty_answers.clone();
            overlay(&mut base, a);
            Context::from_json(&base)
        }
        None => Context::from_json(&step.empty_answers),
    }
}

/// Cleans and validates one step's submitted answers in the context of all answers.
pub fn apply_step(
    flow: &Flow,
    step: &Step,
    all: &Value,
    submitted: &Value,
    env: &Env,
) -> StepOutcome {
    let mut top = Top::new(flow, all, env);
    apply_step_in(step, &mut top, submitted)
}

/// [`apply_step`] with the top level already made; leaves the step's cleaned answers in it.
fn apply_step_in(step: &Step, top: &mut Top, submitted: &Value) -> StepOutcome {
    let mut obj = match submitted {
        Value::Object(_) => submitted.clone(),
        Value::Null => json!({}),
        _ => {
            return StepOutcome {
                answers: json!({}),
                errors: vec![FieldError {
                    path: step.id.clone(),
                    code: "not_an_object",
                    message: Text::new("Svaren har fel form.", "The answers have the wrong shape."),
                }],
            };
        }
    };
    top.set_step(step, Some(&obj));
    let mut walk = Walk {
        top_ctx: top.context(),
        errors: Vec::new(),
        compute_errors: Vec::new(),
        step_id: &step.id,
    };
    // Computed values may read values computed earlier in the same step: walk twice, the
    // second time with the first pass's results in scope.
    for pass in 0..2 {
        walk.errors.clear();
        walk.compute_errors.clear();
        walk.fields(&step.fields, &step.empty_answers, &mut obj, &[], "");
        prune_empty_objects(&mut obj);
        top.set_step(step, Some(&obj));
        if pass == 0 {
            walk.top_ctx = top.context();
        }
    }
    let mut errors = walk.errors;
    if let Some(v) = &step.schema.0 {
        for e in v.iter_errors(&obj) {
            errors.extend(schema_error(step, &e));
        }
    }
    if errors.is_empty() {
        errors = walk.compute_errors;
    }
    // One error per field: the first, in field and item order.
    let mut positions = FieldPositions::default();
    errors.sort_by_cached_key(|e| sort_key(step, &e.path, &mut positions));
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.path.clone()));
    StepOutcome {
        answers: obj,
        errors,
    }
}

/// The position of each field among its siblings, by the address of the sibling list, made
/// when first needed: ordering many errors stays linear.
#[derive(Default)]
struct FieldPositions {
    lists: HashMap<usize, HashMap<Vec<String>, usize>>,
}

impl FieldPositions {
    fn of<'f>(&mut self, fields: &'f [Field], rel: &[String]) -> Option<(usize, &'f Field)> {
        let index = self
            .lists
            .entry(fields.as_ptr() as usize)
            .or_insert_with(|| {
                let mut m = HashMap::new();
                for (i, f) in fields.iter().enumerate() {
                    m.entry(f.local_path()).or_insert(i);
                }
                m
            });
        let i = *index.get(rel)?;
        fields.get(i).map(|f| (i, f))
    }
}

/// Orders errors as the fields appear on the page: field position, then item index.
fn sort_key(step: &Step, path: &str, positions: &mut FieldPositions) -> Vec<usize> {
    let mut key = Vec::new();
    let mut fields: &[Field] = &step.fields;
    let mut rel: Vec<String> = Vec::new();
    let mut group: Option<&Field> = None;
    for seg in path.split('.').skip(1) {
        if let Ok(i) = seg.parse::<usize>() {
            if let Some(g) = group.take() {
                fields = &g.children;
                rel.clear();
            }
            key.push(i);
            continue;
        }
        rel.push(seg.to_owned());
        if let Some((pos, f)) = positions.of(fields, &rel) {
            key.push(pos);
            if f.kind == FieldType::Group {
                group = Some(f);
            }
        }
    }
    key
}

/// Validates every step that applies and passes `include` (e.g. only the applicant's steps),
/// in order, computing values as it goes. Linear in the answers: each step's context is made
/// once, and again only after that step changed.
pub fn validate_steps(
    flow: &Flow,
    answers: &Value,
    env: &Env,
    include: &dyn Fn(&Step) -> bool,
) -> Report {
    let mut all = if answers.is_object() {
        answers.clone()
    } else {
        json!({})
    };
    let mut top = Top::new(flow, &all, env);
    let mut report = Report::default();
    for step in &flow.steps {
        let applies = match &step.when {
            None => true,
            Some(w) => w.truthy_in(&top.context()).unwrap_or(false),
        };
        if !applies {
            if let Value::Object(m) = &mut all {
                m.shift_remove(&step.id);
            }
            top.set_step(step, None);
            continue;
        }
        report.path.push(step.id.clone());
        if step.kind == StepKind::Review || !include(step) {
            continue;
        }
        let submitted = all.get(&step.id).cloned().unwrap_or(Value::Null);
        let out = apply_step_in(step, &mut top, &submitted);
        set_at(&mut all, std::slice::from_ref(&step.id), out.answers);
        report.errors.extend(out.errors);
    }
    // Answers for steps that do not exist are not kept.
    if let Value::Object(m) = &mut all {
        m.retain(|k, _| flow.step(k).is_some());
    }
    report.answers = all;
    report
}

/// Validates every step that applies.
pub fn validate_all(flow: &Flow, answers: &Value, env: &Env) -> Report {
    validate_steps(flow, answers, env, &|_| true)
}

/// Values to show in an empty step from the logged-in identity (`prefill`).
pub fn prefill(step: &Step, env: &Env) -> Value {
    let mut obj = json!({});
    let Some(id) = &env.identity else {
        return obj;
    };
    for f in &step.fields {
        let v = match f.prefill {
            Some(crate::def::Prefill::Name) => &id.name,
            Some(crate::def::Prefill::GivenName) => &id.given_name,
            Some(crate::def::Prefill::Surname) => &id.surname,
            Some(crate::def::Prefill::Personnummer) => &id.personnummer,
            None => continue,
        };
        set_at(&mut obj, &f.local_path(), Value::String(v.clone()));
    }
    obj
}

// ---- messages ------------------------------------------------------------------------------

/// The characters of an answer no document can show, as code points (an invisible bidi
/// override shows as nothing, U+202E shows).
fn characters_message(f: &Field, bad: &[char]) -> Text {
    let (sv, en) = label(f);
    let list = crate::charset::code_points(bad);
    Text::new(
        format!(
            "”{sv}” innehåller tecken som inte kan visas i dokumentet: {list}. Ta bort dem eller skriv på annat sätt."
        ),
        format!(
            "‘{en}’ contains characters the document cannot show: {list}. Remove them or write it another way."
        ),
    )
}

fn label(f: &Field) -> (&str, &str) {
    (f.label.sv.as_str(), f.label.en.as_str())
}

fn required_message(f: &Field) -> Text {
    let (sv, en) = label(f);
    match f.kind {
        FieldType::Choice | FieldType::Boolean => Text::new(
            format!("Välj ett alternativ för ”{sv}”."),
            format!("Select an option for ‘{en}’."),
        ),
        FieldType::MultiChoice => Text::new(
            format!("Välj minst ett alternativ för ”{sv}”."),
            format!("Select at least one option for ‘{en}’."),
        ),
        FieldType::File => Text::new(
            format!("Bifoga en fil för ”{sv}”."),
            format!("Attach a file for ‘{en}’."),
        ),
        _ => Text::new(format!("Fyll i ”{sv}”."), format!("Enter ‘{en}’.")),
    }
}

/// Finds the field at a JSON pointer inside a step's answers.
fn field_at<'a>(step: &'a Step, pointer: &str) -> Option<&'a Field> {
    let segs: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut fields = &step.fields;
    let mut rel: Vec<String> = Vec::new();
    let mut found = None;
    for seg in segs {
        if seg.parse::<usize>().is_ok() && found.is_some_and(|f: &Field| f.kind == FieldType::Group)
        {
            if let Some(g) = found {
                fields = &g.children;
            }
            rel.clear();
            continue;
        }
        rel.push(seg);
        found = fields.iter().find(|f| f.local_path() == rel);
        if found.is_none() && !fields.iter().any(|f| f.parent.starts_with(&rel)) {
            // maybe a sub-key of a scalar field (file object)
            rel.pop();
            return fields.iter().find(|f| f.local_path() == rel);
        }
    }
    found
}

fn dotted(step: &Step, pointer: &str) -> String {
    let rest: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    if rest.is_empty() {
        step.id.clone()
    } else {
        format!("{}.{}", step.id, rest.join("."))
    }
}

fn schema_error(step: &Step, e: &jsonschema::ValidationError<'_>) -> Vec<FieldError> {
    use jsonschema::error::ValidationErrorKind as K;
    let ptr = e.instance_path().as_str().to_owned();
    if let K::AdditionalProperties { unexpected } = e.kind() {
        return unexpected
            .iter()
            .map(|k| FieldError {
                path: format!("{}.{k}", dotted(step, &ptr)),
                code: "unknown_field",
                message: Text::new(
                    format!("Frågan ”{k}” finns inte i det här steget."),
                    format!("There is no question ‘{k}’ in this step."),
                ),
            })
            .collect();
    }
    let Some(f) = field_at(step, &ptr) else {
        return vec![FieldError {
            path: dotted(step, &ptr),
            code: "type",
            message: Text::new("Svaret har fel form.", "The answer has the wrong shape."),
        }];
    };
    // A file's sub-keys and a multi-choice's items report on the field itself.
    let path = if f.kind == FieldType::MultiChoice {
        let p = dotted(step, &ptr);
        match p.rsplit_once('.') {
            Some((head, last)) if last.parse::<usize>().is_ok() => head.to_owned(),
            _ => p,
        }
    } else if f.kind == FieldType::File {
        let mut p = dotted(step, &ptr);
        for k in ["/size", "/id", "/name", "/content_type", "/sha256"] {
            if ptr.ends_with(k) {
                p.truncate(p.len() - k.len());
            }
        }
        p
    } else {
        dotted(step, &ptr)
    };
    let (sv, en) = label(f);
    let num = |v: &Value| {
        crate::expr::swedish_number(
            v.as_f64().unwrap_or(0.0),
            if v.is_i64() || v.is_u64() { 0 } else { 2 },
        )
    };
    let (code, msg): (&'static str, Text) = match e.kind() {
        K::Format { format } => format_message(f, format, e.instance()),
        K::Type { .. } => type_message(f),
        K::Minimum { limit } | K::ExclusiveMinimum { limit } => (
            "min",
            Text::new(
                format!("”{sv}” måste vara minst {}.", num(limit)),
                format!("‘{en}’ must be at least {limit}."),
            ),
        ),
        K::Maximum { limit } | K::ExclusiveMaximum { limit } if f.kind == FieldType::File => (
            "file_size",
            Text::new(
                format!(
                    "Filen i ”{sv}” är för stor (högst {}).",
                    human_size(limit.as_u64().unwrap_or(0))
                ),
                format!(
                    "The file in ‘{en}’ is too large (at most {}).",
                    human_size(limit.as_u64().unwrap_or(0))
                ),
            ),
        ),
        K::Maximum { limit } | K::ExclusiveMaximum { limit } => (
            "max",
            Text::new(
                format!("”{sv}” får vara högst {}.", num(limit)),
                format!("‘{en}’ must be at most {limit}."),
            ),
        ),
        K::MinLength { limit } => (
            "min_length",
            Text::new(
                format!("”{sv}” måste ha minst {limit} tecken."),
                format!("‘{en}’ must have at least {limit} characters."),
            ),
        ),
        K::MaxLength { limit } => (
            "max_length",
            Text::new(
                format!("”{sv}” får ha högst {limit} tecken."),
                format!("‘{en}’ must have at most {limit} characters."),
            ),
        ),
        K::Pattern { .. } => (
            "pattern",
            f.pattern_message.clone().unwrap_or_else(|| {
                Text::new(
                    format!("”{sv}” har fel format."),
                    format!("‘{en}’ is not in the expected format."),
                )
            }),
        ),
        K::Enum { .. } => (
            "choice",
            Text::new(
                format!("Välj ett av alternativen för ”{sv}”."),
                format!("Choose one of the options for ‘{en}’."),
            ),
        ),
        K::UniqueItems => (
            "choice",
            Text::new(
                format!("Samma alternativ är valt två gånger i ”{sv}”."),
                format!("The same option is chosen twice in ‘{en}’."),
            ),
        ),
        K::MinItems { limit } => (
            "min_items",
            Text::new(
                format!("Lägg till minst {limit} i ”{sv}”."),
                format!("Add at least {limit} to ‘{en}’."),
            ),
        ),
        K::MaxItems { limit } => (
            "max_items",
            Text::new(
                format!("”{sv}” får ha högst {limit}."),
                format!("‘{en}’ can have at most {limit}."),
            ),
        ),
        K::Required { .. } => (
            "type",
            Text::new(
                format!("Filen i ”{sv}” är ofullständig."),
                format!("The file in ‘{en}’ is incomplete."),
            ),
        ),
        _ => (
            "type",
            Text::new(
                format!("”{sv}” har ett ogiltigt värde."),
                format!("‘{en}’ has an invalid value."),
            ),
        ),
    };
    vec![FieldError {
        path,
        code,
        message: msg,
    }]
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{} MB", bytes / 1_000_000)
    } else if bytes >= 1000 {
        format!("{} kB", bytes / 1000)
    } else {
        format!("{bytes} B")
    }
}

fn type_message(f: &Field) -> (&'static str, Text) {
    let (sv, en) = label(f);
    let (s, e) = match f.kind {
        FieldType::Integer => ("ett heltal", "a whole number"),
        FieldType::Decimal => ("ett tal", "a number"),
        FieldType::Boolean => ("ja eller nej", "yes or no"),
        FieldType::MultiChoice | FieldType::Group => ("en lista", "a list"),
        FieldType::File => ("en fil", "a file"),
        _ => ("text", "text"),
    };
    (
        "type",
        Text::new(
            format!("”{sv}” måste vara {s}."),
            format!("‘{en}’ must be {e}."),
        ),
    )
}

fn format_message(f: &Field, format: &str, instance: &Value) -> (&'static str, Text) {
    let (sv, en) = label(f);
    let text = instance.as_str().unwrap_or("");
    match format {
        "personnummer" => {
            let why = match Personnummer::parse(text) {
                Err(IdError::Checksum) => {
                    ("kontrollsiffran stämmer inte", "the check digit is wrong")
                }
                Err(IdError::Date) => (
                    "datumdelen är inte ett giltigt datum",
                    "the date part is not a valid date",
                ),
                _ => (
                    "skriv 12 siffror: ÅÅÅÅMMDDNNNN",
                    "write 12 digits: YYYYMMDDNNNN",
                ),
            };
            (
                "personnummer",
                Text::new(
                    format!("Ange ett giltigt personnummer i ”{sv}”: {}.", why.0),
                    format!(
                        "Enter a valid personal identity number in ‘{en}’: {}.",
                        why.1
                    ),
                ),
            )
        }
        "organisationsnummer" => (
            "organisationsnummer",
            Text::new(
                format!("Ange ett giltigt organisationsnummer i ”{sv}” (NNNNNN-NNNN)."),
                format!("Enter a valid organisation number in ‘{en}’ (NNNNNN-NNNN)."),
            ),
        ),
        "email" => (
            "email",
            Text::new(
                format!("Ange en e-postadress i ”{sv}”, till exempel namn@exempel.se."),
                format!("Enter an email address in ‘{en}’, like name@example.com."),
            ),
        ),
        "phone" => (
            "phone",
            Text::new(
                format!("Ange ett telefonnummer i ”{sv}”, till exempel 070-123 45 67."),
                format!("Enter a phone number in ‘{en}’, like 070-123 45 67."),
            ),
        ),
        "local-date" => (
            "date",
            Text::new(
                format!("”{sv}” måste vara ett riktigt datum (ÅÅÅÅ-MM-DD)."),
                format!("‘{en}’ must be a real date (YYYY-MM-DD)."),
            ),
        ),
        "local-datetime" => (
            "datetime",
            Text::new(
                format!("”{sv}” måste vara ett datum och en tid (ÅÅÅÅ-MM-DD TT:MM)."),
                format!("‘{en}’ must be a date and time (YYYY-MM-DD HH:MM)."),
            ),
        ),
        _ => (
            "type",
            Text::new(
                format!("”{sv}” har fel format."),
                format!("‘{en}’ has the wrong format."),
            ),
        ),
    }
}

/// Checks an uploaded file's type against the field's `accept` list. `content_type` is what
/// the server found in the file's content ([`crate::files::sniff`]), never the name's word.
pub fn file_type_allowed(f: &Field, content_type: &str) -> bool {
    crate::files::accepts(&f.accept, content_type)
}
