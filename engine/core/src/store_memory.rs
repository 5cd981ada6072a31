//! [`MemoryStore`]: the [`Store`] port in memory, for unit tests and `blankett check`.
//!
//! Same semantics as the SQL store in `engine/store` (the adapter tests run the same bodies
//! against both): optimistic locking on the revision, unique ids and case numbers, document
//! versions numbered per case, sessions valid while `expires_at > now`, lists newest
//! `updated_at` first. Every method takes the lock once and never across an `.await`.

use std::collections::HashMap;
use std::future::ready;
use std::sync::{Mutex, MutexGuard};

use crate::time::Timestamp;

use crate::case::{Case, Event, SignatureState};
use crate::eid::BoxFuture;
use crate::store::{
    CaseFilter, CaseSummary, CaseWrite, Delivery, Document, FileMeta, FileStore, FileWithBytes,
    FlowVersion, IdempotentCreate, Message, MessageStatus, NewDocument, NewMessage, SessionRecord,
    SignatureEvidence, Store, StoreError,
};

/// How many cases a list returns when the filter gives no limit.
pub const DEFAULT_LIST_LIMIT: u32 = 200;

#[derive(Default)]
struct State {
    flows: HashMap<String, FlowVersion>,
    case_numbers: HashMap<i32, u64>,
    cases: HashMap<String, Case>,
    events: HashMap<String, Vec<Event>>,
    documents: HashMap<String, Vec<Document>>,
    evidence: HashMap<String, Vec<SignatureEvidence>>,
    sessions: HashMap<String, SessionRecord>,
    /// Files in upload order.
    files: Vec<(FileMeta, Vec<u8>)>,
    /// Idempotency key → what it names.
    idempotency: HashMap<String, IdempotentCreate>,
    outbox: Vec<Message>,
    /// Held messages: id → held until.
    leases: HashMap<i64, Timestamp>,
}

/// Adds the messages whose key is new; returns how many.
fn put_messages(s: &mut State, outbox: &[NewMessage], now: Timestamp) -> u64 {
    let mut added = 0;
    for m in outbox {
        if s.outbox.iter().any(|o| o.key == m.key) {
            continue;
        }
        let id = s.outbox.last().map_or(1, |o| o.id + 1);
        s.outbox.push(Message {
            id,
            key: m.key.clone(),
            channel: m.channel,
            recipient: m.recipient.clone(),
            topic: m.topic,
            case_id: m.case_id.clone(),
            payload: m.payload.clone(),
            status: MessageStatus::Pending,
            attempts: 0,
            next_attempt_at: m.not_before,
            last_error: None,
            created_at: now,
            sent_at: None,
        });
        added += 1;
    }
    added
}

/// The store in memory. Cheap to create; every instance is empty and independent.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard: MutexGuard<'_, State> = self
            .state
            .lock()
            .map_err(|_| StoreError::Backend("memory store: lock poisoned".into()))?;
        f(&mut guard)
    }
}

/// Whether `case` matches every part of `filter`.
pub fn matches(case: &Case, filter: &CaseFilter) -> bool {
    let assignee = case.assignee.as_ref().map(|p| &p.personnummer);
    if let Some(who) = &filter.involving {
        let involved = &case.applicant.personnummer == who
            || assignee == Some(who)
            || case
                .signatures
                .iter()
                .any(|s| &s.person.personnummer == who);
        if !involved {
            return false;
        }
    }
    if let Some(who) = &filter.applicant
        && &case.applicant.personnummer != who
    {
        return false;
    }
    if let Some(who) = &filter.assignee
        && assignee != Some(who)
    {
        return false;
    }
    if let Some(who) = &filter.awaiting_signature_by {
        let awaiting = case.signatures.iter().any(|s| {
            &s.person.personnummer == who && matches!(s.state, SignatureState::Requested { .. })
        });
        if !awaiting {
            return false;
        }
    }
    if filter.unassigned && case.assignee.is_some() {
        return false;
    }
    if !filter.flow_ids.is_empty() && !filter.flow_ids.contains(&case.flow_id) {
        return false;
    }
    if !filter.statuses.is_empty() && !filter.statuses.contains(&case.status) {
        return false;
    }
    true
}

/// The list row of a case.
pub fn summary(case: &Case) -> CaseSummary {
    CaseSummary {
        id: case.id.to_string(),
        number: case.number.clone(),
        flow_id: case.flow_id.clone(),
        status: case.status,
        revision: case.revision,
        applicant: case.applicant.personnummer.clone(),
        assignee: case.assignee.as_ref().map(|p| p.personnummer.clone()),
        created_at: case.created_at,
        updated_at: case.updated_at,
    }
}

fn number_taken(state: &State, case: &Case) -> bool {
    state
        .cases
        .values()
        .any(|c| c.id != case.id && c.number == case.number)
}

