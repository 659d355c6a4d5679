//! The clock's HTTP contract through the real router and server.

mod helpers;

use helpers::{clock, spawn_app};
use serde_json::{Value, json};

#[tokio::test]
async fn the_originals_examples_and_more() {
    let app = spawn_app().await;
    for (mirror, actual, shown) in [
        ("12:22", "11:38", "12:22"),
        ("05:25", "06:35", "05:25"),
        ("01:50", "10:10", "01:50"),
        ("11:58", "12:02", "11:58"),
        ("12:01", "11:59", "12:01"),
        ("12:00", "12:00", "12:00"),
        ("06:00", "06:00", "06:00"),
        ("03:00", "09:00", "03:00"),
        ("2:11", "09:49", "02:11"),
    ] {
        let r = clock(&app, mirror).await;
        assert_eq!(r.status(), 200, "{mirror}");
        assert_eq!(r.headers()["content-type"], "application/json");
        // Exactly the original's body, field order included.
        let text = r.text().await.unwrap();
        assert_eq!(
            text,
            format!(r#"{{"mirror_time":"{shown}","actual_time":"{actual}"}}"#),
            "{mirror}"
        );
    }
}

#[tokio::test]
async fn a_missing_mirror_time_says_it_is_required() {
    let app = spawn_app().await;
    let r = app.get("/clock").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("mirror_time is required")
    );
    assert_eq!(body["field"], "mirror_time");
}

#[tokio::test]
async fn invalid_times_say_the_expected_form() {
    let app = spawn_app().await;
    for bad in [
        "00:20", "13:20", "12:60", "ab:cd", "1230", "", "12:5", "12:00 ",
    ] {
        let r = clock(&app, bad).await;
        assert_eq!(r.status(), 400, "{bad:?}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], 400);
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("HH:MM, 1 <= HH < 13"), "{bad:?}: {detail}");
    }
}

#[tokio::test]
async fn every_answer_mirrors_back_through_http() {
    let app = spawn_app().await;
    for t in clock::time::DialTime::all().step_by(7) {
        let first: Value = clock(&app, &t.to_string()).await.json().await.unwrap();
        let back: Value = clock(&app, first["actual_time"].as_str().unwrap())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(back["actual_time"], json!(t.to_string()));
    }
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/clock?mirror_time=12:22"))
        .header("x-request-id", "clock-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "clock-test-1");
}

#[tokio::test]
async fn the_root_leads_to_swagger_ui() {
    let app = spawn_app().await;
    let r = app.get("/").await;
    assert!(r.status().is_redirection());
    assert_eq!(r.headers()["location"], "/docs/");
    let ui = app.get("/docs/").await;
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger-ui"));
}

#[tokio::test]
async fn metrics_show_the_clock_route_after_a_request() {
    let app = spawn_app().await;
    clock(&app, "12:22").await;
    clock(&app, "99:99").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    for status in ["200", "400"] {
        assert!(
            text.lines().any(|l| l.starts_with("http_requests_total{")
                && l.contains(r#"service="clock""#)
                && l.contains(r#"route="/clock""#)
                && l.contains(&format!(r#"status="{status}""#))),
            "no /clock {status} counter in:\n{text}"
        );
    }
    assert!(!text.contains("99:99") && !text.contains("mirror_time"));
}

#[tokio::test]
async fn openapi_documents_clock() {
    let app = spawn_app().await;
    let spec: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(spec["info"]["title"], "berth clock");
    let clock = &spec["paths"]["/clock"]["get"];
    assert!(clock.is_object(), "{spec}");
    let params = clock["parameters"].as_array().unwrap();
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "mirror_time" && p["in"] == "query")
    );
    assert!(clock["responses"].get("400").is_some());
    assert!(spec["components"]["schemas"].get("ClockAnswer").is_some());
}

#[tokio::test]
async fn readiness_and_liveness_answer() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/healthcheck").await.text().await.unwrap(),
        r#"{"status":"ok"}"#
    );
    assert_eq!(app.get("/livez").await.status(), 200);
}
