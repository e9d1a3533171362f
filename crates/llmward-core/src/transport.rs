//! The HTTP transport every provider uses, and its security policy.
//!
//! - TLS is rustls with the *ring* provider and the operating system's trust store, plus any
//!   root certificates the caller adds; a client certificate can be given for mutual TLS.
//! - `https` is required, except to loopback (`127.0.0.0/8`, `::1`, `localhost`) and to hosts
//!   listed with [`HttpOptions::danger_allow_http_host`].
//! - Redirects are never followed: a 3xx is a [`ErrorKind::Redirected`] error.
//! - No system proxy is used; [`HttpOptions::proxy`] sets one explicitly.
//! - Response bodies, SSE lines and SSE events are capped while they are read.
//! - Base URLs may not carry credentials, a query or a fragment, so no secret rides in a URL.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Url};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use crate::{ApiKey, AuthScheme, Error, ErrorKind, KeySource, Result};

/// Connection, timeout, size and TLS settings shared by every provider builder.
///
/// ```
/// use std::time::Duration;
/// use llmward_core::HttpOptions;
///
/// let http = HttpOptions::new()
///     .connect_timeout(Duration::from_secs(3))
///     .max_body_bytes(8 << 20)
///     .danger_allow_http_host("llm.internal");
/// # let _ = http;
/// ```
#[derive(Clone)]
#[must_use]
pub struct HttpOptions {
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) stream_idle_timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_sse_bytes: usize,
    pub(crate) pool_max_idle_per_host: usize,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) proxy: Option<String>,
    pub(crate) extra_roots_pem: Vec<Vec<u8>>,
    pub(crate) identity_pem: Option<(Vec<u8>, Zeroizing<Vec<u8>>)>,
    pub(crate) allow_http_hosts: Vec<String>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("stream_idle_timeout", &self.stream_idle_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_sse_bytes", &self.max_sse_bytes)
            .field("proxy", &self.proxy.as_ref().map(|_| ".."))
            .field("extra_roots", &self.extra_roots_pem.len())
            .field("client_identity", &self.identity_pem.is_some())
            .field("allow_http_hosts", &self.allow_http_hosts)
            .finish_non_exhaustive()
    }
}

impl HttpOptions {
    /// The defaults listed on each setter.
    pub fn new() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            stream_idle_timeout: Duration::from_secs(120),
            max_body_bytes: 32 << 20,
            max_sse_bytes: 1 << 20,
            pool_max_idle_per_host: 64,
            pool_idle_timeout: Duration::from_secs(90),
            proxy: None,
            extra_roots_pem: Vec::new(),
            identity_pem: None,
            allow_http_hosts: Vec::new(),
        }
    }

    /// Time allowed to open a connection (TCP and TLS). Defaults to 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for a whole request, body or stream included. Defaults to 600 s. A
    /// request's own [deadline](crate::ChatRequest::deadline) shortens it.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Longest silence allowed between two chunks of a stream. Defaults to 120 s.
    pub fn stream_idle_timeout(mut self, timeout: Duration) -> Self {
        self.stream_idle_timeout = timeout;
        self
    }

    /// Cap on a response body, and on the total bytes of a stream. Defaults to 32 MiB.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Cap on one SSE line and one SSE event. Defaults to 1 MiB.
    pub fn max_sse_bytes(mut self, max: usize) -> Self {
        self.max_sse_bytes = max;
        self
    }

    /// Idle connections kept per host. Defaults to 64.
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// How long an idle pooled connection is kept. Defaults to 90 s.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Sends every request through this proxy (`http://…`, `https://…`). Defaults to none:
    /// llmward never reads proxy settings from the environment.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Trusts the root certificates in `pem` in addition to the system's, for internal
    /// endpoints with a private CA. Defaults to none.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem.push(pem.into());
        self
    }

    /// Presents this client certificate chain and private key (PEM) for mutual TLS. Defaults
    /// to none. The key bytes are wiped when the options are dropped.
    pub fn client_identity_pem(
        mut self,
        cert_chain_pem: impl Into<Vec<u8>>,
        private_key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.identity_pem = Some((
            cert_chain_pem.into(),
            Zeroizing::new(private_key_pem.into()),
        ));
        self
    }

    /// Allows plain `http://` to `host` (an internal, self-hosted endpoint). Keys sent there
    /// travel unencrypted: prefer TLS with [`add_root_certificate_pem`](Self::add_root_certificate_pem).
    /// Loopback is always allowed. Defaults to none.
    pub fn danger_allow_http_host(mut self, host: impl Into<String>) -> Self {
        self.allow_http_hosts.push(host.into().to_ascii_lowercase());
        self
    }
}

