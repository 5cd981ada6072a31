//! A configured secret (a password, an HMAC key, an API token in a header): read from the
//! configuration like a string, but never shown by `Debug` or `Display`, so that a logged
//! configuration or error cannot carry it.

use serde::{Deserialize, Deserializer};

/// A secret string; [`Secret::expose`] is the one way to its value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that needs it (a TLS key store, an SMTP login, an HMAC).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn it_reads_like_a_string() {
        #[derive(Deserialize, Debug)]
        struct C {
            password: Option<Secret>,
        }
        let c: Result<C, _> = serde_json::from_str(r#"{"password":"pw-123"}"#);
        assert_eq!(
            c.ok()
                .and_then(|c| c.password)
                .map(|p| p.expose().to_owned()),
            Some("pw-123".to_owned())
        );
    }
}
