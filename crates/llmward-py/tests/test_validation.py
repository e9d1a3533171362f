"""Malformed arguments raise TypeError/ValueError with a message that names the culprit;
never a panic, never a crash on deeply nested input."""

import pytest

import llmward
from conftest import USER

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def nested(depth, leaf=1):
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def nested_list(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


CASES = [
    (dict(messages="hi"), TypeError, "messages must be a list"),
    (dict(messages=[1]), TypeError, r"messages\[0\] must be a dict or a ChatResponse, not int"),
    (dict(messages=[]), ValueError, "at least one message"),
    (dict(messages=[{"content": "x"}]), ValueError, r"messages\[0\] needs a \"role\""),
    (dict(messages=[{"role": "robot", "content": "x"}]), ValueError, "unknown role \"robot\""),
    (dict(messages=[{"role": 5, "content": "x"}]), TypeError, r"messages\[0\].role must be a str"),
    (dict(messages=[{"role": "user", "content": 5}]), TypeError, "content must be a str or a list"),
    (dict(messages=[{"role": "user", "content": [{"type": "audio"}]}]), ValueError, "unknown content part"),
    (dict(messages=[{"role": "user", "content": [{"type": "text"}]}]), ValueError, "needs a \"text\""),
    (dict(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:xx"}}]}]),
     ValueError, "data URL"),
    (dict(messages=[{"role": "tool", "content": "x"}]), ValueError, "tool_call_id"),
    (dict(messages=[{"role": "user", "content": "x", "tool_calls": []}]), ValueError, "only assistant"),
    (dict(messages=[{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": 3}}]}]),
     TypeError, "arguments must be a JSON str or a dict"),
    (dict(messages=[{"role": "assistant", "tool_calls": [{"id": "c"}]}]), ValueError, "needs a \"function\""),
    (dict(tools="f"), TypeError, "tools must be a list"),
    (dict(tools=[{"type": "function"}]), ValueError, r"tools\[0\] needs a \"function\""),
    (dict(tools=[{"type": "retrieval"}]), ValueError, "must be \"function\""),
    (dict(tools=[{"type": "function", "function": {"parameters": {}}}]), ValueError, "needs a \"name\""),
    (dict(tools=[{"type": "function", "function": {"name": "f", "parameters": "{}"}}]), TypeError,
     "parameters must be a dict"),
    (dict(tools=[TOOL, TOOL]), ValueError, "declared twice"),
    (dict(tool_choice="sometimes"), ValueError, "tool_choice must be"),
    (dict(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "g"}}), ValueError, "not declared"),
    (dict(response_format={"type": "json_schema"}), ValueError, "json_schema"),
    (dict(response_format={"type": "yaml"}), ValueError, "response_format.type"),
    (dict(response_format="json"), TypeError, "response_format must be a dict"),
    (dict(max_tokens=0), ValueError, "max_tokens must be between 1"),
    (dict(max_tokens=-5), ValueError, "max_tokens must be between 1"),
    (dict(max_tokens=2**40), ValueError, "max_tokens must be between 1"),
    (dict(max_tokens="10"), TypeError, "max_tokens"),
    (dict(temperature="hot"), TypeError, "temperature"),
    (dict(temperature=float("nan")), ValueError, "temperature"),
    (dict(reasoning_effort="max"), ValueError, "reasoning_effort"),
    (dict(reasoning_budget=-1), ValueError, "reasoning_budget"),
    (dict(stop=[1]), TypeError, r"stop\[0\] must be a str"),
    (dict(tags={"a": 1}), TypeError, "tags"),
    (dict(tags=["a"]), TypeError, "tags must be a dict"),
    (dict(timeout=-1), ValueError, "timeout"),
    (dict(timeout=float("inf")), ValueError, "timeout"),
    (dict(extra={"a": object()}), TypeError, "not JSON serializable"),
    (dict(extra={1: 2}), TypeError, "keys must be str"),
    (dict(extra={"a": float("nan")}), ValueError, "not valid JSON"),
    (dict(extra={"a": 2**70}), ValueError, "64 bits"),
    (dict(extra=[1]), TypeError, "extra must be a dict"),
    (dict(extra=nested(10_000)), ValueError, "deeper than 64"),
    (dict(extra={"x": nested_list(100_000)}), ValueError, "deeper than 64"),
    (dict(tools=[{"type": "function", "function": {"name": "f", "parameters": nested(500)}}]), ValueError,
     "deeper than 64"),
    (dict(model=""), ValueError, "model is empty"),
]


@pytest.mark.parametrize("kwargs, exc, message", CASES)
def test_malformed_arguments(provider, upstream, kwargs, exc, message):
    args = {"messages": USER, "model": "m", **kwargs}
    for method in (provider.chat, provider.achat, provider.stream, provider.astream):
        with pytest.raises(exc, match=message) as info:
            method(**args)
        assert type(info.value).__module__ == "builtins", "a plain TypeError/ValueError, never a panic"
    assert upstream.requests() == [], "nothing was sent"


def test_deep_tool_arguments_string_is_kept_as_text(provider, upstream):
    deep = "[" * 100_000 + "]" * 100_000
    provider.chat(
        USER + [{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": deep}}]},
                {"role": "tool", "tool_call_id": "c", "content": "ok"}],
        model="m",
    )
    sent = upstream.last_json()["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert len(sent) > 100_000


def test_wrong_embed_arguments(provider):
    with pytest.raises(TypeError):
        provider.embed(5, model="e")
    with pytest.raises(ValueError):
        provider.embed(["x"], model="e", dimensions=0)
    with pytest.raises(ValueError):
        provider.embed(["x"], model="")


def test_constructor_arguments():
    with pytest.raises(ValueError, match="only one of"):
        llmward.OpenAI(api_key_env="A", api_key="b")
    with pytest.raises(TypeError):
        llmward.OpenAI(api_key=5)
    with pytest.raises(TypeError):
        llmward.OpenAICompatible("http://127.0.0.1:1/v1", danger_allow_http_hosts="host")
    with pytest.raises(ValueError, match="connect_timeout"):
        llmward.OpenAICompatible("http://127.0.0.1:1/v1", connect_timeout=0)
    with pytest.raises(ValueError, match="go together"):
        llmward.OpenAICompatible("http://127.0.0.1:1/v1", client_cert_file="/nonexistent")
    with pytest.raises(llmward.ConfigError, match="cannot read CA certificate file"):
        llmward.OpenAICompatible("http://127.0.0.1:1/v1", ca_cert_file="/nonexistent/ca.pem")
    with pytest.raises(ValueError, match="max_tokens_field"):
        llmward.OpenAICompatible("http://127.0.0.1:1/v1", max_tokens_field="tokens")
    with pytest.raises(TypeError, match="headers"):
        llmward.OpenAI(api_key="sk-fixture-Mn4Bv6Cx8Za", headers={"x": 1})
    with pytest.raises(TypeError):
        llmward.OpenAI("positional")
