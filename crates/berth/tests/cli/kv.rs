//! kv on its embedded SQLite store, as deployed: acknowledged writes survive a SIGKILL
//! of the whole `berth` process.

use std::sync::Arc;

use super::Serve;

/// 10,000 keys written through the HTTP API by 32 clients, each acknowledged (201);
/// berth killed with SIGKILL at once, started again on the same data directory: every
/// key is there with its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_acknowledged_writes_survive_a_sigkill_of_berth_on_sqlite() {
    let data_dir = tempfile::tempdir().unwrap();
    let args = ["kv", "--kv-addr", "127.0.0.1:0"];
    let mut serve = tokio::task::block_in_place(|| Serve::start_in(data_dir.path(), &args));
    let base = Arc::new(serve.url("kv").to_owned());
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..32 {
        let (client, base, next) = (client.clone(), base.clone(), next.clone());
        clients.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= 10_000 {
                    break;
                }
                let body =
                    serde_json::json!({"id": format!("key-{i}"), "data": format!("value {i} ✓")});
                let r = client
                    .post(format!("{base}/set"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "key-{i}");
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    // No graceful anything: the process dies the moment the last write was acknowledged.
    serve.child.kill().unwrap();
    serve.child.wait().unwrap();

    let serve = tokio::task::block_in_place(|| Serve::start_in(data_dir.path(), &args));
    let base = serve.url("kv").to_owned();
    let mut missing = Vec::new();
    for i in 0..10_000 {
        let r = client
            .get(format!("{base}/get/key-{i}"))
            .send()
            .await
            .unwrap();
        if r.status() != 200 {
            missing.push(i);
            continue;
        }
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v[format!("key-{i}")], format!("value {i} ✓"));
    }
    assert!(
        missing.is_empty(),
        "{} keys lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}
