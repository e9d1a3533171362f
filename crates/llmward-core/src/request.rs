//! What a caller asks for: [`ChatRequest`], its messages, tools and options.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::{Error, Result};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Instructions for the model (OpenAI `system`/`developer`, Anthropic `system`, Gemini
    /// `systemInstruction`).
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// Results of tool calls.
    Tool,
}

impl Role {
    /// `"system"`, `"user"`, `"assistant"` or `"tool"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A prompt-caching breakpoint: everything up to and including the marked item may be cached
/// by providers that support explicit caching (Anthropic); others ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CacheBreakpoint {
    /// The provider's default lifetime (Anthropic: 5 minutes).
    #[default]
    Default,
    /// A longer lifetime where offered (Anthropic: 1 hour).
    Long,
}

/// An image given to the model.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ImageSource {
    /// An `https` URL (or a provider file URI such as Gemini's) the provider fetches itself.
    /// llmward never fetches URLs.
    Url(String),
    /// Inline bytes, base64-encoded.
    Base64 {
        /// e.g. `image/png`.
        media_type: String,
        /// The base64 text (standard alphabet, padded).
        data: String,
    },
}

/// An image content part.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Image {
    /// Where the image is.
    pub source: ImageSource,
    /// OpenAI's `detail` hint (`low`, `high`, `auto`); others ignore it.
    pub detail: Option<String>,
}

impl Image {
    /// An image by URL.
    pub fn url(url: impl Into<String>) -> Self {
        Self {
            source: ImageSource::Url(url.into()),
            detail: None,
        }
    }

    /// An inline image.
    pub fn base64(media_type: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            source: ImageSource::Base64 {
                media_type: media_type.into(),
                data: data.into(),
            },
            detail: None,
        }
    }
}

/// The family whose opaque reasoning parts and signatures a message carries: who can read
/// them back. It is not the wire format a request travelled over (Claude behind another API
/// still produces Anthropic signatures).
///
/// ```
/// use llmward_core::Family;
///
/// assert_eq!(Family::from("anthropic"), Family::Anthropic);
/// assert_eq!(Family::Anthropic, "anthropic");
/// assert_eq!(Family::from("my-model").as_str(), "my-model");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Family {
    /// OpenAI models (reasoning text from OpenAI-compatible servers too).
    OpenAi,
    /// Anthropic's Claude models (thinking signatures, redacted thinking).
    Anthropic,
    /// Google's Gemini models (thought signatures).
    Gemini,
    /// A caller's own provider, by the name it chose.
    Other(String),
}

impl Family {
    /// `"openai"`, `"anthropic"`, `"gemini"`, or the caller's name.
    pub fn as_str(&self) -> &str {
        match self {
            Family::OpenAi => "openai",
            Family::Anthropic => "anthropic",
            Family::Gemini => "gemini",
            Family::Other(name) => name,
        }
    }
}

impl From<&str> for Family {
    fn from(name: &str) -> Self {
        match name {
            "openai" => Family::OpenAi,
            "anthropic" => Family::Anthropic,
            "gemini" => Family::Gemini,
            other => Family::Other(other.to_owned()),
        }
    }
}

impl From<String> for Family {
    fn from(name: String) -> Self {
        Family::from(name.as_str())
    }
}

impl From<&Family> for Family {
    fn from(family: &Family) -> Self {
        family.clone()
    }
}

impl PartialEq<str> for Family {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Family {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An opaque value a provider attached to a part and requires back unchanged on the next
/// turn (Anthropic thinking signatures, Gemini thought signatures). Only the provider named in
/// `origin` can use it; encoders for other providers drop it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The family that produced it.
    pub origin: Family,
    /// The opaque value.
    pub value: String,
}

impl Signature {
    /// A signature from `origin`.
    pub fn new(origin: impl Into<Family>, value: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            value: value.into(),
        }
    }
}

