//! [`ChatRequest`] -> Anthropic Messages request body (pure, no I/O).

use llmward_core::{
    CacheBreakpoint, ChatRequest, ContentPart, Error, ImageSource, Message, ReasoningEffort,
    ReasoningPart, ResponseFormat, Result, Role, Tool, ToolChoice,
};
use serde_json::{Map, Value, json};

use crate::ORIGIN;

/// The smallest thinking budget the API accepts.
pub(crate) const MIN_THINKING_BUDGET: u32 = 1024;

/// Thinking budget for an effort given without `budget_tokens`.
pub(crate) fn effort_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::Low => Some(1024),
        ReasoningEffort::Medium => Some(4096),
        ReasoningEffort::High => Some(16384),
        // None and Minimal (and efforts added later) mean no extended thinking.
        _ => None,
    }
}

/// The request body for `request`. `default_max_tokens` applies when the request has none.
///
/// # Errors
///
/// [`Unsupported`](llmward_core::ErrorKind::Unsupported) for `ResponseFormat::JsonObject`,
/// non-text parts in a system message, and image sources Anthropic cannot take.
pub(crate) fn body(request: &ChatRequest, stream: bool, default_max_tokens: u32) -> Result<Value> {
    let mut body = Map::new();
    body.insert("model".into(), Value::String(request.model.clone()));

    let (max_tokens, thinking) = budget(request, default_max_tokens);
    body.insert("max_tokens".into(), json!(max_tokens));

    if let Some(system) = system(&request.messages)? {
        body.insert("system".into(), system);
    }
    let messages = messages(&request.messages)?;
    // Inside a tool loop, Anthropic requires the assistant turn before the trailing tool
    // results to start with a thinking block when thinking is on. A loop begun on another
    // provider (whose reasoning was dropped) has none, so thinking waits for the next turn.
    let thinking = thinking.filter(|_| !in_unthought_tool_loop(&messages));
    body.insert("messages".into(), Value::Array(messages));

    if !request.tools.is_empty() {
        let tools: Vec<Value> = request.tools.iter().map(tool).collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = tool_choice(request) {
            body.insert("tool_choice".into(), choice);
        }
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    if let Some(budget) = thinking {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            body.insert(
                "output_config".into(),
                json!({"format": {"type": "json_schema", "schema": schema}}),
            );
        }
        Some(ResponseFormat::JsonObject) => {
            return Err(Error::unsupported(
                "Anthropic has no free-form JSON mode: use ResponseFormat::JsonSchema",
            ));
        }
        Some(_) => return Err(Error::unsupported("this response format is not supported")),
    }
    if stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    for (k, v) in &request.extra {
        body.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(body))
}

/// `(max_tokens, thinking budget)`. An explicit budget is sent as given (0 turns thinking
/// off); an effort-derived one is capped below an explicit `max_tokens` and dropped if that
/// leaves less than the API's minimum. Without `max_tokens`, the budget is added to the
/// default so the answer keeps room (the API requires `max_tokens > budget_tokens`).
fn budget(request: &ChatRequest, default_max_tokens: u32) -> (u32, Option<u32>) {
    let reasoning = request.reasoning.as_ref();
    let thinking = match reasoning.and_then(|r| r.budget_tokens) {
        Some(0) => None,
        Some(explicit) => Some(explicit),
        None => match (
            reasoning.and_then(|r| r.effort).and_then(effort_budget),
            request.max_tokens,
        ) {
            (Some(b), Some(max)) => {
                Some(b.min(max.saturating_sub(1))).filter(|b| *b >= MIN_THINKING_BUDGET)
            }
            (b, _) => b,
        },
    };
    let max_tokens = match (request.max_tokens, thinking) {
        (Some(max), _) => max,
        (None, Some(b)) => default_max_tokens.saturating_add(b),
        (None, None) => default_max_tokens,
    };
    (max_tokens, thinking)
}

fn cache_control(cache: CacheBreakpoint) -> Value {
    match cache {
        CacheBreakpoint::Long => json!({"type": "ephemeral", "ttl": "1h"}),
        _ => json!({"type": "ephemeral"}),
    }
}

fn mark(block: &mut Value, cache: CacheBreakpoint) {
    if let Value::Object(map) = block {
        map.insert("cache_control".into(), cache_control(cache));
    }
}

