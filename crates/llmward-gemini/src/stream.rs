//! Gemini `GenerateContentResponse` chunks → [`StreamEvent`]s. Pure.
//!
//! The same state machine decodes a whole (non-streaming) answer, which is then aggregated
//! exactly like a stream, so `chat()` and a collected `chat_stream()` agree by construction.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::Value;

use llmward_core::sse::SseEvent;
use llmward_core::{
    ApiKey, Error, ErrorKind, FinishReason, ReasoningPart, Result, Signature, StreamDecoder,
    StreamEvent,
};

use crate::decode::{self, GenerateResponse, Part, UsageMetadata};
use crate::encode::{ORIGIN, SYNTHETIC_ID_PREFIX};

/// What kind of text the parts seen last were, so that a `thoughtSignature` can be placed
/// after the whole run of text it belongs to (a stream sends the signature on the first
/// chunk of a run; a whole answer on its single part).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Run {
    #[default]
    None,
    Text,
    Thought,
}

/// The state carried from one chunk to the next.
#[derive(Debug, Default)]
pub(crate) struct ChunkDecoder {
    run: Run,
    /// Signatures seen on the current run's parts, placed when the run ends.
    pending: Vec<String>,
    /// Tool calls seen so far (their indexes, and whether `STOP` means tool calls).
    calls: usize,
    /// The last (responseId, modelVersion) announced with `Started`.
    announced: Option<(Option<String>, Option<String>)>,
    response_id: Option<String>,
    finished: bool,
}

/// Maps a `finishReason`; `None` for the reasons that mean the model's output was rejected.
fn finish_reason(raw: &str, has_calls: bool) -> Option<FinishReason> {
    Some(match raw {
        "STOP" if has_calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "LANGUAGE"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "MODEL_ARMOR" => FinishReason::ContentFilter,
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" => return None,
        other => FinishReason::Other(other.to_owned()),
    })
}

