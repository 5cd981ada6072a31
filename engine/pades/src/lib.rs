//! PAdES signatures for Blankett.
//!
//! The signing service of DIGG's model: for every signature a one-time P-256 key and a
//! short-lived signer certificate issued by the service's CA carry the identity the eID
//! provider verified ([`pki`]); the PDF gets the signature in its own incremental update
//! ([`pdf`]), with a visible appearance drawn where the renderer reported the signer's field
//! ([`appearance`]). Long-term levels add an RFC 3161 timestamp (B-T, [`tsa`]), the validation
//! data in a DSS dictionary (B-LT) and a document timestamp over everything (B-LTA), all in
//! [`sign`]. [`verify`] reads any signed PDF back.

pub mod appearance;
pub mod cades;
pub mod pdf;
pub mod pki;
pub mod sign;
pub mod tsa;
pub mod upload;
pub mod verify;

pub use pki::{Credential, CredentialIssuer, DevPki, SignerIdentity};
pub use sign::{Pades, Placement, RevocationSource, SignatureRequest};
pub use tsa::{DevTsa, TimestampAuthority};

/// Why signing failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("PDF: {0}")]
    Pdf(String),
    #[error("the document already has a signature field named {0:?}")]
    FieldTaken(String),
    #[error("{0:?} is not a valid field name: it must be non-empty, without periods")]
    BadFieldName(String),
    #[error("certificates: {0}")]
    Pki(String),
    #[error("timestamp: {0}")]
    Timestamp(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("encoding: {0}")]
    Der(#[from] der::Error),
    #[error("cryptography: {0}")]
    Crypto(String),
}

impl From<x509_cert::builder::Error> for SignError {
    fn from(e: x509_cert::builder::Error) -> Self {
        Self::Pki(e.to_string())
    }
}

impl From<spki::Error> for SignError {
    fn from(e: spki::Error) -> Self {
        Self::Pki(e.to_string())
    }
}

impl From<p256::ecdsa::Error> for SignError {
    fn from(e: p256::ecdsa::Error) -> Self {
        Self::Crypto(e.to_string())
    }
}

impl RevocationSource for DevPki {
    /// The development CA's current CRL, for certificates it issued.
    fn crls(
        &self,
        _certificates: &[Vec<u8>],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Vec<u8>>, SignError> {
        Ok(vec![self.crl(now)?])
    }
}
