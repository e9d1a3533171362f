//! The hostile world, for every provider: an upstream that redirects, echoes the key, sends too
//! much, too slowly, or garbage, breaks streams in the middle, and a caller that misconfigures
//! the builders. Each scenario is a generic async fn over a [`Hostile`] wire (tests/support),
//! run for `chat` and `chat_stream` where both apply, instantiated per provider by `hostile!`
//! into `#[tokio::test]`s named `<provider>::<scenario>`. Timeouts and caps are short
//! ([`opts`]) so the file runs in seconds; the assertions are on error kinds, never on timings.
//! OpenAI-only versions of some scenarios live in crates/llmward-openai/tests/e2e.rs; the default-options
//! truncation and mid-stream-error cases in tests/suite.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use llmward::{
    ApiKey, ChatRequest, ChatResponse, Error, ErrorKind, HttpOptions, KeySource, Provider,
    StaticKey, StreamEvent,
};
use llmward_testkit::{Reply, Upstream, tls};
use serde_json::{Value, json};
use support::hostile::{Hostile, key_runs_in};
use support::{AnthropicWire, GeminiWire, OpenAiWire, Wire};

macro_rules! hostile {
    ($($provider:ident: $wire:ty { $($(#[$meta:meta])* $tracked:ident),* $(,)? })+) => {$(
        mod $provider {
            use super::*;

            scenarios!($wire;
                redirects_are_not_followed,
                an_echoed_key_never_reaches_an_error,
                oversized_bodies_and_lines,
                a_huge_content_length_fails_before_reading,
                endless_streams_hit_the_total_cap,
                deeply_nested_json,
                a_slow_drip_is_ended_by_the_request_timeout,
                stalls,
                garbage_bodies,
                garbage_streams,
                mid_stream_failures,
                misconfiguration_is_refused_at_build_time,
            );

            $(
                $(#[$meta])*
                #[tokio::test]
                async fn $tracked() {
                    super::$tracked::<$wire>().await
                }
            )*
        }
    )+};
}

macro_rules! scenarios {
    ($wire:ty; $($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            super::$name::<$wire>().await
        }
    )*};
}

hostile! {
    openai: OpenAiWire {
        an_object_that_is_no_answer_is_refused,
        an_echoed_key_in_the_request_id_never_reaches_an_error,
        an_oversized_error_body_still_maps_by_status,
        a_non_sse_answer_to_a_stream_request,
        nothing_after_the_end_counts,
    }
    anthropic: AnthropicWire {
        an_object_that_is_no_answer_is_refused,
        an_echoed_key_in_the_request_id_never_reaches_an_error,
        an_oversized_error_body_still_maps_by_status,
        a_non_sse_answer_to_a_stream_request,
        nothing_after_the_end_counts,
    }
    gemini: GeminiWire {
        an_object_that_is_no_answer_is_refused,
        an_echoed_key_in_the_request_id_never_reaches_an_error,
        an_oversized_error_body_still_maps_by_status,
        a_non_sse_answer_to_a_stream_request,
        nothing_after_the_end_counts,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Caps and timeouts small enough that every hostile case ends in well under a second.
const MAX_BODY: usize = 256 << 10;
const MAX_SSE: usize = 16 << 10;

fn opts() -> HttpOptions {
    HttpOptions::new()
        .connect_timeout(Duration::from_secs(1))
        .request_timeout(Duration::from_millis(500))
        .stream_idle_timeout(Duration::from_millis(150))
        .max_body_bytes(MAX_BODY)
        .max_sse_bytes(MAX_SSE)
}

fn key_source<W: Wire>() -> Arc<dyn KeySource> {
    Arc::new(StaticKey::new(
        ApiKey::new(W::key().to_owned())
            .unwrap()
            .with_label("hostile"),
    ))
}

fn client<W: Hostile>(up: &Upstream) -> Arc<dyn Provider> {
    W::build(&up.url(), Some(key_source::<W>()), opts()).unwrap()
}

fn ask<W: Wire>() -> ChatRequest {
    ChatRequest::builder(W::MODEL).user("hi").build().unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Chat,
    Stream,
}

const BOTH: [Mode; 2] = [Mode::Chat, Mode::Stream];

/// One call in `mode`: a chat, or a stream collected to its end.
async fn call<W: Wire>(p: &Arc<dyn Provider>, mode: Mode) -> Result<ChatResponse, Error> {
    match mode {
        Mode::Chat => p.chat(&ask::<W>()).await,
        Mode::Stream => p.chat_stream(&ask::<W>()).await?.collect().await,
    }
}

/// Plays `reply` to one call in `mode` and returns the error it must end with, after checking
/// that the error names the provider and shows nothing of the key.
async fn fails<W: Hostile>(
    up: &Upstream,
    p: &Arc<dyn Provider>,
    mode: Mode,
    reply: Reply,
) -> Error {
    up.push(reply);
    let err = match call::<W>(p, mode).await {
        Ok(answer) => panic!("{mode:?}: expected an error, got {answer:?}"),
        Err(e) => e,
    };
    assert_eq!(err.provider(), Some(W::NAME), "{mode:?}: {err:?}");
    assert_no_key::<W>(&err);
    err
}

/// `fails`, and the error is of `kind`.
async fn fails_with<W: Hostile>(
    up: &Upstream,
    p: &Arc<dyn Provider>,
    mode: Mode,
    reply: Reply,
    kind: ErrorKind,
    case: &str,
) -> Error {
    let err = fails::<W>(up, p, mode, reply).await;
    assert_eq!(err.kind(), kind, "{case} ({mode:?}): {err:?}");
    err
}

fn assert_no_key<W: Hostile>(err: &Error) {
    let shown = format!("{err} {err:?} {err:#?}");
    let runs = key_runs_in(&shown, W::key());
    assert!(runs.is_empty(), "key runs {runs:?} leaked into {shown}");
}

/// The usual answer to a call in `mode`, saying `text`.
fn answer<W: Wire>(mode: Mode, text: &str) -> Reply {
    match mode {
        Mode::Chat => Reply::json(200, W::text(text)),
        Mode::Stream => Reply::sse(W::stream_text(&[text])),
    }
}

/// `[[[…]]]` (or `{"a":{"a":…}}`), `depth` deep.
fn nested(depth: usize, objects: bool) -> String {
    let (open, close) = if objects {
        ("{\"a\":", "}")
    } else {
        ("[", "]")
    };
    let mut s = String::with_capacity(depth * (open.len() + close.len()) + 1);
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push('1');
    for _ in 0..depth {
        s.push_str(close);
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// A 3xx is never followed: it is `Redirected` naming the status, never the `Location`, and
/// the redirect target receives nothing.
async fn redirects_are_not_followed<W: Hostile>() {
    let up = Upstream::start().await;
    let elsewhere = Upstream::start().await;
    W::echo(&elsewhere);
    let p = client::<W>(&up);
    for status in [301, 302, 307, 308] {
        for mode in BOTH {
            let location = format!("{}/v1/chat/completions?key={}", elsewhere.url(), W::key());
            let err = fails_with::<W>(
                &up,
                &p,
                mode,
                Reply::redirect(status, &location),
                ErrorKind::Redirected,
                "redirect",
            )
            .await;
            assert_eq!(err.status(), Some(status));
            let shown = format!("{err} {err:?}");
            assert!(
                !shown.contains(&elsewhere.addr().port().to_string()),
                "{shown}"
            );
        }
    }
    assert_eq!(elsewhere.request_count(), 0, "the redirect was followed");
    assert_eq!(up.request_count(), 8);
}

/// An upstream that echoes the key — verbatim, masked, in a header, in a 200 body, in a stream
/// error event, before or after content — never gets any run of it into an error.
async fn an_echoed_key_never_reaches_an_error<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    let key = W::key();
    let tail = &key[key.len() - 4..];
    let masked = format!("{}****{tail}", W::KEY_PREFIX);
    let openai_style = format!("{}************{tail}", &key[..W::KEY_PREFIX.len() + 4]);
    let messages = [
        format!("Incorrect API key provided: {key}."),
        format!(
            "Incorrect API key provided: {masked}. You can find your API key at https://example.com."
        ),
        format!("Incorrect API key provided: {openai_style}."),
        format!("key ending in {tail} was rejected"),
        format!("invalid x-api-key: Bearer {key}"),
    ];
    for mode in BOTH {
        for message in &messages {
            fails::<W>(&up, &p, mode, W::auth_error(message).header("x-echo", key)).await;
            fails::<W>(
                &up,
                &p,
                mode,
                Reply::body(500, "text/plain", format!("upstream said {message}")),
            )
            .await;
        }
        let err = fails::<W>(
            &up,
            &p,
            mode,
            Reply::body(200, "text/plain", format!("proxy: your key is {key}")),
        )
        .await;
        // A stream request gets StreamTruncated today: see a_non_sse_answer_to_a_stream_request.
        assert!(
            matches!(err.kind(), ErrorKind::Protocol | ErrorKind::StreamTruncated),
            "{err:?}"
        );
    }
    for message in &messages {
        // An error object in a 200 body, and in a 200 stream before and after content.
        fails::<W>(
            &up,
            &p,
            Mode::Chat,
            Reply::json(200, W::error_body(message)),
        )
        .await;
        fails::<W>(
            &up,
            &p,
            Mode::Stream,
            Reply::sse(vec![W::stream_error_event(message)]),
        )
        .await;
        let mut events = W::partial_text_stream("Hel");
        events.push(W::stream_error_event(message));
        fails::<W>(&up, &p, Mode::Stream, Reply::sse(events)).await;
    }
}

/// A key echoed as the provider's request id (header, or the error body's `request_id`) never
/// reaches an error either: request ids are shown in `Display`, so they must be checked.
async fn an_echoed_key_in_the_request_id_never_reaches_an_error<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    let key = W::key();
    for header in ["x-request-id", "request-id"] {
        for mode in BOTH {
            fails::<W>(
                &up,
                &p,
                mode,
                W::auth_error("invalid key").header(header, key),
            )
            .await;
            fails::<W>(
                &up,
                &p,
                mode,
                Reply::body(200, "text/plain", "garbage").header(header, key),
            )
            .await;
        }
    }
    let mut body = W::error_body("invalid key");
    body["request_id"] = json!(key);
    fails::<W>(&up, &p, Mode::Chat, Reply::json(401, body)).await;
}

/// A body past the cap, and an SSE line past its cap, are `ResponseTooLarge`, read no further.
async fn oversized_bodies_and_lines<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    fails_with::<W>(
        &up,
        &p,
        Mode::Chat,
        Reply::oversized(200, "application/json", 4 * MAX_BODY),
        ErrorKind::ResponseTooLarge,
        "body past the cap",
    )
    .await;
    // A JSON answer whose text alone passes the cap.
    fails_with::<W>(
        &up,
        &p,
        Mode::Chat,
        Reply::json(200, W::text(&"x".repeat(2 * MAX_BODY))),
        ErrorKind::ResponseTooLarge,
        "answer past the cap",
    )
    .await;
    fails_with::<W>(
        &up,
        &p,
        Mode::Stream,
        Reply::oversized(200, "text/event-stream", 4 * MAX_BODY),
        ErrorKind::ResponseTooLarge,
        "a line without end",
    )
    .await;
    // One event whose data lines are each short but add up past the event cap.
    let line = format!("data: {}\n", "y".repeat(MAX_SSE / 4));
    fails_with::<W>(
        &up,
        &p,
        Mode::Stream,
        Reply::sse(vec![line.repeat(8), "\n".into()]),
        ErrorKind::ResponseTooLarge,
        "an event past the cap",
    )
    .await;
    // One text delta of 2x the event cap, inside a well-formed stream.
    fails_with::<W>(
        &up,
        &p,
        Mode::Stream,
        Reply::sse(W::stream_text(&["a", &"z".repeat(2 * MAX_SSE)])),
        ErrorKind::ResponseTooLarge,
        "a delta past the cap",
    )
    .await;
    for mode in BOTH {
        fails_with::<W>(
            &up,
            &p,
            mode,
            Reply::endless_sse("x".repeat(4096)),
            ErrorKind::ResponseTooLarge,
            "an endless line",
        )
        .await;
    }
}

/// A `Content-Length` above the cap fails before the body is read.
async fn a_huge_content_length_fails_before_reading<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    for claimed in [MAX_BODY as u64 + 1, u64::MAX / 2] {
        let body = W::text("fine").to_string();
        fails_with::<W>(
            &up,
            &p,
            Mode::Chat,
            Reply::body(200, "application/json", body).content_length(claimed),
            ErrorKind::ResponseTooLarge,
            "claimed length",
        )
        .await;
    }
}

/// An error status whose body is oversized (or announced so) still maps by its status: the
/// router must see a 429 as RateLimited, whatever the body.
async fn an_oversized_error_body_still_maps_by_status<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    for mode in BOTH {
        let err = fails_with::<W>(
            &up,
            &p,
            mode,
            Reply::oversized(429, "application/json", 4 * MAX_BODY).header("retry-after", "3"),
            ErrorKind::RateLimited,
            "oversized 429 body",
        )
        .await;
        assert_eq!(err.status(), Some(429));
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        fails_with::<W>(
            &up,
            &p,
            mode,
            Reply::body(503, "application/json", "{}").content_length(u64::MAX / 2),
            ErrorKind::Overloaded,
            "503 announcing a huge body",
        )
        .await;
    }
}

/// Streams that never end: endless keep-alive comments, endless tiny content events, endless
/// blank lines. The total-bytes cap ends them all; memory stays within the caps. (The events
/// go 32 to a write, and the request timeout is long, so the cap, not the clock, ends them.)
async fn endless_streams_hit_the_total_cap<W: Hostile>() {
    let up = Upstream::start().await;
    let patient = opts().request_timeout(Duration::from_secs(30));
    let p = W::build(&up.url(), Some(key_source::<W>()), patient).unwrap();
    for (case, event) in [
        ("keep-alive comments", ": keep-alive\n\n".repeat(32)),
        ("tiny content events", W::late_text("x").repeat(32)),
        ("blank lines", "\n".repeat(64)),
    ] {
        fails_with::<W>(
            &up,
            &p,
            Mode::Stream,
            Reply::endless_sse(event),
            ErrorKind::ResponseTooLarge,
            case,
        )
        .await;
    }
    // Endless content, read event by event: the text kept stays within the cap.
    up.push(Reply::endless_sse(W::late_text("x").repeat(32)));
    let mut stream = p.chat_stream(&ask::<W>()).await.unwrap();
    let mut text = 0usize;
    let err = loop {
        match stream.next().await {
            Some(Ok(StreamEvent::TextDelta(t))) => text += t.len(),
            Some(Ok(_)) => {}
            Some(Err(e)) => break e,
            None => panic!("an endless stream ended"),
        }
    };
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge, "{err:?}");
    assert!(
        text <= MAX_BODY,
        "{text} bytes of text from a {MAX_BODY}-byte cap"
    );
}

/// 100,000 nested arrays or objects — a whole body, a stream chunk, inside a field llmward
/// keeps as JSON, inside a field it ignores — never overflow the stack: serde_json's recursion
/// limit (128) makes the parsed ones `Protocol` errors; ignored ones are skipped without
/// recursion. (Caps raised so that 100,000 levels reach the parser.)
async fn deeply_nested_json<W: Hostile>() {
    let up = Upstream::start().await;
    let roomy = opts().max_body_bytes(8 << 20).max_sse_bytes(2 << 20);
    let p = W::build(&up.url(), Some(key_source::<W>()), roomy).unwrap();
    let arrays = nested(100_000, false);
    fails_with::<W>(
        &up,
        &p,
        Mode::Chat,
        Reply::body(200, "application/json", arrays.clone()),
        ErrorKind::Protocol,
        "nested body",
    )
    .await;
    fails_with::<W>(
        &up,
        &p,
        Mode::Stream,
        Reply::sse(vec![format!("data: {arrays}\n\n")]),
        ErrorKind::Protocol,
        "nested chunk",
    )
    .await;
    // As an error body: still mapped by its status.
    fails_with::<W>(
        &up,
        &p,
        Mode::Chat,
        Reply::body(503, "application/json", arrays.clone()),
        ErrorKind::Overloaded,
        "nested error body",
    )
    .await;

    for deep in [arrays, nested(100_000, true)] {
        // Inside a field llmward ignores: skipped without recursion, the answer stands.
        let mut body = W::text("still here").to_string();
        body.insert_str(1, &format!("\"x_nested\":{deep},"));
        up.push(Reply::body(200, "application/json", body));
        let answer = p.chat(&ask::<W>()).await.unwrap();
        assert_eq!(answer.text(), "still here");

        // The same inside a stream event. Skipped where the event is a plain struct; an
        // internally tagged event (Anthropic's `type`) is buffered first, which the recursion
        // limit stops: a Protocol error, never a stack overflow.
        let mut events = W::stream_text(&["a", "b"]);
        let at = events
            .iter()
            .position(|e| e.contains("\"b\""))
            .expect("the event carrying b");
        events[at] = events[at].replacen("data: {", &format!("data: {{\"x_nested\":{deep},"), 1);
        up.push(Reply::sse(events));
        match call::<W>(&p, Mode::Stream).await {
            Ok(answer) => assert_eq!(answer.text(), "ab"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Protocol, "{e:?}"),
        }

        // Inside tool-call arguments. OpenAI carries them as a JSON string, kept as text when
        // it does not parse; Anthropic and Gemini as JSON, so the body fails to parse.
        let calls = [(W::call_id(0).leak() as &str, "f", json!({"n": "NEST"}))];
        let plain = W::tool_calls(&calls).to_string();
        let as_text = plain.contains("\\\"NEST\\\"");
        let body = plain
            .replace("\"NEST\"", &deep)
            .replace("\\\"NEST\\\"", &deep.replace('"', "\\\""));
        assert_ne!(body, plain, "the placeholder was found");
        up.push(Reply::body(200, "application/json", body));
        let result = p.chat(&ask::<W>()).await;
        if as_text {
            let answer = result.unwrap();
            let calls = answer.tool_calls();
            assert!(
                calls.first().is_some_and(|c| c.arguments.is_string()),
                "{calls:?}"
            );
        } else {
            assert_eq!(result.unwrap_err().kind(), ErrorKind::Protocol);
        }
    }
}

/// A drip of bytes, each within the stream idle timeout, forever: the whole-request timeout
/// ends it.
async fn a_slow_drip_is_ended_by_the_request_timeout<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    for mode in BOTH {
        fails_with::<W>(
            &up,
            &p,
            mode,
            Reply::endless_sse(": drip\n\n".into()).chunk_delay(Duration::from_millis(40)),
            ErrorKind::Timeout,
            "drip of comments",
        )
        .await;
    }
    fails_with::<W>(
        &up,
        &p,
        Mode::Stream,
        Reply::endless_sse(W::late_text("x")).chunk_delay(Duration::from_millis(40)),
        ErrorKind::Timeout,
        "drip of content",
    )
    .await;
}

