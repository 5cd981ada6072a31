//! The application service every door holds: the configuration, the clock, the loaded flows
//! (and the older versions cases are pinned to), the store behind the outbox, the renderer and
//! the signer. The doors (pages, REST API, command line, background work) reach cases,
//! documents, events, messages and sessions through its methods; none of them holds the store.
//!
//! It also keeps this instance's copy of the cases it last wrote ([`Service::recent_case`]),
//! which saves a command the read before its conditional write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use blankett_core::Flow;
use blankett_core::case::{Actor, Case, Command, Event, Outcome};
use blankett_core::def::Starter;
use blankett_core::document::{DocumentRenderer, DocumentSigner};
use blankett_core::ids::{CaseId, FlowHash};
use blankett_core::store::FileStore;
use blankett_core::store::{
    CaseFilter, CaseSummary, CaseWrite, Document, FlowVersion, Message, MessageStatus, NewDocument,
    NewMessage, SessionRecord, SignatureEvidence, Store, StoreError,
};
use blankett_core::time::Timestamp;

use crate::access::{self, Action, Staff};
use crate::clock::Clock;
use crate::commands::{self, Attachments, CommandError};
use crate::config::Config;
use crate::outbox::{Notifier, NotifyingStore};

/// Why a read through the service found nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such case (or document), or not one the person may see: the doors answer 404
    /// either way, so a stranger cannot tell the two apart.
    #[error("not found")]
    NotFound,
    /// Something that should hold does not (a case's pinned flow is not stored).
    #[error("{0}")]
    Internal(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How many bytes of answers [`Service::recent_case`] keeps; when full it starts over. A case
/// with more answers than a sixteenth of this is not kept at all.
const RECENT_CASES_BYTES: usize = 64 * 1024 * 1024;

/// The cases this instance last wrote, with the size of their answers as JSON.
#[derive(Default)]
struct RecentCases {
    cases: HashMap<CaseId, (Case, usize)>,
    bytes: usize,
}

/// What the composition root hands the service.
pub struct Parts {
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// The database adapter; the service wraps it so that every case write also writes the
    /// messages it causes.
    pub store: Arc<dyn Store>,
    /// Where uploaded files' bytes are kept (the database by default).
    pub files: Arc<dyn FileStore>,
    pub flows: Arc<Vec<Arc<Flow>>>,
    pub notifier: Arc<Notifier>,
    pub renderer: Arc<dyn DocumentRenderer>,
    pub signer: Arc<dyn DocumentSigner>,
    /// "sqlite" or "postgres", for the start-up line.
    pub backend: &'static str,
}

/// See the module documentation.
pub struct Service {
    pub config: Arc<Config>,
    /// Where the time is read: the system clock, or a test's clock.
    pub clock: Arc<dyn Clock>,
    /// The flows as loaded at start.
    pub flows: Arc<Vec<Arc<Flow>>>,
    /// Plans the messages of case writes; wakes this instance's delivery worker.
    pub notifier: Arc<Notifier>,
    /// Renders documents in worker processes bounded in time and memory (`[render]`).
    pub renderer: Arc<dyn DocumentRenderer>,
    /// Signs documents (PAdES, the last signature sealed for the long term).
    pub signer: Arc<dyn DocumentSigner>,
    store: Arc<dyn Store>,
    files: Arc<dyn FileStore>,
    /// The adapter itself, for the one write whose messages are planned here
    /// ([`Service::create`]).
    inner: Arc<dyn Store>,
    pinned: Mutex<HashMap<FlowHash, Arc<Flow>>>,
    recent: Mutex<RecentCases>,
    backend: &'static str,
}

impl Service {
    pub fn new(parts: Parts) -> Service {
        let inner = parts.store;
        let store: Arc<dyn Store> =
            Arc::new(NotifyingStore::new(inner.clone(), parts.notifier.clone()));
        Service {
            config: parts.config,
            clock: parts.clock,
            flows: parts.flows,
            notifier: parts.notifier,
            renderer: parts.renderer,
            signer: parts.signer,
            store,
            files: parts.files,
            inner,
            pinned: Mutex::new(HashMap::new()),
            recent: Mutex::new(RecentCases::default()),
            backend: parts.backend,
        }
    }

    /// The store, for tests and the application layer's own modules. The doors call the
    /// methods below (a tidy test holds `engine/web` to that).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The file store port (uploads); the doors go through [`crate::files`].
    pub(crate) fn file_store(&self) -> &Arc<dyn FileStore> {
        &self.files
    }

    /// "sqlite" or "postgres".
    pub fn backend_name(&self) -> &'static str {
        self.backend
    }

    /// Records the current version of every loaded flow, so that cases started now can be
    /// shown and completed after the files change.
    pub async fn save_flow_versions(
        &self,
        sources_of: impl Fn(&Flow) -> Result<String, StoreError>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        for flow in self.flows.iter() {
            self.store
                .save_flow_version(&FlowVersion {
                    content_hash: flow.content_hash.clone(),
                    flow_id: flow.id.clone(),
                    sources: sources_of(flow)?,
                    first_seen: now,
                })
                .await?;
        }
        Ok(())
    }

    // --- Flows -------------------------------------------------------------------------------

    /// The current version of a flow.
    pub fn flow(&self, id: &str) -> Option<Arc<Flow>> {
        self.flows.iter().find(|f| f.id == id).cloned()
    }

    /// The flow version a case is pinned to (loaded from the store if the files changed since
    /// the case started).
    pub async fn flow_of(&self, case: &Case) -> Result<Arc<Flow>, ServiceError> {
        if let Some(f) = self.flow(&case.flow_id)
            && f.content_hash == case.flow_hash
        {
            return Ok(f);
        }
        if let Some(f) = self
            .pinned
            .lock()
            .ok()
            .and_then(|m| m.get(case.flow_hash.as_str()).cloned())
        {
            return Ok(f);
        }
        let version =
            self.store
                .flow_version(&case.flow_hash)
                .await?
                .ok_or(ServiceError::Internal(
                    "the case's flow version is not stored",
                ))?;
        let flow = crate::pinned::flow_from_version(&version, &case.flow_id, &case.flow_hash)
            .map(Arc::new)
            .ok_or(ServiceError::Internal(
                "the stored flow version does not load",
            ))?;
        if let Ok(mut m) = self.pinned.lock() {
            m.insert(case.flow_hash.clone(), flow.clone());
        }
        Ok(flow)
    }

    // --- Who may do what ---------------------------------------------------------------------

    /// What `actor` is to the municipality (see [`Staff`]).
    pub fn staff(&self, actor: &Actor) -> Staff<'_> {
        if !actor.case_worker {
            return Staff::Citizen;
        }
        Staff::of(self.config.case_worker_units(&actor.person.personnummer))
    }

    /// Whether `actor` handles cases of `flow` (a case worker of its owning unit).
    pub fn handles(&self, actor: &Actor, flow: &Flow) -> bool {
        access::handles(self.staff(actor), flow)
    }

    /// Whether `actor` may do `action` with `case` (see [`access::may`]).
    pub fn may(&self, actor: &Actor, case: &Case, flow: &Flow, action: Action) -> bool {
        access::may(actor, self.staff(actor), case, flow, action)
    }

    /// Whether `actor` may see the case (see [`access::may`]).
    pub fn may_view(&self, actor: &Actor, case: &Case, flow: &Flow) -> bool {
        self.may(actor, case, flow, Action::View)
    }

    // --- Reading cases -----------------------------------------------------------------------

    /// A case by id, whoever asks: for the system's own work (a completed eID order names
    /// its case) and the API, which decides by its key.
    pub async fn case(&self, id: &str) -> Result<Case, ServiceError> {
        self.store.get_case(id).await?.ok_or(ServiceError::NotFound)
    }

    /// A case `actor` may see, with its pinned flow; [`ServiceError::NotFound`] otherwise.
    pub async fn visible_case(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<(Case, Arc<Flow>), ServiceError> {
        let case = self.case(id).await?;
        self.visible(actor, case).await
    }

    /// [`Service::visible_case`] for a command whose form was made at `revision`: this
    /// instance's copy of the case is used when it is at that revision (see
    /// [`Service::recent_case`] for why that is safe), which saves a read before the write.
    pub async fn visible_case_at(
        &self,
        actor: &Actor,
        id: &str,
        revision: u64,
    ) -> Result<(Case, Arc<Flow>), ServiceError> {
        match self.recent_case(id, revision) {
            Some(case) => self.visible(actor, case).await,
            None => self.visible_case(actor, id).await,
        }
    }

    async fn visible(&self, actor: &Actor, case: Case) -> Result<(Case, Arc<Flow>), ServiceError> {
        let flow = self.flow_of(&case).await?;
        if !self.may_view(actor, &case, &flow) {
            return Err(ServiceError::NotFound);
        }
        Ok((case, flow))
    }

    /// The cases the filter selects (the case worker's lists, My pages, the API's list).
    pub async fn cases(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        self.store.list_cases(filter).await
    }

    /// The newest version of a case's document, if it has one.
    pub async fn document(&self, case_id: &str) -> Result<Option<Document>, StoreError> {
        self.store.latest_document(case_id).await
    }

    /// A case's events, oldest first.
    pub async fn events(&self, case_id: &str) -> Result<Vec<Event>, StoreError> {
        self.store.events(case_id).await
    }

    /// The messages of the outbox, newest first; only those with `status` if given.
    pub async fn messages(
        &self,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        self.store.list_messages(status, limit).await
    }

    /// The eID evidence of a case's signatures, in signing order.
    pub async fn signature_evidence(
        &self,
        case_id: &str,
    ) -> Result<Vec<SignatureEvidence>, StoreError> {
        self.store.signature_evidence(case_id).await
    }

    /// Appends events that do not change the case (a case worker viewed it).
    pub async fn append_events(&self, case_id: &str, events: &[Event]) -> Result<(), StoreError> {
        self.store.append_events(case_id, events).await
    }

    /// Puts messages in the outbox (reminders, which no case write causes).
    pub async fn enqueue(&self, messages: &[NewMessage]) -> Result<u64, StoreError> {
        self.store.enqueue(messages).await
    }

    // --- Changing cases ----------------------------------------------------------------------

    /// Starts a case of `flow` as `actor` (see [`commands::start`]).
    pub async fn start(
        &self,
        flow: &Flow,
        actor: &Actor,
        starter: Starter,
    ) -> Result<Outcome, CommandError> {
        let now = self.clock.now();
        let out = commands::start(self.store.as_ref(), flow, actor, starter, now).await?;
        self.remember_case(&out.case);
        Ok(out)
    }

    /// Creates a case decided in memory, in one transaction: `created` is the case as
    /// started with its answers (and `created_events`), `out` what later commands made of it
    /// (submitted, assigned, or approved with `document`). The messages are those each stage
    /// causes, as if it had been written on its own. The API's create: a refused or failed
    /// create leaves nothing behind, and a crash cannot leave half a case.
    pub async fn create(
        &self,
        created: &Case,
        created_events: &[Event],
        out: &Outcome,
        document: Option<&NewDocument>,
    ) -> Result<(), StoreError> {
        let mut outbox = self.notifier.plan(created, created_events);
        for m in self.notifier.plan(&out.case, &out.events) {
            if !outbox.iter().any(|o| o.key == m.key) {
                outbox.push(m);
            }
        }
        let mut events = created_events.to_vec();
        events.extend(out.events.iter().cloned());
        self.inner
            .create_case_with(&out.case, &events, document, &outbox)
            .await?;
        self.notifier.written(&outbox);
        self.remember_case(&out.case);
        Ok(())
    }

    /// Claims an idempotency key for a create (see [`Store::claim_idempotency_key`]).
    pub async fn claim_idempotency_key(
        &self,
        key: &str,
        case_id: &str,
        request_sha256: &str,
        now: Timestamp,
    ) -> Result<Option<blankett_core::store::IdempotentCreate>, StoreError> {
        self.store
            .claim_idempotency_key(key, case_id, request_sha256, now)
            .await
    }

    /// Gives up a claimed idempotency key (its create did not happen).
    pub async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError> {
        self.store.release_idempotency_key(key).await
    }

    /// The next case number of `year` (no gaps: taken only when a case is created with it).
    pub async fn next_case_number(&self, year: i32) -> Result<String, StoreError> {
        self.store.next_case_number(year).await
    }

    /// Runs `command` on `case` (see [`commands::run`]) and keeps this instance's copy of
    /// the written case.
    pub async fn run(
        &self,
        flow: &Flow,
        case: &Case,
        actor: &Actor,
        expected: u64,
        command: Command,
    ) -> Result<Outcome, CommandError> {
        self.run_with(flow, case, actor, expected, command, Attachments::default())
            .await
    }

    /// [`Service::run`], with a document or evidence written in the same transaction.
    pub async fn run_with(
        &self,
        flow: &Flow,
        case: &Case,
        actor: &Actor,
        expected: u64,
        command: Command,
        attachments: Attachments,
    ) -> Result<Outcome, CommandError> {
        let now = self.clock.now();
        let out = commands::run_with(
            self.store.as_ref(),
            flow,
            case,
            actor,
            expected,
            command,
            now,
            attachments,
        )
        .await?;
        self.remember_case(&out.case);
        Ok(out)
    }

    /// Writes an outcome decided with [`commands::decide`] (and added to by the door) if
    /// nobody else wrote the case since; keeps this instance's copy.
    pub async fn write(&self, w: &CaseWrite) -> Result<(), CommandError> {
        commands::write(self.store.as_ref(), w).await?;
        self.remember_case(&w.case);
        Ok(())
    }

    /// The copy of a case this instance last wrote (or read after losing a race), if it is
    /// at `revision`. Page views do not fill it: after a save the next page's form is at the
    /// revision just written, so only the first save after opening a case reads it.
    ///
    /// Only a command uses it, with the revision its form was made at, and only to save the
    /// read before its write: the write is conditional on that revision
    /// (`WHERE revision = ?`), so a copy that is no longer current (another instance wrote
    /// since) makes the write fail as stale, and the caller then reads the case afresh. Pages
    /// always read the database.
    pub fn recent_case(&self, id: &str, revision: u64) -> Option<Case> {
        let recent = self.recent.lock().ok()?;
        recent
            .cases
            .get(id)
            .filter(|(c, _)| c.revision == revision)
            .map(|(c, _)| c.clone())
    }

    /// Keeps `case` as the latest copy known to this instance.
    pub fn remember_case(&self, case: &Case) {
        let size = serde_json::to_vec(&case.answers).map_or(usize::MAX, |v| v.len());
        let Ok(mut recent) = self.recent.lock() else {
            return;
        };
        if let Some((old, old_size)) = recent.cases.get(case.id.as_str()) {
            if old.revision > case.revision {
                return;
            }
            let old_size = *old_size;
            recent.cases.remove(case.id.as_str());
            recent.bytes -= old_size;
        }
        if size > RECENT_CASES_BYTES / 16 {
            return;
        }
        if recent.bytes + size > RECENT_CASES_BYTES {
            recent.cases.clear();
            recent.bytes = 0;
        }
        recent.bytes += size;
        recent.cases.insert(case.id.clone(), (case.clone(), size));
    }

    // --- Sessions ----------------------------------------------------------------------------

    /// A session that has not expired at `now`, by the hash of its token.
    pub async fn session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.store.get_session(id_hash, now).await
    }

    pub async fn put_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.store.put_session(session).await
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.store.delete_session(id_hash).await
    }

    /// Deletes the sessions that have expired by now; returns how many.
    pub async fn purge_sessions(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        self.store.purge_sessions(now).await
    }

    /// How many sessions are stored (the operations page).
    pub async fn count_sessions(&self) -> Result<u64, StoreError> {
        self.store.count_sessions().await
    }

    // --- Operations --------------------------------------------------------------------------

    /// Whether the database answers (the readiness check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Closes the database at a clean stop (on SQLite: checkpoints the WAL).
    pub async fn close(&self) -> Result<(), StoreError> {
        self.store.close().await
    }
}
