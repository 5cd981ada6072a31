//! The BankID client against a local BankID v6.0 server over mutual TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use blankett_core::eid::{
    AssuranceLevel, DocumentBinding, EidError, FailureReason, IdentityProvider, OrderHandle,
    Progress, Refusal, StartRequest,
};
use blankett_core::ids::Personnummer;
use blankett_eid::bankid::api::{CallInitiator, ErrorCode, PhoneOrderRequest, Requirement};
use blankett_eid::bankid::messages::Rfa;
use blankett_eid::bankid::{
    BankIdClient, BankIdError, BankIdProvider, COLLECT_INTERVAL, ClientIdentity, qr,
};
use blankett_eid::poll;
use chrono::{DateTime, Utc};
use support::{Outcome, Pki, RecordingSleeper, Script, TestServer};

const TOLVAN: &str = "197701172392";
const ELVA: &str = "189001019802";

fn pnr(s: &str) -> Personnummer {
    Personnummer::parse(s).unwrap()
}

fn ip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 44))
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

struct Setup {
    server: TestServer,
    provider: BankIdProvider,
    sleeper: Arc<RecordingSleeper>,
}

async fn setup() -> Setup {
    let pki = Pki::new();
    let server = TestServer::start(&pki.server, &pki.client_ca).await;
    let sleeper = Arc::new(RecordingSleeper::default());
    let client = BankIdClient::new(&server.config(&pki))
        .unwrap()
        .with_sleeper(sleeper.clone());
    Setup {
        server,
        provider: BankIdProvider::new(client),
        sleeper,
    }
}

/// Collects every 2 s of a fake clock until the order ends; returns the hints seen.
async fn run(s: &Setup, order: &OrderHandle) -> (Result<Progress, EidError>, Vec<String>) {
    let clock = Arc::new(Mutex::new(order.started_at));
    let tick = clock.clone();
    let now = move || {
        let mut t = tick.lock().unwrap();
        *t += chrono::Duration::seconds(2);
        *t
    };
    let mut hints = Vec::new();
    let result = poll::until_done(
        &s.provider,
        order,
        &now,
        s.sleeper.as_ref(),
        COLLECT_INTERVAL,
        50,
        |p| {
            if let Progress::Pending { hint, .. } = p {
                hints.push(hint.clone());
            }
        },
    )
    .await;
    (result, hints)
}

#[tokio::test]
async fn auth_goes_through_the_pending_hints_to_a_verified_identity() {
    let s = setup().await;
    let order = s
        .provider
        .start(&StartRequest::auth(ip()), t0())
        .await
        .unwrap();
    let (result, hints) = run(&s, &order).await;
    assert_eq!(hints, ["outstandingTransaction", "started", "userSign"]);
    let Progress::Complete(done) = result.unwrap() else {
        panic!("not complete")
    };
    assert_eq!(done.identity.personnummer, pnr(TOLVAN));
    assert_eq!(done.identity.given_name, "Tolvan");
    assert_eq!(done.identity.surname, "Tolvansson");
    assert_eq!(done.identity.full_name, "Tolvan Tolvansson");
    assert_eq!(done.assurance, AssuranceLevel::Substantial);
    assert_eq!(done.evidence.provider, "bankid");
    assert_eq!(done.evidence.device_ip.as_deref(), Some("192.0.2.44"));
    assert_eq!(done.evidence.ocsp_response, [0x30, 0x03, 0x0a, 0x01, 0x00]);
    assert!(String::from_utf8_lossy(&done.evidence.signature).contains("bankIdSignedData"));
    assert_eq!(
        done.evidence
            .attributes
            .get("bankIdIssueDate")
            .map(String::as_str),
        Some("2025-03-01Z")
    );
    // collected every 2 seconds, through the injected sleeper: three waits while pending
    assert_eq!(*s.sleeper.waits.lock().unwrap(), vec![COLLECT_INTERVAL; 3]);

    let requests = s.server.requests();
    let auth = &requests[0];
    assert_eq!(auth.path, "auth");
    assert_eq!(auth.content_type.as_deref(), Some("application/json"));
    assert_eq!(auth.body, serde_json::json!({"endUserIp": "192.0.2.44"}));
    assert_eq!(s.server.count("collect"), 4);
}

