//! Entry points for the fuzz targets in `fuzz/` and for the tests that replay their seeds.
//! Each takes arbitrary bytes and must never panic; not part of the stable API.

use std::collections::VecDeque;

use crate::sse::{SseDecoder, SseEvent};
use crate::{Aggregator, ApiKey, FinishReason, Signature, StreamDecoder, StreamEvent, Usage};

/// Splits `data` into chunks whose sizes come from its first bytes, so the fuzzer explores
/// chunk boundaries anywhere (inside lines, CRLF pairs and UTF-8 sequences).
pub fn chunks(data: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let (sizes, body) = data.split_at(data.len().min(8));
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let size = sizes
            .get(i % sizes.len().max(1))
            .map_or(rest.len(), |s| *s as usize + 1);
        let (head, tail) = rest.split_at(size.min(rest.len()));
        out.push(head);
        rest = tail;
        i += 1;
    }
    (out, body)
}

/// Feeds `data` to an SSE decoder in fuzzer-chosen chunks, and checks that the events are
/// the same as when it is fed in one piece.
pub fn sse(data: &[u8]) {
    let (pieces, body) = chunks(data);
    let mut split = SseDecoder::new(4096);
    let mut a = Vec::new();
    let mut ok_a = true;
    for piece in pieces {
        if split.feed(piece, &mut a).is_err() {
            ok_a = false;
            break;
        }
    }
    if ok_a {
        ok_a = split.finish(&mut a).is_ok();
    }
    let mut whole = SseDecoder::new(4096);
    let mut b = Vec::new();
    let ok_b = whole.feed(body, &mut b).is_ok() && whole.finish(&mut b).is_ok();
    assert_eq!(ok_a, ok_b, "chunking changed the outcome");
    if ok_a {
        assert_eq!(a, b, "chunking changed the events");
    }
    for event in &a {
        assert!(event.data.len() <= 4096);
    }
}

/// Redacts `data` as a message, against a key made from its first bytes when they form one.
pub fn redact(data: &[u8]) {
    let split = data.iter().position(|b| *b == 0).unwrap_or(0);
    let key = std::str::from_utf8(&data[..split])
        .ok()
        .and_then(|k| ApiKey::new(k.to_owned()).ok());
    let message = String::from_utf8_lossy(&data[split..]);
    let out = crate::redact::redact(&message, key.as_ref());
    // A marker at the cut is kept whole, so the limit can be passed by one marker.
    assert!(
        out.chars().count() <= crate::redact::MAX_MESSAGE_CHARS + crate::redact::REDACTED.len() + 1
    );
    if let Some(key) = &key {
        let secret = key.expose();
        // The one rule: nothing found survives (a key containing the marker leaves only one).
        assert!(
            out == crate::redact::REDACTED || !crate::redact::contains_secret(&out, secret),
            "the key survived redaction"
        );
        // ...and a message in which nothing is found comes back unchanged.
        if message.chars().count() <= crate::redact::MAX_MESSAGE_CHARS
            && !crate::redact::contains_secret(&message, secret)
        {
            assert_eq!(out, message, "a message without the key was changed");
        }
    }
}

/// Parses `data` as Retry-After values, HTTP dates and duration strings.
pub fn retry_after(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let now = std::time::SystemTime::now();
    let _ = crate::retry_after::parse_retry_after(&text, now);
    let _ = crate::retry_after::parse_http_date(&text);
    let _ = crate::retry_after::parse_duration(&text);
}

/// Interprets `data` as a sequence of stream events and aggregates them.
pub fn aggregate(data: &[u8]) {
    let mut agg = Aggregator::new("fuzz", "model", "fuzz");
    for chunk in data.chunks(3) {
        let [op, a, b] = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let text = String::from_utf8_lossy(&chunk[1..]).into_owned();
        let index = usize::from(a % 4);
        let event = match op % 9 {
            0 => StreamEvent::TextDelta(text),
            1 => StreamEvent::ReasoningDelta(text),
            2 => StreamEvent::ReasoningSignature(Signature::new("fuzz", text)),
            3 => StreamEvent::ToolCallStart {
                index,
                id: format!("c{b}"),
                name: text,
                signature: None,
            },
            4 => StreamEvent::ToolCallDelta {
                index,
                arguments: text,
            },
            5 => StreamEvent::Usage(Usage::new(u64::from(a), u64::from(b))),
            6 => StreamEvent::Finish {
                reason: FinishReason::Other(text),
                raw: None,
            },
            7 => StreamEvent::Started {
                id: Some(text),
                model: None,
            },
            _ => StreamEvent::ReasoningPart(crate::ReasoningPart::Redacted {
                data: text,
                origin: "fuzz".into(),
            }),
        };
        agg.push(event);
    }
    let _ = agg.finish(None);
}

/// Drives a provider's stream decoder with `data` as an SSE body in fuzzer-chosen chunks, and
/// aggregates what it yields: the path a hostile stream takes through llmward.
pub fn stream_decoder<D: StreamDecoder>(mut decoder: D, data: &[u8]) {
    let (pieces, _) = chunks(data);
    let mut sse = SseDecoder::new(1 << 16);
    let mut events: Vec<SseEvent> = Vec::new();
    let mut out = VecDeque::new();
    let mut agg = Aggregator::new("fuzz", "model", "fuzz");
    let mut done = false;
    for piece in pieces {
        if sse.feed(piece, &mut events).is_err() {
            return;
        }
        for event in events.drain(..) {
            match decoder.event(event, &mut out) {
                Ok(true) => done = true,
                Ok(false) => {}
                Err(_) => return,
            }
            for e in out.drain(..) {
                agg.push(e);
            }
            if done {
                let _ = agg.finish(None);
                return;
            }
        }
    }
    if sse.finish(&mut events).is_err() {
        return;
    }
    for event in events.drain(..) {
        if decoder.event(event, &mut out).is_err() {
            return;
        }
    }
    let _ = decoder.end(&mut out);
    for e in out.drain(..) {
        agg.push(e);
    }
    let _ = agg.finish(None);
}
