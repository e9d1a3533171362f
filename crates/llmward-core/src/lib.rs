//! llmward's core contract: the request and response types every provider speaks, the
//! [`Provider`] trait, one [`Error`] type, API keys, and the HTTP transport with its security
//! policy.
//!
//! Provider crates (`llmward-openai`, `llmward-anthropic`, `llmward-gemini`) only translate
//! between these types and a wire format; the router composes providers; the `llmward`
//! facade re-exports everything. Most users depend on `llmward`, not on this crate.
//!
//! ```
//! use llmward_core::{ChatRequest, ChatStream, StreamEvent};
//!
//! let request = ChatRequest::builder("default").system("Be brief.").user("Hi").build()?;
//! assert_eq!(request.messages.len(), 2);
//!
//! // Every stream collects into the answer a non-streaming call gives.
//! let stream = ChatStream::from_events("demo", "m", vec![
//!     Ok(StreamEvent::TextDelta("Hel".into())),
//!     Ok(StreamEvent::TextDelta("lo".into())),
//! ]);
//! let answer = tokio_test_block_on(stream.collect())?;
//! assert_eq!(answer.text(), "Hello");
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! # Ok::<(), llmward_core::Error>(())
//! ```
//!
//! # Security
//!
//! - [`ApiKey`] is wiped on drop, has no `Display`, and its `Debug` shows only its label.
//! - [`Error`] never carries a key, header value, URL query or request body; provider
//!   messages pass through [`redact::redact`] first.
//! - [`Transport`] refuses plain HTTP off loopback unless explicitly allowed, never follows
//!   redirects, ignores proxy environment variables, and caps every body, line and event.
#![forbid(unsafe_code)]

mod error;
#[doc(hidden)]
pub mod fuzz;
mod key;
mod provider;
pub mod redact;
mod request;
mod response;
pub mod retry_after;
pub mod sse;
mod stream;
mod transport;
pub mod wire;

pub use error::{AttemptFailure, Error, ErrorKind, Result};
pub use key::{ApiKey, AuthScheme, KeyFn, KeySource, RotatingKey, StaticKey};
pub use provider::Provider;
pub use request::{
    CacheBreakpoint, ChatRequest, ChatRequestBuilder, ContentPart, EmbedRequest, Family, Image,
    ImageSource, Message, Reasoning, ReasoningEffort, ReasoningPart, ResponseFormat, Role,
    Signature, Tool, ToolCall, ToolChoice, ToolResult,
};
pub use response::{ChatResponse, EmbedResponse, FinishReason, Usage};
pub use stream::{Aggregator, ChatStream, SseSource, StreamDecoder, StreamEvent, parse_arguments};
#[doc(hidden)]
pub use transport::build_client;
pub use transport::{
    Auth, HttpOptions, HttpRequest, HttpResponse, Transport, check_base_url, is_loopback_host,
};

/// The header types the provider SPI ([`wire`]) speaks, so provider crates need no HTTP
/// crate of their own.
pub mod header {
    pub use reqwest::header::{
        ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
    };
}
