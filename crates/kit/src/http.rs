//! [`app`]: a [`Service`] becomes a production [`Router`].
//!
//! Layers, outermost first:
//!
//! 1. `Observe`, the kit's per-request work in one layer:
//!    - `x-request-id`: kept when the client sent one, else a new UUID; echoed on the
//!      response and carried by the request's span (a generated id is not written
//!      into the request's headers: no handler reads it there);
//!    - a span per request with service, method, route template and request id, and
//!      one log line when the response is ready (status, latency);
//!    - request metrics, by route template;
//!    - a body announced larger than the limit is answered 413 at once, before the
//!      handler runs or the body is read;
//!    - a panic of the handler becomes a 500 problem+json;
//!    - the request timeout (503);
//!    - problem+json for every error response that is not JSON already.
//! 2. [`DefaultBodyLimit`], the limit axum's body extractors (`Json`, `Bytes`, `Form`,
//!    `Multipart`...) enforce while they read: a body without a length, or with a
//!    false one, is cut off there with 413.
//!
//! Why one layer and not tower-http's: each layer of a router is a clone of the
//! service below it and a future of its own per request, and `CatchPanic` and
//! `RequestBodyLimit` box the request or response body again on every request (their
//! body types are not axum's). Measured against those layers doing the same work
//! (`crates/berth/examples/ab_clock.rs`): `docs/benchmarks.md`, section kit, row
//! "A/B kit layer vs tower-http stack" (fewer instructions and less CPU per request
//! for this layer, though it also does more). Here the handler's future is held in
//! [`ObservedFuture`], not boxed again, and polled once before any deadline exists: a
//! request answered without waiting neither reads the clock for a deadline nor
//! registers a timer (a timer per request wakes the runtime's driver thread). The
//! deadline of one that waits runs from that first poll, right after routing.

use std::{
    convert::Infallible,
    panic::AssertUnwindSafe,
    sync::Arc,
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
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    Problem, Service, Shutdown,
    health::{self, HealthState},
    metrics as kit_metrics, problem,
};

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Most bytes of a non-JSON error body kept as a problem's detail.
const DETAIL_LIMIT: usize = 1024;

/// HTTP settings applied by [`app`] and by the [`crate::Runner`]'s servers.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Longest a request may take: past it, 408 when the client was still sending its
    /// body, else 503.
    pub request_timeout: Duration,
    /// Largest request body, in bytes (413 past it), unless the service sets its own.
    pub body_limit: usize,
    /// Time limit of each readiness check.
    pub health_timeout: Duration,
    /// On shutdown, how long in-flight requests may take to finish.
    pub drain_timeout: Duration,
    /// On SIGTERM/SIGINT, how long to keep serving (readiness failing) before draining.
    pub shutdown_delay: Duration,
    /// Longest a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// Longest a connection may stay idle between requests.
    pub idle_timeout: Duration,
    /// Most connections open at once per listener; 0: an even share of the process's
    /// file descriptor limit (see [`crate::Runner`]).
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            body_limit: 2 * 1024 * 1024,
            health_timeout: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(10),
            shutdown_delay: Duration::ZERO,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 0,
        }
    }
}

/// Builds the full application of a service: its routes, the operations endpoints
/// (`/healthcheck`, `/livez`, `/metrics`, `/openapi.json`, `/docs`) and every layer.
pub fn app(service: Service, config: &HttpConfig) -> Router {
    app_with(service, config, &Shutdown::new())
}

/// [`app`] whose `/healthcheck` answers 503 once `shutdown` begins stopping (what the
/// [`crate::Runner`] builds).
pub fn app_with(service: Service, config: &HttpConfig, shutdown: &Shutdown) -> Router {
    kit_metrics::install();
    let name = service.name;
    let ops = OpenApiRouter::new()
        .routes(routes!(health::healthcheck))
        .routes(routes!(health::livez))
        .with_state(HealthState {
            service: name,
            health: service.health,
            timeout: config.health_timeout,
            shutdown: shutdown.clone(),
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
            .layer(Observe {
                service,
                timeout,
                body_limit,
            })
            .layer(DefaultBodyLimit::max(body_limit)),
    )
}

/// The kit's per-request work (see the module docs), as a layer.
#[derive(Debug, Clone, Copy)]
struct Observe {
    service: &'static str,
    timeout: Duration,
    body_limit: usize,
}

impl<S> tower::Layer<S> for Observe {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            service: self.service,
            timeout: self.timeout,
            body_limit: self.body_limit,
        }
    }
}

/// The service of [`Observe`].
#[derive(Debug, Clone)]
struct Observed<S> {
    inner: S,
    service: &'static str,
    timeout: Duration,
    body_limit: usize,
}

