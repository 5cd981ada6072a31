//! The store port: where cases, their history, documents, eID evidence, flow versions and
//! web sessions are kept.
//!
//! The engine holds an `Arc<dyn Store>`. `engine/store` implements it on SQLite and
//! PostgreSQL with sea-orm; [`MemoryStore`](crate::store_memory::MemoryStore) is the
//! in-memory fake for unit tests. Every method is one transaction: a [`CaseWrite`] stores the
//! new case, its events, a new document version and eID evidence together or not at all.
//!
//! Optimistic locking: [`Store::update_case`] writes only if the stored revision is still
//! `expected_revision`; otherwise it returns [`StoreError::Conflict`] and changes nothing, so
//! the other writer's edit is kept and the caller can show "someone else changed this case".
//!
//! Every time is a [`Timestamp`]: a moment in UTC (the one time rule, see [`crate::time`]).

use std::fmt;

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::case::{Case, Event, Status};
use crate::def::NotifyEvent;
use crate::eid::{BoxFuture, Evidence};
use crate::ids::{Personnummer, Sha256Hex};

/// Why the store refused or failed. Never carries personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The case's revision is not the one the writer read.
    #[error("the case was changed by someone else (expected revision {expected}, now {actual})")]
    Conflict { expected: u64, actual: u64 },
    /// A row with this key exists already (a case id, a session id).
    #[error("already exists")]
    Duplicate,
    /// The database failed or could not be reached; the text is for the operator's log.
    #[error("database: {0}")]
    Backend(String),
}

/// A version of a flow, kept by content hash so that a case started on it can be resumed
/// and rendered after the YAML changed (a case is pinned to the flow it started with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowVersion {
    pub content_hash: crate::ids::FlowHash,
    pub flow_id: String,
    /// The flow's sources as the loader read them (flow, template, form-defs), serialised by
    /// the caller; the store keeps them as opaque text.
    pub sources: String,
    pub first_seen: Timestamp,
}

/// What a document version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// Rendered at approval and locked: the bytes every signer is shown.
    Locked,
    /// The locked bytes plus one or more signatures (each an incremental update).
    Signed,
    /// After the last signature: with validation data and a document timestamp.
    Final,
}

/// One version of a case's document. Versions are never changed; a new one is added.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    pub case_id: String,
    /// 1, 2, 3, … per case.
    pub version: u32,
    pub kind: DocumentKind,
    pub sha256: Sha256Hex,
    pub bytes: Vec<u8>,
    pub created_at: Timestamp,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("case_id", &self.case_id)
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("sha256", &self.sha256)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// A new document version written with a case change.
#[derive(Clone, PartialEq, Eq)]
pub struct NewDocument {
    pub kind: DocumentKind,
    pub sha256: Sha256Hex,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for NewDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewDocument")
            .field("kind", &self.kind)
            .field("sha256", &self.sha256)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// The eID evidence of one signature, kept for the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureEvidence {
    /// The signature field in the document (`case_worker`, `decision_maker`, …).
    pub field: String,
    pub personnummer: Personnummer,
    /// SHA-256 of the bytes that were signed (the bytes shown to the signer).
    pub signed_sha256: Sha256Hex,
    pub evidence: Evidence,
}

/// A change to an existing case, written in one transaction.
#[derive(Debug, Clone)]
pub struct CaseWrite {
    /// The new state; its `revision` is the new revision.
    pub case: Case,
    /// The revision the writer read: the write happens only if it is still the stored one.
    pub expected_revision: u64,
    pub events: Vec<Event>,
    pub document: Option<NewDocument>,
    pub evidence: Option<SignatureEvidence>,
}

/// Which cases to list. Empty fields match everything; `involving` matches the applicant,
/// the assignee and every signer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    pub involving: Option<Personnummer>,
    pub applicant: Option<Personnummer>,
    pub assignee: Option<Personnummer>,
    /// Cases where this person is a signer whose signature is requested now.
    pub awaiting_signature_by: Option<Personnummer>,
    /// Only cases nobody is assigned to.
    pub unassigned: bool,
    pub flow_ids: Vec<String>,
    pub statuses: Vec<Status>,
    /// At most this many, newest `updated_at` first (0 = the store's default, 200).
    pub limit: u32,
}

