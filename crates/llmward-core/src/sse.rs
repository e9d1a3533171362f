//! An incremental decoder for `text/event-stream` (the WHATWG event-stream rules).
//!
//! Bytes go in as they arrive, split anywhere (inside a line, a CRLF pair or a UTF-8
//! sequence); complete events come out. Line and event sizes are capped while reading.

use crate::{Error, ErrorKind, Result};

/// One server-sent event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, when one was sent.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Incremental SSE decoder.
///
/// ```
/// use llmward_core::sse::SseDecoder;
///
/// let mut dec = SseDecoder::new(1 << 20);
/// let mut events = Vec::new();
/// dec.feed(b"event: ping\r\ndata: {\"a\"", &mut events)?;
/// dec.feed(b":1}\r\n\r\n: comment\n", &mut events)?;
/// assert_eq!(events[0].event.as_deref(), Some("ping"));
/// assert_eq!(events[0].data, "{\"a\":1}");
/// # Ok::<(), llmward_core::Error>(())
/// ```
#[derive(Debug)]
pub struct SseDecoder {
    max: usize,
    line: Vec<u8>,
    // A CR ended the previous line; a following LF belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    // Whether any line was an SSE field or comment (a JSON or HTML body has none).
    saw_field: bool,
}

impl SseDecoder {
    /// A decoder refusing lines, and events, longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            line: Vec::new(),
            after_cr: false,
            event: None,
            data: String::new(),
            has_data: false,
            saw_field: false,
        }
    }

    /// Whether anything read so far looked like an event stream (a `data:`, `event:`, `id:`
    /// or `retry:` field, or a comment).
    pub fn saw_field(&self) -> bool {
        self.saw_field
    }

    /// Feeds `bytes`, appending every event they complete to `out`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ResponseTooLarge`] when a line or an event passes the cap.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<()> {
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', bytes) {
            if self.line.is_empty() {
                // The whole line is in this chunk (the common case): no copy.
                if pos > self.max {
                    return Err(too_large("SSE line", self.max));
                }
                self.process_line(&bytes[..pos], out)?;
            } else {
                self.push_line_bytes(&bytes[..pos])?;
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, out)?;
                self.line = line;
                self.line.clear();
            }
            let was_cr = bytes[pos] == b'\r';
            bytes = &bytes[pos + 1..];
            if was_cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.push_line_bytes(bytes)
    }

    /// Ends the stream: a last event without its blank line is still delivered.
    ///
    /// # Errors
    ///
    /// As [`feed`](SseDecoder::feed).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<()> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out)?;
        }
        self.dispatch(out);
        Ok(())
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if self.line.len() + bytes.len() > self.max {
            return Err(too_large("SSE line", self.max));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<()> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            self.saw_field = true;
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        if matches!(field, b"data" | b"event" | b"id" | b"retry") {
            self.saw_field = true;
        }
        match field {
            b"data" => {
                let value = String::from_utf8_lossy(value);
                let added = value.len() + usize::from(self.has_data);
                if self.data.len() + added > self.max {
                    return Err(too_large("SSE event", self.max));
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            // `id` and `retry` steer browser reconnection, which llmward never does.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }
}

fn too_large(what: &str, max: usize) -> Error {
    Error::new(
        ErrorKind::ResponseTooLarge,
        format!("{what} longer than the {max}-byte cap"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(input: &[u8], split: usize) -> Vec<SseEvent> {
        let mut dec = SseDecoder::new(1024);
        let mut out = Vec::new();
        for chunk in input.chunks(split.max(1)) {
            dec.feed(chunk, &mut out).unwrap();
        }
        dec.finish(&mut out).unwrap();
        out
    }

    #[test]
    fn every_line_ending_and_every_split_gives_the_same_events() {
        let text = "event: a\ndata: one\ndata:two\n\n: comment\ndata: é✓\n\nevent: end\ndata: x";
        for ending in ["\n", "\r\n", "\r"] {
            let input = text.replace('\n', ending);
            for split in 1..input.len() {
                let events = decode_split(input.as_bytes(), split);
                assert_eq!(events.len(), 3, "ending {ending:?} split {split}");
                assert_eq!(events[0].event.as_deref(), Some("a"));
                assert_eq!(events[0].data, "one\ntwo");
                assert_eq!(events[1].event, None);
                assert_eq!(events[1].data, "é✓");
                assert_eq!(events[2].event.as_deref(), Some("end"));
                assert_eq!(events[2].data, "x");
            }
        }
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let events = decode_split(b"event: ping\n\n\n\ndata\n\n", 3);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "");
        assert_eq!(events[0].event, None);
    }

    #[test]
    fn line_and_event_caps() {
        let mut dec = SseDecoder::new(16);
        let mut out = Vec::new();
        let err = dec.feed(&[b'x'; 17], &mut out).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ResponseTooLarge);

        let mut dec = SseDecoder::new(16);
        let err = dec
            .feed(b"data: 0123456789\ndata: 0123456789\n", &mut out)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ResponseTooLarge);
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let events = decode_split(b"data: \xff\xfe\x80\n\n", 1);
        assert_eq!(events.len(), 1);
    }
}
