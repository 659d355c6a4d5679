//! The routes and their OpenAPI: `GET /get/{id}`, `POST /set`, `GET /prom-metrics`.
//! (`/healthcheck` is the kit's, with the store's readiness check.)

use std::sync::Arc;

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::IntoResponse,
};
use kit::{
    Problem,
    auth::{BearerScheme, Tokens},
    json::JsonBody,
    prelude::{OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::{
    error::{Error, Result},
    input::{MAX_ID_BYTES, SetRequest},
    store::{SetOutcome, Store},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth kv",
        description = "A key-value store: `POST /set` a string under an id, `GET /get/{id}` it back. \
                       Every acknowledged write is durable (Redis AOF fsynced on every write, or SQLite \
                       with synchronous=FULL)."
    ),
    modifiers(&BearerScheme),
    tags((name = "kv", description = "Keys and values"), (name = "operations", description = "Health, metrics"))
)]
struct ApiDoc;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Largest `data` accepted, in bytes.
    pub max_data: usize,
}

/// The routes, documented. With `tokens` configured, `POST /set` needs one of them as a
/// bearer token; with none, it is open (as the original was).
pub fn router(state: AppState, tokens: Tokens) -> OpenApiRouter {
    let mut writes = OpenApiRouter::new().routes(routes!(set));
    if !tokens.is_empty() {
        writes = writes.route_layer(middleware::from_fn_with_state(
            tokens,
            kit::auth::require_bearer,
        ));
    }
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(get))
        .merge(writes)
        .with_state(state)
        .routes(routes!(prom_metrics))
}

/// Answer of `POST /set`.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Status {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}

/// The value stored under an id, as `{"<id>":"<data>"}`.
#[utoipa::path(get, path = "/get/{id}", tag = "kv", params(("id" = String, Path, min_length = 1, max_length = 512, description = "The key: 1 to 512 bytes")),
    responses(
        (status = 200, description = "`{\"<id>\": \"<data>\"}`", body = Object,
         example = json!({"one": "one"})),
        (status = 404, description = "Nothing is stored under this id", body = Problem,
         content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Entry>> {
    // An id that could never have been stored is simply not there.
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(Error::NotFound);
    }
    let data = state.store.get(&id).await?.ok_or(Error::NotFound)?;
    Ok(Json(Entry { id, data }))
}

/// Answer of `GET /get/{id}`: `{"<id>":"<data>"}`, an object of one member named by
/// the id. Serialized as it is, without building a `serde_json::Map` (and its
/// allocation) on every read.
struct Entry {
    id: String,
    data: String,
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&self.id, &self.data)?;
        map.end()
    }
}

/// Stores a value under an id: 201 when the id was new, 200 when its value was
/// replaced (decided atomically by the store).
#[utoipa::path(post, path = "/set", tag = "kv",
    request_body = SetRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "Stored; the id was new", body = Status, example = json!({"status": "ok"})),
        (status = 200, description = "Stored; the id's previous value was replaced", body = Status,
         example = json!({"status": "ok"})),
        (status = 400, description = "The body is not a JSON object", body = Problem,
         content_type = "application/problem+json"),
        (status = 415, description = "The body is not `application/json`", body = Problem,
         content_type = "application/problem+json"),
        (status = 401, description = "API tokens are configured and none was given", body = Problem,
         content_type = "application/problem+json"),
        (status = 413, description = "`data` (or the body) is too large", body = Problem,
         content_type = "application/problem+json"),
        (status = 422, description = "`id` or `data` missing, repeated or not a string, another member given, or `id` empty or over 512 bytes (`field` names it)",
         body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable; nothing was stored", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn set(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SetRequest>,
) -> Result<(StatusCode, Json<Status>)> {
    request.check(state.max_data)?;
    let outcome = state.store.set(&request.id, &request.data).await?;
    let (status, label) = match outcome {
        SetOutcome::Created => (StatusCode::CREATED, "created"),
        SetOutcome::Replaced => (StatusCode::OK, "replaced"),
    };
    metrics::counter!("kv_sets_total", "outcome" => label).increment(1);
    Ok((
        status,
        Json(Status {
            status: "ok".to_owned(),
        }),
    ))
}

/// The Prometheus metrics, as at `/metrics` (the original served them here).
#[utoipa::path(get, path = "/prom-metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", body = String,
               content_type = "text/plain"))
)]
async fn prom_metrics() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        kit::metrics::render(),
    )
}
