//! The service as `berth serve` builds it: settings, the embedded default's demo users,
//! the generated token, the store chosen by URL.

use std::time::Duration;

use clap::Parser;
use kit::{auth::Tokens, config::Common};
use serde_json::{Value, json};
use users::Config;

use crate::helpers::{TOKEN, problem, spawn_router};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    users: Config,
}

#[test]
fn settings_have_the_documented_defaults_and_names() {
    let cli = Cli::try_parse_from(["x"]).unwrap();
    assert_eq!(cli.users.listen.addr.to_string(), "0.0.0.0:8300");
    assert!(cli.users.database.value.is_none());
    assert_eq!(cli.users.pool_size, 16);
    assert_eq!(cli.users.read_pool_size, 4);
    assert!(cli.users.seed_demo);
    let cli = Cli::try_parse_from([
        "x",
        "--users-addr",
        "127.0.0.1:9",
        "--users-database-url",
        "postgres://u:p@h/d",
        "--users-pool-size",
        "4",
        "--users-read-pool-size",
        "2",
        "--users-seed-demo",
        "false",
    ])
    .unwrap();
    assert_eq!(cli.users.listen.addr.to_string(), "127.0.0.1:9");
    assert_eq!(
        cli.users.database.value.unwrap().expose(),
        "postgres://u:p@h/d"
    );
    assert_eq!(cli.users.pool_size, 4);
    assert_eq!(cli.users.read_pool_size, 2);
    assert!(!cli.users.seed_demo);
    assert!(Cli::try_parse_from(["x", "--users-pool-size", "0"]).is_err());
    assert!(Cli::try_parse_from(["x", "--users-read-pool-size", "0"]).is_err());
}

/// The settings with no flag and no variable (`seed_demo` on).
fn defaults() -> Config {
    Config {
        seed_demo: true,
        ..Config::for_tests()
    }
}

async fn serve(config: &Config, common: &Common) -> crate::helpers::TestApp {
    let store = users::store::open(config, common).await.expect("store");
    let service = users::service(config, common).await.expect("service");
    let router = kit::http::app(service, &kit::http::HttpConfig::default());
    spawn_router(router, store, None).await
}

#[tokio::test]
async fn the_embedded_default_seeds_demo_users_once_and_stays_closed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let common = Common::for_tests(&data); // no token configured
    let app = serve(&defaults(), &common).await;
    assert!(data.join("users.db").exists());
    let users = app.all_users().await;
    let names: Vec<&str> = users.iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob", "carol", "dave", "erin"]);
    assert_eq!(users[0], json!({"id": 1, "name": "alice", "coins": 120}));

    // No token configured: a random one was generated, so POSTs stay closed.
    for token in ["", TOKEN, "null", "undefined"] {
        let r = app
            .client
            .post(app.url("/transfers"))
            .bearer_auth(token)
            .json(&json!({"from": 1, "to": 2, "amount": 1}))
            .send()
            .await
            .unwrap();
        problem(r, 401).await;
    }
    drop(app);

    // Reopened with a user gone... never re-seeded: the store is not empty.
    let common = Common {
        tokens: Tokens::parse(TOKEN),
        ..Common::for_tests(&data)
    };
    let app = serve(&defaults(), &common).await;
    let r = app
        .transfer(&json!({"from": 1, "to": 4, "amount": 20}), None)
        .await;
    assert_eq!(r.status(), 201);
    drop(app);
    let app = serve(&defaults(), &common).await;
    let users = app.all_users().await;
    assert_eq!(users.len(), 5);
    assert_eq!(users[0]["coins"], 100);
    assert_eq!(users[3]["coins"], 20);
}

#[tokio::test]
async fn seeding_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        seed_demo: false,
        ..defaults()
    };
    let app = serve(&config, &Common::for_tests(dir.path())).await;
    assert_eq!(app.get("/user").await.text().await.unwrap(), "[]");
}

