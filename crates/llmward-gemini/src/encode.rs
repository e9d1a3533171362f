//! [`ChatRequest`] → Gemini `generateContent` JSON body, and the embeddings body. Pure.

use serde_json::{Map, Number, Value, json};

use llmward_core::{
    ChatRequest, ContentPart, EmbedRequest, Error, ErrorKind, Image, ImageSource, ReasoningEffort,
    ReasoningPart, ResponseFormat, Result, Role, Signature, Tool, ToolCall, ToolChoice, ToolResult,
};

/// The wire-format family of Gemini's reasoning parts and signatures.
pub(crate) const ORIGIN: &str = "gemini";

/// Prefix of the tool-call ids llmward makes up when Gemini sends none (Gemini 2.5). Such ids
/// are never sent back: Gemini pairs calls and results by name and order.
pub(crate) const SYNTHETIC_ID_PREFIX: &str = "gemini_call_";

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidRequest, message)
}

/// The model's name without the optional `models/` prefix, checked so that it stays one path
/// segment.
///
/// # Errors
///
/// [`ErrorKind::InvalidRequest`] for an empty name or one holding `/`, `?`, `#`, whitespace or
/// a control character.
pub(crate) fn model_name(model: &str) -> Result<&str> {
    let name = model.strip_prefix("models/").unwrap_or(model);
    if name.is_empty() {
        return Err(invalid("model name is empty"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c.is_control())
    {
        return Err(invalid(format!(
            "model name contains {c:?}, which cannot be part of a Gemini model path"
        )));
    }
    Ok(name)
}

/// The model's name as a URL path segment: [`model_name`], with every byte outside the RFC 3986
/// unreserved set percent-encoded (so `:` cannot start a different method).
pub(crate) fn model_segment(model: &str) -> Result<String> {
    let name = model_name(model)?;
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

/// The signature Gemini 3 accepts on a function call it did not produce itself (history
/// from another provider, or edited history): it asks the API to skip validation for it.
pub(crate) const FOREIGN_CALL_SIGNATURE: &str = "skip_thought_signature_validator";

/// Gemini 3 rejects a model turn whose function calls carry no `thoughtSignature` (400
/// "Function call is missing a thought_signature"). Only the first call of a step carries one,
/// so a model turn whose calls are all unsigned gets the placeholder on its first call.
fn sign_foreign_calls(parts: &mut [Map<String, Value>]) {
    let is_call = |p: &Map<String, Value>| p.contains_key("functionCall");
    let mut calls = parts.iter().filter(|p| is_call(p)).peekable();
    if calls.peek().is_none() || calls.any(|p| p.contains_key("thoughtSignature")) {
        return;
    }
    if let Some(first) = parts.iter_mut().find(|p| is_call(p)) {
        first.insert(
            "thoughtSignature".into(),
            Value::String(FOREIGN_CALL_SIGNATURE.into()),
        );
    }
}

/// Whether the model takes `thinkingLevel` (Gemini 3 and later) rather than `thinkingBudget`.
fn uses_thinking_level(model: &str) -> bool {
    let name = model.strip_prefix("models/").unwrap_or(model);
    let Some(rest) = name.strip_prefix("gemini-") else {
        return false;
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u32>().is_ok_and(|major| major >= 3)
}

/// A float as a JSON number (a non-finite value, which the request builder refuses, is null).
fn float(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// The `id` to send for a tool call or result: none for ids llmward synthesized.
fn wire_id(id: &str) -> Option<&str> {
    (!id.is_empty() && !id.starts_with(SYNTHETIC_ID_PREFIX)).then_some(id)
}

fn gemini_signature(signature: Option<&Signature>) -> Option<&str> {
    signature
        .filter(|s| s.origin == ORIGIN)
        .map(|s| s.value.as_str())
}

/// One `contents[]` entry being built.
struct Turn {
    role: &'static str,
    parts: Vec<Map<String, Value>>,
}

/// The `generateContent` body for `request` (streaming uses the same body).
///
/// # Errors
///
/// [`ErrorKind::InvalidRequest`] for a conversation Gemini cannot take (no user or model
/// content, a tool result whose tool name cannot be found, a tool call in a user message);
/// [`ErrorKind::Unsupported`] for an image URL Gemini cannot fetch itself (llmward never
/// fetches URLs) or a content kind Gemini has no field for.
pub(crate) fn chat_body(request: &ChatRequest) -> Result<Value> {
    let mut body = Map::new();
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();

    for message in &request.messages {
        let role = match message.role {
            Role::System => {
                for part in &message.content {
                    match part {
                        ContentPart::Text(text) if !text.is_empty() => {
                            system.push(json!({ "text": text }));
                        }
                        ContentPart::Text(_) | ContentPart::Reasoning(_) => {}
                        _ => {
                            return Err(Error::unsupported(
                                "Gemini system instructions hold only text",
                            ));
                        }
                    }
                }
                continue;
            }
            Role::User | Role::Tool => "user",
            Role::Assistant => "model",
            _ => return Err(Error::unsupported("a message role Gemini has no name for")),
        };
        if turns.last().is_none_or(|t| t.role != role) {
            turns.push(Turn {
                role,
                parts: Vec::new(),
            });
        }
        let Some(turn) = turns.last_mut() else {
            continue;
        };
        for part in &message.content {
            encode_part(request, role, part, &mut turn.parts)?;
        }
        // A message whose every part was dropped (reasoning from another provider) leaves no
        // turn, so the turns around it still merge and alternate.
        if turn.parts.is_empty() {
            turns.pop();
        }
    }
    if turns.is_empty() {
        return Err(invalid(
            "Gemini needs at least one user or model message besides the system prompt",
        ));
    }

    if uses_thinking_level(&request.model) {
        for turn in turns.iter_mut().filter(|t| t.role == "model") {
            sign_foreign_calls(&mut turn.parts);
        }
    }

    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    let contents: Vec<Value> = turns
        .into_iter()
        .map(|t| json!({ "role": t.role, "parts": t.parts }))
        .collect();
    body.insert("contents".into(), Value::Array(contents));

    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request.tools.iter().map(function_declaration).collect();
        body.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations }]),
        );
        if let Some(choice) = &request.tool_choice {
            body.insert("toolConfig".into(), tool_config(choice)?);
        }
    }

    let config = generation_config(request)?;
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }

    for (k, v) in &request.extra {
        body.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(body))
}

