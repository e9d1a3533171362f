//! The provider SPI: what a provider crate implements ([`Wire`]: pure translation between
//! llmward's types and one wire format) and the one HTTP round trip every provider shares
//! ([`HttpProvider`]: auth, send, caps, status handling, error bodies, request ids, scrubbing).
//!
//! A provider crate performs no I/O. It implements [`Wire`], wraps [`HttpProvider`] in its
//! public type with [`http_provider!`](crate::http_provider), and gives its builder the shared
//! settings with [`common_builder_methods!`](crate::common_builder_methods):
//!
//! ```
//! use llmward_core::wire::{HttpProvider, ProviderBuilder, Wire, WireRequest};
//! use llmward_core::header::HeaderMap;
//! use llmward_core::{ApiKey, ChatRequest, ChatResponse, ContentPart, Error, Family, Result, StreamDecoder};
//! use llmward_core::{sse::SseEvent, StreamEvent};
//! use std::collections::VecDeque;
//! use std::sync::Arc;
//!
//! /// A toy wire format: the body is the prompt, the answer is the body.
//! #[derive(Clone, Debug)]
//! struct Echo;
//!
//! struct EchoStream;
//! impl StreamDecoder for EchoStream {
//!     fn event(&mut self, event: SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<bool> {
//!         out.push_back(StreamEvent::TextDelta(event.data.clone()));
//!         Ok(true)
//!     }
//! }
//!
//! impl Wire for Echo {
//!     fn family(&self) -> Family {
//!         Family::Other("echo".into())
//!     }
//!     fn chat_request(&self, request: &ChatRequest, _stream: bool) -> Result<WireRequest> {
//!         let text: String = request.messages.iter().map(|m| m.text()).collect();
//!         Ok(WireRequest::new("echo", text.into_bytes()))
//!     }
//!     fn decode_chat(&self, request: &ChatRequest, body: &[u8], _key: Option<&ApiKey>) -> Result<ChatResponse> {
//!         let mut answer = ChatResponse::new("echo", request.model.clone());
//!         answer.content.push(ContentPart::Text(String::from_utf8_lossy(body).into_owned()));
//!         Ok(answer)
//!     }
//!     fn decode_error(&self, status: u16, _: &HeaderMap, _: &[u8], _: Option<&ApiKey>) -> Error {
//!         llmward_core::wire::status_error(status)
//!     }
//!     fn stream(&self, _: &ChatRequest, _: Option<Arc<ApiKey>>) -> Box<dyn StreamDecoder> {
//!         Box::new(EchoStream)
//!     }
//! }
//!
//! let echo: HttpProvider<Echo> = ProviderBuilder::new("echo", "http://127.0.0.1:9/v1", Echo)
//!     .key_required(false)
//!     .build()?;
//! assert_eq!(llmward_core::Provider::name(&echo), "echo");
//! # Ok::<(), llmward_core::Error>(())
//! ```

use std::fmt;
use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use crate::{
    ApiKey, Auth, AuthScheme, ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse,
    Error, ErrorKind, Family, HttpOptions, HttpRequest, HttpResponse, KeySource, Provider, Result,
    SseSource, StaticKey, StreamDecoder, Transport,
};

/// One request a [`Wire`] wants sent: a path under the base URL, the headers of this wire
/// format (never the key: [`HttpProvider`] adds it), and the body.
#[derive(Debug)]
pub struct WireRequest {
    /// Path (and non-secret query) under the base URL, e.g. `chat/completions`.
    pub path: String,
    /// Headers of the wire format (`anthropic-version`, `accept`), not auth.
    pub headers: HeaderMap,
    /// The body, sent as `application/json`.
    pub body: Vec<u8>,
}

impl WireRequest {
    /// A request of `body` (already JSON) to `path`.
    pub fn new(path: impl Into<String>, body: Vec<u8>) -> Self {
        Self {
            path: path.into(),
            headers: HeaderMap::new(),
            body,
        }
    }

    /// A request of `body` serialized as JSON to `path`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidRequest`] when the body cannot be serialized (a value JSON cannot
    /// hold): the request is what is wrong, and sending it again cannot help.
    pub fn json(path: impl Into<String>, body: &impl Serialize) -> Result<Self> {
        let body = serde_json::to_vec(body).map_err(|_| {
            Error::new(
                ErrorKind::InvalidRequest,
                "request body cannot be encoded as JSON",
            )
        })?;
        Ok(Self::new(path, body))
    }

    /// Adds a header of the wire format.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }
}

