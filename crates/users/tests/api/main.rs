//! The users service's HTTP contract through the real router and server, on both
//! backends: every behaviour below is written once and run on SQLite and PostgreSQL
//! (`NAME::sqlite`, `NAME::postgres`).

mod bank;
mod helpers;
mod service;
mod tls;

use futures::future::join_all;
use helpers::{Backend, TOKEN, next_link, problem, spawn_app};
use serde_json::{Value, json};

testkit::conformance! {
    sqlite => Backend::Sqlite,
    postgres => Backend::Postgres;
    [names_are_normalised_and_unique_without_case, lists_users_as_the_original_does, pages_users_with_a_link_header, reads_one_user, creates_users, refuses_bad_users_and_stores_nothing, transfers_coins_and_records_them, refuses_bad_transfers_and_moves_nothing, refuses_a_balance_past_the_largest_number, idempotency_key_replays_and_refuses_another_body, idempotency_key_under_concurrency_moves_once, mutations_need_a_token_and_change_nothing_without_one, ledger_is_newest_first_and_paged, opposite_transfers_do_not_deadlock, openapi_documents_the_contract, readiness_checks_the_database]
}

async fn lists_users_as_the_original_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.get("/user").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(r.headers().get("link").is_none());
    assert_eq!(r.text().await.unwrap(), "[]");

    let alice = app.create_user("alice", 120).await;
    let bob = app.create_user("bob", 80).await;
    assert!(alice < bob);
    let text = app.get("/user").await.text().await.unwrap();
    // Exactly the original's shape, field order included, ordered by id.
    assert_eq!(
        text,
        format!(
            r#"[{{"id":{alice},"name":"alice","coins":120}},{{"id":{bob},"name":"bob","coins":80}}]"#
        )
    );
}

async fn pages_users_with_a_link_header(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(app.create_user(&format!("user{i}"), i).await);
    }
    let r = app.get("/user?limit=3").await;
    assert_eq!(r.status(), 200);
    let next = next_link(&r).expect("a next link");
    assert_eq!(next, format!("/user?limit=3&after={}", ids[2]));
    let page: Vec<Value> = r.json().await.unwrap();
    assert_eq!(page.len(), 3);

    let all = app.follow("/user?limit=3").await;
    let got: Vec<i64> = all.iter().map(|u| u["id"].as_i64().unwrap()).collect();
    assert_eq!(got, ids);

    // An exact last page has no next link.
    let r = app.get(&format!("/user?limit=2&after={}", ids[4])).await;
    assert!(next_link(&r).is_none());
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 2);
    // Default limit shows everything here, without a link.
    let r = app.get("/user").await;
    assert!(next_link(&r).is_none());
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 7);
    // Past the end: empty.
    assert_eq!(
        app.get_json(&format!("/user?after={}", ids[6])).await,
        (200, json!([]))
    );

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("after=-1", "after"),
        ("after=1.5", "after"),
        ("after=99999999999999999999", "after"),
    ] {
        let body = problem(app.get(&format!("/user?{query}")).await, 400).await;
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    let r = app.get("/user?limit=1000").await;
    assert_eq!(r.status(), 200);
}

async fn reads_one_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_user("carol", 250).await;
    assert_eq!(
        app.get_json(&format!("/user/{id}")).await,
        (200, json!({"id": id, "name": "carol", "coins": 250}))
    );
    let body = problem(app.get("/user/999999").await, 404).await;
    assert_eq!(body["id"], 999_999);
    problem(app.get("/user/0").await, 404).await;
    problem(app.get("/user/-3").await, 404).await;
    for bad in ["abc", "1.5", "99999999999999999999"] {
        let body = problem(app.get(&format!("/user/{bad}")).await, 400).await;
        assert_eq!(body["field"], "id");
    }
}

async fn creates_users(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post("/user", &json!({"name": "dave", "coins": 0}))
        .await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    let id = body["id"].as_i64().unwrap();
    assert_eq!(body, json!({"id": id, "name": "dave", "coins": 0}));
    assert_eq!(location, format!("/user/{id}"));
    assert_eq!(app.get_json(&location).await, (200, body));

    // coins may be left out; unicode names count characters, not bytes.
    let r = app.post("/user", &json!({"name": "é".repeat(64)})).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["coins"], 0);
    // The largest balance.
    let r = app
        .post("/user", &json!({"name": "rich", "coins": i64::MAX}))
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["coins"], i64::MAX);

    // A taken name.
    let body = problem(
        app.post("/user", &json!({"name": "dave", "coins": 5}))
            .await,
        409,
    )
    .await;
    assert_eq!(body["field"], "name");
    assert!(body["detail"].as_str().unwrap().contains("dave"));
    assert_eq!(app.all_users().await.len(), 3);
}