#[tokio::test]
async fn postgres_is_chosen_by_url_and_never_seeded() {
    let url = testkit::pg::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    // The process-wide DATABASE_URL.
    let common = Common {
        database_url: Some(kit::config::Secret::new(url.clone())),
        tokens: Tokens::parse(TOKEN),
        ..Common::for_tests(dir.path())
    };
    let app = serve(&defaults(), &common).await;
    assert_eq!(app.store.backend(), "postgres");
    assert_eq!(app.get("/user").await.text().await.unwrap(), "[]");
    assert!(!dir.path().join("users.db").exists());
    let id = app.create_user("pg-user", 5).await;
    drop(app);

    // The service's own URL, from a file, wins over DATABASE_URL.
    let file = dir.path().join("url");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let config = Config {
        database: users::DatabaseUrl {
            value: None,
            file: Some(file),
        },
        ..defaults()
    };
    let common = Common {
        database_url: Some(kit::config::Secret::new(
            "postgres://nobody@127.0.0.1:1/none",
        )),
        ..common
    };
    let app = serve(&config, &common).await;
    let (status, user): (u16, Value) = app.get_json(&format!("/user/{id}")).await;
    assert_eq!((status, &user["name"]), (200, &json!("pg-user")));

    // A URL of another kind is refused at start.
    let config = Config {
        database: users::DatabaseUrl::given("mysql://x/y"),
        ..defaults()
    };
    let err = users::store::open(&config, &Common::for_tests(dir.path()))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("postgres://"), "{err}");
}

#[tokio::test]
async fn the_postgres_schema_is_its_own() {
    // Tables and migration history live in `berth_users`, so another service's
    // migrations in the same database cannot clash with them.
    let url = testkit::pg::fresh_database().await;
    let _store = users::store::postgres::PgStore::connect(&url, 2, 2)
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected: Vec<(String, String)> = ["_sqlx_migrations", "transfers", "users"]
        .iter()
        .map(|t| ("berth_users".to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(tables, expected);
    // Connecting again (a restart) migrates nothing and keeps working.
    users::store::postgres::PgStore::connect(&url, 2, 2)
        .await
        .unwrap();
    // The CHECK refuses a negative balance even behind the code's back.
    let err = sqlx::query("UPDATE berth_users.users SET coins = -1")
        .execute(&pool)
        .await;
    assert!(err.is_ok(), "no rows yet");
    sqlx::query("INSERT INTO berth_users.users (name, name_key, coins) VALUES ('x', 'x', 0)")
        .execute(&pool)
        .await
        .unwrap();
    let err = sqlx::query("UPDATE berth_users.users SET coins = coins - 1")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(
        err.as_database_error().unwrap().is_check_violation(),
        "{err}"
    );
}

/// A connection to the server's admin database, to watch or end the sessions of a
/// test's own database.
async fn admin() -> sqlx::PgConnection {
    use sqlx::Connection as _;

    sqlx::PgConnection::connect(&testkit::pg::admin_url())
        .await
        .unwrap()
}

/// The database a `url` names.
fn database_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// Has the server end every session on the database of `url` (as a restart would);
/// returns how many it ended.
async fn end_sessions(url: &str) -> usize {
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database_of(url))
    .fetch_all(&mut admin().await)
    .await
    .unwrap();
    ended.len()
}

/// How many sessions on the database of `url` there are, leaving out the backend
/// `except`, those waiting on a lock only when `waiting_on_lock`.
async fn count_sessions(url: &str, except: i32, waiting_on_lock: bool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> $2 \
         AND (NOT $3 OR wait_event_type = 'Lock')",
    )
    .bind(database_of(url))
    .bind(except)
    .bind(waiting_on_lock)
    .fetch_one(&mut admin().await)
    .await
    .unwrap()
}

/// The app on a fresh PostgreSQL database with pools of `writes` and `reads` sessions;
/// the database's URL.
async fn spawn_on_postgres(writes: u32, reads: u32) -> (String, crate::helpers::TestApp) {
    let url = testkit::pg::fresh_database().await;
    let store = users::store::postgres::PgStore::connect(&url, writes, reads)
        .await
        .unwrap();
    let app =
        crate::helpers::spawn_with(std::sync::Arc::new(store), Tokens::parse(TOKEN), None).await;
    (url, app)
}