/// One wire format: pure translation between llmward's types and a provider's requests,
/// bodies, error bodies and stream events. No I/O: [`HttpProvider`] does the round trip.
pub trait Wire: fmt::Debug + Send + Sync + 'static {
    /// The family whose opaque reasoning parts and signatures this wire format carries
    /// (which is not always the wire format's own: Claude over another API is Anthropic).
    fn family(&self) -> Family;

    /// The chat request for `request` (`stream` asks for an event stream).
    ///
    /// # Errors
    ///
    /// When `request` cannot be expressed in this wire format.
    fn chat_request(&self, request: &ChatRequest, stream: bool) -> Result<WireRequest>;

    /// The embeddings request. Defaults to [`ErrorKind::Unsupported`].
    ///
    /// # Errors
    ///
    /// When the wire format has no embeddings, or `request` cannot be expressed.
    fn embed_request(&self, request: &EmbedRequest) -> Result<WireRequest> {
        let _ = request;
        Err(Error::unsupported(
            "this provider does not offer embeddings",
        ))
    }

    /// Decodes a successful chat body. `key` is the key the request used, so that messages
    /// taken from the body are redacted against it.
    ///
    /// # Errors
    ///
    /// An error object inside the body, or a body that is not an answer.
    fn decode_chat(
        &self,
        request: &ChatRequest,
        body: &[u8],
        key: Option<&ApiKey>,
    ) -> Result<ChatResponse>;

    /// Decodes a successful embeddings body. Defaults to [`ErrorKind::Unsupported`].
    ///
    /// # Errors
    ///
    /// A body that is not an embeddings answer.
    fn decode_embed(&self, request: &EmbedRequest, body: &[u8]) -> Result<EmbedResponse> {
        let _ = (request, body);
        Err(Error::unsupported(
            "this provider does not offer embeddings",
        ))
    }

    /// The error a non-2xx answer means. `body` is empty when it could not be read or was over
    /// the cap; the status and headers (Retry-After) still map.
    fn decode_error(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        key: Option<&ApiKey>,
    ) -> Error;

    /// The provider's request id in a response head. Defaults to none.
    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        let _ = headers;
        None
    }

    /// A decoder for the event stream answering `request`.
    fn stream(&self, request: &ChatRequest, key: Option<Arc<ApiKey>>) -> Box<dyn StreamDecoder>;
}

/// The longest request id kept from a response header.
pub const MAX_REQUEST_ID_BYTES: usize = 256;

/// The value of the first of `names` present in `headers`, when it is printable ASCII of at
/// most [`MAX_REQUEST_ID_BYTES`].
pub fn header_id(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= MAX_REQUEST_ID_BYTES)
        .map(str::to_owned)
}

/// The kind an HTTP status means when the body says nothing more: the one fallback table
/// for every provider.
pub fn status_kind(status: u16) -> ErrorKind {
    match status {
        300..=399 => ErrorKind::Redirected,
        400 | 405 | 409 | 411 | 415 | 422 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Auth,
        402 => ErrorKind::QuotaExceeded,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        408 | 504 => ErrorKind::Timeout,
        413 => ErrorKind::ContextLengthExceeded,
        429 => ErrorKind::RateLimited,
        503 | 529 => ErrorKind::Overloaded,
        500..=599 => ErrorKind::Server,
        _ => ErrorKind::InvalidRequest,
    }
}

/// An error for `status` alone, with the status set.
pub fn status_error(status: u16) -> Error {
    Error::new(
        status_kind(status),
        format!("the provider answered HTTP {status}"),
    )
    .with_status(status)
}

/// The longest excerpt of a non-JSON error body shown, in characters.
pub const MAX_EXCERPT_CHARS: usize = 200;

/// A short excerpt of an error body that is not the provider's JSON (a plain-text error from
/// a proxy), for the error message; `None` when the body is empty, not text, or an HTML page
/// (markup says nothing useful and can be long). The excerpt is redacted later, like every
/// message.
pub fn body_excerpt(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() || text.starts_with('<') {
        return None;
    }
    let mut excerpt: String = text.chars().take(MAX_EXCERPT_CHARS).collect();
    if excerpt.len() < text.len() {
        excerpt.push('…');
    }
    Some(excerpt)
}

