//! Notifications and webhooks end to end, against a local SMTP server and a local HTTP
//! receiver started by the tests: the LVU journey's messages, delivery across a killed
//! worker, two instances on one database, and a webhook receiver that fails at first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::sinks;
use crate::web;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use blankett_core::store::{Message, MessageChannel, MessageStatus, NewMessage, Store};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use sinks::{HttpSink, SmtpSink};
use web::{
    CASE_WORKER, DECISION_MAKER, Db, PgDb, TestApp, approve, f, fill_flow, fill_lvu, repo, sample,
    sample_of, sign, submit,
};

const SECRET: &str = "arkivets-hemlighet-0123456789";
const PUBLIC_URL: &str = "https://e.exempelstad.test";

/// The configuration that sends to the sinks.
fn sink_config(smtp: &SmtpSink, http: &HttpSink) -> Vec<(String, String)> {
    vec![
        ("BLANKETT__PUBLIC_URL".into(), PUBLIC_URL.into()),
        ("BLANKETT__NOTIFY__SMTP__HOST".into(), "127.0.0.1".into()),
        (
            "BLANKETT__NOTIFY__SMTP__PORT".into(),
            smtp.addr.port().to_string(),
        ),
        ("BLANKETT__NOTIFY__SMTP__SECURITY".into(), "none".into()),
        (
            "BLANKETT__NOTIFY__SMTP__FROM".into(),
            "Exempelstads kommun <noreply@exempelstad.test>".into(),
        ),
        ("BLANKETT__NOTIFY__SMS__URL".into(), http.url("/sms")),
        ("BLANKETT__NOTIFY__RETRY_BASE_MS".into(), "50".into()),
        ("BLANKETT__NOTIFY__POLL_MS".into(), "50".into()),
        (
            "BLANKETT__WEBHOOKS".into(),
            format!(
                "[{{name = \"arkiv\", url = \"{}\", secret = \"{SECRET}\"}}]",
                http.url("/hook")
            ),
        ),
        (
            "BLANKETT__DIRECTORY".into(),
            "[{personnummer = \"197701172392\", email = \"handlaggare@exempelstad.test\", phone = \"+46701740612\"}, \
              {personnummer = \"189001019802\", email = \"beslutsfattare@exempelstad.test\", phone = \"+46701740611\"}]"
                .into(),
        ),
    ]
}

fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Waits until every message in the outbox is sent (at most `secs` seconds).
async fn all_sent(store: &dyn Store, expected: usize, secs: u64) -> Vec<Message> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let list = store.list_messages(None, 500).await.unwrap();
        if list.len() == expected && list.iter().all(|m| m.status == MessageStatus::Sent) {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all sent in {secs} s: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every string of the answers that is not also part of the e-service's or the site's name.
fn answer_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.chars().count() >= 6 => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| answer_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| answer_strings(x, out)),
        _ => {}
    }
}

