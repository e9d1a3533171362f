//! The leak matrix: every string a provider can send, set to the key, must stay out of
//! everything a caller or an operator sees.
//!
//! The fields are not picked by hand. Every recorded response in the conformance corpus that
//! the decoders accept (chat bodies, every kind of stream chunk, embeddings, error bodies, for
//! OpenAI and the servers that speak its format, Anthropic and Gemini) is walked, and each of
//! its string leaves is replaced by the canary key: once whole, and once as a run of it (from
//! the start, the middle or the end of its secret part) or a masked form, in turn. Every
//! reply also carries the request-id headers set to the canary. Each case runs against a
//! loopback upstream, directly and through a router (alternating), and then every surface is
//! inspected: the answer's identifiers (id, model, request id, raw finish reason), every
//! non-content stream event, the error's `Display`, `Debug`, `{:#?}`, source chain and
//! attempts, the router's events in every form (`Display`, `Debug`, `fields()`, OpenTelemetry
//! attributes), and every `tracing` record at TRACE for every target. Model content (text,
//! reasoning text, tool calls, signatures) is the caller's data and is not inspected.
//!
//! Also: a 200 whose request-id header echoes the key and whose body is then reset, or is over
//! the cap (the cases where the body never arrives).
//!
//! The test prints fields covered × surfaces inspected and the occurrences found (0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/capture.rs"]
mod capture;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use capture::Capture;
use llmward::{
    ApiKey, ChatRequest, EmbedRequest, Error, HttpOptions, KeySource, Provider, Route, Router,
    RouterEvent, StaticKey, StreamEvent,
};
use llmward_core::redact::contains_secret;
use llmward_testkit::{Reply, Upstream, conformance};
use serde_json::Value;
use support::hostile::Hostile;
use support::{AnthropicWire, GeminiWire, OpenAiWire};

/// One step of a path into a JSON value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Index(usize),
}

