//! OpenAI Chat Completions wire-format builders (shapes follow the recorded `openai/*` corpus files).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::{Recorded, Reply, sse};

/// A fixed `created` timestamp so bodies are reproducible.
const CREATED: u64 = 1_780_944_407;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A rough token estimate: one token per four characters, at least one.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// Prompt tokens reported when the prompt is unknown.
const PROMPT_TOKENS: u64 = 10;

fn usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

fn completion(model: &str, message: Value, finish_reason: &str, usage: Value) -> Value {
    json!({
        "id": format!("chatcmpl-testkit-{}", next_id()),
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": null
    })
}

/// A `chat.completion` answering `text`, finish_reason `stop`; completion tokens are estimated from
/// the text (one per four characters) and prompt tokens are 10.
pub fn chat_completion(model: &str, text: &str) -> Value {
    chat_completion_with_usage(model, text, PROMPT_TOKENS, estimate_tokens(text))
}

/// Like [`chat_completion`] with explicit token counts.
pub fn chat_completion_with_usage(
    model: &str,
    text: &str,
    prompt_tokens: u64,
    completion_tokens: u64,
) -> Value {
    let message = json!({"role": "assistant", "content": text, "refusal": null, "annotations": []});
    completion(
        model,
        message,
        "stop",
        usage(prompt_tokens, completion_tokens),
    )
}

/// A `chat.completion` with `content: null` and one tool call per `(id, name, arguments)`,
/// arguments encoded as JSON strings, finish_reason `tool_calls`.
pub fn tool_call_completion(model: &str, calls: &[(&str, &str, Value)]) -> Value {
    let tool_calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, args)| {
            json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    let completion_tokens = calls
        .iter()
        .map(|(_, name, args)| estimate_tokens(name) + estimate_tokens(&args.to_string()))
        .sum();
    let message = json!({
        "role": "assistant",
        "content": null,
        "tool_calls": tool_calls,
        "refusal": null,
        "annotations": []
    });
    completion(
        model,
        message,
        "tool_calls",
        usage(PROMPT_TOKENS, completion_tokens),
    )
}

/// Builds `chat.completion.chunk` events sharing one id, as sent with `include_usage`.
struct ChunkWriter {
    id: String,
    model: String,
    events: Vec<String>,
}

impl ChunkWriter {
    fn new(model: &str) -> ChunkWriter {
        ChunkWriter {
            id: format!("chatcmpl-testkit-{}", next_id()),
            model: model.to_owned(),
            events: Vec::new(),
        }
    }

    fn chunk(&mut self, choices: Value, usage: Value) {
        self.events.push(sse::data(&json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": null,
            "choices": choices,
            "usage": usage
        })));
    }

    fn delta(&mut self, delta: Value, finish_reason: Option<&str>) {
        self.chunk(
            json!([{"index": 0, "delta": delta, "finish_reason": finish_reason}]),
            Value::Null,
        );
    }

    fn finish(mut self, reason: &str, prompt_tokens: u64, completion_tokens: u64) -> Vec<String> {
        self.delta(json!({}), Some(reason));
        self.chunk(json!([]), usage(prompt_tokens, completion_tokens));
        self.events.push(sse::DONE.to_owned());
        self.events
    }
}

/// SSE events streaming `pieces`: a role chunk, one content chunk per piece, a `stop` finish chunk,
/// a usage chunk with `choices: []`, then `data: [DONE]`.
pub fn stream_text(model: &str, pieces: &[&str]) -> Vec<String> {
    let mut w = ChunkWriter::new(model);
    w.delta(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    );
    for piece in pieces {
        w.delta(json!({"content": piece}), None);
    }
    let text: String = pieces.concat();
    w.finish("stop", PROMPT_TOKENS, estimate_tokens(&text))
}

/// Splits `s` into pieces of at most `max` bytes on char boundaries (a wider char gets its own piece).
fn fragments(s: &str, max: usize) -> Vec<&str> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut end = max.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let (head, tail) = rest.split_at(end);
        out.push(head);
        rest = tail;
    }
    out
}

/// SSE events streaming tool calls: per call index a header chunk (id, type, name, `arguments: ""`),
/// then the arguments JSON string in fragments of `fragment_len` bytes; finish `tool_calls`, usage, `[DONE]`.
pub fn stream_tool_calls(
    model: &str,
    calls: &[(&str, &str, Value)],
    fragment_len: usize,
) -> Vec<String> {
    let mut w = ChunkWriter::new(model);
    w.delta(
        json!({"role": "assistant", "content": null, "refusal": null}),
        None,
    );
    let mut completion_tokens = 0;
    for (index, (id, name, args)) in calls.iter().enumerate() {
        w.delta(
            json!({"tool_calls": [{
                "index": index,
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": ""}
            }]}),
            None,
        );
        let args = args.to_string();
        completion_tokens += estimate_tokens(name) + estimate_tokens(&args);
        for fragment in fragments(&args, fragment_len) {
            w.delta(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                None,
            );
        }
    }
    w.finish("tool_calls", PROMPT_TOKENS, completion_tokens)
}

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// An OpenAI error reply `{"error":{"message","type","param":null,"code"}}` (4-space indented like the
/// real API) with an `x-request-id: req_testkit_N` header.
///
/// `type` is derived from `code` and `status`: `rate_limit_exceeded` → `requests`,
/// `insufficient_quota` → `insufficient_quota`, 5xx → `server_error`, otherwise `invalid_request_error`.
pub fn error(status: u16, code: &str, message: &str) -> Reply {
    let error_type = match code {
        "rate_limit_exceeded" => "requests",
        "insufficient_quota" => "insufficient_quota",
        _ if status >= 500 => "server_error",
        _ => "invalid_request_error",
    };
    let body =
        json!({"error": {"message": message, "type": error_type, "param": null, "code": code}});
    // serde_json pretty-prints with 2 spaces; doubling the indentation matches the API's 4 (strings never span lines).
    let pretty = serde_json::to_string_pretty(&body).unwrap_or_else(|_| body.to_string());
    let mut out = String::with_capacity(pretty.len() * 2);
    for line in pretty.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        out.push_str(&" ".repeat(indent));
        out.push_str(line);
        out.push('\n');
    }
    let request_id = format!(
        "req_testkit_{}",
        NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed)
    );
    Reply::body(status, "application/json", out).header("x-request-id", &request_id)
}

