//! Loading a dump from an `http://` URL: a real HTTP server on a free port serves it
//! with a `Content-Length`, chunked, cut short or not at all.

use std::sync::{Arc, atomic::Ordering};

use futures::StreamExt as _;
use tokio_util::task::AbortOnDropHandle;

use axum::{
    Router,
    body::{Body, Bytes},
    http::{StatusCode, header},
    response::Response,
    routing::get,
};
use rates::{
    load::{LoadError, Progress},
    source::{Source, SourceError},
    store::Store,
};

use crate::helpers::{Kind, real_dump, spawn_app};

/// How the test server answers `GET /rates.sql`.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// The whole dump, with its `Content-Length`.
    Length,
    /// The whole dump in 64 KiB chunks, without a length (chunked encoding).
    Chunked,
    /// Announces the whole dump's length, sends the first half, closes the connection.
    CutWithLength,
    /// Sends the first half chunked, then closes the connection (no last chunk).
    CutChunked,
}

/// A server of `dump` on a free port; stops when dropped.
struct DumpServer {
    base: String,
    _task: AbortOnDropHandle<()>,
}

impl DumpServer {
    async fn start(dump: Bytes, answer: Answer) -> Self {
        let router = Router::new().route(
            "/rates.sql",
            get(move || {
                let dump = dump.clone();
                async move { respond(&dump, answer) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            base,
            _task: AbortOnDropHandle::new(task),
        }
    }

    /// The dump's URL, with a query string standing for a presigned URL's signature.
    fn url(&self, path: &str) -> Source {
        let url = format!("{}{path}?X-Amz-Signature=not-for-logs", self.base);
        Source::parse(url.as_ref()).unwrap()
    }
}

fn respond(dump: &Bytes, answer: Answer) -> Response {
    let half = dump.slice(..dump.len() / 2);
    let chunks = |bytes: Bytes| {
        let pieces: Vec<Result<Bytes, std::io::Error>> = bytes
            .chunks(64 * 1024)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::stream::iter(pieces)
    };
    let broken =
        || futures::stream::iter([Err::<Bytes, _>(std::io::Error::other("the server fails"))]);
    let body = match answer {
        Answer::Length => Body::from(dump.clone()),
        Answer::Chunked => Body::from_stream(chunks(dump.clone())),
        Answer::CutWithLength | Answer::CutChunked => {
            Body::from_stream(chunks(half).chain(broken()))
        }
    };
    let mut response = Response::new(body);
    if matches!(answer, Answer::CutWithLength) {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, dump.len().into());
    }
    response
}

fn real_dump_bytes() -> Bytes {
    Bytes::from(std::fs::read(real_dump()).unwrap())
}

/// Loads `source` as `berth rates load` does (open, then read); the result and the
/// bytes read.
async fn load_url(
    store: &dyn Store,
    source: &Source,
) -> (Result<rates::load::LoadStats, LoadError>, u64) {
    let progress = Arc::new(Progress::default());
    let result = match source.open().await {
        Ok(dump) => rates::load::load_reader(store, dump.reader, false, &progress).await,
        Err(e) => Err(e.into()),
    };
    (result, progress.bytes.load(Ordering::Relaxed))
}

testkit::conformance! {
    sqlite => Kind::Sqlite,
    postgres => Kind::Postgres;
    [a_url_loads_the_same_rows_as_the_file, a_download_cut_short_stores_nothing]
}

/// Every answer of both apps to lookups between the regions and some ports.
async fn answers(app: &crate::helpers::TestApp) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for (orig, dest) in [
        ("china_main", "northern_europe"),
        ("CNSGH", "north_europe_main"),
        ("CNSGH", "NLRTM"),
        ("north_europe_main", "china_main"),
        ("scandinavia", "china_east_main"),
    ] {
        let params = [
            ("date_from", "2020-12-30"),
            ("date_to", "2021-02-01"),
            ("orig_code", orig),
            ("dest_code", dest),
        ];
        let (status, body) = app.rates(&params).await;
        assert_eq!(status, 200, "{orig}->{dest}: {body}");
        out.push(body);
    }
    out
}

async fn a_url_loads_the_same_rows_as_the_file(kind: Kind) {
    let dump = real_dump_bytes();
    let from_file = spawn_app(kind).await;
    let file_stats = rates::load::load_file(
        from_file.store.as_ref(),
        &real_dump(),
        false,
        &Arc::default(),
    )
    .await
    .expect("the file loads");
    let expected = answers(&from_file).await;
    let priced = expected
        .iter()
        .flat_map(|b| b["rates"].as_array().unwrap())
        .filter(|r| r["price"].is_number())
        .count();
    assert!(
        priced > 20,
        "the comparison covers real averages ({priced})"
    );

    for answer in [Answer::Length, Answer::Chunked] {
        let server = DumpServer::start(dump.clone(), answer).await;
        let app = spawn_app(kind).await;
        let (result, bytes) = load_url(app.store.as_ref(), &server.url("/rates.sql")).await;
        let stats = result.unwrap_or_else(|e| panic!("{answer:?}: {e}"));
        assert_eq!(
            (stats.regions, stats.ports, stats.prices),
            (file_stats.regions, file_stats.ports, file_stats.prices),
            "{answer:?}"
        );
        assert_eq!(
            bytes,
            dump.len() as u64,
            "{answer:?}: progress counts every byte"
        );
        assert_eq!(answers(&app).await, expected, "{answer:?}");
    }
}

async fn a_download_cut_short_stores_nothing(kind: Kind) {
    let dump = real_dump_bytes();
    let app = spawn_app(kind).await;
    for answer in [Answer::CutWithLength, Answer::CutChunked] {
        let server = DumpServer::start(dump.clone(), answer).await;
        let (result, _) = load_url(app.store.as_ref(), &server.url("/rates.sql")).await;
        let err = result.expect_err("a cut download must fail");
        let message = format!("{:#}", anyhow::Error::from(err));
        assert!(
            message.starts_with("line ") && message.contains("the download stopped after"),
            "{answer:?}: {message}"
        );
        if matches!(answer, Answer::CutWithLength) {
            assert!(
                message.contains(&format!("of {} bytes", dump.len())),
                "{message}"
            );
        }
        assert!(!message.contains("not-for-logs"), "{message}");
        assert!(
            app.store.is_empty().await.unwrap(),
            "{answer:?}: a cut download left rows behind"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_status_or_no_server_is_a_clear_error() {
    let app = spawn_app(Kind::Sqlite).await;
    let server = DumpServer::start(Bytes::from_static(b""), Answer::Length).await;

    let (result, _) = load_url(app.store.as_ref(), &server.url("/missing.sql")).await;
    let err = result.expect_err("404");
    assert!(
        matches!(
            &err,
            LoadError::Source(e @ SourceError::Status { status, .. })
                if *status == StatusCode::NOT_FOUND && !e.is_transient()
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "cannot download {}/missing.sql?…: the server answered 404 Not Found",
            server.base
        )
    );

    // Nothing listens on the port: the connection is refused.
    let port = testkit::free_port();
    let url = format!("http://127.0.0.1:{port}/rates.sql?X-Amz-Signature=not-for-logs");
    let (result, _) = load_url(app.store.as_ref(), &Source::parse(url.as_ref()).unwrap()).await;
    let err = result.expect_err("refused");
    assert!(
        matches!(&err, LoadError::Source(e @ SourceError::Download { .. }) if e.is_transient()),
        "{err:?}"
    );
    let message = format!("{:#}", anyhow::Error::from(err));
    assert!(message.contains("refused"), "{message}");
    assert!(!message.contains("not-for-logs"), "{message}");
    assert!(app.store.is_empty().await.unwrap());
}

#[test]
fn locations_are_files_or_http_urls() {
    let parse = |s: &str| Source::parse(s.as_ref());
    assert!(matches!(parse("rates.sql"), Ok(Source::File(_))));
    assert!(matches!(parse("./a://b"), Ok(Source::File(_))));
    assert!(matches!(
        parse("HTTPS://example.com/x.sql"),
        Ok(Source::Url(_))
    ));
    let url = parse("https://user:pw@example.com/d/rates.sql?X-Amz-Signature=abc#f").unwrap();
    assert_eq!(url.to_string(), "https://example.com/d/rates.sql?…");
    let err = parse("s3://bucket/rates.sql?x=1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "s3://bucket/rates.sql: berth reads a file or an http:// or https:// URL, not s3:// \
         (for S3, a presigned https:// URL)"
    );
    assert!(parse("http://exa mple.com/").is_err());
}
