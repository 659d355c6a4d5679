//! The store trait and its backends. No HTTP here.
//!
//! Both backends give the same guarantees, checked by one conformance suite:
//! - [`Store::set`] tells a new key from a replaced one *atomically*, in one round trip
//!   (Redis: `SET key value GET`; SQLite: one upsert with `RETURNING`), so two clients
//!   writing the same new key concurrently get exactly one [`SetOutcome::Created`];
//! - a write is acknowledged only once it is durable (Redis: AOF with
//!   `appendfsync always`; SQLite: WAL with `synchronous=FULL`).

pub mod redis;
pub mod sqlite;

use async_trait::async_trait;

/// What a [`Store::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The key did not exist; it does now.
    Created,
    /// The key existed; its value was replaced.
    Replaced,
}

/// A store failure. Inputs are validated before they reach a store, so every failure
/// here is the server's side.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store does not answer (down, restarting, unreachable, timed out): worth
    /// retrying later.
    #[error("the store is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else.
    #[error("the store failed")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A key-value store.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The value of `id`, if any.
    async fn get(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// Sets `id` to `data`, durably, and says whether the key was new; atomic.
    async fn set(&self, id: &str, data: &str) -> Result<SetOutcome, StoreError>;

    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Which backend this is, for logs and the health check's name.
    fn backend(&self) -> &'static str;
}
