//! The router's stream: a hand-written state machine that falls back to the next route until
//! the first content event, then passes events through; a failure after content ends the
//! stream with an error.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;
use llmward_core::{ChatStream, Error, ErrorKind, Result, StreamEvent, Usage};
use tokio::time::{Instant, Sleep};

use crate::call::{Attempt, Call, Success};

type Connect = Pin<Box<dyn Future<Output = (Box<Call>, Result<Live>)> + Send>>;
type Finish = Pin<Box<dyn Future<Output = Option<Error>> + Send>>;

/// A started stream attempt.
pub(crate) struct Live {
    attempt: Attempt,
    stream: ChatStream,
    /// Events not yet given to the caller: everything before the first content, then at most
    /// the one just read.
    buffer: VecDeque<StreamEvent>,
    committed: bool,
    ended: bool,
    /// First-token timeout (or the deadline) before content; the call's deadline after.
    timer: Pin<Box<Sleep>>,
    /// Whether the timer is the first-token timeout rather than the call's deadline.
    first_token_binds: bool,
    deadline: Instant,
    usage: Option<Usage>,
    time_to_first_token: Option<Duration>,
    response_model: Option<String>,
    response_id: Option<String>,
    finish_reason: Option<String>,
}

impl Live {
    fn new(attempt: Attempt, stream: ChatStream, call: &Call) -> Self {
        let deadline = call.deadline;
        let (at, first_token_binds) = match call.inner.first_token_timeout {
            Some(t) if attempt.started + t < deadline => (attempt.started + t, true),
            _ => (deadline, false),
        };
        Self {
            attempt,
            stream,
            buffer: VecDeque::new(),
            committed: false,
            ended: false,
            timer: Box::pin(tokio::time::sleep_until(at)),
            first_token_binds,
            deadline,
            usage: None,
            time_to_first_token: None,
            response_model: None,
            response_id: None,
            finish_reason: None,
        }
    }

    fn push(&mut self, event: StreamEvent) {
        match &event {
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Started { id, model } => {
                if id.is_some() {
                    self.response_id.clone_from(id);
                }
                if model.is_some() {
                    self.response_model.clone_from(model);
                }
            }
            StreamEvent::Finish { reason, .. } => {
                self.finish_reason = Some(reason.as_str().to_owned());
            }
            _ => {}
        }
        if !self.committed && event.is_content() {
            self.committed = true;
            self.time_to_first_token = Some(self.attempt.started.elapsed());
            if self.first_token_binds {
                self.first_token_binds = false;
                self.timer.as_mut().reset(self.deadline);
            }
        }
        self.buffer.push_back(event);
    }

    fn timeout_error(&mut self) -> Error {
        let provider = self.stream.provider().to_owned();
        if self.first_token_binds {
            Error::new(
                ErrorKind::Timeout,
                "no content before the router's first-token timeout",
            )
            .with_provider(provider)
        } else {
            self.attempt.mark_deadline_cut();
            Error::new(
                ErrorKind::Timeout,
                "the call's deadline passed while streaming",
            )
            .with_provider(provider)
        }
    }
}

/// Starts streams until one starts: each failure goes through the policy.
async fn open(call: &mut Call, mut attempt: Attempt) -> Result<Live> {
    loop {
        let provider = call.prepare(&attempt);
        let started =
            tokio::time::timeout(attempt.timeout, provider.chat_stream(&call.request)).await;
        let error = match started {
            Ok(Ok(stream)) => return Ok(Live::new(attempt, stream, call)),
            Ok(Err(error)) => error,
            Err(_) => attempt.timed_out(),
        };
        attempt = call.after_failure(attempt, error, None).await?;
    }
}

enum State {
    /// Choosing, admitting and starting a route (after a failure: deciding and waiting too).
    Connecting(Connect),
    /// A stream is running.
    Live(Box<Call>, Box<Live>),
    /// Recording the outcome; then yields the error, if any, and ends.
    Finishing(Finish),
    Done,
}

enum Step {
    Event(StreamEvent),
    Error(Error),
    End,
    /// Content arrived (or the answer ended): the stream can be handed to the caller.
    Started,
}

/// The router's side of a streamed call.
pub(crate) struct RouterStream {
    state: State,
}

