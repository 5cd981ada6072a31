//! Running a command on a case, for every door: the case machine decides
//! (`case::apply`), then the outcome is written at the revision the person saw. When the store
//! is the outbox's `NotifyingStore`, the messages the events cause go in the same transaction.
//! A lost race is [`CommandError::Stale`], and nothing changed.

use blankett_core::Flow;
use blankett_core::case::{self, Actor, Case, CaseError, Command, Outcome};
use blankett_core::def::Starter;
use blankett_core::store::{CaseWrite, NewDocument, SignatureEvidence, Store, StoreError};
use blankett_core::time::Timestamp;

/// Why a command did not change the case.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The case machine refused it (invalid answers, not in this state, not allowed, or the
    /// revision was already stale when it was read).
    #[error(transparent)]
    Refused(CaseError),
    /// Someone else wrote the case between the read and this write.
    #[error("the case was changed by someone else")]
    Stale,
    #[error(transparent)]
    Store(StoreError),
}

impl CommandError {
    /// Whether the person should see "someone else changed this case" (at the read or at the
    /// write).
    pub fn is_stale(&self) -> bool {
        matches!(
            self,
            CommandError::Stale | CommandError::Refused(CaseError::Conflict { .. })
        )
    }
}

/// Starts a case of `flow` as `actor` (a citizen, or a case worker where the flow lets them
/// start): the next case number of the year, a random id, the first events, stored.
pub async fn start(
    store: &dyn Store,
    flow: &Flow,
    actor: &Actor,
    starter: Starter,
    now: Timestamp,
) -> Result<Outcome, CommandError> {
    let number = store
        .next_case_number(now.local_year())
        .await
        .map_err(CommandError::Store)?;
    let id = uuid::Uuid::new_v4().to_string();
    let out = case::start(flow, id, number, actor, starter, now).map_err(CommandError::Refused)?;
    store
        .create_case(&out.case, &out.events)
        .await
        .map_err(CommandError::Store)?;
    Ok(out)
}

/// What a command's write carries besides the case and its events: a new version of the
/// document, the evidence of a signature.
#[derive(Default)]
pub struct Attachments {
    pub document: Option<NewDocument>,
    pub evidence: Option<SignatureEvidence>,
}

/// Applies `command` to `case` as `actor` at the revision `expected` and writes the outcome.
pub async fn run(
    store: &dyn Store,
    flow: &Flow,
    case: &Case,
    actor: &Actor,
    expected: u64,
    command: Command,
    now: Timestamp,
) -> Result<Outcome, CommandError> {
    let attachments = Attachments::default();
    run_with(
        store,
        flow,
        case,
        actor,
        expected,
        command,
        now,
        attachments,
    )
    .await
}

/// [`run`], with a document or evidence written in the same transaction.
#[allow(clippy::too_many_arguments)]
pub async fn run_with(
    store: &dyn Store,
    flow: &Flow,
    case: &Case,
    actor: &Actor,
    expected: u64,
    command: Command,
    now: Timestamp,
    attachments: Attachments,
) -> Result<Outcome, CommandError> {
    let out = decide(flow, case, actor, expected, command, now)?;
    let mut w = plain_write(&out, expected);
    w.document = attachments.document;
    w.evidence = attachments.evidence;
    write(store, &w).await?;
    Ok(out)
}

/// The case machine's decision alone, nothing written: for a door that adds to the outcome
/// before [`write`] (the API names its key on the events; approval places the signature
/// fields the rendered document has; the API's create runs several commands in memory and
/// writes once). The one way a door reaches `case::apply`.
pub fn decide(
    flow: &Flow,
    case: &Case,
    actor: &Actor,
    expected: u64,
    command: Command,
    now: Timestamp,
) -> Result<Outcome, CommandError> {
    case::apply(flow, case, actor, expected, command, now).map_err(CommandError::Refused)
}

/// The write of a command's outcome at revision `expected`: the case and its events, no
/// document or evidence.
pub fn plain_write(out: &Outcome, expected: u64) -> CaseWrite {
    CaseWrite {
        case: out.case.clone(),
        expected_revision: expected,
        events: out.events.clone(),
        document: None,
        evidence: None,
    }
}

/// Writes `w` if nobody else wrote the case since its expected revision.
pub async fn write(store: &dyn Store, w: &CaseWrite) -> Result<(), CommandError> {
    store.update_case(w).await.map_err(|e| match e {
        StoreError::Conflict { .. } => CommandError::Stale,
        other => CommandError::Store(other),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use blankett_core::case::{Person, Status};
    use blankett_core::def::Starter;
    use blankett_core::ids::Personnummer;
    use blankett_core::store_memory::MemoryStore;

    fn arvode() -> Flow {
        let sources = crate::defs_fs::read(&[
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows/arvode"),
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../form-defs"),
        ]);
        let (defs, _) = blankett_core::load(&sources);
        defs.flow("arvode").unwrap().clone()
    }

    #[tokio::test]
    async fn a_command_is_written_once_and_a_lost_race_changes_nothing() {
        let flow = arvode();
        let now = blankett_core::time::Timestamp::from_local(
            chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
                .unwrap()
                .and_hms_opt(9, 0, 0)
                .unwrap(),
        );
        let applicant = Actor {
            person: Person {
                personnummer: Personnummer::parse("189001019802").unwrap(),
                name: "Elva".into(),
            },
            case_worker: false,
        };
        let started = case::start(
            &flow,
            "c1".into(),
            "2026-0001".into(),
            &applicant,
            Starter::Citizen,
            now,
        )
        .unwrap();
        let store = MemoryStore::new();
        store
            .create_case(&started.case, &started.events)
            .await
            .unwrap();
        let case = started.case;

        // Refused by the case machine: nothing is written.
        let refused = run(
            &store,
            &flow,
            &case,
            &applicant,
            case.revision,
            Command::Submit,
            now,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(refused, CommandError::Refused(CaseError::Invalid(_))),
            "{refused:?}"
        );
        assert_eq!(
            store.get_case("c1").await.unwrap().unwrap().revision,
            case.revision
        );

        // Withdrawn at the revision read: written, one revision on.
        let out = run(
            &store,
            &flow,
            &case,
            &applicant,
            case.revision,
            Command::Withdraw,
            now,
        )
        .await
        .unwrap();
        let stored = store.get_case("c1").await.unwrap().unwrap();
        assert_eq!(stored.status, Status::Withdrawn);
        assert_eq!(stored.revision, out.case.revision);

        // The same command on the copy read before: the write loses the race.
        let second = write(&store, &plain_write(&out, case.revision))
            .await
            .unwrap_err();
        assert!(second.is_stale(), "{second:?}");
        // And a command on a stale read is refused before any write.
        let stale = run(
            &store,
            &flow,
            &stored,
            &applicant,
            case.revision,
            Command::Withdraw,
            now,
        )
        .await
        .unwrap_err();
        assert!(stale.is_stale(), "{stale:?}");
    }
}
