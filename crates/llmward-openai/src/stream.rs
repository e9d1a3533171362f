//! Chat Completions SSE chunks -> [`StreamEvent`]s (pure).

use std::collections::VecDeque;
use std::sync::Arc;

use llmward_core::sse::SseEvent;
use llmward_core::{ApiKey, Error, FinishReason, Result, StreamDecoder, StreamEvent};

use std::borrow::Cow;

use serde::Deserialize;

use crate::decode::{self, ContentChunk, ErrorField, WireUsage};

// Stream chunks borrow their strings from the SSE event: most of a chunk is skipped, and a
// text delta is copied once, into its StreamEvent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Chunk<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    choices: Option<Vec<ChunkChoice<'a>>>,
    usage: Option<WireUsage>,
    error: Option<ErrorField>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChunkChoice<'a> {
    index: Option<u32>,
    #[serde(borrow)]
    delta: Option<Delta<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Delta<'a> {
    #[serde(borrow)]
    content: Option<DeltaContent<'a>>,
    #[serde(borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tool_calls: Option<Vec<ChunkCall<'a>>>,
    #[serde(borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reasoning: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DeltaContent<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Chunks(Vec<ContentChunk>),
    Other(serde::de::IgnoredAny),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChunkCall<'a> {
    index: Option<usize>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    function: Option<ChunkFunction<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChunkFunction<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arguments: Option<Cow<'a, str>>,
}

fn nonempty(s: &Option<Cow<'_, str>>) -> Option<String> {
    s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Decodes one Chat Completions stream.
#[derive(Debug)]
pub(crate) struct OpenAiStreamDecoder {
    provider: String,
    request_id: Option<String>,
    key: Option<Arc<ApiKey>>,
    started: bool,
    // Wire index of each tool call seen, in order; its position is the event index.
    calls: Vec<usize>,
    finished: bool,
    refused: bool,
}

impl OpenAiStreamDecoder {
    pub(crate) fn new(
        provider: String,
        request_id: Option<String>,
        key: Option<Arc<ApiKey>>,
    ) -> Self {
        Self {
            provider,
            request_id,
            key,
            started: false,
            calls: Vec::new(),
            finished: false,
            refused: false,
        }
    }

    fn chunk(&mut self, chunk: Chunk<'_>, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        if let Some(err) = &chunk.error {
            return Err(decode::error_in_body(
                err,
                &self.provider,
                self.request_id.clone(),
                self.key.as_deref(),
            ));
        }
        // Azure's first chunk has an empty id and model and only filter results.
        if !self.started {
            let id = nonempty(&chunk.id);
            let model = nonempty(&chunk.model);
            if id.is_some() || model.is_some() {
                self.started = true;
                out.push_back(StreamEvent::Started { id, model });
            }
        }
        for choice in chunk.choices.into_iter().flatten() {
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.delta {
                self.delta(delta, out);
            }
            if let Some(raw) = choice.finish_reason.filter(|r| !r.is_empty()) {
                // OpenRouter repeats the finish reason on its usage chunk: keep the first.
                if !self.finished {
                    self.finished = true;
                    let reason = decode::finish(Some(&raw), !self.calls.is_empty(), self.refused);
                    out.push_back(StreamEvent::Finish {
                        reason,
                        raw: Some(raw.into_owned()),
                    });
                }
            }
        }
        if let Some(usage) = &chunk.usage {
            out.push_back(StreamEvent::Usage(usage.unified()));
        }
        Ok(())
    }

    fn delta(&mut self, delta: Delta<'_>, out: &mut VecDeque<StreamEvent>) {
        if let Some(r) = delta.reasoning_content.or(delta.reasoning) {
            if !r.is_empty() {
                out.push_back(StreamEvent::ReasoningDelta(r.into_owned()));
            }
        }
        match delta.content {
            Some(DeltaContent::Text(t)) if !t.is_empty() => {
                out.push_back(StreamEvent::TextDelta(t.into_owned()));
            }
            Some(DeltaContent::Chunks(chunks)) => {
                let (reasoning, text) = decode::split_chunks(&chunks);
                if !reasoning.is_empty() {
                    out.push_back(StreamEvent::ReasoningDelta(reasoning));
                }
                if !text.is_empty() {
                    out.push_back(StreamEvent::TextDelta(text));
                }
            }
            _ => {}
        }
        if let Some(refusal) = delta.refusal.filter(|r| !r.is_empty()) {
            self.refused = true;
            out.push_back(StreamEvent::TextDelta(refusal.into_owned()));
        }
        for (pos, call) in delta.tool_calls.into_iter().flatten().enumerate() {
            let wire = call.index.unwrap_or(pos);
            let function = call.function.unwrap_or_default();
            let index = match self.calls.iter().position(|w| *w == wire) {
                Some(i) => i,
                None => {
                    self.calls.push(wire);
                    let index = self.calls.len() - 1;
                    out.push_back(StreamEvent::ToolCallStart {
                        index,
                        id: call.id.map(Cow::into_owned).unwrap_or_default(),
                        name: function.name.map(Cow::into_owned).unwrap_or_default(),
                        signature: None,
                    });
                    index
                }
            };
            if let Some(args) = function.arguments.filter(|a| !a.is_empty()) {
                out.push_back(StreamEvent::ToolCallDelta {
                    index,
                    arguments: args.into_owned(),
                });
            }
        }
    }
}

