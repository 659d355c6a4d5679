//! What every service does the same way with its SQL stores (feature `db`).
//!
//! - [`is_unavailable`]: whether a `sqlx` error means the database cannot answer right
//!   now (a 503 the client may retry) rather than a failure of this request (a 500).
//!   Every service classifies with it, so the same database error is the same status
//!   from every service.
//! - [`open_sqlite`]: the embedded store's file, opened the one way: its directory
//!   created, WAL, `synchronous = FULL` (an acknowledged write survives a crash),
//!   foreign keys on, one busy timeout ([`SQLITE_BUSY_TIMEOUT`]), one writer connection
//!   (SQLite takes one writer at a time anyway: queueing in the pool is cheaper than
//!   busy-waiting on the file lock) and a pool of readers, migrations applied.

use std::{path::Path, time::Duration};

use anyhow::Context;
use sqlx::{
    SqlitePool,
    migrate::Migrator,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// How long an SQLite connection waits for a lock another connection (or process)
/// holds before its statement fails with `SQLITE_BUSY` (then a 503).
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `error` means the database cannot answer right now: the pool or a
/// connection failed (timed out, closed, I/O, TLS), PostgreSQL is shutting down,
/// starting up, out of connections or out of resources (SQLSTATE classes `08`, `53`,
/// `57P`), or SQLite's file stayed locked, could not be opened or is full.
///
/// A connection closed before PostgreSQL answered the TLS request (a server still
/// starting or a proxy that cuts the connection, met with `sslmode=prefer`, the
/// default) is one too, though sqlx reports it as a protocol error: it reads the end
/// of the stream as the answer byte 0.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Protocol(message) => message.starts_with(CLOSED_AT_SSL_REQUEST),
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse().is_ok_and(sqlite_unavailable)
            } else {
                sqlstate_unavailable(code)
            }
        }
        _ => false,
    }
}

/// How sqlx's message starts when the connection closes instead of answering its
/// `SSLRequest` (the source location follows).
const CLOSED_AT_SSL_REQUEST: &str = "unexpected response from SSLRequest: 0x00 ";

/// A PostgreSQL SQLSTATE that means "not now": 08 connection exception; 53
/// insufficient resources (disk full, out of memory, too many connections); 57P01-57P03
/// admin or crash shutdown, cannot connect now.
fn sqlstate_unavailable(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
}

/// An SQLite result code that means "not now". The primary code is the low byte of an
/// extended one (517 is `SQLITE_BUSY_SNAPSHOT`): BUSY 5, LOCKED 6, IOERR 10, FULL 13,
/// CANTOPEN 14.
fn sqlite_unavailable(code: u32) -> bool {
    matches!(code & 0xff, 5 | 6 | 10 | 13 | 14)
}

/// The two pools of an embedded SQLite database.
#[derive(Debug, Clone)]
pub struct Sqlite {
    /// One connection: every write goes through it, in turn.
    pub writer: SqlitePool,
    /// Read-only connections, for reads that may run beside the writer (WAL).
    pub reader: SqlitePool,
}

/// Opens (creating it and its directory if missing) the SQLite database at `path`,
/// applies `migrator`'s migrations and returns its writer and `readers` readers.
pub async fn open_sqlite(path: &Path, migrator: &Migrator, readers: u32) -> anyhow::Result<Sqlite> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the data directory {}", dir.display()))?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(SQLITE_BUSY_TIMEOUT)
        .connect_with(options.clone())
        .await
        .with_context(|| format!("opening the SQLite database {}", path.display()))?;
    migrator
        .run(&writer)
        .await
        .with_context(|| format!("migrating the SQLite database {}", path.display()))?;
    let reader = SqlitePoolOptions::new()
        .max_connections(readers.max(1))
        .acquire_timeout(SQLITE_BUSY_TIMEOUT)
        .connect_with(options.read_only(true))
        .await
        .with_context(|| format!("opening the SQLite database {}", path.display()))?;
    Ok(Sqlite { writer, reader })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_codes() {
        for code in ["57P01", "57P03", "53300", "53100", "08006"] {
            assert!(sqlstate_unavailable(code), "{code}");
        }
        for code in ["23505", "23514", "42P01", "22P02", "40001", "BR404"] {
            assert!(!sqlstate_unavailable(code), "{code}");
        }
        for code in [5, 6, 517, 10, 13, 14, 261] {
            assert!(sqlite_unavailable(code), "{code}");
        }
        for code in [1, 19, 2067, 787, 8] {
            assert!(!sqlite_unavailable(code), "{code}");
        }
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }

    /// A server that reads the client's first message, then closes the connection (as
    /// a proxy in front of a PostgreSQL that is not up does): whatever the `sslmode`,
    /// the error says "unavailable", and a real protocol error does not.
    #[tokio::test]
    async fn a_connection_closed_at_once_is_unavailable() {
        use sqlx::{ConnectOptions as _, postgres::PgConnectOptions};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut first = [0; 8];
                let _ = tokio::io::AsyncReadExt::read_exact(&mut socket, &mut first).await;
            }
        });
        for mode in ["disable", "prefer", "require"] {
            let options: PgConnectOptions =
                format!("postgres://u:p@127.0.0.1:{port}/db?sslmode={mode}")
                    .parse()
                    .unwrap();
            let error = options.connect().await.unwrap_err();
            assert!(is_unavailable(&error), "sslmode={mode}: {error:?}");
        }
        assert!(!is_unavailable(&sqlx::Error::Protocol(
            "unexpected response from SSLRequest: 0x41 (sqlx_postgres::connection::tls:95)".into()
        )));
    }

    #[tokio::test]
    async fn opens_creates_and_migrates() {
        static MIGRATOR: Migrator = Migrator::DEFAULT;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/test.db");
        let db = open_sqlite(&path, &MIGRATOR, 2).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&db.writer)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&db.writer)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&db.reader)
            .await
            .unwrap();
        assert_eq!(n, 1);
        let err = sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&db.reader)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
        assert!(
            !is_unavailable(&err),
            "a refused write is this request's fault"
        );
        // Every connection of both pools: WAL, synchronous FULL (2), foreign keys on.
        let mut conns = vec![db.writer.acquire().await.unwrap()];
        for _ in 0..2 {
            conns.push(db.reader.acquire().await.unwrap());
        }
        for conn in &mut conns {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(mode, "wal");
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(sync, 2, "FULL");
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(fk, 1);
        }
    }
}
