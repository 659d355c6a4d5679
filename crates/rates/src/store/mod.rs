//! The store: one trait, two backends ([`sqlite`], [`postgres`]).
//!
//! Both keep the original's schema (`regions`, `ports`, `prices` without a primary key)
//! with an index on `prices (orig_code, dest_code, day)`, and expand region slugs with
//! the same recursive CTEs ([`RATES_SQL`], [`PG_RATES_SQL`]).

pub mod answers;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use kit::config::Common;

use crate::{
    Config, Error,
    domain::{DayTotal, Lookup, Port, Price, Region},
};

/// The recursive CTEs both backends' `GET /rates` query starts with: the regions
/// under `$1` (origin) and under `$2` (destination), each with its whole subtree
/// (`UNION`, so that a cycle cannot loop).
macro_rules! region_ctes {
    () => {
        "\
WITH RECURSIVE
  orig_regions(slug) AS (
    SELECT slug FROM regions WHERE slug = $1
    UNION
    SELECT r.slug FROM regions r JOIN orig_regions o ON r.parent_slug = o.slug),
  dest_regions(slug) AS (
    SELECT slug FROM regions WHERE slug = $2
    UNION
    SELECT r.slug FROM regions r JOIN dest_regions d ON r.parent_slug = d.slug)
"
    };
}

/// The query behind `GET /rates` on SQLite (`$1` origin, `$2` destination, `$3`/`$4`
/// first and last day): a code is a port (`code = $1`) or a region whose subtree holds
/// ports. Days without prices are absent; the caller fills them in.
pub const RATES_SQL: &str = concat!(
    region_ctes!(),
    "\
SELECT day, COUNT(*) AS count, SUM(price) AS total
FROM prices
WHERE orig_code IN (SELECT code FROM ports
                    WHERE code = $1 OR parent_slug IN (SELECT slug FROM orig_regions))
  AND dest_code IN (SELECT code FROM ports
                    WHERE code = $2 OR parent_slug IN (SELECT slug FROM dest_regions))
  AND day BETWEEN $3 AND $4
GROUP BY day"
);

/// The same query for PostgreSQL. The ports are collected into arrays first
/// (`= ANY (ARRAY(...))`, computed once per query): with `IN (subquery)` the planner
/// guessed that half the ports match, skipped the `(orig_code, dest_code, day)` index
/// and read every price of the date range (0.5-0.7 s a query on 10 million prices);
/// with the arrays it walks the index, lane by lane (2-4 ms).
pub const PG_RATES_SQL: &str = concat!(
    region_ctes!(),
    "\
SELECT day, COUNT(*) AS count, SUM(price) AS total
FROM prices
WHERE orig_code = ANY (ARRAY(SELECT code FROM ports
                             WHERE code = $1 OR parent_slug IN (SELECT slug FROM orig_regions)))
  AND dest_code = ANY (ARRAY(SELECT code FROM ports
                             WHERE code = $2 OR parent_slug IN (SELECT slug FROM dest_regions)))
  AND day BETWEEN $3 AND $4
GROUP BY day"
);

/// Whether a code names a port or a region.
pub const KNOWN_SQL: &str = "SELECT EXISTS (SELECT 1 FROM ports WHERE code = $1) \
                             OR EXISTS (SELECT 1 FROM regions WHERE slug = $1)";

/// Whether `regions`, `ports` and `prices` are all empty.
pub const EMPTY_SQL: &str = "SELECT NOT (EXISTS (SELECT 1 FROM prices) \
                             OR EXISTS (SELECT 1 FROM ports) OR EXISTS (SELECT 1 FROM regions))";

/// Every port code (what an ingest checks its rows against).
pub const PORT_CODES_SQL: &str = "SELECT code FROM ports";

/// Which backend a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// What the service needs from a database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Readiness: the database answers.
    async fn ping(&self) -> Result<(), sqlx::Error>;

    /// Count and sum of prices per day for a lookup (days without prices absent).
    async fn day_totals(&self, lookup: &Lookup) -> Result<Vec<DayTotal>, sqlx::Error>;

    /// Whether `code` is a port code or a region slug.
    async fn is_known(&self, code: &str) -> Result<bool, sqlx::Error>;

    /// Whether the database holds no region, port or price.
    async fn is_empty(&self) -> Result<bool, sqlx::Error>;

    /// Stores every row or none, in one transaction. A row naming an unknown port is
    /// [`Error::BadRow`] (1-based row, field) and nothing is stored.
    async fn ingest(&self, rows: &[Price]) -> Result<u64, Error>;

    /// Starts loading a dump: one transaction, constraints checked when it commits.
    /// With `replace`, the tables are emptied first.
    async fn begin_load(&self, replace: bool) -> Result<Box<dyn LoadTx>, sqlx::Error>;
}

/// A dump being loaded. Dropping it without [`LoadTx::commit`] rolls everything back.
#[async_trait]
pub trait LoadTx: Send {
    /// Whether the tables are empty in this transaction.
    async fn is_empty(&mut self) -> Result<bool, sqlx::Error>;
    /// Adds regions (a parent may come after its children).
    async fn regions(&mut self, rows: &[Region]) -> Result<(), sqlx::Error>;
    /// Adds ports (their regions may come later).
    async fn ports(&mut self, rows: &[Port]) -> Result<(), sqlx::Error>;
    /// Adds prices.
    async fn prices(&mut self, rows: &[Price]) -> Result<(), sqlx::Error>;
    /// Restores indexes and checks every reference, then commits.
    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error>;
}

/// The rows of [`RATES_SQL`] or [`PG_RATES_SQL`] (`day`, `count`, `total`), as day
/// totals.
pub(crate) fn day_totals<R>(rows: &[R]) -> Result<Vec<DayTotal>, sqlx::Error>
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    for<'r> chrono::NaiveDate: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.iter()
        .map(|r| {
            Ok(DayTotal {
                day: r.try_get("day")?,
                count: r.try_get("count")?,
                sum: r.try_get("total")?,
            })
        })
        .collect()
}

/// Checks that every row names ports among `known` ([`PORT_CODES_SQL`]); the first
/// that does not is [`Error::BadRow`] (1-based row, field, code).
pub(crate) fn check_ports(rows: &[Price], known: Vec<String>) -> Result<(), Error> {
    let known: std::collections::HashSet<String> = known.into_iter().collect();
    for (i, p) in rows.iter().enumerate() {
        if !known.contains(&p.orig_code) {
            return Err(Error::unknown_port(i + 1, "orig_code", &p.orig_code));
        }
        if !known.contains(&p.dest_code) {
            return Err(Error::unknown_port(i + 1, "dest_code", &p.dest_code));
        }
    }
    Ok(())
}

/// Opens the store the settings name — PostgreSQL when the service's own or the
/// process-wide database URL is set, else SQLite `rates.db` in the data directory
/// (created if missing) — and runs the backend's migrations.
pub async fn open(config: &Config, common: &Common) -> anyhow::Result<Arc<dyn Store>> {
    match config.database_url(common)? {
        Some(url) => Ok(Arc::new(
            postgres::PgStore::connect(
                url.expose(),
                config.max_connections,
                config.cache_mib.saturating_mul(1024 * 1024),
            )
            .await?,
        )),
        None => Ok(Arc::new(
            sqlite::SqliteStore::open(&common.data_dir.join("rates.db"), config.max_connections)
                .await?,
        )),
    }
}
