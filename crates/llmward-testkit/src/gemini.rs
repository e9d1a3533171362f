//! Gemini `generateContent` wire-format builders (shapes follow the recorded `gemini/*` corpus
//! files): answers, `alt=sse` streams (CRLF framing, a usage snapshot on every chunk), google.rpc
//! error replies, embeddings, and an echo [`handler`].

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::{Recorded, Reply};

/// The `thoughtSignature` the builders put on the first function call, as Gemini 2.5 does.
pub const THOUGHT_SIGNATURE: &str = "CiQBEU0yD1hCYiUoRFyerO7xltRNYWnI+sSFA1cwzfrO0/SJUz0KfAER";

/// Prompt tokens reported when the prompt is unknown.
const PROMPT_TOKENS: u64 = 10;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn response_id() -> String {
    format!("testkit-gemini-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed))
}

/// A rough token estimate: one token per four characters, at least one.
fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// A `usageMetadata` object; `thoughtsTokenCount` only when non-zero, as the API sends it.
pub fn usage(prompt: u64, candidates: u64, thoughts: u64) -> Value {
    let mut u = json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}]
    });
    if thoughts > 0 {
        u["thoughtsTokenCount"] = json!(thoughts);
    }
    u
}

/// A whole `GenerateContentResponse` with one candidate holding `parts`.
pub fn response(model: &str, parts: Value, finish_reason: &str, usage: Value) -> Value {
    json!({
        "candidates": [{
            "content": {"parts": parts, "role": "model"},
            "finishReason": finish_reason,
            "index": 0
        }],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id()
    })
}

/// An answer with one text part, finishReason `STOP`; candidate tokens are estimated from the
/// text (one per four characters) and prompt tokens are 10.
pub fn generate(model: &str, text: &str) -> Value {
    generate_with_usage(model, text, PROMPT_TOKENS, estimate_tokens(text), 0)
}

/// Like [`generate`] with explicit token counts (`thoughts` is `thoughtsTokenCount`, reported
/// apart from the candidates, as Gemini does).
pub fn generate_with_usage(
    model: &str,
    text: &str,
    prompt: u64,
    candidates: u64,
    thoughts: u64,
) -> Value {
    response(
        model,
        json!([{"text": text}]),
        "STOP",
        usage(prompt, candidates, thoughts),
    )
}

fn call_parts(calls: &[(&str, Value)]) -> (Vec<Value>, u64) {
    let mut tokens = 0;
    let parts = calls
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            tokens += estimate_tokens(name) + estimate_tokens(&args.to_string());
            let mut part = json!({"functionCall": {"name": name, "args": args}});
            // Gemini signs only the first of parallel calls.
            if i == 0 {
                part["thoughtSignature"] = json!(THOUGHT_SIGNATURE);
            }
            part
        })
        .collect();
    (parts, tokens)
}

/// An answer with one `functionCall` part (no `id`, as Gemini 2.5) per `(name, args)`, the
/// first carrying [`THOUGHT_SIGNATURE`]; finishReason `STOP` and
/// `finishMessage: "Model generated function call(s)."`.
pub fn function_call(model: &str, calls: &[(&str, Value)]) -> Value {
    let (parts, tokens) = call_parts(calls);
    let mut r = response(
        model,
        Value::Array(parts),
        "STOP",
        usage(PROMPT_TOKENS, tokens, 0),
    );
    r["candidates"][0]["finishMessage"] = json!("Model generated function call(s).");
    r
}

/// One SSE event as Gemini frames it: `data: <json>\r\n\r\n`.
pub fn sse_data(json: &Value) -> String {
    format!("data: {json}\r\n\r\n")
}

/// One stream chunk: a candidate with `parts` (and `finishReason` when given) and a usage
/// snapshot.
pub fn chunk(
    model: &str,
    id: &str,
    parts: Value,
    finish_reason: Option<&str>,
    usage: Value,
) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(reason) = finish_reason {
        candidate["finishReason"] = json!(reason);
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": id
    })
}

/// SSE events streaming `pieces`, one text part per chunk; every chunk carries a usage snapshot
/// (candidate tokens so far, prompt tokens 10) and the last one `finishReason: STOP`. An empty
/// `pieces` gives one chunk with an empty text part.
pub fn stream_text(model: &str, pieces: &[&str]) -> Vec<String> {
    let id = response_id();
    let pieces: Vec<&str> = if pieces.is_empty() {
        vec![""]
    } else {
        pieces.to_vec()
    };
    let mut so_far = String::new();
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            so_far.push_str(piece);
            let finish = (i == last).then_some("STOP");
            let u = usage(PROMPT_TOKENS, estimate_tokens(&so_far), 0);
            sse_data(&chunk(model, &id, json!([{"text": piece}]), finish, u))
        })
        .collect()
}

/// SSE events streaming function calls as Gemini does: every call whole in one chunk (the
/// first signed), followed by a chunk with an empty text part carrying `finishReason: STOP`
/// (the Gemini 3 shape); both with usage snapshots.
pub fn stream_function_call(model: &str, calls: &[(&str, Value)]) -> Vec<String> {
    let id = response_id();
    let (parts, tokens) = call_parts(calls);
    let u = usage(PROMPT_TOKENS, tokens, 0);
    vec![
        sse_data(&chunk(model, &id, Value::Array(parts), None, u.clone())),
        sse_data(&chunk(model, &id, json!([{"text": ""}]), Some("STOP"), u)),
    ]
}

/// A google.rpc error reply `{"error":{"code","message","status"}}` (pretty-printed like the
/// API, `application/json; charset=UTF-8`). `grpc_status` is the canonical code name, e.g.
/// `INVALID_ARGUMENT`, `NOT_FOUND`, `UNAVAILABLE`.
pub fn error(status: u16, grpc_status: &str, message: &str) -> Reply {
    error_with_details(status, grpc_status, message, Value::Array(Vec::new()))
}

