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
//! - The key is asked from its [`KeySource`] on every request (rotation) and sent only in the
//!   `x-api-key` header, marked sensitive; never in a URL, never in an error.
//! - Provider messages in errors are redacted against the key; HTML error pages are dropped.
//! - Every response byte is untrusted: typed decoding, no panics, caps from [`HttpOptions`].
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod stream;

use std::sync::Arc;

use async_trait::async_trait;
use llmward_core::header::{HeaderName, HeaderValue};
use llmward_core::{
    ApiKey, Auth, AuthScheme, ChatRequest, ChatResponse, ChatStream, Error, HttpOptions,
    HttpRequest, HttpResponse, KeySource, Provider, Result, SseSource, StaticKey, Transport,
};

/// The wire-format family of Anthropic's reasoning parts and signatures.
pub const ORIGIN: &str = "anthropic";

/// The Messages API version sent in `anthropic-version`.
pub const API_VERSION: &str = "2023-06-01";

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// The `max_tokens` sent when a request has none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

const MESSAGES_PATH: &str = "v1/messages";

/// An Anthropic Messages provider. Build it with [`Anthropic::builder`].
#[derive(Debug)]
pub struct Anthropic {
    name: String,
    transport: Transport,
    auth: Auth,
    beta: Option<HeaderValue>,
    default_max_tokens: u32,
}

/// Builds an [`Anthropic`] provider.
#[derive(Debug)]
#[must_use]
pub struct AnthropicBuilder {
    key: Option<Arc<dyn KeySource>>,
    base_url: String,
    http: HttpOptions,
    name: String,
    betas: Vec<String>,
    default_max_tokens: u32,
}

