//! The [`Store`] port on SQLite and PostgreSQL, with sea-orm.
//!
//! [`SeaStore::connect`] opens a pool and runs the migrations of `blankett-migrations`. A case
//! is kept whole as JSON in `cases.data`; the other columns of `cases` and the rows of
//! `case_parties` are copies for filtering, rewritten on every write. Every method is one
//! transaction (or one statement). Times are UTC text of fixed width (`…Z`), sortable on both databases.
//!
//! Errors never carry personal data: database messages are reduced to what the operator needs
//! (the statement kind and the database's code), and JSON errors to their category and
//! position.

mod entity;
mod files;

/// The sea-orm this store is built on, for tools that work beside it on the same pool (the load
/// benchmark's bare baseline handler).
pub use sea_orm;

use std::collections::BTreeMap;
use std::time::Duration;

use blankett_core::case::{Case, Event, SignatureState, Status};
use blankett_core::eid::BoxFuture;
use blankett_core::ids::Personnummer;
use blankett_core::store::{
    CaseFilter, CaseSummary, CaseWrite, Delivery, Document, DocumentKind, FlowVersion,
    IdempotentCreate, Message, MessageStatus, NewDocument, NewMessage, SessionRecord,
    SignatureEvidence, Store, StoreError, Topic,
};
use blankett_core::time::Timestamp;
use blankett_migrations::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::sqlx;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseConnectionType, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, RuntimeErr, SqlErr, TransactionTrait,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use entity::{
    case_events, case_numbers, case_parties, cases, documents, flow_versions, outbox, sessions,
    signature_evidence,
};

/// How many cases a list returns when the filter gives no limit.
pub const DEFAULT_LIST_LIMIT: u32 = 200;

/// The store on a sea-orm connection pool.
#[derive(Clone)]
pub struct SeaStore {
    db: DatabaseConnection,
    backend: &'static str,
    /// The same pool as `db`, seen through sqlx: for the case write that must be one round
    /// trip (see [`SeaStore::update_case_fast`]).
    pool: Option<Pool>,
}

#[derive(Clone)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The common case write on SQLite, sent as one command: the update (which reports whether it
/// applied) and, only if it did, the event, in one explicit transaction. `changes()` is the
/// number of rows the preceding statement changed.
const SQLITE_UPDATE_WITH_EVENT: &str = "BEGIN IMMEDIATE;
UPDATE cases SET number = ?, flow_id = ?, flow_hash = ?, status = ?, revision = ?, data = ?,
  updated_at = ? WHERE id = ? AND revision = ? AND parties_key = ? RETURNING revision;
INSERT INTO case_events (case_id, at, kind, data) SELECT ?, ?, ?, ? WHERE changes() = 1;
COMMIT;";

/// The case write without an event: one statement on either database.
const UPDATE_CASE: &str = "UPDATE cases SET number = $1, flow_id = $2, flow_hash = $3,
  status = $4, revision = $5, data = $6, updated_at = $7
  WHERE id = $8 AND revision = $9 AND parties_key = $10 RETURNING revision";

/// The common case write on PostgreSQL: one statement, atomic by itself; the event is
/// inserted only for the row the update returned.
const POSTGRES_UPDATE_WITH_EVENT: &str = "WITH u AS (UPDATE cases SET number = $1,
  flow_id = $2, flow_hash = $3, status = $4, revision = $5, data = $6, updated_at = $7
  WHERE id = $8 AND revision = $9 AND parties_key = $10 RETURNING id)
INSERT INTO case_events (case_id, at, kind, data) SELECT id, $11, $12, $13 FROM u RETURNING id";

/// The case write of the full transaction on PostgreSQL: the update, returning the parties key
/// it replaced, so that `case_parties` is rewritten only when the parties changed (one round
/// trip where SQLite takes two).
const POSTGRES_UPDATE_RETURNING_PARTIES: &str = "WITH old AS (SELECT parties_key FROM cases
  WHERE id = $11 AND revision = $12 FOR UPDATE)
UPDATE cases SET number = $1, flow_id = $2, flow_hash = $3, status = $4, revision = $5,
  data = $6, updated_at = $7, applicant_pnr = $8, assignee_pnr = $9, parties_key = $10
  FROM old WHERE cases.id = $11 AND cases.revision = $12 RETURNING old.parties_key AS old_key";

