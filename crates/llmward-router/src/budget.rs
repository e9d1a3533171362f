//! Budgets: limits on tokens, requests or cost per time window, router-wide, per route or per
//! caller tag.

use std::fmt;
use std::time::Duration;

/// What a budget counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BudgetMetric {
    /// Tokens billed (input plus output, [`Usage::total_tokens`](llmward_core::Usage::total_tokens)).
    Tokens,
    /// Requests: calls for router-wide and tag budgets, attempts for route budgets.
    Requests,
    /// Cost in micro-dollars (millionths of a US dollar), from the routes' prices.
    CostMicroUsd,
}

impl BudgetMetric {
    /// `"tokens"`, `"requests"` or `"cost_micro_usd"`.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetMetric::Tokens => "tokens",
            BudgetMetric::Requests => "requests",
            BudgetMetric::CostMicroUsd => "cost_micro_usd",
        }
    }
}

/// Whose spending a budget limits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BudgetScope {
    /// Every call through the router.
    Router,
    /// Attempts sent to one route (by route name). When it is spent, the route leaves the
    /// candidates; the call fails with `BudgetExceeded` only if no route remains.
    Route(String),
    /// Calls whose request carries the tag `key=value` (e.g. `tenant=acme`).
    Tag {
        /// The tag's key.
        key: String,
        /// The tag's value.
        value: String,
    },
}

impl fmt::Display for BudgetScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetScope::Router => f.write_str("router"),
            BudgetScope::Route(route) => write!(f, "route={route}"),
            BudgetScope::Tag { key, value } => write!(f, "tag:{key}={value}"),
        }
    }
}

/// A limit on tokens, requests or cost per time window.
///
/// Admission *reserves* before a request is sent (the request's `max_tokens`, or the router's
/// ceiling, or the router's output reservation, plus
/// [`estimated_input_tokens`](llmward_core::ChatRequest::estimated_input_tokens); for cost,
/// that at the route's price) and *settles* on the usage that arrives (an answer without usage
/// counts as its reservation; a failure without usage counts nothing), so concurrent requests
/// cannot all spend the same remainder. The input estimate is rough (four characters a
/// token), so a window's settled total may pass the limit by the estimate's error.
///
/// ```
/// use llmward_router::Budget;
///
/// let per_minute = Budget::tokens(200_000).per_minute();
/// let acme_daily = Budget::requests(10_000).per_day().for_tag("tenant", "acme");
/// let spend = Budget::cost_usd(25.0).per_day();
/// assert_eq!(acme_daily.name(), "requests/86400s tag:tenant=acme");
/// # let _ = (per_minute, spend);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Budget {
    pub(crate) metric: BudgetMetric,
    pub(crate) limit: u64,
    pub(crate) window: Duration,
    pub(crate) scope: BudgetScope,
}

impl Budget {
    fn new(metric: BudgetMetric, limit: u64) -> Self {
        Self {
            metric,
            limit,
            window: Duration::from_secs(60),
            scope: BudgetScope::Router,
        }
    }

    /// At most `limit` tokens per window. Router-wide and per minute unless changed.
    pub fn tokens(limit: u64) -> Self {
        Self::new(BudgetMetric::Tokens, limit)
    }

    /// At most `limit` requests per window. Router-wide and per minute unless changed.
    pub fn requests(limit: u64) -> Self {
        Self::new(BudgetMetric::Requests, limit)
    }

    /// At most `usd` US dollars per window, counted in micro-dollars from the routes' prices
    /// ([`Route::price`](crate::Route::price)). Charged per attempt at the route's price, so a
    /// spent cost budget leaves routes without a price (free, e.g. self-hosted) serving.
    /// Router-wide and per minute unless changed. A negative or non-finite amount is 0.
    pub fn cost_usd(usd: f64) -> Self {
        let micros = if usd.is_finite() && usd > 0.0 {
            // Saturating float-to-int conversion is the intent here.
            (usd * 1_000_000.0).round() as u64
        } else {
            0
        };
        Self::new(BudgetMetric::CostMicroUsd, micros)
    }

