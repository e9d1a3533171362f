//! The Gemini provider end to end against a loopback upstream speaking Gemini's wire format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{KEY, gemini, gemini_with, merge_chunks, sse_chunks};
use llmward_core::{
    ApiKey, ChatRequest, ContentPart, EmbedRequest, ErrorKind, FinishReason, HttpOptions, Image,
    Message, Provider, Reasoning, ReasoningEffort, ReasoningPart, ResponseFormat, Role,
    RotatingKey, Signature, StreamEvent, Tool, ToolChoice, ToolResult, Usage,
};
use llmward_gemini::Gemini;
use llmward_testkit::{Reply, Upstream, gemini as wire};
use serde_json::{Value, json};

const MODEL: &str = "gemini-2.5-flash";

fn ask(text: &str) -> ChatRequest {
    ChatRequest::builder(MODEL).user(text).build().unwrap()
}

fn weather_tool() -> Tool {
    Tool::new(
        "weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
    .description("Current weather")
}

/// The stream's events and the collected answer of `chunks`, and the answer of the same
/// chunks sent whole; the two answers must be equal.
async fn stream_and_whole(chunks: Vec<String>) -> (Vec<StreamEvent>, llmward_core::ChatResponse) {
    let upstream = Upstream::start().await;
    let whole = merge_chunks(&sse_chunks(chunks.concat().as_bytes()));
    upstream.push(Reply::sse(chunks.clone()));
    upstream.push(Reply::sse(chunks));
    upstream.push(Reply::json(200, whole));
    let g = gemini(&upstream);
    let mut stream = g.chat_stream(&ask("q")).await.unwrap();
    let mut events = Vec::new();
    while let Some(e) = stream.next().await {
        events.push(e.unwrap());
    }
    let collected = g
        .chat_stream(&ask("q"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let single = g.chat(&ask("q")).await.unwrap();
    assert_eq!(collected, single);
    (events, single)
}

#[tokio::test]
async fn chat_sends_the_key_only_in_its_header() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let g = gemini(&upstream);
    let r = g.chat(&ask("hi")).await.unwrap();
    assert_eq!(r.text(), "Hello from testkit");
    assert_eq!(r.provider, "gemini");
    assert_eq!(r.model, MODEL);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(r.raw_finish_reason.as_deref(), Some("STOP"));
    assert!(
        r.id.as_deref()
            .is_some_and(|id| id.starts_with("testkit-gemini-"))
    );
    assert_eq!(r.usage, Some(Usage::new(10, 5)));
    assert_eq!(g.key_label().as_deref(), Some("test-key"));

    let rec = &upstream.requests()[0];
    assert_eq!(rec.method, "POST");
    assert_eq!(rec.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(rec.header("x-goog-api-key"), Some(KEY));
    assert_eq!(
        rec.header("authorization"),
        None,
        "the API key is the only auth"
    );
    assert_eq!(rec.header("content-type"), Some("application/json"));
    assert!(!rec.path.contains("key=") && !rec.path.contains(KEY));
    assert_eq!(
        rec.json(),
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    );
}

#[tokio::test]
async fn model_names_with_and_without_prefix_and_unsafe_ones() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let g = gemini(&upstream);
    let req = ChatRequest::builder("models/gemini-2.5-flash")
        .user("x")
        .build()
        .unwrap();
    g.chat(&req).await.unwrap();
    assert_eq!(
        upstream.requests()[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    for bad in ["../files", "gemini?key=x", "a b", "x#y"] {
        let req = ChatRequest::builder(bad).user("x").build().unwrap();
        let err = g.chat(&req).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{bad}");
        assert_eq!(err.provider(), Some("gemini"));
    }
    assert_eq!(
        upstream.request_count(),
        1,
        "nothing sent for a bad model name"
    );
}

#[tokio::test]
async fn stream_text_events_and_equality() {
    let (events, answer) =
        stream_and_whole(wire::stream_text("gemini-x", &["Hel", "lo", " world"])).await;
    assert!(
        matches!(&events[0], StreamEvent::Started { id: Some(_), model: Some(m) } if m == "gemini-x")
    );
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Hello world");
    assert!(matches!(
        events.last(),
        Some(StreamEvent::Finish { reason: FinishReason::Stop, raw: Some(r) }) if r == "STOP"
    ));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Usage(_)))
            .count(),
        3,
        "a usage snapshot per chunk"
    );
    assert_eq!(answer.text(), "Hello world");
    assert_eq!(answer.usage, Some(Usage::new(10, 3)));
    assert_eq!(answer.model, "gemini-x");
}

#[tokio::test]
async fn stream_uses_alt_sse_and_crlf_split_anywhere() {
    let upstream = Upstream::start().await;
    let body = wire::stream_text(MODEL, &["a°", "b"]).concat();
    // One byte per chunk: CRLF pairs and the two-byte ° are split across reads.
    upstream.push(Reply::sse_bytes(
        body.as_bytes().iter().map(|b| vec![*b].into()).collect(),
    ));
    let r = gemini(&upstream)
        .chat_stream(&ask("q"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(r.text(), "a°b");
    let rec = &upstream.requests()[0];
    assert_eq!(
        rec.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(rec.header("x-goog-api-key"), Some(KEY));
}

#[tokio::test]
async fn tools_are_declared_and_calls_decoded() {
    let upstream = Upstream::start().await;
    upstream.push(Reply::json(
        200,
        wire::function_call(MODEL, &[("weather", json!({"city": "Berlin"}))]),
    ));
    let req = ChatRequest::builder(MODEL)
        .user("Weather in Berlin?")
        .tool(weather_tool())
        .tool_choice(ToolChoice::Required)
        .build()
        .unwrap();
    let r = gemini(&upstream).chat(&req).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.raw_finish_reason.as_deref(), Some("STOP"));
    let calls = r.tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "weather");
    assert_eq!(calls[0].arguments, json!({"city": "Berlin"}));
    assert!(calls[0].id.starts_with("gemini_call_0_"));
    assert_eq!(
        calls[0].signature,
        Some(Signature::new("gemini", wire::THOUGHT_SIGNATURE))
    );
    let body = upstream.requests()[0].json();
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{
            "name": "weather",
            "description": "Current weather",
            "parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }]}])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
}

#[tokio::test]
async fn parallel_tool_calls_and_their_stream() {
    let calls = [
        ("weather", json!({"city": "Berlin"})),
        ("weather", json!({"city": "Paris"})),
        ("time", json!({})),
    ];
    let (events, r) = stream_and_whole(wire::stream_function_call(MODEL, &calls)).await;
    let starts: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(starts, [0, 1, 2]);
    let got = r.tool_calls();
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].arguments, json!({"city": "Paris"}));
    assert_eq!(got[2].arguments, json!({}));
    let mut ids: Vec<&str> = got.iter().map(|c| c.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "distinct ids for identical names");
    assert!(got[0].signature.is_some() && got[1].signature.is_none());
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        r.content.len(),
        3,
        "the empty text part Gemini 3 ends with leaves nothing"
    );
}

