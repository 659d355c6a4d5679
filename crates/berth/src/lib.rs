//! `berth`: one binary for every berth service.
//!
//! `berth serve [SERVICE...]` runs the named services (all by default) in one process,
//! each on its own address; `berth healthcheck URL` is the healthcheck of images that
//! have no shell or curl. Every flag has an environment variable (`berth --help`); a
//! `.env` file in the working directory is read first.
//!
//! # Layout
//!
//! - [`cli`]: the command line ([`cli::Cli`]), one struct per subcommand.
//! - [`serve`]: builds the selected services and runs them until SIGTERM/SIGINT.
//! - [`main`]: reads `.env`, parses the command line, sets up logging, starts the
//!   runtime and maps the outcome to an exit code.

pub mod cli;
pub mod serve;

use std::process::ExitCode;

use clap::Parser;

/// berth's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit berth was built from (`unknown` outside a checkout).
pub const GIT_SHA: &str = env!("BERTH_GIT_SHA");

/// The program: `.env`, command line, logging, runtime, exit code.
pub fn main() -> ExitCode {
    // Before anything else (and before any thread exists): `.env` fills the environment
    // that clap reads. A missing file is fine; a malformed one is reported.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("berth: cannot read .env: {e}");
        return ExitCode::from(2);
    }
    let cli = cli::Cli::parse_from(cli::default_to_serve(std::env::args_os()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(cli::run(cli))
}
