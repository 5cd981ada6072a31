//! A document made elsewhere, signed (`flows/signera`), on SQLite and on PostgreSQL, through
//! the real server: the case worker uploads a three-page PDF/A-2b (made by the project's own
//! renderer, `flows/signera/exempel.pdf`), lists three signers (themselves and two citizens
//! with e-mail) in any order and approves; each is asked at their own address at once, the
//! citizens sign in reverse order, the case worker last, and the creator is told. The signed
//! PDF has three signatures that pyHanko judges intact, valid and trusted, the original pages'
//! text is what was uploaded, one page was added, and the XMP still says PDF/A-2B. Hostile
//! PDFs (not a PDF, truncated, encrypted, JavaScript, already signed, 50 MB, not PDF/A) are
//! refused on the field with a clear message, and nothing is stored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::web;

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use web::{
    Browser, CASE_WORKER, DECISION_MAKER, Db, OUTSIDER, Page, TestApp, approve, f, multipart, repo,
    sign, submit,
};

fn exempel() -> Vec<u8> {
    std::fs::read(repo().join("flows/signera/exempel.pdf")).unwrap()
}

async fn upload(b: &mut Browser, at: &str, file_name: &str, bytes: &[u8]) -> Page {
    let page = b.get(at).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let texts = vec![
        f("_csrf", &page.csrf()),
        f("_revision", &page.revision()),
        f("_action", "next"),
        f("title", "Protokoll, kommunstyrelsen 24 november 2026"),
        f("message", "Protokollet för justering."),
    ];
    b.post_multipart(at, multipart(&texts, &[("file", file_name, bytes)], false))
        .await
}

/// A PDF written by hand with `catalog_extra` in its catalog and `more` as object 4.
fn hand_pdf(catalog_extra: &str, more: &str) -> Vec<u8> {
    let objects = [
        format!("<< /Type /Catalog /Pages 2 0 R {catalog_extra} >>"),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_owned(),
        more.to_owned(),
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n0 5\n0000000000 65535 f \n");
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    out
}

fn tool(name: &str, args: &[&str]) -> std::process::Output {
    Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("`{name}` is needed (run scripts/setup-test-tools): {e}"))
}

