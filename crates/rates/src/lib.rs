//! rates: average daily shipping prices between ports and regions.
//!
//! The contract of the original exercise, exactly: `GET /` answers
//! `{"message":"Hello world!"}`, and
//! `GET /rates?date_from=YYYY-MM-DD&date_to=YYYY-MM-DD&orig_code=X&dest_code=Y` answers
//! `{"rates":[{"count":3,"day":"2021-01-31","price":1154.3333333333333}, ...]}`: one entry
//! per day of the range, newest first, `count` the number of prices that day (`0` on a
//! day without any), `price` their average when `count >= 3`, else `null`.
//!
//! Beyond the original: `orig_code` / `dest_code` may be a port code (`CNSGH`) or a
//! region slug (`china_main`) covering every port below it, to any depth; bad input is a
//! 400 problem+json naming the parameter; `POST /prices` ingests a batch of prices
//! (JSON or CSV) all-or-nothing behind a bearer token; `berth rates load FILE` loads a
//! plain-format `pg_dump` file (such as the original `rates.sql`) in one transaction and
//! `berth rates generate` writes a synthetic one of any size.
//!
//! Stores: SQLite in the data directory (the embedded default, seeded with a small
//! generated dataset when empty) or PostgreSQL when a URL is given. Both sit behind
//! [`store::Store`] and pass one conformance suite.
//!
//! # Layout
//!
//! - [`domain`]: days, lookups and averages, price rows and their validation — no HTTP,
//!   no SQL.
//! - [`ingest`]: parsing a `POST /prices` body (JSON array or CSV) row by row.
//! - [`http`]: the routes and their OpenAPI ([`http::router`]); one module per resource.
//! - [`error`]: [`Error`], every failure a request can meet, as problem+json.
//! - [`store`]: the [`store::Store`] trait and its backends ([`store::sqlite`],
//!   [`store::postgres`]), migrations in `migrations/<backend>/`.
//! - [`dump`]: a streaming, line-numbered reader of plain-format `pg_dump` files.
//! - [`copy_text`]: the `COPY` text format's escaping, shared by the reader, the
//!   generator and the PostgreSQL store.
//! - [`generate`]: a deterministic generator of synthetic dumps.
//! - [`source`]: where a dump is read from: a file, or an `http(s)://` URL, streamed.
//! - [`load`]: a dump into a store, in one transaction, with progress.
//! - [`cli`]: `berth rates load` and `berth rates generate`.
//! - [`Config`], [`service`], [`app`]: settings, the service for the kit, the full
//!   application for tests.

pub mod cli;
pub mod copy_text;
pub mod domain;
pub mod dump;
pub mod error;
pub mod generate;
pub mod http;
pub mod ingest;
pub mod load;
pub mod source;
pub mod store;

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use kit::config::{Common, Secret};

pub use error::{Error, Result};

/// The service's name, as in metrics labels and logs.
pub const NAME: &str = "rates";

/// The generated dataset an empty SQLite database is seeded with: prices over January
/// 2021 (the month of the original data), so that the README's examples answer.
pub const SEED_PRICES: u64 = 20_000;

kit::listen_args!(
    /// Where the rates service listens (`--rates-addr`).
    Listen, "rates", "BERTH_RATES_ADDR", "0.0.0.0:3000"
);

kit::secret_args!(
    /// The rates service's database URL (`--rates-database-url[-file]`).
    DatabaseUrl,
    "rates-database-url",
    "BERTH_RATES_DATABASE_URL",
    "PostgreSQL URL of the rates service (else DATABASE_URL, else SQLite <data dir>/rates.db)"
);

