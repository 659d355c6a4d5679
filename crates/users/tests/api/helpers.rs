//! `spawn_app`: the real users application on a free port, over a fresh store of the
//! backend asked for (a new SQLite file in a temporary directory, or a new PostgreSQL
//! database from `testkit`).

use std::sync::Arc;

use kit::{auth::Tokens, http::HttpConfig};
use serde_json::Value;
use testkit::TestServer;
use users::store::{Store, postgres::PgStore, sqlite::SqliteStore};

/// The bearer token the test apps accept.
pub const TOKEN: &str = "test-token-users";

pub use testkit::Backend;

testkit::test_app! {
    /// A running users service: the server (its URL, a client) and its store.
    pub struct TestApp {
        pub store: Arc<dyn Store>,
        _dir: Option<tempfile::TempDir>,
    }
}

/// A fresh, empty store of `backend` (no demo users).
pub async fn fresh_store(backend: Backend) -> (Arc<dyn Store>, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = SqliteStore::open(&dir.path().join("users.db"), false)
                .await
                .expect("open SQLite");
            (Arc::new(store), Some(dir))
        }
        Backend::Postgres => {
            let url = testkit::pg::fresh_database().await;
            let store = PgStore::connect(&url, 16, 4)
                .await
                .expect("connect PostgreSQL");
            (Arc::new(store), None)
        }
        other => panic!("users runs on SQLite or PostgreSQL, not {other:?}"),
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let (store, dir) = fresh_store(backend).await;
    spawn_with(store, Tokens::parse(TOKEN), dir).await
}

/// The app over `store`, guarded by `tokens`.
pub async fn spawn_with(
    store: Arc<dyn Store>,
    tokens: Tokens,
    dir: Option<tempfile::TempDir>,
) -> TestApp {
    let router = users::app(Arc::clone(&store), tokens, &HttpConfig::default());
    spawn_router(router, store, dir).await
}

/// Serves `router` on a free port.
pub async fn spawn_router(
    router: axum::Router,
    store: Arc<dyn Store>,
    dir: Option<tempfile::TempDir>,
) -> TestApp {
    TestApp {
        server: TestServer::start(router).await,
        store,
        _dir: dir,
    }
}

impl TestApp {
    /// GET returning the status and the JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.json().await.expect("a JSON body"))
    }

    /// POST a raw body with the token and `Content-Type: application/json`.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// POST JSON with the token.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.post_raw(path, body.to_string()).await
    }

    /// POST /transfers with an optional idempotency key.
    pub async fn transfer(&self, body: &Value, key: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url("/transfers"))
            .bearer_auth(TOKEN)
            .json(body);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        req.send().await.expect("request")
    }

    /// Creates a user; returns its id.
    pub async fn create_user(&self, name: &str, coins: i64) -> i64 {
        let r = self
            .post("/user", &serde_json::json!({"name": name, "coins": coins}))
            .await;
        assert_eq!(r.status(), 201, "create {name}");
        r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    /// A user's balance.
    pub async fn coins(&self, id: i64) -> i64 {
        let (status, body) = self.get_json(&format!("/user/{id}")).await;
        assert_eq!(status, 200, "user {id}");
        body["coins"].as_i64().unwrap()
    }

    /// Every user, following the `Link` headers.
    pub async fn all_users(&self) -> Vec<Value> {
        self.follow("/user?limit=1000").await
    }

    /// A user's whole ledger, following the `Link` headers.
    pub async fn ledger(&self, id: i64) -> Vec<Value> {
        self.follow(&format!("/user/{id}/transfers?limit=1000"))
            .await
    }

    /// Every row of a paged listing, starting at `path`.
    pub async fn follow(&self, path: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next {
            let r = self.get(&path).await;
            assert_eq!(r.status(), 200, "{path}");
            next = next_link(&r);
            let page: Vec<Value> = r.json().await.unwrap();
            rows.extend(page);
        }
        rows
    }
}

/// The URL of a response's `Link: <URL>; rel="next"` header.
pub fn next_link(r: &reqwest::Response) -> Option<String> {
    let link = r.headers().get("link")?.to_str().ok()?;
    assert!(link.ends_with("; rel=\"next\""), "{link}");
    Some(link.strip_prefix('<')?.split_once('>')?.0.to_owned())
}

/// Asserts a problem+json answer with `status`; returns its body.
pub async fn problem(r: reqwest::Response, status: u16) -> Value {
    let got = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = r.json().await.expect("a JSON problem");
    assert_eq!(got, status, "{body}");
    assert_eq!(ct.as_deref(), Some("application/problem+json"), "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}
