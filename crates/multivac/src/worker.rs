//! The worker: takes items from the queue, stores what processing makes of them,
//! then acknowledges them.
//!
//! One [`Worker::step`]: fetch a batch (reclaimed items first), dead-letter the items
//! past `max_attempts` (unless already stored: then they are only acknowledged),
//! process the rest, store them in one multi-row `INSERT ... ON CONFLICT DO NOTHING`,
//! and acknowledge exactly what was stored. A crash anywhere leaves the unacknowledged
//! items leased; they are delivered again after the claim idle time and storing them
//! again is a no-op. Shutdown is checked only between steps: the batch in hand is
//! finished, nothing unfinished is acknowledged.
//!
//! [`run_worker`] is `berth worker multivac`: workers alone, with `/metrics` and
//! `/healthcheck` on their own port.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use kit::{Health, Runner, Shutdown, prelude::OpenApiRouter};
use tokio::time::Instant;

use crate::{
    backend::Backends,
    config::Tuning,
    error::BackendError,
    process::{NewRecord, process},
    queue::{Consumer, Delivery},
};

/// How long one fetch waits for new items (also the longest a shutdown waits for an
/// idle worker).
pub const FETCH_WAIT: Duration = Duration::from_secs(1);

/// What a worker loop needs to know.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSettings {
    /// Items per fetch.
    pub batch_size: usize,
    /// Deliveries an item gets before it is dead-lettered.
    pub max_attempts: u32,
    /// Loops to run.
    pub concurrency: usize,
    /// Longest a fetch waits for new items.
    pub wait: Duration,
}

impl From<&Tuning> for WorkerSettings {
    fn from(t: &Tuning) -> Self {
        Self {
            batch_size: t.batch_size as usize,
            max_attempts: t.max_attempts,
            concurrency: t.concurrency as usize,
            wait: FETCH_WAIT,
        }
    }
}

/// What one [`Worker::step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepOutcome {
    /// Items fetched.
    pub fetched: usize,
    /// New records stored.
    pub stored: u64,
    /// Items acknowledged (stored now or before).
    pub acked: usize,
    /// Items moved to the dead letters.
    pub dead: usize,
    /// Items left unacknowledged (they failed; they will be delivered again).
    pub left: usize,
}

/// One worker loop: a consumer of the queue and the store it writes to.
pub struct Worker {
    backends: Backends,
    settings: WorkerSettings,
    consumer: Box<dyn Consumer>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("backends", &self.backends)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker consuming as `name` (unique among live workers).
    pub async fn new(
        backends: Backends,
        settings: WorkerSettings,
        name: &str,
    ) -> Result<Self, BackendError> {
        let consumer = backends.queue.consumer(name).await?;
        Ok(Self {
            backends,
            settings,
            consumer,
        })
    }

    /// Fetches one batch (waiting at most `wait`) and handles it to the end.
    /// An error means the queue or the store is unreachable; nothing unfinished was
    /// acknowledged.
    pub async fn step(&mut self, wait: Duration) -> Result<StepOutcome, BackendError> {
        let items = self.consumer.fetch(self.settings.batch_size, wait).await?;
        if items.is_empty() {
            return Ok(StepOutcome::default());
        }
        let started = Instant::now();
        let mut outcome = StepOutcome {
            fetched: items.len(),
            ..StepOutcome::default()
        };
        let (exhausted, mut good): (Vec<Delivery>, Vec<Delivery>) = items
            .into_iter()
            .partition(|d| d.attempts > self.settings.max_attempts || d.data.is_none());
        if !exhausted.is_empty() {
            self.bury(exhausted, &mut outcome).await?;
        }
        let now = Utc::now();
        let records: Vec<NewRecord> = good
            .iter()
            .filter_map(|d| Some(process(&d.id, d.data.as_deref()?, d.queued_at, now)))
            .collect();
        let acked: Vec<String> = match self.backends.store.insert(&records).await {
            Ok(new) => {
                outcome.stored = new;
                good.drain(..).map(|d| d.id).collect()
            }
            Err(e) => {
                if self.backends.store.ping().await.is_err() {
                    tracing::warn!(error = %kit::problem::chain(&e), items = good.len(),
                        "the store is unreachable; leaving the batch unacknowledged");
                    return Err(e);
                }
                // The store answers: some record is at fault. Store them one by one.
                tracing::warn!(error = %kit::problem::chain(&e), "batch insert failed; storing items one by one");
                let mut ok = Vec::new();
                for (d, r) in good.iter().zip(&records) {
                    match self.backends.store.insert(std::slice::from_ref(r)).await {
                        Ok(n) => {
                            outcome.stored += n;
                            ok.push(d.id.clone());
                        }
                        Err(e) => {
                            tracing::error!(id = %d.id, attempts = d.attempts,
                                error = %kit::problem::chain(&e), "storing an item failed");
                            metrics::counter!("multivac_item_errors_total").increment(1);
                            outcome.left += 1;
                        }
                    }
                }
                ok
            }
        };
        self.consumer.ack(&acked).await?;
        outcome.acked += acked.len();
        let duplicates = (acked.len() as u64).saturating_sub(outcome.stored);
        metrics::counter!("multivac_processed_total").increment(outcome.stored);
        if duplicates > 0 {
            metrics::counter!("multivac_duplicates_total").increment(duplicates);
        }
        metrics::histogram!("multivac_processing_duration_seconds")
            .record_many(started.elapsed().as_secs_f64(), acked.len());
        Ok(outcome)
    }

