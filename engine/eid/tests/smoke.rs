//! `blankett eid try` (the smoke module) against the local BankID server, configured from a
//! TOML file with certificate files, as an operator would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use blankett_core::ids::Personnummer;
use blankett_eid::smoke::{SmokeError, TryOptions, TryOrder, run_blocking};
use chrono::{DateTime, Utc};
use support::{Outcome, Pki, RecordingSleeper, Script, TestServer};

fn write_config(dir: &std::path::Path, server: &TestServer, pki: &Pki) -> std::path::PathBuf {
    std::fs::write(dir.join("ca.pem"), &pki.server_ca.cert_pem).unwrap();
    std::fs::write(dir.join("rp.pem"), &pki.client.cert_pem).unwrap();
    std::fs::write(dir.join("rp.key"), pki.client.key.serialize_pem()).unwrap();
    let file = dir.join("blankett.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nport = 8080\n\n[eid]\nenvironment = \"test\"\n\n[eid.bankid]\nurl = \"{}\"\nserver_ca = \"ca.pem\"\nclient_cert = \"rp.pem\"\nclient_key = \"rp.key\"\n",
            server.base_url()
        ),
    )
    .unwrap();
    file
}

fn options(order: TryOrder) -> TryOptions {
    TryOptions {
        order,
        personnummer: Some(Personnummer::parse("189001019802").unwrap()),
        end_user_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        interval: std::time::Duration::from_secs(2),
        show_qr: true,
    }
}

#[test]
fn eid_try_signs_against_the_local_server_and_prints_qr_messages_and_identity() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = Pki::new();
    let server = runtime.block_on(TestServer::start(&pki.server, &pki.client_ca));
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), &server, &pki);

    let clock = Mutex::new(DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap());
    let now = || {
        let mut t = clock.lock().unwrap();
        *t += chrono::Duration::seconds(1);
        *t
    };
    let sleeper = RecordingSleeper::default();
    let mut out = Vec::new();
    let done = run_blocking(
        &file,
        "bankid",
        &options(TryOrder::Sign {
            text: "Provunderskrift".into(),
        }),
        &now,
        &sleeper,
        &mut out,
    )
    .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(done.identity.full_name, "Elva Elvasson");
    assert!(
        out.contains("Same device: https://app.bankid.com/?autostarttoken="),
        "{out}"
    );
    assert!(out.contains("QR: bankid.67df3917-"), "{out}");
    assert!(
        out.contains('█') || out.contains('▀'),
        "a QR code is drawn: {out}"
    );
    assert!(
        out.contains("[outstandingTransaction] Starta BankID-appen."),
        "{out}"
    );
    assert!(
        out.contains("[userSign] Skriv in din säkerhetskod"),
        "{out}"
    );
    assert!(out.contains("Name: Elva Elvasson"), "{out}");
    assert!(out.contains("Personnummer: 189001019802"), "{out}");
    let sign = &server.requests()[0];
    assert_eq!(sign.path, "sign");
    assert_eq!(sign.body["requirement"]["personalNumber"], "189001019802");
    assert_eq!(sleeper.waits.lock().unwrap().len(), 3);
}

#[test]
fn eid_try_reports_a_failed_order() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = Pki::new();
    let server = runtime.block_on(TestServer::start(&pki.server, &pki.client_ca));
    server.set_script(Script {
        pending: vec![],
        outcome: Outcome::Fail("userCancel"),
        ..Script::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let file = write_config(dir.path(), &server, &pki);
    let now = || DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
    let mut out = Vec::new();
    let err = run_blocking(
        &file,
        "bankid",
        &options(TryOrder::Auth),
        &now,
        &RecordingSleeper::default(),
        &mut out,
    )
    .unwrap_err();
    assert!(
        matches!(&err, SmokeError::Failed { code, .. } if code == "userCancel"),
        "{err:?}"
    );
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("[userCancel] Åtgärden avbruten.")
    );

    // a provider that is not configured
    let err = run_blocking(
        &file,
        "test",
        &options(TryOrder::Auth),
        &now,
        &RecordingSleeper::default(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown eID provider `test`"),
        "{err}"
    );
}
