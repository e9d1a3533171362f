"""llmward's exceptions: one class per kind of failure, all subclasses of LlmwardError.

The message is the Rust error's text, already redacted: it never contains a key, a header
value, a URL query or a request body.
"""

from __future__ import annotations

import builtins

__all__ = [
    "LlmwardError",
    "AuthError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "QuotaExceededError",
    "OverloadedError",
    "ServerError",
    "TimeoutError",
    "ConnectError",
    "ContextLengthError",
    "ContentFilterError",
    "InvalidRequestError",
    "ModelOutputError",
    "ProtocolError",
    "StreamTruncatedError",
    "ResponseTooLargeError",
    "RedirectedError",
    "BudgetExceededError",
    "ConfigError",
    "UnsupportedError",
    "CancelledError",
]


class LlmwardError(Exception):
    """A llmward call failed.

    Attributes:
        kind: what went wrong, in snake_case (``"rate_limited"``, ``"auth"``, ...).
        status: the HTTP status, when the provider answered.
        provider: the provider instance that failed, when known.
        request_id: the provider's request id, when it sent one.
        retry_after: seconds the provider asked to wait, or None.
        attempts: for a router, one dict per failed attempt
            (``route``, ``kind``, ``status``, ``request_id``); empty otherwise.
    """

    kind: str = "error"
    status: int | None
    provider: str | None
    request_id: str | None
    retry_after: float | None
    attempts: list[dict[str, object]]

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        status: int | None = None,
        provider: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: list[dict[str, object]] | None = None,
    ) -> None:
        """Raised by llmward with the error's attributes; ``message`` is already redacted."""
        super().__init__(message)
        self.kind = kind if kind is not None else type(self).kind
        self.status = status
        self.provider = provider
        self.request_id = request_id
        self.retry_after = retry_after
        self.attempts = list(attempts) if attempts else []

    def __reduce__(self):  # keeps the attributes through pickling (multiprocessing)
        return (
            _rebuild,
            (
                type(self),
                str(self),
                {
                    "kind": self.kind,
                    "status": self.status,
                    "provider": self.provider,
                    "request_id": self.request_id,
                    "retry_after": self.retry_after,
                    "attempts": self.attempts,
                },
            ),
        )


def _rebuild(cls, message, attributes):
    return cls(message, **attributes)


class AuthError(LlmwardError):
    """The key is missing, malformed or rejected."""

    kind = "auth"


class PermissionDeniedError(LlmwardError):
    """The key is valid but may not use this model or resource."""

    kind = "permission_denied"


class NotFoundError(LlmwardError):
    """The model, deployment or endpoint does not exist."""

    kind = "not_found"


class RateLimitError(LlmwardError):
    """Too many requests right now; waiting helps (see ``retry_after``)."""

    kind = "rate_limited"


class QuotaExceededError(LlmwardError):
    """Out of quota or over a spend cap: waiting does not help on this route."""

    kind = "quota_exceeded"


class OverloadedError(LlmwardError):
    """The provider is overloaded (503, Anthropic 529)."""

    kind = "overloaded"


class ServerError(LlmwardError):
    """The provider failed (500, 502, 504)."""

    kind = "server"


class TimeoutError(LlmwardError, builtins.TimeoutError):
    """The call took longer than allowed; also a builtin ``TimeoutError``."""

    kind = "timeout"


class ConnectError(LlmwardError):
    """No connection could be made, or it broke before a response arrived."""

    kind = "connect"


class ContextLengthError(LlmwardError):
    """The prompt is longer than the model's context window."""

    kind = "context_length_exceeded"


class ContentFilterError(LlmwardError):
    """The provider refused the prompt for its content."""

    kind = "content_filtered"


class InvalidRequestError(LlmwardError):
    """The provider rejected the request as invalid."""

    kind = "invalid_request"


class ModelOutputError(LlmwardError):
    """The model produced something the provider rejected; a retry may succeed."""

    kind = "model_output"


class ProtocolError(LlmwardError):
    """The provider answered with something llmward cannot understand."""

    kind = "protocol"


class StreamTruncatedError(LlmwardError):
    """The stream ended without the provider's end marker."""

    kind = "stream_truncated"


class ResponseTooLargeError(LlmwardError):
    """A response body, SSE line or event was larger than its cap."""

    kind = "response_too_large"


class RedirectedError(LlmwardError):
    """The provider answered with a redirect, which llmward never follows."""

    kind = "redirected"


class BudgetExceededError(LlmwardError):
    """A budget or guard rail refused the request before it was sent."""

    kind = "budget_exceeded"


class ConfigError(LlmwardError):
    """A setting or a key is invalid (raised when a provider or router is built)."""

    kind = "config"


class UnsupportedError(LlmwardError):
    """The provider does not support what the request asks for."""

    kind = "unsupported"


class CancelledError(LlmwardError):
    """The call was cancelled."""

    kind = "cancelled"


# Looked up by the native module: the exception class for each error kind.
_BY_KIND = {
    cls.kind: cls
    for cls in (
        AuthError,
        PermissionDeniedError,
        NotFoundError,
        RateLimitError,
        QuotaExceededError,
        OverloadedError,
        ServerError,
        TimeoutError,
        ConnectError,
        ContextLengthError,
        ContentFilterError,
        InvalidRequestError,
        ModelOutputError,
        ProtocolError,
        StreamTruncatedError,
        ResponseTooLargeError,
        RedirectedError,
        BudgetExceededError,
        ConfigError,
        UnsupportedError,
        CancelledError,
    )
}
