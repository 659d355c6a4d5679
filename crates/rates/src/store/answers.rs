//! The answers cache of the PostgreSQL backend: `GET /rates` day totals by lookup,
//! dropped whenever the tables change, wherever the change comes from.
//!
//! Prices change only in bulk (an ingest, a load), while the same lookups are asked
//! again and again; PostgreSQL spends ~0.1 ms of CPU on each. So answers are kept, and
//! forgotten on every change:
//!
//! - a statement-level trigger on `prices`, `ports` and `regions` (migration 0002)
//!   sends `NOTIFY rates_changed` in the writing transaction, whoever writes (another
//!   replica, `berth rates load`, `psql`); PostgreSQL delivers it at commit;
//! - [`listen`] holds a `LISTEN rates_changed` session and moves the cache to a new
//!   generation on each notification;
//! - the cache is only used while that session is up. When it drops, caching stops at
//!   once (notifications could be missed) and resumes, on a new generation, once
//!   listening again;
//! - an answer computed by a query that started before a change is stored under the
//!   generation it started in, so it is never served after the change (the race
//!   between a slow query and a notification);
//! - an ingest through this process also moves the generation itself right after its
//!   commit, so a client that gets its `201` reads its own rows at once.

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::NaiveDate;
use sqlx::postgres::{PgListener, PgPool};

use crate::domain::{DayTotal, Lookup};

/// The notification channel the triggers of migration 0002 send on.
pub const CHANNEL: &str = "rates_changed";

/// Pause before listening again after the session dropped.
const RELISTEN_AFTER: Duration = Duration::from_millis(500);

type Key = (String, String, NaiveDate, NaiveDate);

/// Day totals by lookup, each tagged with the generation it was computed in.
pub struct Answers {
    entries: moka::sync::Cache<Key, (u64, Arc<[DayTotal]>)>,
    generation: AtomicU64,
    live: AtomicBool,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("entries", &self.entries.entry_count())
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish()
    }
}

/// A lookup's place in the cache, taken before its query runs.
#[derive(Debug)]
pub struct Ticket {
    key: Key,
    generation: u64,
}

impl Answers {
    /// An empty cache of at most `capacity` answers, not live until [`listen`] is.
    pub fn new(capacity: u64) -> Self {
        Self {
            entries: moka::sync::Cache::new(capacity),
            generation: AtomicU64::new(0),
            live: AtomicBool::new(false),
        }
    }

    /// The cached answer of `lookup`, or the ticket to store it under once computed;
    /// `None` for both while the cache is not live.
    pub fn get(&self, lookup: &Lookup) -> Result<Arc<[DayTotal]>, Option<Ticket>> {
        if !self.live.load(Ordering::Acquire) {
            return Err(None);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let key = (
            lookup.orig_code.clone(),
            lookup.dest_code.clone(),
            lookup.date_from,
            lookup.date_to,
        );
        match self.entries.get(&key) {
            Some((g, totals)) if g == generation => {
                metrics::counter!("rates_answers_cache_hits_total").increment(1);
                Ok(totals)
            }
            _ => {
                metrics::counter!("rates_answers_cache_misses_total").increment(1);
                Err(Some(Ticket { key, generation }))
            }
        }
    }

    /// Stores an answer under the generation its ticket was taken in.
    pub fn put(&self, ticket: Ticket, totals: Arc<[DayTotal]>) {
        if self.generation.load(Ordering::Acquire) == ticket.generation {
            self.entries.insert(ticket.key, (ticket.generation, totals));
        }
    }

    /// Forgets every answer: the tables changed.
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }

    fn set_live(&self, live: bool) {
        // A new generation either way: what was cached before listening (again) may
        // predate a missed change.
        self.changed();
        self.live.store(live, Ordering::Release);
        metrics::gauge!("rates_answers_cache_live").set(if live { 1.0 } else { 0.0 });
    }
}

/// Keeps `LISTEN rates_changed` open on a connection of `pool`, moving `answers` to a
/// new generation on each notification, until `answers` is dropped.
pub async fn listen(pool: PgPool, answers: Weak<Answers>) {
    loop {
        let session = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            // A lost session is reported, not silently re-established: changes made
            // while it was down were not heard, so the cache must stop first.
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match session.await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for rates changes; answers are not cached");
                tokio::time::sleep(RELISTEN_AFTER).await;
                if answers.strong_count() == 0 {
                    return;
                }
                continue;
            }
        };
        let Some(live) = answers.upgrade() else {
            return;
        };
        live.set_live(true);
        drop(live);
        loop {
            let event = listener.try_recv().await;
            let Some(answers) = answers.upgrade() else {
                return;
            };
            match event {
                Ok(Some(_)) => answers.changed(),
                // `Ok(None)`: the session dropped.
                lost => {
                    let error = lost.err().map(|e| e.to_string());
                    tracing::warn!(
                        error,
                        "lost the rates change notifications; answers are not cached until they are back"
                    );
                    answers.set_live(false);
                    break;
                }
            }
        }
        tokio::time::sleep(RELISTEN_AFTER).await;
    }
}
