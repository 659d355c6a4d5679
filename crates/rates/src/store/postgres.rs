//! The production backend: PostgreSQL 15+.
//!
//! Queries run on a pool whose sessions are read-only
//! (`default_transaction_read_only`); ingest and load use a small pool of their own and
//! write with `COPY FROM STDIN` inside one transaction, so a query sees a batch entirely
//! or not at all.
//!
//! The query pool hands out connections without pinging them first (sqlx's default
//! costs a round trip per query, a third of the requests/s that PostgreSQL can
//! answer). A connection that died meanwhile (a restarted server, a terminated
//! backend) fails its query with an I/O error; reads are idempotent, so such a query
//! is run again on another connection (`PgStore::read`), as many times as the pool
//! may hold dead ones.
//!
//! Answers are cached and forgotten on every change to the tables: see
//! [`super::answers`].

use std::{str::FromStr, sync::Arc};

use anyhow::Context;
use async_trait::async_trait;
use sqlx::{
    PgConnection, Postgres, Transaction,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
};

use super::{
    Backend, EMPTY_SQL, KNOWN_SQL, LoadTx, PG_RATES_SQL, PORT_CODES_SQL, Store, answers::Listened,
    check_ports, day_totals,
};
use crate::{
    Error,
    copy_text::push_fields,
    domain::{DayTotal, Lookup, Port, Price, Region},
};

/// PostgreSQL behind [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    read: PgPool,
    /// Cached answers, when enabled; the listener stops with the last clone.
    cache: Option<Arc<Listened>>,
    write: PgPool,
}

impl PgStore {
    /// Connects and runs the migrations. The query pool connects on demand. With
    /// `cache_bytes` above 0, answers are cached in about that much memory (see
    /// [`super::answers`]), which needs a running tokio runtime for the change listener.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        cache_bytes: u64,
    ) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url).context("parsing the rates database URL")?;
        let write = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .context("connecting to the rates PostgreSQL database")?;
        sqlx::migrate!("./migrations/postgres")
            .run(&write)
            .await
            .context("migrating the rates PostgreSQL database")?;
        let cache = (cache_bytes > 0).then(|| {
            let session = PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options.clone());
            Arc::new(Listened::start(session, cache_bytes))
        });
        let read = PgPoolOptions::new()
            .max_connections(max_connections)
            .test_before_acquire(false)
            .connect_lazy_with(options.options([("default_transaction_read_only", "on")]));
        Ok(Self { read, cache, write })
    }

    /// The day totals of `lookup`, from the database.
    async fn query_day_totals(&self, lookup: &Lookup) -> Result<Vec<DayTotal>, sqlx::Error> {
        let rows = self
            .read(|pool| async move {
                sqlx::query(PG_RATES_SQL)
                    .bind(&lookup.orig_code)
                    .bind(&lookup.dest_code)
                    .bind(lookup.date_from)
                    .bind(lookup.date_to)
                    .fetch_all(&pool)
                    .await
            })
            .await?;
        day_totals(&rows)
    }

    /// Runs the read `query` on the query pool; when its connection turns out to be
    /// broken (an I/O error: the pool drops that connection), runs it again on
    /// another, up to one more time than the pool has connections.
    async fn read<T, Q, F>(&self, query: Q) -> Result<T, sqlx::Error>
    where
        Q: Fn(PgPool) -> F,
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        let most = self.read.options().get_max_connections();
        let mut tries = 0;
        loop {
            match query(self.read.clone()).await {
                Err(e) if tries < most && broken_connection(&e) => {
                    tries += 1;
                    tracing::debug!(error = %e, tries, "a pooled connection was broken; reading again");
                }
                other => return other,
            }
        }
    }
}

/// Whether `e` says the connection is gone rather than that the query failed: an I/O
/// error, or the server's notice that it ended the session (SQLSTATE 57P01-57P03: an
/// administrator's `pg_terminate_backend`, a shutdown, a restart in progress).
fn broken_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("57P0")),
        _ => false,
    }
}

/// `rows` in `COPY` text format (tab-separated, escaped, one per line).
fn copy_text<T>(rows: &[T], mut fields: impl FnMut(&T, &mut String)) -> String {
    let mut buf = String::with_capacity(rows.len() * 40);
    for row in rows {
        fields(row, &mut buf);
        buf.push('\n');
    }
    buf
}

fn price_line(p: &Price, buf: &mut String) {
    use std::fmt::Write as _;

    use chrono::Datelike as _;
    push_fields(buf, &[Some(&p.orig_code), Some(&p.dest_code)]);
    // Not `day.format(...)`: chrono interprets its format string for every row, a
    // tenth of a load's time on the Rust side.
    let _ = write!(
        buf,
        "\t{:04}-{:02}-{:02}\t{}",
        p.day.year(),
        p.day.month(),
        p.day.day(),
        p.price
    );
}

async fn copy_in(
    conn: &mut PgConnection,
    statement: &str,
    data: String,
) -> Result<(), sqlx::Error> {
    if data.is_empty() {
        return Ok(());
    }
    let mut copy = conn.copy_in_raw(statement).await?;
    if let Err(e) = copy.send(data.into_bytes()).await {
        let _ = copy.abort("berth: sending rows failed").await;
        return Err(e);
    }
    copy.finish().await.map(drop)
}

async fn copy_prices(conn: &mut PgConnection, rows: &[Price]) -> Result<(), sqlx::Error> {
    copy_in(
        conn,
        "COPY prices (orig_code, dest_code, day, price) FROM STDIN",
        copy_text(rows, price_line),
    )
    .await
}

