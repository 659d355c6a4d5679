//! MultiVAC through the real router and server, on every backend: each behaviour is
//! written once and runs on SQLite and on Redis + PostgreSQL (plain, both over TLS,
//! and the queue on a Redis Cluster: the conformance suite), then the tests particular
//! to a backend (`tls_cluster`: certificates and cluster mode).

mod helpers;
mod tls_cluster;

use std::time::Duration;

use helpers::{
    Kind, TOKEN, env, fast_tuning, problem, spawn_app, spawn_app_with, stats, text_plain,
};
use multivac::{
    http::INSUFFICIENT,
    process::process,
    worker::{StepOutcome, WorkerSettings},
};
use serde_json::{Value, json};

testkit::conformance! {
    sqlite => Kind::Sqlite,
    redis_pg => Kind::RedisPostgres,
    redis_tls_pg_tls => Kind::RedisTlsPostgresTls,
    redis_cluster_pg => Kind::RedisClusterPostgres;
    [the_originals_texts, the_answer_flips_only_after_the_worker_processed, form_multipart_and_json_are_accepted, bad_input_is_a_4xx_and_queues_nothing,
        forms_take_the_field_data_once_and_nothing_else, mutations_need_a_valid_token, zzz_deletes_the_oldest_processed_record, a_redelivered_item_is_stored_once, an_item_past_its_attempts_is_dead_lettered, a_stored_but_unacknowledged_item_is_not_dead_lettered, concurrent_workers_store_each_item_once, health_and_metrics]
}

async fn the_originals_texts(kind: Kind) {
    let app = spawn_app(kind).await;
    assert_eq!(text_plain(app.get("/").await).await, "Welcome to MultiVAC!");
    assert_eq!(
        app.answer().await,
        "INSUFFICIENT DATA FOR MEANINGFUL ANSWER."
    );
    assert_eq!(app.stats().await, stats(0, 0, 0, 0));
}

async fn the_answer_flips_only_after_the_worker_processed(kind: Kind) {
    let app = spawn_app(kind).await;
    for d in ["first datum", "second", "third"] {
        app.post_ok(d).await;
    }
    // Queued, not processed: still no answer.
    assert_eq!(app.answer().await, INSUFFICIENT);
    let s = app.stats().await;
    assert_eq!((s.queued, s.in_progress, s.processed), (3, 0, 0));

    // A worker holding the items, not yet done with them: still no answer.
    let mut holder = app.env.backends.queue.consumer("holder").await.unwrap();
    assert_eq!(holder.fetch(10, Duration::ZERO).await.unwrap().len(), 3);
    assert_eq!(app.answer().await, INSUFFICIENT);
    let s = app.stats().await;
    assert_eq!((s.queued, s.in_progress, s.processed), (0, 3, 0));
    drop(holder);
    app.env.wait_redeliverable(3).await;

    let mut w = app.env.worker().await;
    let outcome = w.step(Duration::ZERO).await.unwrap();
    assert_eq!(
        outcome,
        StepOutcome {
            fetched: 3,
            stored: 3,
            acked: 3,
            dead: 0,
            left: 0
        }
    );
    assert_eq!(app.answer().await, "first datum");
    assert_eq!(app.stats().await, stats(0, 0, 3, 0));
}

async fn form_multipart_and_json_are_accepted(kind: Kind) {
    let app = spawn_app(kind).await;
    let url = app.url("/multivac/data");
    let form = reqwest::multipart::Form::new().text("data", "from multipart ☃");
    let post = || app.client.post(&url).bearer_auth(TOKEN);
    let requests = [
        post().form(&[("data", "from a form & more=yes")]),
        post().multipart(form),
        post().json(&json!({"data": "from JSON"})),
    ];
    for request in requests {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(
            r.text().await.unwrap(),
            r#"{"response":"MultiVAC updated!"}"#
        );
    }
    assert_eq!(app.stats().await.queued, 3);
    app.env.drain().await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(app.answer().await);
        assert_eq!(app.delete().await.status(), 200);
    }
    assert_eq!(
        seen,
        ["from a form & more=yes", "from multipart ☃", "from JSON"]
    );
}

