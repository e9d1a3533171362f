//! End to end: the router in front of `llmward_openai` providers talking to loopback upstreams
//! (`llmward_testkit::Upstream`), asserting what each upstream received. Real time, short waits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use llmward_core::{ApiKey, ChatRequest, ErrorKind, StreamEvent};
use llmward_openai::OpenAi;
use llmward_router::{Outcome, Route, Router};
use llmward_testkit::{Reply, Upstream, openai};
use support::{Events, drain, text_of};

fn provider(upstream: &Upstream, name: &str, key: &str) -> OpenAi {
    OpenAi::compatible(upstream.url())
        .name(name)
        .api_key(
            ApiKey::new(key.to_owned())
                .unwrap()
                .with_label(format!("{name}-key")),
        )
        .build()
        .unwrap()
}

fn request() -> ChatRequest {
    ChatRequest::builder("default")
        .user("Why is the sky blue?")
        .max_tokens(64)
        .tag("tenant", "acme")
        .build()
        .unwrap()
}

struct Setup {
    primary: Upstream,
    backup: Upstream,
    router: Router,
    events: Events,
}

async fn setup() -> Setup {
    let primary = Upstream::start().await;
    let backup = Upstream::start().await;
    let events = Events::default();
    let router = Router::builder()
        .seed(1)
        .route(
            Route::new(
                "primary",
                provider(&primary, "cloud", "sk-primary-1"),
                "gpt-primary",
            )
            .alias("default"),
        )
        .route(
            Route::new(
                "internal",
                provider(&backup, "local", "sk-backup-2"),
                "llama-backup",
            )
            .alias("default")
            .tier(1),
        )
        .on_event(events.sink())
        .build()
        .unwrap();
    Setup {
        primary,
        backup,
        router,
        events,
    }
}

#[tokio::test]
async fn falls_back_over_http_and_sends_each_route_its_model_and_key() {
    let s = setup().await;
    s.primary.push(openai::error(
        500,
        "server_error",
        "The server had an error",
    ));
    s.backup.push(Reply::json(
        200,
        openai::chat_completion("llama-backup", "Rayleigh."),
    ));
    let answer = s.router.chat(&request()).await.unwrap();
    assert_eq!(answer.text(), "Rayleigh.");
    assert_eq!(answer.provider(), "local");

    let (p, b) = (s.primary.requests(), s.backup.requests());
    assert_eq!((p.len(), b.len()), (1, 1));
    assert_eq!(p[0].json()["model"], "gpt-primary");
    assert_eq!(b[0].json()["model"], "llama-backup");
    assert_eq!(p[0].header("authorization"), Some("Bearer sk-primary-1"));
    assert_eq!(b[0].header("authorization"), Some("Bearer sk-backup-2"));
    // Tags are for events and budgets, never sent.
    assert!(!String::from_utf8_lossy(&b[0].body).contains("acme"));

    let attempts = s.events.attempts();
    assert_eq!(attempts[0].outcome, Outcome::Fallback);
    assert_eq!(attempts[0].status, Some(500));
    assert!(
        attempts[0]
            .request_id
            .as_deref()
            .unwrap()
            .starts_with("req_testkit_")
    );
    assert_eq!(attempts[0].key_label.as_deref(), Some("cloud-key"));
    assert_eq!(attempts[1].outcome, Outcome::Ok);
    assert_eq!(attempts[1].usage.map(|u| u.input_tokens), Some(10));
}

#[tokio::test]
async fn honours_retry_after_ms_and_retries_zero_at_once() {
    let s = setup().await;
    // Only the primary is in play: the backup's default reply is a 500.
    s.backup
        .set_default(openai::error(500, "server_error", "down"));
    s.primary.push(
        openai::error(429, "rate_limit_exceeded", "Rate limit reached")
            .header("retry-after-ms", "0"),
    );
    s.primary.push(Reply::json(
        200,
        openai::chat_completion("gpt-primary", "ok"),
    ));
    assert_eq!(s.router.chat(&request()).await.unwrap().text(), "ok");
    assert_eq!(s.primary.request_count(), 2);
    assert_eq!(
        s.backup.request_count(),
        0,
        "a zero wait retries the same route"
    );

    // A positive Retry-After with the backup failing too: wait it, then retry the primary.
    s.primary.clear_requests();
    s.primary
        .push(openai::error(503, "overloaded", "Overloaded").header("retry-after-ms", "150"));
    s.primary.push(Reply::json(
        200,
        openai::chat_completion("gpt-primary", "later"),
    ));
    let start = Instant::now();
    assert_eq!(s.router.chat(&request()).await.unwrap().text(), "later");
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert_eq!(s.primary.request_count(), 2);
    assert!(s.backup.request_count() >= 1);
}

