//! Signing and verifying through the command line, judged by independent tools: the LVU
//! decision is rendered, signed by two test persons (`blankett dev sign-pdf`), and checked
//! by pyHanko (validity, trust, coverage, AdES long-term validation), poppler's pdfsig and
//! qpdf — and by `blankett verify`, which must agree with pyHanko on every file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::path::{Path, PathBuf};

use support::{blankett, pyhanko, text, tool};

const CASE_WORKER: &str = "70.87,562.89,283.46,630.92";
const DECISION_MAKER: &str = "297.64,562.89,510.24,630.92";

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }
    fn ca(&self) -> String {
        self.s("pki/ca.pem")
    }
}

fn sign(
    files: &Files,
    input: &str,
    out: &str,
    who: (&str, &str),
    field: &str,
    rect: &str,
    level: &str,
) {
    let o = blankett(&[
        "dev",
        "sign-pdf",
        &files.s(input),
        "--out",
        &files.s(out),
        "--name",
        who.0,
        "--personnummer",
        who.1,
        "--field",
        field,
        "--page",
        "2",
        "--rect",
        rect,
        "--role",
        "Handläggare",
        "--method",
        "BankID",
        "--level",
        level,
        "--pki-dir",
        &files.s("pki"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

/// lvu.pdf (rendered), one.pdf (case worker, B-T), two.pdf (+ decision maker, B-T) and
/// sealed.pdf (two.pdf closed for the archive: DSS + document timestamp).
fn signed_set() -> Files {
    let files = Files {
        dir: tempfile::tempdir().unwrap(),
    };
    let o = blankett(&[
        "render",
        "flows/lvu-6",
        "--out",
        &files.s("lvu.pdf"),
        "--now",
        "2026-11-22T14:30",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    sign(
        &files,
        "lvu.pdf",
        "one.pdf",
        ("Tolvan Tolvansson", "197701172392"),
        "case_worker",
        CASE_WORKER,
        "b-t",
    );
    sign(
        &files,
        "one.pdf",
        "two.pdf",
        ("Åsa Öberg", "189001019802"),
        "decision_maker",
        DECISION_MAKER,
        "b-t",
    );
    let sealed = blankett(&[
        "dev",
        "sign-pdf",
        &files.s("two.pdf"),
        "--out",
        &files.s("sealed.pdf"),
        "--name",
        "Sven Svensson",
        "--personnummer",
        "201212121212",
        "--field",
        "registrar",
        "--level",
        "b-lta",
        "--pki-dir",
        &files.s("pki"),
    ]);
    assert!(sealed.status.success(), "{}", text(&sealed));
    files
}

fn verify_json(file: &Path, trust: Option<&str>) -> (i32, serde_json::Value) {
    let mut args = vec!["verify", file.to_str().unwrap(), "--json"];
    if let Some(ca) = trust {
        args.extend(["--trust", ca]);
    }
    let o = blankett(&args);
    let report = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (o.status.code().unwrap(), report)
}

fn pyhanko_validate(file: &Path, ca: &str) -> (bool, String) {
    // The command as the issue gives it.
    let o = pyhanko(&[
        "sign",
        "validate",
        "--pretty-print",
        "--trust",
        ca,
        file.to_str().unwrap(),
    ]);
    (o.status.success(), text(&o))
}

#[test]
fn two_signatures_are_valid_for_pyhanko_pdfsig_and_blankett_verify() {
    let files = signed_set();
    let two = files.path("two.pdf");

    let (ok, out) = pyhanko_validate(&two, &files.ca());
    assert!(ok, "{out}");
    assert_eq!(out.matches("judged VALID").count(), 2, "{out}");
    assert_eq!(
        out.matches("The signer's certificate is trusted.").count(),
        2,
        "{out}"
    );
    // The last signature covers the entire file; the first its own revision.
    let last = &out[out.find("Field 2").unwrap()..];
    assert!(
        last.contains("The signature covers the entire file."),
        "{out}"
    );
    assert!(
        out.contains("PNOSE-197701172392") && out.contains("PNOSE-189001019802"),
        "{out}"
    );

    let pdfsig = text(&tool("pdfsig", &[two.to_str().unwrap()]));
    assert_eq!(
        pdfsig
            .matches("Signature Validation: Signature is Valid.")
            .count(),
        2,
        "{pdfsig}"
    );

    let check = tool("qpdf", &["--check", two.to_str().unwrap()]);
    assert!(check.status.success(), "{}", text(&check));
    let bytes = std::fs::read(&two).unwrap();
    let xmp = String::from_utf8_lossy(&bytes);
    assert!(
        xmp.contains("<pdfaid:part>2</pdfaid:part>")
            && xmp.contains("<pdfaid:conformance>B</pdfaid:conformance>")
    );

    let (code, report) = verify_json(&two, Some(&files.ca()));
    assert_eq!(code, 0, "{report:#}");
    let sigs = report["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2, "{report:#}");
    assert_eq!(
        sigs[0]["signer"]["personnummer"], "197701172392",
        "{report:#}"
    );
    assert_eq!(sigs[1]["signer"]["common_name"], "Åsa Öberg", "{report:#}");
    assert_eq!(sigs[1]["coverage"]["entire_file"], true, "{report:#}");
    assert_eq!(report["modified_after_last_signature"], false, "{report:#}");

    // Without trusting the development CA: intact, but not trusted — exit 1.
    let (code, report) = verify_json(&two, None);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["signatures"][0]["intact"], true, "{report:#}");
    assert_eq!(
        report["signatures"][0]["chain_trusted"], false,
        "{report:#}"
    );

    let o = blankett(&["verify", two.to_str().unwrap(), "--trust", &files.ca()]);
    assert!(text(&o).contains("Åsa Öberg"), "{}", text(&o));
}

#[test]
fn the_sealed_document_reaches_b_lta_for_pyhanko_and_blankett_verify() {
    let files = signed_set();
    let sealed = files.path("sealed.pdf");
    let o = pyhanko(&[
        "sign",
        "adesverify",
        "--pretty-print",
        "--trust-replace",
        "--trust",
        &files.ca(),
        sealed.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches("judged VALID").count(), 3, "{}", text(&o));

    let (code, report) = verify_json(&sealed, Some(&files.ca()));
    assert_eq!(code, 0, "{report:#}");
    let levels: Vec<&str> = report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "signature")
        .map(|s| s["level"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(levels, ["B-LTA", "B-LTA", "B-LTA"], "{report:#}");
}

#[test]
fn tampering_is_found_by_pyhanko_and_blankett_verify_alike() {
    let files = signed_set();
    let two = std::fs::read(files.path("two.pdf")).unwrap();

    // One flipped byte inside the signed ranges (in the first page's dictionary).
    let mut flipped = two.clone();
    let at = flipped.windows(9).position(|w| w == b"/MediaBox").unwrap() + 2;
    flipped[at] ^= 0x01;
    std::fs::write(files.path("flipped.pdf"), &flipped).unwrap();
    let (ok, out) = pyhanko_validate(&files.path("flipped.pdf"), &files.ca());
    assert!(!ok, "pyHanko accepted a flipped byte: {out}");
    let (code, report) = verify_json(&files.path("flipped.pdf"), Some(&files.ca()));
    assert_eq!(code, 1, "{report:#}");
    assert!(
        report["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["intact"] == false),
        "{report:#}"
    );

    // An unsigned incremental update that changes the document information after signing.
    let mut appended = two.clone();
    let size = {
        let text = String::from_utf8_lossy(&two);
        let trailer = &text[text.rfind("trailer").unwrap()..];
        let n = trailer.split("/Size ").nth(1).unwrap();
        n.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap()
    };
    let root = {
        let text = String::from_utf8_lossy(&two);
        let trailer = &text[text.rfind("trailer").unwrap()..];
        let r = trailer.split("/Root ").nth(1).unwrap();
        r.split(" R").next().unwrap().to_owned()
    };
    let prev = {
        let text = String::from_utf8_lossy(&two);
        let sx = &text[text.rfind("startxref").unwrap() + 9..];
        sx.trim().lines().next().unwrap().trim().to_owned()
    };
    let object_at = appended.len();
    appended.extend_from_slice(
        format!("{size} 0 obj\n<< /Title (Changed after signing) >>\nendobj\n").as_bytes(),
    );
    let xref_at = appended.len();
    appended.extend_from_slice(
        format!(
            "xref\n{size} 1\n{object_at:010} 00000 n\r\ntrailer\n<< /Size {} /Root {root} R /Info {size} 0 R /Prev {prev} >>\nstartxref\n{xref_at}\n%%EOF\n",
            size + 1
        )
        .as_bytes(),
    );
    std::fs::write(files.path("appended.pdf"), &appended).unwrap();
    let (code, report) = verify_json(&files.path("appended.pdf"), Some(&files.ca()));
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["modified_after_last_signature"], true, "{report:#}");
    assert!(
        report["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["intact"] == true),
        "{report:#}"
    );
    let (_, out) = pyhanko_validate(&files.path("appended.pdf"), &files.ca());
    assert!(
        !out.contains("The signature covers the entire file"),
        "{out}"
    );
}

#[test]
fn blankett_verify_and_pyhanko_agree_on_every_file() {
    let files = signed_set();
    for name in ["one.pdf", "two.pdf", "sealed.pdf"] {
        let file = files.path(name);
        let (ok, out) = pyhanko_validate(&file, &files.ca());
        let (code, report) = verify_json(&file, Some(&files.ca()));
        assert_eq!(
            ok,
            code == 0,
            "{name}: pyHanko says {ok}, blankett verify {code}\n{out}\n{report:#}"
        );
    }
}

/// `blankett dev sign-pdf IN --out out.pdf --name "Tolvan Tolvansson" --pki-dir pki EXTRA…`.
fn dev_sign(files: &Files, input: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "dev".to_owned(),
        "sign-pdf".to_owned(),
        files.s(input),
        "--out".to_owned(),
        files.s("out.pdf"),
        "--name".to_owned(),
        "Tolvan Tolvansson".to_owned(),
        "--pki-dir".to_owned(),
        files.s("pki"),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    blankett(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn dev_sign_pdf_is_refused_in_production_and_bad_input_is_explained() {
    let files = Files {
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::write(files.path("config.toml"), "environment = \"production\"\n").unwrap();
    std::fs::write(files.path("not.pdf"), "hello").unwrap();
    let o = dev_sign(&files, "not.pdf", &["--config", &files.s("config.toml")]);
    assert!(!o.status.success());
    assert!(text(&o).contains("refused in production"), "{}", text(&o));
    assert!(
        !files.path("pki").exists(),
        "no development CA may be made in production"
    );

    let o = dev_sign(&files, "not.pdf", &[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("not a readable PDF"), "{}", text(&o));
    assert!(!files.path("out.pdf").exists());

    let o = dev_sign(&files, "not.pdf", &["--personnummer", "197701172393"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--personnummer"), "{}", text(&o));

    let o = blankett(&["verify", &files.s("not.pdf")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // A TSA that does not answer: a clear error, and no half-signed file.
    let o = blankett(&["render", "flows/lvu-6", "--out", &files.s("lvu.pdf")]);
    assert!(o.status.success(), "{}", text(&o));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tsa = format!("http://127.0.0.1:{port}/tsa");
    let o = dev_sign(&files, "lvu.pdf", &["--tsa-url", &tsa]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no answer"), "{}", text(&o));
    assert!(!files.path("out.pdf").exists());
}
