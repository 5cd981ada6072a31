//! Checking that BankID's signature XML signs exactly what was sent.
//!
//! The XML signature document carries, inside `bankIdSignedData`, the base64 of the visible
//! data (`usrVisibleData`) and of the non-visible data (`usrNonVisibleData`) that the user
//! signed. Both must equal what the RP sent, byte for byte; each may appear at most once.
//!
//! This does not verify the XML signature cryptographically: the signature and the OCSP
//! response are kept as evidence for a later verification.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The signed data found in a signature XML.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignedData {
    pub visible: Option<Vec<u8>>,
    pub non_visible: Option<Vec<u8>>,
}

/// Why a signature XML was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("the signature is not well-formed XML: {0}")]
    Xml(String),
    #[error("the signature has {0} bankIdSignedData elements, expected one")]
    SignedDataCount(usize),
    #[error("the signature has more than one `{0}`")]
    Duplicate(&'static str),
    #[error("`{0}` is not base64")]
    Base64(&'static str),
    #[error("the signed visible data differs from what was sent")]
    VisibleMismatch,
    #[error("the signed non-visible data differs from what was sent")]
    NonVisibleMismatch,
}

fn decode(text: &str, what: &'static str) -> Result<Vec<u8>, BindingError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|_| BindingError::Base64(what))
}

/// Reads the signed data out of a signature XML.
pub fn signed_data(xml: &[u8]) -> Result<SignedData, BindingError> {
    let text = std::str::from_utf8(xml).map_err(|e| BindingError::Xml(e.to_string()))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| BindingError::Xml(e.to_string()))?;
    let roots: Vec<_> = doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "bankIdSignedData")
        .collect();
    let [root] = roots.as_slice() else {
        return Err(BindingError::SignedDataCount(roots.len()));
    };
    let mut out = SignedData::default();
    for node in root.descendants().filter(|n| n.is_element()) {
        let (slot, what) = match node.tag_name().name() {
            "usrVisibleData" => (&mut out.visible, "usrVisibleData"),
            "usrNonVisibleData" => (&mut out.non_visible, "usrNonVisibleData"),
            _ => continue,
        };
        if slot.is_some() {
            return Err(BindingError::Duplicate(what));
        }
        *slot = Some(decode(node.text().unwrap_or(""), what)?);
    }
    // The same element names anywhere else would make the document ambiguous.
    let outside = doc.descendants().filter(|n| {
        n.is_element()
            && matches!(n.tag_name().name(), "usrVisibleData" | "usrNonVisibleData")
            && !n.ancestors().any(|a| a == *root)
    });
    if let Some(n) = outside.into_iter().next() {
        return Err(BindingError::Duplicate(
            if n.tag_name().name() == "usrVisibleData" {
                "usrVisibleData"
            } else {
                "usrNonVisibleData"
            },
        ));
    }
    Ok(out)
}

/// Checks that the signature XML signs exactly `visible` and `non_visible` (each `None` when
/// nothing was sent, in which case the XML must not claim any either).
pub fn check(
    xml: &[u8],
    visible: Option<&[u8]>,
    non_visible: Option<&[u8]>,
) -> Result<(), BindingError> {
    let found = signed_data(xml)?;
    if found.visible.as_deref() != visible {
        return Err(BindingError::VisibleMismatch);
    }
    if found.non_visible.as_deref() != non_visible {
        return Err(BindingError::NonVisibleMismatch);
    }
    Ok(())
}

/// A signature XML shaped like BankID's, for tests and the local test server. The
/// `SignatureValue` is not a real signature.
pub fn sample_signature_xml(visible: Option<&[u8]>, non_visible: Option<&[u8]>) -> String {
    let mut data = String::new();
    if let Some(v) = visible {
        data.push_str(&format!(
            "<usrVisibleData charset=\"UTF-8\" visible=\"wysiwys\">{}</usrVisibleData>",
            STANDARD.encode(v)
        ));
    }
    if let Some(v) = non_visible {
        data.push_str(&format!(
            "<usrNonVisibleData>{}</usrNonVisibleData>",
            STANDARD.encode(v)
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\
<Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\">\
<SignedInfo><CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></SignedInfo>\
<SignatureValue>AAAA</SignatureValue>\
<Object><bankIdSignedData xmlns=\"http://www.bankid.com/signature/v1.0.0/types\" Id=\"bidSignedData\">\
{data}<srvInfo><nonce>bm9uY2U=</nonce></srvInfo></bankIdSignedData></Object></Signature>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_data_is_accepted() {
        let xml = sample_signature_xml(Some("Skriv under".as_bytes()), Some(&[1, 2, 3]));
        assert_eq!(
            check(
                xml.as_bytes(),
                Some("Skriv under".as_bytes()),
                Some(&[1, 2, 3])
            ),
            Ok(())
        );
    }

    #[test]
    fn differing_or_missing_data_is_refused() {
        let xml = sample_signature_xml(Some(b"A"), Some(&[1]));
        assert_eq!(
            check(xml.as_bytes(), Some(b"B"), Some(&[1])),
            Err(BindingError::VisibleMismatch)
        );
        assert_eq!(
            check(xml.as_bytes(), Some(b"A"), Some(&[2])),
            Err(BindingError::NonVisibleMismatch)
        );
        let without = sample_signature_xml(Some(b"A"), None);
        assert_eq!(
            check(without.as_bytes(), Some(b"A"), Some(&[1])),
            Err(BindingError::NonVisibleMismatch)
        );
    }

    #[test]
    fn ambiguous_or_broken_documents_are_refused() {
        let xml = sample_signature_xml(Some(b"A"), None);
        let doubled = xml.replace(
            "<srvInfo>",
            "<usrVisibleData>Qg==</usrVisibleData><srvInfo>",
        );
        assert_eq!(
            check(doubled.as_bytes(), Some(b"A"), None),
            Err(BindingError::Duplicate("usrVisibleData"))
        );
        let outside = xml.replace(
            "<SignatureValue>",
            "<usrVisibleData>QQ==</usrVisibleData><SignatureValue>",
        );
        assert!(check(outside.as_bytes(), Some(b"A"), None).is_err());
        assert!(matches!(
            check(b"<Signature>", Some(b"A"), None),
            Err(BindingError::Xml(_))
        ));
        assert_eq!(
            check(b"<Signature/>", None, None),
            Err(BindingError::SignedDataCount(0))
        );
    }
}
