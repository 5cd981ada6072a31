//! Definitions a careless (or hostile) designer may write: `blankett check` and `blankett serve`
//! finish in bounded time and memory on any of them, with a `file:line:col` error where a limit
//! is passed; a template that loops or allocates without end is stopped with an error naming
//! it, and the server starts and serves the other flows regardless.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::web;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use web::{CASE_WORKER, Db, TestApp, f, fill_flow, repo, sample, submit};

/// Runs the real binary; fails the test if it takes longer than `secs` seconds.
fn bounded(args: &[&str], env: &[(&str, &str)], secs: u64) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_blankett"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::Read as _;
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let mut stdout = stdout;
        let mut stderr = stderr;
        let _ = stdout.read_to_end(&mut o);
        let _ = stderr.read_to_end(&mut e);
        let status = child.wait().unwrap();
        let _ = tx.send(Output {
            status,
            stdout: o,
            stderr: e,
        });
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(o) => (o, started.elapsed()),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!(
                "`blankett {}` did not finish within {secs} s",
                args.join(" ")
            );
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A flow folder `dir/<id>/` with this `flow.yaml` (and the given other files).
fn flow_dir(dir: &Path, id: &str, yaml: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = dir.join(id);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("flow.yaml"), yaml).unwrap();
    for (name, body) in files {
        std::fs::write(d.join(name), body).unwrap();
    }
    d
}

const HEAD: &str =
    "version: 1\nid: ID\ntitle: { sv: Prov, en: Test }\nowner: x\nstart: [citizen]\nsteps:\n";

fn head(id: &str) -> String {
    HEAD.replace("ID", id)
}

/// `check` on `dir`: fails (exit 1) within `secs` with a `file:line:col` error saying `says`.
fn refused_at_a_position(dir: &Path, says: &str, secs: u64) {
    let (o, took) = bounded(&["check", dir.to_str().unwrap()], &[], secs);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains(says))
        .unwrap_or_else(|| panic!("no error saying `{says}` ({took:?}):\n{out}"));
    let mut parts = line.splitn(4, ':');
    let (file, l, c) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert!(file.ends_with(".yaml"), "{line}");
    assert!(
        l.parse::<usize>().is_ok() && c.parse::<usize>().is_ok(),
        "file:line:col: {line}"
    );
}

#[test]
fn groups_nested_a_thousand_deep_are_refused_quickly_with_a_position() {
    let tmp = tempfile::tempdir().unwrap();
    for (id, depth, says) in [
        ("deep", 1000, "nest more than 64 deep"),
        ("deeper", 20, "groups nest more than 8 deep"),
    ] {
        let mut yaml = head(id);
        yaml.push_str("  - id: s\n    title: { sv: S, en: S }\n    fields:\n");
        let mut indent = "      ".to_owned();
        for d in 0..depth {
            let _ = writeln!(
                yaml,
                "{indent}- id: g{d}\n{indent}  type: group\n{indent}  label: {{ sv: G, en: G }}\n{indent}  fields:"
            );
            indent.push_str("    ");
        }
        let _ = writeln!(
            yaml,
            "{indent}- id: leaf\n{indent}  type: text\n{indent}  label: {{ sv: L, en: L }}"
        );
        let dir = tmp.path().join(id);
        flow_dir(&dir, id, &yaml, &[]);
        refused_at_a_position(&dir, says, 60);
    }
}

#[test]
fn use_chains_and_use_explosions_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let defs = tmp.path().join("form-defs");
    std::fs::create_dir_all(&defs).unwrap();
    // A chain of 30 form-defs, each using the next.
    for i in 0..30 {
        let fields = if i < 29 {
            format!("  - use: chain{}\n", i + 1)
        } else {
            "  - { id: x, type: text, label: { sv: X, en: X } }\n".to_owned()
        };
        std::fs::write(
            defs.join(format!("chain{i}.yaml")),
            format!("version: 1\nid: chain{i}\ntitle: {{ sv: K, en: K }}\nfields:\n{fields}"),
        )
        .unwrap();
    }
    // Twenty form-defs each using the next twice: 2^20 fields if nothing stopped it.
    for i in 0..20 {
        let fields = if i < 19 {
            format!(
                "  - {{ use: twice{n}, as: a }}\n  - {{ use: twice{n}, as: b }}\n",
                n = i + 1
            )
        } else {
            "  - { id: x, type: text, label: { sv: X, en: X } }\n  - { id: y, type: text, label: { sv: Y, en: Y } }\n".to_owned()
        };
        std::fs::write(
            defs.join(format!("twice{i}.yaml")),
            format!("version: 1\nid: twice{i}\ntitle: {{ sv: T, en: T }}\nfields:\n{fields}"),
        )
        .unwrap();
    }
    let flows = tmp.path().join("flows");
    for (id, uses) in [("chain", "chain0"), ("twice", "twice0")] {
        let yaml = format!(
            "{}  - id: s\n    title: {{ sv: S, en: S }}\n    fields:\n      - use: {uses}\n",
            head(id)
        );
        flow_dir(&flows, id, &yaml, &[]);
    }
    let (o, _) = bounded(
        &["check", flows.to_str().unwrap(), defs.to_str().unwrap()],
        &[],
        60,
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for says in [
        "nests form-defs more than 16 deep",
        "more than 50000 fields",
    ] {
        assert!(out.contains(says), "{says}:\n{out}");
    }
}

