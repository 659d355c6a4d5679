//! `berth serve`: build the selected services, bind them all, then serve until a
//! shutdown signal, draining in-flight requests.

use std::collections::BTreeSet;

use anyhow::Context;
use clap::ValueEnum;
use kit::{Runner, config::HttpArgs};

/// A service `berth serve` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum ServiceName {
    /// The mirror clock (port 8080).
    Clock,
    /// Users and coin balances, with transfers (port 8300).
    Users,
    /// Shipping rates between ports and regions (port 3000).
    Rates,
    /// Key-value store on Redis or SQLite (port 5000).
    Kv,
    /// MultiVAC: an API, a durable queue and a worker (port 5001).
    Multivac,
}

/// `berth serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Services to run; all when none is named.
    #[arg(value_enum)]
    pub services: Vec<ServiceName>,
    /// HTTP settings shared by every service.
    #[command(flatten)]
    pub http: HttpArgs,
    /// Data directory, process-wide store URLs, API tokens.
    #[command(flatten)]
    pub common: kit::config::CommonArgs,
    /// The clock service.
    #[command(flatten, next_help_heading = "clock")]
    pub clock: clock::Config,
    /// The users service.
    #[command(flatten, next_help_heading = "users")]
    pub users: users::Config,
    /// The rates service.
    #[command(flatten, next_help_heading = "rates")]
    pub rates: rates::Config,
    /// The kv service.
    #[command(flatten, next_help_heading = "kv")]
    pub kv: kv::Config,
    /// The MultiVAC service.
    #[command(flatten, next_help_heading = "multivac")]
    pub multivac: multivac::Config,
}

impl ServeArgs {
    /// The services to run, deduplicated, in a stable order.
    pub fn selected(&self) -> BTreeSet<ServiceName> {
        if self.services.is_empty() {
            ServiceName::value_variants().iter().copied().collect()
        } else {
            self.services.iter().copied().collect()
        }
    }
}

/// Builds every selected service, binds its address, and serves until SIGTERM/SIGINT
/// ([`kit::Runner`]). Returns once every server has drained and every background task
/// has finished.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    kit::metrics::set_build_info(crate::VERSION, crate::GIT_SHA);
    let mut runner = Runner::new(args.http.config());
    runner
        .trigger_on_signals()
        .context("installing signal handlers")?;
    let common = args.common.resolve().context("reading secrets")?;
    for name in args.selected() {
        let (service, addr) = match name {
            ServiceName::Clock => (clock::service(), args.clock.listen.addr),
            ServiceName::Users => (
                users::service(&args.users, &common).await?,
                args.users.listen.addr,
            ),
            ServiceName::Rates => (
                rates::service(&args.rates, &common).await?,
                args.rates.listen.addr,
            ),
            ServiceName::Kv => (kv::service(&args.kv, &common).await?, args.kv.listen.addr),
            ServiceName::Multivac => (
                multivac::service(&args.multivac, &common).await?,
                args.multivac.listen.addr,
            ),
        };
        runner
            .serve(service, addr)
            .await
            .with_context(|| format!("starting {name:?}"))?;
    }
    runner.run().await?;
    tracing::info!("bye");
    Ok(())
}
