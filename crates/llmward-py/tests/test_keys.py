"""Keys: read by Rust from the variable or file named, sent only as a header, never shown in
a repr, an exception, an event, a log line or stderr."""

import logging
import os

import pytest

import llmward
from conftest import CANARY, USER, error, secret_found


def auth_header(upstream):
    return dict(upstream.requests()[-1]["headers"]).get("authorization")


def test_key_from_env(upstream, monkeypatch):
    monkeypatch.setenv("LLMWARD_TEST_KEY", CANARY)
    p = llmward.OpenAICompatible(upstream.url + "/v1", api_key_env="LLMWARD_TEST_KEY", key_label="prod-2026")
    p.chat(USER, model="m")
    assert auth_header(upstream) == f"Bearer {CANARY}"
    assert p.key_label == "prod-2026"
    assert "prod-2026" in repr(p) and CANARY not in repr(p)
    assert "?" not in upstream.requests()[-1]["path"], "never in the URL"


def test_missing_env_var_names_the_variable_only(monkeypatch):
    monkeypatch.delenv("LLMWARD_TEST_UNSET", raising=False)
    with pytest.raises(llmward.ConfigError, match="LLMWARD_TEST_UNSET is not set"):
        llmward.OpenAI(api_key_env="LLMWARD_TEST_UNSET")
    monkeypatch.setenv("LLMWARD_TEST_BAD", CANARY + " \n")
    with pytest.raises(llmward.ConfigError) as info:
        llmward.OpenAI(api_key_env="LLMWARD_TEST_BAD")
    assert CANARY not in str(info.value)


def test_key_from_file(upstream, tmp_path):
    path = tmp_path / "openai.key"
    path.write_text(CANARY + "\n")
    os.chmod(path, 0o600)
    p = llmward.OpenAICompatible(upstream.url + "/v1", api_key_file=str(path))
    p.chat(USER, model="m")
    assert auth_header(upstream) == f"Bearer {CANARY}"


def test_world_readable_key_file_is_refused(tmp_path):
    path = tmp_path / "openai.key"
    path.write_text(CANARY)
    os.chmod(path, 0o644)
    with pytest.raises(llmward.ConfigError, match="chmod 600") as info:
        llmward.OpenAI(api_key_file=path)
    assert CANARY not in str(info.value)


def test_rotate_key(upstream, monkeypatch):
    p = llmward.OpenAICompatible(upstream.url + "/v1", api_key="sk-old-0123456789", key_label="v1")
    p.chat(USER, model="m")
    assert auth_header(upstream) == "Bearer sk-old-0123456789"
    monkeypatch.setenv("LLMWARD_TEST_KEY", CANARY)
    p.rotate_key(api_key_env="LLMWARD_TEST_KEY", key_label="v2")
    p.chat(USER, model="m")
    assert auth_header(upstream) == f"Bearer {CANARY}"
    assert p.key_label == "v2"
    assert "v2" in repr(p) and CANARY not in repr(p)
    keyless = llmward.OpenAICompatible(upstream.url + "/v1")
    with pytest.raises(ValueError, match="no key"):
        keyless.rotate_key(api_key="sk-x-0123456789")


def test_canary_never_shown(upstream, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    p = llmward.OpenAICompatible(upstream.url + "/v1", api_key=CANARY, key_label="canary-label")
    seen = [repr(p), str(p), p.key_label or ""]
    # A provider that echoes the key back in its error message.
    upstream.push(error(401, "invalid_api_key", f"Incorrect API key provided: {CANARY}. Check it."))
    upstream.push(error(400, "bad", f"your key {CANARY[:12]}...{CANARY[-6:]} is odd"))
    upstream.push(error(400, "bad", f"your key sk-proj-****{CANARY[-4:]} is odd"))
    for _ in range(3):
        with pytest.raises(llmward.LlmwardError) as info:
            p.chat(USER, model="m")
        e = info.value
        seen += [str(e), repr(e), repr(e.args), repr(vars(e))]
    r = p.chat(USER, model="m")
    seen += [repr(r), repr(r.to_dict())]
    stream = p.stream(USER, model="m")
    seen += [repr(e) for e in stream]
    seen += [repr(stream), repr(stream.collect())]
    out, err = capfd.readouterr()
    seen += [out, err, caplog.text]
    for text in seen:
        assert not secret_found(text, CANARY), text


def test_a_key_given_as_a_variable_name_or_path_is_never_echoed():
    # Regression: the whole key came back in "variable is not set" / "cannot read key file".
    for kwargs in ({"api_key_env": CANARY}, {"api_key_file": CANARY}, {"api_key_file": "/tmp/" + CANARY}):
        with pytest.raises(llmward.ConfigError) as info:
            llmward.OpenAI(**kwargs)
        shown = f"{info.value} {info.value!r} {info.value.args!r}"
        assert not secret_found(shown, CANARY), shown
        assert "looks like an API key" in shown
