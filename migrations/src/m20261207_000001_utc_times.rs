//! One time rule: every stored time becomes UTC text of fixed width with `Z`
//! (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`).
//!
//! Before this migration a case's own times (`cases`, `case_events`, `documents`,
//! `signature_evidence`, `flow_versions.first_seen`, and the times inside the JSON of
//! `cases.data` and `case_events.data`) were Swedish local time without an offset, while
//! `sessions`, the outbox's delivery times and a reminder's `created_at` were UTC without an
//! offset. Swedish times are converted with the Europe/Stockholm rules: the earlier moment in
//! the repeated autumn hour; a time in the skipped spring hour (none was ever stored) as winter
//! time, UTC+1.
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
        // The skipped spring hour: read as winter time (UTC+1).
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

/// How many rows are read at a time: the migration's memory does not grow with the database.
const BATCH: u64 = 500;

/// Columns that held UTC in the store's old text form (`%Y-%m-%dT%H:%M:%S%.9f`, always 29
/// characters): their `Z` is appended in SQL, without reading them out. The last one is a
/// reminder's `created_at` (reminders were the only messages written apart from a case write).
const UTC_COLUMNS: &[(&str, &str, &str)] = &[
    ("sessions", "expires_at", ""),
    ("outbox", "next_attempt_at", ""),
    ("outbox", "locked_until", ""),
    ("outbox", "sent_at", ""),
    ("outbox", "created_at", " AND topic = 'reminder'"),
];

/// Columns that held Swedish local time (besides the case's own, converted with its JSON),
/// by table and the table's key columns.
const LOCAL_COLUMNS: &[(&str, &[&str], &str)] = &[
    ("flow_versions", &["content_hash"], "first_seen"),
    ("case_events", &["id"], "at"),
    ("documents", &["case_id", "version"], "created_at"),
    ("signature_evidence", &["id"], "created_at"),
    // A message a case write caused had the case's local time (reminders were done above).
    ("outbox", &["id"], "created_at"),
];

fn key_value(row: &QueryResult, key: &str) -> Result<sea_orm_migration::sea_orm::Value, DbErr> {
    // Keys are text or integers (int8 ids, the int4 document version on PostgreSQL).
    if let Ok(v) = row.try_get::<String>("", key) {
        return Ok(v.into());
    }
    if let Ok(v) = row.try_get::<i64>("", key) {
        return Ok(v.into());
    }
    let v: i32 = row.try_get("", key)?;
    Ok(v.into())
}

/// Appends the `Z` to the old UTC values, in SQL.
async fn convert_utc_columns<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    for (table, column, extra) in UTC_COLUMNS {
        db.execute_unprepared(&format!(
            "UPDATE {table} SET {column} = {column} || 'Z' \
             WHERE {column} IS NOT NULL AND {column} NOT LIKE '%Z' AND length({column}) = 29{extra}"
        ))
        .await?;
    }
    Ok(())
}

/// Converts the values of one column not yet converted, `BATCH` rows at a time: each batch
/// leaves the selection as it is converted. A value no Blankett version wrote is left as it is
/// (and ends the loop when a whole batch is such values).
async fn convert_column<C: ConnectionTrait>(
    db: &C,
    table: &str,
    keys: &[&str],
    column: &str,
    was: Was,
) -> Result<(), DbErr> {
    loop {
        let mut select = Query::select();
        select
            .from(Alias::new(table))
            .column(Alias::new(column))
            .and_where(Expr::col(Alias::new(column)).is_not_null())
            .and_where(Expr::col(Alias::new(column)).not_like("%Z"))
            .limit(BATCH);
        for k in keys {
            select.column(Alias::new(*k));
        }
        let rows = db.query_all(&select).await?;
        let mut changed = 0;
        for row in &rows {
            let old: String = row.try_get("", column)?;
            let Some(new) = convert(&old, was) else {
                continue;
            };
            let mut update = Query::update();
            update
                .table(Alias::new(table))
                .value(Alias::new(column), new);
            for k in keys {
                update.and_where(Expr::col(Alias::new(*k)).eq(key_value(row, k)?));
            }
            db.execute(&update).await?;
            changed += 1;
        }
        if changed == 0 {
            return Ok(());
        }
    }
}

/// The cases: their `created_at` and `updated_at` columns and the times inside their JSON,
/// one update per case, `BATCH` cases at a time in key order.
async fn convert_cases<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let mut after: Option<String> = None;
    loop {
        let mut select = Query::select();
        select
            .from(Alias::new("cases"))
            .columns([
                Alias::new("id"),
                Alias::new("created_at"),
                Alias::new("updated_at"),
                Alias::new("data"),
            ])
            .order_by(Alias::new("id"), Order::Asc)
            .limit(BATCH);
        if let Some(last) = &after {
            select.and_where(Expr::col(Alias::new("id")).gt(last.clone()));
        }
        let rows = db.query_all(&select).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = Some(last.try_get("", "id")?);
        for row in &rows {
            let id: String = row.try_get("", "id")?;
            let mut update = Query::update();
            update.table(Alias::new("cases"));
            let mut changed = false;
            for column in ["created_at", "updated_at"] {
                let old: String = row.try_get("", column)?;
                if let Some(new) = convert(&old, Was::Local) {
                    update.value(Alias::new(column), new);
                    changed = true;
                }
            }
            let data: String = row.try_get("", "data")?;
            if let Ok(mut v) = serde_json::from_str::<Value>(&data)
                && convert_case_json(&mut v)
            {
                update.value(Alias::new("data"), v.to_string());
                changed = true;
            }
            if changed {
                update.and_where(Expr::col(Alias::new("id")).eq(id));
                db.execute(&update).await?;
            }
        }
    }
}

/// The events' JSON (`at` inside it), `BATCH` events at a time in id order.
async fn convert_event_data<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let mut after: i64 = i64::MIN;
    loop {
        let select = Query::select()
            .from(Alias::new("case_events"))
            .columns([Alias::new("id"), Alias::new("data")])
            .and_where(Expr::col(Alias::new("id")).gt(after))
            .order_by(Alias::new("id"), Order::Asc)
            .limit(BATCH)
            .to_owned();
        let rows = db.query_all(&select).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get("", "id")?;
        for row in &rows {
            let data: String = row.try_get("", "data")?;
            let Ok(mut v) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            if !convert_json_at(&mut v, "at") {
                continue;
            }
            let id: i64 = row.try_get("", "id")?;
            let update = Query::update()
                .table(Alias::new("case_events"))
                .value(Alias::new("data"), v.to_string())
                .and_where(Expr::col(Alias::new("id")).eq(id))
                .to_owned();
            db.execute(&update).await?;
        }
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // On PostgreSQL the migrator runs this in its transaction already (this one is then a
        // savepoint); on SQLite this is the transaction.
        let txn = manager.get_connection().begin().await?;
        convert_utc_columns(&txn).await?;
        // Any UTC value the SQL above did not recognise by its length (none is expected).
        for (table, keys, column) in [
            ("sessions", &["id_hash"][..], "expires_at"),
            ("outbox", &["id"][..], "next_attempt_at"),
            ("outbox", &["id"][..], "locked_until"),
            ("outbox", &["id"][..], "sent_at"),
        ] {
            convert_column(&txn, table, keys, column, Was::Utc).await?;
        }
        for (table, keys, column) in LOCAL_COLUMNS {
            convert_column(&txn, table, keys, column, Was::Local).await?;
        }
        convert_cases(&txn).await?;
        convert_event_data(&txn).await?;
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
        // The skipped spring hour: read as winter time.
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
