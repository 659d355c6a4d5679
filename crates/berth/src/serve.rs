//! `berth serve`: build the selected services, bind them all, then serve until a
//! shutdown signal, draining in-flight requests.

use std::{collections::BTreeSet, net::SocketAddr};

use anyhow::Context;
use clap::ValueEnum;
use kit::{Server, Shutdown, config::HttpArgs};
use tokio_util::task::TaskTracker;

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

/// Builds every selected service, binds its address, logs where it listens, and
/// serves until SIGTERM/SIGINT. Returns once every server has drained.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    kit::metrics::set_build_info(crate::VERSION, crate::GIT_SHA);
    let shutdown = Shutdown::new();
    shutdown
        .trigger_on_signals()
        .context("installing signal handlers")?;
    let http = args.http.config();
    let common = args.common.resolve().context("reading secrets")?;

    let mut servers = Vec::new();
    let mut background = Vec::new();
    for name in args.selected() {
        let (mut service, addr): (kit::Service, SocketAddr) = match name {
            ServiceName::Clock => (clock::service(), args.clock.addr),
            ServiceName::Users => (users::service(&args.users, &common).await?, args.users.addr),
            ServiceName::Rates => (rates::service(&args.rates, &common).await?, args.rates.addr),
            ServiceName::Kv => (kv::service(&args.kv, &common).await?, args.kv.addr),
            ServiceName::Multivac => (
                multivac::service(&args.multivac, &common).await?,
                args.multivac.addr,
            ),
        };
        background.append(&mut service.background);
        let server = Server::bind(service.name, addr, kit::http::app(service, &http))
            .await
            .with_context(|| format!("starting {name:?}"))?;
        servers.push(server);
    }

    let tracker = TaskTracker::new();
    for server in servers {
        let local = server.local_addr();
        let url = display_url(local);
        tracing::info!(
            service = server.name(),
            addr = %local,
            url = %url,
            docs = %format!("{url}/docs"),
            "{} listening on {url} (Swagger UI {url}/docs)",
            server.name()
        );
        let (shutdown, drain) = (shutdown.clone(), args.http.drain_timeout);
        tracker.spawn(async move {
            let name = server.name();
            if let Err(e) = server.run(shutdown, drain).await {
                tracing::error!(service = name, error = %e, "server failed");
            }
        });
    }
    for task in background {
        tracker.spawn(task(shutdown.clone()));
    }
    tracker.close();
    tracker.wait().await;
    tracing::info!("every service stopped; bye");
    Ok(())
}

/// The URL a person can open for a bound address (`0.0.0.0` becomes `localhost`).
fn display_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}
