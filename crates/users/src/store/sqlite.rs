//! The embedded store: one SQLite file (WAL, `synchronous=FULL`: a transfer answered
//! 201 survives a power cut).
//!
//! Every write goes through a pool of ONE connection and starts with `BEGIN IMMEDIATE`,
//! so writers queue in the process (fairly, without busy-looping) and a transaction
//! never has to upgrade a read lock — the source of `SQLITE_BUSY` under concurrency.
//! `busy_timeout` covers another process writing the same file. Reads use their own
//! pool and run beside the writer (WAL).

use std::path::Path;

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use sqlx::SqlitePool;

use super::Store;
use crate::{
    Error, Result,
    model::{DEMO_USERS, NewUser, Page, Transfer, TransferRequest, Transferred, User, name_key},
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const TRANSFER_COLUMNS: &str = "id, from_id, to_id, amount, from_balance, to_balance, created_at";

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, migrates it and, with
    /// `seed_demo`, seeds [`DEMO_USERS`] when it holds no user and no transfer.
    pub async fn open(path: &Path, seed_demo: bool) -> anyhow::Result<Self> {
        let kit::db::Sqlite { writer, reader } = kit::db::open_sqlite(path, &MIGRATOR, 4).await?;
        let store = Self { writer, reader };
        if seed_demo {
            store.seed_demo().await?;
        }
        Ok(store)
    }

    async fn seed_demo(&self) -> anyhow::Result<()> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let (users, transfers): (i64, i64) =
            sqlx::query_as("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM transfers)")
                .fetch_one(&mut *tx)
                .await?;
        if users == 0 && transfers == 0 {
            for (name, coins) in DEMO_USERS {
                sqlx::query(
                    "INSERT INTO users (name, name_key, coins, created_at) VALUES (?, ?, ?, ?)",
                )
                .bind(name)
                .bind(name_key(name))
                .bind(coins)
                .bind(now())
                .execute(&mut *tx)
                .await?;
            }
            tracing::info!(
                users = DEMO_USERS.len(),
                "seeded demo users into the empty SQLite store"
            );
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn list_users(&self, page: Page) -> Result<Vec<User>> {
        Ok(
            sqlx::query_as("SELECT id, name, coins FROM users WHERE id > ? ORDER BY id LIMIT ?")
                .bind(page.after.unwrap_or(0))
                .bind(page.limit)
                .fetch_all(&self.reader)
                .await?,
        )
    }

    async fn user(&self, id: i64) -> Result<Option<User>> {
        Ok(
            sqlx::query_as("SELECT id, name, coins FROM users WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    async fn create_user(&self, new: &NewUser) -> Result<User> {
        sqlx::query_as(
            "INSERT INTO users (name, name_key, coins, created_at) VALUES (?, ?, ?, ?) \
             RETURNING id, name, coins",
        )
        .bind(&new.name)
        .bind(name_key(&new.name))
        .bind(new.coins)
        .bind(now())
        .fetch_one(&self.writer)
        .await
        .map_err(|e| Error::from_db(e, || Error::NameTaken(new.name.clone())))
    }

    async fn transfer(&self, request: &TransferRequest, key: Option<&str>) -> Result<Transferred> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(key) = key {
            let prior: Option<Transfer> = sqlx::query_as(&format!(
                "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE idempotency_key = ?"
            ))
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(prior) = prior {
                return if prior.matches(request) {
                    Ok(Transferred {
                        transfer: prior,
                        replayed: true,
                    })
                } else {
                    Err(Error::KeyReused)
                };
            }
        }
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, coins FROM users WHERE id IN (?, ?)")
                .bind(request.from)
                .bind(request.to)
                .fetch_all(&mut *tx)
                .await?;
        let coins = |id| rows.iter().find(|(i, _)| *i == id).map(|(_, c)| *c);
        let from_coins = coins(request.from).ok_or(Error::UserNotFound {
            id: request.from,
            field: Some("from"),
        })?;
        let to_coins = coins(request.to).ok_or(Error::UserNotFound {
            id: request.to,
            field: Some("to"),
        })?;
        if from_coins < request.amount {
            return Err(Error::InsufficientFunds {
                user: request.from,
                balance: from_coins,
                amount: request.amount,
            });
        }
        let Some(to_after) = to_coins.checked_add(request.amount) else {
            return Err(Error::BalanceOverflow {
                user: request.to,
                balance: to_coins,
                amount: request.amount,
            });
        };
        sqlx::query("UPDATE users SET coins = coins - ? WHERE id = ?")
            .bind(request.amount)
            .bind(request.from)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET coins = coins + ? WHERE id = ?")
            .bind(request.amount)
            .bind(request.to)
            .execute(&mut *tx)
            .await?;
        let transfer: Transfer = sqlx::query_as(&format!(
            "INSERT INTO transfers \
             (from_id, to_id, amount, from_balance, to_balance, idempotency_key, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {TRANSFER_COLUMNS}"
        ))
        .bind(request.from)
        .bind(request.to)
        .bind(request.amount)
        .bind(from_coins - request.amount)
        .bind(to_after)
        .bind(key)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| Error::from_db(e, || Error::KeyReused))?;
        tx.commit().await?;
        Ok(Transferred {
            transfer,
            replayed: false,
        })
    }

    async fn ledger(&self, user: i64, page: Page) -> Result<Option<Vec<Transfer>>> {
        // One read transaction: the user's existence and the page see the same state.
        let mut tx = self.reader.begin().await?;
        let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE id = ?")
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows: Vec<Transfer> = sqlx::query_as(&format!(
            "SELECT {TRANSFER_COLUMNS} FROM ( \
               SELECT * FROM (SELECT {TRANSFER_COLUMNS} FROM transfers \
                 WHERE from_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3) \
               UNION ALL \
               SELECT * FROM (SELECT {TRANSFER_COLUMNS} FROM transfers \
                 WHERE to_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3) \
             ) ORDER BY id DESC LIMIT ?3"
        ))
        .bind(user)
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(page.limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(rows))
    }
}
