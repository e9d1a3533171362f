//! What the router reports: [`RouterEvent`], its snake_case fields and their OpenTelemetry
//! GenAI attribute names, the [`EventSink`] callers provide, and the matching `tracing` events.
//!
//! No event ever carries a key, prompt or completion text, or a provider's error message:
//! only names, labels, kinds, statuses, ids, counts and durations.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use llmward_core::{ErrorKind, Usage};
use serde_json::{Value, json};

use crate::anomaly::{AnomalyAction, AnomalyMetric};

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The route answered.
    Ok,
    /// The attempt failed and the call ended with an error.
    Error,
    /// The attempt failed and the call moved to another route.
    Fallback,
    /// The attempt failed and the call retried the same route.
    Retry,
    /// The caller dropped the call while the attempt was in flight.
    Cancelled,
}

impl Outcome {
    /// `"ok"`, `"error"`, `"fallback"`, `"retry"` or `"cancelled"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Fallback => "fallback",
            Outcome::Retry => "retry",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Why a call (or, with `route` set, one route) refused a request before sending it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalReason {
    /// The request named a model (alias) the router does not serve.
    UnknownModel,
    /// A budget would be exceeded.
    Budget,
    /// `max_tokens` is above the router's ceiling and the router refuses such requests.
    MaxTokensCeiling,
    /// An anomaly locked the route or the router.
    AnomalyLock,
}

impl RefusalReason {
    /// The reason in snake_case.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::UnknownModel => "unknown_model",
            RefusalReason::Budget => "budget",
            RefusalReason::MaxTokensCeiling => "max_tokens_ceiling",
            RefusalReason::AnomalyLock => "anomaly_lock",
        }
    }
}

/// One attempt on one route.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AttemptEvent {
    /// The router's id for the call (unique per call; every attempt of a call shares it).
    /// `request_id` is the provider's id, as everywhere else in llmward.
    pub call_id: String,
    /// The model the caller asked for (the router alias).
    pub alias: String,
    /// The route's name.
    pub route: String,
    /// The route's provider ([`Provider::name`](llmward_core::Provider::name)).
    pub provider: String,
    /// The model sent to the provider.
    pub model: String,
    /// The model that answered, as the provider reported it.
    pub response_model: Option<String>,
    /// The provider's id for the answer.
    pub response_id: Option<String>,
    /// Why the model stopped (`stop`, `length`, `tool_calls`, ...).
    pub finish_reason: Option<String>,
    /// The label of the key used ([`Provider::key_label`](llmward_core::Provider::key_label)).
    pub key_label: Option<String>,
    /// The caller's tags.
    pub tags: BTreeMap<String, String>,
    /// The attempt's number within the call, from 1.
    pub attempt: u32,
    /// The attempt's number on this route within the call, from 1.
    pub route_attempt: u32,
    /// Whether the call streams.
    pub stream: bool,
    /// How it ended.
    pub outcome: Outcome,
    /// The error's kind, when it failed.
    pub error_kind: Option<ErrorKind>,
    /// The HTTP status, when the provider answered with an error.
    pub status: Option<u16>,
    /// The provider's request id.
    pub request_id: Option<String>,
    /// From sending to the answer (for streams: to the end of the stream, or the failure).
    pub latency: Duration,
    /// For streams: from sending to the first content.
    pub time_to_first_token: Option<Duration>,
    /// Tokens billed.
    pub usage: Option<Usage>,
    /// Cost in US dollars, from the route's price and the usage.
    pub cost_usd: Option<f64>,
    /// For a retry: how long the router waits before it.
    pub retry_in: Option<Duration>,
}

