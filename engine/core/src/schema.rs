//! The JSON Schema of the flow format, generated from the `def` types, and the structural check
//! of a parsed file against it (every problem at once, mapped to line and column).

use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use schemars::{JsonSchema, generate::SchemaSettings};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::def::{FlowDef, FormDef};
use crate::diag::{Diagnostics, did_you_mean};
use crate::yaml::{Doc, pointer_segment};

/// Which kind of definition file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefKind {
    Flow,
    FormDef,
}

/// The JSON Schema for flows (`flows/flow.schema.json`).
pub fn flow_schema() -> Value {
    generate::<FlowDef>()
}

/// The JSON Schema for form-defs (`form-defs/form-def.schema.json`).
pub fn form_def_schema() -> Value {
    generate::<FormDef>()
}

/// Pretty JSON text of a schema, as committed in the repository.
pub fn schema_text(kind: DefKind) -> String {
    let schema = match kind {
        DefKind::Flow => flow_schema(),
        DefKind::FormDef => form_def_schema(),
    };
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

fn generate<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    simplify_optionals(&mut value);
    value
}

/// schemars describes `Option<T>` as "T or null". In YAML an absent key is the way to say
/// "none", so the schema offers only T: editors then autocomplete the real shape and the
/// checker's messages name the expected type instead of "not valid under any of the schemas".
fn simplify_optionals(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            let any_of_with_null = matches!(map.get("anyOf"), Some(Value::Array(a))
                if a.len() == 2 && a.iter().any(|s| s.get("type") == Some(&Value::from("null"))));
            if any_of_with_null
                && let Some(Value::Array(alts)) = map.remove("anyOf")
                && let Some(Value::Object(keep)) = alts
                    .into_iter()
                    .find(|s| s.get("type") != Some(&Value::from("null")))
            {
                for (k, val) in keep {
                    map.insert(k, val);
                }
            }
            // `null` defaults are noise for an editor.
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            for val in map.values_mut() {
                simplify_optionals(val);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(simplify_optionals),
        _ => {}
    }
}

/// schemars describes a documented enum as `oneOf` of `{const, description}` (good for editor
/// hovers). For checking, an `enum` gives one precise error ("not one of: …") instead of
/// "not valid under any of the schemas", so the validator sees that form.
fn consts_to_enum(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let consts: Option<Vec<Value>> = map
                .get("oneOf")
                .and_then(Value::as_array)
                .and_then(|alts| alts.iter().map(|a| a.get("const").cloned()).collect());
            if let Some(values) = consts {
                map.remove("oneOf");
                map.insert("enum".into(), Value::Array(values));
            }
            map.values_mut().for_each(consts_to_enum);
        }
        Value::Array(items) => items.iter_mut().for_each(consts_to_enum),
        _ => {}
    }
}

struct Checker {
    schema: Value,
    validator: Option<jsonschema::Validator>,
}

fn checker(kind: DefKind) -> &'static Checker {
    static FLOW: LazyLock<Checker> = LazyLock::new(|| Checker::new(flow_schema()));
    static FORM: LazyLock<Checker> = LazyLock::new(|| Checker::new(form_def_schema()));
    match kind {
        DefKind::Flow => &FLOW,
        DefKind::FormDef => &FORM,
    }
}

impl Checker {
    fn new(schema: Value) -> Self {
        let mut for_validation = schema.clone();
        consts_to_enum(&mut for_validation);
        let validator = jsonschema::options().build(&for_validation).ok();
        Self { schema, validator }
    }

