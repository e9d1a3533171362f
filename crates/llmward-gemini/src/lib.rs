//! Google Gemini for llmward: the Gemini Developer API (`generateContent`,
//! `streamGenerateContent`, `batchEmbedContents`) and Gemini models on Vertex AI.
//!
//! ```no_run
//! use llmward_core::{ApiKey, ChatRequest, Provider};
//! use llmward_gemini::Gemini;
//!
//! # async fn demo() -> llmward_core::Result<()> {
//! let gemini = Gemini::builder().api_key(ApiKey::from_env("GEMINI_API_KEY")?).build()?;
//!
//! let request = ChatRequest::builder("gemini-2.5-flash").user("Why is the sky blue?").build()?;
//! println!("{}", gemini.chat(&request).await?.text());
//! # Ok(())
//! # }
//! ```
//!
//! Vertex AI takes the publisher base URL and an OAuth access token, which the caller's
//! [`KeySource`] supplies (llmward mints no tokens):
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use llmward_core::{ApiKey, RotatingKey};
//! # use llmward_gemini::Gemini;
//! # fn demo(token: ApiKey) -> llmward_core::Result<()> {
//! let tokens = RotatingKey::new(token); // rotate() it before the token expires
//! let vertex = Gemini::vertex(
//!     "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-project/locations/europe-west4/publishers/google",
//! )
//! .key_source(Arc::new(tokens))
//! .build()?;
//! # let _ = vertex;
//! # Ok(())
//! # }
//! ```
//!
//! # Mapping
//!
//! - System messages become `systemInstruction`; assistant turns are role `model`; tool results
//!   are `functionResponse` parts of a user turn (the result text is sent as the `response`
//!   object when it is a JSON object, else as `{"content": text}`; a failed result as
//!   `{"error": …}`); consecutive turns of one role are merged.
//! - Tools are declared with `parametersJsonSchema`, so a tool's JSON Schema is sent as
//!   written. `ToolChoice` maps to `toolConfig` modes `AUTO`/`NONE`/`ANY` (with
//!   `allowedFunctionNames` for one tool); `parallel_tool_calls` has no Gemini equivalent and
//!   is ignored.
//! - Images: base64 (and `data:` URLs) go inline; `gs://` and Gemini Files API URIs go as
//!   `fileData`; any other URL is [`Unsupported`](llmward_core::ErrorKind::Unsupported), as
//!   llmward never fetches URLs.
//! - Reasoning: a token budget is `thinkingBudget`. An effort level is `thinkingLevel` on
//!   Gemini 3 and later (`low` for none/minimal/low, `high` for medium/high) and a budget on
//!   earlier models (none 0, minimal 512, low 1024, medium 8192, high 24576).
//!   `include_thoughts` is `includeThoughts`.
//! - Gemini 2.5 sends tool calls without ids: llmward names them
//!   `gemini_call_<index>_<hash>` (stable for the same answer, streamed or not, and distinct
//!   between answers) and never sends such ids back; any other id is sent back as the call's
//!   and result's `id`.
//! - Thought summaries are [`ReasoningPart::Thinking`](llmward_core::ReasoningPart) with
//!   origin `"gemini"`; a `thoughtSignature` on a function call is the call's signature, on a
//!   thought its `signature`, on text a [`ReasoningPart::Signature`](llmward_core::ReasoningPart)
//!   right after that text. All of them are sent back on the next turn; reasoning from other
//!   providers is dropped.
//! - Usage: input = `promptTokenCount` + `toolUsePromptTokenCount`, cached =
//!   `cachedContentTokenCount`, output = `candidatesTokenCount` + `thoughtsTokenCount`,
//!   reasoning = `thoughtsTokenCount`; in streams the last snapshot wins.
//! - A prompt Gemini blocks (`promptFeedback.blockReason`, no candidates) is a
//!   [`ContentFiltered`](llmward_core::ErrorKind::ContentFiltered) error; an answer stopped for
//!   safety is a response with [`FinishReason::ContentFilter`](llmward_core::FinishReason);
//!   `MALFORMED_FUNCTION_CALL` and `UNEXPECTED_TOOL_CALL` are
//!   [`ModelOutput`](llmward_core::ErrorKind::ModelOutput) errors.
//! - A 429 is [`RateLimited`](llmward_core::ErrorKind::RateLimited) with the body's
//!   `RetryInfo.retryDelay`, unless a `QuotaFailure` names a daily quota or a limit of 0
//!   ([`QuotaExceeded`](llmward_core::ErrorKind::QuotaExceeded)).
//! - Gemini sends no request-id header, so responses and errors carry none; the answer's
//!   `responseId` is [`ChatResponse::id`](llmward_core::ChatResponse).
//! - Streams always use `alt=sse`. Embeddings use `batchEmbedContents` (Developer API only).
//!
//! # Security
//!
//! The key is sent only in its header (`x-goog-api-key`, or `Authorization: Bearer` for
//! Vertex), built once per key and marked sensitive; never as a `?key=` query. The base URL
//! must be `https` unless it is loopback or explicitly allowed (see [`HttpOptions`]); model
//! names are checked so they stay one URL path segment. Error messages from the server are
//! redacted against the key before they reach an [`Error`].
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod stream;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use llmward_core::header::{AUTHORIZATION, HeaderName};
use llmward_core::{
    ApiKey, Auth, AuthScheme, ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse,
    Error, ErrorKind, HttpOptions, HttpRequest, HttpResponse, KeySource, Provider, Result,
    SseSource, StaticKey, Transport,
};

