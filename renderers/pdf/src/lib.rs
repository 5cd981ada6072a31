//! Document rendering: Typst embedded as a library.
//!
//! * [`TypstRenderer`] holds what every render shares — the standard library, the bundled
//!   fonts and Blankett's own Typst library — and implements the core's `DocumentRenderer`.
//! * `world` serves one render's files: the flow's folder (pinned in memory with the flow's
//!   content hash), the shared includes, and `@blankett/doc` with the case as `case.json`.
//!   No system fonts, no file system, no network.
//! * The PDF is written in the standard the flow asks for (PDF/A-2b by default) with the
//!   flow's id, revision and hashes in the XMP metadata; the rectangles of the signature
//!   fields are read back through Typst's introspection.
//!
//! Rendering is CPU-bound: callers on an async runtime use `spawn_blocking`.

mod diag;
pub mod pages;
pub mod pool;
mod world;

use std::collections::BTreeMap;
use std::sync::Arc;

use blankett_core::def::{Language, PdfStandard};
use blankett_core::document::{
    DocumentRenderer, PreviewError, RenderError, RenderOptions, RenderRequest, RenderedDocument,
    SignatureField, preview_request, sample_answers, sample_now, sha256_hex,
};
use blankett_core::{Diagnostic, Flow, Pos, Severity};
use chrono::{Datelike, Timelike};
use typst::foundations::{Datetime, Label, Selector, Smart, Value};
use typst::introspection::{Introspector, MetadataElem};
use typst::layout::Abs;
use typst::text::{Font, FontBook, Lang, Locale};
use typst::utils::{LazyHash, PicoStr};
use typst::{Library, LibraryExt};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandards, Timestamp};

use crate::world::DocWorld;

/// How templates import Blankett's library.
pub const LIBRARY_IMPORT: &str = "@blankett/doc:1.0.0";

/// The template of a receipt (a copy of what a person sent): `data.receipt` holds `title`,
/// `site`, `flow`, `number`, `submitted` and `steps` (`title`, `rows` of `label` and `lines`).
pub const RECEIPT_TEMPLATE: &str = include_str!("../typst/receipt.typ");

/// The label `signature-field` puts on its corner markers.
const SIGNATURE_LABEL: &str = "blankett-signature";

/// How many renders a cached compilation result survives without being used again
/// (see `comemo::evict`). Small: the cache otherwise grows with every document.
const CACHE_MAX_AGE: usize = 10;

/// What all renders share. Built once per process.
pub(crate) struct Shared {
    pub(crate) library: LazyHash<Library>,
    pub(crate) book: LazyHash<FontBook>,
    pub(crate) fonts: Vec<Font>,
}

/// The Typst document renderer. Cheap to clone; safe to use from many threads at once.
#[derive(Clone)]
pub struct TypstRenderer {
    shared: Arc<Shared>,
}

impl Default for TypstRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl TypstRenderer {
    /// Loads the bundled fonts and the standard library.
    pub fn new() -> Self {
        let fonts: Vec<Font> = typst_assets::fonts()
            .flat_map(|data| Font::iter(typst::foundations::Bytes::new(data)))
            .collect();
        let book = FontBook::from_fonts(&fonts);
        TypstRenderer {
            shared: Arc::new(Shared {
                library: LazyHash::new(Library::builder().build()),
                book: LazyHash::new(book),
                fonts,
            }),
        }
    }

    /// The characters of `text` a document cannot show (see `blankett_core::charset`, whose
    /// table this crate's tests compare with the bundled fonts).
    pub fn unsupported_chars(&self, text: &str) -> Vec<char> {
        blankett_core::charset::unshowable(text)
    }

    /// The code points some bundled font has a glyph for, as sorted inclusive ranges.
    pub fn font_coverage(&self) -> Vec<(u32, u32)> {
        let mut points: Vec<u32> = self
            .shared
            .fonts
            .iter()
            .flat_map(|f| f.info().coverage.iter().collect::<Vec<u32>>())
            .collect();
        points.sort_unstable();
        points.dedup();
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for p in points {
            match ranges.last_mut() {
                Some((_, hi)) if *hi + 1 == p => *hi = p,
                _ => ranges.push((p, p)),
            }
        }
        ranges
    }

