//! One error type for every provider, the router and the transport.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// A `Result` whose error is llmward's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a caller (or a router) can act on.
///
/// The mapping from each provider's statuses and error bodies to these kinds is the same for
/// every provider; see [the crate documentation](crate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The key is missing, malformed or rejected (whatever status the provider used).
    Auth,
    /// The key is valid but may not use this model or resource.
    PermissionDenied,
    /// The model, deployment or endpoint does not exist.
    NotFound,
    /// Too many requests right now: waiting helps (see [`Error::retry_after`]).
    RateLimited,
    /// Out of quota, spend cap reached, or a request larger than the per-minute limit: waiting
    /// does not help on this route.
    QuotaExceeded,
    /// The provider is overloaded (503, Anthropic 529, Gemini `UNAVAILABLE`).
    Overloaded,
    /// The provider failed (500, 502, 504).
    Server,
    /// The request, or the wait for the next stream chunk, took longer than allowed.
    Timeout,
    /// No connection could be made, or it broke before a response arrived.
    Connect,
    /// The prompt is longer than the model's context window.
    ContextLengthExceeded,
    /// The provider refused the prompt for its content.
    ContentFiltered,
    /// The provider rejected the request as invalid (any other 4xx).
    InvalidRequest,
    /// The model produced something the provider rejected (a malformed tool call); a retry or
    /// another route may succeed.
    ModelOutput,
    /// The provider answered with something llmward cannot understand.
    Protocol,
    /// The stream ended without the provider's end marker.
    StreamTruncated,
    /// A response body, SSE line or event was larger than its cap.
    ResponseTooLarge,
    /// The provider answered with a redirect, which llmward never follows.
    Redirected,
    /// A budget or guard rail refused the request before it was sent.
    BudgetExceeded,
    /// A builder setting or a key is invalid.
    Config,
    /// The provider does not support what the request asks for.
    Unsupported,
    /// The call was cancelled.
    Cancelled,
}

impl ErrorKind {
    /// Whether the same request may succeed if sent again to the same route after a wait.
    ///
    /// True for `RateLimited`, `Overloaded`, `Server`, `Timeout`, `Connect`, `ModelOutput` and
    /// `StreamTruncated`.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::Overloaded
                | Self::Server
                | Self::Timeout
                | Self::Connect
                | Self::ModelOutput
                | Self::StreamTruncated
        )
    }

    /// The kind's name in snake_case, as events and the Python bindings spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::PermissionDenied => "permission_denied",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Overloaded => "overloaded",
            Self::Server => "server",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::ContentFiltered => "content_filtered",
            Self::InvalidRequest => "invalid_request",
            Self::ModelOutput => "model_output",
            Self::Protocol => "protocol",
            Self::StreamTruncated => "stream_truncated",
            Self::ResponseTooLarge => "response_too_large",
            Self::Redirected => "redirected",
            Self::BudgetExceeded => "budget_exceeded",
            Self::Config => "config",
            Self::Unsupported => "unsupported",
            Self::Cancelled => "cancelled",
        }
    }

    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 21] = [
        Self::Auth,
        Self::PermissionDenied,
        Self::NotFound,
        Self::RateLimited,
        Self::QuotaExceeded,
        Self::Overloaded,
        Self::Server,
        Self::Timeout,
        Self::Connect,
        Self::ContextLengthExceeded,
        Self::ContentFiltered,
        Self::InvalidRequest,
        Self::ModelOutput,
        Self::Protocol,
        Self::StreamTruncated,
        Self::ResponseTooLarge,
        Self::Redirected,
        Self::BudgetExceeded,
        Self::Config,
        Self::Unsupported,
        Self::Cancelled,
    ];
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed attempt inside a call that tried several routes (see [`Error::attempts`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptFailure {
    /// The route's name.
    pub route: String,
    /// What went wrong.
    pub kind: ErrorKind,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The provider's request id, when it sent one.
    pub request_id: Option<String>,
}

impl AttemptFailure {
    /// Summarises `error` as an attempt on `route`.
    pub fn new(route: impl Into<String>, error: &Error) -> Self {
        Self {
            route: route.into(),
            kind: error.kind(),
            status: error.status(),
            request_id: error.request_id().map(str::to_owned),
        }
    }
}

/// llmward's error: a [`kind`](Error::kind) plus what the provider said, after redaction.
///
/// An `Error` never carries a key, a header value, a URL query string or a request body: the
/// provider's message is redacted by the one rule of [`crate::redact`] (the request's key
/// whole, any run of 8 characters of it past its public prefix, or a masked form) and
/// truncated to 512 characters before it is stored.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    status: Option<u16>,
    provider: Option<String>,
    request_id: Option<String>,
    retry_after: Option<Duration>,
    message: Option<String>,
    attempts: Vec<AttemptFailure>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    /// A new error of `kind` with a message written by llmward (not by a provider).
    ///
    /// The message must not contain secrets; provider text goes through
    /// [`with_provider_message`](Error::with_provider_message) instead.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self {
            inner: Box::new(Inner {
                kind,
                status: None,
                provider: None,
                request_id: None,
                retry_after: None,
                message: (!message.is_empty()).then_some(message),
                attempts: Vec::new(),
                source: None,
            }),
        }
    }

    /// Shorthand for a [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Shorthand for a [`ErrorKind::Protocol`] error.
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    /// Shorthand for a [`ErrorKind::Unsupported`] error.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// Sets the HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Sets the provider's name.
    #[must_use]
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.inner.provider = Some(provider.into());
        self
    }

    /// Sets the provider's request id (it is shown; request ids are not secrets).
    #[must_use]
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        if request_id.is_some() {
            self.inner.request_id = request_id;
        }
        self
    }

    /// Scrubs the error against `key` by the one redaction rule, whatever path built it: the
    /// request id is dropped when the key is found in it ([`crate::redact::identifier`]) and
    /// the message is redacted ([`crate::redact::redact`]). Every error an HTTP provider
    /// returns passes through it.
    #[must_use]
    pub fn without_echoed_key(mut self, key: Option<&crate::ApiKey>) -> Self {
        self.inner.request_id = crate::redact::identifier(self.inner.request_id.take(), key);
        if let (Some(key), Some(message)) = (key, self.inner.message.as_mut()) {
            if crate::redact::contains_secret(message, key.expose()) {
                *message = crate::redact::redact(message, Some(key));
            }
        }
        self
    }

    /// Sets how long the provider asked the caller to wait.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        if retry_after.is_some() {
            self.inner.retry_after = retry_after;
        }
        self
    }

    /// Stores a provider's message after redacting it with [`crate::redact`]: every span in
    /// which `key` is found by the one redaction rule (the whole key, a run of 8 characters of
    /// its secret part, or a masked form) becomes `[REDACTED]`, and the result is truncated to
    /// 512 characters.
    #[must_use]
    pub fn with_provider_message(mut self, message: &str, key: Option<&crate::ApiKey>) -> Self {
        let redacted = crate::redact::redact(message, key);
        self.inner.message = (!redacted.is_empty()).then_some(redacted);
        self
    }

    /// Sets the underlying cause. reqwest errors are stored without their URL.
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// Sets the attempts a router made before giving up.
    #[must_use]
    pub fn with_attempts(mut self, attempts: Vec<AttemptFailure>) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// Changes the kind, keeping everything else.
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.inner.kind = kind;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Whether the same request may succeed later on the same route; see
    /// [`ErrorKind::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_retryable()
    }

    /// The HTTP status, when the provider answered.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The provider that failed, when known.
    pub fn provider(&self) -> Option<&str> {
        self.inner.provider.as_deref()
    }

    /// The provider's request id (`x-request-id`, `request-id`, ...), when it sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// How long the provider asked to wait before retrying (`retry-after-ms`, `Retry-After`,
    /// or Gemini's `RetryInfo.retryDelay`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The message: the provider's, redacted and truncated, or llmward's own.
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// The attempts a router made before returning this error (empty for a single call).
    pub fn attempts(&self) -> &[AttemptFailure] {
        &self.inner.attempts
    }
}

impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        let kind = if err.is_timeout() {
            ErrorKind::Timeout
        } else if err.is_connect() || err.is_request() {
            ErrorKind::Connect
        } else if err.is_redirect() {
            ErrorKind::Redirected
        } else if err.is_body() || err.is_decode() {
            ErrorKind::Connect
        } else {
            ErrorKind::Protocol
        };
        let what = match kind {
            ErrorKind::Timeout => "request timed out",
            ErrorKind::Connect => "connection failed",
            _ => "HTTP error",
        };
        Error::new(kind, what).with_source(err.without_url())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        if let Some(provider) = &inner.provider {
            write!(f, "{provider}: ")?;
        }
        write!(f, "{}", inner.kind)?;
        if let Some(status) = inner.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(message) = &inner.message {
            write!(f, ": {message}")?;
        }
        if let Some(retry_after) = inner.retry_after {
            write!(f, " (retry after {:.3}s)", retry_after.as_secs_f64())?;
        }
        if let Some(request_id) = &inner.request_id {
            write!(f, " [request id {request_id}]")?;
        }
        if !inner.attempts.is_empty() {
            f.write_str("; attempts:")?;
            for (i, a) in inner.attempts.iter().enumerate() {
                let sep = if i == 0 { " " } else { ", " };
                write!(f, "{sep}{} {}", a.route, a.kind)?;
                if let Some(status) = a.status {
                    write!(f, " {status}")?;
                }
                if let Some(id) = &a.request_id {
                    write!(f, " [{id}]")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &inner.kind);
        if let Some(status) = inner.status {
            d.field("status", &status);
        }
        if let Some(provider) = &inner.provider {
            d.field("provider", provider);
        }
        if let Some(id) = &inner.request_id {
            d.field("request_id", id);
        }
        if let Some(ra) = inner.retry_after {
            d.field("retry_after", &ra);
        }
        if let Some(message) = &inner.message {
            d.field("message", message);
        }
        if !inner.attempts.is_empty() {
            d.field("attempts", &inner.attempts);
        }
        if let Some(source) = &inner.source {
            d.field("source", &format_args!("{source}"));
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prints_only_its_own_level() {
        let err = Error::new(ErrorKind::RateLimited, "slow down")
            .with_status(429)
            .with_provider("openai")
            .with_request_id(Some("req_1".into()))
            .with_retry_after(Some(Duration::from_millis(1500)));
        assert_eq!(
            err.to_string(),
            "openai: rate_limited (HTTP 429): slow down (retry after 1.500s) [request id req_1]"
        );
        assert!(err.is_retryable());
    }

    #[test]
    fn kinds_have_distinct_names() {
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn non_retryable_kinds() {
        for kind in [
            ErrorKind::Auth,
            ErrorKind::PermissionDenied,
            ErrorKind::NotFound,
            ErrorKind::QuotaExceeded,
            ErrorKind::InvalidRequest,
            ErrorKind::ContextLengthExceeded,
            ErrorKind::BudgetExceeded,
            ErrorKind::Config,
            ErrorKind::Cancelled,
        ] {
            assert!(!kind.is_retryable(), "{kind}");
        }
    }
}
