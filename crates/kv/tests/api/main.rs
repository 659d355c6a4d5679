//! kv's HTTP contract through the real router and server, on both stores.
//!
//! `conformance!` writes each behaviour once and runs it on SQLite and on the shared
//! test Redis (started by `scripts/test` from the shipped `deploy/redis` config, the
//! `kv` ACL user): plain, over TLS, and the Redis Cluster in cluster mode. The
//! Redis-only tests below start a Redis of their own to kill it; `tls_cluster` checks
//! certificates and the cluster's own behaviour.

mod helpers;
mod redis_only;
mod tls_cluster;

use futures::future::join_all;
use helpers::{Backend, Options, TestApp, spawn_app, spawn_with};
use serde_json::{Value, json};

testkit::conformance! {
    sqlite => Backend::Sqlite,
    redis => Backend::Redis,
    redis_tls => Backend::RedisTls,
    redis_cluster => Backend::RedisCluster;
    [the_original_check_script_passes, a_new_id_is_201_then_200_when_replaced, an_absent_id_is_404, unicode_and_large_values_round_trip, fifty_concurrent_sets_of_one_new_id_yield_exactly_one_201, bad_input_is_4xx_problem_json_and_stores_nothing, data_over_the_limit_is_413, tokens_protect_set_when_configured, healthcheck_is_ok_and_prom_metrics_match_metrics]
}

fn assert_problem(r: &reqwest::Response, status: u16, what: &str) {
    assert_eq!(r.status(), status, "{what}");
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
}

/// The original exercise's check script, verbatim: exact bodies where it compares them.
async fn the_original_check_script_passes(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get("/healthcheck").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"status":"ok"}"#);

    let r = app.get("/get/something").await;
    assert_eq!(r.status(), 404);

    let r = app.set_raw(r#"{"id":"one","data":"one"}"#).await;
    assert!(r.status().is_success(), "{}", r.status());

    let r = app.get("/get/one").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), r#"{"one":"one"}"#);
}

async fn a_new_id_is_201_then_200_when_replaced(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.set("k", "first").await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await.unwrap(), r#"{"status":"ok"}"#);
    assert_eq!(app.data("k").await.as_deref(), Some("first"));

    let r = app.set("k", "second").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"status":"ok"}"#);
    assert_eq!(app.data("k").await.as_deref(), Some("second"));

    // Replacing with the same value is still a replacement; an empty value is a value.
    assert_eq!(app.set("k", "second").await.status(), 200);
    assert_eq!(app.set("k2", "").await.status(), 201);
    assert_eq!(app.data("k2").await.as_deref(), Some(""));
    assert_eq!(app.set("k2", "x").await.status(), 200);
}

async fn an_absent_id_is_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get("/get/nobody-stored-this").await;
    assert_problem(&r, 404, "absent id");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 404);
    // An id no one could have stored (over 512 bytes) is not there either.
    let r = app.get_id(&"x".repeat(513)).await;
    assert_problem(&r, 404, "long id");
    // Another key's neighbour is not found by prefix.
    assert_eq!(app.set("abc", "1").await.status(), 201);
    assert_problem(&app.get("/get/ab").await, 404, "prefix");
}

async fn unicode_and_large_values_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        (
            "ключ 🔑 / ?&#%",
            "значение ✓ 🦀 \u{0} \"quoted\" \\ \n\t\u{1f}",
        ),
        ("日本語", "こんにちは世界"),
        (&*"é".repeat(256), "id of exactly 512 bytes"),
        ("large", &*"x€🦀".repeat(1024 * 1024 / 8)), // exactly 1 MiB: the default limit
    ];
    for (id, data) in &cases {
        assert!(data.len() <= 1024 * 1024);
        let r = app.set(id, data).await;
        assert_eq!(r.status(), 201, "{id}");
        let r = app.get_id(id).await;
        assert_eq!(r.status(), 200, "{id}");
        let body: Value = r.json().await.unwrap();
        let mut want = serde_json::Map::new();
        want.insert((*id).to_owned(), json!(data));
        assert_eq!(body, Value::Object(want), "{id}");
    }
    // Escaped in the request (\u00e9, surrogate pairs): the stored value is the text.
    let r = app
        .set_raw(r#"{"id":"esc","data":"caf\u00e9 \ud83e\udd80"}"#)
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(app.data("esc").await.as_deref(), Some("café 🦀"));
}

async fn fifty_concurrent_sets_of_one_new_id_yield_exactly_one_201(backend: Backend) {
    let app = spawn_app(backend).await;
    for round in 0..3 {
        let id = format!("contended-{round}");
        let requests = (0..50).map(|i| {
            let app = &app;
            let id = id.clone();
            async move { app.set(&id, &format!("writer {i}")).await.status().as_u16() }
        });
        let statuses = join_all(requests).await;
        let created = statuses.iter().filter(|s| **s == 201).count();
        let replaced = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!((created, replaced), (1, 49), "round {round}: {statuses:?}");
        let data = app.data(&id).await.unwrap();
        assert!(data.starts_with("writer "), "{data}");
    }
}

