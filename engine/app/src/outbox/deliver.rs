//! The delivery worker: claims due messages from the outbox, delivers them (SMTP, the SMS
//! gateway, webhooks, or the development mailbox) and records the outcome, with exponential
//! backoff between attempts. Also, every `notify.sweep_secs`, expires signing requests that ran
//! out and writes the reminders that are due.
//!
//! Delivery is at least once: a worker that dies after the recipient accepted a message but
//! before recording it leaves the message to be sent again when its lease runs out. Every
//! delivery carries the message's idempotency key (the email's `Message-ID`, the SMS
//! gateway's `Idempotency-Key`, the webhook's `Blankett-Delivery`) so that the recipient can
//! tell a repeat from a new message.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::commands::{self, CommandError};
use blankett_core::case::{self, Actor, CaseError, Command, SignatureState, Status};
use blankett_core::store::{CaseFilter, Delivery, Message, MessageChannel, StoreError};
use blankett_core::time::Timestamp;
use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::Sha256;

use super::config::{SmtpSecurity, Webhook};
use crate::service::Service;

/// Why an attempt failed. The text is for administrators: never an address or content.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    /// Retrying cannot help (the SMTP server refused the address for good, the webhook is
    /// no longer configured).
    pub permanent: bool,
}

impl Failure {
    fn retry(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            permanent: false,
        }
    }
    fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            permanent: true,
        }
    }
}

/// How messages leave this instance.
pub struct Deliverer {
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, lettre::message::Mailbox)>,
    http: reqwest::Client,
    mailbox: PathBuf,
    config: Arc<crate::Config>,
    clock: Arc<dyn crate::clock::Clock>,
}

impl Deliverer {
    pub fn new(
        config: Arc<crate::Config>,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> Result<Deliverer, String> {
        let smtp = match &config.notify.smtp {
            None => None,
            Some(s) => {
                let mut b = match s.security {
                    SmtpSecurity::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                            .map_err(|e| format!("notify.smtp: {e}"))?
                    }
                    SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
                        .map_err(|e| format!("notify.smtp: {e}"))?,
                    SmtpSecurity::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
                    }
                };
                b = b
                    .port(s.port)
                    .timeout(Some(Duration::from_secs(s.timeout_secs)));
                if let (Some(u), Some(p)) = (&s.username, &s.password) {
                    b = b.credentials(Credentials::new(u.clone(), p.expose().to_owned()));
                }
                let from = s
                    .from
                    .parse::<lettre::message::Mailbox>()
                    .map_err(|e| format!("notify.smtp.from: {e}"))?;
                Some((b.build(), from))
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let mailbox = config
            .notify
            .mailbox_dir
            .as_ref()
            .map(|d| config.base_dir.join(d))
            .unwrap_or_else(|| config.data_dir.join("mailbox"));
        Ok(Deliverer {
            smtp,
            http,
            mailbox,
            config,
            clock,
        })
    }

    /// Delivers one message.
    pub async fn deliver(&self, m: &Message) -> Result<(), Failure> {
        match m.channel {
            MessageChannel::Email => self.email(m).await,
            MessageChannel::Sms => self.sms(m).await,
            MessageChannel::Webhook => self.webhook(m).await,
        }
    }

    fn text(m: &Message, key: &str) -> String {
        m.payload
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    }

    async fn email(&self, m: &Message) -> Result<(), Failure> {
        let from = match &self.smtp {
            Some((_, from)) => from.clone(),
            None => "Blankett <noreply@example.invalid>"
                .parse()
                .map_err(|_| Failure::permanent("bad development sender"))?,
        };
        let to = m
            .recipient
            .parse::<lettre::message::Mailbox>()
            .map_err(|_| Failure::permanent("the recipient is not a valid email address"))?;
        let email = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(Self::text(m, "subject"))
            .message_id(Some(format!("<{}@blankett>", m.key)))
            .header(ContentType::TEXT_PLAIN)
            .body(Self::text(m, "text"))
            .map_err(|e| Failure::permanent(format!("the message could not be built: {e}")))?;
        match &self.smtp {
            Some((transport, _)) => match transport.send(email).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    // The server's text may quote the address: keep only the code.
                    let code = e
                        .status()
                        .map_or_else(|| "no reply".to_owned(), |c| c.to_string());
                    let what = if e.is_permanent() {
                        "refused"
                    } else if e.is_timeout() {
                        "timed out"
                    } else {
                        "failed"
                    };
                    let failure = format!("SMTP {what} ({code})");
                    Err(if e.is_permanent() {
                        Failure::permanent(failure)
                    } else {
                        Failure::retry(failure)
                    })
                }
            },
            None => self.to_mailbox(m, "eml", &email.formatted()).await,
        }
    }

    async fn sms(&self, m: &Message) -> Result<(), Failure> {
        let text = Self::text(m, "text");
        let Some(gw) = &self.config.notify.sms else {
            let body = format!("To: {}\n\n{text}\n", m.recipient);
            return self.to_mailbox(m, "sms.txt", body.as_bytes()).await;
        };
        let body = serde_json::json!({"to": m.recipient, "text": text, "sender": gw.sender});
        let mut req = self
            .http
            .post(&gw.url)
            .header("Idempotency-Key", &m.key)
            .json(&body);
        for (k, v) in &gw.headers {
            req = req.header(k, v.expose());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::retry(format!("SMS gateway: {}", e.without_url())))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure::retry(format!(
                "SMS gateway: HTTP {}",
                status.as_u16()
            )))
        }
    }

    async fn webhook(&self, m: &Message) -> Result<(), Failure> {
        let Some(hook) = self.config.webhooks.iter().find(|w| w.name == m.recipient) else {
            return Err(Failure::permanent(
                "the webhook subscription is no longer configured",
            ));
        };
        let body = serde_json::to_vec(&m.payload)
            .map_err(|e| Failure::permanent(format!("the body: {e}")))?;
        let timestamp = self.clock.now_utc().timestamp();
        let signature = sign_webhook(hook, timestamp, &body)
            .ok_or_else(|| Failure::permanent("the webhook secret is unusable"))?;
        let resp = self
            .http
            .post(&hook.url)
            .header("Content-Type", "application/json")
            .header("Blankett-Event", m.topic.as_str())
            .header("Blankett-Delivery", &m.key)
            .header("Blankett-Timestamp", timestamp.to_string())
            .header("Blankett-Signature", format!("sha256={signature}"))
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::retry(format!("webhook: {}", e.without_url())))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure::retry(format!("webhook: HTTP {}", status.as_u16())))
        }
    }

    /// The development mailbox: one file per message, named by its key (a repeat overwrites).
    async fn to_mailbox(&self, m: &Message, ext: &str, bytes: &[u8]) -> Result<(), Failure> {
        let dir = self.mailbox.clone();
        let path = dir.join(format!(
            "{}-{}.{ext}",
            m.created_at.local().format("%Y%m%dT%H%M%S"),
            m.key
        ));
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let tmp = path.with_extension("part");
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(|_| Failure::retry("mailbox: the write task failed"))?
        .map_err(|e| Failure::retry(format!("mailbox: {}", e.kind())))
    }
}

