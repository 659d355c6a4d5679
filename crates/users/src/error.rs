//! [`Error`]: every way a request can fail, and the problem+json each one answers.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use kit::Problem;

/// Result with the service's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a request failed. Client errors carry what the client needs to fix it; store
/// failures are 503 (unreachable, by [`kit::db::is_unavailable`]) or 500 (anything
/// else), logged, never described. Bodies and tokens are refused by the kit
/// ([`kit::json::JsonBody`], [`kit::auth::require_bearer`]) before a handler runs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field, query parameter, path segment or header breaks a rule. 422 for body
    /// fields, 400 for the rest (see [`Error::Invalid`]'s `status`).
    #[error("{detail}")]
    Invalid {
        /// The status: 400 (query, path, header) or 422 (body field).
        status: StatusCode,
        /// The offending field (`amount`, `limit`, `Idempotency-Key`...).
        field: String,
        /// What is wrong and what is expected.
        detail: String,
    },
    /// No user with this id. 404; `field` names the body field when there is one.
    #[error("no user with id {id}")]
    UserNotFound {
        /// The id asked for.
        id: i64,
        /// The body field holding the id (`from`, `to`), if any.
        field: Option<&'static str>,
    },
    /// A user with this name exists already. 409.
    #[error("a user named {0:?} exists already")]
    NameTaken(String),
    /// The sender has fewer coins than the amount. 409.
    #[error("user {user} has {balance} coins, fewer than the {amount} to transfer")]
    InsufficientFunds {
        /// The sender.
        user: i64,
        /// The sender's balance.
        balance: i64,
        /// The amount asked for.
        amount: i64,
    },
    /// The recipient's balance would pass the largest representable number. 409.
    #[error(
        "user {user} has {balance} coins; {amount} more would pass the largest balance, {}",
        i64::MAX
    )]
    BalanceOverflow {
        /// The recipient.
        user: i64,
        /// The recipient's balance.
        balance: i64,
        /// The amount asked for.
        amount: i64,
    },
    /// The idempotency key was used before with another request. 422.
    #[error(
        "the Idempotency-Key was already used for a different transfer; use a new key for a new transfer"
    )]
    KeyReused,
    /// A unique key of the store is taken (other than the ones above). 409.
    #[error("{0}")]
    Conflict(String),
    /// The store does not answer. 503.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else. 500.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// A body field breaking a rule (422).
    pub fn field(field: &str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: field.to_owned(),
            detail: detail.into(),
        }
    }

    /// A query parameter, path segment or header breaking a rule (400).
    pub fn param(field: &str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            status: StatusCode::BAD_REQUEST,
            field: field.to_owned(),
            detail: detail.into(),
        }
    }

    /// Maps a store error: a unique-key violation becomes `unique()` (the ONE place
    /// where unique violations turn into 409s), an unreachable store 503, the rest 500.
    pub fn from_db(error: sqlx::Error, unique: impl FnOnce() -> Self) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => unique(),
            sqlx::Error::Database(db) if db.is_check_violation() => Self::Conflict(
                "the change would break a rule of the ledger (no balance below zero); nothing was changed"
                    .into(),
            ),
            _ if kit::db::is_unavailable(&error) => Self::Unavailable(error),
            _ => Self::Internal(error.into()),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Self::from_db(error, || {
            Self::Conflict("this already exists; nothing was changed".into())
        })
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let problem = match &self {
            Self::Invalid {
                status,
                field,
                detail,
            } => Problem::new(*status)
                .with_detail(detail)
                .with("field", field.as_str()),
            Self::UserNotFound { id, field } => {
                let p = Problem::not_found(self.to_string()).with("id", *id);
                match field {
                    Some(f) => p.with("field", *f),
                    None => p,
                }
            }
            Self::NameTaken(_) => Problem::new(StatusCode::CONFLICT)
                .with_detail(self.to_string())
                .with("field", "name"),
            Self::InsufficientFunds { balance, .. } => Problem::new(StatusCode::CONFLICT)
                .with_detail(self.to_string())
                .with("field", "amount")
                .with("balance", *balance),
            Self::BalanceOverflow { .. } => Problem::new(StatusCode::CONFLICT)
                .with_detail(self.to_string())
                .with("field", "amount"),
            Self::KeyReused => Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
                .with_detail(self.to_string())
                .with("field", "Idempotency-Key"),
            Self::Conflict(d) => Problem::new(StatusCode::CONFLICT).with_detail(d),
            Self::Unavailable(e) => Problem::unavailable("the database", e),
            Self::Internal(e) => Problem::internal(e.as_ref()),
        };
        problem.into_response()
    }
}
