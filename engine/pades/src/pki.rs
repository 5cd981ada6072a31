//! Certificates: the development CA and TSA, one-time signer certificates, CRLs.
//!
//! In DIGG's signature-service model the signing service holds an issuing CA. For every
//! signature it creates a one-time P-256 key, issues a short-lived certificate that names the
//! person the eID provider verified, signs, and forgets the key. The built-in development
//! PKI ([`DevPki`]) is generated on first use and stored as PEM files; every name in it says
//! TEST, so a document signed with it can never pass for a real one.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::ID_KP_TIME_STAMPING;
use const_oid::db::rfc5912::ID_CE_CRL_NUMBER;
use der::asn1::{Ia5String, OctetString, SetOfVec};
use der::{Any, DecodePem, Encode, EncodePem, Tag};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand_core::{OsRng, RngCore};
use spki::{DynSignatureAlgorithmIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::crl::{CertificateList, TbsCertList};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{CrlDistributionPoints, ExtendedKeyUsage};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, Version};

use crate::SignError;

/// `id-at-commonName` and friends (RFC 4519).
const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const SURNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.4");
const SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
const COUNTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const GIVEN_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.42");

/// The person a signer certificate is issued to, as the eID provider verified them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerIdentity {
    pub given_name: String,
    pub surname: String,
    pub full_name: String,
    /// Swedish personnummer (12 digits), written into the certificate as `PNOSE-…` (ETSI EN
    /// 319 412-1 semantics identifier form).
    pub personnummer: Option<String>,
}

