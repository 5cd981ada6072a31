//! Approval: the case worker's (or the API's) decision that locks the answers. Every step is
//! checked, the signers resolved, the document rendered (off the async runtime, by the
//! renderer port) and `Approve` decided with the SHA-256 of the bytes; the signature fields
//! the document has are placed on the signatures. Shared by the case page and the REST API.

use std::sync::Arc;

use blankett_core::Flow;
use blankett_core::case::{self, Actor, Case, Command};
use blankett_core::document::{DocumentContext, DocumentRenderer, RenderOptions, render_request};
use blankett_core::rules::{FieldError, validate_all};
use blankett_core::store::{CaseWrite, DocumentKind, NewDocument};

use crate::clock::Clock;
use crate::commands::{self, CommandError};
use crate::service::Service;

/// An approval ready to write: the outcome (signers placed on the document) and the write
/// that stores it with the locked document.
pub struct Locked {
    pub out: case::Outcome,
    pub write: CaseWrite,
}

/// Why [`lock`] did not approve; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    /// The answers, the signers or the characters are not acceptable (shown to the person).
    #[error("the case cannot be approved as it is")]
    Invalid(Vec<FieldError>),
    /// The renderer cannot take work now; try again later.
    #[error("the document renderer is unavailable: {0}")]
    Unavailable(String),
    /// The case machine refused the approval (not in review, not the assignee, stale).
    #[error(transparent)]
    Refused(CommandError),
    /// A fault the person cannot mend.
    #[error("{0}")]
    Failed(String),
}

