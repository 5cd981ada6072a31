//! The web application end to end over real HTTP, on SQLite and on PostgreSQL: the LVU
//! decision from the catalogue to a PDF with two valid signatures, and what must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::web;

use blankett_pades::verify::{SignatureKind, verify_at};
use reqwest::StatusCode;
use web::{CASE_WORKER, DECISION_MAKER, Db, OUTSIDER, Page, TestApp, f, fill_lvu};

async fn lvu_end_to_end(db: Db) {
    let app = TestApp::start(db).await;
    let mut worker = app.browser();
    let id = fill_lvu(&mut worker).await;

    let review = worker.get(&format!("/cases/{id}/review")).await;
    assert!(review.html().contains("Kontrollera dina svar"));
    assert!(
        review.html().contains("Jourhemmet Björken"),
        "answers are shown"
    );
    let submitted = worker
        .post(
            &format!("/cases/{id}/submit"),
            &[
                f("_csrf", &review.csrf()),
                f("_revision", &review.revision()),
            ],
        )
        .await;
    assert_eq!(submitted.location(), format!("/cases/{id}"));

    let case = worker.get(&format!("/cases/{id}")).await;
    assert!(
        case.html().contains("Godkänn och skapa dokumentet"),
        "{}",
        case.body
    );
    let approved = worker
        .post(
            &format!("/cases/{id}/approve"),
            &[f("_csrf", &case.csrf()), f("_revision", &case.revision())],
        )
        .await;
    assert_eq!(
        approved.location(),
        format!("/cases/{id}/sign"),
        "{}",
        approved.body
    );

    // The case worker signs first.
    let sign = worker.get(&format!("/cases/{id}/sign")).await;
    assert_eq!(sign.status, StatusCode::OK);
    assert!(
        sign.html()
            .contains(&format!("/cases/{id}/document/pages/1"))
    );
    let (status, png) = worker.bytes(&format!("/cases/{id}/document/pages/1")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(png.starts_with(b"\x89PNG"), "page images are PNG");
    let started = worker
        .post(
            &format!("/cases/{id}/sign/start"),
            &[
                f("_csrf", &sign.csrf()),
                f("_revision", &sign.revision()),
                f("sha256", &sign.input("sha256").unwrap()),
                f("provider", "test"),
            ],
        )
        .await;
    let (at, page) = worker.approve_test_eid(started, CASE_WORKER).await;
    assert_eq!(at, format!("/cases/{id}"));
    assert!(
        page.html().contains("Du har skrivit under"),
        "{}",
        page.body
    );
    worker.log_out().await;

    // An outsider cannot see the case, and cannot sign in the decision maker's place.
    let mut outsider = app.browser();
    outsider.log_in(OUTSIDER, "/").await;
    assert_eq!(
        outsider.get(&format!("/cases/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        outsider.get(&format!("/cases/{id}/document")).await.status,
        StatusCode::NOT_FOUND
    );
    let home = outsider.get("/").await;
    let refused = outsider
        .post(
            &format!("/cases/{id}/sign/start"),
            &[
                f("_csrf", &home.csrf()),
                f("_revision", "1"),
                f("sha256", "x"),
                f("provider", "test"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    // The decision maker finds it on My pages and signs; approving the order as another
    // test person is refused and signs nothing.
    let mut maker = app.browser();
    maker.log_in(DECISION_MAKER, "/my").await;
    let my = maker.get("/my").await;
    assert!(
        my.html().contains(&format!("/cases/{id}/sign")),
        "waiting for a signature: {}",
        my.body
    );
    let sign = maker.get(&format!("/cases/{id}/sign")).await;
    let form = [
        f("_csrf", &sign.csrf()),
        f("_revision", &sign.revision()),
        f("sha256", &sign.input("sha256").unwrap()),
        f("provider", "test"),
    ];
    let started = maker.post(&format!("/cases/{id}/sign/start"), &form).await;
    let (at, page) = maker.approve_test_eid(started, OUTSIDER).await;
    assert_eq!(at, format!("/cases/{id}/sign"));
    assert!(
        page.html().contains("en annan person"),
        "wrong person refused: {}",
        page.body
    );
    let sign = maker.get(&format!("/cases/{id}/sign")).await;
    let form = [
        f("_csrf", &sign.csrf()),
        f("_revision", &sign.revision()),
        f("sha256", &sign.input("sha256").unwrap()),
        f("provider", "test"),
    ];
    let started = maker.post(&format!("/cases/{id}/sign/start"), &form).await;
    let (at, page) = maker.approve_test_eid(started, DECISION_MAKER).await;
    assert_eq!(at, format!("/cases/{id}"));
    assert!(
        page.html().contains("Alla underskrifter är klara"),
        "{}",
        page.body
    );

    let (status, pdf) = maker.bytes(&format!("/cases/{id}/document")).await;
    assert_eq!(status, StatusCode::OK);
    let anchors = blankett_pades::pki::certificates_from_pem(&app.ca_pem()).unwrap();
    let report = verify_at(&pdf, &anchors, web_now()).unwrap();
    let people: Vec<_> = report
        .signatures
        .iter()
        .filter(|s| s.kind == SignatureKind::Signature)
        .map(|s| {
            (
                s.field.clone(),
                s.signer.as_ref().and_then(|p| p.personnummer.clone()),
            )
        })
        .collect();
    assert_eq!(
        people,
        vec![
            ("case_worker".to_owned(), Some(CASE_WORKER.to_owned())),
            ("decision_maker".to_owned(), Some(DECISION_MAKER.to_owned())),
        ],
        "{}",
        report.to_text()
    );
    assert_eq!(
        report.signatures.len(),
        3,
        "two signatures and a document timestamp"
    );
    assert!(report.all_valid, "{}", report.to_text());
    assert!(
        !report.modified_after_last_signature,
        "{}",
        report.to_text()
    );
}

fn web_now() -> chrono::DateTime<chrono::Utc> {
    blankett_web::clock::now_utc()
}

#[tokio::test]
async fn lvu_end_to_end_on_sqlite() {
    lvu_end_to_end(Db::Sqlite).await;
}

#[tokio::test]
async fn lvu_end_to_end_on_postgres() {
    lvu_end_to_end(Db::Postgres).await;
}

#[tokio::test]
async fn a_form_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    let (_, home) = b.log_in(CASE_WORKER, "/").await;
    let no_token = b.post("/e/lvu-6/start", &[]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let wrong = b.post("/e/lvu-6/start", &[f("_csrf", "forged")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(
        wrong.html().contains("inte tillåten"),
        "an error page, not a stack trace"
    );
    let my = b.get("/inbox").await;
    assert!(
        my.html().contains("Inga ärenden"),
        "no case was created: {}",
        my.body
    );
    // The session's token works.
    let ok = b.post("/e/lvu-6/start", &[f("_csrf", &home.csrf())]).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_stale_edit_is_refused_and_the_other_edit_is_kept() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    let (_, home) = b.log_in(CASE_WORKER, "/").await;
    let started = b.post("/e/lvu-6/start", &[f("_csrf", &home.csrf())]).await;
    let at = started.location().to_owned();
    let page = b.get(&at).await;
    let (csrf, rev) = (page.csrf(), page.revision());
    let edit = |committee: &str| {
        vec![
            f("_csrf", &csrf),
            f("_revision", &rev),
            f("_action", "save"),
            f("committee", committee),
            f("case_reference", "SN 2026/1"),
            f("presenter_title", "Socialsekreterare"),
        ]
    };
    // Two tabs rendered from the same revision: the first save wins …
    let first = b.post(&at, &edit("Socialnämnden A")).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    // … the second is refused, shows what was typed, and saves nothing.
    let second = b.post(&at, &edit("Socialnämnden B")).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert!(
        second.html().contains("Någon annan har ändrat ärendet"),
        "{}",
        second.body
    );
    assert!(
        second.html().contains("Socialnämnden B"),
        "the typed value is not lost"
    );
    let id = at.split('/').nth(2).unwrap();
    let stored = app.state.store().get_case(id).await.unwrap().unwrap();
    assert_eq!(stored.answers["matter"]["committee"], "Socialnämnden A");
}

/// Each instance keeps its own copy of the cases it wrote, to save a read before the next
/// write; a copy that another instance has made stale must be caught by the write's revision
/// check, never written over the other instance's edit.
async fn an_edit_on_another_instance_is_never_overwritten(db: Db) {
    let a = TestApp::start(db).await;
    let b = a.second_instance().await;
    let mut on_a = a.browser();
    let mut on_b = b.browser();
    let (_, home) = on_a.log_in(CASE_WORKER, "/").await;
    on_b.log_in(CASE_WORKER, "/").await;
    let started = on_a
        .post("/e/lvu-6/start", &[f("_csrf", &home.csrf())])
        .await;
    let at = started.location().to_owned();
    let id = at.split('/').nth(2).unwrap().to_owned();
    let save = |page: &Page, committee: &str| {
        vec![
            f("_csrf", &page.csrf()),
            f("_revision", &page.revision()),
            f("_action", "save"),
            f("committee", committee),
            f("case_reference", "SN 2026/1"),
            f("presenter_title", "Socialsekreterare"),
        ]
    };
    // A saves (and keeps its copy of the case at the new revision) ...
    let page_a = on_a.get(&at).await;
    assert_eq!(
        on_a.post(&at, &save(&page_a, "A1")).await.status,
        StatusCode::SEE_OTHER
    );
    let page_a = on_a.get(&at).await;
    // ... B saves on top of it ...
    let page_b = on_b.get(&at).await;
    assert_eq!(page_b.revision(), page_a.revision());
    assert_eq!(
        on_b.post(&at, &save(&page_b, "B1")).await.status,
        StatusCode::SEE_OTHER
    );
    // ... and A's tab, made at the revision A still has a copy of, is refused as stale.
    let stale = on_a.post(&at, &save(&page_a, "A2")).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
    assert!(stale.html().contains("A2"), "the typed value is not lost");
    let stored = a.state.store().get_case(&id).await.unwrap().unwrap();
    assert_eq!(stored.answers["matter"]["committee"], "B1");
    // Saving again from the conflict page (made at B's revision) goes through on A.
    let again = on_a.post(&at, &save(&stale, "A2")).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    let stored = b.state.store().get_case(&id).await.unwrap().unwrap();
    assert_eq!(stored.answers["matter"]["committee"], "A2");
}

#[tokio::test]
async fn an_edit_on_another_instance_is_never_overwritten_on_sqlite() {
    an_edit_on_another_instance_is_never_overwritten(Db::Sqlite).await;
}

#[tokio::test]
async fn an_edit_on_another_instance_is_never_overwritten_on_postgres() {
    an_edit_on_another_instance_is_never_overwritten(Db::Postgres).await;
}

#[tokio::test]
async fn step_errors_are_summarised_and_the_draft_is_kept() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    let (_, home) = b.log_in(CASE_WORKER, "/").await;
    let started = b.post("/e/lvu-6/start", &[f("_csrf", &home.csrf())]).await;
    let at = started.location().to_owned();
    let page = b.get(&at).await;
    let form = vec![
        f("_csrf", &page.csrf()),
        f("_revision", &page.revision()),
        f("_action", "next"),
        f("committee", "Socialnämnden <script>alert(1)</script>"),
    ];
    let shown = b.post(&at, &form).await;
    assert_eq!(shown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(shown.html().contains("error-summary"));
    assert!(
        shown.html().contains("href=\"#f-case_reference\""),
        "links to the field"
    );
    assert!(!shown.body.contains("<script>alert"), "output is escaped");
    let id = at.split('/').nth(2).unwrap();
    let stored = app.state.store().get_case(id).await.unwrap().unwrap();
    assert_eq!(
        stored.answers["matter"]["committee"],
        "Socialnämnden <script>alert(1)</script>"
    );
}

#[tokio::test]
async fn production_with_the_test_eid_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = blankett_web::app::Config::load(
        None,
        vec![
            ("BLANKETT_ENVIRONMENT".to_owned(), "production".to_owned()),
            ("BLANKETT__EID__TEST_EID".to_owned(), "true".to_owned()),
            (
                "BLANKETT__DATABASE_URL".to_owned(),
                format!("sqlite://{}?mode=rwc", dir.path().join("x.db").display()),
            ),
        ],
    )
    .unwrap();
    let err = blankett_web::app::AppState::start(config)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("test eID"), "{err}");
}

#[tokio::test]
async fn pages_carry_security_headers_and_health_and_metrics_answer() {
    let app = TestApp::start(Db::Sqlite).await;
    let b = app.browser();
    let r = b.client.get(format!("{}/", b.base)).send().await.unwrap();
    let h = r.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let health = b
        .client
        .get(format!("{}/healthz", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let metrics = b
        .client
        .get(format!("{}/metrics", b.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("blankett_http_requests_total{method=\"GET\",route=\"/\",status=\"200\"} 1"),
        "{metrics}"
    );
    let missing = b
        .client
        .get(format!("{}/no/such/page", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body = missing.text().await.unwrap();
    assert!(body.contains("Sidan finns inte"), "{body}");
}

#[tokio::test]
async fn start_before_login_starts_the_e_service_right_after_the_login() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    let home = b.get("/").await;
    let start = b.post("/e/lvu-6/start", &[f("_csrf", &home.csrf())]).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    assert!(
        start.location().starts_with("/login"),
        "{}",
        start.location()
    );
    let (at, page) = b.log_in(CASE_WORKER, "/e/lvu-6/start").await;
    assert!(
        at.starts_with("/cases/") && at.ends_with("/steps/matter"),
        "landed on {at}"
    );
    assert_eq!(page.status, StatusCode::OK);
    // Only once: a reload of the start address does not start a second case.
    let again = b.get("/e/lvu-6/start").await;
    assert_eq!(again.location(), "/");
    let id = at.split('/').nth(2).unwrap();
    let my = b.get("/my").await;
    assert!(my.html().contains(id), "the draft is on My pages");
    assert_eq!(
        my.html().matches("/cases/").count(),
        my.html().matches(id).count(),
        "one case only"
    );
}

#[tokio::test]
async fn an_oversized_form_is_refused_with_a_clear_page_and_the_draft_is_kept() {
    let app = TestApp::start_with(Db::Sqlite, &[("BLANKETT__LIMITS__BODY_BYTES", "4096")]).await;
    let mut b = app.browser();
    let (_, home) = b.log_in(CASE_WORKER, "/").await;
    let at = b
        .post("/e/lvu-6/start", &[f("_csrf", &home.csrf())])
        .await
        .location()
        .to_owned();
    let page = b.get(&at).await;
    let fields = |committee: &str| {
        vec![
            f("_csrf", &page.csrf()),
            f("_revision", &page.revision()),
            f("_action", "save"),
            f("committee", committee),
        ]
    };
    let saved = b.post(&at, &fields("Socialnämnden")).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let huge = "x".repeat(10_000);
    let page = b.get(&at).await;
    let refused = b
        .post(
            &at,
            &[
                f("_csrf", &page.csrf()),
                f("_revision", &page.revision()),
                f("committee", &huge),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        refused.html().contains("Inget har ändrats"),
        "{}",
        refused.body
    );
    let after = b.get(&at).await;
    assert!(
        after.html().contains("value=\"Socialnämnden\""),
        "the draft is kept"
    );
}

#[tokio::test]
async fn too_many_eid_starts_from_one_address_are_refused() {
    let app = TestApp::start_with(
        Db::Sqlite,
        &[("BLANKETT__LIMITS__EID_STARTS_PER_MINUTE", "2")],
    )
    .await;
    let mut b = app.browser();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let login = b.get("/login?next=/").await;
        let r = b
            .post(
                "/login/start",
                &[
                    f("_csrf", &login.csrf()),
                    f("provider", "test"),
                    f("next", "/"),
                ],
            )
            .await;
        statuses.push(r.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::SEE_OTHER,
            StatusCode::SEE_OTHER,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}
