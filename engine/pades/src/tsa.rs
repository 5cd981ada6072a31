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
const DEV_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.25.245906383");

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
        let tsa = pki.tsa.as_ref().ok_or_else(|| {
            SignError::Pki("the PKI has no TSA certificate (tsa.pem, tsa-key.pem)".into())
        })?;
        Ok(Self {
            credential: tsa.credential(vec![tsa.der.clone(), pki.ca.der.clone()])?,
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
        let mut random = [0u8; 16];
        OsRng.fill_bytes(&mut random);
        let serial = positive_minimal(random);
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

/// A TSA reached over HTTP(S) with the RFC 3161 protocol (`application/timestamp-query`).
/// Every token is checked: granted, over our digest, with our nonce.
pub struct HttpTsa {
    url: String,
    client: reqwest::blocking::Client,
}

/// How long to wait for a TSA.
pub const TSA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl HttpTsa {
    /// `server_ca_pem`: the CA of an `https://` TSA's server certificate (pinned; the system's
    /// store is not used). Plain `http://` is fine too: the token is signed.
    pub fn new(url: &str, server_ca_pem: Option<&[u8]>) -> Result<Self, SignError> {
        let config = |m: String| SignError::Config(format!("TSA {url}: {m}"));
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(config("the URL must start with http:// or https://".into()));
        }
        let mut roots = rustls::RootCertStore::empty();
        if url.starts_with("https://") {
            let pem = server_ca_pem
                .ok_or_else(|| config("an https TSA needs its server CA (tsa_server_ca)".into()))?;
            use rustls::pki_types::pem::PemObject;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
                roots
                    .add(cert.map_err(|e| config(e.to_string()))?)
                    .map_err(|e| config(e.to_string()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let builder = reqwest::blocking::Client::builder()
            .timeout(TSA_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls);
        Ok(Self {
            url: url.to_owned(),
            client: builder.build().map_err(|e| config(e.to_string()))?,
        })
    }
}

/// Random bytes made into a positive INTEGER whose DER encoding is exactly these bytes (a
/// request nonce, a token's serial number). `Int::new` keeps a leading 0x00, and a first byte
/// of 0x00 before one below 0x80 (1 draw in 256 with a first byte masked to 0x00..=0x7f) is
/// then a non-minimal encoding that strict decoders refuse: our own client refused such a
/// token ("the token holds no TSTInfo") once in CI. 0x40..=0x7f keeps it positive and minimal.
fn positive_minimal<const N: usize>(mut random: [u8; N]) -> [u8; N] {
    if let Some(first) = random.first_mut() {
        *first = (*first & 0x3f) | 0x40;
    }
    random
}

impl TimestampAuthority for HttpTsa {
    fn timestamp(&self, sha256: &[u8]) -> Result<Vec<u8>, SignError> {
        let fail = |m: String| SignError::Timestamp(format!("{}: {m}", self.url));
        let mut random = [0u8; 8];
        OsRng.fill_bytes(&mut random);
        let nonce = positive_minimal(random);
        let request = TimeStampReq {
            version: TspVersion::V1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifier {
                    oid: ID_SHA256,
                    parameters: None,
                },
                hashed_message: OctetString::new(sha256)?,
            },
            req_policy: None,
            nonce: Some(Int::new(&nonce)?),
            cert_req: true,
            extensions: None,
        };
        let response = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/timestamp-query")
            .body(request.to_der()?)
            .send()
            .map_err(|e| fail(format!("no answer ({e})")))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        let body = response
            .bytes()
            .map_err(|e| fail(format!("reading the answer: {e}")))?;
        let answer = TimeStampResp::from_der(&body)
            .map_err(|e| fail(format!("not a TimeStampResp: {e}")))?;
        if !matches!(
            answer.status.status,
            PkiStatus::Accepted | PkiStatus::GrantedWithMods
        ) {
            return Err(fail(format!("refused ({:?})", answer.status.status)));
        }
        let token = answer
            .time_stamp_token
            .ok_or_else(|| fail("granted without a token".into()))?;
        let info = tst_info(&token).ok_or_else(|| fail("the token holds no TSTInfo".into()))?;
        if info.message_imprint.hashed_message.as_bytes() != sha256 {
            return Err(fail("the token is over another digest".into()));
        }
        if info.nonce.as_ref().map(Int::as_bytes) != Some(Int::new(&nonce)?.as_bytes()) {
            return Err(fail("the token does not carry our nonce".into()));
        }
        Ok(token.to_der()?)
    }
}

/// The TSTInfo inside a timestamp token.
pub fn tst_info(token: &::cms::content_info::ContentInfo) -> Option<TstInfo> {
    let signed = token
        .content
        .decode_as::<::cms::signed_data::SignedData>()
        .ok()?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return None;
    }
    let content = signed.encap_content_info.econtent?;
    TstInfo::from_der(content.value()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The development TSA's tokens decode (the policy OID too) and carry the digest.
    #[test]
    fn dev_tokens_decode_and_carry_the_digest() -> Result<(), Box<dyn std::error::Error>> {
        let now = DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default();
        let pki = DevPki::generate(now, None)?;
        let tsa = DevTsa::new(&pki, Arc::new(move || now))?;
        let token = ::cms::content_info::ContentInfo::from_der(&tsa.timestamp(&[7; 32])?)?;
        let info = tst_info(&token).ok_or("no TSTInfo")?;
        assert_eq!(info.message_imprint.hashed_message.as_bytes(), [7; 32]);
        assert_eq!(info.policy, DEV_POLICY);
        assert_eq!(info.gen_time.to_unix_duration().as_secs(), 1_780_000_000);
        Ok(())
    }

    /// Every first byte and a few second bytes: the integer decodes again as the same value,
    /// with all its bytes. The rule it replaced (only masking the top bit) did not.
    #[test]
    fn random_integers_are_positive_and_minimal() -> Result<(), Box<dyn std::error::Error>> {
        use der::Encode;
        for first in 0..=255u8 {
            for second in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let bytes = positive_minimal([first, second, 3, 4, 5, 6, 7, 8]);
                let der = Int::new(&bytes)?.to_der()?;
                let back = Int::from_der(&der)?;
                assert_eq!(back.as_bytes(), bytes, "{first:#04x} {second:#04x}");
            }
        }
        let old_rule = [0x00, 0x01, 3, 4, 5, 6, 7, 8];
        assert!(Int::from_der(&Int::new(&old_rule)?.to_der()?).is_err());
        Ok(())
    }
}