/// `alice`, `ALICE`, `al\u{200b}ice` (a zero-width space) and NFC or NFD `café` were
/// four users apart; now a name is stored composed, invisible characters are refused
/// and uniqueness ignores case.
async fn names_are_normalised_and_unique_without_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", 1).await;
    let p = problem(
        app.post("/user", &json!({"name": "ALICE", "coins": 1}))
            .await,
        409,
    )
    .await;
    assert_eq!(p["field"], "name", "{p}");
    for invisible in [
        "al\u{200b}ice",
        "\u{202e}ecila",
        "al\u{feff}ice",
        "a\u{3164}lice",
    ] {
        let p = problem(
            app.post("/user", &json!({"name": invisible, "coins": 1}))
                .await,
            422,
        )
        .await;
        assert_eq!(p["field"], "name", "{invisible:?}: {p}");
        assert!(p["detail"].as_str().unwrap().contains("invisible"), "{p}");
    }
    // Decomposed in, composed stored; the composed form is then taken.
    let r = app
        .post("/user", &json!({"name": "cafe\u{301}", "coins": 1}))
        .await;
    assert_eq!(r.status(), 201);
    let cafe: Value = r.json().await.unwrap();
    assert_eq!(cafe["name"], "caf\u{e9}");
    problem(
        app.post("/user", &json!({"name": "CAF\u{c9}", "coins": 1}))
            .await,
        409,
    )
    .await;
    let names: Vec<Value> = app
        .all_users()
        .await
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("alice"), json!("caf\u{e9}")],
        "nothing else was stored"
    );
    let (_, one) = app.get_json(&format!("/user/{alice}")).await;
    assert_eq!(one["name"], "alice");
}

