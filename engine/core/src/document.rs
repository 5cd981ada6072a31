//! The document a case produces: the data a template receives, and the rendering port.
//!
//! A template never receives answers as markup. The engine builds one JSON value
//! ([`document_data`]) and the renderer hands it to the template as data; the template
//! decides how to typeset it. The renderer itself (Typst, in `renderers/pdf`) implements
//! [`DocumentRenderer`].

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::case::{Case, Person, Signature, resolve_signers, sample_in_review};
use crate::def::FieldType;
use crate::def::{Language, PdfStandard};
use crate::diag::Diagnostic;
use crate::expr::render_template;
use crate::ids::Personnummer;
use crate::model::{Field, Flow};
use crate::rules::{Env, validate_all};

/// Everything a renderer needs for one document. Built by the engine, never by the template.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// The flow's files by relative path (its own folder, plus the shared includes under
    /// `_shared/`), pinned with the flow's content hash.
    pub files: Arc<BTreeMap<String, Vec<u8>>>,
    /// Path of the template among `files`, e.g. `document.typ`.
    pub template: String,
    /// Display path of the flow folder, for diagnostics (`flows/lvu-6`).
    pub dir: String,
    /// The case data handed to the template ([`document_data`]).
    pub data: Value,
    pub meta: DocumentMeta,
    /// The engine's clock: the template's `today` (its Swedish date) and the PDF's creation
    /// date (Swedish time with its offset).
    pub now: Timestamp,
}

/// Metadata written into the PDF (document information and XMP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub title: String,
    pub author: String,
    pub language: Language,
    pub standard: PdfStandard,
    pub flow_id: String,
    pub flow_revision: u32,
    /// The flow's content hash (every file of its folder and the form-defs it uses).
    pub flow_hash: crate::ids::FlowHash,
    /// SHA-256 of the template file itself.
    pub template_sha256: String,
    /// The download file name.
    pub filename: String,
}

/// Where a signer's visible signature goes: a rectangle on one page, in PDF user space
/// (points, origin at the bottom left of the page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureField {
    /// The signer's field name (`case_worker`, `signatory.1`).
    pub name: String,
    /// Page number, from 1.
    pub page: u32,
    /// `[x1, y1, x2, y2]`, lower left then upper right.
    pub rect: [f64; 4],
}

/// A rendered document.
#[derive(Debug, Clone)]
pub struct RenderedDocument {
    pub pdf: Vec<u8>,
    /// SHA-256 of `pdf`, lowercase hex.
    pub sha256: crate::ids::Sha256Hex,
    /// Page sizes in points (width, height).
    pub pages: Vec<(f64, f64)>,
    pub signature_fields: Vec<SignatureField>,
    /// PNG images of the pages, when previews were asked for.
    pub previews: Vec<Vec<u8>>,
    /// Template warnings (`file:line:col`).
    pub warnings: Vec<Diagnostic>,
}

/// Options for one render.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RenderOptions {
    /// Render PNG previews at this many pixels per point (e.g. 1.5); `None` for no previews.
    pub preview_scale: Option<f32>,
}

/// Why a document could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The template has errors (each one `file:line:col`).
    #[error("the document template has {} error(s): {}", .0.len(), first_message(.0))]
    Template(Vec<Diagnostic>),
    /// The answers hold characters none of the bundled fonts can show; PDF/A requires every
    /// glyph to be embedded, so the document cannot be made until they are changed.
    #[error("the text contains characters the document fonts cannot show: {}", show_chars(.0))]
    UnsupportedCharacters(Vec<char>),
    /// The template places no signature field for a signer.
    #[error("the template has no signature field for {}", .0.join(", "))]
    MissingSignatureFields(Vec<String>),
    /// The PDF could not be written in the requested standard.
    #[error("the PDF could not be written: {0}")]
    Export(String),
    /// The template did not finish in time (a loop without end, a huge document).
    #[error(
        "{template}: the document was not finished within {secs} s; does the template loop without end?"
    )]
    TimedOut { template: String, secs: u64 },
    /// The template needed more memory than a rendering may use.
    #[error("{template}: making the document needed more than {mb} MB of memory")]
    OutOfMemory { template: String, mb: u64 },
    /// The renderer itself could not run (its process could not start, or it failed).
    #[error("the renderer could not run: {0}")]
    Unavailable(String),
}