fn hmac_hex(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn lvu_journey_notifies(db: Db) {
    let smtp = SmtpSink::start().await;
    // The webhook receiver fails the first two attempts of every delivery.
    let http = HttpSink::start(2).await;
    let app = TestApp::start_with(db, &refs(&sink_config(&smtp, &http))).await;
    blankett_web::app::notify::worker::spawn(app.state.core.clone()).unwrap();

    // The case worker fills, submits, approves and signs; the decision-maker signs.
    let mut worker = app.browser();
    let id = fill_lvu(&mut worker).await;
    submit(&mut worker, &id).await;
    assert_eq!(approve(&mut worker, &id).await, format!("/cases/{id}/sign"));
    sign(&mut worker, &id, CASE_WORKER).await;
    let mut maker = app.browser();
    maker.log_in(DECISION_MAKER, "/my").await;
    sign(&mut maker, &id, DECISION_MAKER).await;

    // Exactly these messages, each delivered once.
    smtp.wait_for(4, 60).await;
    http.wait_for_ok(2 + 5, 60).await;
    let sent = all_sent(app.state.store().as_ref(), 4 + 2 + 5, 60).await;
    let got: BTreeSet<(MessageChannel, String, String)> = sent
        .iter()
        .map(|m| (m.channel, m.topic.to_string(), m.recipient.clone()))
        .collect();
    let want: BTreeSet<(MessageChannel, String, String)> = [
        (
            MessageChannel::Email,
            "signature_requested",
            "handlaggare@exempelstad.test",
        ),
        (MessageChannel::Sms, "signature_requested", "+46701740612"),
        (
            MessageChannel::Email,
            "signature_requested",
            "beslutsfattare@exempelstad.test",
        ),
        (MessageChannel::Sms, "signature_requested", "+46701740611"),
        (
            MessageChannel::Email,
            "completed",
            "handlaggare@exempelstad.test",
        ),
        (
            MessageChannel::Email,
            "completed",
            "beslutsfattare@exempelstad.test",
        ),
        (MessageChannel::Webhook, "case.submitted", "arkiv"),
        (MessageChannel::Webhook, "case.approved", "arkiv"),
        (MessageChannel::Webhook, "case.signed", "arkiv"),
        (MessageChannel::Webhook, "case.completed", "arkiv"),
    ]
    .into_iter()
    .map(|(c, t, r)| (c, t.to_owned(), r.to_owned()))
    .collect();
    assert_eq!(got, want, "{sent:?}");
    let signed = sent.iter().filter(|m| m.topic == "case.signed").count();
    assert_eq!(signed, 2, "one case.signed per signature");
    assert_eq!(sent.len(), 11);

    // The mails: one per message, to its recipient, carrying its key as Message-ID.
    let by_key: BTreeMap<&str, &Message> = sent.iter().map(|m| (m.key.as_str(), m)).collect();
    let mails = smtp.mails();
    assert_eq!(mails.len(), 4, "no mail twice: {mails:?}");
    for mail in &mails {
        let key = mail
            .message_id
            .trim_start_matches('<')
            .trim_end_matches("@blankett>");
        let m = by_key
            .get(key)
            .unwrap_or_else(|| panic!("unknown {}", mail.message_id));
        assert_eq!(mail.to, vec![m.recipient.clone()]);
    }
    // The SMS gateway got JSON with the number and the key.
    let sms = http.hits("/sms");
    assert_eq!(sms.len(), 2);
    for hit in &sms {
        let body: Value = serde_json::from_slice(&hit.body).unwrap();
        let m = by_key[hit.headers["idempotency-key"].as_str()];
        assert_eq!(body["to"], json!(m.recipient));
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .contains(&format!("{PUBLIC_URL}/cases/{id}/sign"))
        );
    }

    // The messages say where to go and which e-service, never what the case is about.
    let flow = app.state.flow("lvu-6").unwrap();
    let mut secrets = Vec::new();
    answer_strings(&sample(), &mut secrets);
    secrets.retain(|s| {
        !flow.title.sv.contains(s.as_str())
            && !flow.title.en.contains(s.as_str())
            && !app.state.config.site.name.contains(s.as_str())
    });
    for m in sent.iter().filter(|m| m.channel != MessageChannel::Webhook) {
        let text = m.payload.to_string();
        assert!(text.contains(PUBLIC_URL), "{text}");
        assert!(text.contains(&flow.title.sv), "{text}");
        for pnr in [
            CASE_WORKER,
            DECISION_MAKER,
            "19770117-2392",
            "18900101-9802",
        ] {
            assert!(!text.contains(pnr), "a personnummer in a message: {text}");
        }
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "case content `{s}` in a message: {text}"
            );
        }
        assert!(
            !text.contains("Tolvan") && !text.contains("Elva"),
            "a name: {text}"
        );
    }

    // The webhook: three attempts each, the last accepted; every signature verifies, and each
    // event was accepted once.
    let hooks = http.hits("/hook");
    assert_eq!(hooks.len(), 5 * 3, "two failures and a success per event");
    let mut accepted = BTreeMap::new();
    for hit in &hooks {
        let ts = &hit.headers["blankett-timestamp"];
        let sig = &hit.headers["blankett-signature"];
        assert_eq!(
            sig,
            &format!("sha256={}", hmac_hex(SECRET, ts, &hit.body)),
            "HMAC"
        );
        assert!(hmac_hex("another-secret-0123456789", ts, &hit.body) != sig[7..]);
        let body: Value = serde_json::from_slice(&hit.body).unwrap();
        assert_eq!(body["id"], json!(hit.headers["blankett-delivery"]));
        assert_eq!(body["type"], json!(hit.headers["blankett-event"]));
        assert_eq!(body["case"]["id"], json!(id));
        if hit.status < 300 {
            *accepted
                .entry(hit.headers["blankett-delivery"].clone())
                .or_insert(0) += 1;
        }
    }
    assert_eq!(accepted.len(), 5);
    assert!(accepted.values().all(|n| *n == 1), "{accepted:?}");
    let attempts: Vec<u32> = sent
        .iter()
        .filter(|m| m.channel == MessageChannel::Webhook)
        .map(|m| m.attempts)
        .collect();
    assert_eq!(attempts, vec![3; 5], "retried with backoff");
}

