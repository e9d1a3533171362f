//! Chat Completions response bodies and error bodies -> llmward types (pure).

use serde::Deserialize;
use serde_json::Value;

use llmward_core::header::HeaderMap;
use llmward_core::{
    ApiKey, ChatResponse, ContentPart, EmbedResponse, Error, ErrorKind, FinishReason,
    ReasoningPart, Result, ToolCall, Usage, parse_arguments, retry_after,
};

pub(crate) const ORIGIN: &str = "openai";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Completion {
    pub(crate) id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) choices: Option<Vec<Choice>>,
    pub(crate) usage: Option<WireUsage>,
    pub(crate) error: Option<ErrorField>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Choice {
    pub(crate) index: Option<u32>,
    pub(crate) message: Option<WireMessage>,
    pub(crate) delta: Option<WireMessage>,
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireMessage {
    pub(crate) content: Option<Content>,
    pub(crate) refusal: Option<String>,
    pub(crate) tool_calls: Option<Vec<WireToolCall>>,
    pub(crate) reasoning_content: Option<String>,
    pub(crate) reasoning: Option<String>,
}

/// `content` is a string, or (Mistral reasoning models) an array of typed chunks.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Chunks(Vec<ContentChunk>),
    Other(serde::de::IgnoredAny),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ContentChunk {
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) thinking: Option<Vec<ContentChunk>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireToolCall {
    pub(crate) index: Option<usize>,
    pub(crate) id: Option<String>,
    pub(crate) function: Option<WireFunction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireFunction {
    pub(crate) name: Option<String>,
    pub(crate) arguments: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// Unified usage. `completion_tokens` includes reasoning on OpenAI; xAI reports it
    /// separately, which shows as `total = prompt + completion + reasoning`.
    pub(crate) fn unified(&self) -> Usage {
        let input = self.prompt_tokens.unwrap_or(0);
        let completion = self.completion_tokens.unwrap_or(0);
        let reasoning = self
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0);
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .or(self.prompt_cache_hit_tokens)
            .unwrap_or(0);
        let separate_reasoning = reasoning > 0
            && self.total_tokens
                == Some(input.saturating_add(completion).saturating_add(reasoning));
        let output = if separate_reasoning {
            completion.saturating_add(reasoning)
        } else {
            completion
        };
        Usage::new(input, output)
            .with_cached_input(cached)
            .with_reasoning(reasoning)
    }
}

/// `error` is an object on most servers and a string on xAI.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ErrorField {
    Object(ErrorObject),
    Text(String),
    Other(serde::de::IgnoredAny),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorObject {
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<Value>,
    code: Option<Value>,
    status_code: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorBody {
    error: Option<ErrorField>,
    message: Option<String>,
    detail: Option<Value>,
    code: Option<Value>,
}

/// Maps a finish reason.
pub(crate) fn finish_reason(raw: Option<&str>) -> FinishReason {
    match raw {
        None | Some("stop") => FinishReason::Stop,
        Some("length" | "model_length") => FinishReason::Length,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        Some("content_filter") => FinishReason::ContentFilter,
        Some(other) => FinishReason::Other(other.to_owned()),
    }
}

/// The reasoning text and answer text of a message or delta, in that order.
pub(crate) fn split_content(m: &WireMessage) -> (String, String) {
    let mut reasoning = String::new();
    let mut text = String::new();
    if let Some(r) = m.reasoning_content.as_deref().or(m.reasoning.as_deref()) {
        reasoning.push_str(r);
    }
    match &m.content {
        Some(Content::Text(t)) => text.push_str(t),
        Some(Content::Chunks(chunks)) => {
            let (r, t) = split_chunks(chunks);
            reasoning.push_str(&r);
            text.push_str(&t);
        }
        Some(Content::Other(_)) | None => {}
    }
    if let Some(refusal) = m.refusal.as_deref() {
        text.push_str(refusal);
    }
    (reasoning, text)
}

/// The reasoning and answer text of Mistral's typed content chunks.
pub(crate) fn split_chunks(chunks: &[ContentChunk]) -> (String, String) {
    let mut reasoning = String::new();
    let mut text = String::new();
    for chunk in chunks {
        match chunk.kind.as_deref() {
            Some("thinking") => {
                for inner in chunk.thinking.iter().flatten() {
                    reasoning.push_str(inner.text.as_deref().unwrap_or(""));
                }
            }
            Some("text") | None => text.push_str(chunk.text.as_deref().unwrap_or("")),
            Some(_) => {}
        }
    }
    (reasoning, text)
}

/// Parses a JSON body, tolerating leading whitespace and any content type.
pub(crate) fn parse_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

/// Decodes a 200 Chat Completions body.
pub(crate) fn chat_response(
    body: &[u8],
    provider: &str,
    requested_model: &str,
    request_id: Option<String>,
    key: Option<&ApiKey>,
) -> Result<ChatResponse> {
    let completion: Completion = parse_json(body).ok_or_else(|| {
        Error::protocol("response body is not a Chat Completions JSON object")
            .with_provider(provider)
            .with_request_id(request_id.clone())
    })?;
    if let Some(err) = &completion.error {
        return Err(error_in_body(err, provider, request_id, key));
    }
    let choice = completion
        .choices
        .and_then(|c| c.into_iter().min_by_key(|c| c.index.unwrap_or(0)))
        .ok_or_else(|| {
            Error::protocol("response has no choices")
                .with_provider(provider)
                .with_request_id(request_id.clone())
        })?;
    let message = choice.message.unwrap_or_default();
    let mut response = ChatResponse::new(
        provider,
        completion
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_owned()),
    );
    response.id = completion.id.filter(|id| !id.is_empty());
    let (reasoning, text) = split_content(&message);
    if !reasoning.is_empty() {
        response
            .content
            .push(ContentPart::Reasoning(ReasoningPart::Thinking {
                text: reasoning,
                signature: None,
                origin: llmward_core::Family::OpenAi,
            }));
    }
    if !text.is_empty() {
        response.content.push(ContentPart::Text(text));
    }
    let mut has_calls = false;
    for call in message.tool_calls.into_iter().flatten() {
        let function = call.function.unwrap_or_default();
        response.content.push(ContentPart::ToolCall(ToolCall::new(
            call.id.unwrap_or_default(),
            function.name.unwrap_or_default(),
            parse_arguments(function.arguments.as_deref().unwrap_or("")),
        )));
        has_calls = true;
    }
    response.finish_reason = finish(
        choice.finish_reason.as_deref(),
        has_calls,
        message.refusal.is_some(),
    );
    response.raw_finish_reason = choice.finish_reason;
    response.usage = completion.usage.as_ref().map(WireUsage::unified);
    response.request_id = request_id;
    Ok(response)
}

/// The finish reason, corrected for servers that say `stop` after tool calls and for
/// refusals (which OpenAI reports as `stop`).
pub(crate) fn finish(raw: Option<&str>, has_calls: bool, refused: bool) -> FinishReason {
    match finish_reason(raw) {
        FinishReason::Stop if has_calls => FinishReason::ToolCalls,
        FinishReason::Stop if refused => FinishReason::ContentFilter,
        other => other,
    }
}

/// Decodes an embeddings body.
pub(crate) fn embed_response(
    body: &[u8],
    provider: &str,
    requested_model: &str,
    request_id: Option<String>,
) -> Result<EmbedResponse> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        data: Vec<Item>,
        model: Option<String>,
        usage: Option<WireUsage>,
    }
    #[derive(Deserialize)]
    struct Item {
        index: Option<usize>,
        embedding: Vec<f32>,
    }
    let body: Body = parse_json(body).ok_or_else(|| {
        Error::protocol("response body is not an embeddings JSON object").with_provider(provider)
    })?;
    let mut items = body.data;
    items.sort_by_key(|i| i.index.unwrap_or(0));
    let mut response = EmbedResponse::new(
        provider,
        body.model.unwrap_or_else(|| requested_model.to_owned()),
        items.into_iter().map(|i| i.embedding).collect(),
    );
    response.usage = body.usage.as_ref().map(WireUsage::unified);
    response.request_id = request_id;
    Ok(response)
}