fn page_text(pdf: &Path, page: u32) -> String {
    let n = page.to_string();
    let o = tool(
        "pdftotext",
        &["-f", &n, "-l", &n, "-layout", pdf.to_str().unwrap(), "-"],
    );
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn signera_end_to_end(db: Db) {
    let app = TestApp::start(db).await;
    let work = tempfile::tempdir().unwrap();
    let mut worker = app.browser();
    worker.log_in(CASE_WORKER, "/").await;
    let home = worker.get("/").await;
    assert!(
        home.html().contains("Signera ett dokument"),
        "{}",
        home.body
    );
    let started = worker
        .post("/e/signera/start", &[f("_csrf", &home.csrf())])
        .await;
    let at = started.location().to_owned();
    assert!(at.ends_with("/steps/upload"), "{at}");
    let id = at.split('/').nth(2).unwrap().to_owned();

    // Hostile PDFs: each refused on the field, with a message that says why; nothing stored.
    let truncated = exempel()[..exempel().len() - 3000].to_vec();
    let encrypted_path = work.path().join("encrypted.pdf");
    let plain_path = work.path().join("plain.pdf");
    std::fs::write(&plain_path, exempel()).unwrap();
    let o = tool(
        "qpdf",
        &[
            "--encrypt",
            "hemligt",
            "hemligt",
            "256",
            "--",
            plain_path.to_str().unwrap(),
            encrypted_path.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let encrypted = std::fs::read(&encrypted_path).unwrap();
    let javascript = hand_pdf(
        "/OpenAction 4 0 R",
        "<< /S /JavaScript /JS (app.alert\\('hej'\\)) >>",
    );
    let signed = hand_pdf(
        "/AcroForm << /Fields [4 0 R] >>",
        "<< /FT /Sig /T (s1) /V << /Type /Sig /ByteRange [0 10 20 30] /Contents <00> >> >>",
    );
    let mut huge = exempel();
    huge.resize(50_000_000, b' ');
    let not_pdfa = hand_pdf("", "<< >>");
    let hostile: [(&str, &[u8], &str); 7] = [
        (
            "bild.pdf",
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            "inte av en typ som tas emot",
        ),
        ("trasig.pdf", &truncated, "skadad eller ofullständig"),
        (
            "krypterad.pdf",
            &encrypted,
            "krypterad eller lösenordsskyddad",
        ),
        ("skript.pdf", &javascript, "innehåller JavaScript"),
        ("signerad.pdf", &signed, "redan underskriven"),
        ("stor.pdf", &huge, "är för stor (högst 20 MB)"),
        ("vanlig.pdf", &not_pdfa, "inte PDF/A"),
    ];
    for (name, bytes, message) in hostile {
        let sent = upload(&mut worker, &at, name, bytes).await;
        assert_eq!(sent.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let html = sent.html();
        assert!(html.contains(message), "{name}: {html}");
        assert!(
            html.contains("value=\"Protokoll, kommunstyrelsen 24 november 2026\""),
            "{name}: the title typed is kept"
        );
        let case = app.state.case(&id).await.unwrap();
        assert!(case.answers["upload"]["file"].is_null(), "{name}");
        let flow = app.state.flow_of(&case).await.unwrap();
        assert!(
            app.state
                .answered_file_metas(&case, &flow)
                .await
                .unwrap()
                .is_empty(),
            "{name}: nothing stored"
        );
    }

    // The real document.
    let original = exempel();
    let sent = upload(&mut worker, &at, "exempel.pdf", &original).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let next = sent.location().to_owned();
    assert!(next.ends_with("/steps/signatories"), "{next}");
    let page = worker.get(&next).await;
    let mut form = vec![
        f("_csrf", &page.csrf()),
        f("_revision", &page.revision()),
        f("_action", "next"),
        f("order", "any"),
    ];
    let people = [
        (
            CASE_WORKER,
            "Tolvan Tolvansson",
            "handlaggare@exempelstad.se",
        ),
        (DECISION_MAKER, "Elva Elvasson", "elva@example.se"),
        (OUTSIDER, "Tolva Tolvansson", "tolva@example.se"),
    ];
    for (i, (pnr, name, email)) in people.iter().enumerate() {
        form.push(f(&format!("list.{i}.name"), name));
        form.push(f(&format!("list.{i}.personnummer"), pnr));
        form.push(f(&format!("list.{i}.email"), email));
    }
    let saved = worker.post(&next, &form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    submit(&mut worker, &id).await;
    assert_eq!(approve(&mut worker, &id).await, format!("/cases/{id}/sign"));

    // Everyone is asked at once, each at their own address.
    let messages = app.state.store().list_messages(None, 100).await.unwrap();
    for (_, _, email) in people {
        assert!(
            messages
                .iter()
                .any(|m| m.topic == "signature_requested" && m.recipient == email),
            "{email}: {:?}",
            messages
                .iter()
                .map(|m| (m.topic.to_string(), m.recipient.clone()))
                .collect::<Vec<_>>()
        );
    }

    // The citizens find it under "Väntar på din underskrift" and sign, in reverse order.
    for who in [OUTSIDER, DECISION_MAKER] {
        let mut citizen = app.browser();
        let (_, my) = citizen.log_in(who, "/my").await;
        assert!(
            my.html().contains("Väntar på din underskrift"),
            "{}",
            my.body
        );
        assert!(
            my.html().contains(&format!("/cases/{id}")),
            "{who}: the case is listed: {}",
            my.body
        );
        sign(&mut citizen, &id, who).await;
        let case = app.state.case(&id).await.unwrap();
        assert_eq!(case.status, blankett_core::case::Status::Signing);
    }
    let done = sign(&mut worker, &id, CASE_WORKER).await;
    assert!(
        done.html().contains("Alla underskrifter är klara"),
        "{}",
        done.body
    );
    let messages = app.state.store().list_messages(None, 100).await.unwrap();
    assert!(
        messages
            .iter()
            .any(|m| m.topic == "completed" && m.recipient == "handlaggare@exempelstad.se"),
        "the creator is told"
    );

    // The signed PDF: the upload's bytes first, then the signature page and the signatures.
    let (status, pdf) = worker.bytes(&format!("/cases/{id}/document")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        pdf.starts_with(&original),
        "the upload's bytes are kept as they were"
    );
    let signed_path = work.path().join("signed.pdf");
    std::fs::write(&signed_path, &pdf).unwrap();
    let info = String::from_utf8_lossy(&tool("pdfinfo", &[signed_path.to_str().unwrap()]).stdout)
        .into_owned();
    assert!(info.contains("Pages:           4"), "{info}");
    for p in 1..=3 {
        assert_eq!(
            page_text(&signed_path, p),
            page_text(&plain_path, p),
            "page {p} reads as uploaded"
        );
    }
    let last = page_text(&signed_path, 4);
    assert!(last.contains("Underskrifter"), "{last}");
    assert!(
        last.contains(&hex::encode(Sha256::digest(&original))[..16]),
        "the original's SHA-256 is on the signature page: {last}"
    );
    let xmp = String::from_utf8_lossy(&pdf);
    assert!(xmp.contains("<pdfaid:part>2</pdfaid:part>"), "XMP kept");
    assert!(xmp.contains("<pdfaid:conformance>B</pdfaid:conformance>"));
    let check = tool("qpdf", &["--check", signed_path.to_str().unwrap()]);
    assert!(check.status.success(), "{check:?}");

    // pyHanko: three signatures, intact, valid, trusted.
    let ca = app.dir.path().join("data/dev-pki/ca.pem");
    let python = repo().join(".test-tools/venv/bin/python");
    let report = tool(
        python.to_str().unwrap(),
        &[
            repo()
                .join("engine/pades/tests/support/pyhanko_report.py")
                .to_str()
                .unwrap(),
            signed_path.to_str().unwrap(),
            ca.to_str().unwrap(),
        ],
    );
    assert!(report.status.success(), "{report:?}");
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    let sigs = report.as_array().unwrap();
    assert_eq!(sigs.len(), 3, "{report:#}");
    for s in sigs {
        for key in ["intact", "valid", "trusted", "bottom_line"] {
            assert_eq!(s[key], true, "{key}: {report:#}");
        }
    }
    let fields: Vec<&str> = sigs.iter().map(|s| s["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        ["signer-3", "signer-2", "signer-1"],
        "the order they signed in"
    );
}

#[tokio::test]
async fn sqlite_a_document_made_elsewhere_is_signed_in_any_order() {
    signera_end_to_end(Db::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_document_made_elsewhere_is_signed_in_any_order() {
    signera_end_to_end(Db::Postgres).await;
}
