//! The one time rule: **a moment is kept as UTC and shown in Swedish time.**
//!
//! [`Timestamp`] is a moment in UTC. It is what the case machine is given as `now`, what every
//! stored time is (text `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, fixed width, so it sorts as text on
//! both databases) and what JSON carries (the same text). It has no `Display` and no `format`:
//! a person sees a time only through [`Timestamp::local`] (Swedish civil time,
//! Europe/Stockholm with daylight saving) or [`Timestamp::swedish`] (the same with its UTC
//! offset, for RFC 3339 text): a page or text must choose one of the two. Its `Debug` and its
//! serde form are the stored UTC text, for storage, JSON and logs, not for people.
//!
//! Civil-time rules that people count in stay in civil time: "N days" for a signing deadline
//! is N calendar days in Sweden ([`Timestamp::plus_local_days`]), `today` in an expression is
//! the Swedish date, and a case number's year is the Swedish year.
//!
//! Times stored before the rule (case times in Swedish local time without an offset) are read
//! as Swedish time by [`Timestamp::from_local`]: the earlier of the two moments in the repeated
//! autumn hour, and a time in the skipped spring hour as winter time (UTC+1; 02:30 is 03:30
//! summer time). The store's
//! migration `m20261207_000001_utc_times` converts them once.

use std::fmt;

use chrono::{
    DateTime, Days, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc,
};
use chrono_tz::Europe::Stockholm;
use serde::{Deserialize, Serialize};

/// How a moment is stored and sent: UTC, nanoseconds, `Z`; fixed width so text order is time
/// order.
pub const STORED_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.9fZ";

/// A moment, in UTC. See the module docs for the rule.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The latest moment there is (for "never expires").
    pub const MAX: Timestamp = Timestamp(DateTime::<Utc>::MAX_UTC);

    /// The moment a UTC time names.
    pub fn from_utc(t: DateTime<Utc>) -> Timestamp {
        Timestamp(t)
    }

    /// The moment a Swedish civil time names: the earlier one in the repeated autumn hour; a time
    /// in the skipped spring hour is read as winter time (UTC+1), one hour on in summer time.
    pub fn from_local(local: NaiveDateTime) -> Timestamp {
        match Stockholm.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Timestamp(t.to_utc()),
            LocalResult::None => {
                // In the spring gap (02:00–03:00 is skipped): read as winter time, so 02:30 is
                // 03:30 summer time.
                let winter = FixedOffset::east_opt(3600).unwrap_or(Utc.fix());
                match winter.from_local_datetime(&local) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Timestamp(t.to_utc()),
                    LocalResult::None => Timestamp(local.and_utc()),
                }
            }
        }
    }

    /// The time in UTC (signing times, certificates, webhooks).
    pub fn utc(self) -> DateTime<Utc> {
        self.0
    }

    /// The Swedish civil time of this moment, as people read it.
    pub fn local(self) -> NaiveDateTime {
        self.0.with_timezone(&Stockholm).naive_local()
    }

    /// The Swedish date of this moment.
    pub fn local_date(self) -> NaiveDate {
        self.local().date()
    }

    /// The Swedish year of this moment: the year a case started now is numbered in.
    pub fn local_year(self) -> i32 {
        chrono::Datelike::year(&self.local_date())
    }

    /// The Swedish time with its offset from UTC (for RFC 3339 text, PDF dates).
    pub fn swedish(self) -> DateTime<FixedOffset> {
        let t = self.0.with_timezone(&Stockholm);
        t.with_timezone(&t.offset().fix())
    }

    /// The offset of Swedish time from UTC at this moment, in minutes (60 or 120).
    pub fn offset_minutes(self) -> i32 {
        self.0
            .with_timezone(&Stockholm)
            .offset()
            .fix()
            .local_minus_utc()
            / 60
    }

    /// The same Swedish wall-clock time `days` calendar days later (a deadline of N days is N
    /// days as people in Sweden count them, across a change to or from summer time).
    pub fn plus_local_days(self, days: u64) -> Timestamp {
        match self.local().checked_add_days(Days::new(days)) {
            Some(later) => Timestamp::from_local(later),
            None => self,
        }
    }

    /// The stored and sent text: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
    pub fn stored(self) -> String {
        // The same text as `STORED_FORMAT` gives, without parsing a format string each time.
        self.0.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    }

    /// Reads a time with an offset or `Z` (RFC 3339, or the stored form). A time without an
    /// offset is refused: see [`Timestamp::from_local`] for times from before the rule.
    pub fn parse(s: &str) -> Option<Timestamp> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| Timestamp(t.to_utc()))
    }

    /// Reads a time with an offset, or one without (from before the rule, or typed by a
    /// person) as Swedish civil time.
    pub fn parse_or_local(s: &str) -> Option<Timestamp> {
        if let Some(t) = Timestamp::parse(s) {
            return Some(t);
        }
        [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(Timestamp::from_local)
    }
}

