//! Cross-provider history through the facade: a conversation begun on one provider (its own
//! wire format, so the history holds that provider's real tool-call ids, reasoning parts and
//! signatures), with tool calls and their results, then continued on another — for every
//! ordered pair. The assertions are on the JSON the second upstream received, read by that
//! API's strict reader (tests/support): the fields it accepts, roles and their order, tool
//! results paired with their calls, the first provider's reasoning dropped and the second's
//! own reasoning kept as it requires.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use llmward::{
    ChatRequest, ChatResponse, ContentPart, Message, Reasoning, ReasoningPart, Tool, ToolResult,
};
use llmward_testkit::{Recorded, Reply, Upstream};
use serde_json::{Value, json};
use support::{AnthropicWire, GeminiWire, OpenAiWire, Part, Sent, Speaker, Turn, Wire};

/// One test per ordered pair `first => second`.
macro_rules! pairs {
    ($($name:ident: $first:ty => $second:ty),+ $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            continue_on::<$first, $second>().await
        }
    )+};
}

pairs! {
    openai_to_anthropic: OpenAiWire => AnthropicWire,
    openai_to_gemini: OpenAiWire => GeminiWire,
    anthropic_to_openai: AnthropicWire => OpenAiWire,
    anthropic_to_gemini: AnthropicWire => GeminiWire,
    gemini_to_openai: GeminiWire => OpenAiWire,
    gemini_to_anthropic: GeminiWire => AnthropicWire,
}

const QUESTION: &str = "Weather and time in Paris?";
const FOLLOW_UP: &str = "And tomorrow?";
const FIRST_THINKING: &str = "The user wants two facts: call weather and time together.";
const FIRST_SIGNATURE: &str = "Sig/FIRST+provider==0001";
const SECOND_THINKING: &str = "Both tools answered; put the two facts in one line.";
const SECOND_SIGNATURE: &str = "Sig/SECOND+provider==0002";
const SECOND_TEXT: &str = "15°C at 14:00.";

fn weather() -> Tool {
    Tool::new(
        "weather",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    )
}

fn time() -> Tool {
    Tool::new(
        "time",
        json!({"type": "object", "properties": {"tz": {"type": "string"}}}),
    )
}

fn user_turn(text: &str) -> Turn {
    Turn {
        speaker: Speaker::User,
        parts: vec![Part::Text(text.into())],
    }
}

/// Begins the conversation on `A`: its agent step (reasoning, then two tool calls) as its API
/// sends it, then the tool results. Returns the history and `A`'s answer.
async fn begin<A: Wire>() -> (Vec<Message>, ChatResponse) {
    let up = Upstream::start().await;
    let ids = [A::call_id(0), A::call_id(1)];
    let calls = [
        (ids[0].as_str(), "weather", json!({"city": "Paris"})),
        (ids[1].as_str(), "time", json!({"tz": "Europe/Paris"})),
    ];
    up.push(Reply::json(
        200,
        A::agent_step(FIRST_THINKING, FIRST_SIGNATURE, &calls),
    ));
    let request = ChatRequest::builder(A::MODEL)
        .system("Be brief.")
        .user(QUESTION)
        .tool(weather())
        .tool(time())
        .build()
        .unwrap();
    let answer = A::provider(&up).chat(&request).await.unwrap();
    let got = answer.tool_calls();
    assert_eq!(got.len(), 2, "{answer:?}");
    assert!(
        answer
            .content
            .iter()
            .any(|p| matches!(p, ContentPart::Reasoning(r) if r.origin() == A::NAME)),
        "the history carries {}'s reasoning: {answer:?}",
        A::NAME
    );
    let mut history = vec![
        Message::system("Be brief."),
        Message::user(QUESTION),
        answer.to_message(),
    ];
    for (call, result) in got.iter().zip(["15°C", "14:00"]) {
        history.push(Message::tool_result(ToolResult::new(&call.id, result)));
    }
    (history, answer)
}

/// Every opaque or reasoning string of `answer`: none may reach another provider.
fn reasoning_strings(answer: &ChatResponse) -> Vec<String> {
    let mut out = Vec::new();
    for part in &answer.content {
        match part {
            ContentPart::Reasoning(ReasoningPart::Thinking {
                text, signature, ..
            }) => {
                out.push(text.clone());
                out.extend(signature.clone());
            }
            ContentPart::Reasoning(ReasoningPart::Redacted { data, .. }) => out.push(data.clone()),
            ContentPart::Reasoning(ReasoningPart::Signature(s)) => out.push(s.value.clone()),
            ContentPart::ToolCall(c) => out.extend(c.signature.as_ref().map(|s| s.value.clone())),
            _ => {}
        }
    }
    assert!(!out.is_empty());
    out
}

