//! `blankett render` and the template part of `blankett check`, run as real processes and
//! checked with real PDF tools: `qpdf`, `pdftotext` and `pdffonts` (Debian packages `qpdf`
//! and `poppler-utils`; `.ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{blankett, copy_dir, line_of, root, text};

fn tool(name: &str, args: &[&str]) -> Output {
    Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!("`{name}` is needed by this test (install it; see .ci/run): {e}")
    })
}

fn render_lvu(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "render",
        "flows/lvu-6",
        "--answers",
        "flows/lvu-6/sample-answers.json",
        "--out",
        out.to_str().unwrap(),
        "--now",
        "2026-11-22T14:30",
    ];
    args.extend_from_slice(extra);
    blankett(&args)
}

#[test]
fn secret_whereabouts_keep_every_address_and_the_placement_out_of_the_lvu_decision() {
    let tmp = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(root().join("flows/lvu-6/sample-answers.json")).unwrap();
    let mut answers: serde_json::Value = serde_json::from_str(&sample).unwrap();
    answers["placement"]["whereabouts_secret"] = serde_json::Value::Bool(true);
    let file = tmp.path().join("secret.json");
    std::fs::write(&file, answers.to_string()).unwrap();
    let pdf = tmp.path().join("secret.pdf");
    let o = blankett(&[
        "render",
        "flows/lvu-6",
        "--answers",
        file.to_str().unwrap(),
        "--out",
        pdf.to_str().unwrap(),
        "--now",
        "2026-11-22T14:30",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let words = tool("pdftotext", &[pdf.to_str().unwrap(), "-"]);
    let words = String::from_utf8_lossy(&words.stdout).replace('\u{a0}', " ");
    assert!(words.contains("vistelseorten är hemlig"), "{words}");
    for hidden in ["Storgatan 1", "Jourhemmet Björken"] {
        assert!(
            !words.contains(hidden),
            "`{hidden}` is in the decision:\n{words}"
        );
    }
}

#[test]
fn the_lvu_decision_renders_to_pdf_a_2b_with_the_answers_and_embedded_fonts() {
    let tmp = tempfile::tempdir().unwrap();
    let pdf = tmp.path().join("lvu.pdf");
    let previews = tmp.path().join("pages");
    let o = render_lvu(&pdf, &["--preview-dir", previews.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let path = pdf.to_str().unwrap();

    let check = tool("qpdf", &["--check", path]);
    assert!(check.status.success(), "qpdf --check: {}", text(&check));
    assert!(text(&check).contains("No syntax or stream encoding errors"));

    let bytes = std::fs::read(&pdf).unwrap();
    let raw = String::from_utf8_lossy(&bytes);
    assert!(raw.contains("<pdfaid:part>2</pdfaid:part>"));
    assert!(raw.contains("<pdfaid:conformance>B</pdfaid:conformance>"));
    assert!(raw.contains("/GTS_PDFA1"), "no PDF/A output intent");
    assert!(raw.contains("blankett:flow=lvu-6"));
    assert!(!raw.contains("/Encrypt") && !raw.contains("/JavaScript"));

    let words = tool("pdftotext", &[path, "-"]);
    let words = String::from_utf8_lossy(&words.stdout).replace('\u{a0}', " ");
    for want in [
        "Beslut om omedelbart omhändertagande",
        "Socialnämnden i Exempelstads kommun beslutar att Tolvan Tolvansson",
        "Vårdnadshavaren har vid upprepade tillfällen lämnat den unge utan tillsyn.",
        "Den unge motsätter sig en placering men säger sig förstå oron.",
        "Den unge placeras i jourhem (Jourhemmet Björken).",
        "22 november 2026 kl. 14.30",
        // Computed deadlines: one week (7 §) and four weeks (8 §) after the decision.
        "29 november 2026",
        "20 december 2026",
        "Föredragande",
        "Ordförande Testsson",
    ] {
        assert!(words.contains(want), "missing `{want}` in:\n{words}");
    }

    let fonts = tool("pdffonts", &[path]);
    let fonts = String::from_utf8_lossy(&fonts.stdout);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{fonts}");
    for row in rows {
        // Columns: name type encoding emb sub uni object ID.
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[cols.len() - 5], "yes", "font not embedded: {row}");
    }

    let out = text(&o);
    let pages: usize = out
        .split(" page(s)")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    for i in 1..=pages {
        let png = std::fs::read(previews.join(format!("page-{i}.png"))).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
    }
    assert!(!previews.join(format!("page-{}.png", pages + 1)).exists());
    assert!(out.contains("signature field case_worker on page"), "{out}");
    assert!(
        out.contains("signature field decision_maker on page"),
        "{out}"
    );
}

#[test]
fn two_renders_with_the_same_clock_are_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.pdf"), tmp.path().join("b.pdf"));
    assert!(render_lvu(&a, &[]).status.success());
    assert!(render_lvu(&b, &[]).status.success());
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
}

#[test]
fn invalid_answers_are_refused_with_every_error_and_no_file_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let answers = tmp.path().join("answers.json");
    let mut a: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("flows/lvu-6/sample-answers.json")).unwrap(),
    )
    .unwrap();
    a["grounds"]["court_cannot_wait"] = serde_json::json!("");
    a["decision"]["decided_at"] = serde_json::json!("igår");
    std::fs::write(&answers, a.to_string()).unwrap();
    let pdf = tmp.path().join("out.pdf");
    let render = || {
        blankett(&[
            "render",
            "flows/lvu-6",
            "--answers",
            answers.to_str().unwrap(),
            "--out",
            pdf.to_str().unwrap(),
        ])
    };
    let o = render();
    assert!(!o.status.success());
    let msg = text(&o);
    assert!(msg.contains("grounds.court_cannot_wait"), "{msg}");
    assert!(msg.contains("decision.decided_at"), "{msg}");
    assert!(!pdf.exists());

    std::fs::write(&answers, "{ not json").unwrap();
    let o = render();
    assert!(!o.status.success());
    assert!(text(&o).contains("is not valid JSON"), "{}", text(&o));
    assert!(!pdf.exists());
}

