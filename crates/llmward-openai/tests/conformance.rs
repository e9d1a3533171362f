//! Every recorded Chat Completions response in the conformance corpus (OpenAI, Azure, and the
//! compatible servers), replayed byte for byte through a loopback upstream and the real
//! client path, must parse to what SOURCES.md says, in llmward's unified terms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use llmward_core::{ApiKey, ChatRequest, EmbedRequest, ErrorKind, Provider};
use llmward_openai::OpenAi;
use llmward_testkit::conformance::{self, Entry};
use llmward_testkit::{Reply, Upstream};
use serde_json::Value;

const FOLDERS: [&str; 9] = [
    "openai",
    "azure",
    "openai_compat",
    "deepseek",
    "groq",
    "mistral",
    "ollama",
    "openrouter",
    "xai",
];

/// The kind each recorded error must map to (DESIGN.md's mapping rules).
fn expected_kind(file: &str) -> ErrorKind {
    match file {
        "openai/error_401_invalid_api_key.json"
        | "azure/error_401.json"
        | "mistral/error_401.json"
        | "deepseek/error_401.json"
        | "xai/error_400_bad_api_key.json"
        | "ollama/cloud_error_401.json"
        | "openrouter/error_401.json" => ErrorKind::Auth,
        // Larger than the per-minute limit: waiting does not help.
        "openai/error_429_request_too_large_tpm.json" => ErrorKind::QuotaExceeded,
        "openai/error_400_unsupported_system_role.json" => ErrorKind::InvalidRequest,
        "azure/error_429_rate_limit.json" | "openrouter/error_429_upstream_rate_limited.json" => {
            ErrorKind::RateLimited
        }
        "deepseek/error_400_context_length.json"
        | "ollama/cloud_error_400_context_length.json"
        | "openrouter/error_400_context_length.json" => ErrorKind::ContextLengthExceeded,
        "groq/error_400_tool_use_failed.json" | "groq/stream_midstream_error_event_http200.sse" => {
            ErrorKind::ModelOutput
        }
        "groq/error_404_model_not_found.json" => ErrorKind::NotFound,
        // An error object inside a 200 stream maps by its own code (400).
        "openrouter/stream_processing_comments_reasoning_midstream_error.sse" => {
            ErrorKind::InvalidRequest
        }
        other => panic!("no expected kind for {other}"),
    }
}

fn reply_for(corpus: &Path, entry: &Entry) -> Reply {
    let bytes = conformance::read(corpus, &entry.file);
    let status = entry.status.unwrap_or(200);
    let mut reply = if entry.file.ends_with(".sse") {
        // Odd-sized chunks put boundaries inside lines, CRLFs and UTF-8 sequences.
        Reply::sse_bytes(
            bytes
                .chunks(61)
                .map(bytes::Bytes::copy_from_slice)
                .collect(),
        )
    } else {
        Reply::body(status, "application/json", bytes)
    };
    for (name, value) in conformance::headers(entry) {
        if matches!(
            name.as_str(),
            "content-length"
                | "transfer-encoding"
                | "connection"
                | "content-encoding"
                | "content-type"
        ) {
            continue;
        }
        reply = reply.header(&name, &value);
    }
    reply
}

fn unified_usage(entry: &Entry) -> Option<llmward_core::Usage> {
    if entry.usage.is_empty() {
        return None;
    }
    let get = |k: &str| entry.usage.get(k).copied().unwrap_or(0);
    let reasoning = get("reasoning");
    // xAI reports reasoning outside completion_tokens; unified output includes it.
    let output = if entry.file.starts_with("xai/") {
        get("output") + reasoning
    } else {
        get("output")
    };
    let cached = entry
        .usage
        .get("cached_input")
        .or_else(|| {
            entry
                .usage
                .get("cached_input(deepseek prompt_cache_hit_tokens)")
        })
        .copied()
        .unwrap_or(0);
    Some(
        llmward_core::Usage::new(get("input"), output)
            .with_cached_input(cached)
            .with_reasoning(reasoning),
    )
}

