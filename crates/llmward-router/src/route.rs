//! [`Route`]: a provider, the model to ask it for, and the options that shape how the router
//! uses it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use llmward_core::Provider;

use crate::budget::{Budget, Price};

/// One way to answer a request: a name, a provider, the model to ask it for, and options.
///
/// ```
/// # use std::sync::Arc;
/// # use llmward_core::Provider;
/// # fn demo(openai: Arc<dyn Provider>) {
/// use std::time::Duration;
/// use llmward_router::{Budget, Route};
///
/// let route = Route::shared("primary", openai, "gpt-4.1-mini")
///     .alias("default")
///     .alias("fast")
///     .weight(3)
///     .context_window(1_047_576)
///     .timeout(Duration::from_secs(60))
///     .max_in_flight(32)
///     .price(0.40, 1.60)
///     .budget(Budget::tokens(2_000_000).per_minute());
/// # let _ = route;
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct Route {
    pub(crate) name: String,
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) model: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) weight: u32,
    pub(crate) tier: u32,
    pub(crate) context_window: Option<u64>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_in_flight: Option<usize>,
    pub(crate) price: Option<Price>,
    pub(crate) budgets: Vec<Budget>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("name", &self.name)
            .field("provider", &self.provider.name())
            .field("model", &self.model)
            .field("aliases", &self.aliases)
            .field("weight", &self.weight)
            .field("tier", &self.tier)
            .field("context_window", &self.context_window)
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .field("price", &self.price)
            .field("budgets", &self.budgets.len())
            .finish()
    }
}

impl Route {
    /// A route named `name` sending requests to `provider` for `model` (which replaces the
    /// request's model, an alias, when sent). An `Arc<dyn Provider>` is a provider too;
    /// [`Route::shared`] takes one without wrapping it again.
    pub fn new(
        name: impl Into<String>,
        provider: impl Provider + 'static,
        model: impl Into<String>,
    ) -> Self {
        Self::shared(name, Arc::new(provider), model)
    }

    /// Like [`Route::new`] with a provider already shared (e.g. the same client behind two
    /// routes for two models).
    pub fn shared(
        name: impl Into<String>,
        provider: Arc<dyn Provider>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            provider,
            model: model.into(),
            aliases: Vec::new(),
            weight: 1,
            tier: 0,
            context_window: None,
            timeout: None,
            max_in_flight: None,
            price: None,
            budgets: Vec::new(),
        }
    }

    /// Adds a model name callers may ask for to reach this route (call it once per alias).
    /// Requests naming anything else are refused. Defaults to none, in which case the route
    /// serves requests naming its own model.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.aliases.push(alias.into());
        self
    }

    /// Share of the tier's traffic, relative to the other routes of the tier. Defaults to 1;
    /// 0 makes it the tier's last resort.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Priority tier: every healthy route of tier 0 is tried before any of tier 1, and so
    /// on. Defaults to 0.
    pub fn tier(mut self, tier: u32) -> Self {
        self.tier = tier;
        self
    }

    /// The model's context window in tokens, so a `ContextLengthExceeded` moves only to a
    /// route with a larger one. Defaults to unknown (never larger than anything).
    pub fn context_window(mut self, tokens: u64) -> Self {
        self.context_window = Some(tokens);
        self
    }

    /// Time allowed for one attempt (for a stream: until it starts), within the call's
    /// deadline. Defaults to none: only the deadline applies.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Requests in flight on this route at most; a route at its cap is skipped (and if every
    /// route is, the call waits for a slot within its deadline). Defaults to no cap.
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = Some(max);
        self
    }

    /// Price in US dollars per million input and output tokens, for cost budgets and the
    /// `cost_usd` of events. Defaults to none (free).
    pub fn price(mut self, input_per_million: f64, output_per_million: f64) -> Self {
        self.price = Some(Price {
            input_per_million,
            output_per_million,
        });
        self
    }

    /// Adds a budget for this route only (its scope becomes this route). When it is spent the
    /// route leaves the candidates. Defaults to none.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budgets.push(budget);
        self
    }

    /// The route's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model sent to the provider.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.provider
    }

    /// The aliases served (the model's own name when none were given).
    pub fn aliases(&self) -> Vec<&str> {
        if self.aliases.is_empty() {
            vec![self.model.as_str()]
        } else {
            self.aliases.iter().map(String::as_str).collect()
        }
    }
}
