//! `blankett_pades::verify` against PDFs that pyHanko signs at test time, and against pyHanko's
//! own verdict on them (`tests/verify_support/make_fixtures.py` makes both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use blankett_pades::pki::certificates_from_pem;
use blankett_pades::verify::{
    PadesLevel, Report, Revocation, SignatureKind, SignatureReport, VerifyError, verify, verify_at,
};
use blankett_pades::{DevPki, DevTsa, Pades, Placement, SignatureRequest, SignerIdentity};
use chrono::{DateTime, Utc};
use der::Decode;
use serde::Deserialize;
use x509_cert::Certificate;

const VENV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.test-tools/venv");
const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/verify_support/make_fixtures.py"
);

/// The fixtures of one run of the script: a fresh CA, the PDFs and pyHanko's verdicts.
struct Fixtures {
    ca: Certificate,
    pdfs: BTreeMap<String, Vec<u8>>,
    pyhanko: BTreeMap<String, PyHankoFixture>,
}

#[derive(Debug, Deserialize)]
struct PyHankoFixture {
    error: Option<String>,
    signatures: Vec<PyHankoSignature>,
}

#[derive(Debug, Deserialize)]
struct PyHankoSignature {
    field: String,
    anchored: PyHankoStatus,
}

#[derive(Debug, Deserialize)]
struct PyHankoStatus {
    error: Option<String>,
    intact: Option<bool>,
    valid: Option<bool>,
    coverage: Option<String>,
    modification_level: Option<String>,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(make_fixtures)
}

fn make_fixtures() -> Fixtures {
    let python = Path::new(VENV).join("bin/python");
    assert!(
        python.exists(),
        "pyHanko's virtual environment is missing ({}): run scripts/setup-test-tools",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&python)
        .arg(SCRIPT)
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup-test-tools)", python.display()));
    assert!(
        out.status.success(),
        "make_fixtures.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = std::fs::read_to_string(dir.path().join("manifest.json")).unwrap();
    let pyhanko: BTreeMap<String, PyHankoFixture> = serde_json::from_str(&manifest).unwrap();
    let pdfs = pyhanko
        .keys()
        .map(|name| {
            let pdf = std::fs::read(dir.path().join(format!("{name}.pdf"))).unwrap();
            (name.clone(), pdf)
        })
        .collect();
    let ca = Certificate::from_der(&std::fs::read(dir.path().join("ca.der")).unwrap()).unwrap();
    Fixtures { ca, pdfs, pyhanko }
}

fn pdf(name: &str) -> &'static [u8] {
    fixtures()
        .pdfs
        .get(name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

/// `verify` with the fixtures' CA as the trust anchor.
fn verified(name: &str) -> Report {
    verify(pdf(name), std::slice::from_ref(&fixtures().ca))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn signature<'a>(report: &'a Report, field: &str) -> &'a SignatureReport {
    report
        .signatures
        .iter()
        .find(|signature| signature.field == field)
        .unwrap_or_else(|| panic!("no signature {field} in {report:#?}"))
}

fn assert_good(signature: &SignatureReport) {
    assert!(signature.intact, "{signature:#?}");
    assert!(signature.valid, "{signature:#?}");
    assert!(signature.byte_range_ok, "{signature:#?}");
    assert!(signature.chain_trusted, "{signature:#?}");
    assert!(signature.problems.is_empty(), "{signature:#?}");
}

