//! Certificates: identities, path building to a trust anchor, and CRL checks.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use const_oid::AssociatedOid;
use const_oid::db::rfc4519::{COMMON_NAME, GIVEN_NAME, SERIAL_NUMBER, SN};
use const_oid::db::rfc5280::ID_KP_TIME_STAMPING;
use der::asn1::Any;
use der::{Decode, Tag, Tagged};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};
use x509_cert::name::Name;

use super::crypto::verify_signature;
use super::report::{Revocation, Signer};
use super::tlv::Tlv;

/// Longest chain (certificates, end entity included) that path building tries.
const MAX_CHAIN: usize = 8;

/// A certificate with the bytes its issuer signed.
#[derive(Clone, Debug)]
pub(super) struct Cert {
    /// The whole certificate, DER.
    pub der: Vec<u8>,
    /// The decoded certificate.
    pub cert: Certificate,
    /// The `tbsCertificate` exactly as encoded in `der`.
    tbs: Vec<u8>,
}

impl Cert {
    /// Reads a DER certificate (anything after its end is ignored).
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let outer = Tlv::first(der).map_err(|e| format!("unreadable certificate: {e}"))?;
        let tbs = outer
            .children()
            .ok()
            .and_then(|children| children.first().map(|tbs| tbs.raw.to_vec()))
            .ok_or("unreadable certificate: no tbsCertificate")?;
        let cert =
            Certificate::from_der(outer.raw).map_err(|e| format!("unreadable certificate: {e}"))?;
        Ok(Self {
            der: outer.raw.to_vec(),
            cert,
            tbs,
        })
    }

    /// The decoded trust anchor.
    pub fn from_certificate(cert: &Certificate) -> Result<Self, String> {
        let der = der::Encode::to_der(cert).map_err(|e| format!("unencodable certificate: {e}"))?;
        Self::from_der(&der)
    }

    /// The subject distinguished name.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    fn subject_name(&self) -> &Name {
        &self.cert.tbs_certificate.subject
    }

    /// The issuer distinguished name.
    pub fn issuer_name(&self) -> &Name {
        &self.cert.tbs_certificate.issuer
    }

    /// The subject's commonName, or the whole subject when there is none.
    pub fn short_name(&self) -> String {
        attribute(self.subject_name(), COMMON_NAME).unwrap_or_else(|| self.subject())
    }

    /// The identity the certificate names.
    pub fn identity(&self) -> Signer {
        let subject = self.subject_name();
        let serial_number = attribute(subject, SERIAL_NUMBER);
        Signer {
            subject: self.subject(),
            issuer: self.issuer_name().to_string(),
            certificate_serial: hex::encode(self.cert.tbs_certificate.serial_number.as_bytes()),
            common_name: attribute(subject, COMMON_NAME),
            given_name: attribute(subject, GIVEN_NAME),
            surname: attribute(subject, SN),
            personnummer: serial_number.as_deref().and_then(personnummer),
            serial_number,
        }
    }

    /// The subject key identifier extension's value.
    pub fn subject_key_identifier(&self) -> Option<Vec<u8>> {
        self.extension::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .map(|ski| ski.0.as_bytes().to_vec())
    }

    /// The extension `T`, if present (an error when it is present twice or unreadable).
    fn extension<'a, T: Decode<'a> + AssociatedOid>(&'a self) -> Result<Option<T>, String> {
        self.cert
            .tbs_certificate
            .get::<T>()
            .map(|found| found.map(|(_, value)| value))
            .map_err(|e| {
                format!(
                    "{}: unreadable extension {}: {e}",
                    self.short_name(),
                    T::OID
                )
            })
    }

    /// Whether `issuer`'s key verifies this certificate's signature.
    fn verify_issued_by(&self, issuer: &Cert) -> Result<(), String> {
        verify_signature(
            &issuer.cert.tbs_certificate.subject_public_key_info,
            &self.cert.signature_algorithm,
            None,
            &self.tbs,
            self.cert.signature.raw_bytes(),
        )
    }

    fn validity(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let validity = &self.cert.tbs_certificate.validity;
        (
            unix_time(validity.not_before.to_unix_duration()),
            unix_time(validity.not_after.to_unix_duration()),
        )
    }
}

/// A duration since the Unix epoch as a UTC time.
pub(super) fn unix_time(since_epoch: std::time::Duration) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(
        i64::try_from(since_epoch.as_secs()).ok()?,
        since_epoch.subsec_nanos(),
    )
}

/// The first value of the attribute `oid` in `name`, as text.
fn attribute(name: &Name, oid: const_oid::ObjectIdentifier) -> Option<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == oid)
        .and_then(|atv| directory_string(&atv.value))
}

/// A DirectoryString (or IA5String) as text.
fn directory_string(value: &Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::TeletexString
        | Tag::VisibleString => Some(String::from_utf8_lossy(value.value()).into_owned()),
        Tag::BmpString => {
            let units: Vec<u16> = value
                .value()
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        _ => None,
    }
}

