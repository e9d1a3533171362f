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
//! unless it is loopback or explicitly allowed (see [`HttpOptions`]). Error messages from the
//! server are redacted against the key before they reach an [`Error`].
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod stream;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use llmward_core::header::{AUTHORIZATION, HeaderName, HeaderValue};
use llmward_core::{
    ApiKey, Auth, AuthScheme, ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse,
    Error, ErrorKind, HttpOptions, HttpRequest, HttpResponse, KeySource, Provider, Result,
    SseSource, StaticKey, Transport,
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

/// A Chat Completions provider (OpenAI, Azure OpenAI, or an OpenAI-compatible server).
#[derive(Clone)]
pub struct OpenAi {
    name: Arc<str>,
    transport: Transport,
    auth: Auth,
    flavor: Flavor,
    encode: encode::EncodeOptions,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAi")
            .field("name", &self.name)
            .field("base_url", &self.transport.base_url())
            .field("flavor", &self.flavor)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Builds an [`OpenAi`] provider.
#[must_use]
pub struct OpenAiBuilder {
    name: String,
    base_url: String,
    key: Option<Arc<dyn KeySource>>,
    key_required: bool,
    auth_header: HeaderName,
    auth_scheme: AuthScheme,
    http: HttpOptions,
    flavor: Flavor,
    encode: encode::EncodeOptions,
    headers: Vec<(String, String)>,
}

impl fmt::Debug for OpenAiBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiBuilder")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("flavor", &self.flavor)
            .finish_non_exhaustive()
    }
}

