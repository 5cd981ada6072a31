//! On PostgreSQL, the large columns are compressed with LZ4 instead of pglz.
//!
//! PostgreSQL compresses a value over about 2 kB before it is stored (TOAST). With its default
//! method, pglz, that compression was a quarter of the database server's CPU time in the
//! complete-case benchmark (every document version, ~100–200 kB, and every write of a case whose
//! JSON is over 2 kB). LZ4 compresses the same data several times faster, and still shrinks the
//! zero-filled signature placeholders of a PDF. Values already stored keep their method; new
//! writes use LZ4.
//!
//! A server built without LZ4 (or older than PostgreSQL 14) keeps pglz: the change is skipped
//! with a notice rather than refused, since it changes speed, not meaning. SQLite does not
//! compress and is left alone.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns whose values are often over the TOAST threshold (table, column).
pub const COLUMNS: &[(&str, &str)] = &[
    ("documents", "bytes"),
    ("cases", "data"),
    ("case_events", "data"),
    ("signature_evidence", "evidence"),
    ("flow_versions", "sources"),
    ("sessions", "data"),
    ("outbox", "payload"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, column) in COLUMNS {
            db.execute_unprepared(&format!(
                "DO $$ BEGIN \
                   EXECUTE 'ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4'; \
                 EXCEPTION WHEN feature_not_supported OR syntax_error THEN \
                   RAISE NOTICE 'LZ4 is not available: {table}.{column} stays compressed with pglz'; \
                 END $$"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for (table, column) in COLUMNS {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION pglz"
            ))
            .await?;
        }
        Ok(())
    }
}