#[test]
fn two_signatures_are_intact_valid_and_trusted() {
    let report = verified("two_signatures");
    assert_eq!(report.revisions, 3);
    assert_eq!(report.signatures.len(), 2);
    assert!(report.all_valid, "{report:#?}");
    assert!(!report.modified_after_last_signature);
    assert!(report.modifications.is_empty());

    let first = signature(&report, "Signature1");
    assert_good(first);
    assert_eq!(first.kind, SignatureKind::Signature);
    assert_eq!(first.sub_filter.as_deref(), Some("ETSI.CAdES.detached"));
    assert_eq!(first.revision, 2);
    assert_eq!(first.byte_range.len(), 4);
    assert_eq!(first.byte_range[0], 0);
    assert!(!first.coverage.entire_file);
    assert_eq!(first.coverage.later_revisions, 1);
    assert!(
        first.coverage.later_updates_allowed,
        "{:?}",
        first.coverage.disallowed_changes
    );
    let signer = first.signer.as_ref().unwrap();
    assert_eq!(signer.common_name.as_deref(), Some("Tolvan Tolvansson"));
    assert_eq!(signer.given_name.as_deref(), Some("Tolvan"));
    assert_eq!(signer.surname.as_deref(), Some("Tolvansson"));
    assert_eq!(signer.serial_number.as_deref(), Some("PNOSE-197701172392"));
    assert_eq!(signer.personnummer.as_deref(), Some("197701172392"));
    assert_eq!(first.chain.len(), 2, "{:?}", first.chain);
    assert!(
        first.chain[1].contains("CN=Blankett Test CA"),
        "{:?}",
        first.chain
    );
    assert!(first.signing_time.is_some());
    assert!(first.timestamp.is_none());
    assert_eq!(first.revocation, Revocation::NoData);
    assert_eq!(first.level, Some(PadesLevel::BB));

    let second = signature(&report, "Signature2");
    assert_good(second);
    assert_eq!(second.revision, 3);
    assert!(second.coverage.entire_file);
    assert_eq!(second.coverage.later_revisions, 0);
    let signer = second.signer.as_ref().unwrap();
    assert_eq!(signer.common_name.as_deref(), Some("Greta Testsson"));
    assert_eq!(signer.personnummer.as_deref(), Some("189001019802"));
    assert_eq!(second.level, Some(PadesLevel::BB));
}

#[test]
fn the_report_reads_as_json_and_as_text() {
    let report = verified("two_signatures");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["all_valid"], true);
    assert_eq!(json["revisions"], 3);
    let first = &json["signatures"][0];
    assert_eq!(first["kind"], "signature");
    assert_eq!(first["level"], "B-B");
    assert_eq!(first["revocation"], "no data");
    assert_eq!(first["signer"]["personnummer"], "197701172392");
    assert!(first["signing_time"].is_string());

    let text = report.to_text();
    assert!(
        text.contains("Tolvan Tolvansson, personnummer 197701172392"),
        "{text}"
    );
    assert!(
        text.contains("Greta Testsson, personnummer 189001019802"),
        "{text}"
    );
    assert!(text.contains("PAdES level: B-B"), "{text}");
    let verdict = text.lines().last().unwrap();
    assert!(
        verdict.starts_with("Verdict (3 revision(s)): VALID"),
        "{text}"
    );
}

#[test]
fn without_the_ca_as_anchor_the_signatures_are_valid_but_not_trusted() {
    let report = verify(pdf("two_signatures"), &[]).unwrap();
    assert!(!report.all_valid);
    for signature in &report.signatures {
        assert!(signature.intact && signature.valid, "{signature:#?}");
        assert!(!signature.chain_trusted, "{signature:#?}");
        assert!(
            signature
                .problems
                .iter()
                .any(|problem| problem.contains("not a trust anchor")),
            "{signature:#?}"
        );
    }
    assert!(report.to_text().lines().last().unwrap().contains("INVALID"));
}

#[test]
fn a_changed_byte_in_the_first_revision_breaks_both_signatures() {
    let report = verified("tampered_first_revision");
    assert!(!report.all_valid);
    for signature in &report.signatures {
        assert!(!signature.intact, "{signature:#?}");
        // The signature over the signed attributes still verifies; the content does not match.
        assert!(signature.valid, "{signature:#?}");
        assert_eq!(signature.level, None);
    }
}

#[test]
fn a_changed_byte_in_the_last_revision_breaks_only_the_last_signature() {
    let report = verified("tampered_last_revision");
    assert_good(signature(&report, "Signature1"));
    let second = signature(&report, "Signature2");
    assert!(!second.intact, "{second:#?}");
    assert!(!report.all_valid);
}

