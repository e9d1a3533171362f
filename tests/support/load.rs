//! Fault load over real HTTP: loopback upstreams speaking each API that fail a share of the
//! attempts they receive, in ways drawn per request from a seeded PRNG, and a driver pushing
//! calls through a [`llmward::Router`] over them. Shared by tests/load_faults.rs and
//! examples/load_rss.rs (which runs the upstreams in another process).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llmward::router::SplitMix64;
use llmward::{
    ApiKey, ChatRequest, ErrorKind, HttpOptions, KeySource, Provider, Route, Router, StaticKey,
    StreamEvent,
};
use llmward_testkit::{Recorded, Reply, Upstream};

use super::hostile::Hostile;
use super::{AnthropicWire, GeminiWire, OpenAiWire, Wire};

/// One way an attempt fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HttpFault {
    /// The connection is reset right after the response head.
    Reset,
    /// 429 with a short, non-zero Retry-After.
    RateLimited,
    /// 429 with `Retry-After: 0`.
    RetryNow,
    /// The API's overloaded status (503; Anthropic 529).
    Overloaded,
    /// The answer's head comes long after the route's timeout.
    Slow,
    /// Chat: a JSON body cut in half. Stream: content, then the body ends without the
    /// API's end marker.
    Truncated,
    /// Chat: an error object in a 200 body. Stream: content, then an error event.
    ErrorEvent,
    /// Chat: the head, then nothing. Stream: content, then nothing.
    Stall,
}

/// Which faults, with which probability each (the rest of the attempts are answered).
#[derive(Clone, Debug)]
pub struct FaultMix(pub Vec<(f64, HttpFault)>);

impl FaultMix {
    /// 30% of attempts fail, in every way.
    pub fn standard() -> Self {
        FaultMix(vec![
            (0.05, HttpFault::Reset),
            (0.03, HttpFault::RateLimited),
            (0.03, HttpFault::RetryNow),
            (0.06, HttpFault::Overloaded),
            (0.03, HttpFault::Slow),
            (0.04, HttpFault::Truncated),
            (0.03, HttpFault::ErrorEvent),
            (0.03, HttpFault::Stall),
        ])
    }

    /// The share of attempts that fail.
    pub fn share(&self) -> f64 {
        self.0.iter().map(|(p, _)| p).sum()
    }

    fn pick(&self, rng: &mut SplitMix64) -> Option<HttpFault> {
        let x = rng.next_u64() as f64 / u64::MAX as f64;
        let mut acc = 0.0;
        for (p, fault) in &self.0 {
            acc += p;
            if x < acc {
                return Some(*fault);
            }
        }
        None
    }

    /// The kinds a call may end with under this mix: each fault's kind (for chat and
    /// stream), and Overloaded for "every route is cooling down".
    pub fn kinds(&self) -> Vec<ErrorKind> {
        let mut kinds = vec![ErrorKind::Overloaded];
        for (_, fault) in &self.0 {
            kinds.extend_from_slice(match fault {
                HttpFault::Reset => &[ErrorKind::Connect, ErrorKind::StreamTruncated][..],
                HttpFault::RateLimited | HttpFault::RetryNow => &[ErrorKind::RateLimited],
                HttpFault::Overloaded => &[ErrorKind::Overloaded],
                HttpFault::Slow | HttpFault::Stall => &[ErrorKind::Timeout],
                HttpFault::Truncated => &[ErrorKind::Protocol, ErrorKind::StreamTruncated],
                HttpFault::ErrorEvent => &[ErrorKind::Server, ErrorKind::Overloaded],
            });
        }
        kinds.sort_by_key(|k| k.as_str());
        kinds.dedup();
        kinds
    }
}

/// A load run's shape.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Calls made; odd-numbered ones stream.
    pub requests: usize,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Seeds the upstreams' fault draws and the router.
    pub seed: u64,
    /// The faults each upstream plays.
    pub mix: FaultMix,
    /// The router's attempts per route per call.
    pub max_attempts: u32,
    /// Each route's timeout (for streams: until the stream starts).
    pub route_timeout: Duration,
    /// The stream idle timeout.
    pub idle_timeout: Duration,
    /// How late a [`HttpFault::Slow`] answer's head comes.
    pub slow: Duration,
    /// The Retry-After of a [`HttpFault::RateLimited`] answer, in seconds.
    pub retry_after: String,
    /// Consecutive failures that put a route in cooldown.
    pub failure_threshold: u32,
    /// How long a route cools down after them.
    pub cooldown: Duration,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            requests: 10_000,
            concurrency: 64,
            seed: 7,
            mix: FaultMix::standard(),
            max_attempts: 3,
            // Far above any pause a busy machine causes (a healthy answer must never time
            // out: the runs assert on it), and far below what a Slow or Stall fault holds.
            route_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(2),
            slow: Duration::from_secs(8),
            retry_after: "0.005".into(),
            failure_threshold: 5,
            cooldown: Duration::from_millis(25),
        }
    }
}

