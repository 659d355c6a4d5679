//! Test helpers shared by berth's service crates (a dev-dependency only).
//!
//! The test command, `scripts/test`, starts a throwaway PostgreSQL and Redis and
//! exports their URLs (`scripts/testenv.sh` documents the contract). These helpers read
//! them, and fail with a clear message when they are missing: a backend is never
//! skipped silently.
//!
//! # Layout
//!
//! - [`env()`]: read a `BERTH_TEST_*` variable or fail saying how to get it.
//! - [`pg`]: [`pg::fresh_database`], a new empty PostgreSQL database per test.
//! - [`redis_env`]: the shared Redis' URLs per user, and a unique key namespace per test.
//! - [`redis_server`]: [`redis_server::RedisServer`], a Redis of a test's own, started
//!   from the shipped `deploy/redis` config, that the test can SIGKILL and restart
//!   (plain or TLS); [`redis_server::RedisCluster`], three of them as a Redis Cluster.
//! - [`tls`]: the throwaway certificates of the test environment (a CA the tests
//!   trust through `SSL_CERT_FILE`, and a private one they do not).
//! - [`http`]: [`http::raw_exchange`], HTTP over a bare socket, for requests a client
//!   library would not send as they are (a large announced body that never comes).
//! - [`TestServer`]: a router served on a free port, shut down when dropped.
//! - [`conformance!`]: one test body run against every backend.
//! - [`eventually`]: wait for a condition, with a deadline, instead of a fixed sleep.

use std::{fmt::Write as _, net::SocketAddr, time::Duration};

/// Generates one `#[tokio::test]` per backend from `async fn NAME(backend)` bodies: the
/// test `MODULE::NAME` runs `NAME(VALUE)` for each `MODULE => VALUE`.
///
/// ```ignore
/// testkit::conformance! {
///     sqlite => Backend::Sqlite,
///     postgres => Backend::Postgres;
///     [creates_a_user, transfers_are_atomic]
/// }
/// ```
#[macro_export]
macro_rules! conformance {
    ($($module:ident => $backend:expr),+ ; $names:tt) => {
        $( $crate::conformance!(@one $module => $backend ; $names); )+
    };
    (@one $module:ident => $backend:expr ; [$($name:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($backend).await;
                }
            )*
        }
    };
}

/// The stores a conformance test runs a service on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: SQLite in a temporary directory.
    Sqlite,
    /// A fresh PostgreSQL database of the test cluster.
    Postgres,
    /// The test Redis, under a key prefix of the test's own.
    Redis,
    /// Redis and PostgreSQL together (multivac's queue and store).
    RedisPostgres,
    /// The TLS-only test PostgreSQL, `sslmode=verify-full` with the private CA.
    PostgresTls,
    /// The shared TLS-only Redis (`rediss://`, the certificate verified).
    RedisTls,
    /// The shared Redis Cluster (three masters, TLS), in cluster mode.
    RedisCluster,
    /// [`Backend::RedisTls`] and [`Backend::PostgresTls`] together.
    RedisTlsPostgresTls,
    /// [`Backend::RedisCluster`] and a fresh database of the test cluster together.
    RedisClusterPostgres,
}

impl Backend {
    /// Whether Redis is a cluster, used in cluster mode.
    pub fn cluster(self) -> bool {
        matches!(self, Self::RedisCluster | Self::RedisClusterPostgres)
    }
}

/// Polls `check` every 20 ms until it gives `Some`, and returns that.
///
/// # Panics
/// When `timeout` passes first, saying `what` did not happen.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: did not happen within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A router served on `127.0.0.1` and a free port by the kit's [`kit::Server`], with a
/// client that follows no redirects. Dropping it shuts the server down.
pub struct TestServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// A client for it.
    pub client: reqwest::Client,
    shutdown: kit::Shutdown,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Declares a test's app: a struct holding `server: TestServer` and the fields given,
