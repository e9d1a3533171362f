//! Memory under a fault load: does the client's memory stay flat while a router pushes tens of
//! thousands of calls through hostile upstreams?
//!
//! ```text
//! cargo run --release --example load_rss                      # 50,000 calls, 64 in flight
//! cargo run --release --example load_rss -- --requests 200000
//! cargo run --release --example load_rss -- --no-breaker     # no route ever leaves rotation
//! ```
//!
//! The upstreams run in a separate process (this program re-executed with `--upstream`): three
//! loopback servers speaking OpenAI, Anthropic and Gemini that fail 30% of what they receive in
//! mixed ways (resets, 429s, overload, slow heads, truncated streams, mid-stream error events,
//! stalls; tests/support `load`). So the figures are the client's alone: the router, three
//! providers, their connection pools and every call's buffers. Half the calls stream. The peak
//! resident set (`VmHWM` in /proc/self/status) is printed before the run and at 10%, 50% and
//! 100% of it: if nothing accumulates, the later figures stay where the 10% one is.
//!
//! With the standard mix most calls end at once with `Overloaded` ("every route is cooling
//! down": the router fails a call while every breaker is open, however soon one reopens), so
//! few reach the upstreams; `--no-breaker` keeps every route in rotation so that every call
//! does, which is the load to judge memory by.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use support::load::{self, Ended, Shape};

fn shape() -> Shape {
    let mut shape = Shape {
        requests: 50_000,
        ..Shape::default()
    };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--requests" => shape.requests = pair[1].parse().expect("--requests N"),
            "--concurrency" => shape.concurrency = pair[1].parse().expect("--concurrency N"),
            "--seed" => shape.seed = pair[1].parse().expect("--seed N"),
            _ => {}
        }
    }
    if args.iter().any(|a| a == "--no-breaker") {
        // Every call reaches the upstreams: no route ever leaves rotation (429s ask for no
        // wait, no failure count trips the breaker), so the client carries the full load.
        shape.retry_after = "0".into();
        shape.failure_threshold = u32::MAX;
    }
    shape
}

fn main() {
    if std::env::args().any(|a| a == "--upstream") {
        upstream();
    } else {
        client();
    }
}

/// The child: starts the three faulty upstreams, prints their URLs, and serves until its
/// standard input closes (the parent exiting closes it too).
fn upstream() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let upstreams = load::start_upstreams(&shape()).await;
        let mut out = std::io::stdout().lock();
        for (upstream, _) in &upstreams {
            writeln!(out, "{}", upstream.url()).unwrap();
        }
        out.flush().unwrap();
        drop(out);
        tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await
        .unwrap();
        let attempts: usize = upstreams.iter().map(|(_, tally)| tally.total()).sum();
        eprintln!("upstream: {attempts} attempts served");
    });
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn client() {
    let shape = shape();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--upstream")
        .args(std::env::args().skip(1))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the upstream process starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let urls: Vec<String> = (0..load::ROUTES.len())
        .map(|_| lines.next().expect("an upstream URL").unwrap())
        .collect();
    println!(
        "upstreams (pid {}): {}",
        child.id(),
        load::ROUTES
            .iter()
            .zip(&urls)
            .map(|(r, u)| format!("{r} {u}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (outcomes, marks, elapsed) = runtime.block_on(async {
        let router = load::router(&urls, &shape);
        let mut marks = vec![("before", 0, load::memory_kib())];
        let checkpoints = [
            ("10%", shape.requests / 10),
            ("50%", shape.requests / 2),
            ("100%", shape.requests),
        ];
        // Only counts are kept, so the figures are llmward's, not this program's bookkeeping.
        let mut outcomes = BTreeMap::<String, usize>::new();
        let mut done = 0;
        let started = Instant::now();
        load::drive(&router, &shape, |n, end| {
            let what = match end {
                Ended::Answer(text) if text == load::answer(n) => "answered".to_owned(),
                Ended::Answer(_) => "ANOTHER CALL'S ANSWER".to_owned(),
                Ended::Failed(kind, false) => kind.to_string(),
                Ended::Failed(kind, true) => format!("{kind} after content"),
            };
            *outcomes.entry(what).or_default() += 1;
            done += 1;
            if let Some((label, _)) = checkpoints.iter().find(|(_, at)| *at == done) {
                marks.push((label, done, load::memory_kib()));
            }
        })
        .await;
        let elapsed = started.elapsed();
        for health in router.health().await {
            assert_eq!(
                health.in_flight, 0,
                "{} still has calls in flight",
                health.route
            );
        }
        (outcomes, marks, elapsed)
    });
    drop(child.stdin.take());
    let _ = child.wait();

    assert_eq!(
        outcomes.values().sum::<usize>(),
        shape.requests,
        "every call ends"
    );
    println!(
        "{} calls, {} in flight, half streaming, {:.0}% of attempts faulty{}: {:.1}s ({:.0} calls/s)",
        shape.requests,
        shape.concurrency,
        shape.mix.share() * 100.0,
        if shape.failure_threshold == u32::MAX {
            ", breaker off"
        } else {
            ""
        },
        elapsed.as_secs_f64(),
        shape.requests as f64 / elapsed.as_secs_f64()
    );
    println!("outcomes {outcomes:?}");
    println!(
        "{:>8} {:>8} {:>12} {:>12}",
        "point", "calls", "VmHWM MiB", "VmRSS MiB"
    );
    for (label, done, (hwm, rss)) in &marks {
        println!(
            "{label:>8} {done:>8} {:>12.1} {:>12.1}",
            mib(*hwm),
            mib(*rss)
        );
    }
}
