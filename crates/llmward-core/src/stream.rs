//! Streaming answers: [`StreamEvent`], [`ChatStream`], and the machinery that turns a
//! provider's SSE body into events.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use http_body::Body as _;
use serde_json::Value;
use tokio::time::{Instant, Sleep};

use crate::request::{ContentPart, Family, ReasoningPart, Signature, ToolCall};
use crate::response::{ChatResponse, FinishReason, Usage};
use crate::sse::{SseDecoder, SseEvent};
use crate::transport::HttpResponse;
use crate::{ApiKey, Error, ErrorKind, Result};

/// One event of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// The provider's id for the answer and the model answering, when it says.
    Started {
        /// The answer's id.
        id: Option<String>,
        /// The model answering.
        model: Option<String>,
    },
    /// More answer text.
    TextDelta(String),
    /// More reasoning text.
    ReasoningDelta(String),
    /// The signature closing the reasoning text streamed so far (Anthropic
    /// `signature_delta`).
    ReasoningSignature(Signature),
    /// A whole opaque reasoning part (Anthropic `redacted_thinking`, a Gemini signature on a
    /// text part).
    ReasoningPart(ReasoningPart),
    /// A tool call begins. Fragments of its arguments follow with the same `index`.
    ToolCallStart {
        /// Position of the call among this answer's calls.
        index: usize,
        /// The call's id.
        id: String,
        /// The tool's name.
        name: String,
        /// A provider signature on the call (Gemini).
        signature: Option<Signature>,
    },
    /// A fragment of a tool call's JSON arguments.
    ToolCallDelta {
        /// The call's `index`.
        index: usize,
        /// The fragment.
        arguments: String,
    },
    /// Tokens billed (the last one sent wins).
    Usage(Usage),
    /// The model stopped.
    Finish {
        /// Why.
        reason: FinishReason,
        /// The provider's own value.
        raw: Option<String>,
    },
}

impl StreamEvent {
    /// Whether the event carries content the caller sees (text, reasoning or a tool call);
    /// a router may no longer fall back once such an event reached the caller.
    pub fn is_content(&self) -> bool {
        match self {
            StreamEvent::TextDelta(t) | StreamEvent::ReasoningDelta(t) => !t.is_empty(),
            StreamEvent::ReasoningSignature(_)
            | StreamEvent::ReasoningPart(_)
            | StreamEvent::ToolCallStart { .. }
            | StreamEvent::ToolCallDelta { .. } => true,
            StreamEvent::Started { .. } | StreamEvent::Usage(_) | StreamEvent::Finish { .. } => {
                false
            }
        }
    }
}

