//! The person in front of the screen, over real HTTP: Enter saves and never removes, a removal
//! can be undone, failed logins say why, the flow's sign text reaches the signing page and
//! BankID, the applicant is told at the flow's contact address, the case page's error links
//! lead to the field, labels do not mislead, questions appear with the server's own rules,
//! the download and the receipt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::bankid_server;
use crate::web;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use web::{
    Browser, CASE_WORKER, DECISION_MAKER, Db, OUTSIDER, TestApp, approve, f, fill_flow, fill_lvu,
    form_fields, repo, sample, sample_of, submit,
};

/// Starts `flow` as the logged-in person; returns the case id and the first step's path.
async fn start(b: &mut Browser, flow: &str) -> (String, String) {
    let home = b.get("/").await;
    let started = b
        .post(&format!("/e/{flow}/start"), &[f("_csrf", &home.csrf())])
        .await;
    let at = started.location().to_owned();
    (at.split('/').nth(2).unwrap().to_owned(), at)
}

/// The `name=value` of every submit button of the page's step form, in page order.
fn submit_buttons(html: &str) -> Vec<String> {
    let form = html
        .split("<form method=\"post\" action=\"/cases/")
        .nth(1)
        .unwrap();
    let form = form.split("</form>").next().unwrap();
    form.split("<button")
        .skip(1)
        .filter(|b| b.contains("type=\"submit\""))
        .map(|b| {
            let v = b
                .split("value=\"")
                .nth(1)
                .unwrap_or("")
                .split('"')
                .next()
                .unwrap();
            v.to_owned()
        })
        .collect()
}

#[tokio::test]
async fn enter_saves_and_a_removed_item_can_be_put_back() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    b.log_in(OUTSIDER, "/").await;
    let (id, _) = start(&mut b, "arvode").await;
    // Two meetings on the meetings step.
    let meetings = format!("/cases/{id}/steps/meetings");
    let mut answers = sample_of("arvode")["meetings"].clone();
    let items = answers["items"].as_array().unwrap().clone();
    answers["items"] = Value::Array(items[..2].to_vec());
    let page = b.get(&meetings).await;
    let mut form = vec![
        f("_csrf", &page.csrf()),
        f("_revision", &page.revision()),
        f("_action", "save"),
    ];
    form_fields("", &answers, &mut form);
    let saved = b.post(&meetings, &form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);

    // Enter in a field presses the form's first submit button: it saves and goes on.
    let page = b.get(&meetings).await;
    let buttons = submit_buttons(&page.html());
    assert_eq!(
        buttons.first().map(String::as_str),
        Some("next"),
        "{buttons:?}"
    );
    assert!(buttons.iter().any(|v| v.starts_with("remove:items.")));

    // A removal says what went, and "Ångra" puts it back where it was.
    let removed = b
        .post(
            &meetings,
            &[
                f("_csrf", &page.csrf()),
                f("_revision", &page.revision()),
                f("_action", "remove:items.0"),
            ]
            .into_iter()
            .chain({
                let mut v = Vec::new();
                form_fields("", &answers, &mut v);
                v
            })
            .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let page = b.get(&meetings).await;
    let html = page.html();
    assert!(html.contains("Sammanträde 1 togs bort"), "{html}");
    assert!(html.contains("value=\"undo-remove\""), "{html}");
    let case = app.state.store().get_case(&id).await.unwrap().unwrap();
    assert_eq!(
        case.answers["meetings"]["items"].as_array().unwrap().len(),
        1
    );
    let mut form = vec![
        f("_csrf", &page.csrf()),
        f("_revision", &page.revision()),
        f("_action", "undo-remove"),
    ];
    let mut left = answers.clone();
    left["items"] = Value::Array(items[1..2].to_vec());
    form_fields("", &left, &mut form);
    let undone = b.post(&meetings, &form).await;
    assert_eq!(undone.status, StatusCode::SEE_OTHER);
    let case = app.state.store().get_case(&id).await.unwrap().unwrap();
    let back = case.answers["meetings"]["items"].as_array().unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0]["body"], items[0]["body"], "back in its place");
    let page = b.get(&meetings).await;
    assert!(page.html().contains("Sammanträde 1 är tillbaka"));
    assert!(!page.html().contains("value=\"undo-remove\""));
}

