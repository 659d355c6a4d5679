//! Bearer-token protection for mutating endpoints.
//!
//! Tokens come from `--api-tokens` / `BERTH_API_TOKENS` (comma-separated) or
//! `BERTH_API_TOKENS_FILE`. Comparison is constant-time. A request without a valid
//! `Authorization: Bearer <token>` gets 401 problem+json with `WWW-Authenticate`.
//!
//! ```text
//! router.route_layer(axum::middleware::from_fn_with_state(tokens, kit::auth::require_bearer))
//! ```

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;

use crate::{Problem, config::Secret};

/// A set of accepted bearer tokens.
#[derive(Clone, Debug, Default)]
pub struct Tokens(Arc<Vec<Secret>>);

impl Tokens {
    /// No tokens.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses comma- or newline-separated tokens; blanks are ignored.
    pub fn parse(list: &str) -> Self {
        Self(Arc::new(
            list.split([',', '\n'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(Secret::new)
                .collect(),
        ))
    }

    /// These tokens; or, when none is configured, one random token for this run (64 hex
    /// digits: two v4 UUIDs, 244 random bits), logged once as a warning that names
    /// `service` and what the token opens. An embedded default stays usable and closed.
    #[must_use]
    pub fn or_generated(&self, service: &'static str, protects: &str) -> Self {
        if !self.is_empty() {
            return self.clone();
        }
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        tracing::warn!(
            service,
            token = %token,
            "no API token configured (BERTH_API_TOKENS): generated one for this run; \
             {protects} need `Authorization: Bearer <token>`"
        );
        Self::parse(&token)
    }

    /// Whether no token is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `candidate` is one of the tokens (constant-time per token).
    pub fn accepts(&self, candidate: &str) -> bool {
        self.0.iter().fold(false, |found, t| {
            found | bool::from(t.expose().as_bytes().ct_eq(candidate.as_bytes()))
        })
    }

    /// Checks an `Authorization` header value.
    pub fn authorize(&self, header: Option<&HeaderValue>) -> Result<(), Problem> {
        let token = header
            .and_then(|h| h.to_str().ok())
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(|| {
                Problem::new(StatusCode::UNAUTHORIZED)
                    .with_detail("this endpoint needs an Authorization: Bearer <token> header")
            })?;
        if self.accepts(token) {
            Ok(())
        } else {
            Err(Problem::new(StatusCode::UNAUTHORIZED).with_detail("the bearer token is not valid"))
        }
    }
}

/// Middleware: lets the request through only with a valid bearer token.
pub async fn require_bearer(State(tokens): State<Tokens>, req: Request, next: Next) -> Response {
    match tokens.authorize(req.headers().get(header::AUTHORIZATION)) {
        Ok(()) => next.run(req).await,
        Err(problem) => {
            let mut response = problem.into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// An OpenAPI modifier declaring the `bearer` security scheme; reference it from
/// protected paths with `security(("bearer" = []))`.
#[derive(Debug, Clone, Copy)]
pub struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_configured_tokens() {
        let t = Tokens::parse("alpha, beta\n\n");
        assert!(t.accepts("alpha") && t.accepts("beta"));
        assert!(!t.accepts("gamma") && !t.accepts("") && !t.accepts("alph"));
        assert!(Tokens::none().is_empty());
        assert!(!Tokens::none().accepts(""));
    }

    #[test]
    fn authorize_reads_the_bearer_scheme() {
        let t = Tokens::parse("s3cret");
        assert!(
            t.authorize(Some(&HeaderValue::from_static("Bearer s3cret")))
                .is_ok()
        );
        assert!(
            t.authorize(Some(&HeaderValue::from_static("bearer s3cret")))
                .is_ok()
        );
        assert!(
            t.authorize(Some(&HeaderValue::from_static("Basic s3cret")))
                .is_err()
        );
        assert!(t.authorize(None).is_err());
    }
}
