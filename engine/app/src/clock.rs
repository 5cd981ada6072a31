//! The engine's clock: the one place that reads the system time, and the [`Clock`] port the
//! server is given (the system clock when it runs; a [`ManualClock`] in tests, which move time
//! instead of waiting).
//!
//! The clock gives a [`Timestamp`], a moment in UTC; people are shown it in Swedish time (the
//! one time rule, see [`blankett_core::time`]).

use std::sync::Mutex;

pub use blankett_core::time::Timestamp;
use chrono::{DateTime, TimeZone, Utc};

/// Where the server reads the time.
pub trait Clock: Send + Sync + 'static {
    /// The current time in UTC.
    fn now_utc(&self) -> DateTime<Utc>;

    /// The current moment.
    fn now(&self) -> Timestamp {
        Timestamp::from_utc(self.now_utc())
    }
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc(&self) -> DateTime<Utc> {
        now_utc()
    }
}

/// A clock that stands still until it is set or moved (for tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> ManualClock {
        ManualClock(Mutex::new(at))
    }

    /// Moves the clock on by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }

    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = at;
        }
    }
}

impl Clock for ManualClock {
    fn now_utc(&self) -> DateTime<Utc> {
        self.0.lock().map(|t| *t).unwrap_or_default()
    }
}

/// The system's clock moved on by however much a test has stepped it (for tests whose
/// background work must still see time pass, and that jump ahead instead of waiting).
#[derive(Debug, Default)]
pub struct SteppedClock(Mutex<chrono::Duration>);

impl SteppedClock {
    pub fn new() -> SteppedClock {
        SteppedClock::default()
    }

    /// Moves the clock on by `by` (and keeps it running from there).
    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut ahead) = self.0.lock() {
            *ahead += by;
        }
    }
}

impl Clock for SteppedClock {
    fn now_utc(&self) -> DateTime<Utc> {
        let ahead = self.0.lock().map(|a| *a).unwrap_or_default();
        now_utc() + ahead
    }
}

/// The current time in UTC (signing times, certificate validity, timestamps).
pub fn now_utc() -> chrono::DateTime<Utc> {
    #[allow(clippy::disallowed_methods)] // the one clock read
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Utc.timestamp_opt(since_epoch.as_secs() as i64, since_epoch.subsec_nanos())
        .single()
        .unwrap_or_default()
}
