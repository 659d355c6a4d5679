//! Opening the queue and the store a configuration names.

use std::{str::FromStr, sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::{
    config::{BackendArgs, Resolved, Tuning},
    queue::{Queue, redis::RedisQueue, sqlite::SqliteQueue},
    store::{Store, postgres::PgStore, sqlite::SqliteStore},
};

/// The schema of MultiVAC's tables (and of its migration history) in PostgreSQL.
pub const PG_SCHEMA: &str = "multivac";

/// The embedded database's file name, in the data directory.
pub const SQLITE_FILE: &str = "multivac.db";

/// An open queue and store.
#[derive(Clone)]
pub struct Backends {
    /// The queue.
    pub queue: Arc<dyn Queue>,
    /// The store.
    pub store: Arc<dyn Store>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends")
            .field("queue", &self.queue.kind())
            .field("store", &self.store.kind())
            .finish()
    }
}

impl Backends {
    /// Opens (and migrates) the backends `resolved` names: Redis or the embedded
    /// queue, PostgreSQL or the embedded store.
    pub async fn open(
        resolved: &Resolved,
        args: &BackendArgs,
        tuning: &Tuning,
    ) -> anyhow::Result<Self> {
        let sqlite = if resolved.redis_url.is_none() || resolved.database_url.is_none() {
            Some(open_sqlite(&resolved.data_dir).await?)
        } else {
            None
        };
        let embedded = || sqlite.clone().expect("opened above when needed");
        let queue: Arc<dyn Queue> = match &resolved.redis_url {
            Some(url) => Arc::new(
                RedisQueue::connect(
                    url.expose(),
                    &args.redis_prefix,
                    args.redis_cluster.on,
                    tuning.claim_idle,
                    args.redis_timeout,
                )
                .await
                .context("connecting to the queue's Redis")?,
            ),
            None => Arc::new(
                SqliteQueue::new(&embedded(), tuning.claim_idle)
                    .await
                    .context("opening the embedded queue")?,
            ),
        };
        let store: Arc<dyn Store> = match &resolved.database_url {
            Some(url) => Arc::new(PgStore::new(open_postgres(url.expose()).await?)),
            None => Arc::new(SqliteStore::new(&embedded())),
        };
        Ok(Self { queue, store })
    }
}

/// The migrations of the embedded database (queue and store).
static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens `<data_dir>/multivac.db` ([`kit::db::open_sqlite`]: created with its directory
/// if missing, WAL, `synchronous=FULL`) and applies the SQLite migrations.
pub async fn open_sqlite(data_dir: &std::path::Path) -> anyhow::Result<kit::db::Sqlite> {
    kit::db::open_sqlite(&data_dir.join(SQLITE_FILE), &SQLITE_MIGRATOR, 4).await
}

/// Connects to PostgreSQL with `search_path` set to [`PG_SCHEMA`] (created if
/// missing) and applies the PostgreSQL migrations there.
pub async fn open_postgres(url: &str) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)
        .context("parsing the store's PostgreSQL URL")?
        .options([("search_path", PG_SCHEMA)]);
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options)
        .await
        .context("connecting to the store's PostgreSQL")?;
    let create = format!("CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}");
    if let Err(e) = sqlx::query(&create).execute(&pool).await {
        // Two processes creating it at once: one of them fails; fine if it exists.
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = $1)",
        )
        .bind(PG_SCHEMA)
        .fetch_one(&pool)
        .await
        .unwrap_or(false);
        if !exists {
            return Err(e).context("creating the schema multivac");
        }
    }
    sqlx::migrate!("./migrations/postgres")
        .run(&pool)
        .await
        .context("migrating the store's PostgreSQL")?;
    Ok(pool)
}