#[tokio::test]
async fn the_lvu_journey_sends_exactly_the_expected_messages_on_sqlite() {
    lvu_journey_notifies(Db::Sqlite).await;
}

#[tokio::test]
async fn the_lvu_journey_sends_exactly_the_expected_messages_on_postgres() {
    lvu_journey_notifies(Db::Postgres).await;
}

fn email(key: &str, to: &str) -> NewMessage {
    NewMessage {
        key: key.to_owned(),
        channel: MessageChannel::Email,
        recipient: to.to_owned(),
        topic: blankett_core::store::Topic::parse("signature_requested").unwrap(),
        case_id: None,
        payload: json!({"subject": "Ämne", "text": "Text"}),
        not_before: blankett_web::clock::Timestamp::from_utc(blankett_web::clock::now_utc()),
    }
}

/// `blankett serve` as a process, killed when dropped.
struct Server(Child);

impl Server {
    fn start(vars: &[(String, String)]) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_blankett"))
            .arg("serve")
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Server(child)
    }

    /// SIGKILL: no clean-up of any kind.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn killed_worker_loses_nothing_and_sends_nothing_twice(db: Db) {
    let smtp = SmtpSink::start().await;
    let http = HttpSink::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let pg;
    let url = match db {
        Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display()),
        Db::Postgres => {
            pg = PgDb::create();
            pg.url()
        }
    };
    let store = blankett_store::SeaStore::connect(&url).await.unwrap();
    let keys = ["k-first", "k-second", "k-third"];
    let batch: Vec<NewMessage> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| email(k, &format!("person{i}@exempelstad.test")))
        .collect();
    assert_eq!(store.enqueue(&batch).await.unwrap(), 3);
    assert_eq!(
        store.enqueue(&batch).await.unwrap(),
        0,
        "a key is written once"
    );

    let mut vars = sink_config(&smtp, &http);
    vars.extend([
        ("BLANKETT__DATABASE_URL".to_owned(), url.clone()),
        (
            "BLANKETT__DEFINITIONS".to_owned(),
            format!(
                "[\"{}\", \"{}\"]",
                repo().join("flows").display(),
                repo().join("form-defs").display()
            ),
        ),
        (
            "BLANKETT__DATA_DIR".to_owned(),
            format!("\"{}\"", dir.path().join("data").display()),
        ),
        ("BLANKETT__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("BLANKETT__NOTIFY__LEASE_SECS".to_owned(), "1".to_owned()),
    ]);

    // The first server takes the first message to the SMTP server, which holds its reply;
    // the server is killed there, before it could record anything.
    smtp.stall_next();
    let first = Server::start(&vars);
    smtp.wait_stalled(120).await;
    first.kill();
    assert!(
        smtp.mails().is_empty(),
        "nothing was accepted before the kill"
    );

    // A new server takes over once the dead one's hold runs out, and sends everything once.
    let _second = Server::start(&vars);
    smtp.wait_for(3, 120).await;
    let sent = all_sent(&store, 3, 60).await;
    let mails = smtp.mails();
    let ids: BTreeSet<String> = mails.iter().map(|m| m.message_id.clone()).collect();
    let want: BTreeSet<String> = keys.iter().map(|k| format!("<{k}@blankett>")).collect();
    assert_eq!(ids, want, "every message arrived");
    assert_eq!(mails.len(), 3, "and none twice: {mails:?}");
    let first_attempts = sent.iter().find(|m| m.key == "k-first").unwrap().attempts;
    assert_eq!(
        first_attempts, 2,
        "the killed attempt and the one that went through"
    );
}

#[tokio::test]
async fn a_killed_worker_loses_no_message_and_sends_none_twice_on_sqlite() {
    killed_worker_loses_nothing_and_sends_nothing_twice(Db::Sqlite).await;
}

