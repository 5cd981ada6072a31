//! Uploaded files: an upload checked against its field (size, and type by content, never by
//! name), kept behind the file store port, found again only through the case whose answers
//! name it, and forgotten when an answer no longer does.

use std::collections::BTreeSet;

use blankett_core::Field;
use blankett_core::Flow;
use blankett_core::case::Case;
use blankett_core::def::FieldType;
use blankett_core::files;
use blankett_core::model::Text;
use blankett_core::rules::FieldError;
use blankett_core::store::FileMeta;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::service::{Service, ServiceError};

/// A file as it arrived: the name the browser (or the system) gave, its bytes, and how much
/// arrived in all (`size`). A file larger than its field allows is not kept: its `bytes` are
/// empty and `size` says how large it was.
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
    pub size: u64,
}

/// The file fields of a flow: the answer path (`step.field`) and the field. File fields are
/// never inside repeating groups (the loader refuses that), so the path names one answer.
pub fn file_fields(flow: &Flow) -> Vec<(String, &Field)> {
    let mut out = Vec::new();
    for step in &flow.steps {
        for f in &step.fields {
            if f.kind == FieldType::File {
                out.push((format!("{}.{}", step.id, f.local_path().join(".")), f));
            }
        }
    }
    out
}

/// The file answers a case's answers hold: answer path → file id.
pub fn answered_files(flow: &Flow, answers: &Value) -> Vec<(String, String)> {
    file_fields(flow)
        .into_iter()
        .filter_map(|(path, _)| {
            let pointer = format!("/{}", path.replace('.', "/"));
            let id = answers.pointer(&pointer)?.get("id")?.as_str()?.to_owned();
            Some((path, id))
        })
        .collect()
}

fn label(f: &Field) -> (&str, &str) {
    (&f.label.sv, &f.label.en)
}

/// Why an upload is refused, as the field's error.
fn refused(path: &str, code: &'static str, message: Text) -> FieldError {
    FieldError {
        path: path.to_owned(),
        code,
        message,
    }
}

impl Service {
    /// Checks an upload for the file field at `path` of `case` and, if it passes, stores it.
    /// `Ok(Err(_))` is the field's error (too large, empty, a type the field does not take);
    /// nothing is stored then. Sniffing and hashing run off the async runtime.
    pub async fn accept_upload(
        &self,
        case: &Case,
        flow: &Flow,
        field: &Field,
        path: &str,
        upload: Upload,
    ) -> Result<Result<FileMeta, FieldError>, ServiceError> {
        Ok(
            match self
                .judge_upload(case.id.as_str(), flow, field, path, upload)
                .await?
            {
                Ok((meta, bytes)) => {
                    self.file_store().put_file(&meta, &bytes).await?;
                    Ok(meta)
                }
                Err(e) => Err(e),
            },
        )
    }

    /// Stores a file [`Service::judge_upload`] passed, once its case exists.
    pub async fn store_file(&self, meta: &FileMeta, bytes: &[u8]) -> Result<(), ServiceError> {
        Ok(self.file_store().put_file(meta, bytes).await?)
    }

    /// [`Service::accept_upload`] without storing: the file's description for case
    /// `case_id` (which need not exist yet) and its bytes, or the field's error.
    pub async fn judge_upload(
        &self,
        case_id: &str,
        flow: &Flow,
        field: &Field,
        path: &str,
        upload: Upload,
    ) -> Result<Result<(FileMeta, Vec<u8>), FieldError>, ServiceError> {
        let (sv, en) = label(field);
        if !files::plain_name(&upload.name) {
            // Browsers send the name alone; a path or control characters are someone's
            // experiment, and the person is asked to rename rather than have it guessed.
            return Ok(Err(refused(
                path,
                "file_name",
                Text::new(
                    format!(
                        "Filnamnet i ”{sv}” får inte innehålla / eller \\, styrtecken eller vara längre än {} tecken. Byt namn på filen och välj den igen.",
                        files::MAX_NAME_CHARS * 2
                    ),
                    format!(
                        "The file name in ‘{en}’ may not contain / or \\ or control characters, or be longer than {} characters. Rename the file and choose it again.",
                        files::MAX_NAME_CHARS * 2
                    ),
                ),
            )));
        }
        let max = field.max_size.unwrap_or(u64::MAX);
        if upload.size > max {
            let limit_sv = files::display_size(max, false);
            let limit_en = files::display_size(max, true);
            return Ok(Err(refused(
                path,
                "file_size",
                Text::new(
                    format!("Filen i ”{sv}” är för stor (högst {limit_sv}). Välj en mindre fil."),
                    format!(
                        "The file in ‘{en}’ is too large (at most {limit_en}). Choose a smaller file."
                    ),
                ),
            )));
        }
        if upload.bytes.is_empty() {
            return Ok(Err(refused(
                path,
                "file_empty",
                Text::new(
                    format!("Filen i ”{sv}” är tom. Välj en annan fil."),
                    format!("The file in ‘{en}’ is empty. Choose another file."),
                ),
            )));
        }
        let Upload { name, bytes, .. } = upload;
        let (content_type, sha256, mut bytes) = tokio::task::spawn_blocking(move || {
            let t = files::sniff(&bytes);
            let h = hex::encode(Sha256::digest(&bytes));
            (t, h, bytes)
        })
        .await
        .map_err(|_| ServiceError::Internal("checking an upload failed"))?;
        if !files::accepts(&field.accept, content_type) {
            let allowed = field.accept.join(", ");
            return Ok(Err(refused(
                path,
                "file_type",
                Text::new(
                    format!(
                        "Filen i ”{sv}” är inte av en typ som tas emot. Tillåtet: {allowed}. Innehållet avgör, inte filnamnet."
                    ),
                    format!(
                        "The file in ‘{en}’ is not of a type that is accepted. Allowed: {allowed}. The content decides, not the file name."
                    ),
                ),
            )));
        }
        if let Some(d) = flow
            .document
            .as_ref()
            .filter(|d| d.from.as_deref() == Some(path))
        {
            // The document itself: judged now, so the person hears at once, not at approval.
            let require_pdfa = d.require_pdfa;
            let (facts, kept) = tokio::task::spawn_blocking(move || {
                (blankett_pades::upload::inspect(&bytes), bytes)
            })
            .await
            .map_err(|_| ServiceError::Internal("checking an upload failed"))?;
            let facts = match facts {
                Ok(f) if require_pdfa && f.pdfa.is_none() => {
                    Err(blankett_pades::upload::Refusal::NotPdfa)
                }
                other => other,
            };
            if let Err(r) = facts {
                return Ok(Err(pdf_refusal(path, &r)));
            }
            bytes = kept;
        }
        let meta = FileMeta {
            id: uuid::Uuid::new_v4().simple().to_string(),
            case_id: case_id.to_owned(),
            field: path.to_owned(),
            name: files::safe_name(&name),
            content_type: content_type.to_owned(),
            size: bytes.len() as u64,
            sha256: sha256.into(),
            created_at: self.clock.now(),
        };
        Ok(Ok((meta, bytes)))
    }

