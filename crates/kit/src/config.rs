//! Shared configuration: arguments every service takes, and secrets.
//!
//! Every setting is a clap flag with an environment variable and a documented default.
//! Secrets are [`Secret`]s, which never print, and can also be read from a file named
//! by a `*_FILE` variable (as Docker and Kubernetes mount secrets).

use std::{fmt, path::PathBuf, str::FromStr, time::Duration};

use clap::{Args, ValueEnum};

/// A secret string (a password, a token, a URL with credentials). Its `Debug` and
/// `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call it only where the value is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Both the value and the file were given.
    #[error("both {name} and {name}_FILE are set; set only one")]
    Both {
        /// The variable's name.
        name: &'static str,
    },
    /// The file could not be read.
    #[error("cannot read {name}_FILE {path}")]
    Read {
        /// The variable's name.
        name: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Resolves a secret given directly or through a file; the file's trailing newline is
/// dropped. `name` is the environment variable's name, for the error message.
pub fn resolve_secret(
    name: &'static str,
    value: Option<&Secret>,
    file: Option<&PathBuf>,
) -> Result<Option<Secret>, SecretError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(SecretError::Both { name }),
        (Some(v), None) => Ok(Some(v.clone())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
                name,
                path: path.clone(),
                source,
            })?;
            Ok(Some(Secret(text.trim_end_matches(['\r', '\n']).to_owned())))
        }
        (None, None) => Ok(None),
    }
}

/// Parses a human duration such as `30s`, `500ms` or `2m` (for `value_parser`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 30s, 500ms, 2m)"))
}

/// [`parse_duration`], refusing zero.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("must be longer than 0s".into());
    }
    Ok(d)
}

/// HTTP knobs shared by every service.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Longest a request may take; past it the client gets 408 if it was still sending
    /// its body, else 503 (problem+json).
    #[arg(long, env = "BERTH_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes (413 above it).
    #[arg(long, env = "BERTH_BODY_LIMIT", default_value_t = 2 * 1024 * 1024)]
    pub body_limit: usize,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    #[arg(long, env = "BERTH_DRAIN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Time limit of each readiness check run by `/healthcheck`.
    #[arg(long, env = "BERTH_HEALTH_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub health_timeout: Duration,
    /// On SIGTERM/SIGINT, how long to keep serving with `/healthcheck` answering 503 (so
    /// load balancers take the instance out) before draining; a second signal skips it.
    #[arg(long, env = "BERTH_SHUTDOWN_DELAY", default_value = "0s", value_parser = parse_duration)]
    pub shutdown_delay: Duration,
    /// Longest a client may take to send a request head (from connecting, or from its
    /// first byte after an idle spell); the connection is closed past it.
    #[arg(long, env = "BERTH_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub header_read_timeout: Duration,
    /// Longest a keep-alive connection may stay idle between requests.
    #[arg(long, env = "BERTH_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_positive_duration)]
    pub idle_timeout: Duration,
    /// Most connections open at once per listener (past it a new connection is closed
    /// at once, and counted); 0: an even share of the file descriptor limit.
    #[arg(long, env = "BERTH_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,
}

