//! The queue over TLS (certificates checked, `#insecure`) and in Redis Cluster mode (the
//! keys in one slot under the prefix, the mode checked at start, a cluster down and
//! back), against real servers: the shared TLS Redis and Redis Cluster of
//! `scripts/testenv.sh`, or servers of the test's own (testkit).

use std::time::Duration;

use clap::Parser;
use multivac::{error::BackendError, queue::redis::RedisQueue};
use testkit::redis_server::{RedisCluster, RedisServer};

use crate::{
    helpers::{Kind, env, fast_tuning},
    malformed_entry, redis_down_then_back,
};

const IDLE: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_redis_down_means_503_and_loses_nothing_acknowledged() {
    let mut redis = RedisServer::start_tls(testkit::tls::trusted()).await;
    let url = redis.url("multivac");
    assert!(url.starts_with("rediss://"), "{url}");
    redis_down_then_back(Kind::RedisTlsPostgresTls, &mut redis, url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_down_means_503_and_loses_nothing_acknowledged() {
    let mut cluster = RedisCluster::start(true).await;
    let url = cluster.url("multivac");
    redis_down_then_back(Kind::RedisClusterPostgres, &mut cluster, url).await;
}

#[tokio::test]
async fn a_certificate_multivac_cannot_trust_stops_it_at_start_unless_insecure() {
    // A CA that is not in SSL_CERT_FILE.
    let redis = RedisServer::start_tls(testkit::tls::untrusted()).await;
    let err = RedisQueue::connect(&redis.url("multivac"), "multivac:", false, IDLE, TIMEOUT)
        .await
        .unwrap_err();
    let chain = kit::problem::chain(&err);
    assert!(chain.contains("UnknownIssuer"), "{chain}");

    // `#insecure`: encrypted, nothing checked.
    let insecure = format!("{}#insecure", redis.url("multivac"));
    let queue = RedisQueue::connect(&insecure, "multivac:", false, IDLE, TIMEOUT)
        .await
        .unwrap();
    let id = multivac::queue::Queue::push(&queue, "over TLS")
        .await
        .unwrap();
    let client = redis::Client::open(redis.unix_url("admin")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let len: u64 = redis::cmd("XLEN")
        .arg("multivac:queue")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 1, "{id}");
}

#[tokio::test]
async fn in_cluster_mode_the_keys_share_one_slot_under_the_prefix() {
    let env = env(Kind::RedisClusterPostgres, fast_tuning()).await;
    let prefix = env.redis_prefix.clone();
    assert!(prefix.starts_with("multivac:"), "{prefix}");
    env.backends.queue.push("tagged").await.unwrap();

    let admin =
        redis::cluster::ClusterClient::new([testkit::redis_env::cluster_admin_url()]).unwrap();
    let mut conn = admin.get_async_connection().await.unwrap();
    let (stream, dead) = multivac::queue::redis::keys(&prefix, true);
    assert_eq!(stream, format!("{prefix}{{q}}:queue"));
    assert_eq!(dead, format!("{prefix}{{q}}:dead"));
    let exists = |key: String| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("EXISTS")
                .arg(key)
                .query_async::<u64>(&mut conn)
                .await
                .unwrap()
        }
    };
    assert_eq!(exists(stream.clone()).await, 1);
    assert_eq!(exists(format!("{prefix}queue")).await, 0);
    let slot = |key: String| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(key)
                .query_async::<u64>(&mut conn)
                .await
                .unwrap()
        }
    };
    assert_eq!(slot(stream.clone()).await, slot(dead.clone()).await);

    // Dead-lettering (MULTI: XADD dead, XACK, XDEL on the stream) runs in that slot.
    env.drain().await;
    let multivac =
        redis::cluster::ClusterClient::new([testkit::redis_env::cluster_multivac_url()]).unwrap();
    let mut as_multivac = multivac.get_async_connection().await.unwrap();
    malformed_entry(&env, &mut as_multivac, &stream).await;
    let dead_letters: u64 = redis::cmd("XLEN")
        .arg(&dead)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(dead_letters, 1);
    let counts = env.backends.queue.counts().await.unwrap();
    assert_eq!(
        (counts.queued, counts.in_progress, counts.failed),
        (0, 0, 1)
    );
}

#[tokio::test]
async fn the_cluster_setting_must_match_the_server() {
    let cluster = testkit::redis_env::cluster_multivac_url();
    let single = testkit::redis_env::multivac_url();
    for (url, prefix, cluster_mode, says) in [
        (&cluster, "multivac:", false, "--multivac-redis-cluster"),
        (&single, "multivac:", true, "not a cluster"),
        // A prefix whose keys would hash to different slots is refused.
        (&cluster, "multivac:{}", true, ""),
    ] {
        let err = RedisQueue::connect(url, prefix, cluster_mode, IDLE, TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, BackendError::Setup(m) if m.contains(says)),
            "{url} {prefix} cluster={cluster_mode}: {err:?}"
        );
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    multivac: multivac::Config,
}

#[test]
fn the_setting_turns_cluster_mode_on() {
    let parse = |args: &[&str]| {
        Cli::try_parse_from(args)
            .unwrap()
            .multivac
            .backend
            .redis_cluster
            .on
    };
    assert!(!parse(&["x"]));
    assert!(parse(&["x", "--multivac-redis-cluster"]));
    assert!(parse(&["x", "--multivac-redis-cluster", "true"]));
    assert!(!parse(&["x", "--multivac-redis-cluster", "false"]));
}
