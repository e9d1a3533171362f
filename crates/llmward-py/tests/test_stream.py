"""Blocking streams: events, tool-call fragments, collecting, errors mid-stream, closing."""

import json

import pytest

import llmward
from conftest import DONE, USER, chunk, text_stream


def test_stream_events(provider, upstream):
    upstream.push({"sse": text_stream(["Hel", "lo"], usage=(7, 2))})
    events = list(provider.stream(USER, model="m"))
    assert [e.type for e in events] == ["text", "text", "finish", "usage"]
    assert "".join(e.text for e in events if e.type == "text") == "Hello"
    assert events[2].finish_reason == "stop"
    assert events[3].usage.input_tokens == 7
    assert repr(events[0]) == 'StreamEvent(type="text", text="Hel")'
    assert upstream.last_json()["stream"] is True


def test_tool_call_stream_and_collect(provider, upstream):
    args = json.dumps({"city": "Zürich", "days": 3})
    chunks = [chunk({"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_7", "type": "function", "function": {"name": "weather", "arguments": ""}}]})]
    for i in range(0, len(args), 5):
        chunks.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 5]}}]}))
    chunks += [chunk(finish="tool_calls"), chunk(usage=(20, 9)), DONE]
    upstream.push({"sse": chunks})
    stream = provider.stream(USER, model="m")
    start = next(stream)
    assert (start.type, start.index, start.id, start.name) == ("tool_call_start", 0, "call_7", "weather")
    fragments = []
    for event in stream:
        if event.type == "tool_call_delta":
            assert event.index == 0
            fragments.append(event.arguments)
    assert "".join(fragments) == args
    r = stream.collect()
    assert r.finish_reason == "tool_calls"
    assert r.tool_calls[0].arguments == {"city": "Zürich", "days": 3}


def test_collect_after_partial_iteration(provider, upstream):
    upstream.push({"sse": text_stream(["a", "b", "c", "d"])})
    stream = provider.stream(USER, model="m")
    assert next(stream).text == "a"
    assert next(stream).text == "b"
    r = stream.collect()
    assert r.text == "abcd"
    assert stream.collect().text == "abcd", "collect can be called again"
    assert list(stream) == []


def test_error_before_the_stream_starts_is_raised_by_stream(provider, upstream):
    upstream.push({"status": 401, "json": {"error": {"message": "bad key", "code": "invalid_api_key"}}})
    with pytest.raises(llmward.AuthError):
        provider.stream(USER, model="m")


def test_connection_reset_mid_stream(provider, upstream):
    upstream.push({"sse": text_stream(["a", "b", "c"]), "reset_after": 2})
    stream = provider.stream(USER, model="m")
    with pytest.raises(llmward.LlmwardError) as info:
        for _ in stream:
            pass
    assert info.value.kind in ("connect", "stream_truncated")
    with pytest.raises(type(info.value)):
        stream.collect()


def test_with_block_closes_the_connection(own_upstream):
    from test_async import wait_for_open

    upstream = own_upstream
    provider = llmward.OpenAICompatible(upstream.url + "/v1")
    upstream.push({"sse": [chunk({"content": "a"})], "stall_after": 1})
    with provider.stream(USER, model="m") as stream:
        assert next(stream).text == "a"
        assert wait_for_open(upstream, 1) == 1
    assert wait_for_open(upstream, 0) == 0


def test_dropping_a_stream_closes_the_connection(own_upstream):
    import gc

    from test_async import wait_for_open

    upstream = own_upstream
    provider = llmward.OpenAICompatible(upstream.url + "/v1")
    upstream.push({"sse": [chunk({"content": "a"})], "stall_after": 1})
    stream = provider.stream(USER, model="m")
    next(stream)
    del stream
    gc.collect()
    assert wait_for_open(upstream, 0) == 0
