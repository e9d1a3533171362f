"""The Rust router through Python: fallback with events, budgets, the ceiling, errors with
attempts, health, streaming fallback, a router as a route of another router."""

import asyncio
import sys

import pytest

import llmward
from conftest import CANARY, USER, completion, error, secret_found, text_stream


@pytest.fixture
def two_routes(upstream):
    primary = llmward.OpenAICompatible(upstream.url + "/v1", name="primary-provider", api_key=CANARY,
                                       key_label="primary-key")
    backup = llmward.OpenAICompatible(upstream.url + "/v1", name="backup-provider")
    return [
        llmward.Route("primary", primary, "model-a", aliases=["default"]),
        llmward.Route("backup", backup, "model-b", aliases=["default"], tier=1),
    ]


def test_fallback_with_events(upstream, two_routes):
    events = []
    router = llmward.Router(two_routes, on_event=events.append, seed=1)
    assert isinstance(router, llmward.Provider)
    assert router.models == ["default"]
    upstream.push(error(401, "invalid_api_key", "Incorrect API key provided"))
    r = router.chat(USER, model="default", tags={"tenant": "acme"})
    assert r.text == "Hello from testkit"
    assert r.provider == "backup-provider"
    assert [req["json"]["model"] for req in upstream.requests()] == ["model-a", "model-b"]
    attempts = [e for e in events if e["event"] == "attempt"]
    assert [(a["route"], a["outcome"]) for a in attempts] == [("primary", attempts[0]["outcome"]),
                                                            ("backup", "ok")]
    assert attempts[0]["error_kind"] == "auth" and attempts[0]["status"] == 401
    assert attempts[0]["key_label"] == "primary-key"
    assert attempts[1]["input_tokens"] == 10 and attempts[1]["output_tokens"] == 5
    assert attempts[1]["tags"] == {"tenant": "acme"}
    assert isinstance(attempts[1]["latency"], float)
    assert all(isinstance(e, dict) for e in events)
    assert any(e["event"] == "cooldown_entered" and e["route"] == "primary" for e in events)
    for e in events:
        assert not secret_found(repr(e), CANARY)
    health = {h["route"]: h for h in router.health()}
    assert health["primary"]["in_rotation"] is False
    assert health["primary"]["cooldown_remaining"] > 0
    assert router.reset_cooldown("primary") is True


def test_events_arrive_in_order_and_none_is_dropped(upstream, two_routes):
    events = []
    router = llmward.Router(two_routes, on_event=events.append)

    async def main():
        await asyncio.gather(*[router.achat(USER, model="default") for _ in range(50)])

    asyncio.run(main())
    for _ in range(20):
        router.chat(USER, model="default")
    attempts = [e for e in events if e["event"] == "attempt"]
    assert len(attempts) == 70
    assert len({a["call_id"] for a in attempts}) == 70


def test_all_routes_fail_lists_attempts(upstream, two_routes):
    router = llmward.Router(two_routes, retry=1)
    upstream.push(error(500, "server_error", "boom"), error(503, "overloaded", "busy"))
    with pytest.raises(llmward.LlmwardError) as info:
        router.chat(USER, model="default")
    e = info.value
    assert [a["route"] for a in e.attempts] == ["primary", "backup"]
    assert {a["kind"] for a in e.attempts} == {"server", "overloaded"}
    assert all(a["request_id"] == "req_test_1" for a in e.attempts)
    assert "attempts:" in str(e)


def test_unknown_alias_is_refused(upstream, two_routes):
    router = llmward.Router(two_routes)
    with pytest.raises(llmward.InvalidRequestError):
        router.chat(USER, model="gpt-anything")
    assert upstream.requests() == []


def test_budget_refusal(upstream, two_routes):
    events = []
    router = llmward.Router(two_routes, budget=llmward.Budget(requests=2, per="minute"), on_event=events.append)
    router.chat(USER, model="default")
    router.chat(USER, model="default")
    with pytest.raises(llmward.BudgetExceededError) as info:
        router.chat(USER, model="default")
    assert info.value.kind == "budget_exceeded"
    assert len(upstream.requests()) == 2, "the refused call sent nothing"
    refused = [e for e in events if e["event"] == "refused"]
    assert refused and refused[0]["reason"]
    (status,) = router.budgets()
    assert status["limit"] == 2 and status["remaining"] == 0 and status["metric"] == "requests"


def test_tag_and_token_budgets(upstream, two_routes):
    acme = llmward.Budget(tokens=20, per=3600, tag="tenant=acme")
    router = llmward.Router(two_routes, budget=[acme], max_tokens_ceiling=5)
    assert "tenant=acme" in acme.name
    router.chat(USER, model="default", tags={"tenant": "acme"})
    with pytest.raises(llmward.BudgetExceededError):
        for _ in range(5):
            router.chat(USER, model="default", tags={"tenant": "acme"})
    router.chat(USER, model="default", tags={"tenant": "other"})


