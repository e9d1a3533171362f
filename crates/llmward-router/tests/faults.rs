//! The fault matrix: every error kind, streaming and not, with the retries and fallbacks each
//! must cause, asserted from what each scripted route received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use llmward_core::{ErrorKind, StreamEvent};
use llmward_router::{Outcome, Router, RouterBuilder};
use support::{Ev, Events, Fault, Mock, Step, drain, request, since, text_of};
use tokio::time::Instant;

#[derive(Debug, PartialEq)]
enum Expect {
    Answer(&'static str),
    Fail(ErrorKind),
}

fn returned_at_once(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidRequest
            | ErrorKind::BudgetExceeded
            | ErrorKind::Config
            | ErrorKind::Cancelled
            | ErrorKind::ContentFiltered
    )
}

/// Route "a" (8k window) fails once with `kind`; "b" (tier 1, 128k window) answers.
fn expect_two_routes(kind: ErrorKind) -> (Expect, usize, usize) {
    if returned_at_once(kind) {
        (Expect::Fail(kind), 1, 0)
    } else {
        (Expect::Answer("pb answers"), 1, 1)
    }
}

/// Only route "a": it fails once with `kind`, then would answer.
fn expect_one_route(kind: ErrorKind) -> (Expect, usize) {
    if kind.is_retryable() {
        (Expect::Answer("pa answers"), 2)
    } else {
        (Expect::Fail(kind), 1)
    }
}

fn two_routes(a: &Arc<Mock>, b: &Arc<Mock>) -> RouterBuilder {
    Router::builder()
        .seed(1)
        .route(
            a.route("a", "model-a")
                .alias("default")
                .context_window(8_000),
        )
        .route(
            b.route("b", "model-b")
                .alias("default")
                .tier(1)
                .context_window(128_000),
        )
}