/// For `#[serde(deserialize_with = "nullable")]`: a JSON `null` reads as the default value,
/// as providers send `null` for absent fields.
///
/// # Errors
///
/// When the value is neither `null` nor a `T`.
pub fn nullable<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    use serde::Deserialize as _;
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A provider over HTTP: one [`Wire`] plus the round trip every provider shares. The only
/// implementation of [`Provider`] for HTTP providers.
pub struct HttpProvider<W> {
    name: Arc<str>,
    transport: Transport,
    auth: Auth,
    headers: HeaderMap,
    wire: W,
}

impl<W: Clone> Clone for HttpProvider<W> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            transport: self.transport.clone(),
            auth: self.auth.clone(),
            headers: self.headers.clone(),
            wire: self.wire.clone(),
        }
    }
}

impl<W: fmt::Debug> fmt::Debug for HttpProvider<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProvider")
            .field("name", &self.name)
            .field("base_url", &self.transport.base_url())
            .field("auth", &self.auth)
            .field("wire", &self.wire)
            .finish_non_exhaustive()
    }
}

impl<W: Wire> HttpProvider<W> {
    /// The wire format and its settings.
    pub fn wire(&self) -> &W {
        &self.wire
    }

    /// The base URL requests go under.
    pub fn base_url(&self) -> &str {
        self.transport.base_url()
    }

    /// Errors carry the instance's name, whatever a decoder put there.
    fn with_name(&self, err: Error) -> Error {
        err.with_provider(&*self.name)
    }

    /// Sends `request`; returns the response head with the key used and the provider's
    /// request id (dropped when it could carry the key), or the mapped error.
    async fn send(
        &self,
        request: WireRequest,
        deadline: Option<std::time::Duration>,
    ) -> Result<(HttpResponse, Option<Arc<ApiKey>>, Option<String>)> {
        let mut http = HttpRequest::json(request.path, request.body);
        http.deadline = deadline;
        for (name, value) in &self.headers {
            http.headers.insert(name.clone(), value.clone());
        }
        for (name, value) in request.headers {
            if let Some(name) = name {
                http.headers.insert(name, value);
            }
        }
        let key = self
            .auth
            .apply(&mut http.headers)
            .map_err(|e| self.with_name(e))?;
        let response = self.transport.send(http).await?;
        let request_id =
            crate::redact::identifier(self.wire.request_id(response.headers()), key.as_deref());
        if response.is_success() {
            return Ok((response, key, request_id));
        }
        let (status, headers, body) = response.into_error_parts().await;
        let err = self
            .wire
            .decode_error(status, &headers, &body, key.as_deref());
        let err = if err.status().is_none() {
            err.with_status(status)
        } else {
            err
        };
        let err = if err.request_id().is_none() {
            err.with_request_id(request_id)
        } else {
            err
        };
        Err(self.with_name(err).without_echoed_key(key.as_deref()))
    }

    /// Reads a successful body; a failure to read it keeps the status and request id.
    async fn body(
        &self,
        response: HttpResponse,
        request_id: &Option<String>,
    ) -> Result<bytes::Bytes> {
        let status = response.status();
        response.bytes().await.map_err(|e| {
            self.with_name(e)
                .with_status(status)
                .with_request_id(request_id.clone())
        })
    }
}

#[async_trait::async_trait]
impl<W: Wire> Provider for HttpProvider<W> {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let wire = self
            .wire
            .chat_request(request, false)
            .map_err(|e| self.with_name(e))?;
        let (response, key, request_id) = self.send(wire, request.deadline).await?;
        let bytes = self.body(response, &request_id).await?;
        let key = key.as_deref();
        match self.wire.decode_chat(request, &bytes, key) {
            Ok(mut answer) => {
                answer.provider = self.name.to_string();
                if request_id.is_some() {
                    answer.request_id = request_id;
                }
                Ok(answer.without_echoed_key(key, &request.model))
            }
            Err(e) => Err(self
                .with_name(e)
                .with_request_id(request_id)
                .without_echoed_key(key)),
        }
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        let wire = self
            .wire
            .chat_request(request, true)
            .map_err(|e| self.with_name(e))?;
        let (response, key, request_id) = self.send(wire, request.deadline).await?;
        let decoder = self.wire.stream(request, key.clone());
        Ok(ChatStream::from_sse(
            response,
            self.transport.options(),
            SseSource {
                provider: self.name.to_string(),
                model: request.model.clone(),
                origin: self.wire.family(),
                request_id,
                key,
            },
            decoder,
        ))
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse> {
        if request.inputs.is_empty() {
            return Err(self.with_name(Error::new(ErrorKind::InvalidRequest, "no inputs to embed")));
        }
        let wire = self
            .wire
            .embed_request(request)
            .map_err(|e| self.with_name(e))?;
        let (response, key, request_id) = self.send(wire, request.deadline).await?;
        let bytes = self.body(response, &request_id).await?;
        let key = key.as_deref();
        let mut answer = self
            .wire
            .decode_embed(request, &bytes)
            .map_err(|e| self.with_name(e).without_echoed_key(key))?;
        answer.provider = self.name.to_string();
        answer.request_id = request_id;
        answer.model = crate::redact::identifier(Some(std::mem::take(&mut answer.model)), key)
            .unwrap_or_else(|| request.model.clone());
        Ok(answer)
    }