fn leaves(value: &Value, path: &mut Vec<Seg>, out: &mut BTreeSet<Vec<Seg>>) {
    match value {
        Value::String(_) => {
            out.insert(path.clone());
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                leaves(item, path, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(Seg::Key(k.clone()));
                leaves(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Sets the string at `path` to `new`; false when there is no string there.
fn set(value: &mut Value, path: &[Seg], new: &str) -> bool {
    let mut at = value;
    for seg in path {
        at = match (seg, at) {
            (Seg::Key(k), Value::Object(map)) => match map.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (Seg::Index(i), Value::Array(items)) => match items.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    if at.is_string() {
        *at = Value::String(new.to_owned());
        true
    } else {
        false
    }
}

/// A recorded response, as a JSON body or as SSE lines.
enum Body {
    Json(Value),
    Sse(Vec<String>),
}

impl Body {
    fn parse(bytes: &[u8], sse: bool) -> Option<Body> {
        if sse {
            let text = String::from_utf8_lossy(bytes);
            Some(Body::Sse(text.split('\n').map(str::to_owned).collect()))
        } else {
            serde_json::from_slice(bytes).ok().map(Body::Json)
        }
    }

    fn data(line: &str) -> Option<Value> {
        let data = line.strip_prefix("data:")?.trim();
        serde_json::from_str(data).ok()
    }

    fn paths(&self) -> BTreeSet<Vec<Seg>> {
        let mut out = BTreeSet::new();
        match self {
            Body::Json(v) => leaves(v, &mut Vec::new(), &mut out),
            Body::Sse(lines) => {
                for v in lines.iter().filter_map(|l| Self::data(l)) {
                    leaves(&v, &mut Vec::new(), &mut out);
                }
            }
        }
        out
    }

    /// The body with the string at `path` (in every chunk that has one) set to `new`.
    fn with(&self, path: &[Seg], new: &str) -> Vec<u8> {
        match self {
            Body::Json(v) => {
                let mut v = v.clone();
                set(&mut v, path, new);
                serde_json::to_vec(&v).unwrap()
            }
            Body::Sse(lines) => {
                let mut out = Vec::new();
                for line in lines {
                    let changed = Self::data(line).and_then(|mut v| {
                        set(&mut v, path, new)
                            .then(|| format!("data: {}", serde_json::to_string(&v).unwrap()))
                    });
                    out.push(changed.unwrap_or_else(|| line.clone()));
                }
                out.join("\n").into_bytes()
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Call {
    Chat,
    Stream,
    Embed,
}

/// What the matrix saw.
#[derive(Default)]
struct Report {
    fields: usize,
    cases: usize,
    surfaces: BTreeSet<&'static str>,
    strings: usize,
    found: Vec<(String, String)>,
}

impl Report {
    fn inspect(&mut self, surface: &'static str, text: String, key: &str, case: &str) {
        self.surfaces.insert(surface);
        self.strings += 1;
        if contains_secret(&text, key) {
            self.found
                .push((case.to_owned(), format!("{surface}: {text}")));
        }
    }

    fn error(&mut self, err: &Error, key: &str, case: &str) {
        self.inspect("error Display", err.to_string(), key, case);
        self.inspect("error Debug", format!("{err:?}"), key, case);
        self.inspect("error {:#?}", format!("{err:#?}"), key, case);
        self.inspect("error attempts", format!("{:?}", err.attempts()), key, case);
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            self.inspect("error source chain", format!("{s} {s:?}"), key, case);
            source = s.source();
        }
    }

    fn event(&mut self, event: &StreamEvent, key: &str, case: &str) {
        match event {
            StreamEvent::Started { .. } | StreamEvent::Usage(_) | StreamEvent::Finish { .. } => {
                self.inspect("stream event", format!("{event:?}"), key, case);
            }
            // Model content: the caller's data.
            _ => {}
        }
    }
}

/// The variants of the canary a field is set to: whole, then in turn a run from the start,
/// the middle and the end of the secret part, or a masked form.
fn variants(key: &str, prefix: &str, field: usize) -> [String; 2] {
    let secret = &key[prefix.len()..];
    let n = secret.len();
    let other = match field % 4 {
        0 => format!("x{}", &secret[..10]),
        1 => secret[n / 2 - 5..n / 2 + 5].to_owned(),
        2 => format!("{}.", &secret[n - 10..]),
        _ => format!("{prefix}****{}", &key[key.len() - 4..]),
    };
    [key.to_owned(), other]
}

fn opts() -> HttpOptions {
    HttpOptions::new()
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(30))
        .stream_idle_timeout(Duration::from_secs(30))
        .max_body_bytes(4 << 20)
}

const ID_HEADERS: [&str; 4] = [
    "x-request-id",
    "request-id",
    "apim-request-id",
    "x-goog-request-id",
];

/// One provider's run: its upstream, the provider aimed at it, its canary key.
struct Run<'a> {
    up: Upstream,
    provider: Arc<dyn Provider>,
    key: String,
    report: &'a mut Report,
    capture: &'a Capture,
}

/// Runs one case: the upstream answers every request with `reply`; the call goes directly
/// to the provider or through a one-route router.
async fn case<W: Hostile>(
    run: &mut Run<'_>,
    call: Call,
    reply: Reply,
    via_router: bool,
    name: &str,
) {
    let Run {
        up,
        provider,
        key,
        report,
        capture,
    } = run;
    let key = key.as_str();
    up.set_default(reply);
    report.cases += 1;
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let target: Arc<dyn Provider> = if via_router {
        let sink = events.clone();
        Arc::new(
            Router::builder()
                .route(Route::shared("only", provider.clone(), W::MODEL).alias("default"))
                .max_attempts_per_route(1)
                .on_event(move |e: &RouterEvent| {
                    let mut out = sink.lock().unwrap();
                    out.push(e.to_string());
                    out.push(format!("{e:?}"));
                    out.extend(e.fields().into_iter().map(|(k, v)| format!("{k}={v}")));
                    out.extend(
                        e.otel_attributes()
                            .into_iter()
                            .map(|(k, v)| format!("{k}={v}")),
                    );
                })
                .build()
                .unwrap(),
        )
    } else {
        provider.clone()
    };
    let model = if via_router { "default" } else { W::MODEL };
    match call {
        Call::Chat => {
            let request = ChatRequest::builder(model).user("hi").build().unwrap();
            match target.chat(&request).await {
                Ok(a) => report.inspect(
                    "answer identifiers",
                    format!(
                        "{:?} {:?} {:?} {:?} {} {:?} {:?}",
                        a.id,
                        a.model,
                        a.request_id,
                        a.raw_finish_reason,
                        a.provider(),
                        a.finish_reason,
                        a.usage
                    ),
                    key,
                    name,
                ),
                Err(e) => report.error(&e, key, name),
            }
        }
        Call::Stream => {
            let request = ChatRequest::builder(model).user("hi").build().unwrap();
            match target.chat_stream(&request).await {
                Ok(mut stream) => {
                    report.inspect(
                        "stream request id",
                        format!("{:?}", stream.request_id()),
                        key,
                        name,
                    );
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(e) => report.event(&e, key, name),
                            Err(e) => {
                                report.error(&e, key, name);
                                break;
                            }
                        }
                    }
                }
                Err(e) => report.error(&e, key, name),
            }
        }
        Call::Embed => {
            let request = EmbedRequest::new(model, vec!["a".into(), "b".into()]);
            match target.embed(&request).await {
                Ok(a) => report.inspect(
                    "embeddings identifiers",
                    format!(
                        "{:?} {:?} {} {:?}",
                        a.model, a.request_id, a.provider, a.usage
                    ),
                    key,
                    name,
                ),
                Err(e) => report.error(&e, key, name),
            }
        }
    }
    for text in std::mem::take(&mut *events.lock().unwrap()) {
        report.inspect("router event", text, key, name);
    }
    for text in capture.take() {
        report.inspect("tracing record", text, key, name);
    }
}

/// Every recorded response of `folders`, every string field, through `W`'s decoders.
async fn matrix<W: Hostile>(
    corpus: &Path,
    folders: &[&str],
    report: &mut Report,
    capture: &Capture,
) {
    let key = llmward_testkit::canary::key(W::KEY_PREFIX, &format!("leak-matrix-{}", W::NAME));
    let up = Upstream::start().await;
    up.set_recording(false);
    let source: Arc<dyn KeySource> = Arc::new(StaticKey::new(
        ApiKey::new(key.clone()).unwrap().with_label("matrix"),
    ));
    let provider = W::build(&up.url(), Some(source), opts()).unwrap();
    let mut run = Run {
        up,
        provider,
        key: key.clone(),
        report,
        capture,
    };
    let mut field = 0usize;
    for folder in folders {
        for entry in conformance::entries_for(corpus, folder) {
            if entry.file.contains("json_array") {
                continue; // Gemini without alt=sse: a format llmward does not request
            }
            let sse = entry.file.ends_with(".sse");
            let call = if sse {
                Call::Stream
            } else if entry.file.contains("embeddings") {
                Call::Embed
            } else {
                Call::Chat
            };
            let status = entry.status.unwrap_or(200);
            let Some(body) = Body::parse(&conformance::read(corpus, &entry.file), sse) else {
                continue;
            };
            for path in body.paths() {
                field += 1;
                run.report.fields += 1;
                for (v, value) in variants(&key, W::KEY_PREFIX, field).iter().enumerate() {
                    let bytes = body.with(&path, value);
                    let mut reply = if sse {
                        Reply::sse_bytes(vec![bytes.into()])
                    } else {
                        Reply::body(status, "application/json", bytes)
                    };
                    for header in ID_HEADERS {
                        reply = reply.header(header, value);
                    }
                    let name = format!("{} {path:?} = variant {v}", entry.file);
                    let via_router = (field + v) % 2 == 1;
                    case::<W>(&mut run, call, reply, via_router, &name).await;
                }
            }
        }
    }
    // The body never arrives: reset after the head, or over the cap.
    for (i, reply) in [
        Reply::json(200, serde_json::json!({})).reset_after(0),
        Reply::oversized(200, "application/json", 8 << 20),
        Reply::oversized(200, "text/event-stream", 8 << 20),
    ]
    .into_iter()
    .enumerate()
    {
        for call in [Call::Chat, Call::Stream] {
            for via_router in [false, true] {
                let mut reply = reply.clone();
                for header in ID_HEADERS {
                    reply = reply.header(header, &key);
                }
                let name = format!("{} head-only case {i} {call:?}", W::NAME);
                case::<W>(&mut run, call, reply, via_router, &name).await;
            }
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_key_from_any_field_reaches_any_surface() {
    let Some(corpus) = conformance::require_corpus() else {
        return;
    };
    let capture = Arc::new(Capture::default());
    tracing::subscriber::set_global_default(capture.clone()).unwrap();
    let mut report = Report::default();
    matrix::<OpenAiWire>(
        &corpus,
        &[
            "openai",
            "azure",
            "openai_compat",
            "deepseek",
            "groq",
            "mistral",
            "ollama",
            "openrouter",
            "xai",
        ],
        &mut report,
        &capture,
    )
    .await;
    matrix::<AnthropicWire>(&corpus, &["anthropic"], &mut report, &capture).await;
    matrix::<GeminiWire>(&corpus, &["gemini"], &mut report, &capture).await;
    eprintln!(
        "leak matrix: {} fields × {} surfaces ({} cases, {} strings inspected): {} occurrences",
        report.fields,
        report.surfaces.len(),
        report.cases,
        report.strings,
        report.found.len()
    );
    // One line per field and surface that leaked, so that a regression reads at a glance.
    let mut seen = BTreeSet::new();
    for (case, text) in &report.found {
        let surface = text.split(':').next().unwrap_or_default().to_owned();
        let field = case
            .split(" = variant")
            .next()
            .unwrap_or_default()
            .to_owned();
        if seen.insert((field.clone(), surface.clone())) && seen.len() <= 40 {
            eprintln!(
                "  {field}: {surface}: {}",
                text.chars().take(300).collect::<String>()
            );
        }
    }
    // Neither an empty walk nor a blind capture can pass.
    assert!(report.fields > 1_000, "{} fields", report.fields);
    assert!(
        report.surfaces.contains("router event"),
        "{:?}",
        report.surfaces
    );
    assert!(
        report.surfaces.contains("tracing record"),
        "{:?}",
        report.surfaces
    );
    assert!(
        report.surfaces.contains("error Display"),
        "{:?}",
        report.surfaces
    );
    assert!(
        report.found.is_empty(),
        "{} occurrences of the key",
        report.found.len()
    );
}
