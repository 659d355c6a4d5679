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
//! - [`Listened`] holds a `LISTEN rates_changed` session and moves the cache to a new
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
        Arc,
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

/// Bytes an entry costs beyond its codes and days (key, value and the cache's own
/// bookkeeping, roughly).
const ENTRY_OVERHEAD: usize = 160;

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
    /// An empty cache holding at most about `bytes` of answers, not live until
    /// it is [`Listened`].
    pub fn new(bytes: u64) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(bytes)
                .weigher(|key: &Key, (_, totals): &(u64, Arc<[DayTotal]>)| {
                    let size = ENTRY_OVERHEAD
                        + key.0.len()
                        + key.1.len()
                        + std::mem::size_of_val::<[DayTotal]>(totals);
                    u32::try_from(size).unwrap_or(u32::MAX)
                })
                .build(),
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

/// An [`Answers`] cache and the task that keeps it listening; dropping it stops the
/// task.
#[derive(Debug)]
pub struct Listened {
    answers: Arc<Answers>,
    listener: tokio::task::JoinHandle<()>,
}

impl Listened {
    /// A cache of about `bytes`, listening on a connection of `session` (needs a
    /// running tokio runtime).
    pub fn start(session: PgPool, bytes: u64) -> Self {
        let answers = Arc::new(Answers::new(bytes));
        let listener = tokio::spawn(listen(session, Arc::clone(&answers)));
        Self { answers, listener }
    }

    /// The cache.
    pub fn answers(&self) -> &Answers {
        &self.answers
    }
}

impl Drop for Listened {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Keeps `LISTEN rates_changed` open on a connection of `pool`, moving `answers` to a
/// new generation on each notification. Runs until aborted ([`Listened`]).
async fn listen(pool: PgPool, answers: Arc<Answers>) {
    loop {
        let session = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            // A lost session is reported, not silently re-established: changes made
            // while it was down were not heard, so the cache must stop first.
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match session.await {
            Ok(mut listener) => {
                answers.set_live(true);
                let lost = loop {
                    match listener.try_recv().await {
                        Ok(Some(_)) => answers.changed(),
                        // `Ok(None)`: the session dropped.
                        Ok(None) => break None,
                        Err(e) => break Some(e.to_string()),
                    }
                };
                tracing::warn!(
                    error = lost,
                    "lost the rates change notifications; answers are not cached until they are back"
                );
                answers.set_live(false);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for rates changes; answers are not cached");
            }
        }
        tokio::time::sleep(RELISTEN_AFTER).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(orig: &str) -> Lookup {
        Lookup {
            date_from: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
            date_to: NaiveDate::from_ymd_opt(2021, 1, 31).unwrap(),
            orig_code: orig.to_owned(),
            dest_code: "BEANR".to_owned(),
        }
    }

    fn month(count: i64) -> Arc<[DayTotal]> {
        (1..=31)
            .map(|d| DayTotal {
                day: NaiveDate::from_ymd_opt(2021, 1, d).unwrap(),
                count,
                sum: count * 1000,
            })
            .collect()
    }

    /// The ticket of a lookup that must be a miss.
    fn miss(answers: &Answers, orig: &str) -> Ticket {
        match answers.get(&lookup(orig)) {
            Err(Some(ticket)) => ticket,
            Ok(_) => panic!("{orig}: a hit, not a miss"),
            Err(None) => panic!("{orig}: the cache is not live"),
        }
    }

    fn live(bytes: u64) -> Answers {
        let answers = Answers::new(bytes);
        answers.set_live(true);
        answers
    }

    #[test]
    fn nothing_is_cached_until_live() {
        let answers = Answers::new(1 << 20);
        assert!(matches!(answers.get(&lookup("CNCWN")), Err(None)));
    }

    #[test]
    fn an_answer_is_served_until_the_tables_change() {
        let answers = live(1 << 20);
        let ticket = miss(&answers, "CNCWN");
        answers.put(ticket, month(3));
        assert_eq!(answers.get(&lookup("CNCWN")).unwrap()[0].count, 3);
        assert!(
            answers.get(&lookup("CNSGH")).is_err(),
            "another lookup is a miss"
        );
        answers.changed();
        miss(&answers, "CNCWN");
    }

    #[test]
    fn an_answer_computed_across_a_change_is_never_served() {
        let answers = live(1 << 20);
        let ticket = miss(&answers, "CNCWN");
        // The query ran while the tables changed: its answer may predate the change.
        answers.changed();
        answers.put(ticket, month(3));
        miss(&answers, "CNCWN");
    }

    #[test]
    fn losing_the_listener_stops_the_cache_and_forgets_it() {
        let answers = live(1 << 20);
        let ticket = miss(&answers, "CNCWN");
        answers.put(ticket, month(3));
        answers.set_live(false);
        assert!(matches!(answers.get(&lookup("CNCWN")), Err(None)));
        answers.set_live(true);
        miss(&answers, "CNCWN");
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let budget = 64 * 1024;
        let answers = live(budget);
        for i in 0..1_000 {
            let ticket = miss(&answers, &format!("P{i:04}"));
            answers.put(ticket, month(i));
        }
        answers.entries.run_pending_tasks();
        let one = ENTRY_OVERHEAD + 5 + 5 + 31 * std::mem::size_of::<DayTotal>();
        assert!(answers.entries.weighted_size() <= budget);
        assert!(answers.entries.entry_count() <= budget / one as u64);
        assert!(answers.entries.entry_count() > 0);
    }
}
