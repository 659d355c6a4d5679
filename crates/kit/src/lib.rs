//! The chassis every berth service stands on.
//!
//! A service crate describes *what* it serves — its routes, its OpenAPI, the health
//! checks of the stores it needs — as a [`Service`]. The kit turns that into a
//! production HTTP application with everything an operator expects and no service
//! should write again:
//!
//! - request ids (`x-request-id` accepted or generated, echoed on the response);
//! - one structured log line per request (method, route template, status, latency, id);
//! - Prometheus metrics at `/metrics`, labelled by *route template*, plus process and
//!   build-info metrics;
//! - readiness at `/healthcheck` (every registered check, each under a timeout) and
//!   liveness at `/livez`;
//! - `/openapi.json` (OpenAPI 3.1, generated from the code) and Swagger UI at `/docs`,
//!   its assets compiled into the binary;
//! - RFC 9457 `application/problem+json` for every error, including the ones axum and
//!   tower produce (unknown route, wrong method, oversized body, malformed query,
//!   timeout, panic);
//! - graceful shutdown: stop accepting, drain in-flight requests within a deadline.
//!
//! The kit knows nothing of any service; the `berth` binary wires them together.
//!
//! # Layout
//!
//! - [`service`]: [`Service`], the description a service crate hands to the kit.
//! - [`http`]: [`http::app`] turns a [`Service`] into an [`axum::Router`] with every
//!   layer and endpoint above; [`http::HttpConfig`] holds the knobs.
//! - [`server`]: [`Server`] binds a listener (port 0 works, for tests) and serves an app
//!   until shutdown.
//! - [`run`]: [`Runner`], the run loop of every command that serves: bind, serve, wait
//!   for a signal, drain, wait for the background tasks.
//! - [`json`]: [`json::JsonBody`], the one way a JSON request body is read (415, 400,
//!   413, 422 naming the member).
//! - [`db`] (feature `db`): the SQL stores' shared parts: which `sqlx` errors are a
//!   503, and the SQLite opener.
//! - [`shutdown`]: the shutdown signal passed down to every task.
//! - [`problem`]: [`Problem`], the RFC 9457 error body.
//! - [`health`]: [`Health`], the readiness checks registry.
//! - [`metrics`]: the process-wide Prometheus recorder and the request metrics.
//! - [`auth`]: bearer-token protection for mutating endpoints.
//! - [`config`]: shared command-line/environment arguments and [`config::Secret`].
//! - [`telemetry`]: tracing subscriber set-up (JSON or text).
//! - [`probe`]: a tiny HTTP client for `berth healthcheck` in images without curl.

pub mod auth;
pub mod config;
#[cfg(feature = "db")]
pub mod db;
pub mod docs;
pub mod health;
pub mod http;
pub mod json;
pub mod metrics;
pub mod probe;
pub mod problem;
pub mod run;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use health::Health;
pub use problem::Problem;
pub use run::Runner;
pub use server::Server;
pub use service::Service;
pub use shutdown::Shutdown;

/// Re-exports a service crate needs to declare its routes without naming kit's own
/// dependency versions.
pub mod prelude {
    pub use utoipa_axum::{router::OpenApiRouter, routes};
}