/// Something the router did or saw. Sinks receive them in order; see [`RouterEvent::fields`]
/// for a flat view and [`RouterEvent::otel_attributes`] for OpenTelemetry names.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RouterEvent {
    /// An attempt ended (boxed: it is much larger than the other events).
    Attempt(Box<AttemptEvent>),
    /// A route left rotation (circuit breaker opened).
    #[non_exhaustive]
    CooldownEntered {
        /// The route.
        route: String,
        /// How long it stays out before a probe.
        cooldown: Duration,
        /// The failure that opened it.
        error_kind: Option<ErrorKind>,
        /// Its HTTP status.
        status: Option<u16>,
    },
    /// A route came back into rotation (its probe succeeded, or it was reset).
    #[non_exhaustive]
    CooldownLeft {
        /// The route.
        route: String,
        /// Whether [`Router::reset_cooldown`](crate::Router::reset_cooldown) did it.
        reset: bool,
    },
    /// A budget passed 50%, 80% or 100% of its limit (once per window per threshold).
    #[non_exhaustive]
    BudgetThreshold {
        /// The budget's name.
        budget: String,
        /// 50, 80 or 100.
        percent: u8,
        /// Settled plus reserved when it crossed.
        used: u64,
        /// Its limit.
        limit: u64,
    },
    /// A request was refused before anything was sent (with `route`: that route was skipped).
    #[non_exhaustive]
    Refused {
        /// The call's id.
        call_id: String,
        /// The model the caller asked for.
        alias: String,
        /// The caller's tags.
        tags: BTreeMap<String, String>,
        /// Why.
        reason: RefusalReason,
        /// The error kind the caller gets if nothing else serves the call.
        error_kind: ErrorKind,
        /// The budget that refused, for budget refusals.
        budget: Option<String>,
        /// The route skipped, when only one route refused.
        route: Option<String>,
    },
    /// A route's rate passed a multiple of its baseline.
    #[non_exhaustive]
    Anomaly {
        /// The route.
        route: String,
        /// Which rate.
        metric: AnomalyMetric,
        /// This minute's count so far.
        current: u64,
        /// The baseline per minute.
        baseline: f64,
        /// What the router did about it.
        action: AnomalyAction,
    },
}

fn secs(d: Duration) -> Value {
    json!(d.as_secs_f64())
}