/// Parses tool-call arguments: empty text is `{}`, JSON is parsed, anything else is kept as a
/// JSON string so nothing the model produced is lost.
pub fn parse_arguments(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Builds a [`ChatResponse`] from [`StreamEvent`]s, exactly as the non-streaming call would
/// have returned it.
#[derive(Debug)]
pub struct Aggregator {
    response: ChatResponse,
    origin: Family,
    thinking: Option<String>,
    // Index of a tool call -> (position in content, arguments so far).
    calls: Vec<(usize, usize, String)>,
}

impl Aggregator {
    /// An aggregator for an answer from `provider`/`model`, whose reasoning parts belong to
    /// the wire-format family `origin`.
    pub fn new(provider: &str, model: &str, origin: impl Into<Family>) -> Self {
        Self {
            response: ChatResponse::new(provider, model),
            origin: origin.into(),
            thinking: None,
            calls: Vec::new(),
        }
    }

    fn flush_thinking(&mut self, signature: Option<String>) {
        if let Some(text) = self.thinking.take() {
            self.response
                .content
                .push(ContentPart::Reasoning(ReasoningPart::Thinking {
                    text,
                    signature,
                    origin: self.origin.clone(),
                }));
        } else if let Some(signature) = signature {
            self.response
                .content
                .push(ContentPart::Reasoning(ReasoningPart::Thinking {
                    text: String::new(),
                    signature: Some(signature),
                    origin: self.origin.clone(),
                }));
        }
    }

    /// Adds one event.
    pub fn push(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Started { id, model } => {
                if id.is_some() {
                    self.response.id = id;
                }
                if let Some(model) = model.filter(|m| !m.is_empty()) {
                    self.response.model = model;
                }
            }
            // Empty deltas (role-only chunks) carry nothing and must not split parts.
            StreamEvent::TextDelta(text) | StreamEvent::ReasoningDelta(text) if text.is_empty() => {
            }
            StreamEvent::TextDelta(text) => {
                self.flush_thinking(None);
                match self.response.content.last_mut() {
                    Some(ContentPart::Text(t)) => t.push_str(&text),
                    _ => self.response.content.push(ContentPart::Text(text)),
                }
            }
            StreamEvent::ReasoningDelta(text) => {
                self.thinking
                    .get_or_insert_with(String::new)
                    .push_str(&text);
            }
            StreamEvent::ReasoningSignature(sig) => self.flush_thinking(Some(sig.value)),
            StreamEvent::ReasoningPart(part) => {
                self.flush_thinking(None);
                self.response.content.push(ContentPart::Reasoning(part));
            }
            StreamEvent::ToolCallStart {
                index,
                id,
                name,
                signature,
            } => {
                self.flush_thinking(None);
                let mut call = ToolCall::new(id, name, Value::Null);
                call.signature = signature;
                self.calls
                    .push((index, self.response.content.len(), String::new()));
                self.response.content.push(ContentPart::ToolCall(call));
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                if let Some(entry) = self.calls.iter_mut().rev().find(|c| c.0 == index) {
                    entry.2.push_str(&arguments);
                }
            }
            StreamEvent::Usage(usage) => self.response.usage = Some(usage),
            StreamEvent::Finish { reason, raw } => {
                self.response.finish_reason = reason;
                self.response.raw_finish_reason = raw;
            }
        }
    }

    /// The finished answer.
    pub fn finish(mut self, request_id: Option<String>) -> ChatResponse {
        self.flush_thinking(None);
        for (_, pos, args) in std::mem::take(&mut self.calls) {
            if let Some(ContentPart::ToolCall(call)) = self.response.content.get_mut(pos) {
                call.arguments = parse_arguments(&args);
            }
        }
        self.response.request_id = request_id;
        self.response
    }
}

type BoxStream = Pin<Box<dyn Stream<Item = Result<StreamEvent>> + Send>>;

/// A streamed answer: a [`Stream`] of [`StreamEvent`]s that can also be
/// [collected](ChatStream::collect) into the [`ChatResponse`] a non-streaming call gives.
///
/// Dropping it cancels the request.
pub struct ChatStream {
    inner: BoxStream,
    provider: String,
    model: String,
    origin: Family,
    request_id: Option<String>,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// Wraps any stream of events; `origin` is the wire-format family of its reasoning parts.
    pub fn new(
        provider: impl Into<String>,
        model: impl Into<String>,
        origin: impl Into<Family>,
        request_id: Option<String>,
        inner: impl Stream<Item = Result<StreamEvent>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(inner),
            provider: provider.into(),
            model: model.into(),
            origin: origin.into(),
            request_id,
        }
    }

    /// A stream that plays `events` (for tests and adapters).
    pub fn from_events(
        provider: impl Into<String>,
        model: impl Into<String>,
        events: Vec<Result<StreamEvent>>,
    ) -> Self {
        Self::new(provider, model, "", None, Replay(events.into()))
    }

    /// The next event, or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<StreamEvent>> {
        poll_fn(|cx| self.inner.as_mut().poll_next(cx)).await
    }

    /// The provider answering.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model asked for.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The wire-format family of reasoning parts.
    pub fn origin(&self) -> &Family {
        &self.origin
    }

    /// The provider's request id (from the response head).
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Sets the provider name reported in the collected answer.
    #[must_use]
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = provider.into();
        self
    }

    /// Reads the stream to its end and returns the same answer a non-streaming call gives.
    ///
    /// # Errors
    ///
    /// The first error the stream yields.
    pub async fn collect(mut self) -> Result<ChatResponse> {
        let mut agg = Aggregator::new(&self.provider, &self.model, &self.origin);
        while let Some(event) = self.next().await {
            agg.push(event?);
        }
        Ok(agg.finish(self.request_id))
    }
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct Replay(VecDeque<Result<StreamEvent>>);

impl Stream for Replay {
    type Item = Result<StreamEvent>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.pop_front())
    }
}

