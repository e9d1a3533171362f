//! `ChatRequest` -> Chat Completions request body (pure).

use serde_json::{Map, Value, json};

use keyward_core::{
    ChatRequest, ContentPart, EmbedRequest, Error, ErrorKind, ImageSource, ReasoningPart,
    ResponseFormat, Result, Role, ToolChoice,
};

/// Where the token limit goes: OpenAI's current field, or the legacy one most compatible
/// servers know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MaxTokensField {
    /// `max_completion_tokens` (OpenAI, Azure OpenAI; required by reasoning models).
    MaxCompletionTokens,
    /// `max_tokens` (Mistral, Ollama, vLLM, most compatible servers).
    MaxTokens,
}

/// Which role system prompts are sent as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SystemRole {
    /// `developer` for OpenAI reasoning models (`o1`, `o3`, `o4`, `gpt-5` families), else
    /// `system`.
    Auto,
    /// Always `system`.
    System,
    /// Always `developer`.
    Developer,
}

/// Encoding options fixed per provider instance.
#[derive(Clone, Debug)]
pub(crate) struct EncodeOptions {
    pub(crate) max_tokens_field: MaxTokensField,
    pub(crate) system_role: SystemRole,
    pub(crate) include_usage: bool,
    pub(crate) send_reasoning_content: bool,
}

fn system_role(options: &EncodeOptions, model: &str) -> &'static str {
    match options.system_role {
        SystemRole::System => "system",
        SystemRole::Developer => "developer",
        SystemRole::Auto => {
            let m = model.rsplit('/').next().unwrap_or(model);
            let reasoning = ["o1", "o3", "o4", "gpt-5"]
                .iter()
                .any(|p| m == *p || m.starts_with(&format!("{p}-")));
            if reasoning { "developer" } else { "system" }
        }
    }
}

fn image_url(source: &ImageSource) -> Result<String> {
    match source {
        ImageSource::Url(url) => Ok(url.clone()),
        ImageSource::Base64 { media_type, data } => Ok(format!("data:{media_type};base64,{data}")),
        _ => Err(Error::unsupported(
            "this image source is not supported by Chat Completions",
        )),
    }
}

/// Encodes the messages. Tool results become `tool` messages wherever they appear; reasoning
/// from other providers is dropped.
fn messages(request: &ChatRequest, options: &EncodeOptions) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(request.messages.len());
    for message in &request.messages {
        let mut text = String::new();
        let mut parts: Vec<Value> = Vec::new();
        let mut has_image = false;
        let mut tool_calls: Vec<Value> = Vec::new();
        let mut reasoning = String::new();
        let mut results: Vec<Value> = Vec::new();
        for part in &message.content {
            match part {
                ContentPart::Text(t) => {
                    text.push_str(t);
                    parts.push(json!({"type": "text", "text": t}));
                }
                ContentPart::Image(image) => {
                    has_image = true;
                    let mut url = json!({"url": image_url(&image.source)?});
                    if let Some(detail) = &image.detail {
                        url["detail"] = json!(detail);
                    }
                    parts.push(json!({"type": "image_url", "image_url": url}));
                }
                ContentPart::ToolCall(call) => tool_calls.push(json!({
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments.to_string()},
                })),
                ContentPart::ToolResult(result) => results.push(json!({
                    "role": "tool",
                    "tool_call_id": result.tool_call_id,
                    "content": result.content,
                })),
                ContentPart::Reasoning(ReasoningPart::Thinking { text, origin, .. })
                    if origin == "openai" =>
                {
                    reasoning.push_str(text)
                }
                ContentPart::Reasoning(_) => {}
                _ => {
                    return Err(Error::unsupported(
                        "a content part is not supported by Chat Completions",
                    ));
                }
            }
        }
        match message.role {
            Role::System => {
                out.push(json!({"role": system_role(options, &request.model), "content": text}));
            }
            Role::User => {
                if has_image {
                    out.push(json!({"role": "user", "content": parts}));
                } else if !text.is_empty() || results.is_empty() {
                    out.push(json!({"role": "user", "content": text}));
                }
            }
            Role::Assistant => {
                let mut m = Map::new();
                m.insert("role".into(), json!("assistant"));
                // An assistant turn with only tool calls sends "" (accepted everywhere; some
                // compatible servers reject null).
                m.insert("content".into(), json!(text));
                if !tool_calls.is_empty() {
                    m.insert("tool_calls".into(), Value::Array(tool_calls));
                }
                if options.send_reasoning_content && !reasoning.is_empty() {
                    m.insert("reasoning_content".into(), json!(reasoning));
                }
                out.push(Value::Object(m));
            }
            Role::Tool => {
                if results.is_empty() && !text.is_empty() {
                    // A tool message without a typed result cannot be paired with a call.
                    out.push(json!({"role": "user", "content": text}));
                }
            }
            _ => {
                return Err(Error::unsupported(
                    "a message role is not supported by Chat Completions",
                ));
            }
        }
        out.extend(results);
    }
    Ok(out)
}

