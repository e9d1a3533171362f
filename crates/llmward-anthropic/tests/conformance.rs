//! Recorded Anthropic responses (the shared conformance corpus, read in place) replayed
//! through the provider over a loopback upstream, and encoded request bodies compared with the
//! request bodies the live API accepted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use llmward_anthropic::Anthropic;
use llmward_core::{
    ApiKey, CacheBreakpoint, ChatRequest, ChatResponse, ContentPart, ErrorKind, HttpOptions, Image,
    Message, Reasoning, ReasoningPart, ResponseFormat, Role, Tool, ToolCall, ToolChoice,
    ToolResult, Usage,
};
use llmward_core::{Provider, Result};
use llmward_testkit::conformance::{Entry, entries_for, headers, read, require_corpus};
use llmward_testkit::{Reply, Upstream, anthropic as tk};
use serde_json::{Value, json};

const ANTHROPIC_FILES: usize = 16;

fn provider(up: &Upstream) -> Anthropic {
    Anthropic::builder()
        .api_key(ApiKey::new("sk-ant-conformance".into()).unwrap())
        .base_url(up.url())
        .http(HttpOptions::new().max_sse_bytes(64 << 10))
        .build()
        .unwrap()
}

/// The recorded headers a client may read (hop-by-hop ones are the server's business).
fn recorded_headers(entry: &Entry, mut reply: Reply) -> Reply {
    for (name, value) in headers(entry) {
        if matches!(
            name.as_str(),
            "request-id" | "retry-after" | "x-should-retry" | "content-type"
        ) || name.starts_with("anthropic-ratelimit")
        {
            reply = reply.header(&name, &value);
        }
    }
    reply
}

/// Replays `entry`'s body with its status and headers; SSE bodies in chunks of `split` bytes
/// (which may cut through UTF-8 sequences), or whole with `split == 0`.
fn replay(entry: &Entry, body: &[u8], split: usize) -> Reply {
    let reply = if entry.file.ends_with(".sse") {
        let chunks = if split == 0 {
            vec![body.to_vec().into()]
        } else {
            body.chunks(split).map(|c| c.to_vec().into()).collect()
        };
        Reply::sse_bytes(chunks)
    } else {
        Reply::body(entry.status.unwrap(), "application/json", body.to_vec())
    };
    recorded_headers(entry, reply)
}

async fn answer(entry: &Entry, p: &Anthropic) -> Result<ChatResponse> {
    let request = ChatRequest::builder("claude-haiku-4-5")
        .user("replayed")
        .build()
        .unwrap();
    if entry.file.ends_with(".sse") {
        p.chat_stream(&request).await?.collect().await
    } else {
        p.chat(&request).await
    }
}

fn header_request_id(entry: &Entry) -> Option<String> {
    headers(entry)
        .into_iter()
        .find(|(n, _)| n == "request-id")
        .map(|(_, v)| v)
}

/// The unified usage for the oracle's raw Anthropic numbers.
fn unified(entry: &Entry) -> Usage {
    let raw = |k: &str| entry.usage.get(k).copied().unwrap_or(0);
    for key in entry.usage.keys() {
        assert!(
            [
                "input",
                "output",
                "cache_read",
                "cache_creation",
                "thinking"
            ]
            .contains(&key.as_str()),
            "{}: unexpected usage key {key}",
            entry.file
        );
    }
    Usage::new(
        raw("input") + raw("cache_read") + raw("cache_creation"),
        raw("output"),
    )
    .with_cached_input(raw("cache_read"))
    .with_cache_write(raw("cache_creation"))
    .with_reasoning(raw("thinking"))
}

