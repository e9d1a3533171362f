//! llmward's benchmark: llmward against the floor (raw reqwest + serde_json) and against the
//! Rust alternatives, on a loopback upstream running in its own process.
//!
//! ```text
//! bench [--smoke] [--rounds N] [--rows FILE] [--no-pin] [--alternatives-only]
//!                                                         measure and print one markdown table
//! bench --one KIND [--requests N] [--stream]              N sequential calls (for callgrind)
//! bench --upstream                                        the upstream process (internal)
//! bench --mem-child KIND URL N                            the memory client process (internal)
//! ```
//! KIND is floor, llmward, routed, async-openai or genai. See bench/README.md.

#[cfg(feature = "alternatives")]
mod alternatives;
mod clients;
mod measure;
mod report;
mod router;
mod upstream;

use std::io::Write;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Instant;

use clients::{Client, Kind, Res};
use llmward::Provider;
use measure::{Round, Sizes};
use report::{Goal, Row};

/// Set in the re-executed, pinned process.
const PINNED_ENV: &str = "LLMWARD_BENCH_PINNED";

struct Options {
    smoke: bool,
    rounds: usize,
    rows: Option<String>,
    pin: bool,
    alternatives_only: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--upstream") => upstream::run(),
        Some("--mem-child") => measure::mem_child(&args[1..]),
        Some("--one") => report_err(one(&args[1..])),
        Some("-h" | "--help") => {
            println!(
                "usage: bench [--smoke] [--rounds N] [--rows FILE] [--no-pin] [--alternatives-only]\n       bench --one KIND [--requests N] [--stream]\nKIND: floor, llmward, routed, async-openai, genai"
            );
            ExitCode::SUCCESS
        }
        _ => match parse(&args) {
            Ok(opts) => report_err(orchestrate(opts)),
            Err(e) => report_err(Err(e)),
        },
    }
}

