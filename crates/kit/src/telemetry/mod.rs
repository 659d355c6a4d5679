//! Tracing set-up: JSON lines when stdout is not a terminal, readable text when it is.

use std::io::IsTerminal;

mod json;

pub use json::{JsonLine, JsonMembers};
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{LogArgs, LogFormat};

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter does not parse.
    #[error("invalid log filter {0:?}")]
    Filter(String, #[source] tracing_subscriber::filter::ParseError),
    /// A global subscriber is already installed.
    #[error("a global tracing subscriber is already installed")]
    AlreadySet(#[source] tracing_subscriber::util::TryInitError),
}

/// Keeps the background log writer alive; dropping it flushes what is buffered. Hold
/// it in `main` until the process is about to exit.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard(#[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard);

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

/// Installs the global tracing subscriber described by `args`.
///
/// Lines are formatted on the calling thread and written to stdout by a background
/// thread, so a slow stdout never stalls request handling. If more than 128k lines are
/// waiting, new lines are dropped (and counted by the writer) rather than blocking.
pub fn init(args: &LogArgs) -> Result<LogGuard, TelemetryError> {
    let (writer, guard) = tracing_appender::non_blocking(std::io::BufWriter::with_capacity(
        64 * 1024,
        std::io::stdout(),
    ));
    let filter = EnvFilter::try_new(&args.log_level)
        .map_err(|e| TelemetryError::Filter(args.log_level.clone(), e))?;
    let json = match args.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                fmt::layer()
                    .with_writer(writer)
                    .fmt_fields(JsonMembers)
                    .event_format(JsonLine),
            )
            .try_init()
    } else {
        registry.with(fmt::layer().with_writer(writer)).try_init()
    };
    result.map_err(TelemetryError::AlreadySet)?;
    Ok(LogGuard(guard))
}
