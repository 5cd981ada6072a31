//! The RFC 3161 client against a local TSA speaking HTTP (the development TSA behind a small
//! HTTP/1.1 server), and its refusals when the TSA misbehaves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use blankett_pades::tsa::{HttpTsa, TimestampAuthority, tst_info};
use blankett_pades::{DevPki, DevTsa, Pades, Placement, SignatureRequest, SignerIdentity};
use der::Decode;
use support::*;

/// Serves `answer(request body)` to every POST on a local port; returns the URL.
fn serve(answer: impl Fn(&[u8]) -> (u16, Vec<u8>) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsa", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            answer_one(stream, &answer);
        }
    });
    url
}

/// The same over TLS, with `cert` (DER) and its key (PKCS#8 DER); returns the https URL.
fn serve_tls(
    cert: Vec<u8>,
    key: Vec<u8>,
    answer: impl Fn(&[u8]) -> (u16, Vec<u8>) + Send + 'static,
) -> String {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/tsa", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            answer_one(rustls::StreamOwned::new(conn, stream), &answer);
        }
    });
    url
}

/// Reads one HTTP/1.1 request from `stream` and writes the answer.
fn answer_one<S: Read + Write>(stream: S, answer: &impl Fn(&[u8]) -> (u16, Vec<u8>)) {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    let mut content_type = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = lower.strip_prefix("content-type:") {
            content_type = v.trim().to_owned();
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (status, reply) = if content_type == "application/timestamp-query" {
        answer(&body)
    } else {
        (415, Vec::new())
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    let stream = reader.get_mut();
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply);
    let _ = stream.flush();
}

fn pki() -> Arc<DevPki> {
    Arc::new(DevPki::generate(now(), None).unwrap())
}

#[test]
fn a_signature_timestamped_over_http_is_valid_for_pyhanko() {
    let pki = pki();
    let tsa = Arc::new(DevTsa::new(&pki, Arc::new(now)).unwrap());
    let url = serve(move |body| (200, tsa.respond(body).unwrap()));
    let client = HttpTsa::new(&url, None).unwrap();

    let digest = [7u8; 32];
    let token = client.timestamp(&digest).unwrap();
    let info = tst_info(&cms::content_info::ContentInfo::from_der(&token).unwrap()).unwrap();
    assert_eq!(info.message_imprint.hashed_message.as_bytes(), digest);

    let pades = Pades::new(pki.clone()).with_tsa(Arc::new(client));
    let who = SignerIdentity {
        given_name: "Tolvan".into(),
        surname: "Tolvansson".into(),
        full_name: "Tolvan Tolvansson".into(),
        personnummer: Some("197701172392".into()),
    };
    let signed = pades
        .sign(
            &lvu_pdf(),
            &SignatureRequest {
                field: "case_worker",
                placement: Some(Placement {
                    page: 2,
                    rect: [70.87, 562.89, 283.46, 630.92],
                }),
                identity: &who,
                role: "Handläggare",
                method: "BankID",
                time: now(),
                note: None,
            },
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.ca_pem().unwrap()).unwrap();
    std::fs::write(dir.path().join("signed.pdf"), &signed).unwrap();
    let report = pyhanko_report(&dir.path().join("signed.pdf"), &dir.path().join("ca.pem"));
    assert!(
        report[0].bottom_line && report[0].timestamp_valid,
        "{report:#?}"
    );
}

/// The error a timestamp request to `url` ends in.
fn error_from(url: &str) -> String {
    match HttpTsa::new(url, None).unwrap().timestamp(&[7u8; 32]) {
        Ok(_) => panic!("{url} gave a token"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_misbehaving_tsa_is_refused_with_a_clear_error() {
    let pki = pki();
    let tsa = Arc::new(DevTsa::new(&pki, Arc::new(now)).unwrap());

    // A token over another digest.
    let other = tsa.clone();
    let url = serve(move |body| {
        let mut req = x509_tsp::TimeStampReq::from_der(body).unwrap();
        req.message_imprint.hashed_message = der::asn1::OctetString::new([0u8; 32]).unwrap();
        (
            200,
            other.respond(&der::Encode::to_der(&req).unwrap()).unwrap(),
        )
    });
    let err = error_from(&url);
    assert!(err.contains("another digest"), "{err}");

    // A token without our nonce (replayed).
    let replay = tsa.clone();
    let url = serve(move |body| {
        let mut req = x509_tsp::TimeStampReq::from_der(body).unwrap();
        req.nonce = None;
        (
            200,
            replay.respond(&der::Encode::to_der(&req).unwrap()).unwrap(),
        )
    });
    let err = error_from(&url);
    assert!(err.contains("nonce"), "{err}");

    // An HTTP error, and garbage.
    let url = serve(|_| (503, Vec::new()));
    let err = error_from(&url);
    assert!(err.contains("HTTP 503"), "{err}");
    let url = serve(|_| (200, b"<html>".to_vec()));
    let err = error_from(&url);
    assert!(err.contains("not a TimeStampResp"), "{err}");

    // Nobody listening.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = error_from(&format!("http://127.0.0.1:{port}/"));
    assert!(err.contains("no answer"), "{err}");

    // An https TSA without a pinned CA, and a URL that is not HTTP.
    assert!(HttpTsa::new("https://tsa.example/", None).is_err());
    assert!(HttpTsa::new("ftp://tsa.example/", None).is_err());
}

/// A CA and a server certificate for 127.0.0.1 it issued: (CA PEM, server DER, key DER).
fn tls_server_identity(name: &str) -> (String, Vec<u8>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, name);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "tsa.exempelstad.test");
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.der().to_vec(), key.serialize_der())
}

#[test]
fn an_https_tsa_is_reached_through_its_pinned_server_ca_and_no_other() {
    let pki = pki();
    let tsa = Arc::new(DevTsa::new(&pki, Arc::new(now)).unwrap());
    let (ca_pem, cert, key) = tls_server_identity("Exempelstad TSA server CA");
    let url = serve_tls(cert, key, move |body| (200, tsa.respond(body).unwrap()));
    assert!(url.starts_with("https://"));

    let token = HttpTsa::new(&url, Some(ca_pem.as_bytes()))
        .unwrap()
        .timestamp(&[7u8; 32])
        .unwrap();
    let info = tst_info(&cms::content_info::ContentInfo::from_der(&token).unwrap()).unwrap();
    assert_eq!(info.message_imprint.hashed_message.as_bytes(), [7u8; 32]);

    // Another CA is not trusted (the system's store is never used), and none is refused.
    let (other_ca, _, _) = tls_server_identity("Someone else");
    let refused = HttpTsa::new(&url, Some(other_ca.as_bytes()))
        .unwrap()
        .timestamp(&[7u8; 32])
        .unwrap_err()
        .to_string();
    assert!(refused.contains("no answer"), "{refused}");
    let unpinned = HttpTsa::new(&url, None).err().unwrap().to_string();
    assert!(unpinned.contains("tsa_server_ca"), "{unpinned}");
}
