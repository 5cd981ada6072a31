//! Documents made elsewhere: an uploaded PDF is judged before it is signed (a PDF at all,
//! whole, not encrypted, not signed already, no JavaScript or launch actions, which PDF/A it
//! declares), and a signature page is added after its pages in an incremental update, so the
//! uploaded bytes, its pages and its metadata (XMP) stay exactly as they were.

use std::collections::BTreeMap;

use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

use crate::SignError;
use crate::pdf::Update;

/// What an uploaded PDF is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfFacts {
    pub pages: u32,
    /// The PDF/A part and conformance its XMP declares (`2`, `B`), if any.
    pub pdfa: Option<(String, String)>,
}

impl PdfFacts {
    /// `PDF/A-2B`, or `None`.
    pub fn pdfa_name(&self) -> Option<String> {
        self.pdfa
            .as_ref()
            .map(|(part, conf)| format!("PDF/A-{part}{}", conf.to_uppercase()))
    }
}

/// Why an uploaded PDF cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the file is not a PDF")]
    NotPdf,
    #[error("the PDF is damaged or incomplete: {0}")]
    Damaged(String),
    #[error("the PDF is encrypted or password protected")]
    Encrypted,
    #[error("the PDF is already signed")]
    Signed,
    #[error("the PDF contains JavaScript")]
    JavaScript,
    #[error("the PDF contains an action that starts a program or opens a file")]
    Launch,
    #[error("the PDF declares no PDF/A conformance")]
    NotPdfa,
}

impl Refusal {
    /// A stable code for a field error.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotPdf => "pdf_not_pdf",
            Refusal::Damaged(_) => "pdf_damaged",
            Refusal::Encrypted => "pdf_encrypted",
            Refusal::Signed => "pdf_signed",
            Refusal::JavaScript => "pdf_javascript",
            Refusal::Launch => "pdf_launch",
            Refusal::NotPdfa => "pdf_not_pdfa",
        }
    }

    /// What the person is told, in Swedish and English.
    pub fn message(&self) -> (String, String) {
        let (sv, en) = match self {
            Refusal::NotPdf => ("Filen är inte en PDF.", "The file is not a PDF."),
            Refusal::Damaged(_) => (
                "PDF-filen är skadad eller ofullständig. Spara den på nytt och försök igen.",
                "The PDF is damaged or incomplete. Save it again and try again.",
            ),
            Refusal::Encrypted => (
                "PDF-filen är krypterad eller lösenordsskyddad. Spara den utan skydd och försök igen.",
                "The PDF is encrypted or password protected. Save it without protection and try again.",
            ),
            Refusal::Signed => (
                "PDF-filen är redan underskriven. Ladda upp dokumentet utan underskrifter.",
                "The PDF is already signed. Upload the document without signatures.",
            ),
            Refusal::JavaScript => (
                "PDF-filen innehåller JavaScript, som inte får finnas i ett dokument som ska skrivas under. Spara den som PDF/A och försök igen.",
                "The PDF contains JavaScript, which a document to be signed may not have. Save it as PDF/A and try again.",
            ),
            Refusal::Launch => (
                "PDF-filen innehåller en åtgärd som startar ett program eller öppnar en fil. Spara den som PDF/A och försök igen.",
                "The PDF contains an action that starts a program or opens a file. Save it as PDF/A and try again.",
            ),
            Refusal::NotPdfa => (
                "PDF-filen är inte PDF/A. Spara den som PDF/A (till exempel PDF/A-2b) och försök igen.",
                "The PDF is not PDF/A. Save it as PDF/A (for example PDF/A-2b) and try again.",
            ),
        };
        (sv.to_owned(), en.to_owned())
    }
}

/// Most objects an uploaded PDF may have (a 500-page report has a few tens of thousands).
const MAX_OBJECTS: usize = 500_000;

