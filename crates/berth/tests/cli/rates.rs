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
