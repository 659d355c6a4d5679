//! The embedded backend: SQLite (WAL, `synchronous=FULL`, foreign keys on).
//!
//! Queries share a pool of readers; writes (ingest, load) go through a pool of one
//! connection and `BEGIN IMMEDIATE`, so writers queue instead of failing. A reader sees
//! a batch entirely or not at all (one statement, one WAL snapshot).

use std::path::Path;

use async_trait::async_trait;
use sqlx::{
    Connection, QueryBuilder, Row, Sqlite, SqliteConnection, pool::PoolConnection,
    query_builder::Separated, sqlite::SqlitePool,
};

use super::{
    Backend, EMPTY_SQL, KNOWN_SQL, LoadTx, PORT_CODES_SQL, RATES_SQL, Store, check_ports,
    day_totals,
};
use crate::{
    Error,
    domain::{DayTotal, Lookup, Port, Price, Region},
};

/// The migrations of the SQLite schema.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Rows per multi-row `INSERT` (4 parameters each, far below SQLite's limit).
const BATCH: usize = 1000;

/// SQLite behind [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `path` and runs
    /// the migrations.
    pub async fn open(path: &Path, readers: u32) -> anyhow::Result<Self> {
        let kit::db::Sqlite { writer, reader } =
            kit::db::open_sqlite(path, &MIGRATOR, readers).await?;
        Ok(Self {
            read: reader,
            write: writer,
        })
    }
}

/// Inserts `rows` with multi-row `INSERT`s of [`BATCH`] rows each: `head` names the
/// table and its columns, `bind` binds one row's values in their order.
async fn insert<'r, T: Sync>(
    conn: &mut SqliteConnection,
    head: &'static str,
    rows: &'r [T],
    bind: impl Fn(&mut Separated<'_, 'r, Sqlite, &'static str>, &'r T) + Send + Sync,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(BATCH) {
        let mut q = QueryBuilder::<Sqlite>::new(head);
        q.push_values(chunk, |mut b, row| bind(&mut b, row));
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_prices(conn: &mut SqliteConnection, rows: &[Price]) -> Result<(), sqlx::Error> {
    insert(
        conn,
        "INSERT INTO prices (orig_code, dest_code, day, price) ",
        rows,
        |b, p| {
            b.push_bind(&p.orig_code)
                .push_bind(&p.dest_code)
                .push_bind(p.day)
                .push_bind(p.price);
        },
    )
    .await
}

async fn tables_empty(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(EMPTY_SQL).fetch_one(conn).await
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.read).await.map(drop)
    }

    async fn day_totals(&self, lookup: &Lookup) -> Result<Vec<DayTotal>, sqlx::Error> {
        let rows = sqlx::query(RATES_SQL)
            .bind(&lookup.orig_code)
            .bind(&lookup.dest_code)
            .bind(lookup.date_from)
            .bind(lookup.date_to)
            .fetch_all(&self.read)
            .await?;
        day_totals(&rows)
    }

    async fn is_known(&self, code: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(KNOWN_SQL)
            .bind(code)
            .fetch_one(&self.read)
            .await
    }

    async fn is_empty(&self) -> Result<bool, sqlx::Error> {
        let mut conn = self.read.acquire().await?;
        tables_empty(&mut conn).await
    }

    async fn ingest(&self, rows: &[Price]) -> Result<u64, Error> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let known = sqlx::query_scalar(PORT_CODES_SQL)
            .fetch_all(&mut *tx)
            .await?;
        check_ports(rows, known)?;
        insert_prices(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn begin_load(&self, replace: bool) -> Result<Box<dyn LoadTx>, sqlx::Error> {
        let mut conn = self.write.acquire().await?;
        // Dumps list children before parents and ports before regions: references are
        // checked once, before the commit (`foreign_key_check`).
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut *conn)
            .await?;
        let result = async {
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            sqlx::query("DROP INDEX IF EXISTS prices_lane_day_idx")
                .execute(&mut *conn)
                .await?;
            if replace {
                for table in ["prices", "ports", "regions"] {
                    sqlx::query(&format!("DELETE FROM {table}"))
                        .execute(&mut *conn)
                        .await?;
                }
            }
            Ok::<_, sqlx::Error>(())
        }
        .await;
        let tx = SqliteLoad { conn: Some(conn) };
        result?;
        Ok(Box::new(tx))
    }
}

/// A load in progress on the writer connection (foreign keys off until it ends).
struct SqliteLoad {
    /// `None` once committed.
    conn: Option<PoolConnection<Sqlite>>,
}

impl SqliteLoad {
    fn conn(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("connection held until commit or drop")
    }
}

#[async_trait]
impl LoadTx for SqliteLoad {
    async fn is_empty(&mut self) -> Result<bool, sqlx::Error> {
        tables_empty(self.conn()).await
    }

    async fn regions(&mut self, rows: &[Region]) -> Result<(), sqlx::Error> {
        let head = "INSERT INTO regions (slug, name, parent_slug) ";
        insert(self.conn(), head, rows, |b, r| {
            b.push_bind(&r.slug)
                .push_bind(&r.name)
                .push_bind(&r.parent_slug);
        })
        .await
    }

    async fn ports(&mut self, rows: &[Port]) -> Result<(), sqlx::Error> {
        let head = "INSERT INTO ports (code, name, parent_slug) ";
        insert(self.conn(), head, rows, |b, p| {
            b.push_bind(&p.code)
                .push_bind(&p.name)
                .push_bind(&p.parent_slug);
        })
        .await
    }

    async fn prices(&mut self, rows: &[Price]) -> Result<(), sqlx::Error> {
        insert_prices(self.conn(), rows).await
    }

    async fn commit(mut self: Box<Self>) -> Result<(), sqlx::Error> {
        let mut held = self
            .conn
            .take()
            .expect("connection held until commit or drop");
        let conn: &mut SqliteConnection = &mut held;
        let result = finish_load(conn).await;
        if result.is_err() {
            // Let Drop roll back.
            self.conn = Some(held);
        }
        result
    }
}

/// Builds the index, checks every reference, commits, and turns foreign keys back on.
async fn finish_load(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    {
        sqlx::query("CREATE INDEX prices_lane_day_idx ON prices (orig_code, dest_code, day)")
            .execute(&mut *conn)
            .await?;
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = broken {
            let table: String = row.try_get(0)?;
            let parent: String = row.try_get(2)?;
            return Err(sqlx::Error::Protocol(format!(
                "a row of {table} refers to a missing row of {parent}"
            )));
        }
        sqlx::query("ANALYZE").execute(&mut *conn).await?;
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

impl Drop for SqliteLoad {
    fn drop(&mut self) {
        // An abandoned load: roll back and restore the connection's settings before it
        // goes back to the pool; if that cannot be done, close it instead.
        if let Some(mut conn) = self.conn.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let restored = async {
                        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await
                    }
                    .await;
                    if restored.is_err() {
                        let _ = conn.detach().close().await;
                    }
                });
            } else {
                drop(conn.detach());
            }
        }
    }
}