fn report_err(r: Res<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Res<Options> {
    let mut opts = Options {
        smoke: false,
        rounds: 0,
        rows: None,
        pin: true,
        alternatives_only: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => opts.smoke = true,
            "--no-pin" => opts.pin = false,
            "--alternatives-only" if cfg!(feature = "alternatives") => {
                opts.alternatives_only = true;
            }
            "--rounds" => {
                opts.rounds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--rounds needs a positive number")?;
            }
            "--rows" => opts.rows = Some(it.next().ok_or("--rows needs a file")?.clone()),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if opts.rounds == 0 {
        opts.rounds = if opts.smoke { 1 } else { 5 };
    }
    Ok(opts)
}

fn runtime() -> Res<tokio::runtime::Runtime> {
    // One thread: the client is pinned to one CPU, and a multi-thread runtime there would only
    // add cross-thread wake-ups. Every client kind gets the same runtime.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Re-runs this command on CPU 0 under taskset; None when pinning does not apply.
fn pin_self(opts: &Options) -> Option<Res<()>> {
    if !opts.pin || std::env::var_os(PINNED_ENV).is_some() || cpus() < 2 || !has_taskset() {
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return Some(Err(format!("current_exe: {e}"))),
    };
    let status = Command::new("taskset")
        .arg("-c")
        .arg("0")
        .arg(exe)
        .args(std::env::args().skip(1))
        .env(PINNED_ENV, "1")
        .status();
    Some(match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("pinned run exited with {s}")),
        Err(e) => Err(format!("taskset: {e}")),
    })
}

fn orchestrate(opts: Options) -> Res<()> {
    if let Some(result) = pin_self(&opts) {
        return result;
    }
    let pinned = std::env::var_os(PINNED_ENV).is_some();
    let sizes = if opts.smoke {
        Sizes::SMOKE
    } else {
        Sizes::FULL
    };
    let upstream = upstream::spawn(pinned.then_some(1))?;
    let placement = if pinned {
        format!("client pinned to CPU 0, {}", upstream.placement)
    } else if !opts.pin {
        "no pinning (--no-pin)".to_owned()
    } else {
        format!(
            "no pinning ({} CPU(s), taskset {})",
            cpus(),
            if has_taskset() { "present" } else { "absent" }
        )
    };
    let url = upstream.url.clone();
    let mut kinds = Kind::available();
    if opts.alternatives_only {
        kinds.retain(|k| !matches!(k, Kind::Llmward | Kind::Routed));
    }
    let rt = runtime()?;

    let body_note = rt.block_on(check_request_bytes())?;
    let notes = vec![
        placement,
        "client runtime: tokio current-thread; HTTP/1.1 on loopback; every client uses \
         llmward_core::build_client (ring, preconfigured rustls)"
            .to_owned(),
        body_note,
        format!(
            "{} round(s), interleaved ({}); per round: {} sequential chats, {} chats at {} in flight, \
             {} streams of 20 chunks, {} failover/retry calls, {} open streams",
            opts.rounds,
            kinds.iter().map(|k| k.arg()).collect::<Vec<_>>().join(", "),
            sizes.sequential,
            sizes.concurrent,
            sizes.in_flight,
            sizes.streams,
            sizes.failover,
            sizes.open_streams
        ),
    ];
    for n in &notes {
        eprintln!("bench: {n}");
    }

    let stream_text = measure::stream20_text();
    let mut rounds: Vec<Round> = Vec::new();
    let mem_rounds = if opts.smoke { 1 } else { opts.rounds.min(3) };
    for round in 0..opts.rounds {
        let started = Instant::now();
        let mut order = kinds.clone();
        if round % 2 == 1 {
            order.reverse();
        }
        let mut r = Round::new();
        rt.block_on(async {
            let label = |i: usize| order[i].label().to_owned();
            let clients = order
                .iter()
                .map(|&k| Client::new(k, &url, "", ""))
                .collect::<Res<Vec<_>>>()?;
            for (i, (p50, p99)) in measure::sequential(&clients, sizes)
                .await?
                .into_iter()
                .enumerate()
            {
                r.insert(("seq_p50", label(i)), p50);
                r.insert(("seq_p99", label(i)), p99);
            }
            drop(clients);
            let clients = order
                .iter()
                .map(|&k| Client::new(k, &url, "", "").map(Arc::new))
                .collect::<Res<Vec<_>>>()?;
            for (i, rps) in measure::concurrent(&clients, sizes)
                .await?
                .into_iter()
                .enumerate()
            {
                r.insert(("throughput", label(i)), rps);
            }
            drop(clients);
            let clients = order
                .iter()
                .map(|&k| Client::new(k, &url, "/stream20", &stream_text))
                .collect::<Res<Vec<_>>>()?;
            for (i, (last, first)) in measure::streams(&clients, sizes)
                .await?
                .into_iter()
                .enumerate()
            {
                r.insert(("stream_last", label(i)), last);
                r.insert(("stream_first", label(i)), first);
            }
            drop(clients);
            if !opts.alternatives_only {
                for (name, p50) in measure::fallbacks(&url, sizes).await? {
                    r.insert(("fallback", name), p50);
                }
            }
            Ok::<(), String>(())
        })?;
        derive(&mut r);
        if round < mem_rounds {
            for &kind in &order {
                let (_, peak) = measure::memory(kind, &url, sizes.open_streams)?;
                r.insert(("memory", kind.label().to_owned()), peak);
            }
        }
        eprintln!(
            "bench: round {}/{} done in {:.1} s",
            round + 1,
            opts.rounds,
            started.elapsed().as_secs_f64()
        );
        rounds.push(r);
    }
    drop(upstream);

    let rows: Vec<String> = rows(&kinds, sizes)
        .iter()
        .filter_map(|row| report::render(row, &rounds))
        .collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", report::HEADER);
    for row in &rows {
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(out);
    for n in &notes {
        let _ = writeln!(out, "- {n}");
    }
    if let Some(path) = opts.rows {
        let mut text = rows.join("\n");
        text.push('\n');
        for n in &notes {
            text.push_str(&format!("- {n}\n"));
        }
        std::fs::write(&path, text).map_err(|e| format!("writing {path}: {e}"))?;
    }
    Ok(())
}

/// How ratio columns name the floor of this build.
const FLOOR_REF: &str = if cfg!(feature = "alternatives") {
    "floor, alternatives build"
} else {
    "floor"
};
const FLOOR_1: &str = "floor: 1 request";
const DIRECT_1: &str = "llmward direct: 1 request";
const FAILOVER: &str = "llmward routed: failover 503 → 200";
const RETRY: &str = "llmward routed: 429 Retry-After: 0, retried";

/// Per-round derived numbers: what a fallback costs over a direct call.
fn derive(r: &mut Round) {
    let get = |r: &Round, c: &str| r.get(&("fallback", c.to_owned())).copied();
    if let (Some(f), Some(d)) = (get(r, FAILOVER), get(r, DIRECT_1)) {
        r.insert(("fallback_extra", FAILOVER.to_owned()), f - d);
    }
    if let (Some(f), Some(d)) = (get(r, RETRY), get(r, DIRECT_1)) {
        r.insert(("fallback_extra", RETRY.to_owned()), f - d);
    }
}

fn rows(kinds: &[Kind], sizes: Sizes) -> Vec<Row> {
    let floor = Kind::Floor.label().to_owned();
    let vs_floor = |metric: &'static str| Some((metric, floor.clone(), FLOOR_REF));
    let goal_for = |kind: Kind, g: Goal| match kind {
        Kind::Llmward | Kind::Routed => g,
        _ => Goal::None,
    };
    let mut rows = Vec::new();
    let seq: &'static str = if sizes.sequential >= 1000 {
        "chat, sequential (2,000), p50"
    } else {
        "chat, sequential, p50"
    };
    for &kind in kinds {
        rows.push(Row {
            measurement: seq,
            metric: "seq_p50",
            client: kind.label().to_owned(),
            unit: "µs",
            reference: (kind != Kind::Floor).then(|| vs_floor("seq_p50")).flatten(),
            goal: goal_for(kind, Goal::RatioMax(1.05)),
        });
    }
    for &kind in kinds {
        rows.push(Row {
            measurement: "chat, sequential, p99",
            metric: "seq_p99",
            client: kind.label().to_owned(),
            unit: "µs",
            reference: (kind != Kind::Floor).then(|| vs_floor("seq_p99")).flatten(),
            goal: Goal::None,
        });
    }
    for &kind in kinds {
        rows.push(Row {
            measurement: "chat, 64 in flight, throughput",
            metric: "throughput",
            client: kind.label().to_owned(),
            unit: "req/s",
            reference: (kind != Kind::Floor)
                .then(|| vs_floor("throughput"))
                .flatten(),
            goal: goal_for(kind, Goal::RatioMin(0.95)),
        });
    }
    for &kind in kinds {
        rows.push(Row {
            measurement: "stream, 20 chunks, p50 to last chunk",
            metric: "stream_last",
            client: kind.label().to_owned(),
            unit: "µs",
            reference: (kind != Kind::Floor)
                .then(|| vs_floor("stream_last"))
                .flatten(),
            goal: goal_for(kind, Goal::RatioMax(1.10)),
        });
    }
    for &kind in kinds {
        rows.push(Row {
            measurement: "stream, 20 chunks, p50 to first token",
            metric: "stream_first",
            client: kind.label().to_owned(),
            unit: "µs",
            reference: (kind != Kind::Floor)
                .then(|| vs_floor("stream_first"))
                .flatten(),
            goal: goal_for(kind, Goal::RatioMax(1.10)),
        });
    }
    let fb = |client: &str, reference: Option<(&'static str, String, &'static str)>, goal| Row {
        measurement: "fallback, p50 per call",
        metric: "fallback",
        client: client.to_owned(),
        unit: "µs",
        reference,
        goal,
    };
    if !kinds.contains(&Kind::Llmward) {
        return with_memory(rows, kinds, sizes);
    }
    rows.push(fb(FLOOR_1, None, Goal::None));
    rows.push(fb(
        "floor: 503, then 200 by hand",
        Some(("fallback", FLOOR_1.to_owned(), "floor: 1 request")),
        Goal::None,
    ));
    rows.push(fb(
        "floor: 429, then 200 by hand",
        Some(("fallback", FLOOR_1.to_owned(), "floor: 1 request")),
        Goal::None,
    ));
    rows.push(fb(
        DIRECT_1,
        Some(("fallback", FLOOR_1.to_owned(), "floor: 1 request")),
        Goal::None,
    ));
    for (name, by_hand) in [
        (FAILOVER, "floor: 503, then 200 by hand"),
        (RETRY, "floor: 429, then 200 by hand"),
    ] {
        rows.push(fb(
            name,
            Some(("fallback", DIRECT_1.to_owned(), "llmward direct: 1 request")),
            Goal::RatioMax(2.0),
        ));
        rows.push(fb(
            name,
            Some(("fallback", by_hand.to_owned(), by_hand)),
            Goal::None,
        ));
    }
    for name in [FAILOVER, RETRY] {
        rows.push(Row {
            measurement: "fallback, extra over a direct call",
            metric: "fallback_extra",
            client: name.to_owned(),
            unit: "µs",
            reference: Some((
                "fallback",
                FLOOR_1.to_owned(),
                "one round trip (floor: 1 request)",
            )),
            goal: Goal::RatioMax(1.0),
        });
    }
    with_memory(rows, kinds, sizes)
}

fn with_memory(mut rows: Vec<Row>, kinds: &[Kind], sizes: Sizes) -> Vec<Row> {
    let floor = Kind::Floor.label().to_owned();
    let vs_floor = |metric: &'static str| Some((metric, floor.clone(), FLOOR_REF));
    let goal_for = |kind: Kind, g: Goal| match kind {
        Kind::Llmward | Kind::Routed => g,
        _ => Goal::None,
    };
    let mem: &'static str = if sizes.open_streams == 1000 {
        "1,000 open streams, client peak RSS"
    } else {
        "open streams, client peak RSS"
    };
    for &kind in kinds {
        rows.push(Row {
            measurement: mem,
            metric: "memory",
            client: kind.label().to_owned(),
            unit: "MiB",
            reference: (kind != Kind::Floor).then(|| vs_floor("memory")).flatten(),
            goal: goal_for(kind, Goal::ValueMax(64.0)),
        });
    }
    rows
}