#[tokio::test]
async fn a_cancelled_login_says_so_on_the_login_page_and_the_login_link_never_nests() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    let login = b.get("/login?next=%2Fmy").await;
    assert!(
        login.html().contains("href=\"/login?next=/my\""),
        "the header's link keeps the destination: {}",
        login.body
    );
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
    let cancelled = b
        .post(&at, &[f("_csrf", &page.csrf()), f("decision", "cancel")])
        .await;
    let (landed, shown) = b.follow(cancelled).await;
    assert!(landed.starts_with("/login"), "{landed}");
    assert!(shown.html().contains("Åtgärden avbruten"), "{}", shown.body);

    // Cancelling on the waiting page says so too.
    let login = b.get("/login?next=%2Fmy").await;
    b.post(
        "/login/start",
        &[
            f("_csrf", &login.csrf()),
            f("provider", "test"),
            f("next", "/my"),
        ],
    )
    .await;
    let wait = b.get("/eid/wait").await;
    let cancelled = b.post("/eid/cancel", &[f("_csrf", &wait.csrf())]).await;
    let (_, shown) = b.follow(cancelled).await;
    assert!(shown.html().contains("avbröts"), "{}", shown.body);
}

/// A server with BankID (the local RP API server) and the test eID.
async fn with_bankid(dir: &std::path::Path) -> (TestApp, bankid_server::TestServer) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pki = bankid_server::Pki::new();
    let server = bankid_server::TestServer::start(&pki.server, &pki.client_ca).await;
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
            ("BLANKETT__PUBLIC_URL", "https://e.exempelstad.test"),
        ],
    )
    .await;
    (app, server)
}

#[tokio::test]
async fn the_flows_sign_text_is_shown_and_sent_to_bankid_with_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let (app, server) = with_bankid(dir.path()).await;
    let mut b = app.browser();
    let id = fill_lvu(&mut b).await;
    submit(&mut b, &id).await;
    approve(&mut b, &id).await;
    // BankID answers "complete" at the first collect.
    server.set_script(bankid_server::Script {
        pending: vec![],
        ..Default::default()
    });
    let sign = b.get(&format!("/cases/{id}/sign")).await;
    let html = sign.html();
    // lvu-6's signing.message: "Jag undertecknar {{ document.title }}, ärende {{ case.number }},
    // som {{ signer.label }}."
    assert!(html.contains("Jag undertecknar"), "{html}");
    assert!(html.contains("som Föredragande"), "{html}");
    let sha = sign.input("sha256").unwrap();
    assert!(html.contains(&sha));
    let started = b
        .post(
            &format!("/cases/{id}/sign/start"),
            &[
                f("_csrf", &sign.csrf()),
                f("_revision", &sign.revision()),
                f("sha256", &sha),
                f("provider", "bankid:same-device"),
            ],
        )
        .await;
    assert_eq!(started.location(), "/eid/wait");
    let sent = server
        .requests()
        .into_iter()
        .find(|r| r.path == "sign")
        .unwrap();
    let visible = base64::engine::general_purpose::STANDARD
        .decode(sent.body["userVisibleData"].as_str().unwrap())
        .unwrap();
    let visible = String::from_utf8(visible).unwrap();
    assert!(visible.contains("Jag undertecknar"), "{visible}");
    assert!(visible.contains("som Föredragande"), "{visible}");
    assert!(
        visible.contains(&sha),
        "the digest is always there: {visible}"
    );
    assert_eq!(sent.body["userVisibleDataFormat"], "simpleMarkdownV1");
    assert_eq!(
        sent.body["returnUrl"], "https://e.exempelstad.test/eid/wait",
        "a phone returns to the browser"
    );

    // The signer approves; the evidence keeps the text they approved.
    let status = b.get("/eid/status").await;
    let status: Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(status["done"], true, "{status}");
    let evidence = app.state.store().signature_evidence(&id).await.unwrap();
    assert_eq!(evidence.len(), 1);
    let kept = &evidence[0].evidence.attributes["user_visible_data"];
    assert_eq!(*kept, visible, "the evidence holds what BankID showed");
}

