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
        deadline = time.time() + 10
        while not upstream.requests() and time.time() < deadline:
            time.sleep(0.01)
        assert upstream.requests(), "the child's request never arrived"
        time.sleep(0.2)
        sent = time.perf_counter()
        os.kill(child.pid, signal.SIGINT)
        out, _ = child.communicate(timeout=10)
        elapsed = time.perf_counter() - sent
    finally:
        if child.poll() is None:
            child.kill()
    assert out.strip() == "INTERRUPTED"
    assert elapsed < 1.0, f"KeyboardInterrupt took {elapsed:.2f}s"
    assert wait_for_open(upstream, 0) == 0