async fn bad_input_is_4xx_problem_json_and_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let long_id = "i".repeat(513);
    let cases: Vec<(Vec<u8>, u16, Option<&str>)> = vec![
        (b"not json".to_vec(), 400, None),
        (b"".to_vec(), 400, None),
        (br#"{"id":"bad1","data":"x""#.to_vec(), 400, None),
        (b"[\"bad1\",\"x\"]".to_vec(), 400, None),
        (b"\"bad1\"".to_vec(), 400, None),
        (
            b"{\"id\":\"bad1\",\"data\":\"\xff\xfe\"}".to_vec(),
            400,
            None,
        ),
        (br#"{"data":"x"}"#.to_vec(), 422, Some("id")),
        (br#"{"id":"bad1"}"#.to_vec(), 422, Some("data")),
        (br#"{"id":1,"data":"x"}"#.to_vec(), 422, Some("id")),
        (br#"{"id":"bad1","data":1e400}"#.to_vec(), 422, Some("data")),
        // The kit's JSON rules: a repeated member, another member, a wrong media type.
        (
            br#"{"id":"bad1","id":"bad2","data":"x"}"#.to_vec(),
            422,
            Some("id"),
        ),
        (
            br#"{"id":"bad1","data":"x","extra":1}"#.to_vec(),
            422,
            Some("extra"),
        ),
        (
            br#"{"id":"bad1","data":123456789012345678901234567890}"#.to_vec(),
            422,
            Some("data"),
        ),
        (
            br#"{"id":"bad1","data":{"a":1}}"#.to_vec(),
            422,
            Some("data"),
        ),
        (br#"{"id":"bad1","data":null}"#.to_vec(), 422, Some("data")),
        (br#"{"id":"","data":"x"}"#.to_vec(), 422, Some("id")),
        (
            format!(r#"{{"id":"{long_id}","data":"x"}}"#).into_bytes(),
            422,
            Some("id"),
        ),
    ];
    for (body, status, field) in cases {
        let what = String::from_utf8_lossy(&body)
            .chars()
            .take(60)
            .collect::<String>();
        let r = app.set_raw(body).await;
        assert_problem(&r, status, &what);
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["status"], status, "{what}");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {problem}"
        );
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{what}: {problem}");
        }
    }
    let r = app
        .post_set("text/plain", None, r#"{"id":"bad1","data":"x"}"#)
        .await;
    assert_problem(&r, 415, "text/plain");
    assert_eq!(app.data("bad1").await, None, "nothing was stored");
    assert_eq!(app.data("bad2").await, None, "nothing was stored");
    assert_eq!(app.data("").await, None);
    // Wrong method on a kv route: 405 problem+json.
    assert_problem(&app.get("/set").await, 405, "GET /set");
}

async fn data_over_the_limit_is_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let over = "x".repeat(1024 * 1024 + 1);
    let r = app.set("big", &over).await;
    assert_problem(&r, 413, "1 MiB + 1");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["field"], "data");
    assert_eq!(problem["limit"], 1024 * 1024);
    assert_eq!(app.data("big").await, None);

    // A configured limit.
    let small = spawn_with(
        backend,
        Options {
            max_data: 10,
            ..Options::default()
        },
    )
    .await;
    assert_eq!(small.set("s", "0123456789").await.status(), 201);
    assert_problem(&small.set("s", "0123456789a").await, 413, "limit 10");
    assert_problem(&small.set("t", "éééééé").await, 413, "12 bytes");
    assert_eq!(small.data("s").await.as_deref(), Some("0123456789"));
}

async fn tokens_protect_set_when_configured(backend: Backend) {
    let app = spawn_with(
        backend,
        Options {
            tokens: kit::auth::Tokens::parse("s3cret-token"),
            ..Options::default()
        },
    )
    .await;
    let body = json!({"id": "guarded", "data": "v"});
    let r = app.set_json(&body).await;
    assert_problem(&r, 401, "no token");
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = app
        .post_set("application/json", Some("wrong"), body.to_string())
        .await;
    assert_problem(&r, 401, "wrong token");
    assert_eq!(app.data("guarded").await, None);
    let r = app
        .post_set("application/json", Some("s3cret-token"), body.to_string())
        .await;
    assert_eq!(r.status(), 201);
    // Reads stay open.
    assert_eq!(app.data("guarded").await.as_deref(), Some("v"));

    // Without tokens, /set is open (checked by every other test) and the OpenAPI
    // document declares the optional bearer scheme.
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["paths"]["/set"]["post"].is_object());
    assert!(doc["paths"]["/get/{id}"]["get"].is_object());
}

async fn healthcheck_is_ok_and_prom_metrics_match_metrics(backend: Backend) {
    let app: TestApp = spawn_app(backend).await;
    assert_eq!(app.set("m", "1").await.status(), 201);
    assert_eq!(app.set("m", "2").await.status(), 200);
    let r = app.get("/healthcheck").await;
    assert_eq!(r.status(), 200);
    let prom = app.get("/prom-metrics").await;
    assert_eq!(prom.status(), 200);
    assert!(
        prom.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let prom = prom.text().await.unwrap();
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for text in [&prom, &metrics] {
        assert!(
            text.contains("kv_sets_total{outcome=\"created\"}"),
            "{text}"
        );
        assert!(text.contains("kv_sets_total{outcome=\"replaced\"}"));
        assert!(text.contains("route=\"/set\""));
        assert!(text.contains("berth_health_check_up"));
    }
}