/// A provider's translation of SSE events into [`StreamEvent`]s: pure, no I/O.
pub trait StreamDecoder: Send + Unpin + 'static {
    /// Handles one SSE event, appending what it means to `out`.
    ///
    /// Returns `Ok(true)` when this event is the provider's end marker (nothing after it is
    /// read).
    ///
    /// # Errors
    ///
    /// A provider error event, or an event that cannot be understood.
    fn event(&mut self, event: SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<bool>;

    /// Called when the body ends before an end marker was returned by [`event`](Self::event).
    /// Defaults to [`ErrorKind::StreamTruncated`]; a provider whose end marker is implicit
    /// (Gemini: a chunk with a finish reason, then the body ends) overrides it.
    ///
    /// # Errors
    ///
    /// When the stream is incomplete.
    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let _ = out;
        Err(Error::new(
            ErrorKind::StreamTruncated,
            "the stream ended without the provider's end marker",
        ))
    }
}

impl StreamDecoder for Box<dyn StreamDecoder> {
    fn event(&mut self, event: SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<bool> {
        (**self).event(event, out)
    }

    fn end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        (**self).end(out)
    }
}

/// Everything an SSE-backed [`ChatStream`] needs besides the decoder.
#[derive(Debug)]
pub struct SseSource {
    /// Provider name for the stream and its errors.
    pub provider: String,
    /// The model asked for.
    pub model: String,
    /// The wire-format family (`"openai"`, `"anthropic"`, `"gemini"`).
    pub origin: Family,
    /// The provider's request id.
    pub request_id: Option<String>,
    /// The key, so error messages in the stream are redacted against it.
    pub key: Option<Arc<ApiKey>>,
}

impl ChatStream {
    /// Drives `response`'s body through the SSE decoder and `decoder`, enforcing the stream
    /// idle timeout, the total-bytes cap and the SSE line/event cap from the transport
    /// options.
    pub fn from_sse(
        response: HttpResponse,
        options: &crate::HttpOptions,
        source: SseSource,
        decoder: impl StreamDecoder,
    ) -> Self {
        let idle = options.stream_idle_timeout;
        let source = SseSource {
            request_id: crate::redact::identifier(source.request_id, source.key.as_deref()),
            ..source
        };
        let driver = SseDriver {
            body: response.into_body(),
            sse: SseDecoder::new(options.max_sse_bytes),
            decoder,
            scratch: Vec::new(),
            pending: VecDeque::new(),
            error: None,
            done: false,
            idle,
            sleep: Box::pin(tokio::time::sleep(idle)),
            received: 0,
            max_bytes: options.max_body_bytes,
            provider: source.provider.clone(),
            request_id: source.request_id.clone(),
            key: source.key,
        };
        Self::new(
            source.provider,
            source.model,
            source.origin,
            source.request_id,
            driver,
        )
    }
}

struct SseDriver<D> {
    body: reqwest::Body,
    sse: SseDecoder,
    decoder: D,
    scratch: Vec<SseEvent>,
    pending: VecDeque<StreamEvent>,
    error: Option<Error>,
    done: bool,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    received: usize,
    max_bytes: usize,
    provider: String,
    request_id: Option<String>,
    // Errors and identifiers from the stream are checked against it.
    key: Option<Arc<ApiKey>>,
}

impl<D: StreamDecoder> SseDriver<D> {
    fn fail(&mut self, err: Error) {
        // The instance's name, whatever the decoder put there.
        let err = err.with_provider(self.provider.clone());
        let err = if err.request_id().is_none() {
            err.with_request_id(self.request_id.clone())
        } else {
            err
        };
        self.error = Some(err.without_echoed_key(self.key.as_deref()));
        self.done = true;
    }

    fn dispatch(&mut self) {
        let mut events = std::mem::take(&mut self.scratch);
        for event in events.drain(..) {
            if self.done {
                // Events after the end marker are ignored.
                break;
            }
            let before = self.pending.len();
            match self.decoder.event(event, &mut self.pending) {
                Ok(true) => self.done = true,
                Ok(false) => {}
                Err(e) => self.fail(e),
            }
            // Identifiers from the upstream are scrubbed here, whatever the decoder did.
            let key = self.key.as_deref();
            for e in self.pending.iter_mut().skip(before) {
                match e {
                    StreamEvent::Started { id, model } => {
                        *id = crate::redact::identifier(id.take(), key);
                        *model = crate::redact::identifier(model.take(), key);
                    }
                    StreamEvent::Finish { reason, raw } => {
                        *raw = crate::redact::identifier(raw.take(), key);
                        *reason = std::mem::replace(reason, crate::FinishReason::Stop)
                            .without_echoed_key(key);
                    }
                    _ => {}
                }
            }
        }
        events.clear();
        self.scratch = events;
    }

