"""Blocking calls through the real code path: Python dicts -> Rust request -> HTTP ->
loopback upstream -> Rust response -> Python objects."""

import json

import pytest

import llmward
from conftest import USER, completion, text_stream


def test_chat_returns_text_usage_and_metadata(provider, upstream):
    upstream.push({"json": completion("Hello there", model="m-2024", usage=(12, 3)),
                   "headers": {"x-request-id": "req_abc"}})
    r = provider.chat(USER, model="m")
    assert isinstance(r, llmward.ChatResponse)
    assert r.text == "Hello there"
    assert r.finish_reason == "stop"
    assert r.model == "m-2024"
    assert r.provider == "openai-compatible"
    assert r.request_id == "req_abc"
    assert r.id == "chatcmpl-test-1"
    assert r.tool_calls == []
    assert r.reasoning is None
    u = r.usage
    assert (u.input_tokens, u.output_tokens, u.total_tokens) == (12, 3, 15)
    assert (u.cached_input_tokens, u.cache_write_tokens, u.reasoning_tokens) == (0, 0, 0)
    d = r.to_dict()
    assert d["text"] == "Hello there"
    assert d["usage"]["input_tokens"] == 12
    assert d["request_id"] == "req_abc"
    assert "Hello there" in repr(r)


def test_request_body_carries_every_option(provider, upstream):
    provider.chat(
        [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ]},
        ],
        model="m",
        max_tokens=77,
        temperature=0.5,
        top_p=0.9,
        stop=["END"],
        tags={"tenant": "acme"},
        extra={"seed": 7, "user": "u-1"},
        reasoning_effort="low",
    )
    body = upstream.last_json()
    assert body["model"] == "m"
    assert body["max_tokens"] == 77
    assert body["temperature"] == 0.5
    assert body["top_p"] == 0.9
    assert body["stop"] == ["END"]
    assert body["seed"] == 7 and body["user"] == "u-1"
    assert body["reasoning_effort"] == "low"
    assert "tenant" not in json.dumps(body), "tags are never sent"
    system, user = body["messages"]
    assert system == {"role": "system", "content": "Be brief."}
    parts = user["content"]
    assert parts[0] == {"type": "text", "text": "What is this?"}
    assert parts[1]["image_url"]["url"] == "https://example.com/cat.png"
    assert parts[1]["image_url"]["detail"] == "low"
    assert parts[2]["image_url"]["url"] == "data:image/png;base64,iVBORw0KGgo="


def test_tool_call_round_trip(provider, upstream):
    tools = [{
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }]
    upstream.push({"json": completion(None, finish="tool_calls",
                                      tool_calls=[("call_1", "weather", {"city": "Berlin"})])})
    first = provider.chat(USER, model="m", tools=tools, tool_choice="auto")
    assert first.finish_reason == "tool_calls"
    (call,) = first.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_1", "weather", {"city": "Berlin"})
    assert call.to_dict()["function"]["arguments"] == '{"city":"Berlin"}'
    sent = upstream.last_json()
    assert sent["tools"][0]["function"]["name"] == "weather"
    assert sent["tool_choice"] == "auto"

    upstream.push({"json": completion("15 degrees")})
    second = provider.chat(
        USER + [first, {"role": "tool", "tool_call_id": "call_1", "content": "15C"}],
        model="m",
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "weather"}},
    )
    assert second.text == "15 degrees"
    messages = upstream.last_json()["messages"]
    assert messages[1]["role"] == "assistant"
    assert messages[1]["tool_calls"][0]["id"] == "call_1"
    assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Berlin"}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": "15C"}
    assert upstream.last_json()["tool_choice"] == {"type": "function", "function": {"name": "weather"}}


def test_tool_call_arguments_as_dict_or_string(provider, upstream):
    for arguments in ({"q": "x"}, '{"q": "x"}'):
        provider.chat(
            USER + [
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "search", "arguments": arguments}}]},
                {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "found"}]},
            ],
            model="m",
        )
        sent = upstream.last_json()["messages"]
        assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"q": "x"}
        assert sent[2]["content"] == "found"


