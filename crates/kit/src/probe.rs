//! A minimal HTTP client for healthchecks in images that have no shell or curl.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not an `http://` URL.
    #[error("invalid URL {0:?}: {1}")]
    Url(String, String),
    /// No answer within the timeout.
    #[error("no answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The request failed (connection refused, reset, ...).
    #[error("request failed: {}", crate::problem::chain(.0))]
    Request(#[source] hyper_util::client::legacy::Error),
    /// The answer was not 2xx.
    #[error("answered {status}: {body}")]
    Status {
        /// The status.
        status: http::StatusCode,
        /// The start of the body.
        body: String,
    },
}

/// GETs `url` and succeeds when it answers 2xx within `timeout`.
pub async fn probe(url: &str, timeout: Duration) -> Result<http::StatusCode, ProbeError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| ProbeError::Url(url.to_owned(), e.to_string()))?;
    if uri.scheme_str() != Some("http") {
        return Err(ProbeError::Url(
            url.to_owned(),
            "only http:// is supported".into(),
        ));
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let run = async {
        let response = client.get(uri).await.map_err(ProbeError::Request)?;
        let status = response.status();
        if status.is_success() {
            return Ok(status);
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| {
                String::from_utf8_lossy(&b.to_bytes())
                    .chars()
                    .take(200)
                    .collect()
            })
            .unwrap_or_default();
        Err(ProbeError::Status { status, body })
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| ProbeError::Timeout(timeout))?
}
