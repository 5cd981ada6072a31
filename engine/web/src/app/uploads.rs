//! Step forms with files: `multipart/form-data` read as it arrives (no script needed), each
//! file only up to its field's `max_size` (the rest is counted and dropped, so the field gets
//! its own error and the other answers are saved), the CSRF token checked before the first
//! file byte is kept, and the whole read bounded by `limits.upload_bytes` and in time: no
//! pause longer than `server.body_read_timeout_secs`, and the whole form at no less than
//! [`MIN_BYTES_PER_SEC`] on average (a 20 MB file on a slow line is not cut off after 30 s).

use std::collections::HashMap;

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, header};
use blankett_app::files::Upload;
use blankett_core::case::Case;
use blankett_core::def::FieldType;
use blankett_core::model::{Flow, Step};
use blankett_core::rules::FieldError;
use serde_json::{Value, json};

use super::forms::Form;
use super::{AppError, AppState, Ctx};

/// Most parts one form may have (its fields, group items, buttons).
const MAX_PARTS: usize = 20_000;

/// The slowest average rate a step form with files may arrive at (64 KiB/s, about half a
/// megabit): the whole read may take `limits.upload_bytes` at this rate.
pub const MIN_BYTES_PER_SEC: u64 = 64 * 1024;

/// Whether a request body is `multipart/form-data`.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// The file fields of a step: form name → largest size.
pub fn file_limits(step: &Step) -> HashMap<String, u64> {
    step.fields
        .iter()
        .filter(|f| f.kind == FieldType::File)
        .map(|f| (f.local_path().join("."), f.max_size.unwrap_or(0)))
        .collect()
}

/// Reads a multipart step form: the text fields as a [`Form`], the chosen files by form
/// name. A file part is only read after the form's CSRF token (which the page puts first)
/// has been checked; a file input left empty sends nothing and is skipped.
pub async fn read(
    app: &AppState,
    ctx: &Ctx,
    req: Request,
    limits: &HashMap<String, u64>,
) -> Result<(Form, Vec<(String, Upload)>), AppError> {
    let idle = std::time::Duration::from_secs(app.config.server.body_read_timeout_secs);
    let whole = idle.max(std::time::Duration::from_secs(
        app.config.limits.upload_bytes as u64 / MIN_BYTES_PER_SEC,
    ));
    match tokio::time::timeout(whole, read_parts(app, ctx, req, limits, idle)).await {
        Ok(r) => r,
        Err(_) => Err(AppError::Timeout),
    }
}

/// One step of the read, within the idle bound.
async fn within<T>(
    idle: std::time::Duration,
    step: impl std::future::Future<Output = Result<T, axum::extract::multipart::MultipartError>>,
) -> Result<T, AppError> {
    match tokio::time::timeout(idle, step).await {
        Ok(r) => r.map_err(multipart_err),
        Err(_) => Err(AppError::Timeout),
    }
}

async fn read_parts(
    app: &AppState,
    ctx: &Ctx,
    req: Request,
    limits: &HashMap<String, u64>,
    idle: std::time::Duration,
) -> Result<(Form, Vec<(String, Upload)>), AppError> {
    let text_limit = app.config.limits.body_bytes;
    let mut mp = Multipart::from_request(req, app)
        .await
        .map_err(|_| AppError::BadRequest("the form is unreadable"))?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut text_bytes = 0usize;
    let mut files: Vec<(String, Upload)> = Vec::new();
    let mut csrf_checked = false;
    let mut parts = 0usize;
    while let Some(mut field) = within(idle, mp.next_field()).await? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(AppError::BadRequest("the form has too many fields"));
        }
        let name = field.name().unwrap_or("").to_owned();
        match field.file_name().map(str::to_owned) {
            Some(file_name) => {
                if !csrf_checked {
                    Form::from_pairs(pairs.clone()).check_csrf(ctx)?;
                    csrf_checked = true;
                }
                // Only this step's file fields are kept, each up to its own limit.
                let keep = limits.get(&name).copied().unwrap_or(0);
                let mut bytes = Vec::new();
                let mut size = 0u64;
                while let Some(chunk) = within(idle, field.chunk()).await? {
                    size += chunk.len() as u64;
                    if size <= keep {
                        bytes.extend_from_slice(&chunk);
                    }
                }
                if size > keep {
                    // Keep nothing of a file that is too large; its size is the error.
                    bytes = Vec::new();
                }
                if !limits.contains_key(&name) || (file_name.is_empty() && size == 0) {
                    continue;
                }
                files.push((
                    name,
                    Upload {
                        name: file_name,
                        bytes,
                        size,
                    },
                ));
            }
            None => {
                let mut value = Vec::new();
                while let Some(chunk) = within(idle, field.chunk()).await? {
                    text_bytes += chunk.len();
                    if text_bytes > text_limit {
                        return Err(AppError::TooLarge);
                    }
                    value.extend_from_slice(&chunk);
                }
                let value = String::from_utf8(value)
                    .map_err(|_| AppError::BadRequest("the form is not UTF-8"))?;
                // Browsers send line breaks in text as CRLF in multipart, LF in URL encoding.
                pairs.push((name, value.replace("\r\n", "\n")));
            }
        }
    }
    Ok((Form::from_pairs(pairs), files))
}

