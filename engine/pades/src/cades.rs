//! CMS SignedData (RFC 5652) as PAdES and RFC 3161 want it: detached SHA-256 signatures whose
//! signed attributes are content-type, message-digest and signing-certificate-v2 — no
//! signingTime (PAdES takes the time from the signature dictionary or a timestamp).

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

use crate::SignError;
use crate::pki::Credential;

/// `id-aa-signingCertificateV2` (RFC 5035).
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// `id-aa-signatureTimeStampToken` (RFC 3161 appendix A).
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
/// `id-sha256`.
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// `SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies OPTIONAL }`.
#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// `ESSCertIDv2` with the default hash algorithm (SHA-256, so omitted in DER).
#[derive(Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

/// `IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber CertificateSerialNumber }`.
#[derive(Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

/// What is signed: an external digest (PDF byte range, eContent absent) or an encapsulated
/// content (a timestamp token's TSTInfo).
pub enum Content<'a> {
    Detached {
        sha256: &'a [u8],
    },
    Encapsulated {
        content_type: ObjectIdentifier,
        der: &'a [u8],
    },
}

/// Given the signature value, returns the unsigned attributes to add (the signature
/// timestamp).
pub type UnsignedAttributes<'a> = &'a dyn Fn(&[u8]) -> Result<Vec<Attribute>, SignError>;

/// Builds a SignedData ContentInfo (DER) signed by `credential`, with its whole chain (and
/// `extra_certificates`) in the certificates set. `unsigned` is called with the signature
/// value and may return unsigned attributes (the signature timestamp).
pub fn sign(
    credential: &dyn Credential,
    content: Content<'_>,
    unsigned: UnsignedAttributes<'_>,
) -> Result<Vec<u8>, SignError> {
    let chain = credential.chain();
    let signer_der = chain
        .first()
        .ok_or_else(|| SignError::Pki("the credential has no certificate".into()))?;
    let signer = Certificate::from_der(signer_der)?;

    let (content_type, digest, encap) = match content {
        Content::Detached { sha256 } => (
            ID_DATA,
            sha256.to_vec(),
            EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent: None,
            },
        ),
        Content::Encapsulated { content_type, der } => (
            content_type,
            Sha256::digest(der).to_vec(),
            EncapsulatedContentInfo {
                econtent_type: content_type,
                econtent: Some(Any::new(der::Tag::OctetString, der)?),
            },
        ),
    };

    let signing_certificate = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(Sha256::digest(signer_der).to_vec())?,
            issuer_serial: IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(
                    signer.tbs_certificate.issuer.clone(),
                )],
                serial_number: signer.tbs_certificate.serial_number.clone(),
            },
        }],
    };
    let signed_attrs = SetOfVec::try_from(vec![
        attribute(ID_CONTENT_TYPE, content_type.to_der()?)?,
        attribute(ID_MESSAGE_DIGEST, OctetString::new(digest)?.to_der()?)?,
        attribute(ID_AA_SIGNING_CERTIFICATE_V2, signing_certificate.to_der()?)?,
    ])?;
    let signature = credential.sign(&signed_attrs.to_der()?)?;
    let unsigned_attrs = unsigned(&signature)?;

    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: signer.tbs_certificate.issuer.clone(),
            serial_number: signer.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: AlgorithmIdentifierOwned::from_der(credential.signature_algorithm())?,
        signature: OctetString::new(signature)?,
        unsigned_attrs: if unsigned_attrs.is_empty() {
            None
        } else {
            Some(SetOfVec::try_from(unsigned_attrs)?)
        },
    };
    let mut certificates = Vec::with_capacity(chain.len());
    for der in chain {
        certificates.push(CertificateChoices::Certificate(Certificate::from_der(der)?));
    }
    let signed_data = SignedData {
        version: if encap.econtent_type == ID_DATA {
            CmsVersion::V1
        } else {
            CmsVersion::V3
        },
        digest_algorithms: SetOfVec::try_from(vec![sha256])?,
        encap_content_info: encap,
        certificates: Some(CertificateSet(SetOfVec::try_from(certificates)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };
    let info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::from_der(&signed_data.to_der()?)?,
    };
    Ok(info.to_der()?)
}

/// An attribute with one value given as DER.
pub fn attribute(oid: ObjectIdentifier, value_der: Vec<u8>) -> Result<Attribute, SignError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![Any::from_der(&value_der)?])?,
    })
}