    fn unsupported_in(&self, v: &serde_json::Value, out: &mut Vec<char>) {
        match v {
            serde_json::Value::String(s) => {
                for c in self.unsupported_chars(s) {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| self.unsupported_in(x, out)),
            serde_json::Value::Object(m) => {
                m.values().for_each(|x| self.unsupported_in(x, out));
            }
            _ => {}
        }
    }

    /// Compiles the template with the request's data and writes the PDF.
    pub fn render(
        &self,
        req: &RenderRequest,
        opts: RenderOptions,
    ) -> Result<RenderedDocument, RenderError> {
        let mut bad = Vec::new();
        self.unsupported_in(&req.data, &mut bad);
        if !bad.is_empty() {
            return Err(RenderError::UnsupportedCharacters(bad));
        }
        let result = self.render_inner(req, opts);
        // Keep Typst's memoisation cache bounded: results unused for a while are dropped.
        comemo::evict(CACHE_MAX_AGE);
        result
    }

    fn render_inner(
        &self,
        req: &RenderRequest,
        opts: RenderOptions,
    ) -> Result<RenderedDocument, RenderError> {
        let world = DocWorld::new(&self.shared, req)?;
        let warned = typst::compile::<PagedDocument>(&world);
        let mut warnings: Vec<Diagnostic> = warned
            .warnings
            .iter()
            .map(|d| diag::convert(&world, d))
            .collect();
        let mut doc = warned.output.map_err(|errs| {
            RenderError::Template(errs.iter().map(|d| diag::convert(&world, d)).collect())
        })?;

        set_metadata(&mut doc, req);
        let pages: Vec<(f64, f64)> = doc
            .pages()
            .iter()
            .map(|p| (p.frame.width().to_pt(), p.frame.height().to_pt()))
            .collect();
        let signature_fields = signature_fields(&doc, &pages, &mut warnings, &world)?;
        check_signers(req, &signature_fields, &world, &mut warnings)?;

        let options = PdfOptions {
            ident: Smart::Custom(pdf_ident(req)),
            creator: Smart::Custom(Some(format!(
                "Blankett {} (Typst 0.15)",
                env!("CARGO_PKG_VERSION")
            ))),
            timestamp: timestamp(req),
            standards: standards(req.meta.standard)?,
            ..PdfOptions::default()
        };
        let pdf = typst_pdf::pdf(&doc, &options).map_err(|errs| {
            let messages: Vec<String> = errs
                .iter()
                .map(|d| diag::convert(&world, d).message)
                .collect();
            RenderError::Export(messages.join("; "))
        })?;

        let previews = match opts.preview_scale {
            None => Vec::new(),
            Some(scale) => doc
                .pages()
                .iter()
                .map(|page| {
                    let pixmap = typst_render::render(
                        page,
                        &typst_render::RenderOptions {
                            pixel_per_pt: f64::from(scale).into(),
                            ..Default::default()
                        },
                    );
                    pixmap
                        .encode_png()
                        .map_err(|e| RenderError::Export(format!("page preview: {e}")))
                })
                .collect::<Result<_, _>>()?,
        };

        Ok(RenderedDocument {
            sha256: sha256_hex(&pdf),
            pdf,
            pages,
            signature_fields,
            previews,
            warnings,
        })
    }
}

impl DocumentRenderer for TypstRenderer {
    fn render(
        &self,
        req: &RenderRequest,
        opts: RenderOptions,
    ) -> Result<RenderedDocument, RenderError> {
        TypstRenderer::render(self, req, opts)
    }
}

/// Title, author, language, and the trace back to the definition (flow id, revision,
/// hashes) as keywords, which Typst writes to both the document information and the XMP.
fn set_metadata(doc: &mut PagedDocument, req: &RenderRequest) {
    let m = &req.meta;
    let info = doc.info_mut();
    info.title = Some(m.title.as_str().into());
    if info.author.is_empty() && !m.author.is_empty() {
        info.author = vec![m.author.as_str().into()];
    }
    if info.description.is_none() {
        info.description = Some(
            format!(
                "Blankett e-service {} revision {}, case {}",
                m.flow_id,
                m.flow_revision,
                req.data["case"]["number"].as_str().unwrap_or("")
            )
            .into(),
        );
    }
    info.keywords.extend([
        format!("blankett:flow={}", m.flow_id).into(),
        format!("blankett:flow-revision={}", m.flow_revision).into(),
        format!("blankett:flow-sha256={}", m.flow_hash).into(),
        format!("blankett:template-sha256={}", m.template_sha256).into(),
    ]);
    let lang = match m.language {
        Language::Sv => Lang::SWEDISH,
        Language::En => Lang::ENGLISH,
    };
    info.locale = Smart::Custom(Locale { lang, region: None });
}

/// A stable document identifier: the same case and flow give the same id.
fn pdf_ident(req: &RenderRequest) -> String {
    let case_id = req.data["case"]["id"].as_str().unwrap_or("");
    sha256_hex(format!("{}\0{}", req.meta.flow_hash, case_id).as_bytes()).to_string()
}

/// The PDF's creation date: Swedish time with its offset.
fn timestamp(req: &RenderRequest) -> Option<Timestamp> {
    let n = req.now.local();
    let dt = Datetime::from_ymd_hms(
        n.year(),
        n.month() as u8,
        n.day() as u8,
        n.hour() as u8,
        n.minute() as u8,
        n.second() as u8,
    )?;
    Some(
        Timestamp::new_local(dt, req.now.offset_minutes())
            .unwrap_or_else(|| Timestamp::new_utc(dt)),
    )
}

fn standards(s: PdfStandard) -> Result<PdfStandards, RenderError> {
    use typst_pdf::PdfStandard as T;
    let list: &[T] = match s {
        PdfStandard::PdfA2b => &[T::A_2b],
        PdfStandard::PdfA2a => &[T::A_2a],
        PdfStandard::PdfA2u => &[T::A_2u],
        PdfStandard::PdfA3b => &[T::A_3b],
        PdfStandard::PdfA2bUa1 => &[T::A_2b, T::Ua_1],
    };
    PdfStandards::new(list).map_err(|e| RenderError::Export(e.message().to_string()))
}

/// A corner of a signature field: page (from 1), x and y from the page's top left.
type Corner = (usize, Abs, Abs);

/// Reads the corners `signature-field` placed and turns them into PDF rectangles.
fn signature_fields(
    doc: &PagedDocument,
    pages: &[(f64, f64)],
    warnings: &mut Vec<Diagnostic>,
    world: &DocWorld<'_>,
) -> Result<Vec<SignatureField>, RenderError> {
    let Some(label) = Label::new(PicoStr::intern(SIGNATURE_LABEL)) else {
        return Ok(Vec::new());
    };
    let introspector = doc.introspector();
    // field → [top-left, bottom-right].
    let mut corners: BTreeMap<String, [Option<Corner>; 2]> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut twice: Vec<String> = Vec::new();
    for content in introspector.query(&Selector::Label(label)) {
        let Some(meta) = content.to_packed::<MetadataElem>() else {
            continue;
        };
        let Value::Dict(d) = &meta.value else {
            continue;
        };
        let (Ok(Value::Str(field)), Ok(Value::Str(corner))) = (d.get("field"), d.get("corner"))
        else {
            continue;
        };
        let Some(pos) = content.location().and_then(|l| introspector.position(l)) else {
            continue;
        };
        let slot = usize::from(corner.as_str() != "top-left");
        let entry = corners.entry(field.to_string()).or_default();
        if entry[slot].is_some() {
            if !twice.contains(&field.to_string()) {
                twice.push(field.to_string());
            }
            continue;
        }
        if slot == 0 {
            order.push(field.to_string());
        }
        entry[slot] = Some((pos.page.get(), pos.point.x, pos.point.y));
    }
    if !twice.is_empty() {
        return Err(RenderError::Template(vec![world.template_diagnostic(
            Severity::Error,
            format!(
                "a signature field may be placed only once; placed more than once: {}",
                twice.join(", ")
            ),
        )]));
    }
    let mut out = Vec::new();
    for name in order {
        let Some([Some((page, x1, top)), Some((page2, x2, bottom))]) = corners.get(&name) else {
            continue;
        };
        if page != page2 {
            warnings.push(world.template_diagnostic(
                Severity::Warning,
                format!("the signature field `{name}` is split over two pages"),
            ));
            continue;
        }
        let height = pages.get(page - 1).map(|p| p.1).unwrap_or_default();
        out.push(SignatureField {
            name,
            page: *page as u32,
            rect: [
                round2(x1.to_pt()),
                round2(height - bottom.to_pt()),
                round2(x2.to_pt()),
                round2(height - top.to_pt()),
            ],
        });
    }
    Ok(out)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Every signer needs a field; a field for no signer is worth a warning.
fn check_signers(
    req: &RenderRequest,
    fields: &[SignatureField],
    world: &DocWorld<'_>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), RenderError> {
    let signers: Vec<&str> = req.data["signers"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["field"].as_str()).collect())
        .unwrap_or_default();
    let missing: Vec<String> = signers
        .iter()
        .filter(|s| !fields.iter().any(|f| f.name == **s))
        .map(|s| (*s).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(RenderError::MissingSignatureFields(missing));
    }
    for f in fields {
        if !signers.contains(&f.name.as_str()) {
            warnings.push(world.template_diagnostic(
                Severity::Warning,
                format!("the signature field `{}` belongs to no signer", f.name),
            ));
        }
    }
    Ok(())
}

/// A diagnostic at the start of a file.
pub(crate) fn at_start(file: String, severity: Severity, message: String) -> Diagnostic {
    Diagnostic {
        file,
        pos: Pos::START,
        severity,
        message,
    }
}

/// Compiles a flow's template with its sample answers, as `blankett check` does: Typst
/// errors and warnings as `file:line:col`, and a missing signature field for any signer.
pub fn check_template(renderer: &dyn DocumentRenderer, flow: &Flow) -> Vec<Diagnostic> {
    check_template_bounded(renderer, flow).0
}

/// [`check_template`], and whether the rendering was stopped at its time or memory bound.
pub fn check_template_bounded(
    renderer: &dyn DocumentRenderer,
    flow: &Flow,
) -> (Vec<Diagnostic>, bool) {
    let Some(doc) = &flow.document else {
        return (Vec::new(), false);
    };
    let template_path = format!("{}/{}", flow.dir.trim_end_matches('/'), doc.template);
    // Missing or invalid sample answers are reported by the loader already.
    let Some(answers) = sample_answers(flow) else {
        return (Vec::new(), false);
    };
    let req = match preview_request(flow, &answers, sample_now()) {
        Ok(r) => r,
        Err(PreviewError::Answers(_)) => return (Vec::new(), false),
        Err(e) => {
            return (
                vec![at_start(
                    template_path,
                    Severity::Error,
                    format!("cannot render with the sample answers: {e}"),
                )],
                false,
            );
        }
    };
    let mut bounded = false;
    let mut diags = match renderer.render(&req, RenderOptions::default()) {
        Ok(done) => done.warnings,
        Err(RenderError::Template(diags)) => diags,
        Err(e) => {
            let message = match &e {
                RenderError::TimedOut { secs, .. } => {
                    bounded = true;
                    format!(
                        "with the sample answers the document was not finished within {secs} s; does the template loop without end?"
                    )
                }
                RenderError::OutOfMemory { mb, .. } => {
                    bounded = true;
                    format!(
                        "with the sample answers making the document needed more than {mb} MB of memory"
                    )
                }
                other => other.to_string(),
            };
            vec![at_start(template_path.clone(), Severity::Error, message)]
        }
    };
    // One syntax error can cascade into dozens; the first ones are the ones to fix.
    if diags.len() > MAX_TEMPLATE_DIAGNOSTICS {
        let more = diags.len() - MAX_TEMPLATE_DIAGNOSTICS;
        diags.truncate(MAX_TEMPLATE_DIAGNOSTICS);
        diags.push(at_start(
            template_path,
            Severity::Error,
            format!("… and {more} more problem(s) in the template; fix the ones above first"),
        ));
    }
    (diags, bounded)
}

/// How many template diagnostics `check` shows per flow.
const MAX_TEMPLATE_DIAGNOSTICS: usize = 10;
