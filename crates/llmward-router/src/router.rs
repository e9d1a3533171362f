//! [`Router`] and its builder: the shared state of every call, introspection, and the
//! non-streaming attempt loop.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use llmward_core::{ChatRequest, ChatResponse, ChatStream, Error, Provider, Result};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::anomaly::{AnomalyAction, AnomalyConfig, AnomalyMetric, Detector};
use crate::budget::{Budget, BudgetScope, BudgetStatus};
use crate::call::{Call, Success};
use crate::event::{EventSink, RouterEvent, trace};
use crate::policy::RetryPolicy;
use crate::rng::SplitMix64;
use crate::route::Route;
use crate::store::{BreakerConfig, CooldownState, MemoryStore, StateStore};
use crate::stream::RouterStream;

/// A budget with its store key.
#[derive(Debug)]
pub(crate) struct BudgetSpec {
    pub(crate) budget: Budget,
    pub(crate) key: Arc<str>,
}

impl BudgetSpec {
    fn new(budget: Budget) -> Self {
        let key = Arc::from(budget.name());
        Self { budget, key }
    }

    /// Whether a call with `tags` counts against this (router-wide or tag) budget.
    pub(crate) fn applies_to(&self, tags: &BTreeMap<String, String>) -> bool {
        match &self.budget.scope {
            BudgetScope::Router => true,
            BudgetScope::Tag { key, value } => tags.get(key) == Some(value),
            BudgetScope::Route(_) => false,
        }
    }
}

/// Per-process health numbers of a route.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    latency: Option<f64>,
    error_rate: f64,
    attempts: u64,
    failures: u64,
    detector: Detector,
}

/// Weight of the newest sample in the latency and error-rate averages.
const LATENCY_ALPHA: f64 = 0.2;
const ERROR_ALPHA: f64 = 0.1;

/// A route and what the router knows about it in this process.
#[derive(Debug)]
pub(crate) struct RouteState {
    pub(crate) route: Route,
    pub(crate) budgets: Vec<BudgetSpec>,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) locked: AtomicBool,
    stats: Mutex<Stats>,
}

impl RouteState {
    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records an attempt: its latency (successes only) and whether it counted as a failure
    /// (`None`: it said nothing about the route).
    pub(crate) fn record(&self, latency: Option<Duration>, failed: Option<bool>) {
        let mut stats = self.stats();
        if let Some(l) = latency {
            let l = l.as_secs_f64();
            stats.latency = Some(match stats.latency {
                None => l,
                Some(avg) => LATENCY_ALPHA * l + (1.0 - LATENCY_ALPHA) * avg,
            });
        }
        if let Some(failed) = failed {
            stats.attempts += 1;
            stats.failures += u64::from(failed);
            let x = if failed { 1.0 } else { 0.0 };
            stats.error_rate = ERROR_ALPHA * x + (1.0 - ERROR_ALPHA) * stats.error_rate;
        }
    }

    fn latency(&self) -> Option<f64> {
        self.stats().latency
    }
}

/// Everything calls share.
pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) routes: Vec<RouteState>,
    pub(crate) aliases: HashMap<String, Vec<usize>>,
    pub(crate) policy: RetryPolicy,
    pub(crate) breaker: BreakerConfig,
    pub(crate) deadline: Duration,
    pub(crate) first_token_timeout: Option<Duration>,
    prefer_low_latency: bool,
    pub(crate) ceiling: Option<u32>,
    pub(crate) refuse_above_ceiling: bool,
    pub(crate) output_reservation: u32,
    pub(crate) budgets: Vec<BudgetSpec>,
    anomaly: AnomalyConfig,
    pub(crate) router_locked: AtomicBool,
    pub(crate) store: Arc<dyn StateStore>,
    sinks: Vec<Arc<dyn EventSink>>,
    pub(crate) seed: u64,
    pub(crate) calls: AtomicU64,
    pub(crate) nonce: u32,
    pub(crate) slot_freed: Notify,
    epoch: Instant,
}

impl Inner {
    /// The route at `index`; indices come from the alias table built with the routes.
    pub(crate) fn route(&self, index: usize) -> &RouteState {
        &self.routes[index]
    }

