//! Routing: aliases, order, cooldowns and probes, deadlines, cancellation, a router inside a
//! router, and what events say.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use llmward_core::{ErrorKind, Provider, StreamEvent};
use llmward_router::{Budget, Outcome, Route, Router, RouterEvent};
use support::{Ev, Events, Fault, Mock, Step, drain, request, since, text_of};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn unknown_alias_is_refused_before_anything_is_sent() {
    let a = Mock::new("pa");
    let events = Events::default();
    let router = Router::builder()
        .route(a.route("a", "gpt-4.1-mini").alias("default"))
        .on_event(events.sink())
        .build()
        .unwrap();
    let err = router.chat(&request("gpt-5-pro")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = router
        .chat_stream(&request("gpt-4.1-mini"))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidRequest,
        "a route's model is not an alias of it"
    );
    assert_eq!(a.calls(), 0);
    assert_eq!(events.named("refused").len(), 2);
    assert_eq!(router.models(), ["default"]);
}

#[tokio::test(start_paused = true)]
async fn a_route_without_alias_serves_its_model_and_the_model_replaces_the_alias() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    let router = Router::builder()
        .deadline(Duration::from_secs(30))
        .route(a.route("a", "gpt-4.1-mini"))
        .route(
            b.route("b", "claude-haiku-4-5")
                .alias("fast")
                .alias("cheap"),
        )
        .build()
        .unwrap();
    router.chat(&request("gpt-4.1-mini")).await.unwrap();
    router.chat(&request("cheap")).await.unwrap();
    assert_eq!(a.seen()[0].model, "gpt-4.1-mini");
    let seen = &b.seen()[0];
    assert_eq!(seen.model, "claude-haiku-4-5");
    // The remaining time goes down as the request's deadline.
    assert_eq!(seen.deadline, Some(Duration::from_secs(30)));
    let mut r = request("fast");
    r.deadline = Some(Duration::from_secs(5));
    router.chat(&r).await.unwrap();
    assert_eq!(b.seen()[1].deadline, Some(Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn tiers_are_strict_and_weights_spread_load_reproducibly() {
    let run = |seed: u64| async move {
        let (a, b, c) = (Mock::new("pa"), Mock::new("pb"), Mock::new("pc"));
        let router = Router::builder()
            .seed(seed)
            .route(a.route("a", "m").alias("default").weight(3))
            .route(b.route("b", "m").alias("default").weight(1))
            .route(c.route("c", "m").alias("default").tier(1).weight(100))
            .build()
            .unwrap();
        let mut order = Vec::new();
        for _ in 0..1_000 {
            order.push(router.chat(&request("default")).await.unwrap().provider);
        }
        (order, a.calls(), b.calls(), c.calls())
    };
    let (order1, a, b, c) = run(11).await;
    let (order2, ..) = run(11).await;
    let (order3, ..) = run(12).await;
    assert_eq!(order1, order2, "same seed, same choices");
    assert_ne!(order1, order3);
    assert_eq!(c, 0, "tier 1 is never used while tier 0 is healthy");
    assert_eq!(a + b, 1_000);
    assert!((700..=800).contains(&a), "weight 3:1 gave {a}:{b}");
}

#[tokio::test(start_paused = true)]
async fn prefer_low_latency_picks_the_fastest_measured_route() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    a.behave(|_, _| Step::answer_after("slow", Duration::from_millis(300)));
    b.behave(|_, _| Step::answer_after("fast", Duration::from_millis(50)));
    let router = Router::builder()
        .seed(5)
        .prefer_low_latency(true)
        .route(a.route("a", "m").alias("default"))
        .route(b.route("b", "m").alias("default"))
        .build()
        .unwrap();
    for _ in 0..2 {
        router.chat(&request("default")).await.unwrap();
    }
    let before = b.calls();
    for _ in 0..10 {
        assert_eq!(
            router.chat(&request("default")).await.unwrap().text(),
            "fast"
        );
    }
    assert_eq!(b.calls(), before + 10);
    let health = router.health().await;
    assert_eq!(health[1].latency_ewma, Some(Duration::from_millis(50)));
}

#[tokio::test(start_paused = true)]
async fn cooldown_opens_skips_probes_once_and_closes() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    let events = Events::default();
    let router = Router::builder()
        .failure_threshold(2)
        .cooldown(Duration::from_secs(10))
        .route(a.route("a", "m").alias("default"))
        .route(b.route("b", "m").alias("default").tier(1))
        .on_event(events.sink())
        .build()
        .unwrap();
    a.push(Step::fail(ErrorKind::Server))
        .push(Step::fail(ErrorKind::Server));
    for _ in 0..2 {
        assert_eq!(
            router.chat(&request("default")).await.unwrap().text(),
            "pb answers"
        );
    }
    assert_eq!(events.named("cooldown_entered").len(), 1);
    let health = router.health().await;
    assert!(!health[0].in_rotation);
    assert_eq!(
        health[0].cooldown_until,
        Some(Instant::now() + Duration::from_secs(10))
    );
    // Out of rotation: a is not asked.
    router.chat(&request("default")).await.unwrap();
    assert_eq!(a.calls(), 2);

    // After the cooldown, one probe (slow) decides; a concurrent call skips a meanwhile.
    tokio::time::advance(Duration::from_secs(10)).await;
    a.push(Step::answer_after("probe ok", Duration::from_secs(1)));
    let r1 = router.clone();
    let probe = tokio::spawn(async move { r1.chat(&request("default")).await });
    tokio::task::yield_now().await;
    assert!(router.health().await[0].probing);
    let other = router.chat(&request("default")).await.unwrap();
    assert_eq!(other.text(), "pb answers");
    assert_eq!(probe.await.unwrap().unwrap().text(), "probe ok");
    assert_eq!(a.calls(), 3);
    assert_eq!(events.named("cooldown_left").len(), 1);
    assert!(router.health().await[0].in_rotation);
}

