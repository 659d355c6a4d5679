//! Against Redis started from the shipped `deploy/redis` config: the ACL, durability
//! across a SIGKILL of Redis, and failing fast (503) while Redis is down.

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kv::store::{
    SetOutcome, Store as _,
    redis::{RedisStore, SetupError},
};
use serde_json::Value;
use testkit::redis_server::RedisServer;

use crate::helpers::{Backend, Options, TestApp, spawn_with};

pub(crate) async fn redis_error(
    url: &str,
    args: &[&str],
) -> Result<redis::Value, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut conn).await
}

/// The value of `key` read straight from Redis at `url` (`None`: no such key).
pub(crate) async fn raw_get(url: &str, key: &str) -> Option<String> {
    match redis_error(url, &["GET", key]).await.expect("GET") {
        redis::Value::BulkString(bytes) => Some(String::from_utf8(bytes).expect("UTF-8")),
        redis::Value::Nil => None,
        other => panic!("GET {key}: {other:?}"),
    }
}

/// The shared test Redis' URL without credentials: the `default` user.
fn anonymous(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{host}")
}

#[tokio::test]
async fn the_default_user_is_refused_and_kv_will_not_start_as_it() {
    let anonymous = anonymous(&testkit::redis_env::kv_url());
    let err = redis_error(&anonymous, &["PING"]).await.unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
    let err = redis_error(&anonymous, &["SET", "kv:x", "1"])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");

    // kv refuses to start rather than run without its user...
    let err = RedisStore::connect(&anonymous, None, "kv:", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, SetupError::Refused(_)), "{err:?}");
    // ...or with a wrong password.
    let wrong = testkit::redis_env::kv_url().replacen("kv:", "kv:x", 1);
    let err = RedisStore::connect(&wrong, None, "kv:", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, SetupError::Refused(_)), "{err:?}");
}

#[tokio::test]
async fn the_kv_user_cannot_touch_keys_outside_its_pattern() {
    let kv = testkit::redis_env::kv_url();
    for args in [
        &["SET", "foo", "1"][..],
        &["GET", "multivac:anything"],
        &["SET", "multivac:x", "1", "GET"],
        &["DEL", "other:1"],
        &["FLUSHALL"],
        &["FLUSHDB"],
        &["KEYS", "*"],
        &["CONFIG", "GET", "dir"],
        &["EVAL", "return 1", "0"],
    ] {
        let err = redis_error(&kv, args).await.unwrap_err();
        assert_eq!(err.code(), Some("NOPERM"), "{args:?}: {err}");
    }
    // What kv needs works, inside its pattern.
    let key = format!("{}probe", testkit::redis_env::unique_prefix("kv:"));
    assert_eq!(
        redis_error(&kv, &["SET", &key, "1", "GET"]).await.unwrap(),
        redis::Value::Nil
    );
    assert_eq!(
        redis_error(&kv, &["SET", &key, "2", "GET"]).await.unwrap(),
        redis::Value::BulkString(b"1".to_vec())
    );
    // kv configured with a prefix its user may not use refuses to start.
    let err = RedisStore::connect(&kv, None, "other:", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, SetupError::Refused(_)), "{err:?}");
}

/// A kv service on a Redis of the test's own.
pub(crate) async fn app_on(server: &RedisServer) -> TestApp {
    app_at(Backend::Redis, server.url("kv")).await
}

/// kv on `backend` at `redis_url` (a Redis of the test's own), keys under `kv:`.
pub(crate) async fn app_at(backend: Backend, redis_url: String) -> TestApp {
    spawn_with(
        backend,
        Options {
            redis_url: Some(redis_url),
            prefix: Some("kv:".into()),
            ..Options::default()
        },
    )
    .await
}

