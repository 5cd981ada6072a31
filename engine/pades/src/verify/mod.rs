//! Verification of the signatures in a PDF.
//!
//! [`verify`] finds every signature field with a value (signatures and document timestamps)
//! and reports, for each: whether the signed bytes are intact, whether the CMS signature
//! verifies with the signer certificate, the signer's identity (personnummer included), the
//! signing time and signature timestamp, the chain to the caller's trust anchors, the
//! revocation status from the DSS's CRLs, what the byte range covers and whether later
//! incremental updates stay within what PAdES allows, and the PAdES baseline level reached.
//! Problems with signatures are reported, never returned as errors: [`VerifyError`] only means
//! the file is not a readable PDF.
//!
//! Revisions are numbered from 1, the original document; each incremental update (ending with
//! its own `%%EOF`) is one more. A signature belongs to the revision its byte range ends with.

mod certs;
mod cms;
mod crypto;
mod diff;
mod pdf;
mod report;
mod timestamp;
mod tlv;

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use x509_cert::Certificate;

use self::certs::{Cert, Chain, Purpose, build_chain, check_revocation};
use self::cms::ID_AA_SIGNATURE_TIME_STAMP_TOKEN;
use self::pdf::{ByteRange, Dss, Revision, SignatureField};
use self::timestamp::{TokenCheck, check_token};
use self::tlv::Tlv;

pub use self::report::{
    Coverage, PadesLevel, Report, Revocation, SignatureKind, SignatureReport, Signer, Timestamp,
};

/// Why a file could not be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file is not a PDF that can be read.
    #[error("not a readable PDF: {0}")]
    Unreadable(String),
}

/// Verifies every signature in `pdf` against `trust_anchors`.
///
/// Certificates are checked at the signature timestamp's time, else at the time the signature
/// dictionary claims (`/M`); a signature with neither cannot have its chain trusted (see
/// [`verify_at`]).
pub fn verify(pdf: &[u8], trust_anchors: &[Certificate]) -> Result<Report, VerifyError> {
    run(pdf, trust_anchors, None)
}

/// [`verify`], checking certificates at `now` when a signature has neither a timestamp nor a
/// claimed signing time.
pub fn verify_at(
    pdf: &[u8],
    trust_anchors: &[Certificate],
    now: DateTime<Utc>,
) -> Result<Report, VerifyError> {
    run(pdf, trust_anchors, Some(now))
}

/// What every signature is checked against.
struct Context<'a> {
    pdf: &'a [u8],
    revisions: &'a [Revision],
    /// The disallowed changes of each revision (index 0: revision 1, which has none).
    changes: &'a [Vec<String>],
    anchors: &'a [Cert],
    dss: &'a Dss,
    dss_certs: &'a [Cert],
    now: Option<DateTime<Utc>>,
}

/// What the PAdES level of a signature depends on beyond its own report.
struct LevelEvidence {
    /// There is a valid signature timestamp.
    timestamped: bool,
    /// The signer's certification path (DER), signer first, and whether it ends at a trust
    /// anchor or a self-signed certificate.
    path: Vec<Vec<u8>>,
    path_complete: bool,
    /// The certificates in the signature's CMS.
    cms_certs: Vec<Vec<u8>>,
    signer: Cert,
    issuer: Option<Cert>,
}

impl LevelEvidence {
    /// Whether `dss` holds the validation data B-LT asks for: the path's certificates (here or
    /// in the signature) and revocation data for the signer certificate.
    fn long_term_data_in(&self, dss: &Dss) -> bool {
        let certs_present = self
            .path
            .iter()
            .all(|der| dss.certs.contains(der) || self.cms_certs.contains(der));
        let revocation = check_revocation(&self.signer, self.issuer.as_ref(), &dss.crls, dss.ocsps);
        self.path_complete
            && certs_present
            && matches!(revocation.status, Revocation::Good | Revocation::NotChecked)
    }
}

