//! The canary audit: one run with canary keys (OpenAI `sk-…`, Anthropic `sk-ant-api03-…`,
//! Gemini `AIzaSy…`, and the keys they rotate to) through the whole fault matrix — every
//! provider, chat and stream, every error status and every error kind the suite knows, the key
//! echoed back verbatim and masked, redirects, oversized and broken bodies, timeouts — then a
//! router over all three providers with events, budgets and cooldowns, and rotation through a
//! `RotatingKey`. Everything llmward shows is captured: every error's `Display` and `Debug`
//! (and its source chain), every `RouterEvent` (`Display`, `Debug`, `fields()`,
//! `otel_attributes()`), every `tracing` event and span (a hand-written subscriber), and the
//! `Debug` of every public type the test can construct. No canary may be found in any of it by
//! llmward's one redaction rule (the whole key, a run of 8 characters of its secret part, or a
//! masked form): counted, not eyeballed. The canaries derive from a seed printed at the start
//! (`LLMWARD_CANARY_SEED` replays a run); every run of 8 of them mixes capitals and digits, so
//! printed numbers and words cannot match by chance.
//!
//! A provider that echoes the key as its request id or the answer's id is audited separately
//! (`identifiers_echoing_the_key`), ignored while that defect stands.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use llmward::anthropic::Anthropic;
use llmward::gemini::Gemini;
use llmward::openai::OpenAi;
use llmward::{
    ApiKey, AuthScheme, Budget, ChatRequest, ChatResponse, Error, ErrorKind, HttpOptions, KeyFn,
    KeySource, Provider, RotatingKey, Route, Router, RouterEvent, StaticKey,
};
use llmward_testkit::{Recorded, Reply, Upstream};
use serde_json::json;
use support::hostile::{Hostile, key_runs_in};
use support::{AnthropicWire, GeminiWire, OpenAiWire, Wire};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// A canary key and the key it rotates to.
#[derive(Clone, Copy)]
struct Canary {
    key: &'static str,
    rotated: &'static str,
}

fn canary(prefix: &str, name: &str) -> Canary {
    let leak = |label: String| -> &'static str {
        Box::leak(llmward_testkit::canary::key(prefix, &label).into_boxed_str())
    };
    Canary {
        key: leak(format!("audit-{name}")),
        rotated: leak(format!("audit-{name}-rotated")),
    }
}

/// OpenAI, Anthropic and Gemini canaries, derived from the printed canary seed.
static CANARIES: LazyLock<[Canary; 3]> = LazyLock::new(|| {
    [
        canary("sk-proj-", "openai"),
        canary("sk-ant-api03-", "anthropic"),
        canary("AIza", "gemini"),
    ]
});

// ---------------------------------------------------------------------------------------------
// What llmward showed.

/// Every string llmward produced during the run.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Of which, `tracing` events and spans.
static TRACED: AtomicUsize = AtomicUsize::new(0);
/// Errors and router events inspected.
static ERRORS: AtomicUsize = AtomicUsize::new(0);
static EVENTS: AtomicUsize = AtomicUsize::new(0);

fn see(text: String) {
    SEEN.lock().unwrap_or_else(|p| p.into_inner()).push(text);
}

fn see_debug(value: &dyn fmt::Debug) {
    see(format!("{value:?}"));
    see(format!("{value:#?}"));
}

fn see_error(err: &Error) {
    ERRORS.fetch_add(1, Ordering::Relaxed);
    see(err.to_string());
    see_debug(err);
    see(format!("{}", err.kind()));
    if let Some(m) = err.message() {
        see(m.to_owned());
    }
    see_debug(&err.attempts());
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        see(s.to_string());
        see(format!("{s:?}"));
        source = s.source();
    }
}

fn see_result(result: &Result<ChatResponse, Error>) {
    match result {
        Ok(answer) => see_debug(answer),
        Err(err) => see_error(err),
    }
}