/// What `B` received of the conversation begun on `A`.
fn assert_history<A: Wire, B: Wire>(sent: &Sent, first: &ChatResponse) {
    assert_eq!(sent.system, ["Be brief."]);
    assert_eq!(sent.turns.first(), Some(&user_turn(QUESTION)));
    let turn = &sent.turns[1];
    assert_eq!(turn.speaker, Speaker::Assistant, "{sent:?}");

    // A's text and calls, in order; ids, where sent, are A's own (valid on every API).
    let text: String = turn
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, first.text());
    let calls: Vec<&Part> = turn
        .parts
        .iter()
        .filter(|p| matches!(p, Part::Call { .. }))
        .collect();
    assert_eq!(calls.len(), 2);
    for (part, call) in calls.iter().zip(first.tool_calls()) {
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
        if let Some(id) = id {
            assert_eq!(id, &call.id, "{} rewrote {}'s call id", B::NAME, A::NAME);
        }
        assert_eq!(
            signature,
            &None,
            "{}'s call signature reached {}",
            A::NAME,
            B::NAME
        );
    }

    // Each result pairs with its call.
    let pairs: Vec<(String, String)> = sent
        .pairs()
        .iter()
        .map(|(call, result)| match result {
            Part::Result { content, .. } => (support::call_name(call).to_owned(), content.clone()),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("weather".to_owned(), "15°C".to_owned()),
            ("time".to_owned(), "14:00".to_owned())
        ]
    );

    // A's reasoning, redacted reasoning and signatures are dropped.
    assert!(
        !turn.parts.iter().any(|p| matches!(
            p,
            Part::Thinking { .. } | Part::Redacted(_) | Part::Signature(_)
        )),
        "{turn:?}"
    );
    for secret in reasoning_strings(first) {
        assert!(
            !sent.mentions(&secret),
            "{}'s reasoning {secret:?} reached {}",
            A::NAME,
            B::NAME
        );
    }
}

/// The conversation begun on `A` continues on `B`: right after the tool results, then one
/// turn later with `B`'s own (reasoning) answer in the history.
async fn continue_on<A: Wire, B: Wire>() {
    let (history, first) = begin::<A>().await;
    let up = Upstream::start().await;
    B::echo(&up);
    // B's first answer is its own reasoning answer; later ones come from the echo handler.
    up.push(Reply::json(
        200,
        B::reasoning(SECOND_THINKING, SECOND_SIGNATURE, SECOND_TEXT),
    ));
    let p = B::provider(&up);
    let request = ChatRequest::builder(B::MODEL)
        .messages(history.clone())
        .tool(weather())
        .tool(time())
        .build()
        .unwrap();
    let second = p.chat(&request).await.unwrap();
    assert_eq!(second.provider(), B::NAME);
    assert_eq!(second.text(), SECOND_TEXT);

    let sent = B::read(&up.requests()[0]);
    assert_history::<A, B>(&sent, &first);
    assert_eq!(sent.turns_of(Speaker::Assistant).len(), 1);
    assert!(
        !sent.parts().any(|p| matches!(
            p,
            Part::Thinking { .. } | Part::Redacted(_) | Part::Signature(_)
        )),
        "{sent:?}"
    );

    let mut longer = history;
    longer.push(second.to_message());
    longer.push(Message::user(FOLLOW_UP));
    let request = ChatRequest::builder(B::MODEL)
        .messages(longer)
        .tool(weather())
        .tool(time())
        .build()
        .unwrap();
    assert_eq!(
        p.chat(&request).await.unwrap().text(),
        "Hello from testkit",
        "the echo handler accepted the request"
    );
    let sent = B::read(&up.requests()[1]);
    assert_history::<A, B>(&sent, &first);
    assert_eq!(sent.turns.last(), Some(&user_turn(FOLLOW_UP)));
    let own = sent.turns_of(Speaker::Assistant);
    assert_eq!(own.len(), 2);
    let own = own[1];
    assert!(
        own.parts.contains(&Part::Text(SECOND_TEXT.into())),
        "{own:?}"
    );
    let reasoning: Vec<&Part> = own
        .parts
        .iter()
        .filter(|p| matches!(p, Part::Thinking { .. } | Part::Signature(_)))
        .collect();
    if B::REASONING_SENT_BACK {
        assert!(
            own.parts
                .iter()
                .any(|p| matches!(p, Part::Thinking { text, .. } if text == SECOND_THINKING)),
            "{}'s own reasoning goes back: {own:?}",
            B::NAME
        );
        assert!(
            own.parts.iter().any(|p| matches!(
                p,
                Part::Thinking { signature: Some(s), .. } | Part::Signature(s) if s == SECOND_SIGNATURE
            )),
            "{}'s own signature goes back: {own:?}",
            B::NAME
        );
    } else {
        assert!(reasoning.is_empty(), "{own:?}");
        assert!(!sent.mentions(SECOND_THINKING));
    }
}

/// The conversation begun on `A`, continued on `B` with reasoning on and `B`'s `model`.
async fn continue_with<A: Wire, B: Wire>(model: &str, reasoning: Option<Reasoning>) -> Sent {
    let (history, _) = begin::<A>().await;
    let up = Upstream::start().await;
    B::echo(&up);
    let mut request = ChatRequest::builder(model)
        .messages(history)
        .tool(weather())
        .tool(time());
    if let Some(reasoning) = reasoning {
        request = request.reasoning(reasoning);
    }
    B::provider(&up)
        .chat(&request.build().unwrap())
        .await
        .unwrap();
    B::read(&up.requests()[0])
}

