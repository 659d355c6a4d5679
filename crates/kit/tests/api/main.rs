//! The kit's behaviour through real HTTP, against a test service on a free port.

mod edge;
mod helpers;

use std::time::Duration;

use helpers::{problem, spawn_app, spawn_app_with_drain};

#[tokio::test]
async fn a_request_id_is_generated_and_echoed() {
    let app = spawn_app().await;
    let r = app.get("/ok").await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let r = app
        .client
        .get(app.url("/ok"))
        .header("x-request-id", "from-the-client-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "from-the-client-42");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    let body = problem(app.get("/no/such/thing").await, 404).await;
    assert!(body["detail"].as_str().unwrap().contains("/no/such/thing"));
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_with_allow() {
    let app = spawn_app().await;
    let r = app.client.delete(app.url("/ok")).send().await.unwrap();
    assert!(r.headers()["allow"].to_str().unwrap().contains("GET"));
    let body = problem(r, 405).await;
    assert!(body["detail"].as_str().unwrap().contains("DELETE"));
}

#[tokio::test]
async fn an_oversized_body_is_a_413_problem() {
    let app = spawn_app().await;
    let big = serde_json::json!({ "data": "x".repeat(4096) });
    let r = app
        .client
        .post(app.url("/echo"))
        .json(&big)
        .send()
        .await
        .unwrap();
    problem(r, 413).await;
    // Below the limit the same route answers.
    let small = serde_json::json!({ "data": "x" });
    let r = app
        .client
        .post(app.url("/echo"))
        .json(&small)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), small);
}

#[tokio::test]
async fn a_streamed_oversized_body_without_length_is_a_413_problem() {
    let app = spawn_app().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..8).map(|_| Ok(vec![b' '; 512])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = app
        .client
        .post(app.url("/echo"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    problem(r, 413).await;
}

#[tokio::test]
async fn a_malformed_query_is_a_400_problem_saying_why() {
    let app = spawn_app().await;
    let body = problem(app.get("/query?n=abc").await, 400).await;
    assert!(body["detail"].as_str().unwrap().contains('n'), "{body}");
    assert_eq!(app.get("/query?n=7").await.text().await.unwrap(), "7");
}

#[tokio::test]
async fn malformed_json_is_a_4xx_problem() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/echo"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(r, 400).await;
    let r = app
        .client
        .post(app.url("/echo"))
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(r, 415).await;
}

#[tokio::test]
async fn a_panic_is_a_500_problem_that_says_nothing_internal() {
    let app = spawn_app().await;
    let body = problem(app.get("/panic").await, 500).await;
    assert!(!body.to_string().contains("secret internals"));
    // The server is still there.
    assert_eq!(app.get("/ok").await.status(), 200);
}

/// A service that panics while it is *called* (before any future exists), not while
/// its future is polled: answered 500 problem+json all the same, with the request id.
#[tokio::test]
async fn a_panic_while_the_service_is_called_is_a_500_problem() {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt as _;

    let router = axum::Router::new().route_service(
        "/boom",
        tower::service_fn(
            |_: Request<Body>| -> std::future::Ready<Result<String, std::convert::Infallible>> {
                std::panic::panic_any::<String>("boom in call: secret internals".into())
            },
        ),
    );
    let app = kit::http::with_layers(router, "panics", Duration::from_secs(5), 1024);
    let r = app
        .clone()
        .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(r.headers()["x-request-id"].len(), 36);
    let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
    assert!(
        !String::from_utf8_lossy(&body).contains("secret"),
        "{body:?}"
    );
}

/// A handler's plain-text 5xx becomes problem+json that keeps its status and says
/// nothing of what the handler wrote; a plain 503 is not passed off as a timeout.
#[tokio::test]
async fn plain_text_server_errors_become_problems_that_say_nothing_internal() {
    use axum::{body::Body, http::Request, http::StatusCode, routing::get};
    use tower::ServiceExt as _;

    let router = axum::Router::new()
        .route(
            "/down",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "redis at 10.0.0.7 refused") }),
        )
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "secret stack trace") }),
        );
    let app = kit::http::with_layers(router, "errors", Duration::from_secs(5), 1024);
    for (path, status, says) in [
        ("/down", 503, "unavailable right now"),
        ("/broken", 500, "failed to answer"),
    ] {
        let r = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let body: serde_json::Value =
            serde_json::from_slice(&axum::body::to_bytes(r.into_body(), 4096).await.unwrap())
                .unwrap();
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{path}: {detail}");
        assert!(
            !detail.contains("10.0.0.7") && !detail.contains("secret"),
            "{detail}"
        );
        assert!(!detail.contains("in time"), "{path}: {detail}");
    }
}

/// A body announced (`content-length`) over the limit is answered 413 from the head
/// alone: the client has sent no byte of it, and does not have to.
#[tokio::test]
async fn a_body_announced_too_large_is_refused_before_it_is_sent() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let app = spawn_app().await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /echo HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: 5000000\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("the 413 came without the body being sent")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(
        answer.contains("1024 bytes"),
        "the limit is named: {answer}"
    );
}

#[tokio::test]
async fn a_request_over_the_timeout_is_a_503_problem() {
    let app = spawn_app().await;
    let body = problem(app.get("/slow/2000").await, 503).await;
    assert!(body["detail"].as_str().unwrap().contains("time"));
    assert_eq!(app.get("/slow/10").await.status(), 200);
}

