//! [`Server`]: bind first (so the port is known, port 0 included), then serve HTTP/1.1
//! until shutdown, with the rules an edge needs against slow or hostile clients.
//!
//! # Connections
//!
//! Each connection is in one of three phases, kept by the connection's own task:
//!
//! - **head**: from accept, or from the first byte after an idle spell, until the
//!   request head is complete. Past `--header-read-timeout` the connection is closed
//!   (a client that opens connections and trickles or never finishes a head holds no
//!   resource for long).
//! - **busy**: a request is in the handler. The request timeout and the body rules of
//!   [`crate::http`] bound it (a body trickled past the timeout is a 408).
//! - **idle**: between a response and the next request. Past `--idle-timeout` the
//!   connection is closed.
//!
//! The deadlines are checked by one timer per connection that wakes at most once per
//! timeout, not per request: a request costs a few atomic stores and two reads of the
//! clock (when its head starts and when its connection goes idle). The timer, the
//! shutdown signal and the drain deadline are looked at only when one of them wakes the
//! connection's task, not on every wake-up (see `Events`).
//!
//! At most `--max-connections` connections are open per listener; a connection past
//! the cap is accepted and closed at once (and counted), so the process never runs out
//! of file descriptors and never spins on `accept` failing with `EMFILE`. Accept errors
//! are counted and backed off (10 ms doubling to 1 s).
//!
//! # Shutdown
//!
//! When the [`Shutdown`] is triggered the listener closes; idle connections and those
//! still in their head are closed at once; busy ones finish their request (its response
//! carrying `Connection: close`) within the drain deadline, after which the remaining
//! ones are closed. From the first shutdown step (see [`crate::shutdown`]) every
//! response carries `Connection: close`.
//!
//! # Requests hyper refuses itself
//!
//! hyper answers a request it cannot parse before any handler runs, with an empty
//! body: a malformed request line or header (400), a head larger than 64 KiB or with
//! more than 100 headers (431), a URI longer than 65,534 bytes (414). These are counted
//! in `http_requests_total{route="unparsed"}` and logged (`berth::access`, with a
//! request id of their own), but cannot carry a problem+json body or `x-request-id`.
//! Smaller limits, enforced by the kit's layer with the full problem+json answer,
//! catch every realistic case first: a URI over 8 KiB (414) and header fields over
//! 32 KiB in all (431).

use std::{
    convert::Infallible,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    http::{HeaderValue, Request, Response, header},
};
use futures::task::AtomicWaker;
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    time::{Instant, Sleep},
};
use tokio_util::{
    sync::{CancellationToken, WaitForCancellationFutureOwned},
    task::TaskTracker,
};

use crate::Shutdown;

/// Largest request head hyper reads (it answers 431 past it).
const MAX_HEAD: usize = 64 * 1024;

/// The connection settings of a [`Server`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest a client may take to send a request head, from accept or from its first
    /// byte after an idle spell.
    pub header_read_timeout: Duration,
    /// Longest a connection may stay idle between requests.
    pub idle_timeout: Duration,
    /// Most connections open at once on the listener.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 10_000,
        }
    }
}