def test_max_tokens_ceiling(upstream, two_routes):
    clamp = llmward.Router(two_routes, max_tokens_ceiling=100)
    clamp.chat(USER, model="default", max_tokens=5000)
    assert upstream.last_json()["max_tokens"] == 100
    refuse = llmward.Router(two_routes, max_tokens_ceiling=100, refuse_above_ceiling=True)
    with pytest.raises(llmward.BudgetExceededError):
        refuse.chat(USER, model="default", max_tokens=5000)


def test_stream_falls_back_before_content(upstream, two_routes):
    router = llmward.Router(two_routes, retry=1)
    upstream.push(error(500, "server_error", "boom"), {"sse": text_stream(["x", "y"])})
    stream = router.stream(USER, model="default")
    assert "".join(e.text for e in stream if e.type == "text") == "xy"
    assert stream.collect().provider == "backup-provider"


def test_router_of_routers_and_mixed_providers(upstream, two_routes):
    inner = llmward.Router(two_routes, name="inner")
    outer = llmward.Router([llmward.Route("inner", inner, "default", aliases=["smart"])])
    assert outer.chat(USER, model="smart").text == "Hello from testkit"
    assert "inner" in repr(outer)
    with pytest.raises(TypeError, match="Route provider"):
        llmward.Route("x", "not a provider", "m")
    with pytest.raises(TypeError, match="Route"):
        llmward.Router(["not a route"])
    with pytest.raises(llmward.ConfigError):
        llmward.Router([])
    with pytest.raises(ValueError, match="retry"):
        llmward.Router(two_routes, retry={"attempts": 2})
    with pytest.raises(ValueError, match="exactly one"):
        llmward.Budget(tokens=1, requests=1)


def test_on_event_exception_is_reported_and_harmless(upstream, two_routes):
    reported = []

    def broken(event):
        raise RuntimeError("callback bug")

    hook = sys.unraisablehook
    sys.unraisablehook = reported.append
    try:
        router = llmward.Router(two_routes, on_event=broken)
        assert router.chat(USER, model="default").text == "Hello from testkit"
        assert asyncio.run(router.achat(USER, model="default")).text == "Hello from testkit"
    finally:
        sys.unraisablehook = hook
    assert len(reported) >= 2
    assert all(isinstance(r.exc_value, RuntimeError) for r in reported)


def test_blocking_call_inside_on_event_is_refused_not_deadlocked(upstream, two_routes):
    reported = []
    provider = two_routes[1].provider

    def nested(event):
        provider.chat(USER, model="m")

    hook = sys.unraisablehook
    sys.unraisablehook = reported.append
    try:
        router = llmward.Router(two_routes, on_event=nested)
        assert router.chat(USER, model="default").text == "Hello from testkit"
    finally:
        sys.unraisablehook = hook
    assert reported and isinstance(reported[0].exc_value, RuntimeError)
    assert "on_event" in str(reported[0].exc_value)


def test_on_event_exception_goes_to_stderr_by_default(upstream):
    import subprocess
    import textwrap

    script = textwrap.dedent(
        """
        import sys, llmward
        p = llmward.OpenAICompatible(sys.argv[1] + "/v1", api_key=sys.argv[2])
        r = llmward.Router([llmward.Route("only", p, "m")], on_event=lambda e: 1 / 0)
        print(r.chat([{"role": "user", "content": "hi"}], model="m").text)
        """
    )
    done = subprocess.run([sys.executable, "-c", script, upstream.url, CANARY], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0
    assert done.stdout.strip() == "Hello from testkit"
    assert "ZeroDivisionError" in done.stderr
    assert not secret_found(done.stderr + done.stdout, CANARY)


def test_router_in_forked_child(upstream, two_routes):
    import os

    from test_fork import wait_child

    events = []
    router = llmward.Router(two_routes, on_event=events.append)
    router.chat(USER, model="default")
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = router.chat(USER, model="default").text == "Hello from testkit" and len(events) >= 2
        finally:
            os._exit(0 if ok else 1)
    assert wait_child(pid) == 0


def test_router_in_a_reference_cycle_is_collected(upstream, two_routes):
    import gc
    import weakref

    class Agent:
        def __init__(self):
            self.events = []
            self.router = llmward.Router(two_routes, on_event=self.on_event)

        def on_event(self, event):
            self.events.append(event)

    agent = Agent()
    agent.router.chat(USER, model="default")
    assert agent.events
    gone = weakref.ref(agent)
    del agent
    gc.collect()
    assert gone() is None, "the agent -> router -> on_event -> agent cycle was collected"
