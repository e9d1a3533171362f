//! Anthropic Messages (`POST /v1/messages`) for llmward: translates llmward's
//! [`ChatRequest`] into Anthropic's wire format and Anthropic's answers, streams and errors
//! back into llmward's types.
//!
//! ```
//! use llmward_anthropic::Anthropic;
//! use llmward_core::{ApiKey, ChatRequest, Provider};
//!
//! let claude = Anthropic::builder()
//!     .api_key(ApiKey::new("sk-ant-example".into())?.with_label("claude-prod"))
//!     .beta("interleaved-thinking-2025-05-14")
//!     .default_max_tokens(2048)
//!     .build()?;
//! assert_eq!(claude.name(), "anthropic");
//!
//! let request = ChatRequest::builder("claude-haiku-4-5")
//!     .system("Be brief.")
//!     .user("Why is the sky blue?")
//!     .build()?;
//! // let answer = claude.chat(&request).await?;
//! # let _ = request;
//! # Ok::<(), llmward_core::Error>(())
//! ```
//!
//! # What is sent
//!
//! - Headers: `x-api-key` (the key, marked sensitive), `anthropic-version: 2023-06-01`, and
//!   `anthropic-beta` with the features given to [`AnthropicBuilder::beta`].
//! - `system` from [`Role::System`](llmward_core::Role::System) messages: a string, or text
//!   blocks when a cache breakpoint is set on one (or there are several). System messages hold
//!   text only; anything else is an `Unsupported` error.
//! - `messages`: consecutive messages of the same role are merged (the API requires
//!   alternation); tool results travel in user turns, ahead of any text; Anthropic thinking
//!   (`thinking` with its signature, `redacted_thinking`) leads its assistant turn. Reasoning
//!   from other providers, and unsigned thinking (which the API rejects), are dropped.
//! - Tool-call ids from other providers (`call_…`, synthesized Gemini ids) are sent as
//!   `tool_use` ids; Anthropic accepts only `[a-zA-Z0-9_-]`, so any other character becomes
//!   `_` and a hash of the original id is appended. Valid ids pass unchanged, and `tool_use`
//!   and `tool_result` ids map alike so they still pair.
//! - `max_tokens` is required by the API: a request without one gets
//!   [`default_max_tokens`](AnthropicBuilder::default_max_tokens) (plus the thinking budget
//!   when thinking is on, since the API requires `max_tokens > budget_tokens`).
//! - Extended thinking: `Reasoning::budget_tokens` is sent as `thinking.budget_tokens` (0
//!   turns thinking off). An effort without a budget maps to low = 1024, medium = 4096,
//!   high = 16384 tokens (capped below the request's `max_tokens`; dropped if that leaves less
//!   than the API's 1024 minimum); efforts `None` and `Minimal` send no thinking.
//!   `include_thoughts` is ignored: Anthropic returns thinking whenever it is on.
//! - Cache breakpoints become `cache_control: {"type": "ephemeral"}` (with `"ttl": "1h"` for
//!   [`CacheBreakpoint::Long`](llmward_core::CacheBreakpoint::Long)) on the last block of the
//!   marked system message, message (never a thinking block) or tool.
//! - `ResponseFormat::JsonSchema` becomes `output_config.format` (native structured output).
//!   `ResponseFormat::JsonObject` is an `Unsupported` error: Anthropic has no schemaless JSON
//!   mode, and imitating one (prefilling `{`, or a prompt) would change the conversation
//!   behind the caller's back. Use a JSON schema instead.
//! - Tool choice: auto / any (`Required`) / tool / none; `parallel_tool_calls = false`
//!   becomes `disable_parallel_tool_use`. `Tool::strict = true` is sent as the tool's
//!   `strict`. `extra` fields are merged into the body last. Tags are never sent.
//!
//! # What comes back
//!
//! Text (adjacent text blocks joined), tool calls (`input` object as arguments), thinking with
//! its signature and redacted thinking (kept so the next turn can send them back; see
//! [`ChatResponse::to_message`](llmward_core::ChatResponse::to_message)). Server-tool blocks
//! (`server_tool_use`, `web_search_tool_result`, …) are skipped. Usage is unified: input =
//! `input_tokens` + cache reads + cache writes. Streams end at `message_stop`; without it the
//! stream fails with `StreamTruncated`. Embeddings are not offered (`Unsupported`).
//!
//! # Errors
//!
//! `invalid_request_error` → `InvalidRequest` (`ContextLengthExceeded` for "prompt is too
//! long"), `authentication_error` → `Auth`, `billing_error` and spend or credit limits (also
//! on a 429) → `QuotaExceeded`, `permission_error` → `PermissionDenied`, `not_found_error` →
//! `NotFound`, `request_too_large` (413, the 32 MB body limit: a byte limit no larger context
//! window fixes) → `InvalidRequest`, `rate_limit_error` → `RateLimited` with `retry-after`,
//! `api_error` → `Server`, `timeout_error` → `Timeout`, `overloaded_error` (529, also
//! mid-stream) → `Overloaded`. The request id comes from the `request-id` header, else the
//! body's `request_id`.
//!
//! # Security
//!
//! - The key is asked from its [`KeySource`](llmward_core::KeySource) on every request
//!   (rotation) and sent only in the `x-api-key` header, marked sensitive; never in a URL,
//!   never in an error.
//! - Provider messages in errors are redacted against the key; HTML error pages are dropped.
//! - Every response byte is untrusted: typed decoding, no panics, caps from
//!   [`HttpOptions`](llmward_core::HttpOptions).
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod stream;