/// Pooled sessions are not tested before every use. When the server ended them while
/// they sat in the pool, a read runs again on a fresh one and a write tests its
/// connection first: no request fails, and no write runs twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_survive_the_server_ending_the_pooled_sessions() {
    let (url, app) = spawn_on_postgres(4, 4).await;
    let alice = app.create_user("alice", 100).await;
    let bob = app.create_user("bob", 0).await;
    // Several at once, so that the pool holds several sessions.
    let lists = futures::future::join_all((0..6).map(|_| app.get_json("/user"))).await;
    let expected = lists[0].clone();
    assert_eq!(expected.0, 200);
    assert_eq!(expected.1.as_array().unwrap().len(), 2);
    assert!(lists.iter().all(|l| *l == expected));

    let ended = end_sessions(&url).await;
    assert!(ended >= 2, "{ended} sessions ended");
    let lists = futures::future::join_all((0..6).map(|_| app.get_json("/user"))).await;
    assert!(lists.iter().all(|l| *l == expected), "{lists:?}");

    end_sessions(&url).await;
    let moved = app
        .transfer(&json!({"from": alice, "to": bob, "amount": 30}), None)
        .await;
    assert_eq!(moved.status(), 201, "{:?}", moved.text().await);
    end_sessions(&url).await;
    let carol = app
        .post("/user", &json!({"name": "carol", "coins": 5}))
        .await;
    assert_eq!(carol.status(), 201);
    // Exactly one transfer, exactly once.
    assert_eq!(app.coins(alice).await, 70);
    assert_eq!(app.coins(bob).await, 30);
    assert_eq!(app.ledger(alice).await.len(), 1);
    assert_eq!(app.all_users().await.len(), 3);
}

/// A request dropped while its statement runs (a client gone, a timeout) leaves its
/// session mid-statement or mid-transaction. The next use of that session, the only
/// one of a pool of one, must still see the right answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_abandoned_mid_statement_is_cleaned_before_its_next_use() {
    use users::{
        model::{NewUser, Page},
        store::Store as _,
    };

    let url = testkit::pg::fresh_database().await;
    let store = users::store::postgres::PgStore::connect(&url, 1, 1)
        .await
        .unwrap();
    for (name, coins) in [("alice", 10), ("bob", 20)] {
        store
            .create_user(&NewUser {
                name: name.into(),
                coins,
            })
            .await
            .unwrap();
    }
    let page = Page {
        after: None,
        limit: 10,
    };
    for _ in 0..3 {
        // Abandon a listing and a ledger read (a transaction) after their first poll.
        {
            let list = store.list_users(page);
            tokio::pin!(list);
            // Pending, almost always: an answer can only be there already when the
            // thread was held up between sending the statement and reading.
            let _ = futures::poll!(&mut list);
        }
        {
            let ledger = store.ledger(1, page);
            tokio::pin!(ledger);
            let _ = futures::poll!(&mut ledger);
        }
        let users = store.list_users(page).await.unwrap();
        let names: Vec<_> = users.iter().map(|u| (u.name.as_str(), u.coins)).collect();
        assert_eq!(names, [("alice", 10), ("bob", 20)]);
        assert_eq!(store.user(2).await.unwrap().unwrap().coins, 20);
        assert_eq!(store.ledger(1, page).await.unwrap(), Some(vec![]));
    }
}

/// Reads and writes have pools of their own: with the only write session stuck behind
/// a lock, reads still answer at once; and many reads at once use no more server
/// sessions than the read pool has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_do_not_wait_behind_writes_and_keep_to_their_pool() {
    use sqlx::Connection as _;

    let (url, app) = spawn_on_postgres(1, 2).await;
    let alice = app.create_user("alice", 100).await;
    let bob = app.create_user("bob", 0).await;

    // Another client holds a lock that blocks every write to users, not reads.
    let mut locker = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE berth_users.users IN EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .unwrap();
    let locker_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut locker)
        .await
        .unwrap();
    let app = std::sync::Arc::new(app);
    let blocked = tokio::spawn({
        let app = app.clone();
        async move {
            app.transfer(&json!({"from": alice, "to": bob, "amount": 30}), None)
                .await
                .status()
        }
    });
    // The transfer is waiting on the lock, holding the only write session.
    let start = std::time::Instant::now();
    while count_sessions(&url, locker_pid, true).await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the transfer never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!blocked.is_finished());

    // Reads answer meanwhile, well inside the pool's 5 s wait for a session.
    let started = std::time::Instant::now();
    let lists = futures::future::join_all((0..20).map(|_| app.get_json("/user"))).await;
    assert!(
        lists
            .iter()
            .all(|(status, users)| *status == 200 && users.as_array().unwrap().len() == 2)
    );
    assert_eq!(app.coins(alice).await, 100);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Sessions on the server besides the locker: at most 2 for reads, 1 for writes.
    let sessions = count_sessions(&url, locker_pid, false).await;
    assert!(sessions <= 3, "{sessions} sessions");

    // The lock released, the transfer goes through, once.
    sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    assert_eq!(blocked.await.unwrap(), 201);
    assert_eq!(app.coins(alice).await, 70);
    assert_eq!(app.coins(bob).await, 30);
}
