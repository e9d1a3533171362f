//! Test support for the router: a scripted mock provider, event capture, and the reusable load
//! run (parameterised by its fault mix).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures_core::Stream;
use llmward_core::{
    ChatRequest, ChatResponse, ChatStream, ContentPart, Error, ErrorKind, FinishReason, Provider,
    Result, StreamEvent, Usage,
};
use llmward_router::{Route, Router, RouterBuilder, RouterEvent, SplitMix64};
use tokio::time::{Instant, Sleep};

/// A scripted error.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
}

impl Fault {
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            status: None,
            retry_after: None,
        }
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn retry_after(mut self, d: Duration) -> Self {
        self.retry_after = Some(d);
        self
    }

    pub fn error(&self, provider: &str, call: usize) -> Error {
        let mut e = Error::new(self.kind, "scripted failure")
            .with_provider(provider)
            .with_request_id(Some(format!("{provider}-req-{call}")))
            .with_retry_after(self.retry_after);
        if let Some(s) = self.status {
            e = e.with_status(s);
        }
        e
    }
}

/// One step of a stream script.
#[derive(Clone, Debug, PartialEq)]
pub enum Ev {
    Event(StreamEvent),
    Fail(Fault),
    Sleep(Duration),
    Stall,
}

/// What the mock does for one call.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Answer `text` (for a stream: Started, TextDelta, Usage, Finish) after `delay`.
    Answer {
        text: String,
        usage: Option<Usage>,
        delay: Duration,
    },
    /// Fail after `delay`.
    Fail { fault: Fault, delay: Duration },
    /// Never answer.
    Stall,
    /// A stream script (for `chat`, the collected answer of the events, or the first failure).
    Stream(Vec<Ev>),
}

impl Step {
    pub fn answer(text: &str) -> Self {
        Step::Answer {
            text: text.to_owned(),
            usage: Some(Usage::new(10, 20)),
            delay: Duration::ZERO,
        }
    }

    pub fn answer_after(text: &str, delay: Duration) -> Self {
        Step::Answer {
            text: text.to_owned(),
            usage: Some(Usage::new(10, 20)),
            delay,
        }
    }

    pub fn fail(kind: ErrorKind) -> Self {
        Step::Fail {
            fault: Fault::new(kind),
            delay: Duration::ZERO,
        }
    }

    pub fn fault(fault: Fault) -> Self {
        Step::Fail {
            fault,
            delay: Duration::ZERO,
        }
    }

    pub fn fail_after(kind: ErrorKind, delay: Duration) -> Self {
        Step::Fail {
            fault: Fault::new(kind),
            delay,
        }
    }
}

/// What the mock saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub model: String,
    pub max_tokens: Option<u32>,
    pub deadline: Option<Duration>,
    pub tags: BTreeMap<String, String>,
    pub stream: bool,
    pub at: Instant,
}

type Behaviour = Box<dyn Fn(&ChatRequest, usize) -> Step + Send + Sync>;

/// A Provider that plays a queue of steps (then its behaviour, then a default answer), counts
/// calls and tracks how many are in flight.
pub struct Mock {
    name: String,
    key_label: Option<String>,
    queue: Mutex<VecDeque<Step>>,
    behaviour: Mutex<Option<Behaviour>>,
    calls: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl fmt::Debug for Mock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mock").field("name", &self.name).finish()
    }
}

struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Mock {
    pub fn new(name: &str) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            key_label: None,
            queue: Mutex::new(VecDeque::new()),
            behaviour: Mutex::new(None),
            calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn with_label(name: &str, label: &str) -> Arc<Self> {
        let mut m = Self::new(name);
        Arc::get_mut(&mut m).unwrap().key_label = Some(label.to_owned());
        m
    }

    pub fn push(&self, step: Step) -> &Self {
        self.queue.lock().unwrap().push_back(step);
        self
    }

    pub fn behave(&self, f: impl Fn(&ChatRequest, usize) -> Step + Send + Sync + 'static) {
        *self.behaviour.lock().unwrap() = Some(Box::new(f));
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn route(self: &Arc<Self>, name: &str, model: &str) -> Route {
        Route::shared(name, self.clone(), model)
    }

    fn begin(&self, request: &ChatRequest, stream: bool) -> (usize, Step, InFlight) {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.seen.lock().unwrap().push(Seen {
            model: request.model.clone(),
            max_tokens: request.max_tokens,
            deadline: request.deadline,
            tags: request.tags.clone(),
            stream,
            at: Instant::now(),
        });
        let queued = self.queue.lock().unwrap().pop_front();
        let step = match queued {
            Some(step) => step,
            None => match &*self.behaviour.lock().unwrap() {
                Some(f) => f(request, call),
                None => Step::answer(&format!("{} answers", self.name)),
            },
        };
        (call, step, InFlight(self.in_flight.clone()))
    }

    fn response(&self, model: &str, call: usize, text: &str, usage: Option<Usage>) -> ChatResponse {
        let mut r = ChatResponse::new(self.name.clone(), model);
        r.content.push(ContentPart::Text(text.to_owned()));
        r.usage = usage;
        r.id = Some(format!("{}-answer-{call}", self.name));
        r.request_id = Some(format!("{}-req-{call}", self.name));
        r
    }
}

fn answer_events(model: &str, text: &str, usage: Option<Usage>) -> Vec<Ev> {
    let mut events = vec![
        Ev::Event(StreamEvent::Started {
            id: Some("answer".into()),
            model: Some(model.to_owned()),
        }),
        Ev::Event(StreamEvent::TextDelta(String::new())),
        Ev::Event(StreamEvent::TextDelta(text.to_owned())),
    ];
    if let Some(u) = usage {
        events.push(Ev::Event(StreamEvent::Usage(u)));
    }
    events.push(Ev::Event(StreamEvent::Finish {
        reason: FinishReason::Stop,
        raw: Some("stop".into()),
    }));
    events
}

#[async_trait]
impl Provider for Mock {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_label(&self) -> Option<String> {
        self.key_label.clone()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let (call, step, _guard) = self.begin(request, false);
        match step {
            Step::Answer { text, usage, delay } => {
                tokio::time::sleep(delay).await;
                Ok(self.response(&request.model, call, &text, usage))
            }
            Step::Fail { fault, delay } => {
                tokio::time::sleep(delay).await;
                Err(fault.error(&self.name, call))
            }
            Step::Stall => std::future::pending().await,
            Step::Stream(events) => {
                let stream = ScriptStream::new(&self.name, call, events, None);
                let mut cs = ChatStream::new(
                    self.name.clone(),
                    request.model.clone(),
                    "mock",
                    None,
                    stream,
                );
                let mut text = String::new();
                let mut usage = None;
                while let Some(ev) = cs.next().await {
                    match ev? {
                        StreamEvent::TextDelta(t) => text.push_str(&t),
                        StreamEvent::Usage(u) => usage = Some(u),
                        _ => {}
                    }
                }
                Ok(self.response(&request.model, call, &text, usage))
            }
        }
    }

    async fn chat_stream(&self, request: &ChatRequest) -> Result<ChatStream> {
        let (call, step, guard) = self.begin(request, true);
        let events = match step {
            Step::Answer { text, usage, delay } => {
                let mut e = vec![Ev::Sleep(delay)];
                e.extend(answer_events(&request.model, &text, usage));
                e
            }
            Step::Fail { fault, delay } => {
                tokio::time::sleep(delay).await;
                return Err(fault.error(&self.name, call));
            }
            Step::Stall => std::future::pending().await,
            Step::Stream(events) => events,
        };
        let stream = ScriptStream::new(&self.name, call, events, Some(guard));
        Ok(ChatStream::new(
            self.name.clone(),
            request.model.clone(),
            "mock",
            Some(format!("{}-req-{call}", self.name)),
            stream,
        ))
    }
}

/// Plays an [`Ev`] script as a stream; holds the mock's in-flight guard until dropped.
struct ScriptStream {
    provider: String,
    call: usize,
    steps: VecDeque<Ev>,
    sleep: Option<Pin<Box<Sleep>>>,
    _guard: Option<InFlight>,
}

impl ScriptStream {
    fn new(provider: &str, call: usize, steps: Vec<Ev>, guard: Option<InFlight>) -> Self {
        Self {
            provider: provider.to_owned(),
            call,
            steps: steps.into(),
            sleep: None,
            _guard: guard,
        }
    }
}

impl Stream for ScriptStream {
    type Item = Result<StreamEvent>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(sleep) = &mut this.sleep {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            match this.steps.pop_front() {
                None => return Poll::Ready(None),
                Some(Ev::Event(e)) => return Poll::Ready(Some(Ok(e))),
                Some(Ev::Fail(f)) => {
                    this.steps.clear();
                    return Poll::Ready(Some(Err(f.error(&this.provider, this.call))));
                }
                Some(Ev::Sleep(d)) => this.sleep = Some(Box::pin(tokio::time::sleep(d))),
                Some(Ev::Stall) => {
                    this.steps.push_front(Ev::Stall);
                    return Poll::Pending;
                }
            }
        }
    }
}

