//! Where budget counters, rate windows and cooldown (circuit breaker) state live: the
//! [`StateStore`] trait and its in-memory implementation, [`MemoryStore`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

/// One amount to reserve against one budget.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Charge {
    /// The budget's key ([`Budget::name`](crate::Budget::name)).
    pub key: Arc<str>,
    /// The budget's limit per window.
    pub limit: u64,
    /// The budget's window.
    pub window: Duration,
    /// The amount to hold.
    pub amount: u64,
}

impl Charge {
    /// A charge of `amount` against the budget `key` (`limit` per `window`).
    pub fn new(key: Arc<str>, limit: u64, window: Duration, amount: u64) -> Self {
        Self {
            key,
            limit,
            window,
            amount,
        }
    }
}

/// Reservations held by one request, returned by [`StateStore::reserve`]. The router settles
/// or releases each ticket exactly once (it is not `Clone`).
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ticket {
    /// An id the store chose (a remote store may key its records by it).
    pub id: u64,
    /// What is held, in the order the router asked.
    pub charges: Vec<Charge>,
}

impl Ticket {
    /// A ticket holding `charges`.
    pub fn new(id: u64, charges: Vec<Charge>) -> Self {
        Self { id, charges }
    }
}

/// A budget passed 50%, 80% or 100% of its limit (reported once per window per threshold).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Crossing {
    /// The budget's key.
    pub key: Arc<str>,
    /// 50, 80 or 100.
    pub percent: u8,
    /// Settled plus reserved, when it crossed.
    pub used: u64,
    /// The limit.
    pub limit: u64,
}

/// The answer to [`StateStore::reserve`].
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reserve {
    /// Every charge fit and is now held.
    Granted {
        /// What is held.
        ticket: Ticket,
        /// Thresholds this reservation passed.
        crossings: Vec<Crossing>,
    },
    /// `charges[index]` did not fit; nothing is held.
    Refused {
        /// The first charge that did not fit.
        index: usize,
        /// Thresholds passed (the refused budget's 100%, the first time in a window).
        crossings: Vec<Crossing>,
    },
}

/// A budget's counters in its current window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetUsage {
    /// Settled in the current window.
    pub used: u64,
    /// Held by requests in flight.
    pub reserved: u64,
}

/// Whether a route may take a request now (see [`StateStore::admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// In rotation.
    Allowed,
    /// The cooldown ended: this request is the one probe that decides (half-open).
    Probe,
    /// Cooling down, or a probe is in flight.
    Refused {
        /// Time left in the cooldown, when known (none while a probe is in flight).
        remaining: Option<Duration>,
    },
}

/// A route's circuit-breaker state (see [`StateStore::cooldown`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CooldownState {
    /// In rotation.
    Closed,
    /// Out of rotation for `remaining` more.
    Open {
        /// Time left.
        remaining: Duration,
    },
    /// The cooldown ended; the next request probes (`probing`: a probe is in flight).
    HalfOpen {
        /// Whether a probe is in flight.
        probing: bool,
    },
}

impl CooldownState {
    /// Whether a new request could be admitted (closed, or half-open with no probe in flight).
    pub fn is_available(&self) -> bool {
        matches!(
            self,
            CooldownState::Closed | CooldownState::HalfOpen { probing: false }
        )
    }
}

/// What an attempt on a route meant for the route's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteOutcome {
    /// It answered.
    Success,
    /// It failed in a way that counts against it. `trip` opens the breaker at once for that
    /// long (an Auth failure, a RateLimited with a Retry-After).
    Failure {
        /// Open at once for this long.
        trip: Option<Duration>,
    },
    /// The failure said nothing about the route (an invalid request, a cancelled call).
    Neutral,
}

/// The circuit-breaker settings, passed with every [`StateStore::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub threshold: u32,
    /// How long it stays open when no Retry-After says otherwise.
    pub cooldown: Duration,
}

impl BreakerConfig {
    /// Opens after `threshold` consecutive failures, for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
        }
    }
}