/// The top-level `system`: a string, or text blocks when a cache breakpoint is set on a
/// system message or there are several system texts.
fn system(messages: &[Message]) -> Result<Option<Value>> {
    let mut blocks = Vec::new();
    let mut cached = false;
    for m in messages.iter().filter(|m| m.role == Role::System) {
        let before = blocks.len();
        for part in &m.content {
            match part {
                ContentPart::Text(t) if t.is_empty() => {}
                ContentPart::Text(t) => blocks.push(json!({"type": "text", "text": t})),
                _ => {
                    return Err(Error::unsupported(
                        "Anthropic system prompts hold text only",
                    ));
                }
            }
        }
        if let Some(cache) = m.cache {
            if blocks.len() > before {
                cached = true;
                if let Some(last) = blocks.last_mut() {
                    mark(last, cache);
                }
            }
        }
    }
    if blocks.is_empty() {
        return Ok(None);
    }
    if !cached {
        if let [only] = blocks.as_slice() {
            return Ok(Some(only["text"].clone()));
        }
    }
    Ok(Some(Value::Array(blocks)))
}

/// One turn under construction: blocks that must lead it (tool results in a user turn,
/// thinking in an assistant turn), then the rest in order.
struct Turn {
    role: &'static str,
    lead: Vec<Value>,
    rest: Vec<Value>,
}

/// Whether the conversation ends with tool results answering an assistant turn that does
/// not start with a (signed or redacted) thinking block.
fn in_unthought_tool_loop(messages: &[Value]) -> bool {
    let [.., assistant, last] = messages else {
        return false;
    };
    let first_type = |m: &Value| m["content"][0]["type"].as_str().map(str::to_owned);
    let ends_with_results =
        last["role"] == "user" && first_type(last).as_deref() == Some("tool_result");
    let thought = matches!(
        first_type(assistant).as_deref(),
        Some("thinking" | "redacted_thinking")
    );
    ends_with_results && assistant["role"] == "assistant" && !thought
}

fn messages(messages: &[Message]) -> Result<Vec<Value>> {
    let mut turns: Vec<Turn> = Vec::new();
    for m in messages {
        let role = match m.role {
            Role::System => continue,
            Role::Assistant => "assistant",
            // User, Tool (results travel in user turns), and roles added later.
            _ => "user",
        };
        let assistant = role == "assistant";
        let mut lead = Vec::new();
        let mut rest = Vec::new();
        for part in &m.content {
            match part {
                ContentPart::Text(t) if t.is_empty() => {}
                ContentPart::Text(t) => rest.push(json!({"type": "text", "text": t})),
                ContentPart::Image(image) => rest.push(image_block(&image.source)?),
                ContentPart::ToolCall(call) => rest.push(json!({
                    "type": "tool_use",
                    "id": tool_id(&call.id),
                    "name": call.name,
                    "input": tool_input(&call.arguments),
                })),
                ContentPart::ToolResult(result) => {
                    let mut block = json!({
                        "type": "tool_result",
                        "tool_use_id": tool_id(&result.tool_call_id),
                    });
                    if !result.content.is_empty() {
                        block["content"] = json!([{"type": "text", "text": result.content}]);
                    }
                    if result.is_error {
                        block["is_error"] = Value::Bool(true);
                    }
                    lead.push(block);
                }
                ContentPart::Reasoning(part) if assistant => {
                    if let Some(block) = reasoning_block(part) {
                        lead.push(block);
                    }
                }
                // Reasoning outside an assistant turn, and parts added later.
                _ => {}
            }
        }
        if let Some(cache) = m.cache {
            // Thinking blocks cannot carry cache_control; tool results can.
            let target = if rest.is_empty() && !assistant {
                lead.last_mut()
            } else {
                rest.last_mut()
            };
            if let Some(block) = target {
                mark(block, cache);
            }
        }
        if lead.is_empty() && rest.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(turn) if turn.role == role => {
                turn.lead.extend(lead);
                turn.rest.extend(rest);
            }
            _ => turns.push(Turn { role, lead, rest }),
        }
    }
    Ok(turns
        .into_iter()
        .map(|t| {
            let mut content = t.lead;
            content.extend(t.rest);
            json!({"role": t.role, "content": content})
        })
        .collect())
}

/// Anthropic's thinking blocks, sent back only when they came from Anthropic with what the
/// API needs to verify them (a signature, or the redacted data).
fn reasoning_block(part: &ReasoningPart) -> Option<Value> {
    if part.origin() != ORIGIN {
        return None;
    }
    match part {
        ReasoningPart::Thinking {
            text,
            signature: Some(signature),
            ..
        } if !signature.is_empty() => Some(json!({
            "type": "thinking",
            "thinking": text,
            "signature": signature,
        })),
        ReasoningPart::Redacted { data, .. } => {
            Some(json!({"type": "redacted_thinking", "data": data}))
        }
        // Unsigned thinking (the API rejects it) and loose signatures (never Anthropic's).
        _ => None,
    }
}