impl Default for AnthropicBuilder {
    fn default() -> Self {
        Self {
            key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            http: HttpOptions::new(),
            name: ORIGIN.to_owned(),
            betas: Vec::new(),
            default_max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

impl Anthropic {
    /// A builder with the defaults listed on each setter.
    pub fn builder() -> AnthropicBuilder {
        AnthropicBuilder::default()
    }
}

impl AnthropicBuilder {
    /// Uses this key for every request. Defaults to none: a key (or a
    /// [`key_source`](Self::key_source)) is required. llmward never reads the environment on
    /// its own; use `ApiKey::from_env("ANTHROPIC_API_KEY")` to do so explicitly.
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.key = Some(Arc::new(StaticKey::new(key)));
        self
    }

    /// Asks `source` for the key on every request, so keys can rotate at run time. Defaults
    /// to none. Replaces any [`api_key`](Self::api_key).
    pub fn key_source(mut self, source: Arc<dyn KeySource>) -> Self {
        self.key = Some(source);
        self
    }

    /// The API's base URL, without `/v1` (requests go to `{base}/v1/messages`). Defaults to
    /// `https://api.anthropic.com`. Plain `http://` is refused except to loopback or a host
    /// allowed with [`HttpOptions::danger_allow_http_host`].
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Connection, timeout, size and TLS settings. Defaults to [`HttpOptions::new`].
    pub fn http(mut self, options: HttpOptions) -> Self {
        self.http = options;
        self
    }

    /// The instance's name, shown in responses, errors and events. Defaults to `"anthropic"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds a beta feature to the `anthropic-beta` header (e.g.
    /// `"interleaved-thinking-2025-05-14"`); call once per feature. Defaults to none.
    pub fn beta(mut self, feature: impl Into<String>) -> Self {
        self.betas.push(feature.into());
        self
    }

    /// The `max_tokens` sent when a request sets none, which the API requires. Defaults to
    /// 4096. With extended thinking on, the thinking budget is added to it.
    pub fn default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = max_tokens;
        self
    }

    /// Builds the provider.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](llmward_core::ErrorKind::Config) when no key or key source was
    /// given, the base URL breaks the transport policy (plain http off loopback, credentials,
    /// a query), the HTTP options are invalid, `default_max_tokens` is 0, the name is empty,
    /// or a beta feature is empty or holds characters other than letters, digits, `-`, `_`
    /// and `.`.
    pub fn build(self) -> Result<Anthropic> {
        let config = |m: &str| Error::config(m).with_provider(self.name.clone());
        if self.name.trim().is_empty() {
            return Err(Error::config("provider name is empty"));
        }
        let Some(key) = self.key.clone() else {
            return Err(config(
                "no API key: use AnthropicBuilder::api_key or AnthropicBuilder::key_source",
            ));
        };
        if self.default_max_tokens == 0 {
            return Err(config("default_max_tokens must be at least 1"));
        }
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if let Some(bad) = self
            .betas
            .iter()
            .find(|b| b.is_empty() || !b.chars().all(valid))
        {
            return Err(config(&format!("beta feature {bad:?} is not a valid name")));
        }
        let beta = if self.betas.is_empty() {
            None
        } else {
            Some(
                HeaderValue::from_str(&self.betas.join(","))
                    .map_err(|_| config("beta features cannot be sent as a header"))?,
            )
        };
        let transport = Transport::new(&self.name, &self.base_url, self.http)?;
        Ok(Anthropic {
            auth: Auth::new(key, HeaderName::from_static("x-api-key"), AuthScheme::Plain),
            name: self.name,
            transport,
            beta,
            default_max_tokens: self.default_max_tokens,
        })
    }
}

impl Anthropic {
    /// Sends the request body; returns the successful response and the key used, or the
    /// mapped error.
    async fn send(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<(HttpResponse, Option<Arc<ApiKey>>)> {
        let body = encode::body(request, stream, self.default_max_tokens)
            .map_err(|e| e.with_provider(&self.name))?;
        let body = serde_json::to_vec(&body)
            .map_err(|_| Error::protocol("request body could not be serialized"))?;
        let mut http = HttpRequest::json(MESSAGES_PATH, body);
        http.deadline = request.deadline;
        http.headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(beta) = &self.beta {
            http.headers
                .insert(HeaderName::from_static("anthropic-beta"), beta.clone());
        }
        if stream {
            http.headers.insert(
                llmward_core::header::ACCEPT,
                HeaderValue::from_static("text/event-stream"),
            );
        }
        let key = self
            .auth
            .apply(&mut http.headers)
            .map_err(|e| e.with_provider(&self.name))?;
        let response = self.transport.send(http).await?;
        if response.is_success() {
            return Ok((response, key));
        }
        let (status, headers, bytes) = response.into_error_parts().await;
        Err(
            decode::error_response(&self.name, status, &headers, &bytes, key.as_deref())
                .without_echoed_key(key.as_deref()),
        )
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let (response, key) = self.send(request, false).await?;
        let request_id = decode::request_id_header(response.headers());
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            e.with_provider(&self.name)
                .with_status(status)
                .with_request_id(request_id.clone())
        })?;
        let key = key.as_deref();
        decode::response(&self.name, &request.model, &bytes, request_id, key)
            .map(|r| r.without_echoed_key(key, &request.model))
            .map_err(|e| e.without_echoed_key(key))
            .map_err(|e| e.with_status(status))
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        let (response, key) = self.send(request, true).await?;
        let request_id = decode::request_id_header(response.headers());
        let decoder = stream::Decoder::new(&self.name, key.clone());
        Ok(ChatStream::from_sse(
            response,
            self.transport.options(),
            SseSource {
                provider: self.name.clone(),
                model: request.model.clone(),
                origin: ORIGIN,
                request_id,
                key,
            },
            decoder,
        ))
    }

    fn key_label(&self) -> Option<String> {
        self.auth.label()
    }
}

/// Entry points for fuzz targets and the tests replaying their seeds; each takes arbitrary
/// bytes and must never panic. Not part of the stable API.
#[doc(hidden)]
pub mod fuzz {
    use llmward_core::header::HeaderMap;

    /// A 200 Messages body.
    pub fn response(data: &[u8]) {
        let _ = crate::decode::response("fuzz", "model", data, None, None);
    }

    /// An error body under a status taken from the first byte.
    pub fn error(data: &[u8]) {
        let status = 400 + u16::from(data.first().copied().unwrap_or(0)) % 200;
        let err = crate::decode::error_response("fuzz", status, &HeaderMap::new(), data, None);
        let _ = err.to_string();
    }

    /// An SSE body through the stream decoder and the aggregator.
    pub fn stream(data: &[u8]) {
        let decoder = crate::stream::Decoder::new("fuzz", None);
        llmward_core::fuzz::stream_decoder(decoder, data);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use llmward_core::ErrorKind;

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
        assert_eq!(p.beta.as_ref().unwrap(), "a-1,b.2");
        assert!(!format!("{p:?}").contains("sk-ant-test"));
    }
}
