//! The command line.

use std::{process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use kit::config::LogArgs;

use crate::serve::ServeArgs;

/// berth: five small HTTP services and their environment, in one binary.
///
/// Without a subcommand, berth runs `serve`: every service, embedded defaults.
#[derive(Debug, Parser)]
#[command(name = "berth", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("BERTH_GIT_SHA"), ")"), propagate_version = true)]
pub struct Cli {
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run services (all of them when none is named), each on its own address.
    Serve(Box<ServeArgs>),
    /// Exit 0 when URL answers 2xx within the timeout, else 1 with the reason on stderr.
    Healthcheck(HealthcheckArgs),
    /// The rates service's tools: load a `pg_dump` file, generate a synthetic one.
    Rates(Box<RatesArgs>),
    /// Run a service's workers alone, e.g. `berth worker multivac`.
    Worker {
        /// Which workers.
        #[command(subcommand)]
        worker: WorkerCommand,
    },
}

/// `berth rates ...`.
#[derive(Debug, clap::Args)]
pub struct RatesArgs {
    /// Data directory, process-wide store URLs.
    #[command(flatten)]
    pub common: kit::config::CommonArgs,
    /// The rates service's settings (its database).
    #[command(flatten)]
    pub rates: rates::Config,
    /// What to do.
    #[command(subcommand)]
    pub command: rates::cli::Command,
}

/// `berth worker ...`.
#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// MultiVAC's queue workers, with `/metrics` and `/healthcheck` on `--worker-addr`;
    /// SIGTERM: each finishes the batch in hand, then it exits 0.
    Multivac(Box<multivac::worker::WorkerArgs>),
}

/// `berth healthcheck`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The URL to GET, e.g. `http://127.0.0.1:8080/healthcheck`. The container image
    /// sets it per service through the environment, so its `HEALTHCHECK` is the same
    /// `berth healthcheck` for every service.
    #[arg(env = "BERTH_HEALTHCHECK_URL")]
    pub url: String,
    /// How long to wait for the answer.
    #[arg(long, env = "BERTH_HEALTHCHECK_TIMEOUT", default_value = "3s", value_parser = humantime_duration)]
    pub timeout: Duration,
}

fn humantime_duration(s: &str) -> Result<Duration, String> {
    kit::config::parse_duration(s)
}

/// `berth` alone, or followed only by flags, means `berth serve ...`: so that
/// `cargo run --release` (and `cargo run --release -- --clock-addr ...`) runs every
/// service. `--help` and `--version` keep their meaning.
pub fn default_to_serve(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<_> = args.into_iter().collect();
    let first = args.get(1).and_then(|a| a.to_str());
    let wants_serve = match first {
        None => true,
        Some("-h" | "--help" | "-V" | "--version") => false,
        Some(flag) => flag.starts_with('-'),
    };
    if wants_serve {
        args.insert(1.min(args.len()), "serve".into());
    }
    args
}

/// Runs a parsed command line to its exit code.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Healthcheck(args) => match kit::probe::probe(&args.url, args.timeout).await {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berth healthcheck: {}: {e}", args.url);
                ExitCode::FAILURE
            }
        },
        Command::Rates(args) => {
            let RatesArgs {
                common,
                rates,
                command,
            } = *args;
            // `generate` writes the dump to stdout, where the logs would go.
            let _log_guard = if command.writes_stdout() {
                None
            } else {
                match kit::telemetry::init(&cli.log) {
                    Ok(guard) => Some(guard),
                    Err(e) => {
                        eprintln!("berth: {e}");
                        return ExitCode::from(2);
                    }
                }
            };
            let result = async {
                let common = common.resolve()?;
                command.run(&common, &rates).await
            }
            .await;
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("berth rates: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Worker {
            worker: WorkerCommand::Multivac(args),
        } => {
            let _log_guard = match kit::telemetry::init(&cli.log) {
                Ok(guard) => guard,
                Err(e) => {
                    eprintln!("berth: {e}");
                    return ExitCode::from(2);
                }
            };
            kit::metrics::set_build_info(crate::VERSION, crate::GIT_SHA);
            match multivac::worker::run_worker(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "berth worker multivac failed");
                    eprintln!("berth worker multivac: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(args) => {
            let _log_guard = match kit::telemetry::init(&cli.log) {
                Ok(guard) => guard,
                Err(e) => {
                    eprintln!("berth: {e}");
                    return ExitCode::from(2);
                }
            };
            match crate::serve::run(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "berth serve failed");
                    eprintln!("berth serve: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