#[tokio::test]
async fn auth_failure_moves_on_and_cools_the_route() {
    let s = setup().await;
    s.primary.push(openai::error(
        401,
        "invalid_api_key",
        "Incorrect API key provided",
    ));
    s.backup.set_default(Reply::json(
        200,
        openai::chat_completion("llama-backup", "local"),
    ));
    assert_eq!(s.router.chat(&request()).await.unwrap().text(), "local");
    assert_eq!(s.router.chat(&request()).await.unwrap().text(), "local");
    assert_eq!(
        s.primary.request_count(),
        1,
        "a route with a bad key is out of rotation"
    );
    let health = s.router.health().await;
    assert!(!health[0].in_rotation && health[0].cooldown_until.is_some());
    assert_eq!(s.events.named("cooldown_entered").len(), 1);
}

#[tokio::test]
async fn streams_fall_back_before_content() {
    let s = setup().await;
    // A 503 asking for 5 s at start (so the primary is no alternative for a while), then a
    // stream cut after its role chunk (no content, no [DONE]).
    s.primary
        .push(openai::error(503, "overloaded", "Overloaded").header("retry-after-ms", "5000"));
    let chunks = openai::stream_text("llama-backup", &["Hel", "lo"]);
    s.backup.push(Reply::sse(chunks[..1].to_vec()));
    s.backup.push(Reply::sse(chunks.clone()));
    let stream = s.router.chat_stream(&request()).await.unwrap();
    assert_eq!(stream.provider(), "local");
    let (events, error) = drain(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "Hello");
    assert!(events.iter().any(|e| matches!(e, StreamEvent::Usage(_))));
    assert_eq!(
        (s.primary.request_count(), s.backup.request_count()),
        (1, 2)
    );
    let req = &s.backup.requests()[0];
    assert_eq!(req.json()["stream"], true);
    let outcomes: Vec<Outcome> = s.events.attempts().iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, [Outcome::Fallback, Outcome::Retry, Outcome::Ok]);
    let ok = s.events.attempts().pop().unwrap();
    assert!(ok.time_to_first_token.is_some());
    assert_eq!(ok.usage.map(|u| u.output_tokens), Some(2));
}

#[tokio::test]
async fn a_stream_cut_after_content_ends_with_an_error() {
    let s = setup().await;
    let chunks = openai::stream_text("gpt-primary", &["Hel", "lo"]);
    // Role chunk and "Hel", then the body ends without [DONE].
    s.primary.push(Reply::sse(chunks[..2].to_vec()));
    let stream = s.router.chat_stream(&request()).await.unwrap();
    let (events, error) = drain(stream).await;
    assert_eq!(text_of(&events), "Hel");
    assert_eq!(error.unwrap().kind(), ErrorKind::StreamTruncated);
    assert_eq!(s.backup.request_count(), 0);
}

#[tokio::test]
async fn dropping_a_live_stream_closes_the_upstream_connection() {
    let s = setup().await;
    let chunks = openai::stream_text("gpt-primary", &["Hel", "lo"]);
    s.primary.push(Reply::sse(chunks).stall_after(2));
    let mut stream = s.router.chat_stream(&request()).await.unwrap();
    let mut text = String::new();
    while text.is_empty() {
        if let StreamEvent::TextDelta(t) = stream.next().await.unwrap().unwrap() {
            text = t;
        }
    }
    assert_eq!(s.router.health().await[0].in_flight, 1);
    drop(stream);
    assert_eq!(s.router.health().await[0].in_flight, 0);
    // The client hung up: the stalled response's connection goes away.
    let start = Instant::now();
    while s.primary.open_connections() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "connection still open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
