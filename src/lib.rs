//! llmward: a minimal, memory-safe, multi-provider LLM client and fallback router.
//!
//! One API for OpenAI, Anthropic, Gemini and OpenAI-compatible servers (including a
//! self-hosted model on an internal network), built for the place that holds every provider
//! key: a small allowlisted dependency tree, keys that stay secret in memory and on the wire,
//! and errors and events that never leak them.
//!
//! ```no_run
//! use llmward::{openai::OpenAi, ApiKey, ChatRequest, Provider};
//!
//! # async fn demo() -> llmward::Result<()> {
//! let openai = OpenAi::builder().api_key(ApiKey::from_env("OPENAI_API_KEY")?).build()?;
//! let request = ChatRequest::builder("gpt-4.1-mini")
//!     .system("Be brief.")
//!     .user("Why is the sky blue?")
//!     .build()?;
//! let answer = openai.chat(&request).await?;
//! println!("{} (answered by {})", answer.text(), answer.provider());
//! # Ok(())
//! # }
//! ```
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

/// The router's parts: policy, budgets, events, the state store.
pub mod router {
    pub use llmward_router::*;
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
