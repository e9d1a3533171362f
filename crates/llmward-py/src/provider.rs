//! The `Provider` base class (chat, achat, stream, astream, embed, aembed) and the concrete
//! providers built from keyword arguments.

use std::path::PathBuf;
use std::sync::Arc;

use llmward::anthropic::Anthropic;
use llmward::gemini::Gemini;
use llmward::openai::{MaxTokensField, OpenAi, SystemRole};
use llmward::{ApiKey, EmbedRequest, HttpOptions, KeySource, Provider, RotatingKey};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::aio::{Call, Deliver};
use crate::convert::{self, ChatOptions};
use crate::errors;
use crate::runtime::{self, PerGeneration};
use crate::stream::{PyAsyncStream, PyStream, StreamCore};
use crate::types::{PyChatResponse, PyEmbeddings};

/// Builds the Rust provider from stored configuration; called again in a forked child.
pub(crate) type Factory = Box<dyn Fn(Python<'_>) -> PyResult<Arc<dyn Provider>> + Send + Sync>;

/// The `repr()` of a provider, given its name; computed when asked, so a rotated key's label
/// shows (never the key).
pub(crate) type Describe = Box<dyn Fn(&str) -> String + Send + Sync>;

/// What a Python provider object holds: its configuration (as a factory), the provider
/// built for the current fork generation, and its key source for rotation.
pub(crate) struct Backend {
    name: String,
    describe: Describe,
    factory: Factory,
    cache: PerGeneration<dyn Provider>,
    key: Option<RotatingKey>,
}

impl Backend {
    /// Builds the provider now, so configuration errors surface at construction.
    pub(crate) fn new(
        py: Python<'_>,
        describe: Describe,
        factory: Factory,
        key: Option<RotatingKey>,
    ) -> PyResult<Self> {
        let provider = factory(py)?;
        let name = provider.name().to_owned();
        Ok(Self {
            describe,
            name,
            cache: PerGeneration::new(runtime::generation(py), provider),
            factory,
            key,
        })
    }

    /// The provider for this process (rebuilt after a fork).
    pub(crate) fn get(&self, py: Python<'_>) -> PyResult<Arc<dyn Provider>> {
        self.cache.get(py, || (self.factory)(py))
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// Something that answers chat requests: a provider (`OpenAI`, `Anthropic`, ...) or a
/// `Router` of them. Every subclass has the same methods.
#[pyclass(subclass, frozen, module = "llmward._llmward", name = "Provider")]
pub(crate) struct PyProvider {
    pub(crate) backend: Arc<Backend>,
}

impl PyProvider {
    pub(crate) fn new(backend: Backend) -> Self {
        Self {
            backend: Arc::new(backend),
        }
    }
}

macro_rules! chat_options {
    ($model:ident, $tools:ident, $tool_choice:ident, $parallel_tool_calls:ident,
     $response_format:ident, $max_tokens:ident, $temperature:ident, $top_p:ident, $stop:ident,
     $reasoning_effort:ident, $reasoning_budget:ident, $include_thoughts:ident, $tags:ident,
     $timeout:ident, $extra:ident) => {
        ChatOptions {
            model: $model,
            tools: $tools,
            tool_choice: $tool_choice,
            parallel_tool_calls: $parallel_tool_calls,
            response_format: $response_format,
            max_tokens: $max_tokens,
            temperature: $temperature,
            top_p: $top_p,
            stop: $stop,
            reasoning_effort: $reasoning_effort,
            reasoning_budget: $reasoning_budget,
            include_thoughts: $include_thoughts,
            tags: $tags,
            timeout: $timeout,
            extra: $extra,
        }
    };
}

fn embed_request(
    inputs: &Bound<'_, PyAny>,
    model: &str,
    dimensions: Option<i64>,
    timeout: Option<f64>,
    tags: Option<&Bound<'_, PyAny>>,
) -> PyResult<EmbedRequest> {
    let inputs = convert::string_or_list(inputs, "inputs")?;
    if model.trim().is_empty() {
        return Err(PyValueError::new_err("model is empty"));
    }
    let mut request = EmbedRequest::new(model, inputs);
    if let Some(d) = dimensions {
        request = request.dimensions(convert::positive_u32(d, "dimensions")?);
    }
    if let Some(t) = timeout {
        request.deadline = Some(convert::duration(t, "timeout")?);
    }
    if let Some(tags) = tags.filter(|t| !t.is_none()) {
        request.tags = convert::parse_tags(tags)?;
    }
    Ok(request)
}

#[pymethods]
impl PyProvider {
    /// Sends a chat request and waits for the whole answer (the GIL is released while
    /// waiting; Ctrl-C interrupts it and cancels the request).
    ///
    /// `messages` are OpenAI-style dicts (`role` system/developer/user/assistant/tool,
    /// `content` as a str or a list of `text`/`image_url` parts, `tool_calls`,
    /// `tool_call_id`) or earlier `ChatResponse` objects. Returns a `ChatResponse`; raises a
    /// `LlmwardError` subclass on failure, `TypeError`/`ValueError` on a malformed argument.
    #[pyo3(signature = (messages, *, model, tools=None, tool_choice=None, parallel_tool_calls=None,
        response_format=None, max_tokens=None, temperature=None, top_p=None, stop=None,
        reasoning_effort=None, reasoning_budget=None, include_thoughts=false, tags=None,
        timeout=None, extra=None))]
    #[allow(clippy::too_many_arguments)]
    fn chat(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        model: &str,
        tools: Option<&Bound<'_, PyAny>>,
        tool_choice: Option<&Bound<'_, PyAny>>,
        parallel_tool_calls: Option<bool>,
        response_format: Option<&Bound<'_, PyAny>>,
        max_tokens: Option<i64>,
        temperature: Option<f64>,
        top_p: Option<f64>,
        stop: Option<&Bound<'_, PyAny>>,
        reasoning_effort: Option<&str>,
        reasoning_budget: Option<i64>,
        include_thoughts: bool,
        tags: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        extra: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyChatResponse> {
        let options = chat_options!(
            model,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format,
            max_tokens,
            temperature,
            top_p,
            stop,
            reasoning_effort,
            reasoning_budget,
            include_thoughts,
            tags,
            timeout,
            extra
        );
        let request = convert::chat_request(messages, &options)?;
        let provider = self.backend.get(py)?;
        runtime::block_on(py, async move { provider.chat(&request).await })?
            .map(|inner| PyChatResponse { inner })
            .map_err(|e| errors::to_py(py, &e))
    }

    /// Like `chat`, as an awaitable for asyncio: `await provider.achat(...)`. Many calls
    /// run at once on one shared runtime; cancelling the awaiting task cancels the request.
    /// Arguments are checked when it is called, the request is sent when it is awaited.
    #[pyo3(signature = (messages, *, model, tools=None, tool_choice=None, parallel_tool_calls=None,
        response_format=None, max_tokens=None, temperature=None, top_p=None, stop=None,
        reasoning_effort=None, reasoning_budget=None, include_thoughts=false, tags=None,
        timeout=None, extra=None))]
    #[allow(clippy::too_many_arguments)]
    fn achat(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        model: &str,
        tools: Option<&Bound<'_, PyAny>>,
        tool_choice: Option<&Bound<'_, PyAny>>,
        parallel_tool_calls: Option<bool>,
        response_format: Option<&Bound<'_, PyAny>>,
        max_tokens: Option<i64>,
        temperature: Option<f64>,
        top_p: Option<f64>,
        stop: Option<&Bound<'_, PyAny>>,
        reasoning_effort: Option<&str>,
        reasoning_budget: Option<i64>,
        include_thoughts: bool,
        tags: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        extra: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Call> {
        let options = chat_options!(
            model,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format,
            max_tokens,
            temperature,
            top_p,
            stop,
            reasoning_effort,
            reasoning_budget,
            include_thoughts,
            tags,
            timeout,
            extra
        );
        let request = convert::chat_request(messages, &options)?;
        let provider = self.backend.get(py)?;
        Ok(Call::new(
            "achat",
            Box::pin(async move {
                let result = provider.chat(&request).await;
                Box::new(move |py: Python<'_>| match result {
                    Ok(inner) => Ok(Py::new(py, PyChatResponse { inner })?.into_any()),
                    Err(e) => Err(errors::to_py(py, &e)),
                }) as Deliver
            }),
        ))
    }

    /// Sends a chat request and streams the answer: returns a `Stream` once the response
    /// has started (errors before that are raised here), to iterate with `for`.
    #[pyo3(signature = (messages, *, model, tools=None, tool_choice=None, parallel_tool_calls=None,
        response_format=None, max_tokens=None, temperature=None, top_p=None, stop=None,
        reasoning_effort=None, reasoning_budget=None, include_thoughts=false, tags=None,
        timeout=None, extra=None))]
    #[allow(clippy::too_many_arguments)]
    fn stream(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        model: &str,
        tools: Option<&Bound<'_, PyAny>>,
        tool_choice: Option<&Bound<'_, PyAny>>,
        parallel_tool_calls: Option<bool>,
        response_format: Option<&Bound<'_, PyAny>>,
        max_tokens: Option<i64>,
        temperature: Option<f64>,
        top_p: Option<f64>,
        stop: Option<&Bound<'_, PyAny>>,
        reasoning_effort: Option<&str>,
        reasoning_budget: Option<i64>,
        include_thoughts: bool,
        tags: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        extra: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyStream> {
        let options = chat_options!(
            model,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format,
            max_tokens,
            temperature,
            top_p,
            stop,
            reasoning_effort,
            reasoning_budget,
            include_thoughts,
            tags,
            timeout,
            extra
        );
        let request = convert::chat_request(messages, &options)?;
        let provider = self.backend.get(py)?;
        let started = runtime::block_on(py, async move {
            let mut core = StreamCore::new(provider, request);
            core.start().await.map(|()| core)
        })?;
        started
            .map(PyStream::new)
            .map_err(|e| errors::to_py(py, &e))
    }

    /// Like `stream`, for asyncio: returns an `AsyncStream` at once, to iterate with
    /// `async for`; the request is sent on the first iteration.
    #[pyo3(signature = (messages, *, model, tools=None, tool_choice=None, parallel_tool_calls=None,
        response_format=None, max_tokens=None, temperature=None, top_p=None, stop=None,
        reasoning_effort=None, reasoning_budget=None, include_thoughts=false, tags=None,
        timeout=None, extra=None))]
    #[allow(clippy::too_many_arguments)]
    fn astream(
        &self,
        py: Python<'_>,
        messages: &Bound<'_, PyAny>,
        model: &str,
        tools: Option<&Bound<'_, PyAny>>,
        tool_choice: Option<&Bound<'_, PyAny>>,
        parallel_tool_calls: Option<bool>,
        response_format: Option<&Bound<'_, PyAny>>,
        max_tokens: Option<i64>,
        temperature: Option<f64>,
        top_p: Option<f64>,
        stop: Option<&Bound<'_, PyAny>>,
        reasoning_effort: Option<&str>,
        reasoning_budget: Option<i64>,
        include_thoughts: bool,
        tags: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        extra: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyAsyncStream> {
        let options = chat_options!(
            model,
            tools,
            tool_choice,
            parallel_tool_calls,
            response_format,
            max_tokens,
            temperature,
            top_p,
            stop,
            reasoning_effort,
            reasoning_budget,
            include_thoughts,
            tags,
            timeout,
            extra
        );
        let request = convert::chat_request(messages, &options)?;
        let provider = self.backend.get(py)?;
        Ok(PyAsyncStream::new(StreamCore::new(provider, request)))
    }

    /// Embeds `inputs` (a str or a list of str); returns `Embeddings` (one vector per input).
    #[pyo3(signature = (inputs, *, model, dimensions=None, timeout=None, tags=None))]
    fn embed(
        &self,
        py: Python<'_>,
        inputs: &Bound<'_, PyAny>,
        model: &str,
        dimensions: Option<i64>,
        timeout: Option<f64>,
        tags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyEmbeddings> {
        let request = embed_request(inputs, model, dimensions, timeout, tags)?;
        let provider = self.backend.get(py)?;
        runtime::block_on(py, async move { provider.embed(&request).await })?
            .map(|inner| PyEmbeddings { inner })
            .map_err(|e| errors::to_py(py, &e))
    }

    /// Like `embed`, as an awaitable for asyncio.
    #[pyo3(signature = (inputs, *, model, dimensions=None, timeout=None, tags=None))]
    fn aembed(
        &self,
        py: Python<'_>,
        inputs: &Bound<'_, PyAny>,
        model: &str,
        dimensions: Option<i64>,
        timeout: Option<f64>,
        tags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Call> {
        let request = embed_request(inputs, model, dimensions, timeout, tags)?;
        let provider = self.backend.get(py)?;
        Ok(Call::new(
            "aembed",
            Box::pin(async move {
                let result = provider.embed(&request).await;
                Box::new(move |py: Python<'_>| match result {
                    Ok(inner) => Ok(Py::new(py, PyEmbeddings { inner })?.into_any()),
                    Err(e) => Err(errors::to_py(py, &e)),
                }) as Deliver
            }),
        ))
    }

    /// Replaces the key; requests that start afterwards use the new one (connections and
    /// routers are kept). Takes the same key arguments as the constructor.
    #[pyo3(signature = (*, api_key_env=None, api_key_file=None, api_key=None, key_label=None))]
    fn rotate_key(
        &self,
        py: Python<'_>,
        api_key_env: Option<&str>,
        api_key_file: Option<PathBuf>,
        api_key: Option<String>,
        key_label: Option<String>,
    ) -> PyResult<()> {
        let Some(source) = &self.backend.key else {
            return Err(PyValueError::new_err(format!(
                "{} has no key to rotate",
                self.backend.name
            )));
        };
        match load_key(py, api_key_env, api_key_file, api_key, key_label)? {
            Some(key) => {
                source.rotate(key);
                Ok(())
            }
            None => Err(PyValueError::new_err(
                "rotate_key needs one of api_key_env, api_key_file or api_key",
            )),
        }
    }

    /// The instance's name, shown in responses, errors and events.
    #[getter]
    fn name(&self) -> &str {
        &self.backend.name
    }

    /// The label of the key the next request will use (never the key).
    #[getter]
    fn key_label(&self) -> Option<String> {
        self.backend
            .key
            .as_ref()
            .and_then(|k| k.current().ok())
            .and_then(|k| k.label().map(str::to_owned))
    }

    fn __repr__(&self) -> String {
        (self.backend.describe)(&self.backend.name)
    }
}

/// Reads the key from exactly one of the sources the caller named.
///
/// # Errors
///
/// `ValueError` when more than one source is given; `ConfigError` when the variable is
/// unset or empty, the file is unreadable or open to others, or the key is malformed.
pub(crate) fn load_key(
    py: Python<'_>,
    api_key_env: Option<&str>,
    api_key_file: Option<PathBuf>,
    api_key: Option<String>,
    key_label: Option<String>,
) -> PyResult<Option<ApiKey>> {
    let given = usize::from(api_key_env.is_some())
        + usize::from(api_key_file.is_some())
        + usize::from(api_key.is_some());
    if given > 1 {
        return Err(PyValueError::new_err(
            "give only one of api_key_env, api_key_file and api_key",
        ));
    }
    let key = if let Some(var) = api_key_env {
        ApiKey::from_env(var)
    } else if let Some(path) = api_key_file {
        ApiKey::from_file(path)
    } else if let Some(key) = api_key {
        ApiKey::new(key)
    } else {
        if key_label.is_some() {
            return Err(PyValueError::new_err(
                "key_label was given without a key (api_key_env, api_key_file or api_key)",
            ));
        }
        return Ok(None);
    };
    let key = key.map_err(|e| errors::to_py(py, &e))?;
    Ok(Some(match key_label {
        Some(label) => key.with_label(label),
        None => key,
    }))
}

/// Connection, timeout, size and TLS options shared by every provider constructor.
#[derive(Default)]
pub(crate) struct HttpArgs {
    pub(crate) connect_timeout: Option<f64>,
    pub(crate) request_timeout: Option<f64>,
    pub(crate) stream_idle_timeout: Option<f64>,
    pub(crate) max_body_bytes: Option<i64>,
    pub(crate) danger_allow_http_hosts: Option<Vec<String>>,
    pub(crate) ca_cert_file: Option<PathBuf>,
    pub(crate) client_cert_file: Option<PathBuf>,
    pub(crate) client_key_file: Option<PathBuf>,
}

fn read_file(py: Python<'_>, path: &std::path::Path, what: &str) -> PyResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        errors::to_py(
            py,
            &llmward::Error::config(format!(
                "cannot read {what} {}: {e}",
                llmward::redact::shown_path(path)
            )),
        )
    })
}

