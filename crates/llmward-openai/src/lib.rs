//! OpenAI Chat Completions for llmward, and every server that speaks it: Azure OpenAI, and
//! OpenAI-compatible servers (Ollama, vLLM, LM Studio, Groq, Mistral, DeepSeek, OpenRouter,
//! xAI, Together, Fireworks, ...).
//!
//! ```no_run
//! use llmward_core::{ApiKey, ChatRequest, Provider};
//! use llmward_openai::OpenAi;
//!
//! # async fn demo() -> llmward_core::Result<()> {
//! let openai = OpenAi::builder().api_key(ApiKey::from_env("OPENAI_API_KEY")?).build()?;
//! let local = OpenAi::compatible("http://127.0.0.1:11434/v1").build()?; // keyless on loopback
//!
//! let request = ChatRequest::builder("gpt-4.1-mini").user("Why is the sky blue?").build()?;
//! println!("{}", openai.chat(&request).await?.text());
//! # let _ = local;
//! # Ok(())
//! # }
//! ```
//!
//! # Security
//!
//! The key is sent only in its header (`Authorization: Bearer`, or `api-key` for Azure),
//! built once per key and marked sensitive; never in a URL. The base URL must be `https`
//! unless it is loopback or explicitly allowed (see [`HttpOptions`](llmward_core::HttpOptions)). Error messages from the
//! server are redacted against the key before they reach an [`Error`].
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod stream;

use std::sync::Arc;

use llmward_core::header::HeaderMap;
use llmward_core::wire::{ProviderBuilder, Wire, WireRequest};
use llmward_core::{
    ApiKey, AuthScheme, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Error, ErrorKind,
    Result, StreamDecoder,
};

pub use encode::{MaxTokensField, SystemRole};

/// Base URLs of well-known OpenAI-compatible services.
pub mod presets {
    /// OpenAI.
    pub const OPENAI: &str = "https://api.openai.com/v1";
    /// Groq.
    pub const GROQ: &str = "https://api.groq.com/openai/v1";
    /// Mistral.
    pub const MISTRAL: &str = "https://api.mistral.ai/v1";
    /// DeepSeek.
    pub const DEEPSEEK: &str = "https://api.deepseek.com/v1";
    /// OpenRouter.
    pub const OPENROUTER: &str = "https://openrouter.ai/api/v1";
    /// xAI.
    pub const XAI: &str = "https://api.x.ai/v1";
    /// Together.
    pub const TOGETHER: &str = "https://api.together.xyz/v1";
    /// Fireworks.
    pub const FIREWORKS: &str = "https://api.fireworks.ai/inference/v1";
    /// A local Ollama server.
    pub const OLLAMA: &str = "http://127.0.0.1:11434/v1";
    /// A local vLLM server.
    pub const VLLM: &str = "http://127.0.0.1:8000/v1";
    /// A local LM Studio server.
    pub const LM_STUDIO: &str = "http://127.0.0.1:1234/v1";
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Flavor {
    OpenAi,
    Compatible,
    Azure { api_version: String },
}

/// The Chat Completions wire format with the settings of one service (its flavor and how
/// requests are encoded). [`OpenAi`] sends it.
#[derive(Clone, Debug)]
pub struct ChatCompletions {
    flavor: Flavor,
    encode: encode::EncodeOptions,
}

llmward_core::http_provider! {
    /// A Chat Completions provider (OpenAI, Azure OpenAI, or an OpenAI-compatible server).
    pub struct OpenAi(ChatCompletions);
}

/// Builds an [`OpenAi`] provider.
#[must_use]
#[derive(Debug)]
pub struct OpenAiBuilder {
    common: ProviderBuilder<ChatCompletions>,
}

impl OpenAi {
    fn with(name: &str, base_url: &str, flavor: Flavor, key_required: bool) -> OpenAiBuilder {
        let official = flavor != Flavor::Compatible;
        let wire = ChatCompletions {
            flavor,
            encode: encode::EncodeOptions {
                max_tokens_field: if official {
                    MaxTokensField::MaxCompletionTokens
                } else {
                    MaxTokensField::MaxTokens
                },
                system_role: if official {
                    SystemRole::Auto
                } else {
                    SystemRole::System
                },
                include_usage: true,
                send_reasoning_content: false,
            },
        };
        OpenAiBuilder {
            common: ProviderBuilder::new(name, base_url, wire).key_required(key_required),
        }
    }

