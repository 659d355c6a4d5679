//! MultiVAC's routes and their OpenAPI. Handlers talk to [`Queue`] and [`Store`] only.

use std::sync::Arc;

use axum::{
    Json,
    extract::{FromRequest, Multipart, Request, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use kit::{
    Problem,
    auth::{BearerScheme as Bearer, Tokens},
    prelude::{OpenApiRouter, routes},
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::{
    error::{Error, Result},
    queue::Queue,
    store::Store,
};

/// `GET /` answers this.
pub const WELCOME: &str = "Welcome to MultiVAC!";
/// `GET /multivac` answers this until a datum has been processed.
pub const INSUFFICIENT: &str = "INSUFFICIENT DATA FOR MEANINGFUL ANSWER.";
/// `POST /multivac/data` answers `{"response": UPDATED}`.
pub const UPDATED: &str = "MultiVAC updated!";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "berth multivac",
        description = "MultiVAC: feed it data; a worker processes each datum exactly once; \
                       it answers its one question once it has data."
    ),
    modifiers(&Bearer),
    tags((name = "multivac", description = "The MultiVAC API"), (name = "operations", description = "Health, metrics"))
)]
struct ApiDoc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The queue.
    pub queue: Arc<dyn Queue>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Largest datum accepted, in bytes.
    pub max_data: usize,
}

/// The routes, documented; `POST` and `DELETE` need one of `tokens`.
pub fn router(state: AppState, tokens: Tokens) -> OpenApiRouter {
    let protected = OpenApiRouter::new()
        .routes(routes!(post_data))
        .routes(routes!(delete_oldest))
        .route_layer(axum::middleware::from_fn_with_state(
            tokens,
            kit::auth::require_bearer,
        ));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(index))
        .routes(routes!(answer))
        .routes(routes!(stats))
        .merge(protected)
        .with_state(state)
}

fn text(body: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}

/// The greeting.
#[utoipa::path(get, path = "/", tag = "multivac",
    responses((status = 200, description = "The greeting", body = String, content_type = "text/plain",
               example = "Welcome to MultiVAC!")))]
async fn index() -> Response {
    text(WELCOME.to_owned())
}

/// The answer: the oldest processed datum, or INSUFFICIENT DATA until there is one.
#[utoipa::path(get, path = "/multivac", tag = "multivac",
    responses(
        (status = 200, description = "The oldest processed datum, or `INSUFFICIENT DATA FOR MEANINGFUL ANSWER.`",
         body = String, content_type = "text/plain", example = "INSUFFICIENT DATA FOR MEANINGFUL ANSWER."),
        (status = 503, description = "The store does not answer", body = Problem, content_type = "application/problem+json"),
    ))]
async fn answer(State(state): State<AppState>) -> Result<Response> {
    let oldest = state.store.oldest().await.map_err(Error::Store)?;
    Ok(text(oldest.map_or_else(
        || INSUFFICIENT.to_owned(),
        |r| r.stored.data,
    )))
}

/// The body of `POST /multivac/data` as a form (urlencoded or multipart): the field
/// `data`, once, and nothing else.
#[derive(Debug, Deserialize)]
pub struct DataForm {
    /// The datum.
    pub data: String,
}

impl utoipa::PartialSchema for DataForm {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .description(Some(
                "The body of `POST /multivac/data` as a form: the field `data`, once, and nothing else.",
            ))
            .property(
                "data",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(
                        "The datum: non-empty UTF-8 text without NUL, at most `--multivac-max-data` \
                         bytes (64 KiB by default; 413 past it).",
                    ))
                    .examples([serde_json::json!(
                        "How can the net amount of entropy of the universe be decreased?"
                    )])
                    .min_length(Some(1))
                    .pattern(Some(r"^[^\x00]+$")),
            )
            .required("data")
            .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for DataForm {}

/// The body of `POST /multivac/data` as JSON (read by the kit's rules,
/// [`kit::json::parse`]: a repeated or unknown member is a 422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataJson {
    /// The datum: a non-empty string without NUL, at most `--multivac-max-data` bytes
    /// (64 KiB by default; 413 past it).
    #[schema(value_type = String, example = "How can the net amount of entropy of the universe be decreased?",
             min_length = 1, pattern = r"^[^\x00]+$")]
    pub data: Option<serde_json::Value>,
}