impl HttpArgs {
    /// The [`crate::http::HttpConfig`] these arguments describe.
    pub fn config(&self) -> crate::http::HttpConfig {
        crate::http::HttpConfig {
            request_timeout: self.request_timeout,
            body_limit: self.body_limit,
            health_timeout: self.health_timeout,
            drain_timeout: self.drain_timeout,
            shutdown_delay: self.shutdown_delay,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// JSON when stdout is not a terminal, text when it is.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// Logging arguments.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter: a level (`info`) or `tracing` directives (`info,kit=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    pub log_level: String,
    /// Log format.
    #[arg(long, env = "BERTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto, global = true)]
    pub log_format: LogFormat,
}

/// API bearer tokens, for services that protect their mutating endpoints.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// API bearer tokens, comma-separated.
    #[arg(long, env = "BERTH_API_TOKENS", hide_env_values = true)]
    pub api_tokens: Option<Secret>,
    /// A file holding the API bearer tokens (comma- or newline-separated).
    #[arg(long, env = "BERTH_API_TOKENS_FILE")]
    pub api_tokens_file: Option<PathBuf>,
}

impl TokenArgs {
    /// The configured tokens (possibly none).
    pub fn tokens(&self) -> Result<crate::auth::Tokens, SecretError> {
        let secret = resolve_secret(
            "BERTH_API_TOKENS",
            self.api_tokens.as_ref(),
            self.api_tokens_file.as_ref(),
        )?;
        Ok(secret.map_or_else(crate::auth::Tokens::none, |s| {
            crate::auth::Tokens::parse(s.expose())
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
    }

    #[test]
    fn secret_from_file_drops_newline() {
        let dir = std::env::temp_dir().join(format!("kit-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "abc\n").unwrap();
        let s = resolve_secret("X", None, Some(&path)).unwrap().unwrap();
        assert_eq!(s.expose(), "abc");
        assert!(resolve_secret("X", Some(&s), Some(&path)).is_err());
        let missing = dir.join("missing");
        let err = resolve_secret("X", None, Some(&missing)).unwrap_err();
        assert!(err.to_string().contains("X_FILE"));
    }
}

crate::secret_args!(
    /// The process-wide `DATABASE_URL` (`--database-url[-file]`).
    DatabaseUrl,
    "database-url",
    "DATABASE_URL",
    "PostgreSQL URL used by every service without a database URL of its own"
);

crate::secret_args!(
    /// The process-wide `REDIS_URL` (`--redis-url[-file]`).
    RedisUrl,
    "redis-url",
    "REDIS_URL",
    "Redis URL used by every service without a Redis URL of its own"
);

/// Settings any service may fall back on: the data directory of embedded stores, the
/// process-wide `DATABASE_URL` / `REDIS_URL` (a service's own `BERTH_<SERVICE>_*` URL
/// wins over them), and the API tokens.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Directory of the embedded (SQLite) stores; created if missing.
    #[arg(long, env = "BERTH_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: the PostgreSQL of every service without a URL of its own.
    #[command(flatten)]
    pub database: DatabaseUrl,
    /// `REDIS_URL`: the Redis of every service without a URL of its own.
    #[command(flatten)]
    pub redis: RedisUrl,
    /// API bearer tokens.
    #[command(flatten)]
    pub tokens: TokenArgs,
}

/// [`CommonArgs`] with every secret read: what a service's build function receives.
#[derive(Debug, Clone)]
pub struct Common {
    /// Directory of the embedded stores.
    pub data_dir: PathBuf,
    /// The process-wide PostgreSQL URL, if any.
    pub database_url: Option<Secret>,
    /// The process-wide Redis URL, if any.
    pub redis_url: Option<Secret>,
    /// The configured API tokens (possibly none).
    pub tokens: crate::auth::Tokens,
}

impl CommonArgs {
    /// Reads every secret (values or `*_FILE`s).
    pub fn resolve(&self) -> Result<Common, SecretError> {
        Ok(Common {
            data_dir: self.data_dir.clone(),
            database_url: self.database.resolve()?,
            redis_url: self.redis.resolve()?,
            tokens: self.tokens.tokens()?,
        })
    }
}

impl Common {
    /// Settings for tests: a data directory, no URLs, no tokens.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            redis_url: None,
            tokens: crate::auth::Tokens::none(),
        }
    }

    /// The URL a service should use: its own if set, else the process-wide one.
    pub fn pick(own: Option<&Secret>, shared: Option<&Secret>) -> Option<Secret> {
        own.or(shared).cloned()
    }
}

/// Declares a clap [`Args`] struct with one field, `addr`, a service's listen address:
/// `--<service>-addr`, `BERTH_<SERVICE>_ADDR`, the given default.
///
/// ```
/// kit::listen_args!(
///     /// Where the clock service listens.
///     ClockListen, "clock", "BERTH_CLOCK_ADDR", "0.0.0.0:8080"
/// );
/// ```
#[macro_export]
macro_rules! listen_args {
    ($(#[$doc:meta])* $name:ident, $service:literal, $env:literal, $default:literal
     $(, alias = $alias:literal)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, ::clap::Args)]
        #[group(skip)]
        pub struct $name {
            /// The address to listen on.
            #[arg(
                id = concat!($service, "-addr"),
                long = concat!($service, "-addr"),
                $(visible_alias = $alias,)?
                env = $env,
                default_value = $default,
                help = concat!("Listen address of the ", $service, " service")
            )]
            pub addr: ::std::net::SocketAddr,
        }