/// Silence: before the head, after the head, and in the middle of a stream.
async fn stalls<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    for mode in BOTH {
        fails_with::<W>(
            &up,
            &p,
            mode,
            answer::<W>(mode, "late").delay(Duration::from_secs(5)),
            ErrorKind::Timeout,
            "no head",
        )
        .await;
        fails_with::<W>(
            &up,
            &p,
            mode,
            answer::<W>(mode, "never").stall_after(0),
            ErrorKind::Timeout,
            "head, then nothing",
        )
        .await;
    }
    let events = W::stream_text(&["a", "b", "c"]);
    let before_end = events.len() - 1;
    fails_with::<W>(
        &up,
        &p,
        Mode::Stream,
        Reply::sse(events).stall_after(before_end),
        ErrorKind::Timeout,
        "stream stalls before its end",
    )
    .await;
    let body = W::text("half and half").to_string();
    let (a, b) = support::halves(&body);
    fails_with::<W>(
        &up,
        &p,
        Mode::Chat,
        Reply::sse(vec![a.to_owned(), b.to_owned()])
            .header("content-type", "application/json")
            .stall_after(1),
        ErrorKind::Timeout,
        "body stalls halfway",
    )
    .await;
}

/// Bodies that are not the answer: invalid UTF-8, truncated JSON, an HTML page from a proxy,
/// nothing at all. An answer with the wrong content type is still read.
async fn garbage_bodies<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    let whole = W::text("fine").to_string();
    let (half, _) = support::halves(&whole);
    let cases: Vec<(&str, Reply, ErrorKind)> = vec![
        (
            "invalid UTF-8",
            Reply::body(
                200,
                "application/json",
                &b"\xff\xfe{\"id\": \"\xc3\x28\"}"[..],
            ),
            ErrorKind::Protocol,
        ),
        (
            "a lone surrogate escape inside a string",
            Reply::body(
                200,
                "application/json",
                whole.replace("fine", "fi\\ud800ne"),
            ),
            ErrorKind::Protocol,
        ),
        (
            "an invalid byte inside a string",
            Reply::body(
                200,
                "application/json",
                [
                    whole.split("fine").next().unwrap_or("").as_bytes(),
                    b"fi\xffne",
                    whole
                        .split_once("fine")
                        .map_or(&b""[..], |(_, rest)| rest.as_bytes()),
                ]
                .concat(),
            ),
            ErrorKind::Protocol,
        ),
        (
            "truncated JSON",
            Reply::body(200, "application/json", half.to_owned()),
            ErrorKind::Protocol,
        ),
        (
            "JSON of the wrong shape",
            Reply::json(200, json!([1, 2, 3])),
            ErrorKind::Protocol,
        ),
        (
            "HTML page with 200",
            Reply::body(
                200,
                "text/html",
                "<html><body>Please log in to the proxy</body></html>",
            ),
            ErrorKind::Protocol,
        ),
        (
            "HTML page with 502",
            Reply::body(
                502,
                "text/html",
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            ),
            ErrorKind::Server,
        ),
        (
            "empty 200",
            Reply::body(200, "application/json", ""),
            ErrorKind::Protocol,
        ),
        (
            "empty 200, no type",
            Reply::status(200),
            ErrorKind::Protocol,
        ),
    ];
    for (case, reply, kind) in cases {
        let err = fails_with::<W>(&up, &p, Mode::Chat, reply, kind, case).await;
        assert!(
            err.message()
                .is_none_or(|m| !m.contains("<html") && !m.contains("<body")),
            "{case}: {err:?}"
        );
    }
    // Content types are unreliable: a JSON answer is read whatever it is labelled.
    for content_type in ["text/plain", "text/html", "application/octet-stream", ""] {
        up.push(Reply::body(200, content_type, format!("\n  {whole}")));
        let answer = p.chat(&ask::<W>()).await.unwrap();
        assert_eq!(answer.text(), "fine", "{content_type}");
    }
}

