//! `blankett eid try`, the operator's smoke test, run as a real process against the local
//! BankID RP API v6 server of the eID tests (real HTTPS with client certificates).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::bankid_server;
use crate::support;

use bankid_server::{Outcome, Pki, Script, TestServer};
use support::{blankett, text};

/// Writes certificate files and a configuration file as an operator would: the same file
/// `blankett serve --config` reads.
fn config(dir: &std::path::Path, server: &TestServer, pki: &Pki) -> String {
    std::fs::write(dir.join("ca.pem"), &pki.server_ca.cert_pem).unwrap();
    std::fs::write(dir.join("rp.pem"), &pki.client.cert_pem).unwrap();
    std::fs::write(dir.join("rp.key"), pki.client.key.serialize_pem()).unwrap();
    let file = dir.join("blankett.toml");
    std::fs::write(
        &file,
        format!(
            "environment = \"test\"\n\n[eid.bankid]\nurl = \"{}\"\nserver_ca = \"ca.pem\"\nclient_cert = \"rp.pem\"\nclient_key = \"rp.key\"\n",
            server.base_url()
        ),
    )
    .unwrap();
    file.to_str().unwrap().to_owned()
}

#[test]
fn eid_try_identifies_against_the_local_bankid_server() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = Pki::new();
    let server = runtime.block_on(TestServer::start(&pki.server, &pki.client_ca));
    server.set_script(Script {
        pending: vec!["outstandingTransaction"],
        ..Script::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let file = config(dir.path(), &server, &pki);
    // One file for every command: `serve` reads it as it is.
    let serve_config = blankett_web::app::Config::load(
        Some(std::path::Path::new(&file)),
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    serve_config.check().unwrap();
    assert!(serve_config.eid.bankid.is_some());

    let o = blankett(&[
        "eid",
        "try",
        "bankid",
        "--config",
        &file,
        "--personnummer",
        "189001019802",
        "auth",
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("[outstandingTransaction] Starta BankID-appen."),
        "{out}"
    );
    assert!(out.contains("Personnummer: 189001019802"), "{out}");
    assert!(
        out.contains('█') || out.contains('▀'),
        "a QR code is drawn: {out}"
    );
    let auth = &server.requests()[0];
    assert_eq!(auth.path, "auth");
    assert_eq!(auth.body["requirement"]["personalNumber"], "189001019802");
}

#[test]
fn eid_try_reports_a_cancelled_order_and_exits_with_failure() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let pki = Pki::new();
    let server = runtime.block_on(TestServer::start(&pki.server, &pki.client_ca));
    server.set_script(Script {
        pending: vec![],
        outcome: Outcome::Fail("userCancel"),
        ..Script::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let file = config(dir.path(), &server, &pki);
    let o = blankett(&[
        "eid", "try", "bankid", "--config", &file, "--no-qr", "sign", "--text", "Prov",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("[userCancel] Åtgärden avbruten."),
        "{}",
        text(&o)
    );
}