fn check_answer(entry: &Entry, body: &[u8], r: &ChatResponse) {
    let file = &entry.file;
    match &entry.text {
        Some(t) => t.check(&r.text()).unwrap_or_else(|e| panic!("{file}: {e}")),
        None => assert_eq!(r.text(), "", "{file}"),
    }
    match &entry.reasoning {
        Some(t) => {
            t.check(&r.reasoning().unwrap_or_default())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            // The signature must be kept for the next turn.
            for part in &r.content {
                if let ContentPart::Reasoning(ReasoningPart::Thinking {
                    signature, origin, ..
                }) = part
                {
                    assert!(signature.as_ref().is_some_and(|s| s.len() > 100), "{file}");
                    assert_eq!(origin, "anthropic");
                }
            }
        }
        None => assert_eq!(r.reasoning(), None, "{file}"),
    }
    let calls = r.tool_calls();
    assert_eq!(calls.len(), entry.tool_calls.len(), "{file}");
    for (got, want) in calls.iter().zip(&entry.tool_calls) {
        assert_eq!(got.name, want.name, "{file}");
        assert_eq!(got.arguments, want.arguments, "{file}");
        assert_eq!(Some(&got.id), want.id.as_ref(), "{file}");
        assert_eq!(got.signature, None, "{file}");
    }
    assert_eq!(r.raw_finish_reason, entry.finish_raw, "{file}");
    assert_eq!(
        Some(r.finish_reason.as_str()),
        entry.finish.as_deref(),
        "{file}"
    );
    assert_eq!(r.usage, Some(unified(entry)), "{file}");
    assert_eq!(r.provider, "anthropic", "{file}");
    assert!(r.model.starts_with("claude-"), "{file}: {}", r.model);
    assert_ne!(
        r.model, "claude-haiku-4-5",
        "{file}: the reported model wins"
    );
    assert!(
        r.id.as_deref().is_some_and(|id| id.starts_with("msg_")),
        "{file}"
    );
    assert_eq!(r.request_id, header_request_id(entry), "{file}");
    // Redacted thinking is kept whole, once per block.
    let redacted = r
        .content
        .iter()
        .filter(|p| matches!(p, ContentPart::Reasoning(ReasoningPart::Redacted { .. })))
        .count();
    let text = String::from_utf8_lossy(body);
    let want_redacted = text.matches("\"type\":\"redacted_thinking\"").count();
    assert_eq!(redacted, want_redacted, "{file}");
}

#[tokio::test]
async fn every_recorded_response_parses_as_the_oracle_says() {
    let Some(corpus) = require_corpus() else {
        return;
    };
    let entries = entries_for(&corpus, "anthropic");
    assert_eq!(
        entries.len(),
        ANTHROPIC_FILES,
        "corpus folder anthropic changed"
    );
    let up = Upstream::start().await;
    let p = provider(&up);
    let mut checked = 0;
    for entry in &entries {
        let body = read(&corpus, &entry.file);
        let file = &entry.file;
        if let Some(want) = &entry.error {
            up.push(replay(entry, &body, 0));
            let err = answer(entry, &p).await.unwrap_err();
            let kind = match (want.error_type.as_deref(), want.message.as_str()) {
                (Some("authentication_error"), _) => ErrorKind::Auth,
                (Some("invalid_request_error"), m) if m.starts_with("prompt is too long") => {
                    ErrorKind::ContextLengthExceeded
                }
                other => panic!("{file}: no expectation for error {other:?}"),
            };
            assert_eq!(err.kind(), kind, "{file}: {err}");
            assert_eq!(err.status(), Some(want.status), "{file}");
            assert_eq!(err.provider(), Some("anthropic"), "{file}");
            assert!(
                err.message().unwrap().starts_with(&want.message),
                "{file}: {err}"
            );
            let body_id: Value = serde_json::from_slice(&body).unwrap();
            let want_id = header_request_id(entry)
                .or_else(|| body_id["request_id"].as_str().map(str::to_owned));
            assert_eq!(err.request_id().map(str::to_owned), want_id, "{file}");
            assert!(!err.is_retryable(), "{file}");
        } else {
            let splits: &[usize] = if file.ends_with(".sse") {
                &[0, 7, 64]
            } else {
                &[0]
            };
            for &split in splits {
                up.push(replay(entry, &body, split));
                let r = answer(entry, &p)
                    .await
                    .unwrap_or_else(|e| panic!("{file} split {split}: {e}"));
                check_answer(entry, &body, &r);
            }
        }
        checked += 1;
    }
    assert_eq!(checked, ANTHROPIC_FILES);
}

