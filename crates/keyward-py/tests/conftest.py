"""Fixtures: the testkit's loopback upstream (`keyward-upstream`) as a subprocess, scripted
over its HTTP control API, and providers pointed at it."""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import subprocess
import sys

import pytest

import keyward

ROOT = pathlib.Path(__file__).resolve().parents[3]

# A key shaped like a real one; tests assert it never shows up anywhere.
CANARY = "sk-canary-7f3a9c2e41b8d6f05e19"


def upstream_binary() -> str:
    env = os.environ.get("KEYWARD_UPSTREAM")
    if env:
        return env
    for profile in ("release", "debug"):
        path = ROOT / "target" / profile / "keyward-upstream"
        if path.exists():
            return str(path)
    pytest.exit("keyward-upstream is not built: run scripts/test-python", returncode=2)


class Upstream:
    """A running keyward-upstream: `url`, and the control API as methods."""

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
        raise RuntimeError(f"keyward-upstream did not start: {line!r}")
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
    return keyward.OpenAICompatible(upstream.url + "/v1", api_key="sk-fixture-Q7vX2mZk9LpR4tWy")


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