impl HttpArgs {
    pub(crate) fn options(self, py: Python<'_>) -> PyResult<HttpOptions> {
        let mut o = HttpOptions::new();
        if let Some(t) = self.connect_timeout {
            o = o.connect_timeout(convert::duration(t, "connect_timeout")?);
        }
        if let Some(t) = self.request_timeout {
            o = o.request_timeout(convert::duration(t, "request_timeout")?);
        }
        if let Some(t) = self.stream_idle_timeout {
            o = o.stream_idle_timeout(convert::duration(t, "stream_idle_timeout")?);
        }
        if let Some(n) = self.max_body_bytes {
            let n = usize::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
                PyValueError::new_err(format!("max_body_bytes must be positive, not {n}"))
            })?;
            o = o.max_body_bytes(n);
        }
        for host in self.danger_allow_http_hosts.unwrap_or_default() {
            o = o.danger_allow_http_host(host);
        }
        if let Some(path) = self.ca_cert_file {
            o = o.add_root_certificate_pem(read_file(py, &path, "CA certificate file")?);
        }
        match (self.client_cert_file, self.client_key_file) {
            (Some(cert), Some(key)) => {
                let cert = read_file(py, &cert, "client certificate file")?;
                let key = read_file(py, &key, "client key file")?;
                o = o.client_identity_pem(cert, key);
            }
            (None, None) => {}
            _ => {
                return Err(PyValueError::new_err(
                    "client_cert_file and client_key_file go together",
                ));
            }
        }
        Ok(o)
    }
}