/// A tool call the model made.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ToolCall {
    /// The call's id (`call_…`, `toolu_…`, or synthesized by llmward when the provider sends
    /// none, e.g. Gemini 2.5).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, parsed from the provider's JSON.
    pub arguments: Value,
    /// A provider signature attached to the call (Gemini `thoughtSignature`).
    pub signature: Option<Signature>,
}

impl ToolCall {
    /// A tool call without a signature.
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            arguments,
            signature: None,
        }
    }
}

/// The result of a tool call, sent back to the model.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ToolResult {
    /// The id of the [`ToolCall`] this answers.
    pub tool_call_id: String,
    /// The tool's name. Gemini needs it; when absent, encoders find it from the call with the
    /// same id earlier in the conversation.
    pub name: Option<String>,
    /// What the tool returned (text; JSON is sent as its text).
    pub content: String,
    /// Whether the tool failed (Anthropic `is_error`).
    pub is_error: bool,
}

impl ToolResult {
    /// A successful result for `tool_call_id`.
    pub fn new(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: tool_call_id.into(),
            name: None,
            content: content.into(),
            is_error: false,
        }
    }

    /// Sets the tool's name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Marks the result as an error.
    #[must_use]
    pub fn error(mut self) -> Self {
        self.is_error = true;
        self
    }
}

/// Reasoning a provider returned, kept so it can be sent back.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReasoningPart {
    /// Visible reasoning text, with the provider's signature when it sent one (Anthropic
    /// `thinking`, DeepSeek `reasoning_content`, Gemini thought summaries).
    Thinking {
        /// The reasoning text.
        text: String,
        /// The signature that must accompany it back (Anthropic).
        signature: Option<String>,
        /// The family that produced it.
        origin: Family,
    },
    /// Reasoning the provider encrypted (Anthropic `redacted_thinking`).
    Redacted {
        /// The opaque data.
        data: String,
        /// The family that produced it.
        origin: Family,
    },
    /// A signature not attached to reasoning text or a tool call (a Gemini `thoughtSignature`
    /// on a text part); it follows the part it belongs to.
    Signature(Signature),
}

impl ReasoningPart {
    /// The family that produced this part.
    pub fn origin(&self) -> &Family {
        match self {
            ReasoningPart::Thinking { origin, .. } | ReasoningPart::Redacted { origin, .. } => {
                origin
            }
            ReasoningPart::Signature(s) => &s.origin,
        }
    }
}

/// One piece of a message.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ContentPart {
    /// Text.
    Text(String),
    /// An image (user messages).
    Image(Image),
    /// A tool call (assistant messages).
    ToolCall(ToolCall),
    /// A tool result (tool messages).
    ToolResult(ToolResult),
    /// Reasoning returned by a provider (assistant messages).
    Reasoning(ReasoningPart),
}

/// A message in a conversation.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its parts, in order.
    pub content: Vec<ContentPart>,
    /// A cache breakpoint after this message.
    pub cache: Option<CacheBreakpoint>,
}

impl Message {
    /// A message with `role` and `content`.
    pub fn new(role: Role, content: Vec<ContentPart>) -> Self {
        Self {
            role,
            content,
            cache: None,
        }
    }

    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new(Role::System, vec![ContentPart::Text(text.into())])
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, vec![ContentPart::Text(text.into())])
    }

    /// An assistant message.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, vec![ContentPart::Text(text.into())])
    }

    /// A tool message holding one result.
    pub fn tool_result(result: ToolResult) -> Self {
        Self::new(Role::Tool, vec![ContentPart::ToolResult(result)])
    }

    /// Marks a cache breakpoint after this message.
    #[must_use]
    pub fn with_cache(mut self, cache: CacheBreakpoint) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The message's text parts, concatenated.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let ContentPart::Text(t) = part {
                out.push_str(t);
            }
        }
        out
    }
}

/// A tool the model may call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does, for the model.
    pub description: Option<String>,
    /// A JSON Schema of its arguments (an object schema).
    pub parameters: Value,
    /// Ask for strict schema adherence where supported (OpenAI `strict`).
    pub strict: Option<bool>,
    /// A cache breakpoint after this tool (Anthropic).
    pub cache: Option<CacheBreakpoint>,
}

