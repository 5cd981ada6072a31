//! Configuration of the provider set: which providers are enabled, their certificates and
//! URLs. The web's typed configuration embeds [`EidSettings`] (as `[eid]` in TOML); file
//! paths are relative to the configuration file's folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use blankett_core::eid::{EidError, IdentityProvider, Providers};
use serde::Deserialize;

use crate::Environment;
use crate::bankid::{BankIdClient, BankIdConfig, BankIdProvider, ClientIdentity, RetryPolicy};
use crate::test_eid::TestEid;

/// `[eid]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EidSettings {
    pub environment: Environment,
    #[serde(default)]
    pub bankid: Option<BankIdSettings>,
    /// Enables the built-in test eID (refused in production).
    #[serde(default)]
    pub test_eid: bool,
}

/// `[eid.bankid]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankIdSettings {
    /// The API base, e.g. `https://appapi2.test.bankid.com/rp/v6.0/`.
    pub url: String,
    /// PEM file with the CA of BankID's server certificate (test and production differ).
    pub server_ca: PathBuf,
    /// The RP certificate as PKCS#12 …
    #[serde(default)]
    pub client_p12: Option<PathBuf>,
    #[serde(default)]
    pub client_p12_password: Option<blankett_core::secret::Secret>,
    /// … or as PEM (certificate chain and private key; may be the same file).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_delay")]
    pub retry_delay_ms: u64,
}

fn default_timeout() -> u64 {
    10
}
fn default_attempts() -> u32 {
    3
}
fn default_delay() -> u64 {
    1000
}

fn read(base: &Path, file: &Path) -> Result<Vec<u8>, EidError> {
    let path = base.join(file);
    std::fs::read(&path).map_err(|e| EidError::Config(format!("{}: {e}", path.display())))
}

impl BankIdSettings {
    /// Reads the certificate files (relative to `base`).
    pub fn load(&self, base: &Path) -> Result<BankIdConfig, EidError> {
        let client = match (&self.client_p12, &self.client_cert, &self.client_key) {
            (Some(p12), None, None) => ClientIdentity::Pkcs12 {
                der: read(base, p12)?,
                password: self
                    .client_p12_password
                    .as_ref()
                    .map(|s| s.expose().to_owned())
                    .unwrap_or_default(),
            },
            (None, Some(cert), key) => {
                let certs = read(base, cert)?;
                let key = match key {
                    Some(k) => read(base, k)?,
                    None => certs.clone(),
                };
                ClientIdentity::Pem { certs, key }
            }
            _ => {
                return Err(EidError::Config(
                    "bankid: give either client_p12 or client_cert (+ client_key)".into(),
                ));
            }
        };
        Ok(BankIdConfig {
            base_url: self.url.clone(),
            server_ca_pem: read(base, &self.server_ca)?,
            client,
            timeout: Duration::from_secs(self.timeout_seconds),
            retry: RetryPolicy {
                max_attempts: self.max_attempts,
                delay: Duration::from_millis(self.retry_delay_ms),
            },
        })
    }
}

impl EidSettings {
    /// Builds the enabled providers. The test eID is refused in production.
    pub fn providers(&self, base: &Path) -> Result<Providers, EidError> {
        let mut list: Vec<Arc<dyn IdentityProvider>> = Vec::new();
        if let Some(b) = &self.bankid {
            let client = BankIdClient::new(&b.load(base)?)?;
            list.push(Arc::new(BankIdProvider::new(client)));
        }
        if self.test_eid {
            list.push(Arc::new(TestEid::new(self.environment)?));
        }
        Ok(Providers::new(list))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn test_eid_in_production_is_refused() {
        let s: EidSettings =
            toml::from_str("environment = \"production\"\ntest_eid = true\n").unwrap();
        assert!(matches!(
            s.providers(Path::new(".")),
            Err(EidError::Config(m)) if m.contains("production")
        ));
        let s: EidSettings =
            toml::from_str("environment = \"development\"\ntest_eid = true\n").unwrap();
        assert_eq!(s.providers(Path::new(".")).unwrap().ids(), vec!["test"]);
    }

    #[test]
    fn unknown_keys_and_missing_identity_are_reported() {
        assert!(
            toml::from_str::<EidSettings>("environment = \"test\"\nbankid_url = \"x\"\n").is_err()
        );
        let s: EidSettings = toml::from_str(
            "environment = \"test\"\n[bankid]\nurl = \"https://x/\"\nserver_ca = \"ca.pem\"\n",
        )
        .unwrap();
        assert!(matches!(
            s.providers(Path::new(".")),
            Err(EidError::Config(m)) if m.contains("client_p12")
        ));
    }
}