#[tokio::test]
async fn tool_result_round_trip() {
    let upstream = Upstream::start().await;
    upstream.push(Reply::json(
        200,
        wire::function_call(MODEL, &[("weather", json!({"city": "Berlin"}))]),
    ));
    upstream.push(Reply::json(200, wire::generate(MODEL, "15°C in Berlin.")));
    let g = gemini(&upstream);
    let first = ChatRequest::builder(MODEL)
        .user("Weather in Berlin?")
        .tool(weather_tool())
        .build()
        .unwrap();
    let r1 = g.chat(&first).await.unwrap();
    let call_id = r1.tool_calls()[0].id.clone();
    let second = ChatRequest::builder(MODEL)
        .user("Weather in Berlin?")
        .message(r1.to_message())
        .message(Message::tool_result(ToolResult::new(&call_id, "15°C")))
        .tool(weather_tool())
        .build()
        .unwrap();
    let r2 = g.chat(&second).await.unwrap();
    assert_eq!(r2.text(), "15°C in Berlin.");
    let body = upstream.requests()[1].json();
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Berlin?"}]},
            {"role": "model", "parts": [{
                "functionCall": {"name": "weather", "args": {"city": "Berlin"}},
                "thoughtSignature": wire::THOUGHT_SIGNATURE
            }]},
            {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"content": "15°C"}}}]}
        ])
    );
}

