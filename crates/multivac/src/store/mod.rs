//! The store of processed records, behind [`Store`].
//!
//! Records are keyed by the queue id of their item: inserting one that exists is a
//! no-op (`INSERT ... ON CONFLICT DO NOTHING`), which makes redelivery harmless.
//! "The oldest" record is the one whose datum arrived first (`queued_at`, then the queue
//! id in [`arrival_key`] form), not the first processed: with one worker, as in the
//! original (whose `find_one()` returned the first document stored), the two agree;
//! with several workers, or after a dead worker's items were reclaimed late, only
//! arrival order still answers with the datum clients sent first.
//!
//! Backends: [`postgres::PgStore`] (production) and [`sqlite::SqliteStore`] (embedded).

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;

use crate::{
    error::BackendError,
    process::{NewRecord, Record},
};

/// Rows per `INSERT` statement (bound parameters stay far below every limit).
pub(crate) const INSERT_CHUNK: usize = 1000;

/// What both backends do alike but for how a timestamp is stored (PostgreSQL's
/// `timestamptz`, SQLite's milliseconds): written once, expanded in each with its
/// conversion, since sqlx's row and argument types differ per database.
///
/// - `insert_records!(pool, records, to_db)`: the body of [`Store::insert`]: one
///   transaction, [`INSERT_CHUNK`] rows per statement, a queue id already stored
///   skipped; the new rows' count.
/// - `record_from_row!(row, from_db)`: a [`Record`] from a row of `records`.
macro_rules! insert_records {
    ($pool:expr, $records:expr, $to_db:expr) => {{
        let mut tx = $pool.begin().await?;
        let mut new = 0;
        for chunk in $records.chunks($crate::store::INSERT_CHUNK) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO records (queue_id, queue_order, data, length, words, queued_at, processed_at) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(&r.queue_id)
                    .push_bind($crate::store::arrival_key(&r.queue_id))
                    .push_bind(&r.data)
                    .push_bind(r.length)
                    .push_bind(r.words)
                    .push_bind($to_db(r.queued_at))
                    .push_bind($to_db(r.processed_at));
            });
            q.push(" ON CONFLICT (queue_id) DO NOTHING");
            new += q.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(new)
    }};
}

/// See [`insert_records`].
macro_rules! record_from_row {
    ($row:expr, $from_db:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        Ok($crate::process::Record {
            id: row.try_get("id")?,
            stored: $crate::process::NewRecord {
                queue_id: row.try_get("queue_id")?,
                data: row
                    .try_get::<Option<String>, _>("data")?
                    .unwrap_or_default(),
                length: row.try_get("length")?,
                words: row.try_get("words")?,
                queued_at: $from_db(row.try_get("queued_at")?),
                processed_at: $from_db(row.try_get("processed_at")?),
            },
        })
    }};
}
pub(crate) use {insert_records, record_from_row};

/// A queue id in a form whose string order is arrival order: each all-digit part
/// between `-` is zero-padded to 20 digits (`1700000000000-9` sorts before
/// `1700000000000-10`, as Redis stream ids and the SQLite queue's `instance-seq` do).
pub fn arrival_key(queue_id: &str) -> String {
    queue_id
        .split('-')
        .map(|part| {
            if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                format!("{part:0>20}")
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Where processed records live.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `postgres` or `sqlite`.
    fn kind(&self) -> &'static str;
    /// Stores records (in the order given) in one transaction; a record whose queue id
    /// is already stored is skipped. Returns how many were new.
    async fn insert(&self, records: &[NewRecord]) -> Result<u64, BackendError>;
    /// Which of `queue_ids` are stored (deleted records included).
    async fn stored(&self, queue_ids: &[String]) -> Result<Vec<String>, BackendError>;
    /// The oldest record not deleted.
    async fn oldest(&self) -> Result<Option<Record>, BackendError>;
    /// Deletes the oldest record; returns its id. Its queue id stays known (see
    /// [`Store::stored`]) so that a late redelivery cannot bring it back.
    async fn delete_oldest(&self) -> Result<Option<i64>, BackendError>;
    /// How many records are stored (not deleted).
    async fn count(&self) -> Result<u64, BackendError>;
    /// Whether the store answers.
    async fn ping(&self) -> Result<(), BackendError>;
}

#[cfg(test)]
mod tests {
    use super::arrival_key;

    #[test]
    fn arrival_key_orders_numerically_within_a_millisecond() {
        let ids = ["1700000000000-9", "1700000000000-10", "1700000000001-0"];
        let keys: Vec<String> = ids.iter().map(|id| arrival_key(id)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(arrival_key("a1b2-7"), format!("a1b2-{:0>20}", 7));
    }
}