/// The `Blankett-Signature` of a webhook delivery: HMAC-SHA256 with the subscription's secret
/// over `"{timestamp}.{body}"`, hex. A receiver recomputes it, compares in constant time and
/// refuses old timestamps (replays).
pub fn sign_webhook(hook: &Webhook, timestamp: i64, body: &[u8]) -> Option<String> {
    // HMAC takes keys of any length: this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(hook.secret.expose().as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(hex::encode(mac.finalize().into_bytes()))
}

/// The wait before attempt `attempts + 1`: `base`, doubling each attempt, at most an hour.
pub fn backoff(base_ms: u64, attempts: u32) -> Duration {
    let factor = 1u64 << attempts.saturating_sub(1).min(20);
    Duration::from_millis(base_ms.saturating_mul(factor).min(3_600_000))
}

/// Starts this instance's worker (unless `notify.worker = false`), to run until the process
/// ends.
pub fn spawn(state: Arc<Service>) -> Option<tokio::task::JoinHandle<()>> {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // Never told to stop: the sender lives as long as the worker.
    let handle = spawn_until(state, stopping)?;
    Some(tokio::spawn(async move {
        let _keep = stop;
        let _ = handle.await;
    }))
}

/// Starts this instance's worker (unless `notify.worker = false`). It stops when `stop`
/// turns true: it finishes the delivery in hand, gives back what it claimed but did not try,
/// and returns.
pub fn spawn_until(
    state: Arc<Service>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if !state.config.notify.worker {
        return None;
    }
    let deliverer = match Deliverer::new(state.config.clone(), state.clock.clone()) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "notifications are off: the deliverer could not start");
            return None;
        }
    };
    Some(tokio::spawn(run(state, deliverer, stop)))
}

async fn run(
    state: Arc<Service>,
    deliverer: Deliverer,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let cfg = state.config.notify.clone();
    let sweep_every = Duration::from_secs(cfg.sweep_secs.max(1));
    let mut last_sweep: Option<std::time::Instant> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        if last_sweep.is_none_or(|t| t.elapsed() >= sweep_every) {
            last_sweep = Some(std::time::Instant::now());
            if let Err(e) = sweep(&state).await {
                tracing::warn!(error = %e, "the signing sweep failed");
            }
        }
        let claimed = match run_once_until(&state, &deliverer, &stop).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "the outbox could not be read");
                0
            }
        };
        if claimed >= BATCH as usize {
            continue;
        }
        tokio::select! {
            () = state.notifier.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(cfg.poll_ms.max(10))) => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// How many messages a worker claims at once.
const BATCH: u32 = 16;