/// A row of a case list: enough for an inbox or My pages without loading every answer.
#[derive(Clone, PartialEq, Eq)]
pub struct CaseSummary {
    pub id: String,
    pub number: String,
    pub flow_id: String,
    pub status: Status,
    pub revision: u64,
    pub applicant: Personnummer,
    pub assignee: Option<Personnummer>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl fmt::Debug for CaseSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaseSummary")
            .field("id", &self.id)
            .field("number", &self.number)
            .field("flow_id", &self.flow_id)
            .field("status", &self.status)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

/// A web session, stored so that several server instances can share one database.
/// `id_hash` is the SHA-256 (hex) of the cookie value: a database leak gives no usable
/// session.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: String,
    /// The session's contents (who is logged in, the CSRF secret, pending eID orders),
    /// serialised by the web layer.
    pub data: Value,
    pub expires_at: Timestamp,
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How a message is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageChannel {
    Email,
    Sms,
    /// An HTTP POST to an integration's webhook; the recipient is the subscription's name.
    Webhook,
}

/// Where a message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Waiting for its first attempt or for a retry.
    Pending,
    Sent,
    /// Given up after the last attempt; shown to administrators.
    Failed,
}

/// What a message is about: the flow notification it was written for (its text's name), or
/// the webhook event. Stored and sent (the webhook's `Blankett-Event` header) as its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Notify(NotifyEvent),
    Webhook(WebhookEvent),
}

/// The events a webhook can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookEvent {
    Submitted,
    Approved,
    Signed,
    Completed,
    Rejected,
    Withdrawn,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 6] = [
        WebhookEvent::Submitted,
        WebhookEvent::Approved,
        WebhookEvent::Signed,
        WebhookEvent::Completed,
        WebhookEvent::Rejected,
        WebhookEvent::Withdrawn,
    ];

    /// `case.submitted`, `case.approved`, …
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Submitted => "case.submitted",
            WebhookEvent::Approved => "case.approved",
            WebhookEvent::Signed => "case.signed",
            WebhookEvent::Completed => "case.completed",
            WebhookEvent::Rejected => "case.rejected",
            WebhookEvent::Withdrawn => "case.withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookEvent> {
        WebhookEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

const NOTIFY_EVENTS: [NotifyEvent; 8] = [
    NotifyEvent::Submitted,
    NotifyEvent::Returned,
    NotifyEvent::SignatureRequested,
    NotifyEvent::Reminder,
    NotifyEvent::SigningExpired,
    NotifyEvent::Declined,
    NotifyEvent::Completed,
    NotifyEvent::Rejected,
];