/// Extra non-secret headers (`{name: value}`).
fn headers(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("headers must be a dict of str to str"))?;
    let mut out = Vec::with_capacity(d.len());
    for (k, v) in d.iter() {
        let (Ok(k), Ok(v)) = (k.cast::<PyString>(), v.cast::<PyString>()) else {
            return Err(PyTypeError::new_err("headers must be a dict of str to str"));
        };
        out.push((k.to_cow()?.into_owned(), v.to_cow()?.into_owned()));
    }
    Ok(out)
}

fn repr_of(class: &str, name: &str, base_url: &str, key: Option<&RotatingKey>) -> String {
    let label = key
        .and_then(|k| k.current().ok())
        .and_then(|k| k.label().map(str::to_owned));
    match label {
        Some(label) => {
            format!("{class}(name={name:?}, base_url={base_url:?}, key_label={label:?})")
        }
        None => format!("{class}(name={name:?}, base_url={base_url:?})"),
    }
}

/// The flavour-specific part of an OpenAI-family provider.
#[derive(Clone)]
enum OpenAiKind {
    OpenAi,
    Azure {
        endpoint: String,
        api_version: Option<String>,
    },
    Compatible {
        base_url: String,
    },
}

#[derive(Clone)]
struct OpenAiConfig {
    kind: OpenAiKind,
    base_url: Option<String>,
    name: Option<String>,
    organization: Option<String>,
    project: Option<String>,
    headers: Vec<(String, String)>,
    max_tokens_field: Option<MaxTokensField>,
    system_role: Option<SystemRole>,
    http: HttpOptions,
}