fn first_message(d: &[Diagnostic]) -> String {
    d.first().map(|d| d.to_string()).unwrap_or_default()
}

fn show_chars(c: &[char]) -> String {
    c.iter()
        .map(|c| format!("“{c}” (U+{:04X})", *c as u32))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders documents. Implemented by `renderers/pdf`; CPU-bound, so callers on an async
/// runtime run it on a blocking thread.
pub trait DocumentRenderer: Send + Sync {
    fn render(
        &self,
        req: &RenderRequest,
        opts: RenderOptions,
    ) -> Result<RenderedDocument, RenderError>;
}

/// One signature to add to a document (see [`DocumentSigner`]).
#[derive(Debug, Clone)]
pub struct SignatureOrder<'a> {
    /// The form field of the signature (the flow's signature field, e.g. `case_worker`).
    pub field: &'a str,
    /// Where the visible signature goes; `None`: an invisible signature.
    pub placement: Option<crate::case::Placement>,
    /// Who signs, as the eID vouched for them.
    pub identity: &'a crate::eid::VerifiedIdentity,
    /// The signer's role as shown in the appearance, e.g. "Handläggare".
    pub role: &'a str,
    /// How the signer proved who they are, e.g. "BankID".
    pub method: &'a str,
    /// The signing time.
    pub time: chrono::DateTime<chrono::Utc>,
    /// A line shown in the appearance after the time (the flow's completion note).
    pub note: Option<&'a str>,
    /// The last signature: the document is then sealed for the long term.
    pub seal: bool,
}

/// Why a document could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SignFailure(pub String);

/// Signs documents: each signature in its own incremental update. Implemented over
/// `engine/pades`; CPU-bound (and it may ask a timestamp authority), so callers on an async
/// runtime run it on a blocking thread.
pub trait DocumentSigner: Send + Sync {
    fn sign(&self, pdf: &[u8], order: &SignatureOrder<'_>) -> Result<Vec<u8>, SignFailure>;
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> crate::ids::Sha256Hex {
    hex::encode(Sha256::digest(bytes)).into()
}

/// Who the document is from, and how the case reads to the template.
#[derive(Debug, Clone)]
pub struct DocumentContext<'a> {
    pub flow: &'a Flow,
    pub case: &'a Case,
    /// The answers after validation, with computed values (`Report::answers`).
    pub answers: &'a Value,
    pub signers: &'a [Signature],
    pub env: &'a Env,
    /// The organisation named as author (the municipality, from configuration).
    pub author: &'a str,
}

/// The JSON a template receives: answers (with computed values), case, flow, dates, the
/// signers and the labels of every chosen option.
pub fn document_data(cx: &DocumentContext<'_>, title: &str) -> Value {
    let mut choices = Map::new();
    for step in &cx.flow.steps {
        collect_choices(&step.fields, &step.id, &mut choices);
    }
    let signers: Vec<Value> = cx
        .signers
        .iter()
        .map(|s| {
            json!({
                "field": s.field,
                "role": s.who.name(),
                "label": {"sv": s.label.sv, "en": s.label.en},
                "name": s.person.name,
            })
        })
        .collect();
    json!({
        "flow": {
            "id": cx.flow.id,
            "revision": cx.flow.def.revision,
            "title": {"sv": cx.flow.title.sv, "en": cx.flow.title.en},
            "hash": cx.flow.content_hash,
        },
        "case": {
            "id": cx.case.id,
            "number": cx.case.number,
            "created_at": cx.case.created_at.local().format("%Y-%m-%dT%H:%M").to_string(),
        },
        "document": document_entry(cx, title),
        "author": cx.author,
        "today": cx.env.today,
        "now": cx.env.now,
        "answers": cx.answers,
        "choices": choices,
        "signers": signers,
    })
}

/// `document` in the template data: its `title` and, for a document uploaded `from` a file
/// field, `original` (`name`, `size`, `sha256` of the upload; `pages` is added by whoever
/// has read the PDF, 0 until then).
fn document_entry(cx: &DocumentContext<'_>, title: &str) -> Value {
    let mut entry = json!({"title": title});
    if let Some(from) = cx.flow.document.as_ref().and_then(|d| d.from.as_ref()) {
        let pointer = format!("/{}", from.replace('.', "/"));
        let file = cx.answers.pointer(&pointer).cloned().unwrap_or(Value::Null);
        let text = |k: &str| file.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        entry["original"] = json!({
            "name": text("name"),
            "sha256": text("sha256"),
            "size": file.get("size").and_then(Value::as_u64).unwrap_or(0),
            "pages": 0,
        });
    }
    entry
}

/// `choices["placement.placement_kind"]["jourhem"] = {"sv": "Jourhem", "en": "…"}`.
fn collect_choices(fields: &[Field], prefix: &str, out: &mut Map<String, Value>) {
    for f in fields {
        let path = format!("{prefix}.{}", f.local_path().join("."));
        if !f.options.is_empty() {
            let m: Map<String, Value> = f
                .options
                .iter()
                .map(|o| (o.value.clone(), json!({"sv": o.label.sv, "en": o.label.en})))
                .collect();
            out.insert(path.clone(), Value::Object(m));
        }
        if f.kind == FieldType::Group {
            collect_choices(&f.children, &path, out);
        }
    }
}

/// Why a render request could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the flow has no `document`")]
    NoDocument,
    #[error("the template `{0}` is not among the flow's files")]
    NoTemplate(String),
    #[error("`document.{field}` could not be rendered: {message}")]
    Text {
        field: &'static str,
        message: String,
    },
}

