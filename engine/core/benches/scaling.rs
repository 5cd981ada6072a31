//! How `check` (loading and linking a flow) and validation scale with their input.
//!
//! `cargo bench -p blankett-core --bench scaling` prints, for flows of 1,000 to 20,000 fields
//! (in steps of 100 fields, and all in one step, every second field with a `show_if`), the
//! median time to load, link and check the sample answers, and for the minutes of a meeting
//! (`flows/justering`) with 151 members and up to 200 paragraphs the median time to validate
//! every step. Both should grow linearly: twice the input, about twice the time.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use blankett_core::rules::{Env, validate_all};
use blankett_core::{FlowSource, Sources, load};
use serde_json::{Value, json};

/// A flow of `fields` text fields, `per_step` to a step, every second one shown only when the
/// one before it is not "x"; with sample answers for all of them.
fn big_flow(fields: usize, per_step: usize) -> Sources {
    let mut yaml = String::from(
        "version: 1\nid: big\ntitle: { sv: Stor, en: Big }\nowner: x\nstart: [citizen]\nsteps:\n",
    );
    let mut answers = serde_json::Map::new();
    let mut k = 0;
    let mut s = 0;
    while k < fields {
        let _ = writeln!(
            yaml,
            "  - id: s{s}\n    title: {{ sv: Steg {s}, en: Step {s} }}\n    fields:"
        );
        let mut step = serde_json::Map::new();
        for j in 0..per_step.min(fields - k) {
            let _ = writeln!(
                yaml,
                "      - id: f{k}\n        type: text\n        label: {{ sv: Fält {k}, en: Field {k} }}\n        max_length: 200"
            );
            if j % 2 == 1 {
                let _ = writeln!(yaml, "        show_if: f{} != 'x'", k - 1);
            }
            step.insert(format!("f{k}"), json!(format!("svar {k}")));
            k += 1;
        }
        answers.insert(format!("s{s}"), Value::Object(step));
        s += 1;
    }
    yaml.push_str("  - id: review\n    type: review\n");
    let mut files = BTreeMap::new();
    files.insert(
        "sample-answers.json".to_owned(),
        serde_json::to_vec(&Value::Object(answers)).unwrap_or_default(),
    );
    Sources {
        flows: vec![FlowSource {
            dir: "flows/big".into(),
            folder_name: "big".into(),
            flow_yaml: yaml,
            files,
        }],
        ..Sources::default()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

/// The shipped `justering` flow, read from the repository as `blankett check` reads it.
fn justering() -> Sources {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("flows/justering");
    let mut files = BTreeMap::new();
    for name in ["document.typ", "sample-answers.json"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            files.insert(name.to_owned(), b);
        }
    }
    let mut form_defs = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root.join("form-defs")) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "yaml") {
                form_defs.push(blankett_core::FormDefSource {
                    path: p.display().to_string(),
                    name: p
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    text: std::fs::read_to_string(&p).unwrap_or_default(),
                });
            }
        }
    }
    Sources {
        flows: vec![FlowSource {
            dir: "flows/justering".into(),
            folder_name: "justering".into(),
            flow_yaml: std::fs::read_to_string(dir.join("flow.yaml")).unwrap_or_default(),
            files,
        }],
        form_defs,
        ..Sources::default()
    }
}

fn main() {
    println!("check: load, link and check the sample answers (median of 3)");
    println!(
        "{:>8} {:>10} {:>12} {:>12}",
        "fields", "per step", "time", "per field"
    );
    for (fields, per_step) in [
        (1_000, 100),
        (5_000, 100),
        (20_000, 100),
        (1_000, 1_000),
        (5_000, 5_000),
        (20_000, 20_000),
    ] {
        let max: usize = std::env::var("BLANKETT_BENCH_MAX_FIELDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(usize::MAX);
        if fields > max {
            continue;
        }
        let sources = big_flow(fields, per_step);
        let (defs, diags) = load(&sources);
        assert!(
            diags.error_count() == 0 && defs.flows.len() == 1,
            "{:?}",
            diags.sorted().into_iter().take(3).collect::<Vec<_>>()
        );
        let t = time(3, || load(&sources));
        println!(
            "{fields:>8} {per_step:>10} {:>10.1}ms {:>10.2}µs",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() * 1e6 / fields as f64
        );
    }

    println!();
    println!("validation: every step of the minutes of a meeting, 151 members (median of 5)");
    println!("{:>10} {:>10} {:>12}", "paragraphs", "kB", "time");
    let sources = justering();
    let (defs, diags) = load(&sources);
    let Some(flow) = defs.flows.first() else {
        panic!("justering does not load: {:?}", diags.sorted());
    };
    let sample: Value =
        serde_json::from_slice(&sources.flows[0].files["sample-answers.json"]).unwrap_or_default();
    for paragraphs in [25usize, 50, 100, 200] {
        let mut answers = sample.clone();
        let member = answers["attendance"]["members"][1].clone();
        let members: Vec<Value> = (0..151)
            .map(|i| {
                let mut m = member.clone();
                m["name"] = json!(format!("Ledamot Nummer {i}"));
                m
            })
            .collect();
        answers["attendance"]["members"] = Value::Array(members);
        let item = answers["paragraphs"]["items"][1].clone();
        let items: Vec<Value> = (0..paragraphs)
            .map(|i| {
                let mut p = item.clone();
                p["number"] = json!(101 + i);
                p
            })
            .collect();
        answers["paragraphs"]["items"] = Value::Array(items);
        let kb = serde_json::to_vec(&answers).map_or(0, |v| v.len()) / 1024;
        let env = Env::sample();
        let report = validate_all(flow, &answers, &env);
        assert!(report.errors.is_empty(), "{:?}", &report.errors[..1]);
        let t = time(5, || validate_all(flow, &answers, &env));
        println!(
            "{paragraphs:>10} {kb:>10} {:>10.1}ms",
            t.as_secs_f64() * 1e3
        );
    }
}
