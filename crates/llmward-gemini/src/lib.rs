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
//! [`KeySource`](llmward_core::KeySource) supplies (llmward mints no tokens):
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
//! must be `https` unless it is loopback or explicitly allowed (see
//! [`HttpOptions`](llmward_core::HttpOptions)); model
//! names are checked so they stay one URL path segment. Error messages from the server are
//! redacted against the key before they reach an [`Error`].
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod stream;

use std::sync::Arc;

use llmward_core::header::HeaderMap;
use llmward_core::wire::{ProviderBuilder, Wire, WireRequest};
use llmward_core::{
    ApiKey, AuthScheme, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Error, Result,
    StreamDecoder,
};

/// The Gemini Developer API base URL.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Developer,
    Vertex,
}

/// The Gemini `generateContent` wire format of one service (the Developer API or Vertex AI).
/// [`Gemini`] sends it.
#[derive(Clone, Debug)]
pub struct GenerateContent {
    flavor: Flavor,
}

llmward_core::http_provider! {
    /// A Gemini provider (the Developer API, or Vertex AI).
    pub struct Gemini(GenerateContent);
}

/// Builds a [`Gemini`] provider.
#[must_use]
#[derive(Debug)]
pub struct GeminiBuilder {
    common: ProviderBuilder<GenerateContent>,
}

impl Gemini {
    fn with(base_url: String, flavor: Flavor) -> GeminiBuilder {
        GeminiBuilder {
            common: ProviderBuilder::new("gemini", base_url, GenerateContent { flavor }),
        }
    }

    /// The Gemini Developer API ([`DEFAULT_BASE_URL`]); the key goes in `x-goog-api-key`.
    pub fn builder() -> GeminiBuilder {
        let mut b = Self::with(DEFAULT_BASE_URL.to_owned(), Flavor::Developer);
        b.common = b.common.auth_header("x-goog-api-key", AuthScheme::Plain);
        b
    }

    /// Gemini on Vertex AI at a publisher base URL such as
    /// `https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/publishers/google`;
    /// requests go to `{base}/models/{model}:generateContent`. The key source's value is sent
    /// as `Authorization: Bearer` (an OAuth access token the caller obtains and rotates).
    pub fn vertex(base_url: impl Into<String>) -> GeminiBuilder {
        Self::with(base_url.into(), Flavor::Vertex)
    }
}

impl GeminiBuilder {
    llmward_core::common_builder_methods!();

    /// Builds the provider.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](llmward_core::ErrorKind::Config) when no key (or Vertex access
    /// token) is set, the base URL breaks the transport policy (plain `http` off loopback,
    /// credentials, a query or a fragment in it), TLS or proxy settings are invalid, or an
    /// extra header is malformed or would carry a key.
    pub fn build(self) -> Result<Gemini> {
        self.common.build().map(Gemini)
    }
}

/// `models/{model}:{method}`, the model checked so that it stays one path segment.
fn model_path(model: &str, method: &str) -> Result<String> {
    Ok(format!("models/{}:{method}", encode::model_segment(model)?))
}

impl Wire for GenerateContent {
    fn family(&self) -> llmward_core::Family {
        llmward_core::Family::Gemini
    }

    fn chat_request(&self, request: &ChatRequest, stream: bool) -> Result<WireRequest> {
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        let path = model_path(&request.model, method)?;
        WireRequest::json(path, &encode::chat_body(request)?)
    }

    fn embed_request(&self, request: &EmbedRequest) -> Result<WireRequest> {
        if self.flavor == Flavor::Vertex {
            return Err(Error::unsupported(
                "Vertex AI serves Gemini embeddings through its predict API, which llmward does \
                 not speak; use the Gemini Developer API",
            ));
        }
        let path = model_path(&request.model, "batchEmbedContents")?;
        WireRequest::json(path, &encode::embed_body(request)?)
    }

    fn decode_chat(
        &self,
        request: &ChatRequest,
        body: &[u8],
        key: Option<&ApiKey>,
    ) -> Result<ChatResponse> {
        decode::chat_response(body, &request.model, key)
    }

    fn decode_embed(&self, request: &EmbedRequest, body: &[u8]) -> Result<EmbedResponse> {
        decode::embed_response(body, &request.model, request.inputs.len())
    }

    fn decode_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        key: Option<&ApiKey>,
    ) -> Error {
        decode::http_error(status, headers, body, key)
    }

    fn stream(&self, _request: &ChatRequest, key: Option<Arc<ApiKey>>) -> Box<dyn StreamDecoder> {
        Box::new(stream::GeminiStreamDecoder::new(key))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use llmward_core::{ErrorKind, Provider};

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
        let _ = crate::decode::chat_response(data, "model", None);
        let _ = crate::decode::embed_response(data, "model", 2);
    }

    /// An error body under a status taken from the first byte.
    pub fn error(data: &[u8]) {
        let status = 400 + u16::from(data.first().copied().unwrap_or(0)) % 200;
        let err = crate::decode::http_error(status, &HeaderMap::new(), data, None);
        let _ = err.to_string();
    }

    /// An SSE body through the stream decoder and the aggregator.
    pub fn stream(data: &[u8]) {
        llmward_core::fuzz::stream_decoder(crate::stream::GeminiStreamDecoder::new(None), data);
    }
}
