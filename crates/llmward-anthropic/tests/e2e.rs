//! The provider end to end against a loopback upstream speaking Anthropic's wire format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use llmward_anthropic::Anthropic;
use llmward_core::{
    ApiKey, CacheBreakpoint, ChatRequest, ChatResponse, ContentPart, EmbedRequest, ErrorKind,
    FinishReason, HttpOptions, Image, Message, Provider, Reasoning, ReasoningEffort, ReasoningPart,
    ResponseFormat, Role, RotatingKey, StreamEvent, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use llmward_testkit::{Recorded, Reply, Upstream, anthropic as tk};
use serde_json::{Value, json};

const KEY: &str = "sk-ant-api03-e2e-key-0123456789";
const CANARY: &str = "sk-ant-api03-CANARY-9f8e7d6c5b4a39281706";
const MODEL: &str = "claude-haiku-4-5";

fn provider_with(up: &Upstream, key: &str) -> Anthropic {
    Anthropic::builder()
        .api_key(ApiKey::new(key.into()).unwrap())
        .base_url(up.url())
        .build()
        .unwrap()
}

fn provider(up: &Upstream) -> Anthropic {
    provider_with(up, KEY)
}

fn hello() -> ChatRequest {
    ChatRequest::builder(MODEL).user("Hello").build().unwrap()
}

fn only_request(up: &Upstream) -> Recorded {
    let mut all = up.requests();
    assert_eq!(all.len(), 1, "{all:?}");
    all.pop().unwrap()
}

async fn events(p: &Anthropic, r: &ChatRequest) -> Vec<StreamEvent> {
    let mut s = p.chat_stream(r).await.unwrap();
    let mut out = Vec::new();
    while let Some(e) = s.next().await {
        out.push(e.unwrap());
    }
    out
}

#[tokio::test]
async fn chat_sends_the_messages_request_and_reads_the_answer() {
    let up = Upstream::start().await;
    up.set_handler(tk::handler());
    let p = provider(&up);
    let r = p.chat(&hello()).await.unwrap();
    assert_eq!(r.text(), "Hello from testkit");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.raw_finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(r.usage, Some(Usage::new(10, 5)));
    assert_eq!(r.provider, "anthropic");
    assert_eq!(r.model, MODEL);
    assert!(r.id.as_deref().unwrap().starts_with("msg_testkit_"));
    assert!(r.request_id.as_deref().unwrap().starts_with("req_testkit_"));

    let sent = only_request(&up);
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("anthropic-beta"), None);
    assert_eq!(
        sent.json(),
        json!({
            "model": MODEL,
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        })
    );
}

#[tokio::test]
async fn the_key_travels_only_in_x_api_key() {
    let up = Upstream::start().await;
    up.set_handler(tk::handler());
    let p = provider(&up);
    p.chat(&hello()).await.unwrap();
    p.chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    for sent in up.requests() {
        assert_eq!(sent.header("x-api-key"), Some(KEY));
        assert_eq!(sent.header("authorization"), None);
        let carrying: Vec<&str> = sent
            .headers
            .iter()
            .filter(|(_, v)| v.contains("e2e-key"))
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(carrying, ["x-api-key"]);
        assert!(!sent.path.contains("e2e-key"));
        assert!(!String::from_utf8_lossy(&sent.body).contains("e2e-key"));
    }
}

