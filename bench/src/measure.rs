//! The measurements. Each returns plain numbers; the report turns rounds of them into rows.

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::clients::{Client, Kind, Res};
use crate::upstream::STREAM20_PIECES;

/// How much of each measurement to run.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub sequential: usize,
    pub concurrent: usize,
    pub in_flight: usize,
    pub streams: usize,
    pub failover: usize,
    pub open_streams: usize,
    pub warmup: usize,
}

impl Sizes {
    pub const FULL: Sizes = Sizes {
        sequential: 2_000,
        concurrent: 20_000,
        in_flight: 64,
        streams: 500,
        failover: 500,
        open_streams: 1_000,
        warmup: 100,
    };
    pub const SMOKE: Sizes = Sizes {
        sequential: 20,
        concurrent: 256,
        in_flight: 64,
        streams: 10,
        failover: 10,
        open_streams: 50,
        warmup: 5,
    };
}

/// One round's numbers, keyed by (metric, client).
pub type Round = HashMap<(&'static str, String), f64>;

pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Blocks each measurement is cut into; clients take turns block by block (A B C, C B A, ...)
/// so each one's samples are spread over the same stretch of time and the same noise.
const BLOCKS: usize = 10;

fn block_order(clients: &[Client], block: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..clients.len()).collect();
    if block % 2 == 1 {
        order.reverse();
    }
    order
}

fn block_sizes(total: usize) -> Vec<usize> {
    let blocks = BLOCKS.min(total.max(1));
    (0..blocks)
        .map(|b| total / blocks + usize::from(b < total % blocks))
        .collect()
}

/// Sequential chats: (p50, p99) in µs per client.
pub async fn sequential(clients: &[Client], sizes: Sizes) -> Res<Vec<(f64, f64)>> {
    for c in clients {
        for _ in 0..sizes.warmup {
            c.chat().await?;
        }
    }
    let mut lat: Vec<Vec<f64>> = vec![Vec::with_capacity(sizes.sequential); clients.len()];
    for (b, n) in block_sizes(sizes.sequential).into_iter().enumerate() {
        for i in block_order(clients, b) {
            for _ in 0..n {
                let t = Instant::now();
                clients[i].chat().await?;
                lat[i].push(micros(t.elapsed()));
            }
        }
    }
    Ok(lat
        .into_iter()
        .map(|l| {
            let l = sorted(l);
            (percentile(&l, 50.0), percentile(&l, 99.0))
        })
        .collect())
}

/// `in_flight` tasks sharing `total` chats.
async fn concurrent_run(client: &Arc<Client>, in_flight: usize, total: usize) -> Res<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(in_flight);
    for _ in 0..in_flight {
        let client = client.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                client.chat().await?;
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| format!("task: {e}"))??;
    }
    Ok(())
}

/// Chats at `in_flight` concurrent: requests per second per client.
pub async fn concurrent(clients: &[Arc<Client>], sizes: Sizes) -> Res<Vec<f64>> {
    // Warm-up opens the connections.
    for c in clients {
        concurrent_run(c, sizes.in_flight, sizes.in_flight * 4).await?;
    }
    let mut busy = vec![Duration::ZERO; clients.len()];
    let order: Vec<usize> = (0..clients.len()).collect();
    for (b, n) in block_sizes(sizes.concurrent).into_iter().enumerate() {
        let mut o = order.clone();
        if b % 2 == 1 {
            o.reverse();
        }
        for i in o {
            let t = Instant::now();
            concurrent_run(&clients[i], sizes.in_flight, n).await?;
            busy[i] += t.elapsed();
        }
    }
    Ok(busy
        .into_iter()
        .map(|d| sizes.concurrent as f64 / d.as_secs_f64())
        .collect())
}

/// Sequential 20-chunk streams: (p50 to the last chunk, p50 to the first token) in µs per client.
pub async fn streams(clients: &[Client], sizes: Sizes) -> Res<Vec<(f64, f64)>> {
    for c in clients {
        for _ in 0..sizes.warmup.min(50) {
            c.stream().await?;
        }
    }
    let mut last: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    let mut first: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
    for (b, n) in block_sizes(sizes.streams).into_iter().enumerate() {
        for i in block_order(clients, b) {
            for _ in 0..n {
                let t = clients[i].stream().await?;
                last[i].push(micros(t.last_chunk));
                first[i].push(micros(t.first_token));
            }
        }
    }
    Ok(last
        .into_iter()
        .zip(first)
        .map(|(l, f)| (percentile(&sorted(l), 50.0), percentile(&sorted(f), 50.0)))
        .collect())
}

