//! The Redis queue: the Stream `<prefix>queue` with the consumer group `workers`, and
//! the dead letters in the Stream `<prefix>dead`.
//!
//! - push: `XADD <prefix>queue * data <datum>` (with `appendfsync always`, the reply
//!   comes after the write reached the disk).
//! - fetch: `XAUTOCLAIM` of entries idle longer than the claim idle time (their
//!   consumer died), with their delivery counts from `XPENDING`; else
//!   `XREADGROUP ... COUNT n BLOCK ms ... >`.
//! - ack: `MULTI; XACK; XDEL; EXEC` (acknowledged entries leave the stream, so its
//!   length stays what is left to do).
//! - dead letter: `MULTI; XADD <prefix>dead; XACK; XDEL; EXEC`.
//!
//! # TLS and Redis Cluster
//!
//! `rediss://` URLs are redis-rs's TLS (rustls, the platform's roots; `#insecure` skips
//! the checks, for a throwaway server only). With `cluster` (`--multivac-redis-cluster`:
//! MemoryDB, ElastiCache in cluster mode) the queue talks through redis-rs's cluster
//! client, and its keys carry the hash tag `{q}` ([`keys`]): `<prefix>{q}:queue` and
//! `<prefix>{q}:dead` live in one slot, so the transactions above (which touch both)
//! run on one node, and both stay under the prefix (the ACL's `~multivac:*`). Outside
//! cluster mode the keys keep their names. The cluster client resends a command whose
//! connection dropped (up to [`CLUSTER_RETRIES`] times, redirects included): a push
//! resent after a failover may queue its datum twice.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::{
    AsyncConnectionConfig, Client, Cmd, Pipeline, RedisError, RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection},
    cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig},
    cluster_async::ClusterConnection,
    cluster_routing::Slot,
    streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply},
};

use super::{Consumer, Delivery, Queue, QueueCounts};
use crate::error::{BackendError, within};

/// The consumer group every worker joins.
pub const GROUP: &str = "workers";

/// How many times the cluster client may resend a command: redirects (`MOVED`, `ASK`)
/// and reconnections after a failover.
pub const CLUSTER_RETRIES: u32 = 3;

/// The stream's and the dead letters' keys under `prefix`: `<prefix>queue` and
/// `<prefix>dead`, or in a cluster `<prefix>{q}:queue` and `<prefix>{q}:dead`, which
/// hash to one slot.
pub fn keys(prefix: &str, cluster: bool) -> (String, String) {
    if cluster {
        (
            format!("{prefix}{{q}}:queue"),
            format!("{prefix}{{q}}:dead"),
        )
    } else {
        (format!("{prefix}queue"), format!("{prefix}dead"))
    }
}

