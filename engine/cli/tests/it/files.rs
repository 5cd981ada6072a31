//! File fields end to end, on SQLite and on PostgreSQL, through the real server: a step with
//! a file is sent as `multipart/form-data` (as a browser without script sends it); a file
//! over `max_size`, one whose content is not what `accept` takes, and one whose name is a
//! path each get the field's error and the rest of the page is saved; a good file is shown on
//! the review and case pages, downloadable by the applicant and the case worker and by nobody
//! else, replaced and removed cleanly, and exported with its SHA-256.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::web;

use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use web::{
    Browser, CASE_WORKER, Db, OUTSIDER, Page, TestApp, approve, f, form_fields, multipart,
    sample_of, sign, submit,
};

/// A second citizen, who has nothing to do with the case.
const STRANGER: &str = "198112289874";

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";

/// The earnings step's fields from the sample answers, with the page's token and revision.
fn earnings_form(page: &Page, answers: &Value, action: &str) -> Vec<(String, String)> {
    let mut form = vec![
        f("_csrf", &page.csrf()),
        f("_revision", &page.revision()),
        f("_action", action),
    ];
    form_fields("", &answers["earnings"], &mut form);
    form
}

/// Fills steps from the sample answers, as ordinary forms, while `go_on(location)`; returns
/// where it stopped.
async fn fill_while(
    b: &mut Browser,
    mut at: String,
    answers: &Value,
    go_on: impl Fn(&str) -> bool,
) -> String {
    while go_on(&at) {
        let step = at.rsplit('/').next().unwrap().to_owned();
        let page = b.get(&at).await;
        let mut form = vec![
            f("_csrf", &page.csrf()),
            f("_revision", &page.revision()),
            f("_action", "next"),
        ];
        form_fields("", &answers[&step], &mut form);
        let saved = b.post(&at, &form).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        at = saved.location().to_owned();
    }
    at
}

async fn stored_files(app: &TestApp, id: &str) -> Vec<Value> {
    let case = app.state.case(id).await.unwrap();
    let flow = app.state.flow_of(&case).await.unwrap();
    app.state
        .answered_file_metas(&case, &flow)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, m)| m.answer())
        .collect()
}