/// An embeddings list response with one `embedding` object per vector; usage reports 2 prompt
/// tokens per vector.
pub fn embeddings(model: &str, vectors: &[Vec<f32>]) -> Value {
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, v)| json!({"object": "embedding", "index": index, "embedding": v}))
        .collect();
    let tokens = 2 * vectors.len() as u64;
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    })
}

/// A deterministic unit-length 8-dimensional vector for input number `i`.
fn echo_vector(i: usize) -> Vec<f32> {
    let raw: Vec<f32> = (0..8).map(|d| ((i * 8 + d) as f32 + 1.0).sin()).collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    raw.into_iter().map(|x| x / norm).collect()
}

/// An echo OpenAI server for [`Upstream::set_handler`](crate::Upstream::set_handler).
///
/// `POST …/embeddings` answers [`embeddings`] with one 8-dim vector per input; any other request
/// answers [`stream_text`] (`["Hello", " from", " testkit"]`) when `"stream": true`, else
/// [`chat_completion`] with `"Hello from testkit"`. The model is echoed from the request; a body
/// that is not JSON gets a 400 `invalid_json` error.
pub fn handler() -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    |rec: &Recorded| {
        let Ok(req) = serde_json::from_slice::<Value>(&rec.body) else {
            return error(
                400,
                "invalid_json",
                "testkit: request body is not valid JSON",
            );
        };
        let model = req
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("gpt-testkit");
        let path = rec.path.split('?').next().unwrap_or_default();
        if path.ends_with("/embeddings") {
            let inputs = match req.get("input") {
                Some(Value::Array(items)) => items.len(),
                _ => 1,
            };
            let vectors: Vec<Vec<f32>> = (0..inputs).map(echo_vector).collect();
            return Reply::json(200, embeddings(model, &vectors));
        }
        if req.get("stream").and_then(Value::as_bool) == Some(true) {
            Reply::sse(stream_text(model, &["Hello", " from", " testkit"]))
        } else {
            Reply::json(200, chat_completion(model, "Hello from testkit"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_respect_char_boundaries() {
        assert_eq!(fragments("abcdef", 4), ["abcd", "ef"]);
        assert_eq!(fragments("a°b", 2), ["a", "°", "b"]);
        assert_eq!(fragments("😊x", 1), ["😊", "x"]);
        assert_eq!(fragments("", 3), Vec::<&str>::new());
        assert_eq!(fragments("abc", 0), ["a", "b", "c"]);
    }

    #[test]
    fn stream_tool_calls_reassemble() {
        let args = json!({"latitude": "52.5200", "city": "Zürich"});
        let events = stream_tool_calls("m", &[("call_1", "weather", args.clone())], 3);
        assert_eq!(events.last().map(String::as_str), Some(sse::DONE));
        let mut joined = String::new();
        for e in &events[..events.len() - 1] {
            let v: Value = serde_json::from_str(e.trim_start_matches("data: ").trim()).unwrap();
            if let Some(a) = v.pointer("/choices/0/delta/tool_calls/0/function/arguments") {
                joined.push_str(a.as_str().unwrap());
            }
        }
        assert_eq!(serde_json::from_str::<Value>(&joined).unwrap(), args);
    }

    #[test]
    fn error_shape() {
        let reply = error(429, "rate_limit_exceeded", "slow down");
        let dbg = format!("{reply:?}");
        assert!(dbg.contains("req_testkit_"), "{dbg}");
    }

    #[test]
    fn completion_shapes() {
        let c = chat_completion("gpt-x", "Hello there");
        assert_eq!(c["choices"][0]["message"]["content"], "Hello there");
        assert_eq!(c["choices"][0]["finish_reason"], "stop");
        assert_eq!(c["usage"]["completion_tokens"], 3);
        assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-testkit-"));
        let t = tool_call_completion("gpt-x", &[("call_a", "f", json!({"x": 1}))]);
        assert_eq!(t["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(
            t["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"x\":1}"
        );
        assert_eq!(t["choices"][0]["finish_reason"], "tool_calls");
        let e = embeddings("emb", &[vec![0.5, 0.25]]);
        assert_eq!(e["data"][0]["embedding"][1], 0.25);
    }
}
