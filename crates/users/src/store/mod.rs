//! The store: one trait, two backends behind it, one conformance suite over both
//! (`tests/api`).
//!
//! - [`sqlite`]: the embedded default, a file in the data directory. Writes go through
//!   one connection (`BEGIN IMMEDIATE`), so they serialize cleanly; reads use a pool.
//! - [`postgres`]: PostgreSQL 15+, tables in the schema `berth_users`; a transfer is one
//!   call of the SQL function `transfer(...)` (one round trip, one transaction).

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use kit::config::Common;

use crate::{
    Config, Result,
    model::{NewUser, Page, Transfer, TransferRequest, Transferred, User},
};

/// Opens the store the settings name: the service's own URL, else the process-wide
/// `DATABASE_URL`, else SQLite at `<data_dir>/users.db`. A `sqlite:PATH` URL names an
/// SQLite file.
pub async fn open(config: &Config, common: &Common) -> anyhow::Result<Arc<dyn Store>> {
    let own = config.database.resolve()?;
    let Some(url) = Common::pick(own.as_ref(), common.database_url.as_ref()) else {
        let path = common.data_dir.join("users.db");
        return Ok(Arc::new(
            sqlite::SqliteStore::open(&path, config.seed_demo).await?,
        ));
    };
    let url = url.expose();
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
    {
        Ok(Arc::new(
            sqlite::SqliteStore::open(path.as_ref(), config.seed_demo).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PgStore::connect(url, config.pool_size, config.read_pool_size).await?,
        ))
    } else {
        anyhow::bail!(
            "the users database URL must start with postgres://, postgresql:// or sqlite:"
        )
    }
}

/// Where users, balances and the ledger live.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The backend's name (`sqlite`, `postgres`), for logs.
    fn backend(&self) -> &'static str;

    /// Succeeds while the store answers.
    async fn ping(&self) -> Result<()>;

    /// Users ordered by id, after `page.after`, at most `page.limit`.
    async fn list_users(&self, page: Page) -> Result<Vec<User>>;

    /// One user.
    async fn user(&self, id: i64) -> Result<Option<User>>;

    /// Creates a user; a taken name is [`crate::Error::NameTaken`].
    async fn create_user(&self, new: &NewUser) -> Result<User>;

    /// Moves `request.amount` coins in one transaction: both balances and the ledger row,
    /// or nothing. With `key`: a transfer committed before under the same key is
    /// returned (`replayed`) when it matches `request`, else
    /// [`crate::Error::KeyReused`]; the key is kept only if the transfer commits.
    ///
    /// Errors: [`crate::Error::UserNotFound`] (field `from` or `to`),
    /// [`crate::Error::InsufficientFunds`], [`crate::Error::BalanceOverflow`].
    async fn transfer(&self, request: &TransferRequest, key: Option<&str>) -> Result<Transferred>;

    /// The transfers from or to `user`, newest first, with ids below `page.after`, at
    /// most `page.limit`; `None` when there is no such user.
    async fn ledger(&self, user: i64, page: Page) -> Result<Option<Vec<Transfer>>>;
}
