//! The store trait and its backends. No HTTP here.
//!
//! Both backends give the same guarantees, checked by one conformance suite:
//! - [`Store::set`] tells a new key from a replaced one *atomically*, in one round trip
//!   (Redis: `SET key value GET`; SQLite: one upsert with `RETURNING`), so two clients
//!   writing the same new key concurrently get exactly one [`SetOutcome::Created`];
//! - a write is acknowledged only once it is durable (Redis: AOF with
//!   `appendfsync always`; SQLite: WAL with `synchronous=FULL`).

pub mod redis;
pub mod sqlite;

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use kit::config::{Common, Secret, resolve_secret};

use crate::Config;

/// Opens the configured store: Redis when kv's own or the process-wide Redis URL is
/// set, else SQLite at `<data dir>/kv.db`.
pub async fn open(config: &Config, common: &Common) -> anyhow::Result<Arc<dyn Store>> {
    let own = config.redis.resolve()?;
    if let Some(url) = Common::pick(own.as_ref(), common.redis_url.as_ref()) {
        let password = resolve_secret(
            "KV_REDIS_PASSWORD",
            None,
            config.redis_password_file.as_ref(),
        )?;
        let mode = match (config.redis_cluster.on, config.redis_coalesce.on) {
            (true, _) => redis::Mode::Cluster,
            (false, true) => redis::Mode::Single,
            (false, false) => redis::Mode::SingleUncoalesced,
        };
        let store = redis::RedisStore::connect_with(
            url.expose(),
            password.as_ref().map(Secret::expose),
            config.prefix.clone(),
            config.redis_timeout,
            mode,
        )
        .await
        .context("kv: connecting to Redis")?;
        tracing::info!(
            prefix = %config.prefix,
            cluster = config.redis_cluster.on,
            coalesce = config.redis_coalesce.on,
            "kv stores in Redis"
        );
        Ok(Arc::new(store))
    } else {
        let path = common.data_dir.join("kv.db");
        let store = sqlite::SqliteStore::open(&path)
            .await
            .context("kv: opening SQLite")?;
        tracing::info!(path = %path.display(), "kv stores in SQLite");
        Ok(Arc::new(store))
    }
}

/// What a [`Store::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The key did not exist; it does now.
    Created,
    /// The key existed; its value was replaced.
    Replaced,
}

/// A store failure. Inputs are validated before they reach a store, so every failure
/// here is the server's side.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store does not answer (down, restarting, unreachable, timed out): worth
    /// retrying later.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else.
    #[error("the store failed")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A key-value store.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The value of `id`, if any.
    async fn get(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Sets `id` to `data`, durably, and says whether the key was new; atomic.
    async fn set(&self, id: &str, data: &str) -> Result<SetOutcome, StoreError>;

    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Which backend this is, for logs and the health check's name.
    fn backend(&self) -> &'static str;
}
