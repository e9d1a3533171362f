//! One call through the router: admission, the attempt loop acting on the policy's decisions,
//! settlement, and the RAII guards that make cancellation leave nothing behind.

use std::collections::BTreeMap;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use llmward_core::{AttemptFailure, ChatRequest, Error, ErrorKind, Provider, Usage};
use tokio::time::Instant;

use crate::anomaly::{AnomalyAction, AnomalyMetric};
use crate::budget::{BudgetMetric, Price};
use crate::event::{AttemptEvent, Outcome, RefusalReason, RouterEvent};
use crate::policy::{Alternative, Decision, Failure, Situation, most_informative};
use crate::rng::{SplitMix64, mix};
use crate::router::{BudgetSpec, Inner, RouteState};
use crate::store::{
    Admission, Charge, CooldownChange, CooldownState, Crossing, Reserve, RouteOutcome, Ticket,
};

/// What every attempt of a call shares (also needed when an attempt is dropped).
#[derive(Debug)]
pub(crate) struct CallInfo {
    pub(crate) id: CallId,
    pub(crate) alias: String,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) stream: bool,
}

/// A call's id, formatted (`kw-<nonce>-<n>`) only when an event or a log needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallId {
    nonce: u32,
    number: u64,
}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kw-{:08x}-{:x}", self.nonce, self.number)
    }
}

/// A budget reservation, released on drop unless settled.
pub(crate) struct TicketGuard {
    inner: Arc<Inner>,
    ticket: Option<Ticket>,
    metrics: Vec<BudgetMetric>,
}

impl TicketGuard {
    /// Settles with the actual amounts per metric; emits the thresholds passed.
    async fn settle(mut self, requests: u64, tokens: u64, cost: u64) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let actual: Vec<u64> = self
            .metrics
            .iter()
            .map(|m| match m {
                BudgetMetric::Tokens => tokens,
                BudgetMetric::Requests => requests,
                BudgetMetric::CostMicroUsd => cost,
            })
            .collect();
        let crossings = self.inner.store.settle(ticket, &actual).await;
        self.inner.emit_crossings(crossings);
    }
}

impl Drop for TicketGuard {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.store.release(ticket);
        }
    }
}

/// One request slot on a route; frees it (and wakes waiters) on drop.
struct Slot {
    inner: Arc<Inner>,
    route: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner
            .route(self.route)
            .in_flight
            .fetch_sub(1, Ordering::AcqRel);
        self.inner.slot_freed.notify_waiters();
    }
}

/// The half-open probe this attempt holds; abandoned on drop unless its outcome was recorded.
struct Probe {
    inner: Arc<Inner>,
    route: usize,
    armed: bool,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if self.armed {
            self.inner
                .store
                .abandon_probe(&self.inner.route(self.route).route.name);
        }
    }
}

/// One attempt on one route, from admission to its outcome. Dropping an unfinished attempt
/// (the caller cancelled) releases its slot, reservation and probe and emits a `cancelled`
/// event.
pub(crate) struct Attempt {
    inner: Arc<Inner>,
    info: Arc<CallInfo>,
    pub(crate) route: usize,
    number: u32,
    route_number: u32,
    pub(crate) started: Instant,
    /// Time allowed for the attempt (for streams: until the stream starts).
    pub(crate) timeout: Duration,
    /// Whether the route's own timeout, not the call's deadline, bounds the attempt.
    route_timeout_binds: bool,
    /// The call's deadline cut the attempt short: not the route's fault.
    deadline_cut: bool,
    key_label: Option<String>,
    reserved_tokens: u64,
    reserved_cost: u64,
    probe: Option<Probe>,
    ticket: Option<TicketGuard>,
    _slot: Slot,
    finished: bool,
}

impl Attempt {
    fn route_state(&self) -> &RouteState {
        self.inner.route(self.route)
    }

    fn is_probe(&self) -> bool {
        self.probe.as_ref().is_some_and(|p| p.armed)
    }

    fn disarm_probe(&mut self) {
        if let Some(p) = &mut self.probe {
            p.armed = false;
        }
    }

