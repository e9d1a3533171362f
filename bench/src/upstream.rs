//! The upstream process (`bench --upstream`): llmward-testkit's loopback server with the
//! OpenAI echo handler, recording off, and a few path-based behaviours the measurements need.
//! It prints its URL on stdout and exits when its stdin closes (its parent is gone).

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use llmward_testkit::{Recorded, Reply, Upstream, openai};

/// Text pieces of a `/stream20/` answer: 20 content chunks.
pub const STREAM20_PIECES: [&str; 20] = [
    "Rayleigh",
    " scattering",
    " makes",
    " short",
    " blue",
    " wavelengths",
    " scatter",
    " more",
    " than",
    " long",
    " red",
    " ones,",
    " so",
    " the",
    " sky",
    " looks",
    " blue",
    " by",
    " day",
    ".",
];

/// The answer text of the echo handler's non-streaming reply.
pub const ECHO_TEXT: &str = "Hello from testkit";

/// First content piece of a `/slow/` stream, sent before it stalls.
pub const SLOW_FIRST: &str = "Hello";

fn wants_stream(rec: &Recorded) -> bool {
    // Both llmward and the floor encode compactly; the alternatives too.
    let b = &rec.body[..];
    b.windows(13).any(|w| w == b"\"stream\":true")
}

fn model_of(rec: &Recorded) -> String {
    serde_json::from_slice::<serde_json::Value>(&rec.body)
        .ok()
        .and_then(|v| v.get("model").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "gpt-bench".to_owned())
}

/// Runs the upstream until stdin closes.
pub fn run() -> std::process::ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("upstream: no runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let upstream = Upstream::start().await;
        upstream.set_recording(false);
        let echo = openai::handler();
        let flip = AtomicU64::new(0);
        upstream.set_handler(move |rec: &Recorded| {
            let path = rec.path.as_str();
            if path.starts_with("/fail503/") {
                openai::error(503, "server_error", "The server is overloaded.")
            } else if path.starts_with("/r429zero/") {
                // Every other request is refused with Retry-After: 0.
                if flip.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
                    openai::error(429, "rate_limit_exceeded", "Rate limit reached.")
                        .header("retry-after", "0")
                } else {
                    echo(rec)
                }
            } else if path.starts_with("/stream20/") && wants_stream(rec) {
                Reply::sse(openai::stream_text(&model_of(rec), &STREAM20_PIECES))
            } else if path.starts_with("/slow/") && wants_stream(rec) {
                // The role chunk and the first content chunk, then nothing until the client leaves.
                Reply::sse(openai::stream_text(&model_of(rec), &[SLOW_FIRST, " there"]))
                    .stall_after(2)
            } else {
                echo(rec)
            }
        });
        println!("{}", upstream.url());
        let _ = std::io::stdout().flush();
        // Serve until the parent closes our stdin (or dies).
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await;
        upstream.shutdown();
    });
    std::process::ExitCode::SUCCESS
}

/// A running upstream child; killed when dropped.
pub struct UpstreamProcess {
    child: Child,
    _stdin: Option<ChildStdin>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// How it was placed, for the report.
    pub placement: String,
}

impl Drop for UpstreamProcess {
    fn drop(&mut self) {
        self._stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `exe --upstream`, on CPU `cpu` through taskset when given.
pub fn spawn(cpu: Option<usize>) -> Result<UpstreamProcess, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd;
    let placement;
    if let Some(cpu) = cpu {
        cmd = Command::new("taskset");
        cmd.arg("-c").arg(cpu.to_string()).arg(&exe);
        placement = format!("upstream process pinned to CPU {cpu} (taskset)");
    } else {
        cmd = Command::new(&exe);
        placement = "upstream process not pinned".to_owned();
    }
    cmd.arg("--upstream")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawning the upstream: {e}"))?;
    let stdin = child.stdin.take();
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| "upstream has no stdout".to_owned())?;
    // Read the first line byte by byte: nothing else is ever written.
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stdout.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => line.push(byte[0]),
            _ => {
                let _ = child.kill();
                return Err("the upstream exited before printing its URL".to_owned());
            }
        }
    }
    let url = String::from_utf8_lossy(&line).trim().to_owned();
    if !url.starts_with("http://127.0.0.1:") {
        let _ = child.kill();
        return Err(format!("unexpected upstream URL {url:?}"));
    }
    Ok(UpstreamProcess {
        child,
        _stdin: stdin,
        url,
        placement,
    })
}
