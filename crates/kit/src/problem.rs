//! RFC 9457 problem details: the one error body every berth service returns.
//!
//! ```
//! use kit::Problem;
//! use axum::http::StatusCode;
//!
//! let p = Problem::new(StatusCode::BAD_REQUEST).with_detail("mirror_time is required");
//! assert_eq!(p.status, 400);
//! ```

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The media type of a problem body.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference identifying the problem type; `about:blank` when the status
    /// says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type (the status' reason phrase by default).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for a human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Extension members (e.g. the failing `field`).
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
}

impl Problem {
    /// A problem of type `about:blank` with the status' reason phrase as title.
    pub fn new(status: StatusCode) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            extensions: Map::new(),
        }
    }

    /// Sets the human-readable detail.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds an extension member.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// 400 with a detail.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST).with_detail(detail)
    }

    /// 404 with a detail.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND).with_detail(detail)
    }

    /// 500 for a failure the client did not cause. The cause chain is logged here, at
    /// error level; the body says nothing internal.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %crate::problem::chain(error), "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR)
            .with_detail("the server failed to answer this request; it has been logged")
    }

    /// 503 for a store or dependency that does not answer. The cause is logged; the
    /// body names only what is unavailable.
    pub fn unavailable(what: &str, error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %crate::problem::chain(error), "{what} unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!("{what} is unavailable; try again later"))
    }

    /// The status as a [`StatusCode`].
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            body,
        )
            .into_response()
    }
}

/// Formats an error with its whole `source()` chain: `outer: inner: root`.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_rfc9457_members() {
        let p = Problem::bad_request("nope").with("field", "mirror_time");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["title"], "Bad Request");
        assert_eq!(v["status"], 400);
        assert_eq!(v["detail"], "nope");
        assert_eq!(v["field"], "mirror_time");
    }

    #[test]
    fn chain_lists_every_cause() {
        let inner = std::io::Error::other("disk on fire");
        let outer = std::io::Error::other(Wrap(inner));
        assert_eq!(chain(&outer), "wrapped: disk on fire");
    }

    #[derive(Debug)]
    struct Wrap(std::io::Error);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
}
