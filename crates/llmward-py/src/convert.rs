//! Python objects (OpenAI-style dicts) to llmward's request types, and JSON both ways.
//!
//! Everything a caller passes is checked here, on the calling thread: a wrong type is a
//! `TypeError`, a wrong value a `ValueError`, each naming where it is (`messages[2].content`).

use std::collections::BTreeMap;
use std::time::Duration;

use llmward::{
    CacheBreakpoint, ChatRequest, ContentPart, Image, Message, Reasoning, ReasoningEffort,
    ResponseFormat, Role, Tool, ToolCall, ToolChoice, ToolResult,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Value};

use crate::types::PyChatResponse;

/// How deep a Python object may nest when it becomes JSON (tool schemas, arguments,
/// `extra`): deeper input is refused with a `ValueError` instead of exhausting the stack.
pub(crate) const MAX_JSON_DEPTH: usize = 64;

/// How deep JSON may nest when it becomes Python objects; serde_json's parser already stops
/// at 128, so this only guards values built some other way.
const MAX_PY_DEPTH: usize = 256;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

fn type_error(at: &str, expected: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!("{at} must be {expected}, not {}", type_name(obj)))
}

/// A Python object as JSON: None, bool, int, float, str, list/tuple and dict with str keys.
///
/// # Errors
///
/// `TypeError` for any other type or a non-str key; `ValueError` for NaN/infinity, an int
/// outside 64 bits, or nesting deeper than [`MAX_JSON_DEPTH`].
pub(crate) fn to_json(obj: &Bound<'_, PyAny>, at: &str) -> PyResult<Value> {
    to_json_at(obj, at, 0)
}

fn to_json_at(obj: &Bound<'_, PyAny>, at: &str, depth: usize) -> PyResult<Value> {
    if depth > MAX_JSON_DEPTH {
        return Err(PyValueError::new_err(format!(
            "{at} nests deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if obj.cast::<PyInt>().is_ok() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyValueError::new_err(format!(
            "{at}: integer does not fit in 64 bits"
        )));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err(format!("{at}: {v} is not valid JSON")));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| type_error(&format!("{at} keys"), "str", &k))?
                .to_cow()?
                .into_owned();
            let value = to_json_at(&v, at, depth + 1)?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let mut out = Vec::with_capacity(l.len());
        for item in l.iter() {
            out.push(to_json_at(&item, at, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let mut out = Vec::with_capacity(t.len());
        for item in t.iter() {
            out.push(to_json_at(&item, at, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    Err(PyTypeError::new_err(format!(
        "{at}: object of type {} is not JSON serializable",
        type_name(obj)
    )))
}

/// JSON as Python objects (dict, list, str, int, float, bool, None).
pub(crate) fn from_json<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    from_json_at(py, value, 0)
}

fn from_json_at<'py>(py: Python<'py>, value: &Value, depth: usize) -> PyResult<Bound<'py, PyAny>> {
    if depth > MAX_PY_DEPTH {
        return Err(PyValueError::new_err(format!(
            "JSON nests deeper than {MAX_PY_DEPTH} levels"
        )));
    }
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_json_at(py, item, depth + 1)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, from_json_at(py, v, depth + 1)?)?;
            }
            dict.into_any()
        }
    })
}

/// The keyword arguments every chat call takes, gathered before they become a request.
#[derive(Debug, Default)]
pub(crate) struct ChatOptions<'a, 'py> {
    pub(crate) model: &'a str,
    pub(crate) tools: Option<&'a Bound<'py, PyAny>>,
    pub(crate) tool_choice: Option<&'a Bound<'py, PyAny>>,
    pub(crate) parallel_tool_calls: Option<bool>,
    pub(crate) response_format: Option<&'a Bound<'py, PyAny>>,
    pub(crate) max_tokens: Option<i64>,
    pub(crate) temperature: Option<f64>,
    pub(crate) top_p: Option<f64>,
    pub(crate) stop: Option<&'a Bound<'py, PyAny>>,
    pub(crate) reasoning_effort: Option<&'a str>,
    pub(crate) reasoning_budget: Option<i64>,
    pub(crate) include_thoughts: bool,
    pub(crate) tags: Option<&'a Bound<'py, PyAny>>,
    pub(crate) timeout: Option<f64>,
    pub(crate) extra: Option<&'a Bound<'py, PyAny>>,
}

