//! `spawn_app`: the real rates application on a free port, over a fresh SQLite or
//! PostgreSQL database; and an independent reading of dump files for expectations.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
};

use kit::{auth::Tokens, http::HttpConfig};
use rates::{Config, store::Store};
use serde_json::Value;
use testkit::TestServer;

/// The bearer token every test app accepts.
pub const TOKEN: &str = "test-token";

pub use testkit::Backend as Kind;

/// A database of one test: a temporary directory (SQLite) or a fresh PostgreSQL database.
pub struct Db {
    pub url: Option<String>,
    pub dir: tempfile::TempDir,
}

impl Db {
    pub async fn new(kind: Kind) -> Self {
        let url = match kind {
            Kind::Sqlite => None,
            Kind::Postgres => Some(testkit::pg::fresh_database().await),
            Kind::PostgresTls => Some(format!(
                "{}?sslmode=verify-full&sslrootcert={}",
                testkit::pg::fresh_tls_database().await,
                testkit::tls::private_ca().display()
            )),
            other => panic!("rates runs on SQLite or PostgreSQL, not {other:?}"),
        };
        Self {
            url,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn common(&self) -> kit::config::Common {
        let mut common = kit::config::Common::for_tests(self.dir.path());
        common.database_url = self.url.clone().map(kit::config::Secret::new);
        common
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        rates::store::open(&Config::for_tests(), &self.common())
            .await
            .expect("open store")
    }
}

testkit::test_app! {
    /// A running rates service.
    pub struct TestApp {
        pub store: Arc<dyn Store>,
        pub db: Db,
    }
}

impl TestApp {
    /// `GET /rates` with the given parameters; returns status and JSON body.
    pub async fn rates(&self, params: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .client
            .get(self.url("/rates"))
            .query(params)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON body"))
    }

    /// `GET /rates` that must succeed: (day, count, price) per entry.
    pub async fn days(&self, from: &str, to: &str, orig: &str, dest: &str) -> Vec<DayAnswer> {
        let (status, body) = self
            .rates(&[
                ("date_from", from),
                ("date_to", to),
                ("orig_code", orig),
                ("dest_code", dest),
            ])
            .await;
        assert_eq!(status, 200, "{orig}->{dest}: {body}");
        body["rates"]
            .as_array()
            .expect("rates array")
            .iter()
            .map(|r| DayAnswer {
                day: r["day"].as_str().expect("day").to_owned(),
                count: r["count"].as_u64().expect("count is a number, never null"),
                price: r["price"].as_f64(),
            })
            .collect()
    }

    /// `POST /prices` with a body and content type, with the test token.
    pub async fn ingest(&self, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.ingest_as(Some(TOKEN), content_type, body).await
    }

    pub async fn ingest_as(
        &self,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.url("/prices"))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

/// One day of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct DayAnswer {
    pub day: String,
    pub count: u64,
    pub price: Option<f64>,
}

pub async fn spawn_app(kind: Kind) -> TestApp {
    spawn_app_with(kind, Config::for_tests()).await
}

pub async fn spawn_app_with(kind: Kind, config: Config) -> TestApp {
    let db = Db::new(kind).await;
    let store = db.store().await;
    serve(db, store, &config).await
}

pub async fn serve(db: Db, store: Arc<dyn Store>, config: &Config) -> TestApp {
    let app = rates::app(
        Arc::clone(&store),
        config,
        Tokens::parse(TOKEN),
        &HttpConfig::default(),
    );
    TestApp {
        server: TestServer::start(app).await,
        store,
        db,
    }
}

/// Loads a dump given as text into the app's store.
pub async fn load_text(
    store: &dyn Store,
    text: &str,
) -> Result<rates::load::LoadStats, rates::load::LoadError> {
    rates::load::load_reader(
        store,
        std::io::Cursor::new(text.as_bytes().to_vec()),
        false,
        &Arc::default(),
    )
    .await
}

/// The real `rates.sql`: `RATES_SQL`, else `../shared/data/rates.sql` beside the
/// repository. Missing, it fails the test that asked, saying where it was expected.
pub fn real_dump() -> PathBuf {
    let path = std::env::var_os("RATES_SQL").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/data/rates.sql"
            ))
        },
        PathBuf::from,
    );
    assert!(
        path.is_file(),
        "the real dump is expected at {} (`../shared/data/rates.sql` beside the \
         repository, or the file RATES_SQL names)",
        path.display()
    );
    path
}

