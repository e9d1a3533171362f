"""keyward's exceptions: one class per kind of failure, all subclasses of KeywardError.

The message is the Rust error's text, already redacted: it never contains a key, a header
value, a URL query or a request body.
"""

from __future__ import annotations

import builtins

__all__ = [
    "KeywardError",
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


class KeywardError(Exception):
    """A keyward call failed.

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
        """Raised by keyward with the error's attributes; ``message`` is already redacted."""
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


class AuthError(KeywardError):
    """The key is missing, malformed or rejected."""

    kind = "auth"


class PermissionDeniedError(KeywardError):
    """The key is valid but may not use this model or resource."""

    kind = "permission_denied"


class NotFoundError(KeywardError):
    """The model, deployment or endpoint does not exist."""

    kind = "not_found"


class RateLimitError(KeywardError):
    """Too many requests right now; waiting helps (see ``retry_after``)."""

    kind = "rate_limited"


class QuotaExceededError(KeywardError):
    """Out of quota or over a spend cap: waiting does not help on this route."""

    kind = "quota_exceeded"


class OverloadedError(KeywardError):
    """The provider is overloaded (503, Anthropic 529)."""

    kind = "overloaded"


class ServerError(KeywardError):
    """The provider failed (500, 502, 504)."""

    kind = "server"


class TimeoutError(KeywardError, builtins.TimeoutError):
    """The call took longer than allowed; also a builtin ``TimeoutError``."""

    kind = "timeout"


class ConnectError(KeywardError):
    """No connection could be made, or it broke before a response arrived."""

    kind = "connect"


class ContextLengthError(KeywardError):
    """The prompt is longer than the model's context window."""

    kind = "context_length_exceeded"


class ContentFilterError(KeywardError):
    """The provider refused the prompt for its content."""

    kind = "content_filtered"


class InvalidRequestError(KeywardError):
    """The provider rejected the request as invalid."""

    kind = "invalid_request"


class ModelOutputError(KeywardError):
    """The model produced something the provider rejected; a retry may succeed."""

    kind = "model_output"


class ProtocolError(KeywardError):
    """The provider answered with something keyward cannot understand."""

    kind = "protocol"


class StreamTruncatedError(KeywardError):
    """The stream ended without the provider's end marker."""

    kind = "stream_truncated"


class ResponseTooLargeError(KeywardError):
    """A response body, SSE line or event was larger than its cap."""

    kind = "response_too_large"


class RedirectedError(KeywardError):
    """The provider answered with a redirect, which keyward never follows."""

    kind = "redirected"


class BudgetExceededError(KeywardError):
    """A budget or guard rail refused the request before it was sent."""

    kind = "budget_exceeded"


class ConfigError(KeywardError):
    """A setting or a key is invalid (raised when a provider or router is built)."""

    kind = "config"


class UnsupportedError(KeywardError):
    """The provider does not support what the request asks for."""

    kind = "unsupported"


class CancelledError(KeywardError):
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
