//! CMS SignedData (RFC 5652) as PAdES signatures and RFC 3161 tokens use it, read from the bytes
//! as written, and the check of one signer: message digest, signature, signing-certificate-v2.

use cms::cert::IssuerAndSerialNumber;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
};
use der::Tag;
use spki::AlgorithmIdentifierOwned;

use super::certs::Cert;
use super::crypto::{DigestAlgorithm, verify_signature};
use super::tlv::Tlv;

/// `id-ct-TSTInfo` (RFC 3161).
pub(super) const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
/// `id-aa-signatureTimeStampToken` (RFC 3161 appendix A).
pub(super) const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");

/// A SignedData's parts that verification uses.
pub(super) struct SignedData<'a> {
    /// `eContentType`.
    pub content_type: ObjectIdentifier,
    /// `eContent`, when encapsulated (timestamp tokens); absent for detached signatures.
    pub content: Option<&'a [u8]>,
    /// The readable certificates of the `certificates` set.
    pub certificates: Vec<Cert>,
    /// The CRLs of the `crls` set, DER.
    pub crls: Vec<Vec<u8>>,
    /// The signers.
    pub signers: Vec<SignerInfo<'a>>,
}

/// One SignerInfo.
pub(super) struct SignerInfo<'a> {
    sid: SignerId,
    digest_algorithm: ObjectIdentifier,
    /// The signed attributes, DER with the SET OF tag (what the signature covers), and read.
    signed_attributes: Option<(Vec<u8>, Vec<Attribute<'a>>)>,
    signature_algorithm: AlgorithmIdentifierOwned,
    /// The signature value.
    pub signature: &'a [u8],
    unsigned_attributes: Vec<Attribute<'a>>,
}

enum SignerId {
    IssuerAndSerial(IssuerAndSerialNumber),
    KeyIdentifier(Vec<u8>),
}

/// An attribute: its type and values.
pub(super) struct Attribute<'a> {
    oid: ObjectIdentifier,
    values: Vec<Tlv<'a>>,
}

fn malformed(what: &str, e: impl std::fmt::Display) -> String {
    format!("malformed CMS {what}: {e}")
}

/// Reads a ContentInfo holding a SignedData (anything after its end is ignored).
pub(super) fn parse(der: &[u8]) -> Result<SignedData<'_>, String> {
    let content_info = Tlv::first(der).map_err(|e| malformed("ContentInfo", e))?;
    let parts = content_info
        .children()
        .map_err(|e| malformed("ContentInfo", e))?;
    let [content_type, explicit] = parts.as_slice() else {
        return Err(malformed("ContentInfo", "not two elements"));
    };
    let content_type: ObjectIdentifier = content_type
        .decode()
        .map_err(|e| malformed("ContentInfo", e))?;
    if content_type != ID_SIGNED_DATA || !explicit.is_context(0) {
        return Err(format!("the CMS content is {content_type}, not SignedData"));
    }
    let signed_data = Tlv::first(explicit.value).map_err(|e| malformed("SignedData", e))?;
    let fields = signed_data
        .children()
        .map_err(|e| malformed("SignedData", e))?;
    let (Some(encapsulated), Some(signer_infos)) = (fields.get(2), fields.last()) else {
        return Err(malformed("SignedData", "too few elements"));
    };
    if fields.len() < 4 || signer_infos.tag != Tag::Set {
        return Err(malformed("SignedData", "no SignerInfos"));
    }
    let (content_type, content) = encapsulated_content(encapsulated)?;
    let mut certificates = Vec::new();
    let mut crls = Vec::new();
    for optional in fields.iter().take(fields.len() - 1).skip(3) {
        let children = optional
            .children()
            .map_err(|e| malformed("SignedData", e))?;
        for child in children.iter().filter(|child| child.tag == Tag::Sequence) {
            if optional.is_context(0) {
                // Unreadable certificates are left out; a missing signer certificate is
                // reported where it is looked for.
                certificates.extend(Cert::from_der(child.raw).ok());
            } else if optional.is_context(1) {
                crls.push(child.raw.to_vec());
            }
        }
    }
    let signers = signer_infos
        .children()
        .map_err(|e| malformed("SignerInfos", e))?
        .iter()
        .map(signer_info)
        .collect::<Result<_, _>>()?;
    Ok(SignedData {
        content_type,
        content,
        certificates,
        crls,
        signers,
    })
}

fn encapsulated_content<'a>(
    encapsulated: &Tlv<'a>,
) -> Result<(ObjectIdentifier, Option<&'a [u8]>), String> {
    let parts = encapsulated
        .children()
        .map_err(|e| malformed("EncapsulatedContentInfo", e))?;
    let content_type: ObjectIdentifier = parts
        .first()
        .ok_or_else(|| malformed("EncapsulatedContentInfo", "empty"))?
        .decode()
        .map_err(|e| malformed("EncapsulatedContentInfo", e))?;
    let content = match parts.get(1) {
        Some(explicit) if explicit.is_context(0) => {
            let octets =
                Tlv::first(explicit.value).map_err(|e| malformed("EncapsulatedContentInfo", e))?;
            if octets.tag != Tag::OctetString {
                return Err(malformed("eContent", "not a primitive OCTET STRING"));
            }
            Some(octets.value)
        }
        _ => None,
    };
    Ok((content_type, content))
}