    /// Items past their last attempt: acknowledged if already stored (the worker that
    /// stored them died before acknowledging), else dead-lettered.
    async fn bury(
        &mut self,
        items: Vec<Delivery>,
        outcome: &mut StepOutcome,
    ) -> Result<(), BackendError> {
        let ids: Vec<String> = items.iter().map(|d| d.id.clone()).collect();
        let stored = self.backends.store.stored(&ids).await?;
        let (done, dead): (Vec<Delivery>, Vec<Delivery>) =
            items.into_iter().partition(|d| stored.contains(&d.id));
        let done: Vec<String> = done.into_iter().map(|d| d.id).collect();
        self.consumer.ack(&done).await?;
        outcome.acked += done.len();
        for d in dead {
            let reason = if d.data.is_none() {
                "malformed entry: no UTF-8 `data` field".to_owned()
            } else {
                format!("not stored after {} attempts", d.attempts - 1)
            };
            tracing::error!(id = %d.id, attempts = d.attempts, reason, "moving an item to the dead letters");
            self.consumer.dead_letter(&d, &reason).await?;
            metrics::counter!("multivac_failed_total").increment(1);
            outcome.dead += 1;
        }
        Ok(())
    }

    /// Leaves the queue.
    pub async fn close(self) {
        self.consumer.close().await;
    }
}

/// Sleeps `d`, or less if shutdown comes first.
async fn nap(d: Duration, shutdown: &Shutdown) {
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        () = shutdown.wait() => {}
    }
}

/// One worker loop until shutdown: steps, backing off while a backend is unreachable.
async fn run_loop(backends: Backends, settings: WorkerSettings, name: String, shutdown: Shutdown) {
    let mut backoff = Duration::from_millis(100);
    let mut worker = loop {
        match Worker::new(backends.clone(), settings, &name).await {
            Ok(w) => break w,
            Err(e) => {
                tracing::warn!(error = %kit::problem::chain(&e), "cannot start a worker; retrying");
                nap(backoff, &shutdown).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                if shutdown.is_triggered() {
                    return;
                }
            }
        }
    };
    tracing::info!(consumer = %name, "multivac worker started");
    backoff = Duration::from_millis(100);
    while !shutdown.is_triggered() {
        match worker.step(settings.wait).await {
            Ok(_) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::warn!(error = %kit::problem::chain(&e), retry_in = ?backoff, "worker step failed");
                nap(backoff, &shutdown).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                // Wait for the store before taking more items it could not keep.
                while !shutdown.is_triggered() && backends.store.ping().await.is_err() {
                    nap(backoff, &shutdown).await;
                }
            }
        }
    }
    worker.close().await;
    tracing::info!(consumer = %name, "multivac worker stopped");
}

/// Runs `settings.concurrency` worker loops until shutdown; returns once each has
/// finished the batch in hand.
pub async fn run_pool(backends: Backends, settings: WorkerSettings, shutdown: Shutdown) {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let loops = (0..settings.concurrency.max(1)).map(|i| {
        let name = format!("worker-{}-{i}", &run[..12]);
        tokio::spawn(run_loop(backends.clone(), settings, name, shutdown.clone()))
    });
    for task in futures::future::join_all(loops).await {
        if let Err(e) = task {
            tracing::error!(error = %e, "a worker loop panicked");
        }
    }
}

/// Sets the queue and store gauges every `every` until shutdown:
/// `multivac_queue_length`, `multivac_queue_pending`, `multivac_dead_letters`,
/// `multivac_records`.
pub async fn sample_metrics(backends: Backends, every: Duration, shutdown: Shutdown) {
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let set = |name: &'static str, v: u64| metrics::gauge!(name).set(v as f64);
    while !shutdown.is_triggered() {
        if let Ok(c) = backends.queue.counts().await {
            set("multivac_queue_length", c.queued);
            set("multivac_queue_pending", c.in_progress);
            set("multivac_dead_letters", c.failed);
        }
        if let Ok(n) = backends.store.count().await {
            set("multivac_records", n);
        }
        nap(every, &shutdown).await;
    }
}