#[test]
fn too_many_options_steps_and_a_billion_laughs_are_refused_with_a_position() {
    let tmp = tempfile::tempdir().unwrap();
    let mut options = head("options");
    options.push_str("  - id: s\n    title: { sv: S, en: S }\n    fields:\n      - id: c\n        type: choice\n        label: { sv: C, en: C }\n        options:\n");
    for i in 0..6000 {
        let _ = writeln!(
            options,
            "          - {{ value: v{i}, label: {{ sv: V, en: V }} }}"
        );
    }
    let d = tmp.path().join("a");
    flow_dir(&d, "options", &options, &[]);
    refused_at_a_position(&d, "a field may have at most 5000", 60);

    let mut laughs = head("laughs");
    laughs.push_str("x0: &a0 [l, l, l, l, l, l, l, l, l, l]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        let _ = writeln!(laughs, "x{i}: &a{i} [{refs}]");
    }
    let d = tmp.path().join("b");
    flow_dir(&d, "laughs", &laughs, &[]);
    refused_at_a_position(&d, "counting what aliases", 60);
}

#[test]
fn a_file_too_large_is_refused_before_it_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    std::fs::create_dir_all(&dir).unwrap();
    // 53 MB: a comment line, again and again.
    let line = format!("# {}\n", "x".repeat(1000));
    let mut f = std::fs::File::create(dir.join("flow.yaml")).unwrap();
    use std::io::Write as _;
    for _ in 0..53_000 {
        f.write_all(line.as_bytes()).unwrap();
    }
    drop(f);
    let (o, _) = bounded(&["check", dir.to_str().unwrap()], &[], 30);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("at most 8 MB is read"), "{out}");
    assert!(out.contains("flow.yaml:1:1"), "{out}");
}

#[test]
fn twenty_thousand_fields_are_checked_and_not_refused() {
    // The limits leave room for very large flows; how long they take is the scaling
    // benchmark's business (cargo bench -p blankett-core --bench scaling).
    let tmp = tempfile::tempdir().unwrap();
    let mut yaml = head("big");
    let mut answers = serde_json::Map::new();
    for s in 0..200 {
        let _ = writeln!(
            yaml,
            "  - id: s{s}\n    title: {{ sv: S, en: S }}\n    fields:"
        );
        let mut step = serde_json::Map::new();
        for i in 0..100 {
            let _ = writeln!(
                yaml,
                "      - {{ id: f{i}, type: text, label: {{ sv: F, en: F }} }}"
            );
            step.insert(format!("f{i}"), serde_json::json!("svar"));
        }
        answers.insert(format!("s{s}"), serde_json::Value::Object(step));
    }
    let answers = serde_json::Value::Object(answers).to_string();
    let d = tmp.path().join("x");
    flow_dir(&d, "big", &yaml, &[("sample-answers.json", &answers)]);
    let (o, _) = bounded(&["check", d.to_str().unwrap()], &[], 120);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("0 error(s)"), "{out}");
}

