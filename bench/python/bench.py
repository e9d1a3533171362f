#!/usr/bin/env python3
"""llmward-py against the official openai SDK and LiteLLM, on the bench's upstream process.

    python bench.py --upstream-bin bench/target/release/bench [--rows FILE] [--rounds N] [--smoke]

Each library runs in its own worker process (so imports and peak RSS are its own), pinned to
CPU 0 with the upstream on CPU 1 when there are 2+ CPUs; rounds take turns between libraries
and ratios are medians of per-round ratios. Prints markdown rows in the layout of the Rust
bench (run through scripts/bench for the whole table).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODEL = "gpt-bench"
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Why is the sky blue?"},
]
EXPECTED = "Hello from testkit"
LIBS = ("llmward", "openai", "litellm")
LABELS = {"llmward": "llmward-py", "openai": "openai SDK", "litellm": "LiteLLM"}
# Requests per worker: (sequential, concurrent); the slower libraries get fewer so a round
# stays short, which does not change a median latency or a throughput.
SIZES = {
    "llmward": (1000, 10000),
    "openai": (300, 2000),
    "litellm": (200, 1000),
}
SMOKE_SIZES = {lib: (10, 128) for lib in LIBS}
IN_FLIGHT = 64


# ---- worker: one library, in its own process ----


def make_clients(lib: str, base: str):
    if lib == "llmward":
        import llmward

        provider = llmward.OpenAICompatible(base)

        def chat():
            return provider.chat(MESSAGES, model=MODEL).text

        async def achat():
            return (await provider.achat(MESSAGES, model=MODEL)).text

        return chat, achat
    if lib == "openai":
        import openai

        sync_client = openai.OpenAI(base_url=base, api_key="none")
        async_client = openai.AsyncOpenAI(base_url=base, api_key="none")

        def chat():
            r = sync_client.chat.completions.create(model=MODEL, messages=MESSAGES)
            return r.choices[0].message.content

        async def achat():
            r = await async_client.chat.completions.create(model=MODEL, messages=MESSAGES)
            return r.choices[0].message.content

        return chat, achat
    if lib == "litellm":
        import litellm

        def chat():
            r = litellm.completion(
                model="openai/" + MODEL, api_base=base, api_key="none", messages=MESSAGES
            )
            return r.choices[0].message.content

        async def achat():
            r = await litellm.acompletion(
                model="openai/" + MODEL, api_base=base, api_key="none", messages=MESSAGES
            )
            return r.choices[0].message.content

        return chat, achat
    raise SystemExit(f"unknown library {lib}")


def check(text) -> None:
    if text != EXPECTED:
        raise SystemExit(f"unexpected answer {text!r}")


async def concurrent(achat, total: int) -> float:
    import asyncio

    remaining = total

    async def worker():
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            check(await achat())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return total / (time.perf_counter() - start)


def worker_main(lib: str, base: str, seq: int, conc: int) -> None:
    import asyncio
    import resource

    chat, achat = make_clients(lib, base)
    for _ in range(min(20, seq)):
        check(chat())
    lat = []
    for _ in range(seq):
        t = time.perf_counter()
        check(chat())
        lat.append((time.perf_counter() - t) * 1e6)

    async def run():
        await concurrent(achat, IN_FLIGHT * 2)  # warm-up: opens the connections
        return await concurrent(achat, conc)

    rps = asyncio.run(run())
    print(
        json.dumps(
            {
                "seq_p50": statistics.median(lat),
                "rps": rps,
                "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def import_ms(python: str, lib: str, env: dict) -> float:
    code = f"import time; t = time.perf_counter(); import {lib}; print((time.perf_counter() - t) * 1000)"
    out = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


# ---- orchestration ----


def start_upstream(binary: str, pinned: bool):
    cmd = (["taskset", "-c", "1"] if pinned else []) + [binary, "--upstream"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"the upstream printed {url!r}")
    return proc, url


def fmt(v: float, unit: str) -> str:
    if unit == "µs":
        return f"{v / 1000:.1f} ms" if v >= 10000 else f"{v:.0f} µs"
    if unit == "req/s":
        return f"{v:,.0f} req/s"
    if unit == "MiB":
        return f"{v:.1f} MiB"
    if unit == "ms":
        return f"{v:.0f} ms"
    return f"{v:.2f} {unit}"


def rx(r: float) -> str:
    return f"{r:.0f}" if r >= 100 else f"{r:.1f}" if r >= 10 else f"{r:.3f}"


def row(measurement, client, values, unit, ratios=None, ratio_to="—", goal="—"):
    med = statistics.median(values)
    rng = f"{fmt(min(values), unit)}–{fmt(max(values), unit)}" if len(values) > 1 else "—"
    rtext = "—"
    if ratios:
        rm = statistics.median(ratios)
        rtext = f"{rx(rm)}× ({rx(min(ratios))}–{rx(max(ratios))})" if len(ratios) > 1 else f"{rx(rm)}×"
    return f"| {measurement} | {client} | {fmt(med, unit)} | {rng} | {rtext} | {ratio_to} | {goal} |"


def verdict(text: str, met: bool) -> str:
    return f"{text}: met" if met else f"{text}: **missed**"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream-bin", help="the bench binary (its --upstream mode)")
    ap.add_argument("--rows", help="also write the rows to this file")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--seq", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--conc", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    # LiteLLM otherwise fetches its model price map over the network at import time.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if args.worker:
        worker_main(args.worker, args.base, args.seq, args.conc)
        return
    if not args.upstream_bin:
        ap.error("--upstream-bin is required")

    cpus = len(os.sched_getaffinity(0))
    pinned = cpus >= 2 and subprocess.run(["which", "taskset"], capture_output=True).returncode == 0
    if pinned:
        os.sched_setaffinity(0, {0})  # the workers inherit CPU 0
    upstream, url = start_upstream(args.upstream_bin, pinned)
    env = dict(os.environ)
    sizes = SMOKE_SIZES if args.smoke else SIZES
    results = {lib: [] for lib in LIBS}
    imports = {lib: [] for lib in LIBS}
    try:
        for r in range(args.rounds):
            order = LIBS if r % 2 == 0 else tuple(reversed(LIBS))
            for lib in order:
                seq, conc = sizes[lib]
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", lib, "--base", url + "/v1",
                     "--seq", str(seq), "--conc", str(conc)],
                    env=env, capture_output=True, text=True,
                )
                if out.returncode != 0:
                    raise SystemExit(f"{lib} worker failed:\n{out.stderr[-3000:]}")
                results[lib].append(json.loads(out.stdout.strip().splitlines()[-1]))
                imports[lib].append(import_ms(sys.executable, lib, env))
            print(f"python bench: round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        upstream.stdin.close()
        upstream.kill()
        upstream.wait()

    def series(lib, key):
        return [res[key] for res in results[lib]]

    def ratios(a, b, key=None):
        xs = series(a, key) if key else imports[a]
        ys = series(b, key) if key else imports[b]
        return [x / y for x, y in zip(xs, ys)]

    kw = LABELS["llmward"]
    rows = []
    m = "python: import time"
    rows.append(row(m, kw, imports["llmward"], "ms", goal=verdict("≤ 50 ms", statistics.median(imports["llmward"]) <= 50)))
    for lib in ("openai", "litellm"):
        rows.append(row(m, LABELS[lib], imports[lib], "ms", ratios(lib, "llmward"), kw))
    m = "python: chat, sequential, p50"
    rows.append(row(m, kw, series("llmward", "seq_p50"), "µs"))
    for lib in ("openai", "litellm"):
        rows.append(row(m, LABELS[lib], series(lib, "seq_p50"), "µs", ratios(lib, "llmward", "seq_p50"), kw))
    m = "python: achat, 64 in flight, throughput"
    for lib, goal in (("openai", 10.0), ("litellm", 15.0)):
        rs = ratios("llmward", lib, "rps")
        rows.append(row(m, kw, series("llmward", "rps"), "req/s", rs, LABELS[lib],
                        verdict(f"≥ {goal:.0f}×", statistics.median(rs) >= goal)))
    for lib in ("openai", "litellm"):
        rows.append(row(m, LABELS[lib], series(lib, "rps"), "req/s"))
    m = "python: peak RSS of the worker (import, chats, 64 in flight)"
    rows.append(row(m, kw, series("llmward", "rss_mib"), "MiB"))
    for lib in ("openai", "litellm"):
        rows.append(row(m, LABELS[lib], series(lib, "rss_mib"), "MiB", ratios(lib, "llmward", "rss_mib"), kw))
    notes = [
        f"- Python: {args.rounds} round(s); each library in its own worker process"
        + (", pinned to CPU 0 with the upstream on CPU 1" if pinned else ", not pinned")
        + "; per worker: sequential chats then achat with 64 in flight ("
        + ", ".join(f"{LABELS[lib]} {s[0]}/{s[1]}" for lib, s in sizes.items())
        + "); import time in a fresh interpreter, per round; LiteLLM with LITELLM_LOCAL_MODEL_COST_MAP=True"
    ]
    text = "\n".join(rows + notes) + "\n"
    print(text, end="")
    if args.rows:
        with open(args.rows, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