impl FileStore for MemoryStore {
    fn put_file<'a>(
        &'a self,
        meta: &'a FileMeta,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(ready(self.with(|s| {
            if s.files.iter().any(|(m, _)| m.id == meta.id) {
                return Err(StoreError::Duplicate);
            }
            s.files.push((meta.clone(), bytes.to_vec()));
            Ok(())
        })))
    }

    fn file<'a>(
        &'a self,
        case_id: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<FileWithBytes>, StoreError>> {
        Box::pin(ready(self.with(|s| {
            Ok(s.files
                .iter()
                .find(|(m, _)| m.id == id && m.case_id == case_id)
                .cloned())
        })))
    }

    fn files_of_case<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<FileMeta>, StoreError>> {
        Box::pin(ready(self.with(|s| {
            Ok(s.files
                .iter()
                .filter(|(m, _)| m.case_id == case_id)
                .map(|(m, _)| m.clone())
                .collect())
        })))
    }

    fn delete_files<'a>(
        &'a self,
        case_id: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(ready(self.with(|s| {
            let before = s.files.len();
            s.files
                .retain(|(m, _)| !(m.case_id == case_id && ids.contains(&m.id)));
            Ok((before - s.files.len()) as u64)
        })))
    }
}

impl Store for MemoryStore {
    fn save_flow_version<'a>(
        &'a self,
        flow: &'a FlowVersion,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(ready(self.with(|s| {
            s.flows
                .entry(flow.content_hash.to_string())
                .or_insert_with(|| flow.clone());
            Ok(())
        })))
    }

    fn flow_version<'a>(
        &'a self,
        content_hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<FlowVersion>, StoreError>> {
        Box::pin(ready(self.with(|s| Ok(s.flows.get(content_hash).cloned()))))
    }

    fn next_case_number(&self, year: i32) -> BoxFuture<'_, Result<String, StoreError>> {
        Box::pin(ready(self.with(|s| {
            let last = s.case_numbers.entry(year).or_insert(0);
            *last += 1;
            Ok(format!("{year}-{:04}", *last))
        })))
    }

    fn create_case<'a>(
        &'a self,
        case: &'a Case,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.create_case_with(case, events, None, &[])
    }

    fn create_case_with<'a>(
        &'a self,
        case: &'a Case,
        events: &'a [Event],
        document: Option<&'a NewDocument>,
        outbox: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(ready(self.with(|s| {
            if s.cases.contains_key(case.id.as_str()) || number_taken(s, case) {
                return Err(StoreError::Duplicate);
            }
            s.cases.insert(case.id.to_string(), case.clone());
            s.events.insert(case.id.to_string(), events.to_vec());
            if let Some(doc) = document {
                s.documents.insert(
                    case.id.to_string(),
                    vec![Document {
                        case_id: case.id.to_string(),
                        version: 1,
                        kind: doc.kind,
                        sha256: doc.sha256.clone(),
                        bytes: doc.bytes.clone(),
                        created_at: case.updated_at,
                    }],
                );
            }
            put_messages(s, outbox, case.updated_at);
            Ok(())
        })))
    }

    fn get_case<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Case>, StoreError>> {
        Box::pin(ready(self.with(|s| Ok(s.cases.get(id).cloned()))))
    }

    fn update_case<'a>(&'a self, write: &'a CaseWrite) -> BoxFuture<'a, Result<(), StoreError>> {
        self.update_case_with(write, &[])
    }

    fn update_case_with<'a>(
        &'a self,
        write: &'a CaseWrite,
        outbox: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(ready(self.with(|s| {
            let id = &write.case.id.to_string();
            let actual = s.cases.get(id).ok_or(StoreError::NotFound)?.revision;
            if actual != write.expected_revision {
                return Err(StoreError::Conflict {
                    expected: write.expected_revision,
                    actual,
                });
            }
            if number_taken(s, &write.case) {
                return Err(StoreError::Duplicate);
            }
            s.cases.insert(id.clone(), write.case.clone());
            s.events
                .entry(id.clone())
                .or_default()
                .extend(write.events.iter().cloned());
            if let Some(doc) = &write.document {
                let versions = s.documents.entry(id.clone()).or_default();
                let version = versions.last().map_or(1, |d| d.version + 1);
                versions.push(Document {
                    case_id: id.clone(),
                    version,
                    kind: doc.kind,
                    sha256: doc.sha256.clone(),
                    bytes: doc.bytes.clone(),
                    created_at: write.case.updated_at,
                });
            }
            if let Some(evidence) = &write.evidence {
                s.evidence
                    .entry(id.clone())
                    .or_default()
                    .push(evidence.clone());
            }
            put_messages(s, outbox, write.case.updated_at);
            Ok(())
        })))
    }

    fn enqueue<'a>(&'a self, outbox: &'a [NewMessage]) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(ready(self.with(|s| {
            let now = outbox.iter().map(|m| m.not_before).min();
            match now {
                Some(now) => Ok(put_messages(s, outbox, now)),
                None => Ok(0),
            }
        })))
    }

    fn claim_messages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Message>, StoreError>> {
        Box::pin(ready(self.with(|s| {
            let mut out = Vec::new();
            for m in s.outbox.iter_mut() {
                if out.len() >= limit as usize {
                    break;
                }
                let held = s.leases.get(&m.id).is_some_and(|until| *until > now);
                if m.status == MessageStatus::Pending && m.next_attempt_at <= now && !held {
                    m.attempts += 1;
                    s.leases.insert(m.id, lease_until);
                    out.push(m.clone());
                }
            }
            Ok(out)
        })))
    }

    fn finish_message<'a>(
        &'a self,
        id: i64,
        outcome: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(ready(self.with(|s| {
            s.leases.remove(&id);
            let m = s
                .outbox
                .iter_mut()
                .find(|m| m.id == id)
                .ok_or(StoreError::NotFound)?;
            match outcome {
                Delivery::Sent { at } => {
                    m.status = MessageStatus::Sent;
                    m.sent_at = Some(*at);
                }
                Delivery::Retry { error, at } => {
                    m.last_error = Some(error.clone());
                    m.next_attempt_at = *at;
                }
                Delivery::GaveUp { error } => {
                    m.status = MessageStatus::Failed;
                    m.last_error = Some(error.clone());
                }
                Delivery::Released => {
                    m.attempts = m.attempts.saturating_sub(1);
                }
            }
            Ok(())
        })))
    }

    fn list_messages(
        &self,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Message>, StoreError>> {
        Box::pin(ready(self.with(|s| {
            Ok(s.outbox
                .iter()
                .rev()
                .filter(|m| status.is_none_or(|st| m.status == st))
                .take(limit as usize)
                .cloned()
                .collect())
        })))
    }

    fn append_events<'a>(
        &'a self,
        case_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(ready(self.with(|s| {
            if !s.cases.contains_key(case_id) {
                return Err(StoreError::NotFound);
            }
            s.events
                .entry(case_id.to_owned())
                .or_default()
                .extend(events.iter().cloned());
            Ok(())
        })))
    }

    fn events<'a>(&'a self, case_id: &'a str) -> BoxFuture<'a, Result<Vec<Event>, StoreError>> {
        Box::pin(ready(self.with(|s| {
            Ok(s.events.get(case_id).cloned().unwrap_or_default())
        })))
    }

    fn list_cases<'a>(
        &'a self,
        filter: &'a CaseFilter,
    ) -> BoxFuture<'a, Result<Vec<CaseSummary>, StoreError>> {
        Box::pin(ready(self.with(|s| {
            let mut found: Vec<&Case> = s.cases.values().filter(|c| matches(c, filter)).collect();
            found.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
            let limit = if filter.limit == 0 {
                DEFAULT_LIST_LIMIT
            } else {
                filter.limit
            };
            Ok(found
                .into_iter()
                .take(limit as usize)
                .map(summary)
                .collect())
        })))
    }

    fn latest_document<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Document>, StoreError>> {
        Box::pin(ready(self.with(|s| {
            Ok(s.documents.get(case_id).and_then(|v| v.last()).cloned())
        })))
    }

    fn signature_evidence<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SignatureEvidence>, StoreError>> {
        Box::pin(ready(self.with(|s| {
            Ok(s.evidence.get(case_id).cloned().unwrap_or_default())
        })))
    }

    fn put_session<'a>(
        &'a self,
        session: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(ready(self.with(|s| {
            s.sessions.insert(session.id_hash.clone(), session.clone());
            Ok(())
        })))
    }

    fn get_session<'a>(
        &'a self,
        id_hash: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(ready(self.with(|s| {
            Ok(s.sessions
                .get(id_hash)
                .filter(|r| r.expires_at > now)
                .cloned())
        })))
    }

    fn delete_session<'a>(&'a self, id_hash: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(ready(self.with(|s| {
            s.sessions.remove(id_hash);
            Ok(())
        })))
    }

    fn purge_sessions(&self, now: Timestamp) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(ready(self.with(|s| {
            let before = s.sessions.len();
            s.sessions.retain(|_, r| r.expires_at > now);
            Ok((before - s.sessions.len()) as u64)
        })))
    }

    fn count_sessions(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(ready(self.with(|s| Ok(s.sessions.len() as u64))))
    }

    fn claim_idempotency_key<'a>(
        &'a self,
        key: &'a str,
        case_id: &'a str,
        request_sha256: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<IdempotentCreate>, StoreError>> {
        Box::pin(ready(self.with(|s| {
            if let Some(found) = s.idempotency.get(key) {
                return Ok(Some(found.clone()));
            }
            s.idempotency.insert(
                key.to_owned(),
                IdempotentCreate {
                    case_id: case_id.to_owned(),
                    request_sha256: request_sha256.to_owned(),
                    claimed_at: now,
                },
            );
            Ok(None)
        })))
    }

    fn release_idempotency_key<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(ready(self.with(|s| {
            s.idempotency.remove(key);
            Ok(())
        })))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(ready(self.with(|_| Ok(()))))
    }
}
