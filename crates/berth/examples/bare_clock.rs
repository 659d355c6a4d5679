//! The benchmark baseline: the clock's `GET /clock` as a bare axum handler, with none
//! of the kit's layers (no request id, logging, metrics, timeout, problem mapping).
//! `scripts/bench` runs it beside `berth serve clock` to price the kit's middleware.
//!
//! Usage: `bare_clock [ADDR]` (default `127.0.0.1:18081`).
//!
//! It uses berth's allocator (jemalloc), so that the comparison prices the layers, not
//! the allocator.

use axum::{Json, Router, extract::Query, http::StatusCode, routing::get};
use clock::{http::ClockAnswer, time::DialTime};
use serde::Deserialize;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Deserialize)]
struct Q {
    mirror_time: Option<String>,
}

async fn clock_handler(Query(q): Query<Q>) -> Result<Json<ClockAnswer>, StatusCode> {
    let t: DialTime = q
        .mirror_time
        .ok_or(StatusCode::BAD_REQUEST)?
        .parse()
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    Ok(Json(ClockAnswer {
        mirror_time: t.to_string(),
        actual_time: t.mirrored().to_string(),
    }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare clock listening on {}", listener.local_addr()?);
    axum::serve(listener, Router::new().route("/clock", get(clock_handler))).await
}
