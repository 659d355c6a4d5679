//! The routes and their OpenAPI: one module per resource, each with its `router()`.

pub mod prices;
pub mod rates;

use std::sync::Arc;

use kit::{auth::BearerScheme, prelude::OpenApiRouter};
use utoipa::OpenApi;

use crate::store::Store;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Longest range of days a lookup may span.
    pub max_days: u32,
    /// Most rows one ingest may carry.
    pub max_rows: usize,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth rates",
        description = "Average daily shipping prices between ports and regions, and atomic batch ingest of prices."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "rates", description = "Daily average prices"),
        (name = "prices", description = "Batch ingest of prices"),
        (name = "operations", description = "Health, metrics")
    )
)]
struct ApiDoc;

/// Every route of the service, documented; `POST /prices` needs one of `tokens`.
pub fn router(state: AppState, tokens: kit::auth::Tokens) -> OpenApiRouter {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(rates::router(state.clone()))
        .merge(prices::router(state, tokens))
}
