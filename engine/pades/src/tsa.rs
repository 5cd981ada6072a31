//! RFC 3161 timestamps: the port, and the built-in development TSA.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cmpv2::status::{PkiStatus, PkiStatusInfo};
use const_oid::ObjectIdentifier;
use der::asn1::{GeneralizedTime, Int, OctetString};
use der::{Decode, Encode};
use rand_core::{OsRng, RngCore};
use spki::AlgorithmIdentifier;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

use crate::SignError;
use crate::cades::{self, Content, ID_SHA256};
use crate::pki::{DevPki, SoftwareCredential};

/// `id-ct-TSTInfo`.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// The policy of the development TSA (a TEST policy; not registered anywhere).
const DEV_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.25.2459063832");

/// A time-stamping authority: returns a TimeStampToken (a CMS ContentInfo, DER) over a
/// SHA-256 digest.
pub trait TimestampAuthority: Send + Sync {
    fn timestamp(&self, sha256: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// The clock a TSA reads (the engine's clock in production, the system time in effect).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The development TSA: signs tokens in-process with the development PKI's TSA key.
pub struct DevTsa {
    credential: SoftwareCredential,
    clock: Clock,
}

impl DevTsa {
    pub fn new(pki: &DevPki, clock: Clock) -> Result<Self, SignError> {
        Ok(Self {
            credential: pki
                .tsa
                .credential(vec![pki.tsa.der.clone(), pki.ca.der.clone()])?,
            clock,
        })
    }

    /// A token over `sha256` at `time`, with `nonce` from the request when given.
    pub fn token_at(
        &self,
        sha256: &[u8],
        time: DateTime<Utc>,
        nonce: Option<Int>,
    ) -> Result<Vec<u8>, SignError> {
        let mut serial = [0u8; 16];
        OsRng.fill_bytes(&mut serial);
        serial[0] &= 0x7f;
        let seconds = u64::try_from(time.timestamp()).unwrap_or(0);
        let info = TstInfo {
            version: TspVersion::V1,
            policy: DEV_POLICY,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifier {
                    oid: ID_SHA256,
                    parameters: None,
                },
                hashed_message: OctetString::new(sha256)?,
            },
            serial_number: Int::new(&serial)?,
            gen_time: GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(seconds))?,
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce,
            tsa: None,
            extensions: None,
        };
        let info_der = info.to_der()?;
        cades::sign(
            &self.credential,
            Content::Encapsulated {
                content_type: ID_CT_TST_INFO,
                der: &info_der,
            },
            &|_| Ok(Vec::new()),
        )
    }

    /// Answers an RFC 3161 request (DER `TimeStampReq`) with a DER `TimeStampResp`, as the
    /// HTTP endpoint of a TSA does.
    pub fn respond(&self, request: &[u8]) -> Result<Vec<u8>, SignError> {
        let request = TimeStampReq::from_der(request)?;
        if request.message_imprint.hash_algorithm.oid != ID_SHA256 {
            return Err(SignError::Timestamp(
                "the development TSA only accepts SHA-256 imprints".into(),
            ));
        }
        let token = self.token_at(
            request.message_imprint.hashed_message.as_bytes(),
            (self.clock)(),
            request.nonce,
        )?;
        let response = TimeStampResp {
            status: PkiStatusInfo {
                status: PkiStatus::Accepted,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(::cms::content_info::ContentInfo::from_der(&token)?),
        };
        Ok(response.to_der()?)
    }
}

impl TimestampAuthority for DevTsa {
    fn timestamp(&self, sha256: &[u8]) -> Result<Vec<u8>, SignError> {
        self.token_at(sha256, (self.clock)(), None)
    }
}
