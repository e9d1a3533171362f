//! Anthropic response bodies and error bodies -> llmward types (pure, no I/O).

use llmward_core::header::HeaderMap;
use llmward_core::wire::{body_excerpt, header_id, nullable};
use llmward_core::{
    ApiKey, ChatResponse, ContentPart, Error, ErrorKind, FinishReason, ReasoningPart, ToolCall,
    Usage,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ORIGIN;

/// A content block, in a response body or a stream's `content_block_start`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Block {
    Text {
        #[serde(default, deserialize_with = "nullable")]
        text: String,
    },
    ToolUse {
        #[serde(default, deserialize_with = "nullable")]
        id: String,
        #[serde(default, deserialize_with = "nullable")]
        name: String,
        #[serde(default)]
        input: Option<Value>,
    },
    Thinking {
        #[serde(default, deserialize_with = "nullable")]
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        #[serde(default, deserialize_with = "nullable")]
        data: String,
    },
    // server_tool_use, web_search_tool_result, and whatever comes next: skipped.
    #[serde(other)]
    Other,
}

/// `usage` as Anthropic reports it (raw numbers).
#[derive(Deserialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub(crate) input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) output_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) output_tokens_details: Option<OutputDetails>,
}

#[derive(Deserialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutputDetails {
    #[serde(default)]
    pub(crate) thinking_tokens: Option<u64>,
}

impl WireUsage {
    /// `later`'s numbers where it has them, else these (a stream's `message_delta` over its
    /// `message_start`: counts are cumulative, never added).
    pub(crate) fn overlaid_by(&self, later: &WireUsage) -> WireUsage {
        let thinking = later
            .output_tokens_details
            .and_then(|d| d.thinking_tokens)
            .or_else(|| self.output_tokens_details.and_then(|d| d.thinking_tokens));
        WireUsage {
            input_tokens: later.input_tokens.or(self.input_tokens),
            output_tokens: later.output_tokens.or(self.output_tokens),
            cache_creation_input_tokens: later
                .cache_creation_input_tokens
                .or(self.cache_creation_input_tokens),
            cache_read_input_tokens: later
                .cache_read_input_tokens
                .or(self.cache_read_input_tokens),
            output_tokens_details: Some(OutputDetails {
                thinking_tokens: thinking,
            }),
        }
    }

    /// The unified [`Usage`]: Anthropic's `input_tokens` excludes cache reads and writes, so
    /// every billed prompt token is their sum.
    pub(crate) fn unified(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_creation_input_tokens.unwrap_or(0);
        let input = self
            .input_tokens
            .unwrap_or(0)
            .saturating_add(read)
            .saturating_add(write);
        let reasoning = self
            .output_tokens_details
            .and_then(|d| d.thinking_tokens)
            .unwrap_or(0);
        Usage::new(input, self.output_tokens.unwrap_or(0))
            .with_cached_input(read)
            .with_cache_write(write)
            .with_reasoning(reasoning)
    }
}

/// The error object of `{"type":"error","error":{...},"request_id":...}`.
#[derive(Deserialize, Default, Debug)]
pub(crate) struct WireError {
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) details: Option<ErrorDetails>,
}

#[derive(Deserialize, Default, Debug)]
pub(crate) struct ErrorDetails {
    #[serde(default)]
    pub(crate) error_code: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<WireError>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
}

#[derive(Deserialize)]
struct MessageBody {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<WireError>,
    #[serde(default)]
    request_id: Option<String>,
}

/// Maps a `stop_reason` to the unified finish reason.
pub(crate) fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// The `request-id` response header.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    header_id(headers, &["request-id"])
}

/// A `tool_use` block's input: absent means no arguments.
pub(crate) fn tool_input(input: Option<Value>) -> Value {
    match input {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v) => v,
    }
}

