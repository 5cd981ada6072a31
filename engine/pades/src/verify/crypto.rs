//! Digests and signature checks: SHA-256/384/512, ECDSA on P-256 and RSA PKCS#1 v1.5.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512, ID_EC_PUBLIC_KEY, ID_SHA_256,
    ID_SHA_384, ID_SHA_512, RSA_ENCRYPTION, SECP_256_R_1, SHA_256_WITH_RSA_ENCRYPTION,
    SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};
use ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs1::DecodeRsaPublicKey;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// A digest algorithm a signature may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DigestAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm `oid` identifies, if supported.
    pub fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            ID_SHA_256 => Some(Self::Sha256),
            ID_SHA_384 => Some(Self::Sha384),
            ID_SHA_512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The digest of the concatenation of `parts`.
    pub fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            hasher.finalize().to_vec()
        }
        match self {
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }
}

/// The public-key half of a signature algorithm.
enum KeyAlgorithm {
    EcdsaP256,
    RsaPkcs1v15,
}

/// Checks `signature` over `message` with the key in `spki`.
///
/// `algorithm` is the signature algorithm as named by the signature (a CMS SignerInfo, a
/// certificate or a CRL); when it names only the key type (`rsaEncryption`, `id-ecPublicKey`,
/// as CMS allows), `digest` supplies the hash.
pub(super) fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    digest: Option<DigestAlgorithm>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let (key, hash) = match algorithm.oid {
        ECDSA_WITH_SHA_256 => (KeyAlgorithm::EcdsaP256, Some(DigestAlgorithm::Sha256)),
        ECDSA_WITH_SHA_384 => (KeyAlgorithm::EcdsaP256, Some(DigestAlgorithm::Sha384)),
        ECDSA_WITH_SHA_512 => (KeyAlgorithm::EcdsaP256, Some(DigestAlgorithm::Sha512)),
        ID_EC_PUBLIC_KEY => (KeyAlgorithm::EcdsaP256, digest),
        SHA_256_WITH_RSA_ENCRYPTION => (KeyAlgorithm::RsaPkcs1v15, Some(DigestAlgorithm::Sha256)),
        SHA_384_WITH_RSA_ENCRYPTION => (KeyAlgorithm::RsaPkcs1v15, Some(DigestAlgorithm::Sha384)),
        SHA_512_WITH_RSA_ENCRYPTION => (KeyAlgorithm::RsaPkcs1v15, Some(DigestAlgorithm::Sha512)),
        RSA_ENCRYPTION => (KeyAlgorithm::RsaPkcs1v15, digest),
        other => return Err(format!("unsupported signature algorithm {other}")),
    };
    let hash = hash.ok_or("the signature names no supported digest algorithm")?;
    let prehash = hash.digest(&[message]);
    match key {
        KeyAlgorithm::EcdsaP256 => verify_ecdsa_p256(spki, &prehash, signature),
        KeyAlgorithm::RsaPkcs1v15 => verify_rsa(spki, hash, &prehash, signature),
    }
}

fn verify_ecdsa_p256(
    spki: &SubjectPublicKeyInfoOwned,
    prehash: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY || curve != Some(SECP_256_R_1) {
        return Err("an ECDSA signature needs a P-256 public key".into());
    }
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
        .map_err(|e| format!("unreadable P-256 public key: {e}"))?;
    let signature = p256::ecdsa::DerSignature::from_bytes(signature)
        .map_err(|e| format!("unreadable ECDSA signature: {e}"))?;
    key.verify_prehash(prehash, &signature)
        .map_err(|_| "the ECDSA signature does not verify".into())
}

fn verify_rsa(
    spki: &SubjectPublicKeyInfoOwned,
    hash: DigestAlgorithm,
    prehash: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err("an RSA signature needs an RSA public key".into());
    }
    let key = rsa::RsaPublicKey::from_pkcs1_der(spki.subject_public_key.raw_bytes())
        .map_err(|e| format!("unreadable RSA public key: {e}"))?;
    let scheme = match hash {
        DigestAlgorithm::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
        DigestAlgorithm::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
        DigestAlgorithm::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
    };
    key.verify(scheme, prehash, signature)
        .map_err(|_| "the RSA signature does not verify".into())
}
