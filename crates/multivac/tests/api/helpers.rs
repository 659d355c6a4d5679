//! `spawn_app`: the real MultiVAC application on a free port, over a backend kind
//! (SQLite, or Redis + PostgreSQL: plain, both over TLS, or a Redis Cluster), with a
//! fresh database and key prefix per test.

#![allow(dead_code)]

use std::time::Duration;

use kit::{auth::Tokens, config::Secret, http::HttpConfig};
use multivac::{
    Backends,
    config::{BackendArgs, Resolved, Tuning},
    http::Stats,
    worker::{StepOutcome, Worker, WorkerSettings},
};
use serde_json::Value;
use testkit::TestServer;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A backend combination: `Sqlite` (SQLite queue and store, the embedded default),
/// `RedisPostgres` (Redis Streams queue, PostgreSQL store: production), and the same over
/// TLS (`RedisTlsPostgresTls`) or with the queue on a Redis Cluster
/// (`RedisClusterPostgres`).
pub use testkit::Backend as Kind;

/// The URL of a fresh database on the TLS-only PostgreSQL, its certificate verified.
pub async fn fresh_verified_tls_database() -> String {
    format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        testkit::pg::fresh_tls_database().await,
        testkit::tls::private_ca().display()
    )
}

/// Open backends and what keeps them alive.
pub struct Env {
    pub kind: Kind,
    pub backends: Backends,
    pub tuning: Tuning,
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
    pub redis_prefix: String,
}

/// Fast claim idle time, so that tests see redeliveries quickly.
pub fn fast_tuning() -> Tuning {
    Tuning {
        claim_idle: Duration::from_millis(300),
        ..Tuning::default()
    }
}

pub async fn env(kind: Kind, tuning: Tuning) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let prefix = testkit::redis_env::unique_prefix("multivac:");
    let (redis, pg) = match kind {
        Kind::Sqlite => (None, None),
        Kind::RedisPostgres => (
            Some(testkit::redis_env::multivac_url()),
            Some(testkit::pg::fresh_database().await),
        ),
        Kind::RedisTlsPostgresTls => (
            Some(testkit::redis_env::tls_multivac_url()),
            Some(fresh_verified_tls_database().await),
        ),
        Kind::RedisClusterPostgres => (
            Some(testkit::redis_env::cluster_multivac_url()),
            Some(testkit::pg::fresh_database().await),
        ),
        other => panic!("multivac runs on SQLite or on Redis and PostgreSQL, not {other:?}"),
    };
    env_with(kind, tuning, dir, redis, pg, prefix).await
}

pub async fn env_with(
    kind: Kind,
    tuning: Tuning,
    dir: tempfile::TempDir,
    redis: Option<String>,
    pg: Option<String>,
    prefix: String,
) -> Env {
    let args = BackendArgs {
        redis_prefix: prefix.clone(),
        redis_cluster: multivac::config::RedisCluster { on: kind.cluster() },
        redis_timeout: Duration::from_millis(1500),
        ..BackendArgs::default()
    };
    let resolved = Resolved {
        redis_url: redis.map(Secret::new),
        database_url: pg.clone().map(Secret::new),
        data_dir: dir.path().join("data"),
    };
    let backends = Backends::open(&resolved, &args, &tuning)
        .await
        .expect("open backends");
    Env {
        kind,
        backends,
        tuning,
        dir,
        database_url: pg,
        redis_prefix: prefix,
    }
}

impl Env {
    pub fn settings(&self) -> WorkerSettings {
        WorkerSettings {
            wait: Duration::from_millis(100),
            ..WorkerSettings::from(&self.tuning)
        }
    }

    pub async fn worker(&self) -> Worker {
        Worker::new(
            self.backends.clone(),
            self.settings(),
            &testkit::unique("consumer-"),
        )
        .await
        .expect("worker")
    }

    /// Waits (at most 5 s) until `n` delivered items went unacknowledged past the claim
    /// idle time, so that the next fetch takes them again.
    pub async fn wait_redeliverable(&self, n: u64) {
        let queue = self.backends.queue.clone();
        testkit::eventually("items become redeliverable", Duration::from_secs(5), || {
            let queue = queue.clone();
            async move { (queue.redeliverable().await.expect("redeliverable") >= n).then_some(()) }
        })
        .await;
    }

    /// Steps a fresh worker until the queue is empty; returns the sum of outcomes.
    pub async fn drain(&self) -> StepOutcome {
        let mut w = self.worker().await;
        let mut total = StepOutcome::default();
        loop {
            let o = w.step(Duration::from_millis(50)).await.expect("step");
            if o.fetched == 0 {
                break;
            }
            total.fetched += o.fetched;
            total.stored += o.stored;
            total.acked += o.acked;
            total.dead += o.dead;
            total.left += o.left;
        }
        w.close().await;
        total
    }
}

/// A Redis (one server or a cluster) a test can SIGKILL and start again.
pub trait Killable {
    fn kill9(&mut self);
    async fn restart(&mut self);
}

impl Killable for testkit::redis_server::RedisServer {
    fn kill9(&mut self) {
        Self::kill9(self);
    }
    async fn restart(&mut self) {
        Self::restart(self).await;
    }
}

impl Killable for testkit::redis_server::RedisCluster {
    fn kill9(&mut self) {
        Self::kill9(self);
    }
    async fn restart(&mut self) {
        Self::restart(self).await;
    }
}

testkit::test_app! {
    /// A running MultiVAC API (no worker).
    pub struct TestApp {
        pub env: Env,
    }
}

pub async fn spawn_app(kind: Kind) -> TestApp {
    spawn_app_with(env(kind, fast_tuning()).await, 64 * 1024).await
}

pub async fn spawn_app_with(env: Env, max_data: usize) -> TestApp {
    let config = multivac::Config {
        max_data,
        ..multivac::Config::for_tests()
    };
    let app = multivac::app(
        &env.backends,
        &config,
        Tokens::parse(TOKEN),
        &HttpConfig::default(),
    );
    TestApp {
        server: TestServer::start(app).await,
        env,
    }
}

impl TestApp {
    /// `POST /multivac/data` with the token and `body` as `content_type`.
    pub async fn post_data(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/multivac/data"))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// `GET /multivac`'s text.
    pub async fn answer(&self) -> String {
        text_plain(self.get("/multivac").await).await
    }

    /// `POST /multivac/data` as a urlencoded form, with the token.
    pub async fn post(&self, data: &str) -> reqwest::Response {
        self.client
            .post(self.url("/multivac/data"))
            .bearer_auth(TOKEN)
            .form(&[("data", data)])
            .send()
            .await
            .unwrap()
    }

    pub async fn post_ok(&self, data: &str) {
        let r = self.post(data).await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        assert_eq!(
            r.text().await.unwrap(),
            r#"{"response":"MultiVAC updated!"}"#
        );
    }

    pub async fn delete(&self) -> reqwest::Response {
        self.client
            .delete(self.url("/multivac/zzz/"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn stats(&self) -> Stats {
        let r = self.get("/multivac/stats").await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

/// Asserts a 200 `text/plain` response; returns its text.
pub async fn text_plain(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    r.text().await.unwrap()
}

/// The stats `GET /multivac/stats` should show.
pub fn stats(queued: u64, in_progress: u64, processed: u64, failed: u64) -> Stats {
    Stats {
        queued,
        in_progress,
        processed,
        failed,
    }
}

/// Asserts a problem+json response with `status`; returns its body.
pub async fn problem(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], status);
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()));
    v
}