/// Decodes a successful (2xx) `/v1/messages` body.
///
/// Text blocks that follow each other are joined (as a stream's deltas are), empty text blocks
/// and unsigned empty thinking blocks are skipped, unknown block types are skipped. The
/// provider name and header request id are the caller's to set.
pub(crate) fn response(
    requested_model: &str,
    body: &[u8],
    key: Option<&ApiKey>,
) -> Result<ChatResponse, Error> {
    let not_a_message = || Error::protocol("the response body is not an Anthropic message");
    let parsed: MessageBody = serde_json::from_slice(body).map_err(|_| not_a_message())?;
    if parsed.error.is_some() || parsed.kind.as_deref() == Some("error") {
        let error = parsed.error.unwrap_or_default();
        return Err(from_error_object(None, &error, key).with_request_id(parsed.request_id));
    }
    // Every field defaults, so `{}` would parse: an answer must say it is a message.
    if parsed.kind.as_deref() != Some("message") && parsed.content.is_empty() {
        return Err(not_a_message());
    }
    let model = parsed
        .model
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| requested_model.to_owned());
    let mut out = ChatResponse::new(ORIGIN, model);
    out.id = parsed.id;
    for block in parsed.content {
        match block {
            Block::Text { text } => {
                if text.is_empty() {
                    continue;
                }
                match out.content.last_mut() {
                    Some(ContentPart::Text(t)) => t.push_str(&text),
                    _ => out.content.push(ContentPart::Text(text)),
                }
            }
            Block::ToolUse { id, name, input } => {
                out.content.push(ContentPart::ToolCall(ToolCall::new(
                    id,
                    name,
                    tool_input(input),
                )));
            }
            Block::Thinking {
                thinking,
                signature,
            } => {
                let signature = signature.filter(|s| !s.is_empty());
                if thinking.is_empty() && signature.is_none() {
                    continue;
                }
                out.content
                    .push(ContentPart::Reasoning(ReasoningPart::Thinking {
                        text: thinking,
                        signature,
                        origin: llmward_core::Family::Anthropic,
                    }));
            }
            Block::RedactedThinking { data } => {
                out.content
                    .push(ContentPart::Reasoning(ReasoningPart::Redacted {
                        data,
                        origin: llmward_core::Family::Anthropic,
                    }));
            }
            Block::Other => {}
        }
    }
    if let Some(raw) = parsed.stop_reason {
        out.finish_reason = finish_reason(&raw);
        out.raw_finish_reason = Some(raw);
    }
    out.usage = parsed.usage.map(|u| u.unified());
    Ok(out)
}

/// Maps a non-2xx response to an [`Error`]: by the body's error type when it has one, else by
/// status. The provider's message is redacted against `key`; the header request id wins over
/// the body's.
pub(crate) fn error_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    key: Option<&ApiKey>,
) -> Error {
    let retry_after = llmward_core::retry_after::from_headers(headers);
    let (error, body_id) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => {
            let mut error = parsed.error.unwrap_or_default();
            if error.message.is_none() {
                error.message = parsed.message;
            }
            (error, parsed.request_id)
        }
        Err(_) => (
            WireError {
                message: body_excerpt(body),
                ..WireError::default()
            },
            None,
        ),
    };
    from_error_object(Some(status), &error, key)
        .with_status(status)
        .with_request_id(request_id(headers).or(body_id))
        .with_retry_after(retry_after)
}

/// Builds the error for an Anthropic error object (an HTTP error body or an `error` event).
pub(crate) fn from_error_object(
    status: Option<u16>,
    error: &WireError,
    key: Option<&ApiKey>,
) -> Error {
    let message = error.message.as_deref().unwrap_or("");
    let code = error.details.as_ref().and_then(|d| d.error_code.as_deref());
    let kind = error_kind(status, error.kind.as_deref(), message, code);
    // Both the message and the type name are provider text: both go through redaction.
    let text = match (message.is_empty(), error.kind.as_deref()) {
        (false, _) => message.to_owned(),
        (true, Some(t)) => format!("Anthropic {t}"),
        (true, None) => "Anthropic error".to_owned(),
    };
    Error::new(kind, "")
        .with_provider(ORIGIN)
        .with_provider_message(&text, key)
}