fn encode_part(
    request: &ChatRequest,
    role: &'static str,
    part: &ContentPart,
    parts: &mut Vec<Map<String, Value>>,
) -> Result<()> {
    let mut out = Map::new();
    match part {
        // Gemini rejects empty text parts.
        ContentPart::Text(text) if text.is_empty() => return Ok(()),
        ContentPart::Text(text) => {
            out.insert("text".into(), Value::String(text.clone()));
        }
        ContentPart::Image(image) => {
            out = image_part(image)?;
        }
        ContentPart::ToolCall(call) => {
            if role != "model" {
                return Err(invalid("a tool call belongs in an assistant message"));
            }
            out = function_call_part(call);
        }
        ContentPart::ToolResult(result) => {
            if role != "user" {
                return Err(invalid("a tool result belongs in a tool or user message"));
            }
            out = function_response_part(request, result)?;
        }
        ContentPart::Reasoning(ReasoningPart::Thinking {
            text,
            signature,
            origin,
        }) if origin == ORIGIN => {
            if text.is_empty() && signature.is_none() {
                return Ok(());
            }
            out.insert("text".into(), Value::String(text.clone()));
            out.insert("thought".into(), Value::Bool(true));
            if let Some(sig) = signature {
                out.insert("thoughtSignature".into(), Value::String(sig.clone()));
            }
        }
        ContentPart::Reasoning(ReasoningPart::Signature(sig)) if sig.origin == ORIGIN => {
            // A signature belongs on the part it followed; if that part already has one (or
            // there is none), it travels on an empty text part, as Gemini itself sends it.
            if let Some(prev) = parts.last_mut() {
                if !prev.contains_key("thoughtSignature") {
                    prev.insert("thoughtSignature".into(), Value::String(sig.value.clone()));
                    return Ok(());
                }
            }
            out.insert("text".into(), Value::String(String::new()));
            out.insert("thoughtSignature".into(), Value::String(sig.value.clone()));
        }
        // Reasoning from other providers, and redacted reasoning (Gemini has none), is dropped.
        ContentPart::Reasoning(_) => return Ok(()),
        _ => return Err(Error::unsupported("a content part Gemini has no field for")),
    }
    parts.push(out);
    Ok(())
}