/// A backend whose provider `build` makes from the key source (shared by every rebuild, so
/// a rotated key survives a fork).
fn make_backend(
    py: Python<'_>,
    class: &'static str,
    shown_url: String,
    key: Option<ApiKey>,
    build: impl Fn(Option<Arc<dyn KeySource>>) -> llmward::Result<Arc<dyn Provider>>
    + Send
    + Sync
    + 'static,
) -> PyResult<Backend> {
    let key = key.map(RotatingKey::new);
    let source = key.clone();
    let factory: Factory = Box::new(move |py| {
        let source = source
            .as_ref()
            .map(|k| Arc::new(k.clone()) as Arc<dyn KeySource>);
        build(source).map_err(|e| errors::to_py(py, &e))
    });
    let shown_key = key.clone();
    Backend::new(
        py,
        Box::new(move |name| repr_of(class, name, &shown_url, shown_key.as_ref())),
        factory,
        key,
    )
}

fn openai_backend(
    py: Python<'_>,
    class: &'static str,
    cfg: OpenAiConfig,
    key: Option<ApiKey>,
) -> PyResult<Backend> {
    let shown_url = cfg.base_url.clone().unwrap_or_else(|| match &cfg.kind {
        OpenAiKind::OpenAi => llmward::openai::presets::OPENAI.to_owned(),
        OpenAiKind::Azure { endpoint, .. } => endpoint.clone(),
        OpenAiKind::Compatible { base_url } => base_url.clone(),
    });
    make_backend(py, class, shown_url, key, move |source| {
        let c = &cfg;
        let mut b = match &c.kind {
            OpenAiKind::OpenAi => OpenAi::builder(),
            OpenAiKind::Azure {
                endpoint,
                api_version,
            } => {
                let b = OpenAi::azure(endpoint.clone());
                match api_version {
                    Some(v) => b.api_version(v.clone()),
                    None => b,
                }
            }
            OpenAiKind::Compatible { base_url } => OpenAi::compatible(base_url.clone()),
        };
        if let Some(source) = source {
            b = b.key_source(source);
        }
        if let Some(url) = &c.base_url {
            b = b.base_url(url.clone());
        }
        if let Some(name) = &c.name {
            b = b.name(name.clone());
        }
        if let Some(org) = &c.organization {
            b = b.organization(org.clone());
        }
        if let Some(project) = &c.project {
            b = b.project(project.clone());
        }
        for (k, v) in &c.headers {
            b = b.header(k.clone(), v.clone());
        }
        if let Some(f) = c.max_tokens_field {
            b = b.max_tokens_field(f);
        }
        if let Some(r) = c.system_role {
            b = b.system_role(r);
        }
        Ok(Arc::new(b.http(c.http.clone()).build()?) as Arc<dyn Provider>)
    })
}