use std::sync::Arc;

use llmward_core::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use llmward_core::wire::{ProviderBuilder, Wire, WireRequest};
use llmward_core::{ApiKey, AuthScheme, ChatRequest, ChatResponse, Error, Result, StreamDecoder};

/// The wire-format family of Anthropic's reasoning parts and signatures.
pub const ORIGIN: &str = "anthropic";

/// The Messages API version sent in `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The `max_tokens` sent when a request has none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

const MESSAGES_PATH: &str = "v1/messages";

/// The Messages wire format with one instance's settings (beta features, the default
/// `max_tokens`). [`Anthropic`] sends it.
#[derive(Clone, Debug)]
pub struct Messages {
    beta: Option<HeaderValue>,
    default_max_tokens: u32,
}

llmward_core::http_provider! {
    /// An Anthropic Messages provider. Build it with [`Anthropic::builder`].
    pub struct Anthropic(Messages);
}

/// Builds an [`Anthropic`] provider.
#[derive(Debug)]
#[must_use]
pub struct AnthropicBuilder {
    common: ProviderBuilder<Messages>,
    betas: Vec<String>,
}

impl Default for AnthropicBuilder {
    fn default() -> Self {
        let wire = Messages {
            beta: None,
            default_max_tokens: DEFAULT_MAX_TOKENS,
        };
        Self {
            common: ProviderBuilder::new(ORIGIN, DEFAULT_BASE_URL, wire)
                .auth_header("x-api-key", AuthScheme::Plain),
            betas: Vec::new(),
        }
    }
}

impl Anthropic {
    /// A builder named `"anthropic"` for `https://api.anthropic.com` (a base URL is given
    /// without `/v1`: requests go to `{base}/v1/messages`); a key is required.
    pub fn builder() -> AnthropicBuilder {
        AnthropicBuilder::default()
    }
}

impl AnthropicBuilder {
    llmward_core::common_builder_methods!();

    /// Adds a beta feature to the `anthropic-beta` header (e.g.
    /// `"interleaved-thinking-2025-05-14"`); call once per feature. Defaults to none.
    pub fn beta(mut self, feature: impl Into<String>) -> Self {
        self.betas.push(feature.into());
        self
    }

    /// The `max_tokens` sent when a request sets none, which the API requires. Defaults to
    /// 4096. With extended thinking on, the thinking budget is added to it.
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.common.wire.default_max_tokens = max_tokens;
        self
    }

    /// Builds the provider.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](llmward_core::ErrorKind::Config) when no key or key source was
    /// given, the base URL breaks the transport policy (plain http off loopback, credentials,
    /// a query), the HTTP options are invalid, the name is empty, an extra header is malformed
    /// or would carry a key, `default_max_tokens` is 0, or a beta feature is empty or holds
    /// characters other than letters, digits, `-`, `_` and `.`.
    pub fn build(mut self) -> Result<Anthropic> {
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        let problem = match self
            .betas
            .iter()
            .find(|b| b.is_empty() || !b.chars().all(valid))
        {
            Some(bad) => Some(format!("beta feature {bad:?} is not a valid name")),
            None if self.common.wire.default_max_tokens == 0 => {
                Some("default_max_tokens must be at least 1".to_owned())
            }
            None => None,
        };
        if !self.betas.is_empty() {
            // Valid names joined by commas always make a valid header value.
            self.common.wire.beta = HeaderValue::from_str(&self.betas.join(",")).ok();
        }
        // Refused after the shared settings are built, so that the error names the instance.
        let provider = Anthropic(self.common.build()?);
        match problem {
            None => Ok(provider),
            Some(problem) => {
                let name = llmward_core::Provider::name(&provider);
                Err(Error::config(format!("{name}: {problem}")).with_provider(name))
            }
        }
    }
}