#[tokio::test]
async fn stream_collects_into_the_non_streaming_answer() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let body = tk::message(MODEL, "Hello, wörld — from a stream");
    up.push(Reply::json(200, body.clone()).header("request-id", "req_1"));
    let plain = p.chat(&hello()).await.unwrap();
    for fragment in [1, 3, 1000] {
        up.push(Reply::sse(tk::stream_message(&body, fragment)).header("request-id", "req_1"));
        let streamed = p
            .chat_stream(&hello())
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(streamed, plain, "fragment {fragment}");
    }
    let sent = up.requests().pop().unwrap();
    assert_eq!(sent.json()["stream"], true);
    assert_eq!(sent.header("accept"), Some("text/event-stream"));

    up.push(Reply::sse(tk::stream_text(MODEL, &["Hel", "lo"])));
    let ev = events(&p, &hello()).await;
    assert!(
        matches!(&ev[0], StreamEvent::Started { id: Some(id), model: Some(m) }
        if id.starts_with("msg_") && m == MODEL)
    );
    assert_eq!(ev[1], StreamEvent::TextDelta("Hel".into()));
    assert_eq!(ev[2], StreamEvent::TextDelta("lo".into()));
    assert_eq!(
        ev[3],
        StreamEvent::Finish {
            reason: FinishReason::Stop,
            raw: Some("end_turn".into())
        }
    );
    // message_start's input with message_delta's output, once: never summed.
    assert_eq!(ev[4], StreamEvent::Usage(Usage::new(10, 2)));
    assert_eq!(ev.len(), 5);
}

#[tokio::test]
async fn tools_are_declared_and_calls_come_back() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let args = json!({"latitude": "52.5200", "longitude": "13.4050"});
    let body = tk::tool_use_message(MODEL, &[("toolu_01A", "weather", args.clone())]);
    up.push(Reply::json(200, body.clone()));
    let request = ChatRequest::builder(MODEL)
        .user("Weather in Berlin?")
        .tool(
            Tool::new(
                "weather",
                json!({"type": "object", "properties": {"latitude": {"type": "string"}}}),
            )
            .description("Gets the weather"),
        )
        .tool_choice(ToolChoice::Required)
        .build()
        .unwrap();
    let r = p.chat(&request).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        r.tool_calls(),
        vec![&ToolCall::new("toolu_01A", "weather", args.clone())]
    );
    let sent = only_request(&up).json();
    assert_eq!(
        sent["tools"],
        json!([{"name": "weather", "description": "Gets the weather",
                "input_schema": {"type": "object", "properties": {"latitude": {"type": "string"}}}}])
    );
    assert_eq!(sent["tool_choice"], json!({"type": "any"}));

    up.push(Reply::sse(tk::stream_message(&body, 5)));
    let streamed = p
        .chat_stream(&request)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(streamed, r);
}

