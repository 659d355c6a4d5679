//! `POST /transfers`: move coins, optionally under an idempotency key.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use kit::{
    Problem,
    prelude::{OpenApiRouter, routes},
};

use kit::json::JsonBody;

use super::AppState;
use crate::{
    Error, Result,
    model::{Transfer, TransferRequest, check_key, check_transfer},
};

/// The request header carrying an idempotency key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The response header set on a replayed answer.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(transfer))
}

/// Moves coins from one user to another, atomically: both balances and the ledger row
/// change together or not at all, and no balance goes below zero.
#[utoipa::path(post, path = "/transfers", tag = "transfers", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]{1,255}$",
            description = "1–255 visible ASCII characters (a 400 otherwise). The same key with the same body answers the first transfer again and moves nothing; with another body it is a 422.")),
    request_body = TransferRequest,
    responses(
        (status = 201, description = "Transferred (or, with `Idempotent-Replayed: true`, the earlier transfer under the same key): the transfer and both balances right after it", body = Transfer,
         headers(("Idempotent-Replayed" = String, description = "`true` when this is the answer of an earlier request with the same key"))),
        (status = 400, description = "The body is not a JSON object, or the Idempotency-Key is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`from` or `to` is no user (`field` says which)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The sender has fewer coins than `amount` (`balance` says how many), or the recipient's balance would pass 9223372036854775807", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing, unknown or breaks its rule (`from == to`, `amount` not a positive integer...), or the Idempotency-Key was used for another transfer", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn transfer(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<TransferRequest>,
) -> Result<Response> {
    let key = match headers.get(&IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => {
            let key = value.to_str().map_err(|_| {
                Error::param(
                    "Idempotency-Key",
                    "the Idempotency-Key header must be visible ASCII",
                )
            })?;
            check_key(key)?;
            Some(key)
        }
    };
    check_transfer(&request)?;
    let done = state.store.transfer(&request, key).await?;
    let mut response = (StatusCode::CREATED, Json(done.transfer)).into_response();
    if done.replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}