/// Builds the render request for a case: document metadata from the flow, data from
/// [`document_data`].
pub fn render_request(
    cx: &DocumentContext<'_>,
    now: Timestamp,
) -> Result<RenderRequest, RequestError> {
    let doc = cx.flow.document.as_ref().ok_or(RequestError::NoDocument)?;
    let template = doc.template.trim_start_matches("./").to_owned();
    let template_bytes = cx
        .flow
        .files
        .get(&template)
        .ok_or_else(|| RequestError::NoTemplate(template.clone()))?;
    let mut ctx = crate::rules::top_context(cx.flow, cx.answers, cx.env);
    let text = |field: &'static str, src: &str, ctx: &Map<String, Value>| {
        render_template(src, &Value::Object(ctx.clone()))
            .map(|s| s.trim().to_owned())
            .map_err(|e| RequestError::Text {
                field,
                message: e.to_string(),
            })
    };
    let title = text("title", &doc.title, &ctx)?;
    ctx.insert("document".into(), json!({"title": title}));
    let filename = match &doc.filename {
        Some(f) => safe_filename(&text("filename", f, &ctx)?),
        None => safe_filename(&format!("{}-{}.pdf", cx.flow.id, cx.case.number)),
    };
    Ok(RenderRequest {
        files: cx.flow.files.clone(),
        template,
        dir: cx.flow.dir.clone(),
        data: document_data(cx, &title),
        meta: DocumentMeta {
            title,
            author: cx.author.to_owned(),
            language: doc.language,
            standard: doc.standard,
            flow_id: cx.flow.id.clone(),
            flow_revision: cx.flow.def.revision,
            flow_hash: cx.flow.content_hash.clone(),
            template_sha256: sha256_hex(template_bytes).into(),
            filename,
        },
        now,
    })
}

/// The flow's sign message (`signing.message`, or the default) for signer `index` of a case
/// whose document is `sha256` with `title`: a text template over the answers, `case`,
/// `document` (`title`, `sha256`, `filename`) and `signer` (`label`, `name`).
pub fn sign_message(
    flow: &Flow,
    case: &Case,
    env: &Env,
    index: usize,
    title: &str,
    sha256: &str,
) -> String {
    let answers = validate_all(flow, &case.answers, env).answers;
    let mut ctx = crate::rules::top_context(flow, &answers, env);
    let filename = download_name(flow, case, env);
    ctx.insert(
        "document".into(),
        json!({"title": title, "sha256": sha256, "filename": filename}),
    );
    if let Some(sig) = case.signatures.get(index) {
        ctx.insert(
            "signer".into(),
            json!({"label": sig.label.sv, "name": sig.person.name}),
        );
    }
    render_template(&flow.sign_message, &Value::Object(ctx))
        .map(|m| m.trim().to_owned())
        .unwrap_or_default()
}

