//! llmward: a minimal, memory-safe, multi-provider LLM client and fallback router.
//!
//! One API for OpenAI, Anthropic, Gemini and OpenAI-compatible servers (including a
//! self-hosted model on an internal network), built for the place that holds every provider
//! key: a small allowlisted dependency tree, keys that stay secret in memory and on the wire,
//! and errors and events that never leak them.
//!
//! A router in front of three providers, falling back from OpenAI to Anthropic and, when both
//! fail, to a self-hosted model on loopback:
//!
//! ```no_run
//! use llmward::{anthropic::Anthropic, openai::OpenAi, ApiKey, ChatRequest, Provider, Route, Router};
//!
//! # async fn demo() -> llmward::Result<()> {
//! let openai = OpenAi::builder().api_key(ApiKey::from_env("OPENAI_API_KEY")?).build()?;
//! let claude = Anthropic::builder().api_key(ApiKey::from_env("ANTHROPIC_API_KEY")?).build()?;
//! let local = OpenAi::compatible("http://127.0.0.1:11434/v1").build()?; // keyless on loopback
//!
//! let router = Router::builder()
//!     .route(Route::new("primary", openai, "gpt-4.1-mini").alias("default"))
//!     .route(Route::new("backup", claude, "claude-haiku-4-5").alias("default"))
//!     .route(Route::new("internal", local, "llama3.1:8b").alias("default").tier(1))
//!     .on_event(|event| eprintln!("{event}"))
//!     .build()?;
//!
//! let request = ChatRequest::builder("default")
//!     .system("Be brief.")
//!     .user("Why is the sky blue?")
//!     .build()?;
//! let answer = router.chat(&request).await?;
//! println!("{} (answered by {})", answer.text(), answer.provider());
//!
//! let mut stream = router.chat_stream(&request).await?;
//! while let Some(event) = stream.next().await {
//!     if let llmward::StreamEvent::TextDelta(text) = event? {
//!         print!("{text}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A provider works on its own too (`openai.chat(&request)`): the router is itself a
//! [`Provider`], so agent code sees one trait and a router can be a route of another router.
//!
//! # How the router decides
//!
//! A request names an alias; the router sends it to the first healthy route of that alias (by
//! tier, then declaration order or weight). Errors the caller must fix are returned at once;
//! a transient error with no wait is retried on the same route at once; otherwise the call
//! moves, without sleeping, to another route that can serve it, and waits (backoff or
//! Retry-After, within one deadline) only when none can. The full rules, cooldowns, stream
//! fallback and budgets: [the router's documentation](router#what-happens-on-a-failure).
//!
//! # Features
//!
//! | feature | what | default |
//! | --- | --- | --- |
//! | `openai` | OpenAI, Azure OpenAI, OpenAI-compatible servers ([`openai`]) | on |
//! | `anthropic` | Anthropic Messages ([`anthropic`]) | on |
//! | `gemini` | Google Gemini, Developer API and Vertex AI ([`gemini`]) | on |
//! | `http2` | HTTP/2 to providers (adds 7 crates) | off |
//!
//! # Security
//!
//! See the crate README and `SECURITY.md`: keys are [`ApiKey`]s (wiped on drop, never
//! printed), sent only as sensitive headers to the configured base URL, never over plain HTTP
//! off loopback unless explicitly allowed, never after a redirect.
#![forbid(unsafe_code)]

pub use llmward_core::{
    Aggregator, ApiKey, AttemptFailure, AuthScheme, CacheBreakpoint, ChatRequest,
    ChatRequestBuilder, ChatResponse, ChatStream, ContentPart, EmbedRequest, EmbedResponse, Error,
    ErrorKind, FinishReason, HttpOptions, Image, ImageSource, KeyFn, KeySource, Message, Provider,
    Reasoning, ReasoningEffort, ReasoningPart, ResponseFormat, Result, Role, RotatingKey,
    Signature, StaticKey, StreamEvent, Tool, ToolCall, ToolChoice, ToolResult, Usage,
    parse_arguments, redact, retry_after, sse,
};

pub use llmward_router::{
    AnomalyAction, AnomalyConfig, Budget, BudgetStatus, EventSink, Outcome, Price, RetryPolicy,
    Route, RouteHealth, Router, RouterBuilder, RouterEvent,
};

/// The router's parts beyond the ones at the crate root: the retry policy's module, budget
/// and anomaly details, event details, and the state store. Every item has one path.
pub mod router {
    #[doc(hidden)]
    pub use llmward_router::SplitMix64;
    pub use llmward_router::{
        Admission, AnomalyMetric, AttemptEvent, BreakerConfig, BudgetMetric, BudgetScope,
        BudgetUsage, Charge, CooldownChange, CooldownState, Crossing, MemoryStore, RefusalReason,
        Reserve, RouteOutcome, StateStore, TRACING_TARGET, Ticket, otel_name, policy, precedence,
    };
}

/// Anthropic Messages.
#[cfg(feature = "anthropic")]
pub mod anthropic {
    pub use llmward_anthropic::*;
}

/// Google Gemini (Developer API and Vertex AI).
#[cfg(feature = "gemini")]
pub mod gemini {
    pub use llmward_gemini::*;
}

/// OpenAI, Azure OpenAI and OpenAI-compatible servers.
#[cfg(feature = "openai")]
pub mod openai {
    pub use llmward_openai::*;
}
