//! Idempotency keys of the REST API's creates: a retried `POST /api/v1/cases` with the same
//! `Idempotency-Key` (bound to the API key that sent it) returns the case the first one made.
//! `key` is a SHA-256 (hex) of the API key's name and the header's value; `request_sha256`
//! tells a retry from a different request under the same key.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Key,
    CaseId,
    RequestSha256,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(string(IdempotencyKeys::Key).primary_key())
                    .col(string(IdempotencyKeys::CaseId))
                    .col(string(IdempotencyKeys::RequestSha256))
                    .col(string(IdempotencyKeys::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