/// The shipped flows and form-defs copied into a temporary folder, with `edit` applied to
/// the LVU template.
fn flows_with_template(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root().join("flows"), &tmp.path().join("flows"));
    copy_dir(&root().join("form-defs"), &tmp.path().join("form-defs"));
    let t = tmp.path().join("flows/lvu-6/document.typ");
    let edited = edit(&std::fs::read_to_string(&t).unwrap());
    std::fs::write(&t, edited).unwrap();
    tmp
}

#[test]
fn check_reports_a_template_error_at_its_line_and_column() {
    let needle = "#get(\"grounds.childs_view\")";
    let tmp = flows_with_template(|t| {
        assert!(t.contains(needle));
        t.replacen(needle, "#get(\"grounds.childs_view\") #no-such-helper()", 1)
    });
    let template = std::fs::read_to_string(tmp.path().join("flows/lvu-6/document.typ")).unwrap();
    let line = line_of(&template, "#no-such-helper");
    let col = template
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("no-such")
        .unwrap()
        + 1;
    let flows = tmp.path().join("flows");
    let o = blankett(&["check", flows.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let want =
        format!("flows/lvu-6/document.typ:{line}:{col}: error: unknown variable: no-such-helper");
    assert!(text(&o).contains(&want), "want `{want}` in:\n{}", text(&o));
}

#[test]
fn check_reports_a_signer_without_a_signature_field() {
    let tmp = flows_with_template(|t| {
        assert!(t.contains("#signature-blocks()"));
        t.replace("#signature-blocks()", "#signature-field(\"case_worker\")")
    });
    let flows = tmp.path().join("flows");
    let o = blankett(&["check", flows.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(
            "flows/lvu-6/document.typ:1:1: error: the template has no signature field for decision_maker"
        ),
        "{}",
        text(&o)
    );
}
