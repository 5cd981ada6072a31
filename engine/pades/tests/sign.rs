//! Signing, judged by independent tools: pyHanko (validity, trust, coverage, the PAdES
//! long-term profile), poppler's pdfsig, qpdf, and the XMP's PDF/A identification.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use blankett_pades::{DevPki, DevTsa, Pades, Placement, SignatureRequest, SignerIdentity};
use support::*;

fn tolvan() -> SignerIdentity {
    SignerIdentity {
        given_name: "Tolvan".into(),
        surname: "Tolvansson".into(),
        full_name: "Tolvan Tolvansson".into(),
        personnummer: Some("197701172392".into()),
    }
}

fn asa() -> SignerIdentity {
    SignerIdentity {
        given_name: "Åsa".into(),
        surname: "Öberg".into(),
        full_name: "Åsa Öberg".into(),
        personnummer: Some("189001019802".into()),
    }
}

struct Setup {
    pades: Pades,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let started = now();
    let pki = Arc::new(DevPki::generate(started, None).unwrap());
    let tsa = Arc::new(DevTsa::new(&pki, Arc::new(now)).unwrap());
    let pades = Pades::new(pki.clone())
        .with_tsa(tsa)
        .with_revocation(pki.clone());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), pki.ca_pem().unwrap()).unwrap();
    Setup { pades, dir }
}

fn request<'a>(
    field: &'a str,
    who: &'a SignerIdentity,
    role: &'a str,
    rect: [f64; 4],
) -> SignatureRequest<'a> {
    SignatureRequest {
        field,
        placement: Some(Placement { page: 2, rect }),
        identity: who,
        role,
        method: "BankID",
        time: now(),
        note: None,
    }
}

const CASE_WORKER: [f64; 4] = [70.87, 562.89, 283.46, 630.92];
const DECISION_MAKER: [f64; 4] = [297.64, 562.89, 510.24, 630.92];

fn signed_twice(s: &Setup) -> Vec<u8> {
    let pdf = lvu_pdf();
    let (a, b) = (tolvan(), asa());
    let once = s
        .pades
        .sign(
            &pdf,
            &request("case_worker", &a, "Handläggare", CASE_WORKER),
        )
        .unwrap();
    assert!(
        once.starts_with(&pdf),
        "the update must keep the original bytes"
    );
    let twice = s
        .pades
        .sign(
            &once,
            &request("decision_maker", &b, "Beslutsfattare", DECISION_MAKER),
        )
        .unwrap();
    assert!(twice.starts_with(&once));
    twice
}

#[test]
fn two_signers_are_valid_and_trusted_for_pyhanko_pdfsig_and_qpdf() {
    let s = setup();
    let signed = signed_twice(&s);
    let file = s.dir.path().join("signed.pdf");
    std::fs::write(&file, &signed).unwrap();

    let report = pyhanko_report(&file, &s.dir.path().join("ca.pem"));
    assert_eq!(report.len(), 2, "{report:#?}");
    for sig in &report {
        assert!(sig.intact && sig.valid && sig.trusted, "{sig:#?}");
    }
    assert_eq!(report[0].field, "case_worker");
    assert_eq!(report[1].field, "decision_maker");
    assert_eq!(report[1].coverage, "ENTIRE_FILE", "{report:#?}");
    assert_eq!(report[0].coverage, "ENTIRE_REVISION", "{report:#?}");
    assert!(
        report[0].signer.contains("PNOSE-197701172392"),
        "{}",
        report[0].signer
    );
    assert!(
        report[1].signer.contains("PNOSE-189001019802"),
        "{}",
        report[1].signer
    );
    assert!(report.iter().all(|r| r.timestamp_valid), "B-T: {report:#?}");

    let pdfsig = pdfsig(&file);
    assert_eq!(
        pdfsig
            .matches("Signature Validation: Signature is Valid.")
            .count(),
        2,
        "{pdfsig}"
    );
    assert!(pdfsig.contains("Åsa Öberg"), "{pdfsig}");

    qpdf_check(&file);
    let xmp = String::from_utf8_lossy(&signed).to_string();
    assert!(
        xmp.contains("<pdfaid:part>2</pdfaid:part>"),
        "PDF/A identification lost"
    );
    fonts_all_embedded(&file);
}