/// Where and how a provider sends its key.
#[derive(Clone)]
pub struct Auth {
    source: Option<Arc<dyn KeySource>>,
    header: HeaderName,
    scheme: AuthScheme,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("source", &self.source)
            .field("header", &self.header)
            .field("scheme", &self.scheme)
            .finish()
    }
}

impl Auth {
    /// Sends the key from `source` in `header`, written per `scheme`.
    pub fn new(source: Arc<dyn KeySource>, header: HeaderName, scheme: AuthScheme) -> Self {
        Self {
            source: Some(source),
            header,
            scheme,
        }
    }

    /// No key (a keyless self-hosted server).
    pub fn none() -> Self {
        Self {
            source: None,
            header: reqwest::header::AUTHORIZATION,
            scheme: AuthScheme::Bearer,
        }
    }

    /// Whether a key source is configured.
    pub fn is_some(&self) -> bool {
        self.source.is_some()
    }

    /// Asks the source for the current key and writes its header into `headers`. Returns the
    /// key, so that error messages can be redacted against it.
    ///
    /// # Errors
    ///
    /// When the key source fails.
    pub fn apply(&self, headers: &mut HeaderMap) -> Result<Option<Arc<ApiKey>>> {
        let Some(source) = &self.source else {
            return Ok(None);
        };
        let key = source.current()?;
        headers.insert(self.header.clone(), key.header_value(self.scheme)?);
        Ok(Some(key))
    }

    /// The current key's label, for events.
    pub fn label(&self) -> Option<String> {
        let source = self.source.as_ref()?;
        source.current().ok()?.label().map(str::to_owned)
    }
}

/// One provider instance's HTTP client, bound to its base URL and security policy.
#[derive(Clone)]
pub struct Transport {
    client: Client,
    base: Arc<str>,
    provider: Arc<str>,
    options: Arc<HttpOptions>,
    // Parsing a URL costs more than the rest of building a request; paths repeat.
    urls: Arc<RwLock<HashMap<Box<str>, Url>>>,
}

// Paths that embed a model name vary; a few dozen cover any real deployment.
const URL_CACHE_ENTRIES: usize = 64;

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("provider", &self.provider)
            .field("base_url", &self.base)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Whether `host` may be reached over plain HTTP without asking.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let host = host.to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// Checks a base URL against the policy and returns it without a trailing slash.