fn function_call_part(call: &ToolCall) -> Map<String, Value> {
    let args = match &call.arguments {
        Value::Object(_) => call.arguments.clone(),
        Value::Null => json!({}),
        // Gemini's args are a JSON object; anything else (unparsable arguments kept from
        // another provider) travels wrapped so the history stays intact.
        other => json!({ "value": other }),
    };
    let mut function_call = Map::new();
    function_call.insert("name".into(), Value::String(call.name.clone()));
    function_call.insert("args".into(), args);
    if let Some(id) = wire_id(&call.id) {
        function_call.insert("id".into(), Value::String(id.to_owned()));
    }
    let mut out = Map::new();
    out.insert("functionCall".into(), Value::Object(function_call));
    if let Some(sig) = gemini_signature(call.signature.as_ref()) {
        out.insert("thoughtSignature".into(), Value::String(sig.to_owned()));
    }
    out
}

fn function_response_part(
    request: &ChatRequest,
    result: &ToolResult,
) -> Result<Map<String, Value>> {
    let name = result
        .name
        .as_deref()
        .or_else(|| request.tool_name_for(&result.tool_call_id))
        .ok_or_else(|| {
            invalid(format!(
                "Gemini needs the tool name of result {}: set ToolResult::name or keep the call \
                 in the conversation",
                result.tool_call_id
            ))
        })?;
    // A JSON object is sent as the response itself; anything else is wrapped.
    let parsed = serde_json::from_str::<Value>(&result.content)
        .ok()
        .filter(Value::is_object);
    let response = match (parsed, result.is_error) {
        (Some(object), false) => object,
        (Some(object), true) => json!({ "error": object }),
        (None, false) => json!({ "content": result.content }),
        (None, true) => json!({ "error": result.content }),
    };
    let mut function_response = Map::new();
    function_response.insert("name".into(), Value::String(name.to_owned()));
    function_response.insert("response".into(), response);
    if let Some(id) = wire_id(&result.tool_call_id) {
        function_response.insert("id".into(), Value::String(id.to_owned()));
    }
    let mut out = Map::new();
    out.insert("functionResponse".into(), Value::Object(function_response));
    Ok(out)
}

fn image_part(image: &Image) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    match &image.source {
        ImageSource::Base64 { media_type, data } => {
            out.insert(
                "inlineData".into(),
                json!({ "mimeType": media_type, "data": data }),
            );
        }
        ImageSource::Url(url) => {
            if let Some((media_type, data)) = parse_data_url(url) {
                out.insert(
                    "inlineData".into(),
                    json!({ "mimeType": media_type, "data": data }),
                );
            } else if is_gemini_file_uri(url) {
                let mut file = Map::new();
                if let Some(mime) = mime_from_extension(url) {
                    file.insert("mimeType".into(), Value::String(mime.to_owned()));
                }
                file.insert("fileUri".into(), Value::String(url.clone()));
                out.insert("fileData".into(), Value::Object(file));
            } else {
                return Err(Error::unsupported(
                    "Gemini takes images inline (base64) or as Gemini file URIs (gs:// or \
                     generativelanguage.googleapis.com files); llmward never fetches URLs",
                ));
            }
        }
        _ => {
            return Err(Error::unsupported(
                "an image source Gemini has no field for",
            ));
        }
    }
    Ok(out)
}