fn see_event(event: &RouterEvent) {
    EVENTS.fetch_add(1, Ordering::Relaxed);
    see(event.to_string());
    see_debug(event);
    for (field, value) in event.fields() {
        see(format!("{field}={value}"));
    }
    for (name, value) in event.otel_attributes() {
        see(format!("{name}={value}"));
    }
}

/// A `tracing` subscriber that keeps every event and span, at every level, as text.
#[derive(Default)]
struct Capture {
    next: AtomicU64,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

fn traced(text: String) {
    TRACED.fetch_add(1, Ordering::Relaxed);
    see(text);
}

impl Subscriber for Capture {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::always()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let meta = span.metadata();
        let mut text = format!("span {} {} {}", meta.level(), meta.target(), meta.name());
        span.record(&mut Fields(&mut text));
        traced(text);
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut text = String::from("span record");
        values.record(&mut Fields(&mut text));
        traced(text);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut text = format!("event {} {}", meta.level(), meta.target());
        event.record(&mut Fields(&mut text));
        traced(text);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

// ---------------------------------------------------------------------------------------------
// The matrix.

fn opts() -> HttpOptions {
    HttpOptions::new()
        .connect_timeout(Duration::from_secs(1))
        .request_timeout(Duration::from_millis(500))
        .stream_idle_timeout(Duration::from_millis(150))
        .max_body_bytes(64 << 10)
        .max_sse_bytes(8 << 10)
}

fn key(text: &str, label: &str) -> ApiKey {
    ApiKey::new(text.to_owned()).unwrap().with_label(label)
}

fn ask<W: Wire>() -> ChatRequest {
    ChatRequest::builder(W::MODEL).user("hi").build().unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Chat,
    Stream,
}

async fn call(
    p: &Arc<dyn Provider>,
    request: &ChatRequest,
    mode: Mode,
) -> Result<ChatResponse, Error> {
    match mode {
        Mode::Chat => p.chat(request).await,
        Mode::Stream => {
            let mut stream = p.chat_stream(request).await?;
            see_debug(&stream);
            let mut events = Vec::new();
            let mut failed = None;
            while let Some(event) = stream.next().await {
                match event {
                    Ok(e) => events.push(e),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            see_debug(&events);
            match failed {
                Some(e) => Err(e),
                None => {
                    let mut agg = llmward::Aggregator::new(p.name(), &request.model, "audit");
                    for e in events {
                        agg.push(e);
                    }
                    Ok(agg.finish(None))
                }
            }
        }
    }
}

/// Statuses an upstream answers with, each with a message echoing the key.
const STATUSES: [u16; 20] = [
    400, 401, 402, 403, 404, 405, 408, 409, 413, 422, 429, 451, 500, 501, 502, 503, 504, 520, 524,
    529,
];

/// Every hostile reply of the matrix for `mode`, the key being `key` (its public `prefix`).
fn replies<W: Hostile>(key: &str, prefix: &str, mode: Mode) -> Vec<Reply> {
    let tail = &key[key.len() - 4..];
    let echoes = [
        format!("Incorrect API key provided: {key}."),
        format!("Incorrect API key provided: {prefix}****{tail}."),
        format!(
            "Incorrect API key provided: {}************{tail}.",
            &key[..prefix.len() + 4]
        ),
        format!("key ending in {tail} is invalid"),
        format!("Authorization: Bearer {key}"),
        format!("{{\"api_key\": \"{key}\"}}"),
    ];
    let answer = || match mode {
        Mode::Chat => Reply::json(200, W::text("Hello")),
        Mode::Stream => Reply::sse(W::stream_text(&["Hel", "lo"])),
    };
    let mut out = vec![answer()];
    for kind in ErrorKind::ALL {
        if let Some(case) = W::error(kind) {
            out.push(match mode {
                Mode::Chat => case.reply,
                Mode::Stream => case.streamed,
            });
        }
    }
    for status in STATUSES {
        for echo in &echoes {
            out.push(
                W::status_error(status, echo)
                    .header("x-echo", key)
                    .header("www-authenticate", &format!("Bearer realm={key}"))
                    .header("retry-after", "1"),
            );
        }
        out.push(Reply::body(
            status,
            "text/plain",
            format!("upstream: Bearer {key}"),
        ));
        out.push(Reply::body(
            status,
            "text/html",
            format!("<html>{key}</html>"),
        ));
    }
    for echo in &echoes {
        out.push(W::auth_error(echo));
        out.push(Reply::body(200, "text/plain", format!("proxy says {echo}")));
        match mode {
            Mode::Chat => out.push(Reply::json(200, W::error_body(echo))),
            Mode::Stream => {
                out.push(Reply::sse(vec![W::stream_error_event(echo)]));
                let mut events = W::partial_text_stream("Hel");
                events.push(W::stream_error_event(echo));
                out.push(Reply::sse(events));
            }
        }
    }
    for status in [301, 302, 303, 307, 308] {
        out.push(Reply::redirect(
            status,
            &format!("https://evil.example/steal?key={key}"),
        ));
    }
    out.push(Reply::oversized(200, "application/json", 1 << 20));
    out.push(Reply::body(200, "application/json", "{}").content_length(u64::MAX / 2));
    out.push(Reply::body(
        200,
        "application/json",
        format!("{{\"id\": \"{key}\""),
    ));
    out.push(answer().delay(Duration::from_secs(3)));
    out.push(answer().stall_after(1));
    out.push(answer().reset_after(1));
    out.push(Reply::endless_sse(format!(": {key}\n\n").repeat(16)));
    out
}

/// One provider through the matrix, chat and stream, before and after its key rotates; and
/// the `Debug` of its builder, provider and keys.
async fn provider_matrix<W: Hostile>(canary: Canary) -> Arc<dyn Provider> {
    let up = Upstream::start().await;
    let keys = RotatingKey::new(key(canary.key, &format!("{}-v1", W::NAME)));
    see_debug(&keys);
    let p = W::build(&up.url(), Some(Arc::new(keys.clone())), opts()).unwrap();
    see_debug(&p);
    let mut calls = 0;
    for (round, current) in [canary.key, canary.rotated].into_iter().enumerate() {
        for mode in [Mode::Chat, Mode::Stream] {
            for reply in replies::<W>(current, W::KEY_PREFIX, mode) {
                up.push(reply);
                let result = call(&p, &ask::<W>(), mode).await;
                see_result(&result);
                calls += 1;
            }
        }
        see(format!("{:?}", p.key_label()));
        if round == 0 {
            keys.rotate(key(canary.rotated, &format!("{}-v2", W::NAME)));
        }
    }
    // The second round really used the rotated key.
    let sent = up.requests();
    let last = sent.last().unwrap();
    assert!(
        last.headers.iter().any(|(_, v)| v.contains(canary.rotated)),
        "{} never sent its rotated key",
        W::NAME
    );
    assert_eq!(p.key_label().as_deref(), Some(&*format!("{}-v2", W::NAME)));
    assert!(calls > 200, "{calls}");
    p
}

/// An upstream that answers every request with the next reply of the matrix (chat or stream,
/// as the request asks), in a loop.
async fn looping_upstream<W: Hostile>(canary: Canary) -> Upstream {
    let up = Upstream::start().await;
    up.set_recording(false);
    let chat = replies::<W>(canary.key, W::KEY_PREFIX, Mode::Chat);
    let stream = replies::<W>(canary.key, W::KEY_PREFIX, Mode::Stream);
    let next = AtomicUsize::new(0);
    up.set_handler(move |rec: &Recorded| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        // Every other request is answered, so the router succeeds often enough to settle.
        let replies = if W::is_stream(rec) { &stream } else { &chat };
        if i % 2 == 0 {
            replies[0].clone()
        } else {
            replies[(i / 2) % replies.len()].clone()
        }
    });
    up
}

/// A router over the three providers, with events, a budget that refuses and thresholds,
/// cooldowns and a reset, driven by calls of both kinds.
async fn router_matrix() {
    let ups = [
        looping_upstream::<OpenAiWire>(CANARIES[0]).await,
        looping_upstream::<AnthropicWire>(CANARIES[1]).await,
        looping_upstream::<GeminiWire>(CANARIES[2]).await,
    ];
    let source = |c: Canary, label: &str| -> Arc<dyn KeySource> {
        Arc::new(StaticKey::new(key(c.key, label)))
    };
    let providers: [(&str, Arc<dyn Provider>, &str); 3] = [
        (
            "openai-route",
            OpenAiWire::build(
                &ups[0].url(),
                Some(source(CANARIES[0], "openai-prod")),
                opts(),
            )
            .unwrap(),
            OpenAiWire::MODEL,
        ),
        (
            "anthropic-route",
            AnthropicWire::build(
                &ups[1].url(),
                Some(source(CANARIES[1], "anthropic-prod")),
                opts(),
            )
            .unwrap(),
            AnthropicWire::MODEL,
        ),
        (
            "gemini-route",
            GeminiWire::build(
                &ups[2].url(),
                Some(source(CANARIES[2], "gemini-prod")),
                opts(),
            )
            .unwrap(),
            GeminiWire::MODEL,
        ),
    ];
    let events = Arc::new(AtomicUsize::new(0));
    let counted = events.clone();
    let mut builder = Router::builder()
        .name("audit-router")
        .max_attempts_per_route(2)
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .failure_threshold(3)
        .cooldown(Duration::from_millis(30))
        .deadline(Duration::from_secs(5))
        .budget(
            Budget::requests(40)
                .per_minute()
                .for_tag("tenant", "limited"),
        )
        .on_event(move |e| {
            counted.fetch_add(1, Ordering::Relaxed);
            see_event(e);
        })
        .seed(11);
    for (i, (name, provider, model)) in providers.into_iter().enumerate() {
        let route = Route::shared(name, provider, model)
            .alias("default")
            .tier(u32::from(i == 2))
            .timeout(Duration::from_millis(400))
            .price(1.0, 2.0)
            .budget(Budget::tokens(1_000_000).per_hour());
        see_debug(&route);
        builder = builder.route(route);
    }
    see_debug(&builder);
    let router = builder.build().unwrap();
    see_debug(&router);
    let mut failed = 0;
    for n in 0..240 {
        let mut request = ChatRequest::builder("default").user(format!("call {n}"));
        if n % 4 == 0 {
            request = request.tag("tenant", "limited");
        }
        let request = request.build().unwrap();
        see_debug(&request);
        let result = if n % 2 == 0 {
            router.chat(&request).await
        } else {
            match router.chat_stream(&request).await {
                Ok(mut stream) => {
                    see_debug(&stream);
                    let mut out = Ok(ChatResponse::new("audit-router", "default"));
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(_) => {}
                            Err(e) => {
                                out = Err(e);
                                break;
                            }
                        }
                    }
                    out
                }
                Err(e) => Err(e),
            }
        };
        failed += usize::from(result.is_err());
        see_result(&result);
        // Echoed 429s carry `Retry-After: 1`; reset their cooldowns (an event too) so the
        // next call reaches an upstream again.
        for route in ["openai-route", "anthropic-route", "gemini-route"] {
            router.reset_cooldown(route).await;
        }
    }
    see_debug(&router.health().await);
    see_debug(&router.budgets().await);
    see_debug(&router.models());
    let seen = events.load(Ordering::Relaxed);
    assert!(seen > 240, "only {seen} router events");
    assert!(failed > 0 && failed < 240, "{failed} of 240 calls failed");
}

/// The `Debug` of every public type the test can construct, with canary keys inside; and the
/// errors of builders and key constructors given canaries.
fn public_types() {
    let [o, a, g] = *CANARIES;
    let http = HttpOptions::new()
        .proxy(format!("http://user:{}@proxy.internal:3128", o.key))
        .danger_allow_http_host("llm.internal")
        .client_identity_pem(
            llmward_testkit::tls::CLIENT_CERT_PEM,
            llmward_testkit::tls::CLIENT_KEY_PEM,
        );
    see_debug(&http);

    let openai = OpenAi::builder()
        .api_key(key(o.key, "o"))
        .http(HttpOptions::new());
    see_debug(&openai);
    see_debug(&openai.build().unwrap());
    let compatible = OpenAi::compatible("http://127.0.0.1:9/v1")
        .api_key(key(o.key, "o"))
        .header("x-tenant", "acme");
    see_debug(&compatible);
    see_debug(&compatible.build().unwrap());
    let azure = OpenAi::azure("https://acme.openai.azure.com")
        .api_key(key(o.rotated, "az"))
        .api_version("2024-12-01-preview");
    see_debug(&azure);
    see_debug(&azure.build().unwrap());
    let anthropic = Anthropic::builder()
        .api_key(key(a.key, "a"))
        .beta("prompt-caching-2024-07-31");
    see_debug(&anthropic);
    see_debug(&anthropic.build().unwrap());
    let gemini = Gemini::builder().api_key(key(g.key, "g"));
    see_debug(&gemini);
    see_debug(&gemini.build().unwrap());
    let vertex = Gemini::vertex("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/google")
        .api_key(key(g.rotated, "vertex"));
    see_debug(&vertex);
    see_debug(&vertex.build().unwrap());

    for c in *CANARIES {
        let k = Arc::new(key(c.key, "label"));
        see_debug(&k);
        see_debug(&k.header_value(AuthScheme::Bearer).unwrap());
        see_debug(&k.header_value(AuthScheme::Plain).unwrap());
        see_debug(&StaticKey::new(key(c.key, "static")));
        let rotating = RotatingKey::new(key(c.key, "r1"));
        rotating.rotate(key(c.rotated, "r2"));
        see_debug(&rotating);
        let shared = k.clone();
        let f = KeyFn(move || -> llmward::Result<Arc<ApiKey>> { Ok(shared.clone()) });
        see_debug(&f);
        see_debug(&f.current().unwrap());
        let auth = llmward_core::Auth::new(
            Arc::new(StaticKey::new(key(c.key, "auth"))),
            llmward_core::header::AUTHORIZATION,
            AuthScheme::Bearer,
        );
        see_debug(&auth);
        let mut headers = llmward_core::header::HeaderMap::new();
        auth.apply(&mut headers).unwrap();
        see_debug(&headers);
        let transport =
            llmward_core::Transport::new("audit", "https://llm.example.com/v1", HttpOptions::new())
                .unwrap();
        see_debug(&transport);

        // Misuse: every refusal names the problem, never the key.
        for bad in [
            format!("{}\n", c.key),
            format!("{} ", c.key),
            format!("{}\u{0}", c.key),
            format!("{}é", c.key),
        ] {
            see_error(&ApiKey::new(bad).unwrap_err());
        }
        see_error(
            &OpenAi::compatible(format!("https://llm.example.com/v1?key={}", c.key))
                .build()
                .unwrap_err(),
        );
        see_error(
            &OpenAi::compatible(format!("https://u:{}@llm.example.com/v1", c.key))
                .build()
                .unwrap_err(),
        );
        see_error(
            &Anthropic::builder()
                .base_url(format!("http://api.example.com/{}", c.key))
                .api_key(key(c.key, "x"))
                .build()
                .unwrap_err(),
        );
        see_error(
            &Gemini::builder()
                .api_key(key(c.key, "x"))
                .http(HttpOptions::new().add_root_certificate_pem(c.key.as_bytes().to_vec()))
                .build()
                .unwrap_err(),
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let dir = std::env::temp_dir().join(format!("llmward-audit-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("key");
            std::fs::write(&path, c.key).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            see_error(&ApiKey::from_file(&path).unwrap_err());
            std::fs::write(&path, format!("{}\t\n", c.key)).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            see_error(&ApiKey::from_file(&path).unwrap_err());
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    see_error(&ApiKey::from_env("LLMWARD_AUDIT_SURELY_UNSET").unwrap_err());
    see_debug(
        &ChatRequest::builder("m")
            .system("s")
            .user("u")
            .max_tokens(5)
            .build()
            .unwrap(),
    );
    see_debug(&ErrorKind::ALL);
}

/// Every span of `seen` in which a canary is found by the redaction rule, with
/// the string it was found in.
fn leaks(seen: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for text in seen {
        for c in *CANARIES {
            for k in [c.key, c.rotated] {
                for run in key_runs_in(text, k) {
                    found.push((run, text.clone()));
                }
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_canary_anywhere() {
    tracing::subscriber::set_global_default(Capture::default()).unwrap();

    public_types();
    tokio::join!(
        provider_matrix::<OpenAiWire>(CANARIES[0]),
        provider_matrix::<AnthropicWire>(CANARIES[1]),
        provider_matrix::<GeminiWire>(CANARIES[2]),
        router_matrix(),
    );

    let seen = std::mem::take(&mut *SEEN.lock().unwrap());
    let traced = TRACED.load(Ordering::Relaxed);
    let bytes: usize = seen.iter().map(String::len).sum();
    let whole: usize = seen
        .iter()
        .map(|s| {
            CANARIES
                .iter()
                .flat_map(|c| [c.key, c.rotated])
                .map(|k| s.matches(k).count())
                .sum::<usize>()
        })
        .sum();
    let runs = leaks(&seen);
    eprintln!(
        "canary audit: {} strings inspected ({bytes} bytes; {} errors, {} router events, \
         {traced} tracing events and spans); {whole} canaries, {} spans holding a canary \
         found",
        seen.len(),
        ERRORS.load(Ordering::Relaxed),
        EVENTS.load(Ordering::Relaxed),
        runs.len()
    );
    for (run, text) in runs.iter().take(10) {
        eprintln!("  {run:?} in {text}");
    }
    // The detector finds a masked echo, and the capture saw the router's own tracing events,
    // so neither a blind detector nor an empty capture can pass.
    let tail = &CANARIES[0].key[CANARIES[0].key.len() - 4..];
    assert_eq!(leaks(&[format!("key sk-****{tail}")]).len(), 1);
    assert_eq!(leaks(&[CANARIES[1].key[20..28].to_owned()]).len(), 1);
    // The capture saw the router's own tracing events, so an empty capture cannot pass.
    assert!(
        seen.iter()
            .any(|s| s.starts_with("event WARN llmward::router")),
        "the tracing capture saw no router event"
    );
    assert!(traced > 100, "{traced}");
    assert!(seen.len() > 10_000, "{}", seen.len());
    assert_eq!(whole, 0, "whole canaries shown");
    assert_eq!(runs.len(), 0, "runs of canary characters shown");
}

/// A provider that echoes the key as an identifier: the request id header, Anthropic's body
/// `request_id`, the answer's id and model. Identifiers are shown in errors and events, so they
/// must be checked like messages.
#[tokio::test]
async fn identifiers_echoing_the_key() {
    let up = Upstream::start().await;
    let p = OpenAiWire::build(
        &up.url(),
        Some(Arc::new(StaticKey::new(key(CANARIES[0].key, "o")))),
        opts(),
    )
    .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let router = Router::builder()
        .route(Route::shared("only", p, OpenAiWire::MODEL).alias("default"))
        .on_event(move |e: &RouterEvent| sink.lock().unwrap().push(e.to_string()))
        .build()
        .unwrap();
    let request = ChatRequest::builder("default").user("hi").build().unwrap();
    let mut shown = Vec::new();
    up.push(OpenAiWire::auth_error("no").header("x-request-id", CANARIES[0].key));
    shown.push(format!("{:?}", router.chat(&request).await.unwrap_err()));
    router.reset_cooldown("only").await;
    let mut body = OpenAiWire::text("Hello");
    body["id"] = json!(CANARIES[0].key);
    body["model"] = json!(CANARIES[0].key);
    up.push(Reply::json(200, body).header("x-request-id", CANARIES[0].key));
    router.chat(&request).await.unwrap();
    shown.extend(events.lock().unwrap().iter().cloned());
    let runs = leaks(&shown);
    assert!(runs.is_empty(), "{runs:?}");
}
