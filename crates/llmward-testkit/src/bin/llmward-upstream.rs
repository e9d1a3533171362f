//! `llmward-upstream`: the testkit's loopback upstream as a separate process, for the Python
//! tests and for benchmarks of any client (a server in another process does not share the
//! client's CPU time accounting or memory).
//!
//! It binds `127.0.0.1:0`, prints `LISTENING http://127.0.0.1:PORT` on stdout, and exits when
//! its stdin closes (so it never outlives the test that started it). Requests under
//! `/__testkit/` script it; every other request is answered from a queue of scripted replies,
//! else the default reply, else the echo handler of the current wire format:
//!
//! | request | effect |
//! | --- | --- |
//! | `POST /__testkit/push` | queue a reply spec (or a list of them); `"repeat": n` queues it n times |
//! | `POST /__testkit/default` | the reply when the queue is empty; `{"echo": true}` restores the echo |
//! | `POST /__testkit/mode` | `{"mode": "openai" \| "anthropic" \| "gemini"}`: the echo's wire format |
//! | `POST /__testkit/recording` | `{"on": false}` stops recording requests (benchmarks) |
//! | `POST /__testkit/clear` | forget recorded requests and queued replies; default back to the echo |
//! | `GET /__testkit/requests` | the recorded requests: method, path, headers, body (text) and json |
//! | `GET /__testkit/connections` | `{"accepted": n, "open": n, "requests": n}` (the control request's own connection included) |
//!
//! A reply spec is `{"status": 200, "json": {...}}`, or `"body": "text"` (with
//! `"content_type"`), or `"sse": ["data: ...\n\n", ...]` (each string one chunk); plus
//! optional `"headers": {name: value}`, `"delay_ms"` (before the head), `"chunk_delay_ms"`,
//! `"reset_after"` and `"stall_after"` (chunk counts).
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use llmward_testkit::{Recorded, Reply, Upstream, anthropic, gemini, openai};
use serde_json::{Value, json};

type Handler = Box<dyn Fn(&Recorded) -> Reply + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    OpenAi,
    Anthropic,
    Gemini,
}

struct Script {
    queue: VecDeque<Reply>,
    default: Option<Reply>,
    mode: Mode,
}

struct Control {
    upstream: Upstream,
    script: Mutex<Script>,
    echo_openai: Handler,
    echo_anthropic: Handler,
    echo_gemini: Handler,
}

impl Control {
    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle(&self, rec: &Recorded) -> Reply {
        if let Some(command) = rec.path.strip_prefix("/__testkit/") {
            let command = command.split('?').next().unwrap_or_default();
            return self
                .command(&rec.method, command, &rec.body)
                .unwrap_or_else(|message| Reply::json(400, json!({"error": message})));
        }
        let (queued, mode) = {
            let mut script = self.script();
            let queued = script.queue.pop_front().or_else(|| script.default.clone());
            (queued, script.mode)
        };
        if let Some(reply) = queued {
            return reply;
        }
        match mode {
            Mode::OpenAi => (self.echo_openai)(rec),
            Mode::Anthropic => (self.echo_anthropic)(rec),
            Mode::Gemini => (self.echo_gemini)(rec),
        }
    }

    fn command(&self, method: &str, command: &str, body: &[u8]) -> Result<Reply, String> {
        let parse = || -> Result<Value, String> {
            if body.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))
        };
        let ok = || Reply::json(200, json!({"ok": true}));
        match (method, command) {
            ("POST", "push") => {
                let spec = parse()?;
                let specs = match spec {
                    Value::Array(items) => items,
                    one => vec![one],
                };
                let mut replies = Vec::new();
                for spec in &specs {
                    let reply = reply_from_spec(spec)?;
                    let repeat = spec.get("repeat").and_then(Value::as_u64).unwrap_or(1);
                    for _ in 0..repeat {
                        replies.push(reply.clone());
                    }
                }
                self.script().queue.extend(replies);
                Ok(ok())
            }
            ("POST", "default") => {
                let spec = parse()?;
                let reply =
                    if spec.is_null() || spec.get("echo").and_then(Value::as_bool) == Some(true) {
                        None
                    } else {
                        Some(reply_from_spec(&spec)?)
                    };
                self.script().default = reply;
                Ok(ok())
            }
            ("POST", "mode") => {
                let spec = parse()?;
                let mode = match spec.get("mode").and_then(Value::as_str) {
                    Some("openai") => Mode::OpenAi,
                    Some("anthropic") => Mode::Anthropic,
                    Some("gemini") => Mode::Gemini,
                    other => return Err(format!("unknown mode {other:?}")),
                };
                self.script().mode = mode;
                Ok(ok())
            }
            ("POST", "recording") => {
                let spec = parse()?;
                let on = spec.get("on").and_then(Value::as_bool).unwrap_or(true);
                self.upstream.set_recording(on);
                Ok(ok())
            }
            ("POST", "clear") => {
                {
                    let mut script = self.script();
                    script.queue.clear();
                    script.default = None;
                    script.mode = Mode::OpenAi;
                }
                self.upstream.clear_requests();
                Ok(ok())
            }
            ("GET", "requests") => {
                let requests: Vec<Value> = self
                    .upstream
                    .requests()
                    .iter()
                    .filter(|r| !r.path.starts_with("/__testkit/"))
                    .map(|r| {
                        json!({
                            "method": r.method,
                            "path": r.path,
                            "headers": r.headers,
                            "body": String::from_utf8_lossy(&r.body),
                            "json": serde_json::from_slice::<Value>(&r.body).ok(),
                        })
                    })
                    .collect();
                Ok(Reply::json(200, Value::Array(requests)))
            }
            ("GET", "connections") => Ok(Reply::json(
                200,
                json!({
                    "accepted": self.upstream.connection_count(),
                    "open": self.upstream.open_connections(),
                    "requests": self.upstream.request_count(),
                }),
            )),
            _ => Err(format!(
                "unknown control request {method} /__testkit/{command}"
            )),
        }
    }
}

