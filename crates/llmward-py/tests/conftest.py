"""Fixtures: the testkit's loopback upstream (`llmward-upstream`) as a subprocess, scripted
over its HTTP control API, and providers pointed at it."""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import random
import string
import subprocess
import sys

import pytest

import llmward

ROOT = pathlib.Path(__file__).resolve().parents[3]


def pytest_sessionstart(session):
    """scripts/test-python runs this suite against the installed wheel: with
    LLMWARD_REQUIRE_INSTALLED set, a `llmward` imported from the source tree stops the run."""
    source = ROOT / "crates" / "llmward-py" / "python"
    if os.environ.get("LLMWARD_REQUIRE_INSTALLED") and source in pathlib.Path(llmward.__file__).resolve().parents:
        pytest.exit(f"llmward was imported from the source tree ({llmward.__file__}), not the installed wheel", 2)


def _canary_seed() -> int:
    env = os.environ.get("LLMWARD_CANARY_SEED")
    return int(env) if env else random.SystemRandom().randrange(2**63)


CANARY_SEED = _canary_seed()


def make_canary(prefix: str, label: str) -> str:
    """A key shaped like a real one, derived from CANARY_SEED and `label`. Every run of 8
    characters of its secret part holds two capitals G-Z and two digits, so it can never be a
    number, a hex string or a word printed by chance."""
    rng = random.Random(f"{CANARY_SEED}:{label}")
    any_char = string.ascii_letters + string.digits
    classes = ["GHIJKLMNOPQRSTUVWXYZ", any_char, string.digits, any_char]
    return prefix + "".join(rng.choice(classes[i % 4]) for i in range(40))


# Tests assert it is never found anywhere (see `secret_found`).
CANARY = make_canary("sk-proj-", "python")

PUBLIC_PREFIXES = (
    "sk-ant-api03-", "sk-ant-admin01-", "sk-ant-", "sk-proj-", "sk-svcacct-", "sk-admin-",
    "sk-or-v1-", "sk-", "AIza", "xai-", "gsk_", "ya29.",
)


def secret_found(text: str, secret: str) -> bool:
    """llmward's one redaction rule (SECURITY.md): the whole secret, a run of 8 characters of
    its secret part (after its public prefix), or a mask followed by its last 4 characters."""
    prefix = next((p for p in PUBLIC_PREFIXES if len(secret) > len(p) and secret.startswith(p)), "")
    part = secret[len(prefix):]
    if secret in text:
        return True
    if any(part[i:i + 8] in text for i in range(len(part) - 7)):
        return True
    tail = secret[-4:]
    return len(secret) >= 8 and any(m + tail in text for m in ("*", "\u2022", "\u2026", ".."))


def pytest_report_header(config):
    return f"canary seed: {CANARY_SEED} (replay with LLMWARD_CANARY_SEED={CANARY_SEED})"


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(pytest_report_header(None))


def upstream_binary() -> str:
    env = os.environ.get("LLMWARD_UPSTREAM")
    if env:
        return env
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    for profile in ("release", "debug"):
        path = target / profile / "llmward-upstream"
        if path.exists():
            return str(path)
    pytest.exit("llmward-upstream is not built: run scripts/test-python", returncode=2)


class Upstream:
    """A running llmward-upstream: `url`, and the control API as methods."""

    def __init__(self, url: str, process: subprocess.Popen):
        self.url = url
        self.process = process
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)

    def _control(self, method: str, command: str, body=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, "/__testkit/" + command, body=data, headers={"Connection": "close"})
            response = conn.getresponse()
            payload = json.loads(response.read() or b"null")
            if response.status != 200:
                raise AssertionError(f"control {command} failed: {payload}")
            return payload
        finally:
            conn.close()

    def push(self, *specs: dict) -> None:
        """Queues replies (each a spec dict: status, json/body/sse, headers, delays...)."""
        self._control("POST", "push", list(specs))

    def default(self, spec: dict | None) -> None:
        self._control("POST", "default", spec if spec is not None else {"echo": True})

    def mode(self, mode: str) -> None:
        self._control("POST", "mode", {"mode": mode})

    def recording(self, on: bool) -> None:
        self._control("POST", "recording", {"on": on})

    def clear(self) -> None:
        self._control("POST", "clear")

    def requests(self) -> list[dict]:
        return self._control("GET", "requests")

    def last_json(self) -> dict:
        reqs = self.requests()
        assert reqs, "no request reached the upstream"
        return reqs[-1]["json"]

    def connections(self) -> dict:
        return self._control("GET", "connections")

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_upstream() -> Upstream:
    process = subprocess.Popen(
        [upstream_binary()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().strip()
    if not line.startswith("LISTENING "):
        process.kill()
        raise RuntimeError(f"llmward-upstream did not start: {line!r}")
    return Upstream(line.split()[1], process)


@pytest.fixture(scope="session")
def upstream_server():
    server = start_upstream()
    yield server
    server.stop()


@pytest.fixture
def upstream(upstream_server):
    upstream_server.clear()
    yield upstream_server
    upstream_server.clear()


@pytest.fixture
def own_upstream():
    """An upstream of the test's own, for tests that count its connections."""
    server = start_upstream()
    yield server
    server.stop()


@pytest.fixture
def provider(upstream):
    """An OpenAI-compatible provider on the upstream, with a static key."""
    return llmward.OpenAICompatible(upstream.url + "/v1", api_key="sk-fixture-Q7vX2mZk9LpR4tWy")


# --- OpenAI wire-format helpers (the upstream's echo speaks the same format) ---

USER = [{"role": "user", "content": "hi"}]


def completion(text="Hello", model="m", usage=(10, 5), finish="stop", tool_calls=None):
    message = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": cid,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for cid, name, args in tool_calls
        ]
        if text is None:
            message["content"] = None
    return {
        "id": "chatcmpl-test-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        },
    }


def chunk(delta=None, finish=None, usage=None, model="m"):
    body = {
        "id": "chatcmpl-test-2",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [] if delta is None and finish is None else [
            {"index": 0, "delta": delta or {}, "finish_reason": finish}
        ],
    }
    if usage:
        body["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        }
    return "data: " + json.dumps(body) + "\n\n"


DONE = "data: [DONE]\n\n"


def text_stream(pieces, usage=(10, 5)):
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": p}) for p in pieces]
    chunks.append(chunk(finish="stop"))
    chunks.append(chunk(usage=usage))
    chunks.append(DONE)
    return chunks


def error(status, code, message, headers=None):
    spec = {
        "status": status,
        "json": {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}},
        "headers": {"x-request-id": "req_test_1", **(headers or {})},
    }
    return spec


def python() -> str:
    return sys.executable