pub(crate) async fn wait_healthy(app: &TestApp, within: Duration) {
    let start = Instant::now();
    loop {
        if app.get("/healthcheck").await.status() == 200 {
            return;
        }
        assert!(
            start.elapsed() < within,
            "/healthcheck not 200 within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_acknowledged_writes_survive_a_sigkill_of_redis() {
    const N: usize = 10_000;
    let mut server = RedisServer::start().await;
    let app = app_on(&server).await;
    let value = |i: usize| format!("value {i} ✓ {}", "v".repeat(i % 97));

    let statuses: Vec<u16> = stream::iter(0..N)
        .map(|i| {
            let app = &app;
            async move {
                app.set(&format!("key-{i}"), &value(i))
                    .await
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| *s == 201),
        "every write acknowledged as new"
    );

    // No shutdown, no final fsync: whatever was acknowledged must be in the AOF.
    server.kill9();
    server.restart().await;

    let admin = server.url("admin");
    assert_eq!(
        redis_error(&admin, &["DBSIZE"]).await.unwrap(),
        redis::Value::Int(i64::try_from(N).unwrap())
    );
    // The same berth app, never restarted, reconnects and reads every value back.
    wait_healthy(&app, Duration::from_secs(10)).await;
    let wrong: Vec<usize> = stream::iter(0..N)
        .map(|i| {
            let app = &app;
            async move {
                let got = app.data(&format!("key-{i}")).await;
                (got.as_deref() != Some(value(i).as_str())).then_some(i)
            }
        })
        .buffer_unordered(64)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    assert!(
        wrong.is_empty(),
        "{} keys lost or wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
}

/// A Redis (one server or a cluster) a test can SIGKILL and start again.
pub(crate) trait Killable {
    fn kill9(&mut self);
    async fn restart(&mut self);
}

impl Killable for RedisServer {
    fn kill9(&mut self) {
        RedisServer::kill9(self);
    }
    async fn restart(&mut self) {
        RedisServer::restart(self).await;
    }
}

impl Killable for testkit::redis_server::RedisCluster {
    fn kill9(&mut self) {
        testkit::redis_server::RedisCluster::kill9(self);
    }
    async fn restart(&mut self) {
        testkit::redis_server::RedisCluster::restart(self).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_a_fast_503_and_kv_recovers_by_itself() {
    let mut server = RedisServer::start().await;
    let app = app_on(&server).await;
    fast_503s_while_down_then_recovery(&mut server, &app).await;
}

/// With `app` on `redis`: Redis killed, every request is a fast 503 (readiness names
/// the check, a write stores nothing); Redis back, kv answers again by itself.
pub(crate) async fn fast_503s_while_down_then_recovery(redis: &mut impl Killable, app: &TestApp) {
    assert_eq!(app.set("before", "1").await.status(), 201);
    wait_healthy(app, Duration::from_secs(5)).await;

    redis.kill9();
    for _ in 0..3 {
        let start = Instant::now();
        let r = app.get("/healthcheck").await;
        assert_eq!(r.status(), 503);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "failure");
        assert!(body["checks"]["redis"].is_string(), "{body}");

        let r = app.set("during", "x").await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let problem: Value = r.json().await.unwrap();
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("unavailable"), "{detail}");
        assert!(!detail.contains("redis://"), "nothing internal: {detail}");

        let r = app.get("/get/before").await;
        assert_eq!(r.status(), 503);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "503s must come fast, took {:?}",
            start.elapsed()
        );
    }

    redis.restart().await;
    wait_healthy(app, Duration::from_secs(10)).await;
    assert_eq!(app.set("after", "2").await.status(), 201);
    assert_eq!(app.data("before").await.as_deref(), Some("1"));
    assert_eq!(app.data("during").await, None, "a 503 stored nothing");
    assert_eq!(app.set("before", "3").await.status(), 200);
}

#[tokio::test]
async fn configuration_picks_the_store_and_injects_the_password_file() {
    use kit::config::{Common, Secret};

    // Nothing configured: SQLite in the data directory.
    let dir = tempfile::tempdir().unwrap();
    let config = kv::Config::for_tests();
    let app = crate::helpers::spawn_configured(&config, &Common::for_tests(dir.path())).await;
    assert_eq!(app.set("cfg", "sqlite").await.status(), 201);
    assert!(dir.path().join("kv.db").is_file());

    // kv's own URL without a password + KV_REDIS_PASSWORD_FILE.
    let url = testkit::redis_env::kv_url();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (creds, host) = rest.rsplit_once('@').unwrap();
    let (user, password) = creds.split_once(':').unwrap();
    let password_file = dir.path().join("redis-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let prefix = testkit::redis_env::unique_prefix("kv:");
    let mut config = kv::Config::for_tests();
    config.redis = kv::RedisUrl::given(format!("{scheme}://{user}@{host}"));
    config.redis_password_file = Some(password_file);
    config.prefix.clone_from(&prefix);
    let app = crate::helpers::spawn_configured(&config, &Common::for_tests(dir.path())).await;
    assert_eq!(app.set("cfg", "redis").await.status(), 201);
    let admin = testkit::redis_env::admin_url();
    assert_eq!(
        raw_get(&admin, &format!("{prefix}cfg")).await.as_deref(),
        Some("redis")
    );

    // No URL of kv's own: the process-wide REDIS_URL.
    let prefix = testkit::redis_env::unique_prefix("kv:");
    let mut config = kv::Config::for_tests();
    config.prefix.clone_from(&prefix);
    let mut common = Common::for_tests(dir.path());
    common.redis_url = Some(Secret::new(url.clone()));
    let app = crate::helpers::spawn_configured(&config, &common).await;
    assert_eq!(app.set("cfg", "shared").await.status(), 201);
    assert_eq!(
        raw_get(&admin, &format!("{prefix}cfg")).await.as_deref(),
        Some("shared")
    );
}

#[tokio::test]
async fn kv_reaches_redis_over_a_unix_socket() {
    let server = RedisServer::start().await;
    store_round_trip(&server.unix_url("kv"), &server.url("admin"), "unix", "1").await;
}

/// Connects a store to `url` (keys under `kv:`), stores `key` = `value` through it
/// (new), and reads it back through it and straight from Redis as `admin_url`.
pub(crate) async fn store_round_trip(url: &str, admin_url: &str, key: &str, value: &str) {
    let store = RedisStore::connect(url, None, "kv:", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(store.set(key, value).await.unwrap(), SetOutcome::Created);
    assert_eq!(store.get(key).await.unwrap().as_deref(), Some(value));
    let raw = raw_get(admin_url, &format!("kv:{key}")).await;
    assert_eq!(raw.as_deref(), Some(value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_requests_after_a_redis_restart_are_answered() {
    let mut server = RedisServer::start().await;
    let app = app_on(&server).await;
    assert_eq!(app.set("kept", "1").await.status(), 201);

    // Redis goes away and comes back while kv is idle: kv's connection died with it.
    server.restart().await;
    // The first command is a write, which kv never sends twice: it is answered only
    // because the dead connection was forgotten when it ended, not when a request
    // failed on it.
    let r = app.set("fresh", "2").await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(app.data("kept").await.as_deref(), Some("1"));
    assert_eq!(app.get("/healthcheck").await.status(), 200);
}
