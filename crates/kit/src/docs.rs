//! Swagger UI at `/docs/`, reading the service's `/openapi.json`.
//!
//! The page and its initializer are written here; the three assets (stylesheet, bundle,
//! standalone preset) and the icon come from the vendored Swagger UI distribution,
//! extracted at build time by `build.rs` and compiled into the binary: nothing is
//! downloaded at build or run time, and nothing else of the distribution (source maps,
//! other bundles) weighs on the binary.

use axum::{
    Router,
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

/// The page: Swagger UI's standalone layout, set up by `swagger-initializer.js`.
const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>API documentation</title>
  <link rel="stylesheet" href="swagger-ui.css">
  <link rel="icon" type="image/png" href="favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger-ui-bundle.js"></script>
  <script src="swagger-ui-standalone-preset.js"></script>
  <script src="swagger-initializer.js"></script>
</body>
</html>
"#;

/// Points Swagger UI at the service's document. The URL is relative, so the page also
/// works behind a proxy that mounts the service under a path prefix.
const INITIALIZER: &str = r##"window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "../openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
};
"##;

/// An asset: its name under `/docs/`, its media type and its bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

/// Every file under `/docs/` but the page itself.
const ASSETS: [Asset; 5] = [
    Asset {
        name: "swagger-ui.css",
        media_type: "text/css; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui.css")),
    },
    Asset {
        name: "swagger-ui-bundle.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui-bundle.js")),
    },
    Asset {
        name: "swagger-ui-standalone-preset.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui-standalone-preset.js")),
    },
    Asset {
        name: "favicon-32x32.png",
        media_type: "image/png",
        bytes: include_bytes!(concat!(env!("OUT_DIR"), "/favicon-32x32.png")),
    },
    Asset {
        name: "swagger-initializer.js",
        media_type: "text/javascript; charset=utf-8",
        bytes: INITIALIZER.as_bytes(),
    },
];

/// `/docs` (redirects to `/docs/`), `/docs/` (the page) and `/docs/{file}` (the
/// assets; 404 for any other name).
pub fn router() -> Router {
    Router::new()
        .route("/docs", get(|| async { Redirect::permanent("/docs/") }))
        .route("/docs/", get(index))
        .route("/docs/index.html", get(index))
        .route("/docs/{file}", get(asset))
}

async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => (
            [
                (header::CONTENT_TYPE, a.media_type),
                // The assets change only with the binary; an hour keeps upgrades visible.
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            a.bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