impl RouterStream {
    pub(crate) fn new(call: Box<Call>, attempt: Attempt) -> Self {
        let connect: Connect = Box::pin(async move {
            let mut call = call;
            let live = open(&mut call, attempt).await;
            (call, live)
        });
        Self {
            state: State::Connecting(connect),
        }
    }

    /// The answering stream's provider, model, wire-format family and request id.
    pub(crate) fn source(&self) -> (String, String, llmward_core::Family, Option<String>) {
        match &self.state {
            State::Live(_, live) => (
                live.stream.provider().to_owned(),
                live.stream.model().to_owned(),
                live.stream.origin().clone(),
                live.stream.request_id().map(str::to_owned),
            ),
            _ => (
                String::new(),
                String::new(),
                llmward_core::Family::Other(String::new()),
                None,
            ),
        }
    }

    /// Drives the stream until content arrived or the answer ended (or every route failed).
    pub(crate) fn poll_started(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(match ready!(self.progress(cx, true)) {
            Step::Started | Step::Event(_) => Ok(()),
            Step::Error(e) => Err(e),
            Step::End => Err(Error::protocol("the stream ended before it started")),
        })
    }

    /// A failure: before content, back to connecting (the policy decides); after, record it
    /// and end with the error.
    fn fail(&mut self, error: Error) {
        let State::Live(call, live) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        // Dropping the rest of `live` here closes the failed stream before anything else.
        let Live {
            attempt,
            usage,
            committed,
            time_to_first_token,
            ..
        } = *live;
        self.state = if committed {
            State::Finishing(Box::pin(async move {
                let mut call = call;
                Some(
                    call.failed_after_content(attempt, error, usage, time_to_first_token)
                        .await,
                )
            }))
        } else {
            State::Connecting(Box::pin(async move {
                let mut call = call;
                let live = match call.after_failure(attempt, error, usage).await {
                    Ok(next) => open(&mut call, next).await,
                    Err(e) => Err(e),
                };
                (call, live)
            }))
        };
    }

    /// The answer ended and every event was delivered: record the success.
    fn finish(&mut self) {
        let State::Live(call, live) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        let live = *live;
        let success = Success {
            usage: live.usage,
            response_model: live.response_model,
            response_id: live.response_id,
            finish_reason: live.finish_reason,
            provider_request_id: live.stream.request_id().map(str::to_owned),
            time_to_first_token: live.time_to_first_token,
        };
        let attempt = live.attempt;
        self.state = State::Finishing(Box::pin(async move {
            let mut call = call;
            call.succeeded(attempt, success).await;
            None
        }));
    }

    fn progress(&mut self, cx: &mut Context<'_>, hold: bool) -> Poll<Step> {
        loop {
            match &mut self.state {
                State::Done => return Poll::Ready(Step::End),
                State::Finishing(finish) => {
                    let error = ready!(finish.as_mut().poll(cx));
                    self.state = State::Done;
                    return Poll::Ready(error.map_or(Step::End, Step::Error));
                }
                State::Connecting(connect) => {
                    let (call, live) = ready!(connect.as_mut().poll(cx));
                    match live {
                        Ok(live) => self.state = State::Live(call, Box::new(live)),
                        Err(e) => {
                            self.state = State::Done;
                            return Poll::Ready(Step::Error(e));
                        }
                    }
                }
                State::Live(_, live) => {
                    if live.committed || live.ended {
                        if hold {
                            return Poll::Ready(Step::Started);
                        }
                        if let Some(event) = live.buffer.pop_front() {
                            return Poll::Ready(Step::Event(event));
                        }
                        if live.ended {
                            self.finish();
                            continue;
                        }
                    }
                    if live.timer.as_mut().poll(cx).is_ready() {
                        let error = live.timeout_error();
                        self.fail(error);
                        continue;
                    }
                    match Pin::new(&mut live.stream).poll_next(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Some(Ok(event))) => live.push(event),
                        Poll::Ready(Some(Err(error))) => self.fail(error),
                        Poll::Ready(None) => live.ended = true,
                    }
                }
            }
        }
    }
}

impl Stream for RouterStream {
    type Item = Result<StreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        Poll::Ready(match ready!(this.progress(cx, false)) {
            Step::Event(event) => Some(Ok(event)),
            Step::Error(error) => Some(Err(error)),
            Step::End | Step::Started => None,
        })
    }
}
