//! The clients under test, each sending one chat request (or stream) and checking the answer.
//!
//! Every one is handed a `reqwest::Client` built by `llmward_core::build_client` (ring,
//! preconfigured rustls, HTTP/1.1), so TLS set-up and connection pooling are the same for all.

use std::time::{Duration, Instant};

use llmward::openai::OpenAi;
use llmward::{ChatRequest, HttpOptions, Provider, StreamEvent};
use serde::{Deserialize, Serialize};

use crate::upstream::ECHO_TEXT;

pub const MODEL: &str = "gpt-bench";
pub const SYSTEM: &str = "Be brief.";
pub const USER: &str = "Why is the sky blue?";

/// A client kind, as named on the command line and in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Floor,
    Llmward,
    Routed,
    AsyncOpenAi,
    Genai,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            // The alternatives change reqwest's features (gzip, http2, ...), so their build
            // has its own floor.
            Kind::Floor if cfg!(feature = "alternatives") => "floor, alternatives build",
            Kind::Floor => "floor (reqwest + serde_json)",
            Kind::Llmward => "llmward direct",
            Kind::Routed => "llmward routed",
            Kind::AsyncOpenAi => "async-openai",
            Kind::Genai => "genai",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "floor" => Kind::Floor,
            "llmward" => Kind::Llmward,
            "routed" => Kind::Routed,
            "async-openai" => Kind::AsyncOpenAi,
            "genai" => Kind::Genai,
            _ => return None,
        })
    }

    pub fn arg(self) -> &'static str {
        match self {
            Kind::Floor => "floor",
            Kind::Llmward => "llmward",
            Kind::Routed => "routed",
            Kind::AsyncOpenAi => "async-openai",
            Kind::Genai => "genai",
        }
    }

    /// The kinds this build can run.
    pub fn available() -> Vec<Kind> {
        let mut kinds = vec![Kind::Floor, Kind::Llmward, Kind::Routed];
        if cfg!(feature = "alternatives") {
            kinds.push(Kind::AsyncOpenAi);
            kinds.push(Kind::Genai);
        }
        kinds
    }
}

pub type Res<T> = Result<T, String>;

/// Timings of one stream.
#[derive(Clone, Copy, Debug)]
pub struct StreamTiming {
    pub first_token: Duration,
    pub last_chunk: Duration,
}

// ---- the floor: what a careful user writes by hand with reqwest + serde_json ----

#[derive(Serialize)]
// Field order follows llmward's encoding (alphabetical), so the bytes are identical.
struct FloorMessage<'a> {
    content: &'a str,
    role: &'a str,
}

#[derive(Serialize)]
struct FloorStreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct FloorRequest<'a> {
    messages: [FloorMessage<'a>; 2],
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<FloorStreamOptions>,
}

fn floor_body(stream: bool) -> Res<Vec<u8>> {
    serde_json::to_vec(&FloorRequest {
        model: MODEL,
        messages: [
            FloorMessage {
                role: "system",
                content: SYSTEM,
            },
            FloorMessage {
                role: "user",
                content: USER,
            },
        ],
        stream: stream.then_some(true),
        stream_options: stream.then_some(FloorStreamOptions {
            include_usage: true,
        }),
    })
    .map_err(|e| format!("floor: encoding: {e}"))
}

/// The floor's request body (for the byte comparison with llmward's).
pub fn floor_request_bytes(stream: bool) -> Res<Vec<u8>> {
    floor_body(stream)
}

#[derive(Deserialize)]
#[allow(dead_code)] // Fields are parsed for parity with what llmward extracts.
struct FloorFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorToolCall {
    id: String,
    function: FloorFunction,
}

#[derive(Deserialize)]
struct FloorMessageOut {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<FloorToolCall>>,
}

#[derive(Deserialize)]
struct FloorChoice {
    message: FloorMessageOut,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[allow(dead_code)]
struct FloorPromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
#[allow(dead_code)]
struct FloorCompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<FloorPromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<FloorCompletionDetails>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<FloorChoice>,
    #[serde(default)]
    usage: Option<FloorUsage>,
}

/// What the floor extracts from an answer: the same facts llmward's ChatResponse carries.
#[allow(dead_code)]
struct FloorAnswer {
    id: Option<String>,
    model: String,
    text: String,
    tool_calls: Vec<(String, String, serde_json::Value)>,
    finish_reason: Option<String>,
    usage: Option<(u64, u64, u64, u64)>,
    request_id: Option<String>,
}

