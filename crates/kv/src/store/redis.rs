//! The Redis backend: keys `<prefix><id>` holding the value as a string.
//!
//! One multiplexed connection serves every request. Its socket is wrapped so that the
//! commands of requests that are ready together leave in one write (the private
//! `coalesce` module says why and how; `--kv-redis-coalesce=false` leaves the socket
//! bare, for comparison: docs/benchmarks.md, section kv). When the connection ends (Redis restarted,
//! killed, unreachable), it is forgotten at once and the next command opens a new one,
//! so kv recovers by itself, and a request that comes after Redis is back is answered
//! even when it is the first since the restart. Every command, connecting included, is bounded by a short timeout, so
//! that while Redis is down requests fail fast with 503 instead of hanging.
//!
//! `set` is `SET key value GET`: one atomic command (Redis ≥ 6.2) that stores the value
//! and returns the previous one, nil when the key was new. The shipped ACL lets the
//! `kv` user run it (`+set` on `~kv:*`, which is read-write).
//!
//! # Layout
//! - [`RedisStore`]: the [`Store`] on Redis, and its connection's life;
//! - `coalesce`: the socket wrapper that batches writes.

mod coalesce;

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use async_trait::async_trait;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisConnectionInfo,
    RedisError, ServerErrorKind, Value, aio::MultiplexedConnection,
};
use tokio::io::{AsyncRead, AsyncWrite};

use self::coalesce::Coalesced;
use super::{SetOutcome, Store, StoreError};

/// Key-value pairs in Redis, under a prefix.
pub struct RedisStore {
    endpoint: Endpoint,
    settings: RedisConnectionInfo,
    /// The open connection (shared with its driver task, which forgets it when it
    /// ends).
    connection: Arc<Slot>,
    /// Held while a connection is being opened: one opens, the others wait for it.
    connecting: tokio::sync::Mutex<u64>,
    prefix: String,
    timeout: Duration,
    /// Whether the connection's socket is wrapped in [`Coalesced`].
    coalesce: bool,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("endpoint", &self.endpoint)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("coalesce", &self.coalesce)
            .finish_non_exhaustive()
    }
}

/// Where Redis listens: the kinds of address kv connects to.
#[derive(Debug)]
enum Endpoint {
    /// Host and port.
    Tcp(String, u16),
    /// A unix socket's path.
    Unix(std::path::PathBuf),
}

/// Where the open connection is kept, with its number: a failure forgets only the
/// connection it happened on, not a newer one.
type Slot = RwLock<Option<(u64, MultiplexedConnection)>>;

