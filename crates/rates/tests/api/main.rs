//! The rates service's contract through the real router and server, on SQLite and
//! PostgreSQL alike (the conformance suite: every behaviour once, run on both).

mod helpers;

mod download;
mod dump;

use std::{collections::HashSet, fmt::Write as _, sync::Arc};

use helpers::{
    Db, Kind, Plain, TOKEN, assert_matches, load_text, real_dump, serve, spawn_app, spawn_app_with,
};
use rates::Config;
use serde_json::{Value, json};

/// Query parameters as sent.
type Params = Vec<(String, String)>;

/// A four-level tree (world > top > mid > `leaf_a`) plus another root, written as `pg_dump`
/// does: ports before regions, children before parents. A port hangs from each level;
/// prices to EEEEE on 2021-01-01 number 1 (from AAAAA), 2 (BBBBB), 4 (CCCCC), 8 (DDDDD),
/// so a count tells exactly which ports a region covered.
fn tree_dump() -> String {
    let mut prices = String::new();
    for (port, n) in [("AAAAA", 1), ("BBBBB", 2), ("CCCCC", 4), ("DDDDD", 8)] {
        for i in 0..n {
            writeln!(prices, "{port}\tEEEEE\t2021-01-01\t{}", 100 + i).unwrap();
        }
    }
    format!(
        "SET client_encoding = 'UTF8';\n\
         COPY public.ports (code, name, parent_slug) FROM stdin;\n\
         AAAAA\tPort A\tleaf_a\nBBBBB\tPort B\tmid\nCCCCC\tPort C\ttop\nDDDDD\tPort D\tworld\n\
         EEEEE\tPort E (Måløy)\tother\n\\.\n\
         COPY public.prices (orig_code, dest_code, day, price) FROM stdin;\n{prices}\\.\n\
         COPY public.regions (slug, name, parent_slug) FROM stdin;\n\
         leaf_a\tLeaf A\tmid\nmid\tMid\ttop\ntop\tTop\tworld\nworld\tWorld\t\\N\nother\tOther\t\\N\n\\.\n\
         ALTER TABLE ONLY public.ports\n    ADD CONSTRAINT ports_pkey PRIMARY KEY (code);\n"
    )
}

async fn tree_app(kind: Kind, config: Config) -> helpers::TestApp {
    let app = spawn_app_with(kind, config).await;
    load_text(app.store.as_ref(), &tree_dump())
        .await
        .expect("tree loads");
    app
}

fn price_rows(n: usize, orig: &str, dest: &str, day: &str) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"orig_code": orig, "dest_code": dest, "day": day, "price": 1000 + i % 7}))
        .collect()
}

/// `POST /prices` of `rows` as JSON, which must be refused (422) naming `row` and
/// `field`; returns the problem.
async fn refused(app: &helpers::TestApp, rows: &[Value], row: u64, field: &str) -> Value {
    let (status, body) = app
        .ingest("application/json", serde_json::to_vec(rows).unwrap())
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!((&body["row"], &body["field"]), (&json!(row), &json!(field)));
    body
}

testkit::conformance! {
    sqlite => Kind::Sqlite,
    postgres => Kind::Postgres;
    [hello_world, region_slugs_at_every_depth, every_day_newest_first_with_zero_counts, bad_input_is_400_naming_the_parameter, real_dump_matches_a_plain_aggregation, ingest_json_and_csv, ingest_rejections_store_nothing, the_loader_names_the_line_of_bad_data, load_command_needs_replace_over_data, ingest_of_50000_rows_with_a_bad_last_row_stores_nothing, queries_during_an_ingest_see_all_or_nothing, a_truncated_dump_is_rejected_and_leaves_nothing]
}

async fn count_on(app: &helpers::TestApp, orig: &str, dest: &str, day: &str) -> u64 {
    app.days(day, day, orig, dest).await[0].count
}

async fn hello_world(kind: Kind) {
    let app = spawn_app(kind).await;
    let res = app.get("/").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"message": "Hello world!"}));
    assert_eq!(app.get("/healthcheck").await.status(), 200);
}