/// Streams that are not streams of this API: invalid UTF-8, truncated JSON, no `data:` lines,
/// nothing at all. A stream labelled with the wrong content type is still read.
async fn garbage_streams<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    let cases: Vec<(&str, Reply, ErrorKind)> = vec![
        (
            "invalid UTF-8",
            Reply::sse_bytes(vec![bytes::Bytes::from_static(b"data: \xff\xfe\x80{\n\n")]),
            ErrorKind::Protocol,
        ),
        (
            "truncated JSON",
            Reply::sse(vec!["data: {\"choices\": [{\"delta\": \n\n".into()]),
            ErrorKind::Protocol,
        ),
        (
            "no data lines",
            Reply::sse(vec![
                ": comment\n\n".into(),
                "event: ping\n\n".into(),
                "id: 7\nretry: 10\n\n".into(),
            ]),
            ErrorKind::StreamTruncated,
        ),
        (
            "empty stream",
            Reply::sse(vec![]),
            ErrorKind::StreamTruncated,
        ),
        (
            "HTML page with 502",
            Reply::body(502, "text/html", "<html><body>Bad Gateway</body></html>"),
            ErrorKind::Server,
        ),
    ];
    for (case, reply, kind) in cases {
        fails_with::<W>(&up, &p, Mode::Stream, reply, kind, case).await;
    }
    // Invalid UTF-8 inside a text delta is replaced, never a panic.
    let events: Vec<bytes::Bytes> = W::stream_text(&["caf\u{e9}"])
        .into_iter()
        .map(|e| {
            let raw = e.into_bytes();
            let at = raw.windows(2).position(|w| w == "\u{e9}".as_bytes());
            match at {
                Some(i) => [&raw[..i], b"\xc3", &raw[i + 2..]].concat().into(),
                None => raw.into(),
            }
        })
        .collect();
    up.push(Reply::sse_bytes(events));
    let answer = call::<W>(&p, Mode::Stream).await.unwrap();
    assert_eq!(answer.text(), "caf\u{fffd}");
    // The content type is unreliable: a proper stream labelled JSON is still a stream.
    up.push(Reply::sse(W::stream_text(&["ok"])).header("content-type", "application/json"));
    assert_eq!(call::<W>(&p, Mode::Stream).await.unwrap().text(), "ok");
}

