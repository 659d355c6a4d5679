//! The Redis backend: keys `<prefix><id>` holding the value as a string.
//!
//! One multiplexed connection (a [`ConnectionManager`]) serves every request and
//! reconnects by itself after Redis went away. Every command is bounded by a short
//! timeout, so that while Redis is down requests fail fast with 503 instead of
//! hanging; the first command after Redis is back succeeds again.
//!
//! `set` is `SET key value GET`: one atomic command (Redis ≥ 6.2) that stores the value
//! and returns the previous one, nil when the key was new. The shipped ACL lets the
//! `kv` user run it (`+set` on `~kv:*`, which is read-write).

use std::{sync::RwLock, time::Duration};

use async_trait::async_trait;
use redis::{
    Client, ErrorKind, IntoConnectionInfo, RedisError, ServerErrorKind, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};

use super::{SetOutcome, Store, StoreError};

/// Key-value pairs in Redis, under a prefix.
pub struct RedisStore {
    client: Client,
    config: ConnectionManagerConfig,
    manager: RwLock<ConnectionManager>,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

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
    /// The connection is made lazily: when Redis does not answer yet, the store is
    /// returned anyway (readiness reports it) and connects as soon as Redis is up. A
    /// Redis that answers but refuses us (credentials, ACL) is an error.
    pub async fn connect(
        url: &str,
        password: Option<&str>,
        prefix: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, SetupError> {
        let mut info = url.into_connection_info().map_err(SetupError::Url)?;
        if let Some(password) = password
            && info.redis_settings().password().is_none()
        {
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = Client::open(info).map_err(SetupError::Url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            // No response timeout of the connection's own: `run` bounds every command
            // already, and a second timer per command costs a request a registration
            // in the runtime's timer wheel for nothing.
            .set_response_timeout(None)
            // Fail fast while Redis is down: one attempt per command; the next command
            // tries again.
            .set_number_of_retries(0)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(SetupError::Url)?;
        let store = Self {
            client,
            config,
            manager: RwLock::new(manager),
            prefix: prefix.into(),
            timeout,
        };
        let ping = redis::cmd("PING");
        match tokio::time::timeout(timeout, send(store.manager(), &ping)).await {
            Err(_) => tracing::warn!("Redis does not answer yet; kv will connect when it does"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == ErrorKind::AuthenticationFailed => {
                return Err(SetupError::Refused(e));
            }
            Ok(Err(e)) => match store.classify(e.clone()) {
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
        if let Ok(Err(e)) = tokio::time::timeout(timeout, send(store.manager(), &probe)).await
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

    fn manager(&self) -> ConnectionManager {
        self.manager
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the connection manager. The manager reconnects by itself after I/O
    /// errors, but not when the *handshake* of a new connection fails otherwise (e.g.
    /// `LOADING` while a restarted Redis replays its AOF): then it would keep
    /// returning that error. A fresh manager starts over.
    fn renew(&self) {
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone()) {
            Ok(fresh) => {
                *self
                    .manager
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
            }
            Err(e) => tracing::warn!(error = %e, "cannot renew the Redis connection"),
        }
    }

    /// Runs one command under the timeout and classifies its failure.
    async fn run(&self, cmd: &redis::Cmd) -> Result<Value, StoreError> {
        match tokio::time::timeout(self.timeout, send(self.manager(), cmd)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.classify(e)),
            Err(elapsed) => Err(StoreError::Unavailable(Box::new(elapsed))),
        }
    }

    fn classify(&self, e: RedisError) -> StoreError {
        match e.kind() {
            ErrorKind::Io
            | ErrorKind::Server(
                ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown,
            ) => StoreError::Unavailable(Box::new(e)),
            ErrorKind::Server(ServerErrorKind::BusyLoading) | ErrorKind::AuthenticationFailed => {
                // Possibly a failed handshake the manager will not retry by itself.
                self.renew();
                StoreError::Unavailable(Box::new(e))
            }
            _ => StoreError::Other(Box::new(e)),
        }
    }
}

/// Sends one command; an error reply of the server is an `Err`, not a `Value`.
async fn send(mut conn: ConnectionManager, cmd: &redis::Cmd) -> redis::RedisResult<Value> {
    conn.send_packed_command(cmd)
        .await
        .and_then(Value::extract_error)
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
