//! What a case write's events cause: the messages of the flow's `notify:` rules and the
//! deliveries of the configured webhooks.

use std::collections::BTreeSet;
use std::sync::Arc;

use blankett_core::Flow;
use blankett_core::case::{self, Case, Event, EventKind, SignatureState, Status};
use blankett_core::def::{Channel, NotifyEvent};
use blankett_core::ids::Personnummer;
use blankett_core::model::Role;
use blankett_core::store::{MessageChannel, NewMessage, Topic, WebhookEvent};
use blankett_core::time::Timestamp;
use blankett_eid::Environment;
use blankett_html::Messages;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::current_flow;
use crate::clock::Clock;
use crate::config::Config;

/// Plans messages; shared by every request and the worker.
pub struct Notifier {
    config: Arc<Config>,
    flows: Arc<Vec<Arc<Flow>>>,
    texts: Messages,
    clock: Arc<dyn Clock>,
    /// Poked after a write with messages, so that this instance's worker starts at once.
    pub wake: tokio::sync::Notify,
}

/// Someone to tell, and where to send them.
struct Recipient {
    /// `next_signer`, `case_worker`, a party's name, …: part of the idempotency key.
    role: String,
    email: Option<String>,
    phone: Option<String>,
    /// The page the message links to.
    path: String,
}

