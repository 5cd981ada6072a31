//! Notifications and webhooks through an outbox.
//!
//! Every case write goes through [`NotifyingStore`], which asks the [`Notifier`] what the
//! write's events cause (the flow's `notify:` rules, the configured webhooks) and writes
//! those messages **in the same transaction** as the case change: a change is never stored
//! without its messages, nor a message without its change. The delivery worker ([`deliver`])
//! delivers them afterwards, with retries and backoff; several server instances share the work
//! through row locks (see `Store::claim_messages`).
//!
//! What a message says is fixed when it is written (`renderers/html/messages/`): the
//! e-service's name and a link, never case content, names or personal identity numbers. The
//! addresses come from the flow's parties (`email:`, `phone:`) and from the configured
//! directory of staff (`[[directory]]`).

pub use crate::config::notify as config;
pub mod deliver;
mod plan;

use std::sync::Arc;

use blankett_core::Flow;
use blankett_core::case::{Case, Event};
use blankett_core::eid::BoxFuture;
use blankett_core::store::{
    CaseFilter, CaseSummary, CaseWrite, Delivery, Document, FlowVersion, IdempotentCreate, Message,
    MessageStatus, NewDocument, NewMessage, SessionRecord, SignatureEvidence, Store, StoreError,
};
use blankett_core::time::Timestamp;

pub use config::{
    Contact, NotifySection, SmsGateway, Smtp, SmtpSecurity, Webhook, problems as config_problems,
};
pub use plan::Notifier;

/// The store with the outbox hooked on: creates and updates of cases also write the
/// messages their events cause. Everything else is passed through.
pub struct NotifyingStore {
    inner: Arc<dyn Store>,
    notifier: Arc<Notifier>,
}

impl NotifyingStore {
    pub fn new(inner: Arc<dyn Store>, notifier: Arc<Notifier>) -> NotifyingStore {
        NotifyingStore { inner, notifier }
    }
}

impl Store for NotifyingStore {
    fn save_flow_version<'a>(
        &'a self,
        flow: &'a FlowVersion,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.save_flow_version(flow)
    }

    fn flow_version<'a>(
        &'a self,
        content_hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<FlowVersion>, StoreError>> {
        self.inner.flow_version(content_hash)
    }

    fn next_case_number(&self, year: i32) -> BoxFuture<'_, Result<String, StoreError>> {
        self.inner.next_case_number(year)
    }

    fn create_case<'a>(
        &'a self,
        case: &'a Case,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let outbox = self.notifier.plan(case, events);
            self.inner
                .create_case_with(case, events, None, &outbox)
                .await?;
            self.notifier.written(&outbox);
            Ok(())
        })
    }

    fn create_case_with<'a>(
        &'a self,
        case: &'a Case,
        events: &'a [Event],
        document: Option<&'a NewDocument>,
        outbox: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut all = self.notifier.plan(case, events);
            all.extend_from_slice(outbox);
            self.inner
                .create_case_with(case, events, document, &all)
                .await?;
            self.notifier.written(&all);
            Ok(())
        })
    }

    fn get_case<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Case>, StoreError>> {
        self.inner.get_case(id)
    }

    fn update_case<'a>(&'a self, write: &'a CaseWrite) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let outbox = self.notifier.plan(&write.case, &write.events);
            if outbox.is_empty() {
                // Most writes (every step save) notify nobody: the store's one-round-trip path.
                return self.inner.update_case(write).await;
            }
            self.inner.update_case_with(write, &outbox).await?;
            self.notifier.written(&outbox);
            Ok(())
        })
    }

    fn update_case_with<'a>(
        &'a self,
        write: &'a CaseWrite,
        outbox: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut all = self.notifier.plan(&write.case, &write.events);
            all.extend_from_slice(outbox);
            self.inner.update_case_with(write, &all).await?;
            self.notifier.written(&all);
            Ok(())
        })
    }

    fn enqueue<'a>(&'a self, outbox: &'a [NewMessage]) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let n = self.inner.enqueue(outbox).await?;
            if n > 0 {
                self.notifier.written(outbox);
            }
            Ok(n)
        })
    }

    fn claim_messages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Message>, StoreError>> {
        self.inner.claim_messages(now, lease_until, limit)
    }

    fn finish_message<'a>(
        &'a self,
        id: i64,
        outcome: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.finish_message(id, outcome)
    }

    fn list_messages(
        &self,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Message>, StoreError>> {
        self.inner.list_messages(status, limit)
    }

    fn append_events<'a>(
        &'a self,
        case_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.append_events(case_id, events)
    }

    fn events<'a>(&'a self, case_id: &'a str) -> BoxFuture<'a, Result<Vec<Event>, StoreError>> {
        self.inner.events(case_id)
    }

    fn list_cases<'a>(
        &'a self,
        filter: &'a CaseFilter,
    ) -> BoxFuture<'a, Result<Vec<CaseSummary>, StoreError>> {
        self.inner.list_cases(filter)
    }

    fn latest_document<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Document>, StoreError>> {
        self.inner.latest_document(case_id)
    }

    fn signature_evidence<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SignatureEvidence>, StoreError>> {
        self.inner.signature_evidence(case_id)
    }

    fn put_session<'a>(
        &'a self,
        session: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.put_session(session)
    }

    fn get_session<'a>(
        &'a self,
        id_hash: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        self.inner.get_session(id_hash, now)
    }

    fn delete_session<'a>(&'a self, id_hash: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.delete_session(id_hash)
    }

    fn purge_sessions(&self, now: Timestamp) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.purge_sessions(now)
    }

    fn count_sessions(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.count_sessions()
    }

    fn claim_idempotency_key<'a>(
        &'a self,
        key: &'a str,
        case_id: &'a str,
        request_sha256: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<IdempotentCreate>, StoreError>> {
        self.inner
            .claim_idempotency_key(key, case_id, request_sha256, now)
    }

    fn release_idempotency_key<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.release_idempotency_key(key)
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.ping()
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.close()
    }
}

/// The flow a case's notifications follow: the current version of its flow (a rule added
/// or fixed since the case started applies to it too).
fn current_flow<'a>(flows: &'a [Arc<Flow>], case: &Case) -> Option<&'a Arc<Flow>> {
    flows.iter().find(|f| f.id == case.flow_id)
}