    fn event(&self, outcome: Outcome) -> AttemptEvent {
        let rs = self.route_state();
        AttemptEvent {
            call_id: self.info.id.to_string(),
            alias: self.info.alias.clone(),
            route: rs.route.name.clone(),
            provider: rs.route.provider.name().to_owned(),
            model: rs.route.model.clone(),
            response_model: None,
            response_id: None,
            finish_reason: None,
            key_label: self.key_label.clone(),
            tags: self.info.tags.clone(),
            attempt: self.number,
            route_attempt: self.route_number,
            stream: self.info.stream,
            outcome,
            error_kind: None,
            status: None,
            request_id: None,
            latency: self.started.elapsed(),
            time_to_first_token: None,
            usage: None,
            cost_usd: None,
            retry_in: None,
        }
    }

    fn error_event(
        &self,
        outcome: Outcome,
        error: &Error,
        retry_in: Option<Duration>,
    ) -> AttemptEvent {
        let mut event = self.event(outcome);
        event.error_kind = Some(error.kind());
        event.status = error.status();
        event.request_id = error.request_id().map(str::to_owned);
        event.retry_in = retry_in;
        event
    }

    /// Notes that the call's deadline, not the route, cut this attempt short.
    pub(crate) fn mark_deadline_cut(&mut self) {
        self.deadline_cut = true;
    }

    /// The error for an attempt the tokio timeout cut.
    pub(crate) fn timed_out(&mut self) -> Error {
        let rs = self.route_state();
        let route = rs.route.name.clone();
        let provider = rs.route.provider.name().to_owned();
        let secs = self.timeout.as_secs_f64();
        let message = if self.route_timeout_binds {
            format!("route {route} did not answer within its {secs:.3}s timeout")
        } else {
            self.deadline_cut = true;
            format!("the call's deadline passed during an attempt on route {route}")
        };
        Error::new(ErrorKind::Timeout, message).with_provider(provider)
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.finished && self.inner.observed() {
            let event = self.event(Outcome::Cancelled);
            self.inner.emit(RouterEvent::Attempt(Box::new(event)));
        }
    }
}

/// What a successful attempt reports.
#[derive(Debug, Default)]
pub(crate) struct Success {
    pub(crate) usage: Option<Usage>,
    pub(crate) response_model: Option<String>,
    pub(crate) response_id: Option<String>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) provider_request_id: Option<String>,
    pub(crate) time_to_first_token: Option<Duration>,
}

/// Why a route could not take an attempt.
enum Refusal {
    /// At its in-flight cap.
    Full,
    /// Cooling down (time left, when known).
    Cooling(Option<Duration>),
    /// A route budget would be exceeded.
    Budget,
    /// An anomaly lock.
    Locked,
}