/// The wires of the three routes, by route name.
pub const ROUTES: [&str; 3] = ["openai", "anthropic", "gemini"];

/// What one upstream saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Attempts per call number.
    pub attempts: Mutex<HashMap<usize, u32>>,
    /// What each call's attempts were played, in order (`None`: answered).
    pub played: Mutex<HashMap<usize, Vec<Option<HttpFault>>>>,
    /// Faults played, by kind.
    pub faults: Mutex<HashMap<HttpFault, usize>>,
    /// Requests that named no call.
    pub strays: AtomicUsize,
}

impl Tally {
    /// Every attempt this upstream received.
    pub fn total(&self) -> usize {
        self.attempts
            .lock()
            .unwrap()
            .values()
            .map(|n| *n as usize)
            .sum()
    }
}

/// The call number a request carries in its prompt (`call#<n>#`).
fn call_number(rec: &Recorded) -> Option<usize> {
    let body = &rec.body[..];
    let at = body.windows(5).position(|w| w == b"call#")? + 5;
    let digits: Vec<u8> = body[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// The text call `n` must receive.
pub fn answer(n: usize) -> String {
    format!("answer {n}")
}

fn reply<W: Hostile>(rec: &Recorded, n: usize, fault: Option<HttpFault>, shape: &Shape) -> Reply {
    let text = answer(n);
    let number = n.to_string();
    let stream = W::is_stream(rec);
    let ok = || {
        if stream {
            Reply::sse(W::stream_text(&["answer ", &number]))
        } else {
            Reply::json(200, W::text(&text))
        }
    };
    match fault {
        None => ok(),
        Some(HttpFault::Reset) => ok().reset_after(0),
        Some(HttpFault::RateLimited) => W::rate_limited(&shape.retry_after),
        Some(HttpFault::RetryNow) => W::rate_limited("0"),
        Some(HttpFault::Overloaded) => {
            let case = W::error(ErrorKind::Overloaded).expect("every API can be overloaded");
            if stream { case.streamed } else { case.reply }
        }
        Some(HttpFault::Slow) => ok().delay(shape.slow),
        Some(HttpFault::Truncated) if stream => Reply::sse(W::partial_text_stream(&text)),
        Some(HttpFault::Truncated) => {
            let body = W::text(&text).to_string();
            let (half, _) = super::halves(&body);
            Reply::body(200, "application/json", half.to_owned())
        }
        Some(HttpFault::ErrorEvent) if stream => {
            let mut events = W::partial_text_stream(&text);
            events.push(W::stream_error(ErrorKind::Overloaded));
            Reply::sse(events)
        }
        Some(HttpFault::ErrorEvent) => Reply::json(
            200,
            W::error_body("The server had an error while processing your request."),
        ),
        Some(HttpFault::Stall) if stream => {
            let events = W::partial_text_stream(&text);
            let sent = events.len();
            Reply::sse(events).stall_after(sent)
        }
        Some(HttpFault::Stall) => ok().stall_after(0),
    }
}

/// Starts an upstream speaking `W` that fails `shape.mix` of its attempts (drawn from a
/// PRNG seeded with `seed`) and answers the others with `answer n` for call `n`.
pub async fn start_upstream<W: Hostile>(shape: &Shape, seed: u64) -> (Upstream, Arc<Tally>) {
    let upstream = Upstream::start().await;
    upstream.set_recording(false);
    let tally = Arc::new(Tally::default());
    let rng = Mutex::new(SplitMix64::new(seed));
    let seen = tally.clone();
    let shape = shape.clone();
    upstream.set_handler(move |rec: &Recorded| {
        let Some(n) = call_number(rec) else {
            seen.strays.fetch_add(1, Ordering::Relaxed);
            return Reply::status(400);
        };
        *seen.attempts.lock().unwrap().entry(n).or_default() += 1;
        let fault = shape.mix.pick(&mut rng.lock().unwrap());
        if let Some(f) = fault {
            *seen.faults.lock().unwrap().entry(f).or_default() += 1;
        }
        seen.played
            .lock()
            .unwrap()
            .entry(n)
            .or_default()
            .push(fault);
        reply::<W>(rec, n, fault, &shape)
    });
    (upstream, tally)
}

/// The three upstreams, in [`ROUTES`] order.
pub async fn start_upstreams(shape: &Shape) -> Vec<(Upstream, Arc<Tally>)> {
    vec![
        start_upstream::<OpenAiWire>(shape, shape.seed.wrapping_add(1)).await,
        start_upstream::<AnthropicWire>(shape, shape.seed.wrapping_add(2)).await,
        start_upstream::<GeminiWire>(shape, shape.seed.wrapping_add(3)).await,
    ]
}

/// The HTTP options of the load's providers.
pub fn http_options(shape: &Shape) -> HttpOptions {
    HttpOptions::new()
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(10))
        .stream_idle_timeout(shape.idle_timeout)
}

fn provider<W: Hostile>(url: &str, shape: &Shape) -> Arc<dyn Provider> {
    let key: Arc<dyn KeySource> = Arc::new(StaticKey::new(
        ApiKey::new(W::key().to_owned()).unwrap().with_label("load"),
    ));
    W::build(url, Some(key), http_options(shape)).unwrap()
}

/// A router over the upstreams at `urls` (in [`ROUTES`] order), all three routes serving
/// alias `default`, with settings that keep a fault load fast: a 1-10 ms backoff, a
/// cooldown of 25 ms after 5 consecutive failures.
pub fn router(urls: &[String], shape: &Shape) -> Router {
    let mut builder = Router::builder()
        .seed(shape.seed)
        .max_attempts_per_route(shape.max_attempts)
        .backoff(Duration::from_millis(1), Duration::from_millis(10))
        .retry_after_cap(Duration::from_secs(1))
        .failure_threshold(shape.failure_threshold)
        .cooldown(shape.cooldown)
        .deadline(Duration::from_secs(30));
    for (name, url) in ROUTES.iter().zip(urls) {
        let (provider, model) = match *name {
            "openai" => (provider::<OpenAiWire>(url, shape), OpenAiWire::MODEL),
            "anthropic" => (provider::<AnthropicWire>(url, shape), AnthropicWire::MODEL),
            _ => (provider::<GeminiWire>(url, shape), GeminiWire::MODEL),
        };
        builder = builder.route(
            Route::shared(*name, provider, model)
                .alias("default")
                .timeout(shape.route_timeout),
        );
    }
    builder.build().unwrap()
}

/// How one call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// With this text.
    Answer(String),
    /// With an error of this kind, after content had reached the caller or not.
    Failed(ErrorKind, bool),
}