/// A key that signs and the certificate chain that names it (signer first, then its issuers).
///
/// This is the `Signer` port of the signing service: the software implementation keeps a
/// one-time P-256 key in memory; a PKCS#11 HSM or an external DIGG signature service can
/// implement the same trait.
pub trait Credential: Send + Sync {
    /// DER certificates, the signer's first.
    fn chain(&self) -> &[Vec<u8>];
    /// The AlgorithmIdentifier of the signatures [`Credential::sign`] makes (DER).
    fn signature_algorithm(&self) -> &[u8];
    /// Signs `message` (the DER of the CMS signed attributes): hash and sign.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// Issues a [`Credential`] for a verified person at a given time.
pub trait CredentialIssuer: Send + Sync {
    fn issue(
        &self,
        identity: &SignerIdentity,
        now: DateTime<Utc>,
    ) -> Result<Box<dyn Credential>, SignError>;
}

/// A P-256 key in memory with its chain.
pub struct SoftwareCredential {
    key: SigningKey,
    chain: Vec<Vec<u8>>,
    algorithm: Vec<u8>,
}

impl SoftwareCredential {
    fn new(key: SigningKey, chain: Vec<Vec<u8>>) -> Result<Self, SignError> {
        let algorithm = key.signature_algorithm_identifier()?.to_der()?;
        Ok(Self {
            key,
            chain,
            algorithm,
        })
    }
}

impl Credential for SoftwareCredential {
    fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    fn signature_algorithm(&self) -> &[u8] {
        &self.algorithm
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        use p256::ecdsa::signature::Signer;
        let signature: p256::ecdsa::Signature = self.key.try_sign(message)?;
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

/// A CA (or TSA) certificate with its key.
pub struct KeyHolder {
    pub certificate: Certificate,
    pub der: Vec<u8>,
    key: SigningKey,
}

impl KeyHolder {
    fn new(certificate: Certificate, key: SigningKey) -> Result<Self, SignError> {
        let der = certificate.to_der()?;
        Ok(Self {
            certificate,
            der,
            key,
        })
    }

    /// The certificate as PEM.
    pub fn certificate_pem(&self) -> Result<String, SignError> {
        Ok(self.certificate.to_pem(LineEnding::LF)?)
    }

    /// A credential for this key (used by the TSA to sign its tokens).
    pub fn credential(&self, chain: Vec<Vec<u8>>) -> Result<SoftwareCredential, SignError> {
        SoftwareCredential::new(self.key.clone(), chain)
    }
}

/// How long the certificates of the development PKI live.
const CA_YEARS: u64 = 20;
/// One-time signer certificates are short-lived: they only have to outlive the signing
/// moment; the timestamp and the validation data carry the signature beyond that.
pub const SIGNER_CERT_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// Signer certificates are back-dated a little, for verifiers with a slow clock.
const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// How long a CRL of the development CA is valid.
const CRL_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The built-in development PKI: a CA that issues signer certificates and a TSA certificate.
/// Names say TEST; `blankett serve` refuses it in production.
pub struct DevPki {
    pub ca: KeyHolder,
    /// The PKI's own time-stamping authority; an operator's CA may come without one (then a
    /// TSA is configured by URL).
    pub tsa: Option<KeyHolder>,
    /// Where the CA's CRL is published, if anywhere (written into the certificates it issues).
    /// The development PKI publishes none by default: relying parties that find a CRL
    /// distribution point must fetch it (pyHanko fails the chain when it cannot), while the
    /// CRL travels inside the document anyway (DSS, B-LT).
    crl_url: Option<String>,
}

/// The files of a stored development PKI.
const FILES: [&str; 4] = ["ca.pem", "ca-key.pem", "tsa.pem", "tsa-key.pem"];

impl DevPki {
    /// Reads the PKI stored in `dir`, or generates and stores a new one there.
    pub fn load_or_create(dir: &Path, now: DateTime<Utc>) -> Result<Self, SignError> {
        let paths: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
        if paths.iter().all(|p| p.exists()) {
            return Self::load(&paths);
        }
        let pki = Self::generate(now, None)?;
        std::fs::create_dir_all(dir)
            .map_err(|e| SignError::Pki(format!("{}: {e}", dir.display())))?;
        let tsa = pki
            .tsa
            .as_ref()
            .ok_or_else(|| SignError::Pki("the generated PKI has no TSA".into()))?;
        let contents = [
            pki.ca.certificate_pem()?,
            pki.ca.key_pem()?,
            tsa.certificate_pem()?,
            tsa.key_pem()?,
        ];
        for (path, text) in paths.iter().zip(contents) {
            write_private(path, &text)?;
        }
        Ok(pki)
    }

    fn load(paths: &[PathBuf]) -> Result<Self, SignError> {
        let read = |p: &PathBuf| {
            std::fs::read_to_string(p).map_err(|e| SignError::Pki(format!("{}: {e}", p.display())))
        };
        let cert = |p: &PathBuf| -> Result<Certificate, SignError> {
            Certificate::from_pem(read(p)?.as_bytes())
                .map_err(|e| SignError::Pki(format!("{}: {e}", p.display())))
        };
        let key = |p: &PathBuf| -> Result<SigningKey, SignError> {
            SigningKey::from_pkcs8_pem(&read(p)?)
                .map_err(|e| SignError::Pki(format!("{}: {e}", p.display())))
        };
        let tsa = match (paths.get(2), paths.get(3)) {
            (Some(c), Some(k)) if c.exists() && k.exists() => {
                Some(KeyHolder::new(cert(c)?, key(k)?)?)
            }
            _ => None,
        };
        Ok(Self {
            ca: KeyHolder::new(cert(&paths[0])?, key(&paths[1])?)?,
            tsa,
            crl_url: None,
        })
    }

    /// Reads the issuing CA an operator keeps in `dir` (`ca.pem`, `ca-key.pem`; `tsa.pem` and
    /// `tsa-key.pem` too when the PKI's own TSA is used). Creates nothing: a missing file is
    /// an error, never a new CA.
    pub fn load_existing(dir: &Path) -> Result<Self, SignError> {
        let paths: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
        for p in &paths[..2] {
            if !p.exists() {
                return Err(SignError::Pki(format!(
                    "{} is missing (the issuing CA's certificate and key, PEM)",
                    p.display()
                )));
            }
        }
        Self::load(&paths)
    }

    /// Whether the CA is Blankett's development CA (its names say TEST), wherever it is kept.
    pub fn is_development_ca(&self) -> bool {
        self.ca
            .certificate
            .tbs_certificate
            .subject
            .to_string()
            .contains("Blankett TEST")
    }

    /// A fresh PKI in memory.
    pub fn generate(now: DateTime<Utc>, crl_url: Option<&str>) -> Result<Self, SignError> {
        let ca_key = SigningKey::random(&mut OsRng);
        let ca_name = name(&[
            (COUNTRY, "SE"),
            (ORGANIZATION, "Blankett TEST"),
            (CN, "Blankett TEST CA (development only)"),
        ])?;
        let validity = validity(
            now,
            Duration::ZERO,
            Duration::from_secs(CA_YEARS * 365 * 86400),
        )?;
        let builder = CertificateBuilder::new(
            Profile::Root,
            serial()?,
            validity,
            ca_name.clone(),
            spki(&ca_key)?,
            &ca_key,
        )?;
        let ca_cert = builder.build::<DerSignature>()?;

        let tsa_key = SigningKey::random(&mut OsRng);
        let tsa_name = name(&[
            (COUNTRY, "SE"),
            (ORGANIZATION, "Blankett TEST"),
            (CN, "Blankett TEST TSA (development only)"),
        ])?;
        let mut builder = CertificateBuilder::new(
            Profile::Leaf {
                issuer: ca_name,
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            serial()?,
            validity,
            tsa_name,
            spki(&tsa_key)?,
            &ca_key,
        )?;
        builder.add_extension(&Critical(ExtendedKeyUsage(vec![ID_KP_TIME_STAMPING])))?;
        if let Some(url) = crl_url {
            builder.add_extension(&crl_distribution_points(url)?)?;
        }
        let tsa_cert = builder.build::<DerSignature>()?;

        Ok(Self {
            ca: KeyHolder::new(ca_cert, ca_key)?,
            tsa: Some(KeyHolder::new(tsa_cert, tsa_key)?),
            crl_url: crl_url.map(str::to_owned),
        })
    }

    /// A CRL of the CA, valid from `now` for a week, revoking nothing.
    pub fn crl(&self, now: DateTime<Utc>) -> Result<Vec<u8>, SignError> {
        let algorithm = self.ca.key.signature_algorithm_identifier()?;
        let number = x509_cert::ext::pkix::CrlNumber(der::asn1::Uint::new(
            &now.timestamp().max(0).to_be_bytes(),
        )?);
        let tbs = TbsCertList {
            version: Version::V2,
            signature: algorithm.clone(),
            issuer: self.ca.certificate.tbs_certificate.subject.clone(),
            this_update: time(now, Duration::ZERO, false)?,
            next_update: Some(time(now, CRL_VALIDITY, true)?),
            revoked_certificates: None,
            crl_extensions: Some(vec![Extension {
                extn_id: ID_CE_CRL_NUMBER,
                critical: false,
                extn_value: OctetString::new(number.to_der()?)?,
            }]),
        };
        let tbs_der = tbs.to_der()?;
        use p256::ecdsa::signature::Signer;
        let signature: DerSignature = self.ca.key.try_sign(&tbs_der)?;
        let list = CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: algorithm,
            signature: der::asn1::BitString::from_bytes(signature.as_bytes())?,
        };
        Ok(list.to_der()?)
    }

    /// The CA certificate as PEM: what verifiers trust to accept development signatures.
    pub fn ca_pem(&self) -> Result<String, SignError> {
        self.ca.certificate_pem()
    }
}

impl KeyHolder {
    fn key_pem(&self) -> Result<String, SignError> {
        Ok(self
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| SignError::Pki(e.to_string()))?
            .to_string())
    }
}

impl CredentialIssuer for DevPki {
    fn issue(
        &self,
        identity: &SignerIdentity,
        now: DateTime<Utc>,
    ) -> Result<Box<dyn Credential>, SignError> {
        let key = SigningKey::random(&mut OsRng);
        let mut attributes = vec![(COUNTRY, "SE".to_owned())];
        if let Some(pnr) = &identity.personnummer {
            attributes.push((SERIAL_NUMBER, format!("PNOSE-{pnr}")));
        }
        attributes.push((SURNAME, identity.surname.clone()));
        attributes.push((GIVEN_NAME, identity.given_name.clone()));
        attributes.push((CN, identity.full_name.clone()));
        let attributes: Vec<(ObjectIdentifier, &str)> =
            attributes.iter().map(|(o, v)| (*o, v.as_str())).collect();
        let mut builder = CertificateBuilder::new(
            Profile::Leaf {
                issuer: self.ca.certificate.tbs_certificate.subject.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            serial()?,
            validity(now, BACKDATE, SIGNER_CERT_VALIDITY)?,
            name(&attributes)?,
            spki(&key)?,
            &self.ca.key,
        )?;
        if let Some(url) = &self.crl_url {
            builder.add_extension(&crl_distribution_points(url)?)?;
        }
        let cert = builder.build::<DerSignature>()?;
        Ok(Box::new(SoftwareCredential::new(
            key,
            vec![cert.to_der()?, self.ca.der.clone()],
        )?))
    }
}

/// Wraps an extension to mark it critical (RFC 3161 wants the TSA's EKU critical).
struct Critical<E>(E);

impl<E: AsExtension> AsExtension for Critical<E> {
    fn critical(&self, _subject: &Name, _extensions: &[Extension]) -> bool {
        true
    }
}

impl<E: const_oid::AssociatedOid> const_oid::AssociatedOid for Critical<E> {
    const OID: ObjectIdentifier = E::OID;
}

impl<E: Encode> Encode for Critical<E> {
    fn encoded_len(&self) -> der::Result<der::Length> {
        self.0.encoded_len()
    }
    fn encode(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        self.0.encode(writer)
    }
}

fn crl_distribution_points(url: &str) -> Result<CrlDistributionPoints, SignError> {
    Ok(CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![
            GeneralName::UniformResourceIdentifier(Ia5String::new(url)?),
        ])),
        reasons: None,
        crl_issuer: None,
    }]))
}