async fn region_slugs_at_every_depth(kind: Kind) {
    let app = tree_app(kind, Config::for_tests()).await;
    for (orig, want) in [
        ("AAAAA", 1),
        ("leaf_a", 1),
        ("BBBBB", 2),
        ("mid", 3),
        ("top", 7),
        ("world", 15),
        ("DDDDD", 8),
        ("other", 0),
    ] {
        let days = app.days("2021-01-01", "2021-01-01", orig, "EEEEE").await;
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].count, want, "{orig} -> EEEEE");
        // Mixed pairs both ways: region → port and port → region.
        let via_region = app.days("2021-01-01", "2021-01-01", orig, "other").await;
        assert_eq!(via_region[0].count, want, "{orig} -> other");
    }
    // The average over the 7 prices under `top`: 100 + 100,101 + 100..=103.
    let top = app.days("2021-01-01", "2021-01-01", "top", "other").await;
    let sum = 100 + 201 + 406;
    assert_eq!(top[0].price, Some(f64::from(sum) / 7.0));
    // Fewer than 3 prices: null.
    let b = app.days("2021-01-01", "2021-01-01", "BBBBB", "EEEEE").await;
    assert_eq!((b[0].count, b[0].price), (2, None));
    // Reverse direction has nothing: count 0, not null.
    let back = app.days("2021-01-01", "2021-01-01", "other", "world").await;
    assert_eq!((back[0].count, back[0].price), (0, None));
}

async fn every_day_newest_first_with_zero_counts(kind: Kind) {
    let app = tree_app(kind, Config::for_tests()).await;
    let (status, body) = app
        .rates(&[
            ("date_from", "2020-12-30"),
            ("date_to", "2021-01-02"),
            ("orig_code", "world"),
            ("dest_code", "other"),
        ])
        .await;
    assert_eq!(status, 200);
    // The double exactly as the original prints it (shortest round-trip form).
    let res = app
        .get("/rates?date_from=2021-01-01&date_to=2021-01-01&orig_code=world&dest_code=other")
        .await;
    let text = res.text().await.unwrap();
    assert_eq!(
        text,
        r#"{"rates":[{"count":15,"day":"2021-01-01","price":102.33333333333333}]}"#
    );
    assert_eq!(
        body,
        json!({"rates": [
            {"count": 0, "day": "2021-01-02", "price": null},
            {"count": 15, "day": "2021-01-01", "price": (100.0 + 201.0 + 406.0 + 828.0) / 15.0},
            {"count": 0, "day": "2020-12-31", "price": null},
            {"count": 0, "day": "2020-12-30", "price": null},
        ]})
    );
}

async fn bad_input_is_400_naming_the_parameter(kind: Kind) {
    let mut config = Config::for_tests();
    config.max_days = 31;
    let app = tree_app(kind, config).await;
    let ok = [
        ("date_from", "2021-01-01"),
        ("date_to", "2021-01-31"),
        ("orig_code", "AAAAA"),
        ("dest_code", "other"),
    ];
    assert_eq!(app.rates(&ok).await.0, 200, "31 days are allowed");
    let with = |key: &str, value: Option<&str>| -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = ok
            .iter()
            .filter(|(k, _)| *k != key)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Some(v) = value {
            params.push((key.to_owned(), v.to_owned()));
        }
        params
    };
    let cases: Vec<(Params, &str, &str)> = vec![
        (with("date_from", None), "date_from", "required"),
        (with("date_to", None), "date_to", "required"),
        (with("orig_code", None), "orig_code", "required"),
        (with("dest_code", None), "dest_code", "required"),
        (
            with("date_from", Some("2021-1-01")),
            "date_from",
            "YYYY-MM-DD",
        ),
        (
            with("date_from", Some("yesterday")),
            "date_from",
            "YYYY-MM-DD",
        ),
        (with("date_to", Some("2021-02-30")), "date_to", "YYYY-MM-DD"),
        (with("date_to", Some("")), "date_to", "YYYY-MM-DD"),
        (with("date_to", Some("2020-12-31")), "date_from", "after"),
        (with("date_to", Some("2021-02-01")), "date_to", "at most 31"),
        (with("orig_code", Some("NOPE1")), "orig_code", "neither"),
        (with("dest_code", Some("atlantis")), "dest_code", "neither"),
        (with("orig_code", Some("")), "orig_code", "neither"),
        (
            with("dest_code", Some("x'; DROP TABLE prices; --")),
            "dest_code",
            "neither",
        ),
    ];
    for (params, field, says) in cases {
        let res = app
            .client
            .get(app.url("/rates"))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{params:?}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{params:?}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["field"], field, "{params:?}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(says),
            "{params:?}: {body}"
        );
    }
    // Not UTF-8 in the query, a repeated parameter: still a 400 problem.
    for query in [
        "date_from=%FF&date_to=2021-01-02&orig_code=AAAAA&dest_code=other",
        "date_from=2021-01-01&date_from=2021-01-02&date_to=2021-01-02&orig_code=AAAAA&dest_code=other",
    ] {
        let res = app.get(&format!("/rates?{query}")).await;
        assert_eq!(res.status(), 400, "{query}");
    }
    // The data is intact after the injection attempt.
    assert_eq!(count_on(&app, "world", "other", "2021-01-01").await, 15);
}

