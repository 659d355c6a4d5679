//! The service's one error type, answered as RFC 9457 problem+json.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use kit::Problem;

use crate::store::StoreError;

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field is missing or has a wrong value (422).
    #[error("{detail}")]
    Invalid {
        /// The field (`id` or `data`).
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// `data` is larger than the configured limit (413).
    #[error("data is {size} bytes long; at most {limit} bytes are accepted")]
    TooLarge {
        /// Bytes of `data` (UTF-8).
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// Nothing is stored under the id (404).
    #[error("nothing is stored under this id")]
    NotFound,
    /// The store failed (503 when it is unavailable, else 500).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The service's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let problem = match &self {
            Self::Invalid { field, detail } => Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
                .with_detail(detail.clone())
                .with("field", *field),
            Self::TooLarge { limit, .. } => Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
                .with_detail(self.to_string())
                .with("field", "data")
                .with("limit", *limit),
            Self::NotFound => Problem::not_found(self.to_string()),
            Self::Store(e @ StoreError::Unavailable(_)) => {
                Problem::unavailable("the key-value store", e)
            }
            Self::Store(e @ StoreError::Other(_)) => Problem::internal(e),
        };
        problem.into_response()
    }
}