#[tokio::test]
async fn a_killed_worker_loses_no_message_and_sends_none_twice_on_postgres() {
    killed_worker_loses_nothing_and_sends_nothing_twice(Db::Postgres).await;
}

async fn two_instances_send_each_message_once(db: Db) {
    let smtp = SmtpSink::start().await;
    let http = HttpSink::start(0).await;
    let vars = sink_config(&smtp, &http);
    let a = TestApp::start_with(db, &refs(&vars)).await;
    let b = a.second_instance_with(&refs(&vars)).await;
    let batch: Vec<NewMessage> = (0..60)
        .map(|i| email(&format!("many-{i}"), &format!("p{i}@exempelstad.test")))
        .collect();
    a.state.store().enqueue(&batch).await.unwrap();
    blankett_web::app::notify::worker::spawn(a.state.core.clone()).unwrap();
    blankett_web::app::notify::worker::spawn(b.state.core.clone()).unwrap();
    smtp.wait_for(60, 120).await;
    let sent = all_sent(a.state.store().as_ref(), 60, 60).await;
    let mails = smtp.mails();
    let ids: BTreeSet<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(ids.len(), 60, "every message arrived");
    assert_eq!(mails.len(), 60, "none twice");
    assert!(
        sent.iter().all(|m| m.attempts == 1),
        "no message was taken twice"
    );
}

#[tokio::test]
async fn two_instances_on_one_sqlite_file_send_each_message_once() {
    two_instances_send_each_message_once(Db::Sqlite).await;
}

#[tokio::test]
async fn two_instances_on_one_postgres_send_each_message_once() {
    two_instances_send_each_message_once(Db::Postgres).await;
}