/// A change of a route's rotation state caused by [`StateStore::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CooldownChange {
    /// The route left rotation for this long.
    Entered {
        /// How long.
        cooldown: Duration,
    },
    /// The probe succeeded: the route is back in rotation.
    Left,
}

/// Budget counters, rate windows and cooldown state, behind one small trait so a shared store
/// (Redis, for a fleet) can replace the in-memory default without touching the routing logic.
///
/// # Consistency expectations
///
/// - [`reserve`](Self::reserve) must be atomic per call: all charges held, or none. Across
///   processes that is what stops N routers from each spending the same remainder; a remote
///   store does it in one transaction (a Lua script, `MULTI`).
/// - Windows are fixed; where they start is the store's choice (the in-memory store starts
///   them when it is created; a fleet store would align them to wall-clock minutes and days).
/// - Threshold [`Crossing`]s should be reported once per window per threshold; across processes
///   a duplicate or a missed report is acceptable.
/// - Cooldowns may be approximate across processes: two routers may each let one probe through,
///   and a route may stay in rotation a moment after another process opened its breaker.
/// - [`release`](Self::release) and [`abandon_probe`](Self::abandon_probe) are synchronous
///   because they run in `Drop` when a call is cancelled. A remote store may defer them (hand
///   them to its own bounded queue) and should also expire reservations and probes after a
///   while, so a crashed process cannot hold a budget forever.
/// - Latency, error rates, in-flight counts and anomaly baselines are per process and are not
///   kept here.
#[async_trait]
pub trait StateStore: Send + Sync + fmt::Debug {
    /// Holds every charge if each fits (`used + reserved + amount <= limit`, a charge of 0
    /// always fits), or none.
    async fn reserve(&self, charges: Vec<Charge>) -> Reserve;

    /// Releases `ticket`'s holds and adds `actual[i]` to the current window of
    /// `ticket.charges[i]` (missing entries count as 0). Returns thresholds passed.
    async fn settle(&self, ticket: Ticket, actual: &[u64]) -> Vec<Crossing>;

    /// Releases `ticket`'s holds without adding anything (a cancelled call).
    fn release(&self, ticket: Ticket);

    /// The counters of budget `key` in its current window.
    async fn usage(&self, key: &str, window: Duration) -> BudgetUsage;

    /// Asks whether `route` may take a request now; after a cooldown, the first caller gets
    /// [`Admission::Probe`] and others are refused until the probe is recorded.
    async fn admit(&self, route: &str) -> Admission;

    /// The route's breaker state, without changing it.
    async fn cooldown(&self, route: &str) -> CooldownState;

    /// Records an attempt's outcome (`probe`: it was admitted as the probe).
    async fn record(
        &self,
        route: &str,
        probe: bool,
        outcome: RouteOutcome,
        config: BreakerConfig,
    ) -> Option<CooldownChange>;

    /// A probe was cancelled before its outcome was known: let the next request probe.
    fn abandon_probe(&self, route: &str);

    /// Puts `route` back in rotation now. Returns whether it was out.
    async fn reset_cooldown(&self, route: &str) -> bool;
}

/// The default [`StateStore`]: everything in this process's memory, behind one mutex held for
/// a few instructions per call (never across an `.await`).
///
/// Uses tokio's clock, so paused-time tests control windows and cooldowns.
pub struct MemoryStore {
    state: Mutex<MemState>,
    epoch: Instant,
    next_ticket: AtomicU64,
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("budgets", &state.budgets.len())
            .field("routes", &state.breakers.len())
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Default)]
struct MemState {
    budgets: HashMap<Arc<str>, Counter>,
    breakers: HashMap<String, Breaker>,
}

#[derive(Default)]
struct Counter {
    window: u64,
    used: u64,
    reserved: u64,
    // Bit i set: threshold THRESHOLDS[i] already reported in this window.
    reported: u8,
}

const THRESHOLDS: [u8; 3] = [50, 80, 100];