impl std::fmt::Debug for SeaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeaStore")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl SeaStore {
    /// Connects to `sqlite://path?mode=rwc`, `sqlite::memory:` or `postgres://…` and migrates
    /// the database to the newest schema.
    ///
    /// SQLite runs with WAL, a 5 s busy timeout, foreign keys on and `synchronous=NORMAL`, on a
    /// small pool; an in-memory database has exactly one connection that is never closed, so
    /// every caller sees the same database.
    pub async fn connect(url: &str) -> Result<SeaStore, StoreError> {
        let mut opts = ConnectOptions::new(url);
        // A connection is pinged before use only after it sat idle for 30 s (when a server,
        // proxy or firewall may have dropped it), not on every checkout: that ping was one
        // extra round trip per statement group, a third of a step save's on SQLite.
        opts.sqlx_logging(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(10))
            .test_before_acquire_if_idle_for(Duration::from_secs(30));
        let backend = if url.starts_with("sqlite:") {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            if in_memory {
                opts.max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None::<Duration>)
                    .max_lifetime(None::<Duration>);
            } else {
                opts.max_connections(4).min_connections(1);
            }
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
                    .synchronous(SqliteSynchronous::Normal)
            });
            "sqlite"
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            opts.max_connections(10).min_connections(1);
            "postgres"
        } else {
            return Err(StoreError::Backend(
                "unsupported database URL: use sqlite:… or postgres://…".into(),
            ));
        };
        let db = Database::connect(opts).await.map_err(db_err("connect"))?;
        Migrator::up(&db, None).await.map_err(db_err("migrate"))?;
        // Each getter is called only for the variant it serves (they panic on another).
        let pool = match &db.inner {
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                Some(Pool::Sqlite(db.get_sqlite_connection_pool().clone()))
            }
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                Some(Pool::Postgres(db.get_postgres_connection_pool().clone()))
            }
            _ => None,
        };
        Ok(SeaStore { db, backend, pool })
    }

    /// The connection pool, for tools that measure the database beside the store (the load
    /// benchmark's bare handler); the application itself goes through [`Store`].
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        self.backend
    }

    /// SQLite: moves the write-ahead log into the database file and empties it
    /// (`wal_checkpoint(TRUNCATE)`), then closes the pool. PostgreSQL: closes the pool.
    async fn close_impl(&self) -> Result<(), StoreError> {
        if self.backend == "sqlite" {
            let busy = self
                .db
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DatabaseBackend::Sqlite,
                    "PRAGMA wal_checkpoint(TRUNCATE)",
                ))
                .await
                .map_err(db_err("checkpoint"))?
                .and_then(|row| row.try_get_by_index::<i64>(0).ok())
                .unwrap_or(0);
            if busy != 0 {
                return Err(StoreError::Backend(
                    "checkpoint: another connection is still reading or writing the database; the log (blankett.db-wal) is kept and read at the next start".into(),
                ));
            }
        }
        self.db.clone().close().await.map_err(db_err("close"))
    }

    /// Writes a consistent copy of the database to `path` while it is in use. SQLite only
    /// (`VACUUM INTO`: one transaction, a compact file, nothing in a log beside it); for
    /// PostgreSQL use `pg_dump`.
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        if self.backend != "sqlite" {
            return Err(StoreError::Backend(
                "backup: this database is PostgreSQL; back it up with pg_dump (for example `pg_dump --format=custom --file=blankett.dump DATABASE_URL`)".into(),
            ));
        }
        let target = path.to_str().ok_or_else(|| {
            StoreError::Backend("backup: the target path is not valid UTF-8".into())
        })?;
        self.db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Sqlite,
                "VACUUM INTO ?",
                [target.into()],
            ))
            .await
            .map_err(db_err("backup"))?;
        Ok(())
    }

    /// The names of the migrations applied to the database, oldest first.
    pub async fn applied_migrations(&self) -> Result<Vec<String>, StoreError> {
        let applied = Migrator::get_applied_migrations(&self.db)
            .await
            .map_err(db_err("read migrations"))?;
        Ok(applied.iter().map(|m| m.name().to_owned()).collect())
    }

    /// The names of the migrations this build knows, oldest first (the head is the last).
    pub fn known_migrations() -> Vec<String> {
        Migrator::get_migration_files()
            .iter()
            .map(|m| m.name().to_owned())
            .collect()
    }

    /// Closes the pool (waits for connections in use); on SQLite the log is checkpointed into
    /// the database file first (see [`Store::close`]).
    pub async fn close(self) -> Result<(), StoreError> {
        self.close_impl().await
    }

    async fn save_flow_version_impl(&self, flow: &FlowVersion) -> Result<(), StoreError> {
        let row = flow_versions::ActiveModel {
            content_hash: Set(flow.content_hash.to_string()),
            flow_id: Set(flow.flow_id.clone()),
            sources: Set(flow.sources.clone()),
            first_seen: Set(fmt_time(flow.first_seen)),
        };
        flow_versions::Entity::insert(row)
            .on_conflict_do_nothing()
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err("save flow version"))?;
        Ok(())
    }

    async fn flow_version_impl(&self, hash: &str) -> Result<Option<FlowVersion>, StoreError> {
        let row = flow_versions::Entity::find_by_id(hash.to_owned())
            .one(&self.db)
            .await
            .map_err(db_err("read flow version"))?;
        row.map(|r| {
            Ok(FlowVersion {
                first_seen: parse_time(&r.first_seen)?,
                content_hash: r.content_hash.into(),
                flow_id: r.flow_id,
                sources: r.sources,
            })
        })
        .transpose()
    }

    async fn next_case_number_impl(&self, year: i32) -> Result<String, StoreError> {
        use case_numbers::Column;
        // One atomic statement: unique across concurrent callers and server instances.
        let stmt = Query::insert()
            .into_table(case_numbers::Entity)
            .columns([Column::Year, Column::Last])
            .values([year.into(), 1i64.into()])
            .map_err(|_| StoreError::Backend("next case number: bad statement".into()))?
            .on_conflict(
                OnConflict::column(Column::Year)
                    .value(
                        Column::Last,
                        Expr::col((case_numbers::Entity, Column::Last)).add(1),
                    )
                    .to_owned(),
            )
            .returning_col(Column::Last)
            .to_owned();
        let row = self
            .db
            .query_one(&stmt)
            .await
            .map_err(db_err("next case number"))?
            .ok_or_else(|| StoreError::Backend("next case number: no row returned".into()))?;
        let last: i64 = row
            .try_get("", "last")
            .map_err(db_err("next case number"))?;
        Ok(format!("{year}-{last:04}"))
    }

    async fn create_case_impl(
        &self,
        case: &Case,
        events: &[Event],
        document: Option<&NewDocument>,
        outbox: &[NewMessage],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(db_err("begin"))?;
        cases::Entity::insert(case_row(case)?)
            .exec_without_returning(&txn)
            .await
            .map_err(db_err("insert case"))?;
        write_parties(&txn, case).await?;
        insert_events(&txn, &case.id, events).await?;
        if let Some(doc) = document {
            insert_document(&txn, case, doc).await?;
        }
        insert_messages(&txn, outbox, case.updated_at).await?;
        txn.commit().await.map_err(db_err("commit"))
    }

    async fn get_case_impl(&self, id: &str) -> Result<Option<Case>, StoreError> {
        let row = cases::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await
            .map_err(db_err("read case"))?;
        row.map(|r| from_json::<Case>(&r.data, "case")).transpose()
    }

    /// The write of almost every command (a step save, going back, most case-worker actions)
    /// in one round trip to the database: the parties are unchanged, there is at most one event,
    /// and no document or evidence. Returns `false` when it did not apply, because the write is
    /// not of that kind or because the update matched no row (a stale revision, changed
    /// parties, no such case); the full transaction then does the write or tells which it was.
    ///
    /// On SQLite this halves the cost of a step save under load: each statement sent through
    /// sea-orm is a hand-over to the connection's thread and back, and the transaction's
    /// `BEGIN`, update, event and `COMMIT` were four of them.
    async fn update_case_fast(&self, write: &CaseWrite) -> Result<bool, StoreError> {
        let Some(pool) = &self.pool else {
            return Ok(false);
        };
        if write.document.is_some() || write.evidence.is_some() || write.events.len() > 1 {
            return Ok(false);
        }
        let case = &write.case;
        let event = write.events.first().map(event_row).transpose()?;
        let sql = match (pool, &event) {
            (Pool::Sqlite(_), Some(_)) => SQLITE_UPDATE_WITH_EVENT,
            (Pool::Postgres(_), Some(_)) => POSTGRES_UPDATE_WITH_EVENT,
            (_, None) => UPDATE_CASE,
        };
        macro_rules! bound {
            ($db:ty) => {{
                let mut q = sqlx::query::<$db>(sql)
                    .bind(case.number.clone())
                    .bind(case.flow_id.clone())
                    .bind(case.flow_hash.to_string())
                    .bind(enum_text(&case.status)?)
                    .bind(to_i64(case.revision)?)
                    .bind(to_json(case, "case")?)
                    .bind(fmt_time(case.updated_at))
                    .bind(case.id.to_string())
                    .bind(to_i64(write.expected_revision)?)
                    .bind(parties_key(case));
                if let Some((at, kind, data)) = &event {
                    if matches!(pool, Pool::Sqlite(_)) {
                        q = q.bind(case.id.to_string());
                    }
                    q = q.bind(at.clone()).bind(kind.clone()).bind(data.clone());
                }
                q
            }};
        }
        let rows = match pool {
            // One statement: atomic, also when the caller gives up half-way.
            Pool::Postgres(pool) => bound!(sqlx::Postgres)
                .fetch_all(pool)
                .await
                .map_err(sqlx_err("update case"))?
                .len(),
            Pool::Sqlite(pool) => {
                let q = bound!(sqlx::Sqlite);
                let pool = pool.clone();
                let explicit_txn = event.is_some();
                // Its own task: a caller that goes away (the client hung up) must not stop the
                // command between its `BEGIN` and `COMMIT`, which would leave the connection
                // holding the write lock.
                let task = tokio::spawn(async move {
                    let mut conn = pool.acquire().await.map_err(sqlx_err("connect"))?;
                    match q.fetch_all(&mut *conn).await {
                        Ok(rows) => Ok(rows.len()),
                        Err(e) => {
                            // The failed command may have left its transaction open on this
                            // connection: roll it back, or else never reuse the connection.
                            if explicit_txn
                                && sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err()
                            {
                                conn.close_on_drop();
                            }
                            Err(sqlx_err("update case")(e))
                        }
                    }
                });
                task.await.map_err(|_| {
                    StoreError::Backend("update case: the write task failed".into())
                })??
            }
        };
        Ok(rows == 1)
    }

    async fn update_case_impl(
        &self,
        write: &CaseWrite,
        outbox: &[NewMessage],
    ) -> Result<(), StoreError> {
        // A write that notifies anyone takes the full transaction: its messages go with it.
        if outbox.is_empty() && self.update_case_fast(write).await? {
            return Ok(());
        }
        let case = &write.case;
        let expected = to_i64(write.expected_revision)?;
        let txn = self.db.begin().await.map_err(db_err("begin"))?;
        let key = parties_key(case);
        let (same_parties, updated) = if self.backend == "postgres" {
            // One statement: the update, returning the parties key it replaced (the row is
            // locked by the CTE's `FOR UPDATE` before it is read).
            let old_key = txn
                .query_one_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    POSTGRES_UPDATE_RETURNING_PARTIES,
                    [
                        case.number.clone().into(),
                        case.flow_id.clone().into(),
                        case.flow_hash.to_string().into(),
                        enum_text(&case.status)?.into(),
                        to_i64(case.revision)?.into(),
                        to_json(case, "case")?.into(),
                        fmt_time(case.updated_at).into(),
                        case.applicant.personnummer.as_str().to_owned().into(),
                        case.assignee
                            .as_ref()
                            .map(|p| p.personnummer.as_str().to_owned())
                            .into(),
                        key.clone().into(),
                        case.id.to_string().into(),
                        expected.into(),
                    ],
                ))
                .await
                .map_err(db_err("update case"))?
                .map(|r| r.try_get::<String>("", "old_key"))
                .transpose()
                .map_err(db_err("update case"))?;
            match old_key {
                Some(old) => (old == key, 1),
                None => (false, 0),
            }
        } else {
            let mut row = case_row(case)?;
            row.id = NotSet;
            row.created_at = NotSet;
            // The first statement writes: it takes SQLite's write lock before anything is read.
            // Most writes leave the parties as they were: then this one statement is the whole
            // update of the case.
            let same_parties = cases::Entity::update_many()
                .set(row.clone())
                .filter(cases::Column::Id.eq(case.id.as_str()))
                .filter(cases::Column::Revision.eq(expected))
                .filter(cases::Column::PartiesKey.eq(key.as_str()))
                .exec(&txn)
                .await
                .map_err(db_err("update case"))?
                .rows_affected
                == 1;
            let updated = if same_parties {
                1
            } else {
                cases::Entity::update_many()
                    .set(row)
                    .filter(cases::Column::Id.eq(case.id.as_str()))
                    .filter(cases::Column::Revision.eq(expected))
                    .exec(&txn)
                    .await
                    .map_err(db_err("update case"))?
                    .rows_affected
            };
            (same_parties, updated)
        };
        if updated == 0 {
            let actual = cases::Entity::find_by_id(case.id.to_string())
                .select_only()
                .column(cases::Column::Revision)
                .into_tuple::<i64>()
                .one(&txn)
                .await
                .map_err(db_err("read revision"))?;
            txn.rollback().await.map_err(db_err("rollback"))?;
            return match actual {
                None => Err(StoreError::NotFound),
                Some(actual) => Err(StoreError::Conflict {
                    expected: write.expected_revision,
                    actual: u64::try_from(actual).unwrap_or_default(),
                }),
            };
        }
        insert_events(&txn, &case.id, &write.events).await?;
        if let Some(doc) = &write.document {
            insert_document(&txn, case, doc).await?;
        }
        if let Some(ev) = &write.evidence {
            signature_evidence::Entity::insert(signature_evidence::ActiveModel {
                id: NotSet,
                case_id: Set(case.id.to_string()),
                field: Set(ev.field.clone()),
                personnummer: Set(ev.personnummer.as_str().to_owned()),
                signed_sha256: Set(ev.signed_sha256.to_string()),
                evidence: Set(to_json(&ev.evidence, "evidence")?),
                created_at: Set(fmt_time(case.updated_at)),
            })
            .exec_without_returning(&txn)
            .await
            .map_err(db_err("insert signature evidence"))?;
        }
        if !same_parties {
            case_parties::Entity::delete_many()
                .filter(case_parties::Column::CaseId.eq(case.id.as_str()))
                .exec(&txn)
                .await
                .map_err(db_err("delete case parties"))?;
            write_parties(&txn, case).await?;
        }
        insert_messages(&txn, outbox, case.updated_at).await?;
        txn.commit().await.map_err(db_err("commit"))
    }

    async fn enqueue_impl(&self, outbox: &[NewMessage]) -> Result<u64, StoreError> {
        let Some(now) = outbox.iter().map(|m| m.not_before).min() else {
            return Ok(0);
        };
        insert_messages(&self.db, outbox, now).await
    }

    async fn claim_messages_impl(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let backend = self.db.get_database_backend();
        // One statement: the rows are chosen and held at once. On PostgreSQL, `SKIP LOCKED`
        // lets another instance's claim pass over the rows this one is taking instead of
        // waiting for them (and then taking them too); SQLite has one writer at a time.
        let (sql, lock) = match backend {
            sea_orm::DatabaseBackend::Postgres => (
                "$1, attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox \
                 WHERE status = 'pending' AND next_attempt_at <= $2 \
                 AND (locked_until IS NULL OR locked_until <= $2) ORDER BY id LIMIT $3",
                " FOR UPDATE SKIP LOCKED",
            ),
            _ => (
                "?, attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox \
                 WHERE status = 'pending' AND next_attempt_at <= ? \
                 AND (locked_until IS NULL OR locked_until <= ?) ORDER BY id LIMIT ?",
                "",
            ),
        };
        let sql = format!("UPDATE outbox SET locked_until = {sql}{lock}) RETURNING *");
        let now = fmt_time(now);
        let mut values: Vec<sea_orm::Value> =
            vec![fmt_time(lease_until).into(), now.clone().into()];
        if backend != sea_orm::DatabaseBackend::Postgres {
            values.push(now.into());
        }
        values.push(i64::from(limit).into());
        let rows = outbox::Entity::find()
            .from_raw_sql(sea_orm::Statement::from_sql_and_values(
                backend, sql, values,
            ))
            .all(&self.db)
            .await
            .map_err(db_err("claim messages"))?;
        let mut out = rows
            .into_iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    async fn finish_message_impl(&self, id: i64, outcome: &Delivery) -> Result<(), StoreError> {
        let mut q = outbox::Entity::update_many()
            .col_expr(outbox::Column::LockedUntil, Expr::value(None::<String>))
            .filter(outbox::Column::Id.eq(id));
        q = match outcome {
            Delivery::Sent { at } => q
                .col_expr(
                    outbox::Column::Status,
                    Expr::value(enum_text(&MessageStatus::Sent)?),
                )
                .col_expr(outbox::Column::SentAt, Expr::value(fmt_time(*at))),
            Delivery::Retry { error, at } => q
                .col_expr(outbox::Column::LastError, Expr::value(error.clone()))
                .col_expr(outbox::Column::NextAttemptAt, Expr::value(fmt_time(*at))),
            Delivery::GaveUp { error } => q
                .col_expr(
                    outbox::Column::Status,
                    Expr::value(enum_text(&MessageStatus::Failed)?),
                )
                .col_expr(outbox::Column::LastError, Expr::value(error.clone())),
            Delivery::Released => q.col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).sub(1),
            ),
        };
        let done = q.exec(&self.db).await.map_err(db_err("finish message"))?;
        if done.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_messages_impl(
        &self,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let mut q = outbox::Entity::find().order_by_desc(outbox::Column::Id);
        if let Some(st) = status {
            q = q.filter(outbox::Column::Status.eq(enum_text(&st)?));
        }
        q.limit(u64::from(limit))
            .all(&self.db)
            .await
            .map_err(db_err("list messages"))?
            .into_iter()
            .map(message_from_row)
            .collect()
    }

    async fn append_events_impl(&self, case_id: &str, events: &[Event]) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(db_err("begin"))?;
        // A write that changes nothing: it checks that the case exists and serialises
        // appends to one case (row lock / SQLite write lock), so their ids are in append order.
        let touched = cases::Entity::update_many()
            .col_expr(cases::Column::Revision, Expr::col(cases::Column::Revision))
            .filter(cases::Column::Id.eq(case_id))
            .exec(&txn)
            .await
            .map_err(db_err("lock case"))?;
        if touched.rows_affected == 0 {
            txn.rollback().await.map_err(db_err("rollback"))?;
            return Err(StoreError::NotFound);
        }
        insert_events(&txn, case_id, events).await?;
        txn.commit().await.map_err(db_err("commit"))
    }

    async fn events_impl(&self, case_id: &str) -> Result<Vec<Event>, StoreError> {
        let rows = case_events::Entity::find()
            .filter(case_events::Column::CaseId.eq(case_id))
            .order_by_asc(case_events::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err("read events"))?;
        rows.iter().map(|r| from_json(&r.data, "event")).collect()
    }

    async fn list_cases_impl(&self, filter: &CaseFilter) -> Result<Vec<CaseSummary>, StoreError> {
        use cases::Column;
        let mut q = cases::Entity::find();
        if let Some(who) = &filter.involving {
            q = q.filter(Column::Id.in_subquery(party_cases(who, false)));
        }
        if let Some(who) = &filter.awaiting_signature_by {
            q = q.filter(Column::Id.in_subquery(party_cases(who, true)));
        }
        if let Some(who) = &filter.applicant {
            q = q.filter(Column::ApplicantPnr.eq(who.as_str()));
        }
        if let Some(who) = &filter.assignee {
            q = q.filter(Column::AssigneePnr.eq(who.as_str()));
        }
        if filter.unassigned {
            q = q.filter(Column::AssigneePnr.is_null());
        }
        if !filter.flow_ids.is_empty() {
            q = q.filter(Column::FlowId.is_in(filter.flow_ids.iter().map(String::as_str)));
        }
        if !filter.statuses.is_empty() {
            let statuses = filter
                .statuses
                .iter()
                .map(enum_text)
                .collect::<Result<Vec<_>, _>>()?;
            q = q.filter(Column::Status.is_in(statuses));
        }
        let limit = if filter.limit == 0 {
            DEFAULT_LIST_LIMIT
        } else {
            filter.limit
        };
        let rows = q
            .select_only()
            .columns([
                Column::Id,
                Column::Number,
                Column::FlowId,
                Column::Status,
                Column::Revision,
                Column::ApplicantPnr,
                Column::AssigneePnr,
                Column::CreatedAt,
                Column::UpdatedAt,
            ])
            .order_by_desc(Column::UpdatedAt)
            .order_by_asc(Column::Id)
            .limit(u64::from(limit))
            .into_model::<SummaryRow>()
            .all(&self.db)
            .await
            .map_err(db_err("list cases"))?;
        rows.into_iter().map(SummaryRow::into_summary).collect()
    }

    async fn latest_document_impl(&self, case_id: &str) -> Result<Option<Document>, StoreError> {
        let row = documents::Entity::find()
            .filter(documents::Column::CaseId.eq(case_id))
            .order_by_desc(documents::Column::Version)
            .one(&self.db)
            .await
            .map_err(db_err("read document"))?;
        row.map(|r| {
            Ok(Document {
                version: u32::try_from(r.version)
                    .map_err(|_| StoreError::Backend("document version out of range".into()))?,
                kind: text_enum::<DocumentKind>(&r.kind, "document kind")?,
                created_at: parse_time(&r.created_at)?,
                case_id: r.case_id,
                sha256: r.sha256.into(),
                bytes: r.bytes,
            })
        })
        .transpose()
    }

    async fn signature_evidence_impl(
        &self,
        case_id: &str,
    ) -> Result<Vec<SignatureEvidence>, StoreError> {
        let rows = signature_evidence::Entity::find()
            .filter(signature_evidence::Column::CaseId.eq(case_id))
            .order_by_asc(signature_evidence::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err("read signature evidence"))?;
        rows.into_iter()
            .map(|r| {
                Ok(SignatureEvidence {
                    personnummer: parse_pnr(&r.personnummer)?,
                    evidence: from_json(&r.evidence, "evidence")?,
                    field: r.field,
                    signed_sha256: r.signed_sha256.into(),
                })
            })
            .collect()
    }

    async fn put_session_impl(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let row = sessions::ActiveModel {
            id_hash: Set(session.id_hash.clone()),
            data: Set(to_json(&session.data, "session")?),
            expires_at: Set(fmt_time(session.expires_at)),
        };
        sessions::Entity::insert(row)
            .on_conflict(
                OnConflict::column(sessions::Column::IdHash)
                    .update_columns([sessions::Column::Data, sessions::Column::ExpiresAt])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err("put session"))?;
        Ok(())
    }

    async fn get_session_impl(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sessions::Entity::find_by_id(id_hash.to_owned())
            .filter(sessions::Column::ExpiresAt.gt(fmt_time(now)))
            .one(&self.db)
            .await
            .map_err(db_err("read session"))?;
        row.map(|r| {
            Ok(SessionRecord {
                data: from_json(&r.data, "session")?,
                expires_at: parse_time(&r.expires_at)?,
                id_hash: r.id_hash,
            })
        })
        .transpose()
    }

    async fn delete_session_impl(&self, id_hash: &str) -> Result<(), StoreError> {
        sessions::Entity::delete_by_id(id_hash.to_owned())
            .exec(&self.db)
            .await
            .map_err(db_err("delete session"))?;
        Ok(())
    }

    async fn purge_sessions_impl(&self, now: Timestamp) -> Result<u64, StoreError> {
        let res = sessions::Entity::delete_many()
            .filter(sessions::Column::ExpiresAt.lte(fmt_time(now)))
            .exec(&self.db)
            .await
            .map_err(db_err("purge sessions"))?;
        Ok(res.rows_affected)
    }
}