/// The name a case's document downloads as: the flow's `document.filename` rendered with the
/// case's answers (as when the document was made), or `<flow>-<number>.pdf`.
pub fn download_name(flow: &Flow, case: &Case, env: &Env) -> String {
    let fallback = || safe_filename(&format!("{}-{}.pdf", flow.id, case.number));
    let Some(doc) = flow.document.as_ref() else {
        return fallback();
    };
    let Some(pattern) = &doc.filename else {
        return fallback();
    };
    let answers = validate_all(flow, &case.answers, env).answers;
    let mut ctx = crate::rules::top_context(flow, &answers, env);
    let title = render_template(&doc.title, &Value::Object(ctx.clone()))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    ctx.insert("document".into(), json!({"title": title}));
    match render_template(pattern, &Value::Object(ctx)) {
        Ok(name) if !name.trim().is_empty() => safe_filename(name.trim()),
        _ => fallback(),
    }
}

/// A file name safe on every system: letters (Swedish ones too), digits, `-`, `_`, `.`;
/// always ending in `.pdf`.
pub fn safe_filename(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    s = s.trim_matches(|c| c == '-' || c == '.').to_owned();
    if s.is_empty() {
        s = "document".into();
    }
    if !s.to_lowercase().ends_with(".pdf") {
        s.push_str(".pdf");
    }
    s
}

/// A render request outside any case: for `blankett check` (the flow's sample answers and
/// the sample clock) and `blankett render`. The case worker and applicant are sample people;
/// answers that do not validate are refused with every error listed.
pub fn preview_request(
    flow: &Flow,
    answers: &Value,
    now: Timestamp,
) -> Result<RenderRequest, PreviewError> {
    let case_json = json!({
        "id": "00000000-0000-0000-0000-000000000000",
        "number": "2026-0001",
        "created_at": now.local().format("%Y-%m-%dT%H:%M").to_string(),
    });
    let env = Env {
        case: case_json,
        today: now.local().format("%Y-%m-%d").to_string(),
        now: now.local().format("%Y-%m-%dT%H:%M").to_string(),
        identity: None,
        flow: Value::Null,
    };
    let report = validate_all(flow, answers, &env);
    if !report.errors.is_empty() {
        return Err(PreviewError::Answers(
            report
                .errors
                .iter()
                .map(|e| format!("`{}`: {}", e.path, e.message.en))
                .collect(),
        ));
    }
    let (applicant, case_worker) = sample_people().map_err(PreviewError::Other)?;
    let case = sample_in_review(flow, applicant, case_worker, report.answers.clone(), now);
    let signers =
        resolve_signers(flow, &case, &env).map_err(|e| PreviewError::Other(e.to_string()))?;
    let cx = DocumentContext {
        flow,
        case: &case,
        answers: &report.answers,
        signers: &signers,
        env: &env,
        author: "Exempelstads kommun",
    };
    render_request(&cx, now).map_err(|e| PreviewError::Other(e.to_string()))
}

/// Why [`preview_request`] could not build a request.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("the answers do not validate:\n  {}", .0.join("\n  "))]
    Answers(Vec<String>),
    #[error("{0}")]
    Other(String),
}

/// The flow's own `sample-answers.json`, parsed.
pub fn sample_answers(flow: &Flow) -> Option<Value> {
    let bytes = flow.files.get("sample-answers.json")?;
    serde_json::from_slice(bytes).ok()
}

/// A sample applicant and case worker (Skatteverket's public test numbers).
fn sample_people() -> Result<(Person, Person), String> {
    let p = |pnr: &str, name: &str| -> Result<Person, String> {
        Ok(Person {
            personnummer: Personnummer::parse(pnr).map_err(|e| e.to_string())?,
            name: name.into(),
        })
    };
    Ok((
        p("197701172392", "Test Testsson")?,
        p("198112289874", "Handläggare Exempel")?,
    ))
}

/// The clock of [`crate::rules::Env::sample`]: 15 January 2026, 09:00 Swedish time (CET).
pub fn sample_now() -> Timestamp {
    Timestamp::from_local(
        chrono::NaiveDate::from_ymd_opt(2026, 1, 15)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .unwrap_or_default(),
    )
}