/// The personnummer in a subject serialNumber: `PNOSE-` and twelve digits (ETSI EN 319 412-1
/// natural person semantics), or the twelve digits alone.
fn personnummer(serial_number: &str) -> Option<String> {
    let number = serial_number
        .strip_prefix("PNOSE-")
        .unwrap_or(serial_number);
    (number.len() == 12 && number.bytes().all(|b| b.is_ascii_digit())).then(|| number.to_owned())
}

/// What the end-entity certificate of a chain is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Signing documents: key usage digitalSignature or nonRepudiation.
    Signing,
    /// Issuing RFC 3161 timestamps: extended key usage timeStamping.
    Timestamping,
}

/// A certification path and what is wrong with it.
pub(super) struct Chain<'a> {
    /// From the end-entity certificate up to the trust anchor, or as far as issuers were found.
    pub path: Vec<&'a Cert>,
    /// The path reaches a trust anchor and has no problems.
    pub trusted: bool,
    /// What is wrong, in English.
    pub problems: Vec<String>,
}

impl Chain<'_> {
    /// The subjects along the path.
    pub fn subjects(&self) -> Vec<String> {
        self.path.iter().map(|cert| cert.subject()).collect()
    }

    /// The certificate that issued the end-entity certificate, if the path has it.
    pub fn issuer(&self) -> Option<&Cert> {
        self.path.get(1).copied()
    }
}

/// Builds and checks the path from `leaf` to one of `anchors`, with intermediate certificates
/// from `pool`, as of the time `at` (validity periods are not checked when it is unknown, which
/// is a problem in itself).
pub(super) fn build_chain<'a>(
    leaf: &'a Cert,
    pool: &'a [Cert],
    anchors: &'a [Cert],
    at: Option<DateTime<Utc>>,
    purpose: Purpose,
) -> Chain<'a> {
    let mut search = PathSearch {
        pool,
        anchors,
        explored: HashSet::new(),
        best: vec![leaf],
        failures: Vec::new(),
    };
    let mut path = vec![leaf];
    let anchored = search.extend(&mut path);
    let path = if anchored { path } else { search.best };
    let mut problems = Vec::new();
    if !anchored {
        problems.extend(search.failures);
        let top = path.last().copied().unwrap_or(leaf);
        if top.issuer_name() == top.subject_name() {
            problems.push(format!(
                "the chain ends at the self-signed {}, which is not a trust anchor",
                top.short_name()
            ));
        } else {
            problems.push(format!(
                "no certificate of the issuer of {} ({}) was found; the chain does not reach a \
                 trust anchor",
                top.short_name(),
                top.issuer_name()
            ));
        }
    }
    check_path(&path, anchors, at, purpose, &mut problems);
    Chain {
        trusted: anchored && problems.is_empty(),
        path,
        problems,
    }
}

struct PathSearch<'a> {
    pool: &'a [Cert],
    anchors: &'a [Cert],
    /// Certificates already tried as issuers, not tried again: a path through one has failed
    /// before, and many certificates sharing a subject and key would otherwise make the search
    /// exponential.
    explored: HashSet<&'a [u8]>,
    best: Vec<&'a Cert>,
    failures: Vec<String>,
}

impl<'a> PathSearch<'a> {
    /// Extends `path` (depth first) until its last certificate is a trust anchor.
    fn extend(&mut self, path: &mut Vec<&'a Cert>) -> bool {
        let Some(current) = path.last().copied() else {
            return false;
        };
        if self.anchors.iter().any(|anchor| anchor.der == current.der) {
            return true;
        }
        if path.len() >= MAX_CHAIN {
            return false;
        }
        for candidate in self.anchors.iter().chain(self.pool) {
            if candidate.subject_name() != current.issuer_name()
                || path.iter().any(|cert| cert.der == candidate.der)
                || self.explored.contains(candidate.der.as_slice())
            {
                continue;
            }
            if let Err(e) = current.verify_issued_by(candidate) {
                self.failures.push(format!(
                    "the signature of {} on {} does not verify: {e}",
                    candidate.short_name(),
                    current.short_name()
                ));
                continue;
            }
            self.explored.insert(&candidate.der);
            path.push(candidate);
            if self.extend(path) {
                return true;
            }
            if path.len() > self.best.len() {
                self.best = path.clone();
            }
            path.pop();
        }
        false
    }
}

