//! clock: what time is it really, when the clock is seen in a mirror?
//!
//! The contract of the original exercise, exactly: `GET /clock?mirror_time=HH:MM`
//! answers `{"mirror_time":"12:22","actual_time":"11:38"}`. Hours run `1..=12`, a
//! one-digit hour gains its leading zero (`2:11` → `02:11`); a missing or invalid time is
//! a 400 saying what is wrong. `GET /` leads to the Swagger UI.
//!
//! Mirroring a twelve-hour dial is reflection about the 12–6 axis: a time `t` minutes
//! past twelve reads as `720 - t` minutes past twelve. It is its own inverse — mirroring
//! twice gives back the input, a property the tests check for all 720 valid times.
//!
//! # Layout
//!
//! - [`time`]: [`time::DialTime`], parsing `HH:MM` and the mirror itself — no HTTP.
//! - [`http`]: the routes and their OpenAPI; [`http::router`].
//! - [`service`] / [`app`]: the service for the kit, and the full application for tests.
//! - [`Config`]: the service's settings (`--clock-addr`).

pub mod http;
pub mod time;

/// The service's name, as in metrics labels and logs.
pub const NAME: &str = "clock";

kit::listen_args!(
    /// Where the clock service listens (`--clock-addr`).
    Listen, "clock", "BERTH_CLOCK_ADDR", "0.0.0.0:8080"
);

/// The clock service's settings.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "clock-config")]
pub struct Config {
    /// Where it listens.
    #[command(flatten)]
    pub listen: Listen,
}

/// The clock service, ready for [`kit::http::app`]. It needs no store, so its readiness
/// has no checks.
pub fn service() -> kit::Service {
    kit::Service::new(NAME, http::router())
}

/// The complete application (service routes + kit endpoints and layers), for tests.
pub fn app(config: &kit::http::HttpConfig) -> axum::Router {
    kit::http::app(service(), config)
}
