//! "Check your answers": the answers of every step that applies, as label and lines, for
//! the review page and the case page.

use blankett_core::case::Case;
use blankett_core::def::{FieldType, StepKind};
use blankett_core::model::{Field, Flow, Step, Text};
use blankett_core::rules::{Env, step_applies, top_context, visible_fields};
use serde_json::Value;

use super::forms::{display_number, value_string};
use super::views::{SummaryRow, SummaryStep};

/// One block per step that applies and has answers to show.
pub fn summary(
    flow: &Flow,
    case: &Case,
    env: &Env,
    en: bool,
    change_url: &dyn Fn(&Step) -> Option<String>,
) -> Vec<SummaryStep> {
    let top = top_context(flow, &case.answers, env);
    let t = |x: &Text| if en { x.en.clone() } else { x.sv.clone() };
    flow.steps
        .iter()
        .filter(|s| s.kind == StepKind::Form && step_applies(s, &top))
        .map(|s| {
            let visible = visible_fields(flow, s, &case.answers, env);
            let answers = case.answers.get(&s.id).cloned().unwrap_or(Value::Null);
            let mut rows = Vec::new();
            rows_of(&s.fields, &answers, "", &visible, en, &t, &mut rows);
            SummaryStep {
                title: t(&s.title),
                rows,
                change_url: change_url(s),
            }
        })
        .collect()
}

fn rows_of(
    fields: &[Field],
    answers: &Value,
    prefix: &str,
    visible: &[(String, bool)],
    en: bool,
    t: &dyn Fn(&Text) -> String,
    out: &mut Vec<SummaryRow>,
) {
    for f in fields {
        let path = format!("{prefix}{}", f.local_path().join("."));
        if visible.iter().any(|(p, s)| *p == path && !*s) || f.kind == FieldType::Info {
            continue;
        }
        let mut v = answers;
        for seg in f.local_path() {
            v = v.get(&seg).unwrap_or(&Value::Null);
        }
        if f.kind == FieldType::Group {
            let items = v.as_array().cloned().unwrap_or_default();
            for (i, item) in items.iter().enumerate() {
                let mut inner = Vec::new();
                rows_of(
                    &f.children,
                    item,
                    &format!("{path}.{i}."),
                    visible,
                    en,
                    t,
                    &mut inner,
                );
                for mut row in inner {
                    row.label = format!("{} {}: {}", t(&f.label), i + 1, row.label);
                    out.push(row);
                }
            }
            continue;
        }
        // A computed value is not the person's to change: no "Change" link for it.
        out.push(SummaryRow {
            label: t(&f.label),
            lines: lines(f, v, en, t),
            computed: f.compute.is_some(),
            anchor: super::forms::anchor(&path),
        });
    }
}

/// A value as the person reading it expects: options by their label, yes/no, decimals with
/// a comma, paragraphs as lines.
pub fn lines(f: &Field, v: &Value, en: bool, t: &dyn Fn(&Text) -> String) -> Vec<String> {
    let option = |x: &Value| {
        let s = value_string(x);
        f.options
            .iter()
            .find(|o| o.value == s)
            .map(|o| t(&o.label))
            .unwrap_or(s)
    };
    match (f.kind, v) {
        (_, Value::Null) => Vec::new(),
        (FieldType::Boolean, Value::Bool(b)) => vec![
            match (b, en) {
                (true, false) => "Ja",
                (false, false) => "Nej",
                (true, true) => "Yes",
                (false, true) => "No",
            }
            .to_owned(),
        ],
        (FieldType::MultiChoice, Value::Array(a)) => a.iter().map(option).collect(),
        (FieldType::Choice, x) => vec![option(x)],
        (FieldType::Decimal, Value::Number(n)) => vec![display_number(f, n)],
        (FieldType::Integer, Value::Number(n)) => vec![display_number(f, n)],
        (FieldType::Datetime, Value::String(s)) => vec![s.replace('T', " ")],
        (_, Value::String(s)) if s.is_empty() => Vec::new(),
        (_, x) => value_string(x).lines().map(str::to_owned).collect(),
    }
}
