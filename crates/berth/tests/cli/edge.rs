//! Restarts and exhaustion, through the real binary: the shutdown delay, a second
//! signal, and a process out of file descriptors.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{BERTH, Serve, berth};

/// The CPU time (user + system) a process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    // Fields 14 and 15 (utime, stime), counted from 1 with the pid and name removed.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_shutdown_delay_fails_readiness_first_then_drains() {
    let mut serve = Serve::start(&["clock", "--shutdown-delay", "2s"]);
    let base = serve.url("clock").to_owned();
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/healthcheck"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let signalled = Instant::now();
    serve.signal("TERM");
    let health = testkit::eventually("readiness fails", Duration::from_secs(2), || async {
        let r = client
            .get(format!("{base}/healthcheck"))
            .send()
            .await
            .ok()?;
        (r.status() == 503).then_some(r)
    })
    .await;
    assert_eq!(health.headers()["connection"], "close");
    // Still serving during the delay, each answer asking the client to close.
    let r = client
        .get(format!("{base}/clock?mirror_time=12:22"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["connection"], "close");
    let status = serve.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(1_800),
        "exited {took:?} after SIGTERM, before the 2 s delay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_skips_the_rest_of_the_delay() {
    let mut serve = Serve::start(&["clock", "--shutdown-delay", "60s"]);
    let base = serve.url("clock").to_owned();
    serve.signal("TERM");
    testkit::eventually("readiness fails", Duration::from_secs(2), || async {
        let r = reqwest::get(format!("{base}/healthcheck")).await.ok()?;
        (r.status() == 503).then_some(())
    })
    .await;
    let again = Instant::now();
    serve.signal("INT");
    assert!(serve.wait_exit(Duration::from_secs(5)).success());
    assert!(again.elapsed() < Duration::from_secs(5));
}

/// With its file descriptors exhausted, berth neither spins on `accept` nor stops for
/// good: errors are backed off and counted, and it answers again once they are free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_accept_is_backed_off_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = testkit::free_port();
    let mut child = {
        let cmd: Command = berth(dir.path());
        let envs: Vec<_> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned)))
            .collect();
        let mut sh = Command::new("sh");
        sh.args([
            "-c",
            r#"ulimit -n 64 && exec "$0" serve clock --clock-addr "127.0.0.1:$1" --max-connections 1000"#,
            BERTH,
            &port.to_string(),
        ]);
        for (k, v) in envs {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        sh.env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let base = format!("http://127.0.0.1:{port}");
    testkit::eventually("berth listens", Duration::from_secs(10), || async {
        reqwest::get(format!("{base}/livez")).await.ok().map(drop)
    })
    .await;
    // Far more connections than descriptors: the kernel queues some, berth takes what
    // it can until accept fails with EMFILE.
    let mut held = Vec::new();
    for _ in 0..120 {
        if let Ok(c) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            held.push(c);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_ticks(child.id());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(child.id()) - before;
    // 2 s at 100 ticks/s: a spinning accept loop would use ~200 ticks.
    assert!(
        used < 30,
        "berth used {used} ticks of CPU in 2 s while out of descriptors"
    );
    drop(held);
    let metrics = testkit::eventually("berth answers again", Duration::from_secs(10), || async {
        let r = reqwest::get(format!("{base}/metrics")).await.ok()?;
        r.text().await.ok()
    })
    .await;
    let errors: f64 = metrics
        .lines()
        .find(|l| l.starts_with("berth_accept_errors_total") && l.contains("service=\"clock\""))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "accept errors counted: {errors}");
    let _ = child.kill();
    let _ = child.wait();
}
