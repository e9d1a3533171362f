//! Anthropic Messages wire-format builders (shapes follow the recorded `anthropic/*` corpus files).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::{Recorded, Reply, sse};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

fn message_id() -> String {
    format!("msg_testkit_{}", next_id())
}

fn request_id() -> String {
    format!("req_testkit_{}", next_id())
}

/// A rough token estimate: one token per four characters, at least one.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// Input tokens reported when the prompt is unknown.
const INPUT_TOKENS: u64 = 10;

/// A `usage` object as the API sends it: `input_tokens` excludes cache reads and writes.
pub fn usage(input_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
        "inference_geo": "not_available"
    })
}

/// A `message` body with the given content blocks, stop reason and usage object.
pub fn message_with(model: &str, content: Vec<Value>, stop_reason: &str, usage: Value) -> Value {
    json!({
        "model": model,
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "stop_details": null,
        "usage": usage
    })
}

/// A `message` answering `text`, stop reason `end_turn`; output tokens are estimated from the
/// text (one per four characters) and input tokens are 10.
pub fn message(model: &str, text: &str) -> Value {
    message_with(
        model,
        vec![json!({"type": "text", "text": text})],
        "end_turn",
        usage(INPUT_TOKENS, estimate_tokens(text)),
    )
}

/// A `message` with one `tool_use` block per `(id, name, input)` (input as a JSON object, as
/// the API sends it), stop reason `tool_use`.
pub fn tool_use_message(model: &str, calls: &[(&str, &str, Value)]) -> Value {
    let content = calls
        .iter()
        .map(|(id, name, input)| {
            json!({"type": "tool_use", "id": id, "name": name, "input": input, "caller": {"type": "direct"}})
        })
        .collect();
    let output = calls
        .iter()
        .map(|(_, name, input)| estimate_tokens(name) + estimate_tokens(&input.to_string()))
        .sum();
    message_with(model, content, "tool_use", usage(INPUT_TOKENS, output))
}

/// A `message` with a signed `thinking` block followed by `text`; `usage.output_tokens_details`
/// reports the thinking tokens (which `output_tokens` includes).
pub fn thinking_message(model: &str, thinking: &str, signature: &str, text: &str) -> Value {
    let thinking_tokens = estimate_tokens(thinking);
    let mut u = usage(INPUT_TOKENS, thinking_tokens + estimate_tokens(text));
    u["output_tokens_details"] = json!({"thinking_tokens": thinking_tokens});
    message_with(
        model,
        vec![
            json!({"type": "thinking", "thinking": thinking, "signature": signature}),
            json!({"type": "text", "text": text}),
        ],
        "end_turn",
        u,
    )
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

/// Writes the named events of one streamed message.
struct EventWriter {
    events: Vec<String>,
    index: usize,
}

impl EventWriter {
    /// `message_start` with an empty content list and the input-side usage (output 1, a placeholder
    /// as the real API sends).
    fn start(message: &Value) -> EventWriter {
        let mut head = message.clone();
        head["content"] = json!([]);
        head["stop_reason"] = Value::Null;
        head["stop_sequence"] = Value::Null;
        if let Some(u) = head.get_mut("usage").and_then(Value::as_object_mut) {
            u.insert("output_tokens".into(), json!(1));
            u.remove("output_tokens_details");
        }
        let mut w = EventWriter {
            events: Vec::new(),
            index: 0,
        };
        w.event(
            "message_start",
            json!({"type": "message_start", "message": head}),
        );
        w
    }

    fn event(&mut self, name: &str, data: Value) {
        self.events.push(sse::event(name, &data));
    }

    fn block_start(&mut self, block: Value) {
        let index = self.index;
        self.event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
        if index == 0 {
            // The API sends a ping after the first block starts.
            self.event("ping", json!({"type": "ping"}));
        }
    }

    fn delta(&mut self, delta: Value) {
        let index = self.index;
        self.event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }

    fn block_stop(&mut self) {
        let index = self.index;
        self.event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
        self.index += 1;
    }

    /// `message_delta` with the stop reason and the final cumulative usage, then `message_stop`.
    fn finish(mut self, stop_reason: &Value, usage: &Value) -> Vec<String> {
        let mut u = serde_json::Map::new();
        for key in [
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
            "output_tokens_details",
        ] {
            if let Some(v) = usage.get(key) {
                u.insert(key.into(), v.clone());
            }
        }
        self.event(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": null, "stop_details": null},
                "usage": u
            }),
        );
        self.event("message_stop", json!({"type": "message_stop"}));
        self.events
    }
}