    fn on_data(&mut self, data: &[u8]) {
        self.received += data.len();
        if self.received > self.max_bytes {
            let max = self.max_bytes;
            self.fail(Error::new(
                ErrorKind::ResponseTooLarge,
                format!("stream longer than the {max}-byte cap"),
            ));
            return;
        }
        if let Err(e) = self.sse.feed(data, &mut self.scratch) {
            self.scratch.clear();
            self.fail(e);
            return;
        }
        self.dispatch();
    }

    fn on_end(&mut self) {
        if let Err(e) = self.sse.finish(&mut self.scratch) {
            self.fail(e);
            return;
        }
        self.dispatch();
        if !self.done && self.received > 0 && !self.sse.saw_field() {
            // A JSON error page or an HTML proxy page answered a stream request: that is not a
            // truncated stream (which a retry might fix) but a wrong answer.
            self.fail(Error::protocol(
                "the provider answered a stream request with a body that is not an event stream",
            ));
            return;
        }
        if !self.done {
            self.done = true;
            if let Err(e) = self.decoder.end(&mut self.pending) {
                self.fail(e);
            }
        }
    }
}

impl<D: StreamDecoder> Stream for SseDriver<D> {
    type Item = Result<StreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(err) = this.error.take() {
                return Poll::Ready(Some(Err(err)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.on_data(&data);
                        let deadline = Instant::now() + this.idle;
                        this.sleep.as_mut().reset(deadline);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let err = Error::from(e);
                    let err = if err.kind() == ErrorKind::Timeout {
                        err
                    } else {
                        err.with_kind(ErrorKind::StreamTruncated)
                    };
                    this.fail(err);
                }
                Poll::Ready(None) => this.on_end(),
                Poll::Pending => {
                    if this.sleep.as_mut().poll(cx).is_ready() {
                        let secs = this.idle.as_secs_f64();
                        this.fail(Error::new(
                            ErrorKind::Timeout,
                            format!("no stream data for {secs:.1}s (stream idle timeout)"),
                        ));
                        continue;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn aggregation_joins_fragments_and_keeps_signatures() {
        let mut agg = Aggregator::new("p", "m", "anthropic");
        for e in [
            StreamEvent::Started {
                id: Some("msg_1".into()),
                model: Some("m-2".into()),
            },
            StreamEvent::ReasoningDelta("think".into()),
            StreamEvent::ReasoningDelta("ing".into()),
            StreamEvent::ReasoningSignature(Signature::new("anthropic", "sig")),
            StreamEvent::TextDelta("Hel".into()),
            StreamEvent::TextDelta("lo".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "c1".into(),
                name: "f".into(),
                signature: None,
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"a\"".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "c2".into(),
                name: "g".into(),
                signature: None,
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: ":1}".into(),
            },
            StreamEvent::Usage(Usage::new(1, 2)),
            StreamEvent::Usage(Usage::new(3, 4)),
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                raw: Some("tool_calls".into()),
            },
        ] {
            agg.push(e);
        }
        let r = agg.finish(Some("req".into()));
        assert_eq!(r.id.as_deref(), Some("msg_1"));
        assert_eq!(r.model, "m-2");
        assert_eq!(r.text(), "Hello");
        assert_eq!(r.reasoning().as_deref(), Some("thinking"));
        let calls = r.tool_calls();
        assert_eq!(calls[0].arguments, json!({"a": 1}));
        assert_eq!(calls[1].arguments, json!({}));
        assert_eq!(r.usage, Some(Usage::new(3, 4)));
        assert_eq!(r.finish_reason, FinishReason::ToolCalls);
        assert!(matches!(
            &r.content[0],
            ContentPart::Reasoning(ReasoningPart::Thinking { signature: Some(s), .. }) if s == "sig"
        ));
    }

    #[test]
    fn arguments_that_are_not_json_are_kept() {
        assert_eq!(parse_arguments(""), json!({}));
        assert_eq!(parse_arguments("{\"x\":[1]}"), json!({"x": [1]}));
        assert_eq!(parse_arguments("{oops"), json!("{oops"));
    }

    #[tokio::test]
    async fn from_events_collects() {
        let s = ChatStream::from_events(
            "p",
            "m",
            vec![
                Ok(StreamEvent::TextDelta("a".into())),
                Err(Error::new(ErrorKind::StreamTruncated, "cut")),
            ],
        );
        let err = s.collect().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::StreamTruncated);
    }
}