#[derive(Deserialize)]
struct FloorDelta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorChunkChoice {
    #[serde(default)]
    delta: Option<FloorDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorChunk {
    #[serde(default)]
    choices: Vec<FloorChunkChoice>,
    #[serde(default)]
    usage: Option<FloorUsage>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorErrorBody {
    error: FloorErrorDetail,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorErrorDetail {
    message: String,
    #[serde(default)]
    code: Option<String>,
}

fn find_event_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n")
}

struct Floor {
    http: reqwest::Client,
    url: String,
}

impl Floor {
    async fn send(&self, url: &str, stream: bool) -> Res<reqwest::Response> {
        self.http
            .post(url)
            .header("content-type", "application/json")
            .body(floor_body(stream)?)
            .send()
            .await
            .map_err(|e| format!("floor: {e}"))
    }

    async fn chat_at(&self, url: &str) -> Res<FloorAnswer> {
        let resp = self.send(url, false).await?;
        if !resp.status().is_success() {
            return Err(format!("floor: status {}", resp.status()));
        }
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.map_err(|e| format!("floor: {e}"))?;
        let parsed: FloorResponse =
            serde_json::from_slice(&bytes).map_err(|e| format!("floor: decoding: {e}"))?;
        let mut choices = parsed.choices.into_iter();
        let choice = choices.next().ok_or("floor: no choice")?;
        let tool_calls = choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let args = serde_json::from_str(&c.function.arguments)
                    .unwrap_or(serde_json::Value::String(c.function.arguments));
                (c.id, c.function.name, args)
            })
            .collect();
        Ok(FloorAnswer {
            id: parsed.id,
            model: parsed.model.unwrap_or_else(|| MODEL.to_owned()),
            text: choice.message.content.unwrap_or_default(),
            tool_calls,
            finish_reason: choice.finish_reason,
            usage: parsed.usage.map(|u| {
                (
                    u.prompt_tokens,
                    u.completion_tokens,
                    u.prompt_tokens_details
                        .and_then(|d| d.cached_tokens)
                        .unwrap_or(0),
                    u.completion_tokens_details
                        .and_then(|d| d.reasoning_tokens)
                        .unwrap_or(0),
                )
            }),
            request_id,
        })
    }

    /// One request that must fail with `status`; the error body is decoded as a user would.
    async fn expect_error(&self, url: &str, status: u16) -> Res<()> {
        let resp = self.send(url, false).await?;
        if resp.status().as_u16() != status {
            return Err(format!("floor: expected {status}, got {}", resp.status()));
        }
        let _retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = resp.bytes().await.map_err(|e| format!("floor: {e}"))?;
        let _err: FloorErrorBody =
            serde_json::from_slice(&bytes).map_err(|e| format!("floor: error body: {e}"))?;
        Ok(())
    }

    async fn stream(&self, start: Instant) -> Res<(String, StreamTiming)> {
        let mut resp = self.send(&self.url, true).await?;
        if !resp.status().is_success() {
            return Err(format!("floor: status {}", resp.status()));
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut text = String::new();
        let mut first = None;
        let mut done = false;
        while !done {
            let Some(chunk) = resp.chunk().await.map_err(|e| format!("floor: {e}"))? else {
                break;
            };
            buf.extend_from_slice(&chunk);
            while let Some(end) = find_event_end(&buf) {
                let event: Vec<u8> = buf.drain(..end + 2).collect();
                for line in event.split(|b| *b == b'\n') {
                    let Some(data) = line.strip_prefix(b"data: ") else {
                        continue;
                    };
                    if data == b"[DONE]" {
                        done = true;
                        continue;
                    }
                    let parsed: FloorChunk =
                        serde_json::from_slice(data).map_err(|e| format!("floor: chunk: {e}"))?;
                    for choice in parsed.choices {
                        if let Some(piece) = choice.delta.and_then(|d| d.content)
                            && !piece.is_empty()
                        {
                            first.get_or_insert_with(|| start.elapsed());
                            text.push_str(&piece);
                        }
                    }
                }
            }
        }
        if !done {
            return Err("floor: stream ended without [DONE]".to_owned());
        }
        let last = start.elapsed();
        Ok((
            text,
            StreamTiming {
                first_token: first.unwrap_or(last),
                last_chunk: last,
            },
        ))
    }

    /// Opens a stream and returns it once its first content arrived (memory test).
    async fn open_stream(&self) -> Res<Box<dyn Send>> {
        let mut resp = self.send(&self.url, true).await?;
        if !resp.status().is_success() {
            return Err(format!("floor: status {}", resp.status()));
        }
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = resp
                .chunk()
                .await
                .map_err(|e| format!("floor: {e}"))?
                .ok_or("floor: stream ended early")?;
            buf.extend_from_slice(&chunk);
            while let Some(end) = find_event_end(&buf) {
                let event: Vec<u8> = buf.drain(..end + 2).collect();
                if let Some(data) = event.strip_prefix(b"data: ") {
                    let parsed: FloorChunk = serde_json::from_slice(data.trim_ascii_end())
                        .map_err(|e| format!("floor: chunk: {e}"))?;
                    let content = parsed
                        .choices
                        .into_iter()
                        .filter_map(|c| c.delta.and_then(|d| d.content))
                        .any(|c| !c.is_empty());
                    if content {
                        return Ok(Box::new((resp, buf)));
                    }
                }
            }
        }
    }
}