    /// Counts per `window` (fixed windows, the first starting when the state store was
    /// created). Defaults to one minute.
    #[must_use]
    pub fn per(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Counts per minute (the default).
    #[must_use]
    pub fn per_minute(self) -> Self {
        self.per(Duration::from_secs(60))
    }

    /// Counts per hour.
    #[must_use]
    pub fn per_hour(self) -> Self {
        self.per(Duration::from_secs(3_600))
    }

    /// Counts per day (24 hours).
    #[must_use]
    pub fn per_day(self) -> Self {
        self.per(Duration::from_secs(86_400))
    }

    /// Limits only the route named `route`. Defaults to router-wide.
    #[must_use]
    pub fn for_route(mut self, route: impl Into<String>) -> Self {
        self.scope = BudgetScope::Route(route.into());
        self
    }

    /// Limits only calls tagged `key=value`. Defaults to router-wide.
    #[must_use]
    pub fn for_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.scope = BudgetScope::Tag {
            key: key.into(),
            value: value.into(),
        };
        self
    }

    /// What it counts.
    pub fn metric(&self) -> BudgetMetric {
        self.metric
    }

    /// The limit per window (micro-dollars for cost).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whose spending it limits.
    pub fn scope(&self) -> &BudgetScope {
        &self.scope
    }

    /// A stable name, also the key in the [`StateStore`](crate::StateStore):
    /// `"{metric}/{window seconds}s {scope}"`, e.g. `"tokens/60s router"`.
    pub fn name(&self) -> String {
        let secs = self.window.as_secs_f64();
        format!("{}/{secs}s {}", self.metric.as_str(), self.scope)
    }
}

/// A budget's state at one moment (see [`Router::budgets`](crate::Router::budgets)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetStatus {
    /// The budget's [name](Budget::name).
    pub name: String,
    /// What it counts.
    pub metric: BudgetMetric,
    /// Whose spending it limits.
    pub scope: BudgetScope,
    /// The window.
    pub window: Duration,
    /// The limit per window.
    pub limit: u64,
    /// Settled in the current window.
    pub used: u64,
    /// Held by requests in flight.
    pub reserved: u64,
    /// `limit - used - reserved`, at least 0.
    pub remaining: u64,
}

/// Price of a route in US dollars per million tokens, for cost budgets and events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    /// Dollars per million input tokens (cached ones included, at this price).
    pub input_per_million: f64,
    /// Dollars per million output tokens (reasoning included).
    pub output_per_million: f64,
}

impl Price {
    /// Cost in micro-dollars of `input` and `output` tokens, rounded up.
    pub fn micro_usd(&self, input: u64, output: u64) -> u64 {
        // A dollar per million tokens is one micro-dollar per token.
        let cost = input as f64 * self.input_per_million + output as f64 * self.output_per_million;
        if cost.is_finite() && cost > 0.0 {
            cost.ceil() as u64
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_distinct() {
        assert_eq!(Budget::tokens(1).name(), "tokens/60s router");
        assert_eq!(
            Budget::requests(1).per_hour().for_route("primary").name(),
            "requests/3600s route=primary"
        );
        assert_eq!(
            Budget::cost_usd(1.5).per(Duration::from_millis(500)).name(),
            "cost_micro_usd/0.5s router"
        );
        assert_eq!(Budget::cost_usd(1.5).limit(), 1_500_000);
        assert_eq!(Budget::cost_usd(f64::NAN).limit(), 0);
    }

    #[test]
    fn price_in_micro_dollars() {
        let p = Price {
            input_per_million: 0.4,
            output_per_million: 1.6,
        };
        // 1,000 input tokens at $0.40/M = 400 micro-dollars; 500 output at $1.60/M = 800.
        assert_eq!(p.micro_usd(1_000, 500), 1_200);
        assert_eq!(p.micro_usd(0, 0), 0);
    }
}
