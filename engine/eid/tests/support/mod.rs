//! A local BankID RP API v6.0 server for the test suite: real HTTPS with client-certificate
//! authentication (certificates generated with rcgen), the real endpoints, bodies, status
//! codes and error answers. Tests script what the "user" does (pending hint codes, then
//! complete or fail) and which errors the server answers with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use blankett_eid::bankid::binding::sample_signature_xml;
use blankett_eid::bankid::{BankIdConfig, ClientIdentity, RetryPolicy};
use blankett_eid::{BoxFuture, Sleeper};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A CA and what it can issue.
pub struct Ca {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

pub struct Leaf {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key: KeyPair,
}

impl Leaf {
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    fn issue(&self, names: &[&str], cn: &str, eku: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![eku];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key,
        }
    }

    pub fn server_cert(&self) -> Leaf {
        self.issue(
            &["127.0.0.1"],
            "appapi2.test.bankid.local",
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    pub fn client_cert(&self, cn: &str) -> Leaf {
        self.issue(&[], cn, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// The certificates of one test: the BankID server side and the RP.
pub struct Pki {
    pub server_ca: Ca,
    pub server: Leaf,
    pub client_ca: Ca,
    pub client: Leaf,
}

impl Pki {
    pub fn new() -> Pki {
        let server_ca = Ca::new("Test BankID SSL Root CA");
        let server = server_ca.server_cert();
        let client_ca = Ca::new("Test BankID RP CA");
        let client = client_ca.client_cert("Testbank A RP CA - FP Testcert");
        Pki {
            server_ca,
            server,
            client_ca,
            client,
        }
    }
}

/// What the user does after starting the app.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Completes as this person (default: the required personal number, else 197701172392).
    Complete { as_person: Option<String> },
    /// The order fails with this hint code.
    Fail(&'static str),
}

/// The script for the next orders.
#[derive(Debug, Clone)]
pub struct Script {
    /// Hint codes answered by collect before the outcome, in order.
    pub pending: Vec<&'static str>,
    pub outcome: Outcome,
    /// Replace the visible data in the signature XML with this text.
    pub tamper_visible: Option<&'static str>,
    /// Replace the non-visible data in the signature XML.
    pub tamper_non_visible: Option<Vec<u8>>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            pending: vec!["outstandingTransaction", "started", "userSign"],
            outcome: Outcome::Complete { as_person: None },
            tamper_visible: None,
            tamper_non_visible: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub content_type: Option<String>,
    pub body: Value,
}

struct Order {
    request: Value,
    collects: usize,
    cancelled: bool,
    ended: bool,
    script: Script,
    qr_start_secret: String,
}

#[derive(Default)]
pub struct ServerState {
    pub script: Script,
    /// Error answers for the next requests to a path (`auth`, `collect`, …), in order.
    pub errors: HashMap<String, VecDeque<(u16, &'static str)>>,
    pub requests: Vec<Recorded>,
    /// Faults for the next requests to a path: wait this long before answering, or (with
    /// `None`) close the connection without an answer.
    pub faults: HashMap<String, VecDeque<Option<Duration>>>,
    orders: HashMap<String, Order>,
    next: u64,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<ServerState>>,
}

impl TestServer {
    /// Starts the server with `server` as its certificate, accepting clients whose
    /// certificate `client_ca` issued.
    pub async fn start(server: &Leaf, client_ca: &Ca) -> TestServer {
        let mut roots = RootCertStore::empty();
        roots.add(client_ca.cert_der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .unwrap();
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![server.cert_der.clone()], server.key_der())
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ServerState::default()));
        let app = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    // A client without an acceptable certificate fails here.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                });
            }
        });
        TestServer { addr, state }
    }

    pub fn base_url(&self) -> String {
        format!("https://{}/rp/v6.0/", self.addr)
    }

    pub fn set_script(&self, script: Script) {
        self.state.lock().unwrap().script = script;
    }

    pub fn fail_next(&self, path: &str, answers: &[(u16, &'static str)]) {
        self.state
            .lock()
            .unwrap()
            .errors
            .entry(path.to_owned())
            .or_default()
            .extend(answers.iter().copied());
    }

    /// The next request to `path` is answered only after `delay` (the answer itself is the
    /// scripted one).
    pub fn delay_next(&self, path: &str, delay: Duration) {
        self.state
            .lock()
            .unwrap()
            .faults
            .entry(path.to_owned())
            .or_default()
            .push_back(Some(delay));
    }

    /// The next request to `path` gets no answer: the connection is dropped.
    pub fn drop_next(&self, path: &str) {
        self.state
            .lock()
            .unwrap()
            .faults
            .entry(path.to_owned())
            .or_default()
            .push_back(None);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }

    pub fn qr_start_secret(&self, order_ref: &str) -> String {
        self.state.lock().unwrap().orders[order_ref]
            .qr_start_secret
            .clone()
    }

    /// A client configuration for this server with the RP's PEM identity.
    pub fn config(&self, pki: &Pki) -> BankIdConfig {
        BankIdConfig {
            base_url: self.base_url(),
            server_ca_pem: pki.server_ca.cert_pem.clone().into_bytes(),
            client: ClientIdentity::Pem {
                certs: pki.client.cert_pem.clone().into_bytes(),
                key: pki.client.key.serialize_pem().into_bytes(),
            },
            timeout: Duration::from_secs(10),
            retry: RetryPolicy {
                max_attempts: 3,
                delay: Duration::from_secs(1),
            },
        }
    }
}

fn error(status: u16, code: &str, details: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        json!({"errorCode": code, "details": details}).to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn names(pnr: &str) -> (&'static str, &'static str) {
    match pnr {
        "197701172392" => ("Tolvan", "Tolvansson"),
        "189001019802" => ("Elva", "Elvasson"),
        _ => ("Tretton", "Trettonsson"),
    }
}

fn decode_opt(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(|s| STANDARD.decode(s).unwrap())
}

async fn handle(
    State(state): State<Arc<Mutex<ServerState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(path) = uri.path().strip_prefix("/rp/v6.0/") else {
        return error(404, "notFound", "No such resource");
    };
    let path = path.to_owned();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let fault = state
        .lock()
        .unwrap()
        .faults
        .get_mut(&path)
        .and_then(|q| q.pop_front());
    match fault {
        Some(Some(delay)) => tokio::time::sleep(delay).await,
        // No answer: this connection's task ends here, and the client sees it close.
        Some(None) => panic!("scripted fault: the connection is dropped"),
        None => {}
    }
    let mut s = state.lock().unwrap();
    s.requests.push(Recorded {
        path: path.clone(),
        content_type: content_type.clone(),
        body: body.clone(),
    });
    if method != Method::POST {
        return error(405, "methodNotAllowed", "Only POST is allowed");
    }
    if content_type.as_deref() != Some("application/json") {
        return error(
            415,
            "unsupportedMediaType",
            "Content-Type must be application/json",
        );
    }
    if let Some((status, code)) = s.errors.get_mut(&path).and_then(|q| q.pop_front()) {
        return error(status, code, "Scripted failure");
    }
    match path.as_str() {
        "auth" | "sign" | "phone/auth" | "phone/sign" => {
            let phone = path.starts_with("phone/");
            let sign = path.ends_with("sign");
            if !phone && body["endUserIp"].as_str().is_none() {
                return error(400, "invalidParameters", "Invalid endUserIp");
            }
            if phone && body["callInitiator"].as_str().is_none() {
                return error(400, "invalidParameters", "Invalid callInitiator");
            }
            if sign && body["userVisibleData"].as_str().is_none() {
                return error(400, "invalidParameters", "Invalid userVisibleData");
            }
            for key in ["userVisibleData", "userNonVisibleData"] {
                if let Some(v) = body[key].as_str()
                    && STANDARD.decode(v).is_err()
                {
                    return error(400, "invalidParameters", "Invalid base64");
                }
            }
            if let Some(f) = body["userVisibleDataFormat"].as_str()
                && f != "simpleMarkdownV1"
            {
                return error(400, "invalidParameters", "Invalid userVisibleDataFormat");
            }
            let person = if phone {
                body["personalNumber"].as_str()
            } else {
                body["requirement"]["personalNumber"].as_str()
            }
            .map(str::to_owned);
            // One order per person at a time: a second one cancels both.
            if let Some(p) = &person {
                let mut clash = false;
                for o in s.orders.values_mut() {
                    let theirs = o.request["requirement"]["personalNumber"]
                        .as_str()
                        .or(o.request["personalNumber"].as_str());
                    if !o.ended && theirs == Some(p.as_str()) {
                        o.cancelled = true;
                        o.ended = true;
                        clash = true;
                    }
                }
                if clash {
                    return error(400, "alreadyInProgress", "Order already in progress");
                }
            }
            s.next += 1;
            let n = s.next;
            let order_ref = format!("131daac9-16c6-4618-beb0-365768f3{n:04}");
            let secret = format!("d28db9a7-4cde-429e-a983-35{n:010}");
            let script = s.script.clone();
            s.orders.insert(
                order_ref.clone(),
                Order {
                    request: body,
                    collects: 0,
                    cancelled: false,
                    ended: false,
                    script,
                    qr_start_secret: secret.clone(),
                },
            );
            if phone {
                ok(json!({"orderRef": order_ref}))
            } else {
                ok(json!({
                    "orderRef": order_ref,
                    "autoStartToken": format!("7c40b5c9-fa74-49cf-b98c-bfe651f9{n:04}"),
                    "qrStartToken": format!("67df3917-fa0d-44e5-b327-edcc9282{n:04}"),
                    "qrStartSecret": secret,
                }))
            }
        }
        "collect" | "cancel" => {
            let Some(order_ref) = body["orderRef"].as_str().map(str::to_owned) else {
                return error(400, "invalidParameters", "Invalid orderRef");
            };
            let Some(order) = s.orders.get_mut(&order_ref) else {
                return error(400, "invalidParameters", "No such order");
            };
            if path == "cancel" {
                if order.ended {
                    return error(400, "invalidParameters", "No such order");
                }
                order.cancelled = true;
                order.ended = true;
                return ok(json!({}));
            }
            if order.cancelled {
                return ok(
                    json!({"orderRef": order_ref, "status": "failed", "hintCode": "cancelled"}),
                );
            }
            let i = order.collects;
            order.collects += 1;
            if let Some(hint) = order.script.pending.get(i) {
                return ok(json!({"orderRef": order_ref, "status": "pending", "hintCode": hint}));
            }
            order.ended = true;
            match order.script.outcome.clone() {
                Outcome::Fail(hint) => {
                    ok(json!({"orderRef": order_ref, "status": "failed", "hintCode": hint}))
                }
                Outcome::Complete { as_person } => {
                    let r = &order.request;
                    let pnr = as_person
                        .or_else(|| {
                            r["requirement"]["personalNumber"]
                                .as_str()
                                .map(str::to_owned)
                        })
                        .or_else(|| r["personalNumber"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| "197701172392".to_owned());
                    let (given, surname) = names(&pnr);
                    let visible = match order.script.tamper_visible {
                        Some(t) => Some(t.as_bytes().to_vec()),
                        None => decode_opt(&r["userVisibleData"]),
                    };
                    let non_visible = order
                        .script
                        .tamper_non_visible
                        .clone()
                        .or_else(|| decode_opt(&r["userNonVisibleData"]));
                    let xml = sample_signature_xml(visible.as_deref(), non_visible.as_deref());
                    ok(json!({
                        "orderRef": order_ref,
                        "status": "complete",
                        "completionData": {
                            "user": {
                                "personalNumber": pnr,
                                "name": format!("{given} {surname}"),
                                "givenName": given,
                                "surname": surname,
                            },
                            "device": {
                                "ipAddress": r["endUserIp"].as_str().unwrap_or("192.0.2.1"),
                                "uhi": "OZvYM9VvyiAmG7NA5jU5zRGcHaD0lZQw",
                            },
                            "bankIdIssueDate": "2025-03-01Z",
                            "stepUp": {"mrtd": false},
                            "signature": STANDARD.encode(xml),
                            "ocspResponse": STANDARD.encode([0x30, 0x03, 0x0a, 0x01, 0x00]),
                            "risk": "low",
                        }
                    }))
                }
            }
        }
        _ => error(404, "notFound", "No such resource"),
    }
}

/// A sleeper that returns at once and records what it was asked to wait.
#[derive(Default)]
pub struct RecordingSleeper {
    pub waits: Mutex<Vec<Duration>>,
}

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        self.waits.lock().unwrap().push(duration);
        Box::pin(async {})
    }
}
