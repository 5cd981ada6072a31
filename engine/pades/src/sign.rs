//! Signing a PDF: one signer, one incremental update; long-term validation data; the
//! document timestamp that closes a finished document (B-LTA).

use std::io::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Stockholm;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, Encode, SliceReader};
use lopdf::{Dictionary, Object, ObjectId};
use sha2::{Digest, Sha256};

use crate::SignError;
use crate::appearance::{self, Line, Weight};
use crate::cades::{self, Content, ID_AA_SIGNATURE_TIME_STAMP_TOKEN};
use crate::pdf::{Placeholder, Prepared, Update, text_string};
use crate::pki::{CredentialIssuer, SignerIdentity};
use crate::tsa::TimestampAuthority;

/// Bytes reserved in `/Contents` for a signature's CMS (chain, attributes and a timestamp
/// token from a TSA with an RSA chain fit with room to spare).
const SIGNATURE_RESERVE: usize = 12 * 1024;
/// Bytes reserved for a document timestamp token.
const TIMESTAMP_RESERVE: usize = 8 * 1024;
/// The field name of the document timestamp that closes a document.
const DOCUMENT_TIMESTAMP_FIELD: &str = "Blankett document timestamp";

/// Where a visible signature goes: page (1-based) and rectangle in PDF points
/// (`[x1, y1, x2, y2]`, origin bottom left), as the renderer reported the field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub page: usize,
    pub rect: [f64; 4],
}

/// One signer's signature.
#[derive(Debug, Clone)]
pub struct SignatureRequest<'a> {
    /// The form field name (the flow's signature field, e.g. `case_worker`).
    pub field: &'a str,
    /// `None`: an invisible signature.
    pub placement: Option<Placement>,
    pub identity: &'a SignerIdentity,
    /// The signer's role as shown in the appearance, e.g. "Handläggare".
    pub role: &'a str,
    /// How the signer proved who they are, e.g. "BankID".
    pub method: &'a str,
    /// The signing time written into `/M` and the appearance.
    pub time: DateTime<Utc>,
    /// A line shown in the appearance after the time, in bold, e.g. "Protokollet är
    /// justerat" on the last signature of minutes. The time above it says when.
    pub note: Option<&'a str>,
}

/// Supplies revocation data (DER CRLs) for certificates, for the DSS of B-LT.
pub trait RevocationSource: Send + Sync {
    fn crls(&self, certificates: &[Vec<u8>], now: DateTime<Utc>)
    -> Result<Vec<Vec<u8>>, SignError>;
}

/// The signing service: issues one-time credentials, signs, timestamps.
#[derive(Clone)]
pub struct Pades {
    issuer: Arc<dyn CredentialIssuer>,
    tsa: Option<Arc<dyn TimestampAuthority>>,
    revocation: Option<Arc<dyn RevocationSource>>,
}

impl Pades {
    /// Signatures at level B-B (no timestamp).
    pub fn new(issuer: Arc<dyn CredentialIssuer>) -> Self {
        Self {
            issuer,
            tsa: None,
            revocation: None,
        }
    }

    /// Timestamps every signature (B-T) and enables document timestamps.
    pub fn with_tsa(mut self, tsa: Arc<dyn TimestampAuthority>) -> Self {
        self.tsa = Some(tsa);
        self
    }

    /// Where the revocation data of the DSS (B-LT) comes from.
    pub fn with_revocation(mut self, source: Arc<dyn RevocationSource>) -> Self {
        self.revocation = Some(source);
        self
    }