async fn refuses_bad_users_and_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    for (body, field) in [
        (r#"{"name":"","coins":1}"#, "name"),
        (r#"{"name":" x","coins":1}"#, "name"),
        (r#"{"name":"a\u0000b","coins":1}"#, "name"),
        (
            &format!(r#"{{"name":"{}","coins":1}}"#, "x".repeat(65)),
            "name",
        ),
        (r#"{"name":5,"coins":1}"#, "name"),
        (r#"{"name":null}"#, "name"),
        (r#"{"coins":1}"#, "name"),
        (r#"{"name":"n","coins":-1}"#, "coins"),
        (r#"{"name":"n","coins":1.5}"#, "coins"),
        (r#"{"name":"n","coins":1e3}"#, "coins"),
        (r#"{"name":"n","coins":"10"}"#, "coins"),
        (r#"{"name":"n","coins":9223372036854775808}"#, "coins"),
        (r#"{"name":"n","coins":18446744073709551616}"#, "coins"),
        (r#"{"name":"n","coins":1e400}"#, "coins"),
        (r#"{"name":"n","coins":true}"#, "coins"),
        (r#"{"name":"n","coins":1,"admin":true}"#, "admin"),
        (r#"{"name":"n","name":"m"}"#, "name"),
    ] {
        let p = problem(app.post_raw("/user", body.to_owned()).await, 422).await;
        assert_eq!(p["field"], field, "{body}: {p}");
    }
    for body in [
        "",
        "not json",
        "[]",
        r#"{"name":"n""#,
        r#"{"name":"n"} trailing"#,
        "\u{feff}{}",
    ] {
        problem(app.post_raw("/user", body.to_owned()).await, 400).await;
    }
    // Not UTF-8.
    problem(
        app.post_raw("/user", b"{\"name\":\"\xff\xfe\"}".to_vec())
            .await,
        400,
    )
    .await;
    // Not JSON by its media type.
    let r = app
        .client
        .post(app.url("/user"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body(r#"{"name":"n"}"#)
        .send()
        .await
        .unwrap();
    problem(r, 415).await;
    // Too large: the kit's body limit answers 413 from the announced length, before any
    // of the body is read, so only the head is sent (see `raw_exchange`).
    let head = format!(
        "POST /user HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        app.addr,
        3 * 1024 * 1024
    );
    let answer = testkit::http::raw_exchange(app.addr, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    assert_eq!(app.get("/user").await.text().await.unwrap(), "[]");
}

async fn transfers_coins_and_records_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", 120).await;
    let bob = app.create_user("bob", 80).await;
    let r = app
        .transfer(&json!({"from": alice, "to": bob, "amount": 20}), None)
        .await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("idempotent-replayed").is_none());
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["from"], alice);
    assert_eq!(t["to"], bob);
    assert_eq!(t["amount"], 20);
    assert_eq!(t["from_balance"], 100);
    assert_eq!(t["to_balance"], 100);
    assert!(t["id"].as_i64().unwrap() > 0);
    assert!(
        chrono::DateTime::parse_from_rfc3339(t["created_at"].as_str().unwrap()).is_ok(),
        "{t}"
    );
    assert_eq!(app.coins(alice).await, 100);
    assert_eq!(app.coins(bob).await, 100);

    // Everything the sender has.
    let r = app
        .transfer(&json!({"from": bob, "to": alice, "amount": 100}), None)
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(app.coins(bob).await, 0);
    assert_eq!(app.coins(alice).await, 200);

    let ledger = app.ledger(alice).await;
    assert_eq!(ledger.len(), 2);
    assert_eq!(ledger[1], t, "the ledger row is the transfer as answered");
    assert_eq!(ledger[0]["from"], bob);
    assert_eq!(app.ledger(bob).await, ledger);
}

async fn refuses_bad_transfers_and_moves_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_user("a", 50).await;
    let b = app.create_user("b", 0).await;

    let p = problem(
        app.transfer(&json!({"from": a, "to": a, "amount": 1}), None)
            .await,
        422,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("two different users")
    );
    let p = problem(
        app.transfer(&json!({"from": 4242, "to": b, "amount": 1}), None)
            .await,
        404,
    )
    .await;
    assert_eq!(p["field"], "from");
    assert_eq!(p["id"], 4242);
    let p = problem(
        app.transfer(&json!({"from": a, "to": 4242, "amount": 1}), None)
            .await,
        404,
    )
    .await;
    assert_eq!(p["field"], "to");
    let p = problem(
        app.transfer(&json!({"from": a, "to": b, "amount": 51}), None)
            .await,
        409,
    )
    .await;
    assert_eq!(p["balance"], 50);
    assert_eq!(p["field"], "amount");
    let p = problem(
        app.transfer(&json!({"from": b, "to": a, "amount": 1}), None)
            .await,
        409,
    )
    .await;
    assert_eq!(p["balance"], 0);

    for (amount, says) in [
        ("0", "invalid value: integer `0`"),
        ("-5", "invalid value: integer `-5`"),
        ("1.5", "invalid type: floating point `1.5`"),
        ("5.0", "invalid type: floating point `5.0`"),
        ("5e0", "invalid type: floating point `5.0`"),
        ("\"5\"", "invalid type: string \"5\""),
        ("null", "invalid type: null"),
        (
            "9223372036854775808",
            "invalid value: integer `9223372036854775808`",
        ),
        ("18446744073709551621", "invalid type: floating point"),
        ("-9223372036854775809", "invalid type: floating point"),
        ("1e400", "number out of range"),
    ] {
        let body = format!(r#"{{"from":{a},"to":{b},"amount":{amount}}}"#);
        let p = problem(
            app.client
                .post(app.url("/transfers"))
                .bearer_auth(TOKEN)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap(),
            422,
        )
        .await;
        assert_eq!(p["field"], "amount", "{body}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(says), "{body}: {p}");
    }
    for (body, field) in [
        (json!({"from": "1", "to": b, "amount": 1}), "from"),
        (json!({"from": a, "to": -1, "amount": 1}), "to"),
        (json!({"from": a, "amount": 1}), "to"),
        (
            json!({"from": a, "to": b, "amount": 1, "memo": "x"}),
            "memo",
        ),
    ] {
        let p = problem(app.transfer(&body, None).await, 422).await;
        assert_eq!(p["field"], field, "{body}: {p}");
    }
    problem(
        app.post_raw("/transfers", format!(r#"{{"from":{a},"to":{b},"amount":1"#))
            .await,
        400,
    )
    .await;

    assert_eq!(app.coins(a).await, 50);
    assert_eq!(app.coins(b).await, 0);
    assert!(app.ledger(a).await.is_empty());
}

async fn refuses_a_balance_past_the_largest_number(backend: Backend) {
    let app = spawn_app(backend).await;
    let rich = app.create_user("rich", i64::MAX).await;
    let poor = app.create_user("poor", 10).await;
    let p = problem(
        app.transfer(&json!({"from": poor, "to": rich, "amount": 1}), None)
            .await,
        409,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("largest"), "{p}");
    assert_eq!(app.coins(rich).await, i64::MAX);
    assert_eq!(app.coins(poor).await, 10);
    // The other way works, to the last coin.
    let r = app
        .transfer(
            &json!({"from": rich, "to": poor, "amount": i64::MAX - 10}),
            None,
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(app.coins(poor).await, i64::MAX);
    assert_eq!(app.coins(rich).await, 10);
}

async fn idempotency_key_replays_and_refuses_another_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_user("a", 100).await;
    let b = app.create_user("b", 0).await;
    let body = json!({"from": a, "to": b, "amount": 30});

    let first = app.transfer(&body, Some("key-1")).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = first.text().await.unwrap();
    for _ in 0..3 {
        let again = app.transfer(&body, Some("key-1")).await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.text().await.unwrap(), first, "the same answer");
    }
    assert_eq!(app.coins(a).await, 70);
    assert_eq!(app.coins(b).await, 30);

    // Same key, another body.
    for other in [
        json!({"from": a, "to": b, "amount": 31}),
        json!({"from": b, "to": a, "amount": 30}),
    ] {
        let p = problem(app.transfer(&other, Some("key-1")).await, 422).await;
        assert_eq!(p["field"], "Idempotency-Key");
    }
    // Without a key, the same body moves coins again.
    assert_eq!(app.transfer(&body, None).await.status(), 201);
    assert_eq!(app.coins(a).await, 40);

    // A refused transfer keeps no key: once funded, the same key goes through.
    let big = json!({"from": b, "to": a, "amount": 100});
    problem(app.transfer(&big, Some("key-2")).await, 409).await;
    app.transfer(&json!({"from": a, "to": b, "amount": 40}), None)
        .await;
    assert_eq!(app.coins(b).await, 100);
    let r = app.transfer(&big, Some("key-2")).await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("idempotent-replayed").is_none());
    assert_eq!(app.coins(b).await, 0);
    assert_eq!(app.coins(a).await, 100);

    // Invalid keys.
    for key in ["", "has space", &"k".repeat(256)] {
        let p = problem(app.transfer(&body, Some(key)).await, 400).await;
        assert_eq!(p["field"], "Idempotency-Key");
    }
    let r = app
        .client
        .post(app.url("/transfers"))
        .bearer_auth(TOKEN)
        .header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    problem(r, 400).await;
    assert_eq!(app.ledger(a).await.len(), 4);
}

async fn idempotency_key_under_concurrency_moves_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_user("a", 1000).await;
    let b = app.create_user("b", 0).await;
    let body = json!({"from": a, "to": b, "amount": 7});
    for round in 0..3 {
        let key = format!("concurrent-{round}");
        let answers = join_all((0..10).map(|_| async {
            let r = app.transfer(&body, Some(&key)).await;
            let replayed = r.headers().get("idempotent-replayed").is_some();
            (r.status().as_u16(), replayed, r.text().await.unwrap())
        }))
        .await;
        assert!(answers.iter().all(|(s, _, _)| *s == 201), "{answers:?}");
        assert_eq!(
            answers.iter().filter(|(_, replayed, _)| !replayed).count(),
            1,
            "exactly one request did the transfer: {answers:?}"
        );
        assert!(
            answers.iter().all(|(_, _, t)| *t == answers[0].2),
            "one answer"
        );
    }
    assert_eq!(app.coins(a).await, 1000 - 3 * 7);
    assert_eq!(app.coins(b).await, 3 * 7);
    assert_eq!(app.ledger(a).await.len(), 3);
}

async fn mutations_need_a_token_and_change_nothing_without_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_user("a", 100).await;
    let b = app.create_user("b", 0).await;
    let mutations = [
        ("/user", json!({"name": "intruder", "coins": 1_000_000})),
        ("/transfers", json!({"from": a, "to": b, "amount": 100})),
    ];
    for (path, body) in &mutations {
        for auth in [
            None,
            Some("Bearer wrong-token"),
            Some("Bearer "),
            Some("Basic dGVzdC10b2tlbi11c2Vyczo="),
            Some(&format!("Token {TOKEN}")[..]),
            Some(&format!("Bearer {TOKEN}x")[..]),
        ] {
            let mut req = app
                .client
                .post(app.url(path))
                .header("idempotency-key", "k")
                .json(body);
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.headers()["www-authenticate"], "Bearer", "{path} {auth:?}");
            problem(r, 401).await;
        }
        // Even a malformed body gets the 401 first.
        let r = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap();
        problem(r, 401).await;
    }
    assert_eq!(app.all_users().await.len(), 2);
    assert_eq!(app.coins(a).await, 100);
    assert!(app.ledger(a).await.is_empty());
    // Nothing was kept under the key either: it is free for a real transfer.
    let r = app
        .transfer(&json!({"from": a, "to": b, "amount": 1}), Some("k"))
        .await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("idempotent-replayed").is_none());
    // Reads are open.
    assert_eq!(app.get("/user").await.status(), 200);
    assert_eq!(app.get(&format!("/user/{a}")).await.status(), 200);
    assert_eq!(app.get(&format!("/user/{a}/transfers")).await.status(), 200);
}

async fn ledger_is_newest_first_and_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_user("a", 100).await;
    let b = app.create_user("b", 100).await;
    let c = app.create_user("c", 100).await;
    problem(app.get("/user/999/transfers").await, 404).await;
    problem(app.get("/user/x/transfers").await, 400).await;
    assert_eq!(
        app.get_json(&format!("/user/{a}/transfers")).await,
        (200, json!([]))
    );

    let mut ids = Vec::new();
    for (from, to) in [(a, b), (b, c), (c, a), (a, c), (b, a)] {
        let r = app
            .transfer(&json!({"from": from, "to": to, "amount": 1}), None)
            .await;
        ids.push(r.json::<Value>().await.unwrap()["id"].as_i64().unwrap());
    }
    let r = app.get(&format!("/user/{a}/transfers?limit=2")).await;
    let next = next_link(&r).expect("next");
    let page: Vec<Value> = r.json().await.unwrap();
    let got: Vec<i64> = page.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(got, [ids[4], ids[3]]);
    assert_eq!(
        next,
        format!("/user/{a}/transfers?limit=2&after={}", ids[3])
    );

    let all = app.follow(&format!("/user/{a}/transfers?limit=2")).await;
    let got: Vec<i64> = all.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    assert_eq!(
        got,
        [ids[4], ids[3], ids[2], ids[0]],
        "a's transfers, newest first"
    );
    // Balances right after each transfer.
    assert_eq!(all[0]["to_balance"], 100);
    assert_eq!(all[3]["from_balance"], 99);
    problem(app.get(&format!("/user/{a}/transfers?limit=0")).await, 400).await;
}

async fn opposite_transfers_do_not_deadlock(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.create_user("a", 10_000).await;
    let b = app.create_user("b", 10_000).await;
    let statuses = join_all((0..200).map(|i| {
        let app = &app;
        async move {
            let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
            app.transfer(&json!({"from": from, "to": to, "amount": 1 + i % 5}), None)
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let (ca, cb) = (app.coins(a).await, app.coins(b).await);
    assert_eq!(ca + cb, 20_000);
    let ab: i64 = (0..200).filter(|i| i % 2 == 0).map(|i| 1 + i % 5).sum();
    let ba: i64 = (0..200).filter(|i| i % 2 == 1).map(|i| 1 + i % 5).sum();
    assert_eq!(ca, 10_000 - ab + ba);
}

async fn openapi_documents_the_contract(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, spec) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(spec["info"]["title"], "berth users");
    let paths = &spec["paths"];
    for (path, method) in [
        ("/user", "get"),
        ("/user", "post"),
        ("/user/{id}", "get"),
        ("/user/{id}/transfers", "get"),
        ("/transfers", "post"),
    ] {
        assert!(paths[path][method].is_object(), "{path} {method}");
    }
    assert!(paths["/user"]["get"]["responses"]["200"]["headers"]["Link"].is_object());
    assert_eq!(
        paths["/transfers"]["post"]["security"],
        json!([{"bearer": []}])
    );
    assert_eq!(paths["/user"]["post"]["security"], json!([{"bearer": []}]));
    assert!(paths["/user"]["get"]["security"].is_null());
    let params = paths["/transfers"]["post"]["parameters"]
        .as_array()
        .unwrap();
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
    );
    for status in ["201", "401", "404", "409", "422"] {
        assert!(
            paths["/transfers"]["post"]["responses"][status].is_object(),
            "{status}"
        );
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    for schema in ["User", "NewUser", "TransferRequest", "Transfer"] {
        assert!(
            spec["components"]["schemas"][schema].is_object(),
            "{schema}"
        );
    }
}

async fn readiness_checks_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.get("/healthcheck").await.text().await.unwrap(),
        r#"{"status":"ok"}"#
    );
    app.get("/user").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("http_requests_total{") && l.contains(r#"route="/user""#)),
        "{metrics}"
    );
}
