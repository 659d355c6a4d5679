//! The Redis backend: keys `<prefix><id>` holding the value as a string.
//!
//! One multiplexed connection serves every request. Its socket is wrapped so that the
//! commands of requests that are ready together leave in one write (the private
//! `coalesce` module says why and how; `--kv-redis-coalesce=false` leaves the socket
//! bare, for comparison: docs/benchmarks.md, section kv, the rows "A/B write coalescing").
//! When the connection ends (Redis restarted,
//! killed, unreachable), it is forgotten at once and the next command opens a new one,
//! so kv recovers by itself, and a request that comes after Redis is back is answered
//! even when it is the first since the restart. Every command, connecting included, is bounded by a short timeout, so
//! that while Redis is down requests fail fast with 503 instead of hanging.
//!
//! `set` is `SET key value GET`: one atomic command (Redis ≥ 6.2) that stores the value
//! and returns the previous one, nil when the key was new. The shipped ACL lets the
//! `kv` user run it (`+set` on `~kv:*`, which is read-write).
//!
//! # TLS
//!
//! `rediss://` URLs get kv's own TLS stream (the private `tls` module: rustls, the
//! platform's roots) *under* the write coalescing, so a batch of commands is one TLS
//! record and one write; `rediss://...#insecure` skips the certificate checks (a
//! throwaway server with a self-signed certificate only). A certificate Redis presents
//! that does not check out, or a server that does not speak TLS, stops kv at start
//! ([`SetupError::Tls`]); later (a certificate rotated wrongly) it is a 503 like any
//! failure to connect.
//!
//! # Redis Cluster
//!
//! With [`Mode::Cluster`] (`--kv-redis-cluster`: MemoryDB, ElastiCache in cluster
//! mode), kv talks through redis-rs's cluster client instead: the URL is one node (or
//! the configuration endpoint), the others are discovered with `CLUSTER SLOTS`, and
//! each command goes to the master of its key's slot, following `MOVED`/`ASK`. The
//! commands are the same (one key each), as are the timeout and the 503s. Writes are
//! not coalesced there: the cluster client owns its connections to the nodes. Unlike
//! kv's own connection, the cluster client resends a command whose connection dropped
//! (up to [`CLUSTER_RETRIES`] times, redirects included): a `SET` resent after a
//! failover may answer 200 for the key it created (its value is right either way).
//! A cluster in single mode, or a single server in cluster mode, stops kv at start
//! ([`SetupError::Mode`]).
//!
//! # Layout
//! - [`RedisStore`]: the [`Store`] on Redis, and its connection's life;
//! - `coalesce`: the socket wrapper that batches writes;
//! - `tls`: the TLS stream under it.

mod coalesce;
mod tls;

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use async_trait::async_trait;
use futures::FutureExt as _;
use redis::{
    AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo,
    RedisConnectionInfo, RedisError, ServerErrorKind, Value,
    aio::{ConnectionLike as _, MultiplexedConnection},
    cluster::{ClusterClientBuilder, ClusterConfig},
    cluster_async::ClusterConnection,
};
use tokio::io::{AsyncRead, AsyncWrite};

use self::{coalesce::Coalesced, tls::Connector};
use super::{SetOutcome, Store, StoreError};

/// How many times the cluster client may resend a command: redirects (`MOVED`, `ASK`)
/// and reconnections after a failover. Each command is bounded by the store's timeout
/// anyway.
pub const CLUSTER_RETRIES: u32 = 3;

/// How many command timeouts the cluster client may take to connect to a node.
const CLUSTER_CONNECT: u32 = 3;

/// How kv talks to Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// One server (or a primary behind one endpoint): kv's own connection, the
    /// commands of requests that are ready together written at once.
    #[default]
    Single,
    /// [`Mode::Single`] with each command written on its own, as redis-rs does
    /// (`--kv-redis-coalesce=false`, for comparison: docs/benchmarks.md, section kv).
    SingleUncoalesced,
    /// A Redis Cluster: the URL names one node; commands go to their key's master.
    Cluster,
}

