//! `GET /` and `GET /rates`.

use axum::{
    Json,
    extract::{Query, State},
};
use kit::{
    Problem,
    prelude::{OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use crate::{
    Error, Result,
    domain::{DayRate, Lookup, LookupParams, fill_days},
};

/// The routes of this resource.
pub fn router(state: AppState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(rates))
        .with_state(state)
}

/// Answer of `GET /`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Hello {
    /// Always `Hello world!`.
    #[schema(example = "Hello world!")]
    pub message: String,
}

/// The original's greeting.
#[utoipa::path(get, path = "/", tag = "rates", responses((status = 200, description = "Hello", body = Hello)))]
async fn index() -> Json<Hello> {
    Json(Hello {
        message: "Hello world!".to_owned(),
    })
}

/// Query of `GET /rates`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RatesQuery {
    /// First day, `YYYY-MM-DD`. Required (the `Option` lets the handler answer its
    /// absence with a 400 naming it).
    #[param(example = "2021-01-01", required = true, value_type = String, format = Date)]
    pub date_from: Option<String>,
    /// Last day, `YYYY-MM-DD`, inclusive, not before `date_from`; the range spans at
    /// most `--rates-max-days` days (366 by default). Required.
    #[param(example = "2021-01-31", required = true, value_type = String, format = Date)]
    pub date_to: Option<String>,
    /// Origin: a port code (e.g. `CNSGH`) or a region slug (e.g. `china_main`),
    /// covering every port below it, to any depth. Required; a code the data does not
    /// hold is a 400 naming the parameter.
    #[param(example = "TWSHA", required = true, value_type = String, min_length = 1, max_length = 64)]
    pub orig_code: Option<String>,
    /// Destination: a port code or a region slug, as `orig_code`. Required.
    #[param(example = "MYFAL", required = true, value_type = String, min_length = 1, max_length = 64)]
    pub dest_code: Option<String>,
}

/// Answer of `GET /rates`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RatesAnswer {
    /// One entry per day of the range, newest first.
    pub rates: Vec<DayRate>,
}

/// Average price per day between two ports or regions.
#[utoipa::path(get, path = "/rates", tag = "rates", params(RatesQuery),
    responses(
        (status = 200, description = "One entry per day, newest first", body = RatesAnswer,
         example = json!({"rates": [{"count": 3, "day": "2021-01-31", "price": 1_154.333_333_333_333_3}, {"count": 0, "day": "2021-01-30", "price": null}]})),
        (status = 400, description = "A parameter is missing or invalid, or a code is unknown; `field` names it",
         body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn rates(
    State(state): State<AppState>,
    Query(query): Query<RatesQuery>,
) -> Result<Json<RatesAnswer>> {
    let lookup = Lookup::parse(
        LookupParams {
            date_from: query.date_from,
            date_to: query.date_to,
            orig_code: query.orig_code,
            dest_code: query.dest_code,
        },
        state.max_days,
    )?;
    let totals = state.store.day_totals(&lookup).await?;
    if totals.is_empty() {
        // No price at all: tell an unknown code from an empty range.
        for (field, code) in [
            ("orig_code", &lookup.orig_code),
            ("dest_code", &lookup.dest_code),
        ] {
            if !state.store.is_known(code).await? {
                return Err(Error::unknown_code(field, code));
            }
        }
    }
    Ok(Json(RatesAnswer {
        rates: fill_days(lookup.date_from, lookup.date_to, &totals),
    }))
}
