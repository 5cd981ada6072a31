//! The outbox: messages (email, SMS, webhook deliveries) written in the same transaction as
//! the case change that causes them, then delivered by the background worker.
//!
//! `key` is the message's idempotency key: writing the same message twice (a retried request,
//! a reminder planned by two instances) keeps one row. A worker claims a row by setting
//! `locked_until` (with `FOR UPDATE SKIP LOCKED` on PostgreSQL), so that several instances
//! never deliver the same row at once; a worker that died releases its rows when the lease
//! runs out.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_pk_auto, integer, string, string_null, string_uniq, text, text_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Key,
    Channel,
    Recipient,
    Topic,
    CaseId,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastError,
    CreatedAt,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(string_uniq(Outbox::Key))
                    .col(string(Outbox::Channel))
                    .col(text(Outbox::Recipient))
                    .col(string(Outbox::Topic))
                    .col(string_null(Outbox::CaseId))
                    .col(text(Outbox::Payload))
                    .col(string(Outbox::Status))
                    .col(integer(Outbox::Attempts))
                    .col(string(Outbox::NextAttemptAt))
                    .col(string_null(Outbox::LockedUntil))
                    .col(text_null(Outbox::LastError))
                    .col(string(Outbox::CreatedAt))
                    .col(string_null(Outbox::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_due")
                    .table(Outbox::Table)
                    .col(Outbox::Status)
                    .col(Outbox::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_case")
                    .table(Outbox::Table)
                    .col(Outbox::CaseId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
