//! Shared by `tests/suite.rs` and `tests/cross_provider.rs`: one [`Wire`] per provider — its
//! answers, streams and errors built with llmward-testkit's builders, and a strict reader of the
//! request bodies it receives — so the scenarios themselves assert unified results once.
//!
//! The readers ([`Wire::read`]) are where each API's request rules live: the fields it
//! accepts, role order, how tool calls and results pair. They panic with the API's reason when
//! a request would be rejected, and otherwise normalize it into a [`Sent`] the scenarios compare.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use llmward::anthropic::Anthropic;
use llmward::gemini::Gemini;
use llmward::openai::OpenAi;
use llmward::{ApiKey, ErrorKind, Provider};
use llmward_testkit::{Recorded, Reply, Upstream, anthropic, gemini, openai, sse};
use serde_json::{Map, Value, json};

/// The request id the scenarios put in the response header of providers that send one.
pub const REQUEST_ID: &str = "req_suite_0001";

/// Tokens billed for one answer, in the unified meaning (see `llmward::Usage`).
#[derive(Clone, Copy, Debug)]
pub struct Billed {
    /// Every prompt token billed.
    pub input: u64,
    /// Of which read from a cache.
    pub cached: u64,
    /// Of which written to a cache.
    pub cache_write: u64,
    /// Every generated token billed, reasoning included.
    pub output: u64,
    /// Of which reasoning.
    pub reasoning: u64,
}

/// A provider error as its API sends it, and what llmward must make of it.
pub struct ErrorCase {
    /// The HTTP status the error must carry; `None` for an error inside a 200 body.
    pub status: Option<u16>,
    /// The reply to a non-streaming call.
    pub reply: Reply,
    /// The reply to a streaming call (the same HTTP error, or the error in a 200 stream).
    pub streamed: Reply,
}

impl ErrorCase {
    fn http(status: u16, reply: Reply) -> Self {
        Self {
            status: Some(status),
            streamed: reply.clone(),
            reply,
        }
    }
}

/// One provider's wire format, as the shared scenarios need it.
pub trait Wire: 'static {
    /// The provider instance's name, and the origin of its reasoning parts and signatures.
    const NAME: &'static str;
    /// The model the scenarios ask for.
    const MODEL: &'static str;
    /// The key the provider is built with: a canary derived from the printed canary seed
    /// (`llmward_testkit::canary`); it must never show in an error.
    fn key() -> &'static str;
    /// The response header carrying the provider's request id, if the API sends one.
    const REQUEST_ID_HEADER: Option<&'static str>;
    /// Whether the API gives tool calls ids (Gemini 2.5 does not; llmward makes them up).
    const CALL_IDS: bool;
    /// Whether the API takes images by https URL (Gemini does not, and llmward never fetches).
    const IMAGE_URLS: bool;
    /// Whether the API signs its reasoning.
    const SIGNED_REASONING: bool;
    /// Whether the API wants its own reasoning back on the next turn.
    const REASONING_SENT_BACK: bool;
    /// Whether the API reports prompt tokens written to a cache.
    const CACHE_WRITES: bool;

    /// The provider, pointed at `up`.
    fn provider(up: &Upstream) -> Arc<dyn Provider>;
    /// Makes `up` answer like the API (the testkit's echo handler).
    fn echo(up: &Upstream);
    /// A realistic id for the `n`th tool call of an answer.
    fn call_id(n: usize) -> String;

    /// An answer with `text`.
    fn text(text: &str) -> Value;
    /// An answer calling tools `(id, name, arguments)`.
    fn tool_calls(calls: &[(&str, &str, Value)]) -> Value;
    /// An answer with visible reasoning (signed where the API signs), then `text`.
    fn reasoning(thinking: &str, signature: &str, text: &str) -> Value;
    /// An agent step: reasoning, then tool calls (as a real model of this API answers).
    fn agent_step(thinking: &str, signature: &str, calls: &[(&str, &str, Value)]) -> Value;
    /// An answer with `text` whose usage reports `billed` in the API's own numbers.
    fn usage(text: &str, billed: Billed) -> Value;
    /// An answer the provider stopped for safety.
    fn safety_stop() -> Value;

    /// The stream the API sends for the same answer as `body` (same id, same content).
    fn stream_of(body: &Value) -> Vec<String>;
    /// The testkit's stream of `pieces` of text.
    fn stream_text(pieces: &[&str]) -> Vec<String>;
    /// The testkit's stream of tool calls `(id, name, arguments)`.
    fn stream_tool_calls(calls: &[(&str, &str, Value)]) -> Vec<String>;
    /// A stream that has started and sent `text`, without finishing.
    fn partial_text_stream(text: &str) -> Vec<String>;
    /// An error event of `kind` inside a 200 stream.
    fn stream_error(kind: ErrorKind) -> String;
    /// The API's error for `kind`, if the API has one.
    fn error(kind: ErrorKind) -> Option<ErrorCase>;

    /// Checks `rec` against the API's request rules (panicking with the reason it would be
    /// rejected) and normalizes it.
    fn read(rec: &Recorded) -> Sent;
}

/// A request body, normalized across wire formats.
#[derive(Clone, Debug)]
pub struct Sent {
    /// System prompt texts.
    pub system: Vec<String>,
    /// The conversation, as the API's turns.
    pub turns: Vec<Turn>,
    /// Declared tools.
    pub tools: Vec<SentTool>,
    /// `auto`, `none`, `required` or `tool:<name>`.
    pub tool_choice: Option<String>,
    /// The JSON schema the answer must follow.
    pub schema: Option<Value>,
    /// Whether reasoning was asked for.
    pub reasoning: bool,
    /// Whether the answer was asked as a stream.
    pub stream: bool,
    /// The body as sent.
    pub raw: Value,
}

/// One turn of a [`Sent`] conversation.
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    /// Who speaks.
    pub speaker: Speaker,
    /// What it says.
    pub parts: Vec<Part>,
}

/// The speaker of a [`Turn`]; the API's own role names differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speaker {
    /// The user (also carrying tool results on Anthropic and Gemini).
    User,
    /// The model.
    Assistant,
    /// A tool message (OpenAI).
    Tool,
}

/// One part of a [`Turn`].
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    /// Text.
    Text(String),
    /// An image.
    Image(Img),
    /// A tool call.
    Call {
        /// Its id, when the wire carries one.
        id: Option<String>,
        /// The tool.
        name: String,
        /// The arguments.
        args: Value,
        /// A signature on the call (Gemini).
        signature: Option<String>,
    },
    /// A tool result.
    Result {
        /// The id of its call, when the wire carries one.
        id: Option<String>,
        /// The tool, when the wire carries it.
        name: Option<String>,
        /// The result text.
        content: String,
        /// Whether it is a failure, when the wire can say so.
        is_error: Option<bool>,
    },
    /// Reasoning text sent back.
    Thinking {
        /// The text.
        text: String,
        /// Its signature.
        signature: Option<String>,
    },
    /// Encrypted reasoning sent back.
    Redacted(String),
    /// A signature on the text part before it (Gemini).
    Signature(String),
}

/// An image in a [`Sent`] request.
#[derive(Clone, Debug, PartialEq)]
pub enum Img {
    /// Inline bytes.
    Base64 {
        /// e.g. `image/png`.
        media_type: String,
        /// base64 text.
        data: String,
    },
    /// A URL the provider fetches.
    Url(String),
}

/// A declared tool.
#[derive(Clone, Debug, PartialEq)]
pub struct SentTool {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Its argument schema.
    pub schema: Value,
}