    fn key_label(&self) -> Option<String> {
        self.auth.label()
    }
}

/// The settings every HTTP provider shares: key or key source, base URL, HTTP options, name,
/// extra headers, and the header and scheme the key is sent with. A provider's own builder
/// wraps it and adds its options with [`common_builder_methods!`](crate::common_builder_methods).
#[must_use]
pub struct ProviderBuilder<W> {
    name: String,
    base_url: String,
    key: Option<Arc<dyn KeySource>>,
    key_required: bool,
    auth_header: String,
    auth_scheme: AuthScheme,
    http: HttpOptions,
    headers: Vec<(String, String)>,
    /// The wire format's own settings, which the provider's builder edits.
    pub wire: W,
}

impl<W: fmt::Debug> fmt::Debug for ProviderBuilder<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderBuilder")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("auth_header", &self.auth_header)
            .field("wire", &self.wire)
            .finish_non_exhaustive()
    }
}

impl<W: Wire> ProviderBuilder<W> {
    /// A builder for the provider `name` at `base_url` speaking `wire`: a key is required,
    /// sent as `Authorization: Bearer`, over [`HttpOptions::new`].
    pub fn new(name: impl Into<String>, base_url: impl Into<String>, wire: W) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into(),
            key: None,
            key_required: true,
            auth_header: AUTHORIZATION.as_str().to_owned(),
            auth_scheme: AuthScheme::Bearer,
            http: HttpOptions::new(),
            headers: Vec::new(),
            wire,
        }
    }

    /// Uses this key for every request. Defaults to none.
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.key = Some(Arc::new(StaticKey::new(key)));
        self
    }

    /// Asks `source` for the key on every request, so keys rotate without a rebuild.
    /// Defaults to none.
    pub fn key_source(mut self, source: Arc<dyn KeySource>) -> Self {
        self.key = Some(source);
        self
    }

    /// Whether [`build`](Self::build) refuses a missing key. Defaults to true.
    pub fn key_required(mut self, required: bool) -> Self {
        self.key_required = required;
        self
    }

    /// Sets the base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Sets the instance name shown in responses, errors and events.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets connection, timeout, size and TLS options. Defaults to [`HttpOptions::new`].
    pub fn http(mut self, options: HttpOptions) -> Self {
        self.http = options;
        self
    }

    /// Sets the header the key is sent in (any case; checked at [`build`](Self::build)) and
    /// how it is written. Defaults to `Authorization: Bearer`.
    pub fn auth_header(mut self, header: impl Into<String>, scheme: AuthScheme) -> Self {
        self.auth_header = header.into();
        self.auth_scheme = scheme;
        self
    }

    /// Adds a non-secret header to every request. Defaults to none. Keys go through
    /// [`api_key`](Self::api_key), never here.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Builds the provider.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] naming the problem: an empty name; a key required and missing;
    /// an auth header name that is not a valid header name; an extra header that is malformed
    /// or would carry a key (`authorization`, `api-key`, `x-api-key`, `x-goog-api-key`, or
    /// the auth header); a base URL that breaks the transport policy (plain `http` off
    /// loopback, credentials, a query); invalid TLS or proxy settings.
    pub fn build(self) -> Result<HttpProvider<W>> {
        let name = self.name;
        if name.trim().is_empty() {
            return Err(Error::config("provider name is empty"));
        }
        let config = |message: String| Error::config(message).with_provider(name.as_str());
        let auth_header = HeaderName::from_bytes(self.auth_header.to_ascii_lowercase().as_bytes())
            .map_err(|_| {
                config(format!(
                    "{name}: the auth header name is not a valid header name"
                ))
            })?;
        let auth = match self.key {
            Some(source) => Auth::new(source, auth_header.clone(), self.auth_scheme),
            None if self.key_required => {
                return Err(config(format!(
                    "{name}: an API key is required (api_key or key_source)"
                )));
            }
            None => Auth::none(),
        };
        let mut headers = HeaderMap::with_capacity(self.headers.len());
        for (k, v) in self.headers {
            let k = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| config(format!("{name}: invalid header name {k:?}")))?;
            if k == AUTHORIZATION
                || k == auth_header
                || matches!(k.as_str(), "api-key" | "x-api-key" | "x-goog-api-key")
            {
                return Err(config(format!(
                    "{name}: send keys with api_key or key_source, not as the extra header {k}"
                )));
            }
            let v = HeaderValue::from_str(&v)
                .map_err(|_| config(format!("{name}: invalid value for header {k}")))?;
            headers.insert(k, v);
        }
        let transport = Transport::new(&name, &self.base_url, self.http)?;
        Ok(HttpProvider {
            name: name.into(),
            transport,
            auth,
            headers,
            wire: self.wire,
        })
    }
}