pub fn stream20_text() -> String {
    STREAM20_PIECES.concat()
}

/// Failover and 429 retry, interleaved call by call so each comparison sees the same noise.
/// Returns p50s in µs keyed by variant name.
pub async fn fallbacks(upstream: &str, sizes: Sizes) -> Res<Vec<(String, f64)>> {
    let floor = Client::new(Kind::Floor, upstream, "", "")?;
    let direct = Client::new(Kind::Llmward, upstream, "", "")?;
    let fail_url = format!("{upstream}/fail503/v1/chat/completions");
    let r429_url = format!("{upstream}/r429zero/v1/chat/completions");
    let floor429 = Client::new(Kind::Floor, upstream, "", "")?;
    let failover = Client::failover(upstream)?;
    let retry = Client::new(Kind::Routed, upstream, "/r429zero", "")?;
    let names = [
        "floor: 1 request",
        "floor: 503, then 200 by hand",
        "floor: 429, then 200 by hand",
        "llmward direct: 1 request",
        "llmward routed: failover 503 → 200",
        "llmward routed: 429 Retry-After: 0, retried",
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let total = sizes.warmup.min(20) + sizes.failover;
    for i in 0..total {
        let mut one = |k: usize, d: Duration| {
            if i >= sizes.warmup.min(20) {
                samples[k].push(micros(d));
            }
        };
        let t = Instant::now();
        floor.chat().await?;
        one(0, t.elapsed());
        let t = Instant::now();
        floor.floor_two_requests(&fail_url, 503, None).await?;
        one(1, t.elapsed());
        // The upstream alternates 429 and 200 on /r429zero/: every caller there makes two calls.
        let t = Instant::now();
        floor429
            .floor_two_requests(&r429_url, 429, Some(&r429_url))
            .await?;
        one(2, t.elapsed());
        let t = Instant::now();
        direct.chat().await?;
        one(3, t.elapsed());
        let t = Instant::now();
        failover.chat().await?;
        one(4, t.elapsed());
        let t = Instant::now();
        retry.chat().await?;
        one(5, t.elapsed());
    }
    Ok(names
        .into_iter()
        .zip(samples)
        .map(|(n, s)| (n.to_owned(), percentile(&sorted(s), 50.0)))
        .collect())
}

// ---- memory: a client child process holding many open streams ----

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// `bench --mem-child KIND UPSTREAM N`: opens N streams to `/slow/`, waits until every one
/// delivered its first content, and prints `baseline_kib=… peak_kib=…` (VmHWM).
pub fn mem_child(args: &[String]) -> std::process::ExitCode {
    let run = || -> Res<(u64, u64)> {
        let [kind, upstream, n] = args else {
            return Err("usage: --mem-child KIND UPSTREAM N".to_owned());
        };
        let kind = Kind::parse(kind).ok_or("unknown kind")?;
        let n: usize = n.parse().map_err(|_| "bad N")?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        rt.block_on(async move {
            let client = Arc::new(Client::new(kind, upstream, "/slow", "")?);
            // One stream first, so the baseline includes a warmed-up client.
            let warm = client.open_stream().await?;
            drop(warm);
            let baseline = status_kib("VmHWM:").ok_or("no VmHWM")?;
            let mut tasks = Vec::with_capacity(n);
            for _ in 0..n {
                let client = client.clone();
                tasks.push(tokio::spawn(async move { client.open_stream().await }));
            }
            let mut open = Vec::with_capacity(n);
            for task in tasks {
                open.push(task.await.map_err(|e| format!("task: {e}"))??);
            }
            let peak = status_kib("VmHWM:").ok_or("no VmHWM")?;
            drop(open);
            Ok((baseline, peak))
        })
    };
    match run() {
        Ok((baseline, peak)) => {
            println!("baseline_kib={baseline} peak_kib={peak}");
            // Exit at once: the held streams need no orderly teardown.
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("mem-child: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs a memory child for `kind`: (baseline MiB, peak MiB).
pub fn memory(kind: Kind, upstream: &str, n: usize) -> Res<(f64, f64)> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .args(["--mem-child", kind.arg(), upstream, &n.to_string()])
        .output()
        .map_err(|e| format!("mem-child: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} memory child failed: {}",
            kind.label(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let field = |name: &str| -> Res<f64> {
        stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kib| kib / 1024.0)
            .ok_or_else(|| format!("mem-child printed {stdout:?}"))
    };
    Ok((field("baseline_kib=")?, field("peak_kib=")?))
}
