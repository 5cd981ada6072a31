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
