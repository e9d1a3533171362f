//! The retry/fallback decision: a small pure type, separate from the loop that acts on it (the
//! shape of tower's `retry::Policy`).
//!
//! [`RetryPolicy::decide`] answers one question — *this attempt failed; what now?* — from the
//! error's kind and Retry-After, the attempts already made on the route, the healthy
//! alternatives and the time left. It performs no I/O, reads no clock and keeps no state, so
//! every branch is tested directly.

use std::time::Duration;

use llmward_core::{Error, ErrorKind};

/// The retry and fallback settings of a router.
///
/// ```
/// use std::time::Duration;
/// use llmward_router::RetryPolicy;
///
/// let policy = RetryPolicy::default().max_attempts_per_route(5).base_delay(Duration::from_millis(100));
/// assert_eq!(policy.max_attempts(), 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    retry_after_cap: Duration,
    fallback_on_content_filter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            retry_after_cap: Duration::from_secs(30),
            fallback_on_content_filter: false,
        }
    }
}

/// What failed, as far as the decision is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The error's kind.
    pub kind: ErrorKind,
    /// How long the provider asked to wait, if it said.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure of `kind` with an optional Retry-After.
    pub fn new(kind: ErrorKind, retry_after: Option<Duration>) -> Self {
        Self { kind, retry_after }
    }

    /// The failure `error` describes.
    pub fn of(error: &Error) -> Self {
        Self::new(error.kind(), error.retry_after())
    }
}

/// Another route the call could move to, in the router's order of preference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Alternative {
    /// The route's context window in tokens, when configured.
    pub context_window: Option<u64>,
    /// How long until it may be tried: zero when healthy now; the rest of the Retry-After it
    /// gave this call otherwise.
    pub wait: Duration,
}

impl Alternative {
    /// A route healthy now, with an optional context window.
    pub fn new(context_window: Option<u64>) -> Self {
        Self {
            context_window,
            wait: Duration::ZERO,
        }
    }

    /// The same route, available only after `wait`.
    #[must_use]
    pub fn after(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }
}

/// Where the call stands when an attempt failed.
#[derive(Clone, Copy, Debug)]
pub struct Situation<'a> {
    /// Attempts made on the failing route in this call, the failed one included.
    pub route_attempts: u32,
    /// Whether the failing route may be tried again at all (false when it is cooling down or
    /// was refused admission).
    pub same_route_available: bool,
    /// The failing route's context window, when configured.
    pub context_window: Option<u64>,
    /// Other routes that can serve the request (now, or after a wait), best first.
    pub alternatives: &'a [Alternative],
    /// Time left before the call's deadline.
    pub remaining: Duration,
}

impl<'a> Situation<'a> {
    /// `route_attempts` made, `remaining` time left, no alternatives, the same route available.
    pub fn new(route_attempts: u32, remaining: Duration) -> Self {
        Self {
            route_attempts,
            same_route_available: true,
            context_window: None,
            alternatives: &[],
            remaining,
        }
    }

    /// Sets the healthy alternatives, best first.
    #[must_use]
    pub fn alternatives(mut self, alternatives: &'a [Alternative]) -> Self {
        self.alternatives = alternatives;
        self
    }

    /// Sets the failing route's context window.
    #[must_use]
    pub fn context_window(mut self, window: Option<u64>) -> Self {
        self.context_window = window;
        self
    }

