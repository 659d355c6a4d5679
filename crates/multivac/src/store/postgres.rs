//! The production store: the table `multivac.records` in PostgreSQL.

use async_trait::async_trait;
use chrono::Utc;
use sqlx::{PgPool, postgres::PgRow};

use super::Store;
use crate::{
    error::BackendError,
    process::{NewRecord, Record},
};

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// The store in `pool` (migrated by [`crate::backend::open_postgres`]).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn record(row: &PgRow) -> Result<Record, sqlx::Error> {
    super::record_from_row!(row, std::convert::identity)
}

#[async_trait]
impl Store for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn insert(&self, records: &[NewRecord]) -> Result<u64, BackendError> {
        super::insert_records!(self.pool, records, std::convert::identity)
    }

    async fn stored(&self, queue_ids: &[String]) -> Result<Vec<String>, BackendError> {
        Ok(
            sqlx::query_scalar("SELECT queue_id FROM records WHERE queue_id = ANY($1)")
                .bind(queue_ids)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn oldest(&self) -> Result<Option<Record>, BackendError> {
        let row = sqlx::query("SELECT * FROM records WHERE deleted_at IS NULL ORDER BY queued_at, queue_order LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(record).transpose()?)
    }

    async fn delete_oldest(&self) -> Result<Option<i64>, BackendError> {
        // SKIP LOCKED: two concurrent deletes take two different records.
        Ok(sqlx::query_scalar(
            "UPDATE records SET deleted_at = $1, data = NULL
             WHERE id = (SELECT id FROM records WHERE deleted_at IS NULL
                         ORDER BY queued_at, queue_order LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id",
        )
        .bind(Utc::now())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn count(&self) -> Result<u64, BackendError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM records WHERE deleted_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn ping(&self) -> Result<(), BackendError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
