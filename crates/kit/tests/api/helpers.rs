//! A test service exercising every kit behaviour, served on port 0.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json,
    extract::{Path, Query},
    routing::{get, post},
};
use kit::{Health, Service, http::HttpConfig, prelude::OpenApiRouter};
use serde::Deserialize;
use testkit::TestServer;

/// A running test application: the server, and the switches of its test service.
pub struct TestApp {
    pub server: TestServer,
    pub healthy: Arc<AtomicBool>,
    /// Requests inside the `/slow/{ms}` handler right now.
    pub slow_in_flight: Arc<AtomicUsize>,
}

impl std::ops::Deref for TestApp {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

impl TestApp {
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    /// Waits (at most 5 s) until `n` requests are inside the `/slow/{ms}` handler.
    pub async fn wait_slow_in_flight(&self, n: usize) {
        let count = self.slow_in_flight.clone();
        testkit::eventually("requests in /slow", Duration::from_secs(5), || {
            let count = count.clone();
            async move { (count.load(Ordering::SeqCst) == n).then_some(()) }
        })
        .await;
    }
}

#[derive(Deserialize)]
struct Page {
    n: u32,
}

/// The test service: `/ok`, `/items/{id}`, `/query`, `/echo`, `/panic`, `/slow/{ms}`,
/// and a readiness check that follows `healthy`.
pub fn test_service(healthy: &Arc<AtomicBool>, slow: &Arc<AtomicUsize>) -> Service {
    let slow = slow.clone();
    let api = OpenApiRouter::new()
        .route(
            "/ok",
            get(|| async { Json(serde_json::json!({"ok": true})) }),
        )
        .route(
            "/items/{id}",
            get(|Path(id): Path<String>| async move { id }),
        )
        .route(
            "/query",
            get(|Query(p): Query<Page>| async move { p.n.to_string() }),
        )
        .route(
            "/echo",
            post(|Json(v): Json<serde_json::Value>| async move { Json(v) }),
        )
        .route(
            "/panic",
            get(|| async {
                std::panic::panic_any::<String>("boom: secret internals".into());
                #[allow(unreachable_code)]
                "unreachable"
            }),
        )
        .route(
            "/slow/{ms}",
            get(move |Path(ms): Path<u64>| {
                let slow = slow.clone();
                async move {
                    slow.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    slow.fetch_sub(1, Ordering::SeqCst);
                    "done"
                }
            }),
        );
    let flag = healthy.clone();
    let health = Health::new()
        .with_check("flag", move || {
            let up = flag.load(Ordering::SeqCst);
            async move {
                if up {
                    Ok(())
                } else {
                    Err("flag is down".to_owned())
                }
            }
        })
        .with_check("always", || async { Ok(()) });
    Service::new("kittest", api).with_health(health)
}

/// The test configuration: short timeouts, a 1 KiB body limit.
pub fn config() -> HttpConfig {
    HttpConfig {
        request_timeout: Duration::from_millis(500),
        body_limit: 1024,
        health_timeout: Duration::from_millis(300),
        drain_timeout: Duration::from_secs(5),
        ..HttpConfig::default()
    }
}

/// Serves the test service on 127.0.0.1:0 with `drain` as the drain deadline.
pub async fn spawn_app_with_drain(drain: Duration) -> TestApp {
    let healthy = Arc::new(AtomicBool::new(true));
    let slow_in_flight = Arc::new(AtomicUsize::new(0));
    let app = kit::http::app(test_service(&healthy, &slow_in_flight), &config());
    TestApp {
        server: TestServer::start_with_drain(app, drain).await,
        healthy,
        slow_in_flight,
    }
}

/// Serves the test service on a free port.
pub async fn spawn_app() -> TestApp {
    spawn_app_with_drain(Duration::from_secs(5)).await
}

/// Asserts a problem+json response and returns its body.
pub async fn problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string());
    assert!(body["type"].is_string());
    body
}