    /// Adds one signature in a new incremental update.
    pub fn sign(&self, pdf: &[u8], request: &SignatureRequest<'_>) -> Result<Vec<u8>, SignError> {
        // A period separates the parts of a field's full name (ISO 32000-1, 12.7.3.2); a
        // partial name with one makes validators refuse the whole form.
        if request.field.is_empty() || request.field.contains('.') {
            return Err(SignError::BadFieldName(request.field.to_owned()));
        }
        let mut update = Update::open(pdf)?;
        if update
            .field_names()
            .iter()
            .any(|name| name.as_slice() == request.field.as_bytes())
        {
            return Err(SignError::FieldTaken(request.field.to_owned()));
        }
        let local = request.time.with_timezone(&Stockholm);
        let mut entries = String::new();
        entries.push_str("/Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached");
        entries.push_str(&format!(" /M {}", pdf_date(request.time)));
        entries.push_str(" /Name ");
        entries.push_str(&object_text(&text_string(&request.identity.full_name))?);
        let placeholder = Placeholder::new(&entries, SIGNATURE_RESERVE);

        let mut lines = vec![
            Line {
                text: "Signerad elektroniskt · Signed electronically".into(),
                size: 6.5,
                weight: Weight::Regular,
                color: [0.35, 0.35, 0.35],
            },
            Line {
                text: request.identity.full_name.clone(),
                size: 11.5,
                weight: Weight::Semibold,
                color: [0.0, 0.0, 0.0],
            },
            Line {
                text: request.role.to_owned(),
                size: 8.0,
                weight: Weight::Regular,
                color: [0.1, 0.1, 0.1],
            },
            Line {
                text: format!("{} · {}", local.format("%Y-%m-%d %H:%M %Z"), request.method),
                size: 8.0,
                weight: Weight::Regular,
                color: [0.1, 0.1, 0.1],
            },
        ];
        if let Some(note) = request.note {
            lines.push(Line {
                text: note.to_owned(),
                size: 8.0,
                weight: Weight::Semibold,
                color: [0.0, 0.0, 0.0],
            });
        }
        let tooltip = format!("{}: {}", request.role, request.identity.full_name);
        let sig_id = add_signature_field(
            &mut update,
            request.field,
            &tooltip,
            request.placement,
            &lines,
        )?;
        update.put_raw(sig_id, placeholder.body.clone());

        let prepared = write_prepared(update, sig_id, &placeholder)?;
        let digest = prepared.digest();
        let credential = self.issuer.issue(request.identity, request.time)?;
        let tsa = self.tsa.clone();
        let cms = cades::sign(
            credential.as_ref(),
            Content::Detached { sha256: &digest },
            &|signature| match &tsa {
                None => Ok(Vec::new()),
                Some(tsa) => {
                    let token = tsa.timestamp(&Sha256::digest(signature))?;
                    Ok(vec![cades::attribute(
                        ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
                        token,
                    )?])
                }
            },
        )?;
        prepared.finish(&cms)
    }

