//! The shutdown signal, passed down to every task.
//!
//! A [`Shutdown`] is a cheap, clonable handle: one place triggers it (a SIGTERM or
//! SIGINT, or a test), every server and worker holding a clone sees it and winds down.

use tokio_util::sync::CancellationToken;

/// A clonable shutdown signal.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Triggers shutdown for every clone.
    pub fn trigger(&self) {
        self.0.cancel();
    }

    /// Whether shutdown has been triggered.
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Completes once shutdown has been triggered.
    pub async fn wait(&self) {
        self.0.cancelled().await;
    }

    /// A future that completes on shutdown and owns its handle (for `'static` uses).
    pub fn wait_owned(&self) -> impl Future<Output = ()> + Send + 'static {
        self.0.clone().cancelled_owned()
    }

    /// Triggers this signal on the first SIGTERM or SIGINT (Ctrl-C). The handlers are
    /// installed before this returns, so no early signal is missed; must be called
    /// inside a Tokio runtime.
    pub fn trigger_on_signals(&self) -> std::io::Result<()> {
        let signals = Signals::install()?;
        let this = self.clone();
        tokio::spawn(async move {
            let received = signals.recv().await;
            tracing::info!(signal = received, "shutdown requested; draining");
            this.trigger();
        });
        Ok(())
    }
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn recv(self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}