#[tokio::test]
async fn the_applicant_who_signs_is_told_at_the_flows_contact_address() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut citizen = app.browser();
    citizen.log_in(OUTSIDER, "/").await;
    let answers = sample_of("arvode");
    let id = fill_flow(&mut citizen, "arvode", &answers).await;
    submit(&mut citizen, &id).await;
    let mut worker = app.browser();
    worker.log_in(CASE_WORKER, "/").await;
    let case = worker.get(&format!("/cases/{id}")).await;
    let assigned = worker
        .post(
            &format!("/cases/{id}/assign"),
            &[f("_csrf", &case.csrf()), f("_revision", &case.revision())],
        )
        .await;
    assert_eq!(assigned.status, StatusCode::SEE_OTHER);
    let mut attest = sample_of("arvode")["attest"].clone();
    if attest.is_null() {
        attest = json!({});
    }
    let step = format!("/cases/{id}/steps/attest");
    let page = worker.get(&step).await;
    if page.status == StatusCode::OK {
        let mut form = vec![
            f("_csrf", &page.csrf()),
            f("_revision", &page.revision()),
            f("_action", "next"),
        ];
        form_fields("", &attest, &mut form);
        worker.post(&step, &form).await;
    }
    approve(&mut worker, &id).await;
    let contact = answers["claimant"]["contact"]["email"].as_str().unwrap();
    let messages = app.state.store().list_messages(None, 100).await.unwrap();
    assert!(
        messages
            .iter()
            .any(|m| m.topic == "signature_requested" && m.recipient == contact),
        "the signing request goes to {contact}: {:?}",
        messages
            .iter()
            .map(|m| (&m.topic, &m.recipient))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn labels_and_values_say_what_they_are() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    b.log_in(OUTSIDER, "/").await;
    let id = fill_flow(&mut b, "arvode", &sample_of("arvode")).await;
    // A computed amount is a value, formatted as the document formats it; not an input.
    let confirm = b.get(&format!("/cases/{id}/steps/confirm")).await;
    let html = confirm.html();
    assert!(html.contains("class=\"computed-value\""), "{html}");
    assert!(html.contains("5\u{a0}705,00"), "{html}");
    assert!(!html.contains("name=\"total\""), "{html}");
    // On the review page it is shown the same, and not offered for change.
    let review = b.get(&format!("/cases/{id}/review")).await;
    let html = review.html();
    assert!(html.contains("5\u{a0}705,00"), "{html}");
    let total_row = html
        .split("<div class=\"summary-row\">")
        .find(|r| r.contains("5\u{a0}705,00"))
        .unwrap();
    assert!(!total_row.contains(">Ändra<"), "{total_row}");
    // A field required under a condition is not called optional.
    let earnings = b.get(&format!("/cases/{id}/steps/earnings")).await;
    let sources = blankett_web::defs_fs::read(&[repo().join("flows/arvode")]);
    let (defs, _) = blankett_core::load(&sources);
    let flow = defs.flow("arvode").unwrap();
    for step in &flow.steps {
        for field in &step.fields {
            if field.required_if.is_some() {
                let page = b.get(&format!("/cases/{id}/steps/{}", step.id)).await;
                let label = page
                    .html()
                    .split(&format!("for=\"f-{}\"", field.id))
                    .nth(1)
                    .map(|s| s.split("</label>").next().unwrap().to_owned());
                if let Some(label) = label {
                    assert!(!label.contains("frivilligt"), "{}: {label}", field.id);
                }
            }
        }
    }
    assert_eq!(earnings.status, StatusCode::OK);
}