fn signer_info<'a>(tlv: &Tlv<'a>) -> Result<SignerInfo<'a>, String> {
    let fields = tlv.children().map_err(|e| malformed("SignerInfo", e))?;
    let mut fields = fields.into_iter().skip(1);
    let mut next = |what: &str| fields.next().ok_or_else(|| malformed("SignerInfo", what));
    let sid = next("no sid")?;
    let sid = if sid.tag == Tag::Sequence {
        SignerId::IssuerAndSerial(sid.decode().map_err(|e| malformed("SignerInfo sid", e))?)
    } else if sid.is_context(0) {
        SignerId::KeyIdentifier(sid.value.to_vec())
    } else {
        return Err(malformed("SignerInfo", "unknown sid"));
    };
    let digest_algorithm: AlgorithmIdentifierOwned = next("no digestAlgorithm")?
        .decode()
        .map_err(|e| malformed("SignerInfo digestAlgorithm", e))?;
    let mut field = next("no signatureAlgorithm")?;
    let signed_attributes = if field.is_context(0) {
        let mut set = field.raw.to_vec();
        if let Some(tag) = set.first_mut() {
            // RFC 5652 §5.4: the signature covers the DER of the SET OF, not the [0].
            *tag = 0x31;
        }
        let attributes = attributes(&field)?;
        field = next("no signatureAlgorithm")?;
        Some((set, attributes))
    } else {
        None
    };
    let signature_algorithm: AlgorithmIdentifierOwned = field
        .decode()
        .map_err(|e| malformed("SignerInfo signatureAlgorithm", e))?;
    let signature = next("no signature")?;
    if signature.tag != Tag::OctetString {
        return Err(malformed(
            "SignerInfo",
            "the signature is not an OCTET STRING",
        ));
    }
    let unsigned_attributes = match fields.next() {
        Some(unsigned) if unsigned.is_context(1) => attributes(&unsigned)?,
        _ => Vec::new(),
    };
    Ok(SignerInfo {
        sid,
        digest_algorithm: digest_algorithm.oid,
        signed_attributes,
        signature_algorithm,
        signature: signature.value,
        unsigned_attributes,
    })
}

fn attributes<'a>(set: &Tlv<'a>) -> Result<Vec<Attribute<'a>>, String> {
    let mut attributes = Vec::new();
    for attribute in set.children().map_err(|e| malformed("attributes", e))? {
        let parts = attribute
            .children()
            .map_err(|e| malformed("attribute", e))?;
        let [oid, values] = parts.as_slice() else {
            return Err(malformed("attribute", "not two elements"));
        };
        attributes.push(Attribute {
            oid: oid.decode().map_err(|e| malformed("attribute", e))?,
            values: values.children().map_err(|e| malformed("attribute", e))?,
        });
    }
    Ok(attributes)
}

/// The single value of the attribute `oid`, if the attribute is present.
fn single_value<'a>(
    attributes: &[Attribute<'a>],
    oid: ObjectIdentifier,
) -> Result<Option<Tlv<'a>>, String> {
    let mut found = attributes.iter().filter(|attribute| attribute.oid == oid);
    match (found.next(), found.next()) {
        (None, _) => Ok(None),
        (Some(attribute), None) => match attribute.values.as_slice() {
            [value] => Ok(Some(*value)),
            _ => Err(format!("attribute {oid} must have exactly one value")),
        },
        (Some(_), Some(_)) => Err(format!("attribute {oid} appears twice")),
    }
}

impl<'a> SignerInfo<'a> {
    /// The values of the unsigned attribute `oid` (all occurrences).
    pub fn unsigned_values(&self, oid: ObjectIdentifier) -> Vec<Tlv<'a>> {
        self.unsigned_attributes
            .iter()
            .filter(|attribute| attribute.oid == oid)
            .flat_map(|attribute| attribute.values.iter().copied())
            .collect()
    }
}

/// The outcome of checking one signer.
pub(super) struct SignerCheck<'a> {
    /// The signer certificate, found by the SignerInfo's sid.
    pub cert: Option<&'a Cert>,
    /// The content's digest equals the message-digest attribute.
    pub intact: bool,
    /// The signature verifies and signing-certificate-v2 (when present) names the signer.
    pub valid: bool,
    /// The signed attributes include signing-certificate-v2.
    pub signing_certificate_v2: bool,
    /// What is wrong, in English.
    pub problems: Vec<String>,
}

