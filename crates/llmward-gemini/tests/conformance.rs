//! Every recorded Gemini response in the conformance corpus, replayed through the provider over
//! a loopback upstream: it must parse to what `SOURCES.md` says, stream and non-stream must
//! agree, and the request llmward sends for the same conversation must be one the live API
//! accepted (`_sidecars/gemini/*.request.json`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use llmward_core::{
    ApiKey, ChatRequest, ChatResponse, ContentPart, EmbedRequest, ErrorKind, Message, Provider,
    Reasoning, ReasoningEffort, ResponseFormat, Role, Tool, ToolResult, Usage,
};
use llmward_gemini::Gemini;
use llmward_testkit::conformance::{self, Entry};
use llmward_testkit::{Recorded, Reply, Upstream};
use serde_json::{Map, Value, json};

/// Streamed without `alt=sse` (a JSON array body), which llmward never asks for.
const OUT_OF_SCOPE: [&str; 2] = [
    "gemini/stream_json_array_no_alt_sse_function_call.json",
    "gemini/stream_json_array_no_alt_sse_text.json",
];

/// Files whose request continues a conversation: the assistant turn is the answer decoded
/// from another recording (so the round trip response → next request is what is checked).
const HISTORY: [(&str, &str); 2] = [
    ("text_after_function_response.json", "function_call.json"),
    (
        "stream_text_after_function_response_sse.sse",
        "stream_function_call_sse.sse",
    ),
];

fn entries(corpus: &Path) -> Vec<Entry> {
    conformance::entries_for(corpus, "gemini")
        .into_iter()
        .filter(|e| !OUT_OF_SCOPE.contains(&e.file.as_str()))
        .collect()
}

fn is_sse(entry: &Entry) -> bool {
    entry.file.ends_with(".sse")
}

fn is_vertex(entry: &Entry) -> bool {
    entry.file.starts_with("gemini/vertex_")
}

/// The recorded request URL's tail after the base (`models/<m>:<method>[?alt=sse]`).
fn recorded_call(corpus: &Path, entry: &Entry) -> String {
    let sources = std::fs::read_to_string(corpus.join("SOURCES.md")).unwrap();
    let heading = format!("### `{}`", entry.file);
    let section = &sources[sources.find(&heading).expect("entry heading")..];
    let line = section
        .lines()
        .find(|l| l.starts_with("- Request: POST "))
        .expect("request line");
    let url = line["- Request: POST ".len()..]
        .split_whitespace()
        .next()
        .unwrap();
    let at = url.find("/models/").expect("a models/ URL") + 1;
    url[at..].to_owned()
}

/// The replayed response: status, recorded headers (when there is a sidecar) and the body,
/// SSE bodies cut into 61-byte chunks so events and CRLF pairs are split across reads.
fn reply_for(entry: &Entry, body: &[u8]) -> Reply {
    let status = entry.status.unwrap_or(200);
    let mut reply = if is_sse(entry) {
        Reply::sse_bytes(body.chunks(61).map(|c| c.to_vec().into()).collect())
    } else {
        Reply::body(status, "application/json; charset=UTF-8", body.to_vec())
    };
    for (name, value) in conformance::headers(entry) {
        if !matches!(name.as_str(), "transfer-encoding" | "content-length") {
            reply = reply.header(&name, &value);
        }
    }
    reply
}

fn provider(upstream: &Upstream, vertex: bool) -> Gemini {
    let key = ApiKey::new(common::KEY.into()).unwrap();
    if vertex {
        Gemini::vertex(format!(
            "{}/v1beta1/projects/p/locations/l/publishers/google",
            upstream.url()
        ))
        .api_key(key)
        .build()
        .unwrap()
    } else {
        Gemini::builder()
            .api_key(key)
            .base_url(format!("{}/v1beta", upstream.url()))
            .build()
            .unwrap()
    }
}

/// The unified usage for the oracle's raw Gemini numbers: output = candidates + thoughts.
fn unified_usage(raw: &BTreeMap<String, u64>) -> Option<Usage> {
    let input = *raw.get("input")?;
    let thoughts = raw.get("thoughts").copied().unwrap_or(0);
    let output = raw.get("output").copied().unwrap_or(0) + thoughts;
    Some(Usage::new(input, output).with_reasoning(thoughts))
}

