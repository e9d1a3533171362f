//! A quick measurement of what the router costs over a direct provider call, on an in-process
//! loopback upstream (the full comparison, with the upstream in its own process, is
//! `scripts/bench`).
//!
//! ```text
//! cargo run --release --example route_overhead
//! ```
//!
//! Runs are interleaved (direct, routed, direct, routed, ...) and compared as medians, since a
//! shared machine is noisy.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use llmward::openai::OpenAi;
use llmward::{ChatRequest, Provider, Route, Router};
use llmward_testkit::{Reply, Upstream, openai as wire};

const ROUNDS: usize = 5;
const PER_ROUND: usize = 400;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

async fn time_calls(
    provider: &dyn Provider,
    request: &ChatRequest,
    n: usize,
) -> llmward::Result<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        provider.chat(request).await?;
        samples.push(start.elapsed());
    }
    Ok(median(samples))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> llmward::Result<()> {
    let up = Upstream::start().await;
    up.set_recording(false);
    up.set_handler(wire::handler());
    let direct = OpenAi::compatible(format!("{}/v1", up.url())).build()?;
    let routed = Router::builder()
        .route(Route::new("only", direct.clone(), "test-model").alias("default"))
        .build()?;
    let direct_request = ChatRequest::builder("test-model").user("hi").build()?;
    let routed_request = ChatRequest::builder("default").user("hi").build()?;

    // Warm the connection pool and the code paths.
    time_calls(&direct, &direct_request, 200).await?;
    time_calls(&routed, &routed_request, 200).await?;

    let mut ratios = Vec::new();
    let (mut d_all, mut r_all) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let d = time_calls(&direct, &direct_request, PER_ROUND).await?;
        let r = time_calls(&routed, &routed_request, PER_ROUND).await?;
        ratios.push(r.as_secs_f64() / d.as_secs_f64());
        d_all.push(d);
        r_all.push(r);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "sequential chat, {ROUNDS} interleaved rounds of {PER_ROUND} calls (in-process upstream)"
    );
    println!(
        "  direct p50  {:>8.1} µs",
        median(d_all).as_secs_f64() * 1e6
    );
    println!(
        "  routed p50  {:>8.1} µs",
        median(r_all).as_secs_f64() * 1e6
    );
    println!(
        "  routed / direct: median {:.3}x (min {:.3}, max {:.3})",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );

    // Failover: the first route answers 503, the second answers, with no sleep between.
    let failing = Upstream::start().await;
    failing.set_recording(false);
    failing.set_default(wire::error(503, "overloaded", "busy"));
    let failover = Router::builder()
        .route(
            Route::new(
                "flaky",
                OpenAi::compatible(format!("{}/v1", failing.url())).build()?,
                "test-model",
            )
            .alias("default"),
        )
        .route(
            Route::new("backup", direct.clone(), "test-model")
                .alias("default")
                .tier(1),
        )
        .failure_threshold(u32::MAX)
        .build()?;
    time_calls(&failover, &routed_request, 100).await?;
    let d = time_calls(&direct, &direct_request, PER_ROUND).await?;
    let f = time_calls(&failover, &routed_request, PER_ROUND).await?;
    println!(
        "failover 503 -> backup p50 {:.1} µs = {:.2}x a direct call",
        f.as_secs_f64() * 1e6,
        f.as_secs_f64() / d.as_secs_f64()
    );

    // Retry-After: 0 is retried on the same route at once.
    let zero = Upstream::start().await;
    zero.set_recording(false);
    let retry = Router::builder()
        .route(
            Route::new(
                "zero",
                OpenAi::compatible(format!("{}/v1", zero.url())).build()?,
                "test-model",
            )
            .alias("default"),
        )
        .build()?;
    let mut samples = Vec::new();
    for _ in 0..PER_ROUND {
        zero.push(wire::error(429, "rate_limit_exceeded", "slow down").header("retry-after", "0"));
        zero.push(Reply::json(200, wire::chat_completion("test-model", "ok")));
        let start = Instant::now();
        retry.chat(&routed_request).await?;
        samples.push(start.elapsed());
    }
    let z = median(samples);
    println!(
        "429 Retry-After: 0 then 200 p50 {:.1} µs = {:.2}x a direct call (no timer)",
        z.as_secs_f64() * 1e6,
        z.as_secs_f64() / d.as_secs_f64()
    );
    Ok(())
}
