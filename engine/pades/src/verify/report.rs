//! What verification reports: [`Report`] and its parts, as JSON (serde) or as text.

use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

/// The verdict on every signature of a PDF.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Number of revisions: the original document plus one per incremental update.
    pub revisions: usize,
    /// Every signature field with a value, document timestamps included, in the order of the
    /// form's field tree.
    pub signatures: Vec<SignatureReport>,
    /// There is at least one signature, and every one is intact, valid, has a sane byte range,
    /// chains to a trust anchor and is not revoked.
    pub all_valid: bool,
    /// Something other than the updates PAdES allows (further signatures, document timestamps,
    /// validation data) was changed after the last signed revision.
    pub modified_after_last_signature: bool,
    /// What was changed after the last signed revision (empty when nothing was).
    pub modifications: Vec<String>,
}

/// Whether a signature field holds a signature or a document timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureKind {
    /// `/Type /Sig`: a CMS signature by a person or organisation.
    Signature,
    /// `/Type /DocTimeStamp`: an RFC 3161 timestamp over the document.
    DocumentTimestamp,
}

/// The verdict on one signature (or document timestamp).
#[derive(Clone, Debug, Serialize)]
pub struct SignatureReport {
    /// The field's fully qualified name.
    pub field: String,
    /// Signature or document timestamp.
    pub kind: SignatureKind,
    /// The signature dictionary's `/SubFilter`.
    pub sub_filter: Option<String>,
    /// The revision (counted from 1, the original document) whose end the byte range reaches.
    pub revision: usize,
    /// The `/ByteRange` as written.
    pub byte_range: Vec<i64>,
    /// The byte range starts at 0, is within the file, and leaves out exactly this signature's
    /// `/Contents` hex string with its delimiters.
    pub byte_range_ok: bool,
    /// What the byte range covers and what came after it.
    pub coverage: Coverage,
    /// Who signed: the signer certificate (for a document timestamp, the TSA's).
    pub signer: Option<Signer>,
    /// The signing time the signature dictionary claims (`/M`).
    pub signing_time: Option<DateTime<FixedOffset>>,
    /// The signature timestamp (for a document timestamp: the timestamp itself).
    pub timestamp: Option<Timestamp>,
    /// The signed bytes are unchanged: their digest equals the signed message digest (for a
    /// document timestamp, the TSTInfo's message imprint).
    pub intact: bool,
    /// The signature over the signed attributes verifies with the signer certificate's key, and
    /// signing-certificate-v2 (when present) names that certificate.
    pub valid: bool,
    /// The signer certificate chains to a trust anchor, every certificate of the chain was
    /// valid at the signing time, the CAs are CAs and the signer may sign.
    pub chain_trusted: bool,
    /// The chain's subjects, from the signer up (as far as it could be built).
    pub chain: Vec<String>,
    /// The signer certificate's revocation status according to the embedded CRLs.
    pub revocation: Revocation,
    /// The PAdES baseline level reached (`None` for document timestamps and for signatures
    /// short of B-B).
    pub level: Option<PadesLevel>,
    /// Everything found wrong, in English.
    pub problems: Vec<String>,
}

/// What a byte range covers.
#[derive(Clone, Debug, Serialize)]
pub struct Coverage {
    /// The byte range reaches the end of the file.
    pub entire_file: bool,
    /// Number of revisions after the signed one.
    pub later_revisions: usize,
    /// Every later revision only makes changes PAdES allows.
    pub later_updates_allowed: bool,
    /// The changes in later revisions that are not allowed.
    pub disallowed_changes: Vec<String>,
}

/// The identity in a signer certificate.
#[derive(Clone, Debug, Serialize)]
pub struct Signer {
    /// The subject distinguished name (RFC 4514).
    pub subject: String,
    /// The issuer distinguished name (RFC 4514).
    pub issuer: String,
    /// The certificate's serial number, hexadecimal.
    pub certificate_serial: String,
    /// Subject commonName.
    pub common_name: Option<String>,
    /// Subject givenName.
    pub given_name: Option<String>,
    /// Subject surname.
    pub surname: Option<String>,
    /// Subject serialNumber (2.5.4.5) as written, e.g. `PNOSE-197701172392`.
    pub serial_number: Option<String>,
    /// The Swedish personal identity number (12 digits) from serialNumber, in ETSI EN 319 412-1
    /// form (`PNOSE-` followed by it) or bare.
    pub personnummer: Option<String>,
}

/// An RFC 3161 timestamp token.
#[derive(Clone, Debug, Serialize)]
pub struct Timestamp {
    /// The TSTInfo's genTime.
    pub time: DateTime<Utc>,
    /// The TSA certificate's subject.
    pub authority: Option<String>,
    /// The message imprint is the digest of what the token timestamps.
    pub intact: bool,
    /// The TSA's signature verifies.
    pub valid: bool,
    /// The TSA certificate chains to a trust anchor and may issue timestamps.
    pub trusted: bool,
    /// The TSA chain's subjects.
    pub chain: Vec<String>,
}

/// Revocation status from the CRLs in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Revocation {
    /// A CRL from the issuing CA, whose signature verifies, does not list the certificate.
    #[serde(rename = "good")]
    Good,
    /// A CRL from the issuing CA lists the certificate.
    #[serde(rename = "revoked")]
    Revoked,
    /// There are OCSP responses but no CRL for the certificate; OCSP is not checked.
    #[serde(rename = "not checked")]
    NotChecked,
    /// No revocation data for the certificate.
    #[serde(rename = "no data")]
    NoData,
}