/// Builds the request from `messages` and the call's options.
///
/// # Errors
///
/// `TypeError`/`ValueError` naming the argument at fault; what llmward's request builder
/// refuses (an empty model, no message, a tool declared twice...) is a `ValueError`.
pub(crate) fn chat_request(
    messages: &Bound<'_, PyAny>,
    o: &ChatOptions<'_, '_>,
) -> PyResult<ChatRequest> {
    let mut b = ChatRequest::builder(o.model).messages(parse_messages(messages)?);
    if let Some(tools) = o.tools.filter(|t| !t.is_none()) {
        for tool in parse_tools(tools)? {
            b = b.tool(tool);
        }
    }
    if let Some(choice) = o.tool_choice.filter(|t| !t.is_none()) {
        b = b.tool_choice(parse_tool_choice(choice)?);
    }
    if let Some(p) = o.parallel_tool_calls {
        b = b.parallel_tool_calls(p);
    }
    if let Some(format) = o.response_format.filter(|t| !t.is_none()) {
        b = b.response_format(parse_response_format(format)?);
    }
    if let Some(n) = o.max_tokens {
        b = b.max_tokens(positive_u32(n, "max_tokens")?);
    }
    if let Some(t) = o.temperature {
        b = b.temperature(t);
    }
    if let Some(p) = o.top_p {
        b = b.top_p(p);
    }
    if let Some(stop) = o.stop.filter(|t| !t.is_none()) {
        for s in string_or_list(stop, "stop")? {
            b = b.stop(s);
        }
    }
    if let Some(r) = reasoning(o)? {
        b = b.reasoning(r);
    }
    if let Some(tags) = o.tags.filter(|t| !t.is_none()) {
        for (k, v) in parse_tags(tags)? {
            b = b.tag(k, v);
        }
    }
    if let Some(t) = o.timeout {
        b = b.deadline(duration(t, "timeout")?);
    }
    if let Some(extra) = o.extra.filter(|t| !t.is_none()) {
        let Value::Object(map) = to_json(extra, "extra")? else {
            return Err(type_error("extra", "a dict", extra));
        };
        for (k, v) in map {
            b = b.extra(k, v);
        }
    }
    b.build().map_err(|e| PyValueError::new_err(e.to_string()))
}

fn reasoning(o: &ChatOptions<'_, '_>) -> PyResult<Option<Reasoning>> {
    let effort = match o.reasoning_effort {
        None => None,
        Some(e) => Some(match e {
            "none" => ReasoningEffort::None,
            "minimal" => ReasoningEffort::Minimal,
            "low" => ReasoningEffort::Low,
            "medium" => ReasoningEffort::Medium,
            "high" => ReasoningEffort::High,
            other => {
                return Err(PyValueError::new_err(format!(
                    "reasoning_effort must be one of none, minimal, low, medium, high; not {other:?}"
                )));
            }
        }),
    };
    let budget = match o.reasoning_budget {
        None => None,
        Some(n) => Some(u32::try_from(n).map_err(|_| {
            PyValueError::new_err(format!(
                "reasoning_budget must be between 0 and {}, not {n}",
                u32::MAX
            ))
        })?),
    };
    if effort.is_none() && budget.is_none() && !o.include_thoughts {
        return Ok(None);
    }
    let mut r = Reasoning::default();
    r.effort = effort;
    r.budget_tokens = budget;
    r.include_thoughts = o.include_thoughts;
    Ok(Some(r))
}

/// A positive count that fits in 32 bits.
pub(crate) fn positive_u32(n: i64, name: &str) -> PyResult<u32> {
    match u32::try_from(n) {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be between 1 and {}, not {n}",
            u32::MAX
        ))),
    }
}

/// Seconds as a positive, finite duration.
pub(crate) fn duration(seconds: f64, name: &str) -> PyResult<Duration> {
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds, not {seconds}"
        )));
    }
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| PyValueError::new_err(format!("{name} is too large: {seconds}")))
}

/// A str, or a list/tuple of str.
pub(crate) fn string_or_list(obj: &Bound<'_, PyAny>, at: &str) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(vec![s.to_cow()?.into_owned()]);
    }
    let items = sequence(obj, at, "a str or a list of str")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.cast::<PyString>()
                .map_err(|_| type_error(&format!("{at}[{i}]"), "a str", item))
                .and_then(|s| Ok(s.to_cow()?.into_owned()))
        })
        .collect()
}

