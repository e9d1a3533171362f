//! Dev-only test support for llmward: a loopback HTTP/1.1 upstream that records requests and plays
//! scripted replies and faults, OpenAI wire-format builders, and a reader for the conformance corpus.
//!
//! ```no_run
//! # async fn demo() {
//! use llmward_testkit::{Reply, Upstream, openai};
//!
//! let upstream = Upstream::start().await;
//! upstream.push(Reply::json(200, openai::chat_completion("gpt-test", "hi")));
//! upstream.push(openai::error(429, "rate_limit_exceeded", "slow down").header("retry-after", "1"));
//! // ... point a client at upstream.url() ...
//! assert_eq!(upstream.request_count(), 0);
//! # }
//! ```
#![forbid(unsafe_code)]
// Test-support code: panicking with a clear message is how it reports misuse (never inside the server task).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod anthropic;
pub mod canary;
pub mod conformance;
pub mod gemini;
pub mod openai;
mod reply;
mod server;
pub mod sse;
pub mod tls;

pub use reply::Reply;
pub use server::{Recorded, Upstream};