/// Control for the defect below: Gemini 3 accepts Gemini's own tool history, whose first call
/// carries Gemini's signature.
#[tokio::test]
async fn gemini_3_takes_its_own_signed_tool_history() {
    let sent = continue_with::<GeminiWire, GeminiWire>("gemini-3-flash-preview", None).await;
    assert_eq!(sent.pairs().len(), 2);
}

/// Gemini 3 validates thought signatures on the function calls of the current turn and
/// answers 400 when the first call of a step has none — which is every call another
/// provider made. Google documents a placeholder signature for calls Gemini did not produce.
#[tokio::test]
async fn foreign_tool_calls_continue_on_gemini_3() {
    continue_with::<OpenAiWire, GeminiWire>("gemini-3-flash-preview", None).await;
}

/// Control for the defect below: with thinking on, Anthropic takes its own tool loop, whose
/// assistant turn starts with its signed thinking.
#[tokio::test]
async fn anthropic_thinking_takes_its_own_tool_loop() {
    let sent = continue_with::<AnthropicWire, AnthropicWire>(
        AnthropicWire::MODEL,
        Some(Reasoning::budget(2048)),
    )
    .await;
    assert!(sent.reasoning);
    assert!(matches!(
        sent.turns[1].parts.first(),
        Some(Part::Thinking { .. })
    ));
}

/// With thinking on, Anthropic requires the assistant turn before the trailing tool results to
/// start with a thinking block; another provider's tool calls have none, so the request is
/// refused unless thinking is left off for that turn.
#[tokio::test]
async fn foreign_tool_loop_continues_on_anthropic_with_thinking() {
    continue_with::<OpenAiWire, AnthropicWire>(AnthropicWire::MODEL, Some(Reasoning::budget(2048)))
        .await;
}

fn recorded(path: &str, body: Value) -> Recorded {
    Recorded {
        method: "POST".into(),
        path: path.into(),
        headers: vec![("anthropic-version".into(), "2023-06-01".into())],
        body: Bytes::from(body.to_string()),
    }
}

fn refused(read: fn(&Recorded) -> Sent, path: &str, body: Value) -> String {
    let rec = recorded(path, body);
    let outcome = catch_unwind(AssertUnwindSafe(|| read(&rec)));
    let panic = outcome.expect_err("the reader accepted a request the API refuses");
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// The readers the pairs rely on do refuse what each API refuses (so a passing pair means
/// something).
#[test]
fn readers_refuse_what_the_apis_refuse() {
    let openai = "/v1/chat/completions";
    let call =
        json!({"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}});
    for (body, reason) in [
        (
            json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "call_1", "content": "x"}]}),
            "must be a response to a preceding message",
        ),
        (
            json!({"model": "m", "messages": [
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "user", "content": "x"}]}),
            "must be followed by tool messages",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_0123456789012345678901234567890123456789", "type": "function",
                 "function": {"name": "f", "arguments": "{}"}}]}]}),
            "1 to 40 characters",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "content": "a", "reasoning_content": "r"}]}),
            "rejects the field `reasoning_content`",
        ),
    ] {
        let message = refused(OpenAiWire::read, openai, body);
        assert!(message.contains(reason), "{message}");
    }

    let anthropic = "/v1/messages";
    let tool_use = json!({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}});
    let result = json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"});
    for (body, reason) in [
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            "max_tokens",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "messages": [
                {"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}),
            "roles must alternate",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": [tool_use]},
                {"role": "user", "content": [{"type": "text", "text": "b"}, result]}]}),
            "must come first",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": [tool_use]},
                {"role": "user", "content": "b"}]}),
            "without `tool_result` blocks",
        ),
        (
            json!({"model": "m", "max_tokens": 10, "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "call.1", "name": "f", "input": {}}]}]}),
            "^[a-zA-Z0-9_-]+$",
        ),
    ] {
        let message = refused(AnthropicWire::read, anthropic, body);
        assert!(message.contains(reason), "{message}");
    }

    let gemini = "/v1beta/models/gemini-2.5-flash:generateContent";
    let function_call =
        json!({"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]});
    for (path, body, reason) in [
        (
            gemini,
            json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
            "role must be user or model",
        ),
        (
            gemini,
            json!({"contents": [{"role": "user", "parts": [{"text": "a"}]}, function_call,
                {"role": "user", "parts": [{"functionResponse": {"name": "", "response": {}}}]}]}),
            "functionResponse.name is required",
        ),
        (
            gemini,
            json!({"contents": [{"role": "user", "parts": [{"text": "a"}]}, function_call,
                {"role": "user", "parts": [{"text": "b"}]}]}),
            "number of function response parts",
        ),
        (
            "/v1beta/models/gemini-3-flash-preview:generateContent",
            json!({"contents": [{"role": "user", "parts": [{"text": "a"}]}, function_call,
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]}),
            "missing a thought_signature",
        ),
    ] {
        let message = refused(GeminiWire::read, path, body);
        assert!(message.contains(reason), "{message}");
    }
}
