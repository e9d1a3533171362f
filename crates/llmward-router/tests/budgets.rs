//! Guard rails: budgets reserve before sending, thresholds, the max_tokens ceiling, in-flight
//! caps, and the anomaly signal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use llmward_core::{ChatRequest, ErrorKind};
use llmward_router::{
    Admission, AnomalyAction, AnomalyConfig, AnomalyMetric, BreakerConfig, Budget, BudgetUsage,
    Charge, CooldownChange, CooldownState, Crossing, MemoryStore, RefusalReason, Reserve,
    RouteOutcome, Router, RouterEvent, StateStore, Ticket,
};
use support::{Events, Mock, Step, request, since};
use tokio::time::Instant;

fn with_max(alias: &str, max_tokens: u32) -> ChatRequest {
    ChatRequest::builder(alias)
        .user("Why is the sky blue?")
        .max_tokens(max_tokens)
        .build()
        .unwrap()
}

fn refusals(events: &Events) -> Vec<(RefusalReason, Option<String>, Option<String>)> {
    events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            RouterEvent::Refused {
                reason,
                budget,
                route,
                ..
            } => Some((reason, budget, route)),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn over_budget_is_refused_before_anything_is_sent() {
    let a = Mock::new("pa");
    let events = Events::default();
    let router = Router::builder()
        .route(a.route("a", "m").alias("default"))
        .budget(Budget::tokens(100))
        .on_event(events.sink())
        .build()
        .unwrap();
    let err = router.chat(&with_max("default", 200)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BudgetExceeded);
    let err = router
        .chat_stream(&with_max("default", 200))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BudgetExceeded);
    assert_eq!(a.calls(), 0);
    assert_eq!(
        refusals(&events)[0],
        (
            RefusalReason::Budget,
            Some("tokens/60s router".into()),
            None
        )
    );
    // A small request fits: 5 tokens of prompt estimate + 50.
    router.chat(&with_max("default", 50)).await.unwrap();
    let status = &router.budgets().await[0];
    assert_eq!(
        (status.used, status.reserved, status.remaining),
        (30, 0, 70)
    );
}

#[tokio::test(start_paused = true)]
async fn thresholds_fire_once_per_window() {
    let a = Mock::new("pa");
    let events = Events::default();
    let router = Router::builder()
        .route(a.route("a", "m").alias("default"))
        .budget(Budget::tokens(1_000).per_minute())
        .on_event(events.sink())
        .build()
        .unwrap();
    // Each call holds 105 tokens (5 estimated + 100) and settles 30.
    let mut answered = 0;
    while router.chat(&with_max("default", 100)).await.is_ok() {
        answered += 1;
    }
    assert_eq!(answered, 30);
    assert_eq!(a.calls(), 30);
    let percents: Vec<u8> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            RouterEvent::BudgetThreshold { percent, .. } => Some(percent),
            _ => None,
        })
        .collect();
    assert_eq!(percents, [50, 80, 100]);
    // A new window starts afresh.
    tokio::time::advance(Duration::from_secs(60)).await;
    router.chat(&with_max("default", 100)).await.unwrap();
    assert_eq!(a.calls(), 31);
}

#[tokio::test(start_paused = true)]
async fn a_route_budget_only_removes_that_route() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    let events = Events::default();
    let router = Router::builder()
        .route(
            a.route("a", "m")
                .alias("default")
                .budget(Budget::requests(2)),
        )
        .route(b.route("b", "m").alias("default").tier(1))
        .budget(Budget::requests(1).for_route("b"))
        .on_event(events.sink())
        .build()
        .unwrap();
    for expected in ["pa answers", "pa answers", "pb answers"] {
        assert_eq!(
            router.chat(&request("default")).await.unwrap().text(),
            expected
        );
    }
    let err = router.chat(&request("default")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BudgetExceeded);
    assert_eq!((a.calls(), b.calls()), (2, 1));
    let r = refusals(&events);
    assert_eq!(
        r[0],
        (
            RefusalReason::Budget,
            Some("requests/60s route=a".into()),
            Some("a".into())
        )
    );
    assert_eq!(r.last().unwrap(), &(RefusalReason::Budget, None, None));
}