/// OpenAI (Chat Completions). The key comes from `api_key_env="OPENAI_API_KEY"` or
/// `api_key_file=path` (mode 600), so it never becomes a Python object; `api_key="..."` works
/// but leaves the key in Python memory. llmward never reads a variable you did not name.
///
/// Options shared by every provider: `key_label` (shown in events instead of the key),
/// `base_url`, `name`, `connect_timeout` (10 s), `request_timeout` (600 s) and
/// `stream_idle_timeout` (120 s) in seconds, `max_body_bytes` (32 MiB),
/// `danger_allow_http_hosts` (hosts reached over plain http besides loopback: keys travel
/// unencrypted there), `ca_cert_file` (extra root CA, PEM), `client_cert_file` and
/// `client_key_file` (mutual TLS, PEM). OpenAI also takes `organization`, `project` and
/// extra non-secret `headers`. A missing or unreadable key, or a bad setting, raises
/// `ConfigError` here.
#[pyclass(extends = PyProvider, frozen, module = "llmward._llmward", name = "OpenAI")]
pub(crate) struct PyOpenAI;

#[pymethods]
impl PyOpenAI {
    #[new]
    #[pyo3(signature = (*, api_key_env=None, api_key_file=None, api_key=None, key_label=None,
        base_url=None, name=None, organization=None, project=None, headers=None,
        connect_timeout=None, request_timeout=None, stream_idle_timeout=None, max_body_bytes=None,
        danger_allow_http_hosts=None, ca_cert_file=None, client_cert_file=None,
        client_key_file=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        api_key_env: Option<&str>,
        api_key_file: Option<PathBuf>,
        api_key: Option<String>,
        key_label: Option<String>,
        base_url: Option<String>,
        name: Option<String>,
        organization: Option<String>,
        project: Option<String>,
        headers: Option<&Bound<'_, PyAny>>,
        connect_timeout: Option<f64>,
        request_timeout: Option<f64>,
        stream_idle_timeout: Option<f64>,
        max_body_bytes: Option<i64>,
        danger_allow_http_hosts: Option<Vec<String>>,
        ca_cert_file: Option<PathBuf>,
        client_cert_file: Option<PathBuf>,
        client_key_file: Option<PathBuf>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let key = load_key(py, api_key_env, api_key_file, api_key, key_label)?;
        let http = HttpArgs {
            connect_timeout,
            request_timeout,
            stream_idle_timeout,
            max_body_bytes,
            danger_allow_http_hosts,
            ca_cert_file,
            client_cert_file,
            client_key_file,
        }
        .options(py)?;
        let cfg = OpenAiConfig {
            kind: OpenAiKind::OpenAi,
            base_url,
            name,
            organization,
            project,
            headers: self::headers(headers)?,
            max_tokens_field: None,
            system_role: None,
            http,
        };
        let backend = openai_backend(py, "OpenAI", cfg, key)?;
        Ok(PyClassInitializer::from(PyProvider::new(backend)).add_subclass(Self))
    }
}