/// Why a Redis store could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The URL does not parse.
    #[error("the Redis URL is not valid (expected redis://user:password@host:port/db)")]
    Url(#[source] RedisError),
    /// Redis answered, but refused us (wrong password, missing permission...).
    #[error("Redis refused the connection or a command: check the user, password and ACL")]
    Refused(#[source] RedisError),
}

impl RedisStore {
    /// Connects to `url`. When the URL has no password, `password` (if any) is used.
    /// Every command is bounded by `timeout`.
    ///
    /// When Redis does not answer yet, the store is returned anyway (readiness reports
    /// it) and connects as soon as Redis is up. A Redis that answers but refuses us
    /// (credentials, ACL) is an error.
    pub async fn connect(
        url: &str,
        password: Option<&str>,
        prefix: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, SetupError> {
        Self::connect_coalescing(url, password, prefix, timeout, true).await
    }

    /// [`RedisStore::connect`], with the commands of concurrent requests sharing writes
    /// (`coalesce`, what `connect` does) or each written on its own.
    pub async fn connect_coalescing(
        url: &str,
        password: Option<&str>,
        prefix: impl Into<String>,
        timeout: Duration,
        coalesce: bool,
    ) -> Result<Self, SetupError> {
        let info = url.into_connection_info().map_err(SetupError::Url)?;
        let mut settings = info.redis_settings().clone();
        if let Some(password) = password
            && settings.password().is_none()
        {
            settings = settings.set_password(password);
        }
        let endpoint = match info.addr() {
            ConnectionAddr::Tcp(host, port) => Endpoint::Tcp(host.clone(), *port),
            ConnectionAddr::Unix(path) => Endpoint::Unix(path.clone()),
            // Only reachable with TLS, which this build of redis-rs rejects already.
            _ => {
                return Err(SetupError::Url(RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "kv connects over TCP or a unix socket only",
                ))));
            }
        };
        let store = Self {
            endpoint,
            settings,
            connection: Arc::new(RwLock::new(None)),
            connecting: tokio::sync::Mutex::new(0),
            prefix: prefix.into(),
            timeout,
            coalesce,
        };
        match store.run_raw(&redis::cmd("PING")).await {
            Ok(Ok(_)) => {}
            Err(_) => tracing::warn!("Redis does not answer yet; kv will connect when it does"),
            Ok(Err(e)) if e.kind() == ErrorKind::AuthenticationFailed => {
                return Err(SetupError::Refused(e));
            }
            Ok(Err(e)) => match classify(e.clone()) {
                StoreError::Unavailable(_) => tracing::warn!(
                    error = %e,
                    "Redis does not answer yet; kv will connect when it does"
                ),
                StoreError::Other(_) => return Err(SetupError::Refused(e)),
            },
        }
        // A prefix the user may not use (the ACL's key pattern) is a configuration
        // error: say so now rather than answer 500 to every request.
        let probe = redis::cmd("EXISTS").arg(store.key("")).clone();
        if let Ok(Err(e)) = store.run_raw(&probe).await
            && e.kind() == ErrorKind::Server(ServerErrorKind::NoPerm)
        {
            return Err(SetupError::Refused(e));
        }
        Ok(store)
    }

    fn key(&self, id: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + id.len());
        key.push_str(&self.prefix);
        key.push_str(id);
        key
    }

    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        self.connection
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The open connection, or a new one.
    async fn connection(&self) -> redis::RedisResult<(u64, MultiplexedConnection)> {
        if let Some(open) = self.current() {
            return Ok(open);
        }
        let mut opened = self.connecting.lock().await;
        // Another request may have opened it while this one waited.
        if let Some(open) = self.current() {
            return Ok(open);
        }
        let number = *opened + 1;
        let connection = self.open(number).await?;
        *opened = number;
        let open = (number, connection);
        *self
            .connection
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(open.clone());
        Ok(open)
    }

    /// Opens connection number `number` (socket, then `AUTH` and `SELECT`) and starts
    /// its driver.
    async fn open(&self, number: u64) -> redis::RedisResult<MultiplexedConnection> {
        // No response timeout of the connection's own: `run` bounds every command
        // already, and a second timer per command costs a registration in the
        // runtime's timer wheel for nothing.
        let config = AsyncConnectionConfig::new().set_response_timeout(None);
        match &self.endpoint {
            Endpoint::Tcp(host, port) => {
                let socket = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                // Commands are batched by `Coalesced`; a batch leaves at once.
                socket.set_nodelay(true)?;
                self.handshake(number, socket, config).await
            }
            Endpoint::Unix(path) => {
                let socket = tokio::net::UnixStream::connect(path).await?;
                self.handshake(number, socket, config).await
            }
        }
    }

    /// Sets up a connection on `socket` and spawns its driver: the task that writes
    /// the commands and reads the answers. The driver ends when Redis closes the
    /// connection or it fails (or once every clone of the connection is gone); then
    /// the connection is forgotten at once, so that the next command, a write
    /// included, opens a new one instead of failing on the dead one.
    async fn handshake<S>(
        &self,
        number: u64,
        socket: S,
        config: AsyncConnectionConfig,
    ) -> redis::RedisResult<MultiplexedConnection>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let slot = Arc::downgrade(&self.connection);
        if self.coalesce {
            let (connection, driver) = MultiplexedConnection::new_with_config(
                &self.settings,
                Coalesced::new(socket),
                config,
            )
            .await?;
            spawn_driver(driver, slot, number);
            Ok(connection)
        } else {
            let (connection, driver) =
                MultiplexedConnection::new_with_config(&self.settings, socket, config).await?;
            spawn_driver(driver, slot, number);
            Ok(connection)
        }
    }

    /// Runs one command under the timeout: `Err` when it timed out, else Redis's
    /// answer, an error reply being an `Err` too. A connection that dropped under the
    /// command is forgotten (its driver may not have ended yet).
    ///
    /// The command is not sent again: it may have reached Redis before the connection
    /// dropped, and a `SET` sent twice would answer 200 (replaced) for the key it
    /// created.
    async fn run_raw(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<redis::RedisResult<Value>, tokio::time::error::Elapsed> {
        tokio::time::timeout(self.timeout, async {
            let (number, mut connection) = self.connection().await?;
            let result = connection
                .send_packed_command(cmd)
                .await
                .and_then(Value::extract_error);
            if let Err(e) = &result
                && (e.is_unrecoverable_error() || e.is_connection_dropped())
            {
                forget(&self.connection, number);
            }
            result
        })
        .await
    }

    /// Runs one command under the timeout and classifies its failure.
    async fn run(&self, cmd: &redis::Cmd) -> Result<Value, StoreError> {
        match self.run_raw(cmd).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(classify(e)),
            Err(elapsed) => Err(StoreError::Unavailable(Box::new(elapsed))),
        }
    }
}