impl Tool {
    /// A tool named `name` taking arguments described by `parameters` (a JSON Schema).
    pub fn new(name: impl Into<String>, parameters: Value) -> Self {
        Self {
            name: name.into(),
            description: None,
            parameters,
            strict: None,
            cache: None,
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets strict schema adherence.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = Some(strict);
        self
    }

    /// Marks a cache breakpoint after this tool.
    #[must_use]
    pub fn with_cache(mut self, cache: CacheBreakpoint) -> Self {
        self.cache = Some(cache);
        self
    }
}

/// Whether and which tool the model must call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call (OpenAI `required`, Anthropic `any`, Gemini `ANY`).
    Required,
    /// This tool must be called.
    Tool(String),
}

/// The shape of the answer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON following a schema.
    JsonSchema {
        /// A name for the schema (OpenAI requires one).
        name: String,
        /// The JSON Schema.
        schema: Value,
        /// Ask for strict adherence where supported.
        strict: bool,
    },
}

impl ResponseFormat {
    /// A strict JSON-schema format.
    pub fn json_schema(name: impl Into<String>, schema: Value) -> Self {
        Self::JsonSchema {
            name: name.into(),
            schema,
            strict: true,
        }
    }
}

/// How hard a reasoning model should think.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReasoningEffort {
    /// No reasoning where the model allows it off.
    None,
    /// As little as possible.
    Minimal,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

impl ReasoningEffort {
    /// `"none"`, `"minimal"`, `"low"`, `"medium"` or `"high"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningEffort::None => "none",
            ReasoningEffort::Minimal => "minimal",
            ReasoningEffort::Low => "low",
            ReasoningEffort::Medium => "medium",
            ReasoningEffort::High => "high",
        }
    }
}

/// Reasoning ("thinking") settings. Each provider maps what it supports: OpenAI takes the
/// effort, Anthropic the token budget, Gemini either; what a provider cannot express is
/// ignored and documented by that provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Reasoning {
    /// An effort level.
    pub effort: Option<ReasoningEffort>,
    /// A budget of reasoning tokens.
    pub budget_tokens: Option<u32>,
    /// Ask for reasoning text (summaries) in the answer where the provider needs asking
    /// (Gemini `includeThoughts`).
    pub include_thoughts: bool,
}

impl Reasoning {
    /// Reasoning at `effort`.
    pub fn effort(effort: ReasoningEffort) -> Self {
        Self {
            effort: Some(effort),
            ..Self::default()
        }
    }

    /// Reasoning with a token budget.
    pub fn budget(tokens: u32) -> Self {
        Self {
            budget_tokens: Some(tokens),
            ..Self::default()
        }
    }

    /// Also asks for reasoning text in the answer.
    #[must_use]
    pub fn include_thoughts(mut self) -> Self {
        self.include_thoughts = true;
        self
    }
}

