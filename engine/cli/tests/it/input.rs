//! What careless or hostile visitors send, over real HTTP: anonymous visits store nothing;
//! characters no document can show are refused where they are typed, in the form and in the
//! REST API, without using up a case number; every refusal is the application's own page (or
//! JSON under `/api`), never the framework's text; a field over its limit gets its own message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::web;

use reqwest::redirect::Policy;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use web::{CASE_WORKER, DECISION_MAKER, Db, TestApp, f, repo};

const KEY: &str = "bk_input-test-key";

async fn start() -> TestApp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let hash = hex::encode(Sha256::digest(KEY.as_bytes()));
    let keys = format!(
        r#"[{{name = "erp", sha256 = "{hash}", scopes = ["cases:read", "cases:write", "documents:read"]}}]"#
    );
    TestApp::start_with(Db::Sqlite, &[("BLANKETT__API_KEYS", &keys)]).await
}

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn session_cookie(r: &reqwest::Response) -> bool {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap_or("").starts_with("blankett_session="))
}

#[tokio::test]
async fn anonymous_visits_store_no_session_until_something_must_be_remembered() {
    let app = start().await;
    let base = format!("http://{}", app.addr);
    let client = plain_client();
    let paths = [
        "/",
        "/login",
        "/login?next=%2Fmy",
        "/no-such-page",
        "/cases/00000000-0000-0000-0000-000000000000",
        "/my",
    ];
    for i in 0..2000 {
        let path = paths[i % paths.len()];
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
        assert!(!session_cookie(&r), "{path} started a session");
    }
    assert_eq!(
        app.state.store().count_sessions().await.unwrap(),
        0,
        "2,000 anonymous page views store nothing"
    );

    // A form works with the token of the CSRF cookie; choosing a language is remembered, in
    // one session.
    let mut b = app.browser();
    let home = b.get("/").await;
    let token = home.csrf();
    assert!(!token.is_empty());
    let chosen = b
        .post(
            "/lang",
            &[f("_csrf", &token), f("lang", "en"), f("return_to", "/")],
        )
        .await;
    assert_eq!(chosen.status, StatusCode::SEE_OTHER);
    assert_eq!(app.state.store().count_sessions().await.unwrap(), 1);
    let english = b.get("/").await;
    assert!(english.html().contains("lang=\"en\""), "{}", english.body);
    // The form's token is still good after the session was made (it is the same token).
    let again = b
        .post(
            "/lang",
            &[f("_csrf", &token), f("lang", "sv"), f("return_to", "/")],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);

    // The token without its cookie (a forged form on another site) is refused.
    let forged = client
        .post(format!("{base}/lang"))
        .form(&[("_csrf", token.as_str()), ("lang", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(!session_cookie(&forged));
    assert_eq!(app.state.store().count_sessions().await.unwrap(), 1);
}

#[tokio::test]
async fn sessions_that_ran_out_are_purged_when_a_server_starts() {
    let app = start().await;
    let past = blankett_web::clock::Timestamp::from_utc(blankett_web::clock::now_utc())
        - chrono::Duration::hours(3);
    for i in 0..3 {
        app.state
            .store()
            .put_session(&blankett_core::store::SessionRecord {
                id_hash: format!("{i:064}"),
                data: json!({"csrf": "x"}),
                expires_at: past,
            })
            .await
            .unwrap();
    }
    assert_eq!(app.state.store().count_sessions().await.unwrap(), 3);
    let _second = app.second_instance().await;
    assert_eq!(app.state.store().count_sessions().await.unwrap(), 0);
}

/// Starts the LVU flow as the case worker; returns the browser and the first step's path.
async fn first_lvu_step(app: &TestApp) -> (web::Browser, String) {
    let mut b = app.browser();
    b.log_in(CASE_WORKER, "/").await;
    let home = b.get("/").await;
    let started = b.post("/e/lvu-6/start", &[f("_csrf", &home.csrf())]).await;
    let at = started.location().to_owned();
    assert!(at.contains("/steps/matter"), "{at}");
    (b, at)
}

#[tokio::test]
async fn characters_no_document_can_show_are_refused_in_the_form_with_their_code_points() {
    let app = start().await;
    let (mut b, at) = first_lvu_step(&app).await;
    let page = b.get(&at).await;
    let typed = "Socialnämnden \u{202E}nednmänlaicoS 😀";
    let saved = b
        .post(
            &at,
            &[
                f("_csrf", &page.csrf()),
                f("_revision", &page.revision()),
                f("_action", "next"),
                f("committee", typed),
                f("case_reference", "SN 2026/1"),
                f("presenter_title", "Socialsekreterare"),
            ],
        )
        .await;
    assert_eq!(
        saved.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        saved.body
    );
    let html = saved.html();
    assert!(
        html.contains("U+202E") && html.contains("U+1F600"),
        "{html}"
    );
    assert!(html.contains("inte kan visas i dokumentet"), "{html}");
    // What was typed is kept in the draft and shown again.
    assert!(html.contains("Socialnämnden"), "{html}");
    let id = at.split('/').nth(2).unwrap();
    let case = app.state.store().get_case(id).await.unwrap().unwrap();
    assert_eq!(case.answers["matter"]["committee"], typed);
}

async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = plain_client()
        .request(method, format!("http://{}{path}", app.addr))
        .bearer_auth(KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {status} {text}"));
    (status, v)
}

fn avtal(scope: &str, name: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("flows/avtal/sample-answers.json")).unwrap();
    let mut answers: Value = serde_json::from_str(&text).unwrap();
    answers["subject"]["scope"] = json!(scope);
    json!({
        "flow": "avtal",
        "applicant": {"personnummer": DECISION_MAKER, "name": name},
        "answers": answers,
        "hand_to": {"case_worker": CASE_WORKER},
    })
}

fn number(v: &Value) -> u32 {
    v["number"]
        .as_str()
        .unwrap()
        .rsplit('-')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_api_refuses_such_characters_with_the_field_and_uses_up_no_case_number() {
    let app = start().await;
    let (status, first) = api(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some(avtal("Städning", "Elva Elvasson")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");

    for (scope, name, path, point) in [
        (
            "Städning \u{2066}dold\u{2069}",
            "Elva Elvasson",
            "subject.scope",
            "U+2066",
        ),
        ("Städning 漢字", "Elva Elvasson", "subject.scope", "U+6F22"),
        ("Städning", "Elva 😀 Elvasson", "applicant.name", "U+1F600"),
    ] {
        let (status, refused) = api(
            &app,
            Method::POST,
            "/api/v1/cases",
            Some(avtal(scope, name)),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        let fields = refused["error"]["fields"].as_array().unwrap();
        let field = fields
            .iter()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("{path} is named: {refused}"));
        assert_eq!(field["code"], "characters", "{refused}");
        assert!(
            field["message_en"].as_str().unwrap().contains(point),
            "{refused}"
        );
    }

    let (status, next) = api(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some(avtal("Städning", "Elva Elvasson")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    assert_eq!(
        number(&next),
        number(&first) + 1,
        "refused cases use up no number"
    );
}

async fn get_raw(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let r = plain_client()
        .get(format!("http://{}{path}", app.addr))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test]
async fn refusals_are_the_applications_own_pages_and_never_echo_input_or_name_types() {
    let app = start().await;
    let (mut b, at) = first_lvu_step(&app).await;
    let id = at.split('/').nth(2).unwrap().to_owned();
    let leaks = [
        "Invalid URL",
        "Cannot parse",
        "u32",
        "Failed to deserialize",
        "duplicate field",
        "serde",
        "<script>",
    ];
    for path in [
        "/cases/%FF%FE".to_owned(),
        format!("/cases/{id}/document/pages/abc"),
        format!("/cases/{id}/document/pages/99999999999999999999"),
        "/login?next=a&next=b".to_owned(),
        "/login?next=%3Cscript%3E&next=2".to_owned(),
        "/static/%00".to_owned(),
    ] {
        let (status, ct, body) = get_raw(&app, &path).await;
        assert!(status.is_client_error(), "{path}: {status}");
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        assert!(body.contains("<h1>"), "{path}: {body}");
        for leak in leaks {
            assert!(!body.contains(leak), "{path} shows `{leak}`: {body}");
        }
    }
    // Under /api the same refusals are the API's JSON error.
    for (method, path) in [
        (Method::GET, "/api/v1/cases/%FF%FE".to_owned()),
        (Method::GET, "/api/v1/cases?limit=abc".to_owned()),
        (Method::GET, "/api/v1/cases?status=open&status=x".to_owned()),
        (Method::PUT, "/api/v1/cases".to_owned()),
        (Method::DELETE, format!("/api/v1/cases/{id}")),
    ] {
        let r = plain_client()
            .request(method.clone(), format!("http://{}{path}", app.addr))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert!(status.is_client_error(), "{method} {path}: {status}");
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {body}"));
        assert!(v["error"]["code"].is_string(), "{body}");
        for leak in leaks {
            assert!(!body.contains(leak), "{path} shows `{leak}`: {body}");
        }
    }

    // A return address with CR/LF (or any control character) leads home, never nowhere.
    let home = b.get("/").await;
    for bad in [
        "/x\r\nSet-Cookie: a=b",
        "/x\u{0}",
        "//evil.example/",
        "https://evil.example/",
    ] {
        let r = b
            .post(
                "/lang",
                &[
                    f("_csrf", &home.csrf()),
                    f("lang", "sv"),
                    f("return_to", bad),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location.as_deref(), Some("/"), "{bad:?}");
    }
    let (status, _, login) = get_raw(&app, "/login?next=%2Fmy%0D%0ASet-Cookie:%20x=y").await;
    assert_eq!(status, StatusCode::OK);
    assert!(login.contains("name=\"next\" value=\"&#x2f;\""), "{login}");
}

#[tokio::test]
async fn a_field_over_its_limit_gets_its_own_message_whatever_the_letters() {
    let app = start().await;
    let (mut b, at) = first_lvu_step(&app).await;
    // Fill the first step, then over-fill a long text field of the next one.
    let page = b.get(&at).await;
    let next = b
        .post(
            &at,
            &[
                f("_csrf", &page.csrf()),
                f("_revision", &page.revision()),
                f("_action", "next"),
                f("committee", "Socialnämnden"),
                f("case_reference", "SN 2026/1"),
                f("presenter_title", "Socialsekreterare"),
            ],
        )
        .await;
    assert_eq!(next.status, StatusCode::SEE_OTHER);
    let id = at.split('/').nth(2).unwrap();
    let grounds = format!("/cases/{id}/steps/grounds");
    let page = b.get(&grounds).await;
    for letter in ["Å", "a"] {
        // 100,000 characters: 600 kB once the browser has percent-encoded the Å's UTF-8.
        let long = letter.repeat(100_000);
        let revision = b.get(&grounds).await.revision();
        let r = b
            .post(
                &grounds,
                &[
                    f("_csrf", &page.csrf()),
                    f("_revision", &revision),
                    f("_action", "next"),
                    f("court_cannot_wait", &long),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{letter}");
        assert!(
            r.html().contains("8000"),
            "{letter}: the field's own limit is named"
        );
    }
    // Beyond what a form can hold, the refusal is the application's page.
    let huge = "Å".repeat(400_000);
    let r = b
        .post(
            &grounds,
            &[
                f("_csrf", &page.csrf()),
                f("_revision", "1"),
                f("court_cannot_wait", &huge),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.html().contains("För mycket på en gång"), "{}", r.body);
}
