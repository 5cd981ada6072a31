//! Blankett's database schema: one forward-only set of sea-orm migrations, written in Rust,
//! that runs on SQLite and PostgreSQL. `blankett-store` runs [`Migrator::up`] on connect.
//!
//! A merged migration is never edited: a change to the schema is a new migration.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261205_000001_outbox;
mod m20261207_000001_utc_times;
mod m20261207_000002_lz4;
mod m20261208_000001_case_files;
mod m20261208_000002_idempotency;

/// The PostgreSQL columns compressed with LZ4 (migration `m20261207_000002_lz4`).
pub use m20261207_000002_lz4::COLUMNS as LZ4_COLUMNS;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261205_000001_outbox::Migration),
            Box::new(m20261207_000001_utc_times::Migration),
            Box::new(m20261207_000002_lz4::Migration),
            Box::new(m20261208_000001_case_files::Migration),
            Box::new(m20261208_000002_idempotency::Migration),
        ]
    }
}
