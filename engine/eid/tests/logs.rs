//! No personnummer or name reaches the logs, at any level.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use blankett_core::eid::{DocumentBinding, EidError, IdentityProvider, Progress, StartRequest};
use blankett_core::ids::Personnummer;
use blankett_eid::bankid::{BankIdClient, BankIdProvider};
use chrono::DateTime;
use support::{Outcome, Pki, RecordingSleeper, Script, TestServer};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_personal_data_in_logs_at_any_level() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let pki = Pki::new();
    let server = TestServer::start(&pki.server, &pki.client_ca).await;
    let client = BankIdClient::new(&server.config(&pki))
        .unwrap()
        .with_sleeper(Arc::new(RecordingSleeper::default()));
    let provider = BankIdProvider::new(client);
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 44));
    let elva = Personnummer::parse("189001019802").unwrap();

    // a signing order that completes, one refused for the wrong person, a retried error
    let doc = DocumentBinding::of_bytes("Beslut", "SN 1", b"pdf");
    let req = StartRequest::sign_document(ip, &doc, elva.clone());
    server.fail_next("sign", &[(503, "maintenance")]);
    let order = provider.start(&req, now).await.unwrap();
    for _ in 0..4 {
        if let Progress::Complete(done) = provider.collect(&order, now).await.unwrap() {
            assert_eq!(done.identity.personnummer, elva);
        }
    }
    server.set_script(Script {
        pending: vec![],
        outcome: Outcome::Complete {
            as_person: Some("197701172392".into()),
        },
        ..Script::default()
    });
    let order = provider.start(&req, now).await.unwrap();
    assert!(matches!(
        provider.collect(&order, now).await,
        Err(EidError::Refused(_))
    ));

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("BankID order started"), "{logs}");
    assert!(logs.contains("BankID order complete"), "{logs}");
    assert!(logs.contains("retrying"), "{logs}");
    assert!(logs.contains("refused"), "{logs}");
    for secret in [
        "189001019802",
        "197701172392",
        "Elva",
        "Tolvan",
        "192.0.2.44",
        "Beslut",
    ] {
        assert!(!logs.contains(secret), "{secret} in logs:\n{logs}");
    }
}