#[tokio::test]
async fn parallel_tool_calls_are_indexed_in_order() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let calls = [
        ("toolu_1", "weather", json!({"city": "Berlin"})),
        ("toolu_2", "best_language_to_learn", json!({})),
        ("toolu_3", "weather", json!({"city": "Zürich"})),
    ];
    up.push(Reply::sse(tk::stream_tool_use(MODEL, &calls, 4)));
    let request = ChatRequest::builder(MODEL)
        .user("x")
        .tool(Tool::new("weather", json!({"type": "object"})))
        .tool(Tool::new("best_language_to_learn", json!({})))
        .parallel_tool_calls(false)
        .build()
        .unwrap();
    let ev = events(&p, &request).await;
    let starts: Vec<usize> = ev
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(starts, [0, 1, 2]);
    assert_eq!(
        only_request(&up).json()["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );

    up.push(Reply::sse(tk::stream_tool_use(MODEL, &calls, 4)));
    let r = p
        .chat_stream(&request)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let got: Vec<(&str, &str, &Value)> = r
        .tool_calls()
        .into_iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), &c.arguments))
        .collect();
    let want: Vec<(&str, &str, &Value)> = calls.iter().map(|(i, n, a)| (*i, *n, a)).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn tool_results_round_trip_including_foreign_ids() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let args = json!({"city": "Berlin"});
    up.push(Reply::json(
        200,
        tk::tool_use_message(MODEL, &[("toolu_01X", "weather", args.clone())]),
    ));
    let first = ChatRequest::builder(MODEL)
        .user("Weather?")
        .tool(Tool::new("weather", json!({"type": "object"})))
        .build()
        .unwrap();
    let answer = p.chat(&first).await.unwrap();

    // The previous turn came from OpenAI (an id Anthropic would reject), then Anthropic's own.
    let openai_call = ToolCall::new("call_9:abc.def", "weather", json!({"city": "Paris"}));
    let history = ChatRequest::builder(MODEL)
        .user("Weather in Paris?")
        .message(Message::new(
            Role::Assistant,
            vec![ContentPart::ToolCall(openai_call)],
        ))
        .message(Message::tool_result(
            ToolResult::new("call_9:abc.def", "rain").with_name("weather"),
        ))
        .user("And Berlin?")
        .message(answer.to_message())
        .message(Message::tool_result(
            ToolResult::new("toolu_01X", "boom").error(),
        ))
        .tool(Tool::new("weather", json!({"type": "object"})))
        .build()
        .unwrap();
    up.clear_requests();
    up.push(Reply::json(200, tk::message(MODEL, "Rain, and an error.")));
    let r = p.chat(&history).await.unwrap();
    assert_eq!(r.text(), "Rain, and an error.");
    let sent = only_request(&up).json();
    let msgs = sent["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 5);
    let foreign_id = msgs[1]["content"][0]["id"].as_str().unwrap();
    assert!(
        foreign_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{foreign_id}"
    );
    assert_eq!(msgs[2]["content"][0]["tool_use_id"], foreign_id);
    assert_eq!(
        msgs[2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": foreign_id,
             "content": [{"type": "text", "text": "rain"}]},
            {"type": "text", "text": "And Berlin?"}]})
    );
    assert_eq!(
        msgs[3],
        json!({"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01X", "name": "weather", "input": args}]})
    );
    assert_eq!(
        msgs[4],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01X",
             "content": [{"type": "text", "text": "boom"}], "is_error": true}]})
    );
}

#[tokio::test]
async fn json_schema_output_and_no_json_object_mode() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}},
                        "required": ["name"], "additionalProperties": false});
    up.push(Reply::json(200, tk::message(MODEL, "{\"name\":\"John\"}")));
    let request = ChatRequest::builder(MODEL)
        .user("A person")
        .response_format(ResponseFormat::json_schema("person", schema.clone()))
        .build()
        .unwrap();
    let r = p.chat(&request).await.unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&r.text()).unwrap(),
        json!({"name": "John"})
    );
    assert_eq!(
        only_request(&up).json()["output_config"],
        json!({"format": {"type": "json_schema", "schema": schema}})
    );

    up.clear_requests();
    let request = ChatRequest::builder(MODEL)
        .user("Any JSON")
        .response_format(ResponseFormat::JsonObject)
        .build()
        .unwrap();
    let err = p.chat(&request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(err.provider(), Some("anthropic"));
    let err = p.chat_stream(&request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(up.request_count(), 0, "nothing is sent");
}

#[tokio::test]
async fn thinking_is_requested_kept_streamed_and_sent_back() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let body = tk::thinking_message(MODEL, "Let me think: 6 × 7…", "EqkSIGNATURE==", "42");
    up.push(Reply::json(200, body.clone()));
    let request = ChatRequest::builder(MODEL)
        .user("6 × 7?")
        .reasoning(Reasoning::effort(ReasoningEffort::High))
        .build()
        .unwrap();
    let r = p.chat(&request).await.unwrap();
    assert_eq!(r.text(), "42");
    assert_eq!(r.reasoning().as_deref(), Some("Let me think: 6 × 7…"));
    assert_eq!(
        r.content[0],
        ContentPart::Reasoning(ReasoningPart::Thinking {
            text: "Let me think: 6 × 7…".into(),
            signature: Some("EqkSIGNATURE==".into()),
            origin: "anthropic".into(),
        })
    );
    let usage = r.usage.unwrap();
    assert_eq!(usage.reasoning_tokens, 5);
    assert_eq!(usage.output_tokens, 6);
    let sent = only_request(&up).json();
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
    assert_eq!(sent["max_tokens"], 4096 + 16384);

    up.push(Reply::sse(tk::stream_message(&body, 3)));
    let streamed = p
        .chat_stream(&request)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(streamed, r);

    // Next turn: the signed thinking goes back first; explicit budgets are sent as given.
    up.clear_requests();
    up.push(Reply::json(200, tk::message(MODEL, "ok")));
    let next = ChatRequest::builder(MODEL)
        .user("6 × 7?")
        .message(r.to_message())
        .user("Sure?")
        .max_tokens(3000)
        .reasoning(Reasoning::budget(2048))
        .build()
        .unwrap();
    p.chat(&next).await.unwrap();
    let sent = only_request(&up).json();
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(sent["max_tokens"], 3000);
    assert_eq!(
        sent["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "Let me think: 6 × 7…", "signature": "EqkSIGNATURE=="},
            {"type": "text", "text": "42"}
        ])
    );
}