/// The provider's request id from the response headers.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-request-id", "request-id", "apim-request-id"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .map(str::to_owned)
}

struct Parsed {
    message: Option<String>,
    code: Option<String>,
    kind: Option<String>,
    status: Option<u16>,
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_error_field(field: &ErrorField) -> Parsed {
    match field {
        ErrorField::Object(o) => {
            let code = o.code.as_ref().and_then(value_text);
            Parsed {
                message: o.message.clone(),
                status: o
                    .status_code
                    .or_else(|| code.as_deref().and_then(|c| c.parse().ok())),
                code,
                kind: o.kind.as_ref().and_then(value_text),
            }
        }
        ErrorField::Text(text) => Parsed {
            message: Some(text.clone()),
            code: None,
            kind: None,
            status: None,
        },
        ErrorField::Other(_) => Parsed {
            message: None,
            code: None,
            kind: None,
            status: None,
        },
    }
}

fn parse_error_body(body: &[u8]) -> Parsed {
    let Some(b) = parse_json::<ErrorBody>(body) else {
        return Parsed {
            message: None,
            code: None,
            kind: None,
            status: None,
        };
    };
    let mut parsed = match &b.error {
        Some(field) => parse_error_field(field),
        None => Parsed {
            message: None,
            code: None,
            kind: None,
            status: None,
        },
    };
    if parsed.message.is_none() {
        parsed.message = b.message.or_else(|| b.detail.as_ref().and_then(value_text));
    }
    if parsed.code.is_none() {
        parsed.code = b.code.as_ref().and_then(value_text);
    }
    parsed
}

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// The kind for an error with `status`, code and message, by DESIGN.md's mapping rules.
fn kind_for(status: u16, code: Option<&str>, kind: Option<&str>, message: &str) -> ErrorKind {
    let msg = message.to_ascii_lowercase();
    let code = code.unwrap_or("");
    let kind = kind.unwrap_or("");
    let bad_key = code == "invalid_api_key"
        || kind == "authentication_error"
        || (contains_any(&msg, &["api key", "api_key", "apikey"])
            && contains_any(&msg, &["incorrect", "invalid", "not valid", "missing"]));
    if status == 401 || bad_key {
        return ErrorKind::Auth;
    }
    if code == "insufficient_quota"
        || code == "billing_hard_limit_reached"
        || status == 402
        || (status == 429 && contains_any(&msg, &["request too large", "quota", "billing"]))
    {
        return ErrorKind::QuotaExceeded;
    }
    if code == "context_length_exceeded"
        || contains_any(
            &msg,
            &[
                "maximum context length",
                "context length",
                "context window",
                "prompt too long",
                "prompt is too long",
                "too many tokens",
            ],
        )
    {
        return ErrorKind::ContextLengthExceeded;
    }
    if matches!(
        code,
        "content_filter" | "content_policy_violation" | "invalid_prompt"
    ) || contains_any(&msg, &["content management policy", "content policy"])
    {
        return ErrorKind::ContentFiltered;
    }
    if code == "tool_use_failed" {
        return ErrorKind::ModelOutput;
    }
    match status {
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        429 => ErrorKind::RateLimited,
        503 | 529 => ErrorKind::Overloaded,
        500..=599 => ErrorKind::Server,
        _ if code == "model_not_found" => ErrorKind::NotFound,
        _ => ErrorKind::InvalidRequest,
    }
}

/// Maps an HTTP error response (status, headers, body) to an [`Error`].
pub(crate) fn http_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    provider: &str,
    key: Option<&ApiKey>,
) -> Error {
    let parsed = parse_error_body(body);
    let message = parsed.message.unwrap_or_else(|| fallback_message(body));
    let kind = kind_for(
        status,
        parsed.code.as_deref(),
        parsed.kind.as_deref(),
        &message,
    );
    let retry = retry_after::from_headers(headers);
    Error::new(kind, "")
        .with_status(status)
        .with_provider(provider)
        .with_request_id(request_id(headers))
        .with_retry_after(retry)
        .with_provider_message(&message, key)
}

