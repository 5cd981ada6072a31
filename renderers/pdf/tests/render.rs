//! Rendering with the real Typst compiler, checked with real PDF tools (`pdftotext`,
//! `qpdf`) where the output's text or structure matters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::process::Command;

use blankett_core::document::{
    RenderError, RenderOptions, RenderRequest, preview_request, sample_now,
};
use blankett_core::{Flow, FlowSource, Severity, Sources, load};
use blankett_pdf::{TypstRenderer, check_template};
use serde_json::{Value, json};

const FLOW: &str = r#"
version: 1
id: note
revision: 3
title: { sv: Tjänsteanteckning, en: Note }
owner: kansliet
start: [case_worker]
login: required
steps:
  - id: note
    title: { sv: Anteckning, en: Note }
    by: case_worker
    fields:
      - { id: heading, type: text, label: { sv: Rubrik, en: Heading }, required: true }
      - { id: body, type: textarea, label: { sv: Text, en: Text }, required: true }
      - id: kind
        type: choice
        label: { sv: Slag, en: Kind }
        options:
          - { value: a, label: { sv: Åtgärd, en: Action } }
          - { value: b, label: { sv: Bedömning, en: Assessment } }
document:
  template: document.typ
  title: "Anteckning: {{ note.heading }}"
signing:
  signers:
    - who: case_worker
      label: { sv: Handläggare, en: Case worker }
"#;

const TEMPLATE: &str = r#"#import "@blankett/doc:1.0.0": *
#import "/_shared/head.typ": head
#head()
= #get("note.heading")
#get("note.body")

Slag: #choice("note.kind")

Datum: #format-date(today)

#signature-blocks()
"#;

const HEAD: &str = "#let head() = [Exempelstads kommun]\n";

fn sources(template: &str) -> Sources {
    let mut files = BTreeMap::new();
    files.insert("document.typ".to_owned(), template.as_bytes().to_vec());
    files.insert(
        "sample-answers.json".to_owned(),
        r#"{"note": {"heading": "Hembesök", "body": "Allt väl.", "kind": "b"}}"#
            .as_bytes()
            .to_vec(),
    );
    let mut shared = BTreeMap::new();
    shared.insert("head.typ".to_owned(), HEAD.as_bytes().to_vec());
    Sources {
        flows: vec![FlowSource {
            dir: "flows/note".into(),
            folder_name: "note".into(),
            flow_yaml: FLOW.into(),
            files,
        }],
        shared,
        ..Sources::default()
    }
}

fn flow_with(template: &str) -> Flow {
    flow_from(sources(template))
}

fn flow_from(sources: Sources) -> Flow {
    let (defs, diags) = load(&sources);
    assert!(!diags.has_errors(), "{:#?}", diags.sorted());
    defs.flows.into_iter().next().unwrap()
}

fn request(flow: &Flow, answers: Value) -> RenderRequest {
    preview_request(flow, &answers, sample_now()).unwrap()
}

fn answers(heading: &str, body: &str) -> Value {
    json!({"note": {"heading": heading, "body": body, "kind": "a"}})
}

/// The text of a PDF, by poppler's `pdftotext` (install `poppler-utils`).
fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian package poppler-utils) is needed by this test");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn answers_that_look_like_typst_markup_are_typeset_literally() {
    let renderer = TypstRenderer::new();
    let flow = flow_with(TEMPLATE);
    let hostile = [
        r#"#read("/etc/passwd")"#,
        r#"#panic("x")"#,
        "]",
        r"\",
        "$x^2$",
        "<script>alert(1)</script>",
        "*fet* _kursiv_ = rubrik",
        "@ref <label> // not a comment",
        r#"#import "@preview/cetz:0.3.0""#,
    ];
    for h in hostile {
        let doc = renderer
            .render(&request(&flow, answers(h, h)), RenderOptions::default())
            .unwrap_or_else(|e| panic!("{h}: {e}"));
        let text = pdftotext(&doc.pdf);
        assert!(
            text.matches(h).count() >= 2,
            "`{h}` should appear literally as heading and body:\n{text}"
        );
        assert!(!text.contains("root:x:0:0"), "{text}");
    }
}