    /// Whether anyone listens: a sink, or a `tracing` subscriber interested in the router's
    /// target. Events are only built when someone does (building one copies a dozen strings).
    pub(crate) fn observed(&self) -> bool {
        !self.sinks.is_empty()
            || tracing::enabled!(target: "llmward::router", tracing::Level::ERROR)
    }

    pub(crate) fn emit(&self, event: RouterEvent) {
        for sink in &self.sinks {
            sink.emit(&event);
        }
        trace(&event);
    }

    /// Takes a request slot on `route`, unless it is at its cap.
    pub(crate) fn try_slot_count(&self, route: usize) -> bool {
        let rs = self.route(route);
        match rs.route.max_in_flight {
            None => {
                rs.in_flight.fetch_add(1, Ordering::AcqRel);
                true
            }
            Some(max) => rs
                .in_flight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                })
                .is_ok(),
        }
    }

    /// Adds to a route's anomaly rates; on a new anomaly emits it, applies the configured
    /// lock, and returns the action.
    pub(crate) fn anomaly_add(
        &self,
        route: usize,
        metric: AnomalyMetric,
        amount: u64,
    ) -> Option<AnomalyAction> {
        if !self.anomaly.enabled {
            return None;
        }
        let rs = self.route(route);
        let minute = Instant::now()
            .saturating_duration_since(self.epoch)
            .as_secs()
            / 60;
        let hit = rs
            .stats()
            .detector
            .add(&self.anomaly, minute, metric, amount)?;
        let action = self.anomaly.action;
        match action {
            AnomalyAction::LockRoute => rs.locked.store(true, Ordering::Release),
            AnomalyAction::LockRouter => self.router_locked.store(true, Ordering::Release),
            AnomalyAction::Observe => {}
        }
        self.emit(RouterEvent::Anomaly {
            route: rs.route.name.clone(),
            metric: hit.metric,
            current: hit.current,
            baseline: hit.baseline,
            action,
        });
        Some(action)
    }

    /// The order in which a call tries `candidates`: tiers ascending; within a tier a
    /// weighted random order (or, with `prefer_low_latency`, lowest latency average first,
    /// unmeasured routes first, ties in weighted order).
    pub(crate) fn plan(&self, candidates: &[usize], rng: &mut SplitMix64) -> Vec<usize> {
        let mut tiers: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for &r in candidates {
            tiers.entry(self.route(r).route.tier).or_default().push(r);
        }
        let mut plan = Vec::with_capacity(candidates.len());
        for (_, mut pool) in tiers {
            let start = plan.len();
            while !pool.is_empty() {
                let total: u64 = pool
                    .iter()
                    .map(|&r| u64::from(self.route(r).route.weight))
                    .sum();
                if total == 0 {
                    plan.append(&mut pool);
                    break;
                }
                let mut pick = rng.below(total);
                let mut chosen = pool.len() - 1;
                for (i, &r) in pool.iter().enumerate() {
                    let w = u64::from(self.route(r).route.weight);
                    if pick < w {
                        chosen = i;
                        break;
                    }
                    pick -= w;
                }
                plan.push(pool.remove(chosen));
            }
            if self.prefer_low_latency {
                if let Some(tier) = plan.get_mut(start..) {
                    // Stable: equal latencies keep their weighted order.
                    tier.sort_by(|&a, &b| {
                        let la = self.route(a).latency().unwrap_or(0.0);
                        let lb = self.route(b).latency().unwrap_or(0.0);
                        la.total_cmp(&lb)
                    });
                }
            }
        }
        plan
    }
}

/// A fallback router: one [`Provider`] in front of many routes. How it picks a route and what it
/// does on each kind of failure: [the crate documentation](crate#what-happens-on-a-failure).
///
/// Cheap to clone (clones share everything: routes, budgets, cooldowns, events).
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("name", &self.inner.name)
            .field(
                "routes",
                &self
                    .inner
                    .routes
                    .iter()
                    .map(|r| r.route.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("policy", &self.inner.policy)
            .field("deadline", &self.inner.deadline)
            .finish_non_exhaustive()
    }
}