/// `data:<media type>;base64,<data>` → (media type, data).
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    (!media_type.is_empty()).then_some((media_type, data))
}

/// A Cloud Storage URI, or a file uploaded with the Gemini Files API.
fn is_gemini_file_uri(url: &str) -> bool {
    if url.starts_with("gs://") {
        return true;
    }
    url.strip_prefix("https://generativelanguage.googleapis.com/")
        .is_some_and(|rest| rest.starts_with("files/") || rest.contains("/files/"))
}

fn mime_from_extension(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

fn function_declaration(tool: &Tool) -> Value {
    let mut decl = Map::new();
    decl.insert("name".into(), Value::String(tool.name.clone()));
    if let Some(description) = &tool.description {
        decl.insert("description".into(), Value::String(description.clone()));
    }
    // `parametersJsonSchema` takes the JSON Schema as written (`parameters` takes only
    // Google's OpenAPI subset and would need translating).
    if !tool.parameters.is_null() {
        decl.insert("parametersJsonSchema".into(), tool.parameters.clone());
    }
    Value::Object(decl)
}

fn tool_config(choice: &ToolChoice) -> Result<Value> {
    let config = match choice {
        ToolChoice::Auto => json!({ "mode": "AUTO" }),
        ToolChoice::None => json!({ "mode": "NONE" }),
        ToolChoice::Required => json!({ "mode": "ANY" }),
        ToolChoice::Tool(name) => json!({ "mode": "ANY", "allowedFunctionNames": [name] }),
        _ => return Err(Error::unsupported("a tool choice Gemini has no mode for")),
    };
    Ok(json!({ "functionCallingConfig": config }))
}

/// The thinking budget used for an effort level on models that take a budget (Gemini 2.5):
/// the values Google's OpenAI-compatible endpoint documents for low/medium/high, 0 (off) for
/// none and 512 for minimal.
pub(crate) fn effort_budget(effort: ReasoningEffort) -> Option<u32> {
    Some(match effort {
        ReasoningEffort::None => 0,
        ReasoningEffort::Minimal => 512,
        ReasoningEffort::Low => 1024,
        ReasoningEffort::Medium => 8192,
        ReasoningEffort::High => 24576,
        _ => return None,
    })
}

/// The `thinkingLevel` used for an effort level on Gemini 3 models: only `low` and `high`,
/// the levels every Gemini 3 model accepts (thinking cannot be turned off there).
pub(crate) fn effort_level(effort: ReasoningEffort) -> Option<&'static str> {
    Some(match effort {
        ReasoningEffort::None | ReasoningEffort::Minimal | ReasoningEffort::Low => "low",
        ReasoningEffort::Medium | ReasoningEffort::High => "high",
        _ => return None,
    })
}

fn generation_config(request: &ChatRequest) -> Result<Map<String, Value>> {
    let mut config = Map::new();
    if let Some(max) = request.max_tokens {
        config.insert("maxOutputTokens".into(), Value::from(max));
    }
    if let Some(t) = request.temperature {
        config.insert("temperature".into(), float(t));
    }
    if let Some(p) = request.top_p {
        config.insert("topP".into(), float(p));
    }
    if !request.stop.is_empty() {
        config.insert("stopSequences".into(), json!(request.stop));
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            config.insert("responseMimeType".into(), json!("application/json"));
            config.insert("responseJsonSchema".into(), schema.clone());
        }
        Some(_) => {
            return Err(Error::unsupported(
                "a response format Gemini has no field for",
            ));
        }
    }
    if let Some(reasoning) = &request.reasoning {
        let mut thinking = Map::new();
        // Gemini refuses a budget and a level together; an explicit budget wins.
        if let Some(budget) = reasoning.budget_tokens {
            thinking.insert("thinkingBudget".into(), Value::from(budget));
        } else if let Some(effort) = reasoning.effort {
            if uses_thinking_level(&request.model) {
                if let Some(level) = effort_level(effort) {
                    thinking.insert("thinkingLevel".into(), json!(level));
                }
            } else if let Some(budget) = effort_budget(effort) {
                thinking.insert("thinkingBudget".into(), Value::from(budget));
            }
        }
        if reasoning.include_thoughts {
            thinking.insert("includeThoughts".into(), Value::Bool(true));
        }
        if !thinking.is_empty() {
            config.insert("thinkingConfig".into(), Value::Object(thinking));
        }
    }
    Ok(config)
}