async fn real_dump_matches_a_plain_aggregation(kind: Kind) {
    let path = real_dump();
    let app = spawn_app(kind).await;
    let stats = rates::load::load_file(app.store.as_ref(), &path, false, &Arc::default())
        .await
        .expect("the real dump loads");
    let plain = Plain::read(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(
        (stats.regions, stats.ports, stats.prices),
        (20, 143, 56_689),
        "the colleague's counts of the real dump"
    );
    assert_eq!(
        plain.prices.len(),
        56_689,
        "duplicates are kept, never deduplicated"
    );

    let (from, to) = ("2021-01-01", "2021-01-31");
    let mut queries: Vec<(String, String)> = vec![
        ("CNSGH".into(), "north_europe_main".into()),
        ("china_main".into(), "northern_europe".into()),
        ("CNSGH".into(), "NLRTM".into()),
        ("north_europe_main".into(), "CNSGH".into()),
    ];
    for region in plain.regions.keys() {
        queries.push(("china_main".into(), region.clone()));
        queries.push((region.clone(), "northern_europe".into()));
        queries.push((region.clone(), region.clone()));
    }
    let depths: HashSet<usize> = plain.regions.keys().map(|r| plain.depth(r)).collect();
    assert_eq!(depths, HashSet::from([1, 2, 3]), "the real tree is 3 deep");
    let mut averaged = 0;
    for (orig, dest) in &queries {
        let answer = app.days(from, to, orig, dest).await;
        assert_eq!(answer.len(), 31);
        let expected = plain.aggregate(from, to, orig, dest);
        assert_matches(&answer, &expected, &format!("{orig}->{dest}"));
        averaged += answer.iter().filter(|a| a.price.is_some()).count();
    }
    assert!(
        averaged > 100,
        "the checks must cover real averages ({averaged})"
    );
    // The range reaches before the data: days of count 0.
    let edge = app
        .days("2020-12-29", "2021-01-02", "CNSGH", "north_europe_main")
        .await;
    assert_eq!(edge.iter().filter(|a| a.count == 0).count(), 3);
    assert_matches(
        &edge,
        &plain.aggregate("2020-12-29", "2021-01-02", "CNSGH", "north_europe_main"),
        "edge",
    );
}

/// Has the server end every session on the app's database (as a restart would);
/// returns how many it ended.
async fn end_sessions(app: &helpers::TestApp) -> usize {
    use sqlx::Connection as _;

    let url = app.db.url.as_deref().expect("a PostgreSQL test");
    // postgres://...@HOST/DATABASE[?QUERY]: the same server's `postgres` database.
    let (url, query) = url
        .split_once('?')
        .map_or((url, None), |(u, q)| (u, Some(q)));
    let (base, database) = url.rsplit_once('/').unwrap();
    let admin_url = match query {
        Some(query) => format!("{base}/postgres?{query}"),
        None => format!("{base}/postgres"),
    };
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    ended.len()
}

/// The query pool does not ping a connection before each query. Connections whose
/// sessions the server ended (terminated here, as a restart would) must cost a retry
/// on another connection, not a failed request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_survive_the_server_ending_their_sessions() {
    // Without the answers cache, so that every request reaches the pool.
    let config = Config {
        cache_mib: 0,
        ..Config::for_tests()
    };
    let app = tree_app(Kind::Postgres, config).await;
    let params = [
        ("date_from", "2020-12-31"),
        ("date_to", "2021-01-02"),
        ("orig_code", "world"),
        ("dest_code", "EEEEE"),
    ];
    // Several at once, so that the pool holds several connections.
    let first = futures::future::join_all((0..6).map(|_| app.rates(&params))).await;
    let expected = first[0].clone();
    assert_eq!(expected.0, 200, "{:?}", expected.1);
    assert_eq!(expected.1["rates"][1]["count"], 15);
    assert!(first.iter().all(|answer| *answer == expected));

    let ended = end_sessions(&app).await;
    assert!(ended >= 2, "{ended} sessions ended");

    for _ in 0..3 {
        let after = futures::future::join_all((0..6).map(|_| app.rates(&params))).await;
        assert!(after.iter().all(|answer| *answer == expected), "{after:?}");
    }
}