impl Store for SeaStore {
    fn save_flow_version<'a>(
        &'a self,
        flow: &'a FlowVersion,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.save_flow_version_impl(flow))
    }

    fn flow_version<'a>(
        &'a self,
        content_hash: &'a str,
    ) -> BoxFuture<'a, Result<Option<FlowVersion>, StoreError>> {
        Box::pin(self.flow_version_impl(content_hash))
    }

    fn next_case_number(&self, year: i32) -> BoxFuture<'_, Result<String, StoreError>> {
        Box::pin(self.next_case_number_impl(year))
    }

    fn create_case<'a>(
        &'a self,
        case: &'a Case,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.create_case_impl(case, events, None, &[]))
    }

    fn create_case_with<'a>(
        &'a self,
        case: &'a Case,
        events: &'a [Event],
        document: Option<&'a NewDocument>,
        outbox: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.create_case_impl(case, events, document, outbox))
    }

    fn get_case<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Case>, StoreError>> {
        Box::pin(self.get_case_impl(id))
    }

    fn update_case<'a>(&'a self, write: &'a CaseWrite) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.update_case_impl(write, &[]))
    }

    fn update_case_with<'a>(
        &'a self,
        write: &'a CaseWrite,
        outbox: &'a [NewMessage],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.update_case_impl(write, outbox))
    }

    fn enqueue<'a>(&'a self, outbox: &'a [NewMessage]) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.enqueue_impl(outbox))
    }

    fn claim_messages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Message>, StoreError>> {
        Box::pin(self.claim_messages_impl(now, lease_until, limit))
    }

    fn finish_message<'a>(
        &'a self,
        id: i64,
        outcome: &'a Delivery,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.finish_message_impl(id, outcome))
    }

    fn list_messages(
        &self,
        status: Option<MessageStatus>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Message>, StoreError>> {
        Box::pin(self.list_messages_impl(status, limit))
    }

    fn append_events<'a>(
        &'a self,
        case_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.append_events_impl(case_id, events))
    }

    fn events<'a>(&'a self, case_id: &'a str) -> BoxFuture<'a, Result<Vec<Event>, StoreError>> {
        Box::pin(self.events_impl(case_id))
    }

    fn list_cases<'a>(
        &'a self,
        filter: &'a CaseFilter,
    ) -> BoxFuture<'a, Result<Vec<CaseSummary>, StoreError>> {
        Box::pin(self.list_cases_impl(filter))
    }

    fn latest_document<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Document>, StoreError>> {
        Box::pin(self.latest_document_impl(case_id))
    }

    fn signature_evidence<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SignatureEvidence>, StoreError>> {
        Box::pin(self.signature_evidence_impl(case_id))
    }

    fn put_session<'a>(
        &'a self,
        session: &'a SessionRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.put_session_impl(session))
    }

    fn get_session<'a>(
        &'a self,
        id_hash: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(self.get_session_impl(id_hash, now))
    }

    fn delete_session<'a>(&'a self, id_hash: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.delete_session_impl(id_hash))
    }

    fn purge_sessions(&self, now: Timestamp) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.purge_sessions_impl(now))
    }

    fn count_sessions(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            sessions::Entity::find()
                .count(&self.db)
                .await
                .map_err(db_err("count sessions"))
        })
    }

    fn claim_idempotency_key<'a>(
        &'a self,
        key: &'a str,
        case_id: &'a str,
        request_sha256: &'a str,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<IdempotentCreate>, StoreError>> {
        Box::pin(self.claim_idempotency_key_impl(key, case_id, request_sha256, now))
    }

    fn release_idempotency_key<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.release_idempotency_key_impl(key))
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.db.ping().await.map_err(db_err("ping")) })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.close_impl())
    }
}

