//! The embedded queue: the SQLite table `queue`, one row per item, with a lease.
//!
//! A fetch leases the oldest items that are free (never delivered, or whose lease
//! expired: their worker died) in one `UPDATE ... RETURNING`, raising their attempt
//! count; an acknowledgement deletes them. Ids are `<instance>-<seq>`, `instance` a
//! random name of the database file, so they never repeat.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row, SqlitePool};
use tokio::sync::Notify;

use super::{Consumer, Delivery, Queue, QueueCounts};
use crate::error::BackendError;

/// Longest a consumer sleeps between two looks at the table when nobody wakes it.
const POLL: Duration = Duration::from_millis(250);

/// The SQLite queue.
#[derive(Debug, Clone)]
pub struct SqliteQueue {
    pool: SqlitePool,
    instance: String,
    claim_idle: Duration,
    wake: Arc<Notify>,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl SqliteQueue {
    /// The queue in the embedded database `db` (opened and migrated by
    /// [`crate::backend::open_sqlite`]); every statement of a queue changes it or must
    /// see its latest state, so all go through the writer.
    pub async fn new(db: &kit::db::Sqlite, claim_idle: Duration) -> Result<Self, BackendError> {
        let pool = db.writer.clone();
        let instance: String = sqlx::query_scalar("SELECT instance FROM queue_instance LIMIT 1")
            .fetch_one(&pool)
            .await?;
        Ok(Self {
            pool,
            instance,
            claim_idle,
            wake: Arc::new(Notify::new()),
        })
    }

    fn seq_of(&self, id: &str) -> Option<i64> {
        let (instance, seq) = id.rsplit_once('-')?;
        (instance == self.instance)
            .then(|| seq.parse().ok())
            .flatten()
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn push(&self, data: &str) -> Result<String, BackendError> {
        let seq: i64 =
            sqlx::query_scalar("INSERT INTO queue (data, queued_at) VALUES (?1, ?2) RETURNING seq")
                .bind(data)
                .bind(now_ms())
                .fetch_one(&self.pool)
                .await?;
        self.wake.notify_one();
        Ok(format!("{}-{seq}", self.instance))
    }

    async fn consumer(&self, name: &str) -> Result<Box<dyn Consumer>, BackendError> {
        Ok(Box::new(SqliteConsumer {
            queue: self.clone(),
            name: name.to_owned(),
        }))
    }

    async fn redeliverable(&self) -> Result<u64, BackendError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM queue WHERE attempts > 0 AND lease_until <= ?1 LIMIT 10000)",
        )
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn counts(&self) -> Result<QueueCounts, BackendError> {
        let row = sqlx::query(
            "SELECT
               (SELECT count(*) FROM queue WHERE lease_until IS NULL OR lease_until <= ?1),
               (SELECT count(*) FROM queue WHERE lease_until > ?1),
               (SELECT count(*) FROM dead_letters)",
        )
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        let get = |i: usize| -> Result<u64, BackendError> {
            Ok(u64::try_from(row.try_get::<i64, _>(i)?).unwrap_or(0))
        };
        Ok(QueueCounts {
            queued: get(0)?,
            in_progress: get(1)?,
            failed: get(2)?,
        })
    }

    async fn ping(&self) -> Result<(), BackendError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

struct SqliteConsumer {
    queue: SqliteQueue,
    name: String,
}

impl SqliteConsumer {
    async fn lease(&self, max: usize) -> Result<Vec<Delivery>, BackendError> {
        let now = now_ms();
        let until = now.saturating_add(
            i64::try_from(self.queue.claim_idle.as_millis()).unwrap_or(i64::MAX / 2),
        );
        let rows = sqlx::query(
            "UPDATE queue SET attempts = attempts + 1, lease_owner = ?1, lease_until = ?2
             WHERE seq IN (SELECT seq FROM queue
                           WHERE lease_until IS NULL OR lease_until <= ?3
                           ORDER BY seq LIMIT ?4)
             RETURNING seq, data, queued_at, attempts",
        )
        .bind(&self.name)
        .bind(until)
        .bind(now)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.queue.pool)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let seq: i64 = r.try_get(0)?;
                let queued_at: i64 = r.try_get(2)?;
                let attempts: i64 = r.try_get(3)?;
                Ok((
                    seq,
                    Delivery {
                        id: format!("{}-{seq}", self.queue.instance),
                        data: r.try_get(1)?,
                        queued_at: DateTime::from_timestamp_millis(queued_at)
                            .unwrap_or_else(Utc::now),
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    },
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        out.sort_by_key(|(seq, _)| *seq);
        let reclaimed = out.iter().filter(|(_, d)| d.attempts > 1).count();
        if reclaimed > 0 {
            metrics::counter!("multivac_reclaimed_total").increment(reclaimed as u64);
        }
        Ok(out.into_iter().map(|(_, d)| d).collect())
    }
}

#[async_trait]
impl Consumer for SqliteConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let items = self.lease(max).await?;
            let now = tokio::time::Instant::now();
            if !items.is_empty() || now >= deadline {
                return Ok(items);
            }
            let nap = (deadline - now).min(POLL);
            let _ = tokio::time::timeout(nap, self.queue.wake.notified()).await;
        }
    }

    async fn ack(&mut self, ids: &[String]) -> Result<(), BackendError> {
        let seqs: Vec<i64> = ids.iter().filter_map(|id| self.queue.seq_of(id)).collect();
        for chunk in seqs.chunks(500) {
            let mut q = QueryBuilder::new("DELETE FROM queue WHERE seq IN (");
            let mut list = q.separated(", ");
            for seq in chunk {
                list.push_bind(*seq);
            }
            q.push(")");
            q.build().execute(&self.queue.pool).await?;
        }
        Ok(())
    }

    async fn dead_letter(&mut self, item: &Delivery, reason: &str) -> Result<(), BackendError> {
        let mut tx = self.queue.pool.begin().await?;
        sqlx::query(
            "INSERT INTO dead_letters (queue_id, data, queued_at, attempts, reason, failed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&item.id)
        .bind(item.data.as_deref())
        .bind(item.queued_at.timestamp_millis())
        .bind(i64::from(item.attempts))
        .bind(reason)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if let Some(seq) = self.queue.seq_of(&item.id) {
            sqlx::query("DELETE FROM queue WHERE seq = ?1")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn close(self: Box<Self>) {}
}
