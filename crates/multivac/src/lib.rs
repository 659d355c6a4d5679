//! MultiVAC: clients feed it data, a worker processes each datum asynchronously and
//! exactly once, and it answers its one question once it has data.
//!
//! The original's contract, exactly: `GET /` → `Welcome to MultiVAC!`; `GET /multivac`
//! → `INSUFFICIENT DATA FOR MEANINGFUL ANSWER.` until a datum has been processed, then
//! the oldest processed datum (text/plain); `POST /multivac/data` (form field `data`,
//! urlencoded or multipart; JSON `{"data": ...}` too) → `{"response":"MultiVAC updated!"}`
//! once the datum is durably queued; `DELETE /multivac/zzz/` deletes the oldest
//! processed record. Beyond it: `GET /multivac/stats`; bearer tokens on `POST` and
//! `DELETE` (one is generated and logged at start when none is configured); a queue
//! that loses nothing when a worker dies mid-item, and a store where nothing is
//! processed twice.
//!
//! # Layout
//!
//! - [`config`]: [`Config`] (`--multivac-*`), the backends' and the worker's settings.
//! - [`http`]: the routes and their OpenAPI; the `data` extractor.
//! - [`queue`]: the [`queue::Queue`] trait; Redis Streams and SQLite backends.
//! - [`store`]: the [`store::Store`] trait; PostgreSQL and SQLite backends.
//! - [`process`]: what processing a datum means (pure).
//! - [`worker`]: the worker ([`worker::Worker`]), its loop, `berth worker multivac`
//!   ([`worker::WorkerArgs`], [`worker::run_worker`]), its metrics.
//! - [`backend`]: opening the queue and the store a configuration names.
//! - [`error`]: [`error::Error`], the one error type, and [`error::BackendError`].
//! - [`service`] / [`build`] / [`app`]: the service from settings or from open
//!   backends, and the full application for tests.

pub mod backend;
pub mod config;
pub mod error;
pub mod http;
pub mod process;
pub mod queue;
pub mod store;
pub mod worker;

use std::time::Duration;

use kit::{auth::Tokens, config::Common};

pub use backend::Backends;
pub use config::Config;

/// The service's name, as in metrics labels and logs.
pub const NAME: &str = "multivac";
/// The name of `berth worker multivac`'s own endpoints in metrics labels and logs.
pub const WORKER_NAME: &str = "multivac-worker";

/// The MultiVAC service for `berth serve`: opens (and migrates) the queue and the
/// store ([`Backends::open`]), and runs the worker in the process when the queue is
/// embedded (or `--multivac-worker always`).
pub async fn service(config: &Config, common: &Common) -> anyhow::Result<kit::Service> {
    let resolved = config.backend.resolve(common)?;
    let backends = Backends::open(&resolved, &config.backend, &config.tuning).await?;
    let tokens = common.tokens.or_generated(NAME, "POST and DELETE requests");
    let in_process = match config.in_process_worker {
        config::InProcessWorker::Always => true,
        config::InProcessWorker::Never => false,
        config::InProcessWorker::Auto => resolved.redis_url.is_none(),
    };
    tracing::info!(
        service = NAME,
        queue = backends.queue.kind(),
        store = backends.store.kind(),
        in_process_worker = in_process,
        "multivac backends open"
    );
    let sampler = backends.clone();
    let mut service = build(&backends, config, tokens).with_background(move |shutdown| {
        worker::sample_metrics(sampler, Duration::from_secs(2), shutdown)
    });
    if in_process {
        let settings = worker::WorkerSettings::from(&config.tuning);
        service =
            service.with_background(move |shutdown| worker::run_pool(backends, settings, shutdown));
    }
    Ok(service)
}

/// The service over open backends, without background work: its routes (`POST` and
/// `DELETE` behind `tokens`), its readiness checks (`queue`, `database`) and a body
/// limit that fits `--multivac-max-data`.
pub fn build(backends: &Backends, config: &Config, tokens: Tokens) -> kit::Service {
    worker::describe_metrics();
    let state = http::AppState {
        queue: backends.queue.clone(),
        store: backends.store.clone(),
        max_data: config.max_data,
    };
    // Room for a urlencoded datum (up to 3 bytes per byte) and multipart framing.
    let body_limit = config.max_data.saturating_mul(3).saturating_add(64 * 1024);
    kit::Service::new(NAME, http::router(state, tokens))
        .with_health(worker::health(backends))
        .with_body_limit(body_limit)
}

/// The complete application (routes + kit endpoints and layers), for tests. No worker
/// runs: start one with [`worker::run_pool`] or step one with [`worker::Worker`].
pub fn app(
    backends: &Backends,
    config: &Config,
    tokens: Tokens,
    http: &kit::http::HttpConfig,
) -> axum::Router {
    kit::http::app(build(backends, config, tokens), http)
}