/// The unified kind for an Anthropic error (see DESIGN.md "Error mapping rules").
pub(crate) fn error_kind(
    status: Option<u16>,
    error_type: Option<&str>,
    message: &str,
    error_code: Option<&str>,
) -> ErrorKind {
    let lower = message.to_ascii_lowercase();
    if status == Some(401) || error_type == Some("authentication_error") {
        return ErrorKind::Auth;
    }
    // Spend caps and exhausted credit: waiting does not help, another route may.
    let out_of_money = error_code == Some("enforced_spend_limit_reached")
        || [
            "spend limit",
            "credit limit",
            "credit balance",
            "usage limit",
        ]
        .iter()
        .any(|p| lower.contains(p));
    if status == Some(402) || error_type == Some("billing_error") || out_of_money {
        return ErrorKind::QuotaExceeded;
    }
    let too_long = lower.contains("prompt is too long") || lower.contains("exceed context limit");
    match error_type {
        Some("invalid_request_error") if too_long => return ErrorKind::ContextLengthExceeded,
        Some("invalid_request_error") | Some("request_too_large") => {
            return ErrorKind::InvalidRequest;
        }
        Some("permission_error") => return ErrorKind::PermissionDenied,
        Some("not_found_error") => return ErrorKind::NotFound,
        Some("rate_limit_error") => return ErrorKind::RateLimited,
        Some("api_error") => return ErrorKind::Server,
        Some("timeout_error") => return ErrorKind::Timeout,
        Some("overloaded_error") => return ErrorKind::Overloaded,
        _ => {}
    }
    match status {
        Some(400) if too_long => ErrorKind::ContextLengthExceeded,
        Some(403) => ErrorKind::PermissionDenied,
        Some(404) => ErrorKind::NotFound,
        Some(408) => ErrorKind::Timeout,
        Some(429) => ErrorKind::RateLimited,
        Some(503) | Some(529) => ErrorKind::Overloaded,
        Some(s) if (400..500).contains(&s) => ErrorKind::InvalidRequest,
        // 5xx, and an error object inside a 200 body or stream without a known type.
        _ => ErrorKind::Server,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use llmward_core::header::HeaderValue;

    fn decode(body: &str) -> ChatResponse {
        response("asked", body.as_bytes(), None).unwrap()
    }

    #[test]
    fn text_blocks_join_and_unknown_blocks_are_skipped() {
        let r = decode(
            r#"  {"id":"msg_1","model":"claude-x","content":[
                {"type":"server_tool_use","id":"s","name":"web_search","input":{}},
                {"type":"text","text":"a","citations":[]},
                {"type":"web_search_tool_result","content":[]},
                {"type":"text","text":"b"},
                {"type":"text","text":""},
                {"type":"tool_use","id":"toolu_1","name":"f","input":null},
                {"type":"text","text":"c"}
            ],"stop_reason":"tool_use","usage":null}"#,
        );
        assert_eq!(r.content.len(), 3);
        assert_eq!(r.content[0], ContentPart::Text("ab".into()));
        assert_eq!(
            r.content[1],
            ContentPart::ToolCall(ToolCall::new("toolu_1", "f", serde_json::json!({})))
        );
        assert_eq!(r.content[2], ContentPart::Text("c".into()));
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.model, "claude-x");
        assert_eq!(r.usage, None);
    }

    #[test]
    fn model_falls_back_to_the_requested_one() {
        let r = decode(r#"{"type":"message","content":null,"model":"","stop_reason":null}"#);
        assert_eq!(r.model, "asked");
        assert_eq!(r.finish_reason, FinishReason::Stop);
        assert_eq!(r.raw_finish_reason, None);
    }

    #[test]
    fn stop_reasons() {
        for (raw, want) in [
            ("end_turn", FinishReason::Stop),
            ("stop_sequence", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("model_context_window_exceeded", FinishReason::Length),
            ("tool_use", FinishReason::ToolCalls),
            ("refusal", FinishReason::ContentFilter),
            ("pause_turn", FinishReason::Other("pause_turn".into())),
            ("brand_new", FinishReason::Other("brand_new".into())),
        ] {
            assert_eq!(finish_reason(raw), want, "{raw}");
        }
    }

    #[test]
    fn usage_adds_cache_numbers_to_input() {
        let u: WireUsage = serde_json::from_str(
            r#"{"input_tokens":10,"cache_creation_input_tokens":7,"cache_read_input_tokens":5,
                "output_tokens":30,"output_tokens_details":{"thinking_tokens":20}}"#,
        )
        .unwrap();
        let u = u.unified();
        assert_eq!(
            u,
            Usage::new(22, 30)
                .with_cached_input(5)
                .with_cache_write(7)
                .with_reasoning(20)
        );
        let big = WireUsage {
            input_tokens: Some(u64::MAX),
            cache_read_input_tokens: Some(3),
            ..WireUsage::default()
        };
        assert_eq!(big.unified().input_tokens, u64::MAX);
    }

    #[test]
    fn error_in_a_200_body_maps_by_its_type() {
        let err = response(
            "m",
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_9"}"#,
            None,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Overloaded);
        assert_eq!(err.request_id(), Some("req_9"));
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        for body in [
            "",
            "nope",
            "[1,2]",
            r#"{"content":[{"type":"text","text":5}]}"#,
        ] {
            let err = response("m", body.as_bytes(), None).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Protocol, "{body}");
        }
    }

    fn map(status: u16, body: &str) -> Error {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        error_response(status, &headers, body.as_bytes(), None)
    }

    fn body(kind: &str, message: &str) -> String {
        serde_json::json!({"type":"error","error":{"type":kind,"message":message},"request_id":"req_b"})
            .to_string()
    }

    #[test]
    fn error_kinds_by_type_and_status() {
        for (status, kind, message, want) in [
            (
                400,
                "invalid_request_error",
                "messages: field required",
                ErrorKind::InvalidRequest,
            ),
            (
                400,
                "invalid_request_error",
                "prompt is too long: 3333404 tokens > 200000 maximum",
                ErrorKind::ContextLengthExceeded,
            ),
            (
                400,
                "invalid_request_error",
                "input length and `max_tokens` exceed context limit: 1 + 2 > 3",
                ErrorKind::ContextLengthExceeded,
            ),
            (
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API.",
                ErrorKind::QuotaExceeded,
            ),
            (
                401,
                "authentication_error",
                "invalid x-api-key",
                ErrorKind::Auth,
            ),
            (402, "billing_error", "pay up", ErrorKind::QuotaExceeded),
            (403, "permission_error", "no", ErrorKind::PermissionDenied),
            (404, "not_found_error", "model: x", ErrorKind::NotFound),
            (
                413,
                "request_too_large",
                "Request exceeds the maximum size",
                ErrorKind::InvalidRequest,
            ),
            (429, "rate_limit_error", "slow down", ErrorKind::RateLimited),
            (
                429,
                "rate_limit_error",
                "You have reached your specified workspace spend limit.",
                ErrorKind::QuotaExceeded,
            ),
            (500, "api_error", "oops", ErrorKind::Server),
            (504, "timeout_error", "slow", ErrorKind::Timeout),
            (529, "overloaded_error", "Overloaded", ErrorKind::Overloaded),
            (418, "teapot_error", "?", ErrorKind::InvalidRequest),
            (599, "weird_error", "?", ErrorKind::Server),
        ] {
            let err = map(status, &body(kind, message));
            assert_eq!(err.kind(), want, "{status} {kind} {message}");
            assert_eq!(err.status(), Some(status));
            assert_eq!(err.request_id(), Some("req_b"));
            assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7)));
            assert_eq!(err.provider(), Some("anthropic"));
            assert_eq!(err.message(), Some(message), "{err}");
        }
        let spend = r#"{"type":"error","error":{"type":"rate_limit_error","message":"limit",
            "details":{"error_code":"enforced_spend_limit_reached"}}}"#;
        assert_eq!(map(429, spend).kind(), ErrorKind::QuotaExceeded);
    }

    #[test]
    fn non_json_error_bodies_map_by_status() {
        let err = map(502, "<html><body>Bad gateway</body></html>");
        assert_eq!(err.kind(), ErrorKind::Server);
        assert!(!err.to_string().contains("html"), "{err}");
        let err = map(529, "upstream overloaded, try later");
        assert_eq!(err.kind(), ErrorKind::Overloaded);
        assert!(err.to_string().contains("upstream overloaded"), "{err}");
        let err = map(429, "");
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        let err = map(400, "\u{feff}\u{0}\u{1}garbage \u{ff}");
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn header_request_id_wins_and_messages_are_redacted() {
        let key = ApiKey::new("sk-ant-api03-canarycanarycanary".into()).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("request-id", HeaderValue::from_static("req_header"));
        let err = error_response(
            401,
            &headers,
            body(
                "authentication_error",
                "bad key sk-ant-api03-canarycanarycanary",
            )
            .as_bytes(),
            Some(&key),
        );
        assert_eq!(err.request_id(), Some("req_header"));
        assert!(!format!("{err} {err:?}").contains("canary"), "{err:?}");
    }
}
