//! Errors: [`BackendError`] (a queue or a store failed) and [`Error`], the service's
//! one error type, which becomes a problem+json response.

use std::time::Duration;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use kit::Problem;

/// A queue or store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Redis answered with an error or could not be reached.
    #[error("redis")]
    Redis(#[from] redis::RedisError),
    /// The SQL database answered with an error or could not be reached.
    #[error("database")]
    Sql(#[from] sqlx::Error),
    /// The operation did not complete in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The backend is not what the settings say (e.g. a Redis Cluster in single mode).
    #[error("{0}")]
    Setup(String),
}

impl BackendError {
    /// Whether the backend could not be reached (as opposed to refusing the operation).
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Timeout(_) => true,
            Self::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || e.is_unrecoverable_error()
            }
            Self::Sql(e) => kit::db::is_unavailable(e),
            Self::Setup(_) => false,
        }
    }
}

/// Runs `fut` under `limit`, a timeout becoming [`BackendError::Timeout`].
pub(crate) async fn within<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or(Err(BackendError::Timeout(limit)))
}

/// Everything a MultiVAC request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The body has no `data` field.
    #[error("the field `data` is required")]
    MissingData,
    /// `data` is the empty string.
    #[error("the field `data` must not be empty")]
    EmptyData,
    /// `data` is not a string (JSON).
    #[error("the field `data` must be a string")]
    NotAString,
    /// `data` holds a NUL character, which no store keeps.
    #[error("the field `data` must not contain NUL characters")]
    NulInData,
    /// `data` is not UTF-8 text (multipart).
    #[error("the field `data` must be UTF-8 text")]
    NotUtf8,
    /// A form field other than `data`.
    #[error("the form has a field {0:?}; it takes the field `data` only")]
    UnknownField(String),
    /// `data` given more than once.
    #[error("the field `data` is given more than once")]
    RepeatedData,
    /// `data` is longer than the limit.
    #[error("the field `data` is {size} bytes long; at most {limit} bytes are accepted")]
    TooLarge {
        /// Its size, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body's media type is not one this endpoint reads.
    #[error(
        "unsupported content type {0:?}: send application/x-www-form-urlencoded, multipart/form-data or application/json"
    )]
    UnsupportedMediaType(String),
    /// The body could not be read as its media type claims.
    #[error("{detail}")]
    BadBody {
        /// The status (400, or 413 for a body over the limit).
        status: StatusCode,
        /// What is wrong.
        detail: String,
    },
    /// A JSON body the kit's rules refused ([`kit::json::parse`]).
    #[error("{}", .0.detail.as_deref().unwrap_or("the body was refused"))]
    Body(Problem),
    /// `DELETE /multivac/zzz/` found nothing to delete.
    #[error("there is no processed record to delete")]
    NothingToDelete,
    /// The queue failed.
    #[error("queue")]
    Queue(#[source] BackendError),
    /// The store failed.
    #[error("store")]
    Store(#[source] BackendError),
}

/// The service's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    fn backend(what: &str, err: &BackendError, outer: &Self) -> Problem {
        if err.is_unreachable() {
            Problem::unavailable(what, outer)
        } else {
            Problem::internal(outer)
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let problem = match &self {
            Self::MissingData
            | Self::EmptyData
            | Self::NotAString
            | Self::NulInData
            | Self::NotUtf8
            | Self::RepeatedData => Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
                .with_detail(self.to_string())
                .with("field", "data"),
            Self::UnknownField(name) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
                .with_detail(self.to_string())
                .with("field", name.as_str()),
            Self::TooLarge { limit, .. } => Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
                .with_detail(self.to_string())
                .with("field", "data")
                .with("limit", *limit),
            Self::UnsupportedMediaType(_) => {
                Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE).with_detail(self.to_string())
            }
            Self::BadBody { status, detail } => Problem::new(*status).with_detail(detail.clone()),
            Self::Body(problem) => problem.clone(),
            Self::NothingToDelete => Problem::not_found(self.to_string()),
            Self::Queue(e) => Self::backend("the queue", e, &self),
            Self::Store(e) => Self::backend("the store", e, &self),
        };
        problem.into_response()
    }
}