/// The rates service's settings.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "rates-config")]
pub struct Config {
    /// Where it listens.
    #[command(flatten)]
    pub listen: Listen,
    /// Its own database URL.
    #[command(flatten)]
    pub database: DatabaseUrl,
    /// A plain-format `pg_dump` file loaded at start when the database is empty (instead
    /// of the generated sample data SQLite is otherwise seeded with).
    #[arg(
        id = "rates-dump",
        long = "rates-dump",
        env = "BERTH_RATES_DUMP",
        value_name = "FILE"
    )]
    pub dump: Option<PathBuf>,
    /// Longest range of days `GET /rates` answers (400 past it).
    #[arg(
        id = "rates-max-days",
        long = "rates-max-days",
        env = "BERTH_RATES_MAX_DAYS",
        default_value_t = 366,
        value_parser = clap::value_parser!(u32).range(1..=36_600)
    )]
    pub max_days: u32,
    /// Most rows one `POST /prices` may carry (413 past it).
    #[arg(
        id = "rates-ingest-max-rows",
        long = "rates-ingest-max-rows",
        env = "BERTH_RATES_INGEST_MAX_ROWS",
        default_value_t = 100_000
    )]
    pub ingest_max_rows: usize,
    /// Largest `POST /prices` body, in bytes (413 past it).
    #[arg(
        id = "rates-ingest-max-bytes",
        long = "rates-ingest-max-bytes",
        env = "BERTH_RATES_INGEST_MAX_BYTES",
        default_value_t = 16 * 1024 * 1024
    )]
    pub ingest_max_bytes: usize,
    /// Size of the database connection pool used by queries.
    #[arg(
        id = "rates-max-connections",
        long = "rates-max-connections",
        env = "BERTH_RATES_MAX_CONNECTIONS",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub max_connections: u32,
    /// Memory for cached `GET /rates` answers, in MiB (PostgreSQL only; 0: no cache).
    /// Every change to the tables, from any writer, empties it (`NOTIFY rates_changed`).
    #[arg(
        id = "rates-cache-mib",
        long = "rates-cache-mib",
        env = "BERTH_RATES_CACHE_MIB",
        default_value_t = 32
    )]
    pub cache_mib: u64,
}

impl Config {
    /// Settings with every default, for tests.
    pub fn for_tests() -> Self {
        Self {
            listen: Listen::for_tests(),
            database: DatabaseUrl::default(),
            dump: None,
            max_days: 366,
            ingest_max_rows: 100_000,
            ingest_max_bytes: 16 * 1024 * 1024,
            max_connections: 8,
            cache_mib: 4,
        }
    }

    /// The database URL to use: the service's own, else the process-wide one, else
    /// `None` (SQLite in the data directory).
    pub fn database_url(&self, common: &Common) -> anyhow::Result<Option<Secret>> {
        let own = self.database.resolve()?;
        Ok(Common::pick(own.as_ref(), common.database_url.as_ref()))
    }
}

/// The rates service, ready for [`kit::http::app`]: opens the store ([`store::open`]), loads
/// `--rates-dump` or the generated sample into an empty database (the sample only on
/// SQLite), and registers the store's readiness check.
pub async fn service(config: &Config, common: &Common) -> anyhow::Result<kit::Service> {
    let store = store::open(config, common).await?;
    if store
        .is_empty()
        .await
        .context("checking whether the database is empty")?
    {
        if let Some(dump) = &config.dump {
            tracing::info!(dump = %dump.display(), "the rates database is empty: loading the dump");
            let stats = load::load_file(store.as_ref(), dump, false, &Arc::default())
                .await
                .with_context(|| format!("loading {}", dump.display()))?;
            tracing::info!(?stats, "dump loaded");
        } else if store.backend() == store::Backend::Sqlite {
            tracing::info!(
                prices = SEED_PRICES,
                "the rates database is empty: seeding it with generated sample data"
            );
            let stats = load::load_sample(store.as_ref(), SEED_PRICES).await?;
            tracing::info!(?stats, "sample data loaded");
        }
    }
    let tokens = common.tokens.or_generated(NAME, "POST /prices requests");
    Ok(build(store, config, tokens))
}

/// The service over an open store, with the given tokens (no seeding). Its readiness
/// check is `database`.
pub fn build(
    store: Arc<dyn store::Store>,
    config: &Config,
    tokens: kit::auth::Tokens,
) -> kit::Service {
    let check = Arc::clone(&store);
    let health = kit::Health::new().with_check("database", move || {
        let store = Arc::clone(&check);
        async move {
            store
                .ping()
                .await
                .map_err(|e| format!("the database does not answer: {e}"))
        }
    });
    let state = http::AppState {
        store,
        max_days: config.max_days,
        max_rows: config.ingest_max_rows,
    };
    kit::Service::new(NAME, http::router(state, tokens))
        .with_health(health)
        .with_body_limit(config.ingest_max_bytes)
}

/// The complete application (service routes + kit endpoints and layers), for tests.
pub fn app(
    store: Arc<dyn store::Store>,
    config: &Config,
    tokens: kit::auth::Tokens,
    http: &kit::http::HttpConfig,
) -> axum::Router {
    kit::http::app(build(store, config, tokens), http)
}
