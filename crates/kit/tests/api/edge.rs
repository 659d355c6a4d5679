//! The server's edge against slow and hostile clients: head and idle timeouts, the
//! connection cap, refusals hyper makes itself, slow bodies, and shutdown.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize},
    },
    time::{Duration, Instant},
};

use kit::{Server, Shutdown, server::Limits};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{config, problem, test_service};

/// The test service behind a server with `limits`, and its shutdown signal.
struct Edge {
    addr: std::net::SocketAddr,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn serve(limits: Limits, drain: Duration) -> Edge {
    let service = test_service(
        &Arc::new(AtomicBool::new(true)),
        &Arc::new(AtomicUsize::new(0)),
    );
    let shutdown = Shutdown::new();
    let app = kit::http::app_with(service, &config(), &shutdown);
    let server = Server::bind("kittest", "127.0.0.1:0".parse().unwrap(), app)
        .await
        .unwrap()
        .with_limits(limits);
    let addr = server.local_addr();
    let server = tokio::spawn(server.run(shutdown.clone(), drain));
    Edge {
        addr,
        shutdown,
        server,
    }
}

fn limits(header: u64, idle: u64, max: usize) -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(header),
        idle_timeout: Duration::from_millis(idle),
        max_connections: max,
    }
}

/// Reads until the server closes the connection (or `within` passes: `None`).
async fn closed_within(conn: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `GET /livez` on a raw connection and reads its whole answer.
async fn one_request(conn: &mut TcpStream) -> String {
    conn.write_all(b"GET /livez HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).ends_with('}') {
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

async fn metrics(addr: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the first sample of `name` whose labels contain `labels`.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A thousand connections that never finish their head neither starve other clients
/// nor outlive the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_unfinished_heads_starve_nobody_and_are_closed_in_time() {
    let edge = serve(limits(1_500, 60_000, 5_000), Duration::from_secs(5)).await;
    let opened = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..1_000 {
        let mut conn = TcpStream::connect(edge.addr).await.unwrap();
        conn.write_all(b"GET /livez HTTP/1.1\r\n").await.unwrap();
        slow.push(conn);
    }
    let asked = Instant::now();
    let r = reqwest::get(format!("http://{}/livez", edge.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "another client waited {:?}",
        asked.elapsed()
    );
    for conn in &mut slow {
        let rest = closed_within(conn, Duration::from_secs(5))
            .await
            .expect("closed by the server");
        assert!(rest.is_empty(), "no answer to an unfinished head");
    }
    let all_closed = opened.elapsed();
    assert!(
        all_closed < Duration::from_secs(4),
        "the last unfinished connection was closed after {all_closed:?}"
    );
    let text = metrics(edge.addr).await;
    let closed = sample(
        &text,
        "berth_connections_closed_total",
        r#"reason="header_timeout""#,
    )
    .unwrap_or(0.0);
    assert!(closed >= 1_000.0, "{closed} counted");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let edge = serve(limits(5_000, 700, 100), Duration::from_secs(5)).await;
    let mut conn = TcpStream::connect(edge.addr).await.unwrap();
    assert!(one_request(&mut conn).await.starts_with("HTTP/1.1 200"));
    let idle_from = Instant::now();
    closed_within(&mut conn, Duration::from_secs(5))
        .await
        .expect("closed by the server");
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_millis(600) && idle < Duration::from_secs(3),
        "closed after {idle:?}"
    );
    // A connection in use is not cut by the idle timeout between its requests.
    let mut busy = TcpStream::connect(edge.addr).await.unwrap();
    for _ in 0..4 {
        assert!(one_request(&mut busy).await.starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[tokio::test]
async fn past_the_connection_cap_a_connection_is_closed_at_once_and_counted() {
    let edge = serve(limits(30_000, 30_000, 8), Duration::from_secs(5)).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut conn = TcpStream::connect(edge.addr).await.unwrap();
        assert!(one_request(&mut conn).await.starts_with("HTTP/1.1 200"));
        held.push(conn);
    }
    let mut ninth = TcpStream::connect(edge.addr).await.unwrap();
    let answer = closed_within(&mut ninth, Duration::from_secs(1))
        .await
        .expect("the ninth connection is closed at once");
    assert!(answer.is_empty());
    held.pop();
    let text = testkit::eventually("a free slot", Duration::from_secs(5), || async {
        let r = reqwest::get(format!("http://{}/metrics", edge.addr))
            .await
            .ok()?;
        r.text().await.ok()
    })
    .await;
    let rejected = sample(
        &text,
        "berth_connections_rejected_total",
        r#"service="kittest""#,
    );
    assert!(rejected.is_some_and(|n| n >= 1.0), "{rejected:?}");
}

#[tokio::test]
async fn on_shutdown_idle_and_unfinished_connections_close_at_once() {
    let edge = serve(limits(30_000, 30_000, 100), Duration::from_secs(10)).await;
    let mut idle = TcpStream::connect(edge.addr).await.unwrap();
    assert!(one_request(&mut idle).await.starts_with("HTTP/1.1 200"));
    let mut unfinished = TcpStream::connect(edge.addr).await.unwrap();
    unfinished
        .write_all(b"GET /livez HTTP/1.1\r\n")
        .await
        .unwrap();
    // Wait until the server has read the partial head.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    edge.shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(2), edge.server)
        .await
        .expect("stopped without waiting for the drain deadline")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    for conn in [&mut idle, &mut unfinished] {
        assert!(closed_within(conn, Duration::from_secs(1)).await.is_some());
    }
}

#[tokio::test]
async fn while_stopping_readiness_fails_and_responses_ask_to_close() {
    let edge = serve(limits(30_000, 30_000, 100), Duration::from_secs(5)).await;
    let client = reqwest::Client::new();
    let url = |p: &str| format!("http://{}{p}", edge.addr);
    let ready = client.get(url("/healthcheck")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(ready.headers().get("connection").is_none());
    edge.shutdown.begin_stopping();
    let r = client.get(url("/healthcheck")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["connection"], "close");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["checks"]["shutdown"], "the service is shutting down");
    // Still serving.
    let r = client.get(url("/ok")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["connection"], "close");
}

/// A client that trickles its body past the request timeout is answered 408, not a
/// 5xx it could raise the server's error ratio with.
#[tokio::test]
async fn a_body_trickled_past_the_request_timeout_is_a_408() {
    let edge = serve(limits(30_000, 30_000, 100), Duration::from_secs(5)).await;
    let mut conn = TcpStream::connect(edge.addr).await.unwrap();
    conn.write_all(
        b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"a\":",
    )
    .await
    .unwrap();
    let answer = closed_within(&mut conn, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 408"), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(answer.contains("x-request-id: "), "{answer}");
    assert!(answer.contains("not received in time"), "{answer}");
    let text = metrics(edge.addr).await;
    assert!(
        sample(&text, "http_requests_total", r#"status="408""#).is_some(),
        "{text}"
    );
}

/// A URI or header fields over the kit's limits get the full problem+json answer; what
/// hyper refuses itself (past its larger limits, or malformed) is counted and logged.
#[tokio::test]
async fn oversized_heads_get_problem_json_and_hyper_refusals_are_counted() {
    let edge = serve(limits(30_000, 30_000, 100), Duration::from_secs(5)).await;
    let client = reqwest::Client::new();
    let long = format!("http://{}/ok?{}", edge.addr, "q".repeat(9_000));
    let r = client.get(&long).send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
    let p = problem(r, 414).await;
    assert!(p["detail"].as_str().unwrap().contains("8192"), "{p}");
    let big = "v".repeat(8_000);
    let mut req = client.get(format!("http://{}/ok", edge.addr));
    for i in 0..5 {
        req = req.header(format!("x-big-{i}"), &big);
    }
    let r = req.send().await.unwrap();
    assert!(r.headers().contains_key("x-request-id"));
    problem(r, 431).await;

    for (raw, status) in [
        (
            format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000)),
            "HTTP/1.1 414",
        ),
        (
            "GET / HTTP/1.1\r\nbad header line\r\n\r\n".to_owned(),
            "HTTP/1.1 400",
        ),
    ] {
        let mut conn = TcpStream::connect(edge.addr).await.unwrap();
        let _ = conn.write_all(raw.as_bytes()).await;
        let answer = closed_within(&mut conn, Duration::from_secs(5))
            .await
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(status), "{answer}");
    }
    let text = metrics(edge.addr).await;
    for status in ["414", "400"] {
        let status = format!(r#"status="{status}""#);
        let counted = text.lines().any(|l| {
            l.starts_with("http_requests_total")
                && l.contains(r#"route="unparsed""#)
                && l.contains(r#"service="kittest""#)
                && l.contains(&status)
        });
        assert!(counted, "{status} not counted: {text}");
    }
}
