//! The PostgreSQL store.
//!
//! Tables, the migration history and the `transfer` function live in the schema
//! [`SCHEMA`] (every connection's `search_path`), so the service can share a database
//! with other services. A transfer is one statement, `SELECT * FROM transfer($1, $2,
//! $3, $4)`: one round trip, one transaction (see the migration for the function:
//! advisory lock on the idempotency key, rows locked in id order, checks, updates and
//! the ledger row). Its refusals are raised with SQLSTATEs of its own (`BR404`,
//! `BR409`, `BR413`, `BR422`), mapped to [`Error`] here.
//!
//! # Sessions
//!
//! Connections live in a [`deadpool`] pool of `Session`s rather than sqlx's own
//! pool, which sends a round trip of its own (a `Sync`) every time a connection goes
//! back, and by default another before it is handed out: a `GET /user` was three
//! round trips, one of them the query. Here a session remembers whether its last use
//! finished; only one that did not (a dropped request, an error) is tested, and so
//! cleaned up, before its next use. Every use is one statement and none opens an
//! explicit transaction, so a dropped request never leaves one open.
//!
//! Reads and writes have pools of their own. A read is CPU work on the server: a few
//! sessions (`--users-read-pool-size`, 4) keep as many backends busy as the server
//! has cores to run them, and the rest wait in the pool, in order, rather than in
//! the server's scheduler, where a descheduled backend makes the tail of every
//! read's latency. A write mostly waits for its commit to be flushed, which many
//! share: it gets more (`--users-pool-size`, 16). And listings never wait behind a
//! burst of transfers, nor transfers behind listings. A read whose connection
//! the server ended meanwhile runs again on another; a write, which must never run
//! twice, tests its connection first instead.
//!
//! The same store on sqlx's pools (`PgPool`, reads without the test before each use,
//! as rates has them) is the feature `sqlx-pool` of this crate (module `sqlx_pool`),
//! built only to measure one against the other: docs/benchmarks.md, section users, the
//! rows "A/B sessions".

use std::{str::FromStr as _, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
#[cfg(not(feature = "sqlx-pool"))]
use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};
#[cfg(not(feature = "sqlx-pool"))]
use futures::future::BoxFuture;
use sqlx::{
    Connection as _, FromRow as _, Row as _,
    postgres::{PgConnectOptions, PgConnection, PgRow},
};

use super::Store;
use crate::{
    Error, Result,
    model::{NewUser, Page, Transfer, TransferRequest, Transferred, User, name_key},
};

/// The schema holding the service's tables.
pub const SCHEMA: &str = "berth_users";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A page of users as one row of three arrays (ids, names, coins), element `i` of each
/// from the same user.
///
/// One row instead of one per user: sqlx decodes every row through a stream of its own
/// (a `DataRow` message, a row object, a column lookup by name per field), about
/// 1.6 µs of berth's CPU per user on the benchmark machine, so a page of 100 cost
/// more than everything else in the request. Three arrays in the binary format cost
/// PostgreSQL no more than the rows (`json_agg` would halve its rate) and decode in
/// one pass each. The aggregates see the rows in the subquery's order, but SQL does
/// not promise it: [`PgStore::list_users`] sorts the page (a no-op scan when it is
/// in order already).
const LIST_USERS: &str = "SELECT array_agg(id), array_agg(name), array_agg(coins) \
     FROM (SELECT id, name, coins FROM users WHERE id > $1 ORDER BY id LIMIT $2) u";

const TRANSFER_COLUMNS: &str = "id, from_id, to_id, amount, from_balance, to_balance, created_at";

#[cfg(feature = "sqlx-pool")]
mod sqlx_pool;
#[cfg(feature = "sqlx-pool")]
use sqlx_pool::Pool;

/// The PostgreSQL store: a pool of sessions for reads and one for writes.
#[derive(Clone)]
pub struct PgStore {
    reads: Pool,
    writes: Pool,
}

/// A pool of [`Session`]s.
#[cfg(not(feature = "sqlx-pool"))]
type Pool = managed::Pool<Sessions>;

