//! users: users and their coin balances, with transfers that never create or lose a
//! coin.
//!
//! The original contract, exactly: `GET /user` answers a JSON array of users with their
//! coins, `[{"id":1,"name":"alice","coins":120}, ...]`, ordered by id. berth makes it a
//! real ledger:
//!
//! - `GET /user?limit=&after=` pages (default 100, at most 1000; a `Link: <...>;
//!   rel="next"` header while more rows exist), `GET /user/{id}`, `POST /user`;
//! - `POST /transfers` moves coins between two users in one transaction: both balances
//!   and the ledger row change together or not at all; a schema `CHECK (coins >= 0)`
//!   makes a negative balance impossible to commit; rows are locked in id order, so
//!   concurrent transfers neither deadlock nor lose updates;
//! - an `Idempotency-Key` header makes a transfer safe to retry: the same key with the
//!   same body answers the first result and moves nothing again, with another body it
//!   is a 422;
//! - `GET /user/{id}/transfers`: that user's ledger, newest first, paged the same way;
//! - every `POST` needs a bearer token (401 otherwise); reads are open.
//!
//! # Layout
//!
//! - [`model`]: users, transfers, paging — the domain types and their rules, the request
//!   bodies (read by [`kit::json::JsonBody`]: every field checked, numbers never wrapped
//!   or truncated); no HTTP, no SQL.
//! - [`error`]: [`Error`], the one error type, and its problem+json responses.
//! - [`store`]: the [`store::Store`] trait and its backends, [`store::sqlite`] (the
//!   embedded default) and [`store::postgres`]; [`store::open`] opens the one the
//!   settings name.
//! - [`http`]: the routes and their OpenAPI; [`http::router`].
//! - [`service`] / [`build`] / [`app`]: the service for the kit, from settings or from a
//!   store; the full application for tests.
//! - [`Config`]: the service's settings (`--users-*`).

pub mod error;
pub mod http;
pub mod model;
pub mod store;

use std::sync::Arc;

use kit::{Health, auth::Tokens, config::Common};

pub use error::{Error, Result};
use store::Store;

/// The service's name, as in metrics labels and logs.
pub const NAME: &str = "users";

kit::listen_args!(
    /// Where the users service listens (`--users-addr`).
    Listen, "users", "BERTH_USERS_ADDR", "0.0.0.0:8300"
);

kit::secret_args!(
    /// The users service's database URL (`--users-database-url[-file]`).
    DatabaseUrl,
    "users-database-url",
    "BERTH_USERS_DATABASE_URL",
    "PostgreSQL URL of the users service (else DATABASE_URL, else SQLite in the data dir); \
     a sqlite:PATH URL selects an SQLite file"
);

/// The users service's settings.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "users-config")]
pub struct Config {
    /// Where it listens.
    #[command(flatten)]
    pub listen: Listen,
    /// Its own database URL.
    #[command(flatten)]
    pub database: DatabaseUrl,
    /// Most PostgreSQL connections the users service opens for writes (new users,
    /// transfers): a transfer waits on its commit's flush, so many at once share one.
    #[arg(id = "users-pool-size", 
        long = "users-pool-size",
        env = "BERTH_USERS_POOL_SIZE",
        default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub pool_size: u32,
    /// Most PostgreSQL connections the users service opens for reads (listings, a
    /// user, a ledger), apart from the writes': a read is CPU work on the server, so
    /// more of them at once than about twice its cores only queue in its scheduler
    /// (the tail latency of every read grows) instead of in the pool.
    #[arg(id = "users-read-pool-size", 
        long = "users-read-pool-size",
        env = "BERTH_USERS_READ_POOL_SIZE",
        default_value_t = 4,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub read_pool_size: u32,
    /// Seed a few demo users into an empty SQLite store (never on PostgreSQL).
    #[arg(id = "users-seed-demo", 
        long = "users-seed-demo",
        env = "BERTH_USERS_SEED_DEMO",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub seed_demo: bool,
}

impl Config {
    /// The default settings (as with no flag and no environment variable), listening on
    /// `127.0.0.1:0` (a free port), without demo users.
    pub fn for_tests() -> Self {
        Self {
            listen: Listen::for_tests(),
            database: DatabaseUrl::default(),
            pool_size: 16,
            read_pool_size: 4,
            seed_demo: false,
        }
    }
}

/// The users service from its settings: its store opened ([`store::open`]). Without a
/// configured API token, a random one is generated for this run and logged once, so the
/// mutating endpoints stay closed.
pub async fn service(config: &Config, common: &Common) -> anyhow::Result<kit::Service> {
    let store = store::open(config, common).await?;
    let tokens = common.tokens.or_generated(NAME, "POST requests");
    tracing::info!(
        service = NAME,
        backend = store.backend(),
        "users store ready"
    );
    Ok(build(store, tokens))
}

/// The service over an open store, its mutations protected by `tokens`. Its readiness
/// check is `database`.
pub fn build(store: Arc<dyn Store>, tokens: Tokens) -> kit::Service {
    let check = Arc::clone(&store);
    let health = Health::new().with_check("database", move || {
        let store = Arc::clone(&check);
        async move { store.ping().await.map_err(|e| e.to_string()) }
    });
    kit::Service::new(NAME, http::router(store, tokens)).with_health(health)
}

/// The complete application (service routes + kit endpoints and layers), for tests.
pub fn app(store: Arc<dyn Store>, tokens: Tokens, config: &kit::http::HttpConfig) -> axum::Router {
    kit::http::app(build(store, tokens), config)
}