/// One call: the request, its plan of routes, what each route has done so far, and the
/// call-wide reservation.
pub(crate) struct Call {
    pub(crate) inner: Arc<Inner>,
    info: Arc<CallInfo>,
    /// The request as sent: model and deadline are set per attempt.
    pub(crate) request: ChatRequest,
    pub(crate) deadline: Instant,
    plan: Vec<usize>,
    tries: Vec<u32>,
    done: Vec<bool>,
    excluded: Vec<bool>,
    /// When each route's Retry-After to this call ends.
    not_before: Vec<Option<Instant>>,
    attempts: u32,
    errors: Vec<Error>,
    failures: Vec<AttemptFailure>,
    rng: SplitMix64,
    reserve_tokens: u64,
    input_estimate: u64,
    output_reserve: u64,
    spent_tokens: u64,
    spent_cost: u64,
    sent: bool,
    ticket: Option<TicketGuard>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("id", &self.info.id)
            .field("alias", &self.info.alias)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// What an attempt's failure means for the route's breaker.
fn route_outcome(error: &Error, deadline_cut: bool, cooldown: Duration) -> RouteOutcome {
    match error.kind() {
        ErrorKind::Auth => RouteOutcome::Failure {
            trip: Some(cooldown),
        },
        ErrorKind::RateLimited => RouteOutcome::Failure {
            trip: error.retry_after().filter(|d| !d.is_zero()),
        },
        ErrorKind::Timeout if deadline_cut => RouteOutcome::Neutral,
        ErrorKind::PermissionDenied
        | ErrorKind::NotFound
        | ErrorKind::QuotaExceeded
        | ErrorKind::Overloaded
        | ErrorKind::Server
        | ErrorKind::Timeout
        | ErrorKind::Connect
        | ErrorKind::Protocol
        | ErrorKind::StreamTruncated
        | ErrorKind::ResponseTooLarge
        | ErrorKind::Redirected => RouteOutcome::Failure { trip: None },
        _ => RouteOutcome::Neutral,
    }
}

impl Call {
    /// Admits a call: the model allowlist, the router's anomaly lock, the `max_tokens`
    /// ceiling and the call-wide budgets (router and tags), all before anything is sent.
    pub(crate) async fn start(
        inner: Arc<Inner>,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<Call, Error> {
        let number = inner.calls.fetch_add(1, Ordering::Relaxed);
        let info = Arc::new(CallInfo {
            id: CallId {
                nonce: inner.nonce,
                number,
            },
            alias: request.model.clone(),
            tags: request.tags.clone(),
            stream,
        });
        let refuse = |reason: RefusalReason, kind: ErrorKind, budget: Option<String>| {
            inner.emit(RouterEvent::Refused {
                call_id: info.id.to_string(),
                alias: info.alias.clone(),
                tags: info.tags.clone(),
                reason,
                error_kind: kind,
                budget,
                route: None,
            });
        };
        let Some(candidates) = inner.aliases.get(&request.model) else {
            refuse(RefusalReason::UnknownModel, ErrorKind::InvalidRequest, None);
            return Err(Error::new(
                ErrorKind::InvalidRequest,
                format!("model {:?} is not served by this router", request.model),
            )
            .with_provider(inner.name.clone()));
        };
        if inner.router_locked.load(Ordering::Acquire) {
            refuse(RefusalReason::AnomalyLock, ErrorKind::BudgetExceeded, None);
            return Err(Error::new(
                ErrorKind::BudgetExceeded,
                "the router is locked after an anomaly (see Router::reset_anomaly)",
            )
            .with_provider(inner.name.clone()));
        }
        let mut request = request.clone();
        if let Some(ceiling) = inner.ceiling {
            match request.max_tokens {
                Some(asked) if asked > ceiling && inner.refuse_above_ceiling => {
                    refuse(
                        RefusalReason::MaxTokensCeiling,
                        ErrorKind::BudgetExceeded,
                        None,
                    );
                    return Err(Error::new(
                        ErrorKind::BudgetExceeded,
                        format!("max_tokens {asked} is above the router's ceiling of {ceiling}"),
                    )
                    .with_provider(inner.name.clone()));
                }
                Some(asked) if asked > ceiling => request.max_tokens = Some(ceiling),
                Some(_) => {}
                None => request.max_tokens = Some(ceiling),
            }
        }
        let input_estimate = request.estimated_input_tokens();
        let output_reserve = u64::from(request.max_tokens.unwrap_or(inner.output_reservation));
        let reserve_tokens = input_estimate.saturating_add(output_reserve);
        let seed = mix(inner.seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut rng = SplitMix64::new(seed);
        let plan = inner.plan(candidates, &mut rng);
        let n = inner.routes.len();
        let mut call = Call {
            inner: inner.clone(),
            info: info.clone(),
            request,
            deadline: Instant::now(),
            plan,
            tries: vec![0; n],
            done: vec![false; n],
            excluded: vec![false; n],
            not_before: vec![None; n],
            attempts: 0,
            errors: Vec::new(),
            failures: Vec::new(),
            rng,
            reserve_tokens,
            input_estimate,
            output_reserve,
            spent_tokens: 0,
            spent_cost: 0,
            sent: false,
            ticket: None,
        };
        call.deadline += call.request.deadline.unwrap_or(inner.deadline);
        // Cost depends on the route that answers: router and tag cost budgets are charged per
        // attempt (see `admit`), so a free internal route still serves when cloud spend is out.
        let specs: Vec<&BudgetSpec> = inner
            .budgets
            .iter()
            .filter(|b| b.budget.metric != BudgetMetric::CostMicroUsd)
            .filter(|b| b.applies_to(&call.request.tags))
            .collect();
        match call.reserve(&specs, None).await {
            Ok(ticket) => call.ticket = ticket,
            Err(budget) => {
                refuse(
                    RefusalReason::Budget,
                    ErrorKind::BudgetExceeded,
                    Some(budget.clone()),
                );
                return Err(Error::new(
                    ErrorKind::BudgetExceeded,
                    format!("budget {budget} would be exceeded"),
                )
                .with_provider(inner.name.clone()));
            }
        }
        Ok(call)
    }

    /// Reserves this call's amounts against `specs`; `Err(name)` of the budget that refused.
    async fn reserve(
        &self,
        specs: &[&BudgetSpec],
        price: Option<Price>,
    ) -> Result<Option<TicketGuard>, String> {
        if specs.is_empty() {
            return Ok(None);
        }
        let cost = price.map_or(0, |p| p.micro_usd(self.input_estimate, self.output_reserve));
        let charges: Vec<Charge> = specs
            .iter()
            .map(|s| {
                let amount = match s.budget.metric {
                    BudgetMetric::Tokens => self.reserve_tokens,
                    BudgetMetric::Requests => 1,
                    BudgetMetric::CostMicroUsd => cost,
                };
                Charge::new(s.key.clone(), s.budget.limit, s.budget.window, amount)
            })
            .collect();
        match self.inner.store.reserve(charges).await {
            Reserve::Granted { ticket, crossings } => {
                self.inner.emit_crossings(crossings);
                Ok(Some(TicketGuard {
                    inner: self.inner.clone(),
                    ticket: Some(ticket),
                    metrics: specs.iter().map(|s| s.budget.metric).collect(),
                }))
            }
            Reserve::Refused { index, crossings } => {
                self.inner.emit_crossings(crossings);
                Err(specs
                    .get(index)
                    .map_or_else(String::new, |s| s.key.to_string()))
            }
        }
    }

    /// Tries to start an attempt on `route`: anomaly locks, the in-flight cap, the breaker,
    /// the route's budgets, in that order (cheapest first).
    async fn admit(&mut self, route: usize) -> Result<Attempt, Refusal> {
        let inner = self.inner.clone();
        let rs = inner.route(route);
        if inner.router_locked.load(Ordering::Acquire) || rs.locked.load(Ordering::Acquire) {
            return Err(Refusal::Locked);
        }
        if !inner.try_slot_count(route) {
            return Err(Refusal::Full);
        }
        let slot = Slot {
            inner: inner.clone(),
            route,
        };
        let probe = match inner.store.admit(&rs.route.name).await {
            Admission::Allowed => None,
            Admission::Probe => Some(Probe {
                inner: inner.clone(),
                route,
                armed: true,
            }),
            Admission::Refused { remaining } => return Err(Refusal::Cooling(remaining)),
        };
        if let Some(hit) = inner.anomaly_add(route, AnomalyMetric::Requests, 1) {
            if hit != AnomalyAction::Observe {
                return Err(Refusal::Locked);
            }
        }
        let specs: Vec<&BudgetSpec> = rs
            .budgets
            .iter()
            .chain(inner.budgets.iter().filter(|b| {
                b.budget.metric == BudgetMetric::CostMicroUsd && b.applies_to(&self.request.tags)
            }))
            .collect();
        let ticket = match self.reserve(&specs, rs.route.price).await {
            Ok(ticket) => ticket,
            Err(budget) => {
                inner.emit(RouterEvent::Refused {
                    call_id: self.info.id.to_string(),
                    alias: self.info.alias.clone(),
                    tags: self.info.tags.clone(),
                    reason: RefusalReason::Budget,
                    error_kind: ErrorKind::BudgetExceeded,
                    budget: Some(budget),
                    route: Some(rs.route.name.clone()),
                });
                return Err(Refusal::Budget);
            }
        };
        let left = remaining(self.deadline);
        let (timeout, route_timeout_binds) = match rs.route.timeout {
            Some(t) if t < left => (t, true),
            _ => (left, false),
        };
        self.attempts += 1;
        let tries = self.tries.get_mut(route).map_or(1, |t| {
            *t += 1;
            *t
        });
        let reserved_cost = rs
            .route
            .price
            .map_or(0, |p| p.micro_usd(self.input_estimate, self.output_reserve));
        Ok(Attempt {
            inner: inner.clone(),
            info: self.info.clone(),
            route,
            number: self.attempts,
            route_number: tries,
            started: Instant::now(),
            timeout,
            route_timeout_binds,
            deadline_cut: false,
            key_label: rs.route.provider.key_label(),
            reserved_tokens: self.reserve_tokens,
            reserved_cost,
            probe,
            ticket,
            _slot: slot,
            finished: false,
        })
    }

    /// The provider of `attempt`'s route, with the request prepared for it: the route's model,
    /// and the time left as its deadline (for a stream the whole remaining time, since the
    /// route's timeout only bounds the start).
    pub(crate) fn prepare(&mut self, attempt: &Attempt) -> Arc<dyn Provider> {
        self.sent = true;
        let rs = self.inner.route(attempt.route);
        self.request.model.clone_from(&rs.route.model);
        self.request.deadline = Some(if self.info.stream {
            remaining(self.deadline)
        } else {
            attempt.timeout
        });
        rs.route.provider.clone()
    }

    /// The call's first attempt: the first route of the plan that admits it. When every route
    /// is at its in-flight cap, waits for a slot within the deadline.
    pub(crate) async fn first_attempt(&mut self) -> Result<Attempt, Error> {
        let inner = self.inner.clone();
        loop {
            // Registered before looking, so a slot freed meanwhile is not missed.
            let mut freed = pin!(inner.slot_freed.notified());
            freed.as_mut().enable();
            if remaining(self.deadline).is_zero() {
                return Err(self.deadline_error().await);
            }
            let (mut full, mut cooling, mut over_budget) = (false, None::<Option<Duration>>, false);
            for route in self.plan.clone() {
                if self.excluded.get(route).copied().unwrap_or(true) {
                    continue;
                }
                match self.admit(route).await {
                    Ok(attempt) => return Ok(attempt),
                    Err(Refusal::Full) => full = true,
                    Err(Refusal::Cooling(left)) => {
                        cooling = Some(match (cooling.flatten(), left) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        });
                    }
                    Err(Refusal::Budget) => {
                        over_budget = true;
                        self.exclude(route);
                    }
                    Err(Refusal::Locked) => self.exclude(route),
                }
            }
            if full {
                if tokio::time::timeout_at(self.deadline, freed).await.is_err() {
                    return Err(self.deadline_error().await);
                }
                continue;
            }
            let error = if let Some(left) = cooling {
                Error::new(
                    ErrorKind::Overloaded,
                    format!("every route for {:?} is cooling down", self.info.alias),
                )
                .with_retry_after(left)
            } else {
                let (reason, why) = if over_budget {
                    (RefusalReason::Budget, "within its budgets")
                } else {
                    (RefusalReason::AnomalyLock, "unlocked")
                };
                self.inner.emit(RouterEvent::Refused {
                    call_id: self.info.id.to_string(),
                    alias: self.info.alias.clone(),
                    tags: self.info.tags.clone(),
                    reason,
                    error_kind: ErrorKind::BudgetExceeded,
                    budget: None,
                    route: None,
                });
                Error::new(
                    ErrorKind::BudgetExceeded,
                    format!("no route for {:?} is {why}", self.info.alias),
                )
            };
            let error = error.with_provider(self.inner.name.clone());
            self.settle_call().await;
            return Err(error);
        }
    }

    fn exclude(&mut self, route: usize) {
        if let Some(e) = self.excluded.get_mut(route) {
            *e = true;
        }
    }

    /// Whether `route` could take a request after waiting `wait` (a cooldown that ends by
    /// then does not count: the retry will be its probe).
    async fn available_after(&self, route: usize, wait: Option<Duration>) -> bool {
        let rs = self.inner.route(route);
        if self.excluded.get(route).copied().unwrap_or(true)
            || self.done.get(route).copied().unwrap_or(true)
            || self.tries.get(route).copied().unwrap_or(u32::MAX)
                >= self.inner.policy.max_attempts()
            || rs.locked.load(Ordering::Acquire)
            || rs
                .route
                .max_in_flight
                .is_some_and(|max| rs.in_flight.load(Ordering::Acquire) >= max)
        {
            return false;
        }
        match self.inner.store.cooldown(&rs.route.name).await {
            CooldownState::Open { remaining } => wait.is_some_and(|w| remaining <= w),
            state => state.is_available(),
        }
    }

    /// Routes other than `failing` that may still be tried, with how long each must still be
    /// waited for (the rest of a Retry-After it gave this call; zero when healthy now):
    /// untried ones first, then those tried before, each group in plan order.
    async fn alternatives(&self, failing: usize) -> Vec<(usize, Duration)> {
        let now = Instant::now();
        let mut fresh = Vec::new();
        let mut tried = Vec::new();
        for &route in &self.plan {
            if route == failing {
                continue;
            }
            let wait = self
                .not_before
                .get(route)
                .copied()
                .flatten()
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
            if !self.available_after(route, Some(wait)).await {
                continue;
            }
            if self.tries.get(route).copied().unwrap_or(0) == 0 {
                fresh.push((route, wait));
            } else {
                tried.push((route, wait));
            }
        }
        fresh.extend(tried);
        fresh
    }

    /// Records a failed attempt and acts on the policy's decision: returns the next attempt
    /// (after waiting, for a backoff), or the error the call ends with.
    pub(crate) async fn after_failure(
        &mut self,
        mut attempt: Attempt,
        error: Error,
        usage: Option<Usage>,
    ) -> Result<Attempt, Error> {
        let failing = attempt.route;
        self.record_failure(&mut attempt, &error, usage).await;
        if let Some(wait) = error.retry_after().filter(|w| !w.is_zero()) {
            if let Some(t) = self.not_before.get_mut(failing) {
                // This route asked this call to wait: it is no alternative until then.
                *t = Some(Instant::now() + wait);
            }
        }
        let template = self
            .inner
            .observed()
            .then(|| attempt.error_event(Outcome::Error, &error, None));
        // The failed attempt's slot goes now: a call waiting to retry is not in flight.
        attempt.finished = true;
        drop(attempt);
        let failure = Failure::of(&error);
        if !error.is_retryable() {
            if let Some(d) = self.done.get_mut(failing) {
                *d = true;
            }
        }
        self.failures.push(AttemptFailure::new(
            self.inner.route(failing).route.name.clone(),
            &error,
        ));
        self.errors.push(error);
        let inner = self.inner.clone();
        let report = |outcome: Outcome, retry_in: Option<Duration>| {
            if let Some(template) = &template {
                let mut event = template.clone();
                event.outcome = outcome;
                event.retry_in = retry_in;
                inner.emit(RouterEvent::Attempt(Box::new(event)));
            }
        };
        let mut reported = false;
        let mut same_available = true;
        loop {
            let left = remaining(self.deadline);
            let same = same_available && self.available_after(failing, failure.retry_after).await;
            let alternatives = self.alternatives(failing).await;
            let alts: Vec<Alternative> = alternatives
                .iter()
                .map(|&(r, wait)| {
                    Alternative::new(self.inner.route(r).route.context_window).after(wait)
                })
                .collect();
            let situation = Situation::new(self.tries.get(failing).copied().unwrap_or(0), left)
                .alternatives(&alts)
                .context_window(self.inner.route(failing).route.context_window)
                .same_route_available(same);
            let mut decision = self
                .inner
                .policy
                .decide(failure, &situation, &mut || self.rng.next_u64());
            if left.is_zero() && !matches!(decision, Decision::Return | Decision::GiveUp) {
                decision = Decision::DeadlineExceeded;
            }
            let (next, outcome, retry_in) = match decision {
                Decision::RetryNow => (failing, Outcome::Retry, Some(Duration::ZERO)),
                Decision::RetryAfter(wait) => (failing, Outcome::Retry, Some(wait)),
                Decision::MoveTo(i) => match alternatives.get(i) {
                    Some(&(route, _)) => (route, Outcome::Fallback, None),
                    None => (failing, Outcome::Error, None),
                },
                Decision::MoveAfter(i, wait) => match alternatives.get(i) {
                    Some(&(route, _)) => (route, Outcome::Fallback, Some(wait)),
                    None => (failing, Outcome::Error, None),
                },
                Decision::Return | Decision::GiveUp | Decision::DeadlineExceeded => {
                    if !reported {
                        report(Outcome::Error, None);
                    }
                    return Err(match decision {
                        Decision::DeadlineExceeded => self.deadline_error().await,
                        Decision::Return => self.final_error(true).await,
                        _ => self.final_error(false).await,
                    });
                }
            };
            if outcome == Outcome::Error {
                // A policy answer outside the alternatives given: nothing sensible to try.
                if !reported {
                    report(Outcome::Error, None);
                }
                return Err(self.final_error(false).await);
            }
            if let Some(wait) = retry_in.filter(|w| !w.is_zero()) {
                if !reported {
                    reported = true;
                    report(outcome, Some(wait));
                }
                // Step 4 is the only place the router sleeps (besides waiting for a free slot).
                tokio::time::sleep(wait).await;
            }
            match self.admit(next).await {
                Ok(next_attempt) => {
                    if !reported {
                        report(outcome, retry_in);
                    }
                    return Ok(next_attempt);
                }
                Err(_) if next == failing => same_available = false,
                Err(_) => self.exclude(next),
            }
        }
    }

    /// Health, breaker, anomaly and budget bookkeeping for a failed attempt.
    async fn record_failure(&mut self, attempt: &mut Attempt, error: &Error, usage: Option<Usage>) {
        let inner = self.inner.clone();
        let rs = inner.route(attempt.route);
        // A Timeout when the call's time ran out says nothing about the route.
        let deadline_cut = attempt.deadline_cut
            || (error.kind() == ErrorKind::Timeout
                && !attempt.route_timeout_binds
                && remaining(self.deadline).is_zero());
        let outcome = route_outcome(error, deadline_cut, inner.breaker.cooldown);
        let change = inner
            .store
            .record(&rs.route.name, attempt.is_probe(), outcome, inner.breaker)
            .await;
        attempt.disarm_probe();
        if let Some(change) = change {
            inner.emit_cooldown(attempt.route, change, Some(error));
        }
        let counts = matches!(outcome, RouteOutcome::Failure { .. });
        rs.record(None, counts.then_some(true));
        if counts {
            inner.anomaly_add(attempt.route, AnomalyMetric::Errors, 1);
        }
        let (tokens, cost) = self.spend(attempt, usage, false);
        if let Some(ticket) = attempt.ticket.take() {
            ticket.settle(1, tokens, cost).await;
        }
    }

    /// Adds `usage` (or, for a success without usage, the reservation) to what the call has
    /// spent; returns this attempt's tokens and cost.
    fn spend(&mut self, attempt: &Attempt, usage: Option<Usage>, success: bool) -> (u64, u64) {
        let price = attempt.route_state().route.price;
        let (tokens, cost) = match usage {
            Some(u) => (
                u.total_tokens(),
                price.map_or(0, |p| p.micro_usd(u.input_tokens, u.output_tokens)),
            ),
            // Unknown spend on an answer counts as the most it could have been.
            None if success => (attempt.reserved_tokens, attempt.reserved_cost),
            None => (0, 0),
        };
        if tokens > 0 {
            self.inner
                .anomaly_add(attempt.route, AnomalyMetric::Tokens, tokens);
        }
        self.spent_tokens = self.spent_tokens.saturating_add(tokens);
        self.spent_cost = self.spent_cost.saturating_add(cost);
        (tokens, cost)
    }

    /// Records a successful attempt: breaker, health, budgets, and its event.
    pub(crate) async fn succeeded(&mut self, mut attempt: Attempt, success: Success) {
        let inner = self.inner.clone();
        let rs = inner.route(attempt.route);
        let change = inner
            .store
            .record(
                &rs.route.name,
                attempt.is_probe(),
                RouteOutcome::Success,
                inner.breaker,
            )
            .await;
        attempt.disarm_probe();
        if let Some(change) = change {
            inner.emit_cooldown(attempt.route, change, None);
        }
        rs.record(Some(attempt.started.elapsed()), Some(false));
        let (tokens, cost) = self.spend(&attempt, success.usage, true);
        if let Some(ticket) = attempt.ticket.take() {
            ticket.settle(1, tokens, cost).await;
        }
        self.settle_call().await;
        attempt.finished = true;
        if !inner.observed() {
            return;
        }
        let mut event = attempt.event(Outcome::Ok);
        event.usage = success.usage;
        event.cost_usd = match (rs.route.price, success.usage) {
            (Some(p), Some(u)) => Some(p.micro_usd(u.input_tokens, u.output_tokens) as f64 / 1e6),
            _ => None,
        };
        event.response_model = success.response_model;
        event.response_id = success.response_id;
        event.finish_reason = success.finish_reason;
        event.request_id = success.provider_request_id;
        event.time_to_first_token = success.time_to_first_token;
        inner.emit(RouterEvent::Attempt(Box::new(event)));
    }

    /// Records a stream that failed after its content reached the caller (no fallback any
    /// more) and returns the error that ends it.
    pub(crate) async fn failed_after_content(
        &mut self,
        mut attempt: Attempt,
        error: Error,
        usage: Option<Usage>,
        time_to_first_token: Option<Duration>,
    ) -> Error {
        self.record_failure(&mut attempt, &error, usage).await;
        let mut event = attempt.error_event(Outcome::Error, &error, None);
        event.usage = usage;
        event.time_to_first_token = time_to_first_token;
        attempt.finished = true;
        self.inner.emit(RouterEvent::Attempt(Box::new(event)));
        self.failures.push(AttemptFailure::new(
            self.inner.route(attempt.route).route.name.clone(),
            &error,
        ));
        drop(attempt);
        self.settle_call().await;
        error.with_attempts(self.failures.clone())
    }

    /// Settles the call-wide reservation with what the call spent.
    async fn settle_call(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let requests = u64::from(self.sent);
            ticket
                .settle(requests, self.spent_tokens, self.spent_cost)
                .await;
        }
    }

