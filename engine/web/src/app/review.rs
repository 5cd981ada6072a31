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
            let cx = Rows {
                case_id: case.id.as_str(),
                visible: &visible,
                en,
                t: &t,
            };
            rows_of(&cx, &s.fields, &answers, "", &mut rows);
            SummaryStep {
                title: t(&s.title),
                rows,
                change_url: change_url(s),
            }
        })
        .collect()
}

/// What every row of one step's summary is drawn with.
struct Rows<'a> {
    case_id: &'a str,
    visible: &'a [(String, bool)],
    en: bool,
    t: &'a dyn Fn(&Text) -> String,
}

fn rows_of(
    cx: &Rows<'_>,
    fields: &[Field],
    answers: &Value,
    prefix: &str,
    out: &mut Vec<SummaryRow>,
) {
    let (visible, en, t) = (cx.visible, cx.en, cx.t);
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
                rows_of(cx, &f.children, item, &format!("{path}.{i}."), &mut inner);
                for mut row in inner {
                    row.label = format!("{} {}: {}", t(&f.label), i + 1, row.label);
                    out.push(row);
                }
            }
            continue;
        }
        // A file is shown with its name, size and type, and a link to it.
        let file = (f.kind == FieldType::File && v.is_object())
            .then(|| super::forms::file_view(cx.case_id, v, en));
        // A computed value is not the person's to change: no "Change" link for it.
        out.push(SummaryRow {
            label: t(&f.label),
            lines: lines(f, v, en, t),
            file,
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
        (FieldType::File, Value::Object(o)) => {
            let text = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("");
            let size = o.get("size").and_then(Value::as_u64).unwrap_or(0);
            vec![format!(
                "{} ({}, {})",
                text("name"),
                blankett_core::files::display_size(size, en),
                text("content_type")
            )]
        }
        (_, Value::String(s)) if s.is_empty() => Vec::new(),
        (_, x) => value_string(x).lines().map(str::to_owned).collect(),
    }
}