fn push_opt<T: Into<Value>>(
    out: &mut Vec<(&'static str, Value)>,
    name: &'static str,
    v: Option<T>,
) {
    if let Some(v) = v {
        out.push((name, v.into()));
    }
}

fn tags_value(tags: &BTreeMap<String, String>) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Fields whose values are durations in seconds (Display adds an `s`).
const DURATION_FIELDS: [&str; 4] = ["latency", "time_to_first_token", "retry_in", "cooldown"];

impl RouterEvent {
    /// The event's name: `attempt`, `cooldown_entered`, `cooldown_left`, `budget_threshold`,
    /// `refused` or `anomaly`.
    pub fn name(&self) -> &'static str {
        match self {
            RouterEvent::Attempt(_) => "attempt",
            RouterEvent::CooldownEntered { .. } => "cooldown_entered",
            RouterEvent::CooldownLeft { .. } => "cooldown_left",
            RouterEvent::BudgetThreshold { .. } => "budget_threshold",
            RouterEvent::Refused { .. } => "refused",
            RouterEvent::Anomaly { .. } => "anomaly",
        }
    }

    /// The call's id, for events about one call.
    pub fn call_id(&self) -> Option<&str> {
        match self {
            RouterEvent::Attempt(a) => Some(&a.call_id),
            RouterEvent::Refused { call_id, .. } => Some(call_id),
            _ => None,
        }
    }

    /// The route, for events about one route.
    pub fn route(&self) -> Option<&str> {
        match self {
            RouterEvent::Attempt(a) => Some(&a.route),
            RouterEvent::CooldownEntered { route, .. }
            | RouterEvent::CooldownLeft { route, .. }
            | RouterEvent::Anomaly { route, .. } => Some(route),
            RouterEvent::Refused { route, .. } => route.as_deref(),
            RouterEvent::BudgetThreshold { .. } => None,
        }
    }

    /// The event as `(field, value)` pairs, named after the Rust fields in snake_case (first
    /// `event`, the [name](Self::name)); absent values are left out, [`Usage`] is flattened to
    /// its fields, durations are seconds, error kinds and enums their snake_case names, `tags`
    /// a JSON object.
    pub fn fields(&self) -> Vec<(&'static str, Value)> {
        let mut out: Vec<(&'static str, Value)> = vec![("event", json!(self.name()))];
        match self {
            RouterEvent::Attempt(a) => {
                out.push(("call_id", json!(a.call_id)));
                out.push(("alias", json!(a.alias)));
                out.push(("route", json!(a.route)));
                out.push(("provider", json!(a.provider)));
                out.push(("model", json!(a.model)));
                push_opt(&mut out, "response_model", a.response_model.clone());
                push_opt(&mut out, "response_id", a.response_id.clone());
                push_opt(&mut out, "finish_reason", a.finish_reason.clone());
                push_opt(&mut out, "key_label", a.key_label.clone());
                if !a.tags.is_empty() {
                    out.push(("tags", tags_value(&a.tags)));
                }
                out.push(("attempt", json!(a.attempt)));
                out.push(("route_attempt", json!(a.route_attempt)));
                out.push(("stream", json!(a.stream)));
                out.push(("outcome", json!(a.outcome.as_str())));
                push_opt(&mut out, "error_kind", a.error_kind.map(ErrorKind::as_str));
                push_opt(&mut out, "status", a.status);
                push_opt(&mut out, "request_id", a.request_id.clone());
                out.push(("latency", secs(a.latency)));
                push_opt(
                    &mut out,
                    "time_to_first_token",
                    a.time_to_first_token.map(secs),
                );
                if let Some(u) = a.usage {
                    out.push(("input_tokens", json!(u.input_tokens)));
                    out.push(("output_tokens", json!(u.output_tokens)));
                    out.push(("cached_input_tokens", json!(u.cached_input_tokens)));
                    out.push(("cache_write_tokens", json!(u.cache_write_tokens)));
                    out.push(("reasoning_tokens", json!(u.reasoning_tokens)));
                }
                push_opt(&mut out, "cost_usd", a.cost_usd);
                push_opt(&mut out, "retry_in", a.retry_in.map(secs));
            }
            RouterEvent::CooldownEntered {
                route,
                cooldown,
                error_kind,
                status,
            } => {
                out.push(("route", json!(route)));
                out.push(("cooldown", secs(*cooldown)));
                push_opt(&mut out, "error_kind", error_kind.map(ErrorKind::as_str));
                push_opt(&mut out, "status", *status);
            }
            RouterEvent::CooldownLeft { route, reset } => {
                out.push(("route", json!(route)));
                out.push(("reset", json!(reset)));
            }
            RouterEvent::BudgetThreshold {
                budget,
                percent,
                used,
                limit,
            } => {
                out.push(("budget", json!(budget)));
                out.push(("percent", json!(percent)));
                out.push(("used", json!(used)));
                out.push(("limit", json!(limit)));
            }
            RouterEvent::Refused {
                call_id,
                alias,
                tags,
                reason,
                error_kind,
                budget,
                route,
            } => {
                out.push(("call_id", json!(call_id)));
                out.push(("alias", json!(alias)));
                if !tags.is_empty() {
                    out.push(("tags", tags_value(tags)));
                }
                out.push(("reason", json!(reason.as_str())));
                out.push(("error_kind", json!(error_kind.as_str())));
                push_opt(&mut out, "budget", budget.clone());
                push_opt(&mut out, "route", route.clone());
            }
            RouterEvent::Anomaly {
                route,
                metric,
                current,
                baseline,
                action,
            } => {
                out.push(("route", json!(route)));
                out.push(("metric", json!(metric.as_str())));
                out.push(("current", json!(current)));
                out.push(("baseline", json!(baseline)));
                out.push(("action", json!(anomaly_action_str(*action))));
            }
        }
        out
    }

    /// The event's fields under OpenTelemetry GenAI attribute names ([`otel_name`]), plus
    /// `gen_ai.operation.name = "chat"` for attempts. Tags become `llmward.tag.<key>`;
    /// `finish_reason` becomes the one-element array `gen_ai.response.finish_reasons`.
    pub fn otel_attributes(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if let RouterEvent::Attempt(_) = self {
            out.push(("gen_ai.operation.name".to_owned(), json!("chat")));
        }
        for (field, value) in self.fields() {
            match (field, value) {
                ("tags", Value::Object(tags)) => {
                    for (k, v) in tags {
                        out.push((format!("llmward.tag.{k}"), v));
                    }
                }
                ("finish_reason", v) => {
                    out.push(("gen_ai.response.finish_reasons".to_owned(), json!([v])));
                }
                (field, v) => {
                    let name =
                        otel_name(field).map_or_else(|| format!("llmward.{field}"), str::to_owned);
                    out.push((name, v));
                }
            }
        }
        out
    }
}

fn anomaly_action_str(action: AnomalyAction) -> &'static str {
    match action {
        AnomalyAction::Observe => "observe",
        AnomalyAction::LockRoute => "lock_route",
        AnomalyAction::LockRouter => "lock_router",
    }
}

