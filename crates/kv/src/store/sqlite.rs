//! The embedded backend: one SQLite file, WAL journal, `synchronous=FULL` (every commit
//! is fsynced before it is acknowledged, so a kill -9 — even a power cut — loses no
//! acknowledged write).

use std::path::Path;

use async_trait::async_trait;

use super::{SetOutcome, Store, StoreError};

/// The migrations of the SQLite schema.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Key-value pairs in a SQLite database ([`kit::db::open_sqlite`]: writes in turn
/// through one connection, reads beside them).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    db: kit::db::Sqlite,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            db: kit::db::open_sqlite(path, &MIGRATOR, 4).await?,
        })
    }
}

fn classify(error: sqlx::Error) -> StoreError {
    if kit::db::is_unavailable(&error) {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Other(Box::new(error))
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn get(&self, id: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT data FROM entries WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.db.reader)
            .await
            .map_err(classify)
    }

    async fn set(&self, id: &str, data: &str) -> Result<SetOutcome, StoreError> {
        // One statement: the insert creates the row with version 1, a conflict bumps it.
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO entries (id, data) VALUES (?, ?) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, version = entries.version + 1 \
             RETURNING version",
        )
        .bind(id)
        .bind(data)
        .fetch_one(&self.db.writer)
        .await
        .map_err(classify)?;
        Ok(if version == 1 {
            SetOutcome::Created
        } else {
            SetOutcome::Replaced
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.db.reader)
            .await
            .map(drop)
            .map_err(classify)
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_set_tells_new_from_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("sub/kv.db"))
            .await
            .unwrap();
        assert_eq!(store.set("a", "1").await.unwrap(), SetOutcome::Created);
        assert_eq!(store.set("a", "2").await.unwrap(), SetOutcome::Replaced);
        assert_eq!(store.get("a").await.unwrap().as_deref(), Some("2"));
        assert_eq!(store.get("b").await.unwrap(), None);
    }
}
