"""Type stubs for llmward's native module (import ``llmward``, not this module)."""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine, Generator, Iterator, Mapping, Sequence
from typing import Any, Literal, TypeVar, Union, final

from typing_extensions import Self, disjoint_base

__version__: str
__all__ = [
    "__version__",
    "Provider",
    "OpenAI",
    "AzureOpenAI",
    "OpenAICompatible",
    "Anthropic",
    "Gemini",
    "Router",
    "Route",
    "Budget",
    "ChatResponse",
    "ToolCall",
    "Usage",
    "StreamEvent",
    "Embeddings",
    "Stream",
    "AsyncStream",
    "Call",
    "_LoopWaker",
]

_T = TypeVar("_T")

_Message = Union[Mapping[str, Any], "ChatResponse"]
"""An OpenAI-style message dict (``role``: system/developer/user/assistant/tool; ``content``:
a str or a list of ``{"type": "text"}`` / ``{"type": "image_url"}`` parts; ``tool_calls``;
``tool_call_id``) or an earlier ``ChatResponse`` (the assistant turn, with its signatures)."""

_ToolSpec = Mapping[str, Any]
"""An OpenAI tool dict: ``{"type": "function", "function": {"name", "description",
"parameters", "strict"}}`` (or the flat ``{"name", "parameters"}``)."""

_ToolChoice = Union[Literal["auto", "none", "required"], Mapping[str, Any]]
_ReasoningEffort = Literal["none", "minimal", "low", "medium", "high"]
_StrPath = Union[str, os.PathLike[str]]

@final
class Call(Coroutine[Any, Any, _T]):
    """An awaitable llmward call. Await it once; it starts when first awaited; cancelling
    the task that awaits it cancels the request."""

    def __await__(self) -> Generator[Any, None, _T]: ...
    def send(self, value: Any) -> Any: ...
    def throw(self, exc: Any, value: Any = ..., traceback: Any = ...) -> Any: ...
    def close(self) -> None: ...

@final
class _LoopWaker:
    """Internal: the callable the asyncio event loop runs when llmward's socket is readable."""

    def __call__(self) -> None:
        """Resolves the asyncio futures of every call that finished."""

@final
class Usage:
    """Tokens billed for one call, with the same meaning on every provider."""

    @property
    def input_tokens(self) -> int:
        """Every prompt token billed (cached and cache-written included)."""
    @property
    def output_tokens(self) -> int:
        """Every generated token billed, reasoning included."""
    @property
    def cached_input_tokens(self) -> int:
        """Prompt tokens read from a cache."""
    @property
    def cache_write_tokens(self) -> int:
        """Prompt tokens written to a cache."""
    @property
    def reasoning_tokens(self) -> int:
        """Generated tokens spent on reasoning."""
    @property
    def total_tokens(self) -> int:
        """``input_tokens + output_tokens``."""
    def to_dict(self) -> dict[str, int]:
        """The counts as a dict."""

@final
class ToolCall:
    """A tool call the model made."""

    @property
    def id(self) -> str:
        """The call's id, for the ``tool_call_id`` of the tool message that answers it."""
    @property
    def name(self) -> str:
        """The tool's name."""
    @property
    def arguments(self) -> Any:
        """The arguments parsed (a dict; the raw str if the model produced invalid JSON)."""
    def to_dict(self) -> dict[str, Any]:
        """The call as an OpenAI ``tool_calls`` entry (arguments as a JSON string)."""

@final
class ChatResponse:
    """A model's answer, the same for every provider. Put it back in ``messages`` to
    continue the conversation: it becomes the assistant turn with its tool calls and
    reasoning signatures."""

    @property
    def text(self) -> str:
        """The answer's text (``""`` when there is none)."""
    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls, in order."""
    @property
    def reasoning(self) -> str | None:
        """The visible reasoning text, when the provider returned some."""
    @property
    def finish_reason(self) -> str:
        """``"stop"``, ``"length"``, ``"tool_calls"``, ``"content_filter"`` or the raw value."""
    @property
    def raw_finish_reason(self) -> str | None:
        """The provider's own finish value."""
    @property
    def usage(self) -> Usage | None:
        """Tokens billed, when reported."""
    @property
    def provider(self) -> str:
        """The provider instance that answered."""
    @property
    def model(self) -> str:
        """The model that answered."""
    @property
    def request_id(self) -> str | None:
        """The provider's request id (from a response header)."""
    @property
    def id(self) -> str | None:
        """The provider's id for the answer."""
    def to_dict(self) -> dict[str, Any]:
        """The answer as plain Python data."""
    def to_message(self) -> dict[str, Any]:
        """The answer as an OpenAI-style assistant message dict (without signatures)."""

