//! The OpenAI provider end to end against a loopback upstream speaking Chat Completions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use llmward_core::{
    ApiKey, ChatRequest, ContentPart, EmbedRequest, ErrorKind, FinishReason, HttpOptions, Message,
    Provider, ResponseFormat, Role, RotatingKey, StreamEvent, Tool, ToolResult,
};
use llmward_openai::OpenAi;
use llmward_testkit::{Reply, Upstream, openai as wire, sse};
use serde_json::json;

const CANARY: &str = "sk-proj-CANARYcanary0123456789abcdef";

fn key() -> ApiKey {
    ApiKey::new(CANARY.into()).unwrap().with_label("test-key")
}

fn client(upstream: &Upstream) -> OpenAi {
    client_with(upstream, HttpOptions::new())
}

fn client_with(upstream: &Upstream, http: HttpOptions) -> OpenAi {
    OpenAi::builder()
        .base_url(format!("{}/v1", upstream.url()))
        .api_key(key())
        .http(http)
        .build()
        .unwrap()
}

fn hello() -> ChatRequest {
    ChatRequest::builder("gpt-test").user("hi").build().unwrap()
}

fn assert_no_canary(text: &str) {
    assert!(!text.contains("CANARY"), "canary leaked: {text}");
    assert!(!text.contains("0123456789abcdef"), "canary leaked: {text}");
}

#[tokio::test]
async fn chat_sends_the_key_only_in_its_header() {
    let upstream = Upstream::start().await;
    upstream.push(
        Reply::json(200, wire::chat_completion("gpt-test", "Hello!"))
            .header("x-request-id", "req_42"),
    );
    let openai = client(&upstream);
    let answer = openai.chat(&hello()).await.unwrap();
    assert_eq!(answer.text(), "Hello!");
    assert_eq!(answer.provider(), "openai");
    assert_eq!(answer.request_id.as_deref(), Some("req_42"));
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert!(answer.usage.is_some());

    let req = upstream.requests().pop().unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {CANARY}").as_str())
    );
    assert!(req.header("user-agent").unwrap().starts_with("llmward/"));
    assert_eq!(
        req.json()["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
    assert_no_canary(&req.path);
    assert_eq!(openai.key_label().as_deref(), Some("test-key"));
    assert_no_canary(&format!("{openai:?}"));
}

#[tokio::test]
async fn stream_collects_into_what_chat_returns() {
    let upstream = Upstream::start().await;
    upstream.push(Reply::sse(wire::stream_text(
        "gpt-test",
        &["Hel", "lo", "!"],
    )));
    let openai = client(&upstream);
    let mut stream = openai.chat_stream(&hello()).await.unwrap();
    let mut text = String::new();
    let mut saw_usage = false;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            StreamEvent::TextDelta(t) => text.push_str(&t),
            StreamEvent::Usage(_) => saw_usage = true,
            _ => {}
        }
    }
    assert_eq!(text, "Hello!");
    assert!(saw_usage);
    let sent = upstream.requests().pop().unwrap().json();
    assert_eq!(sent["stream"], json!(true));
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));

    // The same answer streamed and not streamed gives the same ChatResponse.
    let calls = [
        ("call_1", "weather", json!({"city": "Berlin"})),
        ("call_2", "time", json!({})),
    ];
    let body = wire::tool_call_completion("gpt-test", &calls);
    upstream.push(Reply::json(200, body));
    upstream.push(Reply::sse(wire::stream_tool_calls("gpt-test", &calls, 3)));
    let whole = openai.chat(&hello()).await.unwrap();
    let streamed = openai
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(whole.content, streamed.content);
    assert_eq!(whole.finish_reason, streamed.finish_reason);
    assert_eq!(whole.finish_reason, FinishReason::ToolCalls);
}

#[tokio::test]
async fn tools_round_trip_and_json_schema() {
    let upstream = Upstream::start().await;
    let openai = client(&upstream);
    upstream.push(Reply::json(
        200,
        wire::tool_call_completion(
            "gpt-test",
            &[("call_9", "weather", json!({"city": "Paris"}))],
        ),
    ));
    let weather = Tool::new(
        "weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    );
    let first = ChatRequest::builder("gpt-test")
        .user("Weather in Paris?")
        .tool(weather.clone())
        .build()
        .unwrap();
    let answer = openai.chat(&first).await.unwrap();
    let call = answer.tool_calls()[0].clone();
    assert_eq!(call.arguments, json!({"city": "Paris"}));

    upstream.push(Reply::json(
        200,
        wire::chat_completion("gpt-test", "{\"temp\":15}"),
    ));
    let second = ChatRequest::builder("gpt-test")
        .user("Weather in Paris?")
        .message(answer.to_message())
        .message(Message::tool_result(ToolResult::new(&call.id, "15C")))
        .tool(weather)
        .response_format(ResponseFormat::json_schema(
            "weather",
            json!({"type": "object"}),
        ))
        .build()
        .unwrap();
    let answer = openai.chat(&second).await.unwrap();
    assert_eq!(answer.text(), "{\"temp\":15}");
    let sent = upstream.requests().pop().unwrap().json();
    assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], "call_9");
    assert_eq!(
        sent["messages"][2],
        json!({"role": "tool", "tool_call_id": "call_9", "content": "15C"})
    );
    assert_eq!(sent["response_format"]["type"], "json_schema");
    assert_eq!(sent["response_format"]["json_schema"]["strict"], true);
}