#[tokio::test]
async fn history_from_other_providers_is_accepted() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let mut call = llmward_core::ToolCall::new("toolu_01abc", "weather", json!({"city": "Oslo"}));
    call.signature = Some(Signature::new("anthropic", "sig-a"));
    let req = ChatRequest::builder(MODEL)
        .user("q")
        .message(Message::new(
            Role::Assistant,
            vec![
                ContentPart::Reasoning(ReasoningPart::Thinking {
                    text: "claude thinking".into(),
                    signature: Some("sig".into()),
                    origin: "anthropic".into(),
                }),
                ContentPart::ToolCall(call),
            ],
        ))
        .message(Message::tool_result(ToolResult::new(
            "toolu_01abc",
            "{\"temp\": 3}",
        )))
        .build()
        .unwrap();
    gemini(&upstream).chat(&req).await.unwrap();
    let body = upstream.requests()[0].json();
    assert_eq!(
        body["contents"][1],
        json!({"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Oslo"}, "id": "toolu_01abc"}}]})
    );
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "weather", "response": {"temp": 3}, "id": "toolu_01abc"})
    );
}

#[tokio::test]
async fn json_schema_output() {
    let upstream = Upstream::start().await;
    upstream.push(Reply::json(
        200,
        wire::generate(MODEL, "{\"name\":\"John\",\"age\":30}"),
    ));
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}});
    let req = ChatRequest::builder(MODEL)
        .user("person")
        .response_format(ResponseFormat::json_schema("person", schema.clone()))
        .build()
        .unwrap();
    let r = gemini(&upstream).chat(&req).await.unwrap();
    let parsed: Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(parsed["age"], 30);
    let body = upstream.requests()[0].json();
    assert_eq!(
        body["generationConfig"],
        json!({"responseMimeType": "application/json", "responseJsonSchema": schema})
    );

    upstream.push(Reply::json(200, wire::generate(MODEL, "{}")));
    let req = ChatRequest::builder(MODEL)
        .user("any json")
        .response_format(ResponseFormat::JsonObject)
        .build()
        .unwrap();
    gemini(&upstream).chat(&req).await.unwrap();
    assert_eq!(
        upstream.requests()[1].json()["generationConfig"],
        json!({"responseMimeType": "application/json"})
    );
}

#[tokio::test]
async fn reasoning_request_response_and_send_back() {
    let upstream = Upstream::start().await;
    let answer = wire::response(
        "gemini-3-flash-preview",
        json!([
            {"text": "**Plan**\nthink", "thought": true},
            {"text": "42", "thoughtSignature": "SIG-TEXT"}
        ]),
        "STOP",
        wire::usage(12, 1, 30),
    );
    upstream.push(Reply::json(200, answer));
    upstream.push(Reply::json(
        200,
        wire::generate("gemini-3-flash-preview", "ok"),
    ));
    let g = gemini(&upstream);
    let req = ChatRequest::builder("gemini-3-flash-preview")
        .user("q")
        .reasoning(Reasoning::effort(ReasoningEffort::High).include_thoughts())
        .max_tokens(2048)
        .temperature(0.5)
        .top_p(0.9)
        .stop("END")
        .build()
        .unwrap();
    let r = g.chat(&req).await.unwrap();
    assert_eq!(r.reasoning().as_deref(), Some("**Plan**\nthink"));
    assert_eq!(r.text(), "42");
    assert_eq!(r.usage, Some(Usage::new(12, 31).with_reasoning(30)));
    assert_eq!(
        upstream.requests()[0].json()["generationConfig"],
        json!({
            "maxOutputTokens": 2048, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"],
            "thinkingConfig": {"thinkingLevel": "high", "includeThoughts": true}
        })
    );
    let next = ChatRequest::builder("gemini-3-flash-preview")
        .user("q")
        .message(r.to_message())
        .user("and?")
        .build()
        .unwrap();
    g.chat(&next).await.unwrap();
    assert_eq!(
        upstream.requests()[1].json()["contents"][1],
        json!({"role": "model", "parts": [
            {"text": "**Plan**\nthink", "thought": true},
            {"text": "42", "thoughtSignature": "SIG-TEXT"}
        ]})
    );
}