fn multipart_err(e: axum::extract::multipart::MultipartError) -> AppError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge
    } else {
        AppError::BadRequest("the form is unreadable")
    }
}

/// What the step's file fields hold after this save, and what went wrong.
pub struct Applied {
    /// Files stored by this save (to delete again if the save does not land).
    pub stored: Vec<String>,
    /// A field error per refused file.
    pub errors: Vec<FieldError>,
}

/// Puts the step's file answers into `answers`: a new upload (checked and stored), a removal
/// (`<name>._remove`), or else the answer the case already has. A refused upload keeps the
/// answer the case had and gives the field's error.
pub async fn apply(
    app: &AppState,
    case: &Case,
    flow: &Flow,
    step: &Step,
    form: &Form,
    uploads: Vec<(String, Upload)>,
    answers: &mut Value,
) -> Result<Applied, AppError> {
    let mut uploads: HashMap<String, Upload> = uploads.into_iter().collect();
    let mut out = Applied {
        stored: Vec::new(),
        errors: Vec::new(),
    };
    for f in step.fields.iter().filter(|f| f.kind == FieldType::File) {
        let local = f.local_path();
        let name = local.join(".");
        let path = format!("{}.{name}", step.id);
        let before = answer_at(case, step, &local)
            .filter(|v| v.is_object())
            .cloned();
        let value = if let Some(upload) = uploads.remove(&name) {
            match app.accept_upload(case, flow, f, &path, upload).await? {
                Ok(meta) => {
                    out.stored.push(meta.id.clone());
                    Some(meta.answer())
                }
                Err(e) => {
                    out.errors.push(e);
                    before
                }
            }
        } else if form.get(&format!("{name}._remove")) == Some("1") {
            None
        } else {
            before
        };
        put(answers, &local, value.unwrap_or(Value::Null));
    }
    Ok(out)
}

/// The step's file answers as the case has them (after a save that did not land).
pub fn restore(case: &Case, step: &Step, answers: &mut Value) {
    for f in step.fields.iter().filter(|f| f.kind == FieldType::File) {
        let local = f.local_path();
        let before = answer_at(case, step, &local)
            .cloned()
            .unwrap_or(Value::Null);
        put(answers, &local, before);
    }
}

/// The case's answer at `local` (a path inside `step`'s answers).
fn answer_at<'c>(case: &'c Case, step: &Step, local: &[String]) -> Option<&'c Value> {
    local
        .iter()
        .try_fold(case.answers.get(&step.id), |v, k| v.map(|v| v.get(k)))
        .flatten()
}

fn put(answers: &mut Value, path: &[String], value: Value) {
    if !answers.is_object() {
        *answers = json!({});
    }
    let mut cur = answers;
    for (i, seg) in path.iter().enumerate() {
        let Value::Object(m) = cur else { return };
        if i + 1 == path.len() {
            m.insert(seg.clone(), value);
            return;
        }
        cur = m.entry(seg.clone()).or_insert_with(|| json!({}));
        if !cur.is_object() {
            *cur = json!({});
        }
    }
}