fn count(spec: &Value, key: &str) -> Result<Option<u64>, String> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{key} must be a non-negative integer")),
    }
}

/// Builds a reply from its JSON spec (see the module docs); never panics on bad input.
fn reply_from_spec(spec: &Value) -> Result<Reply, String> {
    if !spec.is_object() {
        return Err("a reply spec is a JSON object".into());
    }
    let status = count(spec, "status")?.unwrap_or(200);
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (200..=599).contains(s))
        .ok_or_else(|| format!("status {status} is not an HTTP status"))?;
    let mut reply = if let Some(chunks) = spec.get("sse") {
        let chunks = chunks
            .as_array()
            .ok_or("sse must be a list of strings")?
            .iter()
            .map(|c| {
                c.as_str()
                    .map(str::to_owned)
                    .ok_or("sse must be a list of strings")
            })
            .collect::<Result<Vec<_>, _>>()?;
        Reply::sse(chunks)
    } else if let Some(body) = spec.get("json") {
        Reply::json(status, body.clone())
    } else if let Some(body) = spec.get("body") {
        let body = body.as_str().ok_or("body must be a string")?;
        let content_type = spec
            .get("content_type")
            .and_then(Value::as_str)
            .unwrap_or("text/plain");
        Reply::body(status, content_type, body.to_owned())
    } else {
        Reply::status(status)
    };
    if let Some(headers) = spec.get("headers") {
        let headers = headers.as_object().ok_or("headers must be an object")?;
        for (name, value) in headers {
            let value = value.as_str().ok_or("header values must be strings")?;
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            let valid_value = value
                .bytes()
                .all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
            if !valid_name || !valid_value {
                return Err(format!("invalid header {name:?}"));
            }
            reply = reply.header(name, value);
        }
    }
    if let Some(ms) = count(spec, "delay_ms")? {
        reply = reply.delay(Duration::from_millis(ms));
    }
    if let Some(ms) = count(spec, "chunk_delay_ms")? {
        reply = reply.chunk_delay(Duration::from_millis(ms));
    }
    if let Some(n) = count(spec, "reset_after")? {
        reply = reply.reset_after(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(n) = count(spec, "stall_after")? {
        reply = reply.stall_after(usize::try_from(n).unwrap_or(usize::MAX));
    }
    Ok(reply)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let upstream = Upstream::start().await;
    let control = Arc::new(Control {
        upstream: upstream.clone(),
        script: Mutex::new(Script {
            queue: VecDeque::new(),
            default: None,
            mode: Mode::OpenAi,
        }),
        echo_openai: Box::new(openai::handler()),
        echo_anthropic: Box::new(anthropic::handler()),
        echo_gemini: Box::new(gemini::handler()),
    });
    let handler = control.clone();
    upstream.set_handler(move |rec| handler.handle(rec));

    // The announcement is this program's output, read by the process that started it.
    let mut stdout = std::io::stdout().lock();
    let announced = writeln!(stdout, "LISTENING {}", upstream.url()).and_then(|()| stdout.flush());
    drop(stdout);
    if announced.is_err() {
        std::process::exit(1);
    }

    // Exit when the parent closes stdin (or dies), so no orphan keeps the port.
    std::thread::spawn(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_specs_are_refused_not_panicked_on() {
        for spec in [
            json!("text"),
            json!({"status": 99}),
            json!({"status": 70000}),
            json!({"sse": "data: x"}),
            json!({"sse": [1]}),
            json!({"body": 5}),
            json!({"json": {}, "headers": {"bad name": "x"}}),
            json!({"json": {}, "headers": {"x": "line\nbreak"}}),
            json!({"json": {}, "headers": ["x"]}),
            json!({"json": {}, "delay_ms": -1}),
        ] {
            assert!(reply_from_spec(&spec).is_err(), "{spec}");
        }
        for spec in [
            json!({}),
            json!({"status": 429, "json": {"error": {}}, "headers": {"retry-after": "1"}}),
            json!({"sse": ["data: {}\n\n"], "chunk_delay_ms": 5, "stall_after": 1}),
            json!({"body": "<html>", "content_type": "text/html", "reset_after": 0}),
        ] {
            assert!(reply_from_spec(&spec).is_ok(), "{spec}");
        }
    }
}
