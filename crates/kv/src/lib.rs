//! kv: a key-value store over HTTP, on Redis or SQLite, that loses no acknowledged write.
//!
//! The contract of the original exercise, exactly:
//! - `GET /get/{id}` → 200 `{"<id>":"<data>"}`, or 404 when nothing is stored;
//! - `POST /set` with `{"id":"...","data":"..."}` → 201 `{"status":"ok"}` when the id
//!   was new, 200 `{"status":"ok"}` when its value was replaced — decided atomically by
//!   the store, in one round trip;
//! - `GET /healthcheck` → 200 `{"status":"ok"}` while the store answers, else 503 (the
//!   kit's readiness endpoint, with the store's check); it recovers by itself;
//! - `GET /prom-metrics` → the Prometheus text of `/metrics`.
//!
//! Beyond it: bad input is a 4xx problem+json saying what is wrong (400 not a JSON
//! object, 422 missing/non-string/empty/over-512-byte fields, 413 `data` over
//! `--kv-max-data`); with API tokens configured `POST /set` needs a bearer token;
//! a store that does not answer is a fast 503, never a hung request.
//!
//! Stores: SQLite at `<data dir>/kv.db` (WAL, `synchronous=FULL`) by default; Redis when
//! a URL is given (`--kv-redis-url`, else `REDIS_URL`; `rediss://` for TLS), keys under
//! `--kv-prefix`, one server or a Redis Cluster (`--kv-redis-cluster`).
//!
//! # Layout
//!
//! - [`store`]: the [`store::Store`] trait and its backends, [`store::sqlite`] and
//!   [`store::redis`] — no HTTP.
//! - [`input`]: checking a `POST /set` body — no store.
//! - [`http`]: the routes and their OpenAPI; [`http::router`].
//! - [`error`]: [`error::Error`], answered as problem+json.
//! - [`Config`], [`service`] / [`build`] / [`app`]: settings; the service from settings
//!   or from an open store ([`store::open`]); the full application for tests.

pub mod error;
pub mod http;
pub mod input;
pub mod store;

use std::{path::PathBuf, sync::Arc, time::Duration};

use kit::{
    Health,
    auth::Tokens,
    config::{Common, parse_duration},
};

use crate::store::Store;

/// The service's name, as in metrics labels and logs.
pub const NAME: &str = "kv";

kit::listen_args!(
    /// Where the kv service listens (`--kv-addr`).
    Listen, "kv", "BERTH_KV_ADDR", "0.0.0.0:5000"
);

kit::secret_args!(
    /// kv's Redis URL (`--kv-redis-url[-file]`).
    RedisUrl,
    "kv-redis-url",
    "BERTH_KV_REDIS_URL",
    "Redis URL of kv (redis://user:password@host:port/db, rediss:// for TLS); else REDIS_URL; \
     with neither, kv stores in SQLite in the data directory"
);

kit::switch_args!(
    /// `--kv-redis-cluster`: whether Redis is a Redis Cluster (MemoryDB, ElastiCache in
    /// cluster mode). The URL names one node, and each command goes to the master of
    /// its key's slot.
    RedisCluster, "kv-redis-cluster", "BERTH_KV_REDIS_CLUSTER", false,
    "Whether Redis is a Redis Cluster (MemoryDB, ElastiCache in cluster mode)"
);

kit::switch_args!(
    /// `--kv-redis-coalesce`: let the Redis commands of requests that are ready together
    /// leave in one write (on by default; off sends each command on its own, as
    /// redis-rs does; a cluster's writes are never coalesced). Why it is on:
    /// docs/benchmarks.md, section kv, the rows "A/B write coalescing".
    RedisCoalesce, "kv-redis-coalesce", "BERTH_KV_REDIS_COALESCE", true,
    "Let the Redis commands of concurrent requests share writes (off: each on its own)"
);