#[tokio::test]
async fn qr_data_is_animated_from_the_start_time_and_autostart_link_is_offered() {
    let s = setup().await;
    let order = s
        .provider
        .start(&StartRequest::auth(ip()), t0())
        .await
        .unwrap();
    let secret = s.server.qr_start_secret(&order.order_ref);
    let token = order.private.get("bankid.qrStartToken").unwrap().clone();
    let at = |secs| t0() + chrono::Duration::seconds(secs);
    assert_eq!(
        s.provider.qr_data(&order, at(0)).unwrap(),
        qr::qr_data(&token, &secret, 0)
    );
    let q3 = s.provider.qr_data(&order, at(3)).unwrap();
    assert!(q3.starts_with(&format!("bankid.{token}.3.")), "{q3}");
    assert_ne!(q3, s.provider.qr_data(&order, at(4)).unwrap());
    let link = s.provider.autostart_url(&order).unwrap();
    assert!(link.starts_with("https://app.bankid.com/?autostarttoken="));
    assert!(link.ends_with("&redirect=null"));
}

#[tokio::test]
async fn sign_binds_the_document_and_checks_the_signed_data() {
    let s = setup().await;
    let pdf = b"%PDF-1.7 the exact bytes";
    let doc = DocumentBinding::of_bytes("Beslut om bistånd", "SN 2026/118", pdf);
    let req = StartRequest::sign_document(ip(), &doc, pnr(ELVA));
    let order = s.provider.start(&req, t0()).await.unwrap();

    let sent = &s.server.requests()[0];
    assert_eq!(sent.path, "sign");
    let b = &sent.body;
    assert_eq!(b["userVisibleDataFormat"], "simpleMarkdownV1");
    assert_eq!(b["requirement"]["personalNumber"], ELVA);
    let visible = String::from_utf8(
        STANDARD
            .decode(b["userVisibleData"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(visible.contains("Beslut om bistånd"), "{visible}");
    assert!(visible.contains("SN 2026/118"), "{visible}");
    let digest = DocumentBinding::of_bytes("", "", pdf).sha256_hex();
    assert!(visible.contains(&digest), "{visible}");
    assert_eq!(
        STANDARD
            .decode(b["userNonVisibleData"].as_str().unwrap())
            .unwrap(),
        hex::decode(&digest).unwrap()
    );

    let (result, _) = run(&s, &order).await;
    let Progress::Complete(done) = result.unwrap() else {
        panic!("not complete")
    };
    assert_eq!(done.identity.personnummer, pnr(ELVA));
    assert_eq!(done.kind, blankett_core::eid::OrderKind::Sign);
}

#[tokio::test]
async fn a_completion_by_another_person_is_refused() {
    let s = setup().await;
    s.server.set_script(Script {
        pending: vec![],
        outcome: Outcome::Complete {
            as_person: Some(TOLVAN.into()),
        },
        ..Script::default()
    });
    let doc = DocumentBinding::of_bytes("Avtal", "KS 1", b"pdf");
    let order = s
        .provider
        .start(&StartRequest::sign_document(ip(), &doc, pnr(ELVA)), t0())
        .await
        .unwrap();
    assert_eq!(
        s.provider.collect(&order, t0()).await,
        Err(EidError::Refused(Refusal::WrongPerson))
    );
}

#[tokio::test]
async fn a_signature_whose_signed_data_differs_is_refused() {
    let doc = DocumentBinding::of_bytes("Avtal", "KS 1", b"pdf");
    for script in [
        Script {
            pending: vec![],
            tamper_visible: Some("# Något annat"),
            ..Script::default()
        },
        Script {
            pending: vec![],
            tamper_non_visible: Some(vec![0; 32]),
            ..Script::default()
        },
    ] {
        let s = setup().await;
        s.server.set_script(script);
        let order = s
            .provider
            .start(&StartRequest::sign_document(ip(), &doc, pnr(TOLVAN)), t0())
            .await
            .unwrap();
        assert_eq!(
            s.provider.collect(&order, t0()).await,
            Err(EidError::Refused(Refusal::BindingMismatch))
        );
    }
}

#[tokio::test]
async fn failed_orders_report_reason_and_the_recommended_message() {
    let cases = [
        ("expiredTransaction", FailureReason::Expired, Rfa::Rfa8),
        ("startFailed", FailureReason::StartFailed, Rfa::Rfa17B),
        ("userCancel", FailureReason::UserCancelled, Rfa::Rfa6),
        (
            "certificateErr",
            FailureReason::CertificateError,
            Rfa::Rfa16,
        ),
        ("somethingNew", FailureReason::Other, Rfa::Rfa22),
    ];
    for (hint, reason, rfa) in cases {
        let s = setup().await;
        s.server.set_script(Script {
            pending: vec!["outstandingTransaction"],
            outcome: Outcome::Fail(hint),
            ..Script::default()
        });
        let order = s
            .provider
            .start(&StartRequest::auth(ip()), t0())
            .await
            .unwrap();
        let (result, hints) = run(&s, &order).await;
        assert_eq!(hints, ["outstandingTransaction"]);
        assert_eq!(
            result.unwrap(),
            Progress::Failed {
                reason,
                code: hint.into(),
                message: rfa.message()
            },
            "{hint}"
        );
    }
}

#[tokio::test]
async fn unknown_pending_hints_are_tolerated() {
    let s = setup().await;
    s.server.set_script(Script {
        pending: vec!["aBrandNewHint"],
        ..Script::default()
    });
    let order = s
        .provider
        .start(&StartRequest::auth(ip()), t0())
        .await
        .unwrap();
    assert_eq!(
        s.provider.collect(&order, t0()).await.unwrap(),
        Progress::Pending {
            hint: "aBrandNewHint".into(),
            message: Rfa::Rfa21.message()
        }
    );
}

#[tokio::test]
async fn a_second_order_for_the_same_person_is_already_in_progress() {
    let s = setup().await;
    let mut req = StartRequest::auth(ip());
    req.expected_personnummer = Some(pnr(TOLVAN));
    let first = s.provider.start(&req, t0()).await.unwrap();
    let second = s.provider.start(&req, t0()).await;
    match second {
        Err(EidError::Provider {
            code,
            retryable,
            message,
        }) => {
            assert_eq!(code, "alreadyInProgress");
            assert!(!retryable);
            assert_eq!(message, Rfa::Rfa4.message());
        }
        other => panic!("{other:?}"),
    }
    // not retried: one request each
    assert_eq!(s.server.count("auth"), 2);
    // BankID cancels the first one too
    assert!(matches!(
        s.provider.collect(&first, t0()).await.unwrap(),
        Progress::Failed {
            reason: FailureReason::Cancelled,
            ..
        }
    ));
}

#[tokio::test]
async fn maintenance_is_retried_and_then_succeeds() {
    let s = setup().await;
    s.server
        .fail_next("auth", &[(503, "maintenance"), (503, "maintenance")]);
    let order = s
        .provider
        .start(&StartRequest::auth(ip()), t0())
        .await
        .unwrap();
    assert!(!order.order_ref.is_empty());
    assert_eq!(s.server.count("auth"), 3);
    assert_eq!(
        *s.sleeper.waits.lock().unwrap(),
        vec![Duration::from_secs(1); 2]
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let s = setup().await;
    s.server.fail_next("auth", &[(503, "maintenance"); 5]);
    let err = s
        .provider
        .client()
        .auth(&s.provider.order_request(&StartRequest::auth(ip())))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            BankIdError::Api {
                code: ErrorCode::Maintenance,
                status: 503,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(s.server.count("auth"), 3, "max_attempts is 3");
}

#[tokio::test]
async fn internal_error_is_retried_on_collect_but_never_on_a_start() {
    let s = setup().await;
    s.server.fail_next("auth", &[(500, "internalError")]);
    let err = s.provider.start(&StartRequest::auth(ip()), t0()).await;
    assert!(
        matches!(&err, Err(EidError::Provider { code, retryable: true, .. }) if code == "internalError"),
        "{err:?}"
    );
    assert_eq!(s.server.count("auth"), 1);

    let order = s
        .provider
        .start(&StartRequest::auth(ip()), t0())
        .await
        .unwrap();
    s.server.fail_next("collect", &[(500, "internalError")]);
    assert!(matches!(
        s.provider.collect(&order, t0()).await.unwrap(),
        Progress::Pending { .. }
    ));
    assert_eq!(s.server.count("collect"), 2);
}

#[tokio::test]
async fn cancel_ends_the_order() {
    let s = setup().await;
    let order = s
        .provider
        .start(&StartRequest::auth(ip()), t0())
        .await
        .unwrap();
    s.provider.cancel(&order).await.unwrap();
    assert!(matches!(
        s.provider.collect(&order, t0()).await.unwrap(),
        Progress::Failed {
            reason: FailureReason::Cancelled,
            ..
        }
    ));
    // cancelling twice is an error from BankID, not retried
    assert!(matches!(
        s.provider.cancel(&order).await,
        Err(EidError::Provider { code, .. }) if code == "invalidParameters"
    ));
}

#[tokio::test]
async fn phone_endpoints_send_every_field() {
    let s = setup().await;
    let client = s.provider.client();
    let r = client
        .phone_auth(&PhoneOrderRequest {
            personal_number: TOLVAN.into(),
            call_initiator: CallInitiator::User,
            requirement: Requirement {
                pin_code: Some(true),
                ..Requirement::default()
            },
            user_visible_data: None,
            user_non_visible_data: None,
            user_visible_data_format: None,
        })
        .await
        .unwrap();
    assert!(!r.order_ref.is_empty());
    let no_text = client
        .phone_sign(&PhoneOrderRequest {
            personal_number: ELVA.into(),
            call_initiator: CallInitiator::Rp,
            requirement: Requirement::default(),
            user_visible_data: None,
            user_non_visible_data: None,
            user_visible_data_format: None,
        })
        .await;
    assert!(matches!(no_text, Err(BankIdError::Config(_))));
    client
        .phone_sign(&PhoneOrderRequest {
            personal_number: ELVA.into(),
            call_initiator: CallInitiator::Rp,
            requirement: Requirement::default(),
            user_visible_data: Some(STANDARD.encode("Skriv under")),
            user_non_visible_data: Some(STANDARD.encode([1u8, 2])),
            user_visible_data_format: Some("simpleMarkdownV1".into()),
        })
        .await
        .unwrap();
    let reqs = s.server.requests();
    assert_eq!(reqs[0].path, "phone/auth");
    assert_eq!(
        reqs[0].body,
        serde_json::json!({"personalNumber": TOLVAN, "callInitiator": "user", "requirement": {"pinCode": true}})
    );
    assert_eq!(reqs[1].path, "phone/sign");
    assert_eq!(reqs[1].body["callInitiator"], "RP");
    assert_eq!(reqs[1].body["userNonVisibleData"], "AQI=");
    let c = client.collect(&r.order_ref).await.unwrap();
    assert_eq!(c.order_ref, r.order_ref);
}

#[tokio::test]
async fn a_pkcs12_client_identity_works_including_legacy_encryption() {
    use p12_keystore::{EncryptionAlgorithm, KeyStore, KeyStoreEntry, PrivateKeyChain};
    let pki = Pki::new();
    let server = TestServer::start(&pki.server, &pki.client_ca).await;
    for algorithm in [
        EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
        EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
    ] {
        let mut store = KeyStore::new();
        let key = p12_keystore::PrivateKey::from_der(&pki.client.key.serialize_der()).unwrap();
        let cert = p12_keystore::Certificate::from_der(&pki.client.cert_der).unwrap();
        store.add_entry(
            "rp",
            KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(b"1".to_vec(), key, vec![cert])),
        );
        let der = store
            .writer("qwerty123")
            .encryption_algorithm(algorithm)
            .write()
            .unwrap();
        let mut config = server.config(&pki);
        config.client = ClientIdentity::Pkcs12 {
            der: der.clone(),
            password: "qwerty123".into(),
        };
        let provider = BankIdProvider::new(BankIdClient::new(&config).unwrap());
        provider
            .start(&StartRequest::auth(ip()), t0())
            .await
            .unwrap();

        config.client = ClientIdentity::Pkcs12 {
            der,
            password: "wrong".into(),
        };
        assert!(matches!(
            BankIdClient::new(&config),
            Err(BankIdError::Config(_))
        ));
    }
    assert_eq!(server.count("auth"), 2);
}

#[tokio::test]
async fn a_client_without_an_accepted_certificate_is_refused() {
    let pki = Pki::new();
    let server = TestServer::start(&pki.server, &pki.client_ca).await;

    // No client certificate at all: a plain rustls client that trusts the server.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.server_ca.cert_der.clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let plain = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let r = plain
        .post(format!("{}auth", server.base_url()))
        .json(&serde_json::json!({"endUserIp": "192.0.2.1"}))
        .send()
        .await;
    assert!(r.is_err(), "{r:?}");
    assert!(server.requests().is_empty());
    // Control: the same client with the RP certificate gets through.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.server_ca.cert_der.clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(vec![pki.client.cert_der.clone()], pki.client.key_der())
    .unwrap();
    let with_cert = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let r = with_cert
        .post(format!("{}auth", server.base_url()))
        .json(&serde_json::json!({"endUserIp": "192.0.2.1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(server.count("auth"), 1);

    // A certificate from a CA the server does not accept.
    let stranger = support::Ca::new("Some other CA").client_cert("Intruder");
    let mut config = server.config(&pki);
    config.client = ClientIdentity::Pem {
        certs: stranger.cert_pem.clone().into_bytes(),
        key: stranger.key.serialize_pem().into_bytes(),
    };
    let sleeper = Arc::new(RecordingSleeper::default());
    let client = BankIdClient::new(&config)
        .unwrap()
        .with_sleeper(sleeper.clone());
    let err = client.collect("x").await.unwrap_err();
    assert!(matches!(err, BankIdError::Transport(_)), "{err:?}");
    // a transport error on collect is retried, still bounded and never reaching the API
    assert_eq!(server.requests().len(), 1, "only the control request");
    assert_eq!(sleeper.waits.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let rogue = support::Ca::new("Test BankID SSL Root CA"); // same name, other key
    let impostor = TestServer::start(&rogue.server_cert(), &pki.client_ca).await;
    let mut config = impostor.config(&pki);
    config.server_ca_pem = pki.server_ca.cert_pem.clone().into_bytes();
    let client = BankIdClient::new(&config).unwrap();
    let err = client
        .auth(&blankett_eid::bankid::api::OrderRequest {
            end_user_ip: "192.0.2.1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    match err {
        BankIdError::Transport(m) => assert!(m.to_lowercase().contains("certificate"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(impostor.requests().is_empty());
}

#[tokio::test]
async fn configuration_mistakes_are_reported() {
    let pki = Pki::new();
    let server = TestServer::start(&pki.server, &pki.client_ca).await;
    let mut config = server.config(&pki);
    config.server_ca_pem = Vec::new();
    assert!(matches!(
        BankIdClient::new(&config),
        Err(BankIdError::Config(m)) if m.contains("CA")
    ));
    let mut config = server.config(&pki);
    config.base_url = config.base_url.replace("https://", "http://");
    assert!(matches!(
        BankIdClient::new(&config),
        Err(BankIdError::Config(_))
    ));
}