/// A form takes the field `data`, once, and nothing else (the rule of every berth body).
async fn forms_take_the_field_data_once_and_nothing_else(kind: Kind) {
    let app = spawn_app(kind).await;
    let url = app.url("/multivac/data");
    let post = || app.client.post(&url).bearer_auth(TOKEN);
    let v = problem(post().form(&[("other", "x")]).send().await.unwrap(), 422).await;
    assert_eq!(v["field"], "other");
    let form = |body: &'static str| app.post_data("application/x-www-form-urlencoded", body);
    let v = problem(form("data=x&other=x").await, 422).await;
    assert_eq!(v["field"], "other");
    let v = problem(form("data=x&data=y").await, 422).await;
    assert!(v["detail"].as_str().unwrap().contains("more than once"));
    let extra = reqwest::multipart::Form::new()
        .text("data", "x")
        .text("other", "y");
    let v = problem(post().multipart(extra).send().await.unwrap(), 422).await;
    assert_eq!(v["field"], "other");
    let v = problem(form("").await, 422).await;
    assert!(v["detail"].as_str().unwrap().contains("required"));
    // Urlencoded with invalid percent-encoded UTF-8.
    let v = problem(form("data=%FF%FE").await, 422).await;
    assert!(v["detail"].as_str().unwrap().contains("UTF-8"));
    assert_eq!(app.stats().await.queued, 0, "nothing was queued");
}