/// A connection of the queue's: one server's (managed, or a consumer's own) or a
/// cluster's.
#[derive(Clone)]
enum Conn {
    Manager(ConnectionManager),
    Multiplexed(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Manager(c) => c.req_packed_command(cmd),
            Self::Multiplexed(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Manager(c) => c.req_packed_commands(cmd, offset, count),
            Self::Multiplexed(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Manager(c) => c.get_db(),
            Self::Multiplexed(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// Where consumers get their own connections.
#[derive(Clone)]
enum Opener {
    Single(Box<Client>),
    Cluster(Box<ClusterClient>),
}

impl Opener {
    /// A new connection whose replies may take `response` (a consumer's blocking reads).
    async fn open(&self, timeout: Duration, response: Duration) -> Result<Conn, RedisError> {
        match self {
            Self::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(response));
                Ok(Conn::Multiplexed(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Self::Cluster(client) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(timeout)
                    .set_response_timeout(response);
                Ok(Conn::Cluster(
                    client.get_async_connection_with_config(config).await?,
                ))
            }
        }
    }
}

const NOT_A_CLUSTER: &str =
    "Redis is not a cluster: unset --multivac-redis-cluster (BERTH_MULTIVAC_REDIS_CLUSTER=false)";
const A_CLUSTER: &str =
    "Redis runs as a cluster: set --multivac-redis-cluster (BERTH_MULTIVAC_REDIS_CLUSTER=true)";

/// Makes *ring* the process' default rustls provider, which redis-rs's TLS takes
/// (sqlx and kv use it too; rustls deprecates it for lacking post-quantum key
/// exchange, but its alternative, aws-lc-rs, needs a C and cmake build that the
/// static musl image does not have). Idempotent.
#[allow(deprecated)]
fn install_tls_provider() {
    // An error means a provider is installed already: it is used.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The Redis Streams queue.
#[derive(Clone)]
pub struct RedisQueue {
    opener: Opener,
    conn: Conn,
    stream: String,
    dead: String,
    claim_idle: Duration,
    timeout: Duration,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// Connects to `url` (one server, or with `cluster` a node of a Redis Cluster;
    /// keys as [`keys`] names them) and creates the stream and its group if missing.
    /// `timeout` bounds each command.
    ///
    /// A cluster in single mode, or a single server in cluster mode, is an error, as is
    /// a prefix whose two keys would not share a cluster slot.
    pub async fn connect(
        url: &str,
        prefix: &str,
        cluster: bool,
        claim_idle: Duration,
        timeout: Duration,
    ) -> Result<Self, BackendError> {
        install_tls_provider();
        let (stream, dead) = keys(prefix, cluster);
        let (opener, conn) = if cluster {
            if Slot::for_key(&stream) != Slot::for_key(&dead) {
                return Err(BackendError::Setup(format!(
                    "the keys {stream} and {dead} would not share a cluster slot: \
                     choose a --multivac-redis-prefix without an empty {{}}"
                )));
            }
            let client = ClusterClientBuilder::new([url])
                .retries(CLUSTER_RETRIES)
                // Redirects are resent at once; a reconnection waits 10 to 100 ms.
                .min_retry_wait(10)
                .max_retry_wait(100)
                .build()?;
            let config = ClusterConfig::new()
                .set_connection_timeout(timeout)
                .set_response_timeout(timeout);
            let conn = within(timeout * 3, async {
                Ok(client.get_async_connection_with_config(config).await?)
            })
            .await
            .map_err(|e| match e {
                BackendError::Redis(r) if r.to_string().contains("cluster support disabled") => {
                    BackendError::Setup(NOT_A_CLUSTER.into())
                }
                other => other,
            })?;
            (Opener::Cluster(Box::new(client)), Conn::Cluster(conn))
        } else {
            let client = Client::open(url)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1);
            let conn = within(timeout * 3, async {
                Ok(ConnectionManager::new_with_config(client.clone(), config).await?)
            })
            .await?;
            (Opener::Single(Box::new(client)), Conn::Manager(conn))
        };
        let queue = Self {
            opener,
            conn,
            stream,
            dead,
            claim_idle,
            timeout,
        };
        if !cluster {
            queue.refuse_a_cluster().await?;
        }
        queue.ensure_group().await?;
        Ok(queue)
    }

    /// Refuses a server that runs as a cluster (`INFO cluster` says
    /// `cluster_enabled:1`): the two keys may be in different slots. (A user without
    /// `INFO` skips the check.)
    async fn refuse_a_cluster(&self) -> Result<(), BackendError> {
        let mut conn = self.conn.clone();
        let info = within(self.timeout, async {
            Ok(redis::cmd("INFO")
                .arg("cluster")
                .query_async::<String>(&mut conn)
                .await?)
        })
        .await;
        match info {
            Ok(info) if info.contains("cluster_enabled:1") => {
                Err(BackendError::Setup(A_CLUSTER.into()))
            }
            Err(e) if e.is_unreachable() => Err(e),
            _ => Ok(()),
        }
    }

    /// The stream's key.
    pub fn stream_key(&self) -> &str {
        &self.stream
    }

    /// The dead letters' key.
    pub fn dead_key(&self) -> &str {
        &self.dead
    }

    async fn ensure_group(&self) -> Result<(), BackendError> {
        ensure_group(&mut self.conn.clone(), &self.stream, self.timeout).await
    }
}

async fn ensure_group<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    timeout: Duration,
) -> Result<(), BackendError> {
    let result = within(timeout, async {
        Ok(redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query_async::<()>(conn)
            .await?)
    })
    .await;
    match result {
        Err(BackendError::Redis(e)) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

fn is_nogroup(e: &BackendError) -> bool {
    matches!(e, BackendError::Redis(r) if r.code() == Some("NOGROUP"))
}

/// The time part of a stream id (`<ms>-<seq>`).
fn id_time(id: &str) -> DateTime<Utc> {
    id.split_once('-')
        .and_then(|(ms, _)| ms.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(Utc::now)
}

fn delivery(entry: &StreamId, attempts: u32) -> Delivery {
    let data = match entry.map.get("data") {
        Some(Value::BulkString(bytes)) => String::from_utf8(bytes.clone()).ok(),
        Some(Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    };
    Delivery {
        id: entry.id.clone(),
        data,
        queued_at: id_time(&entry.id),
        attempts,
    }
}

#[async_trait]
impl Queue for RedisQueue {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn push(&self, data: &str) -> Result<String, BackendError> {
        let mut conn = self.conn.clone();
        within(self.timeout, async {
            Ok(redis::cmd("XADD")
                .arg(&self.stream)
                .arg("*")
                .arg("data")
                .arg(data)
                .query_async::<String>(&mut conn)
                .await?)
        })
        .await
    }

    async fn consumer(&self, name: &str) -> Result<Box<dyn Consumer>, BackendError> {
        Ok(Box::new(RedisConsumer {
            queue: self.clone(),
            name: name.to_owned(),
            conn: None,
            cursor: "0-0".into(),
            next_reclaim: Instant::now(),
        }))
    }

    async fn counts(&self) -> Result<QueueCounts, BackendError> {
        let query = || {
            let mut conn = self.conn.clone();
            async move {
                let (len, pending, dead): (u64, Value, u64) = redis::pipe()
                    .atomic()
                    .cmd("XLEN")
                    .arg(&self.stream)
                    .cmd("XPENDING")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .cmd("XLEN")
                    .arg(&self.dead)
                    .query_async(&mut conn)
                    .await?;
                let pending = match pending {
                    Value::Array(items) => match items.first() {
                        Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                        _ => 0,
                    },
                    _ => 0,
                };
                Ok::<_, BackendError>(QueueCounts {
                    queued: len.saturating_sub(pending),
                    in_progress: pending,
                    failed: dead,
                })
            }
        };
        match within(self.timeout, query()).await {
            Err(e) if is_nogroup(&e) => {
                self.ensure_group().await?;
                within(self.timeout, query()).await
            }
            other => other,
        }
    }

    async fn redeliverable(&self) -> Result<u64, BackendError> {
        let idle = u64::try_from(self.claim_idle.as_millis()).unwrap_or(u64::MAX);
        let query = || {
            let mut conn = self.conn.clone();
            async move {
                // The extended form lists the entries idle at least `idle` ms.
                let entries: Vec<Value> = redis::cmd("XPENDING")
                    .arg(&self.stream)
                    .arg(GROUP)
                    .arg("IDLE")
                    .arg(idle)
                    .arg("-")
                    .arg("+")
                    .arg(10_000)
                    .query_async(&mut conn)
                    .await?;
                Ok::<_, BackendError>(entries.len() as u64)
            }
        };
        match within(self.timeout, query()).await {
            Err(e) if is_nogroup(&e) => Ok(0),
            other => other,
        }
    }

    async fn ping(&self) -> Result<(), BackendError> {
        let mut conn = self.conn.clone();
        within(self.timeout, async {
            Ok(redis::cmd("PING").query_async::<()>(&mut conn).await?)
        })
        .await
    }
}

/// A consumer of the group, with a connection of its own (its `XREADGROUP ... BLOCK`
/// must not hold up anybody else's commands; in a cluster, a cluster connection of its
/// own).
struct RedisConsumer {
    queue: RedisQueue,
    name: String,
    conn: Option<Conn>,
    /// Where the next `XAUTOCLAIM` scan starts.
    cursor: String,
    next_reclaim: Instant,
}

impl RedisConsumer {
    async fn conn(&mut self, wait: Duration) -> Result<Conn, BackendError> {
        if let Some(conn) = &self.conn {
            return Ok(conn.clone());
        }
        let timeout = self.queue.timeout;
        let conn = self.queue.opener.open(timeout, timeout + wait).await?;
        self.conn = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `f` on this consumer's connection; on a connection error the connection is
    /// dropped (the next call opens a new one).
    async fn run<T, F, Fut>(&mut self, wait: Duration, f: F) -> Result<T, BackendError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let conn = self.conn(wait).await?;
        let limit = self.queue.timeout + wait;
        let result = within(limit, async { Ok(f(conn).await?) }).await;
        if let Err(e) = &result
            && e.is_unreachable()
        {
            self.conn = None;
        }
        result
    }

    async fn reclaim(&mut self, max: usize) -> Result<Vec<Delivery>, BackendError> {
        let (stream, name, cursor) = (
            self.queue.stream.clone(),
            self.name.clone(),
            self.cursor.clone(),
        );
        let idle = u64::try_from(self.queue.claim_idle.as_millis()).unwrap_or(u64::MAX);
        let reply: StreamAutoClaimReply = self
            .run(Duration::ZERO, |mut c| async move {
                redis::cmd("XAUTOCLAIM")
                    .arg(&stream)
                    .arg(GROUP)
                    .arg(&name)
                    .arg(idle)
                    .arg(&cursor)
                    .arg("COUNT")
                    .arg(max)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if reply.next_stream_id == "0-0" {
            // A full pass: look again in a while.
            self.cursor = "0-0".into();
            self.next_reclaim =
                Instant::now() + (self.queue.claim_idle / 4).max(Duration::from_millis(50));
        } else {
            self.cursor = reply.next_stream_id;
        }
        if reply.claimed.is_empty() {
            return Ok(Vec::new());
        }
        // Delivery counts of what we now hold (XAUTOCLAIM counted this delivery).
        let (first, last) = (
            reply
                .claimed
                .first()
                .map(|e| e.id.clone())
                .unwrap_or_default(),
            reply
                .claimed
                .last()
                .map(|e| e.id.clone())
                .unwrap_or_default(),
        );
        let (stream, name) = (self.queue.stream.clone(), self.name.clone());
        let count = reply.claimed.len() * 2 + 16;
        let pending: StreamPendingCountReply = self
            .run(Duration::ZERO, |mut c| async move {
                redis::cmd("XPENDING")
                    .arg(&stream)
                    .arg(GROUP)
                    .arg(&first)
                    .arg(&last)
                    .arg(count)
                    .arg(&name)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let counts: HashMap<&str, usize> = pending
            .ids
            .iter()
            .map(|p| (p.id.as_str(), p.times_delivered))
            .collect();
        let out = reply
            .claimed
            .iter()
            .map(|e| {
                let n = counts.get(e.id.as_str()).copied().unwrap_or(2);
                delivery(e, u32::try_from(n).unwrap_or(u32::MAX))
            })
            .collect::<Vec<_>>();
        metrics::counter!("multivac_reclaimed_total").increment(out.len() as u64);
        Ok(out)
    }

    async fn read_new(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BackendError> {
        let (stream, name) = (self.queue.stream.clone(), self.name.clone());
        let block = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        let reply: Option<StreamReadReply> = self
            .run(wait, |mut c| async move {
                redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(&name)
                    .arg("COUNT")
                    .arg(max)
                    .arg("BLOCK")
                    .arg(block)
                    .arg("STREAMS")
                    .arg(&stream)
                    .arg(">")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(reply
            .map(|r| {
                r.keys
                    .iter()
                    .flat_map(|k| k.ids.iter().map(|e| delivery(e, 1)))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn fetch_once(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, BackendError> {
        if Instant::now() >= self.next_reclaim {
            let reclaimed = self.reclaim(max).await?;
            if !reclaimed.is_empty() {
                return Ok(reclaimed);
            }
        }
        self.read_new(max, wait).await
    }
}

#[async_trait]
impl Consumer for RedisConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        match self.fetch_once(max, wait).await {
            Err(e) if is_nogroup(&e) => {
                // The stream or its group vanished (e.g. deleted by hand): recreate.
                let timeout = self.queue.timeout;
                let stream = self.queue.stream.clone();
                let mut conn = self.conn(Duration::ZERO).await?;
                ensure_group(&mut conn, &stream, timeout).await?;
                self.fetch_once(max, wait).await
            }
            other => other,
        }
    }

    async fn ack(&mut self, ids: &[String]) -> Result<(), BackendError> {
        if ids.is_empty() {
            return Ok(());
        }
        let stream = self.queue.stream.clone();
        self.run(Duration::ZERO, |mut c| async move {
            redis::pipe()
                .atomic()
                .cmd("XACK")
                .arg(&stream)
                .arg(GROUP)
                .arg(ids)
                .ignore()
                .cmd("XDEL")
                .arg(&stream)
                .arg(ids)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn dead_letter(&mut self, item: &Delivery, reason: &str) -> Result<(), BackendError> {
        let (stream, dead) = (self.queue.stream.clone(), self.queue.dead.clone());
        self.run(Duration::ZERO, |mut c| async move {
            redis::pipe()
                .atomic()
                .cmd("XADD")
                .arg(&dead)
                .arg("*")
                .arg("id")
                .arg(&item.id)
                .arg("data")
                .arg(item.data.as_deref().unwrap_or(""))
                .arg("attempts")
                .arg(item.attempts)
                .arg("reason")
                .arg(reason)
                .ignore()
                .cmd("XACK")
                .arg(&stream)
                .arg(GROUP)
                .arg(&item.id)
                .ignore()
                .cmd("XDEL")
                .arg(&stream)
                .arg(&item.id)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn close(mut self: Box<Self>) {
        // Leave the group only when holding nothing (DELCONSUMER drops what the
        // consumer holds, which must instead be reclaimed by another).
        let (stream, name) = (self.queue.stream.clone(), self.name.clone());
        let held: Result<StreamPendingCountReply, _> = self
            .run(Duration::ZERO, |mut c| {
                let (stream, name) = (stream.clone(), name.clone());
                async move {
                    redis::cmd("XPENDING")
                        .arg(&stream)
                        .arg(GROUP)
                        .arg("-")
                        .arg("+")
                        .arg(1)
                        .arg(&name)
                        .query_async(&mut c)
                        .await
                }
            })
            .await;
        if held.is_ok_and(|p| p.ids.is_empty()) {
            let _ = self
                .run(Duration::ZERO, |mut c| async move {
                    redis::cmd("XGROUP")
                        .arg("DELCONSUMER")
                        .arg(&stream)
                        .arg(GROUP)
                        .arg(&name)
                        .query_async::<()>(&mut c)
                        .await
                })
                .await;
        }
    }
}
