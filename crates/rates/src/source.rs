//! Where a dump is read from: a file, or an `http://` / `https://` URL.
//!
//! A URL is downloaded as it is read, never held whole: the response body feeds the
//! loader's reader through a bounded buffer, so a dump of any size loads from a web
//! server or a presigned S3 URL in the memory a file needs (the container image has no
//! AWS CLI). TLS is rustls with the system's roots (`SSL_CERT_FILE` when set, as in the
//! FROM-scratch image; else the distribution's bundle).
//!
//! A download that fails is a [`SourceError`] before the first byte (no connection, a
//! timeout, an error status) or a read error naming the dump's line after it (a body
//! cut short: the loader's transaction is rolled back, nothing is stored).
//!
//! URLs are shown without their query string (`?…`), where a presigned URL carries its
//! signature, and without credentials.

use std::{
    ffi::OsStr,
    fmt,
    io::{self, Read},
    path::PathBuf,
    time::Duration,
};

use futures::StreamExt;
use reqwest::{StatusCode, Url};

/// Longest wait for a connection to the server of a URL.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for the next bytes of a download (a stalled server fails the load).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A dump's location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file.
    File(PathBuf),
    /// An `http://` or `https://` URL.
    Url(Url),
}

/// Why a dump cannot be opened. Nothing was read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file cannot be opened.
    #[error("cannot read {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The location looks like a URL that berth cannot read.
    #[error("{location}: {message}")]
    Location {
        /// The location as given (without its query string).
        location: String,
        /// What is wrong.
        message: String,
    },
    /// The server could not be reached or did not answer.
    #[error("cannot download {url}: {cause}")]
    Download {
        /// The URL, shown without its query string.
        url: String,
        /// Why, with every cause.
        cause: String,
        /// Whether the same request may succeed later (see [`SourceError::is_transient`]).
        transient: bool,
    },
    /// The server answered with an error status.
    #[error("cannot download {url}: the server answered {status}{}", status_hint(*.status))]
    Status {
        /// The URL, shown without its query string.
        url: String,
        /// The status.
        status: StatusCode,
    },
}

impl SourceError {
    /// Whether the same request may succeed later: no connection or no answer in time,
    /// or a status that says so (5xx, 429: S3 asks clients to retry its 500 and 503).
    /// A 4xx will not change (a URL, presigned or not, is the same URL the next time).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Download { transient, .. } => *transient,
            Self::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Self::Open { .. } | Self::Location { .. } => false,
        }
    }
}

/// Whether a connection failed in its TLS handshake (a certificate not trusted, not
/// for this name, expired): that will not change by itself. rustls reports it as an
/// I/O error of kind `InvalidData`, which the connector wraps in another I/O error (whose
/// `source` skips it: hence the look inside each one).
fn tls_refused(error: &reqwest::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = next {
        let mut io = cause.downcast_ref::<io::Error>();
        while let Some(e) = io {
            if e.kind() == io::ErrorKind::InvalidData {
                return true;
            }
            io = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<io::Error>());
        }
        next = cause.source();
    }
    false
}

fn status_hint(status: StatusCode) -> &'static str {
    if status == StatusCode::FORBIDDEN {
        " (a presigned URL may have expired, or been signed for another method)"
    } else {
        ""
    }
}

impl Source {
    /// A URL when `location` is `http://...` or `https://...`, else a path. Another
    /// scheme (`s3://`, `ftp://`) is an error rather than a file name.
    pub fn parse(location: &OsStr) -> Result<Self, SourceError> {
        let Some(text) = location.to_str() else {
            return Ok(Self::File(location.into()));
        };
        let Some((scheme, _)) = text.split_once("://") else {
            return Ok(Self::File(location.into()));
        };
        let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !is_scheme {
            return Ok(Self::File(location.into()));
        }
        let shown = text.split(['?', '#']).next().unwrap_or(text).to_owned();
        let invalid = |message: String| SourceError::Location {
            location: shown.clone(),
            message,
        };
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return Err(invalid(format!(
                "berth reads a file or an http:// or https:// URL, not {scheme}:// \
                 (for S3, a presigned https:// URL)"
            )));
        }
        Url::parse(text)
            .map(Self::Url)
            .map_err(|e| invalid(format!("not a valid URL: {e}")))
    }

    /// Opens the dump for reading: the file, or the download (the request is sent and
    /// its status checked here; the body follows as the reader is read).
    pub async fn open(&self) -> Result<Opened, SourceError> {
        match self {
            Self::File(path) => {
                let open = |source| SourceError::Open {
                    path: path.display().to_string(),
                    source,
                };
                let file = std::fs::File::open(path).map_err(open)?;
                let size = file.metadata().map_err(open)?.len();
                Ok(Opened {
                    reader: Box::new(file),
                    size: Some(size),
                })
            }
            Self::Url(url) => download(url).await,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => path.display().fmt(f),
            Self::Url(url) => f.write_str(&shown(url)),
        }
    }
}

/// A URL without credentials, query string and fragment (`?…` marks a dropped query).
fn shown(url: &Url) -> String {
    let mut bare = url.clone();
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    bare.set_query(None);
    bare.set_fragment(None);
    if url.query().is_some() {
        format!("{bare}?…")
    } else {
        bare.to_string()
    }
}

/// An opened dump.
pub struct Opened {
    /// The bytes of the dump. For a download, it reads on the runtime it was opened on:
    /// read it from a blocking thread (`spawn_blocking`), as the loader does.
    pub reader: Box<dyn Read + Send>,
    /// Its size in bytes, when known (a download without `Content-Length`: not).
    pub size: Option<u64>,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

async fn download(url: &Url) -> Result<Opened, SourceError> {
    let failed = |error: reqwest::Error| SourceError::Download {
        url: shown(url),
        transient: error.is_timeout() || (error.is_connect() && !tls_refused(&error)),
        cause: causes(&error.without_url()),
    };
    let client = reqwest::Client::builder()
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        // An https:// dump is not followed to a plain http:// redirect.
        .https_only(url.scheme() == "https")
        .build()
        .map_err(failed)?;
    let response = client.get(url.clone()).send().await.map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(SourceError::Status {
            url: shown(url),
            status,
        });
    }
    let size = response.content_length();
    let mut received = 0u64;
    let body = response.bytes_stream().map(move |chunk| match chunk {
        Ok(bytes) => {
            received += bytes.len() as u64;
            Ok(bytes)
        }
        Err(e) => Err(io::Error::other(stopped(&e, received, size))),
    });
    let reader = tokio_util::io::StreamReader::new(Box::pin(body));
    Ok(Opened {
        reader: Box::new(tokio_util::io::SyncIoBridge::new(reader)),
        size,
    })
}

/// What a download that broke off says: how far it got, and why.
fn stopped(error: &reqwest::Error, received: u64, size: Option<u64>) -> String {
    let total = size.map(|size| format!(" of {size}")).unwrap_or_default();
    format!(
        "the download stopped after {received}{total} bytes: {}",
        causes(error)
    )
}

/// An error and its causes, `: `-separated, each said once (the HTTP client's layers
/// repeat one another).
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut said: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let text = cause.to_string();
        if !said.iter().any(|s| s.contains(&text)) {
            said.push(text);
        }
        next = cause.source();
    }
    said.join(": ")
}
