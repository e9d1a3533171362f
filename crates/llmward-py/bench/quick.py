"""Quick benchmark: llmward's Python bindings beside the official `openai` SDK, against the
same loopback upstream (`llmward-upstream`, a separate process, echo replies).

Measures, for each client in a fresh process, interleaved (A B A B ...) and reported as
medians over rounds:

- sequential `chat` latency (p50, p99),
- requests per second with 64 concurrent async calls,
- peak RSS of the client process,
- `import` time in a fresh interpreter (median of several).

Run with the bindings installed (scripts/test-python does that), from the repository root:

    target/py-test-venv/bin/python crates/llmward-py/bench/quick.py [--rounds 3]

The `openai` package is installed into the running environment if missing; the comparison
is skipped when that fails. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[3]
OPENAI_VERSION = "3.57.0"
MESSAGES = [{"role": "user", "content": "Say hello."}]


# --- worker side: one client, one fresh process ---


def worker(client: str, url: str, sequential: int, seconds: float, concurrency: int) -> dict:
    import asyncio
    import resource

    if client == "llmward":
        import llmward

        provider = llmward.OpenAICompatible(url + "/v1", api_key="sk-bench-0123456789")

        def chat():
            return provider.chat(MESSAGES, model="bench-model").text

        async def achat():
            return (await provider.achat(MESSAGES, model="bench-model")).text

        make_async = None
    else:
        import openai

        sync_client = openai.OpenAI(base_url=url + "/v1", api_key="sk-bench-0123456789", max_retries=0)

        def chat():
            r = sync_client.chat.completions.create(model="bench-model", messages=MESSAGES)
            return r.choices[0].message.content

        make_async = lambda: openai.AsyncOpenAI(  # noqa: E731
            base_url=url + "/v1", api_key="sk-bench-0123456789", max_retries=0
        )
        achat = None

    for _ in range(50):
        assert chat() == "Hello from testkit"
    latencies = []
    for _ in range(sequential):
        start = time.perf_counter()
        chat()
        latencies.append(time.perf_counter() - start)
    latencies.sort()

    async def throughput() -> float:
        nonlocal achat
        if make_async is not None:
            async_client = make_async()

            async def achat():
                r = await async_client.chat.completions.create(model="bench-model", messages=MESSAGES)
                return r.choices[0].message.content

        done = 0
        stop_at = 0.0

        async def loop():
            nonlocal done
            while time.perf_counter() < stop_at:
                await achat()
                done += 1

        # Warm-up opens the connections.
        await asyncio.gather(*[achat() for _ in range(concurrency)])
        start = time.perf_counter()
        stop_at = start + seconds
        await asyncio.gather(*[loop() for _ in range(concurrency)])
        return done / (time.perf_counter() - start)

    rps = asyncio.run(throughput())
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seq_p50_us": latencies[len(latencies) // 2] * 1e6,
        "seq_p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
        "rps_64": rps,
        "peak_rss_mib": maxrss_kib / 1024,
    }


# --- orchestrator ---


def upstream_binary() -> str:
    env = os.environ.get("LLMWARD_UPSTREAM")
    if env:
        return env
    path = ROOT / "target" / "release" / "llmward-upstream"
    if not path.exists():
        subprocess.run(
            ["cargo", "build", "--release", "-p", "llmward-testkit", "--bin", "llmward-upstream"],
            cwd=ROOT,
            check=True,
        )
    return str(path)


def start_upstream():
    import http.client

    proc = subprocess.Popen([upstream_binary()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[1]
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("POST", "/__testkit/recording", body=json.dumps({"on": False}))
    conn.getresponse().read()
    conn.close()
    return proc, url


def import_time(module: str, runs: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout))
    return statistics.median(times) * 1000


def have_openai() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        if version("openai") == OPENAI_VERSION:
            return True
    except PackageNotFoundError:
        pass
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"openai=={OPENAI_VERSION}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"openai SDK not installed ({done.stderr.strip().splitlines()[-1:]}); comparison skipped")
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--worker")
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.url, args.sequential, args.seconds, args.concurrency)))
        return

    clients = ["llmward"] + (["openai"] if have_openai() else [])
    proc, url = start_upstream()
    results: dict[str, list[dict]] = {c: [] for c in clients}
    try:
        for r in range(args.rounds):
            for client in clients:
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", client, "--url", url,
                     "--sequential", str(args.sequential), "--seconds", str(args.seconds),
                     "--concurrency", str(args.concurrency)],
                    capture_output=True, text=True, check=True,
                )
                results[client].append(json.loads(out.stdout))
                print(f"round {r + 1} {client}: {results[client][-1]}", flush=True)
    finally:
        proc.stdin.close()
        proc.wait(5)

    imports = {c: import_time(c, 9) for c in clients}
    summary = {
        c: {k: statistics.median(run[k] for run in results[c]) for k in results[c][0]} | {"import_ms": imports[c]}
        for c in clients
    }
    print()
    print(f"{'':10} {'seq p50 µs':>11} {'seq p99 µs':>11} {'req/s @64':>10} {'peak RSS MiB':>13} {'import ms':>10}")
    for c, s in summary.items():
        print(f"{c:10} {s['seq_p50_us']:11.0f} {s['seq_p99_us']:11.0f} {s['rps_64']:10.0f} "
              f"{s['peak_rss_mib']:13.1f} {s['import_ms']:10.1f}")
    if "openai" in summary:
        k, o = summary["llmward"], summary["openai"]
        # Medians of per-round ratios: each round ran both clients back to back.
        rps_ratio = statistics.median(a["rps_64"] / b["rps_64"] for a, b in zip(results["llmward"], results["openai"]))
        seq_ratio = statistics.median(
            a["seq_p50_us"] / b["seq_p50_us"] for a, b in zip(results["llmward"], results["openai"])
        )
        print()
        print(f"throughput at 64 concurrent: {rps_ratio:.1f}x the openai SDK (goal >= 10x)")
        print(f"sequential p50: {seq_ratio:.3f} of the openai SDK's (goal <= 0.2)")
        print(f"import: {k['import_ms']:.1f} ms (goal <= 50 ms); openai {o['import_ms']:.0f} ms")
        print(f"peak RSS: {k['peak_rss_mib']:.1f} MiB vs {o['peak_rss_mib']:.1f} MiB (goal: below)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