fn check(kind: ErrorKind, got: Result<String, llmward_core::Error>, expect: &Expect) {
    match (got, expect) {
        (Ok(text), Expect::Answer(want)) => assert_eq!(&text, want, "{kind}"),
        (Err(e), Expect::Fail(want)) => {
            assert_eq!(e.kind(), *want, "{kind}: {e}");
            assert_eq!(e.attempts().len(), 1, "{kind}: {e}");
            assert_eq!(e.attempts()[0].route, "a");
            assert_eq!(e.attempts()[0].request_id.as_deref(), Some("pa-req-0"));
        }
        (got, expect) => panic!("{kind}: got {got:?}, expected {expect:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn chat_fault_matrix_two_routes() {
    for kind in ErrorKind::ALL {
        let (a, b) = (Mock::new("pa"), Mock::new("pb"));
        a.push(Step::fault(Fault::new(kind).status(400)));
        let events = Events::default();
        let router = two_routes(&a, &b).on_event(events.sink()).build().unwrap();
        let start = Instant::now();
        let got = router.chat(&request("default")).await.map(|r| r.text());
        let (expect, ac, bc) = expect_two_routes(kind);
        check(kind, got, &expect);
        assert_eq!((a.calls(), b.calls()), (ac, bc), "{kind}");
        assert_eq!(
            since(start),
            Duration::ZERO,
            "{kind}: moving on never sleeps"
        );
        let outcomes: Vec<Outcome> = events.attempts().iter().map(|e| e.outcome).collect();
        match expect {
            Expect::Answer(_) => assert_eq!(outcomes, [Outcome::Fallback, Outcome::Ok], "{kind}"),
            Expect::Fail(_) => assert_eq!(outcomes, [Outcome::Error], "{kind}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn chat_fault_matrix_one_route() {
    for kind in ErrorKind::ALL {
        let a = Mock::new("pa");
        a.push(Step::fail(kind));
        let router = Router::builder()
            .seed(2)
            .route(a.route("a", "model-a").alias("default"))
            .build()
            .unwrap();
        let start = Instant::now();
        let got = router.chat(&request("default")).await.map(|r| r.text());
        let (expect, calls) = expect_one_route(kind);
        check(kind, got, &expect);
        assert_eq!(a.calls(), calls, "{kind}");
        // One backoff at most, within its first ceiling.
        assert!(since(start) <= Duration::from_millis(250), "{kind}");
    }
}

#[tokio::test(start_paused = true)]
async fn zero_retry_after_retries_the_same_route_with_no_timer() {
    for kind in ErrorKind::ALL.into_iter().filter(|k| k.is_retryable()) {
        let (a, b) = (Mock::new("pa"), Mock::new("pb"));
        a.push(Step::fault(Fault::new(kind).retry_after(Duration::ZERO)));
        let router = two_routes(&a, &b).build().unwrap();
        let start = Instant::now();
        let answer = router.chat(&request("default")).await.unwrap();
        assert_eq!(answer.text(), "pa answers", "{kind}");
        assert_eq!((a.calls(), b.calls()), (2, 0), "{kind}");
        assert_eq!(
            since(start),
            Duration::ZERO,
            "{kind}: virtual time advanced"
        );
        // The retry went out at the same instant as the first attempt.
        let seen = a.seen();
        assert_eq!(seen[0].at, seen[1].at);
    }
}

#[tokio::test(start_paused = true)]
async fn stream_fault_matrix_at_start_and_before_content() {
    for before_content in [false, true] {
        for kind in ErrorKind::ALL {
            let (a, b) = (Mock::new("pa"), Mock::new("pb"));
            if before_content {
                // Started and a role-only chunk do not count as content.
                a.push(Step::Stream(vec![
                    Ev::Event(StreamEvent::Started {
                        id: None,
                        model: None,
                    }),
                    Ev::Event(StreamEvent::TextDelta(String::new())),
                    Ev::Fail(Fault::new(kind)),
                ]));
            } else {
                a.push(Step::fail(kind));
            }
            let router = two_routes(&a, &b).build().unwrap();
            let got = match router.chat_stream(&request("default")).await {
                Ok(stream) => {
                    assert_eq!(stream.provider(), "pb", "{kind}");
                    let (events, error) = drain(stream).await;
                    assert!(error.is_none(), "{kind}: {error:?}");
                    // Nothing of route a's stream reached the caller.
                    assert!(
                        !events
                            .iter()
                            .any(|e| matches!(e, StreamEvent::Started { id: None, .. })),
                        "{kind}"
                    );
                    Ok(text_of(&events))
                }
                Err(e) => Err(e),
            };
            let (expect, ac, bc) = expect_two_routes(kind);
            check(kind, got, &expect);
            assert_eq!(
                (a.calls(), b.calls()),
                (ac, bc),
                "{kind} before_content={before_content}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn stream_failure_after_content_ends_with_the_error_and_no_fallback() {
    for kind in ErrorKind::ALL {
        let (a, b) = (Mock::new("pa"), Mock::new("pb"));
        a.push(Step::Stream(vec![
            Ev::Event(StreamEvent::TextDelta("Hel".into())),
            Ev::Fail(Fault::new(kind)),
        ]));
        let events = Events::default();
        let router = two_routes(&a, &b).on_event(events.sink()).build().unwrap();
        let stream = router.chat_stream(&request("default")).await.unwrap();
        let (got, error) = drain(stream).await;
        assert_eq!(text_of(&got), "Hel", "{kind}");
        let error = error.expect("a failure after content is never a silent end");
        assert_eq!(error.kind(), kind);
        assert_eq!((a.calls(), b.calls()), (1, 0), "{kind}");
        let attempts = events.attempts();
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].outcome, Outcome::Error);
        assert!(attempts[0].time_to_first_token.is_some());
    }
}

#[tokio::test(start_paused = true)]
async fn held_back_events_are_released_in_order_after_content() {
    let a = Mock::new("pa");
    let started = StreamEvent::Started {
        id: Some("msg_1".into()),
        model: Some("model-a-2026".into()),
    };
    a.push(Step::Stream(vec![
        Ev::Event(started.clone()),
        Ev::Event(StreamEvent::TextDelta(String::new())),
        Ev::Sleep(Duration::from_millis(300)),
        Ev::Event(StreamEvent::ReasoningDelta("hmm".into())),
        Ev::Event(StreamEvent::TextDelta("Hi".into())),
    ]));
    let events = Events::default();
    let router = Router::builder()
        .route(a.route("a", "model-a").alias("default"))
        .on_event(events.sink())
        .build()
        .unwrap();
    let stream = router.chat_stream(&request("default")).await.unwrap();
    let (got, error) = drain(stream).await;
    assert!(error.is_none());
    assert_eq!(
        got,
        vec![
            started,
            StreamEvent::TextDelta(String::new()),
            StreamEvent::ReasoningDelta("hmm".into()),
            StreamEvent::TextDelta("Hi".into()),
        ]
    );
    let attempt = &events.attempts()[0];
    assert_eq!(
        attempt.time_to_first_token,
        Some(Duration::from_millis(300))
    );
    assert_eq!(attempt.response_model.as_deref(), Some("model-a-2026"));
}

#[tokio::test(start_paused = true)]
async fn first_token_timeout_falls_back() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    a.push(Step::Stream(vec![
        Ev::Event(StreamEvent::TextDelta(String::new())),
        Ev::Stall,
    ]));
    let router = two_routes(&a, &b)
        .first_token_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let start = Instant::now();
    let stream = router.chat_stream(&request("default")).await.unwrap();
    assert_eq!(since(start), Duration::from_secs(2));
    let (events, error) = drain(stream).await;
    assert!(error.is_none());
    assert_eq!(text_of(&events), "pb answers");
    assert_eq!(a.in_flight(), 0, "the stalled stream was dropped");
}

#[tokio::test(start_paused = true)]
async fn collected_router_stream_matches_the_answer() {
    let a = Mock::new("pa");
    let router = Router::builder()
        .route(a.route("a", "model-a").alias("default"))
        .build()
        .unwrap();
    let answer = router.chat(&request("default")).await.unwrap();
    let collected = router
        .chat_stream(&request("default"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(collected.text(), answer.text());
    assert_eq!(collected.provider(), "pa");
    assert_eq!(collected.usage, answer.usage);
}

#[tokio::test(start_paused = true)]
async fn retry_after_below_the_cap_is_waited_exactly() {
    let a = Mock::new("pa");
    a.push(Step::fault(
        Fault::new(ErrorKind::RateLimited)
            .status(429)
            .retry_after(Duration::from_secs(2)),
    ));
    let events = Events::default();
    let router = Router::builder()
        .route(a.route("a", "model-a").alias("default"))
        .on_event(events.sink())
        .build()
        .unwrap();
    let start = Instant::now();
    let answer = router.chat(&request("default")).await.unwrap();
    assert_eq!(answer.text(), "pa answers");
    assert_eq!(since(start), Duration::from_secs(2));
    assert_eq!(a.calls(), 2);
    let attempts = events.attempts();
    assert_eq!(attempts[0].outcome, Outcome::Retry);
    assert_eq!(attempts[0].retry_in, Some(Duration::from_secs(2)));
    assert_eq!(attempts[0].status, Some(429));
    // The Retry-After also cooled the route; the retry was its probe, which closed it.
    let names: Vec<&str> = events.all().iter().map(|e| e.name()).collect();
    assert_eq!(
        names,
        ["cooldown_entered", "attempt", "cooldown_left", "attempt"]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_above_the_cap_gives_up_on_the_route() {
    let a = Mock::new("pa");
    a.push(Step::fault(
        Fault::new(ErrorKind::RateLimited).retry_after(Duration::from_secs(31)),
    ));
    let router = Router::builder()
        .route(a.route("a", "model-a").alias("default"))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = router.chat(&request("default")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(31)));
    assert_eq!(a.calls(), 1);
    assert_eq!(since(start), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn backoff_retries_until_the_attempt_limit() {
    let a = Mock::new("pa");
    a.behave(|_, _| Step::fail(ErrorKind::Server));
    let router = Router::builder()
        .seed(3)
        .failure_threshold(100)
        .route(a.route("a", "model-a").alias("default"))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = router.chat(&request("default")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(a.calls(), 3);
    assert_eq!(err.attempts().len(), 3);
    // Two waits: at most 250 ms and 500 ms.
    assert!(since(start) <= Duration::from_millis(750));
    let seen = a.seen();
    assert!(seen[1].at - seen[0].at <= Duration::from_millis(250));
    assert!(seen[2].at - seen[1].at <= Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn context_length_moves_only_to_a_larger_window() {
    let (a, b, c) = (Mock::new("pa"), Mock::new("pb"), Mock::new("pc"));
    a.push(Step::fail(ErrorKind::ContextLengthExceeded));
    let router = Router::builder()
        .route(a.route("a", "m").alias("default").context_window(32_000))
        .route(
            b.route("b", "m")
                .alias("default")
                .tier(1)
                .context_window(16_000),
        )
        .route(
            c.route("c", "m")
                .alias("default")
                .tier(2)
                .context_window(200_000),
        )
        .build()
        .unwrap();
    let answer = router.chat(&request("default")).await.unwrap();
    assert_eq!(answer.text(), "pc answers");
    assert_eq!((a.calls(), b.calls(), c.calls()), (1, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn content_filter_falls_back_when_told() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    a.push(Step::fail(ErrorKind::ContentFiltered));
    let router = two_routes(&a, &b)
        .fallback_on_content_filter(true)
        .build()
        .unwrap();
    let answer = router.chat(&request("default")).await.unwrap();
    assert_eq!(answer.text(), "pb answers");
}

#[tokio::test(start_paused = true)]
async fn final_error_is_the_most_informative_and_lists_every_attempt() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    a.push(Step::fault(
        Fault::new(ErrorKind::RateLimited)
            .status(429)
            .retry_after(Duration::from_secs(40)),
    ));
    b.push(Step::fault(Fault::new(ErrorKind::Auth).status(401)));
    let router = two_routes(&a, &b).build().unwrap();
    let start = Instant::now();
    let err = router.chat(&request("default")).await.unwrap_err();
    // a asked for more than the 30 s cap, b has a bad key: nothing left to try.
    assert_eq!(since(start), Duration::ZERO);
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(40)));
    let tried: Vec<(&str, ErrorKind, Option<u16>)> = err
        .attempts()
        .iter()
        .map(|a| (a.route.as_str(), a.kind, a.status))
        .collect();
    assert_eq!(
        tried,
        [
            ("a", ErrorKind::RateLimited, Some(429)),
            ("b", ErrorKind::Auth, Some(401))
        ]
    );
    let shown = err.to_string();
    assert!(
        shown.contains("attempts: a rate_limited 429 [pa-req-0], b auth 401 [pb-req-0]"),
        "{shown}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_route_that_asked_to_wait_is_waited_for_when_nothing_else_can_serve() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    a.push(Step::fault(
        Fault::new(ErrorKind::RateLimited).retry_after(Duration::from_secs(5)),
    ));
    b.behave(|_, _| Step::fail(ErrorKind::Auth));
    let events = Events::default();
    let router = two_routes(&a, &b).on_event(events.sink()).build().unwrap();
    let start = Instant::now();
    let answer = router.chat(&request("default")).await.unwrap();
    assert_eq!(answer.text(), "pa answers");
    assert_eq!(since(start), Duration::from_secs(5));
    assert_eq!((a.calls(), b.calls()), (2, 1));
    let attempts = events.attempts();
    assert_eq!(attempts[1].outcome, Outcome::Fallback);
    assert_eq!(attempts[1].retry_in, Some(Duration::from_secs(5)));
}

#[tokio::test(start_paused = true)]
async fn a_route_that_asked_to_wait_is_no_alternative_meanwhile() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    a.push(Step::fault(
        Fault::new(ErrorKind::Overloaded).retry_after(Duration::from_secs(20)),
    ));
    b.push(Step::fail(ErrorKind::Server));
    let router = two_routes(&a, &b).seed(8).build().unwrap();
    let start = Instant::now();
    assert_eq!(
        router.chat(&request("default")).await.unwrap().text(),
        "pb answers"
    );
    // b was retried after a backoff rather than going back to a at once.
    assert_eq!((a.calls(), b.calls()), (1, 2));
    assert!(since(start) <= Duration::from_millis(250));
}

#[tokio::test(start_paused = true)]
async fn ping_pong_between_healthy_routes_is_bounded_by_attempts() {
    let (a, b) = (Mock::new("pa"), Mock::new("pb"));
    a.behave(|_, _| Step::fail(ErrorKind::Server));
    b.behave(|_, _| Step::fail(ErrorKind::Server));
    let router = Router::builder()
        .failure_threshold(100)
        .route(a.route("a", "m").alias("default"))
        .route(b.route("b", "m").alias("default").tier(1))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = router.chat(&request("default")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!((a.calls(), b.calls()), (3, 3));
    // Each move was to a healthy route: no sleep at all.
    assert_eq!(since(start), Duration::ZERO);
}
