//! Anthropic's named SSE events -> [`StreamEvent`]s (pure, no I/O).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use llmward_core::sse::SseEvent;
use llmward_core::wire::nullable;
use llmward_core::{ApiKey, Error, ReasoningPart, Result, Signature, StreamDecoder, StreamEvent};
use serde::Deserialize;
use serde_json::Value;

use crate::ORIGIN;
use crate::decode::{self, Block, WireError, WireUsage};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        #[serde(default)]
        message: Option<StartMessage>,
    },
    ContentBlockStart {
        #[serde(default)]
        index: Option<u64>,
        #[serde(default)]
        content_block: Option<Block>,
    },
    ContentBlockDelta {
        #[serde(default)]
        index: Option<u64>,
        #[serde(default)]
        delta: Option<Delta>,
    },
    ContentBlockStop {
        #[serde(default)]
        index: Option<u64>,
    },
    MessageDelta {
        #[serde(default)]
        delta: Option<MessageDelta>,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop {},
    Error {
        #[serde(default)]
        error: Option<WireError>,
        #[serde(default)]
        request_id: Option<String>,
    },
    // ping, and event types added later.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum Delta {
    #[serde(rename = "text_delta")]
    Text {
        #[serde(default, deserialize_with = "nullable")]
        text: String,
    },
    #[serde(rename = "input_json_delta")]
    InputJson {
        #[serde(default, deserialize_with = "nullable")]
        partial_json: String,
    },
    #[serde(rename = "thinking_delta")]
    Thinking {
        #[serde(default, deserialize_with = "nullable")]
        thinking: String,
    },
    #[serde(rename = "signature_delta")]
    Signature {
        #[serde(default, deserialize_with = "nullable")]
        signature: String,
    },
    // citations_delta and delta types added later.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
}

/// What an open content block is, by its `index`.
enum Open {
    Thinking {
        signature: String,
    },
    Tool {
        index: usize,
        // `content_block_start`'s input, used only if no `input_json_delta` follows.
        initial: Option<Value>,
        streamed: bool,
    },
    Other,
}

/// The stream decoder for `/v1/messages` with `"stream": true`.
pub(crate) struct Decoder {
    key: Option<Arc<ApiKey>>,
    // A map, not a list: a hostile stream may open many blocks and never close them.
    open: BTreeMap<u64, Open>,
    tools: usize,
    start_usage: Option<WireUsage>,
    usage_sent: bool,
}

impl Decoder {
    /// A decoder whose errors are redacted against `key`.
    pub(crate) fn new(key: Option<Arc<ApiKey>>) -> Self {
        Self {
            key,
            open: BTreeMap::new(),
            tools: 0,
            start_usage: None,
            usage_sent: false,
        }
    }

    fn block_mut(&mut self, index: Option<u64>) -> Option<&mut Open> {
        self.open.get_mut(&index?)
    }

    fn start_block(&mut self, index: Option<u64>, block: Block, out: &mut VecDeque<StreamEvent>) {
        let open = match block {
            Block::Text { text } => {
                if !text.is_empty() {
                    out.push_back(StreamEvent::TextDelta(text));
                }
                Open::Other
            }
            Block::Thinking {
                thinking,
                signature,
            } => {
                if !thinking.is_empty() {
                    out.push_back(StreamEvent::ReasoningDelta(thinking));
                }
                Open::Thinking {
                    signature: signature.unwrap_or_default(),
                }
            }
            Block::RedactedThinking { data } => {
                out.push_back(StreamEvent::ReasoningPart(ReasoningPart::Redacted {
                    data,
                    origin: llmward_core::Family::Anthropic,
                }));
                Open::Other
            }
            Block::ToolUse { id, name, input } => {
                let tool = self.tools;
                self.tools += 1;
                out.push_back(StreamEvent::ToolCallStart {
                    index: tool,
                    id,
                    name,
                    signature: None,
                });
                // The real API starts with `input: {}` and streams the arguments; anything
                // else is kept in case no fragment follows.
                let initial = input.filter(|v| match v {
                    Value::Object(map) => !map.is_empty(),
                    Value::Null => false,
                    _ => true,
                });
                Open::Tool {
                    index: tool,
                    initial,
                    streamed: false,
                }
            }
            Block::Other => Open::Other,
        };
        if let Some(index) = index {
            self.open.insert(index, open);
        } else if let Open::Tool {
            index,
            initial: Some(v),
            ..
        } = open
        {
            // Without a block index no delta can be attributed: close it at once.
            out.push_back(StreamEvent::ToolCallDelta {
                index,
                arguments: v.to_string(),
            });
        }
    }