#[tokio::test]
async fn images_are_sent_as_parts() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let openai = client(&upstream);
    let request = ChatRequest::builder("gpt-test")
        .message(Message::new(
            Role::User,
            vec![
                ContentPart::Text("What is this?".into()),
                ContentPart::Image(llmward_core::Image::url("https://example.com/cat.png")),
            ],
        ))
        .build()
        .unwrap();
    openai.chat(&request).await.unwrap();
    let sent = upstream.requests().pop().unwrap().json();
    assert_eq!(
        sent["messages"][0]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}})
    );
}

#[tokio::test]
async fn embeddings() {
    let upstream = Upstream::start().await;
    upstream.push(Reply::json(
        200,
        wire::embeddings("emb", &[vec![0.5, 0.25], vec![1.0, 0.0]]),
    ));
    let openai = client(&upstream);
    let r = openai
        .embed(&EmbedRequest::new("emb", vec!["a".into(), "b".into()]).dimensions(2))
        .await
        .unwrap();
    assert_eq!(r.vectors, vec![vec![0.5, 0.25], vec![1.0, 0.0]]);
    let sent = upstream.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.json()["dimensions"], 2);
}

#[tokio::test]
async fn every_error_maps_by_the_rules() {
    let upstream = Upstream::start().await;
    let openai = client(&upstream);
    let cases: Vec<(Reply, ErrorKind)> = vec![
        (
            wire::error(401, "invalid_api_key", "Incorrect API key provided"),
            ErrorKind::Auth,
        ),
        (
            wire::error(403, "unsupported_country", "Country not supported"),
            ErrorKind::PermissionDenied,
        ),
        (
            wire::error(404, "model_not_found", "No such model"),
            ErrorKind::NotFound,
        ),
        (
            wire::error(408, "timeout", "Request timed out"),
            ErrorKind::Timeout,
        ),
        (
            wire::error(429, "rate_limit_exceeded", "Rate limit reached"),
            ErrorKind::RateLimited,
        ),
        (
            wire::error(429, "insufficient_quota", "You exceeded your current quota"),
            ErrorKind::QuotaExceeded,
        ),
        (
            wire::error(
                400,
                "context_length_exceeded",
                "maximum context length is 8192",
            ),
            ErrorKind::ContextLengthExceeded,
        ),
        (
            wire::error(400, "content_policy_violation", "flagged"),
            ErrorKind::ContentFiltered,
        ),
        (
            wire::error(422, "invalid_value", "bad temperature"),
            ErrorKind::InvalidRequest,
        ),
        (wire::error(500, "server_error", "oops"), ErrorKind::Server),
        (wire::error(502, "bad_gateway", "oops"), ErrorKind::Server),
        (
            wire::error(503, "overloaded", "busy"),
            ErrorKind::Overloaded,
        ),
        (
            wire::error(504, "gateway_timeout", "slow"),
            ErrorKind::Server,
        ),
        (
            Reply::body(502, "text/html", "<html><body>Bad gateway</body></html>"),
            ErrorKind::Server,
        ),
        (
            Reply::body(200, "application/json", "{\"truncated\": "),
            ErrorKind::Protocol,
        ),
        (
            Reply::body(200, "text/html", "<html>proxy login</html>"),
            ErrorKind::Protocol,
        ),
        (
            Reply::body(200, "application/json", ""),
            ErrorKind::Protocol,
        ),
    ];
    for (reply, kind) in cases {
        upstream.push(reply);
        let err = openai.chat(&hello()).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert_eq!(err.provider(), Some("openai"));
    }

    upstream.push(
        wire::error(429, "rate_limit_exceeded", "slow")
            .header("retry-after-ms", "250")
            .header("retry-after", "3"),
    );
    let err = openai.chat(&hello()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_millis(250)));
    assert!(err.is_retryable());
    assert!(err.request_id().unwrap().starts_with("req_testkit"));

    upstream.push(
        wire::error(429, "rate_limit_exceeded", "slow")
            .header("retry-after", "Wed, 21 Oct 2099 07:28:00 GMT"),
    );
    let err = openai.chat(&hello()).await.unwrap_err();
    assert!(err.retry_after().unwrap() > Duration::from_secs(3600));
}

