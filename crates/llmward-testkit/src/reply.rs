//! Scripted replies and the response body that plays them on the wire.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use hyper::{Response, StatusCode};
use tokio::time::Sleep;

/// Size of one generated filler chunk for [`Reply::oversized`].
const FILLER_CHUNK: usize = 64 * 1024;

/// Shared filler so oversized bodies never allocate per chunk.
static FILLER: [u8; FILLER_CHUNK] = [b'x'; FILLER_CHUNK];

/// Pause between the last chunk of a reset reply and the abort, so hyper flushes those chunks first.
const RESET_GRACE: Duration = Duration::from_millis(10);

/// One scripted HTTP response: status, headers, body chunks and the faults to play while sending it.
///
/// Build it with a constructor ([`Reply::json`], [`Reply::sse`], ...) and refine it with the
/// by-value modifiers ([`Reply::header`], [`Reply::chunk_delay`], [`Reply::reset_after`], ...).
/// Invalid statuses or header names/values panic at construction, never inside the server.
#[derive(Clone, Debug)]
pub struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    payload: Payload,
    /// Chunked transfer encoding instead of an exact Content-Length computed from the payload.
    chunked: bool,
    delay: Option<Duration>,
    chunk_delay: Option<Duration>,
    cut: Option<Cut>,
    content_length: Option<u64>,
}

/// Where the body bytes come from.
#[derive(Clone, Debug)]
enum Payload {
    Chunks(Arc<[Bytes]>),
    Filler(usize),
    Repeat(Bytes),
}

/// How a body stops early.
#[derive(Clone, Copy, Debug)]
enum Cut {
    Reset(usize),
    Stall(usize),
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status)
        .unwrap_or_else(|_| panic!("testkit: invalid HTTP status code {status}"))
}

impl Reply {
    fn with_payload(status: u16, payload: Payload, chunked: bool) -> Reply {
        // Empty chunks would end a chunked body early on the wire, so they are dropped up front.
        let payload = match payload {
            Payload::Chunks(chunks) if chunks.iter().any(Bytes::is_empty) => {
                Payload::Chunks(chunks.iter().filter(|c| !c.is_empty()).cloned().collect())
            }
            other => other,
        };
        Reply {
            status: status_code(status),
            headers: Vec::new(),
            payload,
            chunked,
            delay: None,
            chunk_delay: None,
            cut: None,
            content_length: None,
        }
    }

