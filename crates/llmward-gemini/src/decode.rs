//! Gemini response bodies → [`ChatResponse`], [`EmbedResponse`] or [`Error`]. Pure.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use llmward_core::header::HeaderMap;
use llmward_core::wire::{body_excerpt, nullable};
use llmward_core::{
    Aggregator, ApiKey, ChatResponse, EmbedResponse, Error, ErrorKind, Result, retry_after,
};

use crate::encode::ORIGIN;
use crate::stream::ChunkDecoder;

/// One `GenerateContentResponse`: a whole answer, or one chunk of a stream.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateResponse {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) prompt_feedback: Option<PromptFeedback>,
    pub(crate) usage_metadata: Option<UsageMetadata>,
    pub(crate) model_version: Option<String>,
    pub(crate) response_id: Option<String>,
    /// An error object in a 200 body or a stream chunk.
    pub(crate) error: Option<RpcStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    pub(crate) content: Option<Content>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) finish_message: Option<String>,
    pub(crate) index: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Content {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) parts: Vec<Part>,
}

/// A response part. Kinds llmward has no content part for (`inlineData`, `executableCode`,
/// `codeExecutionResult`, ...) are read as a part with none of these fields.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Part {
    pub(crate) text: Option<String>,
    pub(crate) thought: Option<bool>,
    pub(crate) thought_signature: Option<String>,
    pub(crate) function_call: Option<FunctionCall>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FunctionCall {
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) name: String,
    pub(crate) args: Option<Value>,
    pub(crate) id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    pub(crate) block_reason: Option<String>,
    pub(crate) block_reason_message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
    thoughts_token_count: Option<u64>,
    cached_content_token_count: Option<u64>,
    tool_use_prompt_token_count: Option<u64>,
}

impl UsageMetadata {
    /// The unified usage: input = prompt + tool-use prompt tokens (both billed as input),
    /// output = candidates + thoughts. `None` when no count was reported.
    pub(crate) fn usage(&self) -> Option<llmward_core::Usage> {
        let prompt = self.prompt_token_count;
        let candidates = self.candidates_token_count;
        let thoughts = self.thoughts_token_count;
        let cached = self.cached_content_token_count;
        let tool_use = self.tool_use_prompt_token_count;
        if [prompt, candidates, thoughts, cached, tool_use]
            .iter()
            .all(Option::is_none)
        {
            return None;
        }
        let thoughts = thoughts.unwrap_or(0);
        let input = prompt.unwrap_or(0).saturating_add(tool_use.unwrap_or(0));
        let output = candidates.unwrap_or(0).saturating_add(thoughts);
        Some(
            llmward_core::Usage::new(input, output)
                .with_cached_input(cached.unwrap_or(0))
                .with_reasoning(thoughts),
        )
    }
}

/// A `google.rpc.Status` error object.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RpcStatus {
    code: Option<i64>,
    message: Option<String>,
    status: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    details: Vec<RpcDetail>,
}

/// One `details[]` entry; the fields of the detail types llmward reads (`ErrorInfo.reason`,
/// `RetryInfo.retryDelay`, `QuotaFailure.violations`) side by side.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcDetail {
    #[serde(rename = "@type")]
    kind: Option<String>,
    reason: Option<String>,
    retry_delay: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    violations: Vec<QuotaViolation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuotaViolation {
    quota_id: Option<String>,
    quota_value: Option<Scalar>,
}

/// An int64 in proto JSON arrives as a string, sometimes as a number.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
}

