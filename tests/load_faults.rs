//! The router's load test (crates/llmward-router/tests/load.rs, over mock providers) taken to
//! real HTTP: 10,000 calls, 64 in flight, half of them streaming, through a router over three
//! loopback upstreams speaking OpenAI, Anthropic and Gemini, each failing 30% of the attempts
//! it receives in mixed ways drawn from a seeded PRNG — connection resets, 429s with and
//! without a wait, overload, answers slower than the route timeout, truncated streams,
//! mid-stream error events, stalls (tests/support `load`, whose fault mix is a parameter).
//!
//! Asserted: every call ends exactly once, with its own answer or an error of a kind the mix
//! explains (after content only for streams); no upstream saw more attempts of one call than
//! the policy allows, nor more than `max_attempts_per_route × calls` in all; nothing is left
//! in flight in the router.
//!
//! With the router's breakers as configured (a 5 ms Retry-After or 5 consecutive failures take
//! a route out for a few milliseconds) most calls of the first run end at once with
//! `Overloaded`, "every route is cooling down": see the ignored
//! `nine_in_ten_calls_are_answered_at_thirty_percent_faults`. The runs that keep every route in
//! rotation show the load actually carried.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use support::load::{self, Ended, FaultMix, HttpFault, ROUTES, Shape};

/// What a run saw, for the report and the assertions.
#[derive(Debug, Default)]
struct Report {
    answered: usize,
    errors: BTreeMap<String, usize>,
    attempts: BTreeMap<&'static str, usize>,
    faults: BTreeMap<String, usize>,
    max_attempts_of_a_call: u32,
}

async fn run(shape: &Shape) -> Report {
    let upstreams = load::start_upstreams(shape).await;
    let urls: Vec<String> = upstreams.iter().map(|(u, _)| u.url()).collect();
    let router = load::router(&urls, shape);
    let started = Instant::now();
    let mut ended = Vec::with_capacity(shape.requests);
    load::drive(&router, shape, |n, end| ended.push((n, end))).await;
    let elapsed = started.elapsed();

    let mut report = Report::default();
    let mut times = vec![0u8; shape.requests];
    let allowed = shape.mix.kinds();
    for (n, end) in &ended {
        times[*n] += 1;
        match end {
            Ended::Answer(text) => {
                assert_eq!(
                    text,
                    &load::answer(*n),
                    "call {n} got another call's answer"
                );
                report.answered += 1;
            }
            Ended::Failed(kind, after_content) => {
                assert!(allowed.contains(kind), "call {n}: unexpected {kind}");
                assert!(
                    !after_content || n % 2 == 1,
                    "call {n}: a chat cannot fail after content"
                );
                let what = format!(
                    "{kind}{}",
                    if *after_content { " after content" } else { "" }
                );
                *report.errors.entry(what).or_default() += 1;
            }
        }
    }
    let lost: Vec<usize> = (0..shape.requests).filter(|n| times[*n] == 0).collect();
    let twice: Vec<usize> = (0..shape.requests).filter(|n| times[*n] > 1).collect();
    assert!(lost.is_empty(), "calls never ended: {lost:?}");
    assert!(twice.is_empty(), "calls ended twice: {twice:?}");
    assert_eq!(ended.len(), shape.requests);

    let limit = shape.max_attempts as usize * shape.requests;
    for ((upstream, tally), route) in upstreams.iter().zip(ROUTES) {
        assert_eq!(tally.strays.load(std::sync::atomic::Ordering::Relaxed), 0);
        let most = tally
            .attempts
            .lock()
            .unwrap()
            .values()
            .copied()
            .max()
            .unwrap_or(0);
        assert!(
            most <= shape.max_attempts,
            "{route} saw {most} attempts of one call (limit {})",
            shape.max_attempts
        );
        report.max_attempts_of_a_call = report.max_attempts_of_a_call.max(most);
        let total = tally.total();
        assert!(
            total <= limit,
            "{route}: {total} attempts for {} calls",
            shape.requests
        );
        assert_eq!(total, upstream.request_count(), "{route}");
        report.attempts.insert(route, total);
        for (fault, count) in tally.faults.lock().unwrap().iter() {
            *report.faults.entry(format!("{fault:?}")).or_default() += count;
        }
    }
    for health in router.health().await {
        assert_eq!(
            health.in_flight, 0,
            "{} still counts calls in flight",
            health.route
        );
    }
    eprintln!(
        "{} calls ({} in flight) in {:.1}s: {} answered, errors {:?}; attempts per upstream {:?} \
         (most for one call on one route: {}); faults played {:?}",
        shape.requests,
        shape.concurrency,
        elapsed.as_secs_f64(),
        report.answered,
        report.errors,
        report.attempts,
        report.max_attempts_of_a_call,
        report.faults,
    );
    report
}