/// A JSON object that is not an answer of this API (no content, no type, nothing it knows) is
/// `Protocol`, never an empty success.
async fn an_object_that_is_no_answer_is_refused<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    for body in [
        json!({}),
        json!({"unexpected": true}),
        json!({"id": "x", "object": "list", "data": []}),
    ] {
        fails_with::<W>(
            &up,
            &p,
            Mode::Chat,
            Reply::json(200, body),
            ErrorKind::Protocol,
            "an object that is no answer",
        )
        .await;
    }
}

/// A JSON answer (or an HTML page) to a stream request is an error, never an empty success.
async fn a_non_sse_answer_to_a_stream_request<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    for (case, reply) in [
        (
            "a whole JSON answer",
            Reply::json(200, W::text("not a stream")),
        ),
        (
            "an HTML page",
            Reply::body(200, "text/html", "<html><body>Please log in</body></html>"),
        ),
    ] {
        fails_with::<W>(&up, &p, Mode::Stream, reply, ErrorKind::Protocol, case).await;
    }
}

/// After the end marker nothing counts: a second end marker, late text, garbage.
async fn nothing_after_the_end_counts<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    let mut events = W::stream_text(&["The ", "end."]);
    events.extend(W::end_marker());
    events.push(W::late_text(" LATE"));
    events.extend(W::end_marker());
    events.push("data: {not json\n\n".into());
    up.push(Reply::sse(events));
    let answer = call::<W>(&p, Mode::Stream).await.unwrap();
    assert_eq!(answer.text(), "The end.");

    // Collected, the stream gives what the same answer gives whole.
    up.push(Reply::json(200, W::text("The end.")));
    let whole = call::<W>(&p, Mode::Chat).await.unwrap();
    assert_eq!(whole.content, answer.content);
}

