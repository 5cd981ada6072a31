//! One time rule: every stored time becomes UTC text of fixed width with `Z`
//! (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`).
//!
//! Before this migration a case's own times (`cases`, `case_events`, `documents`,
//! `signature_evidence`, `flow_versions.first_seen`, and the times inside the JSON of
//! `cases.data` and `case_events.data`) were Swedish local time without an offset, while
//! `sessions`, the outbox's delivery times and a reminder's `created_at` were UTC without an
//! offset. Swedish times are converted with the Europe/Stockholm rules: the earlier moment in
//! the repeated autumn hour, the end of the gap for a time in the skipped spring hour.
//!
//! Written in Rust so that it converts the same way on SQLite (which has no time zones) and
//! PostgreSQL (whose `AT TIME ZONE` resolves the autumn hour the other way). A value already
//! ending in `Z` is left alone, so a migration interrupted on SQLite can run again. Upgrade
//! with every instance stopped: an older binary cannot read the new form.

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, QueryResult, TransactionTrait};
use serde_json::Value;

#[derive(DeriveMigrationName)]
pub struct Migration;

const STORED: &str = "%Y-%m-%dT%H:%M:%S%.9fZ";

/// How an old value is to be read.
#[derive(Clone, Copy)]
enum Was {
    /// Swedish local time without an offset.
    Local,
    /// UTC without an offset.
    Utc,
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

fn stockholm_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    match Stockholm.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.to_utc(),
        // The skipped spring hour: its end, which is the same moment as the time in winter
        // time (UTC+1).
        LocalResult::None => {
            match FixedOffset::east_opt(3600).map(|o| o.from_local_datetime(&local)) {
                Some(LocalResult::Single(t)) | Some(LocalResult::Ambiguous(t, _)) => t.to_utc(),
                _ => local.and_utc(),
            }
        }
    }
}

/// The new text of an old value; `None` if it needs no change (already converted) or is not a
/// time this migration knows (left as it is rather than guessed).
fn convert(s: &str, was: Was) -> Option<String> {
    if s.ends_with('Z') {
        return None;
    }
    let naive = parse_naive(s)?;
    let utc = match was {
        Was::Local => stockholm_to_utc(naive),
        Was::Utc => naive.and_utc(),
    };
    Some(utc.format(STORED).to_string())
}

/// Converts the value at `key` of a JSON object in place; whether it changed.
fn convert_json_at(v: &mut Value, key: &str) -> bool {
    let Some(slot) = v.get_mut(key) else {
        return false;
    };
    let Some(new) = slot.as_str().and_then(|s| convert(s, Was::Local)) else {
        return false;
    };
    *slot = Value::String(new);
    true
}

/// The times inside a case's JSON: its own and each signature state's.
fn convert_case_json(v: &mut Value) -> bool {
    let mut changed = convert_json_at(v, "created_at");
    changed |= convert_json_at(v, "updated_at");
    if let Some(sigs) = v.get_mut("signatures").and_then(Value::as_array_mut) {
        for sig in sigs {
            if let Some(state) = sig.get_mut("state") {
                changed |= convert_json_at(state, "at");
                changed |= convert_json_at(state, "expires_at");
            }
        }
    }
    changed
}

/// One column of one table: its key columns, and how its old values are to be read.
struct Column {
    table: &'static str,
    keys: &'static [&'static str],
    column: &'static str,
    was: Was,
}

const COLUMNS: &[Column] = &[
    Column {
        table: "flow_versions",
        keys: &["content_hash"],
        column: "first_seen",
        was: Was::Local,
    },
    Column {
        table: "cases",
        keys: &["id"],
        column: "created_at",
        was: Was::Local,
    },
    Column {
        table: "cases",
        keys: &["id"],
        column: "updated_at",
        was: Was::Local,
    },
    Column {
        table: "case_events",
        keys: &["id"],
        column: "at",
        was: Was::Local,
    },
    Column {
        table: "documents",
        keys: &["case_id", "version"],
        column: "created_at",
        was: Was::Local,
    },
    Column {
        table: "signature_evidence",
        keys: &["id"],
        column: "created_at",
        was: Was::Local,
    },
    Column {
        table: "sessions",
        keys: &["id_hash"],
        column: "expires_at",
        was: Was::Utc,
    },
    Column {
        table: "outbox",
        keys: &["id"],
        column: "next_attempt_at",
        was: Was::Utc,
    },
    Column {
        table: "outbox",
        keys: &["id"],
        column: "locked_until",
        was: Was::Utc,
    },
    Column {
        table: "outbox",
        keys: &["id"],
        column: "sent_at",
        was: Was::Utc,
    },
];

fn key_value(row: &QueryResult, key: &str) -> Result<sea_orm_migration::sea_orm::Value, DbErr> {
    // Keys are text or integers.
    if let Ok(v) = row.try_get::<String>("", key) {
        return Ok(v.into());
    }
    if let Ok(v) = row.try_get::<i64>("", key) {
        return Ok(v.into());
    }
    let v: i32 = row.try_get("", key)?;
    Ok(v.into())
}

