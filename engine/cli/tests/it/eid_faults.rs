//! eID faults in front of a person, against the local BankID RP v6 server of the eID tests
//! (real HTTPS with client certificates) and the built-in test eID: an order that cannot be
//! started is a page that says why (BankID's RFA text), answers 409/429/503 rather than 500,
//! keeps the person logged in, offers "Försök igen" and leaves the case as it was; a waiting
//! page whose order the server no longer knows tells the person to start again; test eID
//! orders are random and bound to their session, and any valid personnummer can be typed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::bankid_server;
use crate::web;

use std::time::Duration;

use bankid_server::{Pki, TestServer};
use blankett_core::case::Status;
use reqwest::StatusCode;
use web::{Browser, CASE_WORKER, Db, TestApp, approve, f, fill_lvu, submit};

/// A server with the test eID and BankID (the local BankID server), answering slowly after
/// two seconds.
async fn start_with_bankid(dir: &std::path::Path) -> (TestApp, TestServer) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pki = Pki::new();
    let server = TestServer::start(&pki.server, &pki.client_ca).await;
    std::fs::write(dir.join("ca.pem"), &pki.server_ca.cert_pem).unwrap();
    std::fs::write(dir.join("rp.pem"), &pki.client.cert_pem).unwrap();
    std::fs::write(dir.join("rp.key"), pki.client.key.serialize_pem()).unwrap();
    let path = |name: &str| format!("\"{}\"", dir.join(name).display());
    let app = TestApp::start_with(
        Db::Sqlite,
        &[
            ("BLANKETT__EID__BANKID__URL", &server.base_url()),
            ("BLANKETT__EID__BANKID__SERVER_CA", &path("ca.pem")),
            ("BLANKETT__EID__BANKID__CLIENT_CERT", &path("rp.pem")),
            ("BLANKETT__EID__BANKID__CLIENT_KEY", &path("rp.key")),
            ("BLANKETT__EID__BANKID__TIMEOUT_SECONDS", "2"),
            ("BLANKETT__EID__BANKID__RETRY_DELAY_MS", "100"),
        ],
    )
    .await;
    (app, server)
}

/// A case in signing where it is the case worker's turn; the browser is on its signing page.
async fn my_turn_to_sign(app: &TestApp) -> (Browser, String) {
    let mut b = app.browser();
    let id = fill_lvu(&mut b).await;
    submit(&mut b, &id).await;
    approve(&mut b, &id).await;
    (b, id)
}

async fn start_bankid_signing(b: &mut Browser, id: &str) -> web::Page {
    let sign = b.get(&format!("/cases/{id}/sign")).await;
    assert_eq!(sign.status, StatusCode::OK, "{}", sign.body);
    b.post(
        &format!("/cases/{id}/sign/start"),
        &[
            f("_csrf", &sign.csrf()),
            f("_revision", &sign.revision()),
            f("sha256", &sign.input("sha256").unwrap()),
            f("provider", "bankid:other-device"),
        ],
    )
    .await
}

#[tokio::test]
async fn bankid_faults_at_the_start_are_pages_with_a_retry_and_leave_the_case_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (app, server) = start_with_bankid(dir.path()).await;
    let (mut b, id) = my_turn_to_sign(&app).await;
    let before = app.state.store().get_case(&id).await.unwrap().unwrap();
    assert_eq!(before.status, Status::Signing);

    type Fault = fn(&TestServer);
    let faults: [(&str, Fault, StatusCode, &str); 6] = [
        (
            "maintenance",
            |s| s.fail_next("sign", &[(503, "maintenance"); 3]),
            StatusCode::SERVICE_UNAVAILABLE,
            "Internt tekniskt fel",
        ),
        (
            "internalError",
            |s| s.fail_next("sign", &[(500, "internalError")]),
            StatusCode::SERVICE_UNAVAILABLE,
            "Internt tekniskt fel",
        ),
        (
            "alreadyInProgress",
            |s| s.fail_next("sign", &[(400, "alreadyInProgress")]),
            StatusCode::CONFLICT,
            "redan påbörjad",
        ),
        (
            "tooManyRequests",
            |s| s.fail_next("sign", &[(429, "tooManyRequests")]),
            StatusCode::TOO_MANY_REQUESTS,
            "Försök igen",
        ),
        (
            "a dropped connection",
            |s| s.drop_next("sign"),
            StatusCode::SERVICE_UNAVAILABLE,
            "svarar inte just nu",
        ),
        (
            "a slow answer",
            |s| s.delay_next("sign", Duration::from_secs(10)),
            StatusCode::SERVICE_UNAVAILABLE,
            "svarar inte just nu",
        ),
    ];
    for (what, fault, status, says) in faults {
        fault(&server);
        let page = start_bankid_signing(&mut b, &id).await;
        assert_eq!(page.status, status, "{what}: {}", page.body);
        let html = page.html();
        assert!(html.contains(says), "{what}: {html}");
        assert!(html.contains("Försök igen"), "{what}: a retry is offered");
        assert!(
            html.contains(&format!("href=\"/cases/{id}/sign\"")),
            "{what}: the retry goes back to the signing page: {html}"
        );
        assert!(
            html.contains("Tolvan Tolvansson"),
            "{what}: the person is still shown as logged in"
        );
        assert!(!html.contains("Något gick fel"), "{what}");
        let after = app.state.store().get_case(&id).await.unwrap().unwrap();
        assert_eq!(after.status, Status::Signing, "{what}");
        assert_eq!(after.revision, before.revision, "{what}: nothing changed");
    }

    // With BankID answering again, the same signer goes on from the same page.
    let started = start_bankid_signing(&mut b, &id).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    assert_eq!(started.location(), "/eid/wait");
}

