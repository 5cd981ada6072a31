//! The local BankID RP API v6 server of the eID tests as a program, for the browser test:
//! `cargo run -p blankett-eid --example bankid_simulator -- DIR`.
//!
//! Writes its certificates into `DIR` (the server's CA, the RP's certificate and key, as an
//! operator would configure them), serves the RP API over mTLS, and prints one JSON line:
//! `{"url", "control", "server_ca", "client_cert", "client_key"}`. The control API (plain
//! HTTP on 127.0.0.1) scripts what the user and the server do next:
//!
//! * `POST /fail?path=sign&status=503&code=maintenance&times=3` — error answers;
//! * `POST /delay?path=collect&ms=15000` — the next answer only after a while;
//! * `POST /drop?path=auth` — the next request gets no answer;
//! * `POST /script?pending=started,userSign&outcome=complete` (or `outcome=userCancel`, …);
//! * `GET /requests` — every request received, as JSON.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use support::{Outcome, Pki, Script, TestServer};

type Params = Query<HashMap<String, String>>;

/// Hint and failure codes as the `'static` strings the script holds.
fn code(s: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "outstandingTransaction",
        "noClient",
        "started",
        "userMrtd",
        "userCallConfirm",
        "userSign",
        "userCancel",
        "expiredTransaction",
        "certificateErr",
        "startFailed",
        "cancelled",
        "alreadyInProgress",
        "invalidParameters",
        "unauthorized",
        "notFound",
        "requestTimeout",
        "internalError",
        "maintenance",
        "tooManyRequests",
    ];
    KNOWN.iter().copied().find(|k| *k == s).unwrap_or("unknown")
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: bankid_simulator DIR"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki::new();
    let server = Arc::new(TestServer::start(&pki.server, &pki.client_ca).await);
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let server_ca = write("bankid-server-ca.pem", &pki.server_ca.cert_pem);
    let client_cert = write("rp.pem", &pki.client.cert_pem);
    let client_key = write("rp.key", &pki.client.key.serialize_pem());

    let control = Router::new()
        .route("/fail", post(fail))
        .route("/delay", post(delay))
        .route("/drop", post(drop_next))
        .route("/script", post(script))
        .route("/requests", get(requests))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_url = format!("http://{}", listener.local_addr().unwrap());
    println!(
        "{}",
        json!({
            "url": server.base_url(),
            "control": control_url,
            "server_ca": server_ca,
            "client_cert": client_cert,
            "client_key": client_key,
        })
    );
    axum::serve(listener, control).await.unwrap();
}

async fn fail(State(s): State<Arc<TestServer>>, Query(q): Params) -> Response {
    let path = q.get("path").cloned().unwrap_or_default();
    let status: u16 = q.get("status").and_then(|v| v.parse().ok()).unwrap_or(503);
    let times: usize = q.get("times").and_then(|v| v.parse().ok()).unwrap_or(1);
    let answer = (
        status,
        code(q.get("code").map(String::as_str).unwrap_or("")),
    );
    s.fail_next(&path, &vec![answer; times]);
    "ok".into_response()
}

async fn delay(State(s): State<Arc<TestServer>>, Query(q): Params) -> Response {
    let path = q.get("path").cloned().unwrap_or_default();
    let ms: u64 = q.get("ms").and_then(|v| v.parse().ok()).unwrap_or(0);
    s.delay_next(&path, Duration::from_millis(ms));
    "ok".into_response()
}

async fn drop_next(State(s): State<Arc<TestServer>>, Query(q): Params) -> Response {
    s.drop_next(q.get("path").map(String::as_str).unwrap_or(""));
    "ok".into_response()
}

async fn script(State(s): State<Arc<TestServer>>, Query(q): Params) -> Response {
    let pending = q
        .get("pending")
        .map(|p| p.split(',').filter(|x| !x.is_empty()).map(code).collect())
        .unwrap_or_default();
    let outcome = match q.get("outcome").map(String::as_str) {
        None | Some("complete") => Outcome::Complete {
            as_person: q.get("as_person").cloned(),
        },
        Some(other) => Outcome::Fail(code(other)),
    };
    s.set_script(Script {
        pending,
        outcome,
        ..Script::default()
    });
    "ok".into_response()
}

async fn requests(State(s): State<Arc<TestServer>>) -> Response {
    let list: Vec<_> = s
        .requests()
        .into_iter()
        .map(|r| json!({"path": r.path, "body": r.body}))
        .collect();
    axum::Json(list).into_response()
}
