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

use crate::{Server, Service, Shutdown, http::HttpConfig, service::Background};

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

    /// Triggers the shutdown on the first SIGTERM or SIGINT. The handlers are installed
    /// before this returns, so call it before the (possibly slow) start-up work.
    pub fn trigger_on_signals(&self) -> io::Result<()> {
        self.shutdown.trigger_on_signals()
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
        let server = Server::bind(name, addr, crate::http::app(service, &self.http)).await?;
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
        for server in self.servers {
            let local = server.local_addr();
            let url = display_url(local);
            tracing::info!(
                service = server.name(),
                addr = %local,
                url = %url,
                docs = %format!("{url}/docs"),
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

/// The URL a person can open for a bound address (`0.0.0.0` becomes `localhost`).
pub fn display_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}
