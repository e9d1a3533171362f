//! What Python receives: `ChatResponse`, `ToolCall`, `Usage`, `StreamEvent`, `Embeddings`.
//!
//! Each wraps the Rust value and builds Python objects only for the fields that are read.

use llmward::{ContentPart, EmbedResponse, StreamEvent, Usage};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;

use crate::convert::from_json;

/// A string shown in a `repr()`, quoted and escaped.
fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// Tokens billed for one call, with the same meaning on every provider.
///
/// `input_tokens` counts every prompt token billed, of which `cached_input_tokens` were read
/// from a cache and `cache_write_tokens` written to one; `output_tokens` counts every
/// generated token, reasoning included, of which `reasoning_tokens` were reasoning.
#[pyclass(frozen, eq, module = "llmward._llmward", name = "Usage")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PyUsage {
    /// Every prompt token billed.
    #[pyo3(get)]
    input_tokens: u64,
    /// Every generated token billed, reasoning included.
    #[pyo3(get)]
    output_tokens: u64,
    /// Prompt tokens read from a cache.
    #[pyo3(get)]
    cached_input_tokens: u64,
    /// Prompt tokens written to a cache.
    #[pyo3(get)]
    cache_write_tokens: u64,
    /// Generated tokens spent on reasoning.
    #[pyo3(get)]
    reasoning_tokens: u64,
}

impl From<Usage> for PyUsage {
    fn from(u: Usage) -> Self {
        Self {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cached_input_tokens: u.cached_input_tokens,
            cache_write_tokens: u.cache_write_tokens,
            reasoning_tokens: u.reasoning_tokens,
        }
    }
}

#[pymethods]
impl PyUsage {
    /// `input_tokens + output_tokens`.
    #[getter]
    fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// The counts as a dict.
    pub(crate) fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("input_tokens", self.input_tokens)?;
        d.set_item("output_tokens", self.output_tokens)?;
        d.set_item("cached_input_tokens", self.cached_input_tokens)?;
        d.set_item("cache_write_tokens", self.cache_write_tokens)?;
        d.set_item("reasoning_tokens", self.reasoning_tokens)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Usage(input_tokens={}, output_tokens={}, cached_input_tokens={}, \
             cache_write_tokens={}, reasoning_tokens={})",
            self.input_tokens,
            self.output_tokens,
            self.cached_input_tokens,
            self.cache_write_tokens,
            self.reasoning_tokens
        )
    }
}

/// A tool call the model made: `id`, `name`, and `arguments` parsed into Python objects (a
/// dict; the raw string when the model produced text that is not JSON).
#[pyclass(frozen, module = "llmward._llmward", name = "ToolCall")]
#[derive(Debug)]
pub(crate) struct PyToolCall {
    /// The call's id, to put in the `tool_call_id` of the tool message that answers it.
    #[pyo3(get)]
    id: String,
    /// The tool's name.
    #[pyo3(get)]
    name: String,
    /// The arguments, parsed.
    #[pyo3(get)]
    arguments: Py<PyAny>,
}

impl PyToolCall {
    fn new(py: Python<'_>, call: &llmward::ToolCall) -> PyResult<Self> {
        Ok(Self {
            id: call.id.clone(),
            name: call.name.clone(),
            arguments: from_json(py, &call.arguments)?.unbind(),
        })
    }
}

#[pymethods]
impl PyToolCall {
    /// The call as an OpenAI `tool_calls` entry (arguments as a JSON string).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        tool_call_dict(py, &self.id, &self.name, self.arguments.bind(py))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "ToolCall(id={}, name={}, arguments={})",
            quote(&self.id),
            quote(&self.name),
            self.arguments.bind(py).repr()?
        ))
    }
}

fn tool_call_dict<'py>(
    py: Python<'py>,
    id: &str,
    name: &str,
    arguments: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let args = crate::convert::to_json(arguments, "arguments")?;
    let text = match args {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let function = PyDict::new(py);
    function.set_item("name", name)?;
    function.set_item("arguments", text)?;
    let d = PyDict::new(py);
    d.set_item("id", id)?;
    d.set_item("type", "function")?;
    d.set_item("function", function)?;
    Ok(d)
}

/// A model's answer, the same for every provider.
///
/// Put it back in the next call's `messages` list to continue the conversation: it becomes
/// the assistant turn with everything the provider needs back (tool calls, reasoning
/// signatures), which plain dicts would lose.
#[pyclass(frozen, module = "llmward._llmward", name = "ChatResponse")]
#[derive(Debug)]
pub(crate) struct PyChatResponse {
    pub(crate) inner: llmward::ChatResponse,
}