impl<S> tower::Service<Request> for Observed<S>
where
    S: tower::Service<Request, Error = Infallible> + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        // A generated id is not added to the request's headers: the span carries it to
        // every line logged while the request is handled, and the response echoes it.
        let id = req
            .headers()
            .get(&REQUEST_ID)
            .cloned()
            .unwrap_or_else(new_request_id);
        let method = req.method().clone();
        let route = req.extensions().get::<MatchedPath>().cloned();
        let span = request_span(self.service, &req, &id, route.as_ref());
        let refusal = if let Some(refusal) = head_refusal(&req) {
            Some(refusal)
        } else if announced_length(&req).is_some_and(|n| n > self.body_limit as u64) {
            Some(too_large(self.body_limit))
        } else {
            None
        };
        // A request with a body: know whether the client is still sending it when the
        // timeout comes (then it is the client's slowness, a 408).
        let body = if has_body(&req) {
            let state = Arc::new(BodyState::default());
            let (parts, body) = req.into_parts();
            req = Request::from_parts(
                parts,
                Body::new(Tracked {
                    inner: body,
                    state: Arc::clone(&state),
                }),
            );
            Some(state)
        } else {
            None
        };
        let phase = if let Some(response) = refusal {
            Phase::Answered {
                response: Some(response),
            }
        } else {
            let inner = &mut self.inner;
            match std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(req))) {
                Ok(future) => Phase::Handler {
                    future,
                    timeout: self.timeout,
                    deadline: None,
                    body,
                },
                Err(panic) => Phase::Answered {
                    response: Some(span.in_scope(|| panic_response(panic))),
                },
            }
        };
        ObservedFuture {
            phase,
            done: Some(Done {
                service: self.service,
                method,
                route,
                id,
                start,
            }),
            span,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Observed`]: the handler's future, polled inside the request's
    /// span, then (for an error body that is not JSON) the problem+json rewrite.
    ///
    /// A named future rather than a boxed `async` block: the router boxes the whole
    /// layered service's future once already, and a second box would be one more
    /// allocation and a copy of the handler's future per request.
    pub struct ObservedFuture<F> {
        #[pin]
        phase: Phase<F>,
        done: Option<Done>,
        span: tracing::Span,
    }
}

pin_project_lite::pin_project! {
    #[project = PhaseProj]
    enum Phase<F> {
        Handler {
            #[pin]
            future: F,
            timeout: Duration,
            // Armed at the first poll that finds the handler waiting.
            deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
            // How far the request's body has been read (requests with a body only).
            body: Option<Arc<BodyState>>,
        },
        Problem {
            future: BoxFuture<'static, Response>,
        },
        // Answered without the handler (413, or a panic while it was called).
        Answered {
            response: Option<Response>,
        },
    }
}

/// What the end of a request needs: its labels, id and start.
struct Done {
    service: &'static str,
    method: axum::http::Method,
    route: Option<MatchedPath>,
    id: HeaderValue,
    start: Instant,
}

impl Done {
    /// Records the request's metrics and access line; echoes its id.
    fn finish(self, mut response: Response) -> Response {
        let elapsed = self.start.elapsed();
        let status = response.status().as_u16();
        kit_metrics::record((self.service, self.method, self.route, status), elapsed);
        tracing::info!(
            target: "berth::access",
            // A `str` value rather than a format string: recorded as it is, without
            // going through `fmt` (the line reads the same).
            message = "request",
            status,
            latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        );
        response.headers_mut().insert(REQUEST_ID, self.id);
        response
    }
}

impl<F, R> Future for ObservedFuture<F>
where
    F: Future<Output = Result<R, Infallible>>,
    R: IntoResponse,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        let response = match this.phase.as_mut().project() {
            PhaseProj::Handler {
                future,
                timeout,
                deadline,
                body,
            } => {
                let polled = std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
                let response = match polled {
                    Ok(Poll::Ready(Ok(response))) => response.into_response(),
                    Err(panic) => panic_response(panic),
                    Ok(Poll::Pending) => {
                        let deadline =
                            deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(*timeout)));
                        if deadline.as_mut().poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                        if body.as_ref().is_some_and(|b| b.is_waiting_for_client()) {
                            client_too_slow()
                        } else {
                            timed_out().into_response()
                        }
                    }
                };
                if needs_problem(&response) {
                    let mut future: BoxFuture<'static, Response> = Box::pin(problemize(response));
                    let polled = future.as_mut().poll(cx);
                    this.phase.set(Phase::Problem { future });
                    match polled {
                        Poll::Ready(response) => response,
                        Poll::Pending => return Poll::Pending,
                    }
                } else {
                    response
                }
            }
            PhaseProj::Problem { future } => match future.as_mut().poll(cx) {
                Poll::Ready(response) => response,
                Poll::Pending => return Poll::Pending,
            },
            PhaseProj::Answered { response } => response
                .take()
                .expect("an ObservedFuture is not polled after it completed"),
        };
        let done = this
            .done
            .take()
            .expect("an ObservedFuture is not polled after it completed");
        Poll::Ready(Ok(done.finish(response)))
    }
}

/// The span of one request: every line logged while it is handled carries its fields.
fn request_span(
    service: &'static str,
    req: &Request,
    id: &HeaderValue,
    route: Option<&MatchedPath>,
) -> tracing::Span {
    // A root: a request starts its own trace, and naming no parent spares the lookup of
    // whichever span the connection's task might be in.
    let span = tracing::info_span!(
        target: "berth::request",
        parent: None,
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

/// The body length a request announces (`content-length`), when it announces one.
fn announced_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The answer to a body announced larger than `limit`: 413, before reading it.
fn too_large(limit: usize) -> Response {
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
        .with_detail(format!(
            "the request body is larger than this endpoint accepts ({limit} bytes)"
        ))
        .into_response()
}

/// The answer to a request whose client had not sent its whole body when the timeout
/// came: 408, and the connection is closed (the rest of the body is not read).
fn client_too_slow() -> Response {
    let mut response = Problem::new(StatusCode::REQUEST_TIMEOUT)
        .with_detail(
            "the request body was not received in time; send it faster or in a smaller request",
        )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Longest request target (path and query) the kit answers; 414 past it.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most bytes of header fields (names and values) the kit answers; 431 past them.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The answer to a request whose head breaks the kit's limits: a 414 or a 431 with
/// the full problem+json (hyper's own, larger limits answer with an empty body).
fn head_refusal(req: &Request) -> Option<Response> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(
            Problem::new(StatusCode::URI_TOO_LONG)
                .with_detail(format!(
                    "the request target is {target} bytes long; at most {MAX_URI_BYTES} are accepted"
                ))
                .into_response(),
        );
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (headers > MAX_HEADER_BYTES).then(|| {
        Problem::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .with_detail(format!(
                "the header fields are {headers} bytes in all; at most {MAX_HEADER_BYTES} are accepted"
            ))
            .into_response()
    })
}

/// Whether a request announces a body (a non-zero length, or chunks).
fn has_body(req: &Request) -> bool {
    announced_length(req).is_some_and(|n| n > 0)
        || req.headers().contains_key(header::TRANSFER_ENCODING)
}

/// How far a request body has been read: the handler started reading it and the
/// client has not finished sending it.
#[derive(Debug, Default)]
struct BodyState {
    started: std::sync::atomic::AtomicBool,
    finished: std::sync::atomic::AtomicBool,
}

impl BodyState {
    fn is_waiting_for_client(&self) -> bool {
        use std::sync::atomic::Ordering::Acquire;
        self.started.load(Acquire) && !self.finished.load(Acquire)
    }
}

pin_project_lite::pin_project! {
    /// A request body that records into a [`BodyState`] how far it has been read.
    struct Tracked {
        #[pin]
        inner: Body,
        state: Arc<BodyState>,
    }
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, axum::Error>>> {
        use std::sync::atomic::Ordering::Release;
        let this = self.project();
        this.state.started.store(true, Release);
        let polled = this.inner.poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.state.finished.store(true, Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Counts and logs a request hyper refused before the router saw it (see
/// [`crate::server`]): `http_requests_total{route="unparsed"}` and an access line.
pub(crate) fn record_unparsed(service: &'static str, status: u16, error: &hyper::Error) {
    metrics::counter!("http_requests_total", "service" => service, "method" => "-",
        "route" => "unparsed", "status" => status.to_string())
    .increment(1);
    let id = new_request_id();
    tracing::info!(
        target: "berth::access",
        service,
        route = "unparsed",
        request_id = id.to_str().unwrap_or(""),
        status,
        error = %error,
        "request refused before routing"
    );
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

/// The answer to a handler's panic: logged with its message, a 500 problem+json that
/// says nothing of it. The kit's layer uses it; it is public for a stack built
/// otherwise (the tower-http one of `crates/berth/examples/ab_clock.rs`).
#[allow(clippy::needless_pass_by_value)] // a panic payload is owned
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
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

/// Turns every error response that is not JSON (axum's rejections, the 413 of its body
/// limit, plain-text errors of a handler) into problem+json, keeping the text as the
/// detail for 4xx and saying nothing internal for 5xx. Only for responses
/// [`needs_problem`] picks: JSON error bodies (a service's own contract) pass untouched.
async fn problemize(response: Response) -> Response {
    let status = response.status();
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
        // Not the request timeout: its 503 is problem+json already.
        problem.detail = Some("the service is unavailable right now; try again later".into());
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

/// The kit's problem mapping alone: an error response whose body is not JSON becomes
/// problem+json (the private `problemize`); any other passes as it is. The kit's layer does
/// this for every response; it is public for a stack built otherwise (the tower-http
/// one of `crates/berth/examples/ab_clock.rs`, which `scripts/bench kit` measures).
pub async fn problem_json(response: Response) -> Response {
    if needs_problem(&response) {
        problemize(response).await
    } else {
        response
    }
}

/// Whether [`problemize`] would rewrite `response`: an error whose body is not JSON.
fn needs_problem(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && !is_json(response.headers().get(header::CONTENT_TYPE))
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
