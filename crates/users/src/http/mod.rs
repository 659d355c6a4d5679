//! The routes and their OpenAPI.
//!
//! - [`users`]: `GET /user`, `GET /user/{id}`, `POST /user`, `GET /user/{id}/transfers`.
//! - [`transfers`]: `POST /transfers`.
//!
//! Paging (both listings): `?limit=` (1–1000, default 100) and `?after=<id>` (the id of
//! the last row of the previous page). While more rows exist, the response carries
//! `Link: </user?limit=100&after=100>; rel="next"`, the URL of the next page; the body
//! stays a plain JSON array.

pub mod transfers;
pub mod users;

use std::sync::Arc;

use axum::{http::HeaderValue, middleware};
use kit::{
    auth::{BearerScheme, Tokens},
    prelude::OpenApiRouter,
};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

use crate::{
    Error,
    model::{DEFAULT_LIMIT, MAX_LIMIT, Page},
    store::Store,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth users",
        description = "Users and their coin balances, with transfers that never create or lose a coin.\n\n\
            Mutations (`POST`) need `Authorization: Bearer <token>`; reads are open.\n\n\
            **Paging**: `GET /user` and `GET /user/{id}/transfers` take `limit` (1–1000, default 100) and \
            `after` (the id of the last row of the previous page). While more rows exist, the response \
            carries a `Link: <URL>; rel=\"next\"` header with the next page's URL; the body is a plain \
            JSON array.\n\n\
            **Idempotency**: `POST /transfers` takes an optional `Idempotency-Key` header (1–255 visible \
            ASCII characters). The same key with the same `from`, `to` and `amount` answers the first \
            transfer again (201, header `Idempotent-Replayed: true`) and moves nothing; with another body \
            it is a 422. A key is kept only when its transfer commits (a refused transfer keeps nothing, \
            so it can be retried with the same key) and forever after.\n\n\
            **Numbers** are JSON integers up to 9223372036854775807; fractions, exponents, strings and \
            larger values are refused with a 422 naming the field, never rounded or wrapped."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "users", description = "Users and their balances"),
        (name = "transfers", description = "Moving coins between users"),
        (name = "operations", description = "Health, metrics")
    )
)]
struct ApiDoc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
}

/// The service's routes, documented, over `store`. The mutations (every `POST`) are
/// behind [`kit::auth::require_bearer`] with `tokens`: a request without a valid token
/// is refused before its body is read.
pub fn router(store: Arc<dyn Store>, tokens: Tokens) -> OpenApiRouter {
    let writes =
        users::writes()
            .merge(transfers::router())
            .route_layer(middleware::from_fn_with_state(
                tokens,
                kit::auth::require_bearer,
            ));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(users::reads())
        .merge(writes)
        .with_state(AppState { store })
}

/// `?limit=&after=` of a listing, checked by [`PageQuery::page`].
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Most rows to return: 1–1000, default 100.
    #[param(value_type = u32, required = false, minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<String>,
    /// The id of the last row of the previous page (as in the `Link` header).
    #[param(value_type = i64, required = false, minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub after: Option<String>,
}

impl PageQuery {
    /// The page asked for, or a 400 naming the parameter.
    pub fn page(&self) -> Result<Page, Error> {
        let limit = match &self.limit {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| {
                    Error::param(
                        "limit",
                        format!(
                            "limit must be an integer from 1 to {MAX_LIMIT}; got {:?}",
                            shorten(raw)
                        ),
                    )
                })?,
        };
        let after = match &self.after {
            None => None,
            Some(raw) => Some(raw.parse::<i64>().ok().filter(|a| *a >= 0).ok_or_else(|| {
                Error::param(
                    "after",
                    format!(
                        "after must be an id, an integer from 0 to {}; got {:?}",
                        i64::MAX,
                        shorten(raw)
                    ),
                )
            })?),
        };
        Ok(Page { limit, after })
    }
}

/// At most 40 characters of a client's input, for messages.
fn shorten(raw: &str) -> String {
    raw.chars().take(40).collect()
}

/// Trims a probe page (`page.limit + 1` rows) to `page.limit` rows and, when the extra
/// row was there, returns the `Link` header of the next page of `path`.
pub fn next_link<T>(
    rows: &mut Vec<T>,
    page: Page,
    id: impl Fn(&T) -> i64,
    path: &str,
) -> Option<HeaderValue> {
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    let last = rows.last().map(id)?;
    HeaderValue::from_str(&format!(
        "<{path}?limit={}&after={last}>; rel=\"next\"",
        page.limit
    ))
    .ok()
}

/// Parses a user id from a path segment: a 400 when it is not an integer, naming `id`.
pub fn parse_id(raw: &str) -> Result<i64, Error> {
    raw.parse::<i64>().map_err(|_| {
        Error::param(
            "id",
            format!(
                "a user id is an integer up to {}; got {:?}",
                i64::MAX,
                shorten(raw)
            ),
        )
    })
}
