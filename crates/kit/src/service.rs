//! [`Service`]: what a service crate hands to the kit.

use futures::future::BoxFuture;
use utoipa_axum::router::OpenApiRouter;

use crate::Health;

/// A service's description: its name (the `service` label in metrics and logs), its
/// routes with their OpenAPI, its readiness checks and an optional body limit of its own.
pub struct Service {
    /// Short name, e.g. `clock`.
    pub name: &'static str,
    /// The service's routes, state already applied, documented with utoipa. Its
    /// `OpenApi` carries the title and version shown in Swagger UI.
    pub api: OpenApiRouter,
    /// Readiness checks for `/healthcheck`.
    pub health: Health,
    /// Overrides the kit's request body limit for this service.
    pub body_limit: Option<usize>,
    /// Work to run beside the server until shutdown (e.g. an in-process worker).
    pub background: Vec<Background>,
}

/// A background task of a service: given the shutdown signal, runs until it is
/// triggered and then returns.
pub type Background = Box<dyn FnOnce(crate::Shutdown) -> BoxFuture<'static, ()> + Send>;

impl Service {
    /// A service with no health checks and the kit's default body limit.
    pub fn new(name: &'static str, api: OpenApiRouter) -> Self {
        Self {
            name,
            api,
            health: Health::new(),
            body_limit: None,
            background: Vec::new(),
        }
    }

    /// Sets the readiness checks.
    #[must_use]
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// Sets a body limit of the service's own.
    #[must_use]
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    /// Adds a background task.
    #[must_use]
    pub fn with_background<F, Fut>(mut self, task: F) -> Self
    where
        F: FnOnce(crate::Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.background.push(Box::new(move |s| {
            Box::pin(task(s)) as BoxFuture<'static, ()>
        }));
        self
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("health", &self.health)
            .field("body_limit", &self.body_limit)
            .field("background", &self.background.len())
            .finish_non_exhaustive()
    }
}
