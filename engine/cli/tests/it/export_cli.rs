//! `blankett export` end to end, on SQLite and on PostgreSQL: the LVU decision is filled in,
//! approved and signed by two test persons through the real web application, then the real
//! binary exports it, and independent tools judge the package: the manifest's hashes,
//! `xmllint` (answers.xml against answers.xsd) and pyHanko (every signature of document.pdf).
//! An unfinished case, an unknown case and a folder that is not empty are refused, and
//! nothing is written then.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::web;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};
use web::{CASE_WORKER, DECISION_MAKER, Db, TestApp, approve, fill_lvu, repo, sign, submit};

const FILES: [&str; 8] = [
    "document.pdf",
    "answers.json",
    "answers.xml",
    "answers.xsd",
    "events.json",
    "evidence.json",
    "verification.txt",
    "verification.json",
];

/// The real binary, on the test server's database and data folder (its signing CA).
pub(crate) async fn export(app: &TestApp, case: &str, out: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blankett"));
    cmd.args(["export", "--case", case, "--out"])
        .arg(out)
        .args(["--database-url", &app.url])
        .env(
            "BLANKETT__DATA_DIR",
            format!("\"{}\"", app.dir.path().join("data").display()),
        )
        .current_dir(repo());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The names in a folder, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tool(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "`{}` is needed by this test (run scripts/setup-test-tools): {e}",
                program.display()
            )
        })
}

