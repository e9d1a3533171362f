"""llmward: one API for OpenAI, Anthropic, Gemini and OpenAI-compatible servers, with a
fallback router, built for the program that holds every provider key.

    import llmward

    openai = llmward.OpenAI(api_key_env="OPENAI_API_KEY")
    answer = openai.chat([{"role": "user", "content": "Hi"}], model="gpt-4.1-mini")
    print(answer.text)

Keys are read by the Rust core from the environment variable or file you name and never
become Python objects. Everything runs in Rust: conversions are checked on the calling
thread, requests run on one shared runtime, the GIL is released while waiting.
"""

from ._errors import (
    AuthError,
    BudgetExceededError,
    CancelledError,
    ConfigError,
    ConnectError,
    ContentFilterError,
    ContextLengthError,
    InvalidRequestError,
    LlmwardError,
    ModelOutputError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProtocolError,
    QuotaExceededError,
    RateLimitError,
    RedirectedError,
    ResponseTooLargeError,
    ServerError,
    StreamTruncatedError,
    TimeoutError,
    UnsupportedError,
)
from ._llmward import (
    Anthropic,
    AsyncStream,
    AzureOpenAI,
    Budget,
    ChatResponse,
    Embeddings,
    Gemini,
    OpenAI,
    OpenAICompatible,
    Provider,
    Route,
    Router,
    Stream,
    StreamEvent,
    ToolCall,
    Usage,
    __version__,
)

__all__ = [
    "Anthropic",
    "AsyncStream",
    "AzureOpenAI",
    "Budget",
    "ChatResponse",
    "Embeddings",
    "Gemini",
    "OpenAI",
    "OpenAICompatible",
    "Provider",
    "Route",
    "Router",
    "Stream",
    "StreamEvent",
    "ToolCall",
    "Usage",
    "__version__",
    "AuthError",
    "BudgetExceededError",
    "CancelledError",
    "ConfigError",
    "ConnectError",
    "ContentFilterError",
    "ContextLengthError",
    "InvalidRequestError",
    "LlmwardError",
    "ModelOutputError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProtocolError",
    "QuotaExceededError",
    "RateLimitError",
    "RedirectedError",
    "ResponseTooLargeError",
    "ServerError",
    "StreamTruncatedError",
    "TimeoutError",
    "UnsupportedError",
]