#[tokio::test(start_paused = true)]
async fn failed_probe_reopens_and_reset_cooldown_closes() {
    let a = Mock::new("pa");
    let b = Mock::new("pb");
    let events = Events::default();
    let router = Router::builder()
        .cooldown(Duration::from_secs(10))
        .route(a.route("a", "m").alias("default"))
        .route(b.route("b", "m").alias("default").tier(1))
        .on_event(events.sink())
        .build()
        .unwrap();
    // An Auth failure opens at once.
    a.push(Step::fault(Fault::new(ErrorKind::Auth).status(401)));
    router.chat(&request("default")).await.unwrap();
    assert_eq!(events.named("cooldown_entered").len(), 1);
    tokio::time::advance(Duration::from_secs(10)).await;
    a.push(Step::fail(ErrorKind::Auth));
    assert_eq!(
        router.chat(&request("default")).await.unwrap().text(),
        "pb answers"
    );
    assert_eq!(a.calls(), 2, "the probe went to a");
    assert_eq!(
        events.named("cooldown_entered").len(),
        2,
        "the failed probe re-opened"
    );
    assert!(!router.health().await[0].in_rotation);
    assert!(router.reset_cooldown("a").await);
    assert!(!router.reset_cooldown("a").await);
    assert!(matches!(
        events.named("cooldown_left").last(),
        Some(RouterEvent::CooldownLeft { reset: true, .. })
    ));
    assert_eq!(
        router.chat(&request("default")).await.unwrap().text(),
        "pa answers"
    );
}