#[pymethods]
impl PyChatResponse {
    /// The answer's text (all text parts joined; `""` when there is none).
    #[getter]
    fn text(&self) -> String {
        self.inner.text()
    }

    /// The tool calls, in order (empty when there are none).
    #[getter]
    fn tool_calls(&self, py: Python<'_>) -> PyResult<Vec<PyToolCall>> {
        self.inner
            .tool_calls()
            .into_iter()
            .map(|c| PyToolCall::new(py, c))
            .collect()
    }

    /// The visible reasoning text, when the provider returned some.
    #[getter]
    fn reasoning(&self) -> Option<String> {
        self.inner.reasoning()
    }

    /// Why the model stopped: `"stop"`, `"length"`, `"tool_calls"`, `"content_filter"`, or
    /// the provider's own value.
    #[getter]
    fn finish_reason(&self) -> &str {
        self.inner.finish_reason.as_str()
    }

    /// The provider's own finish value (`"end_turn"`, `"STOP"`, ...).
    #[getter]
    fn raw_finish_reason(&self) -> Option<&str> {
        self.inner.raw_finish_reason.as_deref()
    }

    /// Tokens billed, when the provider reported them.
    #[getter]
    fn usage(&self) -> Option<PyUsage> {
        self.inner.usage.map(PyUsage::from)
    }

    /// The provider instance that answered (its name).
    #[getter]
    fn provider(&self) -> &str {
        &self.inner.provider
    }

    /// The model that answered.
    #[getter]
    fn model(&self) -> &str {
        &self.inner.model
    }

    /// The provider's request id (from a response header), for support tickets.
    #[getter]
    fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// The provider's id for the answer (`chatcmpl-...`, `msg_...`).
    #[getter]
    fn id(&self) -> Option<&str> {
        self.inner.id.as_deref()
    }

    /// The answer as plain Python data: text, reasoning, tool calls (arguments parsed),
    /// finish reason, usage, provider, model and ids.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = &self.inner;
        let d = PyDict::new(py);
        d.set_item("id", r.id.as_deref())?;
        d.set_item("provider", &r.provider)?;
        d.set_item("model", &r.model)?;
        d.set_item("request_id", r.request_id.as_deref())?;
        d.set_item("text", r.text())?;
        d.set_item("reasoning", r.reasoning())?;
        let calls = PyList::empty(py);
        for part in &r.content {
            if let ContentPart::ToolCall(c) = part {
                let call = PyDict::new(py);
                call.set_item("id", &c.id)?;
                call.set_item("name", &c.name)?;
                call.set_item("arguments", from_json(py, &c.arguments)?)?;
                calls.append(call)?;
            }
        }
        d.set_item("tool_calls", calls)?;
        d.set_item("finish_reason", r.finish_reason.as_str())?;
        d.set_item("raw_finish_reason", r.raw_finish_reason.as_deref())?;
        match r.usage {
            Some(u) => d.set_item("usage", PyUsage::from(u).to_dict(py)?)?,
            None => d.set_item("usage", py.None())?,
        }
        Ok(d)
    }

    /// The answer as an OpenAI-style assistant message dict (text and tool calls; reasoning
    /// signatures are only kept when the `ChatResponse` itself is put in `messages`).
    fn to_message<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("role", "assistant")?;
        let text = self.inner.text();
        let calls = PyList::empty(py);
        for c in self.inner.tool_calls() {
            let args = from_json(py, &c.arguments)?;
            calls.append(tool_call_dict(py, &c.id, &c.name, &args)?)?;
        }
        if text.is_empty() && !calls.is_empty() {
            d.set_item("content", py.None())?;
        } else {
            d.set_item("content", text)?;
        }
        if !calls.is_empty() {
            d.set_item("tool_calls", calls)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let r = &self.inner;
        let mut text = r.text();
        if text.chars().count() > 60 {
            text = text.chars().take(57).collect::<String>() + "...";
        }
        format!(
            "ChatResponse(provider={}, model={}, finish_reason={}, text={}, tool_calls={})",
            quote(&r.provider),
            quote(&r.model),
            quote(r.finish_reason.as_str()),
            quote(&text),
            r.tool_calls().len()
        )
    }
}