/// Runs statements without parameters (the simple protocol: several at once).
async fn simple(conn: &mut PgConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(conn, sql).await.map(drop)
}

async fn tables_empty(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(EMPTY_SQL).fetch_one(conn).await
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<(), sqlx::Error> {
        self.read(|pool| async move { sqlx::query("SELECT 1").execute(&pool).await.map(drop) })
            .await
    }

    async fn day_totals(&self, lookup: &Lookup) -> Result<Vec<DayTotal>, sqlx::Error> {
        let Some(cache) = &self.cache else {
            return self.query_day_totals(lookup).await;
        };
        let answers = cache.answers();
        match answers.get(lookup) {
            Ok(hit) => Ok(hit.to_vec()),
            Err(ticket) => {
                let totals = self.query_day_totals(lookup).await?;
                if let Some(ticket) = ticket {
                    answers.put(ticket, totals.as_slice().into());
                }
                Ok(totals)
            }
        }
    }

    async fn is_known(&self, code: &str) -> Result<bool, sqlx::Error> {
        self.read(|pool| async move {
            sqlx::query_scalar(KNOWN_SQL)
                .bind(code)
                .fetch_one(&pool)
                .await
        })
        .await
    }

    async fn is_empty(&self) -> Result<bool, sqlx::Error> {
        self.read(|pool| async move {
            let mut conn = pool.acquire().await?;
            tables_empty(&mut conn).await
        })
        .await
    }

    async fn ingest(&self, rows: &[Price]) -> Result<u64, Error> {
        let mut tx = self.write.begin().await?;
        let known = sqlx::query_scalar(PORT_CODES_SQL)
            .fetch_all(&mut *tx)
            .await?;
        check_ports(rows, known)?;
        copy_prices(&mut tx, rows).await?;
        tx.commit().await?;
        // This process's clients read their own writes at once; other replicas
        // follow the notification.
        if let Some(cache) = &self.cache {
            cache.answers().changed();
        }
        Ok(rows.len() as u64)
    }

    async fn begin_load(&self, replace: bool) -> Result<Box<dyn LoadTx>, sqlx::Error> {
        let mut tx = self.write.begin().await?;
        // As pg_dump does: load without the index and the foreign keys (dumps list
        // ports before regions and children before parents), then build the index and
        // validate every reference at once. DDL is transactional: a failed load leaves
        // the schema and the data as they were.
        simple(
            &mut tx,
            "SET LOCAL maintenance_work_mem = '256MB';
             ALTER TABLE prices DROP CONSTRAINT IF EXISTS prices_orig_code_fkey,
                                DROP CONSTRAINT IF EXISTS prices_dest_code_fkey;
             ALTER TABLE ports DROP CONSTRAINT IF EXISTS ports_parent_slug_fkey;
             ALTER TABLE regions DROP CONSTRAINT IF EXISTS regions_parent_slug_fkey;
             DROP INDEX IF EXISTS prices_lane_day_idx;",
        )
        .await?;
        if replace {
            sqlx::query("TRUNCATE prices, ports, regions")
                .execute(&mut *tx)
                .await?;
        }
        Ok(Box::new(PgLoad { tx }))
    }
}

/// A load in progress: one transaction.
struct PgLoad {
    tx: Transaction<'static, Postgres>,
}

#[async_trait]
impl LoadTx for PgLoad {
    async fn is_empty(&mut self) -> Result<bool, sqlx::Error> {
        tables_empty(&mut self.tx).await
    }

    async fn regions(&mut self, rows: &[Region]) -> Result<(), sqlx::Error> {
        let data = copy_text(rows, |r, buf| {
            push_fields(
                buf,
                &[Some(&r.slug), Some(&r.name), r.parent_slug.as_deref()],
            );
        });
        copy_in(
            &mut self.tx,
            "COPY regions (slug, name, parent_slug) FROM STDIN",
            data,
        )
        .await
    }

    async fn ports(&mut self, rows: &[Port]) -> Result<(), sqlx::Error> {
        let data = copy_text(rows, |p, buf| {
            push_fields(buf, &[Some(&p.code), Some(&p.name), Some(&p.parent_slug)]);
        });
        copy_in(
            &mut self.tx,
            "COPY ports (code, name, parent_slug) FROM STDIN",
            data,
        )
        .await
    }

    async fn prices(&mut self, rows: &[Price]) -> Result<(), sqlx::Error> {
        copy_prices(&mut self.tx, rows).await
    }

    async fn commit(mut self: Box<Self>) -> Result<(), sqlx::Error> {
        simple(
            &mut self.tx,
            "CREATE INDEX prices_lane_day_idx ON prices (orig_code, dest_code, day);
             ALTER TABLE regions ADD CONSTRAINT regions_parent_slug_fkey
                 FOREIGN KEY (parent_slug) REFERENCES regions (slug);
             ALTER TABLE ports ADD CONSTRAINT ports_parent_slug_fkey
                 FOREIGN KEY (parent_slug) REFERENCES regions (slug);
             ALTER TABLE prices
                 ADD CONSTRAINT prices_orig_code_fkey FOREIGN KEY (orig_code) REFERENCES ports (code),
                 ADD CONSTRAINT prices_dest_code_fkey FOREIGN KEY (dest_code) REFERENCES ports (code);
             ANALYZE regions, ports, prices (orig_code, dest_code, day);",
        )
        .await?;
        self.tx.commit().await
    }
}
