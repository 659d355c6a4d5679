//! [`app`]: a [`Service`] becomes a production [`Router`].
//!
//! Layers, outermost first:
//!
//! 1. [`Observe`], the kit's per-request work in one layer: set `x-request-id` (kept
//!    when the client sent one, else a new UUID); a span per request with service,
//!    method, route template and request id; problem+json for every error response
//!    that is not JSON already; request metrics (by route template); one log line when
//!    the response is ready (status, latency); the request id echoed on the response;
//!    and the request timeout (503). One layer and one boxed future instead of six
//!    stacked ones: each layer of a router is a clone of the service below it and a
//!    future of its own per request, and together they cost more than the bare
//!    handler they wrapped. The handler is polled once before any deadline exists, so
//!    a request answered without waiting neither reads the clock for a deadline nor
//!    registers a timer (a timer per request wakes the runtime's driver thread and
//!    costs a fifth of a small handler's rate); the deadline of one that waits runs
//!    from that first poll, which comes right after the request is routed;
//! 2. a panic becomes a 500 problem+json;
//! 3. body size limit (413).

use std::{
    convert::Infallible,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::future::BoxFuture;
use tower::ServiceBuilder;
use tower_http::{catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer};
use tracing::Instrument as _;
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
    // One `Router::layer` call: the stack is boxed once per route, not once per layer.
    router.layer(
        ServiceBuilder::new()
            .layer(Observe { service, timeout })
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(RequestBodyLimitLayer::new(body_limit))
            .layer(DefaultBodyLimit::max(body_limit)),
    )
}

/// The kit's per-request work (see the module docs), as a layer.
#[derive(Debug, Clone, Copy)]
struct Observe {
    service: &'static str,
    timeout: Duration,
}

impl<S> tower::Layer<S> for Observe {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            service: self.service,
            timeout: self.timeout,
        }
    }
}

/// The service of [`Observe`].
#[derive(Debug, Clone)]
struct Observed<S> {
    inner: S,
    service: &'static str,
    timeout: Duration,
}

impl<S> tower::Service<Request> for Observed<S>
where
    S: tower::Service<Request, Error = Infallible> + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let id = if let Some(id) = req.headers().get(&REQUEST_ID) {
            id.clone()
        } else {
            let id = new_request_id();
            req.headers_mut().insert(REQUEST_ID, id.clone());
            id
        };
        let method = req.method().clone();
        let route = req.extensions().get::<MatchedPath>().cloned();
        let span = request_span(self.service, &req, &id, route.as_ref());
        let inner = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        let (service, timeout) = (self.service, self.timeout);
        Box::pin(
            async move {
                let mut inner = std::pin::pin!(inner);
                let response = if let Poll::Ready(Ok(response)) = futures::poll!(inner.as_mut()) {
                    response.into_response()
                } else if let Ok(Ok(response)) = tokio::time::timeout(timeout, inner).await {
                    response.into_response()
                } else {
                    timed_out().into_response()
                };
                let mut response = problemize(response).await;
                let elapsed = start.elapsed();
                let status = response.status().as_u16();
                kit_metrics::record((service, method, route, status), elapsed);
                tracing::info!(
                    target: "berth::access",
                    status,
                    latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                    "request"
                );
                response.headers_mut().insert(REQUEST_ID, id);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// The span of one request: every line logged while it is handled carries its fields.
fn request_span(
    service: &'static str,
    req: &Request,
    id: &HeaderValue,
    route: Option<&MatchedPath>,
) -> tracing::Span {
    let span = tracing::info_span!(
        target: "berth::request",
        "request",
        service,
        method = req.method().as_str(),
        route = route.map_or("unmatched", MatchedPath::as_str),
        request_id = id.to_str().unwrap_or(""),
        path = tracing::field::Empty,
    );
    // The template says it all for matched routes; keep the raw path (bounded) only
    // where it is the one clue: unknown routes.
    if route.is_none() {
        let path = req.uri().path();
        let cut = path.char_indices().nth(256).map_or(path.len(), |(i, _)| i);
        span.record("path", &path[..cut]);
    }
    span
}

/// The answer to a request that hit the timeout: 503.
fn timed_out() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_detail("the request did not complete in time; try again later")
}

/// A random (v4) UUID, the id of a request that came without one: the 36 characters
/// are written into a stack buffer, not a `String`.
fn new_request_id() -> HeaderValue {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
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
