//! [`app`]: a [`Service`] becomes a production [`Router`].
//!
//! Layers, outermost first:
//!
//! 1. set `x-request-id` (kept when the client sent one, else a new UUID);
//! 2. trace: a span per request with service, method, route template and request id,
//!    and one log line when the response is sent (status, latency);
//! 3. echo `x-request-id` on the response;
//! 4. request metrics (by route template), and problem+json for every error response
//!    that is not JSON already;
//! 5. a panic becomes a 500 problem+json;
//! 6. body size limit (413);
//! 7. request timeout (503). The handler is polled before its deadline is armed, so a
//!    request answered without waiting never registers a timer: a timer per request
//!    wakes the runtime's driver thread and costs a fifth of a small handler's rate.

use std::time::Duration;

use axum::{
    BoxError, Router,
    body::Body,
    error_handling::HandleErrorLayer,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::{HeaderName, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    Problem, Service,
    health::{self, HealthState},
    metrics as kit_metrics, problem,
};

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Most bytes of a non-JSON error body kept as a problem's detail.
const DETAIL_LIMIT: usize = 1024;

/// HTTP settings applied by [`app`].
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Longest a request may take (503 past it).
    pub request_timeout: Duration,
    /// Largest request body, in bytes (413 past it), unless the service sets its own.
    pub body_limit: usize,
    /// Time limit of each readiness check.
    pub health_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            body_limit: 2 * 1024 * 1024,
            health_timeout: Duration::from_secs(2),
        }
    }
}

/// Builds the full application of a service: its routes, the operations endpoints
/// (`/healthcheck`, `/livez`, `/metrics`, `/openapi.json`, `/docs`) and every layer.
pub fn app(service: Service, config: &HttpConfig) -> Router {
    kit_metrics::install();
    let name = service.name;
    let ops = OpenApiRouter::new()
        .routes(routes!(health::healthcheck))
        .routes(routes!(health::livez))
        .with_state(HealthState {
            service: name,
            health: service.health,
            timeout: config.health_timeout,
        })
        .routes(routes!(kit_metrics::metrics_handler));
    let (router, openapi) = service.api.merge(ops).split_for_parts();
    let body_limit = service.body_limit.unwrap_or(config.body_limit);

    // Serialized once: the document never changes while the process runs.
    let spec = bytes::Bytes::from(openapi.to_json().expect("an OpenAPI document serializes"));
    let router = router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                std::future::ready(
                    ([(header::CONTENT_TYPE, "application/json")], spec.clone()).into_response(),
                )
            }),
        )
        .merge(crate::docs::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    with_layers(router, name, config.request_timeout, body_limit)
}

/// Wraps any router in the kit's layers (see the module docs). [`app`] uses it; it is
/// public so that a benchmark or a test can measure or exercise the layers alone.
pub fn with_layers(
    router: Router,
    service: &'static str,
    timeout: Duration,
    body_limit: usize,
) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(move |req: &Request| {
            let matched = req.extensions().get::<MatchedPath>();
            let request_id = req
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let span = tracing::info_span!(
                target: "berth::request",
                "request",
                service,
                method = req.method().as_str(),
                route = matched.map_or("unmatched", MatchedPath::as_str),
                request_id,
                path = tracing::field::Empty,
            );
            // The template says it all for matched routes; keep the raw path (bounded)
            // only where it is the one clue: unknown routes.
            if matched.is_none() {
                let path = req.uri().path();
                let cut = path.char_indices().nth(256).map_or(path.len(), |(i, _)| i);
                span.record("path", &path[..cut]);
            }
            span
        })
        .on_request(())
        .on_response(|res: &Response, latency: Duration, _: &tracing::Span| {
            tracing::info!(
                target: "berth::access",
                status = res.status().as_u16(),
                latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                "request"
            );
        })
        .on_failure(());

    // One `Router::layer` call: the stack is boxed once per route, not once per layer.
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, NewRequestId))
            .layer(trace)
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(middleware::from_fn(move |req: Request, next: Next| {
                observe(service, req, next)
            }))
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(RequestBodyLimitLayer::new(body_limit))
            .layer(DefaultBodyLimit::max(body_limit))
            .layer(HandleErrorLayer::new(timed_out))
            .layer(tower::timeout::TimeoutLayer::new(timeout)),
    )
}

/// The answer to a request that hit the timeout: 503. The routes below the timeout
/// layer are infallible, so any other error is a bug: logged, and a bare 500.
async fn timed_out(error: BoxError) -> Problem {
    if error.is::<tower::timeout::error::Elapsed>() {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail("the request did not complete in time; try again later")
    } else {
        tracing::error!(error = %error, "request failed below the timeout layer");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
            .with_detail("the server failed to answer this request; it has been logged")
    }
}

/// Makes a random (v4) UUID the id of a request that came without one.
///
/// tower-http's `MakeRequestUuid` goes through `Display` and a `String` and parses
/// that back into a header value; this writes the 36 characters into a stack buffer.
#[derive(Debug, Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

async fn not_found(req: Request) -> Problem {
    Problem::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> Problem {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED).with_detail(format!(
        "{} is not allowed on {}",
        req.method(),
        req.uri().path()
    ))
}

#[allow(clippy::needless_pass_by_value)] // the signature CatchPanicLayer wants
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic payload)");
    tracing::error!(panic = message, "handler panicked");
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
        .with_detail("the server failed to answer this request; it has been logged")
        .into_response()
}

fn is_json(value: Option<&HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m == "application/json" || m.ends_with("+json")
        })
}

/// Records the request metrics and maps error bodies to problem+json (one middleware,
/// to keep the per-request cost low).
async fn observe(service: &'static str, req: Request, next: Next) -> Response {
    let start = kit_metrics::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let response = problemize(next.run(req).await).await;
    kit_metrics::record(
        (service, method, route, response.status().as_u16()),
        start.elapsed(),
    );
    response
}

/// Turns every error response that is not JSON (axum's rejections, tower's 408/413,
/// plain-text errors) into problem+json, keeping the text as the detail for 4xx and
/// saying nothing internal for 5xx. JSON error bodies (a service's own contract) pass.
async fn problemize(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || is_json(response.headers().get(header::CONTENT_TYPE))
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut problem = Problem::new(status);
    if status.is_client_error() {
        let text = axum::body::to_bytes(body, DETAIL_LIMIT * 4)
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
            .unwrap_or_default();
        problem.detail = Some(if text.is_empty() {
            default_detail(status)
        } else {
            truncate(text)
        });
    } else if status == StatusCode::SERVICE_UNAVAILABLE {
        problem.detail = Some("the request did not complete in time; try again later".into());
    } else {
        problem.detail =
            Some("the server failed to answer this request; it has been logged".into());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(problem::CONTENT_TYPE),
    );
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}

fn default_detail(status: StatusCode) -> String {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than this endpoint accepts".into()
        }
        StatusCode::REQUEST_TIMEOUT => "the request was not received in time".into(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > DETAIL_LIMIT {
        let mut cut = DETAIL_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}
