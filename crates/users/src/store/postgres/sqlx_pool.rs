//! [`PgStore`] on sqlx's pools instead of the deadpool sessions (feature `sqlx-pool`),
//! built only to measure the two against each other (`scripts/bench users`).
//!
//! Reads run on a `PgPool` that hands its connections out untested
//! (`test_before_acquire(false)`, as rates' queries have them); a read whose
//! connection turns out to be broken runs again on another. Writes run on a `PgPool`
//! that tests each connection before handing it out (sqlx's default), so that a write
//! never finds out by sending itself that its connection was broken. sqlx tests every
//! connection once more when it goes back to its pool: a round trip per use.

use futures::future::BoxFuture;
use sqlx::{
    PgConnection, Postgres,
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
};

use super::{PgStore, WAIT, broken_connection};

/// The pools of reads and writes.
pub(super) type Pool = PgPool;

/// A connection for one write.
pub(super) struct Session(PoolConnection<Postgres>);

impl Session {
    /// The connection.
    pub(super) fn start(&mut self) -> &mut PgConnection {
        &mut self.0
    }

    /// Passes `result` through: sqlx tests the connection when it goes back.
    #[allow(clippy::unused_self)] // the same calls as the deadpool session's
    pub(super) fn finished<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        result
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("reads", &self.reads.size())
            .field("writes", &self.writes.size())
            .finish()
    }
}

impl PgStore {
    /// A pool of at most `size` connections; those of `reads` are not tested before
    /// each use.
    #[allow(clippy::unnecessary_wraps)] // the same call as the deadpool pool's
    pub(super) fn pool(options: &PgConnectOptions, size: u32, reads: bool) -> anyhow::Result<Pool> {
        Ok(PgPoolOptions::new()
            .max_connections(size.max(1))
            .acquire_timeout(WAIT)
            .test_before_acquire(!reads)
            .connect_lazy_with(options.clone()))
    }

    /// Runs the read `query` on a connection; when it turns out to be broken, runs it
    /// again on another, up to one more time than the pool has connections.
    pub(super) async fn read<T, Q>(&self, query: Q) -> Result<T, sqlx::Error>
    where
        Q: for<'c> Fn(&'c mut PgConnection) -> BoxFuture<'c, Result<T, sqlx::Error>>,
    {
        let most = self.reads.options().get_max_connections();
        let mut tries = 0;
        loop {
            let mut conn = self.reads.acquire().await?;
            match query(&mut conn).await {
                Err(e) if tries < most && broken_connection(&e) => {
                    tries += 1;
                    conn.close_on_drop();
                    tracing::debug!(error = %e, tries, "a pooled connection was broken; reading again");
                }
                other => return other,
            }
        }
    }

    /// A connection for a write, tested by the pool before it is handed out.
    pub(super) async fn tested_session(&self) -> Result<Session, sqlx::Error> {
        Ok(Session(self.writes.acquire().await?))
    }
}