#[tokio::test(start_paused = true)]
async fn tag_budgets_count_only_their_tag() {
    let a = Mock::new("pa");
    let router = Router::builder()
        .route(a.route("a", "m").alias("default"))
        .budget(Budget::requests(1).per_day().for_tag("tenant", "acme"))
        .build()
        .unwrap();
    let acme = ChatRequest::builder("default")
        .user("hi")
        .tag("tenant", "acme")
        .build()
        .unwrap();
    router.chat(&acme).await.unwrap();
    assert_eq!(
        router.chat(&acme).await.unwrap_err().kind(),
        ErrorKind::BudgetExceeded
    );
    router.chat(&request("default")).await.unwrap();
    assert_eq!(a.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_cost_budget_leaves_the_free_internal_route() {
    let (cloud, local) = (Mock::new("openai"), Mock::new("ollama"));
    let events = Events::default();
    let router = Router::builder()
        .route(cloud.route("cloud", "m").alias("default").price(2.0, 8.0))
        .route(local.route("internal", "llama").alias("default").tier(1))
        // $0.0009: a call holds 5 x $2/M + 100 x $8/M = 810 micro-dollars and settles
        // 10 x $2/M + 20 x $8/M = 180, so a second one (180 + 810) does not fit.
        .budget(Budget::cost_usd(0.0009).per_hour())
        .on_event(events.sink())
        .build()
        .unwrap();
    assert_eq!(
        router.chat(&with_max("default", 100)).await.unwrap().text(),
        "openai answers"
    );
    assert_eq!(
        router.chat(&with_max("default", 100)).await.unwrap().text(),
        "ollama answers"
    );
    assert_eq!((cloud.calls(), local.calls()), (1, 1));
    let status = &router.budgets().await[0];
    assert_eq!(status.name, "cost_micro_usd/3600s router");
    assert_eq!((status.used, status.reserved), (180, 0));
}

#[tokio::test(start_paused = true)]
async fn max_tokens_ceiling_clamps_or_refuses() {
    let a = Mock::new("pa");
    let router = Router::builder()
        .route(a.route("a", "m").alias("default"))
        .max_tokens_ceiling(256)
        .build()
        .unwrap();
    router.chat(&with_max("default", 1_000)).await.unwrap();
    router.chat(&request("default")).await.unwrap();
    router.chat(&with_max("default", 100)).await.unwrap();
    let asked: Vec<Option<u32>> = a.seen().iter().map(|s| s.max_tokens).collect();
    assert_eq!(asked, [Some(256), Some(256), Some(100)]);

    let b = Mock::new("pb");
    let events = Events::default();
    let strict = Router::builder()
        .route(b.route("b", "m").alias("default"))
        .max_tokens_ceiling(256)
        .refuse_above_ceiling(true)
        .on_event(events.sink())
        .build()
        .unwrap();
    let err = strict.chat(&with_max("default", 257)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BudgetExceeded);
    assert_eq!(b.calls(), 0);
    assert_eq!(refusals(&events)[0].0, RefusalReason::MaxTokensCeiling);
}

#[tokio::test(start_paused = true)]
async fn in_flight_cap_spills_to_the_next_route() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    a.behave(|_, _| Step::answer_after("pa answers", Duration::from_secs(1)));
    b.behave(|_, _| Step::answer_after("pb answers", Duration::from_secs(1)));
    let router = Router::builder()
        .route(a.route("a", "m").alias("default").max_in_flight(2))
        .route(b.route("b", "m").alias("default").tier(1))
        .build()
        .unwrap();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let router = router.clone();
        set.spawn(async move { router.chat(&request("default")).await.unwrap().text() });
    }
    let mut texts = Vec::new();
    while let Some(t) = set.join_next().await {
        texts.push(t.unwrap());
    }
    assert_eq!(a.max_in_flight(), 2);
    assert_eq!((a.calls(), b.calls()), (2, 3));
    assert_eq!(texts.iter().filter(|t| *t == "pa answers").count(), 2);
}

#[tokio::test(start_paused = true)]
async fn when_every_route_is_at_its_cap_calls_wait_for_a_slot() {
    let a = Mock::new("pa");
    a.behave(|_, _| Step::answer_after("pa answers", Duration::from_secs(1)));
    let router = Router::builder()
        .route(a.route("a", "m").alias("default").max_in_flight(1))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let router = router.clone();
        set.spawn(async move { router.chat(&request("default")).await.unwrap() });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    assert_eq!(a.max_in_flight(), 1);
    assert_eq!(a.calls(), 3);
    assert_eq!(since(start), Duration::from_secs(3));
    // Waiting for a slot respects the deadline.
    let mut r = request("default");
    r.deadline = Some(Duration::from_millis(500));
    let router2 = router.clone();
    let hold = tokio::spawn(async move { router2.chat(&request("default")).await });
    tokio::task::yield_now().await;
    let err = router.chat(&r).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    hold.await.unwrap().unwrap();
}

/// A store that checks, after every reservation, that no budget holds more than its limit.
#[derive(Debug, Default)]
struct CheckingStore {
    inner: MemoryStore,
    peak: AtomicU64,
    limits: Mutex<Vec<(String, u64)>>,
}

