//! The REST API for business systems over real HTTP, on SQLite and on PostgreSQL: keys and
//! scopes, listing and reading cases, creating cases with prefilled answers (to a case worker,
//! straight to signing), withdrawing, and the OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::web;

use blankett_core::case::Status;
use blankett_core::ids::Personnummer;
use blankett_core::store::CaseFilter;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use web::{CASE_WORKER, DECISION_MAKER, Db, OUTSIDER, TestApp, repo};

const FULL: &str = "bk_test-key-with-every-scope";
const READER: &str = "bk_test-key-that-only-reads";
const LVU_ONLY: &str = "bk_test-key-for-lvu-only";

fn sha(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The `[[api_keys]]` of the tests, as an environment value.
fn keys() -> String {
    let all = r#"["cases:read", "cases:write", "documents:read"]"#;
    format!(
        r#"[{{name = "erp", sha256 = "{}", scopes = {all}}}, {{name = "reader", sha256 = "{}", scopes = ["cases:read"]}}, {{name = "lvu", sha256 = "{}", scopes = {all}, flows = ["lvu-6"]}}]"#,
        sha(FULL),
        sha(READER),
        sha(LVU_ONLY)
    )
}

async fn start(db: Db) -> TestApp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    TestApp::start_with(db, &[("BLANKETT__API_KEYS", &keys())]).await
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The JSON error's code, after checking the error's shape and content type.
    fn error_code(&self) -> String {
        assert_eq!(self.header("content-type"), Some("application/json"));
        let v = self.json();
        assert!(v["error"]["message"].is_string(), "{v}");
        v["error"]["code"].as_str().unwrap().to_owned()
    }
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let client = reqwest::Client::new();
    let mut req = client.request(method, format!("http://{}{path}", app.addr));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    assert!(
        r.headers().get("set-cookie").is_none(),
        "the API sets no cookie"
    );
    Reply {
        status: r.status(),
        headers: r.headers().clone(),
        bytes: r.bytes().await.unwrap().to_vec(),
    }
}

fn avtal_answers() -> Value {
    let text = std::fs::read_to_string(repo().join("flows/avtal/sample-answers.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// An avtal for the organisation's signatory, handed to the case worker.
fn to_case_worker() -> Value {
    json!({
        "flow": "avtal",
        "applicant": {"personnummer": DECISION_MAKER, "name": "Elva Elvasson"},
        "answers": avtal_answers(),
        "hand_to": {"case_worker": CASE_WORKER},
    })
}

async fn create(app: &TestApp, body: Value) -> Value {
    let r = call(app, Method::POST, "/api/v1/cases", Some(FULL), Some(body)).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let case = r.json();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/cases/{}", case["id"].as_str().unwrap()).as_str())
    );
    case
}

async fn keys_and_scopes_are_enforced(db: Db) {
    let app = start(db).await;
    let case = create(&app, to_case_worker()).await;
    let id = case["id"].as_str().unwrap();

    // No key, a wrong key, another scheme: 401 with the challenge.
    for key in [None, Some("bk_wrong")] {
        let r = call(&app, Method::GET, "/api/v1/cases", key, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(r.error_code(), "unauthorized");
    }
    let basic = reqwest::Client::new()
        .get(format!("http://{}/api/v1/cases", app.addr))
        .basic_auth("erp", Some(FULL))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    // A logged-in browser session is no key: the API neither needs nor accepts it.
    let mut browser = app.browser();
    browser.log_in(CASE_WORKER, "/").await;
    let with_cookie = browser
        .client
        .post(format!("{}/api/v1/cases", browser.base))
        .json(&to_case_worker())
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), StatusCode::UNAUTHORIZED);

    // Missing scopes: 403.
    let r = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some(READER),
        Some(to_case_worker()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "forbidden");
    let r = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}/document"),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/withdraw"),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The reader reads.
    let r = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}"),
        Some(READER),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // A key limited to lvu-6 sees no avtal case: not in its list, 404 by id, 403 when asked
    // for the flow or when creating one.
    let r = call(&app, Method::GET, "/api/v1/cases", Some(LVU_ONLY), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["cases"], json!([]));
    let r = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}"),
        Some(LVU_ONLY),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
    let r = call(
        &app,
        Method::GET,
        "/api/v1/cases?flow=avtal",
        Some(LVU_ONLY),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some(LVU_ONLY),
        Some(to_case_worker()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{id}/withdraw"),
        Some(LVU_ONLY),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let after = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}"),
        Some(FULL),
        None,
    )
    .await;
    assert_eq!(after.json()["status"], "in_review", "nothing was withdrawn");
}