impl Scalar {
    fn is_zero(&self) -> bool {
        match self {
            Scalar::Text(s) => s.trim() == "0",
            Scalar::Number(n) => n.as_f64() == Some(0.0),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: RpcStatus,
}

/// Vertex sometimes wraps the error object in a one-element array. (`Many` is tried first:
/// serde reads a struct from an array too.)
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ErrorBody {
    Many(Vec<ErrorEnvelope>),
    One(ErrorEnvelope),
}

/// A serde error without the input it quotes: only its category and position.
pub(crate) fn json_error(what: &str, e: &serde_json::Error) -> Error {
    let category = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected JSON shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    Error::protocol(format!(
        "{what}: {category} at line {} column {}",
        e.line(),
        e.column()
    ))
}

/// Parses a generateContent body or stream chunk.
pub(crate) fn parse_chunk(bytes: &[u8]) -> Result<GenerateResponse> {
    serde_json::from_slice(bytes).map_err(|e| json_error("Gemini response", &e))
}

/// The whole answer of a non-streaming call, decoded with the same state machine as a stream
/// so that a collected stream and this answer are equal. The provider name is a placeholder
/// (the family) that the caller replaces.
pub(crate) fn chat_response(
    bytes: &[u8],
    model: &str,
    key: Option<&ApiKey>,
) -> Result<ChatResponse> {
    let parsed = parse_chunk(bytes)?;
    if let Some(status) = &parsed.error {
        return Err(rpc_error(None, status, None, key));
    }
    if parsed.candidates.is_empty() && !is_blocked(&parsed) {
        return Err(Error::protocol("Gemini answered without candidates"));
    }
    let mut events = VecDeque::new();
    let mut decoder = ChunkDecoder::default();
    decoder.chunk(parsed, &mut events, key)?;
    decoder.finish_whole(&mut events);
    let mut agg = Aggregator::new(ORIGIN, model, ORIGIN);
    for event in events {
        agg.push(event);
    }
    Ok(agg.finish(None))
}

pub(crate) fn is_blocked(response: &GenerateResponse) -> bool {
    response
        .prompt_feedback
        .as_ref()
        .is_some_and(|f| f.block_reason.is_some())
}

/// The error for a prompt Gemini blocked (`promptFeedback.blockReason`, no candidates).
pub(crate) fn blocked_error(feedback: &PromptFeedback, key: Option<&ApiKey>) -> Error {
    let reason = feedback.block_reason.as_deref().unwrap_or("unspecified");
    let text = match &feedback.block_reason_message {
        Some(m) => format!("prompt blocked ({reason}): {m}"),
        None => format!("prompt blocked ({reason})"),
    };
    Error::new(ErrorKind::ContentFiltered, "prompt blocked").with_provider_message(&text, key)
}

#[derive(Debug, Deserialize)]
struct BatchEmbedResponse {
    #[serde(default, deserialize_with = "nullable")]
    embeddings: Vec<Embedding>,
}

#[derive(Debug, Deserialize)]
struct Embedding {
    #[serde(default, deserialize_with = "nullable")]
    values: Vec<f32>,
}

/// A `batchEmbedContents` answer: one vector per input, in order (provider name as in
/// [`chat_response`]).
pub(crate) fn embed_response(bytes: &[u8], model: &str, inputs: usize) -> Result<EmbedResponse> {
    let parsed: BatchEmbedResponse =
        serde_json::from_slice(bytes).map_err(|e| json_error("Gemini embeddings", &e))?;
    if parsed.embeddings.len() != inputs {
        return Err(Error::protocol(format!(
            "Gemini returned {} embeddings for {inputs} inputs",
            parsed.embeddings.len()
        )));
    }
    let vectors = parsed.embeddings.into_iter().map(|e| e.values).collect();
    Ok(EmbedResponse::new(ORIGIN, model, vectors))
}

/// Maps an error response (any non-2xx status) to an [`Error`] (provider name as in
/// [`chat_response`]). A body that is not a `google.rpc.Status` still maps by its status,
/// with a short excerpt (none for HTML).
pub(crate) fn http_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    key: Option<&ApiKey>,
) -> Error {
    let parsed = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody::Many(v)) => v.into_iter().next().map(|e| e.error),
        Ok(ErrorBody::One(e)) => Some(e.error),
        Err(_) => None,
    };
    let header_wait = retry_after::from_headers(headers);
    let err = match &parsed {
        Some(rpc) => rpc_error(Some(status), rpc, header_wait, key),
        None => {
            let kind = classify(status, None);
            let err = Error::new(kind, format!("HTTP {status} from Gemini"))
                .with_status(status)
                .with_retry_after(header_wait);
            match body_excerpt(body) {
                Some(text) => err.with_provider_message(&text, key),
                None => err,
            }
        }
    };
    err.with_provider(ORIGIN)
}

/// Maps a `google.rpc.Status` to an [`Error`]. `http` is the HTTP status, or `None` for an
/// error inside a 200 body or stream, which maps by its own `code`.
pub(crate) fn rpc_error(
    http: Option<u16>,
    rpc: &RpcStatus,
    header_wait: Option<Duration>,
    key: Option<&ApiKey>,
) -> Error {
    let own_code = rpc
        .code
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c));
    let status = http.or(own_code);
    let kind = classify(status.unwrap_or(0), Some(rpc));
    let wait = rpc
        .details
        .iter()
        .find_map(|d| {
            d.retry_delay
                .as_deref()
                .and_then(retry_after::parse_duration)
        })
        .or(header_wait);
    let fallback = match &rpc.status {
        Some(s) => format!("Gemini error {s}"),
        None => "Gemini error".to_owned(),
    };
    let mut err = Error::new(kind, fallback).with_retry_after(wait);
    if let Some(status) = status {
        err = err.with_status(status);
    }
    match rpc.message.as_deref().filter(|m| !m.trim().is_empty()) {
        Some(message) => err.with_provider_message(message, key),
        None => err,
    }
}

