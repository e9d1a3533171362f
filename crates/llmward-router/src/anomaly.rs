//! Anomaly signal: an exponentially weighted per-minute baseline of requests, tokens and errors
//! per route, and an alarm when the current minute passes a multiple of it.

use std::fmt;

/// What to do when an anomaly is seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AnomalyAction {
    /// Emit an [`Anomaly`](crate::RouterEvent::Anomaly) event only (the default).
    #[default]
    Observe,
    /// Also take the route out of rotation until [`Router::reset_anomaly`](crate::Router::reset_anomaly).
    LockRoute,
    /// Also refuse every call (`BudgetExceeded`) until [`Router::reset_anomaly`](crate::Router::reset_anomaly).
    LockRouter,
}

/// Which rate was anomalous.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnomalyMetric {
    /// Attempts sent to the route.
    Requests,
    /// Tokens billed by the route.
    Tokens,
    /// Attempts that failed.
    Errors,
}

impl AnomalyMetric {
    /// `"requests"`, `"tokens"` or `"errors"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyMetric::Requests => "requests",
            AnomalyMetric::Tokens => "tokens",
            AnomalyMetric::Errors => "errors",
        }
    }
}

impl fmt::Display for AnomalyMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings of the anomaly signal.
///
/// ```
/// use llmward_router::{AnomalyAction, AnomalyConfig};
///
/// let config = AnomalyConfig::default().multiple(4.0).action(AnomalyAction::LockRoute);
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AnomalyConfig {
    pub(crate) enabled: bool,
    pub(crate) multiple: f64,
    pub(crate) warmup_minutes: u32,
    pub(crate) smoothing: f64,
    pub(crate) min_requests: u64,
    pub(crate) min_tokens: u64,
    pub(crate) min_errors: u64,
    pub(crate) action: AnomalyAction,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            multiple: 5.0,
            warmup_minutes: 3,
            smoothing: 0.3,
            min_requests: 10,
            min_tokens: 10_000,
            min_errors: 10,
            action: AnomalyAction::Observe,
        }
    }
}

impl AnomalyConfig {
    /// No anomaly signal at all.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// The current minute is anomalous above `multiple` times the baseline. Defaults to 5.
    #[must_use]
    pub fn multiple(mut self, multiple: f64) -> Self {
        self.multiple = multiple;
        self
    }

    /// Whole minutes observed before any alarm. Defaults to 3.
    #[must_use]
    pub fn warmup_minutes(mut self, minutes: u32) -> Self {
        self.warmup_minutes = minutes;
        self
    }

    /// Weight of the newest minute in the baseline (0 to 1). Defaults to 0.3.
    #[must_use]
    pub fn smoothing(mut self, alpha: f64) -> Self {
        self.smoothing = alpha;
        self
    }

    /// Floors under the baseline, so a quiet route does not alarm on its first few requests:
    /// requests, tokens and errors per minute. Default to 10, 10,000 and 10.
    #[must_use]
    pub fn floors(mut self, requests: u64, tokens: u64, errors: u64) -> Self {
        self.min_requests = requests;
        self.min_tokens = tokens;
        self.min_errors = errors;
        self
    }

    /// What an anomaly does. Defaults to [`AnomalyAction::Observe`].
    #[must_use]
    pub fn action(mut self, action: AnomalyAction) -> Self {
        self.action = action;
        self
    }

    fn floor(&self, metric: AnomalyMetric) -> u64 {
        match metric {
            AnomalyMetric::Requests => self.min_requests,
            AnomalyMetric::Tokens => self.min_tokens,
            AnomalyMetric::Errors => self.min_errors,
        }
    }
}

/// An anomalous rate, as detected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Hit {
    pub(crate) metric: AnomalyMetric,
    pub(crate) current: u64,
    pub(crate) baseline: f64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Rate {
    baseline: f64,
    current: u64,
    flagged: bool,
}

/// One route's per-minute rates and baselines.
#[derive(Clone, Debug, Default)]
pub(crate) struct Detector {
    minute: u64,
    closed: u32,
    rates: [Rate; 3],
}

/// Minutes of silence after which catching up stops mattering (the baseline is ~0 by then).
const MAX_CATCH_UP: u64 = 240;

impl Detector {
    fn roll(&mut self, minute: u64, alpha: f64) {
        if minute <= self.minute {
            return;
        }
        let gap = (minute - self.minute).min(MAX_CATCH_UP);
        for _ in 0..gap {
            for rate in &mut self.rates {
                let observed = rate.current as f64;
                rate.baseline = if self.closed == 0 {
                    observed
                } else {
                    alpha * observed + (1.0 - alpha) * rate.baseline
                };
                rate.current = 0;
                rate.flagged = false;
            }
            self.closed = self.closed.saturating_add(1);
        }
        self.minute = minute;
    }

    /// Adds `amount` to `metric` in `minute`; returns a hit the first time in a minute the
    /// rate passes the threshold.
    pub(crate) fn add(
        &mut self,
        config: &AnomalyConfig,
        minute: u64,
        metric: AnomalyMetric,
        amount: u64,
    ) -> Option<Hit> {
        if !config.enabled {
            return None;
        }
        self.roll(minute, config.smoothing);
        let warm = self.closed >= config.warmup_minutes;
        let floor = config.floor(metric) as f64;
        let rate = self.rates.get_mut(metric as usize)?;
        rate.current = rate.current.saturating_add(amount);
        let threshold = config.multiple * rate.baseline.max(floor);
        if warm && !rate.flagged && rate.current as f64 > threshold {
            rate.flagged = true;
            return Some(Hit {
                metric,
                current: rate.current,
                baseline: rate.baseline,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_after_warmup_once_per_minute() {
        let config = AnomalyConfig::default();
        let mut d = Detector::default();
        // Three quiet minutes of 20 requests each (above the floor of 10).
        for minute in 0..3 {
            for _ in 0..20 {
                assert_eq!(d.add(&config, minute, AnomalyMetric::Requests, 1), None);
            }
        }
        // Minute 3: 100 is not above 5 x 20, 101 is.
        for _ in 0..100 {
            assert_eq!(d.add(&config, 3, AnomalyMetric::Requests, 1), None);
        }
        let hit = d.add(&config, 3, AnomalyMetric::Requests, 1);
        assert_eq!(hit.map(|h| h.current), Some(101));
        assert_eq!(d.add(&config, 3, AnomalyMetric::Requests, 1), None);
    }

    #[test]
    fn no_alarm_during_warmup_or_below_the_floor() {
        let config = AnomalyConfig::default();
        let mut d = Detector::default();
        for _ in 0..1_000 {
            assert_eq!(d.add(&config, 0, AnomalyMetric::Errors, 1), None);
        }
        let mut quiet = Detector::default();
        for minute in 0..3 {
            quiet.add(&config, minute, AnomalyMetric::Errors, 0);
        }
        // Baseline 0, floor 10: 50 errors are not above 5 x 10, 51 are.
        assert_eq!(quiet.add(&config, 3, AnomalyMetric::Errors, 50), None);
        assert!(quiet.add(&config, 3, AnomalyMetric::Errors, 1).is_some());
        assert!(!AnomalyConfig::disabled().enabled);
    }
}
