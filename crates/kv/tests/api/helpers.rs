//! `spawn_app`: the real kv application on a free port, on SQLite (a temporary
//! directory) or on Redis (the shared test Redis, plain, over TLS or the shared Redis
//! Cluster, under a unique key prefix; or a Redis of the test's own).

use std::{sync::Arc, time::Duration};

use kit::{auth::Tokens, config::Common, http::HttpConfig};
use kv::store::{
    Store,
    redis::{Mode, RedisStore},
    sqlite::SqliteStore,
};
use serde_json::{Value, json};
use testkit::TestServer;

pub use testkit::Backend;

testkit::test_app! {
    /// A running kv service.
    pub struct TestApp {
        /// Keeps the SQLite directory alive.
        _dir: Option<tempfile::TempDir>,
    }
}

impl TestApp {
    /// `GET /get/{id}` (the id percent-encoded as a path segment).
    pub async fn get_id(&self, id: &str) -> reqwest::Response {
        let mut url = reqwest::Url::parse(&self.url("/get/")).unwrap();
        url.path_segments_mut().unwrap().pop().push(id);
        self.client.get(url).send().await.expect("request")
    }

    /// `POST /set` with `body` as `content_type`, and a bearer token when given.
    pub async fn post_set(
        &self,
        content_type: &str,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/set"))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    /// `POST /set` with a JSON body.
    pub async fn set_json(&self, body: &Value) -> reqwest::Response {
        self.set_raw(body.to_string()).await
    }

    pub async fn set(&self, id: &str, data: &str) -> reqwest::Response {
        self.set_json(&json!({"id": id, "data": data})).await
    }

    /// `POST /set` with a raw body declared JSON.
    pub async fn set_raw(&self, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.post_set("application/json", None, body).await
    }

    /// The data stored under `id`, through the API.
    pub async fn data(&self, id: &str) -> Option<String> {
        let r = self.get_id(id).await;
        match r.status().as_u16() {
            404 => None,
            200 => {
                let v: Value = r.json().await.unwrap();
                Some(v[id].as_str().expect("a string value").to_owned())
            }
            s => panic!("GET /get/{id}: {s}"),
        }
    }
}

/// Options of [`spawn_with`].
pub struct Options {
    pub max_data: usize,
    pub tokens: Tokens,
    /// Redis URL (default: the backend's shared test Redis, kv user).
    pub redis_url: Option<String>,
    /// Cluster mode (default: for [`Backend::RedisCluster`]).
    pub cluster: Option<bool>,
    /// Key prefix (default: a unique one under `kv:`).
    pub prefix: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_data: 1024 * 1024,
            tokens: Tokens::none(),
            redis_url: None,
            cluster: None,
            prefix: None,
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_with(backend, Options::default()).await
}

pub async fn spawn_with(backend: Backend, options: Options) -> TestApp {
    let (store, dir): (Arc<dyn Store>, _) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("kv.db")).await.unwrap();
            (Arc::new(store), Some(dir))
        }
        Backend::Redis | Backend::RedisTls | Backend::RedisCluster => {
            let url = options.redis_url.unwrap_or_else(|| match backend {
                Backend::RedisTls => testkit::redis_env::tls_kv_url(),
                Backend::RedisCluster => testkit::redis_env::cluster_kv_url(),
                _ => testkit::redis_env::kv_url(),
            });
            let prefix = options
                .prefix
                .unwrap_or_else(|| testkit::redis_env::unique_prefix("kv:"));
            let mode = if options.cluster.unwrap_or(backend == Backend::RedisCluster) {
                Mode::Cluster
            } else {
                Mode::Single
            };
            let store =
                RedisStore::connect_with(&url, None, prefix, Duration::from_millis(500), mode)
                    .await
                    .expect("connect to Redis");
            (Arc::new(store), None)
        }
        other => panic!("kv runs on SQLite or Redis, not {other:?}"),
    };
    let config = kv::Config {
        max_data: options.max_data,
        ..kv::Config::for_tests()
    };
    let app = kv::app(store, &config, options.tokens, &HttpConfig::default());
    TestApp {
        server: TestServer::start(app).await,
        _dir: dir,
    }
}

/// Serves the service as `berth serve` builds it from settings.
pub async fn spawn_configured(config: &kv::Config, common: &Common) -> TestApp {
    let service = kv::service(config, common).await.expect("kv service");
    TestApp {
        server: TestServer::start(kit::http::app(service, &HttpConfig::default())).await,
        _dir: None,
    }
}