async fn bad_input_is_a_4xx_and_queues_nothing(kind: Kind) {
    let app = spawn_app_with(env(kind, fast_tuning()).await, 16).await;
    let url = app.url("/multivac/data");
    let post = || app.client.post(&url).bearer_auth(TOKEN);

    let v = problem(post().form(&[("data", "")]).send().await.unwrap(), 422).await;
    assert!(v["detail"].as_str().unwrap().contains("empty"));
    let v = problem(post().form(&[("data", "a\0b")]).send().await.unwrap(), 422).await;
    assert!(v["detail"].as_str().unwrap().contains("NUL"));
    let v = problem(
        post()
            .form(&[("data", "x".repeat(17))])
            .send()
            .await
            .unwrap(),
        413,
    )
    .await;
    assert_eq!(v["limit"], 16);
    // Exactly the limit is fine (counted in bytes: 8 × 2-byte characters).
    let r = post()
        .form(&[("data", "é".repeat(8))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A body far over any limit: answered 413 from the announced length, so only the
    // head is sent (see `testkit::http::raw_exchange`).
    let head = format!(
        "POST /multivac/data HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: 2000005\r\n\r\n",
        app.addr
    );
    let answer = testkit::http::raw_exchange(app.addr, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    // JSON: not a string, null, missing, malformed, a huge number.
    for body in [
        json!({"data": 42}),
        json!({"data": ["a"]}),
        json!({"data": {"a": 1}}),
    ] {
        let v = problem(post().json(&body).send().await.unwrap(), 422).await;
        assert!(v["detail"].as_str().unwrap().contains("string"), "{body}");
    }
    problem(
        post().json(&json!({"data": null})).send().await.unwrap(),
        422,
    )
    .await;
    problem(post().json(&json!({})).send().await.unwrap(), 422).await;
    // The kit's JSON rules: a repeated or an unknown member is a 422 naming it.
    for (text, field) in [
        (r#"{"data":"a","data":"b"}"#, "data"),
        (r#"{"data":"a","x":1}"#, "x"),
    ] {
        let r = app.post_data("application/json", text).await;
        assert_eq!(problem(r, 422).await["field"], field, "{text}");
    }
    let malformed = app.post_data("application/json", "{\"data\": ").await;
    assert!(malformed.status().is_client_error());
    problem(malformed, 400).await;
    let huge = post()
        .header("content-type", "application/json")
        .body(format!("{{\"data\": {}}}", "9".repeat(400)))
        .send()
        .await
        .unwrap();
    problem(huge, 422).await;
    // Multipart with a non-UTF-8 datum.
    let form = reqwest::multipart::Form::new().part(
        "data",
        reqwest::multipart::Part::bytes(vec![0xff, 0xfe, 0x41]),
    );
    let v = problem(post().multipart(form).send().await.unwrap(), 422).await;
    assert!(v["detail"].as_str().unwrap().contains("UTF-8"));
    // Wrong or missing content type.
    let v = problem(app.post_data("text/plain", "data=x").await, 415).await;
    assert!(v["detail"].as_str().unwrap().contains("text/plain"));
    problem(post().body("data=x").send().await.unwrap(), 415).await;

    // Only the one good datum was queued.
    assert_eq!(app.stats().await.queued, 1);
}

async fn mutations_need_a_valid_token(kind: Kind) {
    let app = spawn_app(kind).await;
    let url = app.url("/multivac/data");
    for auth in [
        None,
        Some("Bearer nope"),
        Some("Basic dGVzdA=="),
        Some(TOKEN),
    ] {
        let mut req = app.client.post(&url).form(&[("data", "x")]);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        problem(r, 401).await;
        let mut req = app.client.delete(app.url("/multivac/zzz/"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        problem(req.send().await.unwrap(), 401).await;
    }
    assert_eq!(app.stats().await.queued, 0);
    // The reads stay open.
    assert_eq!(app.get("/multivac").await.status(), 200);
    assert_eq!(app.get("/multivac/stats").await.status(), 200);
}

async fn zzz_deletes_the_oldest_processed_record(kind: Kind) {
    let app = spawn_app(kind).await;
    let v = problem(app.delete().await, 404).await;
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("no processed record")
    );
    app.post_ok("one").await;
    app.post_ok("two").await;
    // Queued is not processed: nothing to delete yet.
    problem(app.delete().await, 404).await;
    app.env.drain().await;
    let r = app.delete().await;
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    let first = first["deleted"].as_i64().expect("numeric id");
    assert_eq!(app.answer().await, "two");
    let second: Value = app.delete().await.json().await.unwrap();
    assert!(second["deleted"].as_i64().unwrap() > first);
    assert_eq!(app.answer().await, INSUFFICIENT);
    problem(app.delete().await, 404).await;
    assert_eq!(app.stats().await.processed, 0);
}

async fn a_redelivered_item_is_stored_once(kind: Kind) {
    let app = spawn_app(kind).await;
    for i in 0..5 {
        app.post_ok(&format!("item {i}")).await;
    }
    let queue = &app.env.backends.queue;
    // A worker takes them and dies before storing anything.
    let mut dead = queue.consumer("dies-early").await.unwrap();
    let taken = dead.fetch(10, Duration::ZERO).await.unwrap();
    assert_eq!(taken.len(), 5);
    assert!(taken.iter().all(|d| d.attempts == 1));
    drop(dead);
    let s = app.stats().await;
    assert_eq!((s.queued, s.in_progress), (0, 5));
    // Another one takes them again once idle, stores them, and dies before the ack.
    app.env.wait_redeliverable(5).await;
    let mut late = queue.consumer("dies-late").await.unwrap();
    let again = late.fetch(10, Duration::ZERO).await.unwrap();
    assert_eq!(
        again.iter().map(|d| &d.id).collect::<Vec<_>>(),
        taken.iter().map(|d| &d.id).collect::<Vec<_>>()
    );
    assert!(again.iter().all(|d| d.attempts == 2));
    let now = chrono::Utc::now();
    let records: Vec<_> = again
        .iter()
        .map(|d| process(&d.id, d.data.as_deref().unwrap(), d.queued_at, now))
        .collect();
    assert_eq!(app.env.backends.store.insert(&records).await.unwrap(), 5);
    drop(late);
    // A third delivery stores nothing new and acknowledges everything.
    app.env.wait_redeliverable(5).await;
    let total = app.env.drain().await;
    assert_eq!((total.fetched, total.stored, total.acked), (5, 0, 5));
    assert_eq!(app.stats().await, stats(0, 0, 5, 0));
    assert_eq!(app.env.backends.store.insert(&records).await.unwrap(), 0);
    assert_eq!(app.answer().await, "item 0");
}

/// The app with fast redelivery and at most `attempts` deliveries per item.
async fn spawn_with_attempts(kind: Kind, attempts: u32) -> helpers::TestApp {
    let mut tuning = fast_tuning();
    tuning.max_attempts = attempts;
    spawn_app_with(env(kind, tuning).await, 1024).await
}

async fn an_item_past_its_attempts_is_dead_lettered(kind: Kind) {
    let app = spawn_with_attempts(kind, 2).await;
    app.post_ok("poison").await;
    app.post_ok("fine").await;
    let queue = &app.env.backends.queue;
    for attempt in 1..=2 {
        let mut c = queue.consumer(&format!("crash-{attempt}")).await.unwrap();
        let got = c.fetch(1, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data.as_deref(), Some("poison"));
        assert_eq!(got[0].attempts, attempt);
        drop(c);
        app.env.wait_redeliverable(1).await;
    }
    let total = app.env.drain().await;
    assert_eq!((total.dead, total.stored), (1, 1));
    assert_eq!(app.stats().await, stats(0, 0, 1, 1));
    assert_eq!(app.answer().await, "fine");
}

async fn a_stored_but_unacknowledged_item_is_not_dead_lettered(kind: Kind) {
    let app = spawn_with_attempts(kind, 1).await;
    app.post_ok("stored, then the worker died").await;
    let mut c = app.env.backends.queue.consumer("dies").await.unwrap();
    let got = c.fetch(1, Duration::ZERO).await.unwrap();
    let d = &got[0];
    let r = process(
        &d.id,
        d.data.as_deref().unwrap(),
        d.queued_at,
        chrono::Utc::now(),
    );
    app.env.backends.store.insert(&[r]).await.unwrap();
    drop(c);
    app.env.wait_redeliverable(1).await;
    let total = app.env.drain().await;
    assert_eq!((total.fetched, total.acked, total.dead), (1, 1, 0));
    let s = app.stats().await;
    assert_eq!(
        (s.processed, s.failed, s.in_progress, s.queued),
        (1, 0, 0, 0)
    );
}

async fn concurrent_workers_store_each_item_once(kind: Kind) {
    let env = env(kind, fast_tuning()).await;
    let n = 600;
    for i in 0..n {
        env.backends.queue.push(&format!("d{i}")).await.unwrap();
    }
    let shutdown = kit::Shutdown::new();
    let settings = WorkerSettings {
        batch_size: 25,
        concurrency: 4,
        ..env.settings()
    };
    let pool = tokio::spawn(multivac::worker::run_pool(
        env.backends.clone(),
        settings,
        shutdown.clone(),
    ));
    let start = std::time::Instant::now();
    while env.backends.store.count().await.unwrap() < n {
        assert!(start.elapsed() < Duration::from_secs(60), "not drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.trigger();
    pool.await.unwrap();
    assert_eq!(env.backends.store.count().await.unwrap(), n);
    let c = env.backends.queue.counts().await.unwrap();
    assert_eq!((c.queued, c.in_progress, c.failed), (0, 0, 0));
}

async fn health_and_metrics(kind: Kind) {
    let app = spawn_app(kind).await;
    let r = app.get("/healthcheck").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    app.post_ok("x").await;
    app.env.drain().await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for name in [
        "multivac_processed_total",
        "multivac_processing_duration_seconds_bucket",
        "multivac_queued_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for path in [
        "/",
        "/multivac",
        "/multivac/data",
        "/multivac/zzz/",
        "/multivac/stats",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} undocumented");
    }
    assert!(doc["paths"]["/multivac/data"]["post"]["security"].is_array());
}

// ---- Redis + PostgreSQL only ----

/// Redis dies: `POST` answers 503 (never a 200 for what is not queued); after its
/// restart nothing that was acknowledged is lost, and every acknowledged datum is
/// processed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_means_503_and_loses_nothing_acknowledged() {
    let mut redis = testkit::redis_server::RedisServer::start().await;
    let url = redis.url("multivac");
    redis_down_then_back(Kind::RedisPostgres, &mut redis, url).await;
}

/// With the queue of `kind` on `redis` (at `url`): see
/// [`redis_down_means_503_and_loses_nothing_acknowledged`].
pub(crate) async fn redis_down_then_back(
    kind: Kind,
    redis: &mut impl helpers::Killable,
    url: String,
) {
    let pg = testkit::pg::fresh_database().await;
    let env = helpers::env_with(
        kind,
        fast_tuning(),
        tempfile::tempdir().unwrap(),
        Some(url),
        Some(pg),
        "multivac:".into(),
    )
    .await;
    let app = spawn_app_with(env, 1024).await;
    let mut acknowledged = Vec::new();
    for i in 0..50 {
        let d = format!("before {i}");
        app.post_ok(&d).await;
        acknowledged.push(d);
    }
    redis.kill9();
    for _ in 0..3 {
        let v = problem(app.post("while down").await, 503).await;
        assert!(v["detail"].as_str().unwrap().contains("queue"));
    }
    problem(app.get("/multivac/stats").await, 503).await;
    assert_eq!(app.get("/healthcheck").await.status(), 503);
    redis.restart().await;
    // The connection comes back by itself.
    let start = std::time::Instant::now();
    loop {
        let r = app.post("after").await;
        if r.status() == 200 {
            acknowledged.push("after".into());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total = app.env.drain().await;
    assert_eq!(total.stored, acknowledged.len() as u64);
    let s = app.stats().await;
    assert_eq!(s.processed, acknowledged.len() as u64);
    assert_eq!((s.queued, s.in_progress, s.failed), (0, 0, 0));
    assert_eq!(app.answer().await, "before 0");
}

/// The PostgreSQL store lives in its own schema: its tables and migration history
/// cannot meet another service's in a shared database.
#[tokio::test]
async fn postgres_tables_live_in_the_multivac_schema() {
    let env = env(Kind::RedisPostgres, fast_tuning()).await;
    let url = env.database_url.clone().unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            ("multivac".to_owned(), "_sqlx_migrations".to_owned()),
            ("multivac".to_owned(), "records".to_owned())
        ]
    );
    // Opening again (a second process) is fine.
    helpers::env_with(
        Kind::RedisPostgres,
        fast_tuning(),
        tempfile::tempdir().unwrap(),
        Some(testkit::redis_env::multivac_url()),
        Some(url),
        env.redis_prefix.clone(),
    )
    .await;
}

/// A malformed stream entry (not written by MultiVAC) goes to the dead letters at once.
/// Outside cluster mode the keys keep the names they had before cluster mode existed
/// (`<prefix>queue`, `<prefix>dead`): nothing to migrate.
#[tokio::test]
async fn a_malformed_stream_entry_is_dead_lettered() {
    let env = env(Kind::RedisPostgres, fast_tuning()).await;
    let client = redis::Client::open(testkit::redis_env::multivac_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    malformed_entry(&env, &mut conn, &format!("{}queue", env.redis_prefix)).await;
    let dead: u64 = redis::cmd("XLEN")
        .arg(format!("{}dead", env.redis_prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(dead, 1);
}

/// Writes an entry MultiVAC did not write into `stream`; checks the worker dead-letters
/// it.
pub(crate) async fn malformed_entry(
    env: &helpers::Env,
    conn: &mut impl redis::aio::ConnectionLike,
    stream: &str,
) {
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("other")
        .arg("x")
        .query_async(conn)
        .await
        .unwrap();
    let total = env.drain().await;
    assert_eq!((total.dead, total.stored), (1, 0));
}

// ---- the embedded default, as `berth serve` builds it ----

/// `multivac::service` with no URL: SQLite queue and store in the data dir, the worker
/// in the process, and a generated token (so POST without one is refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_processes_in_process_and_is_closed() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: multivac::Config,
    }
    let dir = tempfile::tempdir().unwrap();
    let config = Cli::parse_from(["test", "--multivac-claim-idle", "1s"]).config;
    let mut common = kit::config::Common::for_tests(dir.path().join("data"));
    common.tokens = kit::auth::Tokens::parse("embedded-token");
    let mut service = multivac::service(&config, &common).await.unwrap();
    assert!(dir.path().join("data/multivac.db").exists());
    let background = std::mem::take(&mut service.background);
    assert_eq!(background.len(), 2, "metrics sampler and worker");
    let shutdown = kit::Shutdown::new();
    let tasks: Vec<_> = background
        .into_iter()
        .map(|t| tokio::spawn(t(shutdown.clone())))
        .collect();
    let server = kit::Server::bind(
        "multivac",
        "127.0.0.1:0".parse().unwrap(),
        kit::http::app(service, &kit::http::HttpConfig::default()),
    )
    .await
    .unwrap();
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(shutdown.clone(), Duration::from_secs(1)));
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/multivac/data"))
        .form(&[("data", "42")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(format!("{base}/multivac/data"))
        .bearer_auth("embedded-token")
        .form(&[("data", "42")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let start = std::time::Instant::now();
    loop {
        let text = client
            .get(format!("{base}/multivac"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text == "42" {
            break;
        }
        assert_eq!(text, INSUFFICIENT);
        assert!(start.elapsed() < Duration::from_secs(10), "never processed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.trigger();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .expect("background stops on shutdown")
            .unwrap();
    }
}

/// With no token configured, one is generated: POST without it is refused.
#[test]
fn a_token_is_generated_when_none_is_configured() {
    let tokens = kit::auth::Tokens::none().or_generated(multivac::NAME, "POST and DELETE");
    assert!(!tokens.is_empty());
    assert!(!tokens.accepts(""));
    let other = kit::auth::Tokens::none().or_generated(multivac::NAME, "POST and DELETE");
    assert!(!other.is_empty());
    let configured = kit::auth::Tokens::parse("mine");
    let kept = configured.or_generated(multivac::NAME, "POST and DELETE");
    assert!(kept.accepts("mine") && !kept.accepts(""));
}
