//! `/user`: list, read and create users; a user's ledger.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use kit::{
    Problem,
    prelude::{OpenApiRouter, routes},
};

use kit::json::JsonBody;

use super::{AppState, PageQuery, next_link, parse_id};
use crate::{
    Error, Result,
    model::{NewUser, Transfer, User, normalize_name},
};

/// The reads of this module (open to everybody).
pub fn reads() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user))
        .routes(routes!(ledger))
}

/// The writes of this module (behind the bearer token).
pub fn writes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_user))
}

/// Users and their coins, ordered by id (the original contract), paged.
#[utoipa::path(get, path = "/user", tag = "users", params(PageQuery),
    responses(
        (status = 200, description = "Users ordered by id: a plain JSON array", body = [User],
         headers(("Link" = String, description = "`<URL>; rel=\"next\"`: the next page, present while more users exist")),
         example = json!([{"id": 1, "name": "alice", "coins": 120}, {"id": 2, "name": "bob", "coins": 80}])),
        (status = 400, description = "`limit` or `after` invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<Response> {
    let page = query.page()?;
    let mut users = state.store.list_users(page.probe()).await?;
    let link = next_link(&mut users, page, |u| u.id, "/user");
    Ok(with_link(Json(users), link))
}

fn with_link(body: impl IntoResponse, link: Option<HeaderValue>) -> Response {
    let mut response = body.into_response();
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, link);
    }
    response
}

/// One user.
#[utoipa::path(get, path = "/user/{id}", tag = "users", params(("id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "The id is not an integer", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_user(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<User>> {
    let id = parse_id(&id)?;
    state
        .store
        .user(id)
        .await?
        .map(Json)
        .ok_or(Error::UserNotFound { id, field: None })
}

/// Creates a user.
#[utoipa::path(post, path = "/user", tag = "users", security(("bearer" = [])),
    request_body(content = NewUser, description = "`coins` may be left out (0)"),
    responses(
        (status = 201, description = "Created; `Location` is the user's URL", body = User,
         headers(("Location" = String, description = "`/user/{id}`"))),
        (status = 400, description = "The body is not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A user with this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing, unknown or breaks its rule; `field` names it", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_user(
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewUser>,
) -> Result<Response> {
    let new = NewUser {
        name: normalize_name(&new.name)?,
        coins: new.coins,
    };
    let user = state.store.create_user(&new).await?;
    let location = HeaderValue::from_str(&format!("/user/{}", user.id))
        .map_err(|e| Error::Internal(e.into()))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(user),
    )
        .into_response())
}

/// A user's ledger: the transfers from or to them, newest first, paged (`after` is the
/// id of the last transfer of the previous page; the next page holds older ones).
#[utoipa::path(get, path = "/user/{id}/transfers", tag = "transfers", params(("id" = i64, Path, description = "The user's id"), PageQuery),
    responses(
        (status = 200, description = "Transfers, newest first: a plain JSON array", body = [Transfer],
         headers(("Link" = String, description = "`<URL>; rel=\"next\"`: the next (older) page, present while more transfers exist"))),
        (status = 400, description = "The id, `limit` or `after` is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn ledger(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let page = query.page()?;
    let mut rows = state
        .store
        .ledger(id, page.probe())
        .await?
        .ok_or(Error::UserNotFound { id, field: None })?;
    let link = next_link(&mut rows, page, |t| t.id, &format!("/user/{id}/transfers"));
    Ok(with_link(Json::<Vec<Transfer>>(rows), link))
}