/// Declares a provider's public type as a newtype over [`HttpProvider`] and forwards
/// [`Provider`] to it, so the round trip stays in one place.
///
/// ```ignore
/// llmward_core::http_provider! {
///     /// An OpenAI Chat Completions provider.
///     pub struct OpenAi(ChatCompletions);
/// }
/// ```
#[macro_export]
macro_rules! http_provider {
    ($(#[$meta:meta])* $vis:vis struct $name:ident($wire:ty);) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        $vis struct $name($crate::wire::HttpProvider<$wire>);

        impl $name {
            /// The wire format and its settings.
            pub fn wire(&self) -> &$wire {
                self.0.wire()
            }

            /// The base URL requests go under.
            pub fn base_url(&self) -> &str {
                self.0.base_url()
            }
        }

        impl ::core::convert::From<$crate::wire::HttpProvider<$wire>> for $name {
            fn from(inner: $crate::wire::HttpProvider<$wire>) -> Self {
                Self(inner)
            }
        }

        #[$crate::wire::async_trait]
        impl $crate::Provider for $name {
            fn name(&self) -> &str {
                $crate::Provider::name(&self.0)
            }

            async fn chat(&self, request: &$crate::ChatRequest) -> $crate::Result<$crate::ChatResponse> {
                $crate::Provider::chat(&self.0, request).await
            }

            async fn chat_stream(&self, request: &$crate::ChatRequest) -> $crate::Result<$crate::ChatStream> {
                $crate::Provider::chat_stream(&self.0, request).await
            }

            async fn embed(&self, request: &$crate::EmbedRequest) -> $crate::Result<$crate::EmbedResponse> {
                $crate::Provider::embed(&self.0, request).await
            }

            fn key_label(&self) -> Option<String> {
                $crate::Provider::key_label(&self.0)
            }
        }
    };
}

/// Gives a provider's builder (a struct with a `common: ProviderBuilder<W>` field) the
/// settings every provider shares, with their documentation, written once.
#[macro_export]
macro_rules! common_builder_methods {
    () => {
        /// Uses this key for every request. Defaults to none. llmward never reads a key from
        /// the environment by itself: use `ApiKey::from_env("VAR")` to do so explicitly.
        pub fn api_key(mut self, key: $crate::ApiKey) -> Self {
            self.common = self.common.api_key(key);
            self
        }

        /// Asks `source` for the key on every request, so keys rotate without a rebuild.
        /// Defaults to none. Replaces any [`api_key`](Self::api_key).
        pub fn key_source(mut self, source: ::std::sync::Arc<dyn $crate::KeySource>) -> Self {
            self.common = self.common.key_source(source);
            self
        }

        /// Sets the base URL. Defaults to the preset's. Plain `http://` is refused except to
        /// loopback or a host allowed with `HttpOptions::danger_allow_http_host`.
        pub fn base_url(mut self, url: impl Into<String>) -> Self {
            self.common = self.common.base_url(url);
            self
        }

        /// Sets the instance name shown in responses, errors and events. Defaults to the
        /// preset's.
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.common = self.common.name(name);
            self
        }

        /// Sets connection, timeout, size and TLS options. Defaults to `HttpOptions::new()`.
        pub fn http(mut self, options: $crate::HttpOptions) -> Self {
            self.common = self.common.http(options);
            self
        }

        /// Adds a non-secret header to every request. Defaults to none. Keys go through
        /// [`api_key`](Self::api_key), never here; a header that would carry one is refused
        /// at build time.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.common = self.common.header(name, value);
            self
        }
    };
}

#[doc(hidden)]
pub use async_trait::async_trait;