/// A bound, not yet serving, HTTP server.
#[derive(Debug)]
pub struct Server {
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: Limits,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port; see [`Server::local_addr`]), with the
    /// default [`Limits`].
    pub async fn bind(name: &'static str, addr: SocketAddr, router: Router) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            io::Error::new(e.kind(), format!("{name}: cannot listen on {addr}: {e}"))
        })?;
        Ok(Self {
            name,
            listener,
            // Every handler made into a route once, here: a router that was not would
            // do it for each request (a clone of the handler and of each layer's
            // service, boxed), as `axum::serve` avoids with the same call.
            router: router.with_state(()),
            limits: Limits::default(),
        })
    }

    /// Sets the connection limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The connection limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// The service name this server runs.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Serves until `shutdown` triggers, then closes the listener, closes idle and
    /// unfinished connections, and waits for busy ones, at most `drain` long (the rest
    /// are closed then). Returns once every connection is closed.
    pub async fn run(self, shutdown: Shutdown, drain: Duration) -> io::Result<()> {
        let Self {
            name,
            listener,
            router,
            limits,
        } = self;
        let counters = Counters::new(name);
        let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let connections = TaskTracker::new();
        let abort = CancellationToken::new();
        let mut backoff = Duration::ZERO;
        loop {
            let accepted = tokio::select! {
                biased;
                () = shutdown.wait() => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _peer)) => {
                    backoff = Duration::ZERO;
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                        // Past the cap: closed at once, the client sees the connection end.
                        counters.rejected.increment(1);
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let connection = Connection {
                        service: name,
                        router: router.clone(),
                        limits,
                        shutdown: shutdown.clone(),
                        abort: abort.clone(),
                        counters: counters.clone(),
                    };
                    connections.spawn(async move {
                        connection.serve(stream).await;
                        drop(permit);
                    });
                }
                Err(e) if is_per_connection(&e) => {}
                Err(e) => {
                    counters.accept_errors.increment(1);
                    backoff =
                        (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    tracing::warn!(service = name, error = %e, backoff = ?backoff,
                        "accepting a connection failed; pausing before the next accept");
                    tokio::select! {
                        () = shutdown.wait() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
        drop(listener);
        connections.close();
        if tokio::time::timeout(drain, connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(service = name, drain = %humantime::format_duration(drain),
                remaining = connections.len(),
                "drain deadline passed; closing the remaining connections");
            abort.cancel();
            connections.wait().await;
        }
        tracing::info!(service = name, "stopped");
        Ok(())
    }
}

/// Accept errors about one connection (it was reset before we took it): nothing to wait
/// for. The others (`EMFILE`, `ENFILE`, `ENOMEM`, `ENOBUFS`...) are about the process
/// or the machine, and are backed off.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// The connection-level metrics of one listener.
#[derive(Clone)]
struct Counters {
    rejected: metrics::Counter,
    accept_errors: metrics::Counter,
    header_timeouts: metrics::Counter,
    idle_timeouts: metrics::Counter,
    open: metrics::Gauge,
}

impl Counters {
    fn new(service: &'static str) -> Self {
        crate::metrics::install();
        let closed = |reason: &'static str| metrics::counter!("berth_connections_closed_total", "service" => service, "reason" => reason);
        Self {
            rejected: metrics::counter!("berth_connections_rejected_total", "service" => service),
            accept_errors: metrics::counter!("berth_accept_errors_total", "service" => service),
            header_timeouts: closed("header_timeout"),
            idle_timeouts: closed("idle_timeout"),
            open: metrics::gauge!("berth_connections_open", "service" => service),
        }
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    service: &'static str,
    router: Router,
    limits: Limits,
    shutdown: Shutdown,
    abort: CancellationToken,
    counters: Counters,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        self.counters.open.increment(1.0);
        let state = Arc::new(ConnState {
            phase: Phase::new(),
            shutdown: self.shutdown.clone(),
        });
        let io = TokioIo::new(Watched {
            io: stream,
            state: Arc::clone(&state),
        });
        let service = ConnService {
            router: self.router.clone(),
            state: Arc::clone(&state),
        };
        let conn = http1::Builder::new()
            .max_buf_size(MAX_HEAD)
            .serve_connection(io, service);
        tokio::pin!(conn);
        let phase = &state.phase;
        let mut events = Events::new(
            phase.next_check(self.limits, Instant::now()),
            &self.shutdown,
            &self.abort,
        );
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        self.refused(&e);
                    }
                    break;
                }
                event = &mut events => match event {
                    Event::Check => {
                        let now = Instant::now();
                        match phase.expired(self.limits, now) {
                            Some(Expired::Head) => {
                                self.counters.header_timeouts.increment(1);
                                break;
                            }
                            Some(Expired::Idle) => {
                                self.counters.idle_timeouts.increment(1);
                                break;
                            }
                            None => events.check.as_mut().reset(phase.next_check(self.limits, now)),
                        }
                    }
                    Event::Shutdown => {
                        if !phase.is_busy() {
                            break; // idle, or a head never finished: nothing to wait for
                        }
                        conn.as_mut().graceful_shutdown();
                    }
                    Event::Abort => break,
                },
            }
        }
        self.counters.open.decrement(1.0);
    }

    /// Counts and logs a request hyper refused before any handler ran (see the module
    /// docs); other connection errors (a client gone mid-request) are debug noise.
    fn refused(&self, error: &hyper::Error) {
        if !error.is_parse() {
            tracing::debug!(service = self.service, error = %error, "connection ended with an error");
            return;
        }
        let status: u16 = if error.is_parse_too_large() {
            if error.to_string().contains("URI") {
                414
            } else {
                431
            }
        } else {
            400
        };
        crate::http::record_unparsed(self.service, status, error);
    }
}

/// What a connection's task waits for beside the connection: its deadline check, the
/// server's shutdown, the drain deadline.
enum Event {
    Check,
    Shutdown,
    Abort,
}

/// The future of [`Event`]s, polled beside the connection.
///
/// `tokio::select!` polls every branch each time the task wakes, once or more per
/// request, and a token's future locks a mutex shared by every connection of the
/// server each time it is polled. So these three are polled with a waker of their own
/// ([`Woken`]) and only after it was called; a wake-up for the connection costs a
/// waker registration and an atomic swap here.
struct Events {
    check: Pin<Box<Sleep>>,
    /// Until it has fired (then a graceful shutdown is under way).
    shutdown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    abort: Pin<Box<WaitForCancellationFutureOwned>>,
    woken: Arc<Woken>,
    waker: Waker,
}