/// The same on paused time, through `oneshot`: a handler that needs 29 s of the 30 s
/// answers; one that needs 31 s gets its 503 at the 30 s deadline, not when it would
/// have finished. A handler that never waits is answered too (no timer is armed for
/// it, see `kit::http`).
#[tokio::test(start_paused = true)]
async fn the_timeout_answers_at_its_deadline_on_paused_time() {
    use axum::{body::Body, extract::Path, http::Request, routing::get};
    use tower::ServiceExt as _;

    let router = axum::Router::new()
        .route(
            "/wait/{secs}",
            get(|Path(secs): Path<u64>| async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                "done"
            }),
        )
        .route("/now", get(|| async { "now" }));
    let app = kit::http::with_layers(router, "paused", Duration::from_secs(30), 1024);
    let call = |path: &'static str| {
        app.clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
    };

    let started = tokio::time::Instant::now();
    assert_eq!(call("/now").await.unwrap().status(), 200);
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(call("/wait/29").await.unwrap().status(), 200);
    let late = call("/wait/31").await.unwrap();
    let waited = started.elapsed();
    assert_eq!(late.status(), 503);
    assert_eq!(late.headers()["content-type"], "application/problem+json");
    assert!(
        waited >= Duration::from_secs(59) && waited < Duration::from_secs(60),
        "29 s + the 30 s deadline, got {waited:?}"
    );
}

#[tokio::test]
async fn metrics_are_labelled_by_route_template() {
    let app = spawn_app().await;
    assert_eq!(app.get("/items/abc-123").await.status(), 200);
    let text = app.get("/metrics").await.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{")
                && l.contains("service=\"kittest\"")
                && l.contains("route=\"/items/{id}\"")
                && l.contains("status=\"200\"")
                && l.contains("method=\"GET\"")
        })
        .unwrap_or_else(|| panic!("no request counter for /items/{{id}} in:\n{text}"));
    assert!(line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 1.0);
    assert!(
        !text.contains("abc-123"),
        "raw paths must not become labels"
    );
    assert!(text.contains("http_request_duration_seconds_bucket{"));
    for name in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
}

#[tokio::test]
async fn build_info_is_exported() {
    let app = spawn_app().await;
    kit::metrics::set_build_info("9.9.9", "abcdef123456");
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("berth_build_info{")
            && l.contains("version=\"9.9.9\"")
            && l.contains("git_sha=\"abcdef123456\"")
            && l.ends_with(" 1")),
        "{text}"
    );
}

#[tokio::test]
async fn unmatched_requests_share_one_label() {
    let app = spawn_app().await;
    app.get("/random/path/xyz").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(text.contains("route=\"unmatched\""));
    assert!(!text.contains("/random/path/xyz"));
}

#[tokio::test]
async fn readiness_names_the_failing_check_and_recovers() {
    let app = spawn_app().await;
    let r = app.get("/healthcheck").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"status":"ok"}"#);

    app.set_healthy(false);
    let r = app.get("/healthcheck").await;
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "failure");
    assert_eq!(body["checks"]["flag"], "flag is down");
    assert!(body["checks"].get("always").is_none());
    // Liveness does not depend on readiness.
    assert_eq!(app.get("/livez").await.status(), 200);
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"berth_health_check_up{service="kittest",check="flag"} 0"#),
        "{text}"
    );

    app.set_healthy(true);
    assert_eq!(app.get("/healthcheck").await.status(), 200);
}

#[tokio::test]
async fn a_hanging_check_times_out() {
    let health = kit::Health::new().with_check("hangs", || async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    });
    let report = health.run("t", Duration::from_millis(50)).await;
    assert!(!report.is_ok());
    assert!(report.checks["hangs"].contains("timed out after 50ms"));
}

#[tokio::test]
async fn openapi_and_swagger_ui_are_served() {
    let app = spawn_app().await;
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/healthcheck", "/livez", "/metrics"] {
        assert!(spec["paths"].get(path).is_some(), "{path} not documented");
    }
    let ui = app.get("/docs/").await;
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger-ui"));
    let css = app.get("/docs/swagger-ui.css").await;
    assert_eq!(css.status(), 200, "assets are compiled in");
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        let r = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(r.status(), 200, "{asset}");
        assert_eq!(
            r.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert!(!r.bytes().await.unwrap().is_empty(), "{asset}");
    }
    let init = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(init.contains("../openapi.json"), "{init}");
    let missing = app.get("/docs/swagger-ui.js.map").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let bare = app.get("/docs").await;
    assert!(bare.status().is_redirection());
    assert_eq!(bare.headers()["location"], "/docs/");
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests() {
    let mut app = spawn_app().await;
    let client = app.client.clone();
    let url = app.url("/slow/300");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    app.wait_slow_in_flight(1).await;
    let ok_url = app.url("/ok");
    app.server.stop(Duration::from_secs(5)).await.unwrap();
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    // No longer accepting.
    let fresh = reqwest::Client::new();
    assert!(fresh.get(ok_url).send().await.is_err());
}

#[tokio::test]
async fn the_drain_deadline_bounds_shutdown() {
    let mut app = spawn_app_with_drain(Duration::from_millis(100)).await;
    let client = app.client.clone();
    let url = app.url("/slow/450");
    let _in_flight = tokio::spawn(async move { client.get(url).send().await });
    app.wait_slow_in_flight(1).await;
    let started = std::time::Instant::now();
    app.server.stop(Duration::from_secs(5)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_probe_reports_status_and_refusals() {
    let app = spawn_app().await;
    let ok = kit::probe::probe(&app.url("/healthcheck"), Duration::from_secs(2)).await;
    assert_eq!(ok.unwrap(), 200);
    app.set_healthy(false);
    let err = kit::probe::probe(&app.url("/healthcheck"), Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    let err = kit::probe::probe(&app.url("/slow/3000"), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no answer within"), "{err}");
    let err = kit::probe::probe("https://127.0.0.1:1/", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only http://"), "{err}");
}
