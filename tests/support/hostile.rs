//! What the hostile-world tests need of a wire beyond [`Wire`]: the provider built with any key
//! source and HTTP options, and this API's shapes for echoes, errors, rate limits and stream ends.

use std::sync::Arc;

use llmward::anthropic::Anthropic;
use llmward::gemini::Gemini;
use llmward::openai::OpenAi;
use llmward::{HttpOptions, KeySource, Provider};
use llmward_testkit::{Recorded, Reply, anthropic, gemini, openai, sse};
use serde_json::{Value, json};

use super::{AnthropicWire, GeminiWire, OpenAiWire, Wire};

/// A [`Wire`] the hostile-world tests can aim anything at.
pub trait Hostile: Wire {
    /// The well-known public prefix of this provider's keys; a leak check looks for runs
    /// of the rest (a header name such as `x-api-key` shares runs with `sk-ant-api03-`).
    const KEY_PREFIX: &'static str;

    /// The provider at `root` (an upstream's URL, or any base whose policy is under test;
    /// this API's path prefix is appended), built with `key` and `http`.
    fn build(
        root: &str,
        key: Option<Arc<dyn KeySource>>,
        http: HttpOptions,
    ) -> llmward::Result<Arc<dyn Provider>>;
    /// A rejected key, the provider's message being `message`.
    fn auth_error(message: &str) -> Reply;
    /// This API's error body for HTTP `status`, the provider's message being `message`.
    fn status_error(status: u16, message: &str) -> Reply;
    /// A 200 body that is an error object saying `message`.
    fn error_body(message: &str) -> Value;
    /// An error event saying `message` inside a 200 stream.
    fn stream_error_event(message: &str) -> String;
    /// A 429 to wait out: `Retry-After: <retry_after>` (seconds, decimals allowed).
    fn rate_limited(retry_after: &str) -> Reply;
    /// The API's explicit end-of-stream event, if it has one (Gemini has none: its end is
    /// the chunk carrying a `finishReason`).
    fn end_marker() -> Option<String>;
    /// An event carrying more answer text.
    fn late_text(text: &str) -> String;
    /// Whether `rec` asks for a stream.
    fn is_stream(rec: &Recorded) -> bool;
}

fn with_key<B>(
    builder: B,
    key: Option<Arc<dyn KeySource>>,
    set: fn(B, Arc<dyn KeySource>) -> B,
) -> B {
    match key {
        Some(key) => set(builder, key),
        None => builder,
    }
}

fn body_says_stream(rec: &Recorded) -> bool {
    serde_json::from_slice::<Value>(&rec.body).is_ok_and(|b| b["stream"] == json!(true))
}

impl Hostile for OpenAiWire {
    const KEY_PREFIX: &'static str = "sk-proj-";

    fn build(
        root: &str,
        key: Option<Arc<dyn KeySource>>,
        http: HttpOptions,
    ) -> llmward::Result<Arc<dyn Provider>> {
        let builder = OpenAi::builder().base_url(format!("{root}/v1")).http(http);
        let built = with_key(builder, key, |b, k| b.key_source(k)).build()?;
        Ok(Arc::new(built))
    }

    fn auth_error(message: &str) -> Reply {
        openai::error(401, "invalid_api_key", message)
    }

    fn status_error(status: u16, message: &str) -> Reply {
        openai::error(status, "error", message)
    }

    fn error_body(message: &str) -> Value {
        json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})
    }

    fn stream_error_event(message: &str) -> String {
        sse::data(&Self::error_body(message))
    }

    fn rate_limited(retry_after: &str) -> Reply {
        openai::error(
            429,
            "rate_limit_exceeded",
            "Rate limit reached for gpt-4.1-mini on requests per min (RPM): Limit 3, Used 3.",
        )
        .header("retry-after", retry_after)
    }

    fn end_marker() -> Option<String> {
        Some(sse::DONE.to_owned())
    }

    fn late_text(text: &str) -> String {
        sse::data(&json!({
            "id": "chatcmpl-late", "object": "chat.completion.chunk", "model": Self::MODEL,
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]
        }))
    }

    fn is_stream(rec: &Recorded) -> bool {
        body_says_stream(rec)
    }
}

