//! The engine's clock: the one place that reads the system time.
//!
//! The engine works in the municipality's civil time (Swedish time, with daylight saving),
//! because that is what dates in documents and deadlines mean to the people reading them.

use chrono::{NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;

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