/// The items of a list or tuple (other iterables are refused: a str or a dict would iterate
/// into something surprising).
fn sequence<'py>(
    obj: &Bound<'py, PyAny>,
    at: &str,
    expected: &str,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if let Ok(l) = obj.cast::<PyList>() {
        return Ok(l.iter().collect());
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return Ok(t.iter().collect());
    }
    Err(type_error(at, expected, obj))
}

fn dict<'a, 'py>(obj: &'a Bound<'py, PyAny>, at: &str) -> PyResult<&'a Bound<'py, PyDict>> {
    obj.cast::<PyDict>()
        .map_err(|_| type_error(at, "a dict", obj))
}

/// `d[key]` when present and not None.
fn get<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(d.get_item(key)?.filter(|v| !v.is_none()))
}

fn get_str(d: &Bound<'_, PyDict>, key: &str, at: &str) -> PyResult<Option<String>> {
    match get(d, key)? {
        None => Ok(None),
        Some(v) => Ok(Some(
            v.cast::<PyString>()
                .map_err(|_| type_error(&format!("{at}.{key}"), "a str", &v))?
                .to_cow()?
                .into_owned(),
        )),
    }
}

fn require_str(d: &Bound<'_, PyDict>, key: &str, at: &str) -> PyResult<String> {
    get_str(d, key, at)?
        .ok_or_else(|| PyValueError::new_err(format!("{at} needs a {key:?} (a str)")))
}

fn get_bool(d: &Bound<'_, PyDict>, key: &str, at: &str) -> PyResult<Option<bool>> {
    match get(d, key)? {
        None => Ok(None),
        Some(v) => Ok(Some(
            v.cast::<PyBool>()
                .map_err(|_| type_error(&format!("{at}.{key}"), "a bool", &v))?
                .is_true(),
        )),
    }
}

/// The conversation: OpenAI-style message dicts, and earlier `ChatResponse`s (which become
/// the assistant turn with their reasoning parts and signatures).
pub(crate) fn parse_messages(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Message>> {
    let items = sequence(obj, "messages", "a list of message dicts")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("messages[{i}]");
        if let Ok(resp) = item.cast::<PyChatResponse>() {
            out.push(resp.get().inner.to_message());
            continue;
        }
        let d = item
            .cast::<PyDict>()
            .map_err(|_| type_error(&at, "a dict or a ChatResponse", item))?;
        out.push(parse_message(d, &at)?);
    }
    Ok(out)
}

fn parse_message(d: &Bound<'_, PyDict>, at: &str) -> PyResult<Message> {
    let role_name = require_str(d, "role", at)?;
    let role = match role_name.as_str() {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        other => {
            return Err(PyValueError::new_err(format!(
                "{at}: unknown role {other:?} (expected system, developer, user, assistant or tool)"
            )));
        }
    };
    let mut content = Vec::new();
    match role {
        Role::Tool => {
            let id = require_str(d, "tool_call_id", at)?;
            let text = match get(d, "content")? {
                None => String::new(),
                Some(c) => text_only(&c, &format!("{at}.content"))?,
            };
            let mut result = ToolResult::new(id, text);
            if let Some(name) = get_str(d, "name", at)? {
                result = result.with_name(name);
            }
            if get_bool(d, "is_error", at)?.unwrap_or(false) {
                result = result.error();
            }
            content.push(ContentPart::ToolResult(result));
        }
        Role::System => {
            if let Some(c) = get(d, "content")? {
                content.push(ContentPart::Text(text_only(&c, &format!("{at}.content"))?));
            }
        }
        _ => {
            if let Some(c) = get(d, "content")? {
                parse_content(&c, &format!("{at}.content"), &mut content)?;
            }
            if let Some(calls) = get(d, "tool_calls")? {
                if role != Role::Assistant {
                    return Err(PyValueError::new_err(format!(
                        "{at}: only assistant messages carry tool_calls"
                    )));
                }
                let items = sequence(&calls, &format!("{at}.tool_calls"), "a list")?;
                for (j, call) in items.iter().enumerate() {
                    content.push(ContentPart::ToolCall(parse_tool_call(
                        call,
                        &format!("{at}.tool_calls[{j}]"),
                    )?));
                }
            }
        }
    }
    let mut message = Message::new(role, content);
    if let Some(cache) = get(d, "cache_control")? {
        message = message.with_cache(cache_breakpoint(&cache, &format!("{at}.cache_control"))?);
    }
    Ok(message)
}