#[tokio::test]
async fn redacted_thinking_round_trips_and_foreign_reasoning_is_dropped() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let body = tk::message_with(
        MODEL,
        vec![
            json!({"type": "redacted_thinking", "data": "EqkECkYIBxgCKkA8AZ4n"}),
            json!({"type": "text", "text": "Hi."}),
        ],
        "end_turn",
        tk::usage(12, 30),
    );
    up.push(Reply::sse(tk::stream_message(&body, 2)));
    let r = p
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        r.content[0],
        ContentPart::Reasoning(ReasoningPart::Redacted {
            data: "EqkECkYIBxgCKkA8AZ4n".into(),
            origin: "anthropic".into()
        })
    );
    assert_eq!(r.reasoning(), None);

    up.clear_requests();
    up.push(Reply::json(200, tk::message(MODEL, "ok")));
    let gemini = Message::new(
        Role::Assistant,
        vec![
            ContentPart::Reasoning(ReasoningPart::Thinking {
                text: "gemini thought".into(),
                signature: Some("g-sig".into()),
                origin: "gemini".into(),
            }),
            ContentPart::Text("From Gemini.".into()),
        ],
    );
    let next = ChatRequest::builder(MODEL)
        .user("a")
        .message(gemini)
        .user("b")
        .message(r.to_message())
        .user("c")
        .build()
        .unwrap();
    p.chat(&next).await.unwrap();
    let sent = only_request(&up).json();
    assert_eq!(
        sent["messages"][1]["content"],
        json!([{"type": "text", "text": "From Gemini."}])
    );
    assert_eq!(
        sent["messages"][3]["content"],
        json!([{"type": "redacted_thinking", "data": "EqkECkYIBxgCKkA8AZ4n"},
               {"type": "text", "text": "Hi."}])
    );
}