// ---- the clients ----

// One value per client, built once: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Floor(Floor),
    Llmward(OpenAi),
    Routed(crate::router::Routed),
    #[cfg(feature = "alternatives")]
    AsyncOpenAi(crate::alternatives::AsyncOpenAi),
    #[cfg(feature = "alternatives")]
    Genai(crate::alternatives::Genai),
}

/// One client of one kind, pointed at one base (`{upstream}{prefix}/v1`).
pub struct Client {
    pub kind: Kind,
    inner: Inner,
    request: ChatRequest,
    expected_stream: String,
}

/// The request llmward and the router send.
pub fn llmward_request() -> Res<ChatRequest> {
    ChatRequest::builder(MODEL)
        .system(SYSTEM)
        .user(USER)
        .build()
        .map_err(|e| format!("request: {e}"))
}

pub fn http_client() -> Res<reqwest::Client> {
    llmward_core::build_client(&HttpOptions::new()).map_err(|e| format!("build_client: {e}"))
}

pub fn llmward_provider(base: &str, name: &str) -> Res<OpenAi> {
    OpenAi::compatible(base)
        .name(name)
        .build()
        .map_err(|e| format!("llmward: {e}"))
}

impl Client {
    /// `upstream` is `http://127.0.0.1:PORT`, `prefix` a behaviour path such as `/stream20`.
    pub fn new(kind: Kind, upstream: &str, prefix: &str, expected_stream: &str) -> Res<Client> {
        let base = format!("{upstream}{prefix}/v1");
        let inner = match kind {
            Kind::Floor => Inner::Floor(Floor {
                http: http_client()?,
                url: format!("{base}/chat/completions"),
            }),
            Kind::Llmward => Inner::Llmward(llmward_provider(&base, "local")?),
            Kind::Routed => Inner::Routed(crate::router::Routed::single(&base)?),
            #[cfg(feature = "alternatives")]
            Kind::AsyncOpenAi => {
                Inner::AsyncOpenAi(crate::alternatives::AsyncOpenAi::new(&base, http_client()?))
            }
            #[cfg(feature = "alternatives")]
            Kind::Genai => Inner::Genai(crate::alternatives::Genai::new(&base, http_client()?)?),
            #[cfg(not(feature = "alternatives"))]
            Kind::AsyncOpenAi | Kind::Genai => {
                return Err(format!("{} needs the `alternatives` feature", kind.label()));
            }
        };
        Ok(Client {
            kind,
            inner,
            request: llmward_request()?,
            expected_stream: expected_stream.to_owned(),
        })
    }

    /// A router whose first route answers 503 and whose second answers (failover).
    pub fn failover(upstream: &str) -> Res<Client> {
        Ok(Client {
            kind: Kind::Routed,
            inner: Inner::Routed(crate::router::Routed::failover(upstream)?),
            request: llmward_request()?,
            expected_stream: String::new(),
        })
    }

