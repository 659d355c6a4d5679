//! Prometheus metrics: one process-wide recorder, request metrics by route template,
//! process metrics and build info.
//!
//! Request metrics are `http_requests_total` and the histogram
//! `http_request_duration_seconds`, labelled `service`, `method`, `route` (the matched
//! route template such as `/get/{id}`, or `unmatched`) and `status`. Services record
//! their own metrics with the [`metrics`] crate's macros; they all land here.

use std::{
    sync::{Mutex, OnceLock},
    time::Instant,
};

use axum::{
    extract::MatchedPath,
    http::{HeaderValue, header},
    response::IntoResponse,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets, in seconds, for every `*_duration_seconds` histogram.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

struct Registry {
    handle: PrometheusHandle,
    process: Mutex<metrics_process::Collector>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), LATENCY_BUCKETS)
            .expect("latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed (a test harness); ours still renders what it
        // records through `handle`, so failure to install globally is not fatal.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be partial");
        }
        let process = metrics_process::Collector::default();
        process.describe();
        metrics::describe_counter!("http_requests_total", "HTTP requests answered");
        metrics::describe_histogram!(
            "http_request_duration_seconds",
            metrics::Unit::Seconds,
            "Time from request to response head"
        );
        Registry {
            handle,
            process: Mutex::new(process),
        }
    })
}

/// Installs the process-wide recorder (idempotent). Call early so that metrics
/// recorded before the first request are kept.
pub fn install() {
    let _ = registry();
}

/// Sets the `berth_build_info{version,git_sha}` gauge to 1.
pub fn set_build_info(version: &'static str, git_sha: &'static str) {
    install();
    metrics::gauge!("berth_build_info", "version" => version, "git_sha" => git_sha).set(1.0);
}

/// Renders every metric in the Prometheus text format, refreshing process metrics.
pub fn render() -> String {
    let reg = registry();
    if let Ok(process) = reg.process.lock() {
        process.collect();
    }
    reg.handle.render()
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics_handler() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        render(),
    )
}

/// The request metrics of one (service, method, route, status), resolved once per
/// thread: recording is then two atomic operations, with no label allocation.
#[derive(Clone)]
struct RequestMetrics {
    count: metrics::Counter,
    duration: metrics::Histogram,
}

type Key = (&'static str, axum::http::Method, Option<MatchedPath>, u16);

/// Per route template: the handles of each (service, method, status) seen.
type Cache =
    std::collections::HashMap<String, Vec<(&'static str, axum::http::Method, u16, RequestMetrics)>>;

thread_local! {
    static HANDLES: std::cell::RefCell<Cache> = std::cell::RefCell::new(Cache::new());
}

/// Records one answered request.
pub(crate) fn record(key: Key, elapsed: std::time::Duration) {
    let (service, method, route, status) = key;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let handles = HANDLES.with(|cell| {
        let found = cell.borrow().get(route).and_then(|entries| {
            entries
                .iter()
                .find(|(s, m, st, _)| std::ptr::eq(*s, service) && *m == method && *st == status)
                .map(|(.., h)| h.clone())
        });
        found.unwrap_or_else(|| {
            let labels = [
                ("service", service.to_owned()),
                ("method", method.as_str().to_owned()),
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ];
            let h = RequestMetrics {
                count: metrics::counter!("http_requests_total", &labels),
                duration: metrics::histogram!("http_request_duration_seconds", &labels),
            };
            cell.borrow_mut()
                .entry(route.to_owned())
                .or_default()
                .push((service, method, status, h.clone()));
            h
        })
    });
    handles.count.increment(1);
    handles.duration.record(elapsed.as_secs_f64());
}

/// Start time of a request, for [`record`].
pub(crate) fn now() -> Instant {
    Instant::now()
}