/// Every recorded (non-streamed) answer, streamed as the API would stream it, collects into
/// exactly the response the non-streaming call gives.
#[tokio::test]
async fn streamed_twins_of_recorded_answers_collect_to_the_same_response() {
    let Some(corpus) = require_corpus() else {
        return;
    };
    let up = Upstream::start().await;
    let p = provider(&up);
    let request = ChatRequest::builder("claude-haiku-4-5")
        .user("x")
        .build()
        .unwrap();
    let mut compared = 0;
    for entry in entries_for(&corpus, "anthropic") {
        if !entry.file.ends_with(".json") || entry.error.is_some() {
            continue;
        }
        let body = read(&corpus, &entry.file);
        let message: Value = serde_json::from_slice(&body).unwrap();
        up.push(Reply::body(200, "application/json", body).header("request-id", "req_twin"));
        let plain = p.chat(&request).await.unwrap();
        for fragment in [1, 5, 4096] {
            up.push(
                Reply::sse(tk::stream_message(&message, fragment)).header("request-id", "req_twin"),
            );
            let streamed = p
                .chat_stream(&request)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            assert_eq!(streamed, plain, "{} fragment {fragment}", entry.file);
        }
        compared += 1;
    }
    assert_eq!(compared, 9, "every non-streamed success file");
}

/// Builds the llmward request that should encode to a recorded request body.
fn request_from_sidecar(sidecar: &Value) -> (ChatRequest, bool) {
    let obj = sidecar.as_object().unwrap();
    let mut b = ChatRequest::builder(obj["model"].as_str().unwrap());
    let mut stream = false;
    let cache = |block: &Value| {
        block
            .get("cache_control")
            .map(|c| match c.get("ttl").and_then(Value::as_str) {
                Some("1h") => CacheBreakpoint::Long,
                _ => CacheBreakpoint::Default,
            })
    };
    for (key, value) in obj {
        match key.as_str() {
            "model" | "messages" => {}
            "max_tokens" => b = b.max_tokens(value.as_u64().unwrap() as u32),
            "stream" => stream = value.as_bool().unwrap(),
            "system" => match value {
                Value::String(s) => b = b.system(s.clone()),
                Value::Array(blocks) => {
                    for block in blocks {
                        let mut m = Message::system(block["text"].as_str().unwrap());
                        m.cache = cache(block);
                        b = b.message(m);
                    }
                }
                other => panic!("system {other}"),
            },
            "tools"
                if value
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t.get("type").is_some()) =>
            {
                // Server tools have no llmward form: they travel through `extra`.
                b = b.extra("tools", value.clone());
            }
            "tools" => {
                for t in value.as_array().unwrap() {
                    let mut tool =
                        Tool::new(t["name"].as_str().unwrap(), t["input_schema"].clone());
                    if let Some(d) = t.get("description").and_then(Value::as_str) {
                        tool = tool.description(d);
                    }
                    if let Some(c) = cache(t) {
                        tool = tool.with_cache(c);
                    }
                    b = b.tool(tool);
                }
            }
            "thinking" => {
                b = b.reasoning(Reasoning::budget(
                    value["budget_tokens"].as_u64().unwrap() as u32
                ));
            }
            "output_config" => {
                assert_eq!(value["format"]["type"], "json_schema");
                b = b.response_format(ResponseFormat::json_schema(
                    "output",
                    value["format"]["schema"].clone(),
                ));
            }
            "tool_choice" => {
                b = b.tool_choice(match value["type"].as_str().unwrap() {
                    "auto" => ToolChoice::Auto,
                    "any" => ToolChoice::Required,
                    "none" => ToolChoice::None,
                    "tool" => ToolChoice::Tool(value["name"].as_str().unwrap().into()),
                    other => panic!("tool_choice {other}"),
                });
            }
            "temperature" => b = b.temperature(value.as_f64().unwrap()),
            "top_p" => b = b.top_p(value.as_f64().unwrap()),
            "stop_sequences" => {
                for s in value.as_array().unwrap() {
                    b = b.stop(s.as_str().unwrap());
                }
            }
            other => panic!("sidecar field {other} has no llmward mapping in this test"),
        }
    }
    for m in obj["messages"].as_array().unwrap() {
        let role = match m["role"].as_str().unwrap() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => panic!("role {other}"),
        };
        let blocks = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(a) => a.clone(),
            other => panic!("content {other}"),
        };
        let mut parts = Vec::new();
        let mut results = Vec::new();
        let mut mark = None;
        for block in &blocks {
            mark = cache(block);
            match block["type"].as_str().unwrap() {
                "text" => parts.push(ContentPart::Text(block["text"].as_str().unwrap().into())),
                "image" => {
                    let s = &block["source"];
                    parts.push(ContentPart::Image(match s["type"].as_str().unwrap() {
                        "url" => Image::url(s["url"].as_str().unwrap()),
                        _ => Image::base64(
                            s["media_type"].as_str().unwrap(),
                            s["data"].as_str().unwrap(),
                        ),
                    }));
                }
                "tool_use" => parts.push(ContentPart::ToolCall(ToolCall::new(
                    block["id"].as_str().unwrap(),
                    block["name"].as_str().unwrap(),
                    block["input"].clone(),
                ))),
                "tool_result" => {
                    let text: String = match &block["content"] {
                        Value::String(s) => s.clone(),
                        Value::Array(items) => {
                            items.iter().filter_map(|i| i["text"].as_str()).collect()
                        }
                        _ => String::new(),
                    };
                    let mut r = ToolResult::new(block["tool_use_id"].as_str().unwrap(), text);
                    if block["is_error"] == true {
                        r = r.error();
                    }
                    results.push(ContentPart::ToolResult(r));
                }
                other => panic!("block type {other} has no mapping in this test"),
            }
        }
        if !results.is_empty() {
            b = b.message(Message::new(Role::Tool, results));
        }
        if !parts.is_empty() {
            let mut msg = Message::new(role, parts);
            msg.cache = mark;
            b = b.message(msg);
        }
    }
    (b.build().unwrap(), stream)
}

