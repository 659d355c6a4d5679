//! `berth rates load` as a one-shot loader in a stack that is still starting.

use std::{
    io,
    net::{Shutdown, TcpListener, TcpStream},
    path::Path,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
};

use super::BERTH;

/// The sample dump the compose stack loads by default.
fn sample_dump() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/compose/rates/sample.sql")
}

/// Prices in a dump, counted from its text: the rows of its `COPY ... prices` block.
fn prices_in_dump(path: &Path) -> i64 {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|l| l.starts_with("COPY ") && l.contains("prices"))
        .expect("the dump has a COPY into prices");
    let rows = lines.take_while(|l| *l != "\\.").count();
    i64::try_from(rows).unwrap()
}

/// A TCP relay to `target` that cuts the first `refuse` connections right after
/// accepting them, as a database that is not ready yet (or a proxy in front of it)
/// does. Returns its port and the number of connections it has accepted.
fn flaky_relay(target: &str, refuse: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let target = target.to_owned();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            if count.fetch_add(1, Ordering::SeqCst) < refuse {
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
            let Ok(server) = TcpStream::connect(&target) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                thread::spawn(move || {
                    let _ = io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        }
    });
    (port, accepted)
}

/// `host:port` of a `postgres://user@host:port/db` URL.
fn host_port(url: &str) -> &str {
    let rest = url.split_once('@').map_or(url, |(_, r)| r);
    rest.split_once('/').map_or(rest, |(hp, _)| hp)
}

