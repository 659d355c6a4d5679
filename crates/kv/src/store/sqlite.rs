//! The embedded backend: one SQLite file, WAL journal, `synchronous=FULL` (every commit
//! is fsynced before it is acknowledged, so a kill -9 — even a power cut — loses no
//! acknowledged write).

use std::{path::Path, str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use super::{SetOutcome, Store, StoreError};

/// The migrations of the SQLite schema.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Key-value pairs in a SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display())
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot open the SQLite database {}: {e}", path.display())
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| anyhow::anyhow!("cannot migrate {}: {e}", path.display()))?;
        Ok(Self { pool })
    }
}

fn classify(error: sqlx::Error) -> StoreError {
    let unavailable = match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        // SQLITE_BUSY (5) / SQLITE_LOCKED (6): another writer held the file too long.
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("5" | "6")),
        _ => false,
    };
    if unavailable {
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
            .fetch_optional(&self.pool)
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
        .fetch_one(&self.pool)
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
            .execute(&self.pool)
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
    async fn every_connection_is_wal_with_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("sub/kv.db"))
            .await
            .unwrap();
        // Hold several connections at once so that more than one is checked.
        let mut conns = Vec::new();
        for _ in 0..3 {
            conns.push(store.pool.acquire().await.unwrap());
        }
        for conn in &mut conns {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(sync, 2, "FULL");
        }
        assert_eq!(store.set("a", "1").await.unwrap(), SetOutcome::Created);
        assert_eq!(store.set("a", "2").await.unwrap(), SetOutcome::Replaced);
        assert_eq!(store.get("a").await.unwrap().as_deref(), Some("2"));
    }
}
