//! The PDF side: revisions, signature fields, byte ranges and the DSS.

use std::collections::HashSet;

use lopdf::xref::XrefRecovery;
use lopdf::{Dictionary, Document, Object, ObjectId};

use super::VerifyError;
use super::report::SignatureKind;

/// Deepest field tree (and reference chain) followed.
const MAX_DEPTH: usize = 32;
/// Largest DSS stream decoded.
const MAX_DSS_STREAM: usize = 16 << 20;

/// One revision: the file up to the end of one of its `%%EOF` markers.
pub(super) struct Revision {
    /// Just after `%%EOF`.
    pub marker_end: usize,
    /// After the end-of-line that follows the marker, if any.
    pub end: usize,
    /// The document as of this revision.
    pub doc: Document,
}

/// Loads `pdf` as a lenient reader would, refusing files whose cross-reference data had to be
/// rebuilt by scanning (those are not the file that was signed).
fn load(pdf: &[u8]) -> Result<Document, String> {
    let doc = Document::load_mem(pdf).map_err(|e| e.to_string())?;
    if doc.xref_recovery == Some(XrefRecovery::Reconstructed) {
        return Err("its cross-reference data is unreadable".into());
    }
    Ok(doc)
}

/// The revisions of `pdf`, oldest first, and the document as a whole.
///
/// A revision ends at a `%%EOF` that follows a `startxref` and an offset, where the file up to
/// it loads on its own; markers that do not (in a linearized file's first section, say) are not
/// revision boundaries.
pub(super) fn revisions(pdf: &[u8]) -> Result<(Vec<Revision>, Document), VerifyError> {
    let mut revisions: Vec<Revision> = Vec::new();
    let mut from = 0;
    while let Some(found) = find(pdf, b"%%EOF", from) {
        let marker_end = found + 5;
        from = marker_end;
        let previous_end = revisions.last().map_or(0, |revision| revision.end);
        if !follows_startxref(pdf.get(previous_end..found).unwrap_or_default()) {
            continue;
        }
        let end = marker_end + eol_len(pdf.get(marker_end..).unwrap_or_default());
        if let Some(doc) = pdf.get(..end).and_then(|prefix| load(prefix).ok()) {
            revisions.push(Revision {
                marker_end,
                end,
                doc,
            });
        }
    }
    let whole = match revisions.last() {
        Some(last) if is_blank(pdf.get(last.end..).unwrap_or_default()) => last.doc.clone(),
        _ => load(pdf).map_err(|e| VerifyError::Unreadable(e.clone()))?,
    };
    if revisions.is_empty() {
        return Err(VerifyError::Unreadable(
            "no revision ends with startxref and %%EOF".into(),
        ));
    }
    Ok((revisions, whole))
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|position| from + position)
}

/// Whether `before` (the bytes before a `%%EOF`) ends with `startxref`, an offset and white
/// space.
fn follows_startxref(before: &[u8]) -> bool {
    let trimmed = before.trim_ascii_end();
    let digits = trimmed
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    digits > 0
        && trimmed[..trimmed.len() - digits]
            .trim_ascii_end()
            .ends_with(b"startxref")
}

fn eol_len(after: &[u8]) -> usize {
    match after {
        [b'\r', b'\n', ..] => 2,
        [b'\n' | b'\r', ..] => 1,
        _ => 0,
    }
}

/// Whether `bytes` are only PDF white space.
pub(super) fn is_blank(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0'))
}

/// Follows references from `object` to a direct object.
pub(super) fn resolve<'a>(doc: &'a Document, object: &'a Object) -> Option<&'a Object> {
    let mut current = object;
    for _ in 0..MAX_DEPTH {
        match current {
            Object::Reference(id) => current = doc.objects.get(id)?,
            direct => return Some(direct),
        }
    }
    None
}

/// `dict[key]`, resolved.
pub(super) fn get<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    resolve(doc, dict.get(key).ok()?)
}

/// `dict[key]` as a dictionary, resolved.
pub(super) fn get_dict<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Dictionary> {
    get(doc, dict, key)?.as_dict().ok()
}

