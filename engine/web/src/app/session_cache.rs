//! This instance's short-lived copies of sessions, so that a request of a session seen in the
//! last two seconds reads nothing from the database (on SQLite that was a third of a step
//! save's cost).
//!
//! The copy is written through: whatever this instance changes (login, logout, a notice) it
//! changes in the database and in the copy at once, so one instance alone is always exact.
//! With several instances on one PostgreSQL, a change made by another instance (a logout
//! there) is seen here within [`SESSION_CACHE_SECS`].
//!
//! The one subtle rule: a copy read from the database is kept only if this instance wrote
//! nothing to that session since the read began. Otherwise a concurrent request's read that
//! predates a write (the QR image polled while the status poll records a failed login's
//! notice) would replace the newer copy with the older one, and the notice would be lost.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use blankett_core::time::Timestamp;

use super::session::SessionData;

/// How long this instance trusts its own copy of a session before reading the database again.
pub(crate) const SESSION_CACHE_SECS: u64 = 2;

/// How many sessions the cache holds before it forgets those it has not used lately.
const SESSION_CACHE_MAX: usize = 10_000;

/// A cached session, or (with `data: None`) the mark that this instance just ended or replaced
/// it: a request that read the session from the database before that must not bring it back.
struct Cached {
    fetched: Instant,
    data: Option<SessionData>,
    expires_at: Timestamp,
    /// This instance's write count when the copy was made.
    writes: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Cached>,
    /// Every write of this instance counts one.
    writes: u64,
}

/// The cache, keyed by the hash of the session token.
pub(crate) struct SessionCache {
    inner: Mutex<Inner>,
    ttl: Duration,
}

/// Where a read from the database began (see [`SessionCache::begin_read`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadTicket(u64);

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache::new(Duration::from_secs(SESSION_CACHE_SECS))
    }
}

impl SessionCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        SessionCache {
            inner: Mutex::new(Inner::default()),
            ttl,
        }
    }

    /// A fresh copy of a session that has not expired at `now`.
    pub(crate) fn get(&self, hash: &str, now: Timestamp) -> Option<(SessionData, Timestamp)> {
        let inner = self.inner.lock().ok()?;
        inner
            .map
            .get(hash)
            .filter(|c| c.fetched.elapsed() < self.ttl && c.expires_at > now)
            .and_then(|c| c.data.clone().map(|d| (d, c.expires_at)))
    }

    /// Call before reading a session from the database; pass the ticket to
    /// [`SessionCache::put_read`] with what was read.
    pub(crate) fn begin_read(&self) -> ReadTicket {
        ReadTicket(self.inner.lock().map(|i| i.writes).unwrap_or(u64::MAX))
    }

    /// Keeps a copy of a session read from the database, unless this instance wrote, replaced
    /// or ended it after the read began: that copy is newer and stays.
    pub(crate) fn put_read(
        &self,
        hash: &str,
        data: &SessionData,
        expires_at: Timestamp,
        ticket: ReadTicket,
    ) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let newer = inner.map.get(hash).is_some_and(|c| {
            c.writes > ticket.0 || (c.data.is_none() && c.fetched.elapsed() < self.ttl)
        });
        if !newer {
            self.insert(&mut inner, hash, Some((data, expires_at)), ticket.0);
        }
    }

    /// Keeps the copy of a session this instance has just written, or (with `None`) marks it
    /// ended or replaced.
    pub(crate) fn put_written(&self, hash: &str, session: Option<(&SessionData, Timestamp)>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.writes += 1;
        let writes = inner.writes;
        self.insert(&mut inner, hash, session, writes);
    }

    fn insert(
        &self,
        inner: &mut Inner,
        hash: &str,
        session: Option<(&SessionData, Timestamp)>,
        writes: u64,
    ) {
        if inner.map.len() >= SESSION_CACHE_MAX && !inner.map.contains_key(hash) {
            let ttl = self.ttl;
            inner.map.retain(|_, c| c.fetched.elapsed() < ttl);
            if inner.map.len() >= SESSION_CACHE_MAX {
                inner.map.clear();
            }
        }
        let (data, expires_at) = match session {
            Some((data, expires_at)) => {
                let mut data = data.clone();
                data.extend = false;
                (Some(data), expires_at)
            }
            None => (None, Timestamp::MAX),
        };
        inner.map.insert(
            hash.to_owned(),
            Cached {
                fetched: Instant::now(),
                data,
                expires_at,
                writes,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later() -> Timestamp {
        chrono::DateTime::from_timestamp(4_000_000_000, 0)
            .map(Timestamp::from_utc)
            .unwrap_or(Timestamp::MAX)
    }

    fn now() -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .map(Timestamp::from_utc)
            .unwrap_or(Timestamp::MAX)
    }

    fn with_notice(text: &str) -> SessionData {
        SessionData {
            notice: Some((text.to_owned(), text.to_owned())),
            ..SessionData::default()
        }
    }

    fn notice_of(c: &SessionCache, hash: &str) -> Option<String> {
        c.get(hash, now()).and_then(|(d, _)| d.notice.map(|n| n.0))
    }

    #[test]
    fn a_read_that_began_before_a_write_does_not_replace_it() {
        let c = SessionCache::new(Duration::from_secs(60));
        // The QR poll begins reading the row (no notice yet) …
        let ticket = c.begin_read();
        // … the status poll records the failed login's notice …
        c.put_written("h", Some((&with_notice("Avbruten"), later())));
        // … and the QR poll's older row arrives.
        c.put_read("h", &SessionData::default(), later(), ticket);
        assert_eq!(notice_of(&c, "h").as_deref(), Some("Avbruten"));
    }

    #[test]
    fn a_read_that_began_after_the_write_is_kept() {
        let c = SessionCache::new(Duration::from_secs(60));
        c.put_written("h", Some((&with_notice("old"), later())));
        let ticket = c.begin_read();
        c.put_read("h", &with_notice("from another instance"), later(), ticket);
        assert_eq!(notice_of(&c, "h").as_deref(), Some("from another instance"));
    }

    #[test]
    fn an_ended_session_is_not_brought_back_by_an_older_read() {
        let c = SessionCache::new(Duration::from_secs(60));
        let ticket = c.begin_read();
        c.put_written("h", None);
        c.put_read("h", &with_notice("x"), later(), ticket);
        assert!(c.get("h", now()).is_none());
        // Nor by a read that began after the end mark while the mark is fresh: the row may
        // not have been deleted yet.
        let ticket = c.begin_read();
        c.put_read("h", &with_notice("x"), later(), ticket);
        assert!(c.get("h", now()).is_none());
    }

    #[test]
    fn writes_to_other_sessions_do_not_block_unrelated_reads_forever() {
        let c = SessionCache::new(Duration::from_secs(60));
        let ticket = c.begin_read();
        c.put_written("other", Some((&SessionData::default(), later())));
        // No copy of "h" exists, so the read is the best word on it.
        c.put_read("h", &with_notice("read"), later(), ticket);
        assert_eq!(notice_of(&c, "h").as_deref(), Some("read"));
    }

    #[test]
    fn copies_age_out_and_expired_sessions_are_not_served() {
        let c = SessionCache::new(Duration::ZERO);
        c.put_written("h", Some((&with_notice("x"), later())));
        assert!(c.get("h", now()).is_none());
        let c = SessionCache::new(Duration::from_secs(60));
        c.put_written("h", Some((&with_notice("x"), now())));
        assert!(c.get("h", now()).is_none());
    }
}