/// A copy of a shipped flow whose template loops without end when `trigger` holds (Typst
/// code), under `dir/flows/<id>`, with `flows/_shared`.
fn looping_copy(dir: &Path, from: &str, id: &str, trigger: &str) {
    let to = dir.join("flows").join(id);
    copy(&repo().join("flows").join(from), &to);
    copy(&repo().join("flows/_shared"), &dir.join("flows/_shared"));
    let yaml = std::fs::read_to_string(to.join("flow.yaml")).unwrap();
    std::fs::write(
        to.join("flow.yaml"),
        yaml.replacen(&format!("id: {from}"), &format!("id: {id}"), 1),
    )
    .unwrap();
    let template = std::fs::read_to_string(to.join("document.typ")).unwrap();
    std::fs::write(
        to.join("document.typ"),
        format!("{template}\n#if {trigger} {{ for i in range(100000000) [x] }}\n"),
    )
    .unwrap();
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn a_template_that_loops_or_eats_memory_is_stopped_with_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    looping_copy(tmp.path(), "arvode", "loops", "true");
    let flows = tmp.path().join("flows");
    let forms = repo().join("form-defs");
    let (o, took) = bounded(
        &[
            "check",
            flows.join("loops").to_str().unwrap(),
            forms.to_str().unwrap(),
        ],
        &[
            ("BLANKETT__RENDER__TIMEOUT_SECS", "3"),
            ("BLANKETT__RENDER__MEMORY_MB", "4096"),
        ],
        60,
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("loops/document.typ:1:1: error"), "{out}");
    assert!(out.contains("not finished within 3 s"), "{out}");
    assert!(took < Duration::from_secs(30), "{took:?}");

    // Memory: a list of ten million strings needs far more than 256 MB.
    let eats = flows.join("eats");
    copy(&flows.join("loops"), &eats);
    let yaml = std::fs::read_to_string(eats.join("flow.yaml")).unwrap();
    std::fs::write(
        eats.join("flow.yaml"),
        yaml.replacen("id: loops", "id: eats", 1),
    )
    .unwrap();
    std::fs::write(
        eats.join("document.typ"),
        std::fs::read_to_string(repo().join("flows/arvode/document.typ")).unwrap()
            + "\n#let many = range(10000000).map(i => \"eats memory \" + str(i))\n#many.len()\n",
    )
    .unwrap();
    let (o, _) = bounded(
        &["check", eats.to_str().unwrap(), forms.to_str().unwrap()],
        &[
            ("BLANKETT__RENDER__TIMEOUT_SECS", "60"),
            ("BLANKETT__RENDER__MEMORY_MB", "256"),
        ],
        120,
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("eats/document.typ:1:1: error"), "{out}");
    assert!(out.contains("more than 256 MB"), "{out}");
}

#[tokio::test]
async fn the_server_starts_serves_other_flows_and_survives_an_approval_that_loops() {
    let tmp = tempfile::tempdir().unwrap();
    // One flow loops with its sample answers (left out at start), one only when a case's
    // answers say so (found at approval), and the shipped flows beside them.
    looping_copy(tmp.path(), "arvode", "loops", "true");
    looping_copy(
        tmp.path(),
        "lvu-6",
        "lvu-loop",
        "get(\"matter.case_reference\") == \"SN 2026/LOOP\"",
    );
    for shipped in ["avtal", "justering"] {
        copy(
            &repo().join("flows").join(shipped),
            &tmp.path().join("flows").join(shipped),
        );
    }
    let defs = format!(
        "[\"{}\", \"{}\"]",
        tmp.path().join("flows").display(),
        repo().join("form-defs").display()
    );
    let app = TestApp::start_with(
        Db::Sqlite,
        &[
            ("BLANKETT__DEFINITIONS", &defs),
            ("BLANKETT__RENDER__TIMEOUT_SECS", "3"),
        ],
    )
    .await;
    assert!(app.state.flow("loops").is_none(), "left out");
    assert!(app.state.flow("lvu-loop").is_some());
    assert!(app.state.flow("avtal").is_some());

    let mut b = app.browser();
    b.log_in(CASE_WORKER, "/").await;
    let home = b.get("/").await;
    assert!(!home.html().contains("/e/loops/start"));
    let mut answers = sample();
    answers["matter"]["case_reference"] = serde_json::json!("SN 2026/LOOP");
    let id = fill_flow(&mut b, "lvu-loop", &answers).await;
    submit(&mut b, &id).await;
    let case_page = b.get(&format!("/cases/{id}")).await;
    let started = Instant::now();
    let approved = b
        .post(
            &format!("/cases/{id}/approve"),
            &[
                f("_csrf", &case_page.csrf()),
                f("_revision", &case_page.revision()),
            ],
        )
        .await;
    let (_, shown) = b.follow(approved).await;
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        shown.html().contains("lvu-loop/document.typ"),
        "the case worker is told which template: {}",
        shown.body
    );
    // The server goes on: other requests are served, the case is not stuck.
    let health = b.get("/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    let case = app.state.store().get_case(&id).await.unwrap().unwrap();
    assert_eq!(case.status, blankett_core::case::Status::InReview);
    let avtal = b.get("/").await;
    assert!(avtal.html().contains("/e/avtal/start"));
}
