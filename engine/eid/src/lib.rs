//! Identity providers for Blankett, adapters of the `blankett_core::eid` port.
//!
//! * [`bankid`] — BankID relying-party API v6.0 over mutual TLS;
//! * [`test_eid`] — the built-in test eID for development (refused in production);
//! * [`poll`] — collecting an order until it ends, with an injectable clock and sleep;
//! * [`config`] — the provider set from configuration;
//! * [`smoke`] — the operator's smoke test behind `blankett eid try`.
//!
//! Nothing here reads the clock: `now` comes from the caller; waiting goes through
//! [`Sleeper`], so tests never sleep.

pub mod bankid;
pub mod config;
pub mod poll;
pub mod smoke;
pub mod test_eid;

use std::time::Duration;

pub use blankett_core::eid::BoxFuture;

/// Waits. The engine uses [`TokioSleeper`]; tests use one that returns at once.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()>;
}

/// Waits with `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Which kind of installation this is; the test eID refuses production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Development,
    Test,
    Production,
}