/// `dict[key]` as a name.
pub(super) fn get_name<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
) -> Option<&'a [u8]> {
    get(doc, dict, key)?.as_name().ok()
}

/// The document catalog.
pub(super) fn catalog(doc: &Document) -> Option<&Dictionary> {
    get_dict(doc, &doc.trailer, b"Root")
}

/// A PDF text string (UTF-16BE or UTF-8 with a byte-order mark, else PDFDocEncoding, read as
/// Latin-1).
pub(super) fn text(bytes: &[u8]) -> String {
    if let Some(utf16) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = utf16
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else if let Some(utf8) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        String::from_utf8_lossy(utf8).into_owned()
    } else {
        bytes.iter().map(|&b| char::from(b)).collect()
    }
}

/// A signature field's value: the signature dictionary's entries verification needs.
pub(super) struct SignatureField {
    /// The fully qualified field name.
    pub name: String,
    /// `/Type /DocTimeStamp` (or `/SubFilter /ETSI.RFC3161`) or a signature.
    pub kind: SignatureKind,
    /// `/SubFilter`.
    pub sub_filter: Option<String>,
    /// `/ByteRange` (empty if missing or not integers).
    pub byte_range: Vec<i64>,
    /// `/Contents`, the CMS object (with its padding).
    pub contents: Option<Vec<u8>>,
    /// `/M`, as written.
    pub claimed_time: Option<String>,
}

/// Every field of the form with `/FT /Sig` and a value, in field-tree order.
pub(super) fn signature_fields(doc: &Document) -> Vec<SignatureField> {
    let mut fields = Vec::new();
    let Some(form) = catalog(doc).and_then(|catalog| get_dict(doc, catalog, b"AcroForm")) else {
        return fields;
    };
    let Some(Object::Array(roots)) = get(doc, form, b"Fields") else {
        return fields;
    };
    let mut walk = FieldWalk {
        doc,
        seen: HashSet::new(),
        fields: &mut fields,
    };
    for root in roots {
        walk.visit(root, "", None, 0);
    }
    fields
}

struct FieldWalk<'a, 'f> {
    doc: &'a Document,
    seen: HashSet<ObjectId>,
    fields: &'f mut Vec<SignatureField>,
}

impl<'a> FieldWalk<'a, '_> {
    fn visit(
        &mut self,
        node: &'a Object,
        parent: &str,
        inherited_type: Option<&'a [u8]>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        if let Object::Reference(id) = node
            && !self.seen.insert(*id)
        {
            return;
        }
        let Some(dict) = resolve(self.doc, node).and_then(|node| node.as_dict().ok()) else {
            return;
        };
        let name = match dict.get(b"T").and_then(Object::as_str) {
            Ok(partial) if parent.is_empty() => text(partial),
            Ok(partial) => format!("{parent}.{}", text(partial)),
            Err(_) => parent.to_owned(),
        };
        let field_type = get_name(self.doc, dict, b"FT").or(inherited_type);
        if field_type == Some(b"Sig".as_slice())
            && let Some(value) = get_dict(self.doc, dict, b"V")
        {
            self.fields
                .push(signature_field(self.doc, name.clone(), value));
        }
        if let Some(Object::Array(kids)) = get(self.doc, dict, b"Kids") {
            for kid in kids {
                self.visit(kid, &name, field_type, depth + 1);
            }
        }
    }
}