/// The `batchEmbedContents` body: one request per input.
pub(crate) fn embed_body(request: &EmbedRequest) -> Result<Value> {
    let name = model_name(&request.model)?;
    let model = format!("models/{name}");
    let requests: Vec<Value> = request
        .inputs
        .iter()
        .map(|text| {
            let mut r = Map::new();
            r.insert("model".into(), Value::String(model.clone()));
            r.insert("content".into(), json!({ "parts": [{ "text": text }] }));
            if let Some(d) = request.dimensions {
                r.insert("outputDimensionality".into(), Value::from(d));
            }
            Value::Object(r)
        })
        .collect();
    Ok(json!({ "requests": requests }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use llmward_core::{Message, Reasoning, ToolChoice};

    fn body(request: &ChatRequest) -> Value {
        chat_body(request).unwrap()
    }

    #[test]
    fn model_names_stay_one_path_segment() {
        assert_eq!(
            model_segment("gemini-2.5-flash").unwrap(),
            "gemini-2.5-flash"
        );
        assert_eq!(
            model_segment("models/gemini-2.5-flash").unwrap(),
            "gemini-2.5-flash"
        );
        assert_eq!(model_segment("a:b@c%").unwrap(), "a%3Ab%40c%25");
        assert_eq!(model_segment("é").unwrap(), "%C3%A9");
        for bad in [
            "",
            "models/",
            "a/b",
            "models/a/b",
            "a?key=x",
            "a#b",
            "a b",
            "a\tb",
            "a\u{0}",
        ] {
            let err = model_segment(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{bad:?}");
        }
    }

    #[test]
    fn system_and_merged_turns() {
        let r = ChatRequest::builder("gemini-2.5-flash")
            .system("Be brief.")
            .user("a")
            .user("b")
            .assistant("c")
            .system("Also kind.")
            .build()
            .unwrap();
        assert_eq!(
            body(&r),
            json!({
                "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Also kind."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                    {"role": "model", "parts": [{"text": "c"}]}
                ]
            })
        );
    }

    #[test]
    fn a_message_left_empty_does_not_split_a_turn() {
        // Regression: an assistant message holding only foreign reasoning used to leave two
        // user turns side by side, which Gemini refuses (turns must alternate).
        let r = ChatRequest::builder("m")
            .user("a")
            .message(Message::new(
                Role::Assistant,
                vec![ContentPart::Reasoning(ReasoningPart::Redacted {
                    data: "x".into(),
                    origin: "anthropic".into(),
                })],
            ))
            .user("b")
            .build()
            .unwrap();
        assert_eq!(
            body(&r)["contents"],
            json!([{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}])
        );
    }

    #[test]
    fn only_system_is_invalid() {
        let r = ChatRequest::builder("m").system("x").build().unwrap();
        assert_eq!(chat_body(&r).unwrap_err().kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn tool_round_trip_parts() {
        let mut real = ToolCall::new("abc123", "weather", json!({"city": "Berlin"}));
        real.signature = Some(Signature::new("gemini", "sig-1"));
        let mut foreign_sig = ToolCall::new("gemini_call_1_ff", "time", Value::Null);
        foreign_sig.signature = Some(Signature::new("anthropic", "nope"));
        let r = ChatRequest::builder("gemini-3-pro")
            .user("hi")
            .message(Message::new(
                Role::Assistant,
                vec![
                    ContentPart::ToolCall(real),
                    ContentPart::ToolCall(foreign_sig),
                ],
            ))
            .message(Message::tool_result(ToolResult::new("abc123", "15C")))
            .message(Message::tool_result(
                ToolResult::new("gemini_call_1_ff", "{\"hour\": 3}").with_name("time"),
            ))
            .message(Message::tool_result(
                ToolResult::new("abc123", "boom").error(),
            ))
            .message(Message::tool_result(
                ToolResult::new("abc123", "{\"code\": 7}").error(),
            ))
            .build()
            .unwrap();
        let b = body(&r);
        assert_eq!(
            b["contents"][1],
            json!({"role": "model", "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Berlin"}, "id": "abc123"},
                 "thoughtSignature": "sig-1"},
                {"functionCall": {"name": "time", "args": {}}}
            ]})
        );
        assert_eq!(
            b["contents"][2],
            json!({"role": "user", "parts": [
                {"functionResponse": {"name": "weather", "response": {"content": "15C"}, "id": "abc123"}},
                {"functionResponse": {"name": "time", "response": {"hour": 3}}},
                {"functionResponse": {"name": "weather", "response": {"error": "boom"}, "id": "abc123"}},
                {"functionResponse": {"name": "weather", "response": {"error": {"code": 7}}, "id": "abc123"}}
            ]})
        );
        assert_eq!(b["contents"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn tool_result_without_a_name_is_invalid() {
        let r = ChatRequest::builder("m")
            .message(Message::tool_result(ToolResult::new("lost", "x")))
            .build()
            .unwrap();
        let err = chat_body(&r).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.to_string().contains("lost"), "{err}");
    }

    #[test]
    fn reasoning_parts_by_origin() {
        let r = ChatRequest::builder("m")
            .user("q")
            .message(Message::new(
                Role::Assistant,
                vec![
                    ContentPart::Reasoning(ReasoningPart::Thinking {
                        text: "hmm".into(),
                        signature: None,
                        origin: "gemini".into(),
                    }),
                    ContentPart::Reasoning(ReasoningPart::Thinking {
                        text: "claude thought".into(),
                        signature: Some("a-sig".into()),
                        origin: "anthropic".into(),
                    }),
                    ContentPart::Reasoning(ReasoningPart::Redacted {
                        data: "x".into(),
                        origin: "anthropic".into(),
                    }),
                    ContentPart::Text("answer".into()),
                    ContentPart::Reasoning(ReasoningPart::Signature(Signature::new(
                        "gemini", "s1",
                    ))),
                    ContentPart::Reasoning(ReasoningPart::Signature(Signature::new(
                        "gemini", "s2",
                    ))),
                    ContentPart::Reasoning(ReasoningPart::Signature(Signature::new(
                        "openai", "s3",
                    ))),
                ],
            ))
            .message(Message::new(
                Role::Assistant,
                vec![ContentPart::Reasoning(ReasoningPart::Thinking {
                    text: "only other".into(),
                    signature: None,
                    origin: "openai".into(),
                })],
            ))
            .build()
            .unwrap();
        let b = body(&r);
        assert_eq!(
            b["contents"][1]["parts"],
            json!([
                {"text": "hmm", "thought": true},
                {"text": "answer", "thoughtSignature": "s1"},
                {"text": "", "thoughtSignature": "s2"}
            ])
        );
        assert_eq!(b["contents"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn images() {
        let part = |img: Image| {
            let r = ChatRequest::builder("m")
                .message(Message::new(Role::User, vec![ContentPart::Image(img)]))
                .build()
                .unwrap();
            chat_body(&r).map(|b| b["contents"][0]["parts"][0].clone())
        };
        assert_eq!(
            part(Image::base64("image/png", "iVBO")).unwrap(),
            json!({"inlineData": {"mimeType": "image/png", "data": "iVBO"}})
        );
        assert_eq!(
            part(Image::url("data:image/jpeg;base64,/9j/")).unwrap(),
            json!({"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}})
        );
        assert_eq!(
            part(Image::url("gs://bucket/cat.JPG")).unwrap(),
            json!({"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/cat.JPG"}})
        );
        let files = "https://generativelanguage.googleapis.com/v1beta/files/abc";
        assert_eq!(
            part(Image::url(files)).unwrap(),
            json!({"fileData": {"fileUri": files}})
        );
        for url in [
            "https://example.com/cat.png",
            "http://example.com/cat.png",
            "https://generativelanguage.googleapis.com/v1beta/models",
            "data:image/png,notbase64",
        ] {
            assert_eq!(
                part(Image::url(url)).unwrap_err().kind(),
                ErrorKind::Unsupported,
                "{url}"
            );
        }
    }

    #[test]
    fn tools_config_and_generation_config() {
        let r = ChatRequest::builder("gemini-2.5-flash")
            .user("q")
            .tool(Tool::new("weather", json!({"type": "object"})).description("Weather"))
            .tool(Tool::new("noargs", Value::Null))
            .tool_choice(ToolChoice::Tool("weather".into()))
            .max_tokens(100)
            .temperature(0.7)
            .top_p(0.9)
            .stop("END")
            .response_format(ResponseFormat::json_schema("p", json!({"type": "object"})))
            .reasoning(Reasoning::effort(ReasoningEffort::Medium).include_thoughts())
            .extra("safetySettings", json!([]))
            .build()
            .unwrap();
        let b = body(&r);
        assert_eq!(
            b["tools"],
            json!([{"functionDeclarations": [
                {"name": "weather", "description": "Weather", "parametersJsonSchema": {"type": "object"}},
                {"name": "noargs"}
            ]}])
        );
        assert_eq!(
            b["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}})
        );
        assert_eq!(
            b["generationConfig"],
            json!({
                "maxOutputTokens": 100,
                "temperature": 0.7,
                "topP": 0.9,
                "stopSequences": ["END"],
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object"},
                "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true}
            })
        );
        assert_eq!(b["safetySettings"], json!([]));

        for (choice, mode) in [
            (ToolChoice::Auto, "AUTO"),
            (ToolChoice::None, "NONE"),
            (ToolChoice::Required, "ANY"),
        ] {
            assert_eq!(
                tool_config(&choice).unwrap()["functionCallingConfig"]["mode"],
                mode
            );
        }
    }

    #[test]
    fn thinking_level_for_gemini_3_and_budget_wins() {
        let cfg = |model: &str, reasoning: Reasoning| {
            let r = ChatRequest::builder(model)
                .user("q")
                .reasoning(reasoning)
                .build()
                .unwrap();
            body(&r)["generationConfig"]["thinkingConfig"].clone()
        };
        assert_eq!(
            cfg(
                "gemini-3-flash-preview",
                Reasoning::effort(ReasoningEffort::Low)
            ),
            json!({"thinkingLevel": "low"})
        );
        assert_eq!(
            cfg(
                "models/gemini-3.1-pro",
                Reasoning::effort(ReasoningEffort::Medium)
            ),
            json!({"thinkingLevel": "high"})
        );
        assert_eq!(
            cfg("gemini-2.5-flash", Reasoning::effort(ReasoningEffort::None)),
            json!({"thinkingBudget": 0})
        );
        let mut both = Reasoning::budget(2048);
        both.effort = Some(ReasoningEffort::High);
        assert_eq!(cfg("gemini-3-pro", both), json!({"thinkingBudget": 2048}));
        assert_eq!(
            cfg("gemini-2.5-pro", Reasoning::default().include_thoughts()),
            json!({"includeThoughts": true})
        );
        assert!(uses_thinking_level("gemini-10-ultra"));
        assert!(!uses_thinking_level("gemini-flash-latest"));
        assert!(!uses_thinking_level("gemma-3"));
    }

    #[test]
    fn embed_body_shape() {
        let r = EmbedRequest::new("models/gemini-embedding-001", vec!["a".into(), "b".into()])
            .dimensions(768);
        assert_eq!(
            embed_body(&r).unwrap(),
            json!({"requests": [
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 768},
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 768}
            ]})
        );
    }
}