#[test]
fn a_changed_byte_flipped_here_breaks_the_signatures_covering_it() {
    // Independently of the fixture script: flip a byte of the page content (revision 1), which
    // both signatures cover, then one of Signature2's visible appearance (revision 3).
    let original = pdf("two_signatures");
    let ca = std::slice::from_ref(&fixtures().ca);
    for (needle, broken) in [
        (
            b"Hello Blankett".as_slice(),
            ["Signature1", "Signature2"].as_slice(),
        ),
        (b"Digitally signed by Greta", &["Signature2"]),
    ] {
        let mut tampered = original.to_vec();
        tampered[find(original, needle)] ^= 0x01;
        let report = verify(&tampered, ca).unwrap();
        assert_eq!(report.signatures.len(), 2);
        for signature in &report.signatures {
            let expected = !broken.contains(&signature.field.as_str());
            assert_eq!(signature.intact, expected, "{signature:#?}");
            assert!(signature.valid, "{signature:#?}");
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .unwrap()
}

#[test]
fn an_unsigned_update_changing_the_info_dictionary_is_reported() {
    let report = verified("info_update");
    assert_eq!(report.revisions, 4);
    assert!(report.modified_after_last_signature);
    assert!(
        report
            .modifications
            .iter()
            .any(|change| change.contains("revision 4") && change.contains("/Info")),
        "{:?}",
        report.modifications
    );
    for signature in &report.signatures {
        assert!(signature.intact && signature.valid, "{signature:#?}");
        assert!(!signature.coverage.later_updates_allowed);
    }
    assert!(
        report
            .to_text()
            .lines()
            .last()
            .unwrap()
            .contains("MODIFIED")
    );
}

#[test]
fn an_unsigned_update_changing_a_page_is_reported() {
    let report = verified("page_update");
    assert!(report.modified_after_last_signature);
    assert!(
        report
            .modifications
            .iter()
            .any(|change| change.contains("page 1: /Contents changed")),
        "{:?}",
        report.modifications
    );
    assert!(report.signatures.iter().all(|s| s.intact && s.valid));
}

#[test]
fn pointing_the_dss_or_metadata_at_content_does_not_make_changing_it_allowed() {
    let original = pdf("two_signatures");
    for key in ["DSS", "Metadata"] {
        let mut update: lopdf::IncrementalDocument = original.try_into().unwrap();
        let previous = update.get_prev_documents();
        let catalog_id = previous
            .trailer
            .get(b"Root")
            .unwrap()
            .as_reference()
            .unwrap();
        let page_id = previous.get_pages()[&1];
        let content_id = previous
            .get_dictionary(page_id)
            .unwrap()
            .get(b"Contents")
            .unwrap()
            .as_reference()
            .unwrap();
        let changed = b"BT /F1 24 Tf 72 760 Td (Changed) Tj ET".to_vec();
        update.new_document.set_object(
            content_id,
            lopdf::Stream::new(lopdf::Dictionary::new(), changed),
        );
        let cover: lopdf::Object = if key == "DSS" {
            let mut dss = lopdf::Dictionary::new();
            dss.set("Certs", vec![lopdf::Object::Reference(content_id)]);
            update.new_document.add_object(dss).into()
        } else {
            lopdf::Object::Reference(content_id)
        };
        update.opt_clone_object_to_new_document(catalog_id).unwrap();
        update
            .new_document
            .get_dictionary_mut(catalog_id)
            .unwrap()
            .set(key, cover);
        let mut tampered = Vec::new();
        update.save_to(&mut tampered).unwrap();

        let report = verify(&tampered, std::slice::from_ref(&fixtures().ca)).unwrap();
        assert_eq!(report.revisions, 4, "{key}");
        assert!(report.modified_after_last_signature, "{key}: {report:#?}");
        let content = format!("object {} {} (stream) changed", content_id.0, content_id.1);
        assert!(
            report
                .modifications
                .iter()
                .any(|change| change.contains(&content)),
            "{key}: {:?}",
            report.modifications
        );
    }
}

#[test]
fn a_signature_timestamp_makes_b_t() {
    let report = verified("timestamped");
    let signature = signature(&report, "Signature1");
    assert_good(signature);
    assert_eq!(signature.level, Some(PadesLevel::BT));
    let timestamp = signature.timestamp.as_ref().unwrap();
    assert!(
        timestamp.intact && timestamp.valid && timestamp.trusted,
        "{timestamp:#?}"
    );
    assert!(
        timestamp
            .authority
            .as_deref()
            .unwrap()
            .contains("CN=Blankett Test TSA")
    );
    let claimed = signature.signing_time.unwrap().to_utc();
    let difference = (timestamp.time - claimed).num_seconds().abs();
    assert!(difference < 120, "{timestamp:#?} vs {claimed}");
}

#[test]
fn validation_data_in_the_dss_makes_b_lt() {
    let report = verified("long_term");
    assert_eq!(report.revisions, 3);
    assert!(!report.modified_after_last_signature, "{report:#?}");
    let signature = signature(&report, "Signature1");
    assert_good(signature);
    assert_eq!(signature.revocation, Revocation::Good);
    assert!(signature.coverage.later_updates_allowed);
    assert_eq!(signature.level, Some(PadesLevel::BLt));
}

#[test]
fn a_document_timestamp_over_the_dss_makes_b_lta() {
    let report = verified("archival");
    assert!(report.all_valid, "{report:#?}");
    assert!(!report.modified_after_last_signature, "{report:#?}");
    let signature = signature(&report, "Signature1");
    assert_good(signature);
    assert_eq!(signature.level, Some(PadesLevel::BLta));
    let archive = report
        .signatures
        .iter()
        .find(|s| s.kind == SignatureKind::DocumentTimestamp)
        .unwrap();
    assert_good(archive);
    assert_eq!(archive.sub_filter.as_deref(), Some("ETSI.RFC3161"));
    assert!(archive.revision > signature.revision);
    assert_eq!(archive.level, None);
    assert!(archive.timestamp.is_some());
}

#[test]
fn an_adobe_pkcs7_signature_is_valid_but_not_pades() {
    let report = verified("adobe_pkcs7");
    let signature = signature(&report, "Signature1");
    assert_good(signature);
    assert_eq!(signature.sub_filter.as_deref(), Some("adbe.pkcs7.detached"));
    assert_eq!(signature.level, None);
    assert!(report.all_valid);
}

#[test]
fn a_crl_listing_the_signer_makes_it_revoked() {
    let report = verified("revoked");
    let signature = signature(&report, "Signature1");
    assert!(signature.intact && signature.valid && signature.chain_trusted);
    assert_eq!(signature.revocation, Revocation::Revoked);
    assert!(!report.all_valid);
    assert!(signature.problems.iter().any(|p| p.contains("revoked")));
}

#[test]
fn a_pdf_without_signatures_has_an_empty_report() {
    let report = verified("unsigned");
    assert_eq!(report.revisions, 1);
    assert!(report.signatures.is_empty());
    assert!(!report.all_valid);
    assert!(!report.modified_after_last_signature);
    assert!(report.to_text().contains("no signatures"));
}

#[test]
fn garbage_and_truncated_files_are_errors() {
    let signed = pdf("two_signatures");
    let unsigned = pdf("unsigned");
    let inputs: [&[u8]; 5] = [
        b"",
        b"this is not a PDF at all",
        &unsigned[..300],
        &signed[..signed.len() - 100],
        &signed[..signed.len() / 3],
    ];
    for input in inputs {
        let result = verify(input, &[]);
        assert!(
            matches!(result, Err(VerifyError::Unreadable(_))),
            "{} bytes: {result:?}",
            input.len()
        );
    }
}

#[test]
fn pyhanko_agrees_on_every_fixture() {
    let fixtures = fixtures();
    for (name, verdict) in &fixtures.pyhanko {
        assert!(verdict.error.is_none(), "{name}: pyHanko: {verdict:?}");
        let report = verified(name);
        assert_eq!(
            report.signatures.len(),
            verdict.signatures.len(),
            "{name}: {report:#?}"
        );
        for theirs in &verdict.signatures {
            let ours = signature(&report, &theirs.field);
            let status = &theirs.anchored;
            assert!(status.error.is_none(), "{name}: pyHanko: {status:?}");
            assert_eq!(Some(ours.intact), status.intact, "{name}: {ours:#?}");
            assert_eq!(Some(ours.valid), status.valid, "{name}: {ours:#?}");
            assert_eq!(
                ours.coverage.entire_file,
                status.coverage.as_deref() == Some("ENTIRE_FILE"),
                "{name}: {ours:#?}"
            );
            // pyHanko's "OTHER" means changes beyond form filling and LTA updates. It allows an
            // /Info change in any update, which Blankett only allows alongside a signature,
            // a timestamp or validation data, so in the info_update fixture it says less.
            let pyhanko_flags = status.modification_level.as_deref() == Some("OTHER");
            if name != "info_update" {
                assert_eq!(
                    !ours.coverage.later_updates_allowed, pyhanko_flags,
                    "{name}: {ours:#?}"
                );
            }
        }
    }
}

#[test]
fn the_fallback_time_is_only_used_without_a_signing_time() {
    // Both signatures claim /M, so a `now` long after the certificates expired changes nothing.
    let far_future = DateTime::parse_from_rfc3339("2199-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let report = verify_at(
        pdf("two_signatures"),
        std::slice::from_ref(&fixtures().ca),
        far_future,
    )
    .unwrap();
    assert!(report.all_valid, "{report:#?}");
}

/// The real time: the signing side's certificates and timestamps are issued for it.
#[allow(clippy::disallowed_methods)]
fn now() -> DateTime<Utc> {
    Utc::now()
}

#[test]
fn what_blankett_signs_verifies_up_to_b_lta() {
    let pki = Arc::new(DevPki::generate(now(), Some("http://127.0.0.1:8080/pki/ca.crl")).unwrap());
    let tsa = Arc::new(DevTsa::new(&pki, Arc::new(now)).unwrap());
    let pades = Pades::new(pki.clone())
        .with_tsa(tsa)
        .with_revocation(pki.clone());
    let tolvan = SignerIdentity {
        given_name: "Tolvan".into(),
        surname: "Tolvansson".into(),
        full_name: "Tolvan Tolvansson".into(),
        personnummer: Some("197701172392".into()),
    };
    let mut pdf = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/lvu-6.pdf"
    ))
    .unwrap();
    for (field, rect) in [
        ("case_worker", [70.87, 562.89, 283.46, 630.92]),
        ("decision_maker", [297.64, 562.89, 510.24, 630.92]),
    ] {
        let request = SignatureRequest {
            field,
            placement: Some(Placement { page: 2, rect }),
            identity: &tolvan,
            role: "Handläggare",
            method: "BankID",
            time: now(),
            note: None,
        };
        pdf = pades.sign(&pdf, &request).unwrap();
    }
    let sealed = pades.seal_long_term(&pdf, now()).unwrap();
    let ca = certificates_from_pem(pki.ca_pem().unwrap().as_bytes()).unwrap();

    let report = verify(&sealed, &ca).unwrap();
    assert!(report.all_valid, "{report:#?}");
    assert!(!report.modified_after_last_signature, "{report:#?}");
    assert_eq!(report.signatures.len(), 3, "{report:#?}");
    for field in ["case_worker", "decision_maker"] {
        let signature = signature(&report, field);
        assert_good(signature);
        assert!(signature.coverage.later_updates_allowed, "{signature:#?}");
        assert_eq!(signature.revocation, Revocation::Good);
        assert_eq!(signature.level, Some(PadesLevel::BLta), "{signature:#?}");
        let signer = signature.signer.as_ref().unwrap();
        assert_eq!(signer.personnummer.as_deref(), Some("197701172392"));
    }
    let archive = report.signatures.last().unwrap();
    assert_eq!(archive.kind, SignatureKind::DocumentTimestamp);
    assert_good(archive);
    assert!(archive.coverage.entire_file);
}