#[test]
fn swedish_letters_choices_dates_and_shared_includes_reach_the_page() {
    let renderer = TypstRenderer::new();
    let flow = flow_with(TEMPLATE);
    let doc = renderer
        .render(
            &request(&flow, answers("Åtgärder för Örjan", "Ärendet är klart.")),
            RenderOptions::default(),
        )
        .unwrap();
    let text = pdftotext(&doc.pdf);
    for want in [
        "Åtgärder för Örjan",
        "Ärendet är klart.",
        "Slag: Åtgärd",
        "Datum: 15 januari 2026",
        "Exempelstads kommun",
        "Handläggare",
        "Handläggare Exempel",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
}

#[test]
fn the_same_answers_and_clock_give_identical_bytes_and_another_clock_does_not() {
    let renderer = TypstRenderer::new();
    let flow = flow_with(TEMPLATE);
    let req = request(&flow, answers("Rubrik", "Text"));
    let a = renderer.render(&req, RenderOptions::default()).unwrap();
    // A second renderer (a restarted server) must agree too.
    let b = TypstRenderer::new()
        .render(&req, RenderOptions::default())
        .unwrap();
    assert_eq!(a.sha256, b.sha256);
    assert!(a.pdf == b.pdf);
    let later = sample_now() + chrono::Duration::days(1);
    let c = renderer
        .render(
            &preview_request(&flow, &answers("Rubrik", "Text"), later).unwrap(),
            RenderOptions::default(),
        )
        .unwrap();
    assert_ne!(a.sha256, c.sha256);
}

#[test]
fn signature_fields_are_reported_inside_the_page() {
    let renderer = TypstRenderer::new();
    let flow = flow_with(TEMPLATE);
    let doc = renderer
        .render(
            &request(&flow, answers("Rubrik", "Text")),
            RenderOptions::default(),
        )
        .unwrap();
    assert_eq!(doc.signature_fields.len(), 1);
    let f = &doc.signature_fields[0];
    assert_eq!(f.name, "case_worker");
    assert_eq!(f.page, 1);
    let (w, h) = doc.pages[0];
    let [x1, y1, x2, y2] = f.rect;
    assert!(0.0 <= x1 && x1 < x2 && x2 <= w, "{:?}", f.rect);
    assert!(0.0 <= y1 && y1 < y2 && y2 <= h, "{:?}", f.rect);
    // signature-field's default size: 7.5 cm × 2.4 cm.
    assert!(((x2 - x1) - 212.6).abs() < 0.5, "{:?}", f.rect);
    assert!(((y2 - y1) - 68.03).abs() < 0.5, "{:?}", f.rect);
}

#[test]
fn a_template_without_a_field_for_a_signer_is_refused() {
    let renderer = TypstRenderer::new();
    let flow = flow_with("#import \"@blankett/doc:1.0.0\": *\n= #get(\"note.heading\")\n");
    let err = renderer
        .render(&request(&flow, answers("R", "T")), RenderOptions::default())
        .unwrap_err();
    assert!(
        matches!(&err, RenderError::MissingSignatureFields(m) if m == &["case_worker"]),
        "{err}"
    );
    let diags = check_template(&renderer, &flow);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].severity, Severity::Error);
    assert_eq!(diags[0].file, "flows/note/document.typ");
    assert!(diags[0].message.contains("case_worker"), "{}", diags[0]);
}

#[test]
fn a_field_placed_twice_is_refused() {
    let renderer = TypstRenderer::new();
    let flow = flow_with(
        "#import \"@blankett/doc:1.0.0\": *\n#signature-field(\"case_worker\")\n#signature-field(\"case_worker\")\n",
    );
    let err = renderer
        .render(&request(&flow, answers("R", "T")), RenderOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("only once"), "{err}");
}