/// Largest size one stream of an upload may decompress to while it is read (object and
/// cross-reference streams): a few kilobytes of nested Flate can otherwise expand to
/// gigabytes. Real object streams are at most a few megabytes.
const MAX_STREAM_BYTES: usize = 32 * 1024 * 1024;

/// Largest XMP metadata packet read (they are a few kilobytes).
const MAX_XMP_BYTES: usize = 1024 * 1024;

/// Reads an untrusted PDF with every stream bounded.
fn load_untrusted(bytes: &[u8]) -> lopdf::Result<Document> {
    Document::load_mem_with_options(
        bytes,
        LoadOptions::with_max_decompressed_size(MAX_STREAM_BYTES),
    )
}

/// Judges an uploaded PDF. Reads the whole file once; bounded by its size (the upload's own
/// limit) and by [`MAX_OBJECTS`].
pub fn inspect(bytes: &[u8]) -> Result<PdfFacts, Refusal> {
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(Refusal::NotPdf);
    }
    // A whole file ends with %%EOF (give or take trailing whitespace and junk).
    let tail = &bytes[bytes.len().saturating_sub(2048)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(Refusal::Damaged("no end of file marker".into()));
    }
    let doc = load_untrusted(bytes).map_err(|e| {
        let text = e.to_string();
        if text.to_lowercase().contains("encrypt") || text.to_lowercase().contains("password") {
            Refusal::Encrypted
        } else {
            Refusal::Damaged(text)
        }
    })?;
    if doc.is_encrypted() || doc.was_encrypted() || doc.trailer.get(b"Encrypt").is_ok() {
        return Err(Refusal::Encrypted);
    }
    if doc.objects.len() > MAX_OBJECTS {
        return Err(Refusal::Damaged("too many objects".into()));
    }
    let pages = u32::try_from(doc.get_pages().len()).unwrap_or(0);
    if pages == 0 {
        return Err(Refusal::Damaged("no pages".into()));
    }
    for object in doc.objects.values() {
        check_object(object, 0)?;
    }
    // A document-level script lives in the name tree /Names /JavaScript.
    if let Ok(names) = doc
        .catalog()
        .and_then(|c| c.get(b"Names"))
        .and_then(|n| doc.dereference(n))
        .and_then(|(_, n)| n.as_dict())
        && names.has(b"JavaScript")
    {
        return Err(Refusal::JavaScript);
    }
    Ok(PdfFacts {
        pages,
        pdfa: pdfa_of(&doc),
    })
}

fn name_is(d: &Dictionary, key: &[u8], value: &[u8]) -> bool {
    d.get(key)
        .and_then(Object::as_name)
        .is_ok_and(|n| n == value)
}

/// How deep direct (not referenced) dictionaries and arrays are looked into.
const MAX_NESTING: usize = 64;

