//! Prometheus metrics: one process-wide recorder, request metrics by route template,
//! process metrics and build info.
//!
//! Request metrics are `http_requests_total` and the histogram
//! `http_request_duration_seconds`, labelled `service`, `method`, `route` (the matched
//! route template such as `/get/{id}`, or `unmatched`) and `status`. Services record
//! their own metrics with the [`metrics`] crate's macros; they all land here.

use std::sync::{Mutex, OnceLock};

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
        spawn_upkeep(handle.clone());
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

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The exporter keeps each histogram sample until it is folded into the buckets; with
/// no scraper that would grow without bound (half a megabyte per second at 60,000
/// requests/s). A thread of its own folds them every [`UPKEEP_EVERY`], runtime or not.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("berth-metrics".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; samples are folded at scrape time only");
    }
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

/// The labels of one answered request: service, method, route template (`None`: no
/// route matched) and status.
pub type RequestLabels = (&'static str, axum::http::Method, Option<MatchedPath>, u16);

/// One resolved label set: (service, method, route template, status) and its handles.
struct Entry {
    service: &'static str,
    method: axum::http::Method,
    route: Box<str>,
    status: u16,
    metrics: RequestMetrics,
}

thread_local! {
    /// The label sets this thread has recorded, searched linearly: a service has a few
    /// dozen (route, method, status) combinations, and comparing a short string beats
    /// hashing it.
    static HANDLES: std::cell::RefCell<Vec<Entry>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Records one answered request: `http_requests_total` and
/// `http_request_duration_seconds`. The kit's layer calls it for every request; it is
/// public for a stack built otherwise (the tower-http one of
/// `crates/berth/examples/ab_clock.rs`, which `scripts/bench kit` measures).
pub fn record(key: RequestLabels, elapsed: std::time::Duration) {
    let (service, method, route, status) = key;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    HANDLES.with(|cell| {
        let mut entries = cell.borrow_mut();
        let found = entries.iter().position(|e| {
            e.status == status
                && std::ptr::eq(e.service, service)
                && e.method == method
                && &*e.route == route
        });
        let index = found.unwrap_or_else(|| {
            let labels = [
                ("service", service.to_owned()),
                ("method", method.as_str().to_owned()),
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ];
            entries.push(Entry {
                service,
                method,
                route: route.into(),
                status,
                metrics: RequestMetrics {
                    count: metrics::counter!("http_requests_total", &labels),
                    duration: metrics::histogram!("http_request_duration_seconds", &labels),
                },
            });
            entries.len() - 1
        });
        let handles = &entries[index].metrics;
        handles.count.increment(1);
        handles.duration.record(elapsed.as_secs_f64());
    });
}