    fn delta(&mut self, index: Option<u64>, delta: Delta, out: &mut VecDeque<StreamEvent>) {
        match delta {
            Delta::Text { text } => {
                if !text.is_empty() {
                    out.push_back(StreamEvent::TextDelta(text));
                }
            }
            Delta::Thinking { thinking } => {
                if !thinking.is_empty() {
                    out.push_back(StreamEvent::ReasoningDelta(thinking));
                }
            }
            Delta::Signature { signature } => match self.block_mut(index) {
                Some(Open::Thinking { signature: sig }) => sig.push_str(&signature),
                // A signature outside a known thinking block still closes the reasoning so far.
                _ if !signature.is_empty() => {
                    out.push_back(StreamEvent::ReasoningSignature(Signature::new(
                        ORIGIN, signature,
                    )));
                }
                _ => {}
            },
            Delta::InputJson { partial_json } => {
                if let Some(Open::Tool {
                    index, streamed, ..
                }) = self.block_mut(index)
                {
                    *streamed = true;
                    let index = *index;
                    if !partial_json.is_empty() {
                        out.push_back(StreamEvent::ToolCallDelta {
                            index,
                            arguments: partial_json,
                        });
                    }
                }
            }
            Delta::Other => {}
        }
    }

    fn stop_block(&mut self, index: Option<u64>, out: &mut VecDeque<StreamEvent>) {
        let Some(index) = index else { return };
        let Some(block) = self.open.remove(&index) else {
            return;
        };
        match block {
            Open::Thinking { signature } if !signature.is_empty() => {
                out.push_back(StreamEvent::ReasoningSignature(Signature::new(
                    ORIGIN, signature,
                )));
            }
            Open::Tool {
                index,
                initial: Some(v),
                streamed: false,
            } => out.push_back(StreamEvent::ToolCallDelta {
                index,
                arguments: v.to_string(),
            }),
            _ => {}
        }
    }

