//! MultiVAC end to end, as deployed: `berth serve multivac` on Redis + PostgreSQL, and
//! `berth worker multivac` processes, killed with SIGKILL and stopped with SIGTERM.

use std::{
    collections::HashSet,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::Value;

use super::{BERTH, Serve};

const TOKEN: &str = "multivac-e2e-token";

/// A database, a key prefix, and the API on them.
struct Stack {
    api: Serve,
    database_url: String,
    redis_url: String,
    prefix: String,
    pool: sqlx::PgPool,
    client: reqwest::Client,
}

impl Stack {
    async fn start() -> Self {
        let database_url = testkit::pg::fresh_database().await;
        let redis_url = testkit::redis_env::multivac_url();
        let prefix = testkit::redis_env::unique_prefix("multivac:");
        let args = [
            "multivac".to_owned(),
            "--multivac-addr=127.0.0.1:0".to_owned(),
            format!("--multivac-redis-url={redis_url}"),
            format!("--multivac-database-url={database_url}"),
            format!("--multivac-redis-prefix={prefix}"),
            "--multivac-worker=never".to_owned(),
            format!("--api-tokens={TOKEN}"),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let api = tokio::task::block_in_place(|| Serve::start(&args));
        let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
        Self {
            api,
            database_url,
            redis_url,
            prefix,
            pool,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.url("multivac"))
    }

    /// Posts `data` with 32 concurrent clients; every answer must be the 200.
    async fn post_all(&self, data: &[String]) {
        let data = Arc::new(data.to_vec());
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (data, next, client, url) = (
                    data.clone(),
                    next.clone(),
                    self.client.clone(),
                    self.url("/multivac/data"),
                );
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(d) = data.get(i) else { break };
                        let r = client
                            .post(&url)
                            .bearer_auth(TOKEN)
                            .form(&[("data", d)])
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 200, "{d}");
                        assert_eq!(
                            r.text().await.unwrap(),
                            r#"{"response":"MultiVAC updated!"}"#
                        );
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }

    /// `GET /multivac`'s text.
    async fn answer(&self) -> String {
        reqwest::get(self.url("/multivac"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn stats(&self) -> Value {
        let r = self
            .client
            .get(self.url("/multivac/stats"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    async fn stored(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM multivac.records")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// `berth worker multivac` on this stack, its endpoints on `port`.
    fn worker(&self, port: u16, batch: u32) -> Child {
        Command::new(BERTH)
            .args(["worker", "multivac"])
            .arg(format!("--worker-addr=127.0.0.1:{port}"))
            .arg(format!("--multivac-batch-size={batch}"))
            .env("BERTH_MULTIVAC_REDIS_URL", &self.redis_url)
            .env("BERTH_MULTIVAC_DATABASE_URL", &self.database_url)
            .env("BERTH_MULTIVAC_REDIS_PREFIX", &self.prefix)
            .env("BERTH_MULTIVAC_CLAIM_IDLE", "1s")
            .env("BERTH_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn berth worker multivac")
    }

    /// Waits until the store holds `n` records and nothing is queued or in progress.
    async fn wait_drained(&self, n: i64, within: Duration) -> Value {
        let start = Instant::now();
        loop {
            let stats = self.stats().await;
            if stats["processed"] == n && stats["queued"] == 0 && stats["in_progress"] == 0 {
                return stats;
            }
            assert!(
                start.elapsed() < within,
                "not drained within {within:?}: {stats}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every datum stored exactly once, and nothing else.
    async fn assert_stored_exactly(&self, data: &[String]) {
        let rows: Vec<String> = sqlx::query_scalar("SELECT data FROM multivac.records")
            .fetch_all(&self.pool)
            .await
            .unwrap();
        assert_eq!(rows.len(), data.len(), "records stored");
        let distinct: HashSet<&String> = rows.iter().collect();
        assert_eq!(distinct.len(), rows.len(), "a datum was stored twice");
        let expected: HashSet<&String> = data.iter().collect();
        assert_eq!(distinct, expected, "the store holds other data");
    }
}

fn kill9(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// The crash test: 10,000 data posted through the API; the worker process `SIGKILLed`
/// three times while it drains, restarted each time; at the end the store holds
/// exactly those data, none twice, and `/multivac/stats` agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multivac_worker_sigkilled_three_times_stores_each_datum_exactly_once() {
    let stack = Stack::start().await;
    let data: Vec<String> = (0..10_000).map(|i| format!("datum {i:05}")).collect();
    stack.post_all(&data).await;
    let stats = stack.stats().await;
    assert_eq!(stats["queued"], 10_000, "{stats}");
    assert_eq!(
        stack.answer().await,
        "INSUFFICIENT DATA FOR MEANINGFUL ANSWER."
    );

    // Small batches, so that the drain lasts long enough to be interrupted.
    let mut worker = stack.worker(testkit::free_port(), 20);
    let mut kills = Vec::new();
    let mut held_at_kill = 0;
    for threshold in [1_500, 4_000, 6_500] {
        let start = Instant::now();
        while stack.stored().await < threshold {
            assert!(start.elapsed() < Duration::from_secs(60), "no progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        kill9(&mut worker);
        let stored = stack.stored().await;
        let stats = stack.stats().await;
        held_at_kill += stats["in_progress"].as_i64().unwrap();
        assert!(stored < 10_000, "drained before kill {}", kills.len() + 1);
        kills.push(stored);
        worker = stack.worker(testkit::free_port(), 20);
    }
    assert_eq!(kills.len(), 3);
    eprintln!(
        "stored at each SIGKILL: {kills:?}; items held by the killed workers: {held_at_kill}"
    );
    let stats = stack.wait_drained(10_000, Duration::from_secs(120)).await;
    kill9(&mut worker);
    assert!(
        held_at_kill > 0,
        "no kill interrupted a batch in hand (stored at kills: {kills:?})"
    );
    assert_eq!(
        stats,
        serde_json::json!({"queued": 0, "in_progress": 0, "processed": 10_000, "failed": 0})
    );
    stack.assert_stored_exactly(&data).await;
    // The answer is the datum that reached the queue first: the smallest stream id
    // (`ms-seq`, compared as numbers). 32 clients posted at once, so that is not
    // necessarily "datum 00000".
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT queue_id, data FROM multivac.records")
        .fetch_all(&stack.pool)
        .await
        .unwrap();
    let stream_id = |id: &str| -> (u64, u64) {
        let (ms, seq) = id.split_once('-').expect("a stream id");
        (ms.parse().unwrap(), seq.parse().unwrap())
    };
    let first = rows
        .iter()
        .min_by_key(|(id, _)| stream_id(id))
        .map(|(_, data)| data.clone())
        .unwrap();
    assert_eq!(stack.answer().await, first);
}

/// SIGTERM: the worker finishes the batch in hand, leaves nothing half-done, exits 0;
/// its `/healthcheck` and `/metrics` live on their own port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multivac_worker_sigterm_finishes_the_batch_and_exits_0() {
    let stack = Stack::start().await;
    let data: Vec<String> = (0..3_000).map(|i| format!("term {i}")).collect();
    stack.post_all(&data).await;
    let port = testkit::free_port();
    let mut worker = stack.worker(port, 50);
    let base = format!("http://127.0.0.1:{port}");
    testkit::eventually("the worker is ready", Duration::from_secs(20), || async {
        reqwest::get(format!("{base}/healthcheck"))
            .await
            .is_ok_and(|r| r.status() == 200)
            .then_some(())
    })
    .await;
    testkit::eventually(
        "the worker stores something",
        Duration::from_secs(20),
        || async { (stack.stored().await > 0).then_some(()) },
    )
    .await;
    // The counter moves just after the store commits: poll it, within a bound.
    let metrics = testkit::eventually("the processed counter", Duration::from_secs(10), || async {
        let metrics = reqwest::get(format!("{base}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        metrics
            .contains("multivac_processed_total")
            .then_some(metrics)
    })
    .await;
    assert!(metrics.contains("service=\"multivac-worker\""));
    let ok = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = worker.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0));
    // Nothing left leased: what it took, it stored and acknowledged.
    let counts = stack.stats().await;
    assert_eq!(counts["in_progress"], 0, "{counts}");
    assert_eq!(
        counts["processed"].as_i64().unwrap() + counts["queued"].as_i64().unwrap(),
        3_000,
        "{counts}"
    );
    // Another worker finishes the rest: each datum once.
    let mut worker = stack.worker(testkit::free_port(), 50);
    stack.wait_drained(3_000, Duration::from_secs(60)).await;
    kill9(&mut worker);
    stack.assert_stored_exactly(&data).await;
}
