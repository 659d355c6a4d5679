//! [`Server`]: bind first (so the port is known, port 0 included), then serve until
//! shutdown, draining in-flight requests within a deadline.

use std::{io, net::SocketAddr, time::Duration};

use axum::Router;
use tokio::net::TcpListener;

use crate::Shutdown;

/// A bound, not yet serving, HTTP server.
#[derive(Debug)]
pub struct Server {
    name: &'static str,
    listener: TcpListener,
    router: Router,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port; see [`Server::local_addr`]).
    pub async fn bind(name: &'static str, addr: SocketAddr, router: Router) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            io::Error::new(e.kind(), format!("{name}: cannot listen on {addr}: {e}"))
        })?;
        Ok(Self {
            name,
            listener,
            router,
        })
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

    /// Serves until `shutdown` triggers, then stops accepting and waits for in-flight
    /// requests, at most `drain` long. Returns once every connection is closed or the
    /// deadline passed.
    pub async fn run(self, shutdown: Shutdown, drain: Duration) -> io::Result<()> {
        let name = self.name;
        let serve = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.wait_owned())
            .into_future();
        tokio::pin!(serve);
        tokio::select! {
            result = &mut serve => {
                tracing::info!(service = name, "stopped");
                result
            }
            () = async { shutdown.wait().await; tokio::time::sleep(drain).await } => {
                tracing::warn!(service = name, drain = %humantime::format_duration(drain),
                    "drain deadline passed; closing remaining connections");
                Ok(())
            }
        }
    }
}