#[tokio::test]
async fn images_cache_breakpoints_and_cache_usage() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let mut usage = tk::usage(10, 4);
    usage["cache_read_input_tokens"] = json!(7351);
    usage["cache_creation_input_tokens"] = json!(20);
    up.push(Reply::json(
        200,
        tk::message_with(
            MODEL,
            vec![json!({"type": "text", "text": "OK"})],
            "end_turn",
            usage,
        ),
    ));
    let request = ChatRequest::builder(MODEL)
        .message(Message::system("Long instructions").with_cache(CacheBreakpoint::Long))
        .message(
            Message::new(
                Role::User,
                vec![
                    ContentPart::Text("What is this?".into()),
                    ContentPart::Image(Image::base64("image/png", "iVBORw0KGgo=")),
                    ContentPart::Image(Image::url("https://example.com/cat.jpg")),
                ],
            )
            .with_cache(CacheBreakpoint::Default),
        )
        .tool(Tool::new("t", json!({"type": "object"})).with_cache(CacheBreakpoint::Default))
        .build()
        .unwrap();
    let r = p.chat(&request).await.unwrap();
    assert_eq!(
        r.usage,
        Some(
            Usage::new(10 + 7351 + 20, 4)
                .with_cached_input(7351)
                .with_cache_write(20)
        )
    );
    let sent = only_request(&up).json();
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "Long instructions",
                "cache_control": {"type": "ephemeral", "ttl": "1h"}}])
    );
    assert_eq!(
        sent["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"},
             "cache_control": {"type": "ephemeral"}},
        ])
    );
    assert_eq!(
        sent["tools"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
}

#[tokio::test]
async fn options_extra_tags_beta_and_default_max_tokens() {
    let up = Upstream::start().await;
    up.set_handler(tk::handler());
    let p = Anthropic::builder()
        .api_key(ApiKey::new(KEY.into()).unwrap())
        .base_url(format!("{}/", up.url()))
        .beta("interleaved-thinking-2025-05-14")
        .beta("context-1m-2025-08-07")
        .default_max_tokens(1234)
        .name("claude-eu")
        .build()
        .unwrap();
    let request = ChatRequest::builder(MODEL)
        .system("Be brief.")
        .user("Hi")
        .temperature(0.2)
        .top_p(0.95)
        .stop("STOP")
        .tag("tenant", "acme-secret-tenant")
        .extra("top_k", json!(40))
        .extra("metadata", json!({"user_id": "u-1"}))
        .build()
        .unwrap();
    let r = p.chat(&request).await.unwrap();
    assert_eq!(r.provider, "claude-eu");
    let sent = only_request(&up);
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(
        sent.header("anthropic-beta"),
        Some("interleaved-thinking-2025-05-14,context-1m-2025-08-07")
    );
    let body = sent.json();
    assert_eq!(body["max_tokens"], 1234);
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["top_p"], 0.95);
    assert_eq!(body["stop_sequences"], json!(["STOP"]));
    assert_eq!(body["top_k"], 40);
    assert_eq!(body["metadata"], json!({"user_id": "u-1"}));
    assert!(!String::from_utf8_lossy(&sent.body).contains("acme-secret-tenant"));
}

fn err_case(status: u16, kind: &str, message: &str) -> Reply {
    tk::error(status, kind, message)
}

