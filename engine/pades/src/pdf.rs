//! Incremental updates: new and changed objects appended after the existing bytes, which
//! stay untouched (earlier signatures cover them), with a cross-reference section that points
//! back to the previous one.

use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::Range;

use lopdf::xref::XrefType;
use lopdf::{Dictionary, Document, Object, ObjectId, StringFormat};
use sha2::{Digest, Sha256};

use crate::SignError;

/// An update being assembled over `original`.
pub struct Update<'a> {
    original: &'a [u8],
    pub doc: Document,
    next_id: u32,
    objects: Vec<(ObjectId, Vec<u8>)>,
}

impl<'a> Update<'a> {
    /// Reads `original` (which must be an unencrypted PDF).
    pub fn open(original: &'a [u8]) -> Result<Self, SignError> {
        let doc = Document::load_mem(original)
            .map_err(|e| SignError::Pdf(format!("not a readable PDF: {e}")))?;
        if doc.is_encrypted() || doc.was_encrypted() || doc.trailer.get(b"Encrypt").is_ok() {
            return Err(SignError::Pdf("encrypted PDFs cannot be signed".into()));
        }
        let size = doc
            .trailer
            .get(b"Size")
            .and_then(Object::as_i64)
            .ok()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0);
        let next_id = size.max(doc.max_id + 1).max(doc.reference_table.size);
        Ok(Self {
            original,
            doc,
            next_id,
            objects: Vec::new(),
        })
    }

    /// A fresh object number.
    pub fn allocate(&mut self) -> ObjectId {
        let id = (self.next_id, 0);
        self.next_id += 1;
        id
    }

    /// Adds (or replaces) object `id` with a raw body.
    pub fn put_raw(&mut self, id: ObjectId, body: Vec<u8>) {
        self.objects.retain(|(existing, _)| *existing != id);
        self.objects.push((id, body));
    }

    /// Adds (or replaces) object `id`.
    pub fn put(&mut self, id: ObjectId, object: &Object) -> Result<(), SignError> {
        let mut body = Vec::new();
        lopdf::Writer::write_object(&mut body, object)
            .map_err(|e| SignError::Pdf(format!("cannot write object: {e}")))?;
        self.put_raw(id, body);
        Ok(())
    }

    /// Adds a stream object with `dict` (without /Length) and `content`.
    pub fn put_stream(&mut self, id: ObjectId, dict: &str, content: &[u8]) {
        let mut body = format!("<< {dict} /Length {} >>\nstream\n", content.len()).into_bytes();
        body.extend_from_slice(content);
        body.extend_from_slice(b"\nendstream");
        self.put_raw(id, body);
    }

    /// The catalog's object id.
    pub fn root(&self) -> Result<ObjectId, SignError> {
        self.doc
            .trailer
            .get(b"Root")
            .and_then(Object::as_reference)
            .map_err(|_| SignError::Pdf("the trailer has no /Root".into()))
    }

    /// A dictionary object of the document as it was read. Changes made with [`Update::put`]
    /// are not seen here: read an object before writing it.
    pub fn dict(&self, id: ObjectId) -> Result<Dictionary, SignError> {
        self.doc
            .get_object(id)
            .and_then(Object::as_dict)
            .cloned()
            .map_err(|_| SignError::Pdf(format!("object {} {} is not a dictionary", id.0, id.1)))
    }

    /// The id of page `number` (1-based).
    pub fn page(&self, number: usize) -> Result<ObjectId, SignError> {
        let pages = self.doc.get_pages();
        u32::try_from(number)
            .ok()
            .and_then(|n| pages.get(&n).copied())
            .ok_or_else(|| {
                SignError::Pdf(format!(
                    "the document has no page {number} (it has {})",
                    pages.len()
                ))
            })
    }

    /// Resolves `object` if it is a reference.
    pub fn resolve<'o>(&'o self, object: &'o Object) -> &'o Object {
        self.doc
            .dereference(object)
            .map(|(_, o)| o)
            .unwrap_or(object)
    }

    /// The names (`/T`) of the form fields the document already has.
    pub fn field_names(&self) -> Vec<Vec<u8>> {
        let Ok(catalog) = self.root().and_then(|r| self.dict(r)) else {
            return Vec::new();
        };
        let Ok(form) = catalog.get(b"AcroForm").map(|f| self.resolve(f)) else {
            return Vec::new();
        };
        let Ok(fields) = form
            .as_dict()
            .and_then(|f| f.get(b"Fields"))
            .map(|f| self.resolve(f))
            .and_then(Object::as_array)
        else {
            return Vec::new();
        };
        fields
            .iter()
            .filter_map(|f| self.resolve(f).as_dict().ok())
            .filter_map(|f| f.get(b"T").and_then(Object::as_str).ok())
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// Appends `field` to the AcroForm's /Fields (creating the form when there is none) and
    /// sets /SigFlags 3 (signatures exist, append only). Writes the catalog if it changes.
    pub fn add_field(&mut self, field: ObjectId) -> Result<(), SignError> {
        let root = self.root()?;
        let mut catalog = self.dict(root)?;
        match catalog.get(b"AcroForm").cloned() {
            Ok(Object::Reference(form_id)) => {
                let mut form = self.dict(form_id)?;
                self.push_field(&mut form, field)?;
                self.put(form_id, &Object::Dictionary(form))?;
            }
            Ok(Object::Dictionary(mut form)) => {
                self.push_field(&mut form, field)?;
                catalog.set("AcroForm", Object::Dictionary(form));
                self.put(root, &Object::Dictionary(catalog))?;
            }
            _ => {
                let mut form = Dictionary::new();
                self.push_field(&mut form, field)?;
                let form_id = self.allocate();
                self.put(form_id, &Object::Dictionary(form))?;
                catalog.set("AcroForm", Object::Reference(form_id));
                self.put(root, &Object::Dictionary(catalog))?;
            }
        }
        Ok(())
    }

    fn push_field(&mut self, form: &mut Dictionary, field: ObjectId) -> Result<(), SignError> {
        form.set("SigFlags", Object::Integer(3));
        self.append(form, b"Fields", field)?;
        Ok(())
    }

    /// Adds the annotation `annot` to page `page`'s /Annots.
    pub fn add_annotation(&mut self, page: ObjectId, annot: ObjectId) -> Result<(), SignError> {
        let mut dict = self.dict(page)?;
        if self.append(&mut dict, b"Annots", annot)? {
            self.put(page, &Object::Dictionary(dict))?;
        }
        Ok(())
    }

    /// Appends a reference to `item` to the array `dict[key]` (created when missing). An
    /// array that is an object of its own is rewritten in this update; otherwise `dict` is
    /// changed and the result says so (the caller writes it).
    fn append(
        &mut self,
        dict: &mut Dictionary,
        key: &[u8],
        item: ObjectId,
    ) -> Result<bool, SignError> {
        let not_array =
            || SignError::Pdf(format!("/{} is not an array", String::from_utf8_lossy(key)));
        match dict.get(key).cloned() {
            Ok(Object::Reference(array_id)) => {
                let mut items = self
                    .doc
                    .get_object(array_id)
                    .and_then(Object::as_array)
                    .cloned()
                    .map_err(|_| not_array())?;
                items.push(Object::Reference(item));
                self.put(array_id, &Object::Array(items))?;
                Ok(false)
            }
            Ok(Object::Array(mut items)) => {
                items.push(Object::Reference(item));
                dict.set(key, Object::Array(items));
                Ok(true)
            }
            Ok(_) => Err(not_array()),
            Err(_) => {
                dict.set(key, Object::Array(vec![Object::Reference(item)]));
                Ok(true)
            }
        }
    }

    /// The original bytes followed by this update, with where each object's body starts.
    pub fn write(self) -> Result<Written, SignError> {
        let mut out = Vec::with_capacity(self.original.len() + 32 * 1024);
        out.extend_from_slice(self.original);
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
        let mut offsets: Vec<(ObjectId, usize)> = Vec::new();
        let mut bodies = Vec::new();
        for (id, body) in &self.objects {
            offsets.push((*id, out.len()));
            writeln!(out, "{} {} obj", id.0, id.1).map_err(io)?;
            bodies.push((*id, out.len()));
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }

        let mut trailer = Dictionary::new();
        trailer.set("Size", Object::Integer(i64::from(self.next_id)));
        for key in [&b"Root"[..], b"Info", b"ID"] {
            if let Ok(value) = self.doc.trailer.get(key) {
                trailer.set(key, value.clone());
            }
        }
        trailer.set(
            "Prev",
            Object::Integer(i64::try_from(self.doc.xref_start).unwrap_or(0)),
        );

        let xref_at = out.len();
        match self.doc.reference_table.cross_reference_type {
            XrefType::CrossReferenceTable => {
                out.extend_from_slice(b"xref\n");
                offsets.sort();
                for run in runs(&offsets) {
                    writeln!(out, "{} {}", run[0].0.0, run.len()).map_err(io)?;
                    for (id, at) in run {
                        write!(out, "{at:010} {:05} n\r\n", id.1).map_err(io)?;
                    }
                }
                out.extend_from_slice(b"trailer\n");
                lopdf::Writer::write_object(&mut out, &Object::Dictionary(trailer))
                    .map_err(|e| SignError::Pdf(e.to_string()))?;
                out.push(b'\n');
            }
            XrefType::CrossReferenceStream => {
                // The update continues the file's style: a cross-reference stream that also
                // lists itself.
                let own = (self.next_id, 0);
                trailer.set("Size", Object::Integer(i64::from(self.next_id) + 1));
                offsets.push((own, xref_at));
                offsets.sort();
                let mut index = Vec::new();
                let mut data = Vec::new();
                for run in runs(&offsets) {
                    index.push(Object::Integer(i64::from(run[0].0.0)));
                    index.push(Object::Integer(run.len() as i64));
                    for (id, at) in run {
                        data.push(1u8);
                        data.extend_from_slice(
                            &u32::try_from(*at).map_err(|_| too_big())?.to_be_bytes(),
                        );
                        data.extend_from_slice(&id.1.to_be_bytes());
                    }
                }
                trailer.set("Type", Object::Name(b"XRef".to_vec()));
                trailer.set("W", Object::Array(vec![1.into(), 4.into(), 2.into()]));
                trailer.set("Index", Object::Array(index));
                trailer.set("Length", Object::Integer(data.len() as i64));
                writeln!(out, "{} 0 obj", own.0).map_err(io)?;
                lopdf::Writer::write_object(&mut out, &Object::Dictionary(trailer))
                    .map_err(|e| SignError::Pdf(e.to_string()))?;
                out.extend_from_slice(b"\nstream\n");
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\nendstream\nendobj\n");
            }
        }
        write!(out, "startxref\n{xref_at}\n%%EOF\n").map_err(io)?;
        Ok(Written { bytes: out, bodies })
    }
}