/// A route's health at one moment (see [`Router::health`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RouteHealth {
    /// The route's name.
    pub route: String,
    /// Its provider's name.
    pub provider: String,
    /// The model it asks for.
    pub model: String,
    /// Its tier.
    pub tier: u32,
    /// Whether a new call could use it now (not cooling down, no probe in flight, not
    /// locked). A route at its in-flight cap is still in rotation.
    pub in_rotation: bool,
    /// When its cooldown ends, if it is cooling down (tokio's clock).
    pub cooldown_until: Option<Instant>,
    /// Whether its cooldown ended and a probe request is in flight.
    pub probing: bool,
    /// Whether an anomaly locked it (or the whole router).
    pub anomaly_locked: bool,
    /// Recent share of attempts that failed (exponentially weighted, 0 to 1).
    pub error_rate: f64,
    /// Exponentially weighted latency of successful attempts.
    pub latency_ewma: Option<Duration>,
    /// Requests in flight now.
    pub in_flight: usize,
    /// Its in-flight cap.
    pub max_in_flight: Option<usize>,
    /// Attempts that said something about its health, since the router was built.
    pub attempts: u64,
    /// Of those, failures.
    pub failures: u64,
}

impl Router {
    /// Starts building a router.
    pub fn builder() -> RouterBuilder {
        RouterBuilder::default()
    }

