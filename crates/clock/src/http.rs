//! The clock's routes and their OpenAPI.

use axum::{
    Json,
    extract::Query,
    response::{IntoResponse, Redirect, Response},
};
use kit::{
    Problem,
    prelude::{OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::time::DialTime;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth clock",
        description = "What time is it really, when the clock is seen in a mirror?"
    ),
    tags((name = "clock", description = "The mirror clock"), (name = "operations", description = "Health, metrics"))
)]
struct ApiDoc;

/// The clock's routes, documented.
pub fn router() -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(clock))
        .routes(routes!(index))
}

/// Query of `GET /clock`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ClockQuery {
    /// The time as seen in the mirror, `HH:MM` (or `H:MM`), `1 <= HH < 13`. Required
    /// (the handler answers its absence with a 400 of its own, hence the `Option`).
    #[param(example = "12:22", required = true, value_type = String, pattern = r"^(0?[1-9]|1[0-2]):[0-5][0-9]$")]
    pub mirror_time: Option<String>,
}

/// Answer of `GET /clock`.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ClockAnswer {
    /// The mirrored time, normalised to `HH:MM`.
    #[schema(example = "12:22")]
    pub mirror_time: String,
    /// The time the clock really shows.
    #[schema(example = "11:38")]
    pub actual_time: String,
}

/// The actual time for a time seen in a mirror.
#[utoipa::path(get, path = "/clock", tag = "clock", params(ClockQuery),
    responses(
        (status = 200, description = "The actual time", body = ClockAnswer),
        (status = 400, description = "`mirror_time` missing or not `HH:MM`, 1 <= HH < 13",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn clock(Query(query): Query<ClockQuery>) -> Result<Json<ClockAnswer>, Problem> {
    let raw = query.mirror_time.ok_or_else(|| {
        Problem::bad_request(
            "the query parameter mirror_time is required: expected the form HH:MM, 1 <= HH < 13",
        )
        .with("field", "mirror_time")
    })?;
    let mirror: DialTime = raw.parse().map_err(|e: crate::time::InvalidTime| {
        Problem::bad_request(e.to_string()).with("field", "mirror_time")
    })?;
    Ok(Json(ClockAnswer {
        mirror_time: mirror.to_string(),
        actual_time: mirror.mirrored().to_string(),
    }))
}

/// The Swagger UI.
#[utoipa::path(get, path = "/", tag = "clock", responses((status = 303, description = "To the Swagger UI at /docs/")))]
async fn index() -> Response {
    Redirect::to("/docs/").into_response()
}
