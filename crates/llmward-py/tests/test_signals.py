"""Ctrl-C interrupts a blocking call promptly and cancels its request."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from conftest import completion
from test_async import wait_for_open

CHILD = textwrap.dedent(
    """
    import sys, time
    import llmward
    p = llmward.OpenAICompatible(sys.argv[1] + "/v1")
    print("READY", flush=True)
    try:
        p.chat([{"role": "user", "content": "hi"}], model="m")
        print("RETURNED", flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    """
)


def test_sigint_interrupts_a_blocked_chat(own_upstream):
    upstream = own_upstream
    upstream.push({"json": completion(), "stall_after": 0})
    child = subprocess.Popen([sys.executable, "-c", CHILD, upstream.url], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "READY"
        deadline = time.time() + 30
        while not upstream.requests() and time.time() < deadline:
            time.sleep(0.01)
        assert upstream.requests(), "the child's request never arrived"
        time.sleep(0.2)
        sent = time.perf_counter()
        os.kill(child.pid, signal.SIGINT)
        # The interrupt is what is measured, not the interpreter's exit; the bound is far above
        # the 50 ms slices the wait checks for signals in, so a busy machine cannot trip it.
        line = child.stdout.readline().strip()
        elapsed = time.perf_counter() - sent
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert line == "INTERRUPTED", (line, out)
    assert elapsed < 5.0, f"KeyboardInterrupt took {elapsed:.2f}s"
    assert wait_for_open(upstream, 0, timeout=30.0) == 0