/// The waker of [`Events`]: records that it was called, then wakes the task.
struct Woken {
    called: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.called.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl Events {
    fn new(check: Instant, shutdown: &Shutdown, abort: &CancellationToken) -> Self {
        // Called already: the first poll registers the waker with each of them.
        let woken = Arc::new(Woken {
            called: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Self {
            check: Box::pin(tokio::time::sleep_until(check)),
            shutdown: Some(Box::pin(shutdown.wait_owned())),
            abort: Box::pin(abort.clone().cancelled_owned()),
            waker: Waker::from(Arc::clone(&woken)),
            woken,
        }
    }
}

impl Future for Events {
    type Output = Event;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Event> {
        let this = self.get_mut();
        this.woken.task.register(cx.waker());
        if !this.woken.called.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let mut own = Context::from_waker(&this.waker);
        let event = if this.abort.as_mut().poll(&mut own).is_ready() {
            Event::Abort
        } else if let Some(shutdown) = &mut this.shutdown
            && shutdown.as_mut().poll(&mut own).is_ready()
        {
            this.shutdown = None;
            Event::Shutdown
        } else if this.check.as_mut().poll(&mut own).is_ready() {
            Event::Check
        } else {
            return Poll::Pending;
        };
        // Look at all three again next time: another may be ready too, and a reset
        // timer must be polled to be armed.
        this.woken.called.store(true, Ordering::Release);
        Poll::Ready(event)
    }
}

/// What a connection's task, its socket and its requests share.
struct ConnState {
    phase: Phase,
    shutdown: Shutdown,
}

/// Which phase a connection is in, and since when (nanoseconds after `base`).
struct Phase {
    base: Instant,
    state: AtomicU8,
    since: AtomicU64,
}

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

/// Why a connection was closed by its deadline.
enum Expired {
    Head,
    Idle,
}

impl Phase {
    /// A new connection: waiting for its first head.
    fn new() -> Self {
        Self {
            base: Instant::now(),
            state: AtomicU8::new(HEAD),
            since: AtomicU64::new(0),
        }
    }

    fn set(&self, state: u8) {
        let nanos = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.since.store(nanos, Ordering::Relaxed);
        self.state.store(state, Ordering::Release);
    }

    /// A request is in the router. The busy phase has no deadline of its own, so
    /// when it began is not recorded (a read of the clock saved per request).
    fn set_busy(&self) {
        self.state.store(BUSY, Ordering::Release);
    }

    fn is_busy(&self) -> bool {
        self.state.load(Ordering::Acquire) == BUSY
    }

    /// The first byte after an idle spell starts a head.
    fn bytes_arrived(&self) {
        if self.state.load(Ordering::Acquire) == IDLE {
            self.set(HEAD);
        }
    }

    fn since(&self) -> Instant {
        self.base + Duration::from_nanos(self.since.load(Ordering::Relaxed))
    }

    /// Which deadline, if any, has passed at `now`.
    fn expired(&self, limits: Limits, now: Instant) -> Option<Expired> {
        match self.state.load(Ordering::Acquire) {
            HEAD if now >= self.since() + limits.header_read_timeout => Some(Expired::Head),
            IDLE if now >= self.since() + limits.idle_timeout => Some(Expired::Idle),
            _ => None,
        }
    }

    /// When to look again: at the deadline of the phase the connection is in, or after
    /// the shorter of the two timeouts, whichever comes first. A phase that begins
    /// after `now` cannot end before `now` plus that shorter timeout, so no deadline is
    /// ever passed unseen.
    fn next_check(&self, limits: Limits, now: Instant) -> Instant {
        let soonest = now + limits.header_read_timeout.min(limits.idle_timeout);
        let deadline = match self.state.load(Ordering::Acquire) {
            HEAD => self.since() + limits.header_read_timeout,
            IDLE => self.since() + limits.idle_timeout,
            _ => soonest,
        };
        deadline.min(soonest)
    }
}

/// The connection's socket, telling its [`Phase`] when bytes arrive.
struct Watched {
    io: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.phase.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The router as hyper's service for one connection: marks the connection busy while
/// a request is in the router, and asks the client to close once shutdown began.
struct ConnService {
    router: Router,
    state: Arc<ConnState>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ConnFuture;

    fn call(&self, req: Request<Incoming>) -> ConnFuture {
        self.state.phase.set_busy();
        let future = tower::Service::call(&mut self.router.clone(), req);
        ConnFuture {
            future,
            state: Arc::clone(&self.state),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`ConnService`].
    struct ConnFuture {
        #[pin]
        future: axum::routing::future::RouteFuture<Infallible>,
        state: Arc<ConnState>,
    }
}

impl Future for ConnFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = std::task::ready!(this.future.poll(cx));
        if this.state.shutdown.is_stopping() {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        this.state.phase.set(IDLE);
        Poll::Ready(Ok(response))
    }
}