/// The error kind for an HTTP status and, when there is one, the `google.rpc.Status` body.
fn classify(status: u16, rpc: Option<&RpcStatus>) -> ErrorKind {
    let canonical = rpc.and_then(|r| r.status.as_deref()).unwrap_or("");
    let message = rpc
        .and_then(|r| r.message.as_deref())
        .unwrap_or("")
        .to_ascii_lowercase();
    if rpc.is_some_and(is_bad_key) || canonical == "UNAUTHENTICATED" || status == 401 {
        return ErrorKind::Auth;
    }
    match canonical {
        "PERMISSION_DENIED" | "FAILED_PRECONDITION" => return ErrorKind::PermissionDenied,
        "NOT_FOUND" => return ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => return exhausted(rpc),
        "UNAVAILABLE" => return ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => return ErrorKind::Timeout,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => return ErrorKind::Server,
        "INVALID_ARGUMENT" | "OUT_OF_RANGE" if is_context_length(&message) => {
            return ErrorKind::ContextLengthExceeded;
        }
        _ => {}
    }
    match status {
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        402 => ErrorKind::QuotaExceeded,
        429 => exhausted(rpc),
        503 | 529 => ErrorKind::Overloaded,
        400 if is_context_length(&message) => ErrorKind::ContextLengthExceeded,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Server,
    }
}

/// An invalid, expired, leaked or missing key, whatever status Gemini used (it answers 400
/// `INVALID_ARGUMENT` for an invalid key, 403 for a leaked or missing one).
fn is_bad_key(rpc: &RpcStatus) -> bool {
    let reason_says = rpc.details.iter().any(|d| {
        d.kind.as_deref().is_none_or(|k| k.ends_with("ErrorInfo"))
            && matches!(
                d.reason.as_deref(),
                Some("API_KEY_INVALID" | "API_KEY_EXPIRED" | "ACCESS_TOKEN_EXPIRED")
            )
    });
    let message = rpc.message.as_deref().unwrap_or("").to_ascii_lowercase();
    reason_says
        || message.contains("api key not valid")
        || message.contains("api key expired")
        || message.contains("reported as leaked")
        || message.contains("unregistered callers")
}

fn is_context_length(message: &str) -> bool {
    message.contains("exceeds the maximum number of tokens")
        || (message.contains("input token count") && message.contains("exceeds the maximum"))
}

