//! `spawn_app`: the real clock application on a free port.

use kit::http::HttpConfig;
use testkit::TestServer;

/// The clock service, served on a free port.
pub async fn spawn_app() -> TestServer {
    TestServer::start(clock::app(&HttpConfig::default())).await
}

/// `GET /clock?mirror_time=<t>` (URL-encoded).
pub async fn clock(app: &TestServer, mirror_time: &str) -> reqwest::Response {
    app.client
        .get(app.url("/clock"))
        .query(&[("mirror_time", mirror_time)])
        .send()
        .await
        .expect("request")
}