/// A chat request, the same for every provider.
///
/// Build one with [`ChatRequest::builder`]:
///
/// ```
/// use llmward_core::{ChatRequest, Tool};
///
/// let request = ChatRequest::builder("gpt-4.1-mini")
///     .system("Be brief.")
///     .user("What's the weather in Berlin?")
///     .tool(Tool::new("weather", serde_json::json!({"type": "object"})))
///     .max_tokens(256)
///     .tag("tenant", "acme")
///     .build()?;
/// assert_eq!(request.messages.len(), 2);
/// # Ok::<(), llmward_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ChatRequest {
    /// The model, or a router alias such as `"default"`.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<Tool>,
    /// Which tool the model must call.
    pub tool_choice: Option<ToolChoice>,
    /// Whether several tool calls may come in one answer.
    pub parallel_tool_calls: Option<bool>,
    /// The answer's shape.
    pub response_format: Option<ResponseFormat>,
    /// The most tokens to generate (reasoning included where the provider counts it so).
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Reasoning settings.
    pub reasoning: Option<Reasoning>,
    /// The whole call (all attempts and waits) must finish within this time from its start.
    pub deadline: Option<Duration>,
    /// Caller tags (tenant, agent name...) for events and budgets; never sent to a provider.
    pub tags: BTreeMap<String, String>,
    /// Raw JSON fields merged into the provider's request body last (the escape hatch for
    /// provider-specific options). A field here overrides what llmward wrote.
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// Starts a request for `model`.
    pub fn builder(model: impl Into<String>) -> ChatRequestBuilder {
        ChatRequestBuilder {
            request: ChatRequest {
                model: model.into(),
                messages: Vec::new(),
                tools: Vec::new(),
                tool_choice: None,
                parallel_tool_calls: None,
                response_format: None,
                max_tokens: None,
                temperature: None,
                top_p: None,
                stop: Vec::new(),
                reasoning: None,
                deadline: None,
                tags: BTreeMap::new(),
                extra: Map::new(),
            },
        }
    }

    /// A rough count of the prompt's tokens (about four characters per token, images 1,000),
    /// for budget reservations; never sent anywhere.
    pub fn estimated_input_tokens(&self) -> u64 {
        let mut chars: u64 = 0;
        let mut images: u64 = 0;
        for m in &self.messages {
            for part in &m.content {
                match part {
                    ContentPart::Text(t) => chars += t.len() as u64,
                    ContentPart::Image(_) => images += 1,
                    ContentPart::ToolCall(c) => {
                        chars += (c.name.len() + c.arguments.to_string().len()) as u64
                    }
                    ContentPart::ToolResult(r) => chars += r.content.len() as u64,
                    ContentPart::Reasoning(ReasoningPart::Thinking { text, .. }) => {
                        chars += text.len() as u64
                    }
                    ContentPart::Reasoning(_) => {}
                }
            }
        }
        for t in &self.tools {
            chars += (t.name.len() + t.parameters.to_string().len()) as u64;
        }
        chars.div_ceil(4) + images * 1000
    }

    /// Finds the name of the tool call `id` earlier in the conversation.
    pub fn tool_name_for(&self, id: &str) -> Option<&str> {
        self.messages
            .iter()
            .flat_map(|m| &m.content)
            .find_map(|p| match p {
                ContentPart::ToolCall(c) if c.id == id => Some(c.name.as_str()),
                _ => None,
            })
    }
}

/// Builds a [`ChatRequest`]. Every setter's default is "not set": the provider's own default
/// applies.
#[derive(Clone, Debug)]
#[must_use]
pub struct ChatRequestBuilder {
    request: ChatRequest,
}

impl ChatRequestBuilder {
    /// Appends a system message.
    pub fn system(self, text: impl Into<String>) -> Self {
        self.message(Message::system(text))
    }

    /// Appends a user message.
    pub fn user(self, text: impl Into<String>) -> Self {
        self.message(Message::user(text))
    }

    /// Appends an assistant message.
    pub fn assistant(self, text: impl Into<String>) -> Self {
        self.message(Message::assistant(text))
    }

    /// Appends a message.
    pub fn message(mut self, message: Message) -> Self {
        self.request.messages.push(message);
        self
    }

