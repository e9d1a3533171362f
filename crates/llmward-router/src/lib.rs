//! llmward's fallback router: one [`Provider`](llmward_core::Provider) in front of many
//! routes. An agent hands it one request; it gets an answer from the first route that can give
//! one — down to an internal, self-hosted route — without retrying what must not be retried,
//! without leaking anything, and without letting a runaway or stolen caller burn money.
//!
//! The router is itself a `Provider`, so a router can be a route of another router.
//!
//! ```
//! use async_trait::async_trait;
//! use llmward_core::{ChatRequest, ChatResponse, ChatStream, ContentPart, Provider, Result, StreamEvent};
//! use llmward_router::{Route, Router};
//!
//! // Any Provider works; real ones come from llmward-openai, llmward-anthropic, ...
//! #[derive(Debug)]
//! struct Canned(&'static str);
//!
//! #[async_trait]
//! impl Provider for Canned {
//!     fn name(&self) -> &str { self.0 }
//!     async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
//!         let mut answer = ChatResponse::new(self.0, request.model.clone());
//!         answer.content.push(ContentPart::Text("Rayleigh scattering.".into()));
//!         Ok(answer)
//!     }
//!     async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
//!         let events = vec![Ok(StreamEvent::TextDelta("Rayleigh scattering.".into()))];
//!         Ok(ChatStream::from_events(self.0, request.model.clone(), events))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let router = Router::builder()
//!     .route(Route::new("primary", Canned("openai"), "gpt-4.1-mini").alias("default"))
//!     .route(Route::new("backup", Canned("anthropic"), "claude-haiku-4-5").alias("default"))
//!     .route(Route::new("internal", Canned("ollama"), "llama3.1:8b").alias("default").tier(1))
//!     .on_event(|event| eprintln!("{event}"))
//!     .seed(7)
//!     .build()?;
//!
//! let request = ChatRequest::builder("default").user("Why is the sky blue?").build()?;
//! let answer = router.chat(&request).await?;
//! assert_eq!(answer.text(), "Rayleigh scattering.");
//!
//! let mut stream = router.chat_stream(&request).await?;
//! while let Some(event) = stream.next().await {
//!     if let StreamEvent::TextDelta(text) = event? { print!("{text}"); }
//! }
//! # Ok::<(), llmward_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Routes and aliases
//!
//! A [`Route`] is a name, a provider, the model to ask it for, and options (aliases, weight,
//! tier, context window, per-attempt timeout, in-flight cap, price, budgets). Requests name an
//! alias; an alias the router does not serve is refused with `InvalidRequest` before anything
//! is sent (the model allowlist). Routes are tried by tier (0 first), and within a tier in a
//! weighted random order, reproducible with [`RouterBuilder::seed`] (or lowest latency first,
//! with [`RouterBuilder::prefer_low_latency`]).
//!
//! # What happens on a failure
//!
//! The decision is a pure function, [`RetryPolicy::decide`]; the loop only acts on it:
//!
//! 1. InvalidRequest, BudgetExceeded, Config, Cancelled: returned at once.
//! 2. A kind retryable on the same route (RateLimited, Overloaded, Server, Timeout, Connect,
//!    ModelOutput; StreamTruncated before any content) whose wait is zero (`Retry-After: 0`):
//!    the same route again at once, with no timer.
//! 3. Otherwise, if another route that can serve the request is healthy (not cooling down,
//!    not at its in-flight cap, within budget, attempts left, and not waiting out a
//!    Retry-After it gave this call): move to it at once. ContextLengthExceeded only moves to
//!    a route with a larger known context window; ContentFiltered only with
//!    [`RouterBuilder::fallback_on_content_filter`] (otherwise it is returned at once).
//! 4. Otherwise, for a retryable kind: wait and retry the same route — the Retry-After up to
//!    its cap (a longer one gives up on the route), else exponential backoff with full
//!    jitter. If another route's Retry-After to this call ends sooner (or the same route
//!    cannot be retried), wait for that route instead. A wait that would outlast the deadline
//!    fails the call with `Timeout` at once.
//!
//! Auth, PermissionDenied, NotFound, QuotaExceeded, InvalidRequest and ContextLengthExceeded
//! are never retried on the same route. Attempts per route are limited (3 by default).
//!
//! When every route failed, the call returns the most informative error ([`precedence`]:
//! RateLimited with the shortest Retry-After, then Overloaded, Server, Timeout, Connect,
//! StreamTruncated, ModelOutput, QuotaExceeded, Auth, PermissionDenied, NotFound,
//! ContextLengthExceeded, ContentFiltered, Unsupported, ResponseTooLarge, Protocol,
//! Redirected), with every attempt listed in [`Error::attempts`](llmward_core::Error::attempts):
//! route, kind, status and provider request id — never a body or a key.
//!
//! # Cooldowns, deadlines, cancellation
//!
//! After 5 consecutive failures, an Auth failure, or a RateLimited with a non-zero Retry-After,
//! a route leaves rotation for the Retry-After or the cooldown (30 s); then one probe request decides
//! (others skip the route while it is in flight): success closes the breaker, failure re-opens
//! it. [`Router::reset_cooldown`] ends a cooldown by hand. While every route of an alias is
//! out of rotation, a call fails at once with `Overloaded` whose `retry_after` is the soonest
//! reopening, rather than queueing behind the cooldown: the caller (or an outer router)
//! decides whether to wait. A breaker that should tolerate a higher fault rate takes a larger
//! [`RouterBuilder::failure_threshold`].
//!
//! A call has one deadline (120 s, or [`ChatRequest::deadline`](llmward_core::ChatRequest::deadline))
//! covering every attempt and wait; each attempt gets the time left as its request deadline and
//! is also cut by a timer. Dropping the call's future or stream stops everything: the library
//! spawns no task, and in-flight counts, reservations and probes are released by guards.
//!
//! # Streaming
//!
//! [`Router::chat_stream`] falls back to the next route until the first event that carries
//! content (text, reasoning, a tool call) has arrived; events before it (role-only chunks,
//! `Started`, `Usage`) are held back and then delivered in order. It covers a stream that fails
//! to start, an error before content, and the first content timing out
//! ([`RouterBuilder::first_token_timeout`]). After content, a failure ends the stream with an
//! error, never silently.
//!
//! # Budgets and guard rails
//!
//! [`Budget`]s limit tokens, requests or cost per window, router-wide, per route or per caller
//! tag. Admission reserves before sending (`max_tokens`, or the ceiling, plus the input
//! estimate) and settles on the usage that arrives, so concurrent requests cannot spend the
//! same remainder. Token and request budgets are reserved once per call; cost budgets per
//! attempt at the route's price, so a free internal route still serves once cloud spend is
//! exhausted. A `max_tokens` ceiling clamps or refuses larger requests. Thresholds (50%,
//! 80%, 100%) and refusals are events. An anomaly signal watches each route's requests, tokens
//! and errors per minute against a baseline and can lock the route or the router until
//! [`Router::reset_anomaly`]. Counters and cooldowns live behind [`StateStore`] (in memory by
//! default). [`Router::health`] and [`Router::budgets`] show the state at any time.
//!
//! # Events
//!
//! Every attempt, cooldown change, budget threshold, refusal and anomaly is a [`RouterEvent`]
//! given to the sinks ([`RouterBuilder::on_event`], [`RouterBuilder::event_sink`]) and emitted as
//! a `tracing` event (target `llmward::router`). [`RouterEvent::fields`] gives snake_case
//! fields; [`RouterEvent::otel_attributes`] their OpenTelemetry GenAI names.
//!
//! # Defaults
//!
//! | setting | default |
//! | --- | --- |
//! | attempts per route | 3 |
//! | backoff base / max | 250 ms / 8 s, full jitter |
//! | Retry-After cap | 30 s |
//! | deadline per call | 120 s |
//! | breaker | 5 consecutive failures, 30 s cooldown, one probe |
//! | first-token timeout | none (the deadline) |
//! | content-filter fallback | off |
//! | route weight / tier | 1 / 0 |
//! | `max_tokens` ceiling | none; output reservation 4,096 tokens when unknown |
//! | anomaly signal | 5x a 3-minute baseline, events only |
//! | state store | [`MemoryStore`] |
//!
//! # Security
//!
//! - The router holds providers, never keys; events show a key's label at most.
//! - No event or trace carries a key, prompt or completion text, or a provider's message.
//! - Budgets, the `max_tokens` ceiling and the alias allowlist are checked before a request
//!   leaves.
#![forbid(unsafe_code)]

mod anomaly;
mod budget;
mod call;
mod event;
pub mod policy;
mod rng;
mod route;
mod router;
mod store;
mod stream;

pub use anomaly::{AnomalyAction, AnomalyConfig, AnomalyMetric};
pub use budget::{Budget, BudgetMetric, BudgetScope, BudgetStatus, Price};
pub use event::{
    AttemptEvent, EventSink, Outcome, RefusalReason, RouterEvent, TRACING_TARGET, otel_name,
};
pub use policy::{RetryPolicy, precedence};
#[doc(hidden)]
pub use rng::SplitMix64;
pub use route::Route;
pub use router::{RouteHealth, Router, RouterBuilder};
pub use store::{
    Admission, BreakerConfig, BudgetUsage, Charge, CooldownChange, CooldownState, Crossing,
    MemoryStore, Reserve, RouteOutcome, StateStore, Ticket,
};