/// A stream broken after content: a reset, the provider's error event, an end without the end
/// marker. A chat whose body breaks the same ways.
async fn mid_stream_failures<W: Hostile>() {
    let up = Upstream::start().await;
    let p = client::<W>(&up);
    let events = W::stream_text(&["Hel", "lo", " there"]);
    let mut without_end = events.clone();
    without_end.pop();
    let mut error_after = W::partial_text_stream("Hel");
    error_after.push(W::stream_error(ErrorKind::Overloaded));
    let cases: Vec<(&str, Reply, ErrorKind)> = vec![
        (
            "reset after content",
            Reply::sse(events.clone()).reset_after(3),
            ErrorKind::StreamTruncated,
        ),
        (
            "reset before content",
            Reply::sse(events.clone()).reset_after(0),
            ErrorKind::StreamTruncated,
        ),
        (
            "error event after content",
            Reply::sse(error_after),
            ErrorKind::Overloaded,
        ),
        (
            "error event first",
            Reply::sse(vec![W::stream_error(ErrorKind::Overloaded)]),
            ErrorKind::Overloaded,
        ),
        (
            "no end marker",
            Reply::sse(without_end),
            ErrorKind::StreamTruncated,
        ),
        (
            "stopped after text",
            Reply::sse(W::partial_text_stream("Hel")),
            ErrorKind::StreamTruncated,
        ),
    ];
    for (case, reply, kind) in cases {
        let err = fails_with::<W>(&up, &p, Mode::Stream, reply, kind, case).await;
        assert!(err.is_retryable(), "{case}: {err:?}");
    }
    // The caller sees the text streamed before the failure, then the error.
    let before_end = events.len() - 1;
    up.push(Reply::sse(events.clone()).reset_after(before_end));
    let mut stream = p.chat_stream(&ask::<W>()).await.unwrap();
    let mut text = String::new();
    let err = loop {
        match stream.next().await {
            Some(Ok(StreamEvent::TextDelta(t))) => text.push_str(&t),
            Some(Ok(_)) => {}
            Some(Err(e)) => break e,
            None => panic!("a reset stream ended cleanly with {text:?}"),
        }
    };
    assert!(
        !text.is_empty() && "Hello there".starts_with(&text),
        "{text:?}"
    );
    assert_eq!(err.kind(), ErrorKind::StreamTruncated);

    // Chat bodies broken the same ways.
    let body = W::text("Hello there").to_string();
    let declared = body.len() as u64 + 100;
    for (case, reply) in [
        (
            "reset after the head",
            Reply::json(200, W::text("x")).reset_after(0),
        ),
        (
            "body shorter than its Content-Length",
            Reply::body(200, "application/json", body).content_length(declared),
        ),
    ] {
        fails_with::<W>(&up, &p, Mode::Chat, reply, ErrorKind::Connect, case).await;
    }
    let err = fails::<W>(
        &up,
        &p,
        Mode::Chat,
        Reply::json(200, W::error_body("The server had an error.")),
    )
    .await;
    assert_eq!(err.kind(), ErrorKind::Server, "{err:?}");
}