/// The standard run: default breakers, 429s asking for a 5 ms wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_calls_over_http_with_thirty_percent_faults() {
    let shape = Shape::default();
    assert!((shape.mix.share() - 0.30).abs() < 1e-9);
    let report = run(&shape).await;
    let attempts: usize = report.attempts.values().sum();
    let faults: usize = report.faults.values().sum();
    // The upstreams really failed about 30% of what they received, in every way.
    let share = faults as f64 / attempts as f64;
    assert!((0.25..0.35).contains(&share), "fault share {share:.3}");
    assert_eq!(
        report.faults.len(),
        shape.mix.0.len(),
        "{:?}",
        report.faults
    );
    for route in ROUTES {
        assert!(report.attempts[route] > 0, "{report:?}");
    }
    let failed: usize = report.errors.values().sum();
    assert_eq!(report.answered + failed, shape.requests);
    assert!(report.answered > 0, "{report:?}");
}

/// The same load with every route kept in rotation (429s ask for no wait, no failure count
/// opens a breaker), so that every call really reaches the upstreams: three routes and retries
/// absorb the faults, and only streams failing after content (which may not fall back) end in
/// an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_calls_with_every_route_in_rotation() {
    let shape = Shape {
        retry_after: "0".into(),
        failure_threshold: u32::MAX,
        seed: 21,
        ..Shape::default()
    };
    let report = run(&shape).await;
    let attempts: usize = report.attempts.values().sum();
    assert!(attempts > shape.requests, "{report:?}");
    assert!(
        report.answered * 10 >= shape.requests * 9,
        "{} of {} answered: {:?}",
        report.answered,
        shape.requests,
        report.errors
    );
    let before_content: usize = report
        .errors
        .iter()
        .filter(|(k, _)| !k.ends_with("after content"))
        .map(|(_, n)| n)
        .sum();
    assert!(before_content * 100 <= shape.requests, "{report:?}");
}

/// The same harness with a harsher mix, every route kept in rotation: 60% of attempts fail,
/// only in ways that end before content, so a call fails only if all its attempts (up to three
/// on each of three routes) do, and never after content reached it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_calls_with_sixty_percent_faults_before_content() {
    let shape = Shape {
        requests: 2_000,
        seed: 99,
        retry_after: "0".into(),
        failure_threshold: u32::MAX,
        mix: FaultMix(vec![
            (0.15, HttpFault::Reset),
            (0.10, HttpFault::RateLimited),
            (0.10, HttpFault::RetryNow),
            (0.20, HttpFault::Overloaded),
            (0.05, HttpFault::Slow),
        ]),
        ..Shape::default()
    };
    let report = run(&shape).await;
    assert!(
        report.errors.keys().all(|k| !k.ends_with("after content")),
        "{report:?}"
    );
    let failed: usize = report.errors.values().sum();
    assert_eq!(report.answered + failed, shape.requests);
    assert!(report.answered * 10 >= shape.requests * 9, "{report:?}");
}