    /// The error a failed call returns: the last one (`last`) or the most informative one,
    /// with every attempt attached.
    async fn final_error(&mut self, last: bool) -> Error {
        self.settle_call().await;
        let index = if last {
            self.errors.len().checked_sub(1)
        } else {
            let failures: Vec<Failure> = self.errors.iter().map(Failure::of).collect();
            most_informative(&failures)
        };
        let error = match index {
            Some(i) if i < self.errors.len() => self.errors.swap_remove(i),
            _ => Error::new(ErrorKind::Overloaded, "no route could serve the request")
                .with_provider(self.inner.name.clone()),
        };
        error.with_attempts(self.failures.clone())
    }

    /// The `Timeout` a call returns when its deadline passes.
    async fn deadline_error(&mut self) -> Error {
        self.settle_call().await;
        Error::new(
            ErrorKind::Timeout,
            format!(
                "the call's deadline passed after {} attempt(s)",
                self.attempts
            ),
        )
        .with_provider(self.inner.name.clone())
        .with_attempts(self.failures.clone())
    }
}

impl Inner {
    pub(crate) fn emit_crossings(&self, crossings: Vec<Crossing>) {
        for c in crossings {
            self.emit(RouterEvent::BudgetThreshold {
                budget: c.key.to_string(),
                percent: c.percent,
                used: c.used,
                limit: c.limit,
            });
        }
    }

    pub(crate) fn emit_cooldown(
        &self,
        route: usize,
        change: CooldownChange,
        error: Option<&Error>,
    ) {
        let name = self.route(route).route.name.clone();
        let event = match change {
            CooldownChange::Entered { cooldown } => RouterEvent::CooldownEntered {
                route: name,
                cooldown,
                error_kind: error.map(Error::kind),
                status: error.and_then(Error::status),
            },
            CooldownChange::Left => RouterEvent::CooldownLeft {
                route: name,
                reset: false,
            },
        };
        self.emit(event);
    }
}