/// The OpenTelemetry attribute name of an event field: GenAI semantic-convention names where
/// one exists (`model` → `gen_ai.request.model`, `input_tokens` →
/// `gen_ai.usage.input_tokens`, `provider` → `gen_ai.provider.name`, `error_kind` →
/// `error.type`, ...), otherwise `llmward.<field>`. `None` for a field no event has.
pub fn otel_name(field: &str) -> Option<&'static str> {
    Some(match field {
        "event" => "llmward.event",
        "call_id" => "llmward.call_id",
        "alias" => "llmward.alias",
        "route" => "llmward.route",
        "provider" => "gen_ai.provider.name",
        "model" => "gen_ai.request.model",
        "response_model" => "gen_ai.response.model",
        "response_id" => "gen_ai.response.id",
        "finish_reason" => "gen_ai.response.finish_reasons",
        "key_label" => "llmward.key_label",
        "tags" => "llmward.tag",
        "attempt" => "llmward.attempt",
        "route_attempt" => "llmward.route_attempt",
        "stream" => "llmward.stream",
        "outcome" => "llmward.outcome",
        "error_kind" => "error.type",
        "status" => "http.response.status_code",
        "request_id" => "llmward.request_id",
        "latency" => "llmward.latency",
        "time_to_first_token" => "llmward.time_to_first_token",
        "input_tokens" => "gen_ai.usage.input_tokens",
        "output_tokens" => "gen_ai.usage.output_tokens",
        "cached_input_tokens" => "gen_ai.usage.cache_read.input_tokens",
        "cache_write_tokens" => "gen_ai.usage.cache_creation.input_tokens",
        "reasoning_tokens" => "llmward.usage.reasoning_tokens",
        "cost_usd" => "llmward.cost_usd",
        "retry_in" => "llmward.retry_in",
        "cooldown" => "llmward.cooldown",
        "reset" => "llmward.reset",
        "budget" => "llmward.budget",
        "percent" => "llmward.budget.percent",
        "used" => "llmward.budget.used",
        "limit" => "llmward.budget.limit",
        "reason" => "llmward.reason",
        "metric" => "llmward.anomaly.metric",
        "current" => "llmward.anomaly.current",
        "baseline" => "llmward.anomaly.baseline",
        "action" => "llmward.anomaly.action",
        _ => return None,
    })
}

/// Writes `v` for a one-line display: strings bare unless they need quoting.
fn write_value(f: &mut fmt::Formatter<'_>, v: &Value) -> fmt::Result {
    match v {
        Value::String(s)
            if !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '=')) =>
        {
            f.write_str(s)
        }
        other => write!(f, "{other}"),
    }
}

impl fmt::Display for RouterEvent {
    /// One line: the name, then `field=value` pairs in [`fields`](Self::fields) order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        for (field, value) in self.fields().iter().skip(1) {
            write!(f, " {field}=")?;
            write_value(f, value)?;
            if DURATION_FIELDS.contains(field) {
                f.write_str("s")?;
            }
        }
        Ok(())
    }
}

/// Receives the router's events. Called inline, in order, on the task making the call: keep it
/// quick and never block (hand events to a bounded queue if they go somewhere slow).
///
/// Any `Fn(&RouterEvent) + Send + Sync` closure is a sink.
pub trait EventSink: Send + Sync {
    /// Handles one event.
    fn emit(&self, event: &RouterEvent);
}

impl<F: Fn(&RouterEvent) + Send + Sync> EventSink for F {
    fn emit(&self, event: &RouterEvent) {
        self(event);
    }
}