/// Claims one batch of due messages and delivers them; returns how many were claimed.
pub async fn run_once(state: &Service, deliverer: &Deliverer) -> Result<usize, StoreError> {
    let (_never, stop) = tokio::sync::watch::channel(false);
    run_once_until(state, deliverer, &stop).await
}

/// [`run_once`], giving back the rest of the batch untried once `stop` turns true.
async fn run_once_until(
    state: &Service,
    deliverer: &Deliverer,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Result<usize, StoreError> {
    let cfg = &state.config.notify;
    let now = state.clock.now();
    let lease = now + chrono::Duration::seconds(i64::try_from(cfg.lease_secs).unwrap_or(120));
    let batch = state.store().claim_messages(now, lease, BATCH).await?;
    let n = batch.len();
    for m in batch {
        if *stop.borrow() {
            // Stopping: another instance (or this one, restarted) takes it at once.
            if let Err(e) = state
                .store()
                .finish_message(m.id, &Delivery::Released)
                .await
            {
                tracing::warn!(key = %m.key, error = %e, "a claimed message could not be given back; it is retried when its lease runs out");
            }
            continue;
        }
        let outcome = match deliverer.deliver(&m).await {
            Ok(()) => {
                tracing::info!(channel = ?m.channel, topic = %m.topic, key = %m.key, "message delivered");
                Delivery::Sent {
                    at: state.clock.now(),
                }
            }
            Err(f) if f.permanent || m.attempts >= cfg.max_attempts => {
                tracing::warn!(channel = ?m.channel, topic = %m.topic, key = %m.key, attempts = m.attempts, error = %f.message, "message given up");
                Delivery::GaveUp { error: f.message }
            }
            Err(f) => {
                let wait = backoff(cfg.retry_base_ms, m.attempts);
                tracing::info!(channel = ?m.channel, topic = %m.topic, key = %m.key, attempts = m.attempts, error = %f.message, "message will be retried");
                Delivery::Retry {
                    error: f.message,
                    at: state.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                }
            }
        };
        if let Err(e) = state.store().finish_message(m.id, &outcome).await {
            tracing::warn!(key = %m.key, error = %e, "a delivery could not be recorded");
        }
    }
    Ok(n)
}

/// Expires the signing requests that ran out and writes the reminders that are due.
pub async fn sweep(state: &Service) -> Result<(), StoreError> {
    let now = state.clock.now();
    let list = state
        .store()
        .list_cases(&CaseFilter {
            statuses: vec![Status::Signing],
            limit: 10_000,
            ..CaseFilter::default()
        })
        .await?;
    for summary in list {
        let Some(c) = state.store().get_case(&summary.id).await? else {
            continue;
        };
        let expired = case::requested_signers(&c).any(|i| {
            matches!(c.signatures[i].state, SignatureState::Requested { expires_at, .. } if now > expires_at)
        });
        if expired {
            expire(state, &c, now).await;
            continue;
        }
        let reminders = state.notifier.reminders(&c, now);
        if !reminders.is_empty() {
            state.store().enqueue(&reminders).await?;
        }
    }
    Ok(())
}

async fn expire(state: &Service, c: &blankett_core::case::Case, now: Timestamp) {
    let Ok(flow) = state.flow_of(c).await else {
        return;
    };
    // The scheduler acts; the command records no person and the role `system`.
    let actor = Actor {
        person: c.assignee.clone().unwrap_or_else(|| c.applicant.clone()),
        case_worker: true,
    };
    let store = state.store().as_ref();
    match commands::run(store, &flow, c, &actor, c.revision, Command::Expire, now).await {
        Ok(_) => tracing::info!(case_id = %c.id, "signing request expired"),
        // Another instance (or the signer, just in time) was first.
        Err(
            CommandError::Stale
            | CommandError::Refused(CaseError::InvalidTransition { .. } | CaseError::Conflict { .. }),
        ) => {}
        Err(CommandError::Refused(e)) => {
            tracing::warn!(case_id = %c.id, error = %e, "a signing request could not be expired");
        }
        Err(CommandError::Store(e)) => {
            tracing::warn!(case_id = %c.id, error = %e, "expiring failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped_at_an_hour() {
        assert_eq!(backoff(1000, 1), Duration::from_secs(1));
        assert_eq!(backoff(1000, 2), Duration::from_secs(2));
        assert_eq!(backoff(1000, 4), Duration::from_secs(8));
        assert_eq!(backoff(30_000, 30), Duration::from_secs(3600));
    }

    #[test]
    fn webhook_signature_is_hmac_sha256_of_timestamp_dot_body() {
        let hook = Webhook {
            name: "arkiv".into(),
            url: "https://example.invalid/hook".into(),
            secret: "0123456789abcdef".into(),
            events: vec![],
            flows: vec![],
        };
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 0123456789abcdef
        assert_eq!(
            sign_webhook(&hook, 1_700_000_000, br#"{"a":1}"#).as_deref(),
            Some("9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23")
        );
    }
}