/// Same meaning, one spelling: a system string is one text block; `stream: false` is absent.
fn normalize(mut body: Value) -> Value {
    let obj = body.as_object_mut().unwrap();
    if obj.get("stream") == Some(&Value::Bool(false)) {
        obj.remove("stream");
    }
    if let Some(Value::String(s)) = obj.get("system") {
        let blocks = json!([{"type": "text", "text": s}]);
        obj.insert("system".into(), blocks);
    }
    body
}

#[tokio::test]
async fn encoded_requests_match_the_bodies_the_live_api_accepted() {
    let Some(corpus) = require_corpus() else {
        return;
    };
    let dir = corpus.join("_sidecars").join("anthropic");
    let up = Upstream::start().await;
    let p = provider(&up);
    let mut compared = 0;
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".request.json"))
        .collect();
    names.sort();
    for name in &names {
        let sidecar: Value =
            serde_json::from_slice(&fs::read(Path::new(&dir).join(name)).unwrap()).unwrap();
        let (request, stream) = request_from_sidecar(&sidecar);
        up.clear_requests();
        if stream {
            up.push(Reply::sse(tk::stream_text("m", &["ok"])));
            p.chat_stream(&request)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
        } else {
            up.push(Reply::json(200, tk::message("m", "ok")));
            p.chat(&request).await.unwrap();
        }
        let sent = up.requests().pop().unwrap();
        assert_eq!(sent.path, "/v1/messages", "{name}");
        assert_eq!(
            sent.header("anthropic-version"),
            Some("2023-06-01"),
            "{name}"
        );
        assert_eq!(normalize(sent.json()), normalize(sidecar.clone()), "{name}");
        compared += 1;
    }
    assert_eq!(
        compared, ANTHROPIC_FILES,
        "one request sidecar per corpus file"
    );
}