#[test]
fn template_errors_point_at_file_line_and_column() {
    let renderer = TypstRenderer::new();
    let template = "#import \"@blankett/doc:1.0.0\": *\n\n= Rubrik\nText #undefined-thing here\n#signature-blocks()\n";
    let flow = flow_with(template);
    let diags = check_template(&renderer, &flow);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert_eq!(d.file, "flows/note/document.typ");
    assert_eq!((d.pos.line, d.pos.col), (4, 7), "{d}");
    assert!(d.message.contains("unknown variable"), "{d}");
}

#[test]
fn a_wrong_call_into_the_library_is_reported_at_the_call_site() {
    let renderer = TypstRenderer::new();
    let template = "#import \"@blankett/doc:1.0.0\": *\n#format-number(\"inte ett tal\")\n#signature-blocks()\n";
    let diags = check_template(&renderer, &flow_with(template));
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0].file, "flows/note/document.typ", "{}", diags[0]);
    assert_eq!(diags[0].pos.line, 2, "{}", diags[0]);
}

#[test]
fn templates_cannot_read_the_host_or_fetch_packages() {
    let renderer = TypstRenderer::new();
    for (template, want) in [
        ("#read(\"/etc/passwd\")\n", "not found"),
        ("#read(\"../../../../etc/passwd\")\n", ""),
        ("#import \"@preview/cetz:0.3.0\": *\n", "cetz"),
        ("#image(\"/no-such.png\")\n", "not found"),
    ] {
        let flow = flow_with(template);
        let diags = check_template(&renderer, &flow);
        assert!(
            diags.iter().any(|d| d.severity == Severity::Error
                && d.file == "flows/note/document.typ"
                && d.message.to_lowercase().contains(want)),
            "{template}: {diags:#?}"
        );
    }
}