fn image_block(source: &ImageSource) -> Result<Value> {
    match source {
        ImageSource::Base64 { media_type, data } => Ok(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        })),
        ImageSource::Url(url) => Ok(json!({
            "type": "image",
            "source": {"type": "url", "url": url},
        })),
        _ => Err(Error::unsupported(
            "this image source has no Anthropic form",
        )),
    }
}

/// Tool arguments as the `input` object Anthropic requires.
fn tool_input(arguments: &Value) -> Value {
    match arguments {
        Value::Object(_) => arguments.clone(),
        Value::Null => json!({}),
        // A string holding JSON (an OpenAI-style call that was never parsed), else wrapped.
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => v,
            _ => json!({"input": s}),
        },
        other => json!({"input": other}),
    }
}

/// Makes a tool-call id acceptable to Anthropic (`^[a-zA-Z0-9_-]+$`). Valid ids pass
/// unchanged; any other id has each other character replaced by `_` and a hash of the
/// original appended, so distinct ids stay distinct and a `tool_use` and its `tool_result`
/// (mapped by the same function) still pair.
pub(crate) fn tool_id(id: &str) -> String {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !id.is_empty() && id.chars().all(valid) {
        return id.to_owned();
    }
    let mut out: String = id.chars().map(|c| if valid(c) { c } else { '_' }).collect();
    if out.is_empty() {
        out.push_str("toolu");
    }
    // FNV-1a: stable across runs and platforms, unlike std's RandomState hashers.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    out.push_str(&format!("-{hash:016x}"));
    out
}

fn tool(t: &Tool) -> Value {
    let mut schema = match &t.parameters {
        Value::Object(map) if !map.is_empty() => t.parameters.clone(),
        _ => json!({"type": "object", "properties": {}}),
    };
    if let Value::Object(map) = &mut schema {
        map.entry("type")
            .or_insert_with(|| Value::String("object".into()));
    }
    let mut out = json!({"name": t.name, "input_schema": schema});
    if let Some(d) = &t.description {
        out["description"] = Value::String(d.clone());
    }
    if t.strict == Some(true) {
        out["strict"] = Value::Bool(true);
    }
    if let Some(cache) = t.cache {
        mark(&mut out, cache);
    }
    out
}