/// Misconfiguration is refused with a clear `Config` error when the provider is built, never
/// at the first request, and the error shows nothing of the key.
async fn misconfiguration_is_refused_at_build_time<W: Hostile>() {
    let build = |root: &str, http: HttpOptions| W::build(root, Some(key_source::<W>()), http);
    let refused = |result: llmward::Result<Arc<dyn Provider>>, case: &str| -> Error {
        let err = result.err().unwrap_or_else(|| panic!("{case}: built"));
        assert_eq!(err.kind(), ErrorKind::Config, "{case}: {err:?}");
        assert_no_key::<W>(&err);
        err
    };

    // Plain http off loopback, unless the host is named as an explicit danger.
    for root in [
        "http://api.example.com",
        "http://10.0.0.5:8080",
        "http://localhost.evil.example",
    ] {
        let err = refused(build(root, HttpOptions::new()), root);
        assert!(err.to_string().contains("danger_allow_http_host"), "{err}");
    }
    build(
        "http://llm.internal:8000",
        HttpOptions::new().danger_allow_http_host("llm.internal"),
    )
    .unwrap();
    build("http://127.0.0.1:9", HttpOptions::new()).unwrap();
    build("http://[::1]:9", HttpOptions::new()).unwrap();

    // Credentials or a query in the base URL (where a key could ride) are refused.
    let user = format!("https://user:{}@llm.example.com", W::key());
    refused(build(&user, HttpOptions::new()), "credentials");
    let query = format!("https://llm.example.com/x?key={}", W::key());
    refused(build(&query, HttpOptions::new()), "query");

    // No key at all.
    refused(
        W::build("https://llm.example.com", None, HttpOptions::new()),
        "no key",
    );

    // Bad PEM for a custom root or a client identity.
    let garbage_block =
        b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    for (case, http) in [
        (
            "root: not PEM",
            HttpOptions::new().add_root_certificate_pem(b"garbage".to_vec()),
        ),
        (
            "root: bad block",
            HttpOptions::new().add_root_certificate_pem(garbage_block.to_vec()),
        ),
        (
            "root: a key, not a certificate",
            HttpOptions::new().add_root_certificate_pem(tls::CLIENT_KEY_PEM),
        ),
        (
            "identity: not PEM",
            HttpOptions::new().client_identity_pem(b"not a cert".to_vec(), b"not a key".to_vec()),
        ),
        (
            "identity: no key",
            HttpOptions::new().client_identity_pem(tls::CLIENT_CERT_PEM, b"not a key".to_vec()),
        ),
        (
            "identity: key of another certificate",
            HttpOptions::new().client_identity_pem(tls::CLIENT_CERT_PEM, tls::SERVER_KEY_PEM),
        ),
    ] {
        refused(build("https://llm.example.com", http), case);
    }

    // Keys that cannot be sent: empty, control characters, whitespace, non-ASCII.
    for bad in [
        String::new(),
        format!("{}\n", W::key()),
        format!("{}\r\nX-Injected: 1", W::key()),
        format!("{}\u{7}", W::key()),
        format!(" {}", W::key()),
        format!("{}é", W::key()),
    ] {
        let err = ApiKey::new(bad.clone()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{bad:?}");
        assert_no_key::<W>(&err);
    }

    // A key file others can read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "llmward-hostile-{}-{}",
            W::NAME,
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, format!("{}\n", W::key())).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = ApiKey::from_file(&path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.to_string().contains("chmod 600"), "{err}");
            assert_no_key::<W>(&err);
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = ApiKey::from_file(&path).unwrap();
        W::build(
            "https://llm.example.com",
            Some(Arc::new(StaticKey::new(key))),
            HttpOptions::new(),
        )
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn nested_builds_what_it_says() {
    assert_eq!(nested(2, false), "[[1]]");
    assert_eq!(nested(2, true), "{\"a\":{\"a\":1}}");
    let deep: Value = serde_json::from_str(&nested(100, false)).unwrap();
    assert!(deep.is_array());
}