    /// A file of `case`, if its answers name it now: a file that was replaced or removed,
    /// or that another case holds, is [`ServiceError::NotFound`]. Access to the case is the
    /// caller's to check first.
    pub async fn case_file(
        &self,
        case: &Case,
        flow: &Flow,
        id: &str,
    ) -> Result<(FileMeta, Vec<u8>), ServiceError> {
        if !answered_files(flow, &case.answers)
            .iter()
            .any(|(_, f)| f == id)
        {
            return Err(ServiceError::NotFound);
        }
        self.file_store()
            .file(case.id.as_str(), id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// The files the case's answers name, in the order of the flow's fields.
    pub async fn answered_file_metas(
        &self,
        case: &Case,
        flow: &Flow,
    ) -> Result<Vec<(String, FileMeta)>, ServiceError> {
        let stored = self.file_store().files_of_case(case.id.as_str()).await?;
        Ok(answered_files(flow, &case.answers)
            .into_iter()
            .filter_map(|(path, id)| {
                stored
                    .iter()
                    .find(|m| m.id == id)
                    .map(|m| (path, m.clone()))
            })
            .collect())
    }

    /// Deletes the files `before`'s answers named and `after`'s (the same case, saved) no
    /// longer name: a replaced or removed file, or one a hidden question no longer keeps.
    /// Files stored by another save still in flight are not touched. Returns how many went.
    pub async fn forget_replaced_files(
        &self,
        before: &Case,
        after: &Case,
        flow: &Flow,
    ) -> Result<u64, ServiceError> {
        let named: BTreeSet<String> = answered_files(flow, &after.answers)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let gone: Vec<String> = answered_files(flow, &before.answers)
            .into_iter()
            .map(|(_, id)| id)
            .filter(|id| !named.contains(id))
            .collect();
        Ok(self
            .file_store()
            .delete_files(after.id.as_str(), &gone)
            .await?)
    }

    /// The uploaded PDF of a flow whose document comes `from` a file field, as the case's
    /// answers name it; `None` for a flow whose document is rendered, or when the answer
    /// names no stored file.
    pub async fn document_original(
        &self,
        case: &Case,
        flow: &Flow,
    ) -> Result<Option<Vec<u8>>, ServiceError> {
        let Some(from) = flow.document.as_ref().and_then(|d| d.from.as_ref()) else {
            return Ok(None);
        };
        let Some((_, id)) = answered_files(flow, &case.answers)
            .into_iter()
            .find(|(path, _)| path == from)
        else {
            return Ok(None);
        };
        Ok(self
            .file_store()
            .file(case.id.as_str(), &id)
            .await?
            .map(|(_, bytes)| bytes))
    }

    /// Deletes files of a case by id (uploads whose save did not land).
    pub async fn forget_files(&self, case: &Case, ids: &[String]) -> Result<u64, ServiceError> {
        Ok(self
            .file_store()
            .delete_files(case.id.as_str(), ids)
            .await?)
    }
}

/// A field error on `path` for an uploaded PDF that cannot be the document.
pub fn pdf_refusal(path: &str, r: &blankett_pades::upload::Refusal) -> FieldError {
    pdf_refused(path, r.code(), r.message())
}

/// A field error on `path` with `code` and a message in Swedish and English.
pub fn pdf_refused(path: &str, code: &'static str, (sv, en): (String, String)) -> FieldError {
    refused(path, code, Text::new(sv, en))
}

/// Refuses file answers a caller wrote itself (the API, a forged form): every file answer in
/// `answers` must be one the store holds for this case, with the same description. Returns
/// the errors, one per answer that is not.
pub fn foreign_file_answers(flow: &Flow, answers: &Value, stored: &[FileMeta]) -> Vec<FieldError> {
    file_fields(flow)
        .into_iter()
        .filter_map(|(path, f)| {
            let pointer = format!("/{}", path.replace('.', "/"));
            let given = answers.pointer(&pointer).filter(|v| !v.is_null())?;
            let ok = stored.iter().any(|m| &m.answer() == given);
            (!ok).then(|| {
                let (sv, en) = label(f);
                refused(
                    &path,
                    "file_unknown",
                    Text::new(
                        format!("”{sv}” kan bara besvaras genom att ladda upp en fil."),
                        format!("‘{en}’ can only be answered by uploading a file."),
                    ),
                )
            })
        })
        .collect()
}
