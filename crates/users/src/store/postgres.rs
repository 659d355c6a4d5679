//! The PostgreSQL store.
//!
//! Tables, the migration history and the `transfer` function live in the schema
//! [`SCHEMA`] (every connection's `search_path`), so the service can share a database
//! with other services. A transfer is one statement, `SELECT * FROM transfer($1, $2,
//! $3, $4)`: one round trip, one transaction (see the migration for the function:
//! advisory lock on the idempotency key, rows locked in id order, checks, updates and
//! the ledger row). Its refusals are raised with SQLSTATEs of its own (`BR404`,
//! `BR409`, `BR413`, `BR422`), mapped to [`Error`] here.

use std::{str::FromStr as _, time::Duration};

use anyhow::Context;
use async_trait::async_trait;
use sqlx::{
    Connection as _, PgPool, Row as _,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions, PgRow},
};

use super::Store;
use crate::{
    Error, Result,
    model::{NewUser, Page, Transfer, TransferRequest, Transferred, User},
};

/// The schema holding the service's tables.
pub const SCHEMA: &str = "berth_users";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const TRANSFER_COLUMNS: &str = "id, from_id, to_id, amount, from_balance, to_balance, created_at";

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects (at most `pool_size` connections), creates the schema if needed and
    /// migrates it.
    pub async fn connect(url: &str, pool_size: u32) -> anyhow::Result<Self> {
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
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .context("connecting to the users database")?;
        MIGRATOR
            .run(&pool)
            .await
            .context("migrating the users database")?;
        Ok(Self { pool })
    }

    /// The pool (for tests and tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
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
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn list_users(&self, page: Page) -> Result<Vec<User>> {
        Ok(
            sqlx::query_as("SELECT id, name, coins FROM users WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(page.after.unwrap_or(0))
                .bind(i64::from(page.limit))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        Ok(
            sqlx::query_as("SELECT id, name, coins FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn create_user(&self, new: &NewUser) -> Result<User> {
        sqlx::query_as("INSERT INTO users (name, coins) VALUES ($1, $2) RETURNING id, name, coins")
            .bind(&new.name)
            .bind(new.coins)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| Error::from_db(e, || Error::NameTaken(new.name.clone())))
    }

    async fn transfer(&self, request: &TransferRequest, key: Option<&str>) -> Result<Transferred> {
        let row = sqlx::query("SELECT * FROM transfer($1, $2, $3, $4)")
            .bind(request.from)
            .bind(request.to)
            .bind(request.amount)
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| transfer_error(e, request))?;
        let done = transfer_from_row(&row)?;
        if done.replayed && !done.transfer.matches(request) {
            return Err(Error::KeyReused);
        }
        Ok(done)
    }

    async fn ledger(&self, user: i64, page: Page) -> Result<Option<Vec<Transfer>>> {
        // One REPEATABLE READ transaction: the user's existence and the page see the
        // same snapshot.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows: Vec<Transfer> = sqlx::query_as(&format!(
            "SELECT {TRANSFER_COLUMNS} FROM ( \
               (SELECT {TRANSFER_COLUMNS} FROM transfers \
                 WHERE from_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3) \
               UNION ALL \
               (SELECT {TRANSFER_COLUMNS} FROM transfers \
                 WHERE to_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3) \
             ) t ORDER BY id DESC LIMIT $3"
        ))
        .bind(user)
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(i64::from(page.limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(rows))
    }
}