    /// Sends `request` (whose model names an alias) to the first route that can answer it;
    /// see [the crate documentation](crate#what-happens-on-a-failure) for the decision procedure.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for an unknown alias; `BudgetExceeded` when a budget, the
    /// `max_tokens` ceiling or an anomaly lock refuses it (nothing is sent); `Timeout` when
    /// the deadline passes; otherwise the most informative error of the attempts, with every
    /// attempt listed in [`Error::attempts`].
    pub async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let mut call = Call::start(self.inner.clone(), request, false).await?;
        let mut attempt = call.first_attempt().await?;
        loop {
            let provider = call.prepare(&attempt);
            let answer = tokio::time::timeout(attempt.timeout, provider.chat(&call.request)).await;
            let error = match answer {
                Ok(Ok(response)) => {
                    // What only the event shows is copied only when someone listens.
                    let success = if self.inner.observed() {
                        Success {
                            usage: response.usage,
                            response_model: Some(response.model.clone()),
                            response_id: response.id.clone(),
                            finish_reason: Some(response.finish_reason.as_str().to_owned()),
                            provider_request_id: response.request_id.clone(),
                            time_to_first_token: None,
                        }
                    } else {
                        Success {
                            usage: response.usage,
                            response_model: None,
                            response_id: None,
                            finish_reason: None,
                            provider_request_id: None,
                            time_to_first_token: None,
                        }
                    };
                    call.succeeded(attempt, success).await;
                    return Ok(response);
                }
                Ok(Err(error)) => error,
                Err(_) => attempt.timed_out(),
            };
            attempt = call.after_failure(attempt, error, None).await?;
        }
    }

    /// Streams the answer to `request`. Returns once the stream's first content (text,
    /// reasoning or a tool call) has arrived — until then the router may still fall back to
    /// another route — or once an answer without content has ended; the events held back
    /// until then (role-only chunks, `Started`, `Usage`) come first, in order.
    ///
    /// After content, a failure ends the stream with an error, never silently. Dropping the
    /// stream cancels the request.
    ///
    /// # Errors
    ///
    /// As for [`chat`](Self::chat).
    pub async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        let mut call = Box::new(Call::start(self.inner.clone(), request, true).await?);
        let attempt = call.first_attempt().await?;
        let mut stream = RouterStream::new(call, attempt);
        poll_fn(|cx| stream.poll_started(cx)).await?;
        let (provider, model, origin, request_id) = stream.source();
        Ok(ChatStream::new(provider, model, origin, request_id, stream))
    }

    /// The router's name (as a [`Provider`]).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Each route's health now, in declaration order.
    pub async fn health(&self) -> Vec<RouteHealth> {
        let now = Instant::now();
        let router_locked = self.inner.router_locked.load(Ordering::Acquire);
        let mut out = Vec::with_capacity(self.inner.routes.len());
        for rs in &self.inner.routes {
            let cooldown = self.inner.store.cooldown(&rs.route.name).await;
            let locked = router_locked || rs.locked.load(Ordering::Acquire);
            let stats = rs.stats();
            out.push(RouteHealth {
                route: rs.route.name.clone(),
                provider: rs.route.provider.name().to_owned(),
                model: rs.route.model.clone(),
                tier: rs.route.tier,
                in_rotation: cooldown.is_available() && !locked,
                cooldown_until: match cooldown {
                    CooldownState::Open { remaining } => Some(now + remaining),
                    _ => None,
                },
                probing: cooldown == CooldownState::HalfOpen { probing: true },
                anomaly_locked: locked,
                error_rate: stats.error_rate,
                latency_ewma: stats.latency.map(Duration::from_secs_f64),
                in_flight: rs.in_flight.load(Ordering::Acquire),
                max_in_flight: rs.route.max_in_flight,
                attempts: stats.attempts,
                failures: stats.failures,
            });
        }
        out
    }

    /// Every budget's state now: router-wide and tag budgets first, then each route's.
    pub async fn budgets(&self) -> Vec<BudgetStatus> {
        let specs = self
            .inner
            .budgets
            .iter()
            .chain(self.inner.routes.iter().flat_map(|r| r.budgets.iter()));
        let mut out = Vec::new();
        for spec in specs {
            let b = &spec.budget;
            let usage = self.inner.store.usage(&spec.key, b.window).await;
            out.push(BudgetStatus {
                name: spec.key.to_string(),
                metric: b.metric,
                scope: b.scope.clone(),
                window: b.window,
                limit: b.limit,
                used: usage.used,
                reserved: usage.reserved,
                remaining: b
                    .limit
                    .saturating_sub(usage.used)
                    .saturating_sub(usage.reserved),
            });
        }
        out
    }

    /// Lifts every anomaly lock (router-wide and per route).
    pub fn reset_anomaly(&self) {
        self.inner.router_locked.store(false, Ordering::Release);
        for rs in &self.inner.routes {
            rs.locked.store(false, Ordering::Release);
        }
    }

    /// Puts `route` back in rotation now, ending its cooldown. Returns whether it was out.
    pub async fn reset_cooldown(&self, route: &str) -> bool {
        let was_out = self.inner.store.reset_cooldown(route).await;
        if was_out {
            self.inner.emit(RouterEvent::CooldownLeft {
                route: route.to_owned(),
                reset: true,
            });
        }
        was_out
    }

    /// The aliases (model names) callers may ask for, sorted.
    pub fn models(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.inner.aliases.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

#[async_trait]
impl Provider for Router {
    fn name(&self) -> &str {
        &self.inner.name
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        Router::chat(self, request).await
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        Router::chat_stream(self, request).await
    }
}

/// Builds a [`Router`]. Every setter states its default.
#[must_use]
pub struct RouterBuilder {
    name: String,
    routes: Vec<Route>,
    policy: RetryPolicy,
    failure_threshold: u32,
    cooldown: Duration,
    deadline: Duration,
    first_token_timeout: Option<Duration>,
    prefer_low_latency: bool,
    ceiling: Option<u32>,
    refuse_above_ceiling: bool,
    output_reservation: u32,
    budgets: Vec<Budget>,
    anomaly: AnomalyConfig,
    store: Option<Arc<dyn StateStore>>,
    sinks: Vec<Arc<dyn EventSink>>,
    seed: Option<u64>,
}

impl Default for RouterBuilder {
    fn default() -> Self {
        Self {
            name: "router".to_owned(),
            routes: Vec::new(),
            policy: RetryPolicy::default(),
            failure_threshold: 5,
            cooldown: Duration::from_secs(30),
            deadline: Duration::from_secs(120),
            first_token_timeout: None,
            prefer_low_latency: false,
            ceiling: None,
            refuse_above_ceiling: false,
            output_reservation: 4_096,
            budgets: Vec::new(),
            anomaly: AnomalyConfig::default(),
            store: None,
            sinks: Vec::new(),
            seed: None,
        }
    }
}

impl fmt::Debug for RouterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterBuilder")
            .field("name", &self.name)
            .field("routes", &self.routes)
            .field("policy", &self.policy)
            .field("sinks", &self.sinks.len())
            .finish_non_exhaustive()
    }
}

impl RouterBuilder {
    /// Adds a route. Routes are tried by tier, then weight; declaration order breaks no ties
    /// except for weight 0.
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// The router's name as a [`Provider`] (in errors it makes itself and when it is a route
    /// of another router). Defaults to `"router"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The whole retry policy at once (attempts, backoff, Retry-After cap, content-filter
    /// fallback). Defaults to [`RetryPolicy::default`].
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Attempts per route within one call. Defaults to 3.
    pub fn max_attempts_per_route(mut self, attempts: u32) -> Self {
        self.policy = self.policy.max_attempts_per_route(attempts);
        self
    }