/// Approves `case` as `actor` (its assigned case worker) at revision `expected`: checks every
/// step, resolves the signers, renders the document with Typst, and applies `Approve` with the
/// SHA-256 of the bytes. Writes nothing; the caller writes [`Locked::write`]. Shared by the
/// case worker's approve and the REST API's hand-over to signing.
/// `original` is the uploaded PDF of a flow whose document comes `from` a file field
/// ([`Service::document_original`]); it is checked again here, and the rendered template is
/// added after its pages as the signature page.
#[allow(clippy::too_many_arguments)]
pub async fn lock(
    renderer: Arc<dyn DocumentRenderer>,
    clock: &dyn Clock,
    author: &str,
    case: &Case,
    flow: &Flow,
    actor: &Actor,
    expected: u64,
    original: Option<Vec<u8>>,
) -> Result<Locked, ApproveError> {
    let now = clock.now();
    let env = case::env_for(case, flow, now, Some(&actor.person));
    let report = validate_all(flow, &case.answers, &env);
    if !report.errors.is_empty() {
        return Err(ApproveError::Invalid(report.errors));
    }
    let upload = match flow
        .document
        .as_ref()
        .and_then(|d| d.from.as_ref().map(|f| (d, f)))
    {
        Some((d, path)) => {
            let Some(bytes) = original else {
                return Err(ApproveError::Invalid(vec![crate::files::pdf_refused(
                    path,
                    "file_missing",
                    (
                        "Dokumentet saknas: ladda upp PDF-filen igen.".into(),
                        "The document is missing: upload the PDF again.".into(),
                    ),
                )]));
            };
            let (bytes, facts) = tokio::task::spawn_blocking(move || {
                let facts = blankett_pades::upload::inspect(&bytes);
                (bytes, facts)
            })
            .await
            .map_err(|e| ApproveError::Failed(e.to_string()))?;
            let facts = match facts {
                Ok(f) if d.require_pdfa && f.pdfa.is_none() => {
                    Err(blankett_pades::upload::Refusal::NotPdfa)
                }
                other => other,
            }
            .map_err(|r| ApproveError::Invalid(vec![crate::files::pdf_refusal(path, &r)]))?;
            Some((bytes, facts))
        }
        None => None,
    };
    let mut preview = case.clone();
    preview.answers = report.answers.clone();
    let signers = match case::resolve_signers(flow, &preview, &env) {
        Ok(s) => s,
        Err(e) => {
            return Err(ApproveError::Invalid(vec![FieldError {
                path: "signers".into(),
                code: "signers",
                message: blankett_core::Text::new(
                    format!("Undertecknarna kan inte bestämmas: {e}"),
                    format!("The signers cannot be determined: {e}"),
                ),
            }]));
        }
    };
    let mut request = render_request(
        &DocumentContext {
            flow,
            case: &preview,
            answers: &report.answers,
            signers: &signers,
            env: &env,
            author,
        },
        now,
    )
    .map_err(|e| ApproveError::Failed(e.to_string()))?;
    if let Some((_, facts)) = &upload {
        request.data["document"]["original"]["pages"] = serde_json::json!(facts.pages);
    }
    let rendered =
        tokio::task::spawn_blocking(move || renderer.render(&request, RenderOptions::default()))
            .await
            .map_err(|e| ApproveError::Failed(e.to_string()))?;
    let rendered = match rendered {
        Ok(r) => r,
        Err(blankett_core::document::RenderError::UnsupportedCharacters(chars)) => {
            let list: String = chars.iter().map(|c| format!("“{c}” ")).collect();
            return Err(ApproveError::Invalid(vec![FieldError {
                path: "document".into(),
                code: "characters",
                message: blankett_core::Text::new(
                    format!(
                        "Svaren innehåller tecken som dokumentet inte kan visa: {list}. Ändra dem och försök igen."
                    ),
                    format!(
                        "The answers contain characters the document cannot show: {list}. Change them and try again."
                    ),
                ),
            }]));
        }
        Err(
            e @ (blankett_core::document::RenderError::TimedOut { .. }
            | blankett_core::document::RenderError::OutOfMemory { .. }),
        ) => {
            // The template, not the person, is at fault: the case stays as it was, and the
            // case worker learns which template to report.
            tracing::error!(error = %e, "a document was stopped at its rendering bound");
            return Err(ApproveError::Invalid(vec![FieldError {
                path: "document".into(),
                code: "render_bound",
                message: blankett_core::Text::new(
                    format!(
                        "Dokumentet kunde inte skapas ({e}). Ärendet är oförändrat; kontakta den som förvaltar e-tjänsten."
                    ),
                    format!(
                        "The document could not be made ({e}). The case is unchanged; contact whoever maintains the e-service."
                    ),
                ),
            }]));
        }
        Err(blankett_core::document::RenderError::Unavailable(m)) => {
            return Err(ApproveError::Unavailable(m));
        }
        Err(e) => return Err(ApproveError::Failed(e.to_string())),
    };
    // A document made elsewhere: its pages as uploaded, then the rendered signature page.
    let (pdf, sha256, page_offset) = match upload {
        Some((original, facts)) => {
            let page = rendered.pdf;
            let merged = tokio::task::spawn_blocking(move || {
                blankett_pades::upload::append_pages(&original, &page)
            })
            .await
            .map_err(|e| ApproveError::Failed(e.to_string()))?
            .map_err(|e| ApproveError::Failed(e.to_string()))?;
            let sha = blankett_core::document::sha256_hex(&merged);
            (merged, sha, facts.pages)
        }
        None => (rendered.pdf, rendered.sha256.clone(), 0),
    };
    let command = Command::Approve {
        document_sha256: sha256.clone(),
    };
    let mut out = match commands::decide(flow, case, actor, expected, command, now) {
        Ok(o) => o,
        Err(CommandError::Refused(case::CaseError::Invalid(errors))) => {
            return Err(ApproveError::Invalid(errors));
        }
        Err(e) => return Err(ApproveError::Refused(e)),
    };
    for sig in &mut out.case.signatures {
        sig.placement = rendered
            .signature_fields
            .iter()
            .find(|f| f.name == sig.field)
            .map(|f| case::Placement {
                page: f.page + page_offset,
                rect: f.rect,
            });
    }
    let write = CaseWrite {
        case: out.case.clone(),
        expected_revision: expected,
        events: out.events.clone(),
        document: Some(NewDocument {
            kind: DocumentKind::Locked,
            sha256,
            bytes: pdf,
        }),
        evidence: None,
    };
    Ok(Locked { out, write })
}

/// [`lock`] with the service's renderer and clock, then the write: the approved case with its
/// locked document, at `expected`.
pub async fn approve(
    svc: &Service,
    author: &str,
    case: &Case,
    flow: &Flow,
    actor: &Actor,
    expected: u64,
) -> Result<case::Outcome, ApproveError> {
    let original = svc
        .document_original(case, flow)
        .await
        .map_err(|e| ApproveError::Failed(e.to_string()))?;
    let locked = lock(
        svc.renderer.clone(),
        svc.clock.as_ref(),
        author,
        case,
        flow,
        actor,
        expected,
        original,
    )
    .await?;
    svc.write(&locked.write)
        .await
        .map_err(ApproveError::Refused)?;
    Ok(locked.out)
}