impl SignedData<'_> {
    /// Checks `signer` over `content` (the concatenation of the parts: the signed byte ranges,
    /// or the encapsulated content).
    pub fn check_signer(&self, signer: &SignerInfo<'_>, content: &[&[u8]]) -> SignerCheck<'_> {
        let mut check = SignerCheck {
            cert: self.signer_certificate(&signer.sid),
            intact: false,
            valid: false,
            signing_certificate_v2: false,
            problems: Vec::new(),
        };
        if check.cert.is_none() {
            check
                .problems
                .push("the signer certificate is not among the signature's certificates".into());
        }
        let Some(digest) = DigestAlgorithm::from_oid(signer.digest_algorithm) else {
            check.problems.push(format!(
                "unsupported digest algorithm {}",
                signer.digest_algorithm
            ));
            return check;
        };
        let content_digest = digest.digest(content);
        let signed: Vec<u8> = match &signer.signed_attributes {
            Some((set, attributes)) => {
                self.check_signed_attributes(attributes, &content_digest, &mut check);
                set.clone()
            }
            // Without signed attributes the signature is over the content itself, so it
            // verifying is what shows the content intact.
            None => content.concat(),
        };
        let Some(cert) = check.cert else {
            return check;
        };
        match verify_signature(
            &cert.cert.tbs_certificate.subject_public_key_info,
            &signer.signature_algorithm,
            Some(digest),
            &signed,
            signer.signature,
        ) {
            Ok(()) => check.valid = true,
            Err(e) => check.problems.push(e),
        }
        if signer.signed_attributes.is_none() {
            check.intact = check.valid;
        }
        if let Some((_, attributes)) = &signer.signed_attributes {
            match single_value(attributes, ID_AA_SIGNING_CERTIFICATE_V_2)
                .and_then(|value| value.map(|v| signing_certificate_hash(&v)).transpose())
            {
                Ok(None) => {}
                Ok(Some((algorithm, hash))) => {
                    check.signing_certificate_v2 = true;
                    if algorithm.digest(&[&cert.der]) != hash {
                        check.valid = false;
                        check.problems.push(
                            "signing-certificate-v2 names another certificate than the signer's"
                                .into(),
                        );
                    }
                }
                Err(e) => {
                    check.valid = false;
                    check.problems.push(e);
                }
            }
        }
        check
    }

    fn check_signed_attributes(
        &self,
        attributes: &[Attribute<'_>],
        content_digest: &[u8],
        check: &mut SignerCheck<'_>,
    ) {
        match single_value(attributes, ID_MESSAGE_DIGEST) {
            Ok(Some(value)) if value.tag == Tag::OctetString => {
                check.intact = value.value == content_digest;
                if !check.intact {
                    check.problems.push(
                        "the digest of the signed content differs from the signed message digest"
                            .into(),
                    );
                }
            }
            Ok(_) => check
                .problems
                .push("the signed attributes have no message-digest".into()),
            Err(e) => check.problems.push(e),
        }
        match single_value(attributes, ID_CONTENT_TYPE) {
            Ok(Some(value))
                if value.decode::<ObjectIdentifier>().ok() == Some(self.content_type) => {}
            Ok(Some(_)) => check
                .problems
                .push("the content-type attribute differs from eContentType".into()),
            Ok(None) => check
                .problems
                .push("the signed attributes have no content-type".into()),
            Err(e) => check.problems.push(e),
        }
    }

    fn signer_certificate(&self, sid: &SignerId) -> Option<&Cert> {
        self.certificates.iter().find(|cert| match sid {
            SignerId::IssuerAndSerial(id) => {
                cert.cert.tbs_certificate.serial_number == id.serial_number
                    && *cert.issuer_name() == id.issuer
            }
            SignerId::KeyIdentifier(key_id) => {
                cert.subject_key_identifier().as_deref() == Some(key_id.as_slice())
            }
        })
    }
}

/// The hash algorithm and certHash of the first ESSCertIDv2 of a SigningCertificateV2.
fn signing_certificate_hash(value: &Tlv<'_>) -> Result<(DigestAlgorithm, Vec<u8>), String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("unreadable signing-certificate-v2: {e}");
    let signing_certificate = value.children().map_err(|e| unreadable(&e))?;
    let ess_cert_ids = signing_certificate
        .first()
        .ok_or_else(|| unreadable(&"no certs"))?
        .children()
        .map_err(|e| unreadable(&e))?;
    let id = ess_cert_ids
        .first()
        .ok_or_else(|| unreadable(&"no ESSCertIDv2"))?
        .children()
        .map_err(|e| unreadable(&e))?;
    let (algorithm, hash) = match id.as_slice() {
        [algorithm, hash, ..] if algorithm.tag == Tag::Sequence => {
            let algorithm: AlgorithmIdentifierOwned =
                algorithm.decode().map_err(|e| unreadable(&e))?;
            let algorithm = DigestAlgorithm::from_oid(algorithm.oid).ok_or_else(|| {
                format!(
                    "signing-certificate-v2 uses the unsupported hash algorithm {}",
                    algorithm.oid
                )
            })?;
            (algorithm, hash)
        }
        // The hash algorithm defaults to SHA-256 (and DER leaves the default out).
        [hash, ..] => (DigestAlgorithm::Sha256, hash),
        [] => return Err(unreadable(&"empty ESSCertIDv2")),
    };
    if hash.tag != Tag::OctetString {
        return Err(unreadable(&"certHash is not an OCTET STRING"));
    }
    Ok((algorithm, hash.value.to_vec()))
}
