//! `blankett render` and the template part of `blankett check`, run as real processes and
//! checked with real PDF tools: `qpdf`, `pdftotext` and `pdffonts` (Debian packages `qpdf`
//! and `poppler-utils`; `.ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

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

/// A word of `len` characters that shows where each part of it is: letters (Nordic ones
/// too) and digits, never a space.
fn long_word(len: usize) -> String {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZÅÄÖabcdefghijklmnopqrstuvwxyzåäö0123456789";
    ALPHABET.chars().cycle().take(len).collect()
}

/// Every text answer of `flow` (in `answers`, from its sample answers) replaced by one word of
/// the field's maximum length, where the flow's rules still accept it.
fn fill_with_long_words(
    flow: &blankett_core::Flow,
    answers: &mut serde_json::Value,
) -> Vec<String> {
    use blankett_core::def::FieldType;
    use blankett_core::rules::{Env, validate_all};
    fn walk(
        fields: &[blankett_core::Field],
        obj: &mut serde_json::Value,
        words: &mut Vec<(Vec<String>, String)>,
        at: &[String],
    ) {
        for f in fields {
            let mut path = at.to_vec();
            path.extend(f.local_path());
            match f.kind {
                FieldType::Text | FieldType::Textarea
                    if f.pattern.is_none() && f.compute.is_none() =>
                {
                    let mut slot = &mut *obj;
                    for seg in &f.local_path() {
                        if !slot.is_object() {
                            break;
                        }
                        slot = &mut slot[seg.as_str()];
                    }
                    if slot.is_string() {
                        let w = long_word(f.max_length.map_or(200, |m| m as usize));
                        *slot = serde_json::Value::String(w.clone());
                        words.push((path, w));
                    }
                }
                FieldType::Group => {
                    let mut slot = &mut *obj;
                    for seg in &f.local_path() {
                        slot = &mut slot[seg.as_str()];
                    }
                    if let serde_json::Value::Array(items) = slot {
                        for (i, item) in items.iter_mut().enumerate() {
                            let mut p = path.clone();
                            p.push(i.to_string());
                            walk(&f.children, item, words, &p);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut words = Vec::new();
    for step in &flow.steps {
        if let Some(obj) = answers.get_mut(&step.id) {
            walk(
                &step.fields,
                obj,
                &mut words,
                std::slice::from_ref(&step.id),
            );
        }
    }
    // Keep only what the rules accept (a word may be refused by a field's own rule).
    let errors = validate_all(flow, answers, &Env::sample()).errors;
    assert!(
        errors.is_empty(),
        "{}: long words refused: {:?}",
        flow.id,
        errors.iter().map(|e| (&e.path, e.code)).collect::<Vec<_>>()
    );
    words.into_iter().map(|(_, w)| w).collect()
}

/// The words of a PDF as `pdftotext -bbox` gives them: page size, and (text, x1, y1, x2, y2).
struct Page {
    width: f64,
    words: Vec<(String, f64, f64, f64, f64)>,
}

fn bbox_pages(pdf: &Path) -> Vec<Page> {
    let o = tool("pdftotext", &["-bbox", pdf.to_str().unwrap(), "-"]);
    assert!(o.status.success());
    let html = String::from_utf8_lossy(&o.stdout).into_owned();
    let attr = |tag: &str, name: &str| -> f64 {
        let key = format!("{name}=\"");
        let start = tag.find(&key).unwrap() + key.len();
        let end = start + tag[start..].find('"').unwrap();
        tag[start..end].parse().unwrap()
    };
    let mut pages: Vec<Page> = Vec::new();
    for chunk in html.split('<').skip(1) {
        if chunk.starts_with("page ") {
            pages.push(Page {
                width: attr(chunk, "width"),
                words: Vec::new(),
            });
        } else if chunk.starts_with("word ") {
            let text = chunk.split_once('>').map(|(_, t)| t).unwrap_or("");
            let text = text
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"");
            let w = (
                text,
                attr(chunk, "xMin"),
                attr(chunk, "yMin"),
                attr(chunk, "xMax"),
                attr(chunk, "yMax"),
            );
            pages.last_mut().unwrap().words.push(w);
        }
    }
    pages
}

#[test]
fn a_word_as_long_as_its_field_allows_stays_inside_its_box_in_every_shipped_document() {
    // BLANKETT_KEEP_TEST_FILES=1 keeps the answers and PDFs for a look.
    let tmp = tempfile::Builder::new()
        .disable_cleanup(std::env::var_os("BLANKETT_KEEP_TEST_FILES").is_some())
        .tempdir()
        .unwrap();
    let sources = blankett_web::defs_fs::read(&[root().join("flows"), root().join("form-defs")]);
    let (defs, diags) = blankett_core::load(&sources);
    assert_eq!(diags.error_count(), 0);
    assert!(defs.flows.len() >= 4);
    // The text area of the shared letterhead: 2.5 cm margins left and right.
    let margin = 2.5 / 2.54 * 72.0;
    for flow in &defs.flows {
        let sample = blankett_core::document::sample_answers(flow).unwrap();
        let mut answers = sample.clone();
        let words = fill_with_long_words(flow, &mut answers);
        assert!(!words.is_empty(), "{} has text fields", flow.id);
        let file = tmp.path().join(format!("{}.json", flow.id));
        std::fs::write(&file, answers.to_string()).unwrap();
        let pdf = tmp.path().join(format!("{}.pdf", flow.id));
        let o = blankett(&[
            "render",
            &format!("flows/{}", flow.id),
            "--answers",
            file.to_str().unwrap(),
            "--out",
            pdf.to_str().unwrap(),
            "--now",
            "2026-11-22T14:30",
        ]);
        assert!(o.status.success(), "{}: {}", flow.id, text(&o));

        // Every character of every word is in the document's text, in order. A word broken
        // over lines (and pages) comes out in pieces; they are joined by dropping the white
        // space between them, and the page headers and footers are cut away (the letterhead's
        // margins: 3.4 cm at the top, 2.6 cm at the bottom).
        let top = (3.4 / 2.54 * 72.0_f64).ceil() as i64;
        let body_height = (841.89 - 3.4 / 2.54 * 72.0 - 2.6 / 2.54 * 72.0_f64).floor() as i64;
        let plain = tool(
            "pdftotext",
            &[
                "-x",
                "0",
                "-y",
                &top.to_string(),
                "-W",
                "596",
                "-H",
                &body_height.to_string(),
                pdf.to_str().unwrap(),
                "-",
            ],
        );
        let joined: String = String::from_utf8_lossy(&plain.stdout)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for w in &words {
            assert!(
                joined.contains(w.as_str()),
                "{}: a word of {} characters is not whole in the PDF's text",
                flow.id,
                w.chars().count()
            );
        }
        let pages = bbox_pages(&pdf);

        // No word leaves the text area sideways, and no two words overlap.
        for (n, page) in pages.iter().enumerate() {
            for (t, x1, _, x2, _) in &page.words {
                assert!(
                    *x1 >= margin - 1.0 && *x2 <= page.width - margin + 1.0,
                    "{} page {}: `{}` runs out of the text area ({x1:.1}–{x2:.1} of {:.1})",
                    flow.id,
                    n + 1,
                    t.chars().take(40).collect::<String>(),
                    page.width
                );
            }
            for (i, a) in page.words.iter().enumerate() {
                for b in &page.words[i + 1..] {
                    // Boxes of neighbouring lines touch at their ascenders and descenders
                    // (a fraction of a point); text printed over text shares much more.
                    let w = a.3.min(b.3) - a.1.max(b.1);
                    let h = a.4.min(b.4) - a.2.max(b.2);
                    let lower = (a.4 - a.2).min(b.4 - b.2);
                    assert!(
                        w <= 1.0 || h <= 0.3 * lower,
                        "{} page {} ({}): `{}` overlaps `{}`",
                        flow.id,
                        n + 1,
                        pdf.display(),
                        a.0.chars().take(30).collect::<String>(),
                        b.0.chars().take(30).collect::<String>()
                    );
                }
            }
        }
    }
}