@final
class StreamEvent:
    """One event of a streamed answer; fields that do not apply to its type are None."""

    @property
    def type(self) -> Literal["text", "reasoning", "tool_call_start", "tool_call_delta", "usage", "finish"]:
        """What the event is."""
    @property
    def text(self) -> str | None:
        """Text or reasoning text."""
    @property
    def index(self) -> int | None:
        """The tool call's position among this answer's calls."""
    @property
    def id(self) -> str | None:
        """The tool call's id (``tool_call_start``)."""
    @property
    def name(self) -> str | None:
        """The tool's name (``tool_call_start``)."""
    @property
    def arguments(self) -> str | None:
        """A fragment of the tool call's JSON arguments (``tool_call_delta``)."""
    @property
    def usage(self) -> Usage | None:
        """Tokens billed (``usage``)."""
    @property
    def finish_reason(self) -> str | None:
        """Why the model stopped (``finish``)."""

@final
class Stream(Iterator[StreamEvent]):
    """A streamed answer: ``for event in stream``; closing it closes the connection."""

    def __iter__(self) -> Stream: ...
    def __next__(self) -> StreamEvent: ...
    def collect(self) -> ChatResponse:
        """Reads the rest and returns the whole answer (events already iterated included)."""
    def close(self) -> None:
        """Closes the connection; iteration ends."""
    def __enter__(self) -> Stream: ...
    def __exit__(self, *args: object) -> bool: ...

@final
class AsyncStream:
    """A streamed answer for asyncio: ``async for event in stream``; the request is sent on
    the first iteration."""

    def __aiter__(self) -> AsyncStream: ...
    def __anext__(self) -> Call[StreamEvent]: ...
    def collect(self) -> Call[ChatResponse]:
        """Reads the rest and returns the whole answer (events already iterated included)."""
    def aclose(self) -> Call[None]:
        """Closes the connection; iteration ends."""
    def __aenter__(self) -> Call[AsyncStream]: ...
    def __aexit__(self, *args: object) -> Call[None]: ...

@final
class Embeddings:
    """Embedding vectors, one per input, in input order."""

    @property
    def vectors(self) -> list[list[float]]:
        """The vectors."""
    @property
    def usage(self) -> Usage | None:
        """Tokens billed, when reported."""
    @property
    def model(self) -> str:
        """The model that answered."""
    @property
    def provider(self) -> str:
        """The provider instance that answered."""
    @property
    def request_id(self) -> str | None:
        """The provider's request id."""
    def __len__(self) -> int: ...