impl std::ops::Add<chrono::Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: chrono::Duration) -> Timestamp {
        Timestamp(self.0 + d)
    }
}

impl std::ops::Sub<chrono::Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: chrono::Duration) -> Timestamp {
        Timestamp(self.0 - d)
    }
}

impl std::ops::Sub for Timestamp {
    type Output = chrono::Duration;
    fn sub(self, other: Timestamp) -> chrono::Duration {
        self.0 - other.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Timestamp {
        Timestamp(t)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stored())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.stored())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    /// Accepts the stored form and any RFC 3339 time; a time without an offset (a case stored
    /// before the rule) is Swedish civil time.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Timestamp::parse_or_local(&s)
            .ok_or_else(|| serde::de::Error::custom("not a time (RFC 3339 expected)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap_or_else(|| Timestamp::from_utc(DateTime::UNIX_EPOCH))
    }

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap_or_default()
    }

    #[test]
    fn a_summer_midnight_is_the_next_day_in_sweden() {
        let t = utc("2026-06-30T22:30:00Z");
        assert_eq!(t.local(), naive("2026-07-01T00:30:00"));
        assert_eq!(t.offset_minutes(), 120);
        assert_eq!(t.swedish().to_rfc3339(), "2026-07-01T00:30:00+02:00");
        assert_eq!(t.stored(), "2026-06-30T22:30:00.000000000Z");
    }

    #[test]
    fn new_year_comes_an_hour_earlier_in_sweden() {
        let t = utc("2026-12-31T23:30:00Z");
        assert_eq!(t.local_date().to_string(), "2027-01-01");
        assert_eq!(t.offset_minutes(), 60);
    }

    #[test]
    fn the_repeated_autumn_hour_keeps_its_two_offsets() {
        // 2026-10-25: 03:00 summer time becomes 02:00 winter time.
        let first = utc("2026-10-25T00:30:00Z");
        let second = utc("2026-10-25T01:30:00Z");
        assert_eq!(first.local(), second.local());
        assert_eq!(first.swedish().to_rfc3339(), "2026-10-25T02:30:00+02:00");
        assert_eq!(second.swedish().to_rfc3339(), "2026-10-25T02:30:00+01:00");
        // A local time from before the rule is the earlier moment.
        assert_eq!(Timestamp::from_local(naive("2026-10-25T02:30:00")), first);
    }

    #[test]
    fn a_time_in_the_skipped_spring_hour_is_read_as_winter_time() {
        // 2026-03-29: 02:00 winter time becomes 03:00 summer time.
        let t = Timestamp::from_local(naive("2026-03-29T02:30:00"));
        assert_eq!(t, utc("2026-03-29T01:30:00Z"));
        assert_eq!(t.local(), naive("2026-03-29T03:30:00"));
    }

    #[test]
    fn days_are_counted_in_swedish_calendar_days_across_a_clock_change() {
        let before = utc("2026-10-20T10:00:00Z"); // 12:00 summer time
        let later = before.plus_local_days(10);
        assert_eq!(later.local(), naive("2026-10-30T12:00:00"));
        assert_eq!(later - before, chrono::Duration::hours(241));
    }

    #[test]
    fn stored_text_sorts_as_time_and_reads_back() {
        let a = utc("2026-01-02T03:04:05.000000006Z");
        let b = a + chrono::Duration::nanoseconds(1);
        assert!(a.stored() < b.stored());
        assert_eq!(Timestamp::parse(&a.stored()), Some(a));
        let json = serde_json::to_string(&a).unwrap_or_default();
        assert_eq!(json, "\"2026-01-02T03:04:05.000000006Z\"");
        assert_eq!(a.stored(), a.utc().format(STORED_FORMAT).to_string());
        assert_eq!(serde_json::from_str::<Timestamp>(&json).ok(), Some(a));
    }

    #[test]
    fn a_time_from_before_the_rule_reads_as_swedish_time() {
        let old: Option<Timestamp> = serde_json::from_str("\"2026-07-01T00:30:00\"").ok();
        assert_eq!(old, Some(utc("2026-06-30T22:30:00Z")));
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }
}