/// A list row as selected from `cases`.
#[derive(FromQueryResult)]
struct SummaryRow {
    id: String,
    number: String,
    flow_id: String,
    status: String,
    revision: i64,
    applicant_pnr: String,
    assignee_pnr: Option<String>,
    created_at: String,
    updated_at: String,
}

impl SummaryRow {
    fn into_summary(self) -> Result<CaseSummary, StoreError> {
        Ok(CaseSummary {
            status: text_enum::<Status>(&self.status, "status")?,
            revision: u64::try_from(self.revision)
                .map_err(|_| StoreError::Backend("stored revision out of range".into()))?,
            applicant: parse_pnr(&self.applicant_pnr)?,
            assignee: self.assignee_pnr.as_deref().map(parse_pnr).transpose()?,
            created_at: parse_time(&self.created_at)?,
            updated_at: parse_time(&self.updated_at)?,
            id: self.id,
            number: self.number,
            flow_id: self.flow_id,
        })
    }
}

/// The `cases` row of a case (every column set).
fn case_row(case: &Case) -> Result<cases::ActiveModel, StoreError> {
    Ok(cases::ActiveModel {
        id: Set(case.id.to_string()),
        number: Set(case.number.clone()),
        flow_id: Set(case.flow_id.clone()),
        flow_hash: Set(case.flow_hash.to_string()),
        status: Set(enum_text(&case.status)?),
        revision: Set(to_i64(case.revision)?),
        applicant_pnr: Set(case.applicant.personnummer.as_str().to_owned()),
        assignee_pnr: Set(case
            .assignee
            .as_ref()
            .map(|p| p.personnummer.as_str().to_owned())),
        parties_key: Set(parties_key(case)),
        data: Set(to_json(case, "case")?),
        created_at: Set(fmt_time(case.created_at)),
        updated_at: Set(fmt_time(case.updated_at)),
    })
}