fn tool_choice(request: &ChatRequest) -> Option<Value> {
    let no_parallel = request.parallel_tool_calls == Some(false);
    let mut choice = match &request.tool_choice {
        None if no_parallel => json!({"type": "auto"}),
        None => return None,
        Some(ToolChoice::None) => return Some(json!({"type": "none"})),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::Tool(name)) => json!({"type": "tool", "name": name}),
        // Auto, and choices added later.
        Some(_) => json!({"type": "auto"}),
    };
    if no_parallel {
        choice["disable_parallel_tool_use"] = Value::Bool(true);
    }
    Some(choice)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use llmward_core::{Image, Reasoning, Signature, ToolCall, ToolResult};

    fn encode(r: &ChatRequest) -> Value {
        body(r, false, 4096).unwrap()
    }

    #[test]
    fn minimal_body() {
        let r = ChatRequest::builder("claude-x").user("Hi").build().unwrap();
        assert_eq!(
            encode(&r),
            json!({
                "model": "claude-x",
                "max_tokens": 4096,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            })
        );
        let s = body(&r, true, 10).unwrap();
        assert_eq!(s["stream"], true);
        assert_eq!(s["max_tokens"], 10);
    }

    #[test]
    fn options_and_extra() {
        let r = ChatRequest::builder("m")
            .system("Be brief.")
            .user("Hi")
            .max_tokens(100)
            .temperature(0.7)
            .top_p(0.9)
            .stop("END")
            .tag("tenant", "acme")
            .extra("top_k", json!(5))
            .extra("max_tokens", json!(50))
            .build()
            .unwrap();
        let b = encode(&r);
        assert_eq!(b["system"], "Be brief.");
        assert_eq!(b["temperature"], 0.7);
        assert_eq!(b["top_p"], 0.9);
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["top_k"], 5);
        assert_eq!(b["max_tokens"], 50, "extra overrides");
        assert!(!b.to_string().contains("acme"), "tags are never sent");
    }

    #[test]
    fn system_blocks_with_cache_breakpoints() {
        let r = ChatRequest::builder("m")
            .message(Message::system("one").with_cache(CacheBreakpoint::Long))
            .message(Message::system(""))
            .message(Message::system("two"))
            .user("Hi")
            .build()
            .unwrap();
        assert_eq!(
            encode(&r)["system"],
            json!([
                {"type": "text", "text": "one", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                {"type": "text", "text": "two"},
            ])
        );
        let r = ChatRequest::builder("m")
            .message(Message::new(
                Role::System,
                vec![ContentPart::Image(Image::url("https://x/y.png"))],
            ))
            .user("Hi")
            .build()
            .unwrap();
        assert_eq!(
            body(&r, false, 1).unwrap_err().kind(),
            llmward_core::ErrorKind::Unsupported
        );
    }

    #[test]
    fn turns_merge_and_tool_results_lead() {
        let call = ToolCall::new("call_abc.1", "weather", json!({"city": "Berlin"}));
        let r = ChatRequest::builder("m")
            .user("a")
            .user("b")
            .message(Message::new(
                Role::Assistant,
                vec![
                    ContentPart::Text("checking".into()),
                    ContentPart::ToolCall(call),
                    ContentPart::Reasoning(ReasoningPart::Thinking {
                        text: "hmm".into(),
                        signature: Some("sig".into()),
                        origin: "anthropic".into(),
                    }),
                ],
            ))
            .message(
                Message::tool_result(ToolResult::new("call_abc.1", "15C").error())
                    .with_cache(CacheBreakpoint::Default),
            )
            .user("thanks")
            .build()
            .unwrap();
        let b = encode(&r);
        let id = tool_id("call_abc.1");
        assert!(id.starts_with("call_abc_1-"), "{id}");
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "checking"},
                    {"type": "tool_use", "id": id, "name": "weather", "input": {"city": "Berlin"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": id,
                     "content": [{"type": "text", "text": "15C"}], "is_error": true,
                     "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "thanks"}]},
            ])
        );
    }

    #[test]
    fn foreign_reasoning_is_dropped_and_anthropic_reasoning_kept() {
        let parts = vec![
            ContentPart::Reasoning(ReasoningPart::Thinking {
                text: "openai thoughts".into(),
                signature: None,
                origin: "openai".into(),
            }),
            ContentPart::Reasoning(ReasoningPart::Thinking {
                text: "gemini thoughts".into(),
                signature: Some("g".into()),
                origin: "gemini".into(),
            }),
            ContentPart::Reasoning(ReasoningPart::Signature(Signature::new("gemini", "s"))),
            ContentPart::Reasoning(ReasoningPart::Thinking {
                text: "unsigned".into(),
                signature: None,
                origin: "anthropic".into(),
            }),
            ContentPart::Reasoning(ReasoningPart::Redacted {
                data: "opaque".into(),
                origin: "anthropic".into(),
            }),
            ContentPart::Text("answer".into()),
        ];
        let mut call = ToolCall::new("c", "f", json!({}));
        call.signature = Some(Signature::new("gemini", "sig"));
        let r = ChatRequest::builder("m")
            .user("q")
            .message(Message::new(Role::Assistant, parts))
            .message(Message::new(
                Role::Assistant,
                vec![ContentPart::ToolCall(call)],
            ))
            .message(Message::new(
                Role::Assistant,
                vec![ContentPart::Reasoning(ReasoningPart::Redacted {
                    data: "x".into(),
                    origin: "gemini".into(),
                })],
            ))
            .build()
            .unwrap();
        let b = encode(&r);
        assert_eq!(
            b["messages"][1]["content"],
            json!([
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "text", "text": "answer"},
                {"type": "tool_use", "id": "c", "name": "f", "input": {}},
            ])
        );
        assert_eq!(b["messages"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn tool_ids_are_sanitized_deterministically_and_injectively() {
        assert_eq!(tool_id("toolu_01Ay5Kzh"), "toolu_01Ay5Kzh");
        assert_eq!(tool_id("call_ABC-123"), "call_ABC-123");
        let a = tool_id("call.1");
        let b = tool_id("call:1");
        assert_ne!(a, b);
        assert_eq!(a, tool_id("call.1"));
        assert_ne!(a, tool_id("call_1"));
        for id in ["", "é", "gemini/fn#0", "a b", "x".repeat(3).as_str()] {
            let out = tool_id(id);
            assert!(!out.is_empty());
            assert!(
                out.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "{out}"
            );
        }
    }

    #[test]
    fn images() {
        let r = ChatRequest::builder("m")
            .message(Message::new(
                Role::User,
                vec![
                    ContentPart::Text("what?".into()),
                    ContentPart::Image(Image::base64("image/png", "iVBORw0KGgo=")),
                    ContentPart::Image(Image::url("https://example.com/cat.jpg")),
                ],
            ))
            .build()
            .unwrap();
        assert_eq!(
            encode(&r)["messages"][0]["content"],
            json!([
                {"type": "text", "text": "what?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ])
        );
    }

    #[test]
    fn tools_and_choices() {
        let base = || {
            ChatRequest::builder("m")
                .user("x")
                .tool(
                    Tool::new(
                        "weather",
                        json!({"properties": {"city": {"type": "string"}}}),
                    )
                    .description("Weather")
                    .strict(true)
                    .with_cache(CacheBreakpoint::Default),
                )
                .tool(Tool::new("noargs", Value::Null))
        };
        let b = encode(&base().build().unwrap());
        assert_eq!(
            b["tools"],
            json!([
                {"name": "weather", "description": "Weather", "strict": true,
                 "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                 "cache_control": {"type": "ephemeral"}},
                {"name": "noargs", "input_schema": {"type": "object", "properties": {}}},
            ])
        );
        assert!(b.get("tool_choice").is_none());
        for (choice, parallel, want) in [
            (Some(ToolChoice::Auto), None, json!({"type": "auto"})),
            (Some(ToolChoice::Required), None, json!({"type": "any"})),
            (
                Some(ToolChoice::Tool("weather".into())),
                Some(false),
                json!({"type": "tool", "name": "weather", "disable_parallel_tool_use": true}),
            ),
            (Some(ToolChoice::None), Some(false), json!({"type": "none"})),
            (
                None,
                Some(false),
                json!({"type": "auto", "disable_parallel_tool_use": true}),
            ),
        ] {
            let mut r = base();
            if let Some(c) = choice {
                r = r.tool_choice(c);
            }
            if let Some(p) = parallel {
                r = r.parallel_tool_calls(p);
            }
            assert_eq!(encode(&r.build().unwrap())["tool_choice"], want);
        }
        // Without tools there is nothing to choose from: the API rejects a lone tool_choice.
        let r = ChatRequest::builder("m")
            .user("x")
            .parallel_tool_calls(false)
            .build()
            .unwrap();
        assert!(encode(&r).get("tool_choice").is_none());
    }

    #[test]
    fn tool_arguments_become_an_object() {
        assert_eq!(tool_input(&json!("{\"a\":1}")), json!({"a": 1}));
        assert_eq!(tool_input(&json!("oops")), json!({"input": "oops"}));
        assert_eq!(tool_input(&json!([1])), json!({"input": [1]}));
        assert_eq!(tool_input(&Value::Null), json!({}));
    }

    #[test]
    fn thinking_budgets() {
        let with = |reasoning: Reasoning, max: Option<u32>| {
            let mut b = ChatRequest::builder("m").user("x").reasoning(reasoning);
            if let Some(m) = max {
                b = b.max_tokens(m);
            }
            let body = encode(&b.build().unwrap());
            (body["max_tokens"].clone(), body.get("thinking").cloned())
        };
        let on = |n: u32| Some(json!({"type": "enabled", "budget_tokens": n}));
        assert_eq!(with(Reasoning::budget(2000), None), (json!(6096), on(2000)));
        assert_eq!(
            with(Reasoning::budget(2000), Some(8000)),
            (json!(8000), on(2000))
        );
        assert_eq!(with(Reasoning::budget(0), None), (json!(4096), None));
        assert_eq!(
            with(Reasoning::effort(ReasoningEffort::Low), None),
            (json!(5120), on(1024))
        );
        assert_eq!(
            with(Reasoning::effort(ReasoningEffort::Medium), None),
            (json!(8192), on(4096))
        );
        assert_eq!(
            with(Reasoning::effort(ReasoningEffort::High), Some(10000)),
            (json!(10000), on(9999))
        );
        assert_eq!(
            with(Reasoning::effort(ReasoningEffort::High), Some(1000)),
            (json!(1000), None)
        );
        assert_eq!(
            with(Reasoning::effort(ReasoningEffort::Minimal), None),
            (json!(4096), None)
        );
        assert_eq!(
            with(Reasoning::effort(ReasoningEffort::None), None),
            (json!(4096), None)
        );
    }

    #[test]
    fn response_formats() {
        let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
        let r = ChatRequest::builder("m")
            .user("x")
            .response_format(ResponseFormat::json_schema("person", schema.clone()))
            .build()
            .unwrap();
        assert_eq!(
            encode(&r)["output_config"],
            json!({"format": {"type": "json_schema", "schema": schema}})
        );
        let r = ChatRequest::builder("m")
            .user("x")
            .response_format(ResponseFormat::JsonObject)
            .build()
            .unwrap();
        assert_eq!(
            body(&r, false, 1).unwrap_err().kind(),
            llmward_core::ErrorKind::Unsupported
        );
    }
}
