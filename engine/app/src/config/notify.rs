//! The configuration of notifications: `[notify]` (SMTP, the SMS gateway, the worker's
//! timing), `[[webhooks]]` and `[[directory]]`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use blankett_core::ids::Personnummer;
use blankett_core::secret::Secret;
use blankett_core::store::WebhookEvent;
use serde::Deserialize;

/// `[notify]`: how messages leave. Without `smtp` (and `sms`), messages are written to the
/// development mailbox folder instead, which production refuses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    #[serde(default)]
    pub smtp: Option<Smtp>,
    #[serde(default)]
    pub sms: Option<SmsGateway>,
    /// The development mailbox: one file per message (default `{data_dir}/mailbox`).
    #[serde(default)]
    pub mailbox_dir: Option<PathBuf>,
    /// Whether this instance delivers messages (all instances write them). Default true.
    #[serde(default = "yes")]
    pub worker: bool,
    /// How often the worker looks for due messages written by other instances, in ms.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// How long a claimed message is held by its worker, in seconds: a worker that dies
    /// releases its messages after this long, and another instance retries them.
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// The wait before the first retry, in ms; it doubles with every attempt (at most an hour).
    #[serde(default = "default_retry_base_ms")]
    pub retry_base_ms: u64,
    /// Attempts before a message is given up and shown as failed.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// How often reminders and expired signing requests are looked for, in seconds.
    #[serde(default = "default_sweep_secs")]
    pub sweep_secs: u64,
}

impl Default for NotifySection {
    fn default() -> Self {
        NotifySection {
            smtp: None,
            sms: None,
            mailbox_dir: None,
            worker: true,
            poll_ms: default_poll_ms(),
            lease_secs: default_lease_secs(),
            retry_base_ms: default_retry_base_ms(),
            max_attempts: default_max_attempts(),
            sweep_secs: default_sweep_secs(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_poll_ms() -> u64 {
    1000
}
fn default_lease_secs() -> u64 {
    120
}
fn default_retry_base_ms() -> u64 {
    30_000
}
fn default_max_attempts() -> u32 {
    8
}
fn default_sweep_secs() -> u64 {
    60
}

/// `[notify.smtp]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// The sender, e.g. `Exempelstads kommun <noreply@exempelstad.se>`.
    pub from: String,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

fn default_smtp_port() -> u16 {
    587
}
fn default_timeout_secs() -> u64 {
    30
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain SMTP upgraded with STARTTLS (port 587), required.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or in tests; refused in production.
    None,
}

/// `[notify.sms]`: a generic HTTP gateway. Each SMS is a JSON POST
/// `{"to": "+4670…", "text": "…", "sender": "…"}` with an `Idempotency-Key` header and the
/// configured headers (e.g. `Authorization`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsGateway {
    pub url: String,
    #[serde(default)]
    /// Sent with every request; their values (an API token) are secrets.
    pub headers: BTreeMap<String, Secret>,
    #[serde(default)]
    pub sender: Option<String>,
}

impl std::fmt::Debug for SmsGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsGateway")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// `[[webhooks]]`: an integration that is told about case events.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Unique; the outbox refers to the subscription by it.
    pub name: String,
    pub url: String,
    /// The HMAC-SHA256 key of the `Blankett-Signature` header (at least 16 characters).
    pub secret: Secret,
    /// `case.submitted`, `case.approved`, `case.signed`, `case.completed`, `case.rejected`,
    /// `case.withdrawn`; empty = all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Only cases of these flows; empty = all.
    #[serde(default)]
    pub flows: Vec<String>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// `[[directory]]`: where staff (case workers, decision-makers) are reached. A party's own
/// `email:`/`phone:` in the flow comes first.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub personnummer: Personnummer,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Contact(<redacted>)")
    }
}

/// The problems of this configuration (empty when fine).
pub fn problems(notify: &NotifySection, webhooks: &[Webhook], production: bool) -> Vec<String> {
    let mut out = Vec::new();
    if production && notify.smtp.is_none() {
        out.push(
            "production: no SMTP server is configured (notify.smtp); messages would only reach the development mailbox".to_owned(),
        );
    }
    if production
        && notify
            .smtp
            .as_ref()
            .is_some_and(|s| s.security == SmtpSecurity::None)
    {
        out.push("production: notify.smtp.security = \"none\" is refused".to_owned());
    }
    if let Some(sms) = &notify.sms
        && !(sms.url.starts_with("https://") || (!production && sms.url.starts_with("http://")))
    {
        out.push("notify.sms.url must start with https:// (http:// only in development)".into());
    }
    if notify.max_attempts == 0 {
        out.push("notify.max_attempts must be at least 1".into());
    }
    let mut names = std::collections::HashSet::new();
    for w in webhooks {
        if !names.insert(w.name.as_str()) {
            out.push(format!("webhooks: the name `{}` is used twice", w.name));
        }
        if w.secret.expose().chars().count() < 16 {
            out.push(format!(
                "webhooks.{}: the secret must be at least 16 characters",
                w.name
            ));
        }
        if !(w.url.starts_with("https://") || (!production && w.url.starts_with("http://"))) {
            out.push(format!(
                "webhooks.{}: the URL must start with https:// (http:// only in development)",
                w.name
            ));
        }
        for e in &w.events {
            if WebhookEvent::parse(e).is_none() {
                out.push(format!(
                    "webhooks.{}: unknown event `{e}` (one of {})",
                    w.name,
                    WebhookEvent::ALL.map(WebhookEvent::as_str).join(", ")
                ));
            }
        }
    }
    out
}