async fn convert_column<C: ConnectionTrait>(db: &C, c: &Column) -> Result<u64, DbErr> {
    let mut select = Query::select();
    select
        .from(Alias::new(c.table))
        .column(Alias::new(c.column));
    for k in c.keys {
        select.column(Alias::new(*k));
    }
    let mut changed = 0;
    for row in db.query_all(&select).await? {
        let Some(old) = row.try_get::<Option<String>>("", c.column)? else {
            continue;
        };
        let Some(new) = convert(&old, c.was) else {
            continue;
        };
        let mut update = Query::update();
        update
            .table(Alias::new(c.table))
            .value(Alias::new(c.column), new);
        for k in c.keys {
            update.and_where(Expr::col(Alias::new(*k)).eq(key_value(&row, k)?));
        }
        db.execute(&update).await?;
        changed += 1;
    }
    Ok(changed)
}

/// `outbox.created_at` was the case's local time for messages a case change wrote, and UTC for
/// reminders (the only messages written apart from a case change).
async fn convert_outbox_created<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let select = Query::select()
        .from(Alias::new("outbox"))
        .columns([
            Alias::new("id"),
            Alias::new("topic"),
            Alias::new("created_at"),
        ])
        .to_owned();
    for row in db.query_all(&select).await? {
        let id: i64 = row.try_get("", "id")?;
        let topic: String = row.try_get("", "topic")?;
        let old: String = row.try_get("", "created_at")?;
        let was = if topic == "reminder" {
            Was::Utc
        } else {
            Was::Local
        };
        let Some(new) = convert(&old, was) else {
            continue;
        };
        let update = Query::update()
            .table(Alias::new("outbox"))
            .value(Alias::new("created_at"), new)
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .to_owned();
        db.execute(&update).await?;
    }
    Ok(())
}

/// The JSON column `data` of `table` (keyed by `key`), through `f`.
async fn convert_json_column<C: ConnectionTrait>(
    db: &C,
    table: &'static str,
    key: &'static str,
    f: fn(&mut Value) -> bool,
) -> Result<(), DbErr> {
    let select = Query::select()
        .from(Alias::new(table))
        .columns([Alias::new(key), Alias::new("data")])
        .to_owned();
    for row in db.query_all(&select).await? {
        let data: String = row.try_get("", "data")?;
        let Ok(mut v) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        if !f(&mut v) {
            continue;
        }
        let update = Query::update()
            .table(Alias::new(table))
            .value(Alias::new("data"), v.to_string())
            .and_where(Expr::col(Alias::new(key)).eq(key_value(&row, key)?))
            .to_owned();
        db.execute(&update).await?;
    }
    Ok(())
}

fn convert_event_json(v: &mut Value) -> bool {
    convert_json_at(v, "at")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let txn = manager.get_connection().begin().await?;
        for c in COLUMNS {
            convert_column(&txn, c).await?;
        }
        convert_outbox_created(&txn).await?;
        convert_json_column(&txn, "cases", "id", convert_case_json).await?;
        convert_json_column(&txn, "case_events", "id", convert_event_json).await?;
        txn.commit().await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the UTC times cannot be turned back into local times: restore a backup".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_become_utc_by_the_swedish_rules() {
        assert_eq!(
            convert("2026-07-01T00:30:00.000000000", Was::Local).as_deref(),
            Some("2026-06-30T22:30:00.000000000Z")
        );
        assert_eq!(
            convert("2026-01-01T00:30:00", Was::Local).as_deref(),
            Some("2025-12-31T23:30:00.000000000Z")
        );
        // The repeated autumn hour: the earlier moment (summer time).
        assert_eq!(
            convert("2026-10-25T02:30:00", Was::Local).as_deref(),
            Some("2026-10-25T00:30:00.000000000Z")
        );
        // The skipped spring hour: the gap's end.
        assert_eq!(
            convert("2026-03-29T02:30:00", Was::Local).as_deref(),
            Some("2026-03-29T01:30:00.000000000Z")
        );
    }

    #[test]
    fn utc_times_get_their_z_and_converted_values_are_left_alone() {
        assert_eq!(
            convert("2026-07-01T00:30:00.5", Was::Utc).as_deref(),
            Some("2026-07-01T00:30:00.500000000Z")
        );
        assert_eq!(convert("2026-06-30T22:30:00.000000000Z", Was::Local), None);
        assert_eq!(convert("not a time", Was::Local), None);
    }

    #[test]
    fn a_case_json_has_its_own_and_its_signatures_times_converted() {
        let mut v = serde_json::json!({
            "created_at": "2026-07-01T00:30:00",
            "updated_at": "2026-07-01T00:31:00",
            "answers": {"when": "2026-07-01T00:30:00"},
            "signatures": [{"state": {"state": "requested", "at": "2026-07-01T00:31:00",
                                      "expires_at": "2026-07-15T00:31:00"}},
                           {"state": {"state": "waiting"}}]
        });
        assert!(convert_case_json(&mut v));
        assert_eq!(v["created_at"], "2026-06-30T22:30:00.000000000Z");
        assert_eq!(
            v["signatures"][0]["state"]["expires_at"],
            "2026-07-14T22:31:00.000000000Z"
        );
        // Answers are the person's words, not times of the engine: untouched.
        assert_eq!(v["answers"]["when"], "2026-07-01T00:30:00");
        assert!(!convert_case_json(&mut v));
    }
}