/// 64-bit FNV-1a, for synthesized tool-call ids.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // A separator, so ("ab", "c") and ("a", "bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl ChunkDecoder {
    /// Whether a chunk with a `finishReason` was seen (Gemini's implicit end marker).
    pub(crate) fn finished(&self) -> bool {
        self.finished
    }

    /// Decodes one chunk (or a whole answer) into `out`.
    ///
    /// # Errors
    ///
    /// An error object in the chunk (mapped like an HTTP error body), a blocked prompt
    /// ([`ErrorKind::ContentFiltered`]), or a `MALFORMED_FUNCTION_CALL` /
    /// `UNEXPECTED_TOOL_CALL` finish ([`ErrorKind::ModelOutput`]).
    pub(crate) fn chunk(
        &mut self,
        chunk: GenerateResponse,
        out: &mut VecDeque<StreamEvent>,
        key: Option<&ApiKey>,
    ) -> Result<()> {
        if let Some(status) = &chunk.error {
            return Err(decode::rpc_error(None, status, None, key));
        }
        if chunk.response_id.is_some() {
            self.response_id.clone_from(&chunk.response_id);
        }
        let ids = (chunk.response_id, chunk.model_version);
        if (ids.0.is_some() || ids.1.is_some()) && self.announced.as_ref() != Some(&ids) {
            out.push_back(StreamEvent::Started {
                id: ids.0.clone(),
                model: ids.1.clone(),
            });
            self.announced = Some(ids);
        }
        let usage = chunk.usage_metadata.as_ref().and_then(UsageMetadata::usage);
        // llmward asks for one candidate; others (candidateCount > 1 via `extra`) are ignored.
        let Some(candidate) = chunk
            .candidates
            .into_iter()
            .find(|c| c.index.unwrap_or(0) == 0)
        else {
            if let Some(feedback) = chunk
                .prompt_feedback
                .as_ref()
                .filter(|f| f.block_reason.is_some())
            {
                return Err(decode::blocked_error(feedback, key));
            }
            if let Some(usage) = usage {
                out.push_back(StreamEvent::Usage(usage));
            }
            return Ok(());
        };
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            self.part(part, out);
        }
        if let Some(usage) = usage {
            out.push_back(StreamEvent::Usage(usage));
        }
        if let Some(raw) = candidate.finish_reason.filter(|r| !r.is_empty()) {
            self.close_run(out);
            let Some(reason) = finish_reason(&raw, self.calls > 0) else {
                let err = Error::new(
                    ErrorKind::ModelOutput,
                    format!("Gemini rejected the model's output ({raw})"),
                );
                return Err(match candidate.finish_message {
                    Some(m) => err.with_provider_message(&format!("{raw}: {m}"), key),
                    None => err,
                });
            };
            out.push_back(StreamEvent::Finish {
                reason,
                raw: Some(raw),
            });
            self.finished = true;
        }
        Ok(())
    }

    /// Ends a whole (non-streaming) answer: places pending signatures and, when the answer
    /// carried no `finishReason`, finishes it as `Stop` (or `ToolCalls`) without a raw value.
    pub(crate) fn finish_whole(&mut self, out: &mut VecDeque<StreamEvent>) {
        self.close_run(out);
        if !self.finished {
            let reason = if self.calls > 0 {
                FinishReason::ToolCalls
            } else {
                FinishReason::Stop
            };
            out.push_back(StreamEvent::Finish { reason, raw: None });
            self.finished = true;
        }
    }

    fn part(&mut self, part: Part, out: &mut VecDeque<StreamEvent>) {
        let signature = part.thought_signature.filter(|s| !s.is_empty());
        if let Some(call) = part.function_call {
            self.close_run(out);
            let arguments = match call.args {
                None | Some(Value::Null) => String::new(),
                Some(args) => args.to_string(),
            };
            let index = self.calls;
            self.calls += 1;
            let id = match call.id.filter(|id| !id.is_empty()) {
                Some(id) => id,
                None => self.synthetic_id(index, &call.name, &arguments),
            };
            out.push_back(StreamEvent::ToolCallStart {
                index,
                id,
                name: call.name,
                signature: signature.map(|s| Signature::new(ORIGIN, s)),
            });
            // Gemini sends calls whole: the arguments come as one fragment.
            if !arguments.is_empty() {
                out.push_back(StreamEvent::ToolCallDelta { index, arguments });
            }
            return;
        }
        if let Some(text) = part.text {
            let run = if part.thought == Some(true) {
                Run::Thought
            } else {
                Run::Text
            };
            if self.run != run {
                self.close_run(out);
                self.run = run;
            }
            if !text.is_empty() {
                out.push_back(match run {
                    Run::Thought => StreamEvent::ReasoningDelta(text),
                    _ => StreamEvent::TextDelta(text),
                });
            }
            if let Some(signature) = signature {
                self.pending.push(signature);
            }
            return;
        }
        // A part llmward has no event for (inline data, executable code, ...): dropped, but
        // its signature still follows what came before it.
        self.close_run(out);
        if let Some(signature) = signature {
            out.push_back(StreamEvent::ReasoningPart(ReasoningPart::Signature(
                Signature::new(ORIGIN, signature),
            )));
        }
    }

    /// Ends the current run of text or thought parts, placing its signatures: the first on a
    /// thought run closes that reasoning (`Thinking.signature`); the others follow as
    /// [`ReasoningPart::Signature`].
    fn close_run(&mut self, out: &mut VecDeque<StreamEvent>) {
        let mut pending = std::mem::take(&mut self.pending).into_iter();
        if self.run == Run::Thought {
            if let Some(first) = pending.next() {
                out.push_back(StreamEvent::ReasoningSignature(Signature::new(
                    ORIGIN, first,
                )));
            }
        }
        for signature in pending {
            out.push_back(StreamEvent::ReasoningPart(ReasoningPart::Signature(
                Signature::new(ORIGIN, signature),
            )));
        }
        self.run = Run::None;
    }

    /// The id of a call Gemini sent without one (Gemini 2.5): `gemini_call_<index>_<hash>`,
    /// the hash (FNV-1a) covering the response id, index, name and arguments, so the id is
    /// the same for the same answer (streamed or not) and differs between answers.
    fn synthetic_id(&self, index: usize, name: &str, arguments: &str) -> String {
        let response_id = self.response_id.as_deref().unwrap_or("");
        let index_text = index.to_string();
        let hash = fnv1a(&[
            response_id.as_bytes(),
            index_text.as_bytes(),
            name.as_bytes(),
            arguments.as_bytes(),
        ]);
        format!("{SYNTHETIC_ID_PREFIX}{index}_{hash:016x}")
    }
}

/// The [`StreamDecoder`] for `streamGenerateContent?alt=sse`: every `data:` event is a whole
/// `GenerateContentResponse`; there is no end marker, so the stream is complete only if a
/// chunk carried a `finishReason`.
#[derive(Debug)]
pub(crate) struct GeminiStreamDecoder {
    state: ChunkDecoder,
    key: Option<Arc<ApiKey>>,
}