/// The value of the counter `name` in the app's `/metrics` (0 when absent).
async fn counter(app: &helpers::TestApp, name: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Runs `sql` on a connection of its own, as another writer than the app.
async fn elsewhere(url: &str, sql: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
}

/// Asks `GET /rates` until the answer's 2021-01-01 count is `want` (a change made
/// elsewhere reaches the cache through a notification: a few milliseconds).
async fn until_count(app: &helpers::TestApp, orig: &str, want: u64, what: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = count_on(app, orig, "EEEEE", "2021-01-01").await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {got}, not {want}, after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// On PostgreSQL answers are cached. Whoever changes the tables (here a plain SQL
/// session, as `psql` or another replica would), the cache forgets them; an ingest
/// through this app is read back at once; and after the server ended every session
/// (the listener's included), changes are still seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_answers_follow_every_writer() {
    cached_answers_follow_every_writer_on(Kind::Postgres).await;
}

/// The same over TLS, the server's certificate verified: the query pool, the writer
/// and the cache's listener (and their new sessions after the server ended them) all
/// connect through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_cached_answers_follow_every_writer() {
    cached_answers_follow_every_writer_on(Kind::PostgresTls).await;
}

async fn cached_answers_follow_every_writer_on(kind: Kind) {
    let app = tree_app(kind, Config::for_tests()).await;
    // The cache goes live once its listener is up: ask until answers come from it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while counter(&app, "rates_answers_cache_hits_total").await < 1.0 {
        assert_eq!(count_on(&app, "world", "EEEEE", "2021-01-01").await, 15);
        assert!(
            tokio::time::Instant::now() < deadline,
            "no cache hit in 10 s"
        );
    }

    let url = app.db.url.clone().expect("a PostgreSQL test");
    elsewhere(
        &url,
        "INSERT INTO prices VALUES ('AAAAA', 'EEEEE', '2021-01-01', 500)",
    )
    .await;
    until_count(&app, "world", 16, "a row inserted over SQL").await;

    // Through the app: visible to the very next request.
    let (status, body) = app
        .ingest(
            "application/json",
            json!([{"orig_code": "BBBBB", "dest_code": "EEEEE", "day": "2021-01-01", "price": 7}])
                .to_string(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(count_on(&app, "world", "EEEEE", "2021-01-01").await, 17);
    assert_eq!(count_on(&app, "mid", "EEEEE", "2021-01-01").await, 5);

    // Every session ended, the listener's too; a change made meanwhile is seen.
    assert!(end_sessions(&app).await >= 1);
    elsewhere(&url, "DELETE FROM prices WHERE orig_code = 'DDDDD'").await;
    until_count(&app, "world", 9, "rows deleted while the listener was down").await;
    // And the cache is back in use afterwards.
    let hits = counter(&app, "rates_answers_cache_hits_total").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while counter(&app, "rates_answers_cache_hits_total").await <= hits {
        assert_eq!(count_on(&app, "world", "EEEEE", "2021-01-01").await, 9);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cache did not come back"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_dump_gives_identical_answers_on_both_backends() {
    let path = real_dump();
    let mut apps = Vec::new();
    for kind in [Kind::Sqlite, Kind::Postgres] {
        let app = spawn_app(kind).await;
        rates::load::load_file(app.store.as_ref(), &path, false, &Arc::default())
            .await
            .expect("the real dump loads");
        apps.push(app);
    }
    let plain = Plain::read(&std::fs::read_to_string(&path).unwrap());
    let mut codes: Vec<&String> = plain.regions.keys().collect();
    codes.extend(plain.ports.keys().step_by(7));
    let mut compared = 0;
    for orig in &codes {
        for dest in codes.iter().step_by(3) {
            let params = [
                ("date_from", "2020-12-28"),
                ("date_to", "2021-02-02"),
                ("orig_code", orig.as_str()),
                ("dest_code", dest.as_str()),
            ];
            let (sa, a) = apps[0].rates(&params).await;
            let (sb, b) = apps[1].rates(&params).await;
            assert_eq!((sa, &a), (sb, &b), "{orig}->{dest}");
            assert_eq!(sa, 200);
            compared += 1;
        }
    }
    assert!(compared > 100);
}

async fn ingest_json_and_csv(kind: Kind) {
    let app = tree_app(kind, Config::for_tests()).await;
    let body = serde_json::to_vec(&json!([
        {"orig_code": "AAAAA", "dest_code": "EEEEE", "day": "2021-01-05", "price": 1000},
        {"orig_code": "AAAAA", "dest_code": "EEEEE", "day": "2021-01-05", "price": 1000},
        {"orig_code": "AAAAA", "dest_code": "EEEEE", "day": "2021-01-05", "price": 1001},
    ]))
    .unwrap();
    let (status, answer) = app.ingest("application/json", body).await;
    assert_eq!((status, answer), (201, json!({"inserted": 3})));
    let day = app.days("2021-01-05", "2021-01-05", "AAAAA", "EEEEE").await;
    assert_eq!(day[0].count, 3, "exact duplicates are kept");
    assert_eq!(day[0].price, Some(3001.0 / 3.0));

    let csv =
        "orig_code,dest_code,day,price\r\nBBBBB,EEEEE,2021-01-06,10\nCCCCC,EEEEE,2021-01-06,20\n";
    let (status, answer) = app.ingest("text/csv; charset=utf-8", csv).await;
    assert_eq!((status, answer), (201, json!({"inserted": 2})));
    assert_eq!(count_on(&app, "top", "other", "2021-01-06").await, 2);
    let (status, answer) = app.ingest("application/json", "[]").await;
    assert_eq!((status, answer), (201, json!({"inserted": 0})));
}

async fn ingest_rejections_store_nothing(kind: Kind) {
    let mut config = Config::for_tests();
    config.ingest_max_rows = 5;
    config.ingest_max_bytes = 4096;
    let app = tree_app(kind, config).await;
    let one = serde_json::to_vec(&price_rows(1, "AAAAA", "EEEEE", "2021-01-07")).unwrap();

    let (status, body) = app.ingest_as(None, "application/json", one.clone()).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = app
        .ingest_as(Some("wrong"), "application/json", one.clone())
        .await;
    assert_eq!(status, 401);

    let mut bad = price_rows(3, "AAAAA", "EEEEE", "2021-01-07");
    bad[2]["price"] = json!(12.5);
    refused(&app, &bad, 3, "price").await;

    let mut unknown = price_rows(3, "AAAAA", "EEEEE", "2021-01-07");
    unknown[1]["dest_code"] = json!("ZZZZZ");
    let body = refused(&app, &unknown, 2, "dest_code").await;
    assert!(body["detail"].as_str().unwrap().contains("ZZZZZ"));

    // A region slug is not a port: prices are per port.
    let mut region = price_rows(1, "AAAAA", "EEEEE", "2021-01-07");
    region[0]["orig_code"] = json!("world");
    refused(&app, &region, 1, "orig_code").await;

    let (status, body) = app
        .ingest(
            "text/csv",
            "AAAAA,EEEEE,2021-01-07,5\nAAAAA,EEEEE,2021-13-07,5\n",
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        (
            body["row"].clone(),
            body["field"].clone(),
            body["line"].clone()
        ),
        (json!(2), json!("day"), json!(2))
    );

    for (content_type, body, want) in [
        ("application/json", b"[{\"orig_code\":".to_vec(), 400),
        ("application/json", b"{\"a\":1}".to_vec(), 400),
        ("text/csv", b"AAAAA,EEEEE,2021-01-07,\xff\n".to_vec(), 400),
        ("text/plain", one.clone(), 415),
        (
            "application/json",
            serde_json::to_vec(&price_rows(6, "AAAAA", "EEEEE", "2021-01-07")).unwrap(),
            413,
        ),
        (
            "text/csv",
            "AAAAA,EEEEE,2021-01-07,5\n".repeat(6).into_bytes(),
            413,
        ),
        ("application/json", vec![b' '; 5000], 413),
    ] {
        let (status, problem) = app.ingest(content_type, body).await;
        assert_eq!(status, want, "{content_type}: {problem}");
        assert!(problem["detail"].is_string(), "{problem}");
    }
    assert_eq!(count_on(&app, "AAAAA", "EEEEE", "2021-01-07").await, 0);
}

async fn ingest_of_50000_rows_with_a_bad_last_row_stores_nothing(kind: Kind) {
    let app = tree_app(kind, Config::for_tests()).await;
    let mut rows = price_rows(50_000, "AAAAA", "EEEEE", "2021-01-08");
    rows[49_999]["orig_code"] = json!("NOSUCHPORT");
    refused(&app, &rows, 50_000, "orig_code").await;
    assert_eq!(count_on(&app, "AAAAA", "EEEEE", "2021-01-08").await, 0);

    let mut csv = String::new();
    for i in 0..50_000 {
        writeln!(csv, "AAAAA,EEEEE,2021-01-08,{}", 900 + i % 5).unwrap();
    }
    csv.push_str("AAAAA,EEEEE,2021-01-08,-1\n");
    let (status, body) = app.ingest("text/csv", csv).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["row"], 50_001);
    assert_eq!(count_on(&app, "AAAAA", "EEEEE", "2021-01-08").await, 0);
}

async fn queries_during_an_ingest_see_all_or_nothing(kind: Kind) {
    let app = Arc::new(tree_app(kind, Config::for_tests()).await);
    let rows = serde_json::to_vec(&price_rows(50_000, "AAAAA", "EEEEE", "2021-01-09")).unwrap();
    let reader = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            for _ in 0..400 {
                seen.insert(count_on(&app, "leaf_a", "other", "2021-01-09").await);
                if seen.contains(&50_000) {
                    break;
                }
            }
            seen
        })
    };
    let (status, body) = app.ingest("application/json", rows).await;
    assert_eq!((status, body), (201, json!({"inserted": 50_000})));
    let seen = reader.await.unwrap();
    assert!(seen.is_subset(&HashSet::from([0, 50_000])), "{seen:?}");
    assert_eq!(
        count_on(&app, "leaf_a", "other", "2021-01-09").await,
        50_000
    );
}