/// that derefs to the server (so `app.url(..)`, `app.client` work on it).
///
/// ```ignore
/// testkit::test_app! {
///     /// A running users service.
///     pub struct TestApp { pub store: Arc<dyn Store> }
/// }
/// ```
#[macro_export]
macro_rules! test_app {
    ($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $(#[$meta])*
        pub struct $name {
            /// The server.
            pub server: $crate::TestServer,
            $($fields)*
        }

        impl ::std::ops::Deref for $name {
            type Target = $crate::TestServer;
            fn deref(&self) -> &$crate::TestServer {
                &self.server
            }
        }
    };
}

impl TestServer {
    /// Serves `router` (built with [`kit::http::app`] or the service's `app`).
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start(router: axum::Router) -> Self {
        Self::start_with_drain(router, Duration::from_secs(1)).await
    }

    /// [`TestServer::start`] with `drain` as the server's drain deadline.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start_with_drain(router: axum::Router, drain: Duration) -> Self {
        let server = kit::Server::bind("test", "127.0.0.1:0".parse().expect("an address"), router)
            .await
            .expect("bind a free port");
        let addr = server.local_addr();
        let shutdown = kit::Shutdown::new();
        let task = tokio::spawn(server.run(shutdown.clone(), drain));
        Self {
            addr,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            shutdown,
            task: Some(task),
        }
    }

    /// Triggers the shutdown and waits for the server to return its result.
    ///
    /// # Panics
    /// When it has not returned within `within`, or was stopped already.
    pub async fn stop(&mut self, within: Duration) -> std::io::Result<()> {
        self.shutdown.trigger();
        let task = self.task.take().expect("the server is running");
        tokio::time::timeout(within, task)
            .await
            .expect("the server stops within the deadline")
            .expect("the server task does not panic")
    }

    /// The URL of `path` (which starts with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `GET path`.
    ///
    /// # Panics
    /// When the request cannot be sent.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// The server's shutdown signal (triggering it stops the server).
    pub fn shutdown(&self) -> kit::Shutdown {
        self.shutdown.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Reads a `BERTH_TEST_*` environment variable.
///
/// # Panics
/// When it is not set, with a message saying to run the tests through `scripts/test`.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with `scripts/test` (it starts PostgreSQL and \
             Redis and exports BERTH_TEST_*), or `source DIR/env` from a kept environment"
        )
    })
}

/// A short random identifier for names (databases, key prefixes).
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut out = String::with_capacity(prefix.len() + 13);
    let _ = write!(out, "{prefix}{}", &id[..12]);
    out
}

/// A TCP port on 127.0.0.1 that nobody listened on a moment ago.
///
/// # Panics
/// When no port can be bound.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// PostgreSQL: one fresh database per test.
pub mod pg {
    use sqlx::{Connection, PgConnection};

    /// The superuser URL of the test cluster (`BERTH_TEST_PG_URL`).
    pub fn admin_url() -> String {
        super::env("BERTH_TEST_PG_URL")
    }

    /// The URL of database `name` on the test cluster.
    pub fn url_for(name: &str) -> String {
        let admin = admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        format!("{base}/{name}")
    }