#[tokio::test]
async fn thinking_budget_for_gemini_2_5() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let g = gemini(&upstream);
    for (reasoning, expected) in [
        (Reasoning::budget(0), json!({"thinkingBudget": 0})),
        (
            Reasoning::effort(ReasoningEffort::Low),
            json!({"thinkingBudget": 1024}),
        ),
        (
            Reasoning::effort(ReasoningEffort::High),
            json!({"thinkingBudget": 24576}),
        ),
    ] {
        upstream.clear_requests();
        let req = ChatRequest::builder(MODEL)
            .user("q")
            .reasoning(reasoning)
            .build()
            .unwrap();
        g.chat(&req).await.unwrap();
        assert_eq!(
            upstream.requests()[0].json()["generationConfig"]["thinkingConfig"],
            expected
        );
    }
}

#[tokio::test]
async fn images_inline_files_and_unsupported_urls() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let g = gemini(&upstream);
    let req = ChatRequest::builder(MODEL)
        .message(Message::new(
            Role::User,
            vec![
                ContentPart::Text("What is this?".into()),
                ContentPart::Image(Image::base64("image/png", "iVBORw0KGgo=")),
                ContentPart::Image(Image::url("gs://bucket/cat.png")),
            ],
        ))
        .build()
        .unwrap();
    g.chat(&req).await.unwrap();
    assert_eq!(
        upstream.requests()[0].json()["contents"][0]["parts"],
        json!([
            {"text": "What is this?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/cat.png"}}
        ])
    );
    let req = ChatRequest::builder(MODEL)
        .message(Message::new(
            Role::User,
            vec![ContentPart::Image(Image::url(
                "https://example.com/cat.png",
            ))],
        ))
        .build()
        .unwrap();
    let err = g.chat(&req).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(upstream.request_count(), 1, "nothing sent, nothing fetched");
}

#[tokio::test]
async fn usage_includes_thoughts_cache_and_tool_prompts() {
    let upstream = Upstream::start().await;
    let mut body = wire::generate(MODEL, "x");
    body["usageMetadata"] = json!({
        "promptTokenCount": 1000, "cachedContentTokenCount": 800, "toolUsePromptTokenCount": 50,
        "candidatesTokenCount": 7, "thoughtsTokenCount": 93, "totalTokenCount": 1150
    });
    upstream.push(Reply::json(200, body));
    let u = gemini(&upstream)
        .chat(&ask("q"))
        .await
        .unwrap()
        .usage
        .unwrap();
    assert_eq!(
        u,
        Usage::new(1050, 100)
            .with_cached_input(800)
            .with_reasoning(93)
    );
}

#[tokio::test]
async fn stream_usage_is_the_last_snapshot() {
    let chunks = vec![
        wire::sse_data(&wire::chunk(
            MODEL,
            "r",
            json!([{"text": "a"}]),
            None,
            json!({"promptTokenCount": 15, "totalTokenCount": 15}),
        )),
        wire::sse_data(&wire::chunk(
            MODEL,
            "r",
            json!([{"text": "b"}]),
            Some("STOP"),
            wire::usage(13, 8, 0),
        )),
    ];
    let (_, r) = stream_and_whole(chunks).await;
    assert_eq!(r.usage, Some(Usage::new(13, 8)), "never summed");
}

async fn error_of(reply: Reply) -> llmward_core::Error {
    let upstream = Upstream::start().await;
    upstream.push(reply);
    gemini(&upstream).chat(&ask("q")).await.unwrap_err()
}

