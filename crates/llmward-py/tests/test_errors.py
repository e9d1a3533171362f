"""Every exception class, scripted through the upstream's statuses and bodies."""

import builtins
import socket

import pytest

import llmward
from conftest import USER, chunk, completion, error


@pytest.mark.parametrize(
    "spec, cls, kind",
    [
        (error(401, "invalid_api_key", "Incorrect API key provided"), llmward.AuthError, "auth"),
        (error(403, "forbidden", "no access to this model"), llmward.PermissionDeniedError, "permission_denied"),
        (error(404, "model_not_found", "no such model"), llmward.NotFoundError, "not_found"),
        (error(429, "insufficient_quota", "You exceeded your current quota"), llmward.QuotaExceededError,
         "quota_exceeded"),
        (error(503, "overloaded", "try later"), llmward.OverloadedError, "overloaded"),
        (error(500, "server_error", "oops"), llmward.ServerError, "server"),
        (error(408, "timeout", "too slow"), llmward.TimeoutError, "timeout"),
        (error(400, "context_length_exceeded", "maximum context length is 8192 tokens"),
         llmward.ContextLengthError, "context_length_exceeded"),
        (error(400, "content_filter", "blocked"), llmward.ContentFilterError, "content_filtered"),
        (error(400, "tool_use_failed", "bad tool call"), llmward.ModelOutputError, "model_output"),
        (error(400, "unsupported_value", "bad value"), llmward.InvalidRequestError, "invalid_request"),
        ({"status": 200, "body": "<html>not json</html>", "content_type": "text/html"}, llmward.ProtocolError,
         "protocol"),
        ({"status": 302, "headers": {"location": "https://elsewhere.example/v1/chat/completions"}},
         llmward.RedirectedError, "redirected"),
    ],
)
def test_status_maps_to_exception_class(provider, upstream, spec, cls, kind):
    upstream.push(spec)
    with pytest.raises(cls) as info:
        provider.chat(USER, model="m")
    e = info.value
    assert isinstance(e, llmward.LlmwardError)
    assert e.kind == kind == cls.kind
    assert e.provider == "openai-compatible"
    if spec["status"] not in (200,):
        assert e.status == spec["status"]
    if "x-request-id" in spec.get("headers", {}):
        assert e.request_id == "req_test_1"
    assert e.attempts == []
    assert str(e).startswith("openai-compatible: " + kind)


def test_rate_limit_has_retry_after(provider, upstream):
    upstream.push(error(429, "rate_limit_exceeded", "Rate limit reached", headers={"retry-after": "2"}))
    with pytest.raises(llmward.RateLimitError) as info:
        provider.chat(USER, model="m")
    assert info.value.retry_after == 2.0
    assert info.value.status == 429
    assert "retry after 2.000s" in str(info.value)


def test_timeout_is_a_builtin_timeout_error(provider, upstream):
    upstream.push({"json": completion(), "delay_ms": 3000})
    with pytest.raises(builtins.TimeoutError) as info:
        provider.chat(USER, model="m", timeout=0.2)
    assert isinstance(info.value, llmward.TimeoutError)
    assert info.value.kind == "timeout"


def test_connect_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = llmward.OpenAICompatible(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(llmward.ConnectError):
        p.chat(USER, model="m")


def test_response_too_large(upstream):
    p = llmward.OpenAICompatible(upstream.url + "/v1", max_body_bytes=512)
    upstream.push({"json": completion("x" * 4096)})
    with pytest.raises(llmward.ResponseTooLargeError):
        p.chat(USER, model="m")


def test_stream_truncated(provider, upstream):
    upstream.push({"sse": [chunk({"content": "partial"})]})
    with pytest.raises(llmward.StreamTruncatedError):
        provider.stream(USER, model="m").collect()


def test_config_errors():
    with pytest.raises(llmward.ConfigError, match="http"):
        llmward.OpenAICompatible("http://llm.internal.example/v1")
    ok = llmward.OpenAICompatible("http://llm.internal.example/v1", danger_allow_http_hosts=["llm.internal.example"])
    assert ok.name == "openai-compatible"
    with pytest.raises(llmward.ConfigError, match="API key is required"):
        llmward.OpenAI()
    with pytest.raises(llmward.ConfigError):
        llmward.OpenAI(api_key="sk-fixture-Mn4Bv6Cx8Za", base_url="https://user:pw@example.com/v1")


def test_unsupported(upstream):
    claude = llmward.Anthropic(api_key="sk-ant-fixture-Hq3Jv8Ns2Lc", base_url=upstream.url)
    with pytest.raises(llmward.UnsupportedError):
        claude.embed("x", model="e")


def test_cancelled_after_close(provider, upstream):
    upstream.push({"sse": [chunk({"content": "a"})], "stall_after": 1})
    s = provider.stream(USER, model="m")
    assert next(s).text == "a"
    s.close()
    assert list(s) == []
    with pytest.raises(llmward.CancelledError):
        s.collect()


def test_exceptions_pickle_with_their_attributes(provider, upstream):
    import pickle

    upstream.push(error(429, "rate_limit_exceeded", "Rate limit reached", headers={"retry-after": "1"}))
    with pytest.raises(llmward.RateLimitError) as info:
        provider.chat(USER, model="m")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is llmward.RateLimitError
    assert (copy.kind, copy.status, copy.retry_after, str(copy)) == ("rate_limited", 429, 1.0, str(info.value))


def test_every_kind_has_a_class():
    kinds = {cls.kind for cls in llmward.LlmwardError.__subclasses__()}
    assert len(kinds) == 21
