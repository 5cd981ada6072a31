//! The initial schema: flow versions, cases with their parties, events, documents and eID
//! evidence, case numbers and web sessions.
//!
//! Times are ISO-8601 text (`%Y-%m-%dT%H:%M:%S%.9f`): sortable and the same on both
//! databases. A case's full state is JSON in `cases.data`; the other `cases` columns are
//! copies for filtering and sorting.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_pk_auto, blob, boolean, integer, string, string_null, string_uniq, text,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FlowVersions {
    Table,
    ContentHash,
    FlowId,
    Sources,
    FirstSeen,
}

#[derive(DeriveIden)]
enum Cases {
    Table,
    Id,
    Number,
    FlowId,
    FlowHash,
    Status,
    Revision,
    ApplicantPnr,
    AssigneePnr,
    PartiesKey,
    Data,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CaseParties {
    Table,
    CaseId,
    Personnummer,
    Role,
    Awaiting,
}

#[derive(DeriveIden)]
enum CaseEvents {
    Table,
    Id,
    CaseId,
    At,
    Kind,
    Data,
}

#[derive(DeriveIden)]
enum CaseNumbers {
    Table,
    Year,
    Last,
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    CaseId,
    Version,
    Kind,
    Sha256,
    Bytes,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SignatureEvidence {
    Table,
    Id,
    CaseId,
    Field,
    Personnummer,
    SignedSha256,
    Evidence,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    IdHash,
    Data,
    ExpiresAt,
}

/// A foreign key from `table.case_id` to `cases.id`; rows go with their case.
fn case_fk(
    name: &str,
    table: impl IntoTableRef,
    column: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Cases::Table, Cases::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FlowVersions::Table)
                    .col(string(FlowVersions::ContentHash).primary_key())
                    .col(string(FlowVersions::FlowId))
                    .col(text(FlowVersions::Sources))
                    .col(string(FlowVersions::FirstSeen))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Cases::Table)
                    .col(string(Cases::Id).primary_key())
                    .col(string_uniq(Cases::Number))
                    .col(string(Cases::FlowId))
                    .col(string(Cases::FlowHash))
                    .col(string(Cases::Status))
                    .col(big_integer(Cases::Revision))
                    .col(string(Cases::ApplicantPnr))
                    .col(string_null(Cases::AssigneePnr))
                    .col(text(Cases::PartiesKey))
                    .col(text(Cases::Data))
                    .col(string(Cases::CreatedAt))
                    .col(string(Cases::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_cases_applicant", vec![Cases::ApplicantPnr]),
            ("idx_cases_assignee", vec![Cases::AssigneePnr]),
            ("idx_cases_flow_status", vec![Cases::FlowId, Cases::Status]),
            ("idx_cases_updated_at", vec![Cases::UpdatedAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Cases::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(CaseParties::Table)
                    .col(string(CaseParties::CaseId))
                    .col(string(CaseParties::Personnummer))
                    .col(string(CaseParties::Role))
                    .col(boolean(CaseParties::Awaiting))
                    .primary_key(
                        Index::create()
                            .col(CaseParties::CaseId)
                            .col(CaseParties::Personnummer)
                            .col(CaseParties::Role),
                    )
                    .foreign_key(&mut case_fk(
                        "fk_case_parties_case",
                        CaseParties::Table,
                        CaseParties::CaseId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_case_parties_personnummer")
                    .table(CaseParties::Table)
                    .col(CaseParties::Personnummer)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CaseEvents::Table)
                    .col(big_pk_auto(CaseEvents::Id))
                    .col(string(CaseEvents::CaseId))
                    .col(string(CaseEvents::At))
                    .col(string(CaseEvents::Kind))
                    .col(text(CaseEvents::Data))
                    .foreign_key(&mut case_fk(
                        "fk_case_events_case",
                        CaseEvents::Table,
                        CaseEvents::CaseId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_case_events_case")
                    .table(CaseEvents::Table)
                    .col(CaseEvents::CaseId)
                    .col(CaseEvents::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CaseNumbers::Table)
                    .col(integer(CaseNumbers::Year).primary_key())
                    .col(big_integer(CaseNumbers::Last))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Documents::Table)
                    .col(string(Documents::CaseId))
                    .col(integer(Documents::Version))
                    .col(string(Documents::Kind))
                    .col(string(Documents::Sha256))
                    .col(blob(Documents::Bytes))
                    .col(string(Documents::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(Documents::CaseId)
                            .col(Documents::Version),
                    )
                    .foreign_key(&mut case_fk(
                        "fk_documents_case",
                        Documents::Table,
                        Documents::CaseId,
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SignatureEvidence::Table)
                    .col(big_pk_auto(SignatureEvidence::Id))
                    .col(string(SignatureEvidence::CaseId))
                    .col(string(SignatureEvidence::Field))
                    .col(string(SignatureEvidence::Personnummer))
                    .col(string(SignatureEvidence::SignedSha256))
                    .col(text(SignatureEvidence::Evidence))
                    .col(string(SignatureEvidence::CreatedAt))
                    .foreign_key(&mut case_fk(
                        "fk_signature_evidence_case",
                        SignatureEvidence::Table,
                        SignatureEvidence::CaseId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_signature_evidence_case")
                    .table(SignatureEvidence::Table)
                    .col(SignatureEvidence::CaseId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string(Sessions::IdHash).primary_key())
                    .col(text(Sessions::Data))
                    .col(string(Sessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_expires_at")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    /// Forward-only: there is no way back (the default `down` refuses).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