/// The answer of `POST /multivac/data`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Updated {
    /// Always `MultiVAC updated!`.
    #[schema(example = "MultiVAC updated!")]
    pub response: String,
}

/// A validated datum, read from a urlencoded or multipart form, or from JSON.
#[derive(Debug)]
pub struct Datum(pub String);

fn rejected(status: StatusCode, detail: String) -> Error {
    Error::BadBody { status, detail }
}

impl FromRequest<AppState> for Datum {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let raw = match essence.as_str() {
            "application/x-www-form-urlencoded" => {
                let body = axum::body::Bytes::from_request(req, state)
                    .await
                    .map_err(|r| rejected(r.status(), r.body_text()))?;
                form_field(&body, "data")?.ok_or(Error::MissingData)?
            }
            "multipart/form-data" => {
                let mut multipart = Multipart::from_request(req, state)
                    .await
                    .map_err(|r| rejected(r.status(), r.body_text()))?;
                let mut found = None;
                while let Some(field) = multipart
                    .next_field()
                    .await
                    .map_err(|e| rejected(e.status(), e.body_text()))?
                {
                    let name = field.name().unwrap_or_default().to_owned();
                    if name != "data" {
                        return Err(Error::UnknownField(shorten(&name)));
                    }
                    if found.is_some() {
                        return Err(Error::RepeatedData);
                    }
                    let bytes = field
                        .bytes()
                        .await
                        .map_err(|e| rejected(e.status(), e.body_text()))?;
                    found = Some(String::from_utf8(bytes.into()).map_err(|_| Error::NotUtf8)?);
                }
                found.ok_or(Error::MissingData)?
            }
            json if json == "application/json" || json.ends_with("+json") => {
                let body = axum::body::Bytes::from_request(req, state)
                    .await
                    .map_err(|r| rejected(r.status(), r.body_text()))?;
                let body: DataJson = kit::json::parse(&body).map_err(Error::Body)?;
                match body.data {
                    None | Some(serde_json::Value::Null) => return Err(Error::MissingData),
                    Some(serde_json::Value::String(s)) => s,
                    Some(_) => return Err(Error::NotAString),
                }
            }
            "" => return Err(Error::UnsupportedMediaType("(none)".into())),
            _ => return Err(Error::UnsupportedMediaType(content_type)),
        };
        validate(raw, state.max_data).map(Datum)
    }
}

/// The first value of `name` in an `application/x-www-form-urlencoded` body, decoded
/// (`+` is a space, `%XX` a byte, by `percent_encoding`). Unlike a lossy decoder
/// (`form_urlencoded::parse` replaces them), bytes that are not UTF-8 are an error.
/// The body holds `name` once and nothing else: another field, or `name` twice, is
/// refused (the rule of every berth body: a member the endpoint does not take, or a
/// repeated one, is a 422, never silently dropped).
pub fn form_field(body: &[u8], name: &str) -> Result<Option<String>> {
    let decode = |raw: &[u8]| -> Vec<u8> {
        let plus_as_space: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&plus_as_space).collect()
    };
    let mut found = None;
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let mut parts = pair.splitn(2, |b| *b == b'=');
        let key = decode(parts.next().unwrap_or_default());
        if key != name.as_bytes() {
            return Err(Error::UnknownField(shorten(&String::from_utf8_lossy(&key))));
        }
        if found.is_some() {
            return Err(Error::RepeatedData);
        }
        let value = decode(parts.next().unwrap_or_default());
        found = Some(String::from_utf8(value).map_err(|_| Error::NotUtf8)?);
    }
    Ok(found)
}

/// At most 64 characters of a client's field name, for messages.
fn shorten(name: &str) -> String {
    name.chars().take(64).collect()
}

/// Checks a datum: not empty, no NUL, at most `max` bytes.
pub fn validate(data: String, max: usize) -> Result<String> {
    if data.is_empty() {
        Err(Error::EmptyData)
    } else if data.len() > max {
        Err(Error::TooLarge {
            size: data.len(),
            limit: max,
        })
    } else if data.contains('\0') {
        Err(Error::NulInData)
    } else {
        Ok(data)
    }
}