    /// Backoff: full jitter up to `base * 2^(n-1)`, at most `max`. Defaults to 250 ms and 8 s.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.policy = self.policy.base_delay(base).max_delay(max);
        self
    }

    /// The longest Retry-After waited for; a longer one gives up on the route. Defaults to
    /// 30 s.
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.policy = self.policy.retry_after_cap(cap);
        self
    }

    /// Whether a `ContentFiltered` error moves on to another route. Defaults to false (the
    /// error is returned at once).
    pub fn fallback_on_content_filter(mut self, fallback: bool) -> Self {
        self.policy = self.policy.fallback_on_content_filter(fallback);
        self
    }

    /// Consecutive failures that take a route out of rotation. Defaults to 5.
    ///
    /// Failures that count: PermissionDenied, NotFound, RateLimited, QuotaExceeded,
    /// Overloaded, Server, Timeout (unless the call's own deadline cut it), Connect, Protocol,
    /// StreamTruncated, ResponseTooLarge, Redirected; Auth opens the breaker at once, and so
    /// does a RateLimited with a non-zero Retry-After (for that long). InvalidRequest,
    /// ContextLengthExceeded, ContentFiltered, ModelOutput, Unsupported and cancellations say
    /// nothing about the route's health.
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.failure_threshold = failures;
        self
    }

    /// How long a route stays out of rotation when no Retry-After says otherwise. Defaults to
    /// 30 s.
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The whole call's deadline (all attempts and waits), unless the request sets its own
    /// [`deadline`](ChatRequest::deadline). Defaults to 120 s.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Time a stream attempt may take to deliver its first content before the router falls
    /// back. Defaults to none: only the deadline applies.
    pub fn first_token_timeout(mut self, timeout: Duration) -> Self {
        self.first_token_timeout = Some(timeout);
        self
    }

    /// Within a tier, try the route with the lowest latency average first (unmeasured routes
    /// first). Defaults to false: weighted random order.
    pub fn prefer_low_latency(mut self, prefer: bool) -> Self {
        self.prefer_low_latency = prefer;
        self
    }

    /// The most `max_tokens` a request may ask for; requests without `max_tokens` get it.
    /// Defaults to none.
    pub fn max_tokens_ceiling(mut self, ceiling: u32) -> Self {
        self.ceiling = Some(ceiling);
        self
    }

    /// Whether a request asking for more than the ceiling is refused (`BudgetExceeded`)
    /// rather than clamped. Defaults to false (clamped).
    pub fn refuse_above_ceiling(mut self, refuse: bool) -> Self {
        self.refuse_above_ceiling = refuse;
        self
    }

    /// Output tokens reserved for a request with no `max_tokens` when there is no ceiling.
    /// Defaults to 4,096.
    pub fn output_reservation(mut self, tokens: u32) -> Self {
        self.output_reservation = tokens;
        self
    }

    /// Adds a budget (router-wide, per tag, or per route with [`Budget::for_route`]).
    /// Defaults to none.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budgets.push(budget);
        self
    }

    /// The anomaly signal's settings. Defaults to [`AnomalyConfig::default`]: 5x the
    /// baseline after 3 minutes, events only.
    pub fn anomaly(mut self, config: AnomalyConfig) -> Self {
        self.anomaly = config;
        self
    }

    /// Where budgets and cooldowns live. Defaults to a new [`MemoryStore`].
    pub fn state_store(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Calls `f` with every event (in addition to the `tracing` events). Defaults to none.
    pub fn on_event(mut self, f: impl Fn(&RouterEvent) + Send + Sync + 'static) -> Self {
        self.sinks.push(Arc::new(f));
        self
    }

    /// Adds an event sink. Defaults to none.
    pub fn event_sink(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Seeds the random choices (weighted order, backoff jitter) so runs repeat. Defaults to
    /// a random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks the settings and builds the router.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](llmward_core::ErrorKind::Config) when there is no route, a route
    /// name is empty or repeated, a model or alias is empty, a price is negative or not
    /// finite, a budget names an unknown route, has a zero window or is declared twice, the
    /// deadline is zero, or the anomaly settings are out of range.
    pub fn build(self) -> Result<Router> {
        if self.routes.is_empty() {
            return Err(Error::config("a router needs at least one route"));
        }
        if self.deadline.is_zero() {
            return Err(Error::config("the deadline must be longer than zero"));
        }
        let a = &self.anomaly;
        let in_range =
            a.multiple.is_finite() && a.multiple > 0.0 && a.smoothing > 0.0 && a.smoothing <= 1.0;
        if !in_range {
            return Err(Error::config(
                "anomaly multiple must be positive and smoothing in (0, 1]",
            ));
        }
        let mut names = HashSet::new();
        let mut route_budgets: HashMap<String, Vec<Budget>> = HashMap::new();
        for route in &self.routes {
            if route.name.trim().is_empty() || !names.insert(route.name.clone()) {
                return Err(Error::config(format!(
                    "route name {:?} is empty or used twice",
                    route.name
                )));
            }
            if route.model.trim().is_empty() || route.aliases.iter().any(|a| a.trim().is_empty()) {
                return Err(Error::config(format!(
                    "route {} has an empty model or alias",
                    route.name
                )));
            }
            if let Some(p) = route.price {
                let ok = |x: f64| x.is_finite() && x >= 0.0;
                if !ok(p.input_per_million) || !ok(p.output_per_million) {
                    return Err(Error::config(format!(
                        "route {} has a negative or non-finite price",
                        route.name
                    )));
                }
            }
            for b in &route.budgets {
                let b = b.clone().for_route(route.name.clone());
                route_budgets.entry(route.name.clone()).or_default().push(b);
            }
        }
        let mut global = Vec::new();
        for b in self.budgets {
            match &b.scope {
                BudgetScope::Route(name) => {
                    if !names.contains(name) {
                        return Err(Error::config(format!(
                            "budget {} names an unknown route",
                            b.name()
                        )));
                    }
                    route_budgets.entry(name.clone()).or_default().push(b);
                }
                _ => global.push(b),
            }
        }
        let mut keys = HashSet::new();
        for b in global.iter().chain(route_budgets.values().flatten()) {
            if b.window.is_zero() {
                return Err(Error::config(format!(
                    "budget {} has a zero window",
                    b.name()
                )));
            }
            if !keys.insert(b.name()) {
                return Err(Error::config(format!(
                    "budget {} is declared twice",
                    b.name()
                )));
            }
        }
        let mut aliases: HashMap<String, Vec<usize>> = HashMap::new();
        let mut routes = Vec::with_capacity(self.routes.len());
        for (i, route) in self.routes.into_iter().enumerate() {
            for alias in route.aliases() {
                let entry = aliases.entry(alias.to_owned()).or_default();
                if !entry.contains(&i) {
                    entry.push(i);
                }
            }
            let budgets = route_budgets
                .remove(&route.name)
                .unwrap_or_default()
                .into_iter()
                .map(BudgetSpec::new)
                .collect();
            routes.push(RouteState {
                route,
                budgets,
                in_flight: AtomicUsize::new(0),
                locked: AtomicBool::new(false),
                stats: Mutex::new(Stats::default()),
            });
        }
        let seed = self
            .seed
            .unwrap_or_else(|| SplitMix64::from_entropy().next_u64());
        let nonce = (SplitMix64::new(seed ^ 0x6B65_7977_6172_6400).next_u64() >> 32) as u32;
        Ok(Router {
            inner: Arc::new(Inner {
                name: self.name,
                routes,
                aliases,
                policy: self.policy,
                breaker: BreakerConfig::new(self.failure_threshold.max(1), self.cooldown),
                deadline: self.deadline,
                first_token_timeout: self.first_token_timeout,
                prefer_low_latency: self.prefer_low_latency,
                ceiling: self.ceiling,
                refuse_above_ceiling: self.refuse_above_ceiling,
                output_reservation: self.output_reservation,
                budgets: global.into_iter().map(BudgetSpec::new).collect(),
                anomaly: self.anomaly,
                router_locked: AtomicBool::new(false),
                store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
                sinks: self.sinks,
                seed,
                calls: AtomicU64::new(0),
                nonce,
                slot_freed: Notify::new(),
                epoch: Instant::now(),
            }),
        })
    }
}