async fn list_get_and_malformed_requests(db: Db) {
    let app = start(db).await;
    let a = create(&app, to_case_worker()).await;
    let b = create(&app, to_case_worker()).await;

    let r = call(&app, Method::GET, "/api/v1/cases", Some(FULL), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let list = r.json()["cases"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    let ids: Vec<&str> = list.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&a["id"].as_str().unwrap()) && ids.contains(&b["id"].as_str().unwrap()));
    for key in [
        "id",
        "number",
        "flow_id",
        "status",
        "revision",
        "created_at",
        "updated_at",
    ] {
        assert!(!list[0][key].is_null(), "{key} in {}", list[0]);
    }
    let r = call(
        &app,
        Method::GET,
        "/api/v1/cases?flow=avtal&status=in_review&limit=1",
        Some(FULL),
        None,
    )
    .await;
    assert_eq!(r.json()["cases"].as_array().unwrap().len(), 1);
    let r = call(
        &app,
        Method::GET,
        "/api/v1/cases?status=completed",
        Some(FULL),
        None,
    )
    .await;
    assert_eq!(r.json()["cases"], json!([]));
    let r = call(
        &app,
        Method::GET,
        "/api/v1/cases?flow=lvu-6",
        Some(FULL),
        None,
    )
    .await;
    assert_eq!(r.json()["cases"], json!([]));

    // The case: answers, applicant, assignee, events; the read is audited.
    let id = a["id"].as_str().unwrap();
    let r = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}"),
        Some(FULL),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let case = r.json();
    assert_eq!(case["number"], a["number"]);
    assert_eq!(case["flow_id"], "avtal");
    assert_eq!(case["applicant"]["personnummer"], DECISION_MAKER);
    assert_eq!(case["assignee"]["personnummer"], CASE_WORKER);
    assert_eq!(
        case["answers"]["subject"]["title"],
        "Avtal om snöröjning av kommunens skolgårdar"
    );
    assert_eq!(case["signatures"], json!([]));
    let kinds: Vec<&str> = case["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert!(
        kinds.contains(&"submitted") && kinds.contains(&"assigned"),
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"viewed"));
    assert!(
        case["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor_role"] == "api:erp"),
        "{}",
        case["events"]
    );

    // Unknown and malformed: JSON errors with the documented status.
    let missing = uuid::Uuid::new_v4();
    for path in [
        format!("/api/v1/cases/{missing}"),
        "/api/v1/cases/not-a-uuid".to_owned(),
        format!("/api/v1/cases/{missing}/document"),
        "/api/v1/nothing-here".to_owned(),
    ] {
        let r = call(&app, Method::GET, &path, Some(FULL), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.error_code(), "not_found");
    }
    let r = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}/document"),
        Some(FULL),
        None,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "no document before approval"
    );
    for query in ["status=bogus", "limit=0", "limit=201", "limit=x"] {
        let r = call(
            &app,
            Method::GET,
            &format!("/api/v1/cases?{query}"),
            Some(FULL),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(r.error_code(), "bad_request");
    }
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/v1/cases", app.addr);
    let r = client
        .post(&url)
        .bearer_auth(FULL)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client
        .post(&url)
        .bearer_auth(FULL)
        .header("content-type", "application/json")
        .body(r#"{"flow": 5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client
        .post(&url)
        .bearer_auth(FULL)
        .body(to_case_worker().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = "x".repeat(1100 * 1024);
    let r = client
        .post(&url)
        .bearer_auth(FULL)
        .json(&json!({"flow": huge}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

async fn a_case_handed_to_a_case_worker_is_in_their_inbox(db: Db) {
    let app = start(db).await;
    let case = create(&app, to_case_worker()).await;
    assert_eq!(case["status"], "in_review");
    assert_eq!(case["revision"], 3, "started, submitted, assigned");
    let worker = Personnummer::parse(CASE_WORKER).unwrap();
    let inbox = app
        .state
        .store()
        .list_cases(&CaseFilter {
            assignee: Some(worker),
            statuses: vec![Status::InReview],
            ..CaseFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id, case["id"].as_str().unwrap());
    let stored = app
        .state
        .store()
        .get_case(case["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.answers["counterparty"]["org"]["name"],
        avtal_answers()["counterparty"]["org"]["name"],
        "the answers as given"
    );

    // The case worker sees it in the web inbox too.
    let mut b = app.browser();
    b.log_in(CASE_WORKER, "/inbox").await;
    let page = b.get("/inbox?assignee=me").await;
    assert!(
        page.html().contains(case["number"].as_str().unwrap()),
        "{}",
        page.body
    );

    // Only a case worker of the flow's unit can be handed a case.
    let mut body = to_case_worker();
    body["hand_to"] = json!({"case_worker": OUTSIDER});
    let r = call(&app, Method::POST, "/api/v1/cases", Some(FULL), Some(body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["fields"][0]["code"], "not_a_case_worker");
}

/// A fee claim from a business system, handed to the attestant: the case worker approves it
/// on the web like any other case, and signs with the name from their eID.
async fn the_case_worker_approves_an_api_case_on_the_web(db: Db) {
    let app = start(db).await;
    let text = std::fs::read_to_string(repo().join("flows/arvode/sample-answers.json")).unwrap();
    let answers: Value = serde_json::from_str(&text).unwrap();
    let case = create(
        &app,
        json!({
            "flow": "arvode",
            "applicant": {"personnummer": DECISION_MAKER, "name": "Elva Elvasson"},
            "answers": answers,
            "hand_to": {"case_worker": CASE_WORKER},
        }),
    )
    .await;
    assert_eq!(case["status"], "in_review");
    let id = case["id"].as_str().unwrap();

    let mut b = app.browser();
    b.log_in(CASE_WORKER, "/").await;
    let page = b.get(&format!("/cases/{id}")).await;
    assert!(
        page.html().contains("Godkänn och skapa dokumentet"),
        "{}",
        page.body
    );
    let approved = b
        .post(
            &format!("/cases/{id}/approve"),
            &[
                web::f("_csrf", &page.csrf()),
                web::f("_revision", &page.revision()),
            ],
        )
        .await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);

    let r = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}"),
        Some(FULL),
        None,
    )
    .await;
    let case = r.json();
    assert_eq!(case["status"], "signing");
    let sigs = case["signatures"].as_array().unwrap();
    assert_eq!(sigs[0]["signer"]["personnummer"], DECISION_MAKER);
    assert_eq!(sigs[1]["signer"]["personnummer"], CASE_WORKER);
    assert_eq!(
        sigs[1]["signer"]["name"], "Tolvan Tolvansson",
        "the attestant's name from the eID login"
    );
    let r = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}/document"),
        Some(FULL),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn invalid_answers_are_refused_and_nothing_is_stored(db: Db) {
    let app = start(db).await;
    let mut body = to_case_worker();
    body["answers"]["counterparty"]["signatories"][0]["personnummer"] = json!("197701172393");
    body["answers"]["subject"]
        .as_object_mut()
        .unwrap()
        .remove("title");
    body["answers"]["no_such_step"] = json!({});
    body["applicant"]["personnummer"] = json!("12");
    let r = call(&app, Method::POST, "/api/v1/cases", Some(FULL), Some(body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "invalid");
    let fields = r.json()["error"]["fields"].as_array().unwrap().clone();
    let paths: Vec<&str> = fields.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"applicant.personnummer"), "{paths:?}");
    assert!(paths.contains(&"answers.no_such_step"), "{paths:?}");

    // The people fixed: the answers' own errors, with the forms' rules.
    let mut body = to_case_worker();
    body["answers"]["counterparty"]["signatories"][0]["personnummer"] = json!("197701172393");
    body["answers"]["subject"]
        .as_object_mut()
        .unwrap()
        .remove("title");
    let r = call(&app, Method::POST, "/api/v1/cases", Some(FULL), Some(body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = r.json()["error"]["fields"].as_array().unwrap().clone();
    let by_path = |p: &str| fields.iter().find(|f| f["path"] == p).cloned();
    assert_eq!(
        by_path("counterparty.signatories.0.personnummer").unwrap()["code"],
        "personnummer",
        "{fields:?}"
    );
    assert_eq!(by_path("subject.title").unwrap()["code"], "required");
    assert!(by_path("subject.title").unwrap()["message_sv"].is_string());

    let mut body = to_case_worker();
    body["flow"] = json!("no-such-flow");
    let r = call(&app, Method::POST, "/api/v1/cases", Some(FULL), Some(body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let all = app
        .state
        .store()
        .list_cases(&CaseFilter::default())
        .await
        .unwrap();
    assert!(all.is_empty(), "nothing stored");
    // No case number was used up either.
    let first = create(&app, to_case_worker()).await;
    assert!(
        first["number"].as_str().unwrap().ends_with("-0001"),
        "{}",
        first["number"]
    );
}

async fn a_case_handed_to_signing_has_a_locked_document(db: Db) {
    let app = start(db).await;
    let body = json!({
        "flow": "avtal",
        "applicant": {"personnummer": CASE_WORKER, "name": "Tolvan Tolvansson"},
        "answers": avtal_answers(),
        "hand_to": "signing",
    });
    let case = create(&app, body.clone()).await;
    assert_eq!(case["status"], "signing");
    assert_eq!(case["assignee"]["personnummer"], CASE_WORKER);
    let sigs = case["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    assert_eq!(sigs[0]["state"], "requested");
    assert_eq!(sigs[0]["signer"]["personnummer"], CASE_WORKER);
    assert_eq!(sigs[1]["state"], "waiting");
    assert_eq!(sigs[1]["signer"]["personnummer"], DECISION_MAKER);
    let id = case["id"].as_str().unwrap();

    let r = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}/document"),
        Some(FULL),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert!(r.bytes.starts_with(b"%PDF-"));
    assert_eq!(
        case["document_sha256"].as_str().unwrap(),
        hex::encode(Sha256::digest(&r.bytes)),
        "the locked bytes"
    );
    // The first signer finds it waiting on My pages.
    let mut b = app.browser();
    b.log_in(CASE_WORKER, "/my").await;
    let my = b.get("/my").await;
    assert!(
        my.html().contains(&format!("/cases/{id}/sign")),
        "{}",
        my.body
    );

    // Straight to signing needs an applicant who is a case worker of the unit.
    let mut citizen = body;
    citizen["applicant"] = json!({"personnummer": DECISION_MAKER, "name": "Elva Elvasson"});
    let r = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some(FULL),
        Some(citizen),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"]["fields"][0]["path"], "hand_to");
}

async fn withdrawing_and_its_conflicts(db: Db) {
    let app = start(db).await;
    let case = create(&app, to_case_worker()).await;
    let id = case["id"].as_str().unwrap();
    let path = format!("/api/v1/cases/{id}/withdraw");

    // A stale revision: 409, nothing changed.
    let r = call(
        &app,
        Method::POST,
        &path,
        Some(FULL),
        Some(json!({"reason": "Fel motpart", "revision": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "conflict");
    let stored = app.state.store().get_case(id).await.unwrap().unwrap();
    assert_eq!(stored.status, Status::InReview);

    let r = call(
        &app,
        Method::POST,
        &path,
        Some(FULL),
        Some(json!({"reason": "Fel motpart", "revision": case["revision"]})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let withdrawn = r.json();
    assert_eq!(withdrawn["status"], "withdrawn");
    let last = withdrawn["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "withdrawn");
    assert_eq!(last["actor_role"], "api:erp");
    assert_eq!(last["detail"], "Fel motpart");
    let events = app.state.store().events(id).await.unwrap();
    assert!(events.last().unwrap().actor.is_none(), "done by the system");

    // A withdrawn case cannot be withdrawn again (no body at all, or null, is fine too).
    for body in [None, Some(Value::Null)] {
        let r = call(&app, Method::POST, &path, Some(FULL), body).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.error_code(), "conflict");
    }
}

async fn the_openapi_document_lists_every_path(db: Db) {
    let app = start(db).await;
    let r = call(&app, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/cases", "get"),
        ("/api/v1/cases", "post"),
        ("/api/v1/cases/{id}", "get"),
        ("/api/v1/cases/{id}/document", "get"),
        ("/api/v1/cases/{id}/withdraw", "post"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path}");
        for status in ["401", "403", "500"] {
            assert!(
                op["responses"][status].is_object(),
                "{method} {path} {status}"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert!(
        paths["/api/v1/cases"]["post"]["responses"]["422"].is_object()
            && paths["/api/v1/cases/{id}/withdraw"]["post"]["responses"]["409"].is_object()
    );
}

/// The one time rule at its edges: times are kept in UTC and shown in Swedish time. At half
/// past midnight on New Year's night and on a summer night (when the UTC date is still the day
/// before), the case number's year, the API's times and the inbox are Swedish time.
async fn times_are_shown_in_swedish_time_across_midnight_and_new_year(db: Db) {
    let app = start(db).await;
    for (utc, local, offset, number) in [
        (
            "2026-12-31T23:30:00Z",
            "2027-01-01T00:30",
            "+01:00",
            "2027-0001",
        ),
        (
            "2027-06-30T22:30:00Z",
            "2027-07-01T00:30",
            "+02:00",
            "2027-0002",
        ),
    ] {
        let target = chrono::DateTime::parse_from_rfc3339(utc).unwrap().to_utc();
        app.clock.advance(target - app.state.clock.now_utc());
        let case = create(&app, to_case_worker()).await;
        assert_eq!(case["number"], number, "the year is the Swedish year");
        let created = case["created_at"].as_str().unwrap();
        assert!(
            created.starts_with(local) && created.ends_with(offset),
            "{created} at {utc}"
        );
        // Kept as the moment it is.
        let stored = app
            .state
            .store()
            .get_case(case["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(
            (stored.created_at.utc() - target).num_seconds().abs() < 60,
            "{:?}",
            stored.created_at
        );
        // A new login: the jump ahead ended any earlier session.
        let mut b = app.browser();
        b.log_in(CASE_WORKER, "/inbox").await;
        let inbox = b.get("/inbox?assignee=me").await;
        assert!(
            inbox.html().contains(&local.replace('T', " ")),
            "{local} in the inbox: {}",
            inbox.body
        );
    }
}

/// Each test body once on SQLite and once on a fresh PostgreSQL database.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Db::Sqlite).await
            })*
        }
        mod on_postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Db::Postgres).await
            })*
        }
    };
}

on_both!(
    keys_and_scopes_are_enforced,
    list_get_and_malformed_requests,
    a_case_handed_to_a_case_worker_is_in_their_inbox,
    the_case_worker_approves_an_api_case_on_the_web,
    invalid_answers_are_refused_and_nothing_is_stored,
    a_case_handed_to_signing_has_a_locked_document,
    withdrawing_and_its_conflicts,
    the_openapi_document_lists_every_path,
    times_are_shown_in_swedish_time_across_midnight_and_new_year,
    a_business_system_sends_its_document_for_signing,
);

/// A file answer can only come from an upload: the API cannot name a stored file (another
/// case's, or one that does not exist) in the answers of a new case.
#[tokio::test]
async fn the_api_cannot_name_a_file_it_did_not_upload() {
    let app = start(Db::Sqlite).await;
    let text = std::fs::read_to_string(repo().join("flows/arvode/sample-answers.json")).unwrap();
    let mut answers: Value = serde_json::from_str(&text).unwrap();
    answers["earnings"]["certificate_file"] = json!({
        "id": "someone-elses", "name": "x.pdf", "size": 10, "content_type": "application/pdf"
    });
    let r = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some(FULL),
        Some(json!({
            "flow": "arvode",
            "applicant": {"personnummer": DECISION_MAKER, "name": "Elva Elvasson"},
            "answers": answers,
            "hand_to": {"case_worker": CASE_WORKER},
        })),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = r.json()["error"]["fields"].clone();
    assert!(
        fields
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "earnings.certificate_file" && e["code"] == "file_unknown"),
        "{fields}"
    );
}

/// Pattern 3: a business system sends its PDF with the signers; the case goes straight to
/// signing; a retry with the same `Idempotency-Key` gets the same case; hostile PDFs are
/// refused and nothing is stored; the signers sign through the test eID; the `case.completed`
/// webhook arrives signed with the HMAC; the signed PDF is fetched and pyHanko trusts it.
async fn a_business_system_sends_its_document_for_signing(db: Db) {
    use base64::Engine as _;
    const SECRET: &str = "a-webhook-secret-0123456789";
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = crate::sinks::HttpSink::start(0).await;
    let hooks = format!(
        "[{{name = \"arkiv\", url = \"{}\", secret = \"{SECRET}\"}}]",
        http.url("/hook")
    );
    let app = TestApp::start_with(
        db,
        &[
            ("BLANKETT__API_KEYS", &keys()),
            ("BLANKETT__WEBHOOKS", &hooks),
        ],
    )
    .await;
    blankett_web::app::notify::worker::spawn(app.state.core.clone()).unwrap();
    let pdf = std::fs::read(repo().join("flows/signera/exempel.pdf")).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let body = |pdf: &[u8], title: &str| {
        json!({
            "flow": "signera",
            "applicant": {"personnummer": CASE_WORKER, "name": "Tolvan Tolvansson"},
            "answers": {
                "upload": {"title": title},
                "signatories": {
                    "list": [
                        {"name": "Elva Elvasson", "personnummer": DECISION_MAKER, "email": "elva@example.se"},
                        {"name": "Tolva Tolvansson", "personnummer": OUTSIDER, "email": "tolva@example.se"}
                    ],
                    "order": "any"
                }
            },
            "hand_to": "signing",
            "document": {"name": "protokoll.pdf", "content_base64": b64(pdf)},
        })
    };
    let post = |body: Value, key: Option<&'static str>| {
        let url = format!("http://{}/api/v1/cases", app.addr);
        async move {
            let mut req = reqwest::Client::new()
                .post(url)
                .bearer_auth(FULL)
                .json(&body);
            if let Some(k) = key {
                req = req.header("Idempotency-Key", k);
            }
            let r = req.send().await.unwrap();
            let status = r.status();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            let v: Value = r.json().await.unwrap();
            (status, replayed, v)
        }
    };
    let count = || async {
        app.state
            .cases(&CaseFilter {
                flow_ids: vec!["signera".into()],
                limit: 100,
                ..CaseFilter::default()
            })
            .await
            .unwrap()
            .len()
    };

    // Hostile or missing documents: refused on `document`, nothing stored.
    let javascript = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (x) >> >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 9 9] >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";
    for (bad, code) in [
        (body(javascript, "x"), "pdf_javascript"),
        (body(&pdf[..pdf.len() / 2], "x"), "pdf_damaged"),
        (body(b"not a pdf at all", "x"), "file_type"),
        (
            {
                let mut b = body(&pdf, "x");
                b["document"]["content_base64"] = json!("***");
                b
            },
            "base64",
        ),
        (
            {
                let mut b = body(&pdf, "x");
                b.as_object_mut().unwrap().remove("document");
                b
            },
            "required",
        ),
    ] {
        let (status, _, v) = post(bad, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {v}");
        assert_eq!(v["error"]["fields"][0]["code"], code, "{v}");
        assert!(
            v["error"]["fields"][0]["path"]
                .as_str()
                .unwrap()
                .starts_with("document"),
            "{v}"
        );
    }
    let mut avtal = to_case_worker();
    avtal["document"] = json!({"name": "x.pdf", "content_base64": b64(&pdf)});
    let (status, _, v) = post(avtal, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["fields"][0]["code"], "no_upload");
    assert_eq!(count().await, 0, "nothing stored");

    // The create, and its retry.
    let title = "Protokoll, kommunstyrelsen 24 november 2026";
    let (status, replayed, first) = post(body(&pdf, title), Some("erp-4711")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert!(!replayed);
    assert_eq!(first["status"], "signing");
    let id = first["id"].as_str().unwrap().to_owned();
    let (status, replayed, again) = post(body(&pdf, title), Some("erp-4711")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert!(replayed);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(count().await, 1, "one case for two requests");
    let (status, _, other) = post(body(&pdf, "Ett annat dokument"), Some("erp-4711")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{other}");
    assert_eq!(
        other["error"]["fields"][0]["code"],
        "idempotency_key_reused"
    );
    assert_eq!(count().await, 1);

    // Both asked at once; they sign, the second first.
    let sigs = first["signatures"].as_array().unwrap();
    assert_eq!(sigs.len(), 2);
    for who in [OUTSIDER, DECISION_MAKER] {
        let mut b = app.browser();
        b.log_in(who, "/my").await;
        web::sign(&mut b, &id, who).await;
    }
    let case = app.state.case(&id).await.unwrap();
    assert_eq!(case.status, Status::Completed);

    // The webhook says so, signed.
    // Delivered by the worker, after the events before it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let completed = loop {
        if let Some(hit) = http.hits("/hook").into_iter().find(|h| {
            h.status < 300
                && h.headers.get("blankett-event").map(String::as_str) == Some("case.completed")
        }) {
            break hit;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no case.completed webhook in 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let ts = &completed.headers["blankett-timestamp"];
    let mut mac = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(SECRET.as_bytes()).unwrap();
    hmac::Mac::update(&mut mac, ts.as_bytes());
    hmac::Mac::update(&mut mac, b".");
    hmac::Mac::update(&mut mac, &completed.body);
    let expected = hex::encode(hmac::Mac::finalize(mac).into_bytes());
    assert_eq!(
        completed.headers["blankett-signature"],
        format!("sha256={expected}")
    );
    let hook: Value = serde_json::from_slice(&completed.body).unwrap();
    assert_eq!(hook["case"]["id"], json!(id));

    // The signed PDF through the API: the upload first, then the signature page; pyHanko.
    let r = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{id}/document"),
        Some(FULL),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.bytes.starts_with(&pdf), "the upload's bytes are kept");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.pdf");
    std::fs::write(&path, &r.bytes).unwrap();
    let report = std::process::Command::new(repo().join(".test-tools/venv/bin/python"))
        .arg(repo().join("engine/pades/tests/support/pyhanko_report.py"))
        .arg(&path)
        .arg(app.dir.path().join("data/dev-pki/ca.pem"))
        .output()
        .expect("pyHanko (run scripts/setup-test-tools)");
    assert!(report.status.success(), "{report:?}");
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report.as_array().unwrap().len(), 2, "{report:#}");
    for s in report.as_array().unwrap() {
        for key in ["intact", "valid", "trusted", "bottom_line"] {
            assert_eq!(s[key], true, "{key}: {report:#}");
        }
    }
}