/// A generated dump, and the same cut in the middle of its prices block.
fn generated_and_truncated(prices: u64) -> (String, String) {
    let mut out = Vec::new();
    rates::generate::generate(
        &mut out,
        &rates::generate::GenerateOptions {
            prices,
            seed: 3,
            start_day: chrono::NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
            days: 31,
        },
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let start = text.find("COPY public.prices").unwrap();
    let cut = start + (text.len() - start) / 2;
    let cut = text[..cut].rfind('\n').unwrap() + 1;
    (text.clone(), text[..cut].to_owned())
}

async fn a_truncated_dump_is_rejected_and_leaves_nothing(kind: Kind) {
    let app = spawn_app(kind).await;
    let (full, truncated) = generated_and_truncated(20_000);
    let err = load_text(app.store.as_ref(), &truncated).await.unwrap_err();
    assert!(err.line().is_some(), "{err}");
    assert!(err.to_string().contains("not terminated"), "{err}");
    assert!(app.store.is_empty().await.unwrap(), "nothing half loaded");

    // The real dump cut mid-line and mid-block.
    let bytes = std::fs::read(real_dump()).unwrap();
    let cut = String::from_utf8_lossy(&bytes[..bytes.len() / 2]).into_owned();
    let err = load_text(app.store.as_ref(), &cut).await.unwrap_err();
    assert!(err.to_string().starts_with("line "), "{err}");
    assert!(app.store.is_empty().await.unwrap());

    // Over existing data, a failed --replace keeps the old data whole.
    load_text(app.store.as_ref(), &full).await.unwrap();
    let before = app.days("2021-01-01", "2021-01-31", "europe", "asia").await;
    assert!(before.iter().map(|d| d.count).sum::<u64>() > 0);
    let err = rates::load::load_reader(
        app.store.as_ref(),
        std::io::Cursor::new(truncated.into_bytes()),
        true,
        &Arc::default(),
    )
    .await
    .unwrap_err();
    assert!(err.line().is_some());
    let after = app.days("2021-01-01", "2021-01-31", "europe", "asia").await;
    assert_eq!(before, after);
    // And the store still takes writes (the loader's connection was restored).
    let (status, _) = app.ingest("application/json", "[]").await;
    assert_eq!(status, 201);
}

/// A dump that fits in memory is stored in lane order (`orig_code, dest_code, day`,
/// codes by bytes), the order of the index every query uses: the index build finds
/// its input sorted, and a lane's prices share pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loader_stores_prices_in_lane_order() {
    let app = spawn_app(Kind::Postgres).await;
    let (full, _) = generated_and_truncated(20_000);
    let stats = load_text(app.store.as_ref(), &full).await.unwrap();
    assert_eq!(stats.prices, 20_000);
    let pool = sqlx::PgPool::connect(app.db.url.as_deref().unwrap())
        .await
        .unwrap();
    let stored: Vec<(String, String, chrono::NaiveDate)> =
        sqlx::query_as("SELECT orig_code, dest_code, day FROM prices ORDER BY ctid")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(stored.len(), 20_000);
    assert!(
        stored.is_sorted(),
        "the table is not in lane order (first lanes: {:?})",
        &stored[..3]
    );
    // The file's own order was another one: the loader sorted them.
    let block = &full[full.find("COPY public.prices").unwrap()..];
    let in_file: Vec<(&str, &str)> = block
        .lines()
        .skip(1)
        .take_while(|l| *l != "\\.")
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().unwrap(), f.next().unwrap())
        })
        .collect();
    assert_eq!(in_file.len(), 20_000);
    assert!(!in_file.is_sorted());
}

