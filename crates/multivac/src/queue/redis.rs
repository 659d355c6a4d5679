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

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::{
    AsyncConnectionConfig, Client, RedisError, Value,
    aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection},
    streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply},
};

use super::{Consumer, Delivery, Queue, QueueCounts};
use crate::error::{BackendError, within};

/// The consumer group every worker joins.
pub const GROUP: &str = "workers";

/// The Redis Streams queue.
#[derive(Clone)]
pub struct RedisQueue {
    client: Client,
    conn: ConnectionManager,
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
    /// Connects to `url` (keys `<prefix>queue` and `<prefix>dead`) and creates the
    /// stream and its group if missing. `timeout` bounds each command.
    pub async fn connect(
        url: &str,
        prefix: &str,
        claim_idle: Duration,
        timeout: Duration,
    ) -> Result<Self, BackendError> {
        let client = Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let conn = within(timeout * 3, async {
            Ok(ConnectionManager::new_with_config(client.clone(), config).await?)
        })
        .await?;
        let queue = Self {
            client,
            conn,
            stream: format!("{prefix}queue"),
            dead: format!("{prefix}dead"),
            claim_idle,
            timeout,
        };
        queue.ensure_group().await?;
        Ok(queue)
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
/// must not hold up anybody else's commands).
struct RedisConsumer {
    queue: RedisQueue,
    name: String,
    conn: Option<MultiplexedConnection>,
    /// Where the next `XAUTOCLAIM` scan starts.
    cursor: String,
    next_reclaim: Instant,
}

impl RedisConsumer {
    async fn conn(&mut self, wait: Duration) -> Result<MultiplexedConnection, BackendError> {
        if let Some(conn) = &self.conn {
            return Ok(conn.clone());
        }
        let timeout = self.queue.timeout;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout + wait));
        let conn = self
            .queue
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        self.conn = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `f` on this consumer's connection; on a connection error the connection is
    /// dropped (the next call opens a new one).
    async fn run<T, F, Fut>(&mut self, wait: Duration, f: F) -> Result<T, BackendError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
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