/// Azure OpenAI at `endpoint` (`https://{resource}.openai.azure.com`); a request's `model`
/// is the deployment name. Key arguments as for `OpenAI` (sent in the `api-key` header).
#[pyclass(extends = PyProvider, frozen, module = "llmward._llmward", name = "AzureOpenAI")]
pub(crate) struct PyAzureOpenAI;

#[pymethods]
impl PyAzureOpenAI {
    #[new]
    #[pyo3(signature = (endpoint, *, api_version=None, api_key_env=None, api_key_file=None,
        api_key=None, key_label=None, name=None, headers=None, connect_timeout=None,
        request_timeout=None, stream_idle_timeout=None, max_body_bytes=None,
        danger_allow_http_hosts=None, ca_cert_file=None, client_cert_file=None,
        client_key_file=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        endpoint: String,
        api_version: Option<String>,
        api_key_env: Option<&str>,
        api_key_file: Option<PathBuf>,
        api_key: Option<String>,
        key_label: Option<String>,
        name: Option<String>,
        headers: Option<&Bound<'_, PyAny>>,
        connect_timeout: Option<f64>,
        request_timeout: Option<f64>,
        stream_idle_timeout: Option<f64>,
        max_body_bytes: Option<i64>,
        danger_allow_http_hosts: Option<Vec<String>>,
        ca_cert_file: Option<PathBuf>,
        client_cert_file: Option<PathBuf>,
        client_key_file: Option<PathBuf>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let key = load_key(py, api_key_env, api_key_file, api_key, key_label)?;
        let http = HttpArgs {
            connect_timeout,
            request_timeout,
            stream_idle_timeout,
            max_body_bytes,
            danger_allow_http_hosts,
            ca_cert_file,
            client_cert_file,
            client_key_file,
        }
        .options(py)?;
        let cfg = OpenAiConfig {
            kind: OpenAiKind::Azure {
                endpoint,
                api_version,
            },
            base_url: None,
            name,
            organization: None,
            project: None,
            headers: self::headers(headers)?,
            max_tokens_field: None,
            system_role: None,
            http,
        };
        let backend = openai_backend(py, "AzureOpenAI", cfg, key)?;
        Ok(PyClassInitializer::from(PyProvider::new(backend)).add_subclass(Self))
    }
}