/// Starts a test eID login (to `/my`) on the server `b` talks to.
async fn start_test_login(b: &mut Browser) {
    let login = b.get("/login?next=%2Fmy").await;
    let started = b
        .post(
            "/login/start",
            &[
                f("_csrf", &login.csrf()),
                f("provider", "test"),
                f("next", "/my"),
            ],
        )
        .await;
    assert!(started.location().starts_with("/test-eid/"));
}

#[tokio::test]
async fn a_waiting_page_whose_order_the_server_forgot_says_to_start_again() {
    let app = TestApp::start(Db::Sqlite).await;
    // The server restarts while a person waits (a new instance on the same database knows no
    // test eID order; sessions are in the database).
    let restarted = app.second_instance().await;
    let mut b = app.browser();

    // Without JavaScript: the waiting page sends the person back to log in, and says why.
    start_test_login(&mut b).await;
    b.base = format!("http://{}", restarted.addr);
    let wait = b.get("/eid/wait").await;
    assert_eq!(wait.status, StatusCode::SEE_OTHER, "{}", wait.body);
    let (at, page) = b.follow(wait).await;
    assert!(at.starts_with("/login"), "{at}");
    assert!(page.html().contains("Börja om"), "{}", page.body);

    // With JavaScript: the status answer stops the polling and carries the message.
    let mut c = app.browser();
    start_test_login(&mut c).await;
    c.base = format!("http://{}", restarted.addr);
    let status = c.get("/eid/status").await;
    let v: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(v["done"], true, "the script stops polling: {v}");
    assert!(v["message"].as_str().unwrap().contains("Börja om"), "{v}");
    assert!(v["next"].as_str().unwrap().starts_with("/login"), "{v}");
}

#[tokio::test]
async fn test_eid_orders_are_random_and_bound_to_their_session() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut refs = Vec::new();
    let mut browsers = Vec::new();
    for _ in 0..2 {
        let mut b = app.browser();
        let login = b.get("/login").await;
        let started = b
            .post(
                "/login/start",
                &[
                    f("_csrf", &login.csrf()),
                    f("provider", "test"),
                    f("next", "/"),
                ],
            )
            .await;
        refs.push(started.location().to_owned());
        browsers.push(b);
    }
    assert_ne!(refs[0], refs[1]);
    assert!(
        refs.iter().all(|r| r.len() > "/test-eid/test-".len() + 30),
        "{refs:?}"
    );
    // Another browser cannot open or decide someone else's order.
    let other = browsers[1].get(&refs[0]).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let page = browsers[1].get(&refs[1]).await;
    let taken = browsers[1]
        .post(
            &refs[0],
            &[
                f("_csrf", &page.csrf()),
                f("decision", "approve"),
                f("personnummer", CASE_WORKER),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn any_valid_personnummer_can_be_typed_into_the_test_eid() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    let login = b.get("/login?next=%2Fmy").await;
    let started = b
        .post(
            "/login/start",
            &[
                f("_csrf", &login.csrf()),
                f("provider", "test"),
                f("next", "/my"),
            ],
        )
        .await;
    let at = started.location().to_owned();
    let page = b.get(&at).await;
    // A number with a wrong check digit is refused on the page, with what to do.
    let wrong = b
        .post(
            &at,
            &[
                f("_csrf", &page.csrf()),
                f("decision", "approve"),
                f("personnummer", "other"),
                f("other_personnummer", "198112289875"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.html().contains("giltigt personnummer"),
        "{}",
        wrong.body
    );
    let approved = b
        .post(
            &at,
            &[
                f("_csrf", &page.csrf()),
                f("decision", "approve"),
                f("personnummer", "other"),
                f("other_personnummer", "198112289874"),
                f("other_name", "Greta Provsson"),
            ],
        )
        .await;
    let (landed, my) = b.follow(approved).await;
    assert_eq!(landed, "/my", "{}", my.body);
    assert!(my.html().contains("Greta Provsson"), "{}", my.body);
}