/// An update's bytes (the original and what was appended) and where each new object's body
/// starts.
pub struct Written {
    pub bytes: Vec<u8>,
    pub bodies: Vec<(ObjectId, usize)>,
}

impl Written {
    /// Where the body of object `id` starts.
    pub fn body_of(&self, id: ObjectId) -> Option<usize> {
        self.bodies
            .iter()
            .find(|(o, _)| *o == id)
            .map(|(_, at)| *at)
    }
}

/// Consecutive object numbers, for cross-reference subsections.
fn runs(sorted: &[(ObjectId, usize)]) -> Vec<&[(ObjectId, usize)]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=sorted.len() {
        if i == sorted.len() || sorted[i].0.0 != sorted[i - 1].0.0 + 1 {
            runs.push(&sorted[start..i]);
            start = i;
        }
    }
    runs
}

fn io(e: std::io::Error) -> SignError {
    SignError::Pdf(e.to_string())
}

fn too_big() -> SignError {
    SignError::Pdf("the PDF is larger than 4 GB".into())
}

/// A PDF text string: PDFDocEncoding-compatible ASCII as is, anything else as UTF-16BE with
/// a byte order mark.
pub fn text_string(text: &str) -> Object {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Object::String(text.as_bytes().to_vec(), StringFormat::Literal)
    } else {
        let mut bytes = vec![0xfe, 0xff];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

/// The signature dictionary's placeholders: `/ByteRange` with room for four numbers and
/// `/Contents` with room for `reserve` bytes of CMS.
pub struct Placeholder {
    /// The signature dictionary's body, with the placeholders in it.
    pub body: Vec<u8>,
    byte_range: Range<usize>,
    contents: Range<usize>,
}

const BYTE_RANGE_PLACEHOLDER: &str = "[0 0000000000 0000000000 0000000000]";

impl Placeholder {
    /// `entries` are the dictionary's other entries, written as they are.
    pub fn new(entries: &str, reserve: usize) -> Self {
        let mut body = String::from("<< ");
        body.push_str(entries);
        body.push_str(" /ByteRange ");
        let byte_range = body.len()..body.len() + BYTE_RANGE_PLACEHOLDER.len();
        body.push_str(BYTE_RANGE_PLACEHOLDER);
        body.push_str(" /Contents ");
        let start = body.len();
        body.push('<');
        body.push_str(&"0".repeat(reserve * 2));
        body.push('>');
        let contents = start..body.len();
        body.push_str(" >>");
        Self {
            body: body.into_bytes(),
            byte_range,
            contents,
        }
    }
}

/// A written update whose signature still has to be filled in.
pub struct Prepared {
    pub bytes: Vec<u8>,
    contents: Range<usize>,
}

impl Prepared {
    /// Fills in the /ByteRange of the placeholder whose dictionary body starts at `body_at`.
    pub fn new(
        mut bytes: Vec<u8>,
        placeholder: &Placeholder,
        body_at: usize,
    ) -> Result<Self, SignError> {
        let contents = body_at + placeholder.contents.start..body_at + placeholder.contents.end;
        let range = format!(
            "[0 {} {} {}]",
            contents.start,
            contents.end,
            bytes.len() - contents.end
        );
        let slot = body_at + placeholder.byte_range.start..body_at + placeholder.byte_range.end;
        if range.len() > slot.len() {
            return Err(too_big());
        }
        let padded = format!("{range:<width$}", width = slot.len());
        bytes[slot].copy_from_slice(padded.as_bytes());
        Ok(Self { bytes, contents })
    }

    /// SHA-256 of the bytes the signature covers (everything but the /Contents string).
    pub fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(&self.bytes[..self.contents.start]);
        hasher.update(&self.bytes[self.contents.end..]);
        hasher.finalize().into()
    }

    /// Writes the DER signature into /Contents.
    pub fn finish(mut self, der: &[u8]) -> Result<Vec<u8>, SignError> {
        let room = (self.contents.len() - 2) / 2;
        if der.len() > room {
            return Err(SignError::Pdf(format!(
                "the signature ({} bytes) does not fit the {room} bytes reserved for it",
                der.len()
            )));
        }
        let mut hex = String::with_capacity(der.len() * 2);
        for b in der {
            let _ = write!(hex, "{b:02X}");
        }
        let start = self.contents.start + 1;
        self.bytes[start..start + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(self.bytes)
    }
}