impl Notifier {
    pub fn new(
        config: Arc<Config>,
        flows: Arc<Vec<Arc<Flow>>>,
        clock: Arc<dyn Clock>,
    ) -> Result<Notifier, blankett_html::PageError> {
        Ok(Notifier {
            config,
            flows,
            clock,
            texts: Messages::new()?,
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Tells this instance's worker that messages were written.
    pub fn written(&self, outbox: &[blankett_core::store::NewMessage]) {
        if !outbox.is_empty() {
            self.wake.notify_one();
        }
    }

    /// The messages `events` (just applied to `case`) cause.
    pub fn plan(&self, case: &Case, events: &[Event]) -> Vec<NewMessage> {
        let mut out = Vec::new();
        let now = self.clock.now();
        let flow = current_flow(&self.flows, case);
        for ev in events {
            if let Some(flow) = flow {
                self.flow_messages(flow, case, ev, now, &mut out);
            }
            self.webhook_messages(case, ev, now, &mut out);
        }
        out
    }

    /// Reminders due at `at_time` for a case waiting for a signature: one per signing request,
    /// whatever the number of instances or sweeps.
    pub fn reminders(&self, case: &Case, at_time: Timestamp) -> Vec<NewMessage> {
        let mut out = Vec::new();
        let Some(flow) = current_flow(&self.flows, case) else {
            return out;
        };
        if case.status != Status::Signing {
            return out;
        }
        let now = self.clock.now();
        for i in case::requested_signers(case) {
            self.reminders_of(flow, case, i, at_time, now, &mut out);
        }
        out
    }

    /// [`Self::reminders`] for signature `i`, which is requested.
    fn reminders_of(
        &self,
        flow: &Flow,
        case: &Case,
        i: usize,
        at_time: Timestamp,
        now: Timestamp,
        out: &mut Vec<NewMessage>,
    ) {
        let sig = &case.signatures[i];
        let SignatureState::Requested { at, .. } = sig.state else {
            return;
        };
        for rule in flow.notify.iter().filter(|n| n.on == NotifyEvent::Reminder) {
            let Some(days) = rule.after_days else {
                continue;
            };
            // After N days as people count them (Swedish calendar days).
            if at.plus_local_days(u64::from(days)) > at_time {
                continue;
            }
            let recipients = self.recipients(flow, case, &rule.to, Some(&sig.field));
            // The request's time in Swedish time, as the key was written before the one time
            // rule: a request reminded before the upgrade is not reminded again.
            let id = format!("reminder/{}/{}/{}", case.id, sig.field, at.local());
            self.push_messages(
                flow,
                case,
                NotifyEvent::Reminder,
                &id,
                &rule.by,
                recipients,
                now,
                out,
            );
        }
    }

    fn flow_messages(
        &self,
        flow: &Flow,
        case: &Case,
        ev: &Event,
        now: Timestamp,
        out: &mut Vec<NewMessage>,
    ) {
        let (on, field) = match &ev.kind {
            EventKind::Submitted => (NotifyEvent::Submitted, None),
            EventKind::Returned => (NotifyEvent::Returned, None),
            EventKind::Rejected => (NotifyEvent::Rejected, None),
            EventKind::Completed => (NotifyEvent::Completed, None),
            EventKind::SignatureRequested(f) => (NotifyEvent::SignatureRequested, Some(f)),
            EventKind::Declined(f) => (NotifyEvent::Declined, Some(f)),
            EventKind::SigningExpired(f) => (NotifyEvent::SigningExpired, Some(f)),
            _ => return,
        };
        let event = event_name(on);
        let id = format!(
            "{}/{}/{event}/{}",
            case.id,
            ev.revision,
            field.map_or("", String::as_str)
        );
        for rule in flow.notify.iter().filter(|n| n.on == on) {
            let recipients = self.recipients(flow, case, &rule.to, field.map(String::as_str));
            self.push_messages(flow, case, on, &id, &rule.by, recipients, now, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push_messages(
        &self,
        flow: &Flow,
        case: &Case,
        on: NotifyEvent,
        id: &str,
        channels: &[Channel],
        recipients: Vec<Recipient>,
        now: Timestamp,
        out: &mut Vec<NewMessage>,
    ) {
        let base = self.config.public_url();
        let base = base.trim_end_matches('/');
        for r in recipients {
            let ctx = json!({
                "service_sv": flow.title.sv,
                "service_en": flow.title.en,
                "site": self.config.site.name,
                "link": format!("{base}{}", r.path),
            });
            let event = event_name(on);
            let text = match self.texts.render(event, &ctx) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, "a message template failed");
                    continue;
                }
            };
            for ch in channels {
                let (channel, address, payload) = match ch {
                    Channel::Email => (
                        MessageChannel::Email,
                        r.email.clone(),
                        json!({"subject": text.subject, "text": text.email}),
                    ),
                    Channel::Sms => (
                        MessageChannel::Sms,
                        r.phone.clone(),
                        json!({"text": text.sms}),
                    ),
                };
                let Some(address) = address else {
                    tracing::info!(
                        event,
                        role = %r.role,
                        channel = ?channel,
                        "no address to notify"
                    );
                    continue;
                };
                let key = message_key(&[id, &r.role, &format!("{channel:?}"), &address]);
                if out.iter().any(|m| m.key == key) {
                    continue;
                }
                out.push(NewMessage {
                    key,
                    channel,
                    recipient: address,
                    topic: Topic::Notify(on),
                    case_id: Some(case.id.to_string()),
                    payload,
                    not_before: now,
                });
            }
        }
    }

    /// The people `to` names, for a case (and, for signing events, the signature `field`).
    fn recipients(
        &self,
        flow: &Flow,
        case: &Case,
        to: &[String],
        field: Option<&str>,
    ) -> Vec<Recipient> {
        let env = case::env_for(case, flow, self.clock.now(), None);
        let mut out: Vec<Recipient> = Vec::new();
        let mut seen = BTreeSet::new();
        let case_path = format!("/cases/{}", case.id);
        let mut add = |out: &mut Vec<Recipient>,
                       role: &str,
                       who: &Personnummer,
                       own: (Option<String>, Option<String>),
                       path: String| {
            if !seen.insert((role.to_owned(), who.as_str().to_owned())) {
                return;
            }
            let (email, phone) = self.directory(who);
            out.push(Recipient {
                role: role.to_owned(),
                email: own.0.or(email),
                phone: own.1.or(phone),
                path,
            });
        };
        for name in to {
            match name.as_str() {
                "applicant" => add(
                    &mut out,
                    name,
                    &case.applicant.personnummer,
                    case::applicant_contact(flow, &case.answers, &env),
                    if case.started_as == blankett_core::def::Starter::CaseWorker {
                        case_path.clone()
                    } else {
                        "/my".into()
                    },
                ),
                "case_worker" => match &case.assignee {
                    Some(p) => add(
                        &mut out,
                        name,
                        &p.personnummer,
                        (None, None),
                        case_path.clone(),
                    ),
                    None => {
                        for who in self.unit_case_workers(&flow.def.owner) {
                            add(&mut out, name, &who, (None, None), case_path.clone());
                        }
                    }
                },
                "next_signer" => {
                    let sig = match field {
                        Some(f) => case.signatures.iter().find(|s| s.field == f),
                        None => case::current_signer(case).map(|i| &case.signatures[i]),
                    };
                    if let Some(sig) = sig {
                        let own = self.own_contact(flow, case, &env, sig);
                        add(
                            &mut out,
                            name,
                            &sig.person.personnummer,
                            own,
                            format!("{case_path}/sign"),
                        );
                    }
                }
                "signers" => {
                    for sig in &case.signatures {
                        let own = self.own_contact(flow, case, &env, sig);
                        add(&mut out, name, &sig.person.personnummer, own, "/my".into());
                    }
                }
                party => {
                    if let Ok(list) = case::party_contacts(flow, party, &case.answers, &env) {
                        for c in list {
                            add(
                                &mut out,
                                party,
                                &c.person.personnummer,
                                (c.email, c.phone),
                                "/my".into(),
                            );
                        }
                    }
                }
            }
        }
        out
    }

    /// A signer's addresses as the flow gives them: a party's `email:`/`phone:`, and for the
    /// applicant the flow's `contact:` (every message to the applicant goes there, so a
    /// citizen who is not on the staff directory is reached too).
    fn own_contact(
        &self,
        flow: &Flow,
        case: &Case,
        env: &blankett_core::rules::Env,
        sig: &case::Signature,
    ) -> (Option<String>, Option<String>) {
        let party = match &sig.who {
            Role::Party(party) => party,
            Role::Applicant => return case::applicant_contact(flow, &case.answers, env),
            Role::CaseWorker => return (None, None),
        };
        case::party_contacts(flow, party, &case.answers, env)
            .ok()
            .and_then(|list| {
                list.into_iter()
                    .find(|c| c.person.personnummer == sig.person.personnummer)
            })
            .map_or((None, None), |c| (c.email, c.phone))
    }

    /// Where the directory says a person is reached. In development without a directory, the
    /// test identities have addresses under `example.invalid`, so that the mailbox shows
    /// every message.
    fn directory(&self, who: &Personnummer) -> (Option<String>, Option<String>) {
        if let Some(c) = self
            .config
            .directory
            .iter()
            .find(|c| &c.personnummer == who)
        {
            return (c.email.clone(), c.phone.clone());
        }
        if self.config.directory.is_empty() && self.config.environment == Environment::Development {
            let dev = match who.as_str() {
                "197701172392" => Some(("tolvan", "+46701740612")),
                "189001019802" => Some(("elva", "+46701740611")),
                "201212121212" => Some(("tretton", "+46701740613")),
                _ => None,
            };
            if let Some((name, phone)) = dev {
                return (
                    Some(format!("{name}@example.invalid")),
                    Some(phone.to_owned()),
                );
            }
        }
        (None, None)
    }

    /// The case workers of a unit (for a case nobody is assigned to yet).
    fn unit_case_workers(&self, owner: &str) -> Vec<Personnummer> {
        let list: Vec<Personnummer> = self
            .config
            .case_workers
            .iter()
            .filter(|c| c.units.is_empty() || c.units.iter().any(|u| u == owner))
            .map(|c| c.personnummer.clone())
            .collect();
        if list.is_empty() && self.config.case_workers.is_empty() {
            // Development's implicit case worker (see `Config::case_worker_units`).
            return Personnummer::parse("197701172392")
                .ok()
                .filter(|p| self.config.case_worker_units(p).is_some())
                .into_iter()
                .collect();
        }
        list
    }

    fn webhook_messages(&self, case: &Case, ev: &Event, now: Timestamp, out: &mut Vec<NewMessage>) {
        let (on, field) = match &ev.kind {
            EventKind::Submitted => (WebhookEvent::Submitted, None),
            EventKind::Approved => (WebhookEvent::Approved, None),
            EventKind::Signed(f) => (WebhookEvent::Signed, Some(f.as_str())),
            EventKind::Completed => (WebhookEvent::Completed, None),
            EventKind::Rejected => (WebhookEvent::Rejected, None),
            EventKind::Withdrawn => (WebhookEvent::Withdrawn, None),
            _ => return,
        };
        let topic = on.as_str();
        for hook in &self.config.webhooks {
            if !(hook.events.is_empty() || hook.events.iter().any(|e| e == topic))
                || !(hook.flows.is_empty() || hook.flows.contains(&case.flow_id))
            {
                continue;
            }
            let key = message_key(&[
                &case.id,
                &ev.revision.to_string(),
                topic,
                field.unwrap_or(""),
                &hook.name,
            ]);
            let body = json!({
                "id": key,
                "type": topic,
                "occurred_at": now.utc().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                "case": {
                    "id": case.id,
                    "number": case.number,
                    "flow_id": case.flow_id,
                    "status": case.status,
                    "revision": case.revision,
                },
                "signature_field": field,
            });
            out.push(NewMessage {
                key,
                channel: MessageChannel::Webhook,
                recipient: hook.name.clone(),
                topic: Topic::Webhook(on),
                case_id: Some(case.id.to_string()),
                payload: body,
                not_before: now,
            });
        }
    }
}

/// The name of an event's message template.
pub fn event_name(on: NotifyEvent) -> &'static str {
    Topic::Notify(on).as_str()
}

/// The idempotency key of a message: SHA-256 of its parts, hex, 32 characters. Stable for
/// the same event, recipient and channel, and revealing none of them.
fn message_key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}