    fn usage(&mut self, delta: Option<WireUsage>, out: &mut VecDeque<StreamEvent>) {
        let start = self.start_usage.unwrap_or_default();
        let merged = match delta {
            Some(d) => start.overlaid_by(&d),
            None => start,
        };
        out.push_back(StreamEvent::Usage(merged.unified()));
        self.usage_sent = true;
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, event: SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<bool> {
        let parsed: Event = match serde_json::from_str(&event.data) {
            Ok(e) => e,
            Err(_) if event.event.as_deref() == Some("ping") => return Ok(false),
            // An error event whose data is not JSON is still the provider failing.
            Err(_) if event.event.as_deref() == Some("error") => {
                let error = WireError {
                    message: llmward_core::wire::body_excerpt(event.data.as_bytes()),
                    ..WireError::default()
                };
                return Err(decode::from_error_object(None, &error, self.key.as_deref()));
            }
            Err(_) => {
                return Err(Error::protocol(
                    "a stream event is not a valid Anthropic event",
                ));
            }
        };
        match parsed {
            Event::MessageStart { message } => {
                let message = message.unwrap_or(StartMessage {
                    id: None,
                    model: None,
                    usage: None,
                });
                self.start_usage = message.usage;
                out.push_back(StreamEvent::Started {
                    id: message.id,
                    model: message.model,
                });
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => {
                if let Some(block) = content_block {
                    self.start_block(index, block, out);
                }
            }
            Event::ContentBlockDelta { index, delta } => {
                if let Some(delta) = delta {
                    self.delta(index, delta, out);
                }
            }
            Event::ContentBlockStop { index } => self.stop_block(index, out),
            Event::MessageDelta { delta, usage } => {
                if let Some(raw) = delta.and_then(|d| d.stop_reason) {
                    out.push_back(StreamEvent::Finish {
                        reason: decode::finish_reason(&raw),
                        raw: Some(raw),
                    });
                }
                if usage.is_some() || self.start_usage.is_some() {
                    self.usage(usage, out);
                }
            }
            Event::MessageStop {} => {
                // Blocks left open would lose a pending signature or arguments.
                let open: Vec<u64> = self.open.keys().copied().collect();
                for index in open {
                    self.stop_block(Some(index), out);
                }
                if !self.usage_sent && self.start_usage.is_some() {
                    self.usage(None, out);
                }
                return Ok(true);
            }
            Event::Error { error, request_id } => {
                let error = error.unwrap_or_default();
                return Err(decode::from_error_object(None, &error, self.key.as_deref())
                    .with_request_id(request_id));
            }
            Event::Other => {}
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use llmward_core::{ErrorKind, FinishReason, Usage};

    fn run(events: &[(&str, &str)]) -> (Vec<StreamEvent>, Result<bool>) {
        let mut d = Decoder::new(None);
        let mut out = VecDeque::new();
        let mut last = Ok(false);
        for (name, data) in events {
            last = d.event(
                SseEvent {
                    event: Some((*name).to_owned()),
                    data: (*data).to_owned(),
                },
                &mut out,
            );
            if !matches!(last, Ok(false)) {
                break;
            }
        }
        (out.into_iter().collect(), last)
    }

    #[test]
    fn usage_is_cumulative_and_sent_once() {
        let (events, end) = run(&[
            (
                "message_start",
                r#"{"type":"message_start","message":{"id":"msg_1","model":"c","usage":
                {"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":5,"output_tokens":1}}}  "#,
            ),
            ("ping", r#"{"type": "ping"}"#),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":42}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ]);
        assert!(end.unwrap());
        assert_eq!(
            events,
            vec![
                StreamEvent::Started {
                    id: Some("msg_1".into()),
                    model: Some("c".into())
                },
                StreamEvent::Finish {
                    reason: FinishReason::Length,
                    raw: Some("max_tokens".into())
                },
                StreamEvent::Usage(
                    Usage::new(115, 42)
                        .with_cached_input(100)
                        .with_cache_write(5)
                ),
            ]
        );
    }

    #[test]
    fn newer_servers_repeat_input_counts_in_message_delta() {
        let (events, _) = run(&[
            (
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1}}}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{},"usage":{"input_tokens":12,
                "cache_read_input_tokens":3,"output_tokens":9,"output_tokens_details":{"thinking_tokens":4}}}"#,
            ),
        ]);
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Usage(
                Usage::new(15, 9).with_cached_input(3).with_reasoning(4)
            ))
        );
    }

    #[test]
    fn tool_indexes_count_calls_not_blocks() {
        let (events, _) = run(&[
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"a","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":1}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t2","name":"b","input":{"x":1}}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":2}"#,
            ),
        ]);
        assert_eq!(
            events,
            vec![
                StreamEvent::TextDelta("hi".into()),
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "t1".into(),
                    name: "a".into(),
                    signature: None
                },
                StreamEvent::ToolCallStart {
                    index: 1,
                    id: "t2".into(),
                    name: "b".into(),
                    signature: None
                },
                StreamEvent::ToolCallDelta {
                    index: 1,
                    arguments: "{\"x\":1}".into()
                },
            ]
        );
    }

    #[test]
    fn thinking_signature_closes_the_block() {
        let (events, _) = run(&[
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"SIG"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"opaque"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":1}"#,
            ),
        ]);
        assert_eq!(
            events,
            vec![
                StreamEvent::ReasoningDelta("hmm".into()),
                StreamEvent::ReasoningSignature(Signature::new("anthropic", "SIG")),
                StreamEvent::ReasoningPart(ReasoningPart::Redacted {
                    data: "opaque".into(),
                    origin: "anthropic".into()
                }),
            ]
        );
    }

    #[test]
    fn error_events_map_by_type() {
        for (kind, want) in [
            ("overloaded_error", ErrorKind::Overloaded),
            ("api_error", ErrorKind::Server),
            ("rate_limit_error", ErrorKind::RateLimited),
            ("invalid_request_error", ErrorKind::InvalidRequest),
        ] {
            let data = format!(
                r#"{{"type":"error","error":{{"details":null,"type":"{kind}","message":"Overloaded"}},"request_id":"req_x"}}"#
            );
            let (_, end) = run(&[("error", &data)]);
            let err = end.unwrap_err();
            assert_eq!(err.kind(), want);
            assert_eq!(err.request_id(), Some("req_x"));
            assert_eq!(err.status(), None);
        }
    }

    #[test]
    fn hostile_events() {
        let (_, end) = run(&[("content_block_delta", "{not json")]);
        assert_eq!(end.unwrap_err().kind(), ErrorKind::Protocol);
        let (_, end) = run(&[("ping", "")]);
        assert!(!end.unwrap());
        let (_, end) = run(&[("error", "upstream overloaded")]);
        let err = end.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Server);
        assert!(err.to_string().contains("upstream overloaded"), "{err}");
        let (events, end) = run(&[
            ("x", r#"{"type":"brand_new_event","foo":1}"#),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":9,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","delta":{"type":"citations_delta"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":77}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":null,"content_block":null}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":null,"usage":null}"#,
            ),
        ]);
        assert!(!end.unwrap());
        assert!(events.is_empty(), "{events:?}");
    }
}
