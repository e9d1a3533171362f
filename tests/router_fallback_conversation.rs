//! Fallback in the middle of a conversation: a history with a tool call and its result, begun
//! on one provider, is answered by another after the first fails — for every ordered pair of
//! OpenAI, Anthropic and Gemini — and the second upstream receives a request its API accepts.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use llmward::anthropic::Anthropic;
use llmward::gemini::Gemini;
use llmward::openai::OpenAi;
use llmward::{ApiKey, ChatRequest, ErrorKind, Message, Provider, Route, Router, Tool, ToolResult};
use llmward_testkit::{Reply, Upstream, anthropic, gemini, openai};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
}

const ALL: [Wire; 3] = [Wire::OpenAi, Wire::Anthropic, Wire::Gemini];

impl Wire {
    fn provider(self, upstream: &Upstream) -> Arc<dyn Provider> {
        match self {
            Wire::OpenAi => Arc::new(
                OpenAi::builder()
                    .base_url(format!("{}/v1", upstream.url()))
                    .api_key(ApiKey::new("sk-openai-test".into()).unwrap())
                    .build()
                    .unwrap(),
            ),
            Wire::Anthropic => Arc::new(
                Anthropic::builder()
                    .base_url(upstream.url())
                    .api_key(ApiKey::new("sk-ant-test".into()).unwrap())
                    .build()
                    .unwrap(),
            ),
            Wire::Gemini => Arc::new(
                Gemini::builder()
                    .base_url(format!("{}/v1beta", upstream.url()))
                    .api_key(ApiKey::new("AIza-test".into()).unwrap())
                    .build()
                    .unwrap(),
            ),
        }
    }

    fn model(self) -> &'static str {
        match self {
            Wire::OpenAi => "gpt-test",
            Wire::Anthropic => "claude-test",
            Wire::Gemini => "gemini-2.5-flash",
        }
    }

    fn tool_call_reply(self) -> Reply {
        let args = json!({"city": "Berlin"});
        match self {
            Wire::OpenAi => Reply::json(
                200,
                openai::tool_call_completion(self.model(), &[("call_abc123", "weather", args)]),
            ),
            Wire::Anthropic => Reply::json(
                200,
                anthropic::tool_use_message(self.model(), &[("toolu_01XYZ", "weather", args)]),
            ),
            Wire::Gemini => Reply::json(
                200,
                gemini::function_call(self.model(), &[("weather", args)]),
            ),
        }
    }

    fn failure(self) -> Reply {
        match self {
            Wire::OpenAi => openai::error(503, "overloaded", "busy"),
            Wire::Anthropic => anthropic::error(529, "overloaded_error", "Overloaded"),
            Wire::Gemini => gemini::error(503, "UNAVAILABLE", "The model is overloaded."),
        }
    }

    fn echo(self, upstream: &Upstream) {
        match self {
            Wire::OpenAi => upstream.set_handler(openai::handler()),
            Wire::Anthropic => upstream.set_handler(anthropic::handler()),
            Wire::Gemini => upstream.set_handler(gemini::handler()),
        }
    }

    /// Checks that the body `upstream` received pairs the tool call with its result the way
    /// this API requires.
    fn assert_accepted(self, body: &Value) {
        match self {
            Wire::OpenAi => {
                let messages = body["messages"].as_array().unwrap();
                let call_id = &messages[1]["tool_calls"][0]["id"];
                assert_eq!(messages[1]["role"], "assistant");
                assert_eq!(messages[2]["role"], "tool");
                assert_eq!(&messages[2]["tool_call_id"], call_id, "{body}");
                assert!(!call_id.as_str().unwrap().is_empty());
            }
            Wire::Anthropic => {
                let messages = body["messages"].as_array().unwrap();
                let roles: Vec<&str> = messages
                    .iter()
                    .map(|m| m["role"].as_str().unwrap())
                    .collect();
                assert_eq!(roles, ["user", "assistant", "user"], "{body}");
                let tool_use = messages[1]["content"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|b| b["type"] == "tool_use")
                    .unwrap();
                let result = &messages[2]["content"][0];
                assert_eq!(result["type"], "tool_result", "{body}");
                assert_eq!(result["tool_use_id"], tool_use["id"], "{body}");
                let id = tool_use["id"].as_str().unwrap();
                assert!(
                    id.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                    "{id}"
                );
                assert!(body["max_tokens"].as_u64().unwrap() > 0);
            }
            Wire::Gemini => {
                let contents = body["contents"].as_array().unwrap();
                let roles: Vec<&str> = contents
                    .iter()
                    .map(|c| c["role"].as_str().unwrap())
                    .collect();
                assert_eq!(roles, ["user", "model", "user"], "{body}");
                let call = &contents[1]["parts"][0]["functionCall"];
                let response = &contents[2]["parts"][0]["functionResponse"];
                assert_eq!(call["name"], "weather", "{body}");
                assert_eq!(response["name"], "weather", "{body}");
            }
        }
    }
}