    /// A JSON body (compact) with `content-type: application/json` and an exact Content-Length.
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply::body(status, "application/json", body.to_string())
    }

    /// Raw body bytes (invalid UTF-8, HTML error pages, truncated JSON, empty, ...) with the given
    /// content type (an empty `content_type` sends no Content-Type header).
    pub fn body(status: u16, content_type: &str, body: impl Into<Bytes>) -> Reply {
        let reply = Reply::with_payload(status, Payload::Chunks(Arc::from([body.into()])), false);
        if content_type.is_empty() {
            reply
        } else {
            reply.header(CONTENT_TYPE.as_str(), content_type)
        }
    }

    /// A 200 `text/event-stream` reply; each string is written as its own chunk of a chunked body.
    pub fn sse(chunks: Vec<String>) -> Reply {
        Reply::sse_bytes(chunks.into_iter().map(Bytes::from).collect())
    }

    /// Like [`Reply::sse`] with raw bytes, so chunk boundaries may split UTF-8 sequences.
    pub fn sse_bytes(chunks: Vec<Bytes>) -> Reply {
        Reply::with_payload(200, Payload::Chunks(Arc::from(chunks)), true)
            .header(CONTENT_TYPE.as_str(), "text/event-stream; charset=utf-8")
            .header("cache-control", "no-cache")
    }

    /// A reply with an empty body.
    pub fn status(status: u16) -> Reply {
        Reply::with_payload(status, Payload::Chunks(Arc::from([])), false)
    }

    /// A redirect (301/302/303/307/308) to `location` with an empty body.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::status(status).header(LOCATION.as_str(), location)
    }

    /// `total_bytes` of `x` filler sent as a chunked body in 64 KiB chunks, without allocating it.
    pub fn oversized(status: u16, content_type: &str, total_bytes: usize) -> Reply {
        Reply::with_payload(status, Payload::Filler(total_bytes), true)
            .header(CONTENT_TYPE.as_str(), content_type)
    }

    /// A 200 `text/event-stream` reply that repeats `event` until the client goes away.
    pub fn endless_sse(event: String) -> Reply {
        Reply::with_payload(200, Payload::Repeat(Bytes::from(event)), true)
            .header(CONTENT_TYPE.as_str(), "text/event-stream; charset=utf-8")
            .header("cache-control", "no-cache")
    }

    /// Adds a response header; a `content-length` header is treated like [`Reply::content_length`].
    ///
    /// A header set by a constructor (e.g. `content-type`) is replaced rather than duplicated.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|_| panic!("testkit: invalid header name {name:?}"));
        if name == CONTENT_LENGTH {
            let n = value
                .trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("testkit: invalid content-length {value:?}"));
            return self.content_length(n);
        }
        let value = HeaderValue::from_str(value)
            .unwrap_or_else(|_| panic!("testkit: invalid value for header {name}: {value:?}"));
        if name == CONTENT_TYPE || name == LOCATION {
            self.headers.retain(|(n, _)| *n != name);
        }
        self.headers.push((name, value));
        self
    }

    /// Sleeps `d` before each body chunk after the first.
    pub fn chunk_delay(mut self, d: Duration) -> Reply {
        self.chunk_delay = Some(d);
        self
    }

    /// Sleeps `d` (tokio time, so paused clocks apply) before sending the response head.
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = Some(d);
        self
    }

    /// Sends the head and the first `n_chunks` chunks, then closes the connection mid-body.
    ///
    /// The body never terminates cleanly (no final chunk, or fewer bytes than the declared
    /// Content-Length), so the client's body read fails.
    pub fn reset_after(mut self, n_chunks: usize) -> Reply {
        self.cut = Some(Cut::Reset(n_chunks));
        self
    }

    /// Sends the head and the first `n_chunks` chunks, then sends nothing more until the client goes away.
    pub fn stall_after(mut self, n_chunks: usize) -> Reply {
        self.cut = Some(Cut::Stall(n_chunks));
        self
    }

    /// Declares `Content-Length: n` instead of chunked encoding, even if the body is shorter or longer.
    ///
    /// A longer body is cut at `n` bytes; a shorter one ends with the connection closed early.
    pub fn content_length(mut self, n: u64) -> Reply {
        self.content_length = Some(n);
        self
    }

    /// The scripted delay before the response head.
    pub(crate) fn head_delay(&self) -> Option<Duration> {
        self.delay
    }

    /// Builds the hyper response that plays this reply.
    pub(crate) fn into_response(self) -> Response<ReplyBody> {
        let mut hint = SizeHint::new();
        let mut empty = false;
        if self.content_length.is_none() && !self.chunked {
            if let Payload::Chunks(chunks) = &self.payload {
                let len: usize = chunks.iter().map(Bytes::len).sum();
                hint = SizeHint::with_exact(len as u64);
                empty = len == 0 && self.cut.is_none();
            }
        }
        let filler_left = match self.payload {
            Payload::Filler(total) => total,
            _ => 0,
        };
        let body = ReplyBody {
            payload: self.payload,
            sent: 0,
            bytes_sent: 0,
            declared: self.content_length,
            next_index: 0,
            filler_left,
            chunk_delay: self.chunk_delay,
            delayed: false,
            cut: self.cut,
            reset_armed: false,
            sleep: None,
            hint,
            done: empty,
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        if let Some(n) = self.content_length {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        response
    }
}

/// The response body: yields the reply's chunks as separate frames, with delays and scripted cuts.
#[derive(Debug)]
pub(crate) struct ReplyBody {
    payload: Payload,
    /// Chunks yielded so far.
    sent: usize,
    bytes_sent: u64,
    /// The Content-Length announced in the head, if any.
    declared: Option<u64>,
    next_index: usize,
    filler_left: usize,
    chunk_delay: Option<Duration>,
    /// The inter-chunk delay for the next chunk has already elapsed.
    delayed: bool,
    cut: Option<Cut>,
    reset_armed: bool,
    sleep: Option<Pin<Box<Sleep>>>,
    hint: SizeHint,
    done: bool,
}

impl ReplyBody {
    fn next_chunk(&mut self) -> Option<Bytes> {
        match &self.payload {
            Payload::Chunks(chunks) => {
                let chunk = chunks.get(self.next_index).cloned();
                self.next_index += 1;
                chunk
            }
            Payload::Filler(_) => {
                let n = self.filler_left.min(FILLER_CHUNK);
                self.filler_left -= n;
                (n > 0).then(|| Bytes::from_static(&FILLER[..n]))
            }
            Payload::Repeat(event) => (!event.is_empty()).then(|| event.clone()),
        }
    }

    fn has_more(&self) -> bool {
        match &self.payload {
            Payload::Chunks(chunks) => self.next_index < chunks.len(),
            Payload::Filler(_) => self.filler_left > 0,
            Payload::Repeat(event) => !event.is_empty(),
        }
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.cut {
                Some(Cut::Stall(n)) if this.sent >= n => {
                    // No waker: only the client hanging up (seen by hyper's read side) or shutdown ends this.
                    return Poll::Pending;
                }
                Some(Cut::Reset(n)) if this.sent >= n => {
                    if !this.reset_armed {
                        this.reset_armed = true;
                        this.sleep = Some(Box::pin(tokio::time::sleep(RESET_GRACE)));
                        continue;
                    }
                    this.done = true;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "testkit: scripted connection reset",
                    ))));
                }
                _ => {}
            }
            if !this.has_more() {
                if this.declared.is_some_and(|n| this.bytes_sent < n) {
                    // A clean end would make hyper drop the unflushed head, so cut like a reset instead.
                    this.cut = Some(Cut::Reset(this.sent));
                    continue;
                }
                this.done = true;
                return Poll::Ready(None);
            }
            if this.sent > 0 && !this.delayed {
                if let Some(d) = this.chunk_delay {
                    this.delayed = true;
                    this.sleep = Some(Box::pin(tokio::time::sleep(d)));
                    continue;
                }
            }
            this.delayed = false;
            let Some(chunk) = this.next_chunk() else {
                this.done = true;
                return Poll::Ready(None);
            };
            this.sent += 1;
            this.bytes_sent += chunk.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}
