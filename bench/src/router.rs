//! "llmward routed": the facade's Router with one route (and two for failover).

use llmward::{ChatRequest, ChatStream, Route, Router};

use crate::clients::{MODEL, Res, llmward_provider};

pub struct Routed {
    router: Router,
}

impl Routed {
    /// One route to `base`, the request's model as its alias.
    pub fn single(base: &str) -> Res<Routed> {
        let provider = llmward_provider(base, "local")?;
        let router = Router::builder()
            .route(Route::new("local", provider, MODEL).alias(MODEL))
            .build()
            .map_err(|e| format!("router: {e}"))?;
        Ok(Routed { router })
    }

    /// Two routes: `/fail503` (answers 503) in tier 0, the echo upstream in tier 1, so the
    /// failing one is always tried first. The failure threshold is raised so the 503 route
    /// never leaves rotation: every call measures a real failover, not a skipped route.
    pub fn failover(upstream: &str) -> Res<Routed> {
        let failing = llmward_provider(&format!("{upstream}/fail503/v1"), "failing")?;
        let healthy = llmward_provider(&format!("{upstream}/v1"), "healthy")?;
        let router = Router::builder()
            .route(Route::new("failing", failing, MODEL).alias(MODEL))
            .route(Route::new("healthy", healthy, MODEL).alias(MODEL).tier(1))
            .failure_threshold(u32::MAX)
            .build()
            .map_err(|e| format!("router: {e}"))?;
        Ok(Routed { router })
    }

    pub async fn chat(&self, request: &ChatRequest) -> Res<String> {
        Ok(self
            .router
            .chat(request)
            .await
            .map_err(|e| format!("llmward routed: {e}"))?
            .text())
    }

    pub async fn chat_stream(&self, request: &ChatRequest) -> Res<ChatStream> {
        self.router
            .chat_stream(request)
            .await
            .map_err(|e| format!("llmward routed: {e}"))
    }
}