impl Sent {
    fn new(raw: Value) -> Self {
        Self {
            system: Vec::new(),
            turns: Vec::new(),
            tools: Vec::new(),
            tool_choice: None,
            schema: None,
            reasoning: false,
            stream: false,
            raw,
        }
    }

    /// Every part, in order.
    pub fn parts(&self) -> impl Iterator<Item = &Part> {
        self.turns.iter().flat_map(|t| &t.parts)
    }

    /// The turns of `speaker`.
    pub fn turns_of(&self, speaker: Speaker) -> Vec<&Turn> {
        self.turns.iter().filter(|t| t.speaker == speaker).collect()
    }

    /// Each tool result with the call it answers: by id when the result carries one, else by
    /// position among the calls of the last assistant turn (checking the tool name).
    pub fn pairs(&self) -> Vec<(Part, Part)> {
        let mut open: Vec<Part> = Vec::new();
        let mut cursor = 0;
        let mut out = Vec::new();
        for turn in &self.turns {
            let calls: Vec<Part> = turn
                .parts
                .iter()
                .filter(|p| matches!(p, Part::Call { .. }))
                .cloned()
                .collect();
            if turn.speaker == Speaker::Assistant {
                open = calls;
                cursor = 0;
                continue;
            }
            for part in &turn.parts {
                let Part::Result { id, name, .. } = part else {
                    continue;
                };
                let call = match id {
                    Some(id) => open
                        .iter()
                        .find(|c| matches!(c, Part::Call { id: Some(cid), .. } if cid == id))
                        .unwrap_or_else(|| {
                            panic!("result {id} answers no call of the turn before")
                        }),
                    None => open
                        .get(cursor)
                        .unwrap_or_else(|| panic!("result {part:?} has no call to answer")),
                };
                cursor += 1;
                if let (
                    Some(name),
                    Part::Call {
                        name: call_name, ..
                    },
                ) = (name, call)
                {
                    assert_eq!(name, call_name, "a result names another tool than its call");
                }
                out.push((call.clone(), part.clone()));
            }
        }
        out
    }

    /// Whether the body, as text, contains `needle` anywhere.
    pub fn mentions(&self, needle: &str) -> bool {
        self.raw.to_string().contains(needle)
    }
}

/// Text of `value`, or a panic naming `what`.
fn string(value: Option<&Value>, what: &str) -> String {
    value
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: expected a string, got {value:?}"))
        .to_owned()
}

/// `value` as an object whose every field is in `allowed`; the APIs reject unknown fields.
fn object<'a>(value: &'a Value, what: &str, allowed: &[&str]) -> &'a Map<String, Value> {
    let map = value
        .as_object()
        .unwrap_or_else(|| panic!("{what}: expected an object, got {value}"));
    for key in map.keys() {
        assert!(
            allowed.contains(&key.as_str()),
            "{what}: the API rejects the field `{key}` in {value}"
        );
    }
    map
}

fn array<'a>(value: Option<&'a Value>, what: &str) -> &'a Vec<Value> {
    value
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{what}: expected an array, got {value:?}"))
}

/// The first half and the rest of `s`, split on a char boundary.
pub fn halves(s: &str) -> (&str, &str) {
    let mut mid = s.len() / 2;
    while !s.is_char_boundary(mid) {
        mid += 1;
    }
    s.split_at(mid)
}

fn key(text: &str) -> ApiKey {
    ApiKey::new(text.to_owned()).unwrap().with_label("suite")
}

/// The tool name of `call` (a [`Part::Call`]).
pub fn call_name(call: &Part) -> &str {
    match call {
        Part::Call { name, .. } => name,
        other => panic!("not a call: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI Chat Completions

/// OpenAI Chat Completions (the official service).
#[derive(Debug)]
pub struct OpenAiWire;

const OPENAI_TOP: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "max_completion_tokens",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "reasoning_effort",
    "stream",
    "stream_options",
    "seed",
    "n",
    "user",
    "metadata",
    "store",
    "logprobs",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "service_tier",
    "prediction",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
];

fn openai_text(value: &Value, what: &str) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| {
                object(p, what, &["type", "text"]);
                assert_eq!(p["type"], "text", "{what}: only text parts here");
                string(p.get("text"), what)
            })
            .collect(),
        other => panic!("{what}: content must be a string or text parts, got {other}"),
    }
}

fn openai_image(url: &str) -> Img {
    match url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    {
        Some((media_type, data)) => Img::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        },
        None => {
            assert!(
                url.starts_with("https://") || url.starts_with("http://"),
                "image_url.url must be a URL or a data URL: {url}"
            );
            Img::Url(url.to_owned())
        }
    }
}

impl OpenAiWire {
    fn completion_with(message: Value, finish: &str, usage: Value) -> Value {
        let mut body = openai::chat_completion(Self::MODEL, "");
        body["choices"][0]["message"] = message;
        body["choices"][0]["finish_reason"] = json!(finish);
        body["usage"] = usage;
        body
    }
}