#[test]
fn characters_no_bundled_font_has_are_refused_with_their_code_points() {
    let renderer = TypstRenderer::new();
    let flow = flow_with(TEMPLATE);
    // The answers' own check refuses them where they are typed…
    let refused = preview_request(
        &flow,
        &answers("Rubrik 😀", "漢字 och bell \u{7}"),
        sample_now(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("U+1F600") && refused.contains("U+0007"),
        "{refused}"
    );
    // …and the renderer refuses them too, should they reach it another way.
    let mut req = request(&flow, answers("Rubrik", "Text"));
    req.data["answers"]["note"]["heading"] = json!("Rubrik 😀");
    req.data["answers"]["note"]["body"] = json!("漢字 och bell \u{7}");
    let err = renderer.render(&req, RenderOptions::default()).unwrap_err();
    let RenderError::UnsupportedCharacters(chars) = &err else {
        panic!("{err}");
    };
    assert_eq!(chars, &['😀', '漢', '字', '\u{7}']);
    assert!(err.to_string().contains("U+1F600"), "{err}");
    // Nordic names, Sámi letters and common punctuation are covered.
    assert!(
        renderer
            .unsupported_chars("Åsa Öberg, Ærø, Måns-Ñúñez, Áŋŋá Čážšđ – “citat” 1 234,50 €")
            .is_empty()
    );
}

#[test]
fn every_supported_standard_exports_and_says_so_in_its_xmp() {
    use blankett_core::def::PdfStandard;
    let renderer = TypstRenderer::new();
    let flow = flow_with(TEMPLATE);
    for (standard, part, conformance) in [
        (PdfStandard::PdfA2b, "2", "B"),
        (PdfStandard::PdfA2u, "2", "U"),
        (PdfStandard::PdfA2a, "2", "A"),
        (PdfStandard::PdfA3b, "3", "B"),
        (PdfStandard::PdfA2bUa1, "2", "B"),
    ] {
        let mut req = request(&flow, answers("Rubrik", "Text"));
        req.meta.standard = standard;
        let doc = renderer
            .render(&req, RenderOptions::default())
            .unwrap_or_else(|e| panic!("{standard:?}: {e}"));
        let pdf = String::from_utf8_lossy(&doc.pdf);
        assert!(
            pdf.contains(&format!("<pdfaid:part>{part}</pdfaid:part>")),
            "{standard:?}"
        );
        assert!(
            pdf.contains(&format!(
                "<pdfaid:conformance>{conformance}</pdfaid:conformance>"
            )),
            "{standard:?}"
        );
        if standard == PdfStandard::PdfA2bUa1 {
            assert!(pdf.contains("<pdfuaid:part>1</pdfuaid:part>"));
        }
    }
}

#[test]
fn the_xmp_traces_the_document_to_its_definition() {
    let renderer = TypstRenderer::new();
    let flow = flow_with(TEMPLATE);
    let req = request(&flow, answers("Rubrik", "Text"));
    let doc = renderer.render(&req, RenderOptions::default()).unwrap();
    let pdf = String::from_utf8_lossy(&doc.pdf);
    for want in [
        "blankett:flow=note".to_owned(),
        "blankett:flow-revision=3".to_owned(),
        format!("blankett:flow-sha256={}", flow.content_hash),
        format!("blankett:template-sha256={}", req.meta.template_sha256),
        "Anteckning: Rubrik</rdf:li>".to_owned(),
        "<rdf:li>Exempelstads kommun</rdf:li>".to_owned(),
        "<dc:language><rdf:Bag><rdf:li>sv</rdf:li>".to_owned(),
    ] {
        assert!(pdf.contains(&want), "XMP lacks {want}");
    }
    assert_eq!(
        req.meta.template_sha256,
        blankett_core::document::sha256_hex(TEMPLATE.as_bytes())
    );
}

#[test]
fn previews_are_one_png_per_page() {
    let renderer = TypstRenderer::new();
    let flow = flow_with(TEMPLATE);
    let long = "Lång text. ".repeat(900);
    let doc = renderer
        .render(
            &request(&flow, answers("Rubrik", &long)),
            RenderOptions {
                preview_scale: Some(1.0),
            },
        )
        .unwrap();
    assert!(doc.pages.len() >= 2);
    assert_eq!(doc.previews.len(), doc.pages.len());
    for png in &doc.previews {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
    // A4 at one pixel per point: 595 × 842.
    let width = u32::from_be_bytes(doc.previews[0][16..20].try_into().unwrap());
    let height = u32::from_be_bytes(doc.previews[0][20..24].try_into().unwrap());
    assert_eq!((width, height), (595, 842));
}

#[test]
fn images_from_the_flow_folder_are_embedded() {
    let renderer = TypstRenderer::new();
    let mut src = sources(
        "#import \"@blankett/doc:1.0.0\": *\n#image(\"logo.svg\", width: 2cm, alt: \"Kommunvapen\")\n#signature-blocks()\n",
    );
    src.flows[0].files.insert(
        "logo.svg".into(),
        br##"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="#1a4d8f"/></svg>"##.to_vec(),
    );
    let flow = flow_from(src);
    let with_logo = renderer
        .render(&request(&flow, answers("R", "T")), RenderOptions::default())
        .unwrap();
    // The image changes the bytes: it is really there.
    let without = renderer
        .render(
            &request(
                &flow_with("#import \"@blankett/doc:1.0.0\": *\n#signature-blocks()\n"),
                answers("R", "T"),
            ),
            RenderOptions::default(),
        )
        .unwrap();
    assert!(with_logo.pdf.len() > without.pdf.len());
}

#[test]
fn every_character_the_core_lets_through_goes_into_a_pdf_a() {
    use blankett_core::charset::{can_show, shown_ranges};
    // The first and last code point of every range the core accepts, in one document.
    let mut sample = String::new();
    for (lo, hi) in shown_ranges() {
        for cp in [*lo, *hi] {
            if let Some(c) = char::from_u32(cp)
                && can_show(c)
                && !c.is_whitespace()
            {
                sample.push(c);
                sample.push(' ');
            }
        }
    }
    assert!(sample.chars().count() > 200, "{sample}");
    let renderer = TypstRenderer::new();
    let flow = flow_with(TEMPLATE);
    let done = renderer
        .render(
            &request(&flow, answers("Tecken", &sample)),
            RenderOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(done.pdf.starts_with(b"%PDF-"));
}