def test_chat_response_to_message_is_an_openai_dict(provider, upstream):
    upstream.push({"json": completion(None, finish="tool_calls", tool_calls=[("c9", "f", {"a": 1})])})
    r = provider.chat(USER, model="m")
    m = r.to_message()
    assert m["role"] == "assistant" and m["content"] is None
    assert m["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    provider.chat(USER + [m, {"role": "tool", "tool_call_id": "c9", "content": "ok"}], model="m")


def test_json_schema_response_format(provider, upstream):
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"],
              "additionalProperties": False}
    upstream.push({"json": completion('{"answer": 42}')})
    r = provider.chat(USER, model="m",
                      response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
    assert json.loads(r.text) == {"answer": 42}
    rf = upstream.last_json()["response_format"]
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["name"] == "answer"
    assert rf["json_schema"]["schema"] == schema
    assert rf["json_schema"]["strict"] is True
    provider.chat(USER, model="m", response_format={"type": "json_object"})
    assert upstream.last_json()["response_format"] == {"type": "json_object"}


def test_embeddings(provider, upstream):
    e = provider.embed(["one", "two", "three"], model="emb", dimensions=8)
    assert len(e) == 3 and len(e.vectors) == 3
    assert all(len(v) == 8 for v in e.vectors)
    assert e.model == "emb"
    assert upstream.last_json()["input"] == ["one", "two", "three"]
    assert upstream.last_json()["dimensions"] == 8
    single = provider.embed("just one", model="emb")
    assert len(single.vectors) == 1


def test_default_model_and_names(upstream):
    p = llmward.OpenAICompatible(upstream.url + "/v1", name="local-llama")
    assert p.name == "local-llama"
    r = p.chat(USER, model="llama3.1:8b")
    assert r.provider == "local-llama"
    assert "authorization" not in {k for k, _ in upstream.requests()[-1]["headers"]}, "keyless"
    assert isinstance(p, llmward.Provider)
    assert repr(p) == f'OpenAICompatible(name="local-llama", base_url="{upstream.url}/v1")'


def test_anthropic_and_gemini_through_their_echo(upstream):
    upstream.mode("anthropic")
    claude = llmward.Anthropic(api_key="sk-ant-fixture-Hq3Jv8Ns2Lc", base_url=upstream.url)
    r = claude.chat([{"role": "system", "content": "Be brief."}] + USER, model="claude-x", max_tokens=50)
    assert r.text == "Hello from testkit"
    assert r.provider == "anthropic"
    body = upstream.last_json()
    assert body["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])
    assert body["max_tokens"] == 50
    events = [e.type for e in claude.stream(USER, model="claude-x")]
    assert "text" in events and events[-1] in ("finish", "usage")
    with pytest.raises(llmward.UnsupportedError):
        claude.embed(["x"], model="e")

    upstream.mode("gemini")
    gemini = llmward.Gemini(api_key="gemini-fixture-Wd5Rb1Tx7Kp", base_url=upstream.url + "/v1beta")
    r = gemini.chat(USER, model="gemini-x")
    assert r.text == "Hello from testkit"
    assert r.provider == "gemini"
    req = upstream.requests()[-1]
    assert "key=" not in req["path"], "the Gemini key never goes in the URL"
    assert dict(req["headers"])["x-goog-api-key"] == "gemini-fixture-Wd5Rb1Tx7Kp"
    assert gemini.stream(USER, model="gemini-x").collect().text == "Hello from testkit"


def test_stream_equals_chat(provider, upstream):
    upstream.push({"sse": text_stream(["Hel", "lo"])})
    streamed = provider.stream(USER, model="m").collect()
    upstream.push({"json": completion("Hello")})
    whole = provider.chat(USER, model="m")
    assert streamed.text == whole.text == "Hello"
    assert streamed.usage == whole.usage
    assert streamed.finish_reason == whole.finish_reason