fn check_response(entry: &Entry, r: &llmward_core::ChatResponse) {
    let file = &entry.file;
    match &entry.text {
        Some(expected) => expected
            .check(&r.text())
            .unwrap_or_else(|e| panic!("{file}: text: {e}")),
        None => assert_eq!(r.text(), "", "{file}: text"),
    }
    match &entry.reasoning {
        Some(expected) => expected
            .check(&r.reasoning().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{file}: reasoning: {e}")),
        None => {
            // SOURCES.md leaves out reasoning for some files that carry it; only check it
            // when stated.
        }
    }
    let calls = r.tool_calls();
    assert_eq!(calls.len(), entry.tool_calls.len(), "{file}: tool calls");
    for (got, want) in calls.iter().zip(&entry.tool_calls) {
        assert_eq!(got.name, want.name, "{file}");
        assert_eq!(got.arguments, want.arguments, "{file}: arguments");
        if let Some(id) = &want.id {
            assert_eq!(&got.id, id, "{file}: id");
        }
    }
    if let Some(finish) = &entry.finish {
        assert_eq!(r.finish_reason.as_str(), finish, "{file}: finish");
    }
    assert_eq!(r.usage, unified_usage(entry), "{file}: usage");
}

fn provider(upstream: &Upstream) -> OpenAi {
    OpenAi::compatible(format!("{}/v1", upstream.url()))
        .api_key(ApiKey::new("sk-conformance-test-key".into()).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn recorded_responses_parse_as_sources_md_says() {
    let Some(corpus) = conformance::require_corpus() else {
        return;
    };
    let upstream = Upstream::start().await;
    let openai = provider(&upstream);
    let mut checked = 0;
    for folder in FOLDERS {
        for entry in conformance::entries_for(&corpus, folder) {
            let file = entry.file.clone();
            upstream.push(reply_for(&corpus, &entry));
            let request = ChatRequest::builder("test-model")
                .user("hi")
                .deadline(Duration::from_secs(10))
                .build()
                .unwrap();
            if file.contains("embeddings") {
                let r = openai
                    .embed(&EmbedRequest::new(
                        "text-embedding-3-small",
                        vec!["x".into()],
                    ))
                    .await
                    .unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(r.vectors.len(), 1, "{file}");
                assert_eq!(r.vectors[0].len(), 768, "{file}");
                assert_eq!(
                    r.usage.unwrap().input_tokens,
                    entry.usage["input"],
                    "{file}"
                );
                checked += 1;
                continue;
            }
            let result = if file.ends_with(".sse") {
                match openai.chat_stream(&request).await {
                    Ok(stream) => stream.collect().await,
                    Err(e) => Err(e),
                }
            } else {
                openai.chat(&request).await
            };
            if let Some(expected) = &entry.error {
                let err = result.expect_err(&file);
                assert_eq!(err.kind(), expected_kind(&file), "{file}: {err}");
                let want_status = expected.status;
                if want_status != 200 {
                    assert_eq!(err.status(), Some(want_status), "{file}");
                }
                if file == "azure/error_429_rate_limit.json" {
                    // retry-after-ms: 0 wins over Retry-After: 1.
                    assert_eq!(err.retry_after(), Some(Duration::ZERO), "{file}");
                }
            } else {
                let r = result.unwrap_or_else(|e| panic!("{file}: {e}"));
                check_response(&entry, &r);
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "only {checked} corpus files checked");
    eprintln!("conformance: {checked} Chat Completions recordings checked");
}

/// Requests llmward encodes for the recorded conversations use only fields, with the same
/// meaning, that the live API accepted in the recorded request bodies.
#[tokio::test]
async fn request_shapes_match_recorded_requests() {
    let Some(corpus) = conformance::require_corpus() else {
        return;
    };
    let upstream = Upstream::start().await;
    upstream.set_handler(llmward_testkit::openai::handler());
    let openai = OpenAi::builder()
        .base_url(format!("{}/v1", upstream.url()))
        .api_key(ApiKey::new("sk-shape".into()).unwrap())
        .build()
        .unwrap();
    let accepted = |file: &str| -> Value {
        let path = corpus.join("_sidecars").join(file);
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    };

    // The tool-result turn: assistant tool call with "" content, then a tool message.
    let recorded = accepted("openai/chat_text_after_tool_result.request.json");
    let call = &recorded["messages"][1]["tool_calls"][0];
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    let tool = &recorded["tools"][0]["function"];
    let request = ChatRequest::builder("gpt-5-nano")
        .user(recorded["messages"][0]["content"].as_str().unwrap())
        .message(llmward_core::Message::new(
            llmward_core::Role::Assistant,
            vec![llmward_core::ContentPart::ToolCall(
                llmward_core::ToolCall::new(
                    call["id"].as_str().unwrap(),
                    call["function"]["name"].as_str().unwrap(),
                    args,
                ),
            )],
        ))
        .message(llmward_core::Message::tool_result(
            llmward_core::ToolResult::new(
                recorded["messages"][2]["tool_call_id"].as_str().unwrap(),
                recorded["messages"][2]["content"].as_str().unwrap(),
            ),
        ))
        .tool(
            llmward_core::Tool::new(tool["name"].as_str().unwrap(), tool["parameters"].clone())
                .description(tool["description"].as_str().unwrap()),
        )
        .build()
        .unwrap();
    openai.chat(&request).await.unwrap();
    let sent = upstream.requests().pop().unwrap().json();
    assert_eq!(sent["messages"], recorded["messages"]);
    assert_eq!(sent["tools"][0]["function"]["name"], tool["name"]);
    assert_eq!(
        sent["tools"][0]["function"]["parameters"],
        tool["parameters"]
    );
    subset_of_accepted(&sent, &recorded, "chat_text_after_tool_result");

    // Structured output: the response_format the API accepted.
    let recorded = accepted("openai/chat_structured_output_json_schema.request.json");
    let format = &recorded["response_format"]["json_schema"];
    let request = ChatRequest::builder("gpt-5-nano")
        .user(recorded["messages"][0]["content"].as_str().unwrap())
        .response_format(llmward_core::ResponseFormat::JsonSchema {
            name: format["name"].as_str().unwrap().into(),
            schema: format["schema"].clone(),
            strict: format["strict"].as_bool().unwrap(),
        })
        .build()
        .unwrap();
    openai.chat(&request).await.unwrap();
    let sent = upstream.requests().pop().unwrap().json();
    assert_eq!(sent["response_format"], recorded["response_format"]);
    subset_of_accepted(&sent, &recorded, "structured output");

    // Streaming: stream + stream_options as recorded.
    let recorded = accepted("openai/stream_text_include_usage.request.json");
    let request = ChatRequest::builder("gpt-5-nano")
        .user(recorded["messages"][0]["content"].as_str().unwrap())
        .build()
        .unwrap();
    openai
        .chat_stream(&request)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let sent = upstream.requests().pop().unwrap().json();
    assert_eq!(sent["stream"], recorded["stream"]);
    assert_eq!(sent["stream_options"], recorded["stream_options"]);
    assert_eq!(sent["messages"], recorded["messages"]);

    // Embeddings with dimensions.
    let recorded = accepted("openai/embeddings_text-embedding-3-small.request.json");
    let input = match &recorded["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
        other => panic!("{other}"),
    };
    let mut req = EmbedRequest::new(recorded["model"].as_str().unwrap(), input);
    if let Some(d) = recorded["dimensions"].as_u64() {
        req = req.dimensions(d as u32);
    }
    openai.embed(&req).await.unwrap();
    let sent = upstream.requests().pop().unwrap().json();
    assert_eq!(sent["dimensions"], recorded["dimensions"]);
    assert_eq!(sent["model"], recorded["model"]);
}

/// Every top-level field llmward sent appears in the accepted request (llmward-only extras
/// named here are allowed).
fn subset_of_accepted(sent: &Value, accepted: &Value, what: &str) {
    for key in sent.as_object().unwrap().keys() {
        assert!(
            accepted.get(key).is_some(),
            "{what}: llmward sent `{key}`, which the recorded accepted request does not have"
        );
    }
}