/// The people of a case by (personnummer, role), with whether a signer's signature is
/// requested now. A person signing twice is one `signer` row, awaiting if either awaits.
fn parties(case: &Case) -> BTreeMap<(String, &'static str), bool> {
    let mut out = BTreeMap::new();
    out.insert(
        (case.applicant.personnummer.as_str().to_owned(), "applicant"),
        false,
    );
    if let Some(a) = &case.assignee {
        out.insert((a.personnummer.as_str().to_owned(), "assignee"), false);
    }
    for s in &case.signatures {
        let awaiting = matches!(s.state, SignatureState::Requested { .. });
        let slot = out
            .entry((s.person.personnummer.as_str().to_owned(), "signer"))
            .or_insert(false);
        *slot |= awaiting;
    }
    out
}

/// `parties` as one text, to tell whether a write changes them.
fn parties_key(case: &Case) -> String {
    parties(case)
        .into_iter()
        .map(|((pnr, role), awaiting)| format!("{pnr}:{role}:{}", u8::from(awaiting)))
        .collect::<Vec<_>>()
        .join(",")
}

async fn write_parties(db: &impl ConnectionTrait, case: &Case) -> Result<(), StoreError> {
    let rows: Vec<case_parties::ActiveModel> = parties(case)
        .into_iter()
        .map(|((pnr, role), awaiting)| case_parties::ActiveModel {
            case_id: Set(case.id.to_string()),
            personnummer: Set(pnr),
            role: Set(role.to_owned()),
            awaiting: Set(awaiting),
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    case_parties::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .map_err(db_err("insert case parties"))?;
    Ok(())
}

/// The ids of the cases where `who` is a party (or, with `awaiting`, a signer asked to sign
/// now).
fn party_cases(who: &Personnummer, awaiting: bool) -> sea_orm::sea_query::SelectStatement {
    let mut q = Query::select();
    q.column(case_parties::Column::CaseId)
        .from(case_parties::Entity)
        .and_where(case_parties::Column::Personnummer.eq(who.as_str()));
    if awaiting {
        q.and_where(case_parties::Column::Awaiting.eq(true));
    }
    q.to_owned()
}

/// Stores the next version of the case's document.
async fn insert_document(
    db: &impl ConnectionTrait,
    case: &Case,
    doc: &NewDocument,
) -> Result<(), StoreError> {
    use documents::Column;
    // The next version number and the row in one statement (one round trip, not two):
    // `INSERT … SELECT $case, COALESCE(MAX(version), 0) + 1, … FROM documents WHERE case_id = $case`.
    // Writers to one case are serialised by the update of its `cases` row before this.
    let next = Query::select()
        .expr(Expr::val(case.id.to_string()))
        .expr(
            Expr::expr(sea_orm::sea_query::Func::coalesce([
                Expr::col(Column::Version).max(),
                Expr::val(0i32),
            ]))
            .add(1i32),
        )
        .expr(Expr::val(enum_text(&doc.kind)?))
        .expr(Expr::val(doc.sha256.to_string()))
        .expr(Expr::val(doc.bytes.clone()))
        .expr(Expr::val(fmt_time(case.updated_at)))
        .from(documents::Entity)
        .and_where(Expr::col(Column::CaseId).eq(case.id.as_str()))
        .to_owned();
    let insert = Query::insert()
        .into_table(documents::Entity)
        .columns([
            Column::CaseId,
            Column::Version,
            Column::Kind,
            Column::Sha256,
            Column::Bytes,
            Column::CreatedAt,
        ])
        .select_from(next)
        .map_err(|e| StoreError::Backend(format!("insert document: {e}")))?
        .to_owned();
    db.execute(&insert)
        .await
        .map_err(db_err("insert document"))?;
    Ok(())
}

async fn insert_events(
    db: &impl ConnectionTrait,
    case_id: &str,
    events: &[Event],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut rows = Vec::with_capacity(events.len());
    // Events are read back in `id` order: ids only grow, and appends to one case are
    // serialised by the write to its `cases` row that precedes them in the transaction.
    for ev in events {
        let (at, kind, data) = event_row(ev)?;
        rows.push(case_events::ActiveModel {
            id: NotSet,
            case_id: Set(case_id.to_owned()),
            at: Set(at),
            kind: Set(kind),
            data: Set(data),
        });
    }
    case_events::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await
        .map_err(db_err("insert events"))?;
    Ok(())
}

/// An event as the `at`, `kind` and `data` columns of its `case_events` row.
fn event_row(ev: &Event) -> Result<(String, String, String), StoreError> {
    let data = serde_json::to_value(ev).map_err(json_err("event"))?;
    let kind = data
        .get("kind")
        .and_then(|k| k.get("type"))
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_owned();
    Ok((fmt_time(ev.at), kind, data.to_string()))
}

/// Writes messages, skipping those whose key exists; returns how many were new.
async fn insert_messages<C: ConnectionTrait>(
    db: &C,
    outbox: &[NewMessage],
    now: Timestamp,
) -> Result<u64, StoreError> {
    if outbox.is_empty() {
        return Ok(0);
    }
    let pending = enum_text(&MessageStatus::Pending)?;
    let rows = outbox
        .iter()
        .map(|m| {
            Ok(outbox::ActiveModel {
                id: NotSet,
                key: Set(m.key.clone()),
                channel: Set(enum_text(&m.channel)?),
                recipient: Set(m.recipient.clone()),
                topic: Set(m.topic.as_str().to_owned()),
                case_id: Set(m.case_id.clone()),
                payload: Set(to_json(&m.payload, "message")?),
                status: Set(pending.clone()),
                attempts: Set(0),
                next_attempt_at: Set(fmt_time(m.not_before)),
                locked_until: Set(None),
                last_error: Set(None),
                created_at: Set(fmt_time(now)),
                sent_at: Set(None),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    outbox::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(outbox::Column::Key)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
        .map_err(db_err("insert messages"))
}

fn message_from_row(r: outbox::Model) -> Result<Message, StoreError> {
    Ok(Message {
        id: r.id,
        key: r.key,
        channel: text_enum(&r.channel, "message channel")?,
        recipient: r.recipient,
        topic: Topic::parse(&r.topic).ok_or_else(|| {
            StoreError::Backend(format!("a message has an unknown topic `{}`", r.topic))
        })?,
        case_id: r.case_id,
        payload: from_json(&r.payload, "message")?,
        status: text_enum(&r.status, "message status")?,
        attempts: u32::try_from(r.attempts).unwrap_or_default(),
        next_attempt_at: parse_time(&r.next_attempt_at)?,
        last_error: r.last_error,
        created_at: parse_time(&r.created_at)?,
        sent_at: r.sent_at.as_deref().map(parse_time).transpose()?,
    })
}

/// A time as stored: UTC text of fixed width ([`Timestamp::stored`]), so that text order is
/// time order on both databases.
fn fmt_time(t: Timestamp) -> String {
    t.stored()
}

fn parse_time(s: &str) -> Result<Timestamp, StoreError> {
    Timestamp::parse(s)
        .ok_or_else(|| StoreError::Backend("a stored time is not in the expected format".into()))
}

fn parse_pnr(s: &str) -> Result<Personnummer, StoreError> {
    Personnummer::parse(s)
        .map_err(|_| StoreError::Backend("a stored personnummer is not valid".into()))
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Backend("revision out of range".into()))
}

/// The serde name of a unit enum variant (`in_review`, `locked`).
fn enum_text<T: Serialize>(value: &T) -> Result<String, StoreError> {
    match serde_json::to_value(value).map_err(json_err("enum"))? {
        serde_json::Value::String(s) => Ok(s),
        _ => Err(StoreError::Backend("enum is not a plain name".into())),
    }
}

fn text_enum<T: DeserializeOwned>(s: &str, what: &'static str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(json_err(what))
}

fn to_json<T: Serialize>(value: &T, what: &'static str) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(json_err(what))
}

fn from_json<T: DeserializeOwned>(s: &str, what: &'static str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(json_err(what))
}

/// A JSON error without its message (which may quote the data): category and position.
fn json_err(what: &'static str) -> impl Fn(serde_json::Error) -> StoreError {
    move |e| {
        StoreError::Backend(format!(
            "{what}: JSON {:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    }
}

/// Maps a database error: a unique violation is `Duplicate`; anything else is `Backend` with
/// the operation, the kind of failure and the database's code, never values.
fn db_err(op: &'static str) -> impl Fn(DbErr) -> StoreError {
    move |e| {
        if let Some(SqlErr::UniqueConstraintViolation(_)) = e.sql_err() {
            return StoreError::Duplicate;
        }
        StoreError::Backend(format!("{op}: {}", describe(&e)))
    }
}

/// A sqlx error, as [`db_err`] reports a sea-orm one.
fn sqlx_err(op: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate,
        _ => StoreError::Backend(format!("{op}: {}", describe_sqlx(&e))),
    }
}

fn describe_sqlx(x: &sqlx::Error) -> String {
    use sea_orm::sqlx::Error as Sqlx;
    match x {
        Sqlx::Database(d) => {
            let code = d.code().unwrap_or_default();
            match sqlite_fault(&code) {
                Some(name) => format!("{name} (SQLite code {code})"),
                None => format!("database error {code} ({:?})", d.kind()),
            }
        }
        Sqlx::Io(io) => format!("I/O error: {:?}", io.kind()),
        Sqlx::PoolTimedOut => "timed out waiting for a connection".into(),
        Sqlx::PoolClosed => "the pool is closed".into(),
        Sqlx::Tls(_) => "TLS error".into(),
        Sqlx::Configuration(_) => "bad connection configuration".into(),
        Sqlx::RowNotFound => "row not found".into(),
        Sqlx::ColumnNotFound(c) => format!("column {c} not found"),
        Sqlx::ColumnDecode { index, .. } => format!("cannot decode column {index}"),
        Sqlx::Decode(_) => "cannot decode a value".into(),
        Sqlx::Protocol(_) => "protocol error".into(),
        _ => "driver error".into(),
    }
}

/// What an SQLite result code means for the operator (the primary code is the low byte of an
/// extended one: 1032 is SQLITE_READONLY_DBMOVED). PostgreSQL's codes are SQLSTATEs of five
/// characters and are left alone.
fn sqlite_fault(code: &str) -> Option<&'static str> {
    // A SQLSTATE has five characters (and may be all digits); SQLite's codes have at most four.
    if code.len() >= 5 {
        return None;
    }
    let n: u32 = code.parse().ok()?;
    Some(match n & 0xff {
        5 => "the database is busy (another process holds a lock)",
        6 => "a table is locked",
        7 => "out of memory",
        8 => "the database is read-only (check the permissions of the file and its folder)",
        10 => "a disk I/O error",
        11 => "the database file is damaged",
        13 => "disk full: no space is left for the database",
        14 => "the database file cannot be opened",
        26 => "the file is not a database",
        _ => return None,
    })
}

fn describe(e: &DbErr) -> String {
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(x))
        | DbErr::Query(RuntimeErr::SqlxError(x))
        | DbErr::Conn(RuntimeErr::SqlxError(x)) => describe_sqlx(x),
        DbErr::ConnectionAcquire(a) => format!("no connection: {a}"),
        DbErr::Migration(_) => "migration failed".into(),
        DbErr::Conn(_) => "connection error".into(),
        DbErr::Exec(_) | DbErr::Query(_) => "statement failed".into(),
        DbErr::Type(_) | DbErr::TryIntoErr { .. } | DbErr::Json(_) => "type conversion".into(),
        _ => "database error".into(),
    }
}

#[cfg(test)]
mod fault_tests {
    #![allow(clippy::unwrap_used)]
    use super::sqlite_fault;

    #[test]
    fn sqlite_result_codes_are_named_and_postgres_states_are_not_mistaken_for_them() {
        assert!(sqlite_fault("13").unwrap().contains("disk full"));
        assert!(sqlite_fault("8").unwrap().contains("read-only"));
        // SQLITE_READONLY_DBMOVED: an extended code of the same fault.
        assert!(sqlite_fault("1032").unwrap().contains("read-only"));
        assert!(sqlite_fault("11").unwrap().contains("damaged"));
        assert_eq!(sqlite_fault("23505"), None);
        assert_eq!(sqlite_fault("40P01"), None);
        assert_eq!(sqlite_fault("42501"), None);
        assert_eq!(sqlite_fault("19"), None);
    }
}