fn load(url: &str, dump: &Path, data_dir: &Path) -> std::process::Output {
    Command::new(BERTH)
        .args(["rates", "load", "--replace"])
        .arg(dump)
        .env("BERTH_RATES_DATABASE_URL", url)
        .env("BERTH_DATA_DIR", data_dir)
        .env("BERTH_LOG_FORMAT", "json")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

async fn prices_stored(url: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM prices")
        .fetch_one(&pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn load_tries_again_while_the_database_drops_connections() {
    let url = testkit::pg::fresh_database().await;
    let target = host_port(&url).to_owned();
    let (port, accepted) = flaky_relay(&target, 2);
    let relayed = url.replacen(&target, &format!("127.0.0.1:{port}"), 1);
    let data_dir = tempfile::tempdir().unwrap();
    let dump = sample_dump();

    let out = tokio::task::spawn_blocking({
        let (relayed, dump, dir) = (relayed.clone(), dump.clone(), data_dir.path().to_owned());
        move || load(&relayed, &dump, &dir)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "load failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    let retries = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| l.contains("trying again"))
        .count();
    assert!(retries >= 1, "no retry was logged:\n{stdout}\n{stderr}");
    assert!(accepted.load(Ordering::SeqCst) >= 3);
    assert_eq!(prices_stored(&url).await, prices_in_dump(&dump));
}

#[tokio::test]
async fn a_bad_dump_fails_at_once_without_retrying() {
    let url = testkit::pg::fresh_database().await;
    let data_dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(sample_dump()).unwrap();
    // Cut before the end of the first COPY block: it never ends.
    let cut = text.find("\\.\n").unwrap();
    let truncated = data_dir.path().join("truncated.sql");
    std::fs::write(&truncated, &text[..cut]).unwrap();

    let out = tokio::task::spawn_blocking({
        let (url, dir) = (url.clone(), data_dir.path().to_owned());
        move || load(&url, &truncated, &dir)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a truncated dump loaded:\n{stdout}");
    assert!(stderr.contains("line "), "no line named: {stderr}");
    assert!(
        !stdout.contains("trying again") && !stderr.contains("trying again"),
        "a bad file is not worth another attempt:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        prices_stored(&url).await,
        0,
        "a failed load left prices behind"
    );
}

/// A web server of `dump` at `/sample.sql` (any other path: 404) on a free port of
/// 127.0.0.1, over HTTPS with `tls`, else plain HTTP; stops when dropped.
struct DumpServer {
    base: String,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl DumpServer {
    async fn start(dump: Vec<u8>, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let dump = axum::body::Bytes::from(dump);
        let router = axum::Router::new().route(
            "/sample.sql",
            axum::routing::get(move || async move { dump.clone() }),
        );
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let (base, task) = match tls {
            None => (
                format!("http://{addr}"),
                tokio::spawn(async move { axum::serve(tcp, router).await.unwrap() }),
            ),
            Some(acceptor) => (
                format!("https://{addr}"),
                tokio::spawn(async move {
                    axum::serve(TlsListener { tcp, acceptor }, router)
                        .await
                        .unwrap();
                }),
            ),
        };
        Self {
            base,
            _task: tokio_util::task::AbortOnDropHandle::new(task),
        }
    }
}

/// TCP connections that completed a TLS handshake (those that did not are dropped).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A CA made for one test (its certificate in PEM) and a TLS acceptor with a server
/// certificate it signed for 127.0.0.1.
fn test_ca() -> (String, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    use tokio_rustls::rustls::{self, pki_types::PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "berth test CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    // The crypto provider of rustls's features (ring, as reqwest's).
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .unwrap();
    (ca_pem, tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// `berth rates load ARGS` into SQLite in `data_dir`, with `env` set (and nothing of
/// this machine's TLS settings).
async fn load_sqlite(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BERTH);
    cmd.args(["rates", "load"])
        .args(args)
        .env("BERTH_DATA_DIR", data_dir)
        .env("BERTH_LOG_FORMAT", "json");
    for var in [
        "DATABASE_URL",
        "BERTH_RATES_DATABASE_URL",
        "BERTH_RATES_DUMP",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn sqlite_prices(data_dir: &Path) -> i64 {
    let url = format!("sqlite://{}?mode=ro", data_dir.join("rates.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM prices")
        .fetch_one(&pool)
        .await
        .unwrap()
}

/// Output and success of a child, for assertions.
fn report(out: &std::process::Output) -> String {
    format!(
        "{}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_reads_a_dump_from_a_url() {
    let dump = sample_dump();
    let want = prices_in_dump(&dump);
    let server = DumpServer::start(std::fs::read(&dump).unwrap(), None).await;
    let url = format!("{}/sample.sql", server.base);
    let data_dir = tempfile::tempdir().unwrap();

    let out = load_sqlite(data_dir.path(), &[&url], &[]).await;
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(sqlite_prices(data_dir.path()).await, want);

    // No positional: the location comes from BERTH_RATES_DUMP.
    let out = load_sqlite(
        data_dir.path(),
        &["--replace"],
        &[("BERTH_RATES_DUMP", &url)],
    )
    .await;
    assert!(out.status.success(), "{}", report(&out));
    assert!(report(&out).contains("loaded http://"), "{}", report(&out));
    assert_eq!(sqlite_prices(data_dir.path()).await, want);

    // A 404 fails at once, names the status, and leaves the data as it was.
    let missing = format!("{}/missing.sql", server.base);
    let out = load_sqlite(data_dir.path(), &["--replace", &missing], &[]).await;
    let all = report(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("the server answered 404 Not Found"), "{all}");
    assert!(!all.contains("trying again"), "a 404 is final: {all}");
    assert_eq!(sqlite_prices(data_dir.path()).await, want);

    // Neither a positional nor BERTH_RATES_DUMP: told what to give.
    let out = load_sqlite(data_dir.path(), &[], &[]).await;
    assert!(!out.status.success());
    assert!(
        report(&out).contains("BERTH_RATES_DUMP"),
        "{}",
        report(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_over_https_trusts_the_roots_of_ssl_cert_file() {
    let (ca_pem, acceptor) = test_ca();
    let server = DumpServer::start(std::fs::read(sample_dump()).unwrap(), Some(acceptor)).await;
    let url = format!("{}/sample.sql", server.base);
    let data_dir = tempfile::tempdir().unwrap();

    // The system's roots do not know the test CA: refused, and not tried again.
    let out = load_sqlite(data_dir.path(), &[&url], &[]).await;
    let all = report(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("certificate"), "{all}");
    assert!(
        !all.contains("trying again"),
        "a refused certificate is final: {all}"
    );

    let ca_file = data_dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let ca_file = ca_file.to_str().unwrap();
    let out = load_sqlite(data_dir.path(), &[&url], &[("SSL_CERT_FILE", ca_file)]).await;
    assert!(out.status.success(), "{}", report(&out));
    assert_eq!(
        sqlite_prices(data_dir.path()).await,
        prices_in_dump(&sample_dump())
    );
}

/// A dump `berth serve` loads from a URL at start, and nothing else would answer: its
/// ports are not those of the sample data an empty SQLite is otherwise seeded with.
const TINY_DUMP: &str = "SET client_encoding = 'UTF8';
COPY public.ports (code, name, parent_slug) FROM stdin;
QQAAA\tPort A\tqq
QQBBB\tPort B\tqq
\\.
COPY public.prices (orig_code, dest_code, day, price) FROM stdin;
QQAAA\tQQBBB\t2021-01-02\t100
QQAAA\tQQBBB\t2021-01-02\t200
QQAAA\tQQBBB\t2021-01-02\t300
\\.
COPY public.regions (slug, name, parent_slug) FROM stdin;
qq\tQQ\t\\N
\\.
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_loads_its_rates_dump_from_a_url() {
    let server = DumpServer::start(TINY_DUMP.as_bytes().to_vec(), None).await;
    let url = format!("{}/sample.sql", server.base);
    let serve = super::Serve::start(&["rates", "--rates-dump", &url]);
    let answer: serde_json::Value = reqwest::get(format!(
        "{}/rates?date_from=2021-01-02&date_to=2021-01-02&orig_code=QQAAA&dest_code=qq",
        serve.url("rates")
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"rates": [{"day": "2021-01-02", "count": 3, "price": 200.0}]})
    );
}