async fn the_loader_names_the_line_of_bad_data(kind: Kind) {
    let app = spawn_app(kind).await;
    let good = tree_dump();
    let line_of = |text: &str, needle: &str| {
        u64::try_from(text.lines().position(|l| l.contains(needle)).unwrap() + 1).unwrap()
    };
    for (from, to, says) in [
        (
            "AAAAA\tEEEEE\t2021-01-01\t100",
            "AAAAA\tEEEEE\t2021-01-32\t100",
            "not a YYYY-MM-DD",
        ),
        (
            "AAAAA\tEEEEE\t2021-01-01\t100",
            "AAAAA\tEEEEE\t2021-01-01\t1.5",
            "not an integer",
        ),
        (
            "AAAAA\tEEEEE\t2021-01-01\t100",
            "AAAAA\tQQQQQ\t2021-01-01\t100",
            "does not define",
        ),
        (
            "AAAAA\tEEEEE\t2021-01-01\t100",
            "AAAAA\tEEEEE\t2021-01-01",
            "fields",
        ),
        ("BBBBB\tPort B\tmid", "AAAAA\tPort B\tmid", "defined twice"),
        (
            "CCCCC\tPort C\ttop",
            "CCCCC\tPort C\tnowhere",
            "does not define",
        ),
    ] {
        let bad = good.replacen(from, to, 1);
        let err = load_text(app.store.as_ref(), &bad).await.unwrap_err();
        assert!(err.to_string().contains(says), "{to}: {err}");
        assert_eq!(err.line(), Some(line_of(&bad, to)), "{to}: {err}");
        assert!(app.store.is_empty().await.unwrap(), "{to}: nothing stored");
    }
    let err = load_text(app.store.as_ref(), "SET a = 1;\n")
        .await
        .unwrap_err();
    assert!(matches!(err, rates::load::LoadError::Empty), "{err}");
    load_text(app.store.as_ref(), &good).await.unwrap();
    assert_eq!(count_on(&app, "world", "other", "2021-01-01").await, 15);
}