#[cfg(not(feature = "sqlx-pool"))]
impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("reads", &self.reads.status())
            .field("writes", &self.writes.status())
            .finish()
    }
}

/// One pooled connection, and whether its last use ran to completion.
#[cfg(not(feature = "sqlx-pool"))]
#[derive(Debug)]
pub struct Session {
    conn: PgConnection,
    clean: bool,
}

#[cfg(not(feature = "sqlx-pool"))]
impl Session {
    /// The connection, for one use: until [`Session::finished`] says it went well, the
    /// session counts as unclean (a request dropped at an `.await` leaves it so).
    fn start(&mut self) -> &mut PgConnection {
        self.clean = false;
        &mut self.conn
    }

    /// Ends a use begun by [`Session::start`], passing its result through.
    fn finished<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        self.clean = result.is_ok();
        result
    }
}

/// Makes and recycles [`Session`]s.
#[cfg(not(feature = "sqlx-pool"))]
#[derive(Debug)]
struct Sessions {
    options: PgConnectOptions,
}

#[cfg(not(feature = "sqlx-pool"))]
impl managed::Manager for Sessions {
    type Type = Session;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Session, sqlx::Error> {
        let conn = PgConnection::connect_with(&self.options).await?;
        Ok(Session { conn, clean: true })
    }

    /// A clean session is handed out as it is. An unclean one is tested first: the
    /// round trip also reads whatever an abandoned statement left unread; a failure
    /// discards it. Every use is a single statement outside any explicit transaction,
    /// so an abandoned one cannot leave the server mid-transaction.
    async fn recycle(&self, session: &mut Session, _: &Metrics) -> RecycleResult<sqlx::Error> {
        if !session.clean {
            session.conn.ping().await?;
            session.clean = true;
        }
        Ok(())
    }
}

/// The pool's failures as the sqlx errors the rest of the store maps.
#[cfg(not(feature = "sqlx-pool"))]
fn pool_error(error: PoolError<sqlx::Error>) -> sqlx::Error {
    match error {
        PoolError::Backend(e) => e,
        PoolError::Closed => sqlx::Error::PoolClosed,
        PoolError::Timeout(_) | PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => {
            sqlx::Error::PoolTimedOut
        }
    }
}

/// Whether `e` says the connection is gone rather than that the statement failed: an
/// I/O error, or the server's notice that it ended the session (SQLSTATE 57P01-57P03).
fn broken_connection(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c.starts_with("57P0")),
        _ => false,
    }
}

/// How long to wait for a free session, or for a new connection.
const WAIT: Duration = Duration::from_secs(5);

impl PgStore {
    /// Connects (at most `write_pool` connections for writes and `read_pool` for
    /// reads), creates the schema if needed and migrates it.
    pub async fn connect(url: &str, write_pool: u32, read_pool: u32) -> anyhow::Result<Self> {
        let base = PgConnectOptions::from_str(url).context("parsing the users database URL")?;
        let mut conn = PgConnection::connect_with(&base)
            .await
            .context("connecting to the users database")?;
        // Two instances starting at once may race on CREATE SCHEMA: retry once.
        let create = format!("CREATE SCHEMA IF NOT EXISTS {SCHEMA}");
        if sqlx::query(&create).execute(&mut conn).await.is_err() {
            sqlx::query(&create)
                .execute(&mut conn)
                .await
                .with_context(|| format!("creating the schema {SCHEMA}"))?;
        }
        conn.close().await.ok();
        let options = base.options([("search_path", SCHEMA)]);
        let mut migrating = PgConnection::connect_with(&options)
            .await
            .context("connecting to the users database")?;
        MIGRATOR
            .run(&mut migrating)
            .await
            .context("migrating the users database")?;
        migrating.close().await.ok();
        Ok(Self {
            reads: Self::pool(&options, read_pool, true)?,
            writes: Self::pool(&options, write_pool, false)?,
        })
    }
}