/// Checks validity periods, CA constraints and the end entity's key usage along `path`.
fn check_path(
    path: &[&Cert],
    anchors: &[Cert],
    at: Option<DateTime<Utc>>,
    purpose: Purpose,
    problems: &mut Vec<String>,
) {
    match at {
        Some(at) => {
            for cert in path {
                let (not_before, not_after) = cert.validity();
                let valid = not_before.is_some_and(|start| start <= at)
                    && not_after.is_some_and(|end| at <= end);
                if !valid {
                    problems.push(format!(
                        "{} was not valid at {} (valid from {} to {})",
                        cert.short_name(),
                        at.to_rfc3339(),
                        not_before.map_or_else(|| "?".to_owned(), |t| t.to_rfc3339()),
                        not_after.map_or_else(|| "?".to_owned(), |t| t.to_rfc3339()),
                    ));
                }
            }
        }
        None => problems.push(
            "no signing time is known, so the certificates' validity periods were not checked"
                .to_owned(),
        ),
    }
    for (index, issuer) in path.iter().enumerate().skip(1) {
        let is_anchor = anchors.iter().any(|anchor| anchor.der == issuer.der);
        match issuer.extension::<BasicConstraints>() {
            Ok(Some(constraints)) if constraints.ca => {
                let below = index - 1;
                if let Some(limit) = constraints.path_len_constraint
                    && below > usize::from(limit)
                {
                    problems.push(format!(
                        "{} allows {limit} intermediate CA(s) below it, the chain has {below}",
                        issuer.short_name()
                    ));
                }
            }
            Ok(None) if is_anchor => {}
            Ok(_) => problems.push(format!(
                "{} issued a certificate but is not a CA (basicConstraints)",
                issuer.short_name()
            )),
            Err(e) => problems.push(e),
        }
        match issuer.extension::<KeyUsage>() {
            Ok(Some(usage)) if !usage.key_cert_sign() => problems.push(format!(
                "{} may not sign certificates (key usage)",
                issuer.short_name()
            )),
            Ok(_) => {}
            Err(e) => problems.push(e),
        }
    }
    let Some(leaf) = path.first() else {
        return;
    };
    match leaf.extension::<KeyUsage>() {
        Ok(Some(usage)) if !usage.digital_signature() && !usage.non_repudiation() => {
            problems.push(format!(
                "{} has neither digitalSignature nor nonRepudiation key usage",
                leaf.short_name()
            ));
        }
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    if purpose == Purpose::Timestamping {
        match leaf.extension::<ExtendedKeyUsage>() {
            Ok(Some(usage)) if usage.0.contains(&ID_KP_TIME_STAMPING) => {}
            Ok(_) => problems.push(format!(
                "{} lacks the timeStamping extended key usage",
                leaf.short_name()
            )),
            Err(e) => problems.push(e),
        }
    }
}

/// What the CRLs say about a certificate.
pub(super) struct RevocationCheck {
    /// The status.
    pub status: Revocation,
    /// CRLs that could not be used, or the revocation itself.
    pub problems: Vec<String>,
}

/// Looks `cert` up in the CRLs (DER `CertificateList`s) its issuer signed; `ocsp_responses`
/// counts the OCSP responses there are (not checked).
pub(super) fn check_revocation(
    cert: &Cert,
    issuer: Option<&Cert>,
    crls: &[Vec<u8>],
    ocsp_responses: usize,
) -> RevocationCheck {
    let mut problems = Vec::new();
    let mut good = false;
    for der in crls {
        let crl = match read_crl(der) {
            Ok(crl) => crl,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        if crl.list.tbs_cert_list.issuer != *cert.issuer_name() {
            continue;
        }
        let Some(issuer) = issuer else {
            problems.push(format!(
                "a CRL from {} cannot be checked: its issuer's certificate is unknown",
                crl.list.tbs_cert_list.issuer
            ));
            continue;
        };
        if let Err(e) = verify_signature(
            &issuer.cert.tbs_certificate.subject_public_key_info,
            &crl.list.signature_algorithm,
            None,
            &crl.tbs,
            crl.list.signature.raw_bytes(),
        ) {
            problems.push(format!("a CRL from {}: {e}", issuer.short_name()));
            continue;
        }
        let serial = &cert.cert.tbs_certificate.serial_number;
        let revoked = crl
            .list
            .tbs_cert_list
            .revoked_certificates
            .iter()
            .flatten()
            .find(|entry| entry.serial_number == *serial);
        if let Some(entry) = revoked {
            let date = unix_time(entry.revocation_date.to_unix_duration())
                .map_or_else(|| "?".to_owned(), |t| t.to_rfc3339());
            problems.push(format!("{} was revoked on {date}", cert.short_name()));
            return RevocationCheck {
                status: Revocation::Revoked,
                problems,
            };
        }
        good = true;
    }
    let status = if good {
        Revocation::Good
    } else if ocsp_responses > 0 {
        Revocation::NotChecked
    } else {
        Revocation::NoData
    };
    RevocationCheck { status, problems }
}

struct Crl {
    list: CertificateList,
    tbs: Vec<u8>,
}

fn read_crl(der: &[u8]) -> Result<Crl, String> {
    let outer = Tlv::first(der).map_err(|e| format!("unreadable CRL: {e}"))?;
    let tbs = outer
        .children()
        .ok()
        .and_then(|children| children.first().map(|tbs| tbs.raw.to_vec()))
        .ok_or("unreadable CRL: no tbsCertList")?;
    let list = CertificateList::from_der(outer.raw).map_err(|e| format!("unreadable CRL: {e}"))?;
    Ok(Crl { list, tbs })
}