    /// Sets whether the failing route may be tried again.
    #[must_use]
    pub fn same_route_available(mut self, available: bool) -> Self {
        self.same_route_available = available;
        self
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Give this error to the caller now: it is not the router's business (step 1), or nothing
    /// may be done about it (a content filter the router is not told to route around).
    Return,
    /// Retry the same route at once, with no timer (step 2).
    RetryNow,
    /// Move at once to `alternatives[i]` (step 3).
    MoveTo(usize),
    /// Wait this long, then retry the same route (step 4).
    RetryAfter(Duration),
    /// Wait this long, then move to `alternatives[i]`, whose Retry-After ends first (step 4,
    /// when the same route cannot be retried sooner).
    MoveAfter(usize, Duration),
    /// No route can serve the request any more: fail with the most informative error.
    GiveUp,
    /// The wait needed would end after the call's deadline: fail with `Timeout` now.
    DeadlineExceeded,
}

impl RetryPolicy {
    /// Attempts per route within one call. Defaults to 3. Values below 1 count as 1.
    #[must_use]
    pub fn max_attempts_per_route(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first backoff ceiling; it doubles per attempt. Defaults to 250 ms.
    #[must_use]
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The largest backoff ceiling. Defaults to 8 s.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The longest Retry-After honoured; a longer one gives up on the route. Defaults to 30 s.
    #[must_use]
    pub fn retry_after_cap(mut self, cap: Duration) -> Self {
        self.retry_after_cap = cap;
        self
    }

    /// Whether a `ContentFiltered` error moves on to another route. Defaults to false: the
    /// error is returned at once.
    #[must_use]
    pub fn fallback_on_content_filter(mut self, fallback: bool) -> Self {
        self.fallback_on_content_filter = fallback;
        self
    }

    /// Attempts per route within one call.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The longest Retry-After honoured.
    pub fn retry_after_limit(&self) -> Duration {
        self.retry_after_cap
    }

    /// Whether `ContentFiltered` moves on to another route.
    pub fn falls_back_on_content_filter(&self) -> bool {
        self.fallback_on_content_filter
    }

    /// Decides what follows a failed attempt. The procedure, in order:
    ///
    /// 1. InvalidRequest, BudgetExceeded, Config, Cancelled: [`Decision::Return`]. So is
    ///    ContentFiltered unless [`fallback_on_content_filter`](Self::fallback_on_content_filter).
    /// 2. A kind retryable on the same route ([`ErrorKind::is_retryable`]) whose wait is zero
    ///    (`retry_after == Some(0)`), with attempts left: [`Decision::RetryNow`].
    /// 3. An alternative healthy now that can serve the request: [`Decision::MoveTo`] the
    ///    first one. ContextLengthExceeded only moves to a route whose known window is larger
    ///    than the failing route's known window.
    /// 4. Otherwise wait, for whichever is ready first: the same route (a retryable kind with
    ///    attempts left) after its Retry-After — a longer one than the cap gives up on it — or a
    ///    backoff with full jitter ([`Decision::RetryAfter`]); or an alternative that gave this
    ///    call a Retry-After within the cap ([`Decision::MoveAfter`]). A wait that would
    ///    outlast the deadline is [`Decision::DeadlineExceeded`].
    /// 5. Otherwise [`Decision::GiveUp`].
    ///
    /// `jitter` gives 64 uniformly random bits when a backoff needs them (and only then).
    pub fn decide(
        &self,
        failure: Failure,
        situation: &Situation<'_>,
        jitter: &mut dyn FnMut() -> u64,
    ) -> Decision {
        let kind = failure.kind;
        if is_callers_business(kind)
            || (kind == ErrorKind::ContentFiltered && !self.fallback_on_content_filter)
        {
            return Decision::Return;
        }
        let same = kind.is_retryable()
            && situation.same_route_available
            && situation.route_attempts < self.max_attempts;
        if same && failure.retry_after == Some(Duration::ZERO) {
            return Decision::RetryNow;
        }
        let eligible = |a: &Alternative| match kind {
            ErrorKind::ContextLengthExceeded => {
                match (situation.context_window, a.context_window) {
                    (Some(failing), Some(w)) => w > failing,
                    _ => false,
                }
            }
            _ => true,
        };
        let alternatives = situation.alternatives.iter().enumerate();
        if let Some((i, _)) = alternatives
            .clone()
            .find(|(_, a)| a.wait.is_zero() && eligible(a))
        {
            return Decision::MoveTo(i);
        }
        let same_wait = match failure.retry_after {
            _ if !same => None,
            Some(wait) if wait > self.retry_after_cap => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(situation.route_attempts, jitter())),
        };
        let later = alternatives
            .filter(|(_, a)| a.wait <= self.retry_after_cap && eligible(a))
            .min_by_key(|(_, a)| a.wait);
        let (decision, wait) = match (same_wait, later) {
            (Some(s), Some((i, a))) if a.wait < s => (Decision::MoveAfter(i, a.wait), a.wait),
            (Some(s), _) => (Decision::RetryAfter(s), s),
            (None, Some((i, a))) => (Decision::MoveAfter(i, a.wait), a.wait),
            (None, None) => return Decision::GiveUp,
        };
        if wait >= situation.remaining {
            Decision::DeadlineExceeded
        } else {
            decision
        }
    }