/// A short excerpt of a non-JSON error body; nothing from HTML pages.
fn fallback_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let text = text.trim();
    if text.starts_with('<') {
        return "the provider returned an HTML error page".into();
    }
    text.to_owned()
}

/// Maps an error object found inside a 200 body or a stream chunk, by its own code.
pub(crate) fn error_in_body(
    field: &ErrorField,
    provider: &str,
    request_id: Option<String>,
    key: Option<&ApiKey>,
) -> Error {
    let parsed = parse_error_field(field);
    let message = parsed.message.unwrap_or_default();
    let status = parsed.status.filter(|s| (400..600).contains(s));
    let kind = kind_for(
        status.unwrap_or(500),
        parsed.code.as_deref(),
        parsed.kind.as_deref(),
        &message,
    );
    let mut err = Error::new(kind, "")
        .with_provider(provider)
        .with_request_id(request_id)
        .with_provider_message(&message, key);
    if let Some(status) = status {
        err = err.with_status(status);
    }
    err
}

/// Maps the body of an SSE `event: error` (Groq) or a chunk's `error` key.
pub(crate) fn stream_error(
    data: &str,
    provider: &str,
    request_id: Option<String>,
    key: Option<&ApiKey>,
) -> Error {
    match parse_json::<ErrorBody>(data.as_bytes()) {
        Some(ErrorBody {
            error: Some(field), ..
        }) => error_in_body(&field, provider, request_id, key),
        Some(ErrorBody {
            message: Some(m), ..
        }) => Error::new(ErrorKind::Server, "")
            .with_provider(provider)
            .with_request_id(request_id)
            .with_provider_message(&m, key),
        _ => Error::new(ErrorKind::Server, "the provider sent an error event")
            .with_provider(provider)
            .with_request_id(request_id),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use llmward_core::header::HeaderValue;

    fn err(status: u16, body: &str) -> Error {
        http_error(status, &HeaderMap::new(), body.as_bytes(), "openai", None)
    }

    #[test]
    fn error_kinds() {
        let cases = [
            (
                401,
                r#"{"error":{"code":"invalid_api_key","message":"bad"}}"#,
                ErrorKind::Auth,
            ),
            (
                400,
                r#"{"code":"Client specified an invalid argument","error":"Incorrect API key provided: in***ey."}"#,
                ErrorKind::Auth,
            ),
            (
                429,
                r#"{"error":{"code":"insufficient_quota","message":"You exceeded your current quota"}}"#,
                ErrorKind::QuotaExceeded,
            ),
            (
                429,
                r#"{"error":{"code":"rate_limit_exceeded","message":"Request too large for gpt"}}"#,
                ErrorKind::QuotaExceeded,
            ),
            (
                429,
                r#"{"error":{"code":"rate_limit_exceeded","message":"Rate limit reached"}}"#,
                ErrorKind::RateLimited,
            ),
            (
                400,
                r#"{"error":{"code":"context_length_exceeded","message":"x"}}"#,
                ErrorKind::ContextLengthExceeded,
            ),
            (
                400,
                r#"{"error":{"code":"content_filter","message":"x"}}"#,
                ErrorKind::ContentFiltered,
            ),
            (
                400,
                r#"{"error":{"code":"tool_use_failed","message":"x"}}"#,
                ErrorKind::ModelOutput,
            ),
            (
                400,
                r#"{"error":{"code":"unsupported_value","message":"x"}}"#,
                ErrorKind::InvalidRequest,
            ),
            (403, "{}", ErrorKind::PermissionDenied),
            (404, "", ErrorKind::NotFound),
            (408, "", ErrorKind::Timeout),
            (500, "<html>oops</html>", ErrorKind::Server),
            (502, "", ErrorKind::Server),
            (503, "", ErrorKind::Overloaded),
            (504, "", ErrorKind::Server),
            (422, r#"{"detail":"bad"}"#, ErrorKind::InvalidRequest),
        ];
        for (status, body, kind) in cases {
            assert_eq!(err(status, body).kind(), kind, "{status} {body}");
        }
        assert_eq!(
            err(500, "<html>secret page</html>").message(),
            Some("the provider returned an HTML error page")
        );
    }

    #[test]
    fn retry_after_and_request_id() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        h.insert("x-request-id", HeaderValue::from_static("req_9"));
        let e = http_error(429, &h, b"{}", "openai", None);
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(2)));
        assert_eq!(e.request_id(), Some("req_9"));
    }

    #[test]
    fn xai_usage_counts_reasoning_in_output() {
        let u: WireUsage = serde_json::from_str(
            r#"{"prompt_tokens":137,"completion_tokens":1,"total_tokens":254,
                "completion_tokens_details":{"reasoning_tokens":116}}"#,
        )
        .unwrap();
        assert_eq!(u.unified().output_tokens, 117);
        let u: WireUsage = serde_json::from_str(
            r#"{"prompt_tokens":13,"completion_tokens":138,"total_tokens":151,
                "completion_tokens_details":{"reasoning_tokens":128}}"#,
        )
        .unwrap();
        assert_eq!(u.unified().output_tokens, 138);
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            &b""[..],
            b"\xff\xfe",
            b"[]",
            b"null",
            b"{\"choices\":7}",
            b"{\"choices\":[{}]}",
        ] {
            let _ = chat_response(body, "p", "m", None, None);
            let _ = http_error(400, &HeaderMap::new(), body, "p", None);
        }
    }
}
