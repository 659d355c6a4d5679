//! The service's settings: the API's, the backends', and the worker's tuning.

use std::{path::PathBuf, time::Duration};

use kit::config::{Common, Secret, SecretError, parse_duration};

/// Whether `berth serve` runs the worker inside its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InProcessWorker {
    /// Only when the queue is embedded (SQLite): with Redis, run `berth worker multivac`.
    Auto,
    /// Always.
    Always,
    /// Never (a separate `berth worker multivac` drains the queue).
    Never,
}

kit::listen_args!(
    /// Where the MultiVAC API listens (`--multivac-addr`).
    Listen, "multivac", "BERTH_MULTIVAC_ADDR", "0.0.0.0:5001"
);

kit::listen_args!(
    /// Where `berth worker multivac` serves `/metrics`, `/healthcheck` and `/livez`
    /// (`--multivac-worker-addr`).
    WorkerListen,
    "multivac-worker",
    "BERTH_MULTIVAC_WORKER_ADDR",
    "0.0.0.0:9101",
    alias = "worker-addr"
);

kit::secret_args!(
    /// The queue's Redis URL (`--multivac-redis-url[-file]`).
    RedisUrl,
    "multivac-redis-url",
    "BERTH_MULTIVAC_REDIS_URL",
    "Redis URL of the queue (a Stream with a consumer group; rediss:// for TLS); else \
     REDIS_URL; else the embedded SQLite queue"
);

kit::switch_args!(
    /// `--multivac-redis-cluster`: whether the queue's Redis is a Redis Cluster
    /// (MemoryDB, ElastiCache in cluster mode). The URL names one node, and the keys
    /// carry a hash tag so that they share a slot.
    RedisCluster, "multivac-redis-cluster", "BERTH_MULTIVAC_REDIS_CLUSTER", false,
    "Whether the queue's Redis is a Redis Cluster (MemoryDB, ElastiCache in cluster mode)"
);

kit::secret_args!(
    /// The store's database URL (`--multivac-database-url[-file]`).
    DatabaseUrl,
    "multivac-database-url",
    "BERTH_MULTIVAC_DATABASE_URL",
    "PostgreSQL URL of the store; else DATABASE_URL; else the embedded SQLite store"
);

/// The MultiVAC service's settings (`berth serve`).
#[derive(Debug, Clone, clap::Args)]
#[group(id = "multivac-config")]
pub struct Config {
    /// Where the API listens.
    #[command(flatten)]
    pub listen: Listen,
    /// Largest datum accepted by `POST /multivac/data`, in bytes (413 above it).
    #[arg(
        id = "multivac-max-data",
        long = "multivac-max-data",
        env = "BERTH_MULTIVAC_MAX_DATA",
        default_value_t = 64 * 1024
    )]
    pub max_data: usize,
    /// Whether `berth serve` runs the worker in its own process.
    #[arg(
        id = "multivac-worker",
        long = "multivac-worker",
        env = "BERTH_MULTIVAC_WORKER",
        value_enum,
        default_value_t = InProcessWorker::Auto
    )]
    pub in_process_worker: InProcessWorker,
    /// Queue and store.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Worker tuning (also used by the in-process worker).
    #[command(flatten)]
    pub tuning: Tuning,
}

impl Config {
    /// The defaults (as with no flag and no environment variable), listening on
    /// `127.0.0.1:0` (a free port).
    pub fn for_tests() -> Self {
        Self {
            listen: Listen::for_tests(),
            max_data: 64 * 1024,
            in_process_worker: InProcessWorker::Auto,
            backend: BackendArgs::default(),
            tuning: Tuning::default(),
        }
    }
}

/// Where the queue and the store live.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "multivac-backend")]
pub struct BackendArgs {
    /// The queue's own Redis URL.
    #[command(flatten)]
    pub redis: RedisUrl,
    /// Prefix of the queue's Redis keys (`<prefix>queue`, `<prefix>dead`; in a cluster
    /// `<prefix>{q}:queue`, `<prefix>{q}:dead`).
    #[arg(
        id = "multivac-redis-prefix",
        long = "multivac-redis-prefix",
        env = "BERTH_MULTIVAC_REDIS_PREFIX",
        default_value = "multivac:"
    )]
    pub redis_prefix: String,
    /// Whether the queue's Redis is a Redis Cluster.
    #[command(flatten)]
    pub redis_cluster: RedisCluster,
    /// Longest a single Redis command may take before the request fails (503).
    #[arg(
        id = "multivac-redis-timeout",
        long = "multivac-redis-timeout",
        env = "BERTH_MULTIVAC_REDIS_TIMEOUT",
        default_value = "2s",
        value_parser = parse_duration
    )]
    pub redis_timeout: Duration,
    /// The store's own database URL.
    #[command(flatten)]
    pub database: DatabaseUrl,
}

/// How workers take, retry and give up on items.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "multivac-tuning")]
pub struct Tuning {
    /// An item delivered but not acknowledged for this long (its worker died) is
    /// delivered again (Redis `XAUTOCLAIM`; the SQLite queue's lease).
    #[arg(
        id = "multivac-claim-idle",
        long = "multivac-claim-idle",
        env = "BERTH_MULTIVAC_CLAIM_IDLE",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub claim_idle: Duration,
    /// Deliveries an item gets; one more and it moves to the dead letters, counted as
    /// failed.
    #[arg(
        id = "multivac-max-attempts",
        long = "multivac-max-attempts",
        env = "BERTH_MULTIVAC_MAX_ATTEMPTS",
        default_value_t = 5,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_attempts: u32,
    /// Items a worker takes at once (one read, one multi-row insert, one acknowledgement).
    #[arg(
        id = "multivac-batch-size",
        long = "multivac-batch-size",
        env = "BERTH_MULTIVAC_BATCH_SIZE",
        default_value_t = 256,
        value_parser = clap::value_parser!(u32).range(1..=5000)
    )]
    pub batch_size: u32,
    /// Concurrent worker loops (each its own consumer).
    #[arg(
        id = "multivac-worker-concurrency",
        long = "multivac-worker-concurrency",
        visible_alias = "concurrency",
        env = "BERTH_MULTIVAC_WORKER_CONCURRENCY",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=256)
    )]
    pub concurrency: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            claim_idle: Duration::from_secs(30),
            max_attempts: 5,
            batch_size: 256,
            concurrency: 1,
        }
    }
}

impl Default for BackendArgs {
    fn default() -> Self {
        Self {
            redis: RedisUrl::default(),
            redis_prefix: "multivac:".into(),
            redis_cluster: RedisCluster::default(),
            redis_timeout: Duration::from_secs(2),
            database: DatabaseUrl::default(),
        }
    }
}

/// The backends chosen, with every secret read.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Redis URL of the queue, or `None` for the embedded queue.
    pub redis_url: Option<Secret>,
    /// PostgreSQL URL of the store, or `None` for the embedded store.
    pub database_url: Option<Secret>,
    /// Directory of the embedded database (`multivac.db`).
    pub data_dir: PathBuf,
}

impl BackendArgs {
    /// Reads the URLs (value or `_FILE`), falling back to `common`'s.
    pub fn resolve(&self, common: &Common) -> Result<Resolved, SecretError> {
        let redis = self.redis.resolve()?;
        let database = self.database.resolve()?;
        Ok(Resolved {
            redis_url: Common::pick(redis.as_ref(), common.redis_url.as_ref()),
            database_url: Common::pick(database.as_ref(), common.database_url.as_ref()),
            data_dir: common.data_dir.clone(),
        })
    }
}
