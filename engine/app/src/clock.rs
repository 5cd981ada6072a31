//! The engine's clock: the one place that reads the system time, and the [`Clock`] port the
//! server is given (the system clock when it runs; a [`ManualClock`] in tests, which move time
//! instead of waiting).
//!
//! The engine works in the municipality's civil time (Swedish time, with daylight saving),
//! because that is what dates in documents and deadlines mean to the people reading them.

use std::sync::Mutex;

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;

/// Where the server reads the time.
pub trait Clock: Send + Sync + 'static {
    /// The current time in UTC.
    fn now_utc(&self) -> DateTime<Utc>;

    /// The current Swedish time and its offset from UTC in minutes.
    fn now_local(&self) -> (NaiveDateTime, i32) {
        local_of(self.now_utc())
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

/// A UTC time as Swedish time, with the offset from UTC in minutes.
pub fn local_of(utc: DateTime<Utc>) -> (NaiveDateTime, i32) {
    let local = utc.with_timezone(&Stockholm);
    (
        local.naive_local(),
        local.offset().fix().local_minus_utc() / 60,
    )
}

/// The current local time and its offset from UTC in minutes.
pub fn now_local() -> (NaiveDateTime, i32) {
    #[allow(clippy::disallowed_methods)] // the one clock read
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let utc = Utc
        .timestamp_opt(since_epoch.as_secs() as i64, 0)
        .single()
        .unwrap_or_default();
    let local = utc.with_timezone(&Stockholm);
    (
        local.naive_local(),
        local.offset().fix().local_minus_utc() / 60,
    )
}

/// The UTC offset (minutes) of a local time given on the command line; the earlier one
/// when the clock is set back in autumn.
pub fn offset_of(local: NaiveDateTime) -> i32 {
    Stockholm
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.offset().fix().local_minus_utc() / 60)
        .unwrap_or(60)
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