#[tokio::test]
async fn an_echoed_key_never_reaches_an_error() {
    let upstream = Upstream::start().await;
    let openai = client(&upstream);
    let masked = format!(
        "Incorrect API key provided: {}****{}.",
        &CANARY[..8],
        &CANARY[CANARY.len() - 4..]
    );
    for body in [
        wire::error(
            401,
            "invalid_api_key",
            &format!("Incorrect API key provided: {CANARY}"),
        ),
        wire::error(401, "invalid_api_key", &masked),
        Reply::body(500, "text/plain", format!("upstream said Bearer {CANARY}")),
    ] {
        upstream.push(body.header("x-echo", CANARY));
        let err = openai.chat(&hello()).await.unwrap_err();
        assert_no_canary(&format!("{err} {err:?}"));
        assert!(
            !format!("{err}").contains(&CANARY[CANARY.len() - 4..]),
            "{err}"
        );
    }
    upstream.push(Reply::sse(vec![sse::event(
        "error",
        &json!({"error": {"message": format!("bad key {CANARY}"), "code": "invalid_api_key"}}),
    )]));
    let err = openai
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_no_canary(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn streams_must_end_with_done() {
    let upstream = Upstream::start().await;
    let openai = client(&upstream);
    let mut events = wire::stream_text("gpt-test", &["a", "b"]);
    events.pop(); // drop [DONE]
    upstream.push(Reply::sse(events.clone()));
    let err = openai
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamTruncated);

    upstream.push(Reply::sse(wire::stream_text("gpt-test", &["a", "b", "c"])).reset_after(2));
    let err = openai
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StreamTruncated, "{err}");

    // Events after [DONE] are ignored; [DONE] twice is harmless.
    let mut events = wire::stream_text("gpt-test", &["x"]);
    events.push(sse::DONE.into());
    events.push(sse::data(
        &json!({"choices": [{"index": 0, "delta": {"content": "late"}}]}),
    ));
    upstream.push(Reply::sse(events));
    let r = openai
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(r.text(), "x");

    // A mid-stream error object in a 200 stream is an error.
    let mut events = wire::stream_text("gpt-test", &["x"]);
    events.insert(
        2,
        sse::data(&json!({"error": {"message": "overloaded", "code": 503}})),
    );
    upstream.push(Reply::sse(events));
    let err = openai
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overloaded);
}

#[tokio::test]
async fn caps_are_enforced_while_reading() {
    let upstream = Upstream::start().await;
    let openai = client_with(
        &upstream,
        HttpOptions::new()
            .max_body_bytes(64 << 10)
            .max_sse_bytes(4 << 10),
    );

    upstream.push(Reply::oversized(200, "application/json", 1 << 20));
    let err = openai.chat(&hello()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge);

    upstream.push(Reply::body(200, "application/json", "{}").content_length(u64::MAX / 2));
    let err = openai.chat(&hello()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge);

    upstream.push(Reply::sse(vec![format!("data: {}", "x".repeat(8 << 10))]));
    let err = openai
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge);

    upstream.push(Reply::endless_sse(": keep-alive\n\n".into()));
    let err = openai
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge);
}