#[tokio::test]
async fn every_error_kind() {
    let daily = wire::error_with_details(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded",
        json!([{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaValue": "250"}]}]),
    );
    let cases = [
        (wire::error_invalid_key(), ErrorKind::Auth, 400),
        (
            wire::error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials.",
            ),
            ErrorKind::Auth,
            401,
        ),
        (
            wire::error(403, "PERMISSION_DENIED", "Permission denied on resource"),
            ErrorKind::PermissionDenied,
            403,
        ),
        (
            wire::error(404, "NOT_FOUND", "models/gemini-9 is not found"),
            ErrorKind::NotFound,
            404,
        ),
        (wire::error_429_retry("48s"), ErrorKind::RateLimited, 429),
        (daily, ErrorKind::QuotaExceeded, 429),
        (
            wire::error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1250074) exceeds the maximum number of tokens allowed (1048576).",
            ),
            ErrorKind::ContextLengthExceeded,
            400,
        ),
        (
            wire::error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
            ErrorKind::InvalidRequest,
            400,
        ),
        (
            wire::error(500, "INTERNAL", "An internal error has occurred."),
            ErrorKind::Server,
            500,
        ),
        (
            wire::error(503, "UNAVAILABLE", "The model is overloaded."),
            ErrorKind::Overloaded,
            503,
        ),
        (
            wire::error(504, "DEADLINE_EXCEEDED", "Deadline expired."),
            ErrorKind::Timeout,
            504,
        ),
        (
            Reply::body(502, "text/html", "<html>Bad Gateway</html>"),
            ErrorKind::Server,
            502,
        ),
    ];
    for (reply, kind, status) in cases {
        let err = error_of(reply).await;
        assert_eq!(err.kind(), kind, "{err}");
        assert_eq!(err.status(), Some(status), "{err}");
        assert_eq!(err.provider(), Some("gemini"));
        assert_eq!(err.request_id(), None);
    }
    let err = error_of(wire::error_429_retry("48s")).await;
    assert_eq!(err.retry_after(), Some(Duration::from_secs(48)));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn blocked_prompt_safety_stop_and_malformed_call() {
    let blocked = json!({
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        "modelVersion": MODEL, "responseId": "b1"
    });
    let err = error_of(Reply::json(200, blocked.clone())).await;
    assert_eq!(err.kind(), ErrorKind::ContentFiltered);
    assert!(err.to_string().contains("PROHIBITED_CONTENT"), "{err}");

    let upstream = Upstream::start().await;
    upstream.push(Reply::sse(vec![wire::sse_data(&blocked)]));
    let err = gemini(&upstream)
        .chat_stream(&ask("q"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ContentFiltered);

    let mut safety = wire::generate(MODEL, "");
    safety["candidates"][0] = json!({"content": {}, "finishReason": "SAFETY"});
    let upstream = Upstream::start().await;
    upstream.push(Reply::json(200, safety));
    let r = gemini(&upstream).chat(&ask("q")).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    assert!(r.content.is_empty());

    let mut malformed = wire::generate(MODEL, "");
    malformed["candidates"][0] = json!({"content": {"parts": []}, "finishReason": "MALFORMED_FUNCTION_CALL", "finishMessage": "Malformed function call: print(x)"});
    let err = error_of(Reply::json(200, malformed)).await;
    assert_eq!(err.kind(), ErrorKind::ModelOutput);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn stream_errors_before_and_during_the_stream() {
    let upstream = Upstream::start().await;
    upstream.push(wire::error_429_retry("2s"));
    let err = gemini(&upstream).chat_stream(&ask("q")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));

    let upstream = Upstream::start().await;
    let mut chunks = wire::stream_text(MODEL, &["Hel", "lo"]);
    chunks.pop();
    chunks.push(wire::sse_data(
        &json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}),
    ));
    upstream.push(Reply::sse(chunks));
    let mut stream = gemini(&upstream).chat_stream(&ask("q")).await.unwrap();
    let mut saw_text = false;
    let err = loop {
        match stream.next().await.unwrap() {
            Ok(StreamEvent::TextDelta(t)) => saw_text |= t == "Hel",
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(saw_text);
    assert_eq!(err.kind(), ErrorKind::Overloaded);
    assert_eq!(err.provider(), Some("gemini"));
    assert!(err.to_string().contains("overloaded"), "{err}");
}

#[tokio::test]
async fn truncated_streams() {
    // Ends cleanly but without any finishReason.
    let upstream = Upstream::start().await;
    let mut chunks = wire::stream_text(MODEL, &["a", "b"]);
    chunks.pop();
    upstream.push(Reply::sse(chunks));
    let err = gemini(&upstream)
        .chat_stream(&ask("q"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamTruncated);

    // The connection drops mid-body.
    let upstream = Upstream::start().await;
    upstream.push(Reply::sse(wire::stream_text(MODEL, &["a", "b", "c"])).reset_after(1));
    let err = gemini(&upstream)
        .chat_stream(&ask("q"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamTruncated);

    // An empty 200 stream.
    let upstream = Upstream::start().await;
    upstream.push(Reply::sse(vec![]));
    let err = gemini(&upstream)
        .chat_stream(&ask("q"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamTruncated);
}

#[tokio::test]
async fn garbage_bodies_are_protocol_errors() {
    for body in ["", "not json", "{\"candidates\": 3}", "[]", "{}"] {
        let err = error_of(Reply::body(200, "application/json", body)).await;
        assert_eq!(err.kind(), ErrorKind::Protocol, "{body:?}");
        assert_eq!(err.provider(), Some("gemini"));
    }
    let upstream = Upstream::start().await;
    upstream.push(Reply::sse(vec!["data: {oops\r\n\r\n".into()]));
    let err = gemini(&upstream)
        .chat_stream(&ask("q"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let upstream = Upstream::start().await;
    let elsewhere = Upstream::start().await;
    upstream.push(Reply::redirect(
        307,
        &format!("{}/steal?key=1", elsewhere.url()),
    ));
    let err = gemini(&upstream).chat(&ask("q")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Redirected);
    assert_eq!(err.status(), Some(307));
    assert!(!err.to_string().contains("steal"), "{err}");
    assert_eq!(upstream.request_count(), 1);
    assert_eq!(
        elsewhere.request_count(),
        0,
        "the key never left for the redirect target"
    );
}

#[tokio::test]
async fn canary_key_never_in_errors() {
    const CANARY: &str = "AIzaSyCanaryQ7w3Lp9Xk2Vt5Nb8Hd4Rj6Mf1Zc";
    let upstream = Upstream::start().await;
    let g = Gemini::builder()
        .api_key(ApiKey::new(CANARY.into()).unwrap())
        .base_url(format!("{}/v1beta", upstream.url()))
        .build()
        .unwrap();
    let echo = format!("API key not valid: {CANARY} (also {})", &CANARY[4..30]);
    upstream.push(wire::error(400, "INVALID_ARGUMENT", &echo));
    upstream.push(Reply::body(
        500,
        "text/plain",
        format!("upstream said {CANARY}"),
    ));
    upstream.push(Reply::sse(vec![wire::sse_data(
        &json!({"error": {"code": 400, "message": echo, "status": "INVALID_ARGUMENT"}}),
    )]));
    let mut malformed = wire::generate(MODEL, "");
    malformed["candidates"][0] =
        json!({"finishReason": "MALFORMED_FUNCTION_CALL", "finishMessage": echo});
    upstream.push(Reply::json(200, malformed));
    let mut errors = vec![
        g.chat(&ask("q")).await.unwrap_err(),
        g.chat(&ask("q")).await.unwrap_err(),
    ];
    errors.push(
        g.chat_stream(&ask("q"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err(),
    );
    errors.push(g.chat(&ask("q")).await.unwrap_err());
    assert_eq!(errors[0].kind(), ErrorKind::Auth);
    assert_eq!(errors[2].kind(), ErrorKind::Auth);
    for err in &errors {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(CANARY), "{shown}");
        assert!(!shown.contains(&CANARY[4..30]), "{shown}");
    }
    let shown = format!("{g:?}");
    assert!(!shown.contains("Canary"), "{shown}");
    for rec in upstream.requests() {
        assert!(!rec.path.contains(CANARY) && !rec.path.contains("key="));
    }
}

#[tokio::test]
async fn keys_rotate_between_requests() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let source = RotatingKey::new(
        ApiKey::new("AIzaFirstKey1".into())
            .unwrap()
            .with_label("v1"),
    );
    let g = Gemini::builder()
        .key_source(Arc::new(source.clone()))
        .base_url(format!("{}/v1beta", upstream.url()))
        .build()
        .unwrap();
    g.chat(&ask("q")).await.unwrap();
    assert_eq!(g.key_label().as_deref(), Some("v1"));
    source.rotate(
        ApiKey::new("AIzaSecondKey2".into())
            .unwrap()
            .with_label("v2"),
    );
    g.chat(&ask("q")).await.unwrap();
    assert_eq!(g.key_label().as_deref(), Some("v2"));
    let keys: Vec<_> = upstream
        .requests()
        .iter()
        .map(|r| r.header("x-goog-api-key").unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["AIzaFirstKey1", "AIzaSecondKey2"]);
}

#[tokio::test]
async fn vertex_uses_a_bearer_token() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let base = format!(
        "{}/v1/projects/my-project/locations/europe-west4/publishers/google",
        upstream.url()
    );
    let g = Gemini::vertex(&base)
        .api_key(ApiKey::new("ya29.token-abc".into()).unwrap())
        .build()
        .unwrap();
    let r = g.chat(&ask("q")).await.unwrap();
    assert_eq!(r.text(), "Hello from testkit");
    g.chat_stream(&ask("q"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let recs = upstream.requests();
    assert_eq!(
        recs[0].path,
        "/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent"
    );
    assert!(recs[1].path.ends_with(":streamGenerateContent?alt=sse"));
    for rec in &recs {
        assert_eq!(rec.header("authorization"), Some("Bearer ya29.token-abc"));
        assert_eq!(rec.header("x-goog-api-key"), None);
    }
    let err = g
        .embed(&EmbedRequest::new("gemini-embedding-001", vec!["a".into()]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(upstream.request_count(), 2);
}

#[tokio::test]
async fn embeddings() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let g = gemini(&upstream);
    let req = EmbedRequest::new(
        "gemini-embedding-001",
        vec!["a".into(), "b".into(), "c".into()],
    )
    .dimensions(8);
    let out = g.embed(&req).await.unwrap();
    assert_eq!(out.vectors.len(), 3);
    assert!(out.vectors.iter().all(|v| v.len() == 8));
    assert_ne!(out.vectors[0], out.vectors[1]);
    assert_eq!(out.provider, "gemini");
    assert_eq!(out.model, "gemini-embedding-001");
    let rec = &upstream.requests()[0];
    assert_eq!(
        rec.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(
        rec.json()["requests"][2],
        json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "c"}]}, "outputDimensionality": 8})
    );

    let err = g
        .embed(&EmbedRequest::new("gemini-embedding-001", vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);

    upstream.push(Reply::json(200, wire::embeddings(&[vec![0.5]])));
    let err = g.embed(&req).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Protocol,
        "one vector for three inputs"
    );
}

#[tokio::test]
async fn caps_and_deadlines() {
    let upstream = Upstream::start().await;
    upstream.push(Reply::oversized(200, "application/json", 64 * 1024));
    let g = gemini_with(&upstream, HttpOptions::new().max_body_bytes(16 * 1024));
    let err = g.chat(&ask("q")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge);

    upstream.push(Reply::json(200, wire::generate(MODEL, "late")).delay(Duration::from_secs(5)));
    let req = ChatRequest::builder(MODEL)
        .user("q")
        .deadline(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = g.chat(&req).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
}