/// One event of a streamed answer. `type` is one of `"text"`, `"reasoning"`,
/// `"tool_call_start"`, `"tool_call_delta"`, `"usage"` or `"finish"`; the fields that do
/// not apply to it are None.
#[pyclass(frozen, module = "llmward._llmward", name = "StreamEvent")]
#[derive(Debug)]
pub(crate) struct PyStreamEvent {
    /// What the event is.
    #[pyo3(get, name = "type")]
    pub(crate) kind: &'static str,
    /// Text or reasoning text (`"text"`, `"reasoning"`).
    #[pyo3(get)]
    pub(crate) text: Option<String>,
    /// The tool call's position among this answer's calls (`"tool_call_start"`,
    /// `"tool_call_delta"`).
    #[pyo3(get)]
    index: Option<usize>,
    /// The tool call's id (`"tool_call_start"`).
    #[pyo3(get)]
    id: Option<String>,
    /// The tool's name (`"tool_call_start"`).
    #[pyo3(get)]
    name: Option<String>,
    /// A fragment of the tool call's JSON arguments (`"tool_call_delta"`).
    #[pyo3(get)]
    arguments: Option<String>,
    /// Tokens billed (`"usage"`).
    #[pyo3(get)]
    usage: Option<PyUsage>,
    /// Why the model stopped (`"finish"`).
    #[pyo3(get)]
    finish_reason: Option<String>,
}

impl PyStreamEvent {
    /// The Python view of `event`, or None for the opaque events (stream start, reasoning
    /// signatures) that only matter to `collect()`.
    pub(crate) fn from_event(event: &StreamEvent) -> Option<Self> {
        let mut e = Self {
            kind: "",
            text: None,
            index: None,
            id: None,
            name: None,
            arguments: None,
            usage: None,
            finish_reason: None,
        };
        match event {
            StreamEvent::TextDelta(t) => {
                e.kind = "text";
                e.text = Some(t.clone());
            }
            StreamEvent::ReasoningDelta(t) => {
                e.kind = "reasoning";
                e.text = Some(t.clone());
            }
            StreamEvent::ToolCallStart {
                index, id, name, ..
            } => {
                e.kind = "tool_call_start";
                e.index = Some(*index);
                e.id = Some(id.clone());
                e.name = Some(name.clone());
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                e.kind = "tool_call_delta";
                e.index = Some(*index);
                e.arguments = Some(arguments.clone());
            }
            StreamEvent::Usage(u) => {
                e.kind = "usage";
                e.usage = Some(PyUsage::from(*u));
            }
            StreamEvent::Finish { reason, .. } => {
                e.kind = "finish";
                e.finish_reason = Some(reason.as_str().to_owned());
            }
            _ => return None,
        }
        Some(e)
    }
}

#[pymethods]
impl PyStreamEvent {
    fn __repr__(&self) -> String {
        let mut fields = vec![format!("type={}", quote(self.kind))];
        if let Some(t) = &self.text {
            fields.push(format!("text={}", quote(t)));
        }
        if let Some(i) = self.index {
            fields.push(format!("index={i}"));
        }
        if let Some(id) = &self.id {
            fields.push(format!("id={}", quote(id)));
        }
        if let Some(n) = &self.name {
            fields.push(format!("name={}", quote(n)));
        }
        if let Some(a) = &self.arguments {
            fields.push(format!("arguments={}", quote(a)));
        }
        if let Some(u) = &self.usage {
            fields.push(format!("usage={}", u.__repr__()));
        }
        if let Some(f) = &self.finish_reason {
            fields.push(format!("finish_reason={}", quote(f)));
        }
        format!("StreamEvent({})", fields.join(", "))
    }
}

/// Embedding vectors, one per input, in input order.
#[pyclass(frozen, module = "llmward._llmward", name = "Embeddings")]
#[derive(Debug)]
pub(crate) struct PyEmbeddings {
    pub(crate) inner: EmbedResponse,
}

#[pymethods]
impl PyEmbeddings {
    /// The vectors (a list of lists of floats).
    #[getter]
    fn vectors(&self) -> Vec<Vec<f32>> {
        self.inner.vectors.clone()
    }

    /// Tokens billed, when reported.
    #[getter]
    fn usage(&self) -> Option<PyUsage> {
        self.inner.usage.map(PyUsage::from)
    }

    /// The model that answered.
    #[getter]
    fn model(&self) -> &str {
        &self.inner.model
    }

    /// The provider instance that answered.
    #[getter]
    fn provider(&self) -> &str {
        &self.inner.provider
    }

    /// The provider's request id.
    #[getter]
    fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    fn __len__(&self) -> usize {
        self.inner.vectors.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Embeddings(provider={}, model={}, vectors={}, dimensions={})",
            quote(&self.inner.provider),
            quote(&self.inner.model),
            self.inner.vectors.len(),
            self.inner.vectors.first().map_or(0, Vec::len)
        )
    }
}