impl Topic {
    /// The text it is stored and sent as: `signature_requested`, `case.signed`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Notify(on) => match on {
                NotifyEvent::Submitted => "submitted",
                NotifyEvent::Returned => "returned",
                NotifyEvent::SignatureRequested => "signature_requested",
                NotifyEvent::Reminder => "reminder",
                NotifyEvent::SigningExpired => "signing_expired",
                NotifyEvent::Declined => "declined",
                NotifyEvent::Completed => "completed",
                NotifyEvent::Rejected => "rejected",
            },
            Topic::Webhook(e) => e.as_str(),
        }
    }

    /// The topic a stored text names; `None` for a text no topic has.
    pub fn parse(s: &str) -> Option<Topic> {
        NOTIFY_EVENTS
            .into_iter()
            .map(Topic::Notify)
            .chain(WebhookEvent::ALL.into_iter().map(Topic::Webhook))
            .find(|t| t.as_str() == s)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Topic {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Topic {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// A message to deliver, written in the same transaction as the case change that causes it.
#[derive(Clone, PartialEq)]
pub struct NewMessage {
    /// The idempotency key: one row per key, however often the message is written. Also sent
    /// to the recipient (Message-ID, `Idempotency-Key`, the webhook's delivery id), so that a
    /// delivery repeated after a crash is recognisable as the same message.
    pub key: String,
    pub channel: MessageChannel,
    /// An email address, a phone number or a webhook subscription's name.
    pub recipient: String,
    /// What happened: `signature_requested`, `case.signed`, …
    pub topic: Topic,
    pub case_id: Option<String>,
    /// What is delivered, prepared when the message is written (subject and text, or the
    /// webhook's body).
    pub payload: Value,
    /// Not before this time.
    pub not_before: Timestamp,
}

impl fmt::Debug for NewMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewMessage")
            .field("key", &self.key)
            .field("channel", &self.channel)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// A message in the outbox.
#[derive(Clone, PartialEq)]
pub struct Message {
    pub id: i64,
    pub key: String,
    pub channel: MessageChannel,
    pub recipient: String,
    pub topic: Topic,
    pub case_id: Option<String>,
    pub payload: Value,
    pub status: MessageStatus,
    /// Attempts started so far (a claimed message counts its current attempt).
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    /// The last failure, for the operator: never personal data.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("channel", &self.channel)
            .field("topic", &self.topic)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent {
        at: Timestamp,
    },
    /// Failed; try again at `at`.
    Retry {
        error: String,
        at: Timestamp,
    },
    /// Failed for good.
    GaveUp {
        error: String,
    },
    /// Not attempted (the worker is stopping): free for another worker at once, and the
    /// attempt the claim counted is taken back.
    Released,
}

/// The store. Object safe: the engine holds `Arc<dyn Store>`.
pub trait Store: Send + Sync {
    /// Records a flow version; does nothing if the hash is known.
    fn save_flow_version<'a>(
        &'a self,
        flow: &'a FlowVersion,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    fn flow_version<'a>(
        &'a self,
        content_hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<FlowVersion>, StoreError>>;

    /// The next human case number of `year`: `2026-0001`, `2026-0002`, … Unique across
    /// concurrent callers and server instances.
    fn next_case_number(&self, year: i32) -> BoxFuture<'_, Result<String, StoreError>>;

    /// Stores a new case with its first events. `Duplicate` if the id exists.
    fn create_case<'a>(
        &'a self,
        case: &'a Case,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    fn get_case<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Case>, StoreError>>;

    /// Writes a change if nobody else wrote since `expected_revision`; `Conflict` otherwise
    /// (nothing is written), `NotFound` if there is no such case.
    fn update_case<'a>(&'a self, write: &'a CaseWrite) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Like [`Store::update_case`], and in the same transaction writes `outbox` (rows whose key
    /// exists already are skipped).
    fn update_case_with<'a>(
        &'a self,
        write: &'a CaseWrite,
        outbox: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Like [`Store::create_case`], and in the same transaction stores the case's first
    /// document (a case created and approved in one call) and writes `outbox`.
    fn create_case_with<'a>(
        &'a self,
        case: &'a Case,
        events: &'a [Event],
        document: Option<&'a NewDocument>,
        outbox: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Writes messages that no case change causes (a reminder). Keys that exist are skipped;
    /// returns how many rows were new.
    fn enqueue<'a>(&'a self, outbox: &'a [NewMessage]) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Claims up to `limit` pending messages that are due at `now` and that no other worker
    /// holds: they are held until `lease_until`, and their attempt count is raised. Several
    /// workers (server instances) never get the same message while it is held.
    fn claim_messages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Message>, StoreError>>;

    /// Records how a claimed message's attempt ended and releases it.
    fn finish_message<'a>(
        &'a self,
        id: i64,
        outcome: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Messages, newest first; only those with `status` if given.
    fn list_messages(
        &self,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Message>, StoreError>>;

    /// Appends events that do not change the case (a case worker viewed it).
    fn append_events<'a>(
        &'a self,
        case_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The case's events, oldest first.
    fn events<'a>(&'a self, case_id: &'a str) -> BoxFuture<'a, Result<Vec<Event>, StoreError>>;

    fn list_cases<'a>(
        &'a self,
        filter: &'a CaseFilter,
    ) -> BoxFuture<'a, Result<Vec<CaseSummary>, StoreError>>;

    /// The newest document version of a case.
    fn latest_document<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Document>, StoreError>>;

    /// The eID evidence of a case's signatures, in signing order.
    fn signature_evidence<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SignatureEvidence>, StoreError>>;

    /// Creates or replaces a session.
    fn put_session<'a>(
        &'a self,
        session: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// A session that has not expired at `now`.
    fn get_session<'a>(
        &'a self,
        id_hash: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>>;

    fn delete_session<'a>(&'a self, id_hash: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Deletes sessions that expired before `now`; returns how many.
    fn purge_sessions(&self, now: Timestamp) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// How many sessions are stored (expired ones not yet purged included), for `/metrics`.
    fn count_sessions(&self) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Claims an idempotency key (the API's `Idempotency-Key`, already bound to the caller)
    /// for a create that will make case `case_id` from a request whose digest is
    /// `request_sha256`. `None`: the key is new and now names this case. `Some`: the key was
    /// claimed before, and this is what it names (the case may not exist yet while the first
    /// request is still being handled).
    fn claim_idempotency_key<'a>(
        &'a self,
        key: &'a str,
        case_id: &'a str,
        request_sha256: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<IdempotentCreate>, StoreError>>;

    /// Gives up a claimed key (the create it guarded did not happen).
    fn release_idempotency_key<'a>(&'a self, key: &'a str)
    -> BoxFuture<'a, Result<(), StoreError>>;

    /// A cheap round trip to the database, for `/healthz`.
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Closes the store at a clean stop. A store on SQLite first moves everything in its
    /// write-ahead log into the database file, so that the file alone is complete.
    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// What an idempotency key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentCreate {
    pub case_id: String,
    pub request_sha256: String,
    /// When the key was claimed.
    pub claimed_at: Timestamp,
}

/// An uploaded file of a case, without its bytes. The file name is already made safe
/// ([`crate::files::safe_name`]) and the type is what the content is ([`crate::files::sniff`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Random, unguessable; the answer's `id`.
    pub id: String,
    pub case_id: String,
    /// The answer path of the field it was uploaded to (`underlag.kvitto`).
    pub field: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: Sha256Hex,
    pub created_at: Timestamp,
}

impl fmt::Debug for FileMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The name is the person's own words: kept out of logs.
        f.debug_struct("FileMeta")
            .field("id", &self.id)
            .field("case_id", &self.case_id)
            .field("field", &self.field)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl FileMeta {
    /// The answer a file field keeps: `{ id, name, size, content_type, sha256 }`.
    pub fn answer(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "content_type": self.content_type,
            "sha256": self.sha256.as_str(),
        })
    }
}

/// A stored file with its bytes.
pub type FileWithBytes = (FileMeta, Vec<u8>);

/// The file store port: where uploaded files' bytes are kept. `engine/store` keeps them in
/// the database (SQLite or PostgreSQL); an object store can implement the same port.
pub trait FileStore: Send + Sync {
    /// Stores a file. `Duplicate` if the id exists.
    fn put_file<'a>(
        &'a self,
        meta: &'a FileMeta,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// A file of a case, with its bytes; `None` if the case has no file with this id.
    fn file<'a>(
        &'a self,
        case_id: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<FileWithBytes>, StoreError>>;

    /// Every file stored for a case (answered or not), oldest first, without bytes.
    fn files_of_case<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<FileMeta>, StoreError>>;

    /// Deletes files of a case; ids it does not have are skipped. Returns how many went.
    fn delete_files<'a>(
        &'a self,
        case_id: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<u64, StoreError>>;
}

#[cfg(test)]
mod topic_tests {
    use super::*;

    #[test]
    fn every_topic_is_stored_as_its_text_and_read_back() {
        let all: Vec<Topic> = NOTIFY_EVENTS
            .into_iter()
            .map(Topic::Notify)
            .chain(WebhookEvent::ALL.into_iter().map(Topic::Webhook))
            .collect();
        let texts: std::collections::BTreeSet<&str> = all.iter().map(|t| t.as_str()).collect();
        assert_eq!(texts.len(), all.len(), "two topics share a text");
        for t in all {
            assert_eq!(Topic::parse(t.as_str()), Some(t));
        }
        assert_eq!(
            Topic::Notify(NotifyEvent::SignatureRequested).as_str(),
            "signature_requested"
        );
        assert_eq!(Topic::Webhook(WebhookEvent::Signed).as_str(), "case.signed");
        assert_eq!(Topic::parse("case.unknown"), None);
    }
}