/// Anthropic-style `{"type": "ephemeral", "ttl": "1h"}`: a cache breakpoint after the item.
fn cache_breakpoint(obj: &Bound<'_, PyAny>, at: &str) -> PyResult<CacheBreakpoint> {
    let d = dict(obj, at)?;
    Ok(match get_str(d, "ttl", at)?.as_deref() {
        Some("1h") => CacheBreakpoint::Long,
        None | Some("5m") => CacheBreakpoint::Default,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "{at}.ttl must be \"5m\" or \"1h\", not {other:?}"
            )));
        }
    })
}

/// A str, or a list of `{"type": "text"}` parts joined.
fn text_only(obj: &Bound<'_, PyAny>, at: &str) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    let mut parts = Vec::new();
    parse_content(obj, at, &mut parts)?;
    let mut text = String::new();
    for part in parts {
        match part {
            ContentPart::Text(t) => text.push_str(&t),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "{at} may only hold text parts"
                )));
            }
        }
    }
    Ok(text)
}

fn parse_content(obj: &Bound<'_, PyAny>, at: &str, out: &mut Vec<ContentPart>) -> PyResult<()> {
    if let Ok(s) = obj.cast::<PyString>() {
        out.push(ContentPart::Text(s.to_cow()?.into_owned()));
        return Ok(());
    }
    let items = sequence(obj, at, "a str or a list of content parts")?;
    for (i, item) in items.iter().enumerate() {
        let pat = format!("{at}[{i}]");
        let part = dict(item, &pat)?;
        let kind = require_str(part, "type", &pat)?;
        match kind.as_str() {
            "text" => out.push(ContentPart::Text(require_str(part, "text", &pat)?)),
            "image_url" => out.push(ContentPart::Image(parse_image(part, &pat)?)),
            other => {
                return Err(PyValueError::new_err(format!(
                    "{pat}: unknown content part type {other:?} (expected \"text\" or \"image_url\")"
                )));
            }
        }
    }
    Ok(())
}

fn parse_image(part: &Bound<'_, PyDict>, at: &str) -> PyResult<Image> {
    let Some(spec) = get(part, "image_url")? else {
        return Err(PyValueError::new_err(format!(
            "{at} needs an \"image_url\""
        )));
    };
    let (url, detail) = if let Ok(s) = spec.cast::<PyString>() {
        (s.to_cow()?.into_owned(), None)
    } else {
        let d = dict(&spec, &format!("{at}.image_url"))?;
        (
            require_str(d, "url", &format!("{at}.image_url"))?,
            get_str(d, "detail", &format!("{at}.image_url"))?,
        )
    };
    let mut image = if let Some(rest) = url.strip_prefix("data:") {
        let Some((meta, data)) = rest.split_once(',') else {
            return Err(PyValueError::new_err(format!(
                "{at}: a data URL must look like data:image/png;base64,..."
            )));
        };
        let Some(media_type) = meta.strip_suffix(";base64") else {
            return Err(PyValueError::new_err(format!(
                "{at}: only base64 data URLs are supported (data:<type>;base64,<data>)"
            )));
        };
        Image::base64(media_type, data)
    } else {
        Image::url(url)
    };
    image.detail = detail;
    Ok(image)
}

fn parse_tool_call(obj: &Bound<'_, PyAny>, at: &str) -> PyResult<ToolCall> {
    let d = dict(obj, at)?;
    let id = require_str(d, "id", at)?;
    if let Some(kind) = get_str(d, "type", at)? {
        if kind != "function" {
            return Err(PyValueError::new_err(format!(
                "{at}.type must be \"function\", not {kind:?}"
            )));
        }
    }
    let Some(function) = get(d, "function")? else {
        return Err(PyValueError::new_err(format!(
            "{at} needs a \"function\" with a name and arguments"
        )));
    };
    let fat = format!("{at}.function");
    let f = dict(&function, &fat)?;
    let name = require_str(f, "name", &fat)?;
    let arguments = match get(f, "arguments")? {
        None => Value::Object(Map::new()),
        Some(a) => {
            if let Ok(s) = a.cast::<PyString>() {
                llmward::parse_arguments(&s.to_cow()?)
            } else if a.cast::<PyDict>().is_ok() {
                to_json(&a, &format!("{fat}.arguments"))?
            } else {
                return Err(type_error(
                    &format!("{fat}.arguments"),
                    "a JSON str or a dict",
                    &a,
                ));
            }
        }
    };
    Ok(ToolCall::new(id, name, arguments))
}