    /// OpenAI itself (`https://api.openai.com/v1`); a key is required.
    pub fn builder() -> OpenAiBuilder {
        Self::with("openai", presets::OPENAI, Flavor::OpenAi, true)
    }

    /// Any OpenAI-compatible server at `base_url` (the part before `/chat/completions`). The
    /// key is optional (keyless self-hosted servers); the instance is named
    /// `"openai-compatible"` unless [`name`](OpenAiBuilder::name) says otherwise.
    pub fn compatible(base_url: impl Into<String>) -> OpenAiBuilder {
        Self::with(
            "openai-compatible",
            &base_url.into(),
            Flavor::Compatible,
            false,
        )
    }

    /// Azure OpenAI at `endpoint` (`https://{resource}.openai.azure.com`): requests go to
    /// `/openai/deployments/{model}/chat/completions?api-version=…`, so a request's model is
    /// the deployment name; the key goes in the `api-key` header.
    pub fn azure(endpoint: impl Into<String>) -> OpenAiBuilder {
        let flavor = Flavor::Azure {
            api_version: "2024-10-21".into(),
        };
        let b = Self::with("azure", &endpoint.into(), flavor, true);
        b.auth_header("api-key", AuthScheme::Plain)
    }

    fn preset(name: &str, url: &str) -> OpenAiBuilder {
        Self::with(name, url, Flavor::Compatible, true)
    }

    /// Groq.
    pub fn groq() -> OpenAiBuilder {
        Self::preset("groq", presets::GROQ)
    }

    /// Mistral.
    pub fn mistral() -> OpenAiBuilder {
        Self::preset("mistral", presets::MISTRAL)
    }

    /// DeepSeek (sends reasoning back as `reasoning_content`, which its thinking mode needs
    /// with tools).
    pub fn deepseek() -> OpenAiBuilder {
        Self::preset("deepseek", presets::DEEPSEEK).send_reasoning_content(true)
    }

    /// OpenRouter.
    pub fn openrouter() -> OpenAiBuilder {
        Self::preset("openrouter", presets::OPENROUTER)
    }

    /// xAI.
    pub fn xai() -> OpenAiBuilder {
        Self::preset("xai", presets::XAI)
    }

    /// Together.
    pub fn together() -> OpenAiBuilder {
        Self::preset("together", presets::TOGETHER)
    }

    /// Fireworks.
    pub fn fireworks() -> OpenAiBuilder {
        Self::preset("fireworks", presets::FIREWORKS)
    }

    /// A local Ollama server (keyless).
    pub fn ollama() -> OpenAiBuilder {
        Self::compatible(presets::OLLAMA).name("ollama")
    }

    /// A local vLLM server (keyless unless started with `--api-key`).
    pub fn vllm() -> OpenAiBuilder {
        Self::compatible(presets::VLLM).name("vllm")
    }

    /// A local LM Studio server (keyless).
    pub fn lm_studio() -> OpenAiBuilder {
        Self::compatible(presets::LM_STUDIO).name("lm-studio")
    }
}

impl OpenAiBuilder {
    llmward_core::common_builder_methods!();

    /// Sets the Azure `api-version` query parameter. Defaults to `2024-10-21`; ignored for
    /// other services.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        if let Flavor::Azure { api_version } = &mut self.common.wire.flavor {
            *api_version = version.into();
        }
        self
    }

    /// Sets the header and scheme the key is sent with (a header name in any case; an
    /// invalid one is a [`Config`](ErrorKind::Config) error at build time). Defaults to
    /// `Authorization: Bearer` (`api-key` for Azure).
    pub fn auth_header(mut self, header: impl Into<String>, scheme: AuthScheme) -> Self {
        self.common = self.common.auth_header(header, scheme);
        self
    }

    /// Sets the token-limit field. Defaults to `max_completion_tokens` for OpenAI and Azure,
    /// `max_tokens` for compatible servers.
    pub fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
        self.common.wire.encode.max_tokens_field = field;
        self
    }

    /// Sets the role of system prompts. Defaults to [`SystemRole::Auto`] for OpenAI and
    /// Azure, [`SystemRole::System`] for compatible servers.
    pub fn system_role(mut self, role: SystemRole) -> Self {
        self.common.wire.encode.system_role = role;
        self
    }

    /// Asks for usage in streams (`stream_options.include_usage`). Defaults to true.
    pub fn stream_usage(mut self, on: bool) -> Self {
        self.common.wire.encode.include_usage = on;
        self
    }

    /// Sends earlier reasoning back as `reasoning_content`. Defaults to false (true for
    /// DeepSeek).
    pub fn send_reasoning_content(mut self, on: bool) -> Self {
        self.common.wire.encode.send_reasoning_content = on;
        self
    }

    /// Sends `OpenAI-Organization`. Defaults to none.
    pub fn organization(self, id: impl Into<String>) -> Self {
        self.header("openai-organization", id)
    }

    /// Sends `OpenAI-Project`. Defaults to none.
    pub fn project(self, id: impl Into<String>) -> Self {
        self.header("openai-project", id)
    }

    /// Builds the provider.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when a key is required and missing, the base URL breaks the
    /// transport policy (plain `http` off loopback, credentials or a query in it), TLS or
    /// proxy settings are invalid, the auth header name is invalid, or an extra header is
    /// malformed or would carry a key.
    pub fn build(self) -> Result<OpenAi> {
        self.common.build().map(OpenAi)
    }
}

