//! The embedded store: the table `records` of `<data_dir>/multivac.db`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, SqlitePool, sqlite::SqliteRow};

use super::{INSERT_CHUNK, Store};
use crate::{
    error::BackendError,
    process::{NewRecord, Record},
};

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Writes (and the reads a write depends on) go through the writer.
    pool: SqlitePool,
    /// Reads of the answer and the counts run beside it.
    reader: SqlitePool,
}

impl SqliteStore {
    /// The store in the embedded database `db` (opened and migrated by
    /// [`crate::backend::open_sqlite`]).
    pub fn new(db: &kit::db::Sqlite) -> Self {
        Self {
            pool: db.writer.clone(),
            reader: db.reader.clone(),
        }
    }
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn record(row: &SqliteRow) -> Result<Record, sqlx::Error> {
    super::record_from_row!(row, time)
}

#[async_trait]
impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn insert(&self, records: &[NewRecord]) -> Result<u64, BackendError> {
        super::insert_records!(self.pool, records, |t: chrono::DateTime<Utc>| t
            .timestamp_millis())
    }

    async fn stored(&self, queue_ids: &[String]) -> Result<Vec<String>, BackendError> {
        let mut out = Vec::new();
        for chunk in queue_ids.chunks(INSERT_CHUNK) {
            let mut q = QueryBuilder::new("SELECT queue_id FROM records WHERE queue_id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            q.push(")");
            out.extend(
                q.build_query_scalar::<String>()
                    .fetch_all(&self.pool)
                    .await?,
            );
        }
        Ok(out)
    }

    async fn oldest(&self) -> Result<Option<Record>, BackendError> {
        let row = sqlx::query("SELECT * FROM records WHERE deleted_at IS NULL ORDER BY queued_at, queue_order LIMIT 1")
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    async fn delete_oldest(&self) -> Result<Option<i64>, BackendError> {
        // One statement: SQLite runs it under its single writer lock.
        Ok(sqlx::query_scalar(
            "UPDATE records SET deleted_at = ?1, data = NULL
             WHERE id = (SELECT id FROM records WHERE deleted_at IS NULL ORDER BY queued_at, queue_order LIMIT 1)
             RETURNING id",
        )
        .bind(Utc::now().timestamp_millis())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn count(&self) -> Result<u64, BackendError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM records WHERE deleted_at IS NULL")
            .fetch_one(&self.reader)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), BackendError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
}