    /// The property names allowed by the object schema that owns an `additionalProperties`
    /// keyword at `schema_path`.
    fn known_keys(&self, schema_path: &str) -> Vec<String> {
        let parent = schema_path
            .strip_suffix("/additionalProperties")
            .unwrap_or(schema_path);
        let mut node = &self.schema;
        for seg in parent.split('/').skip(1) {
            let seg = seg.replace("~1", "/").replace("~0", "~");
            node = match node.get(&seg).or_else(|| {
                seg.parse::<usize>()
                    .ok()
                    .and_then(|i| node.as_array().and_then(|a| a.get(i)))
            }) {
                Some(n) => n,
                None => return Vec::new(),
            };
            if let Some(Value::String(r)) = node.get("$ref")
                && let Some(target) = r.strip_prefix('#').and_then(|p| self.schema.pointer(p))
            {
                node = target;
            }
        }
        node.get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Checks a parsed file against the format's schema and deserialises it. Unknown keys are
/// reported and removed so that the rest of the file can still be checked; other structural
/// problems are reported and stop the file from being linked (its value is `None`).
pub fn check_and_read<T: DeserializeOwned>(
    kind: DefKind,
    file: &str,
    doc: &mut Doc,
    diags: &mut Diagnostics,
) -> Option<T> {
    let checker = checker(kind);
    let mut unknown: Vec<String> = Vec::new();
    let mut other_errors = 0usize;
    if let Some(validator) = &checker.validator {
        for err in validator.iter_errors(&doc.value) {
            let at = err.instance_path().as_str().to_owned();
            match err.kind() {
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    let known = checker.known_keys(err.schema_path().as_str());
                    for key in unexpected {
                        let ptr = format!("{at}/{}", pointer_segment(key));
                        let hint = did_you_mean(key, known.iter().map(String::as_str));
                        let list = if hint.is_empty() && !known.is_empty() {
                            format!("; allowed here: {}", known.join(", "))
                        } else {
                            hint
                        };
                        diags.error(
                            file,
                            doc.key_pos(&ptr),
                            format!("unknown key `{key}`{list}"),
                        );
                        unknown.push(ptr);
                    }
                }
                kind => {
                    other_errors += 1;
                    let msg = describe(kind, err.instance(), &err.to_string());
                    let pos = if matches!(kind, ValidationErrorKind::Required { .. }) {
                        doc.key_pos(&at)
                    } else {
                        doc.value_pos(&at)
                    };
                    diags.error(file, pos, msg);
                }
            }
        }
    }
    // Remove unknown keys, deepest first, so that deserialisation sees a clean document.
    unknown.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for ptr in &unknown {
        if let Some((parent, key)) = ptr.rsplit_once('/') {
            let key = key.replace("~1", "/").replace("~0", "~");
            if let Some(Value::Object(m)) = doc.value.pointer_mut(parent) {
                m.shift_remove(&key);
            }
        }
    }
    match T::deserialize(&doc.value) {
        Ok(v) if other_errors == 0 => Some(v),
        Ok(_) => None,
        Err(e) => {
            if other_errors == 0 {
                diags.error(
                    file,
                    crate::diag::Pos::START,
                    format!("cannot read the file: {e}"),
                );
            }
            None
        }
    }
}

fn describe(kind: &ValidationErrorKind, instance: &Value, fallback: &str) -> String {
    let shown = short(instance);
    match kind {
        ValidationErrorKind::Required { property } => {
            format!(
                "missing required key `{}`",
                property.as_str().unwrap_or("?")
            )
        }
        ValidationErrorKind::Type { kind } => {
            let expected = format!("{kind:?}")
                .replace("Single(", "")
                .replace(')', "")
                .to_lowercase();
            let hint =
                if expected.contains("string") && (instance.is_number() || instance.is_boolean()) {
                    " (quote it: \"...\")"
                } else {
                    ""
                };
            format!("expected {expected}, found {}{hint}", json_type(instance))
        }
        ValidationErrorKind::Enum { options } => {
            let names: Vec<&str> = options
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let hint = instance
                .as_str()
                .map(|s| did_you_mean(s, names.iter().copied()))
                .unwrap_or_default();
            format!("{shown} is not one of: {}{hint}", names.join(", "))
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!("{shown} does not have the expected form (pattern {pattern})")
        }
        ValidationErrorKind::Minimum { limit } => format!("{shown} is less than {limit}"),
        _ => fallback.to_owned(),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