fn run(
    pdf: &[u8],
    trust_anchors: &[Certificate],
    now: Option<DateTime<Utc>>,
) -> Result<Report, VerifyError> {
    let (revisions, whole) = pdf::revisions(pdf)?;
    let anchors: Vec<Cert> = trust_anchors
        .iter()
        .filter_map(|anchor| Cert::from_certificate(anchor).ok())
        .collect();
    let dss = pdf::dss(&whole);
    let dss_certs: Vec<Cert> = dss
        .certs
        .iter()
        .filter_map(|der| Cert::from_der(der).ok())
        .collect();
    let mut changes = vec![Vec::new()];
    changes.extend(
        revisions
            .windows(2)
            .zip(2..)
            .map(|(pair, number)| diff::disallowed_changes(&pair[0].doc, &pair[1].doc, number)),
    );
    if let Some(last) = changes.last_mut()
        && let Some(trailing) = trailing_data(pdf, &revisions)
    {
        last.push(trailing);
    }
    let context = Context {
        pdf,
        revisions: &revisions,
        changes: &changes,
        anchors: &anchors,
        dss: &dss,
        dss_certs: &dss_certs,
        now,
    };
    let checked: Vec<(SignatureReport, Option<LevelEvidence>)> = pdf::signature_fields(&whole)
        .iter()
        .map(|field| context.check(field))
        .collect();
    let signatures = assign_levels(&context, checked);
    let modifications: Vec<String> = match signatures.iter().map(|s| s.revision).max() {
        Some(last_signed) => changes
            .iter()
            .skip(last_signed)
            .flatten()
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    Ok(Report {
        revisions: revisions.len(),
        all_valid: !signatures.is_empty()
            && signatures.iter().all(SignatureReport::is_valid_overall),
        modified_after_last_signature: !modifications.is_empty(),
        modifications,
        signatures,
    })
}

/// Bytes after the last revision that are not white space.
fn trailing_data(pdf: &[u8], revisions: &[Revision]) -> Option<String> {
    let end = revisions.last()?.end;
    let rest = pdf.get(end..)?;
    (!pdf::is_blank(rest))
        .then(|| format!("{} byte(s) follow the last revision's %%EOF", rest.len()))
}

/// Sets every signature's PAdES level, which for B-LTA depends on the document timestamps.
fn assign_levels(
    context: &Context<'_>,
    checked: Vec<(SignatureReport, Option<LevelEvidence>)>,
) -> Vec<SignatureReport> {
    let archive_timestamps: Vec<usize> = checked
        .iter()
        .map(|(report, _)| report)
        .filter(|report| {
            report.kind == SignatureKind::DocumentTimestamp
                && report.intact
                && report.valid
                && report.byte_range_ok
        })
        .map(|report| report.revision)
        .collect();
    checked
        .into_iter()
        .map(|(mut report, evidence)| {
            report.level = evidence.map(|evidence| {
                if !evidence.timestamped {
                    PadesLevel::BB
                } else if !evidence.long_term_data_in(context.dss) {
                    PadesLevel::BT
                } else if archive_timestamps.iter().any(|&revision| {
                    revision > report.revision
                        && context.revisions.get(revision - 1).is_some_and(|covered| {
                            evidence.long_term_data_in(&pdf::dss(&covered.doc))
                        })
                }) {
                    PadesLevel::BLta
                } else {
                    PadesLevel::BLt
                }
            });
            report
        })
        .collect()
}

impl Context<'_> {
    /// Checks one signature field; the level evidence is there for signatures reaching B-B.
    fn check(&self, field: &SignatureField) -> (SignatureReport, Option<LevelEvidence>) {
        let mut problems = Vec::new();
        let byte_range = ByteRange::new(&field.byte_range, self.pdf.len());
        let byte_range_ok = match &byte_range {
            Ok(range) => {
                let range_problems = range.problems(self.pdf, field.contents.as_deref());
                let ok = range_problems.is_empty();
                problems.extend(range_problems);
                ok
            }
            Err(e) => {
                problems.push(e.clone());
                false
            }
        };
        let revision = match &byte_range {
            Ok(range) => self.revision_of(range.end(), &mut problems),
            Err(_) => self.revisions.len(),
        };
        let entire_file = byte_range
            .as_ref()
            .is_ok_and(|range| pdf::is_blank(self.pdf.get(range.end()..).unwrap_or_default()));
        let disallowed_changes: Vec<String> = self
            .changes
            .iter()
            .skip(revision)
            .flatten()
            .cloned()
            .collect();
        let signing_time = field.claimed_time.as_deref().and_then(|claimed| {
            let parsed = parse_pdf_date(claimed);
            if parsed.is_none() {
                problems.push(format!("unreadable signing time /M {claimed:?}"));
            }
            parsed
        });
        let mut report = SignatureReport {
            field: field.name.clone(),
            kind: field.kind,
            sub_filter: field.sub_filter.clone(),
            revision,
            byte_range: field.byte_range.clone(),
            byte_range_ok,
            coverage: Coverage {
                entire_file,
                later_revisions: self.revisions.len().saturating_sub(revision),
                later_updates_allowed: disallowed_changes.is_empty(),
                disallowed_changes,
            },
            signer: None,
            signing_time,
            timestamp: None,
            intact: false,
            valid: false,
            chain_trusted: false,
            chain: Vec::new(),
            revocation: Revocation::NoData,
            level: None,
            problems,
        };
        let contents = field.contents.as_deref().map(Tlv::first);
        let (cms_der, parts) = match (contents, &byte_range) {
            (Some(Ok(cms)), Ok(range)) => (cms.raw, range.parts(self.pdf)),
            (Some(Err(e)), _) => {
                report.problems.push(format!("unreadable /Contents: {e}"));
                return (report, None);
            }
            (None, _) => {
                report
                    .problems
                    .push("the signature has no /Contents".into());
                return (report, None);
            }
            (_, Err(_)) => return (report, None),
        };
        let evidence = match field.kind {
            SignatureKind::Signature => self.check_signature(cms_der, &parts, &mut report),
            SignatureKind::DocumentTimestamp => {
                self.check_document_timestamp(cms_der, &parts, &mut report);
                None
            }
        };
        (report, evidence)
    }

    /// The revision a byte range ending at `end` belongs to.
    fn revision_of(&self, end: usize, problems: &mut Vec<String>) -> usize {
        if let Some(index) = self
            .revisions
            .iter()
            .position(|revision| revision.marker_end <= end && end <= revision.end)
        {
            return index + 1;
        }
        problems.push("the byte range does not end where a revision ends".into());
        self.revisions
            .iter()
            .position(|revision| end <= revision.end)
            .map_or(self.revisions.len(), |index| index + 1)
    }

    fn check_signature(
        &self,
        cms_der: &[u8],
        parts: &[&[u8]],
        report: &mut SignatureReport,
    ) -> Option<LevelEvidence> {
        let signed_data = match cms::parse(cms_der) {
            Ok(signed_data) => signed_data,
            Err(e) => {
                report.problems.push(e);
                return None;
            }
        };
        if signed_data.content.is_some() {
            report
                .problems
                .push("the CMS encapsulates its content; PAdES signatures are detached".into());
            return None;
        }
        let [signer_info, rest @ ..] = signed_data.signers.as_slice() else {
            report.problems.push("the CMS has no signer".into());
            return None;
        };
        if !rest.is_empty() {
            report
                .problems
                .push("the CMS has more than one signer; only the first is checked".into());
        }
        let check = signed_data.check_signer(signer_info, parts);
        report.intact = check.intact;
        report.valid = check.valid;
        report.problems.extend(check.problems);
        let cert = check.cert?;
        report.signer = Some(cert.identity());

        let token = signer_info
            .unsigned_values(ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
            .first()
            .map(|token| check_token(token.raw, &[signer_info.signature]));
        let timestamp_time = token
            .as_ref()
            .filter(|token| token.intact && token.valid)
            .and_then(|token| token.time);
        if let Some(token) = &token {
            report.timestamp = self.timestamp_report(token, &signed_data.certificates, report);
        }
        let at = timestamp_time
            .or_else(|| report.signing_time.map(|time| time.with_timezone(&Utc)))
            .or(self.now);
        let pool: Vec<Cert> = signed_data
            .certificates
            .iter()
            .chain(self.dss_certs)
            .cloned()
            .collect();
        let chain = build_chain(cert, &pool, self.anchors, at, Purpose::Signing);
        self.record_chain(&chain, &signed_data.crls, report);

        let b_b = report.intact
            && report.valid
            && report.byte_range_ok
            && check.signing_certificate_v2
            && report.sub_filter.as_deref() == Some("ETSI.CAdES.detached");
        let path_complete = chain.path.last().is_some_and(|top| {
            chain.trusted
                || self.anchors.iter().any(|anchor| anchor.der == top.der)
                || top.issuer_name() == &top.cert.tbs_certificate.subject
        });
        b_b.then(|| LevelEvidence {
            timestamped: report
                .timestamp
                .as_ref()
                .is_some_and(|timestamp| timestamp.intact && timestamp.valid),
            path: chain.path.iter().map(|cert| cert.der.clone()).collect(),
            path_complete,
            cms_certs: signed_data
                .certificates
                .iter()
                .map(|cert| cert.der.clone())
                .collect(),
            signer: cert.clone(),
            issuer: chain.issuer().cloned(),
        })
    }

    /// The report of a signature timestamp token, with its TSA's chain.
    fn timestamp_report(
        &self,
        token: &TokenCheck,
        signature_certs: &[Cert],
        report: &mut SignatureReport,
    ) -> Option<Timestamp> {
        report.problems.extend(
            token
                .problems
                .iter()
                .map(|problem| format!("signature timestamp: {problem}")),
        );
        let time = token.time?;
        let (trusted, chain) = match &token.tsa {
            Some(tsa) => {
                let pool: Vec<Cert> = token
                    .certificates
                    .iter()
                    .chain(signature_certs)
                    .chain(self.dss_certs)
                    .cloned()
                    .collect();
                let chain =
                    build_chain(tsa, &pool, self.anchors, Some(time), Purpose::Timestamping);
                report.problems.extend(
                    chain
                        .problems
                        .iter()
                        .map(|problem| format!("signature timestamp: {problem}")),
                );
                (chain.trusted, chain.subjects())
            }
            None => (false, Vec::new()),
        };
        Some(Timestamp {
            time,
            authority: token.tsa.as_ref().map(Cert::subject),
            intact: token.intact,
            valid: token.valid,
            trusted,
            chain,
        })
    }

    fn check_document_timestamp(
        &self,
        cms_der: &[u8],
        parts: &[&[u8]],
        report: &mut SignatureReport,
    ) {
        let token = check_token(cms_der, parts);
        report.intact = token.intact;
        report.valid = token.valid;
        report.problems.extend(token.problems.iter().cloned());
        let Some(tsa) = &token.tsa else {
            return;
        };
        report.signer = Some(tsa.identity());
        let pool: Vec<Cert> = token
            .certificates
            .iter()
            .chain(self.dss_certs)
            .cloned()
            .collect();
        let at = token.time.or(self.now);
        let chain = build_chain(tsa, &pool, self.anchors, at, Purpose::Timestamping);
        self.record_chain(&chain, &token.crls, report);
        report.timestamp = token.time.map(|time| Timestamp {
            time,
            authority: Some(tsa.subject()),
            intact: report.intact,
            valid: report.valid,
            trusted: report.chain_trusted,
            chain: report.chain.clone(),
        });
    }

    /// Puts the chain and the revocation status of its end entity into `report`.
    fn record_chain(&self, chain: &Chain<'_>, cms_crls: &[Vec<u8>], report: &mut SignatureReport) {
        report.chain_trusted = chain.trusted;
        report.chain = chain.subjects();
        report.problems.extend(chain.problems.iter().cloned());
        if let Some(cert) = chain.path.first() {
            let crls: Vec<Vec<u8>> = self.dss.crls.iter().chain(cms_crls).cloned().collect();
            let revocation = check_revocation(cert, chain.issuer(), &crls, self.dss.ocsps);
            report.revocation = revocation.status;
            report.problems.extend(revocation.problems);
        }
    }
}

/// Reads a PDF date, `D:YYYYMMDDHHmmSSOHH'mm'` (everything after the year optional).
fn parse_pdf_date(date: &str) -> Option<DateTime<FixedOffset>> {
    let date = date.strip_prefix("D:").unwrap_or(date);
    let digits = date.bytes().take_while(u8::is_ascii_digit).count();
    if digits < 4 || digits % 2 != 0 || digits > 14 {
        return None;
    }
    let field = |from: usize, default: u32| -> Option<u32> {
        match date.get(from..from + 2) {
            Some(part) if from + 2 <= digits => part.parse().ok(),
            _ => Some(default),
        }
    };
    let year: i32 = date.get(..4)?.parse().ok()?;
    let (month, day) = (field(4, 1)?, field(6, 1)?);
    let (hour, minute, second) = (field(8, 0)?, field(10, 0)?, field(12, 0)?);
    let zone = date.get(digits..)?;
    let offset_seconds = match zone.as_bytes().first() {
        None | Some(b'Z') => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let zone: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
            let hours: i32 = zone.get(..2)?.parse().ok()?;
            let minutes: i32 = zone.get(2..4).map_or(Some(0), |m| m.parse().ok())?;
            let seconds = hours * 3600 + minutes * 60;
            if sign == b'-' { -seconds } else { seconds }
        }
        Some(_) => return None,
    };
    let local = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    FixedOffset::east_opt(offset_seconds)?
        .from_local_datetime(&local)
        .single()
}
