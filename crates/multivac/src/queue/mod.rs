//! The queue: at-least-once delivery with leases, behind [`Queue`] and [`Consumer`].
//!
//! A pushed item is durable once [`Queue::push`] returns. A [`Consumer`] takes items;
//! each stays leased to it until acknowledged. An item whose consumer died (not
//! acknowledged within the claim idle time) is delivered again, its attempt count
//! increased. The worker stores an item keyed by its queue id before acknowledging it,
//! so a second delivery is harmless: the effect is exactly once.
//!
//! Backends: [`redis::RedisQueue`] (a Stream with a consumer group) and
//! [`sqlite::SqliteQueue`] (a table with leases).

pub mod redis;
pub mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::BackendError;

/// One delivery of a queued item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The item's id in the queue.
    pub id: String,
    /// The datum; `None` when the entry is malformed (not written by MultiVAC).
    pub data: Option<String>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// Deliveries so far, this one included (1 on the first).
    pub attempts: u32,
}

/// How many items are where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Waiting, never delivered (or whose lease expired, for SQLite).
    pub queued: u64,
    /// Delivered and not yet acknowledged.
    pub in_progress: u64,
    /// Moved to the dead letters.
    pub failed: u64,
}

/// A durable queue.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// `redis` or `sqlite`.
    fn kind(&self) -> &'static str;
    /// Queues a datum durably; returns its id.
    async fn push(&self, data: &str) -> Result<String, BackendError>;
    /// A consumer named `name` (unique per worker loop).
    async fn consumer(&self, name: &str) -> Result<Box<dyn Consumer>, BackendError>;
    /// How many items are queued, in progress and failed.
    async fn counts(&self) -> Result<QueueCounts, BackendError>;
    /// How many delivered items have gone unacknowledged for longer than the claim idle
    /// time (their worker died, or is stuck): the next consumer that fetches takes them
    /// again. Reads only; at most 10,000 are counted.
    async fn redeliverable(&self) -> Result<u64, BackendError>;
    /// Whether the queue answers.
    async fn ping(&self) -> Result<(), BackendError>;
}

/// One worker loop's handle on the queue.
#[async_trait]
pub trait Consumer: Send {
    /// Takes up to `max` items: first items whose previous consumer left them idle
    /// longer than the claim idle time, else new ones, waiting at most `wait` for one.
    /// Returns an empty list when there is nothing.
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError>;
    /// Acknowledges (and removes) items: they will not be delivered again.
    async fn ack(&mut self, ids: &[String]) -> Result<(), BackendError>;
    /// Moves an item to the dead letters (and acknowledges it).
    async fn dead_letter(&mut self, item: &Delivery, reason: &str) -> Result<(), BackendError>;
    /// Leaves the queue (items still held stay leased until reclaimed).
    async fn close(self: Box<Self>);
}