@disjoint_base
class Provider:
    """Something that answers chat requests: a provider or a ``Router``."""

    @property
    def name(self) -> str:
        """The instance's name, shown in responses, errors and events."""
    @property
    def key_label(self) -> str | None:
        """The label of the key the next request will use (never the key)."""
    def chat(
        self,
        messages: Sequence[_Message],
        *,
        model: str,
        tools: Sequence[_ToolSpec] | None = None,
        tool_choice: _ToolChoice | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        reasoning_effort: _ReasoningEffort | None = None,
        reasoning_budget: int | None = None,
        include_thoughts: bool = False,
        tags: Mapping[str, str] | None = None,
        timeout: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> ChatResponse:
        """Sends a chat request and waits for the whole answer (GIL released; Ctrl-C
        interrupts it and cancels the request)."""
    def achat(
        self,
        messages: Sequence[_Message],
        *,
        model: str,
        tools: Sequence[_ToolSpec] | None = None,
        tool_choice: _ToolChoice | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        reasoning_effort: _ReasoningEffort | None = None,
        reasoning_budget: int | None = None,
        include_thoughts: bool = False,
        tags: Mapping[str, str] | None = None,
        timeout: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Call[ChatResponse]:
        """Like ``chat``, as an awaitable for asyncio."""
    def stream(
        self,
        messages: Sequence[_Message],
        *,
        model: str,
        tools: Sequence[_ToolSpec] | None = None,
        tool_choice: _ToolChoice | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        reasoning_effort: _ReasoningEffort | None = None,
        reasoning_budget: int | None = None,
        include_thoughts: bool = False,
        tags: Mapping[str, str] | None = None,
        timeout: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Stream:
        """Sends a chat request and returns a ``Stream`` once the answer has started."""
    def astream(
        self,
        messages: Sequence[_Message],
        *,
        model: str,
        tools: Sequence[_ToolSpec] | None = None,
        tool_choice: _ToolChoice | None = None,
        parallel_tool_calls: bool | None = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        stop: str | Sequence[str] | None = None,
        reasoning_effort: _ReasoningEffort | None = None,
        reasoning_budget: int | None = None,
        include_thoughts: bool = False,
        tags: Mapping[str, str] | None = None,
        timeout: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> AsyncStream:
        """Like ``stream``, for asyncio (the request is sent on the first iteration)."""
    def embed(
        self,
        inputs: str | Sequence[str],
        *,
        model: str,
        dimensions: int | None = None,
        timeout: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Embeddings:
        """Embeds ``inputs``; one vector per input."""
    def aembed(
        self,
        inputs: str | Sequence[str],
        *,
        model: str,
        dimensions: int | None = None,
        timeout: float | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Call[Embeddings]:
        """Like ``embed``, as an awaitable for asyncio."""
    def rotate_key(
        self,
        *,
        api_key_env: str | None = None,
        api_key_file: _StrPath | None = None,
        api_key: str | None = None,
        key_label: str | None = None,
    ) -> None:
        """Replaces the key; requests that start afterwards use the new one."""

@final
class OpenAI(Provider):
    """OpenAI Chat Completions. Prefer ``api_key_env``/``api_key_file`` (the key is read by
    Rust and never becomes a Python object) over ``api_key``."""

    def __new__(
        cls,
        *,
        api_key_env: str | None = None,
        api_key_file: _StrPath | None = None,
        api_key: str | None = None,
        key_label: str | None = None,
        base_url: str | None = None,
        name: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        stream_idle_timeout: float | None = None,
        max_body_bytes: int | None = None,
        danger_allow_http_hosts: Sequence[str] | None = None,
        ca_cert_file: _StrPath | None = None,
        client_cert_file: _StrPath | None = None,
        client_key_file: _StrPath | None = None,
    ) -> Self: ...

@final
class AzureOpenAI(Provider):
    """Azure OpenAI at ``endpoint``; a call's ``model`` is the deployment name."""

    def __new__(
        cls,
        endpoint: str,
        *,
        api_version: str | None = None,
        api_key_env: str | None = None,
        api_key_file: _StrPath | None = None,
        api_key: str | None = None,
        key_label: str | None = None,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        stream_idle_timeout: float | None = None,
        max_body_bytes: int | None = None,
        danger_allow_http_hosts: Sequence[str] | None = None,
        ca_cert_file: _StrPath | None = None,
        client_cert_file: _StrPath | None = None,
        client_key_file: _StrPath | None = None,
    ) -> Self: ...

@final
class OpenAICompatible(Provider):
    """Any OpenAI-compatible server at ``base_url`` (Ollama, vLLM, Groq, ...); the key is
    optional. Plain ``http://`` only to loopback or ``danger_allow_http_hosts``."""

    def __new__(
        cls,
        base_url: str,
        *,
        api_key_env: str | None = None,
        api_key_file: _StrPath | None = None,
        api_key: str | None = None,
        key_label: str | None = None,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_tokens_field: Literal["max_tokens", "max_completion_tokens"] | None = None,
        system_role: Literal["auto", "system", "developer"] | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        stream_idle_timeout: float | None = None,
        max_body_bytes: int | None = None,
        danger_allow_http_hosts: Sequence[str] | None = None,
        ca_cert_file: _StrPath | None = None,
        client_cert_file: _StrPath | None = None,
        client_key_file: _StrPath | None = None,
    ) -> Self: ...

@final
class Anthropic(Provider):
    """Anthropic Messages."""

    def __new__(
        cls,
        *,
        api_key_env: str | None = None,
        api_key_file: _StrPath | None = None,
        api_key: str | None = None,
        key_label: str | None = None,
        base_url: str | None = None,
        name: str | None = None,
        beta: Sequence[str] | None = None,
        default_max_tokens: int | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        stream_idle_timeout: float | None = None,
        max_body_bytes: int | None = None,
        danger_allow_http_hosts: Sequence[str] | None = None,
        ca_cert_file: _StrPath | None = None,
        client_cert_file: _StrPath | None = None,
        client_key_file: _StrPath | None = None,
    ) -> Self: ...

@final
class Gemini(Provider):
    """Google Gemini (Developer API, or Vertex AI with ``vertex_base_url``)."""

    def __new__(
        cls,
        *,
        api_key_env: str | None = None,
        api_key_file: _StrPath | None = None,
        api_key: str | None = None,
        key_label: str | None = None,
        base_url: str | None = None,
        vertex_base_url: str | None = None,
        name: str | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        stream_idle_timeout: float | None = None,
        max_body_bytes: int | None = None,
        danger_allow_http_hosts: Sequence[str] | None = None,
        ca_cert_file: _StrPath | None = None,
        client_cert_file: _StrPath | None = None,
        client_key_file: _StrPath | None = None,
    ) -> Self: ...

@final
class Budget:
    """A limit on tokens, requests or cost (USD) per window, for a router, a route or a tag."""

    def __new__(
        cls,
        *,
        tokens: int | None = None,
        requests: int | None = None,
        cost_usd: float | None = None,
        per: float | Literal["second", "minute", "hour", "day"] | None = None,
        route: str | None = None,
        tag: str | tuple[str, str] | None = None,
    ) -> Self: ...
    @property
    def name(self) -> str:
        """The budget's name, as events show it."""

@final
class Route:
    """One way to answer: a provider (or router), the model to ask it for, its aliases."""

    def __new__(
        cls,
        name: str,
        provider: Provider,
        model: str,
        *,
        aliases: str | Sequence[str] | None = None,
        tier: int = 0,
        weight: int = 1,
        context_window: int | None = None,
        timeout: float | None = None,
        max_in_flight: int | None = None,
        price: tuple[float, float] | None = None,
        budgets: Budget | Sequence[Budget] | None = None,
    ) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def provider(self) -> Provider: ...
    @property
    def model(self) -> str: ...
    @property
    def aliases(self) -> list[str]: ...
    @property
    def tier(self) -> int: ...
    @property
    def weight(self) -> int: ...
    @property
    def context_window(self) -> int | None: ...

@final
class Router(Provider):
    """A fallback router in front of ``routes``; calls name an alias as their ``model``.

    ``on_event`` receives one dict per event (snake_case fields, never a key, prompt or
    completion), in order, synchronously on the emitting thread: a slow callback slows
    requests. Its exceptions go to ``sys.unraisablehook``."""

    def __new__(
        cls,
        routes: Sequence[Route],
        *,
        name: str | None = None,
        retry: int | Mapping[str, float] | None = None,
        cooldown: float | None = None,
        failure_threshold: int | None = None,
        budget: Budget | Sequence[Budget] | None = None,
        max_tokens_ceiling: int | None = None,
        refuse_above_ceiling: bool = False,
        deadline: float | None = None,
        first_token_timeout: float | None = None,
        fallback_on_content_filter: bool = False,
        prefer_low_latency: bool = False,
        seed: int | None = None,
        on_event: Callable[[dict[str, Any]], object] | None = None,
    ) -> Self: ...
    @property
    def models(self) -> list[str]:
        """The aliases callers may ask for, sorted."""
    @property
    def routes(self) -> list[Route]:
        """The routes, in declaration order."""
    def health(self) -> list[dict[str, Any]]:
        """Each route's health now."""
    def budgets(self) -> list[dict[str, Any]]:
        """Every budget's state now."""
    def reset_cooldown(self, route: str) -> bool:
        """Puts ``route`` back in rotation; returns whether it was out."""
    def reset_anomaly(self) -> None:
        """Lifts every anomaly lock."""

