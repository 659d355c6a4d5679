//! The bank test, on both backends: 50 users with 1,000 coins each, 10,000 random
//! transfers from 32 concurrent clients through the HTTP API. Afterwards:
//! - the sum of balances is exactly 50,000 and no balance is negative;
//! - every balance equals its opening balance plus the ledger's credits minus debits;
//! - the count of 201s equals the ledger's rows (and the ledger holds exactly the
//!   transfers answered 201);
//! - every answer was a 201 or a 409 (not enough coins): nothing else, no 5xx.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Instant,
};

use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};

const USERS: i64 = 50;
const OPENING: i64 = 1_000;
const TRANSFERS: usize = 10_000;
const CLIENTS: usize = 32;

testkit::conformance! {
    sqlite => Backend::Sqlite,
    postgres => Backend::Postgres;
    [bank]
}

async fn bank(backend: Backend) {
    let app = Arc::new(spawn_app(backend).await);
    let mut ids = Vec::new();
    for i in 0..USERS {
        ids.push(app.create_user(&format!("customer-{i:02}"), OPENING).await);
    }
    let ids = Arc::new(ids);
    let seed: u64 = rand::random();
    println!("bank test on {backend:?}: seed {seed}");
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (app, ids) = (Arc::clone(&app), Arc::clone(&ids));
            tokio::spawn(async move {
                let mut rng = StdRng::seed_from_u64(seed ^ (client as u64 + 1));
                let mut answered = Vec::new();
                for n in (client..TRANSFERS).step_by(CLIENTS) {
                    let from = ids[rng.random_range(0..ids.len())];
                    let mut to = ids[rng.random_range(0..ids.len())];
                    while to == from {
                        to = ids[rng.random_range(0..ids.len())];
                    }
                    let amount: i64 = rng.random_range(1..=300);
                    // Every fifth transfer carries an idempotency key of its own.
                    let key = (n % 5 == 0).then(|| format!("bank-{n}"));
                    let r = app
                        .transfer(
                            &json!({"from": from, "to": to, "amount": amount}),
                            key.as_deref(),
                        )
                        .await;
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap();
                    answered.push((status, body));
                }
                answered
            })
        })
        .collect();
    let mut created = BTreeMap::new();
    let mut refused = 0;
    for client in clients {
        for (status, body) in client.await.unwrap() {
            match status {
                201 => {
                    let id = body["id"].as_i64().unwrap();
                    assert!(
                        created.insert(id, body).is_none(),
                        "transfer {id} answered twice"
                    );
                }
                409 => {
                    assert!(body["balance"].as_i64().unwrap() >= 0, "{body}");
                    refused += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
    }
    let elapsed = started.elapsed();
    println!(
        "bank test on {backend:?}: {TRANSFERS} transfers in {:.1} s ({:.0}/s): {} done, {refused} refused",
        elapsed.as_secs_f64(),
        f64::from(u32::try_from(TRANSFERS).unwrap()) / elapsed.as_secs_f64(),
        created.len()
    );
    assert_eq!(created.len() + refused, TRANSFERS);
    assert!(created.len() > TRANSFERS / 2, "most transfers go through");
    verify(&app, &created).await;
}

/// Checks the books against the 201 answers.
async fn verify(app: &TestApp, created: &BTreeMap<i64, Value>) {
    let users = app.all_users().await;
    assert_eq!(users.len(), usize::try_from(USERS).unwrap());
    let balances: BTreeMap<i64, i64> = users
        .iter()
        .map(|u| (u["id"].as_i64().unwrap(), u["coins"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        balances.values().sum::<i64>(),
        USERS * OPENING,
        "no coin created or lost"
    );
    assert!(balances.values().all(|c| *c >= 0), "{balances:?}");

    let mut ledger_ids = BTreeSet::new();
    for (&id, &coins) in &balances {
        let ledger = app.ledger(id).await;
        let mut expected = OPENING;
        for t in &ledger {
            let amount = t["amount"].as_i64().unwrap();
            if t["to"] == id {
                expected += amount;
            } else {
                assert_eq!(t["from"], id);
                expected -= amount;
            }
            let tid = t["id"].as_i64().unwrap();
            ledger_ids.insert(tid);
            assert_eq!(created.get(&tid), Some(t), "the ledger row is the 201 body");
        }
        assert_eq!(
            coins, expected,
            "user {id}: balance = opening + credits - debits"
        );
        // Newest first, and the newest row holds the balance now.
        assert!(
            ledger
                .windows(2)
                .all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64())
        );
        if let Some(newest) = ledger.first() {
            let now = if newest["to"] == id {
                &newest["to_balance"]
            } else {
                &newest["from_balance"]
            };
            assert_eq!(now.as_i64(), Some(coins), "user {id}");
        }
    }
    assert_eq!(ledger_ids.len(), created.len(), "one ledger row per 201");
    assert!(ledger_ids.iter().eq(created.keys()));
}