/// Checks an object and every dictionary written inside it (an action is often a direct
/// dictionary: `/OpenAction << /S /JavaScript … >>`, `/AA << /O << … >> >>`).
fn check_object(object: &Object, depth: usize) -> Result<(), Refusal> {
    if depth > MAX_NESTING {
        return Err(Refusal::Damaged("objects nested too deep".into()));
    }
    match object {
        Object::Dictionary(d) => {
            check_dict(d)?;
            for (_, v) in d.iter() {
                check_object(v, depth + 1)?;
            }
        }
        Object::Stream(s) => {
            check_dict(&s.dict)?;
            for (_, v) in s.dict.iter() {
                check_object(v, depth + 1)?;
            }
        }
        Object::Array(items) => {
            for v in items {
                check_object(v, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn check_dict(d: &Dictionary) -> Result<(), Refusal> {
    if name_is(d, b"S", b"JavaScript") || d.has(b"JS") {
        return Err(Refusal::JavaScript);
    }
    if name_is(d, b"S", b"Launch") {
        return Err(Refusal::Launch);
    }
    // A signature dictionary, or a signature field that holds a value.
    if (name_is(d, b"Type", b"Sig") && d.has(b"ByteRange"))
        || (name_is(d, b"Type", b"DocTimeStamp") && d.has(b"ByteRange"))
        || (name_is(d, b"FT", b"Sig") && d.has(b"V"))
    {
        return Err(Refusal::Signed);
    }
    Ok(())
}

/// The PDF/A a PDF declares in its catalog's XMP (`PDF/A-2B`), whatever else it is (signed
/// documents included); `None` if it declares none or cannot be read.
pub fn declared_pdfa(bytes: &[u8]) -> Option<String> {
    let doc = load_untrusted(bytes).ok()?;
    PdfFacts {
        pages: 0,
        pdfa: pdfa_of(&doc),
    }
    .pdfa_name()
}

/// The PDF/A part and conformance the catalog's XMP metadata declares.
fn pdfa_of(doc: &Document) -> Option<(String, String)> {
    let meta = doc.catalog().ok()?.get(b"Metadata").ok()?;
    let (_, meta) = doc.dereference(meta).ok()?;
    let stream = meta.as_stream().ok()?;
    let xml = if stream.dict.has(b"Filter") {
        stream.decompressed_content_with_limit(MAX_XMP_BYTES).ok()?
    } else {
        stream.content.iter().take(MAX_XMP_BYTES).copied().collect()
    };
    let xml = String::from_utf8_lossy(&xml);
    let part = xmp_value(&xml, "pdfaid:part")?;
    let conformance = xmp_value(&xml, "pdfaid:conformance").unwrap_or_default();
    Some((part, conformance))
}

/// `pdfaid:part="2"` or `<pdfaid:part>2</pdfaid:part>`.
fn xmp_value(xml: &str, name: &str) -> Option<String> {
    if let Some(at) = xml.find(&format!("{name}=")) {
        let rest = &xml[at + name.len() + 1..];
        let quote = rest.chars().next().filter(|q| matches!(q, '"' | '\''))?;
        let rest = &rest[quote.len_utf8()..];
        let end = rest.find(quote)?;
        return Some(rest[..end].trim().to_owned());
    }
    let open = format!("<{name}>");
    let at = xml.find(&open)?;
    let rest = &xml[at + open.len()..];
    let end = rest.find('<')?;
    Some(rest[..end].trim().to_owned())
}

/// Adds the pages of `extra` (the rendered signature page) after the pages of `original`, in
/// one incremental update: `original`'s bytes are kept as they are, its pages untouched; the
/// new pages' objects are copied with new numbers, and the page tree's root gets them as
/// kids. Returns the new bytes.
pub fn append_pages(original: &[u8], extra: &[u8]) -> Result<Vec<u8>, SignError> {
    let mut update = Update::open(original)?;
    let source = Document::load_mem(extra)
        .map_err(|e| SignError::Pdf(format!("the signature page is not readable: {e}")))?;
    let root = update.root()?;
    let catalog = update.dict(root)?;
    let pages_id = catalog
        .get(b"Pages")
        .and_then(Object::as_reference)
        .map_err(|_| SignError::Pdf("the catalog has no page tree".into()))?;
    let mut pages_dict = update.dict(pages_id)?;

    let mut map: BTreeMap<ObjectId, ObjectId> = BTreeMap::new();
    let mut new_kids = Vec::new();
    for (_, page_id) in source.get_pages() {
        let new_page = copy_object(&mut update, &source, page_id, &mut map, Some(pages_id))?;
        new_kids.push(Object::Reference(new_page));
    }
    let added = i64::try_from(new_kids.len()).unwrap_or(0);
    let mut kids = pages_dict
        .get(b"Kids")
        .and_then(Object::as_array)
        .cloned()
        .map_err(|_| SignError::Pdf("the page tree has no kids".into()))?;
    kids.extend(new_kids);
    let count = pages_dict
        .get(b"Count")
        .and_then(Object::as_i64)
        .unwrap_or(0);
    pages_dict.set("Kids", Object::Array(kids));
    pages_dict.set("Count", Object::Integer(count + added));
    update.put(pages_id, &Object::Dictionary(pages_dict))?;
    Ok(update.write()?.bytes)
}

/// Copies object `id` of `source` (and everything it refers to) into `update` under new
/// numbers; a page's `/Parent` becomes `parent`, and what only a tagged source document has
/// (`/StructParents`) is left out.
fn copy_object(
    update: &mut Update<'_>,
    source: &Document,
    id: ObjectId,
    map: &mut BTreeMap<ObjectId, ObjectId>,
    parent: Option<ObjectId>,
) -> Result<ObjectId, SignError> {
    if let Some(new) = map.get(&id) {
        return Ok(*new);
    }
    let new_id = update.allocate();
    map.insert(id, new_id);
    let object = source
        .get_object(id)
        .map_err(|e| SignError::Pdf(format!("the signature page lacks object {id:?}: {e}")))?
        .clone();
    let mut copied = renumber(update, source, object, map)?;
    if let (Some(parent), Object::Dictionary(d)) = (parent, &mut copied)
        && name_is(d, b"Type", b"Page")
    {
        d.set("Parent", Object::Reference(parent));
        d.remove(b"StructParents");
    }
    update.put(new_id, &copied)?;
    Ok(new_id)
}

fn renumber(
    update: &mut Update<'_>,
    source: &Document,
    object: Object,
    map: &mut BTreeMap<ObjectId, ObjectId>,
) -> Result<Object, SignError> {
    Ok(match object {
        Object::Reference(r) => Object::Reference(copy_object(update, source, r, map, None)?),
        Object::Array(items) => Object::Array(
            items
                .into_iter()
                .map(|o| renumber(update, source, o, map))
                .collect::<Result<_, _>>()?,
        ),
        Object::Dictionary(d) => Object::Dictionary(renumber_dict(update, source, d, map)?),
        Object::Stream(mut s) => {
            s.dict = renumber_dict(update, source, s.dict, map)?;
            Object::Stream(s)
        }
        other => other,
    })
}

fn renumber_dict(
    update: &mut Update<'_>,
    source: &Document,
    d: Dictionary,
    map: &mut BTreeMap<ObjectId, ObjectId>,
) -> Result<Dictionary, SignError> {
    let mut out = Dictionary::new();
    for (k, v) in d {
        // The page's parent is the target's page tree, set by the caller; a structure
        // tree entry would point into the source's catalog.
        if k == b"Parent" || k == b"StructParents" || k == b"StructParent" {
            continue;
        }
        out.set(k, renumber(update, source, v, map)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// A small PDF written by hand, with `extra` in its catalog and one page.
    fn pdf(catalog_extra: &str, more: &str) -> Vec<u8> {
        let more = if more.is_empty() { "<< >>" } else { more };
        pdf_bytes(catalog_extra, more.as_bytes())
    }

    /// [`pdf`] with object 4 given as bytes.
    fn pdf_bytes(catalog_extra: &str, more: &[u8]) -> Vec<u8> {
        let objects: [Vec<u8>; 4] = [
            format!("<< /Type /Catalog /Pages 2 0 R {catalog_extra} >>").into_bytes(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>".to_vec(),
            more.to_vec(),
        ];
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(o);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for o in offsets {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    #[test]
    fn a_plain_pdf_passes_and_says_it_is_not_pdfa() {
        let facts = inspect(&pdf("", "")).unwrap();
        assert_eq!(facts.pages, 1);
        assert_eq!(facts.pdfa, None);
    }

    #[test]
    fn hostile_and_broken_files_are_refused_with_the_reason() {
        assert_eq!(inspect(b"GIF89a not a pdf"), Err(Refusal::NotPdf));
        let whole = pdf("", "");
        assert!(matches!(
            inspect(&whole[..whole.len() / 2]),
            Err(Refusal::Damaged(_))
        ));
        assert_eq!(
            inspect(&pdf(
                "/OpenAction 4 0 R",
                "<< /S /JavaScript /JS (app.alert(1)) >>"
            )),
            Err(Refusal::JavaScript)
        );
        assert_eq!(
            inspect(&pdf("/OpenAction 4 0 R", "<< /S /Launch /F (calc.exe) >>")),
            Err(Refusal::Launch)
        );
        // Actions written inside other dictionaries, as most are.
        assert_eq!(
            inspect(&pdf("/OpenAction << /S /JavaScript /JS (x) >>", "")),
            Err(Refusal::JavaScript)
        );
        assert_eq!(
            inspect(&pdf("", "<< /AA << /O [ << /S /Launch /F (x) >> ] >> >>")),
            Err(Refusal::Launch)
        );
        assert_eq!(
            inspect(&pdf(
                "/AcroForm << /Fields [4 0 R] >>",
                "<< /FT /Sig /T (s1) /V << /Type /Sig /ByteRange [0 1 2 3] >> >>"
            )),
            Err(Refusal::Signed)
        );
        assert_eq!(
            inspect(&pdf("/Names << /JavaScript 4 0 R >>", "<< /Names [] >>")),
            Err(Refusal::JavaScript)
        );
    }

    #[test]
    fn xmp_declarations_are_read_in_both_forms() {
        assert_eq!(
            xmp_value(
                r#"<rdf:Description pdfaid:part="2" pdfaid:conformance="B"/>"#,
                "pdfaid:part"
            ),
            Some("2".into())
        );
        assert_eq!(
            xmp_value(
                "<pdfaid:conformance>B</pdfaid:conformance>",
                "pdfaid:conformance"
            ),
            Some("B".into())
        );
        assert_eq!(xmp_value("<x/>", "pdfaid:part"), None);
        // A quote that is not ASCII is no attribute (and no panic).
        assert_eq!(
            xmp_value("pdfaid:part=\u{201d}2\u{201d}", "pdfaid:part"),
            None
        );
    }

    #[test]
    fn metadata_that_inflates_past_its_bound_is_not_read() {
        use std::io::Write as _;
        // A PDF/A declaration followed by 2 MiB of spaces: a few kilobytes compressed, over
        // the bound once inflated. Read without the bound it would say PDF/A-2.
        let mut xmp = b"<pdfaid:part>2</pdfaid:part>".to_vec();
        xmp.resize(2 * 1024 * 1024, b' ');
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&xmp).unwrap();
        let packed = z.finish().unwrap();
        let mut object = format!(
            "<< /Type /Metadata /Subtype /XML /Filter /FlateDecode /Length {} >>\nstream\n",
            packed.len()
        )
        .into_bytes();
        object.extend_from_slice(&packed);
        object.extend_from_slice(b"\nendstream");
        let facts = inspect(&pdf_bytes("/Metadata 4 0 R", &object)).unwrap();
        assert_eq!(
            facts.pdfa, None,
            "the declaration past the bound is not read"
        );
    }

    #[test]
    fn appended_pages_follow_the_original_ones_which_stay_as_they_were() {
        let original = pdf("", "");
        let extra = pdf("", "");
        let out = append_pages(&original, &extra).unwrap();
        assert!(out.starts_with(&original), "an incremental update");
        let facts = inspect(&out).unwrap();
        assert_eq!(facts.pages, 2);
        let doc = Document::load_mem(&out).unwrap();
        let pages = doc.get_pages();
        assert_eq!(
            pages[&1],
            (3, 0),
            "the first page is the original's own object"
        );
        let second = doc.get_dictionary(pages[&2]).unwrap();
        assert_eq!(
            second.get(b"Parent").unwrap().as_reference().unwrap(),
            (2, 0)
        );
    }
}
