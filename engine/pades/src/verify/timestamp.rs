//! RFC 3161 timestamp tokens: signature timestamps and document timestamps.

use chrono::{DateTime, NaiveDate, Utc};
use der::Tag;
use x509_tsp::MessageImprint;

use super::certs::Cert;
use super::cms::{self, ID_CT_TST_INFO};
use super::crypto::DigestAlgorithm;
use super::tlv::Tlv;

/// The outcome of checking a timestamp token.
pub(super) struct TokenCheck {
    /// The TSTInfo's genTime.
    pub time: Option<DateTime<Utc>>,
    /// The message imprint is the digest of the timestamped data.
    pub intact: bool,
    /// The TSA's signature verifies.
    pub valid: bool,
    /// The TSA certificate.
    pub tsa: Option<Cert>,
    /// The token's certificates (for the TSA's chain).
    pub certificates: Vec<Cert>,
    /// CRLs carried in the token.
    pub crls: Vec<Vec<u8>>,
    /// What is wrong, in English.
    pub problems: Vec<String>,
}

/// Checks the token `der` over `timestamped` (the concatenation of the parts).
pub(super) fn check_token(der: &[u8], timestamped: &[&[u8]]) -> TokenCheck {
    let mut check = TokenCheck {
        time: None,
        intact: false,
        valid: false,
        tsa: None,
        certificates: Vec::new(),
        crls: Vec::new(),
        problems: Vec::new(),
    };
    let signed_data = match cms::parse(der) {
        Ok(signed_data) => signed_data,
        Err(e) => {
            check.problems.push(e);
            return check;
        }
    };
    let tst_info = match (signed_data.content_type, signed_data.content) {
        (ID_CT_TST_INFO, Some(content)) => match TstInfo::read(content) {
            Ok(tst_info) => tst_info,
            Err(e) => {
                check.problems.push(format!("unreadable TSTInfo: {e}"));
                return check;
            }
        },
        _ => {
            check
                .problems
                .push("the token does not encapsulate a TSTInfo".into());
            return check;
        }
    };
    check.time = Some(tst_info.gen_time);
    let imprint = &tst_info.message_imprint;
    match DigestAlgorithm::from_oid(imprint.hash_algorithm.oid) {
        Some(algorithm) => {
            check.intact = algorithm.digest(timestamped) == imprint.hashed_message.as_bytes();
            if !check.intact {
                check
                    .problems
                    .push("the message imprint is not the digest of the timestamped data".into());
            }
        }
        None => check.problems.push(format!(
            "unsupported message imprint algorithm {}",
            imprint.hash_algorithm.oid
        )),
    }
    match (signed_data.signers.as_slice(), signed_data.content) {
        ([signer], Some(content)) => {
            let signer_check = signed_data.check_signer(signer, &[content]);
            check.valid = signer_check.intact && signer_check.valid;
            check.tsa = signer_check.cert.cloned();
            check.problems.extend(signer_check.problems);
        }
        _ => check
            .problems
            .push("a timestamp token must have exactly one signer".into()),
    }
    check.certificates = signed_data.certificates;
    check.crls = signed_data.crls;
    check
}

/// The parts of a TSTInfo verification uses. Read by hand because genTime may have fractional
/// seconds (RFC 3161 §2.4.2), which `der`'s GeneralizedTime refuses.
struct TstInfo {
    message_imprint: MessageImprint,
    gen_time: DateTime<Utc>,
}

impl TstInfo {
    fn read(der: &[u8]) -> Result<Self, String> {
        let fields = Tlv::first(der)
            .and_then(|tst_info| tst_info.children())
            .map_err(|e| e.to_string())?;
        // version, policy, messageImprint, serialNumber, genTime, ...
        let (Some(imprint), Some(gen_time)) = (fields.get(2), fields.get(4)) else {
            return Err("too few elements".into());
        };
        let message_imprint = imprint
            .decode()
            .map_err(|e| format!("messageImprint: {e}"))?;
        if gen_time.tag != Tag::GeneralizedTime {
            return Err("genTime is not a GeneralizedTime".into());
        }
        let gen_time = std::str::from_utf8(gen_time.value)
            .ok()
            .and_then(generalized_time)
            .ok_or("unreadable genTime")?;
        Ok(Self {
            message_imprint,
            gen_time,
        })
    }
}

/// `YYYYMMDDHHMMSS[.f*]Z`.
fn generalized_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.strip_suffix('Z')?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.len() != 14
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| whole.get(range)?.parse::<u32>().ok();
    let nanos = format!("{fraction:0<9}").get(..9)?.parse::<u32>().ok()?;
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(0..4)?).ok()?,
        number(4..6)?,
        number(6..8)?,
    )?;
    let time = date.and_hms_nano_opt(number(8..10)?, number(10..12)?, number(12..14)?, nanos)?;
    Some(time.and_utc())
}