/// Sends one llmward chat and one stream to a recording upstream and compares the bodies with
/// the floor's.
async fn check_request_bytes() -> Res<String> {
    let up = llmward_testkit::Upstream::start().await;
    up.set_handler(llmward_testkit::openai::handler());
    let provider = clients::llmward_provider(&format!("{}/v1", up.url()), "local")?;
    let request = clients::llmward_request()?;
    provider
        .chat(&request)
        .await
        .map_err(|e| format!("llmward: {e}"))?;
    let mut s = provider
        .chat_stream(&request)
        .await
        .map_err(|e| format!("llmward: {e}"))?;
    while let Some(ev) = s.next().await {
        ev.map_err(|e| format!("llmward: {e}"))?;
    }
    let recorded = up.requests();
    up.shutdown();
    let [chat, stream] = recorded.as_slice() else {
        return Err(format!(
            "expected 2 recorded requests, got {}",
            recorded.len()
        ));
    };
    let floor_chat = clients::floor_request_bytes(false)?;
    let floor_stream = clients::floor_request_bytes(true)?;
    if chat.body[..] == floor_chat[..] && stream.body[..] == floor_stream[..] {
        return Ok(format!(
            "request bodies: the floor sends byte-identical bodies to llmward's ({} and {} bytes), \
             encoding them per request",
            floor_chat.len(),
            floor_stream.len()
        ));
    }
    let same_json = |a: &[u8], b: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(a).ok()
            == serde_json::from_slice::<serde_json::Value>(b).ok()
    };
    if same_json(&chat.body, &floor_chat) && same_json(&stream.body, &floor_stream) {
        // serde_json's preserve_order (turned on by a dependency of the alternatives) changes
        // llmward's key order, not its content.
        return Ok(format!(
            "request bodies: the floor sends the same JSON as llmward ({} and {} bytes; key order \
             differs in this build), encoding it per request",
            floor_chat.len(),
            floor_stream.len()
        ));
    }
    Err(format!(
        "the floor's request bodies differ from llmward's:\n llmward: {}\n floor:   {}\n llmward: {}\n floor:   {}",
        String::from_utf8_lossy(&chat.body),
        String::from_utf8_lossy(&floor_chat),
        String::from_utf8_lossy(&stream.body),
        String::from_utf8_lossy(&floor_stream)
    ))
}