impl Hostile for AnthropicWire {
    const KEY_PREFIX: &'static str = "sk-ant-api03-";

    fn build(
        root: &str,
        key: Option<Arc<dyn KeySource>>,
        http: HttpOptions,
    ) -> llmward::Result<Arc<dyn Provider>> {
        let builder = Anthropic::builder().base_url(root).http(http);
        let built = with_key(builder, key, |b, k| b.key_source(k)).build()?;
        Ok(Arc::new(built))
    }

    fn auth_error(message: &str) -> Reply {
        anthropic::error(401, "authentication_error", message)
    }

    fn status_error(status: u16, message: &str) -> Reply {
        let kind = match status {
            400 => "invalid_request_error",
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            504 => "timeout_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        anthropic::error(status, kind, message)
    }

    fn error_body(message: &str) -> Value {
        json!({"type": "error", "error": {"type": "api_error", "message": message}})
    }

    fn stream_error_event(message: &str) -> String {
        anthropic::stream_error("api_error", message)
    }

    fn rate_limited(retry_after: &str) -> Reply {
        anthropic::error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        )
        .header("retry-after", retry_after)
    }

    fn end_marker() -> Option<String> {
        Some(sse::event("message_stop", &json!({"type": "message_stop"})))
    }

    fn late_text(text: &str) -> String {
        sse::event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": text}}),
        )
    }

    fn is_stream(rec: &Recorded) -> bool {
        body_says_stream(rec)
    }
}

impl Hostile for GeminiWire {
    const KEY_PREFIX: &'static str = "AIza";

    fn build(
        root: &str,
        key: Option<Arc<dyn KeySource>>,
        http: HttpOptions,
    ) -> llmward::Result<Arc<dyn Provider>> {
        let builder = Gemini::builder()
            .base_url(format!("{root}/v1beta"))
            .http(http);
        let built = with_key(builder, key, |b, k| b.key_source(k)).build()?;
        Ok(Arc::new(built))
    }

    fn auth_error(message: &str) -> Reply {
        gemini::error(401, "UNAUTHENTICATED", message)
    }

    fn status_error(status: u16, message: &str) -> Reply {
        let grpc = match status {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            409 => "ABORTED",
            429 => "RESOURCE_EXHAUSTED",
            500 => "INTERNAL",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "UNKNOWN",
        };
        gemini::error(status, grpc, message)
    }

    fn error_body(message: &str) -> Value {
        json!({"error": {"code": 500, "status": "INTERNAL", "message": message}})
    }

    fn stream_error_event(message: &str) -> String {
        gemini::sse_data(&Self::error_body(message))
    }

    fn rate_limited(retry_after: &str) -> Reply {
        gemini::error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
        )
        .header("retry-after", retry_after)
    }

    fn end_marker() -> Option<String> {
        None
    }

    fn late_text(text: &str) -> String {
        gemini::sse_data(&gemini::chunk(
            Self::MODEL,
            "late",
            json!([{"text": text}]),
            None,
            gemini::usage(10, 1, 0),
        ))
    }

    fn is_stream(rec: &Recorded) -> bool {
        rec.path.contains(":streamGenerateContent")
    }
}

/// The spans of `text` where `key` is found by llmward's one redaction rule (the whole key,
/// a run of 8 characters of its secret part, or a masked form). Empty means nothing of the
/// secret leaked.
pub fn key_runs_in(text: &str, key: &str) -> Vec<String> {
    llmward_core::redact::secret_spans(text, key)
        .into_iter()
        .map(|span| text[span].to_owned())
        .collect()
}