    /// Adds the validation data (B-LT) in a new update: a DSS with every certificate of the
    /// document's signatures and timestamps, and revocation data for them.
    pub fn add_validation_data(
        &self,
        pdf: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, SignError> {
        let source = self.revocation.as_ref().ok_or_else(|| {
            SignError::Config("no revocation source is configured for long-term signatures".into())
        })?;
        let mut update = Update::open(pdf)?;
        let certificates = document_certificates(&update);
        if certificates.is_empty() {
            return Err(SignError::Pdf("the document has no signatures".into()));
        }
        let crls = source.crls(&certificates, now)?;

        let root = update.root()?;
        let mut catalog = update.dict(root)?;
        let mut dss = match catalog.get(b"DSS").map(|d| update.resolve(d)) {
            Ok(Object::Dictionary(d)) => d.clone(),
            _ => Dictionary::new(),
        };
        for (key, items) in [(&b"Certs"[..], &certificates), (b"CRLs", &crls)] {
            let existing: Vec<Object> = match dss.get(key).map(|a| update.resolve(a)) {
                Ok(Object::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            let known: Vec<Vec<u8>> = existing
                .iter()
                .filter_map(|o| update.resolve(o).as_stream().ok())
                .map(|s| s.content.clone())
                .collect();
            let mut refs = existing;
            for der in items.iter() {
                if known.contains(der) {
                    continue;
                }
                let id = update.allocate();
                update.put_stream(id, "", der);
                refs.push(Object::Reference(id));
            }
            dss.set(key, Object::Array(refs));
        }
        let dss_id = update.allocate();
        update.put(dss_id, &Object::Dictionary(dss))?;
        catalog.set("DSS", Object::Reference(dss_id));
        update.put(root, &Object::Dictionary(catalog))?;
        Ok(update.write()?.bytes)
    }

    /// Adds a document timestamp (RFC 3161 over the whole file so far) in a new update.
    pub fn add_document_timestamp(&self, pdf: &[u8]) -> Result<Vec<u8>, SignError> {
        let tsa = self.tsa.as_ref().ok_or_else(|| {
            SignError::Config("no TSA is configured for document timestamps".into())
        })?;
        let mut update = Update::open(pdf)?;
        let taken = update.field_names();
        let mut name = DOCUMENT_TIMESTAMP_FIELD.to_owned();
        let mut n = 1;
        while taken.iter().any(|t| t.as_slice() == name.as_bytes()) {
            n += 1;
            name = format!("{DOCUMENT_TIMESTAMP_FIELD} {n}");
        }
        let placeholder = Placeholder::new(
            "/Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161",
            TIMESTAMP_RESERVE,
        );
        let sig_id = add_signature_field(&mut update, &name, "Document timestamp", None, &[])?;
        update.put_raw(sig_id, placeholder.body.clone());
        let prepared = write_prepared(update, sig_id, &placeholder)?;
        let token = tsa.timestamp(&prepared.digest())?;
        prepared.finish(&token)
    }

    /// Closes a finished document for the archive (B-LTA): validation data, then a document
    /// timestamp over everything.
    pub fn seal_long_term(&self, pdf: &[u8], now: DateTime<Utc>) -> Result<Vec<u8>, SignError> {
        let with_data = self.add_validation_data(pdf, now)?;
        self.add_document_timestamp(&with_data)
    }
}

/// Adds the field/widget (merged), its appearance and the page and form entries; returns the
/// object id reserved for the signature dictionary.
fn add_signature_field(
    update: &mut Update<'_>,
    name: &str,
    tooltip: &str,
    placement: Option<Placement>,
    lines: &[Line],
) -> Result<ObjectId, SignError> {
    let page = update.page(placement.map_or(1, |p| p.page))?;
    let sig_id = update.allocate();
    let widget_id = update.allocate();
    let appearance_id = update.allocate();

    let [x1, y1, x2, y2] = placement.map_or([0.0; 4], |p| p.rect);
    let (width, height) = ((x2 - x1).abs() as f32, (y2 - y1).abs() as f32);
    let content = if placement.is_some() {
        appearance::draw(lines, width, height)
    } else {
        Vec::new()
    };
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(&content)
        .map_err(|e| SignError::Pdf(e.to_string()))?;
    let compressed = encoder
        .finish()
        .map_err(|e| SignError::Pdf(e.to_string()))?;
    update.put_stream(
        appearance_id,
        &format!(
            "/Type /XObject /Subtype /Form /BBox [0 0 {width:.2} {height:.2}] /Resources << >> /Filter /FlateDecode"
        ),
        &compressed,
    );

    let mut widget = Dictionary::new();
    widget.set("Type", Object::Name(b"Annot".to_vec()));
    widget.set("Subtype", Object::Name(b"Widget".to_vec()));
    widget.set("FT", Object::Name(b"Sig".to_vec()));
    widget.set("T", text_string(name));
    widget.set("TU", text_string(tooltip));
    widget.set("V", Object::Reference(sig_id));
    widget.set("P", Object::Reference(page));
    widget.set(
        "Rect",
        Object::Array(
            [x1, y1, x2, y2]
                .iter()
                .map(|v| Object::Real(*v as f32))
                .collect(),
        ),
    );
    // Print + Locked: PDF/A wants printable annotations; nobody should move a signature.
    widget.set("F", Object::Integer(132));
    let mut ap = Dictionary::new();
    ap.set("N", Object::Reference(appearance_id));
    widget.set("AP", Object::Dictionary(ap));
    update.put(widget_id, &Object::Dictionary(widget))?;
    update.add_annotation(page, widget_id)?;
    update.add_field(widget_id)?;
    Ok(sig_id)
}

fn write_prepared(
    update: Update<'_>,
    sig_id: ObjectId,
    placeholder: &Placeholder,
) -> Result<Prepared, SignError> {
    let written = update.write()?;
    let at = written
        .body_of(sig_id)
        .ok_or_else(|| SignError::Pdf("the signature dictionary was not written".into()))?;
    Prepared::new(written.bytes, placeholder, at)
}

/// A PDF date in Swedish local time, e.g. `(D:20261125081500+01'00')`.
fn pdf_date(time: DateTime<Utc>) -> String {
    let local = time.with_timezone(&Stockholm);
    let offset = local.format("%z").to_string(); // +0100
    let (hours, minutes) = offset.split_at(offset.len().min(3));
    format!("(D:{}{hours}'{minutes}')", local.format("%Y%m%d%H%M%S"))
}

fn object_text(object: &Object) -> Result<String, SignError> {
    let mut out = Vec::new();
    lopdf::Writer::write_object(&mut out, object).map_err(|e| SignError::Pdf(e.to_string()))?;
    String::from_utf8(out).map_err(|e| SignError::Pdf(e.to_string()))
}

/// Every certificate in the document's signatures and their timestamp tokens, and in
/// document timestamps (DER, without duplicates).
fn document_certificates(update: &Update<'_>) -> Vec<Vec<u8>> {
    let mut certificates: Vec<Vec<u8>> = Vec::new();
    for object in update.doc.objects.values() {
        let Ok(dict) = object.as_dict() else { continue };
        let is_signature = matches!(
            dict.get(b"Type").and_then(Object::as_name),
            Ok(b"Sig") | Ok(b"DocTimeStamp")
        );
        let Ok(contents) = dict.get(b"Contents").and_then(Object::as_str) else {
            continue;
        };
        if is_signature {
            collect_certificates(contents, &mut certificates);
        }
    }
    certificates
}

/// Adds the certificates of a CMS SignedData (possibly followed by zero padding) and of its
/// signature timestamp tokens to `out`.
fn collect_certificates(cms: &[u8], out: &mut Vec<Vec<u8>>) {
    let Some(signed) = SliceReader::new(cms)
        .ok()
        .and_then(|mut r| ContentInfo::decode(&mut r).ok())
        .and_then(|info| info.content.decode_as::<SignedData>().ok())
    else {
        return;
    };
    for choice in signed.certificates.iter().flat_map(|set| set.0.iter()) {
        if let cms::cert::CertificateChoices::Certificate(cert) = choice
            && let Ok(der) = cert.to_der()
            && !out.contains(&der)
        {
            out.push(der);
        }
    }
    for info in signed.signer_infos.0.iter() {
        for attribute in info.unsigned_attrs.iter().flat_map(|a| a.iter()) {
            if attribute.oid == ID_AA_SIGNATURE_TIME_STAMP_TOKEN {
                for value in attribute.values.iter() {
                    if let Ok(token) = value.to_der() {
                        collect_certificates(&token, out);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates_are_swedish_local_time_with_offset() {
        let winter = DateTime::parse_from_rfc3339("2026-01-15T08:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(pdf_date(winter), "(D:20260115090000+01'00')");
        let summer = DateTime::parse_from_rfc3339("2026-07-01T08:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(pdf_date(summer), "(D:20260701100000+02'00')");
    }
}