/// A dump read the plain way — split lines and tabs — to compute expectations
/// without the service's parser, loader or SQL.
#[derive(Debug, Default)]
pub struct Plain {
    /// slug → parent.
    pub regions: BTreeMap<String, Option<String>>,
    /// code → region.
    pub ports: BTreeMap<String, String>,
    /// (orig, dest, day, price).
    pub prices: Vec<(String, String, String, i64)>,
}

impl Plain {
    pub fn read(text: &str) -> Self {
        let mut plain = Self::default();
        let mut table = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("COPY public.") {
                rest.split(' ').next().unwrap().clone_into(&mut table);
                continue;
            }
            if line == "\\." {
                table.clear();
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            match table.as_str() {
                "regions" => {
                    let parent = (f[2] != "\\N").then(|| f[2].to_owned());
                    plain.regions.insert(f[0].to_owned(), parent);
                }
                "ports" => {
                    plain.ports.insert(f[0].to_owned(), f[2].to_owned());
                }
                "prices" => plain.prices.push((
                    f[0].to_owned(),
                    f[1].to_owned(),
                    f[2].to_owned(),
                    f[3].parse().unwrap(),
                )),
                _ => {}
            }
        }
        plain
    }

    /// The ports a code covers: itself if a port, else every port under the region.
    pub fn expand(&self, code: &str) -> HashSet<String> {
        if self.ports.contains_key(code) {
            return HashSet::from([code.to_owned()]);
        }
        let under = |region: &String| {
            let mut region = region.clone();
            loop {
                if region == code {
                    return true;
                }
                match self.regions.get(&region) {
                    Some(Some(parent)) => region.clone_from(parent),
                    _ => return false,
                }
            }
        };
        self.ports
            .iter()
            .filter(|(_, region)| under(region))
            .map(|(port, _)| port.clone())
            .collect()
    }

    /// Expected (day → (count, sum)) for a lookup, by plain aggregation.
    pub fn aggregate(
        &self,
        from: &str,
        to: &str,
        orig: &str,
        dest: &str,
    ) -> HashMap<String, (u64, i64)> {
        let (o, d) = (self.expand(orig), self.expand(dest));
        let mut out: HashMap<String, (u64, i64)> = HashMap::new();
        for (po, pd, day, price) in &self.prices {
            if o.contains(po) && d.contains(pd) && day.as_str() >= from && day.as_str() <= to {
                let e = out.entry(day.clone()).or_default();
                e.0 += 1;
                e.1 += price;
            }
        }
        out
    }

    #[allow(clippy::assigning_clones)] // `cur` is moved out by the loop pattern
    /// Region depth of a slug (a root is 1).
    pub fn depth(&self, slug: &str) -> usize {
        let mut d = 1;
        let mut cur = self.regions[slug].clone();
        while let Some(p) = cur {
            d += 1;
            cur = self.regions[&p].clone();
        }
        d
    }
}

/// Checks an answer against the plain aggregation: every day present, newest first,
/// count exact, price the average (as a double) when count >= 3 else null.
#[allow(clippy::cast_precision_loss)]
pub fn assert_matches(answer: &[DayAnswer], expected: &HashMap<String, (u64, i64)>, what: &str) {
    let mut previous: Option<&str> = None;
    for a in answer {
        if let Some(p) = previous {
            assert!(a.day.as_str() < p, "{what}: days not newest first");
        }
        previous = Some(&a.day);
        let (count, sum) = expected.get(&a.day).copied().unwrap_or((0, 0));
        assert_eq!(a.count, count, "{what} {}: count", a.day);
        let price = (count >= 3).then(|| sum as f64 / count as f64);
        assert_eq!(a.price, price, "{what} {}: price", a.day);
    }
    let days: HashSet<&str> = answer.iter().map(|a| a.day.as_str()).collect();
    for day in expected.keys() {
        assert!(days.contains(day.as_str()), "{what}: day {day} missing");
    }
}
