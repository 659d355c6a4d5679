//! `POST /prices`: atomic batch ingest.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    middleware,
};
use kit::{
    Problem,
    prelude::{OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use crate::{Error, Result, ingest};

/// The routes of this resource; every one needs a bearer token.
pub fn router(state: AppState, tokens: kit::auth::Tokens) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(ingest_prices))
        .route_layer(middleware::from_fn_with_state(
            tokens,
            kit::auth::require_bearer,
        ))
        .with_state(state)
}

/// One price, as `POST /prices` takes it in JSON.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceRow {
    /// Origin port code.
    #[schema(example = "TWSHA")]
    pub orig_code: String,
    /// Destination port code.
    #[schema(example = "MYFAL")]
    pub dest_code: String,
    /// The day, `YYYY-MM-DD`.
    #[schema(example = "2021-01-31")]
    pub day: String,
    /// The price, an integer from 0 to 2147483647.
    #[schema(example = 1200)]
    pub price: i32,
}

/// Answer of `POST /prices`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Inserted {
    /// Rows stored.
    pub inserted: u64,
}

/// Stores a batch of prices, all or nothing.
///
/// The body is a JSON array of prices (`application/json`) or CSV (`text/csv`: lines of
/// `orig_code,dest_code,day,price`, an optional header line). Rows are checked one by
/// one; the first bad one is named (its 1-based `row`, the `field`, and for CSV the
/// `line`) and nothing is stored. Queries see the whole batch or none of it.
#[utoipa::path(post, path = "/prices", tag = "prices", security(("bearer" = [])),
    request_body(
        content(
            (Vec<PriceRow> = "application/json"),
            (String = "text/csv", example = "orig_code,dest_code,day,price\nTWSHA,MYFAL,2021-01-31,1200\n"),
        ),
    ),
    responses(
        (status = 201, description = "Every row stored", body = Inserted, example = json!({"inserted": 2})),
        (status = 400, description = "The body is not a JSON array or not UTF-8 CSV", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Too many rows or bytes", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor CSV", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A row is invalid or names an unknown port; nothing was stored", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn ingest_prices(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Inserted>)> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let rows = match media.as_str() {
        "application/json" => ingest::parse_json(&body, state.max_rows)?,
        "text/csv" => ingest::parse_csv(&body, state.max_rows)?,
        other => {
            return Err(Error::UnsupportedMediaType(format!(
                "the body must be application/json or text/csv, not {:?}",
                if other.is_empty() { "(none)" } else { other }
            )));
        }
    };
    let inserted = state.store.ingest(&rows).await?;
    Ok((StatusCode::CREATED, Json(Inserted { inserted })))
}