/// Makes `shape.requests` calls through `router`, `shape.concurrency` at a time, odd ones
/// streaming, and hands each call's end to `on_end` as it happens (so the driver itself
/// keeps nothing per call).
pub async fn drive(router: &Router, shape: &Shape, mut on_end: impl FnMut(usize, Ended)) {
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        while set.len() < shape.concurrency && next < shape.requests {
            let n = next;
            next += 1;
            let router = router.clone();
            set.spawn(async move { (n, call(&router, n).await) });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let (n, ended) = joined.expect("a call panicked");
        on_end(n, ended);
    }
}

async fn call(router: &Router, n: usize) -> Ended {
    let request = ChatRequest::builder("default")
        .user(format!("call#{n}#"))
        .max_tokens(64)
        .build()
        .unwrap();
    if n % 2 == 0 {
        return match router.chat(&request).await {
            Ok(answer) => Ended::Answer(answer.text()),
            Err(e) => Ended::Failed(e.kind(), false),
        };
    }
    let mut stream = match router.chat_stream(&request).await {
        Ok(stream) => stream,
        Err(e) => return Ended::Failed(e.kind(), false),
    };
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(StreamEvent::TextDelta(t)) => text.push_str(&t),
            Ok(_) => {}
            Err(e) => return Ended::Failed(e.kind(), !text.is_empty()),
        }
    }
    Ended::Answer(text)
}

/// VmHWM and VmRSS of this process in KiB, from /proc/self/status (zeros elsewhere).
pub fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