    /// Creates a new, empty database and returns its URL. Databases are not dropped:
    /// the whole throwaway cluster is removed when the test run ends.
    pub async fn fresh_database() -> String {
        let name = super::unique("test_");
        let mut conn = PgConnection::connect(&admin_url())
            .await
            .expect("connect to the test PostgreSQL (BERTH_TEST_PG_URL)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        url_for(&name)
    }

    /// The superuser URL of the TLS-only test cluster (`BERTH_TEST_PG_TLS_URL`, host
    /// `localhost`, certificate of [`crate::tls::private_ca`]), without `sslmode`.
    pub fn tls_admin_url() -> String {
        super::env("BERTH_TEST_PG_TLS_URL")
    }

    /// Creates a new, empty database on the TLS-only cluster and returns its URL
    /// (without `sslmode`: the caller adds the mode it tests).
    pub async fn fresh_tls_database() -> String {
        let admin = tls_admin_url();
        let ca = crate::tls::private_ca();
        let name = super::unique("test_");
        let verified = format!("{admin}?sslmode=verify-full&sslrootcert={}", ca.display());
        let mut conn = PgConnection::connect(&verified)
            .await
            .expect("connect to the TLS test PostgreSQL (BERTH_TEST_PG_TLS_URL)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        format!("{base}/{name}")
    }

    /// The directory of PostgreSQL's binaries (`pgbench`, `psql`...).
    pub fn bin_dir() -> std::path::PathBuf {
        super::env("BERTH_TEST_PG_BIN").into()
    }
}

/// The shared test Redis.
pub mod redis_env {
    /// URL of the `kv` application user (keys `kv:*` only).
    pub fn kv_url() -> String {
        super::env("BERTH_TEST_REDIS_URL")
    }

    /// URL of the `multivac` application user (keys `multivac:*` only).
    pub fn multivac_url() -> String {
        super::env("BERTH_TEST_REDIS_MULTIVAC_URL")
    }

    /// URL of the `admin` user (everything).
    pub fn admin_url() -> String {
        super::env("BERTH_TEST_REDIS_ADMIN_URL")
    }

    /// URL of the `healthcheck` user (`PING` only).
    pub fn healthcheck_url() -> String {
        super::env("BERTH_TEST_REDIS_HEALTHCHECK_URL")
    }

    /// URL of the `kv` user on the shared TLS-only Redis (`rediss://...@localhost`).
    pub fn tls_kv_url() -> String {
        super::env("BERTH_TEST_REDIS_TLS_URL")
    }

    /// URL of the `multivac` user on the shared TLS-only Redis.
    pub fn tls_multivac_url() -> String {
        super::env("BERTH_TEST_REDIS_TLS_MULTIVAC_URL")
    }

    /// URL of the `admin` user on the shared TLS-only Redis.
    pub fn tls_admin_url() -> String {
        super::env("BERTH_TEST_REDIS_TLS_ADMIN_URL")
    }

    /// URL of the `kv` user on a node of the shared Redis Cluster (three masters,
    /// TLS).
    pub fn cluster_kv_url() -> String {
        super::env("BERTH_TEST_REDIS_CLUSTER_URL")
    }

    /// URL of the `multivac` user on a node of the shared Redis Cluster.
    pub fn cluster_multivac_url() -> String {
        super::env("BERTH_TEST_REDIS_CLUSTER_MULTIVAC_URL")
    }

    /// URL of the `admin` user on a node of the shared Redis Cluster.
    pub fn cluster_admin_url() -> String {
        super::env("BERTH_TEST_REDIS_CLUSTER_ADMIN_URL")
    }

    /// The `admin` URL of every node of the shared Redis Cluster, to look at each
    /// master's keys.
    pub fn cluster_node_admin_urls() -> Vec<String> {
        let admin = cluster_admin_url();
        let (head, _) = admin.rsplit_once('@').expect("a URL with credentials");
        super::env("BERTH_TEST_REDIS_CLUSTER_NODES")
            .split(',')
            .map(|node| format!("{head}@{node}/0"))
            .collect()
    }

    /// A key prefix no other test uses, inside `base` (e.g. `kv:` → `kv:t3f9a…:`), so
    /// tests share the Redis without seeing each other's keys.
    pub fn unique_prefix(base: &str) -> String {
        format!("{}:", super::unique(&format!("{base}t")))
    }
}

/// A Redis server of a test's own.
pub mod redis_server {
    use std::{
        path::{Path, PathBuf},
        process::{Child, Command, Stdio},
        time::{Duration, Instant},
    };

    /// A Redis started from the shipped `deploy/redis` config (ACL users, default user
    /// off, AOF with `appendfsync always`) on a free port and a unix socket, with its
    /// data (and the socket) in a temporary directory that outlives restarts. Killed
    /// when dropped.
    pub struct RedisServer {
        dir: tempfile::TempDir,
        port: u16,
        passwords: [(&'static str, String); 4],
        tls: Option<crate::tls::ServerCert>,
        /// More `redis-server` arguments (cluster mode).
        extra: Vec<String>,
        child: Option<Child>,
    }

    /// A free TCP port on 127.0.0.1.
    fn random_passwords() -> [(&'static str, String); 4] {
        ["kv", "multivac", "healthcheck", "admin"]
            .map(|user| (user, uuid::Uuid::new_v4().simple().to_string()))
    }

    impl RedisServer {
        /// Starts a new server and waits until it answers.
        pub async fn start() -> Self {
            Self::start_with(None, random_passwords(), Vec::new()).await
        }

        /// Starts a new server that takes TLS connections only (`--port 0 --tls-port`),
        /// presenting `cert`; [`RedisServer::url`] gives `rediss://localhost` URLs.
        pub async fn start_tls(cert: crate::tls::ServerCert) -> Self {
            Self::start_with(Some(cert), random_passwords(), Vec::new()).await
        }

        async fn start_with(
            tls: Option<crate::tls::ServerCert>,
            passwords: [(&'static str, String); 4],
            extra: Vec<String>,
        ) -> Self {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = super::free_port();
            let conf_dir = PathBuf::from(super::env("BERTH_TEST_REDIS_CONF_DIR"));
            let mut render = Command::new("sh");
            render
                .arg(conf_dir.join("render-acl.sh"))
                .arg(dir.path().join("users.acl"))
                .env("REDIS_SERVER", super::env("BERTH_TEST_REDIS_SERVER"))
                .stderr(Stdio::null());
            for (user, pw) in &passwords {
                render.env(format!("REDIS_{}_PASSWORD", user.to_uppercase()), pw);
            }
            let status = render.status().expect("run render-acl.sh");
            assert!(status.success(), "render-acl.sh failed");
            let mut server = Self {
                dir,
                port,
                passwords,
                tls,
                extra,
                child: None,
            };
            server.spawn().await;
            server
        }

        fn conf_dir() -> PathBuf {
            PathBuf::from(super::env("BERTH_TEST_REDIS_CONF_DIR"))
        }

        async fn spawn(&mut self) {
            let log = std::fs::File::options()
                .create(true)
                .append(true)
                .open(self.dir.path().join("redis.log"))
                .expect("redis log");
            let mut command = Command::new(super::env("BERTH_TEST_REDIS_SERVER"));
            command
                .arg(Self::conf_dir().join("redis.conf"))
                .args(["--aclfile"])
                .arg(self.dir.path().join("users.acl"))
                .arg("--dir")
                .arg(self.dir.path())
                .args(["--bind", "127.0.0.1"]);
            if let Some(tls) = &self.tls {
                command
                    .args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(&tls.cert)
                    .arg("--tls-key-file")
                    .arg(&tls.key)
                    .arg("--tls-ca-cert-file")
                    .arg(&tls.ca)
                    .args(["--tls-auth-clients", "no"]);
            } else {
                command.args(["--port", &self.port.to_string()]);
            }
            let child = command
                .args(&self.extra)
                .arg("--unixsocket")
                .arg(self.socket_path())
                .args(["--unixsocketperm", "700"])
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn redis-server");
            self.child = Some(child);
            self.wait_ready().await;
        }

        async fn wait_ready(&self) {
            let start = Instant::now();
            loop {
                // Over the unix socket: it needs no TLS, so the certificate is no
                // condition of readiness (a test may give an untrusted one).
                if let Ok(client) = redis::Client::open(self.unix_url("admin"))
                    && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                    && redis::cmd("PING")
                        .query_async::<String>(&mut conn)
                        .await
                        .is_ok_and(|p| p == "PONG")
                {
                    return;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "redis-server did not answer within 20 s; log: {}",
                    std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }

        /// The URL for `user` (`kv`, `multivac`, `healthcheck` or `admin`):
        /// `redis://...@127.0.0.1`, or with TLS `rediss://...@localhost`.
        pub fn url(&self, user: &str) -> String {
            let pw = self.password(user);
            if self.tls.is_some() {
                format!("rediss://{user}:{pw}@localhost:{}/0", self.port)
            } else {
                format!("redis://{user}:{pw}@127.0.0.1:{}/0", self.port)
            }
        }

        /// The URL for `user` over the server's unix socket.
        pub fn unix_url(&self, user: &str) -> String {
            let pw = self.password(user);
            format!(
                "redis+unix://{}?db=0&user={user}&pass={pw}",
                self.socket_path().display()
            )
        }

        fn password(&self, user: &str) -> &str {
            &self
                .passwords
                .iter()
                .find(|(u, _)| *u == user)
                .unwrap_or_else(|| panic!("no Redis user {user}"))
                .1
        }

        fn socket_path(&self) -> PathBuf {
            self.dir.path().join("redis.sock")
        }

        /// The URL with no credentials (the default user, which is off).
        pub fn anonymous_url(&self) -> String {
            let scheme = if self.tls.is_some() {
                "rediss"
            } else {
                "redis"
            };
            format!("{scheme}://127.0.0.1:{}/0", self.port)
        }

        /// The server's port.
        pub fn port(&self) -> u16 {
            self.port
        }

        /// The data directory (AOF files live here).
        pub fn data_dir(&self) -> &Path {
            self.dir.path()
        }

        /// SIGKILLs the server: no shutdown, no final fsync.
        pub fn kill9(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill(); // SIGKILL on Unix
                let _ = child.wait();
            }
        }

        /// Starts the server again on the same port and data directory.
        pub async fn restart(&mut self) {
            self.kill9();
            self.spawn().await;
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            self.kill9();
        }
    }

    /// A Redis Cluster of three masters of a test's own, each a [`RedisServer`] (same
    /// users and passwords), over TLS with the test CA or plain; the test can SIGKILL
    /// and restart every node (their cluster state survives in their directories).
    pub struct RedisCluster {
        nodes: Vec<RedisServer>,
    }

    impl RedisCluster {
        /// Starts three nodes, joins them with `redis-cli --cluster create` and waits
        /// until the cluster is ok.
        pub async fn start(tls: bool) -> Self {
            let passwords = random_passwords();
            let mut nodes = Vec::new();
            for _ in 0..3 {
                let extra = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-port",
                    &super::free_port().to_string(),
                ]
                .into_iter()
                .chain(
                    tls.then_some(["--tls-cluster", "yes"])
                        .into_iter()
                        .flatten(),
                )
                .map(str::to_owned)
                .collect();
                let cert = tls.then(crate::tls::trusted);
                nodes.push(RedisServer::start_with(cert, passwords.clone(), extra).await);
            }
            let cluster = Self { nodes };
            let mut create = Command::new("redis-cli");
            create
                .env("REDISCLI_AUTH", cluster.nodes[0].password("admin"))
                .args(["--no-auth-warning", "--user", "admin"]);
            if tls {
                create
                    .arg("--tls")
                    .arg("--cacert")
                    .arg(crate::tls::trusted().ca);
            }
            let output = create
                .arg("--cluster")
                .arg("create")
                .args(
                    cluster
                        .nodes
                        .iter()
                        .map(|n| format!("127.0.0.1:{}", n.port)),
                )
                .arg("--cluster-yes")
                .stdin(Stdio::null())
                .output()
                .expect("run redis-cli --cluster create");
            assert!(
                output.status.success(),
                "redis-cli --cluster create: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            cluster.wait_ok().await;
            cluster
        }

        /// Waits (at most 20 s) until every node says `cluster_state:ok`.
        pub async fn wait_ok(&self) {
            for node in &self.nodes {
                let url = node.unix_url("admin");
                super::eventually("the cluster is ok", Duration::from_secs(20), || {
                    let url = url.clone();
                    async move {
                        let client = redis::Client::open(url).ok()?;
                        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                        let info: String = redis::cmd("CLUSTER")
                            .arg("INFO")
                            .query_async(&mut conn)
                            .await
                            .ok()?;
                        info.contains("cluster_state:ok").then_some(())
                    }
                })
                .await;
            }
        }

        /// The URL of `user` on the first node.
        pub fn url(&self, user: &str) -> String {
            self.nodes[0].url(user)
        }

        /// The nodes.
        pub fn nodes(&self) -> &[RedisServer] {
            &self.nodes
        }

        /// SIGKILLs every node.
        pub fn kill9(&mut self) {
            for node in &mut self.nodes {
                node.kill9();
            }
        }

        /// Starts every node again (same ports, data and cluster state) and waits
        /// until the cluster is ok.
        pub async fn restart(&mut self) {
            for node in &mut self.nodes {
                node.restart().await;
            }
            self.wait_ok().await;
        }
    }
}

/// The test environment's throwaway certificates (`scripts/testenv.sh` makes them and
/// exports `SSL_CERT_FILE`, a bundle of the system's CAs and [`tls::trusted`]'s CA).
pub mod tls {
    use std::path::PathBuf;

    /// A server certificate, its key and the CA that signed it.
    #[derive(Debug, Clone)]
    pub struct ServerCert {
        /// The certificate (PEM), for `localhost` and `127.0.0.1`.
        pub cert: PathBuf,
        /// Its private key (PEM).
        pub key: PathBuf,
        /// The CA's certificate (PEM).
        pub ca: PathBuf,
    }

    /// A certificate of the CA every client of the tests trusts (`SSL_CERT_FILE`).
    pub fn trusted() -> ServerCert {
        ServerCert {
            cert: super::env("BERTH_TEST_TLS_CERT").into(),
            key: super::env("BERTH_TEST_TLS_KEY").into(),
            ca: super::env("BERTH_TEST_TLS_CA").into(),
        }
    }

    /// A certificate of a CA no client trusts unless told ([`private_ca`]).
    pub fn untrusted() -> ServerCert {
        ServerCert {
            cert: super::env("BERTH_TEST_TLS_PRIVATE_CERT").into(),
            key: super::env("BERTH_TEST_TLS_PRIVATE_KEY").into(),
            ca: private_ca(),
        }
    }

    /// The private CA's certificate (not in `SSL_CERT_FILE`).
    pub fn private_ca() -> PathBuf {
        super::env("BERTH_TEST_TLS_PRIVATE_CA").into()
    }
}

/// HTTP over a bare socket.
pub mod http {
    use std::{net::SocketAddr, time::Duration};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Sends `request` (raw bytes: head and whatever body) on a new connection and
    /// returns what comes back until the server closes it, a JSON body has ended, or
    /// 2 s pass.
    ///
    /// For a body over a limit, a test sends only the head with its `content-length`:
    /// the server answers 413 from the announced length, while a client still writing
    /// megabytes may see the connection close under it (a broken pipe, not an answer).
    ///
    /// # Panics
    /// When the connection cannot be made or the request not written.
    pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(request).await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, conn.read(&mut chunk)).await {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.ends_with(b"}") {
                break;
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}