impl Wire for Messages {
    fn family(&self) -> llmward_core::Family {
        llmward_core::Family::Anthropic
    }

    fn chat_request(&self, request: &ChatRequest, stream: bool) -> Result<WireRequest> {
        let body = encode::body(request, stream, self.default_max_tokens)?;
        let mut wire = WireRequest::json(MESSAGES_PATH, &body)?.header(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(beta) = &self.beta {
            wire = wire.header(HeaderName::from_static("anthropic-beta"), beta.clone());
        }
        if stream {
            wire = wire.header(ACCEPT, HeaderValue::from_static("text/event-stream"));
        }
        Ok(wire)
    }

    fn decode_chat(
        &self,
        request: &ChatRequest,
        body: &[u8],
        key: Option<&ApiKey>,
    ) -> Result<ChatResponse> {
        decode::response(&request.model, body, key)
    }

    fn decode_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        key: Option<&ApiKey>,
    ) -> Error {
        decode::error_response(status, headers, body, key)
    }

    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        decode::request_id(headers)
    }

    fn stream(&self, _request: &ChatRequest, key: Option<Arc<ApiKey>>) -> Box<dyn StreamDecoder> {
        Box::new(stream::Decoder::new(key))
    }
}

/// Entry points for fuzz targets and the tests replaying their seeds; each takes arbitrary
/// bytes and must never panic. Not part of the stable API.
#[doc(hidden)]
pub mod fuzz {
    use llmward_core::header::HeaderMap;

    /// A 200 Messages body.
    pub fn response(data: &[u8]) {
        let _ = crate::decode::response("model", data, None);
    }

    /// An error body under a status taken from the first byte.
    pub fn error(data: &[u8]) {
        let status = 400 + u16::from(data.first().copied().unwrap_or(0)) % 200;
        let err = crate::decode::error_response(status, &HeaderMap::new(), data, None);
        let _ = err.to_string();
    }

    /// An SSE body through the stream decoder and the aggregator.
    pub fn stream(data: &[u8]) {
        let decoder = crate::stream::Decoder::new(None);
        llmward_core::fuzz::stream_decoder(decoder, data);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use llmward_core::{ErrorKind, Provider};

    fn key() -> ApiKey {
        ApiKey::new("sk-ant-test".into()).unwrap()
    }

    #[test]
    fn fuzz_entry_points_survive_hostile_bytes() {
        let stream = b"\x03\x01\x07event: message_start\ndata: {\"type\":\"message_start\"}\n\n\
            event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\
            \"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":[1]}}\n\n\
            data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\
            \"partial_json\":\"{\\\"\xc3\xa9\"}}\n\ndata: {\"type\":\"message_stop\"}\n\n";
        let message = br#"{"content":[{"type":"text","text":"a"},{"type":"thinking"}],"usage":{"input_tokens":18446744073709551615,"cache_read_input_tokens":9}}"#;
        for data in [
            &stream[..],
            &message[..],
            b"",
            b"\xff\xfe",
            b"{\"type\":\"error\"}",
        ] {
            for cut in 0..=data.len() {
                fuzz::response(&data[..cut]);
                fuzz::error(&data[..cut]);
                fuzz::stream(&data[..cut]);
            }
        }
    }

    #[test]
    fn build_requires_a_key_and_sane_settings() {
        let err = Anthropic::builder().build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        for builder in [
            Anthropic::builder().api_key(key()).default_max_tokens(0),
            Anthropic::builder().api_key(key()).beta("a b"),
            Anthropic::builder().api_key(key()).beta(""),
            Anthropic::builder().api_key(key()).name(" "),
            Anthropic::builder()
                .api_key(key())
                .base_url("http://api.anthropic.com"),
            Anthropic::builder()
                .api_key(key())
                .base_url("https://x.test/?key=abc"),
        ] {
            assert_eq!(builder.build().unwrap_err().kind(), ErrorKind::Config);
        }
        let p = Anthropic::builder()
            .api_key(key().with_label("prod"))
            .name("claude")
            .beta("a-1")
            .beta("b.2")
            .build()
            .unwrap();
        assert_eq!(p.name(), "claude");
        assert_eq!(p.key_label().as_deref(), Some("prod"));
        assert_eq!(p.wire().beta.as_ref().unwrap(), "a-1,b.2");
        assert!(!format!("{p:?}").contains("sk-ant-test"));
    }
}