/// The Gemini Developer API base URL.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Developer,
    Vertex,
}

/// A Gemini provider (the Developer API, or Vertex AI).
#[derive(Clone)]
pub struct Gemini {
    name: Arc<str>,
    transport: Transport,
    auth: Auth,
    flavor: Flavor,
}

impl fmt::Debug for Gemini {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gemini")
            .field("name", &self.name)
            .field("base_url", &self.transport.base_url())
            .field("flavor", &self.flavor)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Gemini`] provider.
#[must_use]
pub struct GeminiBuilder {
    name: String,
    base_url: String,
    key: Option<Arc<dyn KeySource>>,
    http: HttpOptions,
    flavor: Flavor,
}

impl fmt::Debug for GeminiBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiBuilder")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("flavor", &self.flavor)
            .finish_non_exhaustive()
    }
}

impl Gemini {
    fn with(base_url: &str, flavor: Flavor) -> GeminiBuilder {
        GeminiBuilder {
            name: "gemini".to_owned(),
            base_url: base_url.to_owned(),
            key: None,
            http: HttpOptions::new(),
            flavor,
        }
    }

    /// The Gemini Developer API ([`DEFAULT_BASE_URL`]); the key goes in `x-goog-api-key`.
    pub fn builder() -> GeminiBuilder {
        Self::with(DEFAULT_BASE_URL, Flavor::Developer)
    }

    /// Gemini on Vertex AI at a publisher base URL such as
    /// `https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/publishers/google`;
    /// requests go to `{base}/models/{model}:generateContent`. The key source's value is sent
    /// as `Authorization: Bearer` (an OAuth access token the caller obtains and rotates).
    pub fn vertex(base_url: impl Into<String>) -> GeminiBuilder {
        Self::with(&base_url.into(), Flavor::Vertex)
    }
}

impl GeminiBuilder {
    /// Sets the key (a Vertex access token for [`Gemini::vertex`]). Defaults to none, which is
    /// a [`Config`](ErrorKind::Config) error at build time. llmward never reads a key from the
    /// environment by itself.
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.key = Some(Arc::new(StaticKey::new(key)));
        self
    }

    /// Sets where keys come from; asked on every request, so keys (and Vertex tokens) rotate
    /// without a rebuild. Defaults to none.
    pub fn key_source(mut self, source: Arc<dyn KeySource>) -> Self {
        self.key = Some(source);
        self
    }

    /// Sets the base URL (the part before `/models/...`). Defaults to [`DEFAULT_BASE_URL`], or
    /// the URL given to [`Gemini::vertex`].
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Sets connection, timeout, size and TLS options. Defaults to [`HttpOptions::new`].
    pub fn http(mut self, options: HttpOptions) -> Self {
        self.http = options;
        self
    }

    /// Sets the instance name shown in responses, errors and events. Defaults to `"gemini"`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Builds the provider.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when no key is set, or the base URL breaks the transport policy
    /// (plain `http` off loopback, credentials, a query or a fragment in it), or TLS or proxy
    /// settings are invalid.
    pub fn build(self) -> Result<Gemini> {
        let name = self.name;
        let Some(source) = self.key else {
            return Err(Error::config(format!(
                "{name}: an API key (or Vertex access token) is required: api_key or key_source"
            ))
            .with_provider(&name));
        };
        let auth = match self.flavor {
            Flavor::Developer => Auth::new(
                source,
                HeaderName::from_static("x-goog-api-key"),
                AuthScheme::Plain,
            ),
            Flavor::Vertex => Auth::new(source, AUTHORIZATION, AuthScheme::Bearer),
        };
        let transport = Transport::new(&name, &self.base_url, self.http)?;
        Ok(Gemini {
            name: name.into(),
            transport,
            auth,
            flavor: self.flavor,
        })
    }
}

impl Gemini {
    async fn post(
        &self,
        path: String,
        body: &serde_json::Value,
        deadline: Option<Duration>,
    ) -> Result<(HttpResponse, Option<Arc<ApiKey>>)> {
        let bytes = serde_json::to_vec(body).map_err(|_| {
            Error::new(ErrorKind::InvalidRequest, "request body cannot be encoded")
                .with_provider(&*self.name)
        })?;
        let mut req = HttpRequest::json(path, bytes);
        req.deadline = deadline;
        let key = self
            .auth
            .apply(&mut req.headers)
            .map_err(|e| e.with_provider(&*self.name))?;
        let response = self.transport.send(req).await?;
        if response.is_success() {
            return Ok((response, key));
        }
        let (status, headers, body) = response.into_error_parts().await;
        Err(decode::http_error(
            status,
            &headers,
            &body,
            &self.name,
            key.as_deref(),
        ))
    }

    fn model_path(&self, model: &str, method: &str) -> Result<String> {
        let segment = encode::model_segment(model).map_err(|e| e.with_provider(&*self.name))?;
        Ok(format!("models/{segment}:{method}"))
    }
}

#[async_trait]
impl Provider for Gemini {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let path = self.model_path(&request.model, "generateContent")?;
        let body = encode::chat_body(request).map_err(|e| e.with_provider(&*self.name))?;
        let (response, key) = self.post(path, &body, request.deadline).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| e.with_provider(&*self.name))?;
        let key = key.as_deref();
        decode::chat_response(&bytes, &self.name, &request.model, key)
            .map(|r| r.without_echoed_key(key, &request.model))
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        let path = self.model_path(&request.model, "streamGenerateContent?alt=sse")?;
        let body = encode::chat_body(request).map_err(|e| e.with_provider(&*self.name))?;
        let (response, key) = self.post(path, &body, request.deadline).await?;
        let decoder = stream::GeminiStreamDecoder::new(key.clone());
        Ok(ChatStream::from_sse(
            response,
            self.transport.options(),
            SseSource {
                provider: self.name.to_string(),
                model: request.model.clone(),
                origin: encode::ORIGIN,
                request_id: None,
                key,
            },
            decoder,
        ))
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse> {
        if self.flavor == Flavor::Vertex {
            return Err(Error::unsupported(
                "Vertex AI serves Gemini embeddings through its predict API, which llmward does \
                 not speak; use the Gemini Developer API",
            )
            .with_provider(&*self.name));
        }
        if request.inputs.is_empty() {
            return Err(Error::new(ErrorKind::InvalidRequest, "no inputs to embed")
                .with_provider(&*self.name));
        }
        let path = self.model_path(&request.model, "batchEmbedContents")?;
        let body = encode::embed_body(request).map_err(|e| e.with_provider(&*self.name))?;
        let (response, _key) = self.post(path, &body, request.deadline).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| e.with_provider(&*self.name))?;
        decode::embed_response(&bytes, &self.name, &request.model, request.inputs.len())
    }

    fn key_label(&self) -> Option<String> {
        self.auth.label()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn build_needs_a_key_and_a_safe_base_url() {
        let err = Gemini::builder().build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let key = || ApiKey::new("AIzaTest".into()).unwrap();
        let err = Gemini::builder()
            .api_key(key())
            .base_url("http://example.com/v1beta")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let err = Gemini::builder()
            .api_key(key())
            .base_url("https://example.com/v1beta?key=AIzaLeak")
            .build()
            .unwrap_err();
        assert!(!err.to_string().contains("AIzaLeak"), "{err}");
        let g = Gemini::vertex(
            "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google",
        )
        .api_key(key())
        .name("vertex")
        .build()
        .unwrap();
        assert_eq!(g.name(), "vertex");
        assert!(!format!("{g:?}").contains("AIzaTest"));
    }
}

/// Entry points for the fuzz targets in `fuzz/` and the tests replaying their seeds; each
/// takes arbitrary bytes and must never panic. Not part of the stable API.
#[doc(hidden)]
pub mod fuzz {
    use llmward_core::header::HeaderMap;

    /// A 200 `generateContent` or embeddings body.
    pub fn response(data: &[u8]) {
        let _ = crate::decode::chat_response(data, "fuzz", "model", None);
        let _ = crate::decode::embed_response(data, "fuzz", "model", 2);
    }

    /// An error body under a status taken from the first byte.
    pub fn error(data: &[u8]) {
        let status = 400 + u16::from(data.first().copied().unwrap_or(0)) % 200;
        let err = crate::decode::http_error(status, &HeaderMap::new(), data, "fuzz", None);
        let _ = err.to_string();
    }

    /// An SSE body through the stream decoder and the aggregator.
    pub fn stream(data: &[u8]) {
        llmward_core::fuzz::stream_decoder(crate::stream::GeminiStreamDecoder::new(None), data);
    }
}