#[async_trait]
impl StateStore for CheckingStore {
    async fn reserve(&self, charges: Vec<Charge>) -> Reserve {
        let keys: Vec<(String, u64, Duration)> = charges
            .iter()
            .map(|c| (c.key.to_string(), c.limit, c.window))
            .collect();
        let out = self.inner.reserve(charges).await;
        for (key, limit, window) in keys {
            let u = self.inner.usage(&key, window).await;
            let held = u.used + u.reserved;
            assert!(held <= limit, "{key}: {held} held, limit {limit}");
            self.peak.fetch_max(held, Ordering::SeqCst);
            self.limits.lock().unwrap().push((key, limit));
        }
        out
    }
    async fn settle(&self, ticket: Ticket, actual: &[u64]) -> Vec<Crossing> {
        self.inner.settle(ticket, actual).await
    }
    fn release(&self, ticket: Ticket) {
        self.inner.release(ticket);
    }
    async fn usage(&self, key: &str, window: Duration) -> BudgetUsage {
        self.inner.usage(key, window).await
    }
    async fn admit(&self, route: &str) -> Admission {
        self.inner.admit(route).await
    }
    async fn cooldown(&self, route: &str) -> CooldownState {
        self.inner.cooldown(route).await
    }
    async fn record(
        &self,
        route: &str,
        probe: bool,
        outcome: RouteOutcome,
        config: BreakerConfig,
    ) -> Option<CooldownChange> {
        self.inner.record(route, probe, outcome, config).await
    }
    fn abandon_probe(&self, route: &str) {
        self.inner.abandon_probe(route);
    }
    async fn reset_cooldown(&self, route: &str) -> bool {
        self.inner.reset_cooldown(route).await
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_cannot_spend_the_same_remainder() {
    let a = Mock::new("pa");
    a.behave(|_, _| Step::answer_after("pa answers", Duration::from_secs(1)));
    let store = Arc::new(CheckingStore::default());
    let router = Router::builder()
        .route(a.route("a", "m").alias("default"))
        .budget(Budget::tokens(2_000))
        .state_store(store.clone())
        .build()
        .unwrap();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let router = router.clone();
        set.spawn(async move { router.chat(&with_max("default", 100)).await.map(|_| ()) });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(()) => ok += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::BudgetExceeded);
                refused += 1;
            }
        }
    }
    // 105 tokens held per request: 19 fit in 2,000.
    assert_eq!((ok, refused), (19, 45));
    assert_eq!(a.calls(), 19);
    assert!(store.peak.load(Ordering::SeqCst) <= 2_000);
    assert!(!store.limits.lock().unwrap().is_empty());
    let status = &router.budgets().await[0];
    assert_eq!((status.used, status.reserved), (19 * 30, 0));
}

#[tokio::test(start_paused = true)]
async fn anomaly_locks_the_route_until_reset() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    let events = Events::default();
    let router = Router::builder()
        .route(a.route("a", "m").alias("default"))
        .route(b.route("b", "m").alias("default").tier(1))
        .anomaly(
            AnomalyConfig::default()
                .floors(2, 1_000_000, 1_000_000)
                .action(AnomalyAction::LockRoute),
        )
        .on_event(events.sink())
        .build()
        .unwrap();
    // Three warm-up minutes of 2 requests each.
    for _ in 0..3 {
        for _ in 0..2 {
            router.chat(&request("default")).await.unwrap();
        }
        tokio::time::advance(Duration::from_secs(60)).await;
    }
    // 5 x 2 = 10 requests a minute is normal; the 11th is an anomaly and is refused.
    for _ in 0..10 {
        assert_eq!(
            router.chat(&request("default")).await.unwrap().text(),
            "pa answers"
        );
    }
    assert_eq!(
        router.chat(&request("default")).await.unwrap().text(),
        "pb answers"
    );
    let anomalies = events.named("anomaly");
    assert_eq!(anomalies.len(), 1);
    assert!(matches!(
        &anomalies[0],
        RouterEvent::Anomaly {
            route,
            metric: AnomalyMetric::Requests,
            current: 11,
            action: AnomalyAction::LockRoute,
            ..
        } if route == "a"
    ));
    assert!(router.health().await[0].anomaly_locked);
    // Locked until reset, even in a later minute.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(
        router.chat(&request("default")).await.unwrap().text(),
        "pb answers"
    );
    router.reset_anomaly();
    assert_eq!(
        router.chat(&request("default")).await.unwrap().text(),
        "pa answers"
    );
}

#[tokio::test(start_paused = true)]
async fn anomaly_can_lock_the_whole_router() {
    let a = Mock::new("pa");
    let router = Router::builder()
        .route(a.route("a", "m").alias("default"))
        .anomaly(
            AnomalyConfig::default()
                .warmup_minutes(1)
                .floors(1, 1_000_000, 1_000_000)
                .action(AnomalyAction::LockRouter),
        )
        .build()
        .unwrap();
    router.chat(&request("default")).await.unwrap();
    tokio::time::advance(Duration::from_secs(60)).await;
    let mut answered = 0;
    let err = loop {
        match router.chat(&request("default")).await {
            Ok(_) => answered += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(answered, 5);
    assert_eq!(err.kind(), ErrorKind::BudgetExceeded);
    assert_eq!(
        router.chat(&request("default")).await.unwrap_err().kind(),
        ErrorKind::BudgetExceeded
    );
    router.reset_anomaly();
    router.chat(&request("default")).await.unwrap();
}