/// 429 `RESOURCE_EXHAUSTED`: a per-minute limit is [`ErrorKind::RateLimited`] (waiting helps;
/// `RetryInfo.retryDelay` says how long). A daily limit, or a limit of 0 (the model is not
/// available on this tier at all), is [`ErrorKind::QuotaExceeded`]: waiting does not help.
fn exhausted(rpc: Option<&RpcStatus>) -> ErrorKind {
    let Some(rpc) = rpc else {
        return ErrorKind::RateLimited;
    };
    let violations = rpc.details.iter().flat_map(|d| &d.violations);
    let out_of_quota = violations.clone().any(|v| {
        v.quota_value.as_ref().is_some_and(Scalar::is_zero)
            || v.quota_id
                .as_deref()
                .is_some_and(|id| id.contains("PerDay"))
    }) || rpc
        .message
        .as_deref()
        .is_some_and(|m| m.contains("limit: 0,") || m.ends_with("limit: 0"));
    if out_of_quota {
        ErrorKind::QuotaExceeded
    } else {
        ErrorKind::RateLimited
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use llmward_core::header::HeaderValue;
    use serde_json::json;

    fn err(status: u16, body: Value) -> Error {
        http_error(status, &HeaderMap::new(), body.to_string().as_bytes(), None)
    }

    fn rpc(code: u16, status: &str, message: &str, details: Value) -> Value {
        json!({"error": {"code": code, "message": message, "status": status, "details": details}})
    }

    #[test]
    fn status_mapping() {
        let cases = [
            (
                400,
                "INVALID_ARGUMENT",
                "bad field",
                ErrorKind::InvalidRequest,
            ),
            (
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                ErrorKind::Auth,
            ),
            (
                400,
                "INVALID_ARGUMENT",
                "The input token count (1250074) exceeds the maximum number of tokens allowed (1048576).",
                ErrorKind::ContextLengthExceeded,
            ),
            (
                400,
                "FAILED_PRECONDITION",
                "User location is not supported",
                ErrorKind::PermissionDenied,
            ),
            (401, "UNAUTHENTICATED", "no", ErrorKind::Auth),
            (
                403,
                "PERMISSION_DENIED",
                "denied",
                ErrorKind::PermissionDenied,
            ),
            (
                403,
                "PERMISSION_DENIED",
                "Your API key was reported as leaked.",
                ErrorKind::Auth,
            ),
            (
                404,
                "NOT_FOUND",
                "models/x is not found",
                ErrorKind::NotFound,
            ),
            (429, "RESOURCE_EXHAUSTED", "slow", ErrorKind::RateLimited),
            (500, "INTERNAL", "oops", ErrorKind::Server),
            (
                503,
                "UNAVAILABLE",
                "The model is overloaded.",
                ErrorKind::Overloaded,
            ),
            (504, "DEADLINE_EXCEEDED", "late", ErrorKind::Timeout),
            (409, "ABORTED", "x", ErrorKind::InvalidRequest),
            (502, "", "x", ErrorKind::Server),
        ];
        for (code, status, message, kind) in cases {
            let e = err(code, rpc(code, status, message, json!([])));
            assert_eq!(e.kind(), kind, "{code} {status} {message}");
            assert_eq!(e.status(), Some(code));
            assert_eq!(e.provider(), Some("gemini"));
        }
    }

    #[test]
    fn error_info_reason_means_auth() {
        let e = err(
            400,
            rpc(
                400,
                "INVALID_ARGUMENT",
                "something",
                json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]),
            ),
        );
        assert_eq!(e.kind(), ErrorKind::Auth);
    }

    #[test]
    fn quota_versus_rate_limit() {
        let per_minute = json!([
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel", "quotaValue": "15"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12.5s"}
        ]);
        let e = err(429, rpc(429, "RESOURCE_EXHAUSTED", "quota", per_minute));
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_millis(12_500)));

        let per_day = json!([{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaValue": "250"}]}]);
        let e = err(429, rpc(429, "RESOURCE_EXHAUSTED", "quota", per_day));
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);

        let zero = json!([{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier", "quotaValue": 0}]}]);
        let e = err(429, rpc(429, "RESOURCE_EXHAUSTED", "quota", zero));
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);

        let e = err(
            429,
            rpc(
                429,
                "RESOURCE_EXHAUSTED",
                "* Quota exceeded for metric: x, limit: 0, model: y",
                json!([]),
            ),
        );
        assert_eq!(e.kind(), ErrorKind::QuotaExceeded);
    }

    #[test]
    fn body_retry_delay_wins_over_header() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        let body = rpc(
            429,
            "RESOURCE_EXHAUSTED",
            "q",
            json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "48s"}]),
        );
        let e = http_error(429, &h, body.to_string().as_bytes(), None);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(48)));
        let e = http_error(429, &h, b"{}", None);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn non_json_bodies_map_by_status() {
        let html = b"<html><body>502 Bad Gateway secret</body></html>";
        let e = http_error(502, &HeaderMap::new(), html, None);
        assert_eq!(e.kind(), ErrorKind::Server);
        assert!(!e.to_string().contains("secret"), "{e}");
        let e = http_error(429, &HeaderMap::new(), b"  too many", None);
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.message(), Some("too many"));
        let e = http_error(400, &HeaderMap::new(), b"", None);
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        let e = http_error(503, &HeaderMap::new(), b"\xff\xfe{", None);
        assert_eq!(e.kind(), ErrorKind::Overloaded);
    }

    #[test]
    fn vertex_array_wrapped_error() {
        let body = json!([rpc(
            404,
            "NOT_FOUND",
            "Publisher model not found",
            json!(null)
        )]);
        let e = err(404, body);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.message(), Some("Publisher model not found"));
    }

    #[test]
    fn messages_are_redacted_against_the_key() {
        let key = ApiKey::new("AIzaSyCanary0123456789abcdefghijklmno".into()).unwrap();
        let body = rpc(
            400,
            "INVALID_ARGUMENT",
            "bad key AIzaSyCanary0123456789abcdefghijklmno",
            json!([]),
        );
        let e = http_error(
            400,
            &HeaderMap::new(),
            body.to_string().as_bytes(),
            Some(&key),
        );
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("Canary"), "{shown}");
    }

    #[test]
    fn usage_mapping() {
        let m: UsageMetadata = serde_json::from_value(json!({
            "promptTokenCount": 100, "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
            "cachedContentTokenCount": 40, "toolUsePromptTokenCount": 5, "totalTokenCount": 155
        }))
        .unwrap();
        let u = m.usage().unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cached_input_tokens,
                u.reasoning_tokens
            ),
            (105, 50, 40, 30)
        );
        let none: UsageMetadata =
            serde_json::from_value(json!({"trafficType": "ON_DEMAND"})).unwrap();
        assert_eq!(none.usage(), None);
    }

    #[test]
    fn serde_errors_do_not_quote_the_body() {
        let e = parse_chunk(br#"{"candidates": "secret-text"}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn nulls_are_missing() {
        let r = parse_chunk(
            br#"{"candidates": [{"content": {"parts": null}, "finishReason": null}], "usageMetadata": null}"#,
        )
        .unwrap();
        assert!(r.candidates[0].content.as_ref().unwrap().parts.is_empty());
        let r = parse_chunk(br#"{"candidates": null}"#).unwrap();
        assert!(r.candidates.is_empty());
    }
}