/// The full event sequence the streaming API would send for `message` (a `message` body such as
/// [`message`] builds, or a recorded one): `message_start`, per block `content_block_start` /
/// deltas of at most `fragment_len` bytes / `content_block_stop` (a `ping` after the first start),
/// `message_delta` with the stop reason and usage, `message_stop`.
///
/// Text streams as `text_delta`, tool input as `input_json_delta` (the first fragment `""`, the
/// block starting with `input: {}`), thinking as `thinking_delta` then one `signature_delta`;
/// `redacted_thinking` and server-tool blocks arrive whole in their `content_block_start`.
pub fn stream_message(message: &Value, fragment_len: usize) -> Vec<String> {
    let mut w = EventWriter::start(message);
    let empty = Vec::new();
    let blocks = message
        .get("content")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                w.block_start(json!({"type": "text", "text": ""}));
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                for piece in fragments(text, fragment_len) {
                    w.delta(json!({"type": "text_delta", "text": piece}));
                }
            }
            Some("tool_use") => {
                let mut head = block.clone();
                head["input"] = json!({});
                w.block_start(head);
                w.delta(json!({"type": "input_json_delta", "partial_json": ""}));
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                let input = input.to_string();
                if input != "{}" {
                    for piece in fragments(&input, fragment_len) {
                        w.delta(json!({"type": "input_json_delta", "partial_json": piece}));
                    }
                }
            }
            Some("thinking") => {
                w.block_start(json!({"type": "thinking", "thinking": "", "signature": ""}));
                let text = block.get("thinking").and_then(Value::as_str).unwrap_or("");
                for piece in fragments(text, fragment_len) {
                    w.delta(json!({"type": "thinking_delta", "thinking": piece}));
                }
                if let Some(sig) = block.get("signature").and_then(Value::as_str) {
                    w.delta(json!({"type": "signature_delta", "signature": sig}));
                }
            }
            _ => w.block_start(block.clone()),
        }
        w.block_stop();
    }
    let stop = message.get("stop_reason").cloned().unwrap_or(Value::Null);
    let usage = message.get("usage").cloned().unwrap_or_else(|| json!({}));
    w.finish(&stop, &usage)
}

/// Events streaming `pieces` as one text block (one `text_delta` per piece, a `ping` after the
/// block starts), stop reason `end_turn`, output tokens estimated from the text.
pub fn stream_text(model: &str, pieces: &[&str]) -> Vec<String> {
    let text: String = pieces.concat();
    let body = message(model, &text);
    let mut w = EventWriter::start(&body);
    w.block_start(json!({"type": "text", "text": ""}));
    for piece in pieces {
        w.delta(json!({"type": "text_delta", "text": piece}));
    }
    w.block_stop();
    w.finish(&body["stop_reason"], &body["usage"])
}

/// Events streaming one `tool_use` block per call, the input JSON in `input_json_delta`
/// fragments of at most `fragment_len` bytes; stop reason `tool_use`. The same answer as
/// [`tool_use_message`] with the same calls.
pub fn stream_tool_use(
    model: &str,
    calls: &[(&str, &str, Value)],
    fragment_len: usize,
) -> Vec<String> {
    stream_message(&tool_use_message(model, calls), fragment_len)
}

/// An Anthropic error reply `{"type":"error","error":{"type","message"},"request_id"}` with the
/// same id in a `request-id` header (`req_testkit_N`).
pub fn error(status: u16, error_type: &str, message: &str) -> Reply {
    let id = request_id();
    let body = json!({
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": id
    });
    Reply::json(status, body).header("request-id", &id)
}

/// An `event: error` in an HTTP 200 stream, as the API sends when it fails mid-answer
/// (`overloaded_error` is the common one).
pub fn stream_error(error_type: &str, message: &str) -> String {
    sse::event(
        "error",
        &json!({
            "type": "error",
            "error": {"details": null, "type": error_type, "message": message},
            "request_id": request_id()
        }),
    )
}