/// `--one KIND [--requests N] [--stream]`: N sequential calls of one client kind after a
/// 20-call warm-up, against an upstream child process (not traced by valgrind).
fn one(args: &[String]) -> Res<()> {
    const USAGE: &str = "usage: --one KIND [--requests N] [--stream]   (KIND: floor, llmward, routed, \
                         async-openai, genai; or a fallback call: failover, retry429, \
                         floor-failover, floor-retry429)";
    let mut it = args.iter();
    let name = it.next().ok_or(USAGE)?.clone();
    let mut n = 1000usize;
    let mut stream = false;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--requests" => {
                n = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--requests needs a number")?;
            }
            "--stream" => stream = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let upstream = upstream::spawn(None)?;
    let url = upstream.url.clone();
    let rt = runtime()?;
    let text = measure::stream20_text();
    rt.block_on(async {
        let prefix = if stream { "/stream20" } else { "" };
        let fail = format!("{url}/fail503/v1/chat/completions");
        let r429 = format!("{url}/r429zero/v1/chat/completions");
        let c = match name.as_str() {
            "failover" => Client::failover(&url)?,
            "retry429" => Client::new(Kind::Routed, &url, "/r429zero", "")?,
            "floor-failover" | "floor-retry429" => Client::new(Kind::Floor, &url, "", "")?,
            other => Client::new(Kind::parse(other).ok_or(USAGE)?, &url, prefix, &text)?,
        };
        for _ in 0..n + 20 {
            match name.as_str() {
                "floor-failover" => c.floor_two_requests(&fail, 503, None).await?,
                "floor-retry429" => c.floor_two_requests(&r429, 429, Some(&r429)).await?,
                _ if stream => {
                    c.stream().await?;
                }
                _ => c.chat().await?,
            }
        }
        Ok::<(), String>(())
    })?;
    println!(
        "{} {} calls of {name}",
        n + 20,
        if stream { "stream" } else { "chat" }
    );
    Ok(())
}
