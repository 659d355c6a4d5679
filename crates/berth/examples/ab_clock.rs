//! The clock's `GET /clock` behind two of the kit's hand-written parts or what they
//! replace, for `scripts/bench kit` to measure one against the other:
//!
//! - `--layers observe`: the kit's own layer ([`kit::http::with_layers`]: `Observe`
//!   and axum's body limit), as `berth serve clock` has it;
//! - `--layers tower`: the same work from tower-http's layers — request id
//!   (`SetRequestId`/`PropagateRequestId`), span and access line (`Trace`), panic to
//!   500 (`CatchPanic`), timeout (`Timeout`, 503), body limit (`RequestBodyLimit`) —
//!   with the kit's metrics and problem+json mapping in one `from_fn` layer. Not there:
//!   the kit's 414/431 answers to oversized heads and its 408 for a body still arriving
//!   at the timeout (no tower-http layer does either), so this stack does less;
//! - `--log kit`: JSON lines from the kit's layer (`kit::telemetry::init`), as berth;
//! - `--log fmt`: JSON lines from tracing-subscriber's own formatter, its shape made
//!   as close to the kit's as it goes (event fields at the top level, the request's
//!   span under `span`), written through the kit's batching writer like the kit's.
//!
//! Usage: `ab_clock ADDR [--layers observe|tower] [--log kit|fmt]` (defaults: observe,
//! kit). The log level is `info`; logs go to stdout. Served by the kit's [`Server`]
//! (connection rules included), without the operations endpoints.

use std::{any::Any, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::StatusCode,
    middleware::Next,
};
use kit::{
    Server, Shutdown,
    config::{LogArgs, LogFormat},
    http::REQUEST_ID,
    telemetry::writer::BatchWriter,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use tracing::Span;
use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The kit's defaults (`kit::http::HttpConfig`).
const TIMEOUT: Duration = Duration::from_secs(30);
const BODY_LIMIT: usize = 2 * 1024 * 1024;
const SERVICE: &str = "clock";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: std::net::SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:18082".into())
        .parse()?;
    let (mut layers, mut log) = ("observe".to_owned(), "kit".to_owned());
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--layers" => layers = value,
            "--log" => log = value,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let _guard = match log.as_str() {
        "kit" => Box::new(kit::telemetry::init(&LogArgs {
            log_level: "info".into(),
            log_format: LogFormat::Json,
        })?) as Box<dyn Any>,
        "fmt" => {
            let (writer, guard) = BatchWriter::spawn(std::io::stdout())?;
            tracing_subscriber::registry()
                .with("info".parse::<Targets>()?)
                .with(
                    tracing_subscriber::fmt::layer()
                        .json()
                        .flatten_event(true)
                        .with_current_span(true)
                        .with_span_list(false)
                        .with_writer(writer),
                )
                .try_init()?;
            Box::new(guard)
        }
        other => anyhow::bail!("--log kit|fmt, not {other}"),
    };
    kit::metrics::install();
    let (router, _) = clock::service().api.split_for_parts();
    let app = match layers.as_str() {
        "observe" => kit::http::with_layers(router, SERVICE, TIMEOUT, BODY_LIMIT),
        "tower" => tower_layers(router),
        other => anyhow::bail!("--layers observe|tower, not {other}"),
    };
    let server = Server::bind(SERVICE, addr, app).await?;
    println!("ab_clock ({layers}, {log} log) listening on {addr}");
    server.run(Shutdown::new(), Duration::from_secs(1)).await?;
    Ok(())
}

/// The kit's per-request work from tower-http's layers, outermost first, in one
/// `Router::layer` call (as the kit's).
fn tower_layers(router: Router) -> Router {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_request(())
                    .on_response(access_line)
                    .on_body_chunk(())
                    .on_eos(())
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            // `from_fn` turns the tower-http layers' bodies below it into axum's.
            .layer(axum::middleware::from_fn(metrics_and_problems))
            .layer(CatchPanicLayer::custom(kit::http::panic_response))
            // Above the timeout: `Timeout` wants a body with a `Default` (its 503's),
            // which the limit's response body has not.
            .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                TIMEOUT,
            ))
            .layer(DefaultBodyLimit::max(BODY_LIMIT)),
    )
}

/// The kit's request span: service, method, route template, request id.
fn request_span(req: &Request) -> Span {
    let route = req.extensions().get::<MatchedPath>();
    tracing::info_span!(
        target: "berth::request",
        parent: None,
        "request",
        service = SERVICE,
        method = req.method().as_str(),
        route = route.map_or("unmatched", MatchedPath::as_str),
        request_id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

/// The kit's access line, in the request's span.
fn access_line(response: &axum::response::Response, latency: Duration, _: &Span) {
    tracing::info!(
        target: "berth::access",
        message = "request",
        status = response.status().as_u16(),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
    );
}

/// The kit's request metrics and problem+json mapping.
async fn metrics_and_problems(req: Request, next: Next) -> axum::response::Response {
    let start = std::time::Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let response = kit::http::problem_json(next.run(req).await).await;
    kit::metrics::record(
        (SERVICE, method, route, response.status().as_u16()),
        start.elapsed(),
    );
    response
}
