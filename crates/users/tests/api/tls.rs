//! PostgreSQL over TLS, against the test environment's TLS-only PostgreSQL (its
//! certificate from a private CA, `pg_hba` refusing every TCP connection without TLS)
//! and its plain one: `sslmode=verify-full` with `sslrootcert`, `require`, and the
//! failures at start when the certificate cannot be trusted or the server has no TLS.

use std::sync::Arc;

use kit::{auth::Tokens, config::Common};
use serde_json::json;
use sqlx::{Connection as _, PgConnection};
use users::Config;

use crate::helpers::{TOKEN, spawn_with};

/// The users service's settings with `url` as its database.
fn with_database(url: &str) -> Config {
    Config {
        database: users::DatabaseUrl::given(url.to_owned()),
        ..Config::for_tests()
    }
}

/// Opens the store as `berth serve` does.
async fn open(url: &str) -> anyhow::Result<Arc<dyn users::store::Store>> {
    let dir = tempfile::tempdir().unwrap();
    users::store::open(&with_database(url), &Common::for_tests(dir.path())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_runs_over_tls_with_the_certificate_verified() {
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        testkit::pg::fresh_tls_database().await,
        testkit::tls::private_ca().display()
    );
    let store = open(&url).await.expect("users over verified TLS");
    let app = spawn_with(store, Tokens::parse(TOKEN), None).await;
    // Writes and reads: both pools of sessions, and the transfer function.
    let ada = app.create_user("ada", 100).await;
    let bob = app.create_user("bob", 5).await;
    let r = app
        .transfer(&json!({"from": ada, "to": bob, "amount": 30}), Some("k1"))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!((app.coins(ada).await, app.coins(bob).await), (70, 35));
    assert_eq!(app.all_users().await.len(), 2);
    assert_eq!(app.get("/healthcheck").await.status(), 200);

    // Every session the service opened is encrypted (the server would have refused
    // one that is not: hostssl only).
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let (tls, plain): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
         FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(tls >= 2, "{tls} TLS sessions (a read and a write pool)");
    assert_eq!(plain, 0);
}

#[tokio::test]
async fn sslmode_require_encrypts_without_checking_the_certificate() {
    // The private CA is in no trust store: `require` does not ask (as libpq).
    let url = format!(
        "{}?sslmode=require",
        testkit::pg::fresh_tls_database().await
    );
    let store = open(&url).await.expect("users over TLS, sslmode=require");
    store.ping().await.unwrap();
    // `verify-ca` checks the chain (not the name): with the CA it works too.
    let url = url.replace(
        "sslmode=require",
        &format!(
            "sslmode=verify-ca&sslrootcert={}",
            testkit::tls::private_ca().display()
        ),
    );
    open(&url).await.expect("users over TLS, sslmode=verify-ca");
}

/// Opening the store at `url` fails at start, the error chain naming the database and
/// `cause`.
async fn refused_at_start(url: &str, cause: &str) {
    let err = open(url).await.err().expect("refused at start");
    let chain = format!("{err:#}");
    assert!(
        chain.contains("connecting to the users database") && chain.contains(cause),
        "{chain}"
    );
}

#[tokio::test]
async fn a_certificate_users_cannot_trust_stops_it_at_start() {
    let url = testkit::pg::fresh_tls_database().await;
    refused_at_start(&format!("{url}?sslmode=verify-full"), "UnknownIssuer").await;
}

#[tokio::test]
async fn sslmode_require_against_a_server_without_tls_stops_users_at_start() {
    let url = testkit::pg::fresh_database().await;
    refused_at_start(
        &format!("{url}?sslmode=require"),
        "server does not support TLS",
    )
    .await;
}
