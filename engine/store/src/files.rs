//! The file store port on the same database: uploaded files' bytes in `case_files`.

use blankett_core::eid::BoxFuture;
use blankett_core::store::{FileMeta, FileStore, FileWithBytes, IdempotentCreate, StoreError};
use blankett_core::time::Timestamp;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entity::{case_files, idempotency_keys};
use super::{SeaStore, db_err, fmt_time, parse_time};

#[derive(sea_orm::FromQueryResult)]
struct MetaRow {
    id: String,
    case_id: String,
    field: String,
    name: String,
    content_type: String,
    size: i64,
    sha256: String,
    created_at: String,
}

impl MetaRow {
    fn into_meta(self) -> Result<FileMeta, StoreError> {
        Ok(FileMeta {
            size: u64::try_from(self.size)
                .map_err(|_| StoreError::Backend("file size out of range".into()))?,
            created_at: parse_time(&self.created_at)?,
            sha256: self.sha256.into(),
            id: self.id,
            case_id: self.case_id,
            field: self.field,
            name: self.name,
            content_type: self.content_type,
        })
    }
}

impl SeaStore {
    async fn put_file_impl(&self, meta: &FileMeta, bytes: &[u8]) -> Result<(), StoreError> {
        let row = case_files::ActiveModel {
            id: Set(meta.id.clone()),
            case_id: Set(meta.case_id.clone()),
            field: Set(meta.field.clone()),
            name: Set(meta.name.clone()),
            content_type: Set(meta.content_type.clone()),
            size: Set(i64::try_from(meta.size)
                .map_err(|_| StoreError::Backend("file size out of range".into()))?),
            sha256: Set(meta.sha256.as_str().to_owned()),
            bytes: Set(bytes.to_vec()),
            created_at: Set(fmt_time(meta.created_at)),
        };
        case_files::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err("store file"))?;
        Ok(())
    }

    async fn file_impl(
        &self,
        case_id: &str,
        id: &str,
    ) -> Result<Option<FileWithBytes>, StoreError> {
        let row = case_files::Entity::find_by_id(id.to_owned())
            .filter(case_files::Column::CaseId.eq(case_id))
            .one(&self.db)
            .await
            .map_err(db_err("read file"))?;
        row.map(|r| {
            let meta = MetaRow {
                id: r.id,
                case_id: r.case_id,
                field: r.field,
                name: r.name,
                content_type: r.content_type,
                size: r.size,
                sha256: r.sha256,
                created_at: r.created_at,
            }
            .into_meta()?;
            Ok((meta, r.bytes))
        })
        .transpose()
    }

    async fn files_of_case_impl(&self, case_id: &str) -> Result<Vec<FileMeta>, StoreError> {
        use case_files::Column as C;
        let rows = case_files::Entity::find()
            .filter(C::CaseId.eq(case_id))
            .select_only()
            .columns([
                C::Id,
                C::CaseId,
                C::Field,
                C::Name,
                C::ContentType,
                C::Size,
                C::Sha256,
                C::CreatedAt,
            ])
            .order_by_asc(C::CreatedAt)
            .order_by_asc(C::Id)
            .into_model::<MetaRow>()
            .all(&self.db)
            .await
            .map_err(db_err("list files"))?;
        rows.into_iter().map(MetaRow::into_meta).collect()
    }

    async fn delete_files_impl(&self, case_id: &str, ids: &[String]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let res = case_files::Entity::delete_many()
            .filter(case_files::Column::CaseId.eq(case_id))
            .filter(case_files::Column::Id.is_in(ids.iter().cloned()))
            .exec(&self.db)
            .await
            .map_err(db_err("delete files"))?;
        Ok(res.rows_affected)
    }
}

impl SeaStore {
    /// See [`blankett_core::store::Store::claim_idempotency_key`]: an insert that a unique key
    /// decides, so two instances racing on one key make one claim.
    pub(crate) async fn claim_idempotency_key_impl(
        &self,
        key: &str,
        case_id: &str,
        request_sha256: &str,
        now: Timestamp,
    ) -> Result<Option<IdempotentCreate>, StoreError> {
        let row = idempotency_keys::ActiveModel {
            key: Set(key.to_owned()),
            case_id: Set(case_id.to_owned()),
            request_sha256: Set(request_sha256.to_owned()),
            created_at: Set(fmt_time(now)),
        };
        match idempotency_keys::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(db_err("claim an idempotency key"))
        {
            Ok(_) => Ok(None),
            Err(StoreError::Duplicate) => {
                let found = idempotency_keys::Entity::find_by_id(key.to_owned())
                    .one(&self.db)
                    .await
                    .map_err(db_err("read an idempotency key"))?
                    .ok_or(StoreError::Conflict {
                        expected: 0,
                        actual: 0,
                    })?;
                Ok(Some(IdempotentCreate {
                    claimed_at: parse_time(&found.created_at)?,
                    case_id: found.case_id,
                    request_sha256: found.request_sha256,
                }))
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn release_idempotency_key_impl(&self, key: &str) -> Result<(), StoreError> {
        idempotency_keys::Entity::delete_by_id(key.to_owned())
            .exec(&self.db)
            .await
            .map_err(db_err("release an idempotency key"))?;
        Ok(())
    }
}

impl FileStore for SeaStore {
    fn put_file<'a>(
        &'a self,
        meta: &'a FileMeta,
        bytes: &'a [u8],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.put_file_impl(meta, bytes))
    }

    fn file<'a>(
        &'a self,
        case_id: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<FileWithBytes>, StoreError>> {
        Box::pin(self.file_impl(case_id, id))
    }

    fn files_of_case<'a>(
        &'a self,
        case_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<FileMeta>, StoreError>> {
        Box::pin(self.files_of_case_impl(case_id))
    }

    fn delete_files<'a>(
        &'a self,
        case_id: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.delete_files_impl(case_id, ids))
    }
}
