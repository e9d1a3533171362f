"""asyncio: real awaitables on one shared runtime, many at once, cancellation upstream."""

import asyncio
import collections.abc
import sys
import time

import pytest

import llmward
from conftest import USER, completion, error, text_stream


def run(coro):
    return asyncio.run(coro)


def test_achat_is_a_coroutine_usable_with_asyncio_run(provider, upstream):
    call = provider.achat(USER, model="m")
    assert isinstance(call, collections.abc.Coroutine)
    r = asyncio.run(call)
    assert r.text == "Hello from testkit"


def test_two_hundred_concurrent_achat(provider, upstream):
    async def main():
        calls = [provider.achat([{"role": "user", "content": f"n{i}"}], model=f"m{i}") for i in range(200)]
        return await asyncio.gather(*calls)

    results = run(main())
    assert len(results) == 200
    assert [r.model for r in results] == [f"m{i}" for i in range(200)]
    assert len(upstream.requests()) == 200


def test_concurrent_calls_overlap_instead_of_queueing(provider, upstream):
    # 20 calls that each wait 2 s upstream finish together (about 2 s), not one after another
    # (40 s); the bound sits far from both, so a busy machine cannot decide the outcome.
    upstream.default({"json": completion(), "delay_ms": 2000})

    async def main():
        start = time.perf_counter()
        await asyncio.gather(*[provider.achat(USER, model="m") for _ in range(20)])
        return time.perf_counter() - start

    elapsed = run(main())
    assert elapsed < 20.0, f"calls did not overlap: {elapsed:.2f}s"


def test_event_loop_is_not_blocked(provider, upstream):
    # A blocked loop would tick once at most; a free one ticks about 200 times in 2 s.
    upstream.push({"json": completion(), "delay_ms": 2000})

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        await provider.achat(USER, model="m")
        t.cancel()
        return ticks

    assert run(main()) >= 10


def test_achat_raises_llmward_errors(provider, upstream):
    upstream.push(error(429, "rate_limit_exceeded", "Rate limit reached", headers={"retry-after": "3"}))

    async def main():
        with pytest.raises(llmward.RateLimitError) as info:
            await provider.achat(USER, model="m")
        return info.value

    e = run(main())
    assert e.retry_after == 3.0


def test_arguments_are_checked_when_called(provider):
    with pytest.raises(ValueError, match="unknown role"):
        provider.achat([{"role": "robot", "content": "x"}], model="m")


def test_astream_and_collect(provider, upstream):
    upstream.push({"sse": text_stream(["a", "b", "c"])})

    async def main():
        stream = provider.astream(USER, model="m")
        texts = []
        async for event in stream:
            if event.type == "text":
                texts.append(event.text)
            if len(texts) == 2:
                break
        whole = await stream.collect()
        return texts, whole

    texts, whole = run(main())
    assert texts == ["a", "b"]
    assert whole.text == "abc", "collect keeps what was already iterated"
    assert whole.usage.output_tokens == 5


def test_astream_context_manager_closes(provider, upstream):
    upstream.push({"sse": text_stream(["a"])})

    async def main():
        async with provider.astream(USER, model="m") as stream:
            first = await stream.__anext__()
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        return first

    assert run(main()).text == "a"


def test_aembed(provider, upstream):
    e = run(provider.aembed(["x", "y"], model="emb"))
    assert len(e.vectors) == 2


def wait_for_open(upstream, expected, timeout=30.0):
    deadline = time.time() + timeout
    while True:
        # The control request's own connection is open while it is answered.
        open_now = upstream.connections()["open"] - 1
        if open_now == expected or time.time() > deadline:
            return open_now
        time.sleep(0.02)


def test_cancelling_the_task_closes_the_upstream_connection(own_upstream):
    upstream = own_upstream
    provider = llmward.OpenAICompatible(upstream.url + "/v1")
    upstream.push({"json": completion(), "stall_after": 0})
    problems = []

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: problems.append(ctx))
        task = asyncio.ensure_future(provider.achat(USER, model="m"))
        while not upstream.requests():
            await asyncio.sleep(0.01)
        assert wait_for_open(upstream, 1) == 1, "the stalled request holds one connection"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    hook, unraisable = sys.unraisablehook, []
    sys.unraisablehook = unraisable.append
    try:
        run(main())
    finally:
        sys.unraisablehook = hook
    assert wait_for_open(upstream, 0) == 0, "cancelling the task dropped the connection"
    assert problems == [] and unraisable == []


def test_wait_for_timeout_cancels_upstream(own_upstream):
    upstream = own_upstream
    provider = llmward.OpenAICompatible(upstream.url + "/v1")
    upstream.push({"json": completion(), "delay_ms": 10_000})

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(provider.achat(USER, model="m"), 0.2)

    run(main())
    assert wait_for_open(upstream, 0) == 0


def test_a_call_is_awaited_once(provider, upstream):
    async def main():
        call = provider.achat(USER, model="m")
        await call
        with pytest.raises(RuntimeError, match="reuse"):
            await call

    run(main())


def test_several_event_loops_in_turn_and_in_threads(provider, upstream):
    import threading

    for _ in range(3):
        assert run(provider.achat(USER, model="m")).text == "Hello from testkit"
    results = []

    def worker():
        results.append(run(provider.achat(USER, model="m")).text)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == ["Hello from testkit"] * 4
