//! The shutdown signal, passed down to every task.
//!
//! A [`Shutdown`] is a cheap, clonable handle with two steps, so that a restart fails
//! no request:
//!
//! 1. **stopping** ([`Shutdown::begin_stopping`]): `/healthcheck` answers 503 at once,
//!    so load balancers take the instance out, while everything keeps serving; every
//!    response carries `Connection: close`, so clients stop reusing connections;
//! 2. **stopped** ([`Shutdown::trigger`], which also implies step 1): listeners close,
//!    idle and unfinished connections are closed, in-flight requests drain, background
//!    tasks finish.
//!
//! On SIGTERM or SIGINT, [`Shutdown::trigger_on_signals`] takes step 1 at once and
//! step 2 after the shutdown delay (`--shutdown-delay`); a second signal skips the rest
//! of the delay.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;

/// A clonable shutdown signal.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    /// Step 1: a flag, not a token (nothing waits for it), read once per response;
    /// a token's `is_cancelled` locks a mutex that every clone of the token shares,
    /// every connection's on both runtime threads.
    stopping: Arc<AtomicBool>,
    stopped: CancellationToken,
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Step 1: report "not ready" and ask clients to close their connections, while
    /// still serving.
    pub fn begin_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Step 2 (and 1): stop accepting, drain, stop every task.
    pub fn trigger(&self) {
        self.begin_stopping();
        self.stopped.cancel();
    }

    /// Whether step 1 has been taken (readiness fails, connections are not reused).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Whether step 2 has been taken.
    pub fn is_triggered(&self) -> bool {
        self.stopped.is_cancelled()
    }

    /// Completes once step 2 has been taken.
    pub async fn wait(&self) {
        self.stopped.cancelled().await;
    }

    /// A future that completes on step 2 and owns its handle (for `'static` uses).
    pub fn wait_owned(&self) -> impl Future<Output = ()> + Send + 'static {
        self.stopped.clone().cancelled_owned()
    }

    /// On the first SIGTERM or SIGINT: step 1 at once, step 2 after `delay` (or at a
    /// second signal, whichever comes first). The handlers are installed before this
    /// returns, so no early signal is missed; must be called inside a Tokio runtime.
    pub fn trigger_on_signals(&self, delay: Duration) -> std::io::Result<()> {
        let mut signals = Signals::install()?;
        let this = self.clone();
        tokio::spawn(async move {
            let received = signals.recv().await;
            this.begin_stopping();
            if delay.is_zero() {
                tracing::info!(signal = received, "shutdown requested; draining");
            } else {
                tracing::info!(
                    signal = received,
                    delay = %humantime::format_duration(delay),
                    "shutdown requested: not ready any more, still serving for the shutdown delay, then draining"
                );
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    again = signals.recv() => {
                        tracing::info!(signal = again, "second signal: draining now");
                    }
                }
            }
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

    async fn recv(&mut self) -> &'static str {
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

    async fn recv(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_steps() {
        let s = Shutdown::new();
        let clone = s.clone();
        assert!(!s.is_stopping() && !s.is_triggered());
        s.begin_stopping();
        assert!(clone.is_stopping() && !clone.is_triggered());
        s.trigger();
        assert!(clone.is_stopping() && clone.is_triggered());
        let t = Shutdown::new();
        t.trigger();
        assert!(t.is_stopping(), "step 2 implies step 1");
    }
}