async fn fallback_mid_conversation(first: Wire, second: Wire) {
    let up_first = Upstream::start().await;
    let up_second = Upstream::start().await;
    let first_provider = first.provider(&up_first);
    let weather = Tool::new(
        "weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    );

    // The conversation begins on `first`, which calls a tool with its own id format.
    up_first.push(first.tool_call_reply());
    let opening = ChatRequest::builder(first.model())
        .user("Weather in Berlin?")
        .tool(weather.clone())
        .build()
        .unwrap();
    let answer = first_provider.chat(&opening).await.unwrap();
    let call = answer.tool_calls()[0].clone();
    let history = vec![
        Message::user("Weather in Berlin?"),
        answer.to_message(),
        Message::tool_result(ToolResult::new(&call.id, "12C and rain").with_name("weather")),
    ];

    // Then `first` fails, and the router answers from `second` with the same history.
    up_first.push(first.failure());
    second.echo(&up_second);
    let router = Router::builder()
        .route(Route::shared("first", first_provider, first.model()).alias("chat"))
        .route(
            Route::shared("second", second.provider(&up_second), second.model())
                .alias("chat")
                .tier(1),
        )
        .deadline(Duration::from_secs(10))
        .seed(1)
        .build()
        .unwrap();
    let request = ChatRequest::builder("chat")
        .messages(history)
        .tool(weather)
        .build()
        .unwrap();
    let answer = router
        .chat(&request)
        .await
        .unwrap_or_else(|e| panic!("{first:?} -> {second:?}: {e}"));
    assert_eq!(answer.provider(), second.provider(&up_second).name());
    assert_eq!(
        up_first.request_count(),
        2,
        "{first:?}: one opening, one failed attempt"
    );
    let received = up_second.requests();
    assert_eq!(received.len(), 1);
    second.assert_accepted(&received[0].json());
}

#[tokio::test]
async fn every_ordered_pair_of_providers() {
    for first in ALL {
        for second in ALL {
            if first != second {
                fallback_mid_conversation(first, second).await;
            }
        }
    }
}

#[tokio::test]
async fn a_history_the_fallback_cannot_encode_is_not_retried_elsewhere_silently() {
    // Gemini cannot take an ordinary https image URL; the router surfaces Unsupported from
    // that route rather than an answer that dropped the image.
    let up = Upstream::start().await;
    Wire::Gemini.echo(&up);
    let router = Router::builder()
        .route(Route::shared("g", Wire::Gemini.provider(&up), "gemini-2.5-flash").alias("chat"))
        .build()
        .unwrap();
    let request = ChatRequest::builder("chat")
        .message(Message::new(
            llmward::Role::User,
            vec![llmward::ContentPart::Image(llmward::Image::url(
                "https://example.com/cat.png",
            ))],
        ))
        .build()
        .unwrap();
    let err = router.chat(&request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert_eq!(up.request_count(), 0);
}
