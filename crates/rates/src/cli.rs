//! `berth rates load` and `berth rates generate`.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::NaiveDate;
use kit::config::Common;

use crate::{
    Config,
    generate::{GenerateOptions, generate},
    load::{self, Progress},
    source::{Source, SourceError},
};

/// The rates service's tools.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Load a plain-format `pg_dump` file (such as the original rates.sql) into the
    /// configured database, in one transaction: a malformed file exits non-zero naming
    /// the line, and nothing is stored. The dump may be a file or an `http://` or
    /// `https://` URL (a presigned S3 URL, any web server), read as it downloads.
    Load {
        /// The dump: a path or an http(s):// URL [default: `--rates-dump`, env
        /// `BERTH_RATES_DUMP`].
        #[arg(value_name = "FILE|URL")]
        dump: Option<PathBuf>,
        /// Empty the tables first (otherwise the database must be empty).
        #[arg(long)]
        replace: bool,
    },
    /// Write a synthetic dump in the same format to stdout (deterministic for a seed).
    Generate {
        /// Number of prices.
        #[arg(long)]
        prices: u64,
        /// Seed of the random generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of days the prices spread over.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// First day, YYYY-MM-DD.
        #[arg(long, default_value = "2021-01-01", value_parser = parse_start)]
        start: NaiveDate,
    },
}

fn parse_start(s: &str) -> Result<NaiveDate, String> {
    crate::domain::parse_day(s).ok_or_else(|| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

impl Command {
    /// Whether the command writes its output to stdout (so logs must stay off it).
    pub fn writes_stdout(&self) -> bool {
        matches!(self, Self::Generate { .. })
    }

    /// Runs the command against the configured store.
    pub async fn run(self, common: &Common, config: &Config) -> anyhow::Result<()> {
        match self {
            Self::Generate {
                prices,
                seed,
                days,
                start,
            } => {
                let opts = GenerateOptions {
                    prices,
                    seed,
                    start_day: start,
                    days,
                };
                tokio::task::spawn_blocking(move || {
                    let stdout = std::io::stdout();
                    let mut out = stdout.lock();
                    generate(&mut out, &opts)?;
                    out.flush()
                })
                .await?
                .context("writing the dump")
            }
            Self::Load { dump, replace } => {
                let location = dump.or_else(|| config.dump.clone()).context(
                    "no dump to load: name a file or URL, or set --rates-dump (BERTH_RATES_DUMP)",
                )?;
                let source = Source::parse(location.as_os_str())?;
                let stats = load_with_retries(common, config, &source, replace).await?;
                #[allow(clippy::cast_precision_loss, reason = "a rate for people")]
                let rate = stats.prices as f64 / stats.elapsed.as_secs_f64().max(1e-9);
                tracing::info!(
                    regions = stats.regions,
                    ports = stats.ports,
                    prices = stats.prices,
                    seconds = stats.elapsed.as_secs_f64(),
                    "loaded {source}: {} regions, {} ports, {} prices in {:.2} s ({rate:.0} rows/s)",
                    stats.regions,
                    stats.ports,
                    stats.prices,
                    stats.elapsed.as_secs_f64()
                );
                Ok(())
            }
        }
    }
}

/// Attempts of `berth rates load` when the database or the dump's server cannot be
/// reached.
const LOAD_ATTEMPTS: u32 = 5;

/// Opens the dump and the store and loads, trying again (up to [`LOAD_ATTEMPTS`] times,
/// with a doubling pause) when the failure is one of reaching the database: a name that
/// does not resolve yet, a refused or dropped connection, a pool timeout, a server
/// still starting or shutting down. A one-shot
/// loader in a stack that is still starting (compose, a Kubernetes job) meets exactly
/// these. A failed attempt rolled its transaction back, so trying again is safe; a bad
/// dump or a refused row fails at once.
///
/// A URL is requested again only when the request failed before any of the dump was
/// read and may succeed later ([`SourceError::is_transient`]: no connection, a timeout,
/// 5xx or 429). A 4xx is final: a URL, presigned or not, is the same URL the next time.
/// A download that breaks off midway fails the load (nothing stored) without another
/// attempt, which would start it over from the first byte: that is left to whoever
/// runs the loader (a job's own retry policy).
async fn load_with_retries(
    common: &Common,
    config: &Config,
    source: &Source,
    replace: bool,
) -> anyhow::Result<load::LoadStats> {
    // A loader answers no queries: no answers cache, no listening session.
    let config = &Config {
        cache_mib: 0,
        ..config.clone()
    };
    let mut pause = Duration::from_millis(500);
    for attempt in 1.. {
        let result = async {
            let dump = source.open().await?;
            let store = crate::store::open(config, common).await?;
            let progress = Arc::new(Progress::default());
            let display = tokio::spawn(show_progress(Arc::clone(&progress), dump.size));
            let result = load::load_reader(store.as_ref(), dump.reader, replace, &progress).await;
            display.abort();
            let _ = display.await;
            Ok::<_, anyhow::Error>(result?)
        }
        .await
        .with_context(|| format!("loading {source}"));
        match result {
            Err(e) if attempt < LOAD_ATTEMPTS && worth_another_attempt(&e) => {
                tracing::warn!(
                    attempt,
                    error = %format!("{e:#}"),
                    "the database or the dump's server could not be reached; trying again in {pause:?}"
                );
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// Whether an error is a failure to reach the database (what every service answers 503
/// for: [`kit::db::is_unavailable`]) or the dump's server, worth another attempt, as
/// opposed to a bad file, a refused row or a refused statement.
fn worth_another_attempt(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .is_some_and(kit::db::is_unavailable)
            || cause
                .downcast_ref::<SourceError>()
                .is_some_and(SourceError::is_transient)
    })
}

/// A progress bar with rows/s on a terminal (bytes of `size`, when known); a log line
/// every 5 s otherwise. Runs until aborted.
async fn show_progress(progress: Arc<Progress>, size: Option<u64>) {
    let start = Instant::now();
    let rate = |rows: u64| {
        #[allow(clippy::cast_precision_loss, reason = "a rate for people")]
        let r = rows as f64 / start.elapsed().as_secs_f64().max(1e-9);
        r
    };
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(size.unwrap_or(0));
        let template = if size.is_some() {
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}"
        } else {
            "{spinner} [{elapsed_precise}] {bytes} {msg}"
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let _finish = FinishOnDrop(bar.clone());
        loop {
            let rows = progress.rows.load(Ordering::Relaxed);
            bar.set_position(progress.bytes.load(Ordering::Relaxed));
            bar.set_message(format!("{rows} rows, {:.0} rows/s", rate(rows)));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let rows = progress.rows.load(Ordering::Relaxed);
            tracing::info!(
                rows,
                bytes = progress.bytes.load(Ordering::Relaxed),
                total_bytes = size,
                "loading: {rows} rows, {:.0} rows/s",
                rate(rows)
            );
        }
    }
}

struct FinishOnDrop(indicatif::ProgressBar);
impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