#[tokio::test]
async fn every_error_kind() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let cases: Vec<(Reply, ErrorKind, u16)> = vec![
        (
            err_case(
                400,
                "invalid_request_error",
                "messages: roles must alternate",
            ),
            ErrorKind::InvalidRequest,
            400,
        ),
        (
            err_case(
                400,
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
            ),
            ErrorKind::ContextLengthExceeded,
            400,
        ),
        (
            err_case(
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API.",
            ),
            ErrorKind::QuotaExceeded,
            400,
        ),
        (
            err_case(401, "authentication_error", "invalid x-api-key"),
            ErrorKind::Auth,
            401,
        ),
        (
            err_case(402, "billing_error", "Payment required"),
            ErrorKind::QuotaExceeded,
            402,
        ),
        (
            err_case(403, "permission_error", "not allowed"),
            ErrorKind::PermissionDenied,
            403,
        ),
        (
            err_case(404, "not_found_error", "model: claude-nope"),
            ErrorKind::NotFound,
            404,
        ),
        (
            err_case(
                413,
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            ),
            ErrorKind::InvalidRequest,
            413,
        ),
        (
            err_case(
                429,
                "rate_limit_error",
                "Number of requests has exceeded your per-minute rate limit",
            )
            .header("retry-after", "3"),
            ErrorKind::RateLimited,
            429,
        ),
        (
            Reply::json(
                429,
                json!({"type": "error", "error": {"type": "rate_limit_error",
                "message": "limit reached", "details": {"error_code": "enforced_spend_limit_reached"}}}),
            ),
            ErrorKind::QuotaExceeded,
            429,
        ),
        (
            err_case(500, "api_error", "Internal server error"),
            ErrorKind::Server,
            500,
        ),
        (
            err_case(504, "timeout_error", "Request timed out"),
            ErrorKind::Timeout,
            504,
        ),
        (
            err_case(529, "overloaded_error", "Overloaded").header("retry-after", "0"),
            ErrorKind::Overloaded,
            529,
        ),
        (
            Reply::body(
                502,
                "text/html",
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            ),
            ErrorKind::Server,
            502,
        ),
        (
            Reply::body(503, "text/plain", "upstream connect error"),
            ErrorKind::Overloaded,
            503,
        ),
        (Reply::status(418), ErrorKind::InvalidRequest, 418),
    ];
    for (reply, kind, status) in cases {
        up.push(reply);
        let err = p.chat(&hello()).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{status}: {err}");
        assert_eq!(err.status(), Some(status), "{err}");
        assert_eq!(err.provider(), Some("anthropic"));
        if status == 429 && kind == ErrorKind::RateLimited {
            assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
            assert!(err.request_id().unwrap().starts_with("req_testkit_"));
        }
        if status == 529 {
            assert_eq!(err.retry_after(), Some(Duration::ZERO));
        }
        if status == 502 {
            assert!(!err.to_string().contains("html"), "{err}");
        }
    }
    // Errors before a stream starts come back from chat_stream itself.
    up.push(err_case(529, "overloaded_error", "Overloaded"));
    let err = p.chat_stream(&hello()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overloaded);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_200_that_is_not_a_message_is_a_protocol_error() {
    let up = Upstream::start().await;
    let p = provider(&up);
    for body in ["", "<html>hi</html>", "{\"content\": 5}"] {
        up.push(Reply::body(200, "application/json", body).header("request-id", "req_p"));
        let err = p.chat(&hello()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{body:?}");
        assert_eq!(err.request_id(), Some("req_p"));
    }
    up.push(Reply::json(
        200,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ));
    assert_eq!(
        p.chat(&hello()).await.unwrap_err().kind(),
        ErrorKind::Overloaded
    );
}

#[tokio::test]
async fn a_stream_without_message_stop_is_truncated() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let mut events = tk::stream_text(MODEL, &["Hello", " there"]);
    assert!(events.pop().unwrap().contains("message_stop"));
    up.push(Reply::sse(events.clone()));
    let err = p
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamTruncated);
    assert_eq!(err.provider(), Some("anthropic"));

    // The connection dies mid-answer.
    up.push(Reply::sse(tk::stream_text(MODEL, &["a", "b", "c", "d"])).reset_after(4));
    let mut s = p.chat_stream(&hello()).await.unwrap();
    let mut text = String::new();
    let err = loop {
        match s.next().await.unwrap() {
            Ok(StreamEvent::TextDelta(t)) => text.push_str(&t),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::StreamTruncated, "{err}");
    assert!(text.len() <= 2, "{text}");
}

#[tokio::test]
async fn an_error_event_mid_stream_maps_by_its_type() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let mut events = tk::stream_text(MODEL, &["Partial"]);
    events.truncate(4);
    events.push(tk::stream_error("overloaded_error", "Overloaded"));
    up.push(Reply::sse(events).header("request-id", "req_mid"));
    let mut s = p.chat_stream(&hello()).await.unwrap();
    let mut got = Vec::new();
    let err = loop {
        match s.next().await.unwrap() {
            Ok(e) => got.push(e),
            Err(e) => break e,
        }
    };
    assert!(got.contains(&StreamEvent::TextDelta("Partial".into())));
    assert_eq!(err.kind(), ErrorKind::Overloaded);
    assert!(err.is_retryable());
    assert!(err.request_id().is_some());
    assert!(s.next().await.is_none(), "nothing after the error");

    let mut events = tk::stream_text(MODEL, &["x"]);
    events.truncate(2);
    events.push(tk::stream_error("api_error", "Internal server error"));
    up.push(Reply::sse(events));
    let err = p
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let up = Upstream::start().await;
    let elsewhere = Upstream::start().await;
    elsewhere.set_handler(tk::handler());
    let p = provider(&up);
    up.push(Reply::redirect(
        307,
        &format!("{}/v1/messages", elsewhere.url()),
    ));
    let err = p.chat(&hello()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirected);
    assert_eq!(err.status(), Some(307));
    assert!(!err.to_string().contains(&elsewhere.url()));
    assert_eq!(up.request_count(), 1);
    assert_eq!(elsewhere.request_count(), 0);
}

