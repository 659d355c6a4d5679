//! Readiness checks.
//!
//! A service registers one check per store it needs; `/healthcheck` runs them all
//! concurrently, each under a timeout, and answers 200 `{"status":"ok"}` or 503
//! `{"status":"failure","checks":{"<name>":"<what failed>"}}`. Each run also sets the
//! gauge `berth_health_check_up{service,check}` so alerts can follow it.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};
use futures::future::{BoxFuture, join_all};
use serde::Serialize;

type CheckFn = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The readiness checks of one service.
#[derive(Clone, Default)]
pub struct Health {
    checks: Vec<(&'static str, CheckFn)>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.checks.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Health").field("checks", &names).finish()
    }
}

/// The outcome of running every check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// `ok` or `failure`.
    pub status: &'static str,
    /// The failing checks and why; absent when every check passed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<&'static str, String>,
}

impl Report {
    /// Whether every check passed.
    pub fn is_ok(&self) -> bool {
        self.checks.is_empty()
    }
}

impl Health {
    /// No checks: always ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check. `check` returns `Err(reason)` when the dependency is not usable;
    /// the reason is shown to callers of `/healthcheck`, so keep secrets out of it.
    #[must_use]
    pub fn with_check<F, Fut>(mut self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks.push((
            name,
            Arc::new(move || Box::pin(check()) as BoxFuture<'static, _>),
        ));
        self
    }

    /// Runs every check concurrently, each bounded by `timeout`.
    pub async fn run(&self, service: &'static str, timeout: Duration) -> Report {
        let runs = self.checks.iter().map(|(name, check)| async move {
            let outcome = match tokio::time::timeout(timeout, check()).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "timed out after {}",
                    humantime::format_duration(timeout)
                )),
            };
            metrics::gauge!("berth_health_check_up", "service" => service, "check" => *name)
                .set(if outcome.is_ok() { 1.0 } else { 0.0 });
            (*name, outcome)
        });
        let checks: BTreeMap<_, _> = join_all(runs)
            .await
            .into_iter()
            .filter_map(|(name, outcome)| outcome.err().map(|why| (name, why)))
            .collect();
        Report {
            status: if checks.is_empty() { "ok" } else { "failure" },
            checks,
        }
    }
}

/// State of the health endpoints.
#[derive(Clone, Debug)]
pub(crate) struct HealthState {
    pub service: &'static str,
    pub health: Health,
    pub timeout: Duration,
    /// Once it begins stopping, the service is not ready, whatever its checks say.
    pub shutdown: crate::Shutdown,
}

/// Readiness: every registered check passes.
#[utoipa::path(
    get,
    path = "/healthcheck",
    tag = "operations",
    responses(
        (status = 200, description = "Ready: every check passed", body = Report, example = json!({"status": "ok"})),
        (status = 503, description = "Not ready: the failing checks and why (`shutdown` while the service stops)", body = Report,
         example = json!({"status": "failure", "checks": {"database": "timed out after 2s"}})),
    )
)]
pub(crate) async fn healthcheck(State(state): State<HealthState>) -> impl IntoResponse {
    if state.shutdown.is_stopping() {
        let report = Report {
            status: "failure",
            checks: BTreeMap::from([("shutdown", "the service is shutting down".to_owned())]),
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(report));
    }
    let report = state.health.run(state.service, state.timeout).await;
    let status = if report.is_ok() {
        StatusCode::OK
    } else {
        tracing::warn!(checks = ?report.checks, "readiness check failed");
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Report, example = json!({"status": "ok"})))
)]
pub(crate) async fn livez() -> Json<Report> {
    Json(Report {
        status: "ok",
        checks: BTreeMap::new(),
    })
}