#[test]
fn the_finished_document_passes_pyhankos_pades_lta_profile() {
    let s = setup();
    let signed = signed_twice(&s);
    // Without validation data and a document timestamp, the long-term validation fails: the
    // check below is not vacuous.
    let unsealed = s.dir.path().join("unsealed.pdf");
    std::fs::write(&unsealed, &signed).unwrap();
    let before = pyhanko_lta_report(&unsealed, &s.dir.path().join("ca.pem"));
    assert!(
        before
            .iter()
            .all(|sig| sig.ades.as_deref() != Some("OK") || !sig.evidence_record),
        "{before:#?}"
    );

    let sealed = s.pades.seal_long_term(&signed, now()).unwrap();
    let file = s.dir.path().join("sealed.pdf");
    std::fs::write(&file, &sealed).unwrap();
    let out = pyhanko_cli(&[
        "sign",
        "validate",
        "--pretty-print",
        "--no-revocation-check",
        "--trust-replace",
        "--trust",
        s.dir.path().join("ca.pem").to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = pyhanko_cli(&[
        "sign",
        "adesverify",
        "--pretty-print",
        "--trust-replace",
        "--trust",
        s.dir.path().join("ca.pem").to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        text(&out).matches("The signature is judged VALID").count(),
        2,
        "{}",
        text(&out)
    );

    let lta = pyhanko_lta_report(&file, &s.dir.path().join("ca.pem"));
    assert_eq!(lta.len(), 2, "{lta:#?}");
    for sig in &lta {
        assert!(
            sig.bottom_line && sig.intact && sig.valid && sig.trusted,
            "{sig:#?}"
        );
        assert_eq!(sig.ades.as_deref(), Some("OK"), "{sig:#?}");
        assert!(
            sig.evidence_record,
            "no document timestamp backs the signature: {sig:#?}"
        );
    }
}

#[test]
fn a_completion_note_is_drawn_in_the_appearance_and_the_signature_stays_valid() {
    let s = setup();
    let pdf = lvu_pdf();
    let who = tolvan();
    let plain = request("case_worker", &who, "Justerare", CASE_WORKER);
    let noted = SignatureRequest {
        note: Some("Protokollet är justerat"),
        ..request("case_worker", &who, "Justerare", CASE_WORKER)
    };
    let without = s.pades.sign(&pdf, &plain).unwrap();
    let with = s.pades.sign(&pdf, &noted).unwrap();
    // The appearance draws each glyph as its own positioned path (`… cm`): the note adds one
    // per letter of "Protokollet är justerat". qpdf writes the streams uncompressed to count.
    let glyphs = |pdf: &[u8], name: &str| {
        let input = s.dir.path().join(format!("{name}.pdf"));
        let output = s.dir.path().join(format!("{name}.qdf"));
        std::fs::write(&input, pdf).unwrap();
        let o = std::process::Command::new("qpdf")
            .args(["--qdf", "--object-streams=disable"])
            .arg(&input)
            .arg(&output)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read(&output).unwrap();
        text.windows(4)
            .filter(|w| w == b" cm\n" || w == b" cm ")
            .count()
    };
    let letters = "Protokollet är justerat"
        .chars()
        .filter(|c| !c.is_whitespace())
        .count();
    let (n_with, n_without) = (glyphs(&with, "with"), glyphs(&without, "without"));
    assert!(n_without > 0, "no glyphs found in the appearance");
    assert!(n_with >= n_without + letters, "{n_with} vs {n_without}");
    let file = s.dir.path().join("noted.pdf");
    std::fs::write(&file, &with).unwrap();
    let report = pyhanko_report(&file, &s.dir.path().join("ca.pem"));
    assert_eq!(report.len(), 1, "{report:#?}");
    assert!(
        report[0].intact && report[0].valid && report[0].trusted,
        "{report:#?}"
    );
}

#[test]
fn a_flipped_byte_breaks_the_signatures_that_cover_it() {
    let s = setup();
    let mut signed = signed_twice(&s);
    // A byte of the original document: inside both signed ranges.
    let at = signed.windows(9).position(|w| w == b"/MediaBox").unwrap() + 3;
    signed[at] ^= 0x01;
    let file = s.dir.path().join("tampered.pdf");
    std::fs::write(&file, &signed).unwrap();
    let report = pyhanko_report(&file, &s.dir.path().join("ca.pem"));
    assert!(report.iter().all(|r| !r.intact), "{report:#?}");
}

#[test]
fn a_field_cannot_be_signed_twice_and_bad_input_is_an_error() {
    let s = setup();
    let pdf = lvu_pdf();
    let who = tolvan();
    let once = s
        .pades
        .sign(
            &pdf,
            &request("case_worker", &who, "Handläggare", CASE_WORKER),
        )
        .unwrap();
    let again = s.pades.sign(
        &once,
        &request("case_worker", &who, "Handläggare", CASE_WORKER),
    );
    assert!(
        matches!(again, Err(blankett_pades::SignError::FieldTaken(_))),
        "{again:?}"
    );
    let dotted = s.pades.sign(
        &pdf,
        &request("signatory.1", &who, "Firmatecknare", CASE_WORKER),
    );
    assert!(
        matches!(dotted, Err(blankett_pades::SignError::BadFieldName(_))),
        "{dotted:?}"
    );

    let garbage = s.pades.sign(
        b"not a pdf",
        &request("x", &who, "Handläggare", CASE_WORKER),
    );
    assert!(
        matches!(garbage, Err(blankett_pades::SignError::Pdf(_))),
        "{garbage:?}"
    );

    let mut wrong_page = request("x", &who, "Handläggare", CASE_WORKER);
    wrong_page.placement = Some(Placement {
        page: 9,
        rect: CASE_WORKER,
    });
    let err = s.pades.sign(&pdf, &wrong_page).unwrap_err().to_string();
    assert!(err.contains("no page 9"), "{err}");
}

/// Runs qpdf to rewrite the fixture (object streams, encryption…).
fn qpdf(s: &Setup, args: &[&str], name: &str) -> Vec<u8> {
    let input = s.dir.path().join("in.pdf");
    std::fs::write(&input, lvu_pdf()).unwrap();
    let out = s.dir.path().join(name);
    let mut all: Vec<&str> = args.to_vec();
    all.push(input.to_str().unwrap());
    all.push(out.to_str().unwrap());
    let o = std::process::Command::new("qpdf")
        .args(&all)
        .output()
        .unwrap();
    assert!(o.status.code().unwrap_or(2) < 2, "qpdf: {}", text(&o));
    std::fs::read(out).unwrap()
}

#[test]
fn a_pdf_with_object_and_xref_streams_is_signed_in_its_own_style() {
    let s = setup();
    let compact = qpdf(&s, &["--object-streams=generate"], "compact.pdf");
    assert!(String::from_utf8_lossy(&compact).contains("/ObjStm"));
    let who = tolvan();
    let signed = s
        .pades
        .sign(
            &compact,
            &request("case_worker", &who, "Handläggare", CASE_WORKER),
        )
        .unwrap();
    let tail = String::from_utf8_lossy(&signed[compact.len()..]).to_string();
    assert!(
        tail.contains("/Type /XRef") || tail.contains("/Type/XRef"),
        "{tail}"
    );
    let file = s.dir.path().join("signed.pdf");
    std::fs::write(&file, &signed).unwrap();
    let report = pyhanko_report(&file, &s.dir.path().join("ca.pem"));
    assert!(
        report[0].bottom_line && report[0].coverage == "ENTIRE_FILE",
        "{report:#?}"
    );
    qpdf_check(&file);
}

#[test]
fn an_encrypted_pdf_is_refused() {
    let s = setup();
    let locked = qpdf(&s, &["--encrypt", "", "owner", "256", "--"], "locked.pdf");
    let who = tolvan();
    let result = s.pades.sign(
        &locked,
        &request("case_worker", &who, "Handläggare", CASE_WORKER),
    );
    let err = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("encrypted"),
        "signing an encrypted PDF must fail: {err:?}"
    );
}