/// OpenAI tool dicts (`{"type": "function", "function": {...}}`) or the flat form
/// (`{"name": ..., "parameters": ...}`).
pub(crate) fn parse_tools(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Tool>> {
    let items = sequence(obj, "tools", "a list of tool dicts")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("tools[{i}]");
        let d = dict(item, &at)?;
        let (f, fat) = match get_str(d, "type", &at)?.as_deref() {
            Some("function") => {
                let Some(function) = get(d, "function")? else {
                    return Err(PyValueError::new_err(format!(
                        "{at} needs a \"function\" dict"
                    )));
                };
                let fat = format!("{at}.function");
                (dict(&function, &fat)?.clone(), fat)
            }
            None => (d.clone(), at.clone()),
            Some(other) => {
                return Err(PyValueError::new_err(format!(
                    "{at}.type must be \"function\", not {other:?}"
                )));
            }
        };
        let name = require_str(&f, "name", &fat)?;
        let parameters = match get(&f, "parameters")? {
            None => serde_json::json!({"type": "object", "properties": {}}),
            Some(p) => {
                let pat = format!("{fat}.parameters");
                if p.cast::<PyDict>().is_err() {
                    return Err(type_error(&pat, "a dict (a JSON Schema)", &p));
                }
                to_json(&p, &pat)?
            }
        };
        let mut tool = Tool::new(name, parameters);
        if let Some(desc) = get_str(&f, "description", &fat)? {
            tool = tool.description(desc);
        }
        if let Some(strict) = get_bool(&f, "strict", &fat)? {
            tool = tool.strict(strict);
        }
        if let Some(cache) = get(d, "cache_control")? {
            tool = tool.with_cache(cache_breakpoint(&cache, &format!("{at}.cache_control"))?);
        }
        out.push(tool);
    }
    Ok(out)
}

fn parse_tool_choice(obj: &Bound<'_, PyAny>) -> PyResult<ToolChoice> {
    if let Ok(s) = obj.cast::<PyString>() {
        return match &*s.to_cow()? {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" | "any" => Ok(ToolChoice::Required),
            other => Err(PyValueError::new_err(format!(
                "tool_choice must be \"auto\", \"none\", \"required\" or \
                 {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}, not {other:?}"
            ))),
        };
    }
    let d = dict(obj, "tool_choice")?;
    let name = match get(d, "function")? {
        Some(f) => require_str(
            dict(&f, "tool_choice.function")?,
            "name",
            "tool_choice.function",
        )?,
        None => require_str(d, "name", "tool_choice")?,
    };
    Ok(ToolChoice::Tool(name))
}

fn parse_response_format(obj: &Bound<'_, PyAny>) -> PyResult<ResponseFormat> {
    let d = dict(obj, "response_format")?;
    match require_str(d, "type", "response_format")?.as_str() {
        "text" => Ok(ResponseFormat::Text),
        "json_object" => Ok(ResponseFormat::JsonObject),
        "json_schema" => {
            let Some(spec) = get(d, "json_schema")? else {
                return Err(PyValueError::new_err(
                    "response_format needs a \"json_schema\" dict with a name and a schema",
                ));
            };
            let at = "response_format.json_schema";
            let s = dict(&spec, at)?;
            let name = require_str(s, "name", at)?;
            let Some(schema) = get(s, "schema")? else {
                return Err(PyValueError::new_err(format!("{at} needs a \"schema\"")));
            };
            if schema.cast::<PyDict>().is_err() {
                return Err(type_error(&format!("{at}.schema"), "a dict", &schema));
            }
            let schema = to_json(&schema, &format!("{at}.schema"))?;
            let strict = get_bool(s, "strict", at)?.unwrap_or(true);
            Ok(ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            })
        }
        other => Err(PyValueError::new_err(format!(
            "response_format.type must be \"text\", \"json_object\" or \"json_schema\", not {other:?}"
        ))),
    }
}

/// `{str: str}`.
pub(crate) fn parse_tags(obj: &Bound<'_, PyAny>) -> PyResult<BTreeMap<String, String>> {
    let d = dict(obj, "tags")?;
    let mut out = BTreeMap::new();
    for (k, v) in d.iter() {
        let key = k
            .cast::<PyString>()
            .map_err(|_| type_error("tags keys", "str", &k))?
            .to_cow()?
            .into_owned();
        let value = v
            .cast::<PyString>()
            .map_err(|_| type_error(&format!("tags[{key:?}]"), "a str", &v))?
            .to_cow()?
            .into_owned();
        out.insert(key, value);
    }
    Ok(out)
}