#[tokio::test]
async fn a_canary_key_never_appears_in_errors() {
    let up = Upstream::start().await;
    let p = provider_with(&up, CANARY);
    let echo = format!("invalid x-api-key: {CANARY} (also {})", &CANARY[14..]);
    let mut shown = String::new();
    up.push(tk::error(401, "authentication_error", &echo));
    let err = p.chat(&hello()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    shown.push_str(&format!("{err} {err:?}"));

    let mut events = tk::stream_text(MODEL, &["x"]);
    events.truncate(2);
    events.push(tk::stream_error("api_error", &echo));
    up.push(Reply::sse(events));
    let err = p
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    shown.push_str(&format!("{err} {err:?}"));

    up.push(Reply::body(400, "text/plain", echo.clone()));
    let err = p.chat(&hello()).await.unwrap_err();
    shown.push_str(&format!("{err} {err:?} {p:?}"));
    assert!(!shown.contains("CANARY"), "{shown}");
    assert!(!shown.contains("9f8e7d6c"), "{shown}");
}

#[tokio::test]
async fn keys_rotate_between_requests() {
    let up = Upstream::start().await;
    up.set_handler(tk::handler());
    let source = RotatingKey::new(ApiKey::new("sk-ant-first".into()).unwrap().with_label("v1"));
    let p = Anthropic::builder()
        .key_source(Arc::new(source.clone()))
        .base_url(up.url())
        .build()
        .unwrap();
    assert_eq!(p.key_label().as_deref(), Some("v1"));
    p.chat(&hello()).await.unwrap();
    source.rotate(
        ApiKey::new("sk-ant-second".into())
            .unwrap()
            .with_label("v2"),
    );
    assert_eq!(p.key_label().as_deref(), Some("v2"));
    p.chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let keys: Vec<String> = up
        .requests()
        .iter()
        .map(|r| r.header("x-api-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["sk-ant-first", "sk-ant-second"]);
}

#[tokio::test]
async fn the_deadline_bounds_the_call() {
    let up = Upstream::start().await;
    let p = provider(&up);
    up.push(Reply::json(200, tk::message(MODEL, "late")).delay(Duration::from_secs(5)));
    let request = ChatRequest::builder(MODEL)
        .user("x")
        .deadline(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = p.chat(&request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn embeddings_are_unsupported_and_config_is_checked() {
    let up = Upstream::start().await;
    let p = provider(&up);
    let err = p
        .embed(&EmbedRequest::new("any", vec!["x".into()]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(up.request_count(), 0);

    let err = Anthropic::builder().base_url(up.url()).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let err = Anthropic::builder()
        .api_key(ApiKey::new(KEY.into()).unwrap())
        .base_url("http://api.anthropic.com")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    Anthropic::builder()
        .api_key(ApiKey::new(KEY.into()).unwrap())
        .http(HttpOptions::new().danger_allow_http_host("llm.internal"))
        .base_url("http://llm.internal:8080")
        .build()
        .unwrap();
}

#[tokio::test]
async fn the_testkit_handler_speaks_like_the_api() {
    let up = Upstream::start().await;
    up.set_handler(tk::handler());
    let p = provider(&up);
    let plain: ChatResponse = p.chat(&hello()).await.unwrap();
    let streamed = p
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(streamed.text(), plain.text());
    assert_eq!(streamed.usage, plain.usage);
    assert_eq!(streamed.finish_reason, plain.finish_reason);
    assert_eq!(streamed.model, plain.model);
}