    /// The wait before retry number `attempt` (1 after the first failure): a uniform draw from
    /// `[0, min(max_delay, base_delay * 2^(attempt-1))]` (exponential backoff, full jitter),
    /// `jitter` being 64 uniformly random bits the caller drew.
    pub fn backoff(&self, attempt: u32, jitter: u64) -> Duration {
        let ceiling = self.backoff_ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        // Multiply-high maps the 64 bits onto 0..=nanos without a modulo's bias.
        let span = u128::from(nanos) + 1;
        Duration::from_nanos(((u128::from(jitter) * span) >> 64) as u64)
    }

    /// `min(max_delay, base_delay * 2^(attempt-1))`, saturating.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(64);
        let factor = 1u128.checked_shl(exp).unwrap_or(u128::MAX);
        let nanos = self.base_delay.as_nanos().saturating_mul(factor);
        let max = self.max_delay.as_nanos();
        let capped = u64::try_from(nanos.min(max)).unwrap_or(u64::MAX);
        Duration::from_nanos(capped)
    }
}

/// Kinds a router never retries nor routes around: they are about the request or the caller.
pub(crate) fn is_callers_business(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidRequest
            | ErrorKind::BudgetExceeded
            | ErrorKind::Config
            | ErrorKind::Cancelled
    )
}

/// How informative a final error's kind is to the caller; lower wins. Kinds that waiting fixes
/// come first (the caller can retry later), then route configuration problems, then problems
/// with the request itself. See [`most_informative`].
pub fn precedence(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::RateLimited => 0,
        ErrorKind::Overloaded => 1,
        ErrorKind::Server => 2,
        ErrorKind::Timeout => 3,
        ErrorKind::Connect => 4,
        ErrorKind::StreamTruncated => 5,
        ErrorKind::ModelOutput => 6,
        ErrorKind::QuotaExceeded => 7,
        ErrorKind::Auth => 8,
        ErrorKind::PermissionDenied => 9,
        ErrorKind::NotFound => 10,
        ErrorKind::ContextLengthExceeded => 11,
        ErrorKind::ContentFiltered => 12,
        ErrorKind::Unsupported => 13,
        ErrorKind::ResponseTooLarge => 14,
        ErrorKind::Protocol => 15,
        ErrorKind::Redirected => 16,
        _ => 17,
    }
}