/// A distinguished name from (attribute, value) pairs, most significant first. Country and
/// serialNumber are PrintableString as X.520 requires; the rest UTF8String.
fn name(attributes: &[(ObjectIdentifier, &str)]) -> Result<Name, SignError> {
    let mut rdns = Vec::new();
    for (oid, value) in attributes {
        let tag = if *oid == COUNTRY || *oid == SERIAL_NUMBER {
            Tag::PrintableString
        } else {
            Tag::Utf8String
        };
        let atv = x509_cert::attr::AttributeTypeAndValue {
            oid: *oid,
            value: Any::new(tag, value.as_bytes())?,
        };
        rdns.push(RelativeDistinguishedName(SetOfVec::try_from(vec![atv])?));
    }
    Ok(RdnSequence(rdns))
}

fn spki(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, SignError> {
    Ok(SubjectPublicKeyInfoOwned::from_key(*key.verifying_key())?)
}

/// A random positive 16-byte serial number.
fn serial() -> Result<SerialNumber, SignError> {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::new(&bytes)?)
}

fn system_time(at: DateTime<Utc>) -> SystemTime {
    let seconds = u64::try_from(at.timestamp()).unwrap_or(0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

/// `at` moved by `by`, forward or back, as an X.509 time (UTCTime until 2050).
fn time(at: DateTime<Utc>, by: Duration, forward: bool) -> Result<Time, SignError> {
    let base = system_time(at);
    let moved = if forward {
        base + by
    } else {
        base.checked_sub(by).unwrap_or(base)
    };
    // RFC 5280: UTCTime through 2049, GeneralizedTime after.
    let utc_until = SystemTime::UNIX_EPOCH + Duration::from_secs(2_524_608_000);
    Ok(if moved < utc_until {
        Time::UtcTime(der::asn1::UtcTime::from_system_time(moved)?)
    } else {
        Time::GeneralTime(der::asn1::GeneralizedTime::from_system_time(moved)?)
    })
}

fn validity(
    now: DateTime<Utc>,
    backdate: Duration,
    lifetime: Duration,
) -> Result<Validity, SignError> {
    Ok(Validity {
        not_before: time(now, backdate, false)?,
        not_after: time(now, lifetime, true)?,
    })
}

/// Writes a file only its owner can read (keys live next to certificates).
fn write_private(path: &Path, text: &str) -> Result<(), SignError> {
    let fail = |e: std::io::Error| SignError::Pki(format!("{}: {e}", path.display()));
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(fail)?;
        file.write_all(text.as_bytes()).map_err(fail)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text).map_err(fail)
    }
}

/// The certificates in a PEM file (e.g. the CAs a verifier trusts).
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Certificate>, SignError> {
    let certificates = Certificate::load_pem_chain(pem)?;
    if certificates.is_empty() {
        return Err(SignError::Pki("no certificate in the PEM data".into()));
    }
    Ok(certificates)
}