impl Wire for OpenAiWire {
    const NAME: &'static str = "openai";
    const MODEL: &'static str = "gpt-4.1-mini";
    fn key() -> &'static str {
        static KEY: OnceLock<String> = OnceLock::new();
        KEY.get_or_init(|| llmward_testkit::canary::key("sk-proj-", "suite-openai"))
    }
    const REQUEST_ID_HEADER: Option<&'static str> = Some("x-request-id");
    const CALL_IDS: bool = true;
    const IMAGE_URLS: bool = true;
    const SIGNED_REASONING: bool = false;
    const REASONING_SENT_BACK: bool = false;
    const CACHE_WRITES: bool = false;

    fn provider(up: &Upstream) -> Arc<dyn Provider> {
        Arc::new(
            OpenAi::builder()
                .base_url(format!("{}/v1", up.url()))
                .api_key(key(Self::key()))
                .build()
                .unwrap(),
        )
    }

    fn echo(up: &Upstream) {
        up.set_handler(openai::handler());
    }

    fn call_id(n: usize) -> String {
        format!("call_{n}Qx7bT2kLmN9pR4sV8wY1zA3c")
    }

    fn text(text: &str) -> Value {
        openai::chat_completion(Self::MODEL, text)
    }

    fn tool_calls(calls: &[(&str, &str, Value)]) -> Value {
        openai::tool_call_completion(Self::MODEL, calls)
    }

    fn reasoning(thinking: &str, _signature: &str, text: &str) -> Value {
        // Chat Completions servers that return reasoning send it as `reasoning_content`.
        let mut body = openai::chat_completion(Self::MODEL, text);
        body["choices"][0]["message"]["reasoning_content"] = json!(thinking);
        body
    }

    fn agent_step(thinking: &str, _signature: &str, calls: &[(&str, &str, Value)]) -> Value {
        let mut body = openai::tool_call_completion(Self::MODEL, calls);
        body["choices"][0]["message"]["reasoning_content"] = json!(thinking);
        body
    }

    fn usage(text: &str, b: Billed) -> Value {
        let mut body = openai::chat_completion_with_usage(Self::MODEL, text, b.input, b.output);
        body["usage"]["prompt_tokens_details"]["cached_tokens"] = json!(b.cached);
        body["usage"]["completion_tokens_details"]["reasoning_tokens"] = json!(b.reasoning);
        body
    }

    fn safety_stop() -> Value {
        let message = json!({"role": "assistant", "content": "I can", "refusal": null});
        let usage = openai::chat_completion(Self::MODEL, "x")["usage"].clone();
        Self::completion_with(message, "content_filter", usage)
    }

    fn stream_of(body: &Value) -> Vec<String> {
        let chunk = |delta: Value, finish: Value, usage: Value, choices: bool| {
            let choices = if choices {
                json!([{"index": 0, "delta": delta, "finish_reason": finish}])
            } else {
                json!([])
            };
            sse::data(&json!({
                "id": body["id"],
                "object": "chat.completion.chunk",
                "created": body["created"],
                "model": body["model"],
                "choices": choices,
                "usage": usage,
            }))
        };
        let message = &body["choices"][0]["message"];
        let mut events = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
            Value::Null,
            true,
        )];
        for field in ["reasoning_content", "content"] {
            if let Some(text) = message[field].as_str().filter(|t| !t.is_empty()) {
                let (a, b) = halves(text);
                for piece in [a, b].into_iter().filter(|p| !p.is_empty()) {
                    events.push(chunk(json!({field: piece}), Value::Null, Value::Null, true));
                }
            }
        }
        for (index, call) in message["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let head = json!({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}]});
            events.push(chunk(head, Value::Null, Value::Null, true));
            let (a, b) = halves(call["function"]["arguments"].as_str().unwrap_or(""));
            for piece in [a, b].into_iter().filter(|p| !p.is_empty()) {
                let delta =
                    json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]});
                events.push(chunk(delta, Value::Null, Value::Null, true));
            }
        }
        events.push(chunk(
            json!({}),
            body["choices"][0]["finish_reason"].clone(),
            Value::Null,
            true,
        ));
        events.push(chunk(
            Value::Null,
            Value::Null,
            body["usage"].clone(),
            false,
        ));
        events.push(sse::DONE.to_owned());
        events
    }

    fn stream_text(pieces: &[&str]) -> Vec<String> {
        openai::stream_text(Self::MODEL, pieces)
    }

    fn stream_tool_calls(calls: &[(&str, &str, Value)]) -> Vec<String> {
        openai::stream_tool_calls(Self::MODEL, calls, 4)
    }

    fn partial_text_stream(text: &str) -> Vec<String> {
        // The role chunk and the first content chunk.
        openai::stream_text(Self::MODEL, &[text])[..2].to_vec()
    }

    fn stream_error(kind: ErrorKind) -> String {
        let error = match kind {
            // OpenRouter-style: the upstream's HTTP status as the code.
            ErrorKind::Overloaded => json!({"code": 503, "message": "The model is overloaded"}),
            ErrorKind::Server => {
                json!({"message": "The server had an error while processing your request.",
                "type": "server_error", "param": null, "code": null})
            }
            other => panic!("no OpenAI stream error for {other}"),
        };
        sse::data(&json!({"error": error}))
    }

    fn error(kind: ErrorKind) -> Option<ErrorCase> {
        let (status, code, message) = match kind {
            ErrorKind::Auth => (
                401,
                "invalid_api_key",
                format!("Incorrect API key provided: {}.", Self::key()),
            ),
            ErrorKind::PermissionDenied => (
                403,
                "unsupported_country_region_territory",
                "Country, region, or territory not supported".into(),
            ),
            ErrorKind::NotFound => (
                404,
                "model_not_found",
                "The model `gpt-9` does not exist or you do not have access to it.".into(),
            ),
            ErrorKind::RateLimited => (
                429,
                "rate_limit_exceeded",
                "Rate limit reached for gpt-4.1-mini on requests per min (RPM): Limit 3, Used 3."
                    .into(),
            ),
            ErrorKind::QuotaExceeded => (
                429,
                "insufficient_quota",
                "You exceeded your current quota, please check your plan and billing details."
                    .into(),
            ),
            ErrorKind::Overloaded => (
                503,
                "server_overloaded",
                "The server is overloaded or not ready yet.".into(),
            ),
            ErrorKind::Server => (
                500,
                "server_error",
                "The server had an error while processing your request.".into(),
            ),
            ErrorKind::Timeout => (408, "timeout", "Request timed out.".into()),
            ErrorKind::ContextLengthExceeded => (
                400,
                "context_length_exceeded",
                "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.".into(),
            ),
            ErrorKind::ContentFiltered => (
                400,
                "content_filter",
                "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.".into(),
            ),
            ErrorKind::InvalidRequest => (
                400,
                "invalid_value",
                "Invalid value for 'temperature': expected a number <= 2.".into(),
            ),
            // Groq's answer when the model wrote a tool call that does not parse.
            ErrorKind::ModelOutput => (
                400,
                "tool_use_failed",
                "Failed to call a function. Please adjust your prompt.".into(),
            ),
            _ => return None,
        };
        let mut reply = openai::error(status, code, &message);
        if kind == ErrorKind::RateLimited {
            reply = reply.header("retry-after", "20");
        }
        Some(ErrorCase::http(status, reply))
    }

    fn read(rec: &Recorded) -> Sent {
        let path = rec.path.split('?').next().unwrap_or_default();
        assert!(path.ends_with("/chat/completions"), "path {path}");
        let body = rec.json();
        let top = object(&body, "request", OPENAI_TOP);
        assert!(
            top.get("model")
                .and_then(Value::as_str)
                .is_some_and(|m| !m.is_empty()),
            "model is required"
        );
        let mut sent = Sent::new(body.clone());
        sent.stream = top.get("stream") == Some(&json!(true));
        if top.contains_key("stream_options") {
            assert!(sent.stream, "stream_options is only allowed with stream");
        }
        let messages = array(top.get("messages"), "messages");
        assert!(!messages.is_empty(), "messages must not be empty");
        let mut pending: Vec<String> = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let what = format!("messages[{i}]");
            let role = string(m.get("role"), &what);
            if role != "tool" {
                assert!(
                    pending.is_empty(),
                    "{what}: an assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id' ({pending:?})"
                );
            }
            match role.as_str() {
                "system" | "developer" => {
                    object(m, &what, &["role", "content", "name"]);
                    sent.system.push(openai_text(&m["content"], &what));
                }
                "user" => {
                    object(m, &what, &["role", "content", "name"]);
                    let parts = match &m["content"] {
                        Value::String(s) => vec![Part::Text(s.clone())],
                        Value::Array(items) => items
                            .iter()
                            .map(|p| match p["type"].as_str() {
                                Some("text") => {
                                    object(p, &what, &["type", "text"]);
                                    Part::Text(string(p.get("text"), &what))
                                }
                                Some("image_url") => {
                                    object(p, &what, &["type", "image_url"]);
                                    object(&p["image_url"], &what, &["url", "detail"]);
                                    Part::Image(openai_image(&string(
                                        p["image_url"].get("url"),
                                        &what,
                                    )))
                                }
                                other => panic!("{what}: unknown user part type {other:?}"),
                            })
                            .collect(),
                        other => panic!("{what}: user content must be a string or parts: {other}"),
                    };
                    assert!(!parts.is_empty(), "{what}: empty user content");
                    sent.turns.push(Turn {
                        speaker: Speaker::User,
                        parts,
                    });
                }
                "assistant" => {
                    object(
                        m,
                        &what,
                        &["role", "content", "name", "tool_calls", "refusal", "audio"],
                    );
                    let mut parts = Vec::new();
                    if !m["content"].is_null() {
                        let text = openai_text(&m["content"], &what);
                        if !text.is_empty() {
                            parts.push(Part::Text(text));
                        }
                    }
                    if let Some(calls) = m.get("tool_calls") {
                        let calls = array(Some(calls), &what);
                        assert!(!calls.is_empty(), "{what}: tool_calls must not be empty");
                        for call in calls {
                            object(call, &what, &["id", "type", "function"]);
                            let id = string(call.get("id"), &what);
                            assert!(
                                !id.is_empty() && id.len() <= 40,
                                "{what}: tool_calls[].id must be 1 to 40 characters: {id}"
                            );
                            assert!(
                                !pending.contains(&id),
                                "{what}: duplicate tool call id {id}"
                            );
                            assert_eq!(call["type"], "function", "{what}");
                            object(&call["function"], &what, &["name", "arguments"]);
                            let arguments = string(call["function"].get("arguments"), &what);
                            let args: Value =
                                serde_json::from_str(&arguments).unwrap_or_else(|_| {
                                    panic!("{what}: arguments must be JSON text: {arguments}")
                                });
                            pending.push(id.clone());
                            parts.push(Part::Call {
                                id: Some(id),
                                name: string(call["function"].get("name"), &what),
                                args,
                                signature: None,
                            });
                        }
                    }
                    assert!(
                        !parts.is_empty() || m.get("tool_calls").is_some(),
                        "{what}: an assistant message needs content or tool_calls"
                    );
                    sent.turns.push(Turn {
                        speaker: Speaker::Assistant,
                        parts,
                    });
                }
                "tool" => {
                    object(m, &what, &["role", "content", "tool_call_id"]);
                    let id = string(m.get("tool_call_id"), &what);
                    let Some(at) = pending.iter().position(|p| *p == id) else {
                        panic!(
                            "{what}: messages with role 'tool' must be a response to a preceding message with 'tool_calls' ({id})"
                        );
                    };
                    pending.remove(at);
                    sent.turns.push(Turn {
                        speaker: Speaker::Tool,
                        parts: vec![Part::Result {
                            id: Some(id),
                            name: None,
                            content: openai_text(&m["content"], &what),
                            is_error: None,
                        }],
                    });
                }
                other => panic!("{what}: unknown role {other}"),
            }
        }
        assert!(
            pending.is_empty(),
            "tool calls {pending:?} have no tool message"
        );
        if let Some(tools) = top.get("tools") {
            for tool in array(Some(tools), "tools") {
                object(tool, "tools[]", &["type", "function"]);
                assert_eq!(tool["type"], "function");
                let f = object(
                    &tool["function"],
                    "tools[].function",
                    &["name", "description", "parameters", "strict"],
                );
                sent.tools.push(SentTool {
                    name: string(f.get("name"), "tool name"),
                    description: f.get("description").map(|d| string(Some(d), "description")),
                    schema: f.get("parameters").cloned().unwrap_or(Value::Null),
                });
            }
        }
        for field in ["tool_choice", "parallel_tool_calls"] {
            if top.contains_key(field) {
                assert!(
                    !sent.tools.is_empty(),
                    "{field} is only allowed when tools are specified"
                );
            }
        }
        sent.tool_choice = top.get("tool_choice").map(|c| match c {
            Value::String(s) => {
                assert!(["auto", "none", "required"].contains(&s.as_str()), "{s}");
                s.clone()
            }
            other => {
                object(other, "tool_choice", &["type", "function"]);
                object(&other["function"], "tool_choice.function", &["name"]);
                format!("tool:{}", string(other["function"].get("name"), "name"))
            }
        });
        if let Some(format) = top.get("response_format") {
            object(format, "response_format", &["type", "json_schema"]);
            if format["type"] == "json_schema" {
                let js = object(
                    &format["json_schema"],
                    "json_schema",
                    &["name", "schema", "strict", "description"],
                );
                let name = string(js.get("name"), "json_schema.name");
                assert!(
                    !name.is_empty()
                        && name.len() <= 64
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                    "json_schema.name {name}"
                );
                sent.schema = js.get("schema").cloned();
            }
        }
        if let Some(effort) = top.get("reasoning_effort") {
            assert!(
                ["none", "minimal", "low", "medium", "high"]
                    .contains(&string(Some(effort), "reasoning_effort").as_str()),
                "reasoning_effort {effort}"
            );
            sent.reasoning = true;
        }
        sent
    }
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages

/// Anthropic Messages.
#[derive(Debug)]
pub struct AnthropicWire;

const ANTHROPIC_TOP: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "thinking",
    "metadata",
    "output_config",
    "service_tier",
];

fn anthropic_text_block(block: &Value, what: &str) -> String {
    object(block, what, &["type", "text", "cache_control", "citations"]);
    let text = string(block.get("text"), what);
    assert!(
        !text.is_empty(),
        "{what}: text content blocks must be non-empty"
    );
    text
}

fn anthropic_id(id: &str, what: &str) {
    assert!(
        !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{what}: tool_use ids must match ^[a-zA-Z0-9_-]+$: {id}"
    );
}

impl Wire for AnthropicWire {
    const NAME: &'static str = "anthropic";
    const MODEL: &'static str = "claude-sonnet-4-5";
    fn key() -> &'static str {
        static KEY: OnceLock<String> = OnceLock::new();
        KEY.get_or_init(|| llmward_testkit::canary::key("sk-ant-api03-", "suite-anthropic"))
    }
    const REQUEST_ID_HEADER: Option<&'static str> = Some("request-id");
    const CALL_IDS: bool = true;
    const IMAGE_URLS: bool = true;
    const SIGNED_REASONING: bool = true;
    const REASONING_SENT_BACK: bool = true;
    const CACHE_WRITES: bool = true;

    fn provider(up: &Upstream) -> Arc<dyn Provider> {
        Arc::new(
            Anthropic::builder()
                .base_url(up.url())
                .api_key(key(Self::key()))
                .build()
                .unwrap(),
        )
    }

    fn echo(up: &Upstream) {
        up.set_handler(anthropic::handler());
    }

    fn call_id(n: usize) -> String {
        format!("toolu_01{n}A09q90qw90lq917835lq9")
    }

    fn text(text: &str) -> Value {
        anthropic::message(Self::MODEL, text)
    }

    fn tool_calls(calls: &[(&str, &str, Value)]) -> Value {
        anthropic::tool_use_message(Self::MODEL, calls)
    }

    fn reasoning(thinking: &str, signature: &str, text: &str) -> Value {
        anthropic::thinking_message(Self::MODEL, thinking, signature, text)
    }

    fn agent_step(thinking: &str, signature: &str, calls: &[(&str, &str, Value)]) -> Value {
        let mut content = vec![
            json!({"type": "thinking", "thinking": thinking, "signature": signature}),
            json!({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB8URj2pLmgHSRD"}),
            json!({"type": "text", "text": "Let me check."}),
        ];
        content.extend(
            anthropic::tool_use_message(Self::MODEL, calls)["content"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        let mut usage = anthropic::usage(10, 40);
        usage["output_tokens_details"] = json!({"thinking_tokens": 20});
        anthropic::message_with(Self::MODEL, content, "tool_use", usage)
    }

    fn usage(text: &str, b: Billed) -> Value {
        let mut usage = anthropic::usage(b.input - b.cached - b.cache_write, b.output);
        usage["cache_read_input_tokens"] = json!(b.cached);
        usage["cache_creation_input_tokens"] = json!(b.cache_write);
        usage["output_tokens_details"] = json!({"thinking_tokens": b.reasoning});
        anthropic::message_with(
            Self::MODEL,
            vec![json!({"type": "text", "text": text})],
            "end_turn",
            usage,
        )
    }

    fn safety_stop() -> Value {
        anthropic::message_with(
            Self::MODEL,
            vec![json!({"type": "text", "text": "I can"})],
            "refusal",
            anthropic::usage(10, 2),
        )
    }

    fn stream_of(body: &Value) -> Vec<String> {
        anthropic::stream_message(body, 3)
    }

    fn stream_text(pieces: &[&str]) -> Vec<String> {
        anthropic::stream_text(Self::MODEL, pieces)
    }

    fn stream_tool_calls(calls: &[(&str, &str, Value)]) -> Vec<String> {
        anthropic::stream_tool_use(Self::MODEL, calls, 4)
    }

    fn partial_text_stream(text: &str) -> Vec<String> {
        // message_start, content_block_start, ping, the first text_delta.
        anthropic::stream_text(Self::MODEL, &[text])[..4].to_vec()
    }

    fn stream_error(kind: ErrorKind) -> String {
        match kind {
            ErrorKind::Overloaded => anthropic::stream_error("overloaded_error", "Overloaded"),
            ErrorKind::Server => anthropic::stream_error("api_error", "Internal server error"),
            other => panic!("no Anthropic stream error for {other}"),
        }
    }

    fn error(kind: ErrorKind) -> Option<ErrorCase> {
        let (status, error_type, message) = match kind {
            ErrorKind::Auth => (
                401,
                "authentication_error",
                format!("invalid x-api-key {}", Self::key()),
            ),
            ErrorKind::PermissionDenied => (
                403,
                "permission_error",
                "Your API key does not have permission to use the specified resource.".into(),
            ),
            ErrorKind::NotFound => (404, "not_found_error", "model: claude-9".into()),
            ErrorKind::RateLimited => (
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit".into(),
            ),
            ErrorKind::QuotaExceeded => (
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API.".into(),
            ),
            ErrorKind::Overloaded => (529, "overloaded_error", "Overloaded".into()),
            ErrorKind::Server => (500, "api_error", "Internal server error".into()),
            ErrorKind::Timeout => (504, "timeout_error", "Request timed out".into()),
            ErrorKind::ContextLengthExceeded => (
                400,
                "invalid_request_error",
                "prompt is too long: 3333404 tokens > 200000 maximum".into(),
            ),
            ErrorKind::InvalidRequest => (
                400,
                "invalid_request_error",
                "messages: field required".into(),
            ),
            // Anthropic refuses by answering (stop_reason `refusal`), never with an error.
            _ => return None,
        };
        let mut reply = anthropic::error(status, error_type, &message);
        if kind == ErrorKind::RateLimited {
            reply = reply.header("retry-after", "20");
        }
        Some(ErrorCase::http(status, reply))
    }

    fn read(rec: &Recorded) -> Sent {
        let path = rec.path.split('?').next().unwrap_or_default();
        assert!(path.ends_with("/v1/messages"), "path {path}");
        assert!(
            rec.header("anthropic-version").is_some(),
            "anthropic-version is required"
        );
        let body = rec.json();
        let top = object(&body, "request", ANTHROPIC_TOP);
        let max_tokens = top
            .get("max_tokens")
            .and_then(Value::as_u64)
            .filter(|m| *m >= 1)
            .expect("max_tokens: Field required");
        let mut sent = Sent::new(body.clone());
        sent.stream = top.get("stream") == Some(&json!(true));
        match top.get("system") {
            None => {}
            Some(Value::String(s)) => sent.system.push(s.clone()),
            Some(Value::Array(blocks)) => {
                for b in blocks {
                    assert_eq!(b["type"], "text", "system blocks are text");
                    sent.system.push(anthropic_text_block(b, "system"));
                }
            }
            Some(other) => panic!("system must be a string or text blocks: {other}"),
        }
        let thinking = match top.get("thinking") {
            None => false,
            Some(t) => {
                object(t, "thinking", &["type", "budget_tokens"]);
                match t["type"].as_str() {
                    Some("enabled") => {
                        let budget = t["budget_tokens"].as_u64().expect("budget_tokens");
                        assert!(budget >= 1024, "thinking.budget_tokens must be >= 1024");
                        assert!(
                            budget < max_tokens,
                            "max_tokens must be greater than thinking.budget_tokens"
                        );
                        true
                    }
                    Some("disabled") => false,
                    other => panic!("thinking.type {other:?}"),
                }
            }
        };
        sent.reasoning = thinking;
        let messages = array(top.get("messages"), "messages");
        assert!(
            !messages.is_empty(),
            "messages: at least one message is required"
        );
        let mut previous_role = "";
        let mut open_calls: Vec<String> = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let what = format!("messages.{i}");
            object(m, &what, &["role", "content"]);
            let role = string(m.get("role"), &what);
            assert!(role == "user" || role == "assistant", "{what}: role {role}");
            assert!(
                i > 0 || role == "user",
                "the first message must use the user role"
            );
            assert_ne!(role, previous_role, "{what}: roles must alternate");
            previous_role = if role == "user" { "user" } else { "assistant" };
            let blocks: Vec<Value> = match &m["content"] {
                Value::String(s) => vec![json!({"type": "text", "text": s})],
                Value::Array(items) => items.clone(),
                other => panic!("{what}: content must be a string or blocks: {other}"),
            };
            assert!(!blocks.is_empty(), "{what}: content must not be empty");
            let mut parts = Vec::new();
            if role == "user" {
                let mut answered: Vec<String> = Vec::new();
                let mut seen_other = false;
                for (j, block) in blocks.iter().enumerate() {
                    let what = format!("{what}.content.{j}");
                    match block["type"].as_str() {
                        Some("tool_result") => {
                            assert!(
                                !seen_other,
                                "{what}: tool_result blocks must come first in the user message"
                            );
                            object(
                                block,
                                &what,
                                &[
                                    "type",
                                    "tool_use_id",
                                    "content",
                                    "is_error",
                                    "cache_control",
                                ],
                            );
                            let id = string(block.get("tool_use_id"), &what);
                            assert!(
                                open_calls.contains(&id),
                                "{what}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                            );
                            assert!(!answered.contains(&id), "{what}: {id} answered twice");
                            answered.push(id.clone());
                            let content = match block.get("content") {
                                None => String::new(),
                                Some(Value::String(s)) => s.clone(),
                                Some(Value::Array(items)) => items
                                    .iter()
                                    .map(|b| {
                                        assert_eq!(b["type"], "text", "{what}");
                                        anthropic_text_block(b, &what)
                                    })
                                    .collect(),
                                Some(other) => panic!("{what}: content {other}"),
                            };
                            let is_error = block.get("is_error").map(|e| {
                                e.as_bool()
                                    .unwrap_or_else(|| panic!("{what}: is_error must be a bool"))
                            });
                            parts.push(Part::Result {
                                id: Some(id),
                                name: None,
                                content,
                                is_error: Some(is_error.unwrap_or(false)),
                            });
                        }
                        Some("text") => {
                            seen_other = true;
                            parts.push(Part::Text(anthropic_text_block(block, &what)));
                        }
                        Some("image") => {
                            seen_other = true;
                            object(block, &what, &["type", "source", "cache_control"]);
                            let source = &block["source"];
                            parts.push(Part::Image(match source["type"].as_str() {
                                Some("base64") => {
                                    object(source, &what, &["type", "media_type", "data"]);
                                    Img::Base64 {
                                        media_type: string(source.get("media_type"), &what),
                                        data: string(source.get("data"), &what),
                                    }
                                }
                                Some("url") => {
                                    object(source, &what, &["type", "url"]);
                                    Img::Url(string(source.get("url"), &what))
                                }
                                other => panic!("{what}: image source {other:?}"),
                            }));
                        }
                        other => panic!("{what}: a user message cannot hold {other:?}"),
                    }
                }
                let missing: Vec<&String> = open_calls
                    .iter()
                    .filter(|c| !answered.contains(c))
                    .collect();
                assert!(
                    missing.is_empty(),
                    "{what}: `tool_use` ids were found without `tool_result` blocks immediately after: {missing:?}"
                );
                open_calls.clear();
            } else {
                for (j, block) in blocks.iter().enumerate() {
                    let what = format!("{what}.content.{j}");
                    match block["type"].as_str() {
                        Some("text") => parts.push(Part::Text(anthropic_text_block(block, &what))),
                        Some("tool_use") => {
                            object(
                                block,
                                &what,
                                &["type", "id", "name", "input", "cache_control"],
                            );
                            let id = string(block.get("id"), &what);
                            anthropic_id(&id, &what);
                            assert!(!open_calls.contains(&id), "{what}: duplicate id {id}");
                            assert!(
                                block["input"].is_object(),
                                "{what}: input must be an object"
                            );
                            open_calls.push(id.clone());
                            parts.push(Part::Call {
                                id: Some(id),
                                name: string(block.get("name"), &what),
                                args: block["input"].clone(),
                                signature: None,
                            });
                        }
                        Some("thinking") => {
                            object(block, &what, &["type", "thinking", "signature"]);
                            let signature = string(block.get("signature"), &what);
                            assert!(
                                !signature.is_empty(),
                                "{what}: thinking needs its signature"
                            );
                            parts.push(Part::Thinking {
                                text: string(block.get("thinking"), &what),
                                signature: Some(signature),
                            });
                        }
                        Some("redacted_thinking") => {
                            object(block, &what, &["type", "data"]);
                            parts.push(Part::Redacted(string(block.get("data"), &what)));
                        }
                        other => panic!("{what}: an assistant message cannot hold {other:?}"),
                    }
                }
            }
            sent.turns.push(Turn {
                speaker: if role == "user" {
                    Speaker::User
                } else {
                    Speaker::Assistant
                },
                parts,
            });
        }
        // With thinking on, an unfinished tool loop must be replayed with its thinking first.
        if thinking {
            let n = sent.turns.len();
            let in_tool_loop = sent.turns.last().is_some_and(|t| {
                t.speaker == Speaker::User
                    && t.parts.iter().any(|p| matches!(p, Part::Result { .. }))
            });
            if in_tool_loop && n >= 2 {
                let assistant = &sent.turns[n - 2];
                assert!(
                    matches!(
                        assistant.parts.first(),
                        Some(Part::Thinking { .. } | Part::Redacted(_))
                    ),
                    "messages.{}.content.0.type: Expected `thinking` or `redacted_thinking`, but found another block. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).",
                    n - 2
                );
            }
        }
        if let Some(tools) = top.get("tools") {
            for tool in array(Some(tools), "tools") {
                let t = object(
                    tool,
                    "tools[]",
                    &[
                        "name",
                        "description",
                        "input_schema",
                        "cache_control",
                        "strict",
                    ],
                );
                let schema = t.get("input_schema").cloned().expect("input_schema");
                assert_eq!(schema["type"], "object", "input_schema.type must be object");
                sent.tools.push(SentTool {
                    name: string(t.get("name"), "tool name"),
                    description: t.get("description").map(|d| string(Some(d), "description")),
                    schema,
                });
            }
        }
        if let Some(choice) = top.get("tool_choice") {
            assert!(!sent.tools.is_empty(), "tool_choice without tools");
            object(
                choice,
                "tool_choice",
                &["type", "name", "disable_parallel_tool_use"],
            );
            sent.tool_choice = Some(match choice["type"].as_str() {
                Some("auto") => "auto".into(),
                Some("any") => "required".into(),
                Some("none") => "none".into(),
                Some("tool") => format!("tool:{}", string(choice.get("name"), "name")),
                other => panic!("tool_choice.type {other:?}"),
            });
        }
        if let Some(config) = top.get("output_config") {
            object(config, "output_config", &["format", "effort"]);
            if let Some(format) = config.get("format") {
                object(format, "output_config.format", &["type", "schema"]);
                assert_eq!(format["type"], "json_schema");
                sent.schema = format.get("schema").cloned();
            }
        }
        sent
    }
}

// ---------------------------------------------------------------------------------------------
// Gemini generateContent

/// Gemini (Developer API), Gemini 2.5: tool calls come without ids.
#[derive(Debug)]
pub struct GeminiWire;

const GEMINI_PART: &[&str] = &[
    "text",
    "thought",
    "thoughtSignature",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
];

const GEMINI_DATA: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
];

const GEMINI_GENERATION: &[&str] = &[
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "thinkingConfig",
    "candidateCount",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseModalities",
];

impl GeminiWire {
    fn response_text(response: &Value) -> (String, bool) {
        let map = response
            .as_object()
            .expect("functionResponse.response object");
        match (map.len(), map.get("content"), map.get("error")) {
            (1, Some(Value::String(s)), None) => (s.clone(), false),
            (1, None, Some(Value::String(s))) => (s.clone(), true),
            (1, None, Some(other)) => (other.to_string(), true),
            _ => (response.to_string(), false),
        }
    }
}

impl Wire for GeminiWire {
    const NAME: &'static str = "gemini";
    const MODEL: &'static str = "gemini-2.5-flash";
    fn key() -> &'static str {
        static KEY: OnceLock<String> = OnceLock::new();
        KEY.get_or_init(|| llmward_testkit::canary::key("AIza", "suite-gemini"))
    }
    const REQUEST_ID_HEADER: Option<&'static str> = None;
    const CALL_IDS: bool = false;
    const IMAGE_URLS: bool = false;
    const SIGNED_REASONING: bool = true;
    const REASONING_SENT_BACK: bool = true;
    const CACHE_WRITES: bool = false;

    fn provider(up: &Upstream) -> Arc<dyn Provider> {
        Arc::new(
            Gemini::builder()
                .base_url(format!("{}/v1beta", up.url()))
                .api_key(key(Self::key()))
                .build()
                .unwrap(),
        )
    }

    fn echo(up: &Upstream) {
        up.set_handler(gemini::handler());
    }

    fn call_id(n: usize) -> String {
        // Never on the wire (Gemini 2.5 sends no ids).
        format!("unused_{n}")
    }

    fn text(text: &str) -> Value {
        gemini::generate(Self::MODEL, text)
    }

    fn tool_calls(calls: &[(&str, &str, Value)]) -> Value {
        let calls: Vec<(&str, Value)> = calls.iter().map(|(_, n, a)| (*n, a.clone())).collect();
        gemini::function_call(Self::MODEL, &calls)
    }

    fn reasoning(thinking: &str, signature: &str, text: &str) -> Value {
        // As Gemini 3 answers with includeThoughts: the thought, then the signed text.
        gemini::response(
            Self::MODEL,
            json!([
                {"text": thinking, "thought": true},
                {"text": text, "thoughtSignature": signature}
            ]),
            "STOP",
            gemini::usage(10, 3, 25),
        )
    }

    fn agent_step(thinking: &str, signature: &str, calls: &[(&str, &str, Value)]) -> Value {
        let mut parts = vec![json!({"text": thinking, "thought": true})];
        for (i, (_, name, args)) in calls.iter().enumerate() {
            let mut part = json!({"functionCall": {"name": name, "args": args}});
            if i == 0 {
                part["thoughtSignature"] = json!(signature);
            }
            parts.push(part);
        }
        gemini::response(
            Self::MODEL,
            Value::Array(parts),
            "STOP",
            gemini::usage(10, 12, 20),
        )
    }

    fn usage(text: &str, b: Billed) -> Value {
        let mut usage = gemini::usage(b.input, b.output - b.reasoning, b.reasoning);
        usage["cachedContentTokenCount"] = json!(b.cached);
        gemini::response(Self::MODEL, json!([{"text": text}]), "STOP", usage)
    }

    fn safety_stop() -> Value {
        gemini::response(Self::MODEL, json!([]), "SAFETY", gemini::usage(10, 0, 0))
    }

    fn stream_of(body: &Value) -> Vec<String> {
        let candidate = &body["candidates"][0];
        let mut chunks: Vec<Value> = Vec::new();
        for part in candidate["content"]["parts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            match part["text"].as_str() {
                // Text streams in pieces; the signature comes with the first, as Gemini sends it.
                Some(text) if text.chars().count() > 1 => {
                    let (a, b) = halves(text);
                    let mut first = part.clone();
                    first["text"] = json!(a);
                    let mut second = json!({"text": b});
                    if part["thought"] == true {
                        second["thought"] = json!(true);
                    }
                    chunks.push(json!([first]));
                    chunks.push(json!([second]));
                }
                _ => chunks.push(json!([part])),
            }
        }
        if chunks.is_empty() {
            chunks.push(json!([]));
        }
        let last = chunks.len() - 1;
        let id = body["responseId"].as_str().unwrap();
        let model = body["modelVersion"].as_str().unwrap();
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, parts)| {
                let finish = (i == last)
                    .then(|| candidate["finishReason"].as_str())
                    .flatten();
                let mut c = gemini::chunk(model, id, parts, finish, body["usageMetadata"].clone());
                if let (true, Some(m)) = (i == last, candidate.get("finishMessage")) {
                    c["candidates"][0]["finishMessage"] = m.clone();
                }
                gemini::sse_data(&c)
            })
            .collect()
    }

    fn stream_text(pieces: &[&str]) -> Vec<String> {
        gemini::stream_text(Self::MODEL, pieces)
    }

    fn stream_tool_calls(calls: &[(&str, &str, Value)]) -> Vec<String> {
        let calls: Vec<(&str, Value)> = calls.iter().map(|(_, n, a)| (*n, a.clone())).collect();
        gemini::stream_function_call(Self::MODEL, &calls)
    }

    fn partial_text_stream(text: &str) -> Vec<String> {
        let chunk = gemini::chunk(
            Self::MODEL,
            "suite-partial",
            json!([{"text": text}]),
            None,
            gemini::usage(10, 1, 0),
        );
        vec![gemini::sse_data(&chunk)]
    }

    fn stream_error(kind: ErrorKind) -> String {
        let error = match kind {
            ErrorKind::Overloaded => json!({"code": 503, "status": "UNAVAILABLE",
                "message": "The model is overloaded. Please try again later."}),
            ErrorKind::Server => json!({"code": 500, "status": "INTERNAL",
                "message": "An internal error has occurred."}),
            other => panic!("no Gemini stream error for {other}"),
        };
        gemini::sse_data(&json!({"error": error}))
    }

    fn error(kind: ErrorKind) -> Option<ErrorCase> {
        let http = |status, grpc: &str, message: &str| {
            ErrorCase::http(status, gemini::error(status, grpc, message))
        };
        Some(match kind {
            ErrorKind::Auth => ErrorCase::http(400, gemini::error_invalid_key()),
            ErrorKind::PermissionDenied => http(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
            ),
            ErrorKind::NotFound => http(
                404,
                "NOT_FOUND",
                "models/gemini-9 is not found for API version v1beta.",
            ),
            ErrorKind::RateLimited => ErrorCase::http(429, gemini::error_429_retry("20s")),
            ErrorKind::QuotaExceeded => ErrorCase::http(
                429,
                gemini::error_with_details(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "You exceeded your current quota, please check your plan and billing details.",
                    json!([{
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [{
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            "quotaValue": "250"
                        }]
                    }]),
                ),
            ),
            ErrorKind::Overloaded => http(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
            ),
            ErrorKind::Server => http(500, "INTERNAL", "An internal error has occurred."),
            ErrorKind::Timeout => http(
                504,
                "DEADLINE_EXCEEDED",
                "Deadline expired before operation could complete.",
            ),
            ErrorKind::ContextLengthExceeded => http(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1250074) exceeds the maximum number of tokens allowed (1048576).",
            ),
            ErrorKind::InvalidRequest => http(
                400,
                "INVALID_ARGUMENT",
                "Invalid JSON payload received. Unknown name \"foo\": Cannot find field.",
            ),
            ErrorKind::ContentFiltered => {
                let blocked = json!({
                    "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                    "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10},
                    "modelVersion": Self::MODEL,
                    "responseId": "suite-blocked"
                });
                ErrorCase {
                    status: None,
                    reply: Reply::json(200, blocked.clone()),
                    streamed: Reply::sse(vec![gemini::sse_data(&blocked)]),
                }
            }
            ErrorKind::ModelOutput => {
                let mut rejected = gemini::response(
                    Self::MODEL,
                    json!([]),
                    "MALFORMED_FUNCTION_CALL",
                    gemini::usage(10, 0, 0),
                );
                rejected["candidates"][0]["finishMessage"] =
                    json!("Malformed function call: print(default_api.weather(city=))");
                ErrorCase {
                    status: None,
                    streamed: Reply::sse(Self::stream_of(&rejected)),
                    reply: Reply::json(200, rejected),
                }
            }
            _ => return None,
        })
    }

    fn read(rec: &Recorded) -> Sent {
        let (path, query) = rec.path.split_once('?').unwrap_or((&rec.path, ""));
        let (_, tail) = path
            .rsplit_once("/models/")
            .unwrap_or_else(|| panic!("path {path}"));
        let (model, method) = tail.rsplit_once(':').expect("model:method");
        let body = rec.json();
        let mut sent = Sent::new(body.clone());
        sent.stream = match method {
            "generateContent" => false,
            "streamGenerateContent" => {
                assert!(
                    query.split('&').any(|q| q == "alt=sse"),
                    "streams use alt=sse"
                );
                true
            }
            other => panic!("method {other}"),
        };
        let top = object(
            &body,
            "request",
            &[
                "contents",
                "systemInstruction",
                "tools",
                "toolConfig",
                "generationConfig",
                "safetySettings",
                "cachedContent",
            ],
        );
        if let Some(system) = top.get("systemInstruction") {
            object(system, "systemInstruction", &["parts", "role"]);
            for p in array(system.get("parts"), "systemInstruction.parts") {
                object(p, "systemInstruction.parts[]", &["text"]);
                sent.system.push(string(p.get("text"), "system text"));
            }
        }
        let contents = array(top.get("contents"), "contents");
        assert!(!contents.is_empty(), "contents is required");
        let mut previous_calls: Vec<(Option<String>, String)> = Vec::new();
        for (i, content) in contents.iter().enumerate() {
            let what = format!("contents[{i}]");
            object(content, &what, &["role", "parts"]);
            let role = string(content.get("role"), &what);
            let model_turn = match role.as_str() {
                "user" => false,
                "model" => true,
                other => panic!("{what}: role must be user or model, got {other}"),
            };
            let raw_parts = array(content.get("parts"), &what);
            assert!(!raw_parts.is_empty(), "{what}: parts must not be empty");
            let mut parts = Vec::new();
            let mut calls: Vec<(Option<String>, String)> = Vec::new();
            let mut responses: Vec<(Option<String>, String)> = Vec::new();
            for (j, p) in raw_parts.iter().enumerate() {
                let what = format!("{what}.parts[{j}]");
                let map = object(p, &what, GEMINI_PART);
                let data: Vec<&String> = map
                    .keys()
                    .filter(|k| GEMINI_DATA.contains(&k.as_str()))
                    .collect();
                assert_eq!(
                    data.len(),
                    1,
                    "{what}: a part holds exactly one kind of data"
                );
                let signature = map.get("thoughtSignature").map(|s| string(Some(s), &what));
                if map.contains_key("thought") {
                    assert!(
                        map.contains_key("text"),
                        "{what}: thought is for text parts"
                    );
                }
                if let Some(text) = map.get("text") {
                    let text = string(Some(text), &what);
                    if p["thought"] == true {
                        parts.push(Part::Thinking { text, signature });
                    } else {
                        assert!(
                            !text.is_empty() || signature.is_some(),
                            "{what}: empty text part"
                        );
                        if !text.is_empty() {
                            parts.push(Part::Text(text));
                        }
                        if let Some(signature) = signature {
                            parts.push(Part::Signature(signature));
                        }
                    }
                } else if let Some(inline) = map.get("inlineData") {
                    object(inline, &what, &["mimeType", "data"]);
                    parts.push(Part::Image(Img::Base64 {
                        media_type: string(inline.get("mimeType"), &what),
                        data: string(inline.get("data"), &what),
                    }));
                } else if let Some(file) = map.get("fileData") {
                    object(file, &what, &["mimeType", "fileUri"]);
                    parts.push(Part::Image(Img::Url(string(file.get("fileUri"), &what))));
                } else if let Some(call) = map.get("functionCall") {
                    assert!(model_turn, "{what}: functionCall belongs to a model turn");
                    object(call, &what, &["name", "args", "id"]);
                    let name = string(call.get("name"), &what);
                    assert!(!name.is_empty(), "{what}: functionCall.name is required");
                    let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
                    assert!(args.is_object(), "{what}: args must be an object");
                    let id = call.get("id").map(|v| string(Some(v), &what));
                    calls.push((id.clone(), name.clone()));
                    parts.push(Part::Call {
                        id,
                        name,
                        args,
                        signature,
                    });
                } else if let Some(response) = map.get("functionResponse") {
                    assert!(
                        !model_turn,
                        "{what}: functionResponse belongs to a user turn"
                    );
                    object(response, &what, &["name", "response", "id"]);
                    let name = string(response.get("name"), &what);
                    assert!(
                        !name.is_empty(),
                        "{what}: functionResponse.name is required"
                    );
                    let id = response.get("id").map(|v| string(Some(v), &what));
                    let (text, is_error) = Self::response_text(&response["response"]);
                    responses.push((id.clone(), name.clone()));
                    parts.push(Part::Result {
                        id,
                        name: Some(name),
                        content: text,
                        is_error: Some(is_error),
                    });
                }
            }
            if model_turn {
                previous_calls = calls;
            } else {
                assert_eq!(
                    responses.len(),
                    previous_calls.len(),
                    "{what}: Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."
                );
                for (id, name) in &responses {
                    assert!(
                        previous_calls
                            .iter()
                            .any(|(cid, cname)| cname == name && (id.is_none() || cid == id)),
                        "{what}: functionResponse {name} ({id:?}) answers no functionCall of the turn before"
                    );
                }
                previous_calls.clear();
            }
            sent.turns.push(Turn {
                speaker: if model_turn {
                    Speaker::Assistant
                } else {
                    Speaker::User
                },
                parts,
            });
        }
        // Gemini 3 validates thought signatures in the current turn: the first functionCall
        // of every model step since the last user text must carry one, or it answers 400.
        if model.starts_with("gemini-3") {
            let start = sent
                .turns
                .iter()
                .rposition(|t| {
                    t.speaker == Speaker::User
                        && t.parts.iter().any(|p| !matches!(p, Part::Result { .. }))
                })
                .unwrap_or(0);
            for (i, turn) in sent.turns.iter().enumerate().skip(start) {
                if let Some(Part::Call {
                    name, signature, ..
                }) = turn.parts.iter().find(|p| matches!(p, Part::Call { .. }))
                {
                    assert!(
                        signature.is_some(),
                        "contents[{i}]: Function call `{name}` is missing a thought_signature in functionCall parts. This is required for tools to work correctly."
                    );
                }
            }
        }
        if let Some(tools) = top.get("tools") {
            for tool in array(Some(tools), "tools") {
                object(tool, "tools[]", &["functionDeclarations"]);
                for decl in array(tool.get("functionDeclarations"), "functionDeclarations") {
                    let d = object(
                        decl,
                        "functionDeclarations[]",
                        &["name", "description", "parameters", "parametersJsonSchema"],
                    );
                    assert!(
                        !(d.contains_key("parameters") && d.contains_key("parametersJsonSchema")),
                        "parameters and parametersJsonSchema are exclusive"
                    );
                    sent.tools.push(SentTool {
                        name: string(d.get("name"), "tool name"),
                        description: d.get("description").map(|v| string(Some(v), "description")),
                        schema: d
                            .get("parametersJsonSchema")
                            .or(d.get("parameters"))
                            .cloned()
                            .unwrap_or(Value::Null),
                    });
                }
            }
        }
        if let Some(config) = top.get("toolConfig") {
            object(config, "toolConfig", &["functionCallingConfig"]);
            let f = object(
                &config["functionCallingConfig"],
                "functionCallingConfig",
                &["mode", "allowedFunctionNames"],
            );
            let names = f
                .get("allowedFunctionNames")
                .map(|n| array(Some(n), "names"));
            sent.tool_choice = Some(match (string(f.get("mode"), "mode").as_str(), names) {
                ("AUTO", None) => "auto".into(),
                ("NONE", None) => "none".into(),
                ("ANY", None) => "required".into(),
                ("ANY", Some(names)) if names.len() == 1 => {
                    format!("tool:{}", string(names.first(), "name"))
                }
                (mode, names) => panic!("functionCallingConfig {mode} {names:?}"),
            });
        }
        if let Some(config) = top.get("generationConfig") {
            let g = object(config, "generationConfig", GEMINI_GENERATION);
            if let Some(schema) = g.get("responseJsonSchema") {
                assert_eq!(
                    g.get("responseMimeType"),
                    Some(&json!("application/json")),
                    "responseJsonSchema needs responseMimeType application/json"
                );
                sent.schema = Some(schema.clone());
            }
            if let Some(thinking) = g.get("thinkingConfig") {
                let t = object(
                    thinking,
                    "thinkingConfig",
                    &["thinkingBudget", "thinkingLevel", "includeThoughts"],
                );
                assert!(
                    !(t.contains_key("thinkingBudget") && t.contains_key("thinkingLevel")),
                    "thinkingBudget and thinkingLevel cannot both be set"
                );
                sent.reasoning = true;
            }
        }
        sent
    }
}

// ---------------------------------------------------------------------------------------------
// The hostile world: tests/hostile.rs, tests/canary_audit.rs, tests/load_faults.rs and
// examples/load_rss.rs.

pub mod hostile;

pub mod load;