impl StreamDecoder for OpenAiStreamDecoder {
    fn event(&mut self, event: SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<bool> {
        let data = event.data.trim();
        if event.event.as_deref() == Some("error") {
            return Err(decode::stream_error(
                data,
                &self.provider,
                self.request_id.clone(),
                self.key.as_deref(),
            ));
        }
        if data == "[DONE]" {
            if !self.finished && !self.calls.is_empty() {
                out.push_back(StreamEvent::Finish {
                    reason: FinishReason::ToolCalls,
                    raw: None,
                });
            }
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: Chunk<'_> = serde_json::from_str(data)
            .ok()
            .ok_or_else(|| Error::protocol("stream chunk is not a Chat Completions JSON object"))?;
        self.chunk(chunk, out)?;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use llmward_core::{Aggregator, ErrorKind};
    use serde_json::json;

    fn run(events: &[(&str, &str)]) -> (Vec<StreamEvent>, Result<bool>) {
        let mut dec = OpenAiStreamDecoder::new("openai".into(), None, None);
        let mut out = VecDeque::new();
        let mut last = Ok(false);
        for (name, data) in events {
            let ev = SseEvent {
                event: (!name.is_empty()).then(|| name.to_string()),
                data: data.to_string(),
            };
            last = dec.event(ev, &mut out);
            if last.is_err() || matches!(last, Ok(true)) {
                break;
            }
        }
        (out.into_iter().collect(), last)
    }

    #[test]
    fn tool_call_fragments_by_index() {
        let c = |v: serde_json::Value| v.to_string();
        let (events, end) = run(&[
            (
                "",
                &c(
                    json!({"id":"x","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}),
                ),
            ),
            (
                "",
                &c(
                    json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}),
                ),
            ),
            (
                "",
                &c(
                    json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}}]}),
                ),
            ),
            (
                "",
                &c(
                    json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}),
                ),
            ),
            (
                "",
                &c(json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})),
            ),
            (
                "",
                &c(
                    json!({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}),
                ),
            ),
            ("", "[DONE]"),
        ]);
        assert!(end.unwrap());
        let mut agg = Aggregator::new("openai", "m", "openai");
        for e in events {
            agg.push(e);
        }
        let r = agg.finish(None);
        assert_eq!(r.tool_calls()[0].arguments, json!({"a": 1}));
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert_eq!(r.usage.unwrap().total_tokens(), 7);
    }

    #[test]
    fn error_event_and_error_chunk() {
        let (_, end) = run(&[(
            "error",
            r#"{"error":{"message":"bad call","type":"invalid_request_error","code":"tool_use_failed","status_code":400}}"#,
        )]);
        assert_eq!(end.unwrap_err().kind(), ErrorKind::ModelOutput);
        let (_, end) = run(&[("", r#"{"error":{"code":503,"message":"down"}}"#)]);
        assert_eq!(end.unwrap_err().kind(), ErrorKind::Overloaded);
        let (_, end) = run(&[("", "{not json")]);
        assert_eq!(end.unwrap_err().kind(), ErrorKind::Protocol);
    }
}
