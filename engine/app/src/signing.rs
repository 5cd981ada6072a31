//! A signature, once the signer's eID order completed: the signer must be the one whose turn it
//! is, at the assurance level the flow asks for, on the exact bytes and revision the order was
//! bound to. The PAdES signature is added in a new incremental update (off the async runtime);
//! the last one also seals the document for the long term (B-LTA). The signed version, the
//! eID evidence and the case's new state are written in one transaction.

use blankett_core::Flow;
use blankett_core::case::{Actor, Case, Command, Outcome, Person};
use blankett_core::document::{SignatureOrder, sha256_hex};
use blankett_core::eid::{AssuranceLevel, Completion, DocumentBinding, Evidence};
use blankett_core::store::{DocumentKind, NewDocument, SignatureEvidence};
use blankett_core::time::Timestamp;

use crate::access::my_turn;
use crate::commands::{Attachments, CommandError};
use crate::service::{Service, ServiceError};

/// Why a completed eID order did not become a signature. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The case or its document changed after the order was started (someone else signed,
    /// the case was returned): the signer must look again.
    #[error("the case changed after the signing order was started")]
    Stale,
    /// The person who signed in the eID is not the one whose turn it is.
    #[error("it is not this person's turn to sign")]
    NotTheirTurn,
    /// The eID used does not reach the assurance level the flow requires.
    #[error("the eID's assurance level is too low for this flow")]
    LevelTooLow,
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Command(CommandError),
    /// The PAdES signature could not be made (the TSA did not answer, the key is unusable).
    #[error("signing failed: {0}")]
    Failed(String),
}

/// What the signer's order was bound to when it was started.
pub struct Bound<'a> {
    pub case_id: &'a str,
    pub revision: u64,
    pub sha256: &'a str,
    /// The text the signer was shown and approved in the eID app, if any; it is kept with
    /// the evidence under `user_visible_data`.
    pub visible_text: Option<&'a str>,
}

/// Whether an identity or provider at `level` may be used where `required` is asked for: at
/// that level or higher, or the development test eID, which is only ever enabled outside
/// production.
pub fn level_accepted(level: AssuranceLevel, required: AssuranceLevel, test_eid: bool) -> bool {
    level.satisfies(required) || (level == AssuranceLevel::Test && test_eid)
}

/// The eID assurance level the flow's signers must sign with.
pub fn required_level(flow: &Flow) -> AssuranceLevel {
    flow.def
        .signing
        .as_ref()
        .map(|s| s.assurance)
        .unwrap_or_default()
        .level()
}

/// What signer `index` signs: the exact bytes, the title and case number, and the flow's sign
/// message rendered for them. The signing page shows this text; the eID app gets it.
pub fn binding_for(
    case: &Case,
    flow: &Flow,
    index: usize,
    bytes: &[u8],
    now: Timestamp,
) -> DocumentBinding {
    let title = format!("{} – {}", flow.title.sv, case.number);
    let binding = DocumentBinding::of_bytes(&title, &case.number, bytes);
    let env = blankett_core::case::env_for(case, flow, now, None);
    let message = blankett_core::document::sign_message(
        flow,
        case,
        &env,
        index,
        &title,
        &binding.sha256_hex(),
    );
    binding.with_message(&message)
}

/// Signs the case's document for the person `done` identifies and records it; returns the
/// command's outcome (the case is `Completed` after the last signature).
pub async fn sign(
    svc: &Service,
    bound: &Bound<'_>,
    done: &Completion,
) -> Result<Outcome, SignError> {
    let case = svc.case(bound.case_id).await?;
    let flow = svc.flow_of(&case).await?;
    let doc = svc
        .document(&case.id)
        .await
        .map_err(ServiceError::from)?
        .ok_or(ServiceError::Internal(
            "a case being signed has no document",
        ))?;
    if case.revision != bound.revision || doc.sha256 != bound.sha256 {
        return Err(SignError::Stale);
    }
    let signer = Actor {
        person: Person {
            personnummer: done.identity.personnummer.clone(),
            name: done.identity.full_name.clone(),
        },
        case_worker: svc
            .config
            .case_worker_units(&done.identity.personnummer)
            .is_some(),
    };
    let Some(i) = my_turn(&case, &signer) else {
        return Err(SignError::NotTheirTurn);
    };
    if !level_accepted(
        done.assurance,
        required_level(&flow),
        svc.config.test_eid_enabled(),
    ) {
        return Err(SignError::LevelTooLow);
    }
    let sig = case.signatures[i].clone();
    let last = blankett_core::case::is_last_missing(&case, i);
    let method = match done.evidence.provider.as_str() {
        "bankid" => "BankID".to_owned(),
        "test" => "Test-e-legitimation (ej giltig)".to_owned(),
        other => other.to_owned(),
    };
    let role = sig.label.sv.clone();
    // The last signature completes the document; the flow may say so in its appearance.
    let note = flow
        .def
        .signing
        .as_ref()
        .and_then(|s| s.completion_note.as_ref())
        .filter(|_| last)
        .map(|t| t.sv.clone());
    let pades = svc.signer.clone();
    let bytes = doc.bytes;
    let field = sig.field.clone();
    let placement = sig.placement.clone();
    let identity = done.identity.clone();
    let time = svc.clock.now_utc();
    let signed = tokio::task::spawn_blocking(move || {
        pades.sign(
            &bytes,
            &SignatureOrder {
                field: &field,
                placement,
                identity: &identity,
                role: &role,
                method: &method,
                time,
                note: note.as_deref(),
                seal: last,
            },
        )
    })
    .await
    .map_err(|e| SignError::Failed(e.to_string()))?
    .map_err(|e| SignError::Failed(e.to_string()))?;
    let new_sha = sha256_hex(&signed);
    let command = Command::Sign {
        signed_document_sha256: new_sha.clone(),
    };
    let attachments = Attachments {
        document: Some(NewDocument {
            kind: if last {
                DocumentKind::Final
            } else {
                DocumentKind::Signed
            },
            sha256: new_sha,
            bytes: signed,
        }),
        evidence: Some(SignatureEvidence {
            field: sig.field.clone(),
            personnummer: done.identity.personnummer.clone(),
            signed_sha256: bound.sha256.into(),
            evidence: with_sign_text(&done.evidence, bound.visible_text),
        }),
    };
    svc.run_with(&flow, &case, &signer, case.revision, command, attachments)
        .await
        .map_err(|e| match e {
            CommandError::Stale => SignError::Stale,
            other => SignError::Command(other),
        })
}

/// The provider's evidence with the text the signer was shown and approved (as sent, in
/// simpleMarkdownV1) under `user_visible_data`, so the record says what was signed for.
fn with_sign_text(evidence: &Evidence, text: Option<&str>) -> Evidence {
    let mut e = evidence.clone();
    if let Some(text) = text {
        e.attributes
            .insert("user_visible_data".to_owned(), text.to_owned());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_level_admits_equal_or_higher_levels_and_the_test_eid_only_when_enabled() {
        use AssuranceLevel::*;
        assert!(level_accepted(Substantial, Substantial, false));
        assert!(level_accepted(High, Substantial, false));
        assert!(!level_accepted(Substantial, High, false));
        assert!(!level_accepted(Low, Substantial, true));
        assert!(level_accepted(Test, High, true));
        assert!(!level_accepted(Test, Low, false));
    }
}