        impl $name {
            /// `127.0.0.1:0`: a free port, for tests.
            pub fn for_tests() -> Self {
                Self {
                    addr: ::std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                }
            }
        }
    };
}

/// Declares a clap [`Args`] struct for a setting that is on or off: `--<long>` alone
/// or `--<long>=true|false`, `<ENV>=true|false`, `default` when neither is given. Its
/// field `on` is the value; `Default` gives `default`.
///
/// ```
/// kit::switch_args!(
///     /// Whether Redis is a Redis Cluster.
///     KvRedisCluster, "kv-redis-cluster", "BERTH_KV_REDIS_CLUSTER", false,
///     "Whether Redis is a Redis Cluster"
/// );
/// assert!(!KvRedisCluster::default().on);
/// ```
#[macro_export]
macro_rules! switch_args {
    ($(#[$doc:meta])* $name:ident, $long:literal, $env:literal, $default:literal, $help:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, ::clap::Args)]
        #[group(skip)]
        pub struct $name {
            /// Whether it is on.
            #[arg(
                id = $long,
                long = $long,
                env = $env,
                help = $help,
                default_value_t = $default,
                num_args = 0..=1,
                default_missing_value = "true",
                action = ::clap::ArgAction::Set
            )]
            pub on: bool,
        }

        impl ::std::default::Default for $name {
            fn default() -> Self {
                Self { on: $default }
            }
        }
    };
}

/// Declares a clap [`Args`] struct for a secret given as a value (`--<long>`, `<ENV>`,
/// never printed) or read from a file (`--<long>-file`, `<ENV>_FILE`), with
/// `resolve()` ([`resolve_secret`]).
///
/// ```
/// kit::secret_args!(
///     /// The users service's database URL.
///     UsersDatabaseUrl, "users-database-url", "BERTH_USERS_DATABASE_URL",
///     "PostgreSQL URL of the users service"
/// );
/// ```
#[macro_export]
macro_rules! secret_args {
    ($(#[$doc:meta])* $name:ident, $long:literal, $env:literal, $help:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, ::clap::Args)]
        #[group(skip)]
        pub struct $name {
            /// The value.
            #[arg(id = $long, long = $long, env = $env, hide_env_values = true, help = $help)]
            pub value: Option<$crate::config::Secret>,
            /// A file holding the value.
            #[arg(
                id = concat!($long, "-file"),
                long = concat!($long, "-file"),
                env = concat!($env, "_FILE"),
                help = concat!("A file holding ", $env)
            )]
            pub file: Option<::std::path::PathBuf>,
        }

        impl $name {
            /// The value, given directly or read from the file (not both).
            pub fn resolve(
                &self,
            ) -> ::std::result::Result<
                ::std::option::Option<$crate::config::Secret>,
                $crate::config::SecretError,
            > {
                $crate::config::resolve_secret($env, self.value.as_ref(), self.file.as_ref())
            }

            /// The value given directly (no file), for tests.
            pub fn given(value: impl Into<String>) -> Self {
                Self {
                    value: Some($crate::config::Secret::new(value)),
                    file: None,
                }
            }
        }
    };
}