/// The `tracing` target of every router event.
pub const TRACING_TARGET: &str = "llmward::router";

macro_rules! trace_at {
    ($level:expr, $event:expr) => {
        tracing::event!(
            target: "llmward::router",
            $level,
            event = $event.name(),
            call_id = $event.call_id(),
            route = $event.route(),
            "{}",
            $event
        )
    };
}

/// Emits `event` as a `tracing` event (target `llmward::router`): failures and refusals at
/// WARN, the rest at INFO (successful attempts at DEBUG).
pub(crate) fn trace(event: &RouterEvent) {
    use tracing::Level;
    let warn = match event {
        RouterEvent::Attempt(a) => match a.outcome {
            Outcome::Ok => {
                trace_at!(Level::DEBUG, event);
                return;
            }
            Outcome::Cancelled => false,
            _ => true,
        },
        RouterEvent::CooldownEntered { .. }
        | RouterEvent::Refused { .. }
        | RouterEvent::Anomaly { .. } => true,
        RouterEvent::BudgetThreshold { percent, .. } => *percent >= 100,
        RouterEvent::CooldownLeft { .. } => false,
    };
    if warn {
        trace_at!(Level::WARN, event);
    } else {
        trace_at!(Level::INFO, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt() -> AttemptEvent {
        AttemptEvent {
            call_id: "kw-1".into(),
            alias: "default".into(),
            route: "primary".into(),
            provider: "openai".into(),
            model: "gpt-4.1-mini".into(),
            response_model: Some("gpt-4.1-mini-2025-04-14".into()),
            response_id: None,
            finish_reason: Some("stop".into()),
            key_label: Some("prod".into()),
            tags: BTreeMap::from([("tenant".to_owned(), "acme corp".to_owned())]),
            attempt: 2,
            route_attempt: 1,
            stream: false,
            outcome: Outcome::Ok,
            error_kind: None,
            status: None,
            request_id: Some("req_1".into()),
            latency: Duration::from_millis(1500),
            time_to_first_token: None,
            usage: Some(Usage::new(10, 20)),
            cost_usd: Some(0.5),
            retry_in: None,
        }
    }

    #[test]
    fn display_is_one_line_of_fields() {
        let e = RouterEvent::Attempt(Box::new(attempt()));
        let line = e.to_string();
        assert!(!line.contains('\n'));
        assert!(line.starts_with("attempt call_id=kw-1 alias=default route=primary"));
        assert!(line.contains(" tags={\"tenant\":\"acme corp\"}"));
        assert!(line.contains(" latency=1.5s"));
        assert!(line.contains(" outcome=ok"));
        assert!(!line.contains("response_id"));
    }

    #[test]
    fn otel_names() {
        let attrs = RouterEvent::Attempt(Box::new(attempt())).otel_attributes();
        let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("gen_ai.operation.name"), Some(json!("chat")));
        assert_eq!(get("gen_ai.request.model"), Some(json!("gpt-4.1-mini")));
        assert_eq!(
            get("gen_ai.response.model"),
            Some(json!("gpt-4.1-mini-2025-04-14"))
        );
        assert_eq!(get("gen_ai.usage.input_tokens"), Some(json!(10)));
        assert_eq!(get("gen_ai.usage.output_tokens"), Some(json!(20)));
        assert_eq!(get("gen_ai.provider.name"), Some(json!("openai")));
        assert_eq!(get("gen_ai.response.finish_reasons"), Some(json!(["stop"])));
        assert_eq!(get("llmward.tag.tenant"), Some(json!("acme corp")));
        assert_eq!(get("llmward.route"), Some(json!("primary")));
        // Every field of every event has a name.
        for (field, _) in RouterEvent::Attempt(Box::new(attempt())).fields() {
            assert!(otel_name(field).is_some(), "{field}");
        }
        let mut failed = attempt();
        failed.error_kind = Some(ErrorKind::RateLimited);
        let attrs = RouterEvent::Attempt(Box::new(failed)).otel_attributes();
        assert!(attrs.contains(&("error.type".to_owned(), json!("rate_limited"))));
    }
}