    /// Appends messages.
    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.request.messages.extend(messages);
        self
    }

    /// Adds a tool.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.request.tools.push(tool);
        self
    }

    /// Sets the tool choice.
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.request.tool_choice = Some(choice);
        self
    }

    /// Allows or forbids several tool calls in one answer.
    pub fn parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.request.parallel_tool_calls = Some(parallel);
        self
    }

    /// Sets the answer's shape.
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.request.response_format = Some(format);
        self
    }

    /// Sets the most tokens to generate.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.request.max_tokens = Some(max_tokens);
        self
    }

    /// Sets the temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.request.temperature = Some(temperature);
        self
    }

    /// Sets top_p.
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.request.top_p = Some(top_p);
        self
    }

    /// Adds a stop sequence.
    pub fn stop(mut self, stop: impl Into<String>) -> Self {
        self.request.stop.push(stop.into());
        self
    }

    /// Sets reasoning.
    pub fn reasoning(mut self, reasoning: Reasoning) -> Self {
        self.request.reasoning = Some(reasoning);
        self
    }

    /// Sets the call's deadline.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.request.deadline = Some(deadline);
        self
    }

    /// Adds a caller tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.tags.insert(key.into(), value.into());
        self
    }

    /// Adds a raw field to the provider's request body.
    pub fn extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.request.extra.insert(key.into(), value);
        self
    }

    /// Checks and returns the request.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) when the model is empty,
    /// there are no messages, a temperature or top_p is not finite, `max_tokens` is 0, a tool
    /// is declared twice, or the tool choice names an undeclared tool.
    pub fn build(self) -> Result<ChatRequest> {
        let r = self.request;
        let invalid = |m: String| Error::new(crate::ErrorKind::InvalidRequest, m);
        if r.model.trim().is_empty() {
            return Err(invalid("model is empty".into()));
        }
        if r.messages.is_empty() {
            return Err(invalid("a request needs at least one message".into()));
        }
        if r.max_tokens == Some(0) {
            return Err(invalid("max_tokens must be at least 1".into()));
        }
        for (name, v) in [("temperature", r.temperature), ("top_p", r.top_p)] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(invalid(format!(
                    "{name} must be a finite, non-negative number"
                )));
            }
        }
        let mut names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid(format!("tool {} is declared twice", w[0])));
        }
        if let Some(ToolChoice::Tool(name)) = &r.tool_choice {
            if !r.tools.iter().any(|t| &t.name == name) {
                return Err(invalid(format!(
                    "tool_choice names tool {name}, which is not declared"
                )));
            }
        }
        Ok(r)
    }
}

/// An embeddings request.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EmbedRequest {
    /// The embedding model.
    pub model: String,
    /// The texts to embed.
    pub inputs: Vec<String>,
    /// The vector size, where the model allows choosing.
    pub dimensions: Option<u32>,
    /// The call's deadline.
    pub deadline: Option<Duration>,
    /// Caller tags.
    pub tags: BTreeMap<String, String>,
}

impl EmbedRequest {
    /// Embeds `inputs` with `model`.
    pub fn new(model: impl Into<String>, inputs: Vec<String>) -> Self {
        Self {
            model: model.into(),
            inputs,
            dimensions: None,
            deadline: None,
            tags: BTreeMap::new(),
        }
    }

    /// Sets the vector size.
    #[must_use]
    pub fn dimensions(mut self, dimensions: u32) -> Self {
        self.dimensions = Some(dimensions);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builder_rejects_bad_requests() {
        assert!(ChatRequest::builder("m").build().is_err());
        assert!(ChatRequest::builder("").user("x").build().is_err());
        assert!(
            ChatRequest::builder("m")
                .user("x")
                .max_tokens(0)
                .build()
                .is_err()
        );
        assert!(
            ChatRequest::builder("m")
                .user("x")
                .temperature(f64::NAN)
                .build()
                .is_err()
        );
        let err = ChatRequest::builder("m")
            .user("x")
            .tool_choice(ToolChoice::Tool("nope".into()))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("nope"));
        assert!(
            ChatRequest::builder("m")
                .user("x")
                .tool(Tool::new("a", json!({})))
                .tool(Tool::new("a", json!({})))
                .build()
                .is_err()
        );
    }

    #[test]
    fn tool_name_lookup_and_estimate() {
        let r = ChatRequest::builder("m")
            .message(Message::new(
                Role::Assistant,
                vec![ContentPart::ToolCall(ToolCall::new(
                    "call_1",
                    "weather",
                    json!({"city": "Berlin"}),
                ))],
            ))
            .message(Message::tool_result(ToolResult::new("call_1", "15C")))
            .build()
            .unwrap();
        assert_eq!(r.tool_name_for("call_1"), Some("weather"));
        assert!(r.estimated_input_tokens() > 0);
    }
}