/// Refuses model names that would change the URL path they are put in.
fn path_segment(model: &str) -> Result<&str> {
    if model.is_empty()
        || model
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'%' | b'\\') || b <= b' ' || b >= 0x7f)
    {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "model name cannot be used as an Azure deployment name",
        ));
    }
    Ok(model)
}

impl ChatCompletions {
    fn path(&self, endpoint: &str, model: &str) -> Result<String> {
        Ok(match &self.flavor {
            Flavor::Azure { api_version } => format!(
                "openai/deployments/{}/{endpoint}?api-version={api_version}",
                path_segment(model)?
            ),
            _ => endpoint.to_owned(),
        })
    }
}

impl Wire for ChatCompletions {
    fn family(&self) -> llmward_core::Family {
        llmward_core::Family::OpenAi
    }

    fn chat_request(&self, request: &ChatRequest, stream: bool) -> Result<WireRequest> {
        let body = encode::chat_body(request, &self.encode, stream)?;
        Ok(WireRequest::new(
            self.path("chat/completions", &request.model)?,
            body,
        ))
    }

    fn embed_request(&self, request: &EmbedRequest) -> Result<WireRequest> {
        let body = encode::embed_body(request)?;
        Ok(WireRequest::new(
            self.path("embeddings", &request.model)?,
            body,
        ))
    }

    fn decode_chat(
        &self,
        request: &ChatRequest,
        body: &[u8],
        key: Option<&ApiKey>,
    ) -> Result<ChatResponse> {
        decode::chat_response(body, decode::ORIGIN, &request.model, None, key)
    }

    fn decode_embed(&self, request: &EmbedRequest, body: &[u8]) -> Result<EmbedResponse> {
        decode::embed_response(body, decode::ORIGIN, &request.model, None)
    }

    fn decode_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        key: Option<&ApiKey>,
    ) -> Error {
        decode::http_error(status, headers, body, decode::ORIGIN, key)
    }

    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        decode::request_id(headers)
    }

    fn stream(&self, _request: &ChatRequest, key: Option<Arc<ApiKey>>) -> Box<dyn StreamDecoder> {
        Box::new(stream::OpenAiStreamDecoder::new(
            decode::ORIGIN.to_owned(),
            None,
            key,
        ))
    }
}

/// Entry points for the fuzz targets in `fuzz/` and the tests replaying their seeds; each
/// takes arbitrary bytes and must never panic. Not part of the stable API.
#[doc(hidden)]
pub mod fuzz {
    use llmward_core::header::HeaderMap;

    /// A 200 Chat Completions body.
    pub fn response(data: &[u8]) {
        let _ = crate::decode::chat_response(data, "fuzz", "model", None, None);
        let _ = crate::decode::embed_response(data, "fuzz", "model", None);
    }

    /// An error body under a status taken from the first byte.
    pub fn error(data: &[u8]) {
        let status = 400 + u16::from(data.first().copied().unwrap_or(0)) % 200;
        let err = crate::decode::http_error(status, &HeaderMap::new(), data, "fuzz", None);
        let _ = err.to_string();
    }

    /// An SSE body through the stream decoder and the aggregator.
    pub fn stream(data: &[u8]) {
        let decoder = crate::stream::OpenAiStreamDecoder::new("fuzz".into(), None, None);
        llmward_core::fuzz::stream_decoder(decoder, data);
    }
}