/// The Chat Completions body for `request`.
///
/// # Errors
///
/// `InvalidRequest` when a tool schema is not a JSON object.
pub(crate) fn chat_body(
    request: &ChatRequest,
    options: &EncodeOptions,
    stream: bool,
) -> Result<Vec<u8>> {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("messages".into(), Value::Array(messages(request, options)?));
    if !request.tools.is_empty() {
        let mut tools = Vec::with_capacity(request.tools.len());
        for tool in &request.tools {
            if !tool.parameters.is_object() {
                return Err(Error::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "tool {}: parameters must be a JSON Schema object",
                        tool.name
                    ),
                ));
            }
            let mut function = json!({"name": tool.name, "parameters": tool.parameters});
            if let Some(d) = &tool.description {
                function["description"] = json!(d);
            }
            if let Some(strict) = tool.strict {
                function["strict"] = json!(strict);
            }
            tools.push(json!({"type": "function", "function": function}));
        }
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = &request.tool_choice {
        let value = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
            _ => json!("auto"),
        };
        body.insert("tool_choice".into(), value);
    }
    if let Some(parallel) = request.parallel_tool_calls {
        if !request.tools.is_empty() {
            body.insert("parallel_tool_calls".into(), json!(parallel));
        }
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            body.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some(ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => {
            body.insert(
                "response_format".into(),
                json!({"type": "json_schema",
                       "json_schema": {"name": name, "schema": schema, "strict": strict}}),
            );
        }
        Some(_) => {
            return Err(Error::unsupported(
                "response format not supported by OpenAI",
            ));
        }
    }
    if let Some(max) = request.max_tokens {
        let field = match options.max_tokens_field {
            MaxTokensField::MaxCompletionTokens => "max_completion_tokens",
            MaxTokensField::MaxTokens => "max_tokens",
        };
        body.insert(field.into(), json!(max));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !request.stop.is_empty() {
        body.insert("stop".into(), json!(request.stop));
    }
    // Only an effort level maps here; a bare token budget has no Chat Completions field.
    if let Some(effort) = request.reasoning.and_then(|r| r.effort) {
        body.insert("reasoning_effort".into(), json!(effort.as_str()));
    }
    if stream {
        body.insert("stream".into(), json!(true));
        if options.include_usage {
            body.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    for (k, v) in &request.extra {
        body.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&Value::Object(body))
        .map_err(|_| Error::new(ErrorKind::InvalidRequest, "request could not be encoded"))
}

/// The embeddings body for `request`.
pub(crate) fn embed_body(request: &EmbedRequest) -> Result<Vec<u8>> {
    let mut body =
        json!({"model": request.model, "input": request.inputs, "encoding_format": "float"});
    if let Some(d) = request.dimensions {
        body["dimensions"] = json!(d);
    }
    serde_json::to_vec(&body)
        .map_err(|_| Error::new(ErrorKind::InvalidRequest, "request could not be encoded"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use keyward_core::{
        Image, Message, Reasoning, ReasoningEffort, Signature, Tool, ToolCall, ToolResult,
    };

    fn opts() -> EncodeOptions {
        EncodeOptions {
            max_tokens_field: MaxTokensField::MaxCompletionTokens,
            system_role: SystemRole::Auto,
            include_usage: true,
            send_reasoning_content: false,
        }
    }

    fn encode(r: &ChatRequest, stream: bool) -> Value {
        serde_json::from_slice(&chat_body(r, &opts(), stream).unwrap()).unwrap()
    }

    #[test]
    fn full_request_shape() {
        let mut call = ToolCall::new("toolu_1", "weather", json!({"lat": "52.52"}));
        call.signature = Some(Signature::new("gemini", "sig"));
        let r = ChatRequest::builder("gpt-4.1-mini")
            .system("Be brief.")
            .message(Message::new(
                Role::User,
                vec![
                    ContentPart::Text("What is this?".into()),
                    ContentPart::Image(Image::base64("image/png", "AAAA")),
                ],
            ))
            .message(Message::new(
                Role::Assistant,
                vec![
                    ContentPart::Reasoning(ReasoningPart::Thinking {
                        text: "hmm".into(),
                        signature: Some("s".into()),
                        origin: "anthropic".into(),
                    }),
                    ContentPart::ToolCall(call),
                ],
            ))
            .message(Message::tool_result(ToolResult::new("toolu_1", "15C")))
            .tool(
                Tool::new("weather", json!({"type": "object"}))
                    .description("Weather")
                    .strict(true),
            )
            .tool_choice(ToolChoice::Tool("weather".into()))
            .parallel_tool_calls(false)
            .response_format(ResponseFormat::json_schema(
                "answer",
                json!({"type": "object"}),
            ))
            .max_tokens(100)
            .temperature(0.5)
            .top_p(0.9)
            .stop("END")
            .reasoning(Reasoning::effort(ReasoningEffort::Low))
            .tag("tenant", "acme")
            .extra("seed", json!(7))
            .build()
            .unwrap();
        let body = encode(&r, true);
        assert_eq!(
            body,
            json!({
                "model": "gpt-4.1-mini",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                    {"role": "assistant", "content": "", "tool_calls": [
                        {"id": "toolu_1", "type": "function",
                         "function": {"name": "weather", "arguments": "{\"lat\":\"52.52\"}"}}]},
                    {"role": "tool", "tool_call_id": "toolu_1", "content": "15C"}],
                "tools": [{"type": "function", "function": {
                    "name": "weather", "parameters": {"type": "object"},
                    "description": "Weather", "strict": true}}],
                "tool_choice": {"type": "function", "function": {"name": "weather"}},
                "parallel_tool_calls": false,
                "response_format": {"type": "json_schema", "json_schema": {
                    "name": "answer", "schema": {"type": "object"}, "strict": true}},
                "max_completion_tokens": 100,
                "temperature": 0.5,
                "top_p": 0.9,
                "stop": ["END"],
                "reasoning_effort": "low",
                "stream": true,
                "stream_options": {"include_usage": true},
                "seed": 7
            })
        );
        assert!(!body.to_string().contains("acme"), "tags are never sent");
    }

    #[test]
    fn developer_role_for_reasoning_models() {
        let r = ChatRequest::builder("gpt-5-nano")
            .system("x")
            .user("y")
            .build()
            .unwrap();
        assert_eq!(encode(&r, false)["messages"][0]["role"], "developer");
        let r = ChatRequest::builder("o3-mini")
            .system("x")
            .user("y")
            .build()
            .unwrap();
        assert_eq!(encode(&r, false)["messages"][0]["role"], "developer");
        let r = ChatRequest::builder("gpt-4o")
            .system("x")
            .user("y")
            .build()
            .unwrap();
        assert_eq!(encode(&r, false)["messages"][0]["role"], "system");
    }

    #[test]
    fn non_object_tool_schema_is_refused() {
        let r = ChatRequest::builder("m")
            .user("y")
            .tool(Tool::new("t", json!("string")))
            .build()
            .unwrap();
        assert_eq!(
            chat_body(&r, &opts(), false).unwrap_err().kind(),
            ErrorKind::InvalidRequest
        );
    }
}
