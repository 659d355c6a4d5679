//! Redis over TLS (certificates checked, `#insecure`, a server without TLS) and Redis
//! Cluster mode (keys spread over every master, the mode checked at start, a cluster
//! down and back), against real servers: the shared TLS Redis and Redis Cluster of
//! `scripts/testenv.sh`, or servers of the test's own (testkit).

use std::time::Duration;

use clap::Parser;
use kv::store::{
    Store as _,
    redis::{Mode, RedisStore, SetupError},
};
use testkit::redis_server::{RedisCluster, RedisServer};

use crate::{
    helpers::{Backend, Options, spawn_with},
    redis_only::{fast_503s_while_down_then_recovery, raw_get, redis_error, store_round_trip},
};

const TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn a_certificate_kv_cannot_trust_stops_it_at_start_unless_insecure() {
    // A CA that is not in SSL_CERT_FILE.
    let server = RedisServer::start_tls(testkit::tls::untrusted()).await;
    let err = RedisStore::connect(&server.url("kv"), None, "kv:", TIMEOUT)
        .await
        .unwrap_err();
    let SetupError::Tls(why) = &err else {
        panic!("not a TLS error: {err:?}")
    };
    assert!(why.contains("UnknownIssuer"), "{err}");
    assert!(
        err.to_string().starts_with("TLS with Redis failed"),
        "{err}"
    );

    // `#insecure` (redis-rs' syntax): encrypted, nothing checked.
    let insecure = format!("{}#insecure", server.url("kv"));
    store_round_trip(&insecure, &server.unix_url("admin"), "k", "v").await;
}

#[tokio::test]
async fn rediss_to_a_server_without_tls_never_falls_back_to_plain_text() {
    let server = RedisServer::start().await;
    let url = server
        .url("kv")
        .replacen("redis://", "rediss://", 1)
        .replacen("127.0.0.1", "localhost", 1);
    // A plain Redis waits for the end of a line in the TLS hello: kv starts (as when
    // Redis does not answer yet) and answers every request with a fast 503.
    let short = Duration::from_millis(300);
    let store = RedisStore::connect(&url, None, "kv:", short).await.unwrap();
    for _ in 0..2 {
        let err = store.set("plain", "x").await.unwrap_err();
        assert!(
            matches!(err, kv::store::StoreError::Unavailable(_)),
            "{err:?}"
        );
        assert!(store.ping().await.is_err());
    }
    assert_eq!(
        redis_error(&server.url("admin"), &["EXISTS", "kv:plain"])
            .await
            .unwrap(),
        redis::Value::Int(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_redis_down_is_a_fast_503_and_kv_recovers_by_itself() {
    let mut server = RedisServer::start_tls(testkit::tls::trusted()).await;
    let app = crate::redis_only::app_at(Backend::RedisTls, server.url("kv")).await;
    fast_503s_while_down_then_recovery(&mut server, &app).await;
    // The data went through TLS to this server.
    assert_eq!(
        raw_get(&server.unix_url("admin"), "kv:before")
            .await
            .as_deref(),
        Some("3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_mode_keys_land_on_every_master_with_201_then_200() {
    const KEYS: usize = 60;
    let prefix = testkit::redis_env::unique_prefix("kv:");
    let app = spawn_with(
        Backend::RedisCluster,
        Options {
            prefix: Some(prefix.clone()),
            ..Options::default()
        },
    )
    .await;
    for i in 0..KEYS {
        assert_eq!(app.set(&format!("key-{i}"), "first").await.status(), 201);
    }
    for i in 0..KEYS {
        let id = format!("key-{i}");
        assert_eq!(app.set(&id, &format!("second {i}")).await.status(), 200);
        assert_eq!(app.data(&id).await, Some(format!("second {i}")));
    }
    assert_eq!(app.data("key-absent").await, None);
    assert_eq!(app.get("/healthcheck").await.status(), 200);

    // Each master holds some of them, and together all.
    let mut total = 0;
    for node in testkit::redis_env::cluster_node_admin_urls() {
        let keys = redis_error(&node, &["KEYS", &format!("{prefix}*")])
            .await
            .unwrap();
        let redis::Value::Array(keys) = keys else {
            panic!("KEYS: {keys:?}")
        };
        assert!(!keys.is_empty(), "no key on {node}");
        total += keys.len();
    }
    assert_eq!(total, KEYS);
}

#[tokio::test]
async fn the_cluster_setting_must_match_the_server() {
    for (url, mode, says) in [
        (
            testkit::redis_env::cluster_kv_url(),
            Mode::Single,
            "--kv-redis-cluster",
        ),
        (testkit::redis_env::kv_url(), Mode::Cluster, "not a cluster"),
    ] {
        let err = RedisStore::connect_with(&url, None, "kv:", TIMEOUT, mode)
            .await
            .unwrap_err();
        assert!(
            matches!(err, SetupError::Mode(m) if m.contains(says)),
            "{url} {mode:?}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_down_is_a_fast_503_and_kv_recovers_by_itself() {
    let mut cluster = RedisCluster::start(true).await;
    let app = crate::redis_only::app_at(Backend::RedisCluster, cluster.url("kv")).await;
    fast_503s_while_down_then_recovery(&mut cluster, &app).await;
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    kv: kv::Config,
}

#[tokio::test]
async fn the_setting_turns_cluster_mode_on() {
    assert!(!Cli::try_parse_from(["x"]).unwrap().kv.redis_cluster.on);
    assert!(
        Cli::try_parse_from(["x", "--kv-redis-cluster"])
            .unwrap()
            .kv
            .redis_cluster
            .on
    );
    assert!(
        !Cli::try_parse_from(["x", "--kv-redis-cluster", "false"])
            .unwrap()
            .kv
            .redis_cluster
            .on
    );

    // As `berth serve` builds it: the URL of one node, cluster mode on.
    let dir = tempfile::tempdir().unwrap();
    let prefix = testkit::redis_env::unique_prefix("kv:");
    let mut config = kv::Config::for_tests();
    config.redis = kv::RedisUrl::given(testkit::redis_env::cluster_kv_url());
    config.redis_cluster.on = true;
    config.prefix.clone_from(&prefix);
    let app =
        crate::helpers::spawn_configured(&config, &kit::config::Common::for_tests(dir.path()))
            .await;
    for i in 0..10 {
        assert_eq!(app.set(&format!("c{i}"), "v").await.status(), 201);
    }
    let cluster =
        redis::cluster::ClusterClient::new([testkit::redis_env::cluster_admin_url()]).unwrap();
    let mut conn = cluster.get_async_connection().await.unwrap();
    for i in 0..10 {
        let value: Option<String> = redis::cmd("GET")
            .arg(format!("{prefix}c{i}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(value.as_deref(), Some("v"));
    }
}