impl GeminiStreamDecoder {
    pub(crate) fn new(key: Option<Arc<ApiKey>>) -> Self {
        Self {
            state: ChunkDecoder::default(),
            key,
        }
    }
}

impl StreamDecoder for GeminiStreamDecoder {
    fn event(&mut self, event: SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<bool> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(false);
        }
        if self.state.finished() {
            // After the chunk with the finish reason only a usage snapshot counts: late text
            // or garbage neither joins nor fails the answer.
            if let Ok(chunk) = decode::parse_chunk(data.as_bytes()) {
                if let Some(usage) = chunk.usage_metadata.as_ref().and_then(UsageMetadata::usage) {
                    out.push_back(StreamEvent::Usage(usage));
                }
            }
            return Ok(false);
        }
        let chunk = decode::parse_chunk(data.as_bytes())?;
        self.state.chunk(chunk, out, self.key.as_deref())?;
        // Not the end: a later chunk may still carry usage.
        Ok(false)
    }

    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        if self.state.finished() {
            self.state.close_run(out);
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::StreamTruncated,
            "the Gemini stream ended before a chunk with a finishReason",
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use llmward_core::{Aggregator, ChatResponse, ContentPart, Usage};
    use serde_json::json;

    fn sse(data: &Value) -> SseEvent {
        SseEvent {
            event: None,
            data: data.to_string(),
        }
    }

    /// Runs chunks through the stream decoder and aggregates them.
    fn stream(chunks: &[Value]) -> Result<ChatResponse> {
        let mut dec = GeminiStreamDecoder::new(None);
        let mut agg = Aggregator::new("gemini", "m", ORIGIN);
        let mut out = VecDeque::new();
        for c in chunks {
            dec.event(sse(c), &mut out)?;
        }
        dec.end(&mut out)?;
        for e in out {
            agg.push(e);
        }
        Ok(agg.finish(None))
    }

    fn whole(body: &Value) -> Result<ChatResponse> {
        decode::chat_response(body.to_string().as_bytes(), "m", None)
    }

    fn chunk(parts: Value, finish: Option<&str>) -> Value {
        let mut c = json!({
            "candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": 2},
            "modelVersion": "gemini-x",
            "responseId": "r1"
        });
        if let Some(f) = finish {
            c["candidates"][0]["finishReason"] = json!(f);
        }
        c
    }

    #[test]
    fn signature_on_the_first_chunk_of_a_run_lands_after_the_run() {
        let chunks = [
            chunk(json!([{"text": "think ", "thought": true}]), None),
            chunk(
                json!([{"text": "more", "thought": true, "thoughtSignature": "T"}]),
                None,
            ),
            chunk(json!([{"text": "Hel", "thoughtSignature": "S"}]), None),
            chunk(json!([{"text": "lo"}]), Some("STOP")),
        ];
        let streamed = stream(&chunks).unwrap();
        let merged = chunk(
            json!([
                {"text": "think more", "thought": true, "thoughtSignature": "T"},
                {"text": "Hello", "thoughtSignature": "S"}
            ]),
            Some("STOP"),
        );
        let single = whole(&merged).unwrap();
        assert_eq!(streamed, single);
        assert_eq!(
            single.content,
            vec![
                ContentPart::Reasoning(ReasoningPart::Thinking {
                    text: "think more".into(),
                    signature: Some("T".into()),
                    origin: "gemini".into()
                }),
                ContentPart::Text("Hello".into()),
                ContentPart::Reasoning(ReasoningPart::Signature(Signature::new("gemini", "S"))),
            ]
        );
        assert_eq!(single.id.as_deref(), Some("r1"));
        assert_eq!(single.model, "gemini-x");
        assert_eq!(single.usage, Some(Usage::new(5, 5).with_reasoning(2)));
    }

    #[test]
    fn calls_get_stable_distinct_ids_and_tool_calls_finish() {
        let parts = json!([
            {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "S"},
            {"functionCall": {"name": "f", "args": {"a": 1}}},
            {"functionCall": {"name": "g", "id": "real-id"}},
            {"text": ""}
        ]);
        let a = whole(&chunk(parts.clone(), Some("STOP"))).unwrap();
        let b = stream(&[
            chunk(parts, None),
            chunk(json!([{"text": ""}]), Some("STOP")),
        ])
        .unwrap();
        assert_eq!(a, b);
        let calls = a.tool_calls();
        assert_eq!(calls.len(), 3);
        assert!(calls[0].id.starts_with("gemini_call_0_"), "{}", calls[0].id);
        assert!(calls[1].id.starts_with("gemini_call_1_"));
        assert_ne!(calls[0].id, calls[1].id);
        assert_eq!(calls[2].id, "real-id");
        assert_eq!(calls[0].signature, Some(Signature::new("gemini", "S")));
        assert_eq!(calls[1].signature, None);
        assert_eq!(calls[2].arguments, json!({}));
        assert_eq!(a.finish_reason, FinishReason::ToolCalls);
        assert_eq!(a.raw_finish_reason.as_deref(), Some("STOP"));
        assert_eq!(
            a.content.len(),
            3,
            "empty text parts leave nothing: {:?}",
            a.content
        );

        let mut other = chunk(
            json!([{"functionCall": {"name": "f", "args": {"a": 1}}}]),
            Some("STOP"),
        );
        other["responseId"] = json!("r2");
        assert_ne!(whole(&other).unwrap().tool_calls()[0].id, calls[0].id);
    }

    #[test]
    fn stream_without_finish_reason_is_truncated() {
        let err = stream(&[chunk(json!([{"text": "Hel"}]), None)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StreamTruncated);
        let err = stream(&[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StreamTruncated);
    }

    #[test]
    fn finish_reasons() {
        for (raw, reason) in [
            ("MAX_TOKENS", FinishReason::Length),
            ("SAFETY", FinishReason::ContentFilter),
            ("RECITATION", FinishReason::ContentFilter),
            ("LANGUAGE", FinishReason::ContentFilter),
            ("OTHER", FinishReason::Other("OTHER".into())),
            (
                "TOO_MANY_TOOL_CALLS",
                FinishReason::Other("TOO_MANY_TOOL_CALLS".into()),
            ),
        ] {
            let r = whole(&chunk(json!([{"text": "x"}]), Some(raw))).unwrap();
            assert_eq!(r.finish_reason, reason, "{raw}");
            assert_eq!(r.raw_finish_reason.as_deref(), Some(raw));
        }
        for raw in ["MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"] {
            let mut c = chunk(json!([]), Some(raw));
            c["candidates"][0]["finishMessage"] = json!("Malformed function call: print(x)");
            let err = whole(&c).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ModelOutput, "{raw}");
            assert!(err.to_string().contains("print(x)"), "{err}");
            assert_eq!(stream(&[c]).unwrap_err().kind(), ErrorKind::ModelOutput);
        }
        let r = whole(&chunk(json!([{"text": "x"}]), None)).unwrap();
        assert_eq!(
            (r.finish_reason, r.raw_finish_reason),
            (FinishReason::Stop, None)
        );
    }

    #[test]
    fn error_chunk_and_blocked_prompt() {
        let err = stream(&[
            chunk(json!([{"text": "a"}]), None),
            json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}),
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Overloaded);
        assert_eq!(err.status(), Some(503));

        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}});
        assert_eq!(
            whole(&blocked).unwrap_err().kind(),
            ErrorKind::ContentFiltered
        );
        assert_eq!(
            stream(&[blocked]).unwrap_err().kind(),
            ErrorKind::ContentFiltered
        );
        let empty = json!({"usageMetadata": {"promptTokenCount": 3}});
        assert_eq!(whole(&empty).unwrap_err().kind(), ErrorKind::Protocol);
    }

    #[test]
    fn hostile_chunks_do_not_panic() {
        let mut dec = GeminiStreamDecoder::new(None);
        let mut out = VecDeque::new();
        for data in [
            "",
            "   ",
            "null",
            "[]",
            "{}",
            "{",
            "\"x\"",
            "1e999",
            "{\"candidates\": 5}",
            "{\"candidates\": [null]}",
            "{\"candidates\": [{\"content\": {\"parts\": [null]}}]}",
            "{\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"args\": 5}}]}}]}",
            "{\"candidates\": [{\"index\": -1}]}",
            "{\"usageMetadata\": {\"promptTokenCount\": 18446744073709551615, \"toolUsePromptTokenCount\": 9}}",
        ] {
            let _ = dec.event(
                SseEvent {
                    event: None,
                    data: data.into(),
                },
                &mut out,
            );
        }
        let _ = dec.end(&mut out);
    }
}