///
/// # Errors
///
/// [`ErrorKind::Config`] for an unparsable URL, a scheme other than `https`/`http`, `http` to
/// a host that is neither loopback nor allowed, credentials, a query or a fragment.
pub fn check_base_url(url: &str, allow_http_hosts: &[String]) -> Result<String> {
    let parsed = Url::parse(url).map_err(|_| Error::config("base URL is not a valid URL"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| Error::config("base URL has no host"))?
        .to_ascii_lowercase();
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            if !is_loopback_host(&host) && !allow_http_hosts.iter().any(|h| h == bare) {
                return Err(Error::config(format!(
                    "base URL uses plain http:// to {host}, which is not loopback: use https, \
                     or allow this internal host with HttpOptions::danger_allow_http_host"
                )));
            }
        }
        other => {
            return Err(Error::config(format!(
                "base URL scheme {other} is not supported: use https"
            )));
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::config(
            "base URL carries credentials: give keys through ApiKey instead",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::config(
            "base URL carries a query or fragment: use the provider's builder options instead",
        ));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

fn tls_config(options: &HttpOptions) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = Vec::new();
    for pem in &options.extra_roots_pem {
        let before = roots.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots
                .push(cert.map_err(|_| Error::config("root certificate PEM could not be parsed"))?);
        }
        if roots.len() == before {
            return Err(Error::config("root certificate PEM holds no certificate"));
        }
    }
    let verifier = if roots.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone())
    }
    .map_err(|e| Error::config("TLS verifier could not be set up").with_source(e))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("TLS protocol versions could not be set").with_source(e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match &options.identity_pem {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let certs = CertificateDer::pem_slice_iter(chain)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|_| Error::config("client certificate PEM could not be parsed"))?;
            if certs.is_empty() {
                return Err(Error::config("client certificate PEM holds no certificate"));
            }
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|_| Error::config("client private key PEM could not be parsed"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|_| Error::config("client certificate and key do not form an identity"))?
        }
    };
    config.alpn_protocols = if cfg!(feature = "http2") {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// Builds a `reqwest::Client` with llmward's TLS setup (ring, platform verifier, extra roots,
/// client identity), no redirects and no system proxy. Exposed so that tests and benchmarks
/// build their clients the same way.
///
/// # Errors
///
/// [`ErrorKind::Config`] for bad PEM, a bad proxy URL, or a client that cannot be built.
pub fn build_client(options: &HttpOptions) -> Result<Client> {
    let mut builder = Client::builder()
        .tls_backend_preconfigured(tls_config(options)?)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(options.connect_timeout)
        .pool_max_idle_per_host(options.pool_max_idle_per_host)
        .pool_idle_timeout(options.pool_idle_timeout)
        .user_agent(concat!("llmward/", env!("CARGO_PKG_VERSION")));
    if !cfg!(feature = "http2") {
        builder = builder.http1_only();
    }
    if let Some(proxy) = &options.proxy {
        let proxy = reqwest::Proxy::all(proxy.as_str())
            .map_err(|_| Error::config("proxy URL is not valid"))?;
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| Error::config("HTTP client could not be built").with_source(e.without_url()))
}

/// A request ready to send: a path under the base URL, headers, a JSON body.
#[derive(Debug)]
pub struct HttpRequest {
    /// Path (and non-secret query) under the base URL, e.g. `chat/completions`.
    pub path: String,
    /// Headers, auth included.
    pub headers: HeaderMap,
    /// The body (JSON).
    pub body: Vec<u8>,
    /// The caller's deadline, shortening the transport's request timeout.
    pub deadline: Option<Duration>,
}

impl HttpRequest {
    /// A POST of `body` to `path` with JSON content type.
    pub fn json(path: impl Into<String>, body: Vec<u8>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Self {
            path: path.into(),
            headers,
            body,
            deadline: None,
        }
    }
}

/// A response whose head has arrived; the body is read on demand, within its caps.
#[derive(Debug)]
pub struct HttpResponse {
    response: reqwest::Response,
    max_body: usize,
}

impl HttpResponse {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.response.status().as_u16()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        self.response.status().is_success()
    }

    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        self.response.headers()
    }

    /// Reads the whole body, refusing more than the cap.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ResponseTooLarge`] past the cap (or when `Content-Length` announces more);
    /// `Timeout` or `Connect` when reading fails.
    pub async fn bytes(mut self) -> Result<Bytes> {
        let max = self.max_body;
        if self
            .response
            .content_length()
            .is_some_and(|n| n > max as u64)
        {
            return Err(body_too_large(max));
        }
        let mut buf = BytesMut::new();
        while let Some(chunk) = self.response.chunk().await.map_err(Error::from)? {
            if buf.len() + chunk.len() > max {
                return Err(body_too_large(max));
            }
            if buf.is_empty() && chunk.len() == self.response.content_length().unwrap_or(0) as usize
            {
                // The common single-chunk body is returned without a copy.
                return Ok(chunk);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// Takes an error response apart for mapping: status, headers and body. A body that
    /// cannot be read or passes the cap is empty, so the error still maps by its status and
    /// headers (Retry-After).
    pub async fn into_error_parts(self) -> (u16, HeaderMap, Bytes) {
        let status = self.status();
        let headers = self.headers().clone();
        (status, headers, self.bytes().await.unwrap_or_default())
    }

    /// The body as a stream of byte frames (for SSE).
    pub(crate) fn into_body(self) -> reqwest::Body {
        reqwest::Body::from(self.response)
    }
}

fn body_too_large(max: usize) -> Error {
    Error::new(
        ErrorKind::ResponseTooLarge,
        format!("response body larger than the {max}-byte cap"),
    )
}

impl Transport {
    /// A transport for `provider` at `base_url`, enforcing the policy of this module.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the base URL breaks the policy, or TLS/proxy settings are
    /// invalid.
    pub fn new(provider: &str, base_url: &str, options: HttpOptions) -> Result<Self> {
        let base = check_base_url(base_url, &options.allow_http_hosts)
            .map_err(|e| e.with_provider(provider))?;
        let client = build_client(&options).map_err(|e| e.with_provider(provider))?;
        Ok(Self {
            client,
            base: base.into(),
            provider: provider.into(),
            options: Arc::new(options),
            urls: Arc::default(),
        })
    }

    /// The URL of `path` under the base URL, parsed once per distinct path.
    fn url(&self, path: &str) -> Result<Url> {
        if let Some(url) = self.urls.read().ok().and_then(|c| c.get(path).cloned()) {
            return Ok(url);
        }
        let url = Url::parse(&format!("{}/{}", self.base, path.trim_start_matches('/'))).map_err(
            |_| Error::config("request URL is not valid").with_provider(&*self.provider),
        )?;
        if let Ok(mut cache) = self.urls.write() {
            if cache.len() < URL_CACHE_ENTRIES {
                cache.insert(path.into(), url.clone());
            }
        }
        Ok(url)
    }

    /// The provider name errors carry.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The options in force.
    pub fn options(&self) -> &HttpOptions {
        &self.options
    }

    /// Sends `request` and waits for the response head. A 3xx is never followed.
    ///
    /// # Errors
    ///
    /// `Connect`, `Timeout`, or [`ErrorKind::Redirected`] naming the status (never the
    /// `Location`).
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        let url = self.url(&request.path)?;
        let timeout = match request.deadline {
            Some(d) => d.min(self.options.request_timeout),
            None => self.options.request_timeout,
        };
        let sent = self
            .client
            .post(url)
            .headers(request.headers)
            .body(request.body)
            .timeout(timeout)
            .send()
            .await;
        let response = sent.map_err(|e| Error::from(e).with_provider(&*self.provider))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(Error::new(
                ErrorKind::Redirected,
                "the provider answered with a redirect, which llmward never follows",
            )
            .with_status(status.as_u16())
            .with_provider(&*self.provider));
        }
        Ok(HttpResponse {
            response,
            max_body: self.options.max_body_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_policy() {
        let allow = vec!["llm.internal".to_string()];
        assert_eq!(
            check_base_url("https://api.openai.com/v1/", &[]).unwrap(),
            "https://api.openai.com/v1"
        );
        for ok in [
            "http://127.0.0.1:8080/v1",
            "http://127.9.9.9",
            "http://[::1]:11434/v1",
            "http://localhost:11434",
            "http://llm.internal:8000/v1",
        ] {
            check_base_url(ok, &allow).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://api.openai.com/v1",
            "http://10.0.0.5/v1",
            "http://localhost.evil.com",
            "ftp://example.com",
            "https://user:pass@example.com",
            "https://example.com/v1?key=abc",
            "https://example.com/v1#frag",
            "not a url",
        ] {
            let err = check_base_url(bad, &allow).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
            assert!(!err.to_string().contains("abc"), "{err}");
            assert!(!err.to_string().contains("pass"), "{err}");
        }
    }

    #[test]
    fn bad_pem_is_a_config_error() {
        let opts = HttpOptions::new().add_root_certificate_pem(b"not pem".to_vec());
        assert_eq!(build_client(&opts).unwrap_err().kind(), ErrorKind::Config);
        let opts = HttpOptions::new().client_identity_pem(b"x".to_vec(), b"y".to_vec());
        assert_eq!(build_client(&opts).unwrap_err().kind(), ErrorKind::Config);
    }

    #[test]
    fn client_builds_with_ring_and_no_panic() {
        build_client(&HttpOptions::new()).unwrap();
        build_client(&HttpOptions::new().proxy("http://127.0.0.1:3128")).unwrap();
    }
}
