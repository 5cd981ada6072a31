//! Uploaded files: the bytes of a case's file answers, kept in the database (SQLite and
//! PostgreSQL) behind the file store port. A file belongs to one case and goes with it
//! (`ON DELETE CASCADE`); `field` is the answer path it was uploaded to.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, blob, string, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CaseFiles {
    Table,
    Id,
    CaseId,
    Field,
    Name,
    ContentType,
    Size,
    Sha256,
    Bytes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Cases {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CaseFiles::Table)
                    .col(string(CaseFiles::Id).primary_key())
                    .col(string(CaseFiles::CaseId))
                    .col(text(CaseFiles::Field))
                    .col(text(CaseFiles::Name))
                    .col(string(CaseFiles::ContentType))
                    .col(big_integer(CaseFiles::Size))
                    .col(string(CaseFiles::Sha256))
                    .col(blob(CaseFiles::Bytes))
                    .col(string(CaseFiles::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_case_files_case")
                            .from(CaseFiles::Table, CaseFiles::CaseId)
                            .to(Cases::Table, Cases::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_case_files_case")
                    .table(CaseFiles::Table)
                    .col(CaseFiles::CaseId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