    /// One chat request; checks the answer text.
    pub async fn chat(&self) -> Res<()> {
        let text = match &self.inner {
            Inner::Floor(f) => {
                let answer = f.chat_at(&f.url).await?;
                if answer.finish_reason.as_deref() != Some("stop") || answer.usage.is_none() {
                    return Err("floor: finish reason or usage missing".to_owned());
                }
                answer.text
            }
            Inner::Llmward(p) => p
                .chat(&self.request)
                .await
                .map_err(|e| format!("llmward: {e}"))?
                .text(),
            Inner::Routed(r) => r.chat(&self.request).await?,
            #[cfg(feature = "alternatives")]
            Inner::AsyncOpenAi(c) => c.chat().await?,
            #[cfg(feature = "alternatives")]
            Inner::Genai(c) => c.chat().await?,
        };
        if text != ECHO_TEXT {
            return Err(format!("{}: unexpected answer {text:?}", self.kind.label()));
        }
        Ok(())
    }

    /// The floor's hand-written fallback: one request to `first` that must fail with
    /// `status`, then one to `second` (`None`: this client's own URL).
    pub async fn floor_two_requests(
        &self,
        first: &str,
        status: u16,
        second: Option<&str>,
    ) -> Res<()> {
        let Inner::Floor(f) = &self.inner else {
            return Err("floor_two_requests on a non-floor client".to_owned());
        };
        f.expect_error(first, status).await?;
        let answer = f.chat_at(second.unwrap_or(&f.url)).await?;
        if answer.text != ECHO_TEXT {
            return Err(format!("floor: unexpected answer {:?}", answer.text));
        }
        Ok(())
    }

    /// One stream read to its end; checks the text and returns the timings.
    pub async fn stream(&self) -> Res<StreamTiming> {
        let start = Instant::now();
        let (text, timing) = match &self.inner {
            Inner::Floor(f) => f.stream(start).await?,
            Inner::Llmward(p) => {
                let s = p
                    .chat_stream(&self.request)
                    .await
                    .map_err(|e| format!("llmward: {e}"))?;
                read_llmward_stream(s, start, "llmward").await?
            }
            Inner::Routed(r) => {
                let s = r.chat_stream(&self.request).await?;
                read_llmward_stream(s, start, "llmward routed").await?
            }
            #[cfg(feature = "alternatives")]
            Inner::AsyncOpenAi(c) => c.stream(start).await?,
            #[cfg(feature = "alternatives")]
            Inner::Genai(c) => c.stream(start).await?,
        };
        if text != self.expected_stream {
            return Err(format!(
                "{}: unexpected streamed text {text:?}",
                self.kind.label()
            ));
        }
        Ok(timing)
    }

    /// Opens a stream and returns it (to be held open) once its first content arrived.
    pub async fn open_stream(&self) -> Res<Box<dyn Send>> {
        match &self.inner {
            Inner::Floor(f) => f.open_stream().await,
            Inner::Llmward(p) => {
                let s = p
                    .chat_stream(&self.request)
                    .await
                    .map_err(|e| format!("llmward: {e}"))?;
                hold_llmward_stream(s).await
            }
            Inner::Routed(r) => hold_llmward_stream(r.chat_stream(&self.request).await?).await,
            #[cfg(feature = "alternatives")]
            Inner::AsyncOpenAi(c) => c.open_stream().await,
            #[cfg(feature = "alternatives")]
            Inner::Genai(c) => c.open_stream().await,
        }
    }
}

async fn read_llmward_stream(
    mut s: llmward::ChatStream,
    start: Instant,
    who: &str,
) -> Res<(String, StreamTiming)> {
    let mut text = String::new();
    let mut first = None;
    let mut finished = false;
    while let Some(event) = s.next().await {
        match event.map_err(|e| format!("{who}: {e}"))? {
            StreamEvent::TextDelta(t) => {
                if !t.is_empty() {
                    first.get_or_insert_with(|| start.elapsed());
                }
                text.push_str(&t);
            }
            StreamEvent::Finish { .. } => finished = true,
            _ => {}
        }
    }
    if !finished {
        return Err(format!("{who}: stream ended without a finish"));
    }
    let last = start.elapsed();
    Ok((
        text,
        StreamTiming {
            first_token: first.unwrap_or(last),
            last_chunk: last,
        },
    ))
}

async fn hold_llmward_stream(mut s: llmward::ChatStream) -> Res<Box<dyn Send>> {
    loop {
        match s.next().await {
            Some(Ok(StreamEvent::TextDelta(t))) if !t.is_empty() => return Ok(Box::new(s)),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("llmward: {e}")),
            None => return Err("llmward: stream ended early".to_owned()),
        }
    }
}