/// Collected events.
#[derive(Clone, Default)]
pub struct Events(Arc<Mutex<Vec<RouterEvent>>>);

impl Events {
    pub fn sink(&self) -> impl Fn(&RouterEvent) + Send + Sync + 'static {
        let store = self.0.clone();
        move |e: &RouterEvent| store.lock().unwrap().push(e.clone())
    }

    pub fn all(&self) -> Vec<RouterEvent> {
        self.0.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    pub fn attempts(&self) -> Vec<llmward_router::AttemptEvent> {
        self.all()
            .into_iter()
            .filter_map(|e| match e {
                RouterEvent::Attempt(a) => Some(*a),
                _ => None,
            })
            .collect()
    }

    pub fn named(&self, name: &str) -> Vec<RouterEvent> {
        self.all()
            .into_iter()
            .filter(|e| e.name() == name)
            .collect()
    }
}

/// A request for `alias` with a user message.
pub fn request(alias: &str) -> ChatRequest {
    ChatRequest::builder(alias)
        .user("Why is the sky blue?")
        .build()
        .unwrap()
}

/// Collects a router stream: its events, then the error that ended it, if any.
pub async fn drain(mut stream: ChatStream) -> (Vec<StreamEvent>, Option<Error>) {
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => events.push(e),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

pub fn text_of(events: &[StreamEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The load run.

/// A fault a cloud route may play in a load run.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadFault {
    /// An error before anything is streamed.
    Error(Fault),
    /// A connection reset on a reused connection: `Connect` with a zero wait.
    Reset,
    /// No answer at all (the route's timeout or the deadline cuts it).
    Stall,
    /// A slow answer.
    Slow(Duration),
    /// Streams: an error after a role-only chunk, before content.
    ErrorBeforeContent(Fault),
    /// Streams: content, then `StreamTruncated`.
    TruncatedAfterContent,
    /// Streams: content, then no more data.
    StallAfterContent,
}

/// Which faults, with which probabilities (the rest answers normally).
#[derive(Clone, Debug, Default)]
pub struct FaultMix(pub Vec<(f64, LoadFault)>);

impl FaultMix {
    /// 30% of calls fail: rate limits (with and without Retry-After), 5xx, overload, quota, auth.
    pub fn standard() -> Self {
        FaultMix(vec![
            (
                0.06,
                LoadFault::Error(Fault::new(ErrorKind::RateLimited).status(429)),
            ),
            (
                0.02,
                LoadFault::Error(
                    Fault::new(ErrorKind::RateLimited)
                        .status(429)
                        .retry_after(Duration::from_secs(1)),
                ),
            ),
            (
                0.02,
                LoadFault::Error(
                    Fault::new(ErrorKind::RateLimited)
                        .status(429)
                        .retry_after(Duration::ZERO),
                ),
            ),
            (
                0.08,
                LoadFault::Error(Fault::new(ErrorKind::Server).status(500)),
            ),
            (
                0.06,
                LoadFault::Error(Fault::new(ErrorKind::Overloaded).status(503)),
            ),
            (
                0.03,
                LoadFault::Error(Fault::new(ErrorKind::QuotaExceeded).status(429)),
            ),
            (
                0.01,
                LoadFault::Error(Fault::new(ErrorKind::ModelOutput).status(400)),
            ),
            (0.02, LoadFault::Error(Fault::new(ErrorKind::Timeout))),
        ])
    }

    fn pick(&self, rng: &mut SplitMix64) -> Option<LoadFault> {
        let x = rng.next_u64() as f64 / u64::MAX as f64;
        let mut acc = 0.0;
        for (p, f) in &self.0 {
            acc += p;
            if x < acc {
                return Some(f.clone());
            }
        }
        None
    }

    /// Kinds a failed call may legitimately end with under this mix.
    pub fn kinds(&self) -> Vec<ErrorKind> {
        let mut kinds = vec![ErrorKind::Timeout, ErrorKind::Overloaded];
        for (_, f) in &self.0 {
            match f {
                LoadFault::Error(f) | LoadFault::ErrorBeforeContent(f) => kinds.push(f.kind),
                LoadFault::Reset => kinds.push(ErrorKind::Connect),
                LoadFault::TruncatedAfterContent => kinds.push(ErrorKind::StreamTruncated),
                _ => {}
            }
        }
        kinds
    }
}

/// A load run's shape.
#[derive(Clone, Debug)]
pub struct Load {
    pub requests: usize,
    pub concurrency: usize,
    pub stream: bool,
    pub faults: FaultMix,
    /// Faults on the internal route too (normally none).
    pub internal_faults: FaultMix,
    pub seed: u64,
    pub max_attempts: u32,
    pub route_timeout: Duration,
    pub deadline: Duration,
    /// Each route answers (or fails) after a uniform draw from this range.
    pub latency: (Duration, Duration),
}

impl Default for Load {
    fn default() -> Self {
        Self {
            requests: 10_000,
            concurrency: 64,
            stream: false,
            faults: FaultMix::standard(),
            internal_faults: FaultMix::default(),
            seed: 42,
            max_attempts: 3,
            route_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
            latency: (Duration::from_millis(50), Duration::from_millis(400)),
        }
    }
}

/// What a load run observed (its invariants are asserted inside [`run_load`]).
#[derive(Debug, Default)]
pub struct LoadReport {
    pub answered: usize,
    pub errors: HashMap<ErrorKind, usize>,
    /// Attempts seen by each route.
    pub route_calls: HashMap<String, usize>,
    /// The most attempts one call made on one route.
    pub max_attempts_on_a_route: u32,
    /// Calls that delivered content then failed (streams only).
    pub failed_after_content: usize,
}

fn load_step(load: &Load, mix: &FaultMix, rng: &Mutex<SplitMix64>, route: &str, n: &str) -> Step {
    let (fault, latency) = {
        let mut rng = rng.lock().unwrap();
        let (lo, hi) = load.latency;
        let span = u64::try_from((hi.saturating_sub(lo)).as_micros()).unwrap_or(0);
        (
            mix.pick(&mut rng),
            lo + Duration::from_micros(rng.up_to(span)),
        )
    };
    let text = format!("{route} answers {n}");
    let role_only = Ev::Event(StreamEvent::TextDelta(String::new()));
    let fail = |f: Fault| Step::Fail {
        fault: f,
        delay: latency,
    };
    match fault {
        None => Step::answer_after(&text, latency),
        Some(LoadFault::Error(f)) => fail(f),
        Some(LoadFault::Reset) => fail(Fault::new(ErrorKind::Connect).retry_after(Duration::ZERO)),
        Some(LoadFault::Stall) => Step::Stall,
        Some(LoadFault::Slow(d)) => Step::answer_after(&text, latency + d),
        Some(LoadFault::ErrorBeforeContent(f)) if load.stream => {
            Step::Stream(vec![Ev::Sleep(latency), role_only, Ev::Fail(f)])
        }
        Some(LoadFault::ErrorBeforeContent(f)) => fail(f),
        Some(LoadFault::TruncatedAfterContent) if load.stream => Step::Stream(vec![
            Ev::Sleep(latency),
            role_only,
            Ev::Event(StreamEvent::TextDelta(text)),
            Ev::Fail(Fault::new(ErrorKind::StreamTruncated)),
        ]),
        Some(LoadFault::StallAfterContent) if load.stream => Step::Stream(vec![
            Ev::Sleep(latency),
            Ev::Event(StreamEvent::TextDelta(text)),
            Ev::Stall,
        ]),
        Some(_) => Step::answer_after(&text, latency),
    }
}

/// Routes for a load run: two cloud routes with `faults` and an internal tier-1 route.
pub fn load_routes(load: &Load) -> (Vec<(String, Arc<Mock>)>, RouterBuilder) {
    let mut builder = Router::builder()
        .seed(load.seed)
        .max_attempts_per_route(load.max_attempts)
        .deadline(load.deadline);
    let mut mocks = Vec::new();
    for (i, (name, tier)) in [("cloud-a", 0), ("cloud-b", 0), ("internal", 1)]
        .into_iter()
        .enumerate()
    {
        let mock = Mock::new(name);
        let mix = if tier == 0 {
            load.faults.clone()
        } else {
            load.internal_faults.clone()
        };
        let rng = Mutex::new(SplitMix64::new(load.seed.wrapping_add(i as u64 + 1)));
        let route_name = name.to_owned();
        let shape = load.clone();
        mock.behave(move |req, _| {
            let n = req.tags.get("n").cloned().unwrap_or_default();
            load_step(&shape, &mix, &rng, &route_name, &n)
        });
        builder = builder.route(
            mock.route(name, &format!("model-{name}"))
                .alias("default")
                .tier(tier)
                .timeout(load.route_timeout),
        );
        mocks.push((name.to_owned(), mock));
    }
    (mocks, builder)
}

/// Runs `load.requests` calls, `load.concurrency` at a time, through `router` (built from
/// [`load_routes`]), and asserts: every call ends exactly once with an answer meant for it or
/// an error of a kind the mix explains; no route saw more attempts of one call than the
/// policy allows; nothing is left in flight.
pub async fn run_load(load: &Load, router: Router, mocks: &[(String, Arc<Mock>)]) -> LoadReport {
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0usize;
    let mut outcomes: Vec<Option<std::result::Result<String, ErrorKind>>> =
        vec![None; load.requests];
    let mut report = LoadReport::default();
    let allowed = load.faults.kinds();
    loop {
        while set.len() < load.concurrency && next < load.requests {
            let n = next;
            next += 1;
            let router = router.clone();
            let stream = load.stream;
            set.spawn(async move {
                let req = ChatRequest::builder("default")
                    .user("load")
                    .tag("n", n.to_string())
                    .build()
                    .unwrap();
                let outcome = if stream {
                    match router.chat_stream(&req).await {
                        Ok(s) => match drain(s).await {
                            (events, None) => Ok(text_of(&events)),
                            (events, Some(e)) => {
                                assert!(
                                    !text_of(&events).is_empty(),
                                    "call {n}: a stream error before content reached the caller"
                                );
                                Err((e.kind(), true))
                            }
                        },
                        Err(e) => Err((e.kind(), false)),
                    }
                } else {
                    router
                        .chat(&req)
                        .await
                        .map(|r| r.text())
                        .map_err(|e| (e.kind(), false))
                };
                (n, outcome)
            });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let (n, outcome) = joined.expect("load task panicked");
        assert!(outcomes[n].is_none(), "call {n} finished twice");
        match outcome {
            Ok(text) => {
                assert!(
                    text.ends_with(&format!(" answers {n}")),
                    "call {n} got someone else's answer: {text:?}"
                );
                report.answered += 1;
                outcomes[n] = Some(Ok(text));
            }
            Err((kind, after_content)) => {
                assert!(
                    allowed.contains(&kind),
                    "call {n}: unexpected error kind {kind}"
                );
                if after_content {
                    report.failed_after_content += 1;
                }
                *report.errors.entry(kind).or_default() += 1;
                outcomes[n] = Some(Err(kind));
            }
        }
    }
    assert!(outcomes.iter().all(Option::is_some), "a call was lost");
    // Attempts per call per route, from what each route received.
    let mut per_call: HashMap<(String, String), u32> = HashMap::new();
    for (name, mock) in mocks {
        report.route_calls.insert(name.clone(), mock.calls());
        assert_eq!(mock.in_flight(), 0, "{name} still has requests in flight");
        for seen in mock.seen() {
            let n = seen.tags.get("n").cloned().unwrap_or_default();
            *per_call.entry((n, name.clone())).or_default() += 1;
        }
    }
    report.max_attempts_on_a_route = per_call.values().copied().max().unwrap_or(0);
    assert!(
        report.max_attempts_on_a_route <= load.max_attempts,
        "a route saw {} attempts of one call (limit {})",
        report.max_attempts_on_a_route,
        load.max_attempts
    );
    for h in router.health().await {
        assert_eq!(
            h.in_flight, 0,
            "route {} still counts requests in flight",
            h.route
        );
    }
    report
}

/// Virtual time since `start`.
pub fn since(start: Instant) -> Duration {
    Instant::now() - start
}
