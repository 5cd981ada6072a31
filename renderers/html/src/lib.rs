//! The web pages of Blankett: a minijinja environment with the page templates, the
//! stylesheet and the one script, all compiled into the binary.
//!
//! Every template ends in `.html`, so auto-escaping is on for everything a page shows; no
//! template marks user data `|safe`. Pages get dedicated view models (`serde::Serialize`)
//! from `engine/web`, plus `lang` (`sv` or `en`), and translate their own fixed texts with
//! `tr("svenska", "English")`.
//!
//! The script (`static/blankett.js`) is progressive enhancement only (refreshing the QR code
//! and polling an eID order); every page works without it, and the Content-Security-Policy
//! allows no inline script.

use minijinja::{Environment, State, Value};
use serde::Serialize;

/// A page could not be rendered (a bug in a template or a view model).
#[derive(Debug, thiserror::Error)]
#[error("page `{name}`: {message}")]
pub struct PageError {
    pub name: String,
    pub message: String,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    (
        "catalogue.html",
        include_str!("../templates/catalogue.html"),
    ),
    ("step.html", include_str!("../templates/step.html")),
    ("review.html", include_str!("../templates/review.html")),
    ("receipt.html", include_str!("../templates/receipt.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("eid_wait.html", include_str!("../templates/eid_wait.html")),
    ("test_eid.html", include_str!("../templates/test_eid.html")),
    ("my_pages.html", include_str!("../templates/my_pages.html")),
    ("inbox.html", include_str!("../templates/inbox.html")),
    ("case.html", include_str!("../templates/case.html")),
    ("sign.html", include_str!("../templates/sign.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("outbox.html", include_str!("../templates/outbox.html")),
];

/// A static file: bytes and content type.
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

/// The static files, by name under `/static/`.
pub fn asset(name: &str) -> Option<Asset> {
    match name {
        "blankett.css" => Some(Asset {
            bytes: include_bytes!("../static/blankett.css"),
            content_type: "text/css; charset=utf-8",
        }),
        "blankett.js" => Some(Asset {
            bytes: include_bytes!("../static/blankett.js"),
            content_type: "text/javascript; charset=utf-8",
        }),
        _ => None,
    }
}

/// The compiled templates.
pub struct Pages {
    env: Environment<'static>,
}

fn tr(state: &State, sv: String, en: String) -> String {
    let lang = state.lookup("lang");
    if lang.as_ref().and_then(Value::as_str) == Some("en") {
        en
    } else {
        sv
    }
}

impl Pages {
    /// Loads every template; an error here is a bug caught by the tests.
    pub fn new() -> Result<Pages, PageError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_function("tr", tr);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).map_err(|e| PageError {
                name: (*name).to_owned(),
                message: format!("{e:#}"),
            })?;
        }
        Ok(Pages { env })
    }

    /// Renders the page `name` (e.g. `catalogue.html`) with `context`.
    pub fn render<S: Serialize>(&self, name: &str, context: &S) -> Result<String, PageError> {
        let err = |e: minijinja::Error| PageError {
            name: name.to_owned(),
            message: format!("{e:#}"),
        };
        self.env
            .get_template(name)
            .map_err(err)?
            .render(Value::from(minijinja::value::Serde(context)))
            .map_err(err)
    }

    /// The names of all page templates (for tests that render each one).
    pub fn names() -> impl Iterator<Item = &'static str> {
        TEMPLATES.iter().map(|(n, _)| *n)
    }
}

/// The notification texts, one template per event under `messages/`, each with the blocks
/// `subject`, `email` and `sms`. Plain text (no auto-escaping: nothing is HTML); Swedish first,
/// then English. Their context holds only the e-service's name, the site's name and a link.
const MESSAGES: &[(&str, &str)] = &[
    ("submitted", include_str!("../messages/submitted.txt")),
    ("returned", include_str!("../messages/returned.txt")),
    (
        "signature_requested",
        include_str!("../messages/signature_requested.txt"),
    ),
    ("reminder", include_str!("../messages/reminder.txt")),
    (
        "signing_expired",
        include_str!("../messages/signing_expired.txt"),
    ),
    ("declined", include_str!("../messages/declined.txt")),
    ("completed", include_str!("../messages/completed.txt")),
    ("rejected", include_str!("../messages/rejected.txt")),
];

/// A notification, rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageText {
    pub subject: String,
    pub email: String,
    pub sms: String,
}

/// The compiled notification templates.
pub struct Messages {
    env: Environment<'static>,
}

impl Messages {
    pub fn new() -> Result<Messages, PageError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        for (name, source) in MESSAGES {
            env.add_template(name, source).map_err(|e| PageError {
                name: (*name).to_owned(),
                message: format!("{e:#}"),
            })?;
        }
        Ok(Messages { env })
    }

    /// The texts of the message for `event` (`signature_requested`, …).
    pub fn render<S: Serialize>(&self, event: &str, context: &S) -> Result<MessageText, PageError> {
        let err = |e: minijinja::Error| PageError {
            name: event.to_owned(),
            message: format!("{e:#}"),
        };
        let mut captured = self
            .env
            .get_template(event)
            .map_err(err)?
            .render_captured(Value::from(minijinja::value::Serde(context)))
            .map_err(err)?;
        let mut block = |name: &str| -> Result<String, PageError> {
            let text = captured
                .with_state_mut(|s| s.render_block(name))
                .map_err(err)?;
            Ok(text.trim().to_owned())
        };
        Ok(MessageText {
            subject: block("subject")?,
            email: block("email")?,
            sms: block("sms")?,
        })
    }

    /// The events that have a message.
    pub fn events() -> impl Iterator<Item = &'static str> {
        MESSAGES.iter().map(|(n, _)| *n)
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod message_tests {
    use super::*;

    #[test]
    fn every_message_renders_without_escaping_and_with_its_link() {
        let m = Messages::new().expect("templates");
        let ctx = serde_json::json!({
            "service_sv": "Avtal & överenskommelse",
            "service_en": "Agreement & contract",
            "site": "Exempelstads kommun",
            "link": "https://e.example/cases/1/sign",
        });
        for event in Messages::events() {
            let t = m.render(event, &ctx).expect(event);
            assert!(
                !t.subject.is_empty() && !t.subject.contains('\n'),
                "{event}"
            );
            assert!(
                t.email.contains("https://e.example/cases/1/sign"),
                "{event}"
            );
            assert!(
                t.email.contains("Avtal & överenskommelse"),
                "{event}: not escaped"
            );
            assert!(t.email.contains("Agreement & contract"), "{event}");
            assert!(t.sms.contains("https://e.example/cases/1/sign"), "{event}");
            assert!(t.sms.len() < 320, "{event}: sms is {} bytes", t.sms.len());
        }
    }
}