/// The kv service's settings.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "kv-config")]
pub struct Config {
    /// Where it listens.
    #[command(flatten)]
    pub listen: Listen,
    /// Its own Redis URL.
    #[command(flatten)]
    pub redis: RedisUrl,
    /// A file holding the Redis password, used when the URL has none.
    #[arg(
        id = "kv-redis-password-file",
        long = "kv-redis-password-file",
        env = "KV_REDIS_PASSWORD_FILE"
    )]
    pub redis_password_file: Option<PathBuf>,
    /// Longest a Redis command (or connection attempt) may take; past it the request
    /// gets 503.
    #[arg(id = "kv-redis-timeout", long = "kv-redis-timeout", env = "BERTH_KV_REDIS_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub redis_timeout: Duration,
    /// Whether Redis is a Redis Cluster.
    #[command(flatten)]
    pub redis_cluster: RedisCluster,
    /// Whether the Redis commands of concurrent requests share writes.
    #[command(flatten)]
    pub redis_coalesce: RedisCoalesce,
    /// Prefix of kv's keys in Redis (the shipped ACL allows the `kv` user `kv:*`).
    #[arg(
        id = "kv-prefix",
        long = "kv-prefix",
        env = "BERTH_KV_PREFIX",
        default_value = "kv:"
    )]
    pub prefix: String,
    /// Largest `data` accepted by `POST /set`, in bytes (413 above it).
    #[arg(id = "kv-max-data", long = "kv-max-data", env = "BERTH_KV_MAX_DATA", default_value_t = 1024 * 1024)]
    pub max_data: usize,
}

impl Config {
    /// The defaults (as with no flag and no environment variable), listening on
    /// `127.0.0.1:0` (a free port).
    pub fn for_tests() -> Self {
        Self {
            listen: Listen::for_tests(),
            redis: RedisUrl::default(),
            redis_password_file: None,
            redis_timeout: Duration::from_secs(1),
            redis_cluster: RedisCluster::default(),
            redis_coalesce: RedisCoalesce::default(),
            prefix: "kv:".to_owned(),
            max_data: 1024 * 1024,
        }
    }
}

/// The kv service from its settings: its store opened ([`store::open`]).
pub async fn service(config: &Config, common: &Common) -> anyhow::Result<kit::Service> {
    let store = store::open(config, common).await?;
    Ok(build(store, config, common.tokens.clone()))
}

/// The kv service over an open store: its routes (`POST /set` behind `tokens` when any
/// is configured), the store's readiness check (`redis` or `database`), and a body limit
/// that fits `--kv-max-data` even when every character is JSON-escaped.
pub fn build(store: Arc<dyn Store>, config: &Config, tokens: Tokens) -> kit::Service {
    let check = store.clone();
    let name = if store.backend() == "redis" {
        "redis"
    } else {
        "database"
    };
    let health = Health::new().with_check(name, move || {
        let store = check.clone();
        async move { store.ping().await.map_err(|e| kit::problem::chain(&e)) }
    });
    let max_data = config.max_data;
    let api = http::router(http::AppState { store, max_data }, tokens);
    kit::Service::new(NAME, api)
        .with_health(health)
        .with_body_limit(max_data.saturating_mul(6).saturating_add(64 * 1024))
}

/// The complete application (service routes + kit endpoints and layers), for tests.
pub fn app(
    store: Arc<dyn Store>,
    config: &Config,
    tokens: Tokens,
    http: &kit::http::HttpConfig,
) -> axum::Router {
    kit::http::app(build(store, config, tokens), http)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        kv: super::Config,
    }

    #[test]
    fn redis_writes_are_coalesced_unless_switched_off() {
        let default = Cli::try_parse_from(["kv"]).unwrap();
        assert!(default.kv.redis_coalesce.on);
        let off = Cli::try_parse_from(["kv", "--kv-redis-coalesce=false"]).unwrap();
        assert!(!off.kv.redis_coalesce.on);
        assert!(Cli::try_parse_from(["kv", "--kv-redis-coalesce=maybe"]).is_err());
    }
}