/// A PAdES baseline level (ETSI EN 319 142-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PadesLevel {
    /// Intact and valid, `/SubFilter /ETSI.CAdES.detached`, signing-certificate-v2.
    #[serde(rename = "B-B")]
    BB,
    /// B-B plus a valid signature timestamp.
    #[serde(rename = "B-T")]
    BT,
    /// B-T plus the chain and the signer's revocation data in the DSS.
    #[serde(rename = "B-LT")]
    BLt,
    /// B-LT plus a valid document timestamp in a later revision covering that DSS.
    #[serde(rename = "B-LTA")]
    BLta,
}

impl PadesLevel {
    /// The level's name, e.g. `B-LTA`.
    pub fn name(self) -> &'static str {
        match self {
            Self::BB => "B-B",
            Self::BT => "B-T",
            Self::BLt => "B-LT",
            Self::BLta => "B-LTA",
        }
    }
}

impl Revocation {
    fn describe(self) -> &'static str {
        match self {
            Self::Good => "good (CRL)",
            Self::Revoked => "REVOKED",
            Self::NotChecked => "OCSP responses present, not checked",
            Self::NoData => "no data",
        }
    }
}

fn yes_no(ok: bool, yes: &str, no: &str) -> String {
    if ok {
        yes.to_owned()
    } else {
        no.to_uppercase()
    }
}

impl Report {
    /// A short listing in English: one block per signature, then the overall verdict.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (index, signature) in self.signatures.iter().enumerate() {
            signature.write_text(index + 1, &mut out);
            out.push('\n');
        }
        if !self.modifications.is_empty() {
            out.push_str("Changed after the last signature:\n");
            for change in &self.modifications {
                let _ = writeln!(out, "  - {change}");
            }
        }
        let count = self.signatures.len();
        let verdict = if count == 0 {
            "the document has no signatures".to_owned()
        } else if !self.all_valid {
            let failed = self
                .signatures
                .iter()
                .filter(|s| !s.is_valid_overall())
                .count();
            format!("INVALID: {failed} of {count} signature(s) failed verification")
        } else if self.modified_after_last_signature {
            format!(
                "MODIFIED: all {count} signature(s) are valid, but the document was changed after \
                 the last signature"
            )
        } else {
            format!(
                "VALID: all {count} signature(s) are intact, valid and trusted, and nothing but \
                 allowed updates follows them"
            )
        };
        let _ = writeln!(out, "Verdict ({} revision(s)): {verdict}", self.revisions);
        out
    }
}

impl SignatureReport {
    /// Intact, valid, sane byte range, trusted and not revoked.
    pub(super) fn is_valid_overall(&self) -> bool {
        self.intact
            && self.valid
            && self.byte_range_ok
            && self.chain_trusted
            && self.revocation != Revocation::Revoked
    }

    fn write_text(&self, number: usize, out: &mut String) {
        let kind = match self.kind {
            SignatureKind::Signature => "signature",
            SignatureKind::DocumentTimestamp => "document timestamp",
        };
        let _ = writeln!(
            out,
            "Signature {number}: {:?} ({kind}, revision {})",
            self.field, self.revision
        );
        if let Some(signer) = &self.signer {
            let name = signer.common_name.as_deref().unwrap_or(&signer.subject);
            match &signer.personnummer {
                Some(number) => {
                    let _ = writeln!(out, "  Signer:      {name}, personnummer {number}");
                }
                None => {
                    let _ = writeln!(out, "  Signer:      {name}");
                }
            }
        }
        if let Some(time) = self.signing_time {
            let _ = writeln!(out, "  Signed at:   {} (claimed, /M)", time.to_rfc3339());
        }
        if let Some(timestamp) = &self.timestamp {
            let verdict = if timestamp.intact && timestamp.valid && timestamp.trusted {
                "valid, trusted"
            } else if timestamp.intact && timestamp.valid {
                "valid, NOT TRUSTED"
            } else {
                "INVALID"
            };
            let _ = writeln!(
                out,
                "  Timestamp:   {} by {} ({verdict})",
                timestamp.time.to_rfc3339(),
                timestamp.authority.as_deref().unwrap_or("an unknown TSA"),
            );
        }
        let coverage = if self.coverage.entire_file {
            "covers the entire file".to_owned()
        } else if self.coverage.later_updates_allowed {
            format!(
                "covers revision {}; {} later revision(s) with allowed updates only",
                self.revision, self.coverage.later_revisions
            )
        } else {
            format!(
                "covers revision {}; LATER REVISIONS CHANGE THE DOCUMENT",
                self.revision
            )
        };
        let _ = writeln!(
            out,
            "  Integrity:   {}; {coverage}",
            yes_no(self.intact && self.byte_range_ok, "intact", "not intact")
        );
        let _ = writeln!(
            out,
            "  Signature:   {}",
            yes_no(self.valid, "valid", "invalid")
        );
        let _ = writeln!(
            out,
            "  Chain:       {}, {} certificate(s) up to {}",
            yes_no(self.chain_trusted, "trusted", "not trusted"),
            self.chain.len(),
            self.chain.last().map_or("nothing", String::as_str)
        );
        let _ = writeln!(out, "  Revocation:  {}", self.revocation.describe());
        let level = self.level.map_or("none", PadesLevel::name);
        let _ = writeln!(out, "  PAdES level: {level}");
        for problem in &self.problems {
            let _ = writeln!(out, "  Problem:     {problem}");
        }
    }
}
