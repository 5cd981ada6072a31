//! TLS for the BankID API: the RP's client certificate (mTLS) and the pinned server CA.
//!
//! The server is trusted only through the CA given in configuration (BankID's test and
//! production roots differ); the operating system's trust store is never consulted.

use std::fmt;
use std::sync::Arc;

use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::BankIdError;

/// The RP's client identity.
#[derive(Clone)]
pub enum ClientIdentity {
    /// A PKCS#12 file (`.p12`/`.pfx`, as BankID's `FPTestcert…p12`) and its password.
    Pkcs12 { der: Vec<u8>, password: String },
    /// PEM: the certificate chain (leaf first) and the private key (PKCS#8, PKCS#1 or SEC1).
    /// Both may come from the same file.
    Pem { certs: Vec<u8>, key: Vec<u8> },
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientIdentity::Pkcs12 { der, .. } => {
                write!(f, "ClientIdentity::Pkcs12(<{} bytes>)", der.len())
            }
            ClientIdentity::Pem { certs, .. } => {
                write!(f, "ClientIdentity::Pem(<{} bytes>)", certs.len())
            }
        }
    }
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

impl ClientIdentity {
    fn load(&self) -> Result<Identity, BankIdError> {
        match self {
            ClientIdentity::Pkcs12 { der, password } => {
                let store = KeyStore::from_pkcs12(der, password, Pkcs12ImportPolicy::Relaxed)
                    .map_err(|e| BankIdError::Config(format!("PKCS#12: {e}")))?;
                let (_, chain) = store.private_key_chain().ok_or_else(|| {
                    BankIdError::Config("PKCS#12: no private key with a certificate".into())
                })?;
                let certs: Vec<CertificateDer<'static>> = chain
                    .certs()
                    .iter()
                    .map(|c| CertificateDer::from(c.as_der().to_vec()))
                    .collect();
                if certs.is_empty() {
                    return Err(BankIdError::Config(
                        "PKCS#12: the private key has no certificate".into(),
                    ));
                }
                let key =
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
                Ok((certs, key))
            }
            ClientIdentity::Pem { certs, key } => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(certs)
                    .collect::<Result<_, _>>()
                    .map_err(|e| BankIdError::Config(format!("client certificate PEM: {e}")))?;
                if certs.is_empty() {
                    return Err(BankIdError::Config(
                        "client certificate PEM holds no certificate".into(),
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| BankIdError::Config(format!("client key PEM: {e}")))?;
                Ok((certs, key))
            }
        }
    }
}

/// Builds the rustls configuration: only `ca_pem` is trusted, and `identity` is presented.
pub fn client_config(
    ca_pem: &[u8],
    identity: &ClientIdentity,
) -> Result<ClientConfig, BankIdError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| BankIdError::Config(format!("server CA PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| BankIdError::Config(format!("server CA: {e}")))?;
    }
    if roots.is_empty() {
        return Err(BankIdError::Config(
            "no server CA certificate configured (the CA is pinned, never taken from the system)"
                .into(),
        ));
    }
    let (certs, key) = identity.load()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BankIdError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| BankIdError::Config(format!("client certificate and key: {e}")))
}
