//! Tracing set-up: JSON lines when stdout is not a terminal, readable text when it is.

use std::io::IsTerminal;

mod json;
pub mod writer;

pub use json::JsonLayer;
use tracing_subscriber::{
    EnvFilter, Layer, Registry, filter::Targets, fmt, layer::SubscriberExt, util::SubscriberInitExt,
};
use writer::{BatchGuard, BatchWriter};

use crate::config::{LogArgs, LogFormat};

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter does not parse.
    #[error("invalid log filter {0:?}")]
    Filter(String, #[source] tracing_subscriber::filter::ParseError),
    /// The log writer thread cannot be started.
    #[error("cannot start the log writer thread")]
    Writer(#[source] std::io::Error),
    /// A global subscriber is already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadySet(#[source] tracing_subscriber::util::TryInitError),
}

/// Keeps the background log writer alive; dropping it writes what is waiting. Hold it
/// in `main` until the process is about to exit.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard(#[allow(dead_code)] BatchGuard);

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

/// The level filter of `spec` (`RUST_LOG` syntax).
///
/// Plain `target=level` lists (`info`, `info,sqlx=warn,berth::access=off`) become a
/// [`Targets`] filter: it decides once per call site and keeps no per-span state.
/// [`EnvFilter`] is kept for what only it understands — span and field directives
/// (`[request{route=/get/{id}}]=debug`), regular expressions — because it looks up a
/// shared table on every span enter and exit, which costs several percent of the
/// requests/s of a small handler.
fn filter(spec: &str) -> Result<Box<dyn Layer<Registry> + Send + Sync>, TelemetryError> {
    if !spec.contains(['[', '{'])
        && let Ok(targets) = spec.parse::<Targets>()
    {
        return Ok(Box::new(targets));
    }
    EnvFilter::try_new(spec)
        .map(|f| Box::new(f) as Box<dyn Layer<Registry> + Send + Sync>)
        .map_err(|e| TelemetryError::Filter(spec.to_owned(), e))
}

/// Installs the global tracing subscriber described by `args`.
///
/// Lines are formatted on the calling thread and written to stdout in batches by a
/// thread of its own ([`writer`]), so a slow stdout never stalls request handling.
pub fn init(args: &LogArgs) -> Result<LogGuard, TelemetryError> {
    let filter = filter(&args.log_level)?;
    let (writer, guard) = BatchWriter::spawn(std::io::stdout()).map_err(TelemetryError::Writer)?;
    let json = match args.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry.with(JsonLayer::new(writer)).try_init()
    } else {
        registry.with(fmt::layer().with_writer(writer)).try_init()
    };
    result.map_err(TelemetryError::AlreadySet)?;
    Ok(LogGuard(guard))
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn plain_lists_and_span_directives_both_parse() {
        for spec in [
            "info",
            "info,sqlx=warn,berth::access=off",
            "debug,[request]=trace",
        ] {
            assert!(filter(spec).is_ok(), "{spec} does not parse");
        }
        assert!(matches!(
            filter("info,sqlx=loud"),
            Err(TelemetryError::Filter(..))
        ));
    }

    /// What a subscriber built on `filter(spec)` lets through, one line per event.
    fn logged_with(spec: &str) -> String {
        let capture = json::tests::Capture::default();
        let subscriber = tracing_subscriber::registry()
            .with(filter(spec).unwrap())
            .with(
                fmt::layer()
                    .with_writer(capture.clone())
                    .without_time()
                    .with_ansi(false),
            );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "berth::serve", "serve-info");
            tracing::debug!(target: "berth::serve", "serve-debug");
            tracing::info!(target: "berth::access", "access-info");
            tracing::warn!(target: "sqlx::query", "sqlx-warn");
            tracing::info!(target: "sqlx::query", "sqlx-info");
            let span = tracing::info_span!("request", route = "/get/{id}");
            span.in_scope(|| tracing::debug!(target: "berth::store", "store-debug"));
        });
        String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn a_plain_list_filters_by_target_and_level() {
        let out = logged_with("info,berth::access=off,sqlx=warn");
        assert!(out.contains("serve-info"), "{out}");
        assert!(out.contains("sqlx-warn"), "{out}");
        for hidden in ["serve-debug", "access-info", "sqlx-info", "store-debug"] {
            assert!(!out.contains(hidden), "{hidden} got through:\n{out}");
        }
    }

    #[test]
    fn a_span_directive_raises_the_level_inside_that_span_only() {
        let out = logged_with("info,[request]=debug");
        assert!(out.contains("store-debug"), "{out}");
        assert!(!out.contains("serve-debug"), "{out}");
        assert!(out.contains("access-info"), "{out}");
    }
}