#[derive(Default)]
struct Breaker {
    consecutive: u32,
    state: BreakerState,
}

#[derive(Default, Clone, Copy)]
enum BreakerState {
    #[default]
    Closed,
    Open(Instant),
    HalfOpen {
        probing: bool,
    },
}

impl MemoryStore {
    /// An empty store; its windows start now.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(MemState::default()),
            epoch: Instant::now(),
            next_ticket: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MemState> {
        // State stays consistent under a panic elsewhere: every update is a few assignments.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn window_index(&self, window: Duration, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        let len = window.as_nanos().max(1);
        u64::try_from(elapsed / len).unwrap_or(u64::MAX)
    }

    fn counter<'a>(
        &self,
        state: &'a mut MemState,
        key: &Arc<str>,
        window: Duration,
        now: Instant,
    ) -> &'a mut Counter {
        let index = self.window_index(window, now);
        let counter = state.budgets.entry(key.clone()).or_default();
        if counter.window != index {
            // A new window: settled usage restarts, holds of requests in flight carry over.
            counter.window = index;
            counter.used = 0;
            counter.reported = 0;
        }
        counter
    }

    fn crossings(key: &Arc<str>, counter: &mut Counter, limit: u64, out: &mut Vec<Crossing>) {
        let held = counter.used.saturating_add(counter.reserved);
        for (bit, percent) in THRESHOLDS.iter().enumerate() {
            let mask = 1u8 << bit;
            let reached = u128::from(held) * 100 >= u128::from(limit) * u128::from(*percent);
            if reached && counter.reported & mask == 0 && limit > 0 {
                counter.reported |= mask;
                out.push(Crossing {
                    key: key.clone(),
                    percent: *percent,
                    used: held,
                    limit,
                });
            }
        }
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn reserve(&self, charges: Vec<Charge>) -> Reserve {
        let now = Instant::now();
        let mut state = self.lock();
        let mut crossings = Vec::new();
        for (index, c) in charges.iter().enumerate() {
            let counter = self.counter(&mut state, &c.key, c.window, now);
            let after =
                u128::from(counter.used) + u128::from(counter.reserved) + u128::from(c.amount);
            if c.amount > 0 && after > u128::from(c.limit) {
                let mask = 1u8 << (THRESHOLDS.len() - 1);
                if counter.reported & mask == 0 {
                    counter.reported |= mask;
                    crossings.push(Crossing {
                        key: c.key.clone(),
                        percent: 100,
                        used: counter.used.saturating_add(counter.reserved),
                        limit: c.limit,
                    });
                }
                return Reserve::Refused { index, crossings };
            }
        }
        for c in &charges {
            let counter = self.counter(&mut state, &c.key, c.window, now);
            counter.reserved = counter.reserved.saturating_add(c.amount);
            Self::crossings(&c.key, counter, c.limit, &mut crossings);
        }
        drop(state);
        let id = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        Reserve::Granted {
            ticket: Ticket::new(id, charges),
            crossings,
        }
    }

    async fn settle(&self, ticket: Ticket, actual: &[u64]) -> Vec<Crossing> {
        let now = Instant::now();
        let mut state = self.lock();
        let mut crossings = Vec::new();
        for (i, c) in ticket.charges.iter().enumerate() {
            let counter = self.counter(&mut state, &c.key, c.window, now);
            counter.reserved = counter.reserved.saturating_sub(c.amount);
            counter.used = counter
                .used
                .saturating_add(actual.get(i).copied().unwrap_or(0));
            Self::crossings(&c.key, counter, c.limit, &mut crossings);
        }
        crossings
    }

    fn release(&self, ticket: Ticket) {
        let mut state = self.lock();
        for c in &ticket.charges {
            if let Some(counter) = state.budgets.get_mut(&c.key) {
                counter.reserved = counter.reserved.saturating_sub(c.amount);
            }
        }
    }

    async fn usage(&self, key: &str, window: Duration) -> BudgetUsage {
        let index = self.window_index(window, Instant::now());
        let state = self.lock();
        match state.budgets.get(key) {
            Some(c) => BudgetUsage {
                used: if c.window == index { c.used } else { 0 },
                reserved: c.reserved,
            },
            None => BudgetUsage::default(),
        }
    }

    async fn admit(&self, route: &str) -> Admission {
        let now = Instant::now();
        let mut state = self.lock();
        let Some(breaker) = state.breakers.get_mut(route) else {
            return Admission::Allowed;
        };
        match breaker.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open(until) if now < until => Admission::Refused {
                remaining: Some(until - now),
            },
            BreakerState::Open(_) | BreakerState::HalfOpen { probing: false } => {
                breaker.state = BreakerState::HalfOpen { probing: true };
                Admission::Probe
            }
            BreakerState::HalfOpen { probing: true } => Admission::Refused { remaining: None },
        }
    }

    async fn cooldown(&self, route: &str) -> CooldownState {
        let now = Instant::now();
        let state = self.lock();
        match state.breakers.get(route).map(|b| b.state) {
            None | Some(BreakerState::Closed) => CooldownState::Closed,
            Some(BreakerState::Open(until)) if now < until => CooldownState::Open {
                remaining: until - now,
            },
            Some(BreakerState::Open(_)) => CooldownState::HalfOpen { probing: false },
            Some(BreakerState::HalfOpen { probing }) => CooldownState::HalfOpen { probing },
        }
    }

    async fn record(
        &self,
        route: &str,
        probe: bool,
        outcome: RouteOutcome,
        config: BreakerConfig,
    ) -> Option<CooldownChange> {
        let now = Instant::now();
        let mut state = self.lock();
        let breaker = state.breakers.entry(route.to_owned()).or_default();
        match outcome {
            RouteOutcome::Success => {
                breaker.consecutive = 0;
                let was_out = !matches!(breaker.state, BreakerState::Closed);
                // Only the probe closes an open breaker: a late answer from before the
                // cooldown says nothing about the route now.
                if probe || matches!(breaker.state, BreakerState::Closed) {
                    breaker.state = BreakerState::Closed;
                    return was_out.then_some(CooldownChange::Left);
                }
                None
            }
            RouteOutcome::Failure { trip } => {
                breaker.consecutive = breaker.consecutive.saturating_add(1);
                let open_for = trip.unwrap_or(config.cooldown);
                let open = probe
                    || (matches!(breaker.state, BreakerState::Closed)
                        && (trip.is_some() || breaker.consecutive >= config.threshold));
                if open {
                    breaker.state = BreakerState::Open(now + open_for);
                    return Some(CooldownChange::Entered { cooldown: open_for });
                }
                if let (BreakerState::Open(until), Some(trip)) = (breaker.state, trip) {
                    // A longer Retry-After while open extends the cooldown.
                    breaker.state = BreakerState::Open(until.max(now + trip));
                }
                None
            }
            RouteOutcome::Neutral => {
                if probe {
                    breaker.state = BreakerState::HalfOpen { probing: false };
                }
                None
            }
        }
    }

    fn abandon_probe(&self, route: &str) {
        let mut state = self.lock();
        if let Some(breaker) = state.breakers.get_mut(route) {
            if let BreakerState::HalfOpen { probing: true } = breaker.state {
                breaker.state = BreakerState::HalfOpen { probing: false };
            }
        }
    }

    async fn reset_cooldown(&self, route: &str) -> bool {
        let mut state = self.lock();
        match state.breakers.get_mut(route) {
            Some(breaker) => {
                breaker.consecutive = 0;
                let was_out = !matches!(breaker.state, BreakerState::Closed);
                breaker.state = BreakerState::Closed;
                was_out
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn charge(key: &str, limit: u64, amount: u64) -> Charge {
        Charge::new(Arc::from(key), limit, MIN, amount)
    }

    fn granted(r: Reserve) -> (Ticket, Vec<Crossing>) {
        match r {
            Reserve::Granted { ticket, crossings } => (ticket, crossings),
            Reserve::Refused { index, .. } => panic!("refused at {index}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reserve_is_all_or_nothing_and_settles() {
        let store = MemoryStore::new();
        let (t1, _) = granted(
            store
                .reserve(vec![charge("a", 100, 60), charge("b", 10, 1)])
                .await,
        );
        // "b" fits, "a" does not: nothing is held.
        match store
            .reserve(vec![charge("b", 10, 1), charge("a", 100, 50)])
            .await
        {
            Reserve::Refused { index, .. } => assert_eq!(index, 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(store.usage("b", MIN).await.reserved, 1);
        store.settle(t1, &[30, 1]).await;
        let a = store.usage("a", MIN).await;
        assert_eq!((a.used, a.reserved), (30, 0));
        let (t2, _) = granted(store.reserve(vec![charge("a", 100, 70)]).await);
        store.release(t2);
        assert_eq!(store.usage("a", MIN).await.reserved, 0);
        // A new window forgets settled usage.
        tokio::time::advance(MIN).await;
        assert_eq!(store.usage("a", MIN).await.used, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn thresholds_once_per_window() {
        let store = MemoryStore::new();
        let (t, c) = granted(store.reserve(vec![charge("t", 10, 5)]).await);
        assert_eq!(c.iter().map(|c| c.percent).collect::<Vec<_>>(), vec![50]);
        let c = store.settle(t, &[9]).await;
        assert_eq!(c.iter().map(|c| c.percent).collect::<Vec<_>>(), vec![80]);
        match store.reserve(vec![charge("t", 10, 2)]).await {
            Reserve::Refused { crossings, .. } => assert_eq!(crossings[0].percent, 100),
            other => panic!("{other:?}"),
        }
        match store.reserve(vec![charge("t", 10, 2)]).await {
            Reserve::Refused { crossings, .. } => assert!(crossings.is_empty()),
            other => panic!("{other:?}"),
        }
        tokio::time::advance(MIN).await;
        let (_, c) = granted(store.reserve(vec![charge("t", 10, 6)]).await);
        assert_eq!(c.iter().map(|c| c.percent).collect::<Vec<_>>(), vec![50]);
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_probes_and_closes() {
        let store = MemoryStore::new();
        let cfg = BreakerConfig::new(2, Duration::from_secs(30));
        let fail = RouteOutcome::Failure { trip: None };
        assert_eq!(store.record("r", false, fail, cfg).await, None);
        assert_eq!(
            store.record("r", false, fail, cfg).await,
            Some(CooldownChange::Entered {
                cooldown: Duration::from_secs(30)
            })
        );
        assert!(matches!(
            store.admit("r").await,
            Admission::Refused { remaining: Some(_) }
        ));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(store.admit("r").await, Admission::Probe);
        assert_eq!(
            store.admit("r").await,
            Admission::Refused { remaining: None }
        );
        // A failed probe re-opens.
        assert!(store.record("r", true, fail, cfg).await.is_some());
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(store.admit("r").await, Admission::Probe);
        // An abandoned probe lets the next request probe.
        store.abandon_probe("r");
        assert_eq!(store.admit("r").await, Admission::Probe);
        assert_eq!(
            store.record("r", true, RouteOutcome::Success, cfg).await,
            Some(CooldownChange::Left)
        );
        assert_eq!(store.admit("r").await, Admission::Allowed);
        // A trip opens at once for its own duration.
        let trip = RouteOutcome::Failure {
            trip: Some(Duration::from_secs(7)),
        };
        assert!(store.record("r", false, trip, cfg).await.is_some());
        assert_eq!(
            store.cooldown("r").await,
            CooldownState::Open {
                remaining: Duration::from_secs(7)
            }
        );
        assert!(store.reset_cooldown("r").await);
        assert_eq!(store.cooldown("r").await, CooldownState::Closed);
    }
}
