//! One conformance suite for every provider, through the facade: each scenario below is a
//! generic async fn over a [`Wire`] (tests/support), instantiated per provider by `suite!`
//! into `#[tokio::test]`s named `<provider>::<scenario>` (the manner of rustls'
//! `rustls-test/tests/api.rs` and ripgrep's `rgtest!`; a module per provider stands in for an
//! `openai_text`-style prefix, which `macro_rules!` cannot build without the `paste` crate).
//! The assertions live in the scenarios, so every provider must give the same unified
//! results; the wires only speak their format. Filter with `cargo test --test suite openai::`
//! or `-- reasoning`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use llmward::{
    Aggregator, ChatRequest, ChatResponse, ContentPart, Error, ErrorKind, FinishReason, Image,
    Message, Reasoning, ReasoningEffort, ReasoningPart, ResponseFormat, Role, StreamEvent, Tool,
    ToolChoice, ToolResult, Usage,
};
use llmward_testkit::{Reply, Upstream};
use serde_json::{Value, json};
use support::{
    AnthropicWire, Billed, GeminiWire, Img, OpenAiWire, Part, REQUEST_ID, Sent, SentTool, Speaker,
    Turn, Wire,
};

/// Instantiates every scenario for each `provider: Wire { tracked scenarios }`. The tracked
/// ones are scenarios some providers fail today; each provider lists them with its own
/// `#[ignore = "defect: …"]` where it fails, so the shared assertions stay the same.
macro_rules! suite {
    ($($provider:ident: $wire:ty { $($(#[$meta:meta])* $tracked:ident),* $(,)? })+) => {$(
        mod $provider {
            use super::*;

            scenarios!($wire;
                text,
                system_prompt,
                multi_turn,
                image_base64,
                image_url,
                tools,
                parallel_tools,
                tool_result_round_trip,
                json_schema,
                reasoning,
                stream_text,
                stream_tool_calls,
                usage,
                filtered_and_rejected_output,
                bare_statuses,
                truncation,
                mid_stream_error,
                stream_equals_chat,
            );

            error_kinds!($wire;
                error_auth: Auth,
                error_permission_denied: PermissionDenied,
                error_not_found: NotFound,
                error_rate_limited: RateLimited,
                error_quota_exceeded: QuotaExceeded,
                error_overloaded: Overloaded,
                error_server: Server,
                error_timeout: Timeout,
                error_context_length_exceeded: ContextLengthExceeded,
                error_invalid_request: InvalidRequest,
            );

            $(
                $(#[$meta])*
                #[tokio::test]
                async fn $tracked() {
                    super::$tracked::<$wire>().await
                }
            )*
        }
    )+};
}

macro_rules! scenarios {
    ($wire:ty; $($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            super::$name::<$wire>().await
        }
    )*};
}

macro_rules! error_kinds {
    ($wire:ty; $($name:ident: $kind:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            super::error_kind::<$wire>(ErrorKind::$kind).await
        }
    )*};
}

suite! {
    openai: OpenAiWire { bare_504 }
    anthropic: AnthropicWire {
        bare_504,
    }
    gemini: GeminiWire {
        bare_504,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

const THINKING: &str = "6 × 7: six sevens are forty-two.";
const SIGNATURE: &str = "EqQBCkYIBxgCKkDsuite-signature+/==";

fn reply<W: Wire>(body: Value) -> Reply {
    with_request_id::<W>(Reply::json(200, body))
}

fn stream_reply<W: Wire>(events: Vec<String>) -> Reply {
    with_request_id::<W>(Reply::sse(events))
}

fn with_request_id<W: Wire>(reply: Reply) -> Reply {
    match W::REQUEST_ID_HEADER {
        Some(header) => reply.header(header, REQUEST_ID),
        None => reply,
    }
}

/// The request id an answer must carry: the header's, for providers that send one.
fn request_id<W: Wire>() -> Option<String> {
    W::REQUEST_ID_HEADER.map(|_| REQUEST_ID.to_owned())
}

fn ask<W: Wire>(text: &str) -> ChatRequest {
    ChatRequest::builder(W::MODEL).user(text).build().unwrap()
}

/// The last request `up` received, checked against the API's rules and normalized.
fn last<W: Wire>(up: &Upstream) -> Sent {
    let rec = up.requests().pop().expect("a request");
    assert!(
        !rec.path.contains(W::key()) && !String::from_utf8_lossy(&rec.body).contains(W::key()),
        "the key travels only in its header"
    );
    W::read(&rec)
}

fn user_turn(text: &str) -> Turn {
    Turn {
        speaker: Speaker::User,
        parts: vec![Part::Text(text.into())],
    }
}

fn weather_schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
}

fn weather() -> Tool {
    Tool::new("weather", weather_schema()).description("Current weather")
}

fn time() -> Tool {
    Tool::new(
        "time",
        json!({"type": "object", "properties": {"tz": {"type": "string"}}}),
    )
    .description("Local time")
}

/// Two calls as the provider would make them: `(id, name, arguments)`.
fn two_calls<W: Wire>() -> Vec<(String, &'static str, Value)> {
    vec![
        (W::call_id(0), "weather", json!({"city": "Paris"})),
        (W::call_id(1), "time", json!({"tz": "Europe/Paris"})),
    ]
}

fn refs<'a>(calls: &'a [(String, &'static str, Value)]) -> Vec<(&'a str, &'static str, Value)> {
    calls
        .iter()
        .map(|(id, name, args)| (id.as_str(), *name, args.clone()))
        .collect()
}

/// Checks the calls of an answer against what the provider was scripted to call.
fn assert_calls<W: Wire>(got: &[&llmward::ToolCall], want: &[(String, &'static str, Value)]) {
    let names: Vec<&str> = got.iter().map(|c| c.name.as_str()).collect();
    let wanted: Vec<&str> = want.iter().map(|c| c.1).collect();
    assert_eq!(names, wanted);
    for (call, (id, _, args)) in got.iter().zip(want) {
        assert_eq!(&call.arguments, args);
        assert!(!call.id.is_empty(), "every call has an id");
        if W::CALL_IDS {
            assert_eq!(&call.id, id, "the provider's own ids are kept");
        }
    }
    let mut ids: Vec<&str> = got.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "call ids are distinct");
}

async fn events(stream: llmward::ChatStream) -> Vec<StreamEvent> {
    let mut stream = stream;
    let mut out = Vec::new();
    while let Some(event) = stream.next().await {
        out.push(event.unwrap());
    }
    out
}

/// Signatures of this provider's family anywhere in `content`.
fn signatures<W: Wire>(content: &[ContentPart]) -> Vec<String> {
    content
        .iter()
        .filter_map(|p| match p {
            ContentPart::Reasoning(ReasoningPart::Thinking {
                signature: Some(s),
                origin,
                ..
            }) if origin == W::NAME => Some(s.clone()),
            ContentPart::Reasoning(ReasoningPart::Signature(s)) if s.origin == W::NAME => {
                Some(s.value.clone())
            }
            ContentPart::ToolCall(c) => c
                .signature
                .as_ref()
                .filter(|s| s.origin == W::NAME)
                .map(|s| s.value.clone()),
            _ => None,
        })
        .collect()
}

/// Signatures in a sent turn, wherever the wire put them.
fn sent_signatures(turn: &Turn) -> Vec<String> {
    turn.parts
        .iter()
        .filter_map(|p| match p {
            Part::Thinking {
                signature: Some(s), ..
            }
            | Part::Signature(s)
            | Part::Call {
                signature: Some(s), ..
            } => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn billed<W: Wire>() -> Billed {
    Billed {
        input: 1200,
        cached: 200,
        cache_write: if W::CACHE_WRITES { 100 } else { 0 },
        output: 300,
        reasoning: 120,
    }
}

fn assert_shown_without_key<W: Wire>(err: &Error) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(W::key()), "key leaked: {shown}");
    assert!(
        !llmward_core::redact::contains_secret(&shown, W::key()),
        "key leaked: {shown}"
    );
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// A plain question and answer: every field of the unified response.
async fn text<W: Wire>() {
    let up = Upstream::start().await;
    up.push(reply::<W>(W::text("Hello there!")));
    let p = W::provider(&up);
    let answer = p.chat(&ask::<W>("Hello")).await.unwrap();
    assert_eq!(
        answer.content,
        vec![ContentPart::Text("Hello there!".into())]
    );
    assert_eq!(answer.provider(), W::NAME);
    assert_eq!(answer.model, W::MODEL);
    assert!(answer.id.as_deref().is_some_and(|id| !id.is_empty()));
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert!(answer.raw_finish_reason.is_some());
    assert!(
        answer
            .usage
            .is_some_and(|u| u.input_tokens > 0 && u.output_tokens > 0)
    );
    assert_eq!(answer.request_id, request_id::<W>());

    let sent = last::<W>(&up);
    assert!(sent.system.is_empty());
    assert!(!sent.stream);
    assert!(sent.tools.is_empty() && sent.tool_choice.is_none());
    assert_eq!(sent.turns, vec![user_turn("Hello")]);
}

/// System messages become the API's system prompt, not a turn.
async fn system_prompt<W: Wire>() {
    let up = Upstream::start().await;
    W::echo(&up);
    let p = W::provider(&up);
    let request = ChatRequest::builder(W::MODEL)
        .system("Be brief.")
        .user("Hi")
        .build()
        .unwrap();
    assert!(!p.chat(&request).await.unwrap().text().is_empty());
    let sent = last::<W>(&up);
    assert_eq!(sent.system, ["Be brief."]);
    assert_eq!(sent.turns, vec![user_turn("Hi")]);
}

/// Earlier turns travel in order, with the model's turns as the model's.
async fn multi_turn<W: Wire>() {
    let up = Upstream::start().await;
    up.push(reply::<W>(W::text("6")));
    let p = W::provider(&up);
    let request = ChatRequest::builder(W::MODEL)
        .system("Answer with a number.")
        .user("2 + 2?")
        .assistant("4")
        .user("3 + 3?")
        .build()
        .unwrap();
    assert_eq!(p.chat(&request).await.unwrap().text(), "6");
    let sent = last::<W>(&up);
    assert_eq!(sent.system, ["Answer with a number."]);
    assert_eq!(
        sent.turns,
        vec![
            user_turn("2 + 2?"),
            Turn {
                speaker: Speaker::Assistant,
                parts: vec![Part::Text("4".into())]
            },
            user_turn("3 + 3?"),
        ]
    );
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// An inline image travels as the API's inline image, after the text it follows.
async fn image_base64<W: Wire>() {
    let up = Upstream::start().await;
    up.push(reply::<W>(W::text("A pixel.")));
    let p = W::provider(&up);
    let request = ChatRequest::builder(W::MODEL)
        .message(Message::new(
            Role::User,
            vec![
                ContentPart::Text("What is this?".into()),
                ContentPart::Image(Image::base64("image/png", PNG)),
            ],
        ))
        .build()
        .unwrap();
    assert_eq!(p.chat(&request).await.unwrap().text(), "A pixel.");
    assert_eq!(
        last::<W>(&up).turns,
        vec![Turn {
            speaker: Speaker::User,
            parts: vec![
                Part::Text("What is this?".into()),
                Part::Image(Img::Base64 {
                    media_type: "image/png".into(),
                    data: PNG.into()
                }),
            ],
        }]
    );
}

/// An https image goes by URL where the API fetches URLs; elsewhere it is refused before
/// anything is sent (llmward never fetches URLs itself).
async fn image_url<W: Wire>() {
    let up = Upstream::start().await;
    W::echo(&up);
    let p = W::provider(&up);
    let url = "https://example.com/cat.png";
    let request = ChatRequest::builder(W::MODEL)
        .message(Message::new(
            Role::User,
            vec![
                ContentPart::Text("What is this?".into()),
                ContentPart::Image(Image::url(url)),
            ],
        ))
        .build()
        .unwrap();
    let result = p.chat(&request).await;
    if W::IMAGE_URLS {
        result.unwrap();
        let sent = last::<W>(&up);
        assert_eq!(
            sent.turns[0].parts,
            vec![
                Part::Text("What is this?".into()),
                Part::Image(Img::Url(url.into()))
            ]
        );
    } else {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert_eq!(up.request_count(), 0, "nothing is sent");
    }
}

/// Tools are declared with their schema; a call comes back with parsed arguments.
async fn tools<W: Wire>() {
    let up = Upstream::start().await;
    let call = vec![(W::call_id(0), "weather", json!({"city": "Paris"}))];
    up.push(reply::<W>(W::tool_calls(&refs(&call))));
    up.push(reply::<W>(W::tool_calls(&refs(&call))));
    let p = W::provider(&up);
    for (choice, wire) in [
        (ToolChoice::Required, "required"),
        (ToolChoice::Tool("weather".into()), "tool:weather"),
    ] {
        let request = ChatRequest::builder(W::MODEL)
            .user("Weather in Paris?")
            .tool(weather())
            .tool(time())
            .tool_choice(choice)
            .build()
            .unwrap();
        let answer = p.chat(&request).await.unwrap();
        assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
        assert_eq!(answer.text(), "");
        assert_calls::<W>(&answer.tool_calls(), &call);
        let sent = last::<W>(&up);
        assert_eq!(
            sent.tools,
            vec![
                SentTool {
                    name: "weather".into(),
                    description: Some("Current weather".into()),
                    schema: weather_schema(),
                },
                SentTool {
                    name: "time".into(),
                    description: Some("Local time".into()),
                    schema: time().parameters,
                },
            ]
        );
        assert_eq!(sent.tool_choice.as_deref(), Some(wire));
    }
}

/// Several calls in one answer keep their order and get distinct ids.
async fn parallel_tools<W: Wire>() {
    let up = Upstream::start().await;
    let calls = two_calls::<W>();
    up.push(reply::<W>(W::tool_calls(&refs(&calls))));
    let p = W::provider(&up);
    let request = ChatRequest::builder(W::MODEL)
        .user("Weather and time in Paris?")
        .tool(weather())
        .tool(time())
        .tool_choice(ToolChoice::Auto)
        .parallel_tool_calls(true)
        .build()
        .unwrap();
    let answer = p.chat(&request).await.unwrap();
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_calls::<W>(&answer.tool_calls(), &calls);
    assert_eq!(last::<W>(&up).tool_choice.as_deref(), Some("auto"));
}

/// An agent step (reasoning, then two calls) goes back as the model's turn (`to_message`):
/// each result pairs with its call, a failed result says so where the API can, and the
/// provider's own reasoning and signatures return where it wants them — with thinking on,
/// inside the tool loop.
async fn tool_result_round_trip<W: Wire>() {
    let up = Upstream::start().await;
    let calls = two_calls::<W>();
    up.push(reply::<W>(W::agent_step(
        THINKING,
        SIGNATURE,
        &refs(&calls),
    )));
    up.push(reply::<W>(W::text("15°C; the clock is broken.")));
    let p = W::provider(&up);
    let thinking = Reasoning::budget(2048);
    let question = ChatRequest::builder(W::MODEL)
        .user("Weather and time in Paris?")
        .tool(weather())
        .tool(time())
        .reasoning(thinking)
        .build()
        .unwrap();
    let answer = p.chat(&question).await.unwrap();
    assert_eq!(answer.finish_reason, FinishReason::ToolCalls);
    assert_eq!(answer.reasoning().as_deref(), Some(THINKING));
    let got: Vec<llmward::ToolCall> = answer.tool_calls().into_iter().cloned().collect();
    assert_calls::<W>(&got.iter().collect::<Vec<_>>(), &calls);
    let next = ChatRequest::builder(W::MODEL)
        .user("Weather and time in Paris?")
        .message(answer.to_message())
        .message(Message::tool_result(ToolResult::new(&got[0].id, "15°C")))
        .message(Message::tool_result(
            ToolResult::new(&got[1].id, "clock unavailable").error(),
        ))
        .tool(weather())
        .tool(time())
        .reasoning(thinking)
        .build()
        .unwrap();
    let next_answer = p.chat(&next).await.unwrap();
    assert_eq!(next_answer.text(), "15°C; the clock is broken.");

    let sent = last::<W>(&up);
    assert_eq!(
        sent.turns.first(),
        Some(&user_turn("Weather and time in Paris?"))
    );
    let assistant = sent.turns_of(Speaker::Assistant);
    assert_eq!(assistant.len(), 1);
    let turn = assistant[0];
    let sent_calls: Vec<&Part> = turn
        .parts
        .iter()
        .filter(|p| matches!(p, Part::Call { .. }))
        .collect();
    assert_eq!(sent_calls.len(), 2);
    for (part, call) in sent_calls.iter().zip(&got) {
        let Part::Call {
            id,
            name,
            args,
            signature,
        } = part
        else {
            unreachable!()
        };
        assert_eq!(name, &call.name);
        assert_eq!(args, &call.arguments);
        if W::CALL_IDS {
            assert_eq!(id.as_deref(), Some(call.id.as_str()));
        }
        let own = call
            .signature
            .as_ref()
            .filter(|s| s.origin == W::NAME)
            .map(|s| s.value.clone());
        assert_eq!(
            signature, &own,
            "the provider's own call signatures go back"
        );
    }
    let answer_redacted = answer
        .content
        .iter()
        .filter(|p| matches!(p, ContentPart::Reasoning(ReasoningPart::Redacted { .. })))
        .count();
    if W::REASONING_SENT_BACK {
        assert!(
            turn.parts
                .iter()
                .any(|p| matches!(p, Part::Thinking { text, .. } if text == THINKING)),
            "{turn:?}"
        );
        assert_eq!(sent_signatures(turn), signatures::<W>(&answer.content));
        assert_eq!(
            turn.parts
                .iter()
                .filter(|p| matches!(p, Part::Redacted(_)))
                .count(),
            answer_redacted,
            "redacted reasoning goes back whole"
        );
    } else {
        assert!(
            !turn.parts.iter().any(|p| matches!(
                p,
                Part::Thinking { .. } | Part::Redacted(_) | Part::Signature(_)
            )),
            "{turn:?}"
        );
    }
    let pairs = sent.pairs();
    assert_eq!(pairs.len(), 2, "{sent:?}");
    let summary: Vec<(&str, &str, Option<bool>)> = pairs
        .iter()
        .map(|(call, result)| match result {
            Part::Result {
                content, is_error, ..
            } => (support::call_name(call), content.as_str(), *is_error),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(summary[0].0, "weather");
    assert_eq!(summary[0].1, "15°C");
    assert_ne!(
        summary[0].2,
        Some(true),
        "a success is not sent as a failure"
    );
    assert_eq!(summary[1].0, "time");
    assert_eq!(summary[1].1, "clock unavailable");
    assert_ne!(
        summary[1].2,
        Some(false),
        "a failure is not sent as a success"
    );
}

/// A JSON schema constrains the answer natively; the answer is the JSON text.
async fn json_schema<W: Wire>() {
    let up = Upstream::start().await;
    up.push(reply::<W>(W::text("{\"answer\": 42}")));
    let p = W::provider(&up);
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": false
    });
    let request = ChatRequest::builder(W::MODEL)
        .user("6 × 7 as JSON")
        .response_format(ResponseFormat::json_schema("answer", schema.clone()))
        .build()
        .unwrap();
    let answer = p.chat(&request).await.unwrap();
    let parsed: Value = serde_json::from_str(&answer.text()).unwrap();
    assert_eq!(parsed, json!({"answer": 42}));
    assert_eq!(last::<W>(&up).schema, Some(schema));
}

/// Reasoning is asked for, returned as the provider's reasoning parts (signed where the API
/// signs), and sent back on the next turn where the API wants it — never otherwise.
async fn reasoning<W: Wire>() {
    let up = Upstream::start().await;
    up.push(reply::<W>(W::reasoning(THINKING, SIGNATURE, "42")));
    up.push(reply::<W>(W::text("Yes.")));
    let p = W::provider(&up);
    let thinking = Reasoning::effort(ReasoningEffort::High).include_thoughts();
    let request = ChatRequest::builder(W::MODEL)
        .user("6 × 7?")
        .reasoning(thinking)
        .build()
        .unwrap();
    let answer = p.chat(&request).await.unwrap();
    assert_eq!(answer.reasoning().as_deref(), Some(THINKING));
    assert_eq!(answer.text(), "42");
    assert!(
        matches!(answer.content.first(), Some(ContentPart::Reasoning(_))),
        "reasoning comes first: {:?}",
        answer.content
    );
    for part in &answer.content {
        if let ContentPart::Reasoning(r) = part {
            assert_eq!(r.origin(), W::NAME);
        }
    }
    let expected: Vec<String> = if W::SIGNED_REASONING {
        vec![SIGNATURE.into()]
    } else {
        Vec::new()
    };
    assert_eq!(signatures::<W>(&answer.content), expected);
    assert!(last::<W>(&up).reasoning, "reasoning is asked for");

    let next = ChatRequest::builder(W::MODEL)
        .user("6 × 7?")
        .message(answer.to_message())
        .user("Sure?")
        .reasoning(thinking)
        .build()
        .unwrap();
    assert_eq!(p.chat(&next).await.unwrap().text(), "Yes.");
    let sent = last::<W>(&up);
    let assistant = sent.turns_of(Speaker::Assistant);
    assert_eq!(assistant.len(), 1);
    let turn = assistant[0];
    assert!(turn.parts.contains(&Part::Text("42".into())));
    if W::REASONING_SENT_BACK {
        assert!(
            turn.parts
                .iter()
                .any(|p| matches!(p, Part::Thinking { text, .. } if text == THINKING)),
            "{turn:?}"
        );
        assert_eq!(sent_signatures(turn), expected);
    } else {
        assert!(
            !turn.parts.iter().any(|p| matches!(
                p,
                Part::Thinking { .. } | Part::Redacted(_) | Part::Signature(_)
            )),
            "{turn:?}"
        );
        assert!(!sent.mentions(THINKING));
    }
}

/// A text stream: started, the pieces as they came, one finish, usage; and the collected
/// answer.
async fn stream_text<W: Wire>() {
    let up = Upstream::start().await;
    let pieces = ["Hel", "lo, ", "wörld"];
    up.push(stream_reply::<W>(W::stream_text(&pieces)));
    let p = W::provider(&up);
    let all = events(p.chat_stream(&ask::<W>("Hi")).await.unwrap()).await;
    assert!(
        matches!(&all[0], StreamEvent::Started { model: Some(m), .. } if m == W::MODEL),
        "{all:?}"
    );
    let deltas: Vec<&str> = all
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) if !t.is_empty() => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, pieces);
    let finishes: Vec<&StreamEvent> = all
        .iter()
        .filter(|e| matches!(e, StreamEvent::Finish { .. }))
        .collect();
    assert!(
        matches!(
            finishes.as_slice(),
            [StreamEvent::Finish {
                reason: FinishReason::Stop,
                raw: Some(_)
            }]
        ),
        "{finishes:?}"
    );
    assert!(all.iter().any(|e| matches!(e, StreamEvent::Usage(_))));
    assert!(last::<W>(&up).stream, "asked as a stream");

    up.push(stream_reply::<W>(W::stream_text(&pieces)));
    let answer = p
        .chat_stream(&ask::<W>("Hi"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(answer.content, vec![ContentPart::Text(pieces.concat())]);
    assert_eq!(answer.provider(), W::NAME);
    assert_eq!(answer.model, W::MODEL);
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert!(answer.usage.is_some());
    assert_eq!(answer.request_id, request_id::<W>());
}

/// Streamed tool calls: a start per call (in order, with distinct ids), the arguments in
/// fragments that join into the JSON, a tool-calls finish.
async fn stream_tool_calls<W: Wire>() {
    let up = Upstream::start().await;
    let calls = two_calls::<W>();
    up.push(Reply::sse(W::stream_tool_calls(&refs(&calls))));
    let p = W::provider(&up);
    let request = ChatRequest::builder(W::MODEL)
        .user("Weather and time in Paris?")
        .tool(weather())
        .tool(time())
        .build()
        .unwrap();
    let all = events(p.chat_stream(&request).await.unwrap()).await;
    let mut starts = Vec::new();
    let mut arguments = [String::new(), String::new()];
    for event in &all {
        match event {
            StreamEvent::ToolCallStart {
                index, id, name, ..
            } => starts.push((*index, id.clone(), name.clone())),
            StreamEvent::ToolCallDelta {
                index,
                arguments: a,
            } => arguments[*index].push_str(a),
            _ => {}
        }
    }
    assert_eq!(
        starts
            .iter()
            .map(|s| (s.0, s.2.as_str()))
            .collect::<Vec<_>>(),
        [(0, "weather"), (1, "time")]
    );
    for (i, (id, _, args)) in calls.iter().enumerate() {
        assert_eq!(&serde_json::from_str::<Value>(&arguments[i]).unwrap(), args);
        assert!(!starts[i].1.is_empty());
        if W::CALL_IDS {
            assert_eq!(&starts[i].1, id);
        }
    }
    assert_ne!(starts[0].1, starts[1].1);
    let finishes: Vec<&FinishReason> = all
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Finish { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(finishes, [&FinishReason::ToolCalls]);

    // The same events aggregate into the calls, ids included.
    let mut agg = Aggregator::new(W::NAME, W::MODEL, W::NAME);
    for event in all {
        agg.push(event);
    }
    let answer = agg.finish(None);
    assert_calls::<W>(&answer.tool_calls(), &calls);
    let ids: Vec<String> = answer.tool_calls().iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, [starts[0].1.clone(), starts[1].1.clone()]);
}

/// The same billed tokens give the same unified usage whatever the wire format, streamed or
/// not.
async fn usage<W: Wire>() {
    let up = Upstream::start().await;
    let b = billed::<W>();
    let body = W::usage("Counted.", b);
    up.push(reply::<W>(body.clone()));
    up.push(stream_reply::<W>(W::stream_of(&body)));
    let p = W::provider(&up);
    let expected = Usage::new(b.input, b.output)
        .with_cached_input(b.cached)
        .with_cache_write(b.cache_write)
        .with_reasoning(b.reasoning);
    let whole = p.chat(&ask::<W>("Count")).await.unwrap();
    assert_eq!(whole.usage, Some(expected));
    let streamed = p
        .chat_stream(&ask::<W>("Count"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(streamed.usage, Some(expected));
    assert_eq!(expected.total_tokens(), 1500);
}

/// One error kind: same kind, status, provider, request id and Retry-After for a plain and a
/// streaming call, and never the key.
async fn error_kind<W: Wire>(kind: ErrorKind) {
    let case = W::error(kind).unwrap_or_else(|| panic!("{} has no {kind} error", W::NAME));
    let up = Upstream::start().await;
    up.push(case.reply);
    up.push(case.streamed);
    let p = W::provider(&up);
    let request = ask::<W>("hi");
    let plain = p.chat(&request).await.unwrap_err();
    let streamed = match p.chat_stream(&request).await {
        Err(e) => e,
        Ok(stream) => stream.collect().await.unwrap_err(),
    };
    for err in [plain, streamed] {
        assert_eq!(err.kind(), kind, "{err}");
        assert_eq!(err.provider(), Some(W::NAME));
        if let Some(status) = case.status {
            assert_eq!(err.status(), Some(status), "{err}");
            assert_eq!(
                err.request_id().is_some(),
                W::REQUEST_ID_HEADER.is_some(),
                "{err:?}"
            );
        }
        let wait = (kind == ErrorKind::RateLimited).then_some(Duration::from_secs(20));
        assert_eq!(err.retry_after(), wait, "{err:?}");
        assert!(err.message().is_some_and(|m| !m.is_empty()), "{err:?}");
        assert_shown_without_key::<W>(&err);
    }
}

/// An answer stopped for safety is a response with the content-filter finish on every
/// provider; a refused prompt and a rejected tool call are errors where the API has them.
async fn filtered_and_rejected_output<W: Wire>() {
    let up = Upstream::start().await;
    let body = W::safety_stop();
    up.push(reply::<W>(body.clone()));
    up.push(stream_reply::<W>(W::stream_of(&body)));
    let p = W::provider(&up);
    let whole = p.chat(&ask::<W>("something bad")).await.unwrap();
    assert_eq!(whole.finish_reason, FinishReason::ContentFilter);
    assert!(whole.raw_finish_reason.is_some());
    let streamed = p
        .chat_stream(&ask::<W>("something bad"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(streamed, whole);

    for kind in [ErrorKind::ContentFiltered, ErrorKind::ModelOutput] {
        let Some(case) = W::error(kind) else {
            continue;
        };
        up.push(case.reply);
        up.push(case.streamed);
        let plain = p.chat(&ask::<W>("something bad")).await.unwrap_err();
        let streamed = match p.chat_stream(&ask::<W>("something bad")).await {
            Err(e) => e,
            Ok(stream) => stream.collect().await.unwrap_err(),
        };
        for err in [plain, streamed] {
            assert_eq!(err.kind(), kind, "{err:?}");
            assert_eq!(err.provider(), Some(W::NAME));
            if let Some(status) = case.status {
                assert_eq!(err.status(), Some(status));
            }
        }
    }
}

/// Error statuses without the provider's error body (a proxy's HTML page) map by status alike
/// on every provider, and the page never reaches the message.
async fn bare_statuses<W: Wire>() {
    let up = Upstream::start().await;
    let p = W::provider(&up);
    for (status, kind) in [
        (400, ErrorKind::InvalidRequest),
        (401, ErrorKind::Auth),
        (403, ErrorKind::PermissionDenied),
        (404, ErrorKind::NotFound),
        (408, ErrorKind::Timeout),
        (429, ErrorKind::RateLimited),
        (500, ErrorKind::Server),
        (502, ErrorKind::Server),
        (503, ErrorKind::Overloaded),
    ] {
        up.push(
            Reply::body(
                status,
                "text/html",
                "<html><body><h1>gateway error</h1></body></html>",
            )
            .header("retry-after", "7"),
        );
        let err = p.chat(&ask::<W>("hi")).await.unwrap_err();
        assert_eq!(err.kind(), kind, "HTTP {status}: {err:?}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.provider(), Some(W::NAME));
        assert!(
            err.message().is_none_or(|m| !m.contains("<html")),
            "{err:?}"
        );
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    }
}

/// A bare 504 (a gateway timing out, no provider error body) is a `Server` error, as
/// `ErrorKind::Server` documents (500, 502, 504) — the same on every provider.
async fn bare_504<W: Wire>() {
    let up = Upstream::start().await;
    up.push(Reply::body(
        504,
        "text/html",
        "<html><body><h1>504 Gateway Time-out</h1></body></html>",
    ));
    let err = W::provider(&up).chat(&ask::<W>("hi")).await.unwrap_err();
    assert_eq!(err.status(), Some(504));
    assert_eq!(err.kind(), ErrorKind::Server, "{err:?}");
}

/// A stream that ends without the provider's end marker is `StreamTruncated`, never a
/// success: the last event missing, a stream that stops after its first text, a connection
/// dropped mid-body.
async fn truncation<W: Wire>() {
    let up = Upstream::start().await;
    let mut without_end = W::stream_text(&["Hel", "lo"]);
    without_end.pop();
    up.push(Reply::sse(without_end));
    up.push(Reply::sse(W::partial_text_stream("Hel")));
    up.push(Reply::sse(W::stream_text(&["Hel", "lo", " there"])).reset_after(2));
    let p = W::provider(&up);
    for case in ["no end marker", "stopped after text", "connection reset"] {
        let err = p
            .chat_stream(&ask::<W>("hi"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StreamTruncated, "{case}: {err:?}");
        assert_eq!(err.provider(), Some(W::NAME), "{case}");
    }
}

/// An error event after text has streamed surfaces as the mapped kind, after that text.
async fn mid_stream_error<W: Wire>() {
    let up = Upstream::start().await;
    let p = W::provider(&up);
    for kind in [ErrorKind::Overloaded, ErrorKind::Server] {
        let mut chunks = W::partial_text_stream("Hel");
        chunks.push(W::stream_error(kind));
        up.push(Reply::sse(chunks));
        let mut stream = p.chat_stream(&ask::<W>("hi")).await.unwrap();
        let mut text = String::new();
        let err = loop {
            match stream.next().await {
                Some(Ok(StreamEvent::TextDelta(t))) => text.push_str(&t),
                Some(Ok(_)) => {}
                Some(Err(e)) => break e,
                None => panic!("the stream ended without its error"),
            }
        };
        assert_eq!(text, "Hel");
        assert_eq!(err.kind(), kind, "{err:?}");
        assert_eq!(err.provider(), Some(W::NAME));
        assert!(err.is_retryable());
    }
}

/// The same answer streamed and not streamed gives the same `ChatResponse`, field for field:
/// text, tool calls, reasoning with signatures, usage, a safety stop.
async fn stream_equals_chat<W: Wire>() {
    let up = Upstream::start().await;
    let p = W::provider(&up);
    let calls = two_calls::<W>();
    let bodies = [
        W::text("Hello, wörld — streamed"),
        W::tool_calls(&refs(&calls)),
        W::reasoning(THINKING, SIGNATURE, "42"),
        W::agent_step(THINKING, SIGNATURE, &refs(&calls)),
        W::usage("Counted.", billed::<W>()),
        W::safety_stop(),
    ];
    for body in bodies {
        up.push(reply::<W>(body.clone()));
        up.push(stream_reply::<W>(W::stream_of(&body)));
        let whole: ChatResponse = p.chat(&ask::<W>("q")).await.unwrap();
        let streamed = p
            .chat_stream(&ask::<W>("q"))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(streamed, whole, "{body}");
        assert!(!whole.content.is_empty() || whole.finish_reason == FinishReason::ContentFilter);
    }
}
