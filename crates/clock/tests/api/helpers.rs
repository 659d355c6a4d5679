//! `spawn_app`: the real clock application on a free port.

use std::net::SocketAddr;

use kit::{Server, Shutdown, http::HttpConfig};

/// A running clock service.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    _shutdown: ShutdownOnDrop,
}

struct ShutdownOnDrop(Shutdown);
impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.0.trigger();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// `GET /clock?mirror_time=<t>` (URL-encoded).
    pub async fn clock(&self, mirror_time: &str) -> reqwest::Response {
        self.client
            .get(self.url("/clock"))
            .query(&[("mirror_time", mirror_time)])
            .send()
            .await
            .expect("request")
    }
}

pub async fn spawn_app() -> TestApp {
    let app = clock::app(&HttpConfig::default());
    let server = Server::bind("clock", "127.0.0.1:0".parse().unwrap(), app)
        .await
        .expect("bind");
    let addr = server.local_addr();
    let shutdown = Shutdown::new();
    tokio::spawn(server.run(shutdown.clone(), std::time::Duration::from_secs(1)));
    TestApp {
        addr,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _shutdown: ShutdownOnDrop(shutdown),
    }
}
