//! [`Error`]: every failure a request can meet, and its problem+json.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use kit::Problem;

/// Everything that can go wrong answering a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query parameter is missing or invalid (400).
    #[error("{detail}")]
    BadParameter {
        /// The parameter.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The request body cannot be read at all (400): not JSON, not UTF-8...
    #[error("{0}")]
    BadBody(String),
    /// A row of an ingest batch is invalid (422); nothing was stored.
    #[error("row {row}: {detail}")]
    BadRow {
        /// 1-based number of the row in the batch.
        row: usize,
        /// The offending field, when one is to blame.
        field: Option<&'static str>,
        /// What is wrong.
        detail: String,
        /// 1-based line in a CSV body.
        line: Option<usize>,
    },
    /// The batch has more rows than allowed (413).
    #[error("{0}")]
    TooLarge(String),
    /// The body's media type is not one the endpoint reads (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The service's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A code that is neither a port nor a region.
    pub fn unknown_code(field: &'static str, code: &str) -> Self {
        Self::BadParameter {
            field,
            detail: format!(
                "{field} {:?} is neither a known port code nor a known region slug",
                code.chars().take(64).collect::<String>()
            ),
        }
    }

    /// A row naming a port that does not exist.
    pub fn unknown_port(row: usize, field: &'static str, code: &str) -> Self {
        Self::BadRow {
            row,
            field: Some(field),
            detail: format!("{field} {code:?} is not a known port code"),
            line: None,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let problem = match &self {
            Self::BadParameter { field, detail } => {
                Problem::bad_request(detail.clone()).with("field", *field)
            }
            Self::BadBody(detail) => Problem::bad_request(detail.clone()),
            Self::BadRow {
                row,
                field,
                detail,
                line,
            } => {
                let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
                    .with_detail(format!("row {row}: {detail}; nothing was stored"))
                    .with("row", *row);
                if let Some(field) = field {
                    p = p.with("field", *field);
                }
                if let Some(line) = line {
                    p = p.with("line", *line);
                }
                p
            }
            Self::TooLarge(detail) => {
                Problem::new(StatusCode::PAYLOAD_TOO_LARGE).with_detail(detail.clone())
            }
            Self::UnsupportedMediaType(detail) => {
                Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE).with_detail(detail.clone())
            }
            Self::Database(err) if kit::db::is_unavailable(err) => {
                Problem::unavailable("the database", err)
            }
            Self::Database(err) => Problem::internal(err),
        };
        problem.into_response()
    }
}