/// Runs the driver of connection number `number`; when it ends, forgets the connection
/// (if the store still exists).
fn spawn_driver(
    driver: impl Future<Output = ()> + Send + 'static,
    slot: std::sync::Weak<Slot>,
    number: u64,
) {
    tokio::spawn(async move {
        driver.await;
        if let Some(slot) = slot.upgrade() {
            forget(&slot, number);
        }
    });
}

/// Forgets connection number `number` if it is still the open one: the next command
/// opens a new one.
fn forget(slot: &Slot, number: u64) {
    let mut open = slot
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if open.as_ref().is_some_and(|(n, _)| *n == number) {
        *open = None;
    }
}

/// Sorts a failure: Redis unreachable or not ready (503, worth retrying) or anything else.
fn classify(e: RedisError) -> StoreError {
    match e.kind() {
        ErrorKind::Io
        | ErrorKind::AuthenticationFailed
        | ErrorKind::Server(
            ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::BusyLoading,
        ) => StoreError::Unavailable(Box::new(e)),
        _ => StoreError::Other(Box::new(e)),
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn get(&self, id: &str) -> Result<Option<String>, StoreError> {
        let value = self.run(redis::cmd("GET").arg(self.key(id))).await?;
        match value {
            Value::Nil => Ok(None),
            Value::BulkString(bytes) => {
                Ok(Some(String::from_utf8(bytes).unwrap_or_else(|e| {
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                })))
            }
            other => Err(StoreError::Other(
                format!("unexpected reply to GET: {other:?}").into(),
            )),
        }
    }

    async fn set(&self, id: &str, data: &str) -> Result<SetOutcome, StoreError> {
        let value = self
            .run(redis::cmd("SET").arg(self.key(id)).arg(data).arg("GET"))
            .await?;
        match value {
            Value::Nil => Ok(SetOutcome::Created),
            Value::BulkString(_) => Ok(SetOutcome::Replaced),
            other => Err(StoreError::Other(
                format!("unexpected reply to SET ... GET: {other:?}").into(),
            )),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match self.run(&redis::cmd("PING")).await? {
            Value::SimpleString(s) if s == "PONG" => Ok(()),
            other => Err(StoreError::Other(
                format!("unexpected reply to PING: {other:?}").into(),
            )),
        }
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The socket bare or coalesced, the store answers the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sets_and_gets_with_and_without_coalescing() {
        for coalesce in [true, false] {
            let store = RedisStore::connect_coalescing(
                &testkit::redis_env::kv_url(),
                None,
                testkit::redis_env::unique_prefix("kv:coalesce-switch-"),
                Duration::from_secs(5),
                coalesce,
            )
            .await
            .unwrap();
            assert_eq!(store.coalesce, coalesce);
            let ids: Vec<String> = (0..32).map(|i| format!("k{i}")).collect();
            let created =
                futures::future::join_all(ids.iter().map(|id| store.set(id, "one"))).await;
            assert!(
                created.iter().all(|r| matches!(r, Ok(SetOutcome::Created))),
                "{created:?}"
            );
            let replaced = futures::future::join_all(ids.iter().map(|id| store.set(id, id))).await;
            assert!(
                replaced
                    .iter()
                    .all(|r| matches!(r, Ok(SetOutcome::Replaced))),
                "{replaced:?}"
            );
            let read = futures::future::join_all(ids.iter().map(|id| store.get(id))).await;
            for (id, value) in ids.iter().zip(read) {
                assert_eq!(value.unwrap().as_deref(), Some(id.as_str()));
            }
        }
    }
}