async fn load_command_needs_replace_over_data(kind: Kind) {
    let db = Db::new(kind).await;
    let (full, _) = generated_and_truncated(5_000);
    let file = db.dir.path().join("dump.sql");
    std::fs::write(&file, &full).unwrap();
    let common = db.common();
    let config = Config::for_tests();
    let load = |replace| rates::cli::Command::Load {
        dump: Some(file.clone()),
        replace,
    };
    load(false).run(&common, &config).await.expect("first load");
    let err = load(false).run(&common, &config).await.unwrap_err();
    assert!(format!("{err:#}").contains("--replace"), "{err:#}");
    load(true).run(&common, &config).await.expect("replace");
    let store = db.store().await;
    let app = serve(db, store, &config).await;
    let total: u64 = app
        .days("2021-01-01", "2021-01-31", "europe", "europe")
        .await
        .iter()
        .chain(
            app.days("2021-01-01", "2021-01-31", "asia", "asia")
                .await
                .iter(),
        )
        .map(|d| d.count)
        .sum();
    assert!(
        total > 0 && total <= 5_000,
        "{total}: replaced, not doubled"
    );
    let missing = rates::cli::Command::Load {
        dump: Some(app.db.dir.path().join("missing.sql")),
        replace: false,
    };
    let err = missing.run(&common, &config).await.unwrap_err();
    assert!(format!("{err:#}").contains("missing.sql"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_sqlite_is_seeded_so_the_readme_example_answers() {
    let dir = tempfile::tempdir().unwrap();
    let common = kit::config::Common::for_tests(dir.path());
    let mut config = Config::for_tests();
    let service = rates::service(&config, &common).await.unwrap();
    let app = kit::http::app(service, &kit::http::HttpConfig::default());
    let server = kit::Server::bind("rates", "127.0.0.1:0".parse().unwrap(), app)
        .await
        .unwrap();
    let url = format!(
        "http://{}/rates?date_from=2021-01-01&date_to=2021-01-31&orig_code=china_main&dest_code=northern_europe",
        server.local_addr()
    );
    let shutdown = kit::Shutdown::new();
    tokio::spawn(server.run(shutdown.clone(), std::time::Duration::from_secs(1)));
    let body: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let rates = body["rates"].as_array().unwrap();
    assert_eq!(rates.len(), 31);
    let priced = rates.iter().filter(|r| r["price"].is_f64()).count();
    assert!(priced >= 20, "{body}");
    // Without tokens configured, POST /prices is closed to anyone without the logged one.
    let res = reqwest::Client::new()
        .post(url.replace("/rates?", "/prices?"))
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    shutdown.trigger();

    // A second start finds data and does not seed again; --rates-dump on an empty one
    // loads that dump instead.
    let other = tempfile::tempdir().unwrap();
    let dump = other.path().join("tree.sql");
    std::fs::write(&dump, tree_dump()).unwrap();
    config.dump = Some(dump);
    let common = kit::config::Common::for_tests(other.path().join("data"));
    rates::service(&config, &common).await.unwrap();
    let store = rates::store::open(&config, &common).await.unwrap();
    let lookup = rates::domain::Lookup {
        date_from: chrono::NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
        date_to: chrono::NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
        orig_code: "world".into(),
        dest_code: "other".into(),
    };
    let totals = store.day_totals(&lookup).await.unwrap();
    assert_eq!(totals[0].count, 15);
    let _ = TOKEN;
}
