//! `ChatRequest` -> Chat Completions request body (pure).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Value, json};

use llmward_core::{
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

fn image_url(source: &ImageSource) -> Result<Cow<'_, str>> {
    match source {
        ImageSource::Url(url) => Ok(Cow::Borrowed(url)),
        ImageSource::Base64 { media_type, data } => {
            Ok(Cow::Owned(format!("data:{media_type};base64,{data}")))
        }
        _ => Err(Error::unsupported(
            "this image source is not supported by Chat Completions",
        )),
    }
}

// The wire structs borrow from the request and serialize straight into the body buffer (no
// intermediate `Value` tree). Fields are in alphabetical order, as a `Value` map would write
// them, so the bytes match what an equivalent `serde_json::Map` produces.

#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    messages: Vec<WireMessage<'a>>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<WireContent<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<Cow<'a, str>>,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireCall<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireContent<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<WirePart<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WirePart<'a> {
    ImageUrl { image_url: WireImage<'a> },
    Text { text: &'a str },
}

#[derive(Serialize)]
struct WireImage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    url: Cow<'a, str>,
}

#[derive(Serialize)]
struct WireCall<'a> {
    function: WireFunction<'a>,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    arguments: String,
    name: &'a str,
}

#[derive(Serialize)]
struct WireTool<'a> {
    function: WireToolFunction<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct WireToolFunction<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    name: &'a str,
    parameters: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

fn joined<'a>(texts: &[&'a str]) -> Cow<'a, str> {
    match texts {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(one),
        many => Cow::Owned(many.concat()),
    }
}

/// Encodes the messages. Tool results become `tool` messages wherever they appear; reasoning
/// from other providers is dropped.
fn messages<'a>(request: &'a ChatRequest, options: &EncodeOptions) -> Result<Vec<WireMessage<'a>>> {
    let mut out = Vec::with_capacity(request.messages.len());
    for message in &request.messages {
        let mut texts: Vec<&str> = Vec::new();
        let mut parts: Vec<WirePart<'_>> = Vec::new();
        let mut has_image = false;
        let mut tool_calls: Vec<WireCall<'_>> = Vec::new();
        let mut reasoning: Vec<&str> = Vec::new();
        let mut results: Vec<WireMessage<'_>> = Vec::new();
        for part in &message.content {
            match part {
                ContentPart::Text(t) => {
                    texts.push(t);
                    parts.push(WirePart::Text { text: t });
                }
                ContentPart::Image(image) => {
                    has_image = true;
                    parts.push(WirePart::ImageUrl {
                        image_url: WireImage {
                            detail: image.detail.as_deref(),
                            url: image_url(&image.source)?,
                        },
                    });
                }
                ContentPart::ToolCall(call) => tool_calls.push(WireCall {
                    function: WireFunction {
                        arguments: call.arguments.to_string(),
                        name: &call.name,
                    },
                    id: &call.id,
                    kind: "function",
                }),
                ContentPart::ToolResult(result) => results.push(WireMessage {
                    content: Some(WireContent::Text(Cow::Borrowed(&result.content))),
                    reasoning_content: None,
                    role: "tool",
                    tool_call_id: Some(&result.tool_call_id),
                    tool_calls: Vec::new(),
                }),
                ContentPart::Reasoning(ReasoningPart::Thinking { text, origin, .. })
                    if origin == "openai" =>
                {
                    reasoning.push(text)
                }
                ContentPart::Reasoning(_) => {}
                _ => {
                    return Err(Error::unsupported(
                        "a content part is not supported by Chat Completions",
                    ));
                }
            }
        }
        let plain = |role| WireMessage {
            content: Some(WireContent::Text(joined(&texts))),
            reasoning_content: None,
            role,
            tool_call_id: None,
            tool_calls: Vec::new(),
        };
        match message.role {
            Role::System => out.push(plain(system_role(options, &request.model))),
            Role::User => {
                if has_image {
                    out.push(WireMessage {
                        content: Some(WireContent::Parts(parts)),
                        reasoning_content: None,
                        role: "user",
                        tool_call_id: None,
                        tool_calls: Vec::new(),
                    });
                } else if !texts.is_empty() || results.is_empty() {
                    out.push(plain("user"));
                }
            }
            Role::Assistant => {
                // An assistant turn with only tool calls sends "" (accepted everywhere; some
                // compatible servers reject null).
                let mut m = plain("assistant");
                m.tool_calls = tool_calls;
                if options.send_reasoning_content && !reasoning.is_empty() {
                    m.reasoning_content = Some(joined(&reasoning));
                }
                out.push(m);
            }
            Role::Tool => {
                if results.is_empty() && !texts.is_empty() {
                    // A tool message without a typed result cannot be paired with a call.
                    out.push(plain("user"));
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
        tools.push(WireTool {
            function: WireToolFunction {
                description: tool.description.as_deref(),
                name: &tool.name,
                parameters: &tool.parameters,
                strict: tool.strict,
            },
            kind: "function",
        });
    }
    let tool_choice = request.tool_choice.as_ref().map(|choice| match choice {
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        _ => json!("auto"),
    });
    let response_format = match &request.response_format {
        None | Some(ResponseFormat::Text) => None,
        Some(ResponseFormat::JsonObject) => Some(json!({"type": "json_object"})),
        Some(ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => Some(json!({"type": "json_schema",
                          "json_schema": {"name": name, "schema": schema, "strict": strict}})),
        Some(_) => {
            return Err(Error::unsupported(
                "response format not supported by OpenAI",
            ));
        }
    };
    let (max_completion_tokens, max_tokens) = match options.max_tokens_field {
        MaxTokensField::MaxCompletionTokens => (request.max_tokens, None),
        MaxTokensField::MaxTokens => (None, request.max_tokens),
    };
    let body = Body {
        max_completion_tokens,
        max_tokens,
        messages: messages(request, options)?,
        model: &request.model,
        parallel_tool_calls: request
            .parallel_tool_calls
            .filter(|_| !request.tools.is_empty()),
        // Only an effort level maps here; a bare token budget has no Chat Completions field.
        reasoning_effort: request.reasoning.and_then(|r| r.effort).map(|e| e.as_str()),
        response_format,
        stop: &request.stop,
        stream: stream.then_some(true),
        stream_options: (stream && options.include_usage).then_some(StreamOptions {
            include_usage: true,
        }),
        temperature: request.temperature,
        tool_choice,
        tools,
        top_p: request.top_p,
    };
    let encode_error = |_| Error::new(ErrorKind::InvalidRequest, "request could not be encoded");
    if request.extra.is_empty() {
        return serde_json::to_vec(&body).map_err(encode_error);
    }
    // Raw fields override what llmward wrote, so merge them into a map first (rare path).
    let Value::Object(mut map) = serde_json::to_value(&body).map_err(encode_error)? else {
        return Err(Error::new(
            ErrorKind::InvalidRequest,
            "request could not be encoded",
        ));
    };
    for (k, v) in &request.extra {
        map.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&Value::Object(map)).map_err(encode_error)
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
    use llmward_core::{
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