#[tokio::test]
async fn the_case_pages_errors_lead_to_the_field_and_the_download_has_the_flows_name() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    b.log_in(CASE_WORKER, "/").await;
    let mut answers = sample();
    // The decision maker's name left out: the approval is refused and says where.
    answers["decision"]["maker"]["name"] = json!("");
    let (id, _) = start(&mut b, "lvu-6").await;
    for step in ["matter", "child", "grounds", "placement", "decision"] {
        let at = format!("/cases/{id}/steps/{step}");
        let page = b.get(&at).await;
        let mut form = vec![
            f("_csrf", &page.csrf()),
            f("_revision", &page.revision()),
            f("_action", "save"),
        ];
        form_fields("", &answers[step], &mut form);
        b.post(&at, &form).await;
    }
    let review = b.get(&format!("/cases/{id}/review")).await;
    assert!(
        review
            .html()
            .contains(&format!("href=\"/cases/{id}/steps/decision#f-maker-name\"")),
        "{}",
        review.body
    );
    assert!(
        !review.html().contains("href=\"#/cases/"),
        "{}",
        review.body
    );

    // A complete case: the document downloads under the flow's own file name.
    let id = fill_lvu(&mut b).await;
    submit(&mut b, &id).await;
    approve(&mut b, &id).await;
    let r = b
        .client
        .get(format!("{}/cases/{id}/document", b.base))
        .send()
        .await
        .unwrap();
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cd.contains("lvu-6-beslut-"), "{cd}");
    assert!(cd.contains("filename*=UTF-8''lvu-6-beslut-"), "{cd}");
}