async fn files_end_to_end(db: Db) {
    let app = TestApp::start(db).await;
    let answers = sample_of("arvode");
    let mut citizen = app.browser();
    citizen.log_in(OUTSIDER, "/").await;
    let home = citizen.get("/").await;
    let started = citizen
        .post("/e/arvode/start", &[f("_csrf", &home.csrf())])
        .await;
    let mut at = started.location().to_owned();
    let id = at.split('/').nth(2).unwrap().to_owned();
    // The steps before the one with the file, as ordinary forms.
    at = fill_while(&mut citizen, at, &answers, |at| {
        !at.ends_with("/steps/earnings")
    })
    .await;

    // The page asks for a file without script: a multipart form and a file input.
    let page = citizen.get(&at).await;
    let html = page.html();
    assert!(html.contains("enctype=\"multipart/form-data\""), "{html}");
    assert!(
        html.contains("type=\"file\"") && html.contains("name=\"certificate_file\""),
        "{html}"
    );
    assert!(html.contains("Högst 5 MB"), "the limit is told: {html}");

    // Too large, wrong content, a path for a name: each the field's error; the rest is saved.
    let mut big = PDF.to_vec();
    big.resize(5_000_001, b' ');
    let refusals: [(&str, &[u8], &str); 3] = [
        ("intyg.pdf", &big, "är för stor (högst 5 MB)"),
        (
            "intyg.pdf",
            b"Jag intygar att loneavdrag gjorts.\n",
            "är inte av en typ som tas emot",
        ),
        ("../../etc/intyg.pdf", PDF, "Filnamnet i"),
    ];
    let mut page = page;
    for (name, bytes, message) in refusals {
        let form = earnings_form(&page, &answers, "next");
        let sent = citizen
            .post_multipart(
                &at,
                multipart(&form, &[("certificate_file", name, bytes)], false),
            )
            .await;
        assert_eq!(sent.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let html = sent.html();
        assert!(html.contains(message), "{name}: {html}");
        assert!(html.contains("class=\"error-summary"), "{name}: {html}");
        // What else was typed is on the page, and stored.
        assert!(html.contains("value=\"312,5\""), "{name}: {html}");
        let case = app.state.case(&id).await.unwrap();
        assert_eq!(
            case.answers["earnings"]["items"][0]["hourly_loss"], 312.5,
            "{name}"
        );
        assert!(case.answers["earnings"]["certificate_file"].is_null());
        assert!(stored_files(&app, &id).await.is_empty(), "nothing stored");
        page = sent;
    }

    // A file before the form's token, or with a wrong token: refused before it is read.
    let mut form = earnings_form(&page, &answers, "next");
    let sent = citizen
        .post_multipart(
            &at,
            multipart(&form, &[("certificate_file", "intyg.pdf", PDF)], true),
        )
        .await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN);
    form[0].1 = "forged".into();
    let sent = citizen
        .post_multipart(
            &at,
            multipart(&form, &[("certificate_file", "intyg.pdf", PDF)], false),
        )
        .await;
    assert_eq!(sent.status, StatusCode::FORBIDDEN);
    assert!(stored_files(&app, &id).await.is_empty(), "nothing stored");

    // A good file: stored with the type its content has and its SHA-256.
    let page = citizen.get(&at).await;
    let form = earnings_form(&page, &answers, "next");
    let sent = citizen
        .post_multipart(
            &at,
            multipart(
                &form,
                &[("certificate_file", "Intyg löneavdrag.pdf", PDF)],
                false,
            ),
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let case = app.state.case(&id).await.unwrap();
    let file = case.answers["earnings"]["certificate_file"].clone();
    assert_eq!(file["name"], "Intyg löneavdrag.pdf");
    assert_eq!(file["content_type"], "application/pdf");
    assert_eq!(file["size"], PDF.len());
    assert_eq!(file["sha256"], hex::encode(Sha256::digest(PDF)));
    let url = format!("/cases/{id}/files/{}", file["id"].as_str().unwrap());

    // Saving the step again without a file (an ordinary form) keeps it.
    let page = citizen.get(&at).await;
    assert!(
        page.html().contains("Intyg löneavdrag.pdf"),
        "{}",
        page.body
    );
    let kept = citizen
        .post(&at, &earnings_form(&page, &answers, "next"))
        .await;
    assert_eq!(kept.status, StatusCode::SEE_OTHER, "{}", kept.body);
    assert_eq!(
        app.state.case(&id).await.unwrap().answers["earnings"]["certificate_file"],
        file
    );

    // Replacing it: the old file is gone (404), the new one is there; removing it: none.
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    let page = citizen.get(&at).await;
    let sent = citizen
        .post_multipart(
            &at,
            multipart(
                &earnings_form(&page, &answers, "save"),
                &[("certificate_file", "intyg.png", png)],
                false,
            ),
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(citizen.bytes(&url).await.0, StatusCode::NOT_FOUND);
    let now = stored_files(&app, &id).await;
    assert_eq!(now.len(), 1);
    assert_eq!(now[0]["content_type"], "image/png");
    let page = citizen.get(&at).await;
    let mut form = earnings_form(&page, &answers, "save");
    form.push(f("certificate_file._remove", "1"));
    let sent = citizen.post(&at, &form).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert!(stored_files(&app, &id).await.is_empty(), "removed and gone");

    // The good file again, then on to the review page.
    let page = citizen.get(&at).await;
    let sent = citizen
        .post_multipart(
            &at,
            multipart(
                &earnings_form(&page, &answers, "next"),
                &[("certificate_file", "Intyg löneavdrag.pdf", PDF)],
                false,
            ),
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let file = app.state.case(&id).await.unwrap().answers["earnings"]["certificate_file"].clone();
    let url = format!("/cases/{id}/files/{}", file["id"].as_str().unwrap());
    fill_while(&mut citizen, sent.location().to_owned(), &answers, |at| {
        at.contains("/steps/")
    })
    .await;
    let review = citizen.get(&format!("/cases/{id}/review")).await;
    let html = review.html();
    assert!(html.contains(&format!("href=\"{url}\"")), "{html}");
    assert!(html.contains("Intyg löneavdrag.pdf"), "{html}");

    // The applicant downloads it: the bytes, as an attachment, in a sandbox.
    let r = citizen
        .client
        .get(format!("{}{url}", citizen.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PDF);
    submit(&mut citizen, &id).await;

    // Somebody else: 404, the same as for a file that does not exist.
    let mut stranger = app.browser();
    stranger.log_in(STRANGER, "/").await;
    assert_eq!(stranger.bytes(&url).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        citizen.bytes(&format!("/cases/{id}/files/nope")).await.0,
        StatusCode::NOT_FOUND
    );

    // The case worker sees it on the case page and downloads it.
    let mut worker = app.browser();
    worker.log_in(CASE_WORKER, "/").await;
    let case_page = worker.get(&format!("/cases/{id}")).await;
    assert!(
        case_page.html().contains(&format!("href=\"{url}\"")),
        "{}",
        case_page.body
    );
    let (status, bytes) = worker.bytes(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, PDF);

    // Through to the end, and the archive package holds the file with its SHA-256.
    let assigned = worker
        .post(
            &format!("/cases/{id}/assign"),
            &[
                f("_csrf", &case_page.csrf()),
                f("_revision", &case_page.revision()),
            ],
        )
        .await;
    assert_eq!(assigned.status, StatusCode::SEE_OTHER);
    let step = format!("/cases/{id}/steps/attest");
    let page = worker.get(&step).await;
    let mut form = vec![
        f("_csrf", &page.csrf()),
        f("_revision", &page.revision()),
        f("_action", "next"),
    ];
    form_fields("", &answers["attest"], &mut form);
    let saved = worker.post(&step, &form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    approve(&mut worker, &id).await;
    sign(&mut citizen, &id, OUTSIDER).await;
    sign(&mut worker, &id, CASE_WORKER).await;

    let out = app.dir.path().join("package");
    let o = crate::export_cli::export(&app, &id, &out).await;
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["document_pdfa"], "PDF/A-2B", "{manifest:#}");
    let attachment = &manifest["attachments"][0];
    assert_eq!(attachment["field"], "earnings.certificate_file");
    assert_eq!(attachment["sha256"], hex::encode(Sha256::digest(PDF)));
    let path = attachment["path"].as_str().unwrap();
    assert_eq!(path, "files/1-Intyg löneavdrag.pdf");
    assert_eq!(std::fs::read(out.join(path)).unwrap(), PDF);
    assert!(
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == path && e["sha256"] == attachment["sha256"]),
        "{manifest:#}"
    );
    let xml = std::fs::read_to_string(out.join("answers.xml")).unwrap();
    assert!(xml.contains(&hex::encode(Sha256::digest(PDF))), "{xml}");
}

#[tokio::test]
async fn sqlite_file_fields_end_to_end() {
    files_end_to_end(Db::Sqlite).await;
}

#[tokio::test]
async fn postgres_file_fields_end_to_end() {
    files_end_to_end(Db::Postgres).await;
}
