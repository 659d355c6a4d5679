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
    Serve(ServeArgs),
    /// Exit 0 when URL answers 2xx within the timeout, else 1 with the reason on stderr.
    Healthcheck(HealthcheckArgs),
}

/// `berth healthcheck`.
#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The URL to GET, e.g. `http://127.0.0.1:8080/healthcheck`.
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
        Command::Serve(args) => {
            let _log_guard = match kit::telemetry::init(&cli.log) {
                Ok(guard) => guard,
                Err(e) => {
                    eprintln!("berth: {e}");
                    return ExitCode::from(2);
                }
            };
            match crate::serve::run(args).await {
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