#[tokio::test]
async fn idle_and_request_timeouts() {
    let upstream = Upstream::start().await;
    let openai = client_with(
        &upstream,
        HttpOptions::new()
            .stream_idle_timeout(Duration::from_millis(200))
            .request_timeout(Duration::from_millis(600)),
    );
    upstream.push(Reply::sse(wire::stream_text("gpt-test", &["a", "b"])).stall_after(2));
    let started = std::time::Instant::now();
    let err = openai
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));

    upstream.push(
        Reply::json(200, wire::chat_completion("gpt-test", "late")).delay(Duration::from_secs(3)),
    );
    let err = openai.chat(&hello()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");

    // A slow drip under the idle timeout is ended by the whole-request timeout.
    upstream.push(Reply::endless_sse(": drip\n\n".into()).chunk_delay(Duration::from_millis(50)));
    let err = openai
        .chat_stream(&hello())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");

    // The request's own deadline shortens the transport's timeout: with a 120 s transport
    // timeout and an answer that never comes in time, a 100 ms deadline ends the call. The
    // bound sits far from both, so a busy machine cannot decide the outcome.
    let patient = client_with(
        &upstream,
        HttpOptions::new().request_timeout(Duration::from_secs(120)),
    );
    upstream.push(
        Reply::json(200, wire::chat_completion("gpt-test", "late")).delay(Duration::from_secs(240)),
    );
    let short = ChatRequest::builder("gpt-test")
        .user("hi")
        .deadline(Duration::from_millis(100))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = patient.chat(&short).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let upstream = Upstream::start().await;
    let elsewhere = Upstream::start().await;
    elsewhere.set_handler(wire::handler());
    let openai = client(&upstream);
    for status in [301, 302, 307, 308] {
        upstream.push(Reply::redirect(
            status,
            &format!("{}/v1/chat/completions", elsewhere.url()),
        ));
        let err = openai.chat(&hello()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Redirected);
        assert_eq!(err.status(), Some(status));
        assert!(!err.to_string().contains(&elsewhere.url()), "{err}");
        upstream.push(Reply::redirect(
            status,
            &format!("{}/v1/chat/completions", elsewhere.url()),
        ));
        let err = openai.chat_stream(&hello()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Redirected);
    }
    assert_eq!(
        elsewhere.request_count(),
        0,
        "the redirect target received a request"
    );
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_at_build_time() {
    let err = OpenAi::compatible("http://api.example.com/v1")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("danger_allow_http_host"), "{err}");
    OpenAi::compatible("http://llm.internal:8000/v1")
        .http(HttpOptions::new().danger_allow_http_host("llm.internal"))
        .build()
        .unwrap();
    let err = OpenAi::builder().build().unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Config,
        "a key is required for OpenAI"
    );
    let err = OpenAi::compatible("https://example.com/v1?api_key=sk-123456")
        .build()
        .unwrap_err();
    assert!(!err.to_string().contains("sk-123456"));
    let err = OpenAi::compatible("http://127.0.0.1:1/v1")
        .http(HttpOptions::new().add_root_certificate_pem(
            b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n".to_vec(),
        ))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn rotated_keys_are_used_by_the_next_request() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let keys = RotatingKey::new(ApiKey::new("sk-first-key".into()).unwrap().with_label("v1"));
    let openai = OpenAi::builder()
        .base_url(format!("{}/v1", upstream.url()))
        .key_source(Arc::new(keys.clone()))
        .build()
        .unwrap();
    openai.chat(&hello()).await.unwrap();
    assert_eq!(openai.key_label().as_deref(), Some("v1"));
    keys.rotate(
        ApiKey::new("sk-second-key".into())
            .unwrap()
            .with_label("v2"),
    );
    openai.chat(&hello()).await.unwrap();
    assert_eq!(openai.key_label().as_deref(), Some("v2"));
    let seen: Vec<_> = upstream
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(seen, ["Bearer sk-first-key", "Bearer sk-second-key"]);
}

#[tokio::test]
async fn keyless_compatible_server_and_azure_shape() {
    let upstream = Upstream::start().await;
    upstream.set_handler(wire::handler());
    let local = OpenAi::compatible(format!("{}/v1", upstream.url()))
        .build()
        .unwrap();
    local.chat(&hello()).await.unwrap();
    let req = upstream.requests().pop().unwrap();
    assert_eq!(req.header("authorization"), None);

    let azure = OpenAi::azure(upstream.url())
        .api_key(ApiKey::new("azure-key-123".into()).unwrap())
        .api_version("2024-12-01-preview")
        .build()
        .unwrap();
    let request = ChatRequest::builder("my-gpt4o-deployment")
        .user("hi")
        .max_tokens(5)
        .build()
        .unwrap();
    azure.chat(&request).await.unwrap();
    let req = upstream.requests().pop().unwrap();
    assert_eq!(
        req.path,
        "/openai/deployments/my-gpt4o-deployment/chat/completions?api-version=2024-12-01-preview"
    );
    assert_eq!(req.header("api-key"), Some("azure-key-123"));
    assert_eq!(req.header("authorization"), None);
    assert_eq!(req.json()["max_completion_tokens"], 5);
    let bad = ChatRequest::builder("../admin").user("hi").build().unwrap();
    assert_eq!(
        azure.chat(&bad).await.unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
}

#[tokio::test]
async fn explicit_proxy_is_used() {
    let proxy = Upstream::start().await;
    proxy.set_handler(wire::handler());
    // The target port is closed: only the proxy can answer.
    let openai = OpenAi::compatible("http://127.0.0.1:9/v1")
        .http(HttpOptions::new().proxy(proxy.url()))
        .build()
        .unwrap();
    openai.chat(&hello()).await.unwrap();
    let req = proxy.requests().pop().unwrap();
    assert!(req.path.ends_with("/v1/chat/completions"), "{}", req.path);
    assert_eq!(req.header("host"), Some("127.0.0.1:9"));
}