#[cfg(not(feature = "sqlx-pool"))]
impl PgStore {
    /// A pool of at most `size` sessions (reads or not, they are alike here).
    fn pool(options: &PgConnectOptions, size: u32, _reads: bool) -> anyhow::Result<Pool> {
        managed::Pool::builder(Sessions {
            options: options.clone(),
        })
        .max_size(usize::try_from(size.max(1)).unwrap_or(usize::MAX))
        .wait_timeout(Some(WAIT))
        .create_timeout(Some(WAIT))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .context("building a users connection pool")
    }

    /// Runs the read `query` on a session; when its connection turns out to be broken
    /// (the server ended it while it sat in the pool), runs it again on another, up to
    /// one more time than the pool has connections.
    async fn read<T, Q>(&self, query: Q) -> Result<T, sqlx::Error>
    where
        Q: for<'c> Fn(&'c mut PgConnection) -> BoxFuture<'c, Result<T, sqlx::Error>>,
    {
        let most = self.reads.status().max_size;
        let mut tries = 0;
        loop {
            let mut session = self.reads.get().await.map_err(pool_error)?;
            let result = query(session.start()).await;
            match session.finished(result) {
                Err(e) if tries < most && broken_connection(&e) => {
                    tries += 1;
                    tracing::debug!(error = %e, tries, "a pooled connection was broken; reading again");
                }
                other => return other,
            }
        }
    }

    /// A session for a write, its connection tested with a round trip first: a write
    /// is never sent twice, so it must not find out that its connection was broken by
    /// sending itself.
    async fn tested_session(&self) -> Result<Object<Sessions>, sqlx::Error> {
        let most = self.writes.status().max_size;
        let mut tries = 0;
        loop {
            let mut session = self.writes.get().await.map_err(pool_error)?;
            let ping = session.start().ping().await;
            match session.finished(ping) {
                Ok(()) => return Ok(session),
                Err(e) if tries < most && broken_connection(&e) => {
                    tries += 1;
                    // Out of the pool for good: the connection is gone.
                    drop(Object::take(session));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Maps the `transfer` function's own SQLSTATEs to [`Error`].
fn transfer_error(error: sqlx::Error, request: &TransferRequest) -> Error {
    if let sqlx::Error::Database(db) = &error {
        let number = || db.message().parse::<i64>().unwrap_or(-1);
        match db.code().as_deref() {
            Some("BR404") => {
                let (id, field) = if db.message() == "to" {
                    (request.to, "to")
                } else {
                    (request.from, "from")
                };
                return Error::UserNotFound {
                    id,
                    field: Some(field),
                };
            }
            Some("BR409") => {
                return Error::InsufficientFunds {
                    user: request.from,
                    balance: number(),
                    amount: request.amount,
                };
            }
            Some("BR413") => {
                return Error::BalanceOverflow {
                    user: request.to,
                    balance: number(),
                    amount: request.amount,
                };
            }
            Some("BR422") => return Error::KeyReused,
            _ => {}
        }
    }
    // The key's UNIQUE constraint is the backstop of the advisory lock.
    Error::from_db(error, || Error::KeyReused)
}

fn transfer_from_row(row: &PgRow) -> Result<Transferred> {
    let outcome: String = row.try_get("outcome")?;
    Ok(Transferred {
        transfer: Transfer {
            id: row.try_get("id")?,
            from: row.try_get("from_id")?,
            to: row.try_get("to_id")?,
            amount: row.try_get("amount")?,
            from_balance: row.try_get("from_balance")?,
            to_balance: row.try_get("to_balance")?,
            created_at: row.try_get("created_at")?,
        },
        replayed: outcome == "replay",
    })
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        self.read(|conn| Box::pin(sqlx::query("SELECT 1").execute(conn)))
            .await?;
        Ok(())
    }

    /// The page comes back as one row of arrays (see the query `LIST_USERS`).
    async fn list_users(&self, page: Page) -> Result<Vec<User>> {
        type Columns = (Option<Vec<i64>>, Option<Vec<String>>, Option<Vec<i64>>);
        let (ids, names, coins): Columns = self
            .read(|conn| {
                Box::pin(
                    sqlx::query_as(LIST_USERS)
                        .bind(page.after.unwrap_or(0))
                        .bind(i64::from(page.limit))
                        .fetch_one(conn),
                )
            })
            .await?;
        let (ids, names, coins) = (
            ids.unwrap_or_default(),
            names.unwrap_or_default(),
            coins.unwrap_or_default(),
        );
        if ids.len() != names.len() || ids.len() != coins.len() {
            return Err(Error::Internal(anyhow::anyhow!(
                "a page of users came back with {} ids, {} names and {} balances",
                ids.len(),
                names.len(),
                coins.len()
            )));
        }
        let mut users: Vec<User> = ids
            .into_iter()
            .zip(names)
            .zip(coins)
            .map(|((id, name), coins)| User { id, name, coins })
            .collect();
        if !users.is_sorted_by_key(|u| u.id) {
            users.sort_unstable_by_key(|u| u.id);
        }
        Ok(users)
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        Ok(self
            .read(|conn| {
                Box::pin(
                    sqlx::query_as("SELECT id, name, coins FROM users WHERE id = $1")
                        .bind(id)
                        .fetch_optional(conn),
                )
            })
            .await?)
    }

    async fn create_user(&self, new: &NewUser) -> Result<User> {
        let mut session = self.tested_session().await?;
        let created = sqlx::query_as(
            "INSERT INTO users (name, name_key, coins) VALUES ($1, $2, $3) RETURNING id, name, coins",
        )
        .bind(&new.name)
        .bind(name_key(&new.name))
        .bind(new.coins)
        .fetch_one(session.start())
        .await;
        session
            .finished(created)
            .map_err(|e| Error::from_db(e, || Error::NameTaken(new.name.clone())))
    }

    async fn transfer(&self, request: &TransferRequest, key: Option<&str>) -> Result<Transferred> {
        let mut session = self.tested_session().await?;
        let result = sqlx::query("SELECT * FROM transfer($1, $2, $3, $4)")
            .bind(request.from)
            .bind(request.to)
            .bind(request.amount)
            .bind(key)
            .fetch_one(session.start())
            .await;
        let row = session
            .finished(result)
            .map_err(|e| transfer_error(e, request))?;
        let done = transfer_from_row(&row)?;
        if done.replayed && !done.transfer.matches(request) {
            return Err(Error::KeyReused);
        }
        Ok(done)
    }

    async fn ledger(&self, user: i64, page: Page) -> Result<Option<Vec<Transfer>>> {
        Ok(self
            .read(|conn| Box::pin(ledger_page(conn, user, page)))
            .await?)
    }
}

/// The ledger page of [`Store::ledger`] in one statement, so the user's existence and
/// the page see one snapshot without an explicit transaction (a request dropped
/// mid-way can then never leave its session inside one): no row when the user does not
/// exist, one row of nulls when it has no transfers on this page, else one row per
/// transfer.
async fn ledger_page(
    conn: &mut PgConnection,
    user: i64,
    page: Page,
) -> Result<Option<Vec<Transfer>>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT t.* FROM (SELECT id FROM users WHERE id = $1) u \
         LEFT JOIN LATERAL ( \
           SELECT {TRANSFER_COLUMNS} FROM ( \
             (SELECT {TRANSFER_COLUMNS} FROM transfers \
               WHERE from_id = u.id AND id < $2 ORDER BY id DESC LIMIT $3) \
             UNION ALL \
             (SELECT {TRANSFER_COLUMNS} FROM transfers \
               WHERE to_id = u.id AND id < $2 ORDER BY id DESC LIMIT $3) \
           ) x ORDER BY id DESC LIMIT $3 \
         ) t ON true \
         ORDER BY t.id DESC"
    ))
    .bind(user)
    .bind(page.after.unwrap_or(i64::MAX))
    .bind(i64::from(page.limit))
    .fetch_all(conn)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut transfers = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>, _>("id")?.is_some() {
            transfers.push(Transfer::from_row(row)?);
        }
    }
    Ok(Some(transfers))
}