fn check_response(entry: &Entry, r: &ChatResponse) {
    let file = &entry.file;
    match &entry.text {
        Some(t) => t.check(&r.text()).unwrap_or_else(|e| panic!("{file}: {e}")),
        None => assert_eq!(r.text(), "", "{file}"),
    }
    match &entry.reasoning {
        Some(t) => t
            .check(&r.reasoning().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{file}: reasoning: {e}")),
        None => assert_eq!(r.reasoning(), None, "{file}"),
    }
    let calls = r.tool_calls();
    assert_eq!(calls.len(), entry.tool_calls.len(), "{file}");
    for (call, expected) in calls.iter().zip(&entry.tool_calls) {
        assert_eq!(call.name, expected.name, "{file}");
        assert_eq!(call.arguments, expected.arguments, "{file}");
        match &expected.id {
            Some(id) => assert_eq!(&call.id, id, "{file}"),
            None => assert!(call.id.starts_with("gemini_call_"), "{file}: {}", call.id),
        }
    }
    assert_eq!(r.raw_finish_reason, entry.finish_raw, "{file}");
    assert_eq!(
        Some(r.finish_reason.as_str()),
        entry.finish.as_deref(),
        "{file}"
    );
    assert_eq!(r.usage, unified_usage(&entry.usage), "{file}");
    assert_eq!(r.provider, "gemini", "{file}");
    assert_eq!(r.request_id, None, "{file}: Gemini sends no request id");
}

fn check_error(entry: &Entry, err: &llmward_core::Error) {
    let file = &entry.file;
    let expected = entry.error.as_ref().unwrap();
    let kind = match file.as_str() {
        "gemini/error_400_invalid_api_key.json" => ErrorKind::Auth,
        "gemini/error_429_quota_exceeded.json" => ErrorKind::RateLimited,
        "gemini/vertex_error_400_context_length.json" => ErrorKind::ContextLengthExceeded,
        other => panic!("no expected kind for {other}"),
    };
    assert_eq!(err.kind(), kind, "{file}: {err}");
    assert_eq!(err.status(), Some(expected.status), "{file}");
    assert_eq!(err.provider(), Some("gemini"), "{file}");
    assert_eq!(err.request_id(), None, "{file}");
    // The provider's message, after the core's redaction (which also hides long URLs).
    let message = err.message().unwrap_or_default();
    let shown = llmward_core::redact::redact(&expected.message, None);
    if expected.message_truncated {
        assert!(message.starts_with(&shown), "{file}: {message}");
    } else {
        assert_eq!(message, shown, "{file}");
    }
    let wait = (kind == ErrorKind::RateLimited).then(|| Duration::from_secs(48));
    assert_eq!(err.retry_after(), wait, "{file}");
}

/// Whether every field of `ours` is in `accepted` with the same meaning: object keys may be
/// camelCase or snake_case there, `parametersJsonSchema` may have been sent as `parameters`,
/// schema `type` names compare case-insensitively (`OBJECT` = `object`), numbers as numbers.
fn assert_accepted(ours: &Value, accepted: &Value, path: &str) {
    match (ours, accepted) {
        (Value::Object(o), Value::Object(a)) => {
            for (k, v) in o {
                let mut names = vec![k.clone(), snake(k)];
                if k == "parametersJsonSchema" {
                    names.push("parameters".into());
                }
                let found = names.iter().find_map(|n| a.get(n));
                let Some(av) = found else {
                    panic!("{path}.{k}: sent, but not in the accepted request {accepted}");
                };
                if k == "type" {
                    if let (Some(x), Some(y)) = (v.as_str(), av.as_str()) {
                        assert!(x.eq_ignore_ascii_case(y), "{path}.type: {x} vs {y}");
                        continue;
                    }
                }
                assert_accepted(v, av, &format!("{path}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(a)) => {
            assert_eq!(o.len(), a.len(), "{path}: {ours} vs {accepted}");
            for (i, (x, y)) in o.iter().zip(a).enumerate() {
                assert_accepted(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            assert_eq!(x.as_f64(), y.as_f64(), "{path}");
        }
        _ => assert_eq!(ours, accepted, "{path}"),
    }
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn lowercase_types(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("type", Value::String(s)) => (k.clone(), Value::String(s.to_lowercase())),
                    _ => (k.clone(), lowercase_types(v)),
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(lowercase_types).collect()),
        other => other.clone(),
    }
}

fn field<'a>(v: &'a Value, camel: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| v.get(snake(camel)))
}

fn texts(content: &Value) -> Vec<String> {
    content["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The [`ChatRequest`] a caller would write for the recorded conversation `sidecar`, the
/// assistant tool-call turn taken from `history` (an answer llmward decoded).
fn request_from_sidecar(
    model: &str,
    sidecar: &Value,
    history: Option<&ChatResponse>,
) -> ChatRequest {
    let mut b = ChatRequest::builder(model);
    if let Some(system) = sidecar.get("systemInstruction") {
        for t in texts(system) {
            b = b.system(t);
        }
    }
    for content in sidecar["contents"].as_array().unwrap() {
        let parts = content["parts"].as_array().unwrap();
        let calls = parts.iter().any(|p| field(p, "functionCall").is_some());
        let results: Vec<&Value> = parts
            .iter()
            .filter_map(|p| field(p, "functionResponse"))
            .collect();
        if calls {
            b = b.message(history.expect("a history answer").to_message());
        } else if !results.is_empty() {
            for r in results {
                let name = r["name"].as_str().unwrap();
                let call = history
                    .unwrap()
                    .tool_calls()
                    .into_iter()
                    .find(|c| c.name == name)
                    .unwrap();
                b = b.message(Message::tool_result(ToolResult::new(
                    call.id.clone(),
                    r["response"].to_string(),
                )));
            }
        } else {
            let role = match content["role"].as_str() {
                Some("model") => Role::Assistant,
                _ => Role::User,
            };
            let parts = texts(content).into_iter().map(ContentPart::Text).collect();
            b = b.message(Message::new(role, parts));
        }
    }
    for tools in sidecar["tools"].as_array().into_iter().flatten() {
        for decl in tools["functionDeclarations"].as_array().unwrap() {
            let schema = field(decl, "parametersJsonSchema")
                .or_else(|| decl.get("parameters"))
                .map(lowercase_types)
                .unwrap_or(Value::Null);
            let mut tool = Tool::new(decl["name"].as_str().unwrap(), schema);
            if let Some(d) = decl.get("description").and_then(Value::as_str) {
                tool = tool.description(d);
            }
            b = b.tool(tool);
        }
    }
    if let Some(config) = sidecar.get("generationConfig") {
        if let Some(t) = config.get("temperature").and_then(Value::as_f64) {
            b = b.temperature(t);
        }
        if let Some(n) = field(config, "maxOutputTokens").and_then(Value::as_u64) {
            b = b.max_tokens(u32::try_from(n).unwrap());
        }
        if let Some(schema) = field(config, "responseJsonSchema") {
            b = b.response_format(ResponseFormat::json_schema("response", schema.clone()));
        }
        if let Some(thinking) = field(config, "thinkingConfig") {
            let mut r = Reasoning::default();
            if let Some(n) = field(thinking, "thinkingBudget").and_then(Value::as_u64) {
                r.budget_tokens = Some(u32::try_from(n).unwrap());
            }
            r.effort = match field(thinking, "thinkingLevel").and_then(Value::as_str) {
                Some("low") => Some(ReasoningEffort::Low),
                Some("high") => Some(ReasoningEffort::High),
                _ => None,
            };
            r.include_thoughts = field(thinking, "includeThoughts") == Some(&json!(true));
            b = b.reasoning(r);
        }
    }
    // Provider-specific fields llmward has no type for travel through `extra`.
    for key in ["safetySettings", "modelArmorConfig"] {
        if let Some(v) = sidecar.get(key) {
            b = b.extra(key, v.clone());
        }
    }
    b.build().unwrap()
}

fn embed_request_from_sidecar(sidecar: &Value) -> EmbedRequest {
    let requests = sidecar["requests"].as_array().unwrap();
    let model = requests[0]["model"].as_str().unwrap();
    let inputs = requests
        .iter()
        .map(|r| {
            r["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut req = EmbedRequest::new(model, inputs);
    if let Some(d) = requests[0]["outputDimensionality"].as_u64() {
        req = req.dimensions(u32::try_from(d).unwrap());
    }
    req
}

fn check_request(corpus: &Path, entry: &Entry, rec: &Recorded, vertex: bool) {
    let file = &entry.file;
    let sidecar: Value =
        serde_json::from_slice(&std::fs::read(entry.request_sidecar.as_ref().unwrap()).unwrap())
            .unwrap();
    assert_accepted(&rec.json(), &sidecar, file);
    let tail = recorded_call(corpus, entry);
    let base = if vertex {
        "/v1beta1/projects/p/locations/l/publishers/google/"
    } else {
        "/v1beta/"
    };
    assert_eq!(rec.path, format!("{base}{tail}"), "{file}");
    assert!(!rec.path.contains("key="), "{file}");
    if vertex {
        assert_eq!(
            rec.header("authorization"),
            Some(format!("Bearer {}", common::KEY).as_str())
        );
        assert_eq!(rec.header("x-goog-api-key"), None);
    } else {
        assert_eq!(rec.header("x-goog-api-key"), Some(common::KEY));
        assert_eq!(rec.header("authorization"), None);
    }
}

/// Decodes one recording the way a caller would meet it (streamed or not).
async fn decode(entry: &Entry, body: &[u8], vertex: bool) -> llmward_core::Result<ChatResponse> {
    let upstream = Upstream::start().await;
    upstream.push(reply_for(entry, body));
    let request = ChatRequest::builder("gemini-2.5-flash")
        .user("x")
        .build()
        .unwrap();
    let gemini = provider(&upstream, vertex);
    if is_sse(entry) {
        gemini.chat_stream(&request).await?.collect().await
    } else {
        gemini.chat(&request).await
    }
}

#[tokio::test]
async fn every_recorded_response_and_request() {
    let Some(corpus) = conformance::require_corpus() else {
        return;
    };
    let all = entries(&corpus);
    assert_eq!(
        all.len(),
        23,
        "every gemini file but the two JSON-array streams"
    );
    let mut checked = 0;
    for entry in &all {
        let file = entry.file.clone();
        let name = file.trim_start_matches("gemini/");
        let body = conformance::read(&corpus, &file);
        let vertex = is_vertex(entry);
        let model = {
            let call = recorded_call(&corpus, entry);
            call["models/".len()..call.find(':').unwrap()].to_owned()
        };
        let upstream = Upstream::start().await;
        let gemini = provider(&upstream, vertex);
        upstream.push(reply_for(entry, &body));

        if name.starts_with("embeddings_") {
            let sidecar: Value = serde_json::from_slice(
                &std::fs::read(entry.request_sidecar.as_ref().unwrap()).unwrap(),
            )
            .unwrap();
            let out = gemini
                .embed(&embed_request_from_sidecar(&sidecar))
                .await
                .unwrap();
            assert_eq!(out.vectors.len(), 3, "{file}");
            assert!(out.vectors.iter().all(|v| v.len() == 768), "{file}");
            assert_eq!(out.provider, "gemini");
            check_request(&corpus, entry, &upstream.requests()[0], vertex);
            checked += 1;
            continue;
        }

        let sidecar: Value = serde_json::from_slice(
            &std::fs::read(entry.request_sidecar.as_ref().unwrap()).unwrap(),
        )
        .unwrap();
        let history = match HISTORY.iter().find(|(f, _)| *f == name) {
            Some((_, from)) => {
                let prior = all
                    .iter()
                    .find(|e| e.file == format!("gemini/{from}"))
                    .unwrap();
                let prior_body = conformance::read(&corpus, &prior.file);
                Some(decode(prior, &prior_body, false).await.unwrap())
            }
            None => None,
        };
        let request = request_from_sidecar(&model, &sidecar, history.as_ref());
        let result = if is_sse(entry) {
            match gemini.chat_stream(&request).await {
                Ok(stream) => stream.collect().await,
                Err(e) => Err(e),
            }
        } else {
            gemini.chat(&request).await
        };
        if entry.error.is_some() {
            check_error(entry, &result.unwrap_err());
        } else if entry
            .finish_raw
            .as_deref()
            .is_some_and(|f| f.starts_with("promptFeedback.blockReason="))
        {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ContentFiltered, "{file}: {err}");
            assert!(err.to_string().contains("MODEL_ARMOR"), "{file}: {err}");
        } else {
            let r = result.unwrap_or_else(|e| panic!("{file}: {e}"));
            check_response(entry, &r);
            if let Some(n) = entry.stream_events {
                assert_eq!(common::sse_chunks(&body).len(), n, "{file}");
            }
        }
        check_request(&corpus, entry, &upstream.requests()[0], vertex);
        checked += 1;
    }
    assert_eq!(checked, 23);
}

/// Each recorded stream collects to exactly the answer its chunks make when sent whole, and
/// each recorded whole answer, sent as a one-chunk stream, collects to the same answer.
#[tokio::test]
async fn streams_and_whole_answers_agree() {
    let Some(corpus) = conformance::require_corpus() else {
        return;
    };
    let mut compared = 0;
    for entry in entries(&corpus) {
        if entry.status != Some(200) || entry.file.contains("embeddings") {
            continue;
        }
        let body = conformance::read(&corpus, &entry.file);
        let (sse, whole) = if is_sse(&entry) {
            let merged = common::merge_chunks(&common::sse_chunks(&body));
            (body.clone(), merged.to_string().into_bytes())
        } else {
            let compact: Value = serde_json::from_slice(&body).unwrap();
            (
                format!("data: {compact}\r\n\r\n").into_bytes(),
                body.clone(),
            )
        };
        let upstream = Upstream::start().await;
        upstream.push(Reply::sse_bytes(vec![sse.into()]));
        upstream.push(Reply::body(200, "application/json", whole));
        let gemini = provider(&upstream, false);
        let request = ChatRequest::builder("gemini-2.5-flash")
            .user("x")
            .build()
            .unwrap();
        let streamed = match gemini.chat_stream(&request).await {
            Ok(s) => s.collect().await,
            Err(e) => Err(e),
        };
        let single = gemini.chat(&request).await;
        match (streamed, single) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", entry.file),
            (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{}", entry.file),
            (a, b) => panic!("{}: stream {a:?} vs whole {b:?}", entry.file),
        }
        compared += 1;
    }
    assert_eq!(compared, 19);
}

/// The signatures of the recordings survive the round trip: thought text, the text's
/// signature right after it, the function call's on the call.
#[tokio::test]
async fn signatures_are_kept_where_they_belong() {
    let Some(corpus) = conformance::require_corpus() else {
        return;
    };
    let all = entries(&corpus);
    let get = |f: &str| {
        all.iter()
            .find(|e| e.file == format!("gemini/{f}"))
            .unwrap()
            .clone()
    };

    let e = get("thoughts_included_gemini3.json");
    let r = decode(&e, &conformance::read(&corpus, &e.file), false)
        .await
        .unwrap();
    assert!(
        matches!(&r.content[0], ContentPart::Reasoning(llmward_core::ReasoningPart::Thinking { signature: None, origin, .. }) if origin == "gemini")
    );
    assert!(matches!(&r.content[1], ContentPart::Text(_)));
    assert!(
        matches!(&r.content[2], ContentPart::Reasoning(llmward_core::ReasoningPart::Signature(s)) if s.origin == "gemini" && s.value.starts_with("EoMiCoAi"))
    );
    assert_eq!(r.content.len(), 3);

    let e = get("stream_thought_parts_sse.sse");
    let r = decode(&e, &conformance::read(&corpus, &e.file), false)
        .await
        .unwrap();
    assert_eq!(
        r.content.len(),
        3,
        "one thought, one text, its signature: {:?}",
        r.content.len()
    );
    assert!(
        matches!(&r.content[2], ContentPart::Reasoning(llmward_core::ReasoningPart::Signature(s)) if s.value.starts_with("CiIB0e2K"))
    );

    let e = get("parallel_function_calls.json");
    let r = decode(&e, &conformance::read(&corpus, &e.file), false)
        .await
        .unwrap();
    let calls = r.tool_calls();
    assert!(
        calls[0]
            .signature
            .as_ref()
            .is_some_and(|s| s.origin == "gemini" && s.value.starts_with("CpEDARFN"))
    );
    assert_eq!(calls[1].signature, None);
    assert_ne!(calls[0].id, calls[1].id);

    let e = get("stream_function_call_thought_signature_gemini3_sse.sse");
    let r = decode(&e, &conformance::read(&corpus, &e.file), false)
        .await
        .unwrap();
    assert_eq!(
        r.content.len(),
        1,
        "the trailing empty text part leaves nothing"
    );
    assert!(
        r.tool_calls()[0]
            .signature
            .as_ref()
            .is_some_and(|s| s.value.starts_with("EpwICpkI"))
    );
}