/// Like [`error`] with a `details` array (omitted when empty).
pub fn error_with_details(status: u16, grpc_status: &str, message: &str, details: Value) -> Reply {
    let mut body = json!({"error": {"code": status, "message": message, "status": grpc_status}});
    if details.as_array().is_some_and(|d| !d.is_empty()) {
        body["error"]["details"] = details;
    }
    let pretty = serde_json::to_string_pretty(&body).unwrap_or_else(|_| body.to_string());
    Reply::body(
        status,
        "application/json; charset=UTF-8",
        format!("{pretty}\n"),
    )
}

/// The invalid-key answer: HTTP 400 `INVALID_ARGUMENT` with `ErrorInfo.reason: API_KEY_INVALID`.
pub fn error_invalid_key() -> Reply {
    error_with_details(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"}
        }]),
    )
}

/// A 429 `RESOURCE_EXHAUSTED` with a per-minute `QuotaFailure` and `RetryInfo.retryDelay` set to
/// `delay` (e.g. `"48s"`), and no Retry-After header, as Gemini sends it.
pub fn error_429_retry(delay: &str) -> Reply {
    error_with_details(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        json!([
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count",
                    "quotaId": "GenerateContentPaidTierInputTokensPerModelPerMinute",
                    "quotaValue": "1000000"
                }]
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
        ]),
    )
}

/// A `batchEmbedContents` answer: `{"embeddings": [{"values": [...]}, ...]}`.
pub fn embeddings(vectors: &[Vec<f32>]) -> Value {
    let embeddings: Vec<Value> = vectors.iter().map(|v| json!({"values": v})).collect();
    json!({"embeddings": embeddings})
}

/// A deterministic unit-length 8-dimensional vector for input number `i`.
fn echo_vector(i: usize) -> Vec<f32> {
    let raw: Vec<f32> = (0..8).map(|d| ((i * 8 + d) as f32 + 1.0).cos()).collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    raw.into_iter().map(|x| x / norm).collect()
}

/// The model and method of a Gemini path such as `/v1beta/models/gemini-2.5-flash:generateContent?alt=sse`.
fn model_and_method(path: &str) -> Option<(&str, &str)> {
    let path = path.split('?').next().unwrap_or_default();
    let (_, tail) = path.rsplit_once("/models/")?;
    tail.rsplit_once(':')
}

/// An echo Gemini server for [`Upstream::set_handler`](crate::Upstream::set_handler); the model
/// is taken from the path (`…/models/{model}:{method}`).
///
/// `:streamGenerateContent` answers [`stream_text`] (`["Hello", " from", " testkit"]`),
/// `:generateContent` answers [`generate`] with `"Hello from testkit"`, `:batchEmbedContents`
/// one 8-dim vector per request, `:embedContent` one `{"embedding": {"values"}}`. A path
/// without a model gets a 404 `NOT_FOUND`, a body that is not JSON a 400 `INVALID_ARGUMENT`.
pub fn handler() -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    |rec: &Recorded| {
        let Some((model, method)) = model_and_method(&rec.path) else {
            return error(404, "NOT_FOUND", "testkit: no model in the request path");
        };
        let Ok(req) = serde_json::from_slice::<Value>(&rec.body) else {
            return error(
                400,
                "INVALID_ARGUMENT",
                "testkit: request body is not valid JSON",
            );
        };
        match method {
            "streamGenerateContent" => {
                Reply::sse(stream_text(model, &["Hello", " from", " testkit"]))
            }
            "generateContent" => Reply::json(200, generate(model, "Hello from testkit")),
            "batchEmbedContents" => {
                let n = req
                    .get("requests")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                let vectors: Vec<Vec<f32>> = (0..n).map(echo_vector).collect();
                Reply::json(200, embeddings(&vectors))
            }
            "embedContent" => Reply::json(200, json!({"embedding": {"values": echo_vector(0)}})),
            other => error(
                404,
                "NOT_FOUND",
                &format!("testkit: unknown method {other}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(event: &str) -> Value {
        assert!(event.ends_with("\r\n\r\n"), "{event:?}");
        serde_json::from_str(event.trim_start_matches("data: ").trim()).unwrap()
    }

    #[test]
    fn stream_text_shape() {
        let events = stream_text("gemini-x", &["Hel", "lo"]);
        assert_eq!(events.len(), 2);
        let first = data(&events[0]);
        let last = data(&events[1]);
        assert_eq!(first["candidates"][0]["content"]["parts"][0]["text"], "Hel");
        assert!(first["candidates"][0].get("finishReason").is_none());
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(first["responseId"], last["responseId"]);
        assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 2);
        assert_eq!(stream_text("m", &[]).len(), 1);
    }

    #[test]
    fn function_call_shapes() {
        let r = function_call("m", &[("a", json!({"x": 1})), ("b", json!({}))]);
        let parts = &r["candidates"][0]["content"]["parts"];
        assert_eq!(parts[0]["thoughtSignature"], THOUGHT_SIGNATURE);
        assert!(parts[1].get("thoughtSignature").is_none());
        assert!(parts[0]["functionCall"].get("id").is_none());
        let s = stream_function_call("m", &[("a", json!({"x": 1}))]);
        assert_eq!(
            data(&s[1])["candidates"][0]["content"]["parts"][0]["text"],
            ""
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            model_and_method("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"),
            Some(("gemini-2.5-flash", "streamGenerateContent"))
        );
        assert_eq!(model_and_method("/v1beta/files"), None);
    }
}