/// Describes the worker's metrics (once per process).
pub fn describe_metrics() {
    metrics::describe_counter!("multivac_processed_total", "Items processed and stored");
    metrics::describe_counter!(
        "multivac_failed_total",
        "Items moved to the dead letters after too many attempts"
    );
    metrics::describe_counter!(
        "multivac_duplicates_total",
        "Items delivered again that were already stored (no effect)"
    );
    metrics::describe_counter!(
        "multivac_reclaimed_total",
        "Items delivered again after their worker left them idle"
    );
    metrics::describe_counter!("multivac_queued_total", "Data queued by the API");
    metrics::describe_counter!(
        "multivac_item_errors_total",
        "Items whose storing failed while the store answered"
    );
    metrics::describe_histogram!(
        "multivac_processing_duration_seconds",
        metrics::Unit::Seconds,
        "Time from fetching an item to acknowledging it"
    );
    metrics::describe_gauge!("multivac_queue_length", "Items queued, not yet taken");
    metrics::describe_gauge!(
        "multivac_queue_pending",
        "Items taken by a worker, not yet acknowledged"
    );
    metrics::describe_gauge!("multivac_dead_letters", "Items in the dead letters");
    metrics::describe_gauge!("multivac_records", "Processed records in the store");
}

/// Readiness checks of the queue (`queue`) and the store (`database`).
pub fn health(backends: &Backends) -> Health {
    let (queue, store) = (backends.queue.clone(), backends.store.clone());
    Health::new()
        .with_check("queue", move || {
            let queue = queue.clone();
            async move {
                queue
                    .ping()
                    .await
                    .map_err(|e| format!("the {} queue does not answer: {e}", queue.kind()))
            }
        })
        .with_check("database", move || {
            let store = store.clone();
            async move {
                store
                    .ping()
                    .await
                    .map_err(|e| format!("the {} store does not answer: {e}", store.kind()))
            }
        })
}

/// `berth worker multivac`: workers alone, with `/metrics` and `/healthcheck` on their
/// own address.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "multivac-worker-args")]
pub struct WorkerArgs {
    /// Where its `/metrics`, `/healthcheck` and `/livez` listen.
    #[command(flatten)]
    pub listen: crate::config::WorkerListen,
    /// Queue and store.
    #[command(flatten)]
    pub backend: crate::config::BackendArgs,
    /// Claim idle time, attempts, batch size, concurrency.
    #[command(flatten)]
    pub tuning: Tuning,
    /// HTTP settings of the worker's own endpoints.
    #[command(flatten)]
    pub http: kit::config::HttpArgs,
    /// Data directory and process-wide store URLs.
    #[command(flatten)]
    pub common: kit::config::CommonArgs,
}

/// Runs `berth worker multivac` until SIGTERM/SIGINT: then each loop finishes the
/// batch in hand (acknowledging only what it stored) and the function returns `Ok`.
pub async fn run_worker(args: WorkerArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    shutdown
        .trigger_on_signals(args.http.shutdown_delay)
        .context("installing signal handlers")?;
    run_worker_until(args, shutdown).await
}

/// [`run_worker`] with a shutdown signal of the caller's.
pub async fn run_worker_until(args: WorkerArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    kit::metrics::install();
    describe_metrics();
    let common = args.common.resolve().context("reading secrets")?;
    let resolved = args.backend.resolve(&common).context("reading secrets")?;
    let backends = Backends::open(&resolved, &args.backend, &args.tuning).await?;
    let settings = WorkerSettings::from(&args.tuning);
    tracing::info!(
        service = crate::WORKER_NAME,
        queue = backends.queue.kind(),
        store = backends.store.kind(),
        concurrency = settings.concurrency,
        batch_size = settings.batch_size,
        "multivac worker ready"
    );
    let sampler = backends.clone();
    let service = kit::Service::new(crate::WORKER_NAME, OpenApiRouter::new())
        .with_health(health(&backends))
        .with_background(move |shutdown| sample_metrics(sampler, Duration::from_secs(2), shutdown))
        .with_background(move |shutdown| run_pool(backends, settings, shutdown));
    let mut runner = Runner::new(args.http.config()).with_shutdown(shutdown);
    runner.serve(service, args.listen.addr).await?;
    runner.run().await?;
    tracing::info!("multivac worker stopped; bye");
    Ok(())
}