fn signature_field(doc: &Document, name: String, value: &Dictionary) -> SignatureField {
    let sub_filter = get_name(doc, value, b"SubFilter").map(text);
    let is_timestamp = get_name(doc, value, b"Type") == Some(b"DocTimeStamp".as_slice())
        || sub_filter.as_deref() == Some("ETSI.RFC3161");
    let byte_range = match get(doc, value, b"ByteRange") {
        Some(Object::Array(items)) => items
            .iter()
            .map(|item| resolve(doc, item).and_then(|item| item.as_i64().ok()))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    SignatureField {
        name,
        kind: if is_timestamp {
            SignatureKind::DocumentTimestamp
        } else {
            SignatureKind::Signature
        },
        sub_filter,
        byte_range,
        // The byte range check compares these bytes with the hex string in the gap, which
        // rules out a /Contents that is not a direct string.
        contents: get(doc, value, b"Contents")
            .and_then(|contents| contents.as_str().ok())
            .map(<[u8]>::to_vec),
        claimed_time: get(doc, value, b"M")
            .and_then(|time| time.as_str().ok())
            .map(text),
    }
}

/// A byte range whose four numbers fit the file: the two signed parts.
#[derive(Clone, Copy)]
pub(super) struct ByteRange {
    first: (usize, usize),
    second: (usize, usize),
}

impl ByteRange {
    /// Reads `/ByteRange [a b c d]`: two ranges inside a file of `file_len` bytes, in order.
    pub fn new(numbers: &[i64], file_len: usize) -> Result<Self, String> {
        let numbers: Vec<usize> = numbers
            .iter()
            .map(|&n| usize::try_from(n))
            .collect::<Result<_, _>>()
            .map_err(|_| "the byte range has a negative number".to_owned())?;
        let [start, first_len, second_start, second_len] = numbers.as_slice() else {
            return Err("the byte range does not have four numbers".into());
        };
        let first_end = start.checked_add(*first_len);
        let second_end = second_start.checked_add(*second_len);
        match (first_end, second_end) {
            (Some(first_end), Some(second_end))
                if first_end <= *second_start && second_end <= file_len =>
            {
                Ok(Self {
                    first: (*start, first_end),
                    second: (*second_start, second_end),
                })
            }
            (Some(_), Some(second_end)) if second_end <= file_len => {
                Err("the byte range's two parts overlap or are out of order".into())
            }
            _ => Err("the byte range goes beyond the end of the file".into()),
        }
    }

    /// The signed bytes, in two parts.
    pub fn parts<'a>(&self, pdf: &'a [u8]) -> [&'a [u8]; 2] {
        [
            pdf.get(self.first.0..self.first.1).unwrap_or_default(),
            pdf.get(self.second.0..self.second.1).unwrap_or_default(),
        ]
    }

    /// Where the signed bytes end.
    pub fn end(&self) -> usize {
        self.second.1
    }

    /// Why the range is not the usual one: starting at 0 and leaving out exactly `contents` as
    /// a hex string with its delimiters.
    pub fn problems(&self, pdf: &[u8], contents: Option<&[u8]>) -> Vec<String> {
        let mut problems = Vec::new();
        if self.first.0 != 0 {
            problems.push("the byte range does not start at the beginning of the file".into());
        }
        let gap = pdf.get(self.first.1..self.second.0).unwrap_or_default();
        let hex = gap
            .strip_prefix(b"<")
            .and_then(|gap| gap.strip_suffix(b">"))
            .and_then(|digits| hex::decode(digits).ok());
        if hex.is_none() || hex.as_deref() != contents {
            problems.push(
                "the gap in the byte range is not exactly the signature's /Contents hex string"
                    .into(),
            );
        }
        problems
    }
}

/// The Document Security Store's validation data.
#[derive(Default)]
pub(super) struct Dss {
    /// `/Certs`, DER.
    pub certs: Vec<Vec<u8>>,
    /// `/CRLs`, DER.
    pub crls: Vec<Vec<u8>>,
    /// Number of `/OCSPs`.
    pub ocsps: usize,
}

/// The catalog's `/DSS` (empty when there is none).
pub(super) fn dss(doc: &Document) -> Dss {
    let Some(dss) = catalog(doc).and_then(|catalog| get_dict(doc, catalog, b"DSS")) else {
        return Dss::default();
    };
    Dss {
        certs: streams(doc, dss, b"Certs"),
        crls: streams(doc, dss, b"CRLs"),
        ocsps: streams(doc, dss, b"OCSPs").len(),
    }
}

fn streams(doc: &Document, dict: &Dictionary, key: &[u8]) -> Vec<Vec<u8>> {
    let Some(Object::Array(items)) = get(doc, dict, key) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| resolve(doc, item)?.as_stream().ok())
        .filter_map(|stream| stream.get_plain_content_with_limit(MAX_DSS_STREAM).ok())
        .collect()
}