#[tokio::test(start_paused = true)]
async fn every_route_cooling_down_is_overloaded_with_the_shortest_wait() {
    let a = Mock::new("pa");
    a.push(Step::fault(
        Fault::new(ErrorKind::RateLimited).retry_after(Duration::from_secs(40)),
    ));
    let router = Router::builder()
        .route(a.route("a", "m").alias("default"))
        .build()
        .unwrap();
    assert_eq!(
        router.chat(&request("default")).await.unwrap_err().kind(),
        ErrorKind::RateLimited
    );
    tokio::time::advance(Duration::from_secs(15)).await;
    let err = router.chat(&request("default")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overloaded);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(25)));
    assert_eq!(a.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn deadline_exhausted_mid_backoff_is_a_timeout() {
    let a = Mock::new("pa");
    // Each attempt takes 400 ms and fails; waits up to 1 s, 2 s...; the deadline is 1.5 s.
    a.behave(|_, _| Step::fail_after(ErrorKind::Server, Duration::from_millis(400)));
    let router = Router::builder()
        .seed(9)
        .max_attempts_per_route(10)
        .failure_threshold(100)
        .backoff(Duration::from_secs(1), Duration::from_secs(8))
        .deadline(Duration::from_millis(1_500))
        .route(a.route("a", "m").alias("default"))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = router.chat(&request("default")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(since(start) <= Duration::from_millis(1_500));
    assert!(!err.attempts().is_empty());
    assert_eq!(router.health().await[0].in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn deadline_cuts_a_hanging_attempt_and_a_wait_that_would_outlast_it() {
    let a = Mock::new("pa");
    a.push(Step::Stall);
    let router = Router::builder()
        .route(a.route("a", "m").alias("default"))
        .build()
        .unwrap();
    let mut r = request("default");
    r.deadline = Some(Duration::from_secs(3));
    let start = Instant::now();
    let err = router.chat(&r).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(since(start), Duration::from_secs(3));
    assert_eq!(a.in_flight(), 0);
    // A Retry-After longer than the time left fails at once.
    a.push(Step::fault(
        Fault::new(ErrorKind::Overloaded).retry_after(Duration::from_secs(5)),
    ));
    let start = Instant::now();
    let err = router.chat(&r).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(since(start), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn route_timeout_counts_against_the_route_and_falls_back() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    a.push(Step::Stall);
    let router = Router::builder()
        .route(
            a.route("a", "m")
                .alias("default")
                .timeout(Duration::from_secs(2)),
        )
        .route(b.route("b", "m").alias("default").tier(1))
        .build()
        .unwrap();
    let start = Instant::now();
    assert_eq!(
        router.chat(&request("default")).await.unwrap().text(),
        "pb answers"
    );
    assert_eq!(since(start), Duration::from_secs(2));
    assert_eq!(a.seen()[0].deadline, Some(Duration::from_secs(2)));
    let health = router.health().await;
    assert_eq!(health[0].failures, 1);
    assert_eq!(a.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_mid_backoff_leaves_nothing_in_flight() {
    let a = Mock::new("pa");
    a.push(Step::fail(ErrorKind::Server));
    let events = Events::default();
    let router = Router::builder()
        .backoff(Duration::from_secs(60), Duration::from_secs(60))
        .budget(Budget::tokens(1_000_000))
        .route(
            a.route("a", "m")
                .alias("default")
                .budget(Budget::requests(100)),
        )
        .on_event(events.sink())
        .seed(4)
        .build()
        .unwrap();
    let req = request("default");
    let call = router.chat(&req);
    assert!(
        tokio::time::timeout(Duration::from_millis(10), call)
            .await
            .is_err()
    );
    assert_eq!(a.calls(), 1);
    assert_eq!(router.health().await[0].in_flight, 0);
    for b in router.budgets().await {
        assert_eq!(b.reserved, 0, "{}", b.name);
    }
    assert_eq!(events.attempts().last().unwrap().outcome, Outcome::Retry);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_mid_request_cancels_it_and_releases_the_probe() {
    let a = Mock::new("pa");
    let events = Events::default();
    let router = Router::builder()
        .cooldown(Duration::from_secs(5))
        .route(a.route("a", "m").alias("default"))
        .budget(Budget::tokens(1_000_000))
        .on_event(events.sink())
        .build()
        .unwrap();
    a.push(Step::fail(ErrorKind::Auth));
    router.chat(&request("default")).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(5)).await;
    // The probe hangs; the caller gives up on it.
    a.push(Step::Stall);
    let req = request("default");
    let call = router.chat(&req);
    assert!(
        tokio::time::timeout(Duration::from_secs(1), call)
            .await
            .is_err()
    );
    assert_eq!(a.in_flight(), 0, "the provider's request was dropped");
    assert_eq!(router.health().await[0].in_flight, 0);
    assert_eq!(router.budgets().await[0].reserved, 0);
    assert_eq!(
        events.attempts().last().unwrap().outcome,
        Outcome::Cancelled
    );
    // The abandoned probe does not keep the route out: the next call probes it.
    assert_eq!(
        router.chat(&request("default")).await.unwrap().text(),
        "pa answers"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_a_stream_mid_stream_leaves_nothing_in_flight() {
    let a = Mock::new("pa");
    a.push(Step::Stream(vec![
        Ev::Event(StreamEvent::TextDelta("Hel".into())),
        Ev::Stall,
    ]));
    let router = Router::builder()
        .route(a.route("a", "m").alias("default").max_in_flight(1))
        .budget(Budget::tokens(1_000_000))
        .build()
        .unwrap();
    let mut stream = router.chat_stream(&request("default")).await.unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        StreamEvent::TextDelta("Hel".into())
    );
    assert_eq!(a.in_flight(), 1);
    assert_eq!(router.health().await[0].in_flight, 1);
    drop(stream);
    assert_eq!(a.in_flight(), 0);
    assert_eq!(router.health().await[0].in_flight, 0);
    assert_eq!(router.budgets().await[0].reserved, 0);
    // The slot is free again.
    assert_eq!(
        router.chat(&request("default")).await.unwrap().text(),
        "pa answers"
    );
}

#[tokio::test(start_paused = true)]
async fn a_router_is_a_route_of_another_router() {
    let (x, y, z) = (Mock::new("px"), Mock::new("py"), Mock::new("pz"));
    let inner = Router::builder()
        .name("inner-router")
        .route(x.route("x", "model-x").alias("m"))
        .route(y.route("y", "model-y").alias("m").tier(1))
        .build()
        .unwrap();
    let inner_provider: Arc<dyn Provider> = Arc::new(inner.clone());
    let events = Events::default();
    let outer = Router::builder()
        .route(Route::shared("inner", inner_provider, "m").alias("default"))
        .route(z.route("z", "model-z").alias("default").tier(1))
        .on_event(events.sink())
        .build()
        .unwrap();

    x.push(Step::fail(ErrorKind::Auth));
    let answer = outer.chat(&request("default")).await.unwrap();
    assert_eq!(answer.provider(), "py");
    let attempt = &events.attempts()[0];
    assert_eq!(attempt.route, "inner");
    assert_eq!(attempt.provider, "inner-router");

    // The inner router fails as a whole (x is cooling down after its Auth failure, y fails
    // all its attempts): the outer one falls back.
    for _ in 0..3 {
        y.push(Step::fail(ErrorKind::Server));
    }
    let answer = outer.chat(&request("default")).await.unwrap();
    assert_eq!(answer.provider(), "pz");
    assert_eq!((x.calls(), y.calls()), (1, 4));

    // Streams go through both.
    let stream = outer.chat_stream(&request("default")).await.unwrap();
    let (events, error) = drain(stream).await;
    assert!(error.is_none());
    assert!(text_of(&events).ends_with("answers"));
}

#[tokio::test(start_paused = true)]
async fn attempt_events_say_what_happened() {
    let a = Mock::with_label("openai", "openai-prod-2026-11");
    let b = Mock::new("ollama");
    a.push(Step::fault(Fault::new(ErrorKind::Overloaded).status(503)));
    let events = Events::default();
    let router = Router::builder()
        .route(
            a.route("primary", "gpt-4.1-mini")
                .alias("default")
                .price(0.4, 1.6),
        )
        .route(b.route("internal", "llama3.1:8b").alias("default").tier(1))
        .on_event(events.sink())
        .build()
        .unwrap();
    let req = llmward_core::ChatRequest::builder("default")
        .user("hi")
        .tag("tenant", "acme")
        .build()
        .unwrap();
    router.chat(&req).await.unwrap();
    a.push(Step::answer("ok"));
    router.chat(&req).await.unwrap();
    let attempts = events.attempts();
    assert_eq!(attempts.len(), 3);
    let (first, second, third) = (&attempts[0], &attempts[1], &attempts[2]);
    assert_eq!(first.call_id, second.call_id);
    assert_ne!(first.call_id, third.call_id);
    assert_eq!(first.route, "primary");
    assert_eq!(first.provider, "openai");
    assert_eq!(first.model, "gpt-4.1-mini");
    assert_eq!(first.alias, "default");
    assert_eq!(first.key_label.as_deref(), Some("openai-prod-2026-11"));
    assert_eq!(first.tags.get("tenant").map(String::as_str), Some("acme"));
    assert_eq!((first.attempt, first.route_attempt), (1, 1));
    assert_eq!(first.outcome, Outcome::Fallback);
    assert_eq!(first.error_kind, Some(ErrorKind::Overloaded));
    assert_eq!(first.status, Some(503));
    assert_eq!(first.request_id.as_deref(), Some("openai-req-0"));
    assert_eq!(second.route, "internal");
    assert_eq!(second.attempt, 2);
    assert_eq!(second.outcome, Outcome::Ok);
    assert_eq!(second.cost_usd, None, "no price on the internal route");
    // 10 input tokens at $0.40/M + 20 output at $1.60/M = 36 micro-dollars.
    assert_eq!(third.cost_usd, Some(36e-6));
    assert_eq!(third.usage.map(|u| u.output_tokens), Some(20));
    assert_eq!(third.response_id.as_deref(), Some("openai-answer-1"));
    assert_eq!(third.finish_reason.as_deref(), Some("stop"));
    let line = RouterEvent::Attempt(Box::new(first.clone())).to_string();
    assert!(
        line.contains("outcome=fallback error_kind=overloaded status=503"),
        "{line}"
    );
}

#[tokio::test(start_paused = true)]
async fn builder_checks_its_settings() {
    let a = Mock::new("pa");
    let route = || a.route("a", "m");
    assert!(Router::builder().build().is_err());
    assert!(
        Router::builder()
            .route(route())
            .route(route())
            .build()
            .is_err()
    );
    assert!(Router::builder().route(route().alias("")).build().is_err());
    assert!(
        Router::builder()
            .route(route().price(-1.0, 0.0))
            .build()
            .is_err()
    );
    assert!(
        Router::builder()
            .route(route())
            .budget(Budget::tokens(1).for_route("nope"))
            .build()
            .is_err()
    );
    assert!(
        Router::builder()
            .route(route())
            .budget(Budget::tokens(1))
            .budget(Budget::tokens(2))
            .build()
            .is_err()
    );
    assert!(
        Router::builder()
            .route(route())
            .budget(Budget::tokens(1).per(Duration::ZERO))
            .build()
            .is_err()
    );
    assert!(
        Router::builder()
            .route(route())
            .deadline(Duration::ZERO)
            .build()
            .is_err()
    );
    let err = Router::builder().build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}