/// Key-value pairs in Redis, under a prefix.
pub struct RedisStore {
    link: Link,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("RedisStore");
        match &self.link {
            Link::Single(single) => out.field("endpoint", &single.endpoint),
            Link::Cluster(_) => out.field("mode", &Mode::Cluster),
        };
        out.field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The connection(s) behind the store.
enum Link {
    /// kv's own connection to one server.
    Single(Single),
    /// redis-rs's cluster connection. It connects in the background, reconnects by
    /// itself and follows the cluster's topology.
    Cluster(ClusterConnection),
}

/// kv's own multiplexed connection to one server, opened on demand.
struct Single {
    endpoint: Endpoint,
    settings: RedisConnectionInfo,
    /// The open connection (shared with its driver task, which forgets it when it
    /// ends).
    connection: Arc<Slot>,
    /// Held while a connection is being opened: one opens, the others wait for it.
    connecting: tokio::sync::Mutex<u64>,
    /// Whether the connection's socket is wrapped in [`Coalesced`].
    coalesce: bool,
}

/// Where Redis listens: the kinds of address kv connects to.
#[derive(Debug)]
enum Endpoint {
    /// Host and port.
    Tcp(String, u16),
    /// Host and port, over TLS.
    Tls(String, u16, Connector),
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
    #[error(
        "the Redis URL is not valid (expected redis://user:password@host:port/db or rediss://...)"
    )]
    Url(#[source] RedisError),
    /// Redis answered, but refused us (wrong password, missing permission...).
    #[error("Redis refused the connection or a command: check the user, password and ACL")]
    Refused(#[source] RedisError),
    /// TLS could not be set up, or the handshake failed: an untrusted or misnamed
    /// certificate, or a server that does not speak TLS on that port.
    #[error("TLS with Redis failed: {0}")]
    Tls(String),
    /// The server is a cluster and kv is not in cluster mode, or the other way round.
    #[error("{0}")]
    Mode(&'static str),
}

impl RedisStore {
    /// Connects to `url` as one server ([`Mode::Single`]); see [`RedisStore::connect_with`].
    pub async fn connect(
        url: &str,
        password: Option<&str>,
        prefix: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, SetupError> {
        Self::connect_with(url, password, prefix, timeout, Mode::Single).await
    }

    /// Connects to `url` (`redis://`, `rediss://`, `redis+unix://`) in `mode`. When the
    /// URL has no password, `password` (if any) is used. Every command is bounded by
    /// `timeout`.
    ///
    /// When Redis does not answer yet, the store is returned anyway (readiness reports
    /// it) and connects as soon as Redis is up. A Redis that answers but refuses us
    /// (credentials, ACL, TLS, a cluster in single mode or the other way round) is an
    /// error.
    pub async fn connect_with(
        url: &str,
        password: Option<&str>,
        prefix: impl Into<String>,
        timeout: Duration,
        mode: Mode,
    ) -> Result<Self, SetupError> {
        let mut info = url.into_connection_info().map_err(SetupError::Url)?;
        if mode == Mode::Cluster && matches!(info.addr(), ConnectionAddr::Unix(_)) {
            return Err(SetupError::Mode(
                "a Redis Cluster is reached over TCP: give a redis:// or rediss:// URL",
            ));
        }
        if let Some(password) = password
            && info.redis_settings().password().is_none()
        {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        // The checks run on kv's own connection to the URL's server, in cluster mode
        // too (a node), where the cluster client would only say that no node answers.
        let mut store = Self {
            link: Link::Single(Single::new(&info, mode != Mode::SingleUncoalesced)?),
            prefix: prefix.into(),
            timeout,
        };
        let answered = store.run_raw(&redis::cmd("PING")).await;
        let up = matches!(answered, Ok(Ok(_)));
        match answered {
            Ok(Ok(_)) => store.check_mode(mode).await?,
            Err(_) if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) => tracing::warn!(
                "Redis does not answer yet (or does not speak TLS on that port: a TLS \
                 handshake with a plain Redis never ends); kv will connect when it does"
            ),
            Err(_) => tracing::warn!("Redis does not answer yet; kv will connect when it does"),
            Ok(Err(e)) => Self::refused(e)?,
        }
        // A prefix the user may not use (the ACL's key pattern) is a configuration
        // error: say so now rather than answer 500 to every request. (Redis checks
        // the ACL before it would redirect a cluster's key.)
        let probe = redis::cmd("EXISTS").arg(store.key("")).clone();
        if let Ok(Err(e)) = store.run_raw(&probe).await
            && e.kind() == ErrorKind::Server(ServerErrorKind::NoPerm)
        {
            return Err(SetupError::Refused(e));
        }
        if mode == Mode::Cluster {
            tls::install_default_provider();
            let cluster = cluster(info, timeout)?;
            // The cluster client connects to every master in the background: when
            // the cluster answers, let it finish before the first request comes.
            if up
                && !matches!(
                    tokio::time::timeout(
                        CLUSTER_CONNECT * timeout,
                        cluster.clone().req_packed_command(&redis::cmd("PING"))
                    )
                    .await,
                    Ok(Ok(_))
                )
            {
                tracing::warn!("not every master of the Redis Cluster answers yet");
            }
            store.link = Link::Cluster(cluster);
        }
        Ok(store)
    }

    /// Sorts the failure of the first `PING`: refused (an error) or not up yet (a
    /// warning: kv starts and connects later).
    fn refused(e: RedisError) -> Result<(), SetupError> {
        if let Some(why) = tls::handshake_failure(&e) {
            return Err(SetupError::Tls(why.to_owned()));
        }
        if e.kind() == ErrorKind::AuthenticationFailed {
            return Err(SetupError::Refused(e));
        }
        match classify(e.clone()) {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "Redis does not answer yet; kv will connect when it does");
                Ok(())
            }
            StoreError::Other(_) => Err(SetupError::Refused(e)),
        }
    }

    /// Refuses a server that runs as a cluster in single mode (most keys would answer
    /// `MOVED`) or one that does not in cluster mode, as `INFO cluster` says. (A user
    /// without `INFO` skips the check.)
    async fn check_mode(&self, mode: Mode) -> Result<(), SetupError> {
        let Ok(Ok(Value::BulkString(info))) = self.run_raw(redis::cmd("INFO").arg("cluster")).await
        else {
            return Ok(());
        };
        let info = String::from_utf8_lossy(&info);
        match mode {
            Mode::Single | Mode::SingleUncoalesced if info.contains("cluster_enabled:1") => {
                Err(SetupError::Mode(
                    "Redis runs as a cluster: set --kv-redis-cluster (BERTH_KV_REDIS_CLUSTER=true)",
                ))
            }
            Mode::Cluster if info.contains("cluster_enabled:0") => Err(SetupError::Mode(
                "Redis is not a cluster: unset --kv-redis-cluster (BERTH_KV_REDIS_CLUSTER=false)",
            )),
            _ => Ok(()),
        }
    }

    fn key(&self, id: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + id.len());
        key.push_str(&self.prefix);
        key.push_str(id);
        key
    }

    /// Runs one command under the timeout: `Err` when it timed out, else Redis's
    /// answer, an error reply being an `Err` too.
    async fn run_raw(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<redis::RedisResult<Value>, tokio::time::error::Elapsed> {
        tokio::time::timeout(self.timeout, async {
            match &self.link {
                Link::Single(single) => single.run(cmd).await,
                Link::Cluster(cluster) => cluster
                    .clone()
                    .req_packed_command(cmd)
                    .await
                    .and_then(Value::extract_error),
            }
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

/// The cluster connection for `info` (a node of the cluster). It connects in the
/// background: a cluster that is down at start is reached when it is up.
fn cluster(info: ConnectionInfo, timeout: Duration) -> Result<ClusterConnection, SetupError> {
    let client = ClusterClientBuilder::new([info])
        .retries(CLUSTER_RETRIES)
        // Redirects are resent at once; a reconnection waits 10 to 100 ms.
        .min_retry_wait(10)
        .max_retry_wait(100)
        .build()
        .map_err(SetupError::Url)?;
    // Connections are made in the background, not for a request (which `run`
    // bounds by `timeout`): they get longer, so that a slow TLS handshake with each
    // master does not fail the cluster's (re)connection over and over.
    let config = ClusterConfig::new()
        .set_connection_timeout(CLUSTER_CONNECT * timeout)
        .set_response_timeout(timeout);
    Ok(client.get_pending_async_connection_with_config(config))
}

impl Single {
    fn new(info: &ConnectionInfo, coalesce: bool) -> Result<Self, SetupError> {
        let endpoint = match info.addr() {
            ConnectionAddr::Tcp(host, port) => Endpoint::Tcp(host.clone(), *port),
            ConnectionAddr::TcpTls {
                host,
                port,
                insecure,
                ..
            } => Endpoint::Tls(
                host.clone(),
                *port,
                Connector::new(host, *insecure).map_err(|e| SetupError::Tls(e.to_string()))?,
            ),
            ConnectionAddr::Unix(path) => Endpoint::Unix(path.clone()),
            _ => {
                return Err(SetupError::Url(RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "kv connects over TCP, TLS or a unix socket",
                ))));
            }
        };
        Ok(Self {
            endpoint,
            settings: info.redis_settings().clone(),
            connection: Arc::new(RwLock::new(None)),
            connecting: tokio::sync::Mutex::new(0),
            coalesce,
        })
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
        // Boxed: opening (socket, TLS handshake, `AUTH`) is a state machine of kilobytes
        // that would otherwise be part of every command's future, allocated and moved
        // per request though it runs once per connection.
        let connection = Box::pin(self.open(number)).await?;
        *opened = number;
        let open = (number, connection);
        *self
            .connection
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(open.clone());
        Ok(open)
    }

    /// Opens connection number `number` (socket, TLS, then `AUTH` and `SELECT`) and
    /// starts its driver.
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
            Endpoint::Tls(host, port, connector) => {
                let socket = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                socket.set_nodelay(true)?;
                let stream = connector
                    .connect(socket)
                    .await
                    .map_err(tls::handshake_error)?;
                self.handshake(number, stream, config).await
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
        let (connection, driver) = if self.coalesce {
            let (connection, driver) = MultiplexedConnection::new_with_config(
                &self.settings,
                Coalesced::new(socket),
                config,
            )
            .await?;
            (connection, driver.boxed())
        } else {
            let (connection, driver) =
                MultiplexedConnection::new_with_config(&self.settings, socket, config).await?;
            (connection, driver.boxed())
        };
        tokio::spawn(async move {
            driver.await;
            if let Some(slot) = slot.upgrade() {
                forget(&slot, number);
            }
        });
        Ok(connection)
    }

    /// Runs one command, an error reply being an `Err`. A connection that dropped
    /// under the command is forgotten (its driver may not have ended yet).
    ///
    /// The command is not sent again: it may have reached Redis before the connection
    /// dropped, and a `SET` sent twice would answer 200 (replaced) for the key it
    /// created.
    async fn run(&self, cmd: &redis::Cmd) -> redis::RedisResult<Value> {
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
    }
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
        | ErrorKind::ClusterConnectionNotFound
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
        for (mode, coalesce) in [(Mode::Single, true), (Mode::SingleUncoalesced, false)] {
            let store = RedisStore::connect_with(
                &testkit::redis_env::kv_url(),
                None,
                testkit::redis_env::unique_prefix("kv:coalesce-switch-"),
                Duration::from_secs(5),
                mode,
            )
            .await
            .unwrap();
            let Link::Single(single) = &store.link else {
                panic!("single mode")
            };
            assert_eq!(single.coalesce, coalesce);
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
