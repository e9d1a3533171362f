//! What a provider answered: [`ChatResponse`], [`Usage`], [`FinishReason`].

use crate::request::{ContentPart, Message, ReasoningPart, Role, ToolCall};

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FinishReason {
    /// It finished, or hit a stop sequence.
    Stop,
    /// It reached `max_tokens` (or the context window).
    Length,
    /// It wants tool calls answered.
    ToolCalls,
    /// The provider stopped it for safety, or it refused.
    ContentFilter,
    /// Anything else, with the provider's raw value.
    Other(String),
}

impl FinishReason {
    /// The same reason with an [`Other`](FinishReason::Other) value dropped (left empty) when
    /// `key` is found in it: the raw value is an identifier from the upstream.
    #[must_use]
    pub fn without_echoed_key(self, key: Option<&crate::ApiKey>) -> Self {
        match self {
            FinishReason::Other(raw) => {
                FinishReason::Other(crate::redact::identifier(Some(raw), key).unwrap_or_default())
            }
            known => known,
        }
    }

    /// `"stop"`, `"length"`, `"tool_calls"`, `"content_filter"` or the raw value.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(raw) => raw,
        }
    }
}

/// Tokens billed for one call, with the same meaning on every provider (budgets add it up).
///
/// `input_tokens` is every prompt token billed, of which `cached_input_tokens` were read
/// from a cache and `cache_write_tokens` written to one; `output_tokens` is every generated
/// token billed, reasoning included, of which `reasoning_tokens` were reasoning. Numbers are
/// mapped from the provider's, never clamped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Usage {
    /// Every prompt token billed.
    pub input_tokens: u64,
    /// Every generated token billed, reasoning included.
    pub output_tokens: u64,
    /// Prompt tokens read from a cache.
    pub cached_input_tokens: u64,
    /// Prompt tokens written to a cache.
    pub cache_write_tokens: u64,
    /// Generated tokens spent on reasoning.
    pub reasoning_tokens: u64,
}

impl Usage {
    /// Usage with `input` and `output` tokens.
    pub fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            ..Self::default()
        }
    }

    /// Sets cached input tokens.
    #[must_use]
    pub fn with_cached_input(mut self, tokens: u64) -> Self {
        self.cached_input_tokens = tokens;
        self
    }

    /// Sets cache-write tokens.
    #[must_use]
    pub fn with_cache_write(mut self, tokens: u64) -> Self {
        self.cache_write_tokens = tokens;
        self
    }

    /// Sets reasoning tokens.
    #[must_use]
    pub fn with_reasoning(mut self, tokens: u64) -> Self {
        self.reasoning_tokens = tokens;
        self
    }

    /// `input_tokens + output_tokens`.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// A provider's answer, the same for every provider.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The provider's id for the answer (`chatcmpl-…`, `msg_…`, Gemini `responseId`).
    pub id: Option<String>,
    /// Text, tool calls and reasoning, in the order the provider gave them.
    pub content: Vec<ContentPart>,
    /// Why the model stopped.
    pub finish_reason: FinishReason,
    /// The provider's own finish value (`end_turn`, `STOP`, …).
    pub raw_finish_reason: Option<String>,
    /// Tokens billed, when the provider reported them.
    pub usage: Option<Usage>,
    /// The provider's request id (from a response header).
    pub request_id: Option<String>,
    /// The provider that answered (its instance name).
    pub provider: String,
    /// The model that answered (the provider's report, else the one asked for).
    pub model: String,
}

impl ChatResponse {
    /// An empty answer from `provider`/`model`; decoders fill it in.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            id: None,
            content: Vec::new(),
            finish_reason: FinishReason::Stop,
            raw_finish_reason: None,
            usage: None,
            request_id: None,
            provider: provider.into(),
            model: model.into(),
        }
    }

    /// All text parts, concatenated.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let ContentPart::Text(t) = part {
                out.push_str(t);
            }
        }
        out
    }

    /// The tool calls, in order.
    pub fn tool_calls(&self) -> Vec<&ToolCall> {
        self.content
            .iter()
            .filter_map(|p| match p {
                ContentPart::ToolCall(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    /// The visible reasoning text, concatenated, when the provider returned any.
    pub fn reasoning(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.content {
            if let ContentPart::Reasoning(ReasoningPart::Thinking { text, .. }) = part {
                out.push_str(text);
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// Drops the id and request id, and falls back to `requested_model` for the model, when
    /// the provider sent values that could be carrying `key`; see
    /// [`crate::redact::identifier`].
    #[must_use]
    pub fn without_echoed_key(
        mut self,
        key: Option<&crate::ApiKey>,
        requested_model: &str,
    ) -> Self {
        self.id = crate::redact::identifier(self.id.take(), key);
        self.request_id = crate::redact::identifier(self.request_id.take(), key);
        self.raw_finish_reason = crate::redact::identifier(self.raw_finish_reason.take(), key);
        self.finish_reason =
            std::mem::replace(&mut self.finish_reason, FinishReason::Stop).without_echoed_key(key);
        let model = std::mem::take(&mut self.model);
        self.model = crate::redact::identifier(Some(model), key)
            .unwrap_or_else(|| requested_model.to_owned());
        self
    }

    /// The provider that answered.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The answer as an assistant message for the next turn, reasoning parts and signatures
    /// included (providers that require them back get them; others drop them).
    pub fn to_message(&self) -> Message {
        Message::new(Role::Assistant, self.content.clone())
    }
}

/// An embeddings answer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EmbedResponse {
    /// One vector per input, in input order.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens billed, when reported.
    pub usage: Option<Usage>,
    /// The model that answered.
    pub model: String,
    /// The provider that answered.
    pub provider: String,
    /// The provider's request id.
    pub request_id: Option<String>,
}

impl EmbedResponse {
    /// An embeddings answer.
    pub fn new(
        provider: impl Into<String>,
        model: impl Into<String>,
        vectors: Vec<Vec<f32>>,
    ) -> Self {
        Self {
            vectors,
            usage: None,
            model: model.into(),
            provider: provider.into(),
            request_id: None,
        }
    }
}