/// An echo Anthropic server for [`Upstream::set_handler`](crate::Upstream::set_handler).
///
/// Like the real API it answers 401 `authentication_error` without an `x-api-key` header, 400
/// without `anthropic-version`, 400 for a body that is not JSON or lacks `max_tokens`, 404 for a
/// path other than `…/v1/messages`. Otherwise it answers [`stream_text`]
/// (`["Hello", " from", " testkit"]`) when `"stream": true`, else [`message`] with
/// `"Hello from testkit"`, echoing the model, with a `request-id` header.
pub fn handler() -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    |rec: &Recorded| {
        if rec.header("x-api-key").is_none_or(str::is_empty) {
            return error(401, "authentication_error", "x-api-key header is required");
        }
        if rec.header("anthropic-version").is_none() {
            return error(
                400,
                "invalid_request_error",
                "anthropic-version: header is required",
            );
        }
        let path = rec.path.split('?').next().unwrap_or_default();
        if !path.ends_with("/v1/messages") {
            return error(404, "not_found_error", "Not Found");
        }
        let Ok(req) = serde_json::from_slice::<Value>(&rec.body) else {
            return error(
                400,
                "invalid_request_error",
                "There was an error parsing the body",
            );
        };
        if req.get("max_tokens").and_then(Value::as_u64).is_none() {
            return error(400, "invalid_request_error", "max_tokens: Field required");
        }
        let model = req
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("claude-testkit");
        let reply = if req.get("stream").and_then(Value::as_bool) == Some(true) {
            Reply::sse(stream_text(model, &["Hello", " from", " testkit"]))
        } else {
            Reply::json(200, message(model, "Hello from testkit"))
        };
        reply.header("request-id", &request_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(event: &str) -> (String, Value) {
        let mut lines = event.lines();
        let name = lines
            .next()
            .unwrap()
            .strip_prefix("event: ")
            .unwrap()
            .to_owned();
        let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
        (name, serde_json::from_str(data).unwrap())
    }

    #[test]
    fn stream_text_event_order() {
        let events = stream_text("claude-x", &["Hel", "lo"]);
        let names: Vec<String> = events.iter().map(|e| data(e).0).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let (_, start) = data(&events[0]);
        assert_eq!(start["message"]["model"], "claude-x");
        assert_eq!(start["message"]["usage"]["output_tokens"], 1);
        let (_, delta) = data(&events[6]);
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert_eq!(delta["usage"]["output_tokens"], 2);
    }

    #[test]
    fn stream_tool_use_reassembles() {
        let args = json!({"latitude": "52.5200", "city": "Zürich"});
        let events = stream_tool_use(
            "m",
            &[
                ("toolu_1", "weather", args.clone()),
                ("toolu_2", "noargs", json!({})),
            ],
            3,
        );
        let mut joined = [String::new(), String::new()];
        let mut starts = 0;
        for e in &events {
            let (_, v) = data(e);
            if v["type"] == "content_block_start" {
                starts += 1;
                assert_eq!(v["content_block"]["input"], json!({}));
            }
            if let Some(p) = v.pointer("/delta/partial_json") {
                joined[v["index"].as_u64().unwrap() as usize].push_str(p.as_str().unwrap());
            }
        }
        assert_eq!(starts, 2);
        assert_eq!(serde_json::from_str::<Value>(&joined[0]).unwrap(), args);
        assert_eq!(joined[1], "");
    }

    #[test]
    fn stream_message_keeps_thinking_signatures() {
        let m = thinking_message("m", "hmm, let me see", "SIG", "42");
        let events = stream_message(&m, 4);
        assert!(
            events
                .iter()
                .any(|e| e.contains("\"signature_delta\"") && e.contains("SIG"))
        );
        let (_, last_delta) = data(&events[events.len() - 2]);
        assert_eq!(
            last_delta["usage"]["output_tokens_details"]["thinking_tokens"],
            4
        );
    }

    #[test]
    fn error_shape() {
        let dbg = format!("{:?}", error(529, "overloaded_error", "Overloaded"));
        assert!(dbg.contains("req_testkit_"), "{dbg}");
        assert!(stream_error("overloaded_error", "Overloaded").starts_with("event: error\n"));
    }

    #[test]
    fn bodies() {
        let m = message("claude-x", "Hello there");
        assert_eq!(m["content"][0]["text"], "Hello there");
        assert_eq!(m["usage"]["output_tokens"], 3);
        assert!(m["id"].as_str().unwrap().starts_with("msg_testkit_"));
        let t = tool_use_message("claude-x", &[("toolu_a", "f", json!({"x": 1}))]);
        assert_eq!(t["content"][0]["input"], json!({"x": 1}));
        assert_eq!(t["stop_reason"], "tool_use");
    }
}