/// Any OpenAI-compatible server at `base_url` (Ollama, vLLM, LM Studio, Groq, Mistral,
/// DeepSeek, OpenRouter, ...). The key is optional (keyless self-hosted servers). Plain
/// `http://` is allowed to loopback, and to hosts listed in `danger_allow_http_hosts`.
#[pyclass(extends = PyProvider, frozen, module = "llmward._llmward", name = "OpenAICompatible")]
pub(crate) struct PyOpenAICompatible;

#[pymethods]
impl PyOpenAICompatible {
    #[new]
    #[pyo3(signature = (base_url, *, api_key_env=None, api_key_file=None, api_key=None,
        key_label=None, name=None, headers=None, max_tokens_field=None, system_role=None,
        connect_timeout=None, request_timeout=None, stream_idle_timeout=None, max_body_bytes=None,
        danger_allow_http_hosts=None, ca_cert_file=None, client_cert_file=None,
        client_key_file=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        base_url: String,
        api_key_env: Option<&str>,
        api_key_file: Option<PathBuf>,
        api_key: Option<String>,
        key_label: Option<String>,
        name: Option<String>,
        headers: Option<&Bound<'_, PyAny>>,
        max_tokens_field: Option<&str>,
        system_role: Option<&str>,
        connect_timeout: Option<f64>,
        request_timeout: Option<f64>,
        stream_idle_timeout: Option<f64>,
        max_body_bytes: Option<i64>,
        danger_allow_http_hosts: Option<Vec<String>>,
        ca_cert_file: Option<PathBuf>,
        client_cert_file: Option<PathBuf>,
        client_key_file: Option<PathBuf>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let key = load_key(py, api_key_env, api_key_file, api_key, key_label)?;
        let max_tokens_field = match max_tokens_field {
            None => None,
            Some("max_tokens") => Some(MaxTokensField::MaxTokens),
            Some("max_completion_tokens") => Some(MaxTokensField::MaxCompletionTokens),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "max_tokens_field must be \"max_tokens\" or \"max_completion_tokens\", not {other:?}"
                )));
            }
        };
        let system_role = match system_role {
            None => None,
            Some("auto") => Some(SystemRole::Auto),
            Some("system") => Some(SystemRole::System),
            Some("developer") => Some(SystemRole::Developer),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "system_role must be \"auto\", \"system\" or \"developer\", not {other:?}"
                )));
            }
        };
        let http = HttpArgs {
            connect_timeout,
            request_timeout,
            stream_idle_timeout,
            max_body_bytes,
            danger_allow_http_hosts,
            ca_cert_file,
            client_cert_file,
            client_key_file,
        }
        .options(py)?;
        let cfg = OpenAiConfig {
            kind: OpenAiKind::Compatible { base_url },
            base_url: None,
            name,
            organization: None,
            project: None,
            headers: self::headers(headers)?,
            max_tokens_field,
            system_role,
            http,
        };
        let backend = openai_backend(py, "OpenAICompatible", cfg, key)?;
        Ok(PyClassInitializer::from(PyProvider::new(backend)).add_subclass(Self))
    }
}

/// Anthropic Messages. Key arguments as for `OpenAI` (e.g.
/// `api_key_env="ANTHROPIC_API_KEY"`); `beta` adds `anthropic-beta` features;
/// `default_max_tokens` is sent when a call sets no `max_tokens` (the API requires one).
#[pyclass(extends = PyProvider, frozen, module = "llmward._llmward", name = "Anthropic")]
pub(crate) struct PyAnthropic;