/// Queues a datum; answers only once it is durably queued.
#[utoipa::path(post, path = "/multivac/data", tag = "multivac",
    security(("bearer" = [])),
    request_body(content(
        (DataForm = "application/x-www-form-urlencoded"),
        (DataForm = "multipart/form-data"),
        (DataJson = "application/json"),
    )),
    responses(
        (status = 200, description = "Durably queued", body = Updated, example = json!({"response": "MultiVAC updated!"})),
        (status = 400, description = "The body is malformed (not a form, not JSON, not a JSON object)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`data` (or the body) too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a form nor JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`data` missing, empty, not a string, not UTF-8 text or holding a NUL; or a JSON member unknown or repeated (`field` names it)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The queue does not answer: nothing was queued", body = Problem, content_type = "application/problem+json"),
    ))]
async fn post_data(State(state): State<AppState>, Datum(data): Datum) -> Result<Json<Updated>> {
    state.queue.push(&data).await.map_err(Error::Queue)?;
    metrics::counter!("multivac_queued_total").increment(1);
    Ok(Json(Updated {
        response: UPDATED.to_owned(),
    }))
}

/// The answer of `DELETE /multivac/zzz/`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Deleted {
    /// The id of the record deleted.
    #[schema(example = 1)]
    pub deleted: i64,
}

/// Deletes the oldest processed record.
#[utoipa::path(delete, path = "/multivac/zzz/", tag = "multivac",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = Deleted, example = json!({"deleted": 1})),
        (status = 401, description = "No valid bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "There is no processed record", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store does not answer", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_oldest(State(state): State<AppState>) -> Result<Json<Deleted>> {
    let id = state
        .store
        .delete_oldest()
        .await
        .map_err(Error::Store)?
        .ok_or(Error::NothingToDelete)?;
    Ok(Json(Deleted { deleted: id }))
}

/// Counts of `GET /multivac/stats`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Stats {
    /// Queued, not yet taken by a worker.
    pub queued: u64,
    /// Taken by a worker, not yet acknowledged.
    pub in_progress: u64,
    /// Processed records in the store (deleted ones excluded).
    pub processed: u64,
    /// Moved to the dead letters after too many attempts.
    pub failed: u64,
}

/// Where the data are: queued, in progress, processed, failed.
#[utoipa::path(get, path = "/multivac/stats", tag = "multivac",
    responses(
        (status = 200, description = "The counts", body = Stats,
         example = json!({"queued": 3, "in_progress": 1, "processed": 42, "failed": 0})),
        (status = 503, description = "The queue or the store does not answer", body = Problem, content_type = "application/problem+json"),
    ))]
async fn stats(State(state): State<AppState>) -> Result<Json<Stats>> {
    let (queue, processed) = tokio::join!(state.queue.counts(), state.store.count());
    let queue = queue.map_err(Error::Queue)?;
    let processed = processed.map_err(Error::Store)?;
    Ok(Json(Stats {
        queued: queue.queued,
        in_progress: queue.in_progress,
        processed,
        failed: queue.failed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_field_decodes_and_refuses_bad_utf8() {
        let get = |body: &str| form_field(body.as_bytes(), "data");
        assert_eq!(
            get("data=x+y%20%E2%98%83").unwrap().as_deref(),
            Some("x y ☃")
        );
        assert_eq!(get("d%61ta=%41").unwrap().as_deref(), Some("A"));
        assert_eq!(get("data").unwrap().as_deref(), Some(""));
        assert_eq!(get("data=100%").unwrap().as_deref(), Some("100%"));
        assert_eq!(get("data=%zz%4").unwrap().as_deref(), Some("%zz%4"));
        assert_eq!(get("").unwrap(), None);
        assert!(matches!(get("other=1"), Err(Error::UnknownField(f)) if f == "other"));
        assert!(matches!(get("data=1&a=1"), Err(Error::UnknownField(_))));
        assert!(matches!(get("data=1&data=2"), Err(Error::RepeatedData)));
        assert!(matches!(get("data=%FF%FE"), Err(Error::NotUtf8)));
    }
}
