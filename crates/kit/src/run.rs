//! [`Runner`]: the one run loop of every command that serves — bind, serve, wait for a
//! signal, drain, and wait for the background tasks to finish.
//!
//! ```no_run
//! # async fn example(service: kit::Service) -> std::io::Result<()> {
//! let mut runner = kit::Runner::new(kit::http::HttpConfig::default());
//! runner.trigger_on_signals()?;
//! runner.serve(service, "0.0.0.0:8080".parse().unwrap()).await?;
//! runner.run().await // returns once every server has drained and every task ended
//! # }
//! ```
//!
//! A [`Service`]'s background tasks ([`Service::background`]) run beside its server and
//! get the same shutdown signal; [`Runner::run`] returns only once each of them has
//! returned too, so a worker's batch in hand is finished, not dropped.

use std::{io, net::SocketAddr};

use tokio_util::task::TaskTracker;

use crate::{Server, Service, Shutdown, http::HttpConfig, server::Limits, service::Background};

/// Servers and background tasks run until one shutdown signal.
pub struct Runner {
    http: HttpConfig,
    shutdown: Shutdown,
    servers: Vec<Server>,
    background: Vec<Background>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("servers", &self.servers)
            .field("background", &self.background.len())
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner with nothing to run yet, whose servers use `http`.
    pub fn new(http: HttpConfig) -> Self {
        Self {
            http,
            shutdown: Shutdown::new(),
            servers: Vec::new(),
            background: Vec::new(),
        }
    }

    /// Uses `shutdown` (a test's, say) instead of the runner's own signal.
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The runner's shutdown signal: triggering it stops everything.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// On the first SIGTERM or SIGINT: readiness fails at once, the servers keep serving
    /// for the shutdown delay, then drain ([`Shutdown::trigger_on_signals`]). The
    /// handlers are installed before this returns, so call it before the (possibly
    /// slow) start-up work.
    pub fn trigger_on_signals(&self) -> io::Result<()> {
        self.shutdown.trigger_on_signals(self.http.shutdown_delay)
    }

    /// Binds `addr` (port 0 picks a free port) for `service`'s full application (its
    /// routes, the operations endpoints and every layer: [`crate::http::app`]) and takes
    /// over its background tasks. Returns the address bound.
    pub async fn serve(
        &mut self,
        mut service: Service,
        addr: SocketAddr,
    ) -> io::Result<SocketAddr> {
        self.background.append(&mut service.background);
        let name = service.name;
        let app = crate::http::app_with(service, &self.http, &self.shutdown);
        let server = Server::bind(name, addr, app).await?;
        let local = server.local_addr();
        self.servers.push(server);
        Ok(local)
    }

    /// Adds a background task: it gets the shutdown signal and must return after it.
    pub fn spawn(&mut self, task: Background) {
        self.background.push(task);
    }

    /// Serves every bound service and runs every background task until the shutdown
    /// signal; then each server stops accepting and drains within the drain timeout,
    /// and each task finishes. Returns once all of them have.
    pub async fn run(self) -> io::Result<()> {
        let tracker = TaskTracker::new();
        let max_connections = match self.http.max_connections {
            0 => fair_share_of_descriptors(self.servers.len()),
            n => n,
        };
        let limits = Limits {
            header_read_timeout: self.http.header_read_timeout,
            idle_timeout: self.http.idle_timeout,
            max_connections,
        };
        for server in self.servers {
            let server = server.with_limits(limits);
            let local = server.local_addr();
            let url = display_url(local);
            tracing::info!(
                service = server.name(),
                addr = %local,
                url = %url,
                docs = %format!("{url}/docs"),
                max_connections,
                "{} listening on {url} (Swagger UI {url}/docs)",
                server.name()
            );
            let (shutdown, drain) = (self.shutdown.clone(), self.http.drain_timeout);
            tracker.spawn(async move {
                let name = server.name();
                if let Err(e) = server.run(shutdown, drain).await {
                    tracing::error!(service = name, error = %e, "server failed");
                }
            });
        }
        for task in self.background {
            tracker.spawn(task(self.shutdown.clone()));
        }
        tracker.close();
        tracker.wait().await;
        tracing::info!("every server and task stopped");
        Ok(())
    }
}

/// Most connections per listener when none is configured: the process's file
/// descriptor limit (raised to its hard limit first), less 512 for everything else,
/// shared evenly by `listeners`; at most 10,000 and at least 64.
fn fair_share_of_descriptors(listeners: usize) -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let share = limit.saturating_sub(512) / u64::try_from(listeners.max(1)).unwrap_or(1);
    usize::try_from(share.clamp(64, 10_000)).unwrap_or(10_000)
}

/// The URL a person can open for a bound address (`0.0.0.0` becomes `localhost`).
pub fn display_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}
