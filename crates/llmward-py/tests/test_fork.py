"""A process that forks after using llmward gets a working runtime in the child."""

import asyncio
import multiprocessing
import os
import time

import pytest

import llmward
from conftest import USER

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def wait_child(pid, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child hung")


def test_chat_in_a_forked_child(provider, upstream):
    assert provider.chat(USER, model="m").text == "Hello from testkit"
    assert asyncio.run(provider.achat(USER, model="m")).text == "Hello from testkit"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            ok = provider.chat(USER, model="child").text == "Hello from testkit"
            ok = ok and asyncio.run(provider.achat(USER, model="child-async")).model == "child-async"
            ok = ok and [e.type for e in provider.stream(USER, model="child")][0] == "text"
            code = 0 if ok else 1
        finally:
            os._exit(code)
    assert wait_child(pid) == 0
    assert provider.chat(USER, model="parent-after").model == "parent-after", "the parent still works"
    models = [r["json"]["model"] for r in upstream.requests()]
    assert "child" in models and "child-async" in models


def _work(url, queue):
    p = llmward.OpenAICompatible(url + "/v1")
    queue.put(p.chat(USER, model="mp").text)


_SHARED = {}


def _use_shared(queue):
    queue.put(_SHARED["provider"].chat(USER, model="mp-shared").text)


def test_multiprocessing_fork_start_method(provider, upstream):
    provider.chat(USER, model="m")
    _SHARED["provider"] = provider
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_use_shared, args=(queue,)) for _ in range(3)]
    procs.append(ctx.Process(target=_work, args=(upstream.url, queue)))
    for p in procs:
        p.start()
    results = [queue.get(timeout=20) for _ in procs]
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    assert results == ["Hello from testkit"] * 4