async fn export_end_to_end(db: Db) {
    let app = TestApp::start(db).await;
    let work = tempfile::tempdir().unwrap();

    let mut worker = app.browser();
    let id = fill_lvu(&mut worker).await;
    submit(&mut worker, &id).await;
    assert_eq!(approve(&mut worker, &id).await, format!("/cases/{id}/sign"));
    sign(&mut worker, &id, CASE_WORKER).await;

    // Signed by one of two: not finished, refused, and nothing is written.
    let early = work.path().join("early");
    let o = export(&app, &id, &early).await;
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("is signing, not completed: only completed (fully signed) cases"),
        "{}",
        text(&o)
    );
    assert!(
        listing(work.path()).is_empty(),
        "{:?}",
        listing(work.path())
    );

    let mut maker = app.browser();
    maker.log_in(DECISION_MAKER, "/my").await;
    let done = sign(&mut maker, &id, DECISION_MAKER).await.html();
    assert!(done.contains("Alla underskrifter är klara"), "{done}");
    let stored = app.state.store().get_case(&id).await.unwrap().unwrap();

    // An unknown case.
    let o = export(&app, "2099-9999", &work.path().join("unknown")).await;
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("no case has the id or number `2099-9999`"),
        "{}",
        text(&o)
    );

    // A folder that is not empty is left alone.
    let full = work.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep.txt"), "mine").unwrap();
    let o = export(&app, &id, &full).await;
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("is not an empty folder"), "{}", text(&o));
    assert_eq!(listing(&full), ["keep.txt"]);
    assert_eq!(listing(work.path()), ["full"], "no partial package is left");

    // By case number, into a new folder.
    let out = work.path().join("package");
    let o = export(&app, &stored.number, &out).await;
    assert!(o.status.success(), "{}", text(&o));
    let summary = text(&o);
    assert!(
        summary.contains(&format!("exported case {} (lvu-6", stored.number)),
        "{summary}"
    );
    assert!(summary.contains("verification: Verdict"), "{summary}");
    assert!(
        !summary.contains(CASE_WORKER) && !summary.contains(DECISION_MAKER),
        "the summary shows no personnummer: {summary}"
    );
    assert_eq!(listing(work.path()), ["full", "package"]);
    let mut expected: Vec<String> = FILES.iter().map(|s| (*s).to_owned()).collect();
    expected.push("manifest.json".into());
    expected.sort();
    assert_eq!(listing(&out), expected);

    // The manifest names every file with its size and SHA-256.
    let manifest = json(out.join("manifest.json"));
    assert_eq!(manifest["format"], "blankett-export/1");
    assert_eq!(manifest["case"]["id"], id.as_str());
    assert_eq!(manifest["case"]["number"], stored.number.as_str());
    assert_eq!(manifest["case"]["status"], "completed");
    assert_eq!(manifest["flow"]["id"], "lvu-6");
    assert_eq!(manifest["flow"]["content_hash"], stored.flow_hash.as_str());
    assert!(
        chrono::DateTime::parse_from_rfc3339(manifest["exported_at"].as_str().unwrap()).is_ok(),
        "{manifest:#}"
    );
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, FILES);
    for entry in manifest["files"].as_array().unwrap() {
        let bytes = std::fs::read(out.join(entry["name"].as_str().unwrap())).unwrap();
        assert_eq!(entry["size"], bytes.len() as u64, "{entry}");
        assert_eq!(
            entry["sha256"],
            hex::encode(Sha256::digest(&bytes)),
            "{entry}"
        );
    }

    // The document is the stored final version; the answers are the stored answers.
    let pdf = std::fs::read(out.join("document.pdf")).unwrap();
    let latest = app
        .state
        .store()
        .latest_document(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pdf, latest.bytes);
    assert_eq!(
        Some(hex::encode(Sha256::digest(&pdf))),
        stored.document_sha256.map(String::from)
    );
    assert_eq!(json(out.join("answers.json")), stored.answers);

    // answers.xml is valid against answers.xsd.
    let lint = tool(
        Path::new("xmllint"),
        &[
            "--noout",
            "--schema",
            out.join("answers.xsd").to_str().unwrap(),
            out.join("answers.xml").to_str().unwrap(),
        ],
    );
    assert!(lint.status.success(), "{}", text(&lint));
    let xml = std::fs::read_to_string(out.join("answers.xml")).unwrap();
    assert!(xml.contains("<placement_name>Jourhemmet Björken</placement_name>"));
    assert!(xml.contains(&format!("number=\"{}\"", stored.number)));

    // pyHanko: both signatures intact, valid and trusted by the development CA.
    let ca = app.dir.path().join("data/dev-pki/ca.pem");
    let venv = repo().join(".test-tools/venv/bin");
    assert!(
        venv.join("pyhanko").exists(),
        "pyHanko is missing: run scripts/setup-test-tools (it makes .test-tools/venv)"
    );
    let report = tool(
        &venv.join("python"),
        &[
            repo()
                .join("engine/pades/tests/support/pyhanko_report.py")
                .to_str()
                .unwrap(),
            out.join("document.pdf").to_str().unwrap(),
            ca.to_str().unwrap(),
        ],
    );
    assert!(report.status.success(), "{}", text(&report));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    let signatures = report.as_array().unwrap();
    assert_eq!(signatures.len(), 2, "{report:#}");
    for s in signatures {
        for key in [
            "intact",
            "valid",
            "trusted",
            "bottom_line",
            "timestamp_valid",
        ] {
            assert_eq!(s[key], true, "{key}: {report:#}");
        }
    }
    let fields: Vec<&str> = signatures
        .iter()
        .map(|s| s["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["case_worker", "decision_maker"]);
    let cli = tool(
        &venv.join("pyhanko"),
        &[
            "sign",
            "validate",
            "--pretty-print",
            "--trust-replace",
            "--trust",
            ca.to_str().unwrap(),
            out.join("document.pdf").to_str().unwrap(),
        ],
    );
    assert!(cli.status.success(), "{}", text(&cli));
    assert_eq!(
        text(&cli).matches("The signature is judged VALID.").count(),
        2,
        "{}",
        text(&cli)
    );

    // The verifier's report, as `blankett verify` gives it.
    let verification = json(out.join("verification.json"));
    assert_eq!(verification["all_valid"], true, "{verification:#}");
    assert_eq!(verification["modified_after_last_signature"], false);
    assert_eq!(
        verification["signatures"].as_array().unwrap().len(),
        3,
        "two signatures and the document timestamp"
    );
    let verification_text = std::fs::read_to_string(out.join("verification.txt")).unwrap();
    assert!(
        verification_text.contains("Verdict (") && verification_text.contains("VALID: all 3"),
        "{verification_text}"
    );
    assert_eq!(manifest["verification"]["valid"], true);

    // The event log and the eID evidence.
    let events = json(out.join("events.json"));
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"]["type"].as_str().unwrap())
        .collect();
    for kind in ["started", "submitted", "approved", "signed", "completed"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let signed: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"]["type"] == "signed")
        .collect();
    assert_eq!(signed.len(), 2);
    assert_eq!(signed[1]["actor"], DECISION_MAKER);
    let evidence = json(out.join("evidence.json"));
    let evidence = evidence.as_array().unwrap();
    assert_eq!(evidence.len(), 2);
    assert_eq!(evidence[0]["field"], "case_worker");
    assert_eq!(evidence[0]["personnummer"], CASE_WORKER);
    assert_eq!(evidence[1]["field"], "decision_maker");
    assert_eq!(evidence[1]["personnummer"], DECISION_MAKER);
    assert_eq!(evidence[1]["provider"], "test");

    // By id, into an empty folder that exists: accepted.
    let empty = work.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = export(&app, &id, &empty).await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(listing(&empty), expected);
    assert_eq!(listing(work.path()), ["empty", "full", "package"]);
}

#[tokio::test]
async fn export_of_a_signed_case_on_sqlite() {
    export_end_to_end(Db::Sqlite).await;
}

#[tokio::test]
async fn export_of_a_signed_case_on_postgres() {
    export_end_to_end(Db::Postgres).await;
}