impl OpenAi {
    fn with(name: &str, base_url: &str, flavor: Flavor, key_required: bool) -> OpenAiBuilder {
        let official = flavor != Flavor::Compatible;
        OpenAiBuilder {
            name: name.to_owned(),
            base_url: base_url.to_owned(),
            key: None,
            key_required,
            auth_header: AUTHORIZATION,
            auth_scheme: AuthScheme::Bearer,
            http: HttpOptions::new(),
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
            headers: Vec::new(),
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
        let mut b = Self::with(
            "azure",
            &endpoint.into(),
            Flavor::Azure {
                api_version: "2024-10-21".into(),
            },
            true,
        );
        b.auth_header = HeaderName::from_static("api-key");
        b.auth_scheme = AuthScheme::Plain;
        b
    }

    fn preset(name: &str, url: &str) -> OpenAiBuilder {
        let mut b = Self::with(name, url, Flavor::Compatible, true);
        b.name = name.to_owned();
        b
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
        let mut b = Self::preset("deepseek", presets::DEEPSEEK);
        b.encode.send_reasoning_content = true;
        b
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
    /// Sets the key. Defaults to none (a [`Config`](ErrorKind::Config) error at build time for
    /// services that need one). llmward never reads a key from the environment by itself.
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.key = Some(Arc::new(StaticKey::new(key)));
        self
    }

    /// Sets where keys come from; asked on every request, so keys rotate without a rebuild.
    pub fn key_source(mut self, source: Arc<dyn KeySource>) -> Self {
        self.key = Some(source);
        self
    }

    /// Sets the base URL (the part before `/chat/completions`). Defaults to the preset's.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Sets the instance name shown in responses, errors and events. Defaults to the preset's
    /// (`"openai"`, `"azure"`, `"groq"`, `"openai-compatible"`, ...).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets connection, timeout, size and TLS options. Defaults to [`HttpOptions::new`].
    pub fn http(mut self, options: HttpOptions) -> Self {
        self.http = options;
        self
    }

    /// Sets the Azure `api-version` query parameter. Defaults to `2024-10-21`; ignored for
    /// other services.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        if let Flavor::Azure { api_version } = &mut self.flavor {
            *api_version = version.into();
        }
        self
    }

    /// Sets the header and scheme the key is sent with. Defaults to `Authorization: Bearer`
    /// (`api-key` for Azure).
    pub fn auth_header(mut self, header: &'static str, scheme: AuthScheme) -> Self {
        self.auth_header = HeaderName::from_static(header);
        self.auth_scheme = scheme;
        self
    }

    /// Sets the token-limit field. Defaults to `max_completion_tokens` for OpenAI and Azure,
    /// `max_tokens` for compatible servers.
    pub fn max_tokens_field(mut self, field: MaxTokensField) -> Self {
        self.encode.max_tokens_field = field;
        self
    }

    /// Sets the role of system prompts. Defaults to [`SystemRole::Auto`] for OpenAI and
    /// Azure, [`SystemRole::System`] for compatible servers.
    pub fn system_role(mut self, role: SystemRole) -> Self {
        self.encode.system_role = role;
        self
    }

    /// Asks for usage in streams (`stream_options.include_usage`). Defaults to true.
    pub fn stream_usage(mut self, on: bool) -> Self {
        self.encode.include_usage = on;
        self
    }

    /// Sends earlier reasoning back as `reasoning_content`. Defaults to false (true for
    /// DeepSeek).
    pub fn send_reasoning_content(mut self, on: bool) -> Self {
        self.encode.send_reasoning_content = on;
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

    /// Adds a non-secret header to every request (e.g. OpenRouter's `HTTP-Referer`).
    /// Defaults to none. Put keys in [`api_key`](Self::api_key), never here.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Builds the provider.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when a key is required and missing, the base URL breaks the
    /// transport policy (plain `http` off loopback, credentials or a query in it), TLS or
    /// proxy settings are invalid, or an extra header is malformed.
    pub fn build(self) -> Result<OpenAi> {
        let name = self.name;
        let auth = match self.key {
            Some(source) => Auth::new(source, self.auth_header, self.auth_scheme),
            None if self.key_required => {
                return Err(Error::config(format!(
                    "{name}: an API key is required (api_key or key_source)"
                ))
                .with_provider(&name));
            }
            None => Auth::none(),
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (k, v) in self.headers {
            let k = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| Error::config(format!("{name}: invalid header name {k}")))?;
            if k == AUTHORIZATION || k.as_str() == "api-key" {
                return Err(Error::config(format!(
                    "{name}: send keys with api_key, not as an extra header"
                )));
            }
            let v = HeaderValue::from_str(&v)
                .map_err(|_| Error::config(format!("{name}: invalid value for header {k}")))?;
            headers.push((k, v));
        }
        let transport = Transport::new(&name, &self.base_url, self.http)?;
        Ok(OpenAi {
            name: name.into(),
            transport,
            auth,
            flavor: self.flavor,
            encode: self.encode,
            headers,
        })
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

impl OpenAi {
    fn path(&self, endpoint: &str, model: &str) -> Result<String> {
        Ok(match &self.flavor {
            Flavor::Azure { api_version } => format!(
                "openai/deployments/{}/{endpoint}?api-version={api_version}",
                path_segment(model)?
            ),
            _ => endpoint.to_owned(),
        })
    }

    async fn post(
        &self,
        path: String,
        body: Vec<u8>,
        deadline: Option<std::time::Duration>,
    ) -> Result<(HttpResponse, Option<Arc<ApiKey>>)> {
        let mut req = HttpRequest::json(path, body);
        req.deadline = deadline;
        for (k, v) in &self.headers {
            req.headers.insert(k.clone(), v.clone());
        }
        let key = self
            .auth
            .apply(&mut req.headers)
            .map_err(|e| e.with_provider(&*self.name))?;
        let response = self.transport.send(req).await?;
        if response.is_success() {
            return Ok((response, key));
        }
        let (status, headers, body) = response.into_error_parts().await;
        Err(
            decode::http_error(status, &headers, &body, &self.name, key.as_deref())
                .without_echoed_key(key.as_deref()),
        )
    }
}

#[async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let body = encode::chat_body(request, &self.encode, false)
            .map_err(|e| e.with_provider(&*self.name))?;
        let path = self.path("chat/completions", &request.model)?;
        let (response, key) = self.post(path, body, request.deadline).await?;
        let request_id = decode::request_id(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| e.with_provider(&*self.name))?;
        let key = key.as_deref();
        decode::chat_response(&bytes, &self.name, &request.model, request_id, key)
            .map(|r| r.without_echoed_key(key, &request.model))
            .map_err(|e| e.without_echoed_key(key))
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        let body = encode::chat_body(request, &self.encode, true)
            .map_err(|e| e.with_provider(&*self.name))?;
        let path = self.path("chat/completions", &request.model)?;
        let (response, key) = self.post(path, body, request.deadline).await?;
        let request_id = decode::request_id(response.headers());
        let decoder = stream::OpenAiStreamDecoder::new(
            self.name.to_string(),
            request_id.clone(),
            key.clone(),
        );
        Ok(ChatStream::from_sse(
            response,
            self.transport.options(),
            SseSource {
                provider: self.name.to_string(),
                model: request.model.clone(),
                origin: decode::ORIGIN,
                request_id,
                key,
            },
            decoder,
        ))
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse> {
        if request.inputs.is_empty() {
            return Err(Error::new(ErrorKind::InvalidRequest, "no inputs to embed")
                .with_provider(&*self.name));
        }
        let body = encode::embed_body(request)?;
        let path = self.path("embeddings", &request.model)?;
        let (response, _key) = self.post(path, body, request.deadline).await?;
        let request_id = decode::request_id(response.headers());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| e.with_provider(&*self.name))?;
        decode::embed_response(&bytes, &self.name, &request.model, request_id)
    }

    fn key_label(&self) -> Option<String> {
        self.auth.label()
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