#[pymethods]
impl PyAnthropic {
    #[new]
    #[pyo3(signature = (*, api_key_env=None, api_key_file=None, api_key=None, key_label=None,
        base_url=None, name=None, beta=None, default_max_tokens=None, connect_timeout=None,
        request_timeout=None, stream_idle_timeout=None, max_body_bytes=None,
        danger_allow_http_hosts=None, ca_cert_file=None, client_cert_file=None,
        client_key_file=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        api_key_env: Option<&str>,
        api_key_file: Option<PathBuf>,
        api_key: Option<String>,
        key_label: Option<String>,
        base_url: Option<String>,
        name: Option<String>,
        beta: Option<Vec<String>>,
        default_max_tokens: Option<i64>,
        connect_timeout: Option<f64>,
        request_timeout: Option<f64>,
        stream_idle_timeout: Option<f64>,
        max_body_bytes: Option<i64>,
        danger_allow_http_hosts: Option<Vec<String>>,
        ca_cert_file: Option<PathBuf>,
        client_cert_file: Option<PathBuf>,
        client_key_file: Option<PathBuf>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let key = load_key(py, api_key_env, api_key_file, api_key, key_label)?;
        let http = HttpArgs {
            connect_timeout,
            request_timeout,
            stream_idle_timeout,
            max_body_bytes,
            danger_allow_http_hosts,
            ca_cert_file,
            client_cert_file,
            client_key_file,
        }
        .options(py)?;
        let default_max_tokens = default_max_tokens
            .map(|n| convert::positive_u32(n, "default_max_tokens"))
            .transpose()?;
        let beta = beta.unwrap_or_default();
        let shown_url = base_url
            .clone()
            .unwrap_or_else(|| llmward::anthropic::DEFAULT_BASE_URL.to_owned());
        let backend = make_backend(py, "Anthropic", shown_url, key, move |source| {
            let mut b = Anthropic::builder().http(http.clone());
            if let Some(source) = source {
                b = b.key_source(source);
            }
            if let Some(url) = &base_url {
                b = b.base_url(url.clone());
            }
            if let Some(name) = &name {
                b = b.name(name.clone());
            }
            for feature in &beta {
                b = b.beta(feature.clone());
            }
            if let Some(n) = default_max_tokens {
                b = b.default_max_tokens(n);
            }
            Ok(Arc::new(b.build()?) as Arc<dyn Provider>)
        })?;
        Ok(PyClassInitializer::from(PyProvider::new(backend)).add_subclass(Self))
    }
}

/// Google Gemini (the Developer API; or Vertex AI with `vertex_base_url=`, where the "key"
/// is an OAuth access token to rotate with `rotate_key`). Key arguments as for `OpenAI`
/// (e.g. `api_key_env="GEMINI_API_KEY"`); the key is sent in a header, never in the URL.
#[pyclass(extends = PyProvider, frozen, module = "llmward._llmward", name = "Gemini")]
pub(crate) struct PyGemini;

#[pymethods]
impl PyGemini {
    #[new]
    #[pyo3(signature = (*, api_key_env=None, api_key_file=None, api_key=None, key_label=None,
        base_url=None, vertex_base_url=None, name=None, connect_timeout=None,
        request_timeout=None, stream_idle_timeout=None, max_body_bytes=None,
        danger_allow_http_hosts=None, ca_cert_file=None, client_cert_file=None,
        client_key_file=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        api_key_env: Option<&str>,
        api_key_file: Option<PathBuf>,
        api_key: Option<String>,
        key_label: Option<String>,
        base_url: Option<String>,
        vertex_base_url: Option<String>,
        name: Option<String>,
        connect_timeout: Option<f64>,
        request_timeout: Option<f64>,
        stream_idle_timeout: Option<f64>,
        max_body_bytes: Option<i64>,
        danger_allow_http_hosts: Option<Vec<String>>,
        ca_cert_file: Option<PathBuf>,
        client_cert_file: Option<PathBuf>,
        client_key_file: Option<PathBuf>,
    ) -> PyResult<PyClassInitializer<Self>> {
        if base_url.is_some() && vertex_base_url.is_some() {
            return Err(PyValueError::new_err(
                "give base_url or vertex_base_url, not both",
            ));
        }
        let key = load_key(py, api_key_env, api_key_file, api_key, key_label)?;
        let http = HttpArgs {
            connect_timeout,
            request_timeout,
            stream_idle_timeout,
            max_body_bytes,
            danger_allow_http_hosts,
            ca_cert_file,
            client_cert_file,
            client_key_file,
        }
        .options(py)?;
        let shown_url = base_url
            .clone()
            .or_else(|| vertex_base_url.clone())
            .unwrap_or_else(|| llmward::gemini::DEFAULT_BASE_URL.to_owned());
        let backend = make_backend(py, "Gemini", shown_url, key, move |source| {
            let mut b = match &vertex_base_url {
                Some(url) => Gemini::vertex(url.clone()),
                None => Gemini::builder(),
            };
            b = b.http(http.clone());
            if let Some(source) = source {
                b = b.key_source(source);
            }
            if let Some(url) = &base_url {
                b = b.base_url(url.clone());
            }
            if let Some(name) = &name {
                b = b.name(name.clone());
            }
            Ok(Arc::new(b.build()?) as Arc<dyn Provider>)
        })?;
        Ok(PyClassInitializer::from(PyProvider::new(backend)).add_subclass(Self))
    }
}