#[tokio::test]
async fn a_receiver_that_never_accepts_is_given_up_and_shown_to_administrators() {
    let smtp = SmtpSink::start().await;
    let http = HttpSink::start(usize::MAX).await;
    let mut vars = sink_config(&smtp, &http);
    vars.push(("BLANKETT__NOTIFY__MAX_ATTEMPTS".into(), "3".into()));
    let app = TestApp::start_with(Db::Sqlite, &refs(&vars)).await;
    let now = blankett_web::clock::Timestamp::from_utc(blankett_web::clock::now_utc());
    let hook = NewMessage {
        key: "hook-1".into(),
        channel: MessageChannel::Webhook,
        recipient: "arkiv".into(),
        topic: blankett_core::store::Topic::parse("case.completed").unwrap(),
        case_id: None,
        payload: json!({"id": "hook-1", "type": "case.completed"}),
        not_before: now,
    };
    app.state.store().enqueue(&[hook]).await.unwrap();
    blankett_web::app::notify::worker::spawn(app.state.core.clone()).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let failed = loop {
        let list = app
            .state
            .store()
            .list_messages(Some(MessageStatus::Failed), 10)
            .await
            .unwrap();
        if let Some(m) = list.into_iter().next() {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "never given up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(failed.attempts, 3);
    assert_eq!(failed.last_error.as_deref(), Some("webhook: HTTP 500"));
    assert_eq!(http.hits("/hook").len(), 3);

    // The administrator (a case worker of every unit) sees it; nobody else does.
    let mut admin = app.browser();
    admin.log_in(CASE_WORKER, "/outbox").await;
    let page = admin.get("/outbox").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html().contains("case.completed"), "{}", page.body);
    assert!(page.html().contains("webhook: HTTP 500"), "{}", page.body);
    let mut other = app.browser();
    other.log_in(DECISION_MAKER, "/").await;
    assert_eq!(other.get("/outbox").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_late_signature_is_reminded_once_and_an_expired_request_tells_the_case_worker() {
    let smtp = SmtpSink::start().await;
    let http = HttpSink::start(0).await;
    let app = TestApp::start_with(Db::Sqlite, &refs(&sink_config(&smtp, &http))).await;
    let mut worker = app.browser();
    let id = fill_lvu(&mut worker).await;
    submit(&mut worker, &id).await;
    approve(&mut worker, &id).await;
    let topics = |list: &[Message], topic: &str| -> Vec<String> {
        list.iter()
            .filter(|m| m.topic == topic)
            .map(|m| m.recipient.clone())
            .collect()
    };

    // Not yet a day without a signature (lvu-6 reminds after 1d): nothing.
    blankett_web::app::notify::worker::sweep(&app.state)
        .await
        .unwrap();
    let list = app.state.store().list_messages(None, 100).await.unwrap();
    assert!(topics(&list, "reminder").is_empty());

    // A day and a half later (the clock stepped, not waited for): one reminder to the signer,
    // however many sweeps (or instances) run.
    app.clock.advance(chrono::Duration::hours(36));
    blankett_web::app::notify::worker::sweep(&app.state)
        .await
        .unwrap();
    blankett_web::app::notify::worker::sweep(&app.state)
        .await
        .unwrap();
    let list = app.state.store().list_messages(None, 100).await.unwrap();
    assert_eq!(
        topics(&list, "reminder"),
        vec!["handlaggare@exempelstad.test"]
    );

    // Past the two days lvu-6 gives: the request is expired by the server, and the case
    // worker is told.
    app.clock.advance(chrono::Duration::hours(13));
    blankett_web::app::notify::worker::sweep(&app.state)
        .await
        .unwrap();
    let c = app.state.store().get_case(&id).await.unwrap().unwrap();
    assert_eq!(c.status, blankett_core::case::Status::SigningExpired);
    let events = app.state.store().events(&id).await.unwrap();
    let last = events.last().unwrap();
    assert!(matches!(
        last.kind,
        blankett_core::case::EventKind::SigningExpired(_)
    ));
    assert_eq!(
        (last.actor_role.to_string().as_str(), last.actor.is_none()),
        ("system", true)
    );
    let list = app.state.store().list_messages(None, 100).await.unwrap();
    assert_eq!(
        topics(&list, "signing_expired"),
        vec!["handlaggare@exempelstad.test"]
    );
    // A second sweep changes nothing more.
    blankett_web::app::notify::worker::sweep(&app.state)
        .await
        .unwrap();
    assert_eq!(
        app.state
            .store()
            .list_messages(None, 100)
            .await
            .unwrap()
            .len(),
        list.len()
    );
}

#[tokio::test]
async fn a_returned_claim_tells_the_citizen_at_the_address_the_flow_names() {
    let smtp = SmtpSink::start().await;
    let http = HttpSink::start(0).await;
    let app = TestApp::start_with(Db::Sqlite, &refs(&sink_config(&smtp, &http))).await;

    // A representative (the citizen) fills in the claim and sends it.
    let mut citizen = app.browser();
    citizen.log_in(DECISION_MAKER, "/").await;
    let id = fill_flow(&mut citizen, "arvode", &sample_of("arvode")).await;
    submit(&mut citizen, &id).await;

    // The unit's case worker is told; they take the case and return it with a comment.
    let list = app.state.store().list_messages(None, 100).await.unwrap();
    let to: Vec<(&str, &str)> = list
        .iter()
        .filter(|m| m.channel == MessageChannel::Email)
        .map(|m| (m.topic.as_str(), m.recipient.as_str()))
        .collect();
    assert_eq!(to, vec![("submitted", "handlaggare@exempelstad.test")]);
    let mut worker = app.browser();
    worker.log_in(CASE_WORKER, "/inbox").await;
    let case = worker.get(&format!("/cases/{id}")).await;
    worker
        .post(
            &format!("/cases/{id}/assign"),
            &[f("_csrf", &case.csrf()), f("_revision", &case.revision())],
        )
        .await;
    let case = worker.get(&format!("/cases/{id}")).await;
    let returned = worker
        .post(
            &format!("/cases/{id}/return"),
            &[
                f("_csrf", &case.csrf()),
                f("_revision", &case.revision()),
                f("comment", "Bifoga kallelsen till sammanträdet den 3 mars."),
            ],
        )
        .await;
    assert_eq!(returned.status, StatusCode::SEE_OTHER, "{}", returned.body);

    // The citizen is told at the address they gave in the claim; the comment stays in the
    // service.
    let list = app.state.store().list_messages(None, 100).await.unwrap();
    let m = list
        .iter()
        .find(|m| m.topic == "returned")
        .expect("a returned message");
    assert_eq!(m.recipient, "elva@example.se");
    let text = m.payload.to_string();
    assert!(text.contains(&format!("{PUBLIC_URL}/my")), "{text}");
    assert!(
        !text.contains("kallelsen"),
        "the comment is not in the message: {text}"
    );
}
