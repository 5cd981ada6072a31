//! Sessions: a random cookie value whose SHA-256 keys a row in the database, so several
//! server instances share sessions through one PostgreSQL. The row holds who is logged in,
//! the CSRF token, the language and a pending eID order.

use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blankett_core::eid::OrderHandle;
use blankett_core::ids::Personnummer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "blankett_session";

/// The cookie that carries the CSRF token of a visitor who has no session yet (double submit:
/// the form's hidden field must equal it). With secure cookies it is `__Host-` prefixed, so a
/// neighbouring subdomain cannot set it.
pub const CSRF_COOKIE: &str = "blankett_csrf";
pub const CSRF_COOKIE_SECURE: &str = "__Host-blankett_csrf";

/// Who is logged in.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub personnummer: Personnummer,
    pub name: String,
    /// The eID provider used (`test`, `bankid`).
    pub provider: String,
}

/// An item removed from a repeating group, kept so that the removal can be undone.
#[derive(Clone, Serialize, Deserialize)]
pub struct RemovedItem {
    pub case_id: String,
    pub step: String,
    /// The group's dotted path in the step (`items`, `party.signatories`).
    pub group: String,
    pub index: usize,
    pub item: serde_json::Value,
    /// "Sammanträde 2" (Swedish, English).
    pub label: (String, String),
}

/// What a pending eID order is for.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "for", rename_all = "snake_case")]
pub enum Purpose {
    Login {
        next: String,
    },
    Sign {
        case_id: String,
        revision: u64,
        sha256: String,
    },
}

#[derive(Clone, Serialize, Deserialize)]
pub struct PendingOrder {
    pub handle: OrderHandle,
    pub purpose: Purpose,
    /// BankID: `other-device` shows the QR code, `same-device` the autostart link.
    pub same_device: bool,
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct SessionData {
    pub csrf: String,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub user: Option<SessionUser>,
    #[serde(default)]
    pub order: Option<PendingOrder>,
    /// A one-time message for the next page ("saved", "signed").
    #[serde(default)]
    pub notice: Option<(String, String)>,
    /// The e-service whose "Start" was pressed before logging in; started right after the
    /// login (`GET /e/{flow}/start`) without a second press.
    #[serde(default)]
    pub pending_start: Option<String>,
    /// The repeating-group item last removed on a step, until the next save: "Ångra" puts it
    /// back.
    #[serde(default)]
    pub removed: Option<RemovedItem>,
    /// Set when loaded close to expiry: the session layer then saves it with a new expiry.
    #[serde(skip)]
    pub extend: bool,
}

pub(crate) struct Inner {
    pub data: SessionData,
    /// The cookie value (the secret); `None` until the session is first saved.
    pub token: Option<String>,
    pub dirty: bool,
    /// Issue a new cookie value (after login: no session fixation).
    pub rotate: bool,
    /// Forget the session (logout).
    pub destroy: bool,
    /// The CSRF token of the `blankett_csrf` cookie (a visitor without a session).
    pub cookie_csrf: Option<String>,
    /// A new CSRF cookie is to be sent with the response.
    pub new_csrf_cookie: bool,
}

/// The request's session. Cheap to clone; never held locked across an `.await`.
#[derive(Clone)]
pub struct Session(pub(crate) Arc<Mutex<Inner>>);

impl Session {
    pub(crate) fn new(
        data: SessionData,
        token: Option<String>,
        cookie_csrf: Option<String>,
    ) -> Session {
        Session(Arc::new(Mutex::new(Inner {
            data,
            token,
            dirty: false,
            rotate: false,
            destroy: false,
            cookie_csrf,
            new_csrf_cookie: false,
        })))
    }

    /// Whether the visitor has a stored session (a session cookie that was found).
    pub fn has_token(&self) -> bool {
        self.lock().token.is_some()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the data half-written in a way that
        // matters more than losing the request; keep serving.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn read<T>(&self, f: impl FnOnce(&SessionData) -> T) -> T {
        f(&self.lock().data)
    }

    pub fn write<T>(&self, f: impl FnOnce(&mut SessionData) -> T) -> T {
        let mut inner = self.lock();
        inner.dirty = true;
        f(&mut inner.data)
    }

    /// The CSRF token for a form. A stored session has its own; a visitor without one gets
    /// a token in a cookie instead (created on first use), so that showing a page with a form
    /// stores nothing.
    pub fn csrf(&self) -> String {
        let mut inner = self.lock();
        if !inner.data.csrf.is_empty() {
            return inner.data.csrf.clone();
        }
        if let Some(t) = inner.cookie_csrf.clone() {
            return t;
        }
        let t = random_token();
        inner.cookie_csrf = Some(t.clone());
        inner.new_csrf_cookie = true;
        t
    }

    /// The token a form's `_csrf` must equal: the session's, or the cookie's.
    pub fn expected_csrf(&self) -> String {
        let inner = self.lock();
        if inner.data.csrf.is_empty() {
            inner.cookie_csrf.clone().unwrap_or_default()
        } else {
            inner.data.csrf.clone()
        }
    }

    pub fn user(&self) -> Option<SessionUser> {
        self.read(|d| d.user.clone())
    }

    pub fn log_in(&self, user: SessionUser) {
        let mut inner = self.lock();
        inner.data.user = Some(user);
        inner.data.csrf = random_token();
        inner.dirty = true;
        inner.rotate = true;
    }

    pub fn log_out(&self) {
        let mut inner = self.lock();
        inner.destroy = true;
        inner.data = SessionData::default();
    }

    pub fn take_notice(&self, lang_en: bool) -> Option<String> {
        let mut inner = self.lock();
        let n = inner.data.notice.take()?;
        inner.dirty = true;
        Some(if lang_en { n.1 } else { n.0 })
    }

    pub fn set_notice(&self, sv: impl Into<String>, en: impl Into<String>) {
        self.write(|d| d.notice = Some((sv.into(), en.into())));
    }
}

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    let mut buf = [0u8; 32];
    // getrandom fails only when the OS has no randomness source. Then the token is empty,
    // which `tokens_match` never accepts and the session layer never issues as a cookie:
    // everything fails closed.
    if getrandom::fill(&mut buf).is_err() {
        return String::new();
    }
    URL_SAFE_NO_PAD.encode(buf)
}

/// The database key of a cookie value.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two tokens in constant time; an empty expected token never matches.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The session cookie value from a `Cookie` header.
pub fn cookie_value(header: &str) -> Option<&str> {
    named_cookie(header, COOKIE)
}

/// The value of cookie `name` from a `Cookie` header.
pub fn named_cookie<'h>(header: &'h str, name: &str) -> Option<&'h str> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name && !v.is_empty()).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cookie_is_found_among_others() {
        assert_eq!(cookie_value("a=1; blankett_session=xyz; b=2"), Some("xyz"));
        assert_eq!(cookie_value("blankett_session_x=1"), None);
        assert_eq!(cookie_value("blankett_session="), None);
    }

    #[test]
    fn tokens_are_random_and_compared_strictly() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(tokens_match(&a, &a));
        assert!(!tokens_match(&a, &b));
        assert!(!tokens_match("", ""));
    }
}