/// Picks the error a failed call reports, from the failures in attempt order: the lowest
/// [`precedence`]; within a kind, the shortest Retry-After (one with a Retry-After beats one
/// without); then the latest attempt.
pub fn most_informative(failures: &[Failure]) -> Option<usize> {
    let key = |f: &Failure| (precedence(f.kind), f.retry_after.unwrap_or(Duration::MAX));
    let mut best: Option<usize> = None;
    for (i, f) in failures.iter().enumerate() {
        let better = match best.and_then(|b| failures.get(b)) {
            None => true,
            Some(current) => key(f) <= key(current),
        };
        if better {
            best = Some(i);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::rng::SplitMix64;

    const MIN: Duration = Duration::from_secs(60);

    fn rng() -> SplitMix64 {
        SplitMix64::new(1)
    }

    fn decide(kind: ErrorKind, ra: Option<Duration>, situation: Situation<'_>) -> Decision {
        RetryPolicy::default().decide(Failure::new(kind, ra), &situation, &mut || rng().next_u64())
    }

    const ONE: [Alternative; 1] = [Alternative {
        context_window: None,
        wait: Duration::ZERO,
    }];

    #[test]
    fn callers_business_returns_at_once_even_with_alternatives() {
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::BudgetExceeded,
            ErrorKind::Config,
            ErrorKind::Cancelled,
        ] {
            let s = Situation::new(1, MIN).alternatives(&ONE);
            assert_eq!(
                decide(kind, Some(Duration::ZERO), s),
                Decision::Return,
                "{kind}"
            );
        }
    }

    #[test]
    fn zero_wait_retries_the_same_route_at_once_even_with_alternatives() {
        for kind in ErrorKind::ALL.into_iter().filter(|k| k.is_retryable()) {
            let s = Situation::new(1, MIN).alternatives(&ONE);
            assert_eq!(
                decide(kind, Some(Duration::ZERO), s),
                Decision::RetryNow,
                "{kind}"
            );
        }
        // Not once the route's attempts are spent: then it moves on.
        let s = Situation::new(3, MIN).alternatives(&ONE);
        assert_eq!(
            decide(ErrorKind::RateLimited, Some(Duration::ZERO), s),
            Decision::MoveTo(0)
        );
        // Nor when the route is out of rotation.
        let s = Situation::new(1, MIN).same_route_available(false);
        assert_eq!(
            decide(ErrorKind::RateLimited, Some(Duration::ZERO), s),
            Decision::GiveUp
        );
    }

    #[test]
    fn never_retried_on_the_same_route() {
        for kind in [
            ErrorKind::Auth,
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::QuotaExceeded,
            ErrorKind::InvalidRequest,
            ErrorKind::ContextLengthExceeded,
        ] {
            for ra in [None, Some(Duration::ZERO), Some(Duration::from_secs(1))] {
                let d = decide(kind, ra, Situation::new(1, MIN));
                assert!(
                    matches!(d, Decision::Return | Decision::GiveUp),
                    "{kind} {ra:?}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn route_problems_move_on() {
        for kind in [
            ErrorKind::Auth,
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::QuotaExceeded,
            ErrorKind::ModelOutput,
            ErrorKind::RateLimited,
            ErrorKind::Overloaded,
            ErrorKind::Server,
            ErrorKind::Timeout,
            ErrorKind::Connect,
            ErrorKind::StreamTruncated,
            ErrorKind::Protocol,
            ErrorKind::ResponseTooLarge,
            ErrorKind::Redirected,
            ErrorKind::Unsupported,
        ] {
            let s = Situation::new(1, MIN).alternatives(&ONE);
            assert_eq!(decide(kind, None, s), Decision::MoveTo(0), "{kind}");
        }
    }

    #[test]
    fn context_length_moves_only_to_a_larger_window() {
        let alts = [
            Alternative::new(None),
            Alternative::new(Some(8_000)),
            Alternative::new(Some(128_000)),
            Alternative::new(Some(200_000)),
        ];
        let cle = ErrorKind::ContextLengthExceeded;
        let s = Situation::new(1, MIN)
            .alternatives(&alts)
            .context_window(Some(8_000));
        assert_eq!(decide(cle, None, s), Decision::MoveTo(2));
        let s = Situation::new(1, MIN)
            .alternatives(&alts)
            .context_window(Some(200_000));
        assert_eq!(decide(cle, None, s), Decision::GiveUp);
        // An unknown window is never known to be larger, nor smaller.
        let s = Situation::new(1, MIN).alternatives(&alts);
        assert_eq!(decide(cle, None, s), Decision::GiveUp);
    }

    #[test]
    fn content_filter_falls_back_only_when_told() {
        let s = Situation::new(1, MIN).alternatives(&ONE);
        assert_eq!(
            decide(ErrorKind::ContentFiltered, None, s),
            Decision::Return
        );
        let policy = RetryPolicy::default().fallback_on_content_filter(true);
        let d = policy.decide(
            Failure::new(ErrorKind::ContentFiltered, None),
            &s,
            &mut || rng().next_u64(),
        );
        assert_eq!(d, Decision::MoveTo(0));
        let d = policy.decide(
            Failure::new(ErrorKind::ContentFiltered, None),
            &Situation::new(1, MIN),
            &mut || rng().next_u64(),
        );
        assert_eq!(d, Decision::GiveUp);
    }

    #[test]
    fn retry_after_honoured_up_to_the_cap() {
        let s = Situation::new(1, MIN);
        let ra = Duration::from_secs(30);
        assert_eq!(
            decide(ErrorKind::RateLimited, Some(ra), s),
            Decision::RetryAfter(ra)
        );
        assert_eq!(
            decide(
                ErrorKind::RateLimited,
                Some(ra + Duration::from_millis(1)),
                s
            ),
            Decision::GiveUp
        );
        // The wait must fit in the deadline.
        let short = Situation::new(1, Duration::from_secs(5));
        assert_eq!(
            decide(ErrorKind::Overloaded, Some(Duration::from_secs(5)), short),
            Decision::DeadlineExceeded
        );
    }

    #[test]
    fn waits_for_whichever_route_is_ready_first() {
        let later = [Alternative::new(None).after(Duration::from_secs(2))];
        // The same route's Retry-After is longer: wait for the other route.
        let s = Situation::new(1, MIN).alternatives(&later);
        assert_eq!(
            decide(ErrorKind::RateLimited, Some(Duration::from_secs(5)), s),
            Decision::MoveAfter(0, Duration::from_secs(2))
        );
        // Shorter: retry the same route.
        assert_eq!(
            decide(ErrorKind::RateLimited, Some(Duration::from_secs(1)), s),
            Decision::RetryAfter(Duration::from_secs(1))
        );
        // The same route cannot be retried at all: wait for the other one.
        assert_eq!(
            decide(ErrorKind::Auth, None, s),
            Decision::MoveAfter(0, Duration::from_secs(2))
        );
        // A route healthy now always wins over waiting.
        let mixed = [
            Alternative::new(None).after(Duration::from_secs(2)),
            Alternative::new(None),
        ];
        let s = Situation::new(1, MIN).alternatives(&mixed);
        assert_eq!(decide(ErrorKind::Auth, None, s), Decision::MoveTo(1));
        // Nor beyond the Retry-After cap or the deadline.
        let far = [Alternative::new(None).after(Duration::from_secs(31))];
        let s = Situation::new(1, MIN).alternatives(&far);
        assert_eq!(decide(ErrorKind::Auth, None, s), Decision::GiveUp);
        let s = Situation::new(1, Duration::from_secs(1)).alternatives(&later);
        assert_eq!(decide(ErrorKind::Auth, None, s), Decision::DeadlineExceeded);
    }

    #[test]
    fn attempts_are_bounded() {
        let policy = RetryPolicy::default();
        for n in 1..=5 {
            let d = policy.decide(
                Failure::new(ErrorKind::Server, None),
                &Situation::new(n, MIN),
                &mut || rng().next_u64(),
            );
            if n < 3 {
                assert!(matches!(d, Decision::RetryAfter(_)), "{n}: {d:?}");
            } else {
                assert_eq!(d, Decision::GiveUp, "{n}");
            }
        }
    }

    #[test]
    fn backoff_stays_within_full_jitter_bounds_over_many_seeds() {
        let policy = RetryPolicy::default();
        let base = Duration::from_millis(250);
        let max = Duration::from_secs(8);
        for seed in 0..2_000u64 {
            let mut rng = SplitMix64::new(seed);
            for attempt in 1..=40u32 {
                let d = policy.backoff(attempt, rng.next_u64());
                let ceiling = base
                    .checked_mul(1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX))
                    .unwrap_or(max)
                    .min(max);
                assert!(
                    d <= ceiling,
                    "seed {seed} attempt {attempt}: {d:?} > {ceiling:?}"
                );
                assert_eq!(policy.backoff_ceiling(attempt), ceiling);
            }
        }
    }

    #[test]
    fn backoff_jitter_spreads_over_the_whole_range() {
        let policy = RetryPolicy::default();
        let mut rng = SplitMix64::new(9);
        let draws: Vec<Duration> = (0..1_000)
            .map(|_| policy.backoff(3, rng.next_u64()))
            .collect();
        let ceiling = Duration::from_secs(1);
        assert!(draws.iter().any(|d| *d < ceiling / 10));
        assert!(draws.iter().any(|d| *d > ceiling * 9 / 10));
    }

    #[test]
    fn fallback_order_is_the_given_order_for_every_kind_and_seed() {
        // Property: whatever the seed and the number of alternatives, a kind that moves on picks
        // the first alternative, and a larger-window search picks the first larger window.
        for seed in 0..500u64 {
            let mut g = SplitMix64::new(seed);
            let n = 1 + g.below(6) as usize;
            let alts: Vec<Alternative> = (0..n)
                .map(|_| {
                    Alternative::new(match g.below(3) {
                        0 => None,
                        _ => Some(1_000 * (1 + g.below(200))),
                    })
                })
                .collect();
            let window = Some(1_000 * (1 + g.below(200)));
            let attempts = 1 + g.below(5) as u32;
            let s = Situation::new(attempts, MIN)
                .alternatives(&alts)
                .context_window(window);
            let policy = RetryPolicy::default();
            for kind in ErrorKind::ALL {
                let d = policy.decide(Failure::new(kind, None), &s, &mut || g.next_u64());
                let expected_larger = alts
                    .iter()
                    .position(|a| a.context_window.is_some_and(|w| Some(w) > window));
                match kind {
                    ErrorKind::InvalidRequest
                    | ErrorKind::BudgetExceeded
                    | ErrorKind::Config
                    | ErrorKind::Cancelled
                    | ErrorKind::ContentFiltered => assert_eq!(d, Decision::Return),
                    ErrorKind::ContextLengthExceeded => match expected_larger {
                        Some(i) => assert_eq!(d, Decision::MoveTo(i)),
                        None => assert_eq!(d, Decision::GiveUp),
                    },
                    _ => assert_eq!(d, Decision::MoveTo(0), "{kind}"),
                }
            }
        }
    }

    #[test]
    fn final_error_precedence() {
        let f = |k, ra: Option<u64>| Failure::new(k, ra.map(Duration::from_secs));
        let failures = [
            f(ErrorKind::Auth, None),
            f(ErrorKind::RateLimited, None),
            f(ErrorKind::RateLimited, Some(9)),
            f(ErrorKind::RateLimited, Some(2)),
            f(ErrorKind::Server, None),
        ];
        assert_eq!(most_informative(&failures), Some(3));
        let failures = [f(ErrorKind::NotFound, None), f(ErrorKind::Auth, None)];
        assert_eq!(most_informative(&failures), Some(1));
        // Same kind, same wait: the latest attempt.
        let failures = [f(ErrorKind::Server, None), f(ErrorKind::Server, None)];
        assert_eq!(most_informative(&failures), Some(1));
        assert_eq!(most_informative(&[]), None);
        // Every kind has a distinct rank except the ones that never reach the end.
        let mut ranks: Vec<u8> = ErrorKind::ALL
            .into_iter()
            .filter(|k| !is_callers_business(*k))
            .map(precedence)
            .collect();
        ranks.sort_unstable();
        let n = ranks.len();
        ranks.dedup();
        assert_eq!(ranks.len(), n);
    }
}