#[tokio::test]
async fn questions_appear_with_the_servers_own_rules_as_every_flow_test_expects() {
    let app = TestApp::start(Db::Sqlite).await;
    let sources = blankett_web::defs_fs::read(&[repo().join("flows"), repo().join("form-defs")]);
    let (defs, _) = blankett_core::load(&sources);
    let mut checked = 0;
    let mut other_role = 0;
    for flow in &defs.flows {
        let src = sources
            .flows
            .iter()
            .find(|s| s.dir.ends_with(&flow.id))
            .unwrap();
        for (name, text) in &src.files {
            if !name.starts_with("tests/") {
                continue;
            }
            for doc in String::from_utf8_lossy(text).split("\n---") {
                let test: serde_json::Value = match serde_yaml_like(doc) {
                    Some(v) => v,
                    None => continue,
                };
                let expect = &test["expect"];
                if expect["visible"].is_null() && expect["hidden"].is_null() {
                    continue;
                }
                let who = if flow
                    .def
                    .start
                    .contains(&blankett_core::def::Starter::CaseWorker)
                {
                    CASE_WORKER
                } else {
                    DECISION_MAKER
                };
                let mut b = app.browser();
                b.log_in(who, "/").await;
                let (id, _) = start(&mut b, &flow.id).await;
                let answers = &test["answers"];
                // Every step's answers as a draft, then each step asked as the page asks.
                for step in &flow.steps {
                    let Some(a) = answers.get(&step.id) else {
                        continue;
                    };
                    let at = format!("/cases/{id}/steps/{}", step.id);
                    let page = b.get(&at).await;
                    if page.status != StatusCode::OK {
                        continue;
                    }
                    let mut form = vec![
                        f("_csrf", &page.csrf()),
                        f("_revision", &page.revision()),
                        f("_action", "save"),
                    ];
                    form_fields("", a, &mut form);
                    b.post(&at, &form).await;
                }
                for (key, shown) in [("visible", true), ("hidden", false)] {
                    for path in expect[key].as_array().into_iter().flatten() {
                        let path = path.as_str().unwrap();
                        let (step, rel) = path.split_once('.').unwrap();
                        let at = format!("/cases/{id}/steps/{step}");
                        let page = b.get(&at).await;
                        if page.status != StatusCode::OK {
                            // Only a step for another role (an attest after submission) is
                            // out of the filling person's reach.
                            let by = &flow.step(step).unwrap().by;
                            assert_ne!(
                                *by,
                                blankett_core::model::Role::Applicant,
                                "{} › {name}: {at} answered {}",
                                flow.id,
                                page.status
                            );
                            other_role += 1;
                            continue;
                        }
                        let mut form = vec![f("_csrf", &page.csrf())];
                        form_fields("", &answers[step], &mut form);
                        let r = b.post(&format!("{at}/visibility"), &form).await;
                        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                        let v: Value = serde_json::from_str(&r.body).unwrap();
                        let hidden = v["hidden"].as_array().unwrap().iter().any(|h| {
                            h.as_str() == Some(rel)
                                || rel.starts_with(&format!("{}.", h.as_str().unwrap()))
                        });
                        assert_eq!(
                            !hidden, shown,
                            "{} › {name}: {path} should be {key}",
                            flow.id
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "{checked} visibility expectations checked through the page, {other_role} on steps for another role"
    );
    assert!(checked >= 10, "{checked} expectations checked");
}

#[tokio::test]
async fn a_question_the_script_showed_and_the_person_answered_is_not_new() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    b.log_in(CASE_WORKER, "/").await;
    let (id, _) = start(&mut b, "lvu-6").await;
    let at = format!("/cases/{id}/steps/grounds");
    let post = |page: &web::Page, seen: Option<&str>| {
        let mut form = vec![
            f("_csrf", &page.csrf()),
            f("_revision", &page.revision()),
            f("grounds", "3"),
            f("behaviour", "Beskrivning av beteendet."),
            f("court_cannot_wait", "Skäl."),
            f("childs_view", "Den unges inställning."),
        ];
        if let Some(s) = seen {
            form.push(f("_seen", s));
        }
        form
    };
    // Without the script: the save revealed "behaviour", so the page stays and says so.
    let page = b.get(&at).await;
    let r = b.post(&at, &post(&page, None)).await;
    assert_eq!(r.location(), at, "{}", r.body);
    // The answers are kept; back to a state where "behaviour" was hidden.
    let page = b.get(&at).await;
    let mut form = vec![
        f("_csrf", &page.csrf()),
        f("_revision", &page.revision()),
        f("_action", "save"),
    ];
    form.push(f("grounds", "2"));
    b.post(&at, &form).await;
    // With the script, which showed it and says so: the save goes on.
    let page = b.get(&at).await;
    let r = b
        .post(
            &at,
            &post(&page, Some("grounds\nbehaviour\ncourt_cannot_wait")),
        )
        .await;
    let next = r.location();
    assert!(
        next != at && next.starts_with(&format!("/cases/{id}/")),
        "{next}: {}",
        r.body
    );
}

/// A flow test document (YAML) as JSON, read with the core's own YAML reader.
fn serde_yaml_like(text: &str) -> Option<Value> {
    let mut diags = blankett_core::Diagnostics::new();
    let docs = blankett_core::yaml::parse("test.yaml", text, &mut diags)?;
    docs.into_iter().next().map(|d| d.value)
}

#[tokio::test]
async fn the_receipt_is_a_pdf_of_what_was_sent() {
    let app = TestApp::start(Db::Sqlite).await;
    let mut b = app.browser();
    b.log_in(OUTSIDER, "/").await;
    let answers = sample_of("arvode");
    let id = fill_flow(&mut b, "arvode", &answers).await;
    let r = b
        .client
        .get(format!("{}/cases/{id}/receipt.pdf", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a draft has no receipt");
    submit(&mut b, &id).await;
    let receipt = b.get(&format!("/cases/{id}/receipt")).await;
    assert!(receipt.html().contains(&format!("/cases/{id}/receipt.pdf")));
    let my = b.get("/my").await;
    assert!(my.html().contains(&format!("/cases/{id}/receipt.pdf")));
    let r = b
        .client
        .get(format!("{}/cases/{id}/receipt.pdf", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let pdf = r.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("receipt.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let text = std::process::Command::new("pdftotext")
        .args([file.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Kvitto"), "{text}");
    let assignment = answers["claimant"]["assignment"].as_str().unwrap();
    let first_word = assignment.split_whitespace().next().unwrap();
    assert!(text.contains(first_word), "{text}");
    // Someone else's receipt is not theirs to see.
    let mut other = app.browser();
    other.log_in(DECISION_MAKER, "/").await;
    let r = other
        .client
        .get(format!("{}/cases/{id}/receipt.pdf", other.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
