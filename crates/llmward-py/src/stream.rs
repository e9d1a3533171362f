//! `Stream` (a blocking iterator) and `AsyncStream` (an async iterator) over a
//! `llmward::ChatStream`; both collect into a `ChatResponse` with llmward's `Aggregator`,
//! including the events already iterated.

use std::sync::Arc;

use llmward::{Aggregator, ChatRequest, ChatStream, Error, ErrorKind, Provider, StreamEvent};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use tokio::sync::Mutex;

use crate::aio::{self, Call, Deliver};
use crate::errors;
use crate::runtime;
use crate::types::{PyChatResponse, PyStreamEvent};

/// A copy of `err` for a later call on a stream that already failed (the message is
/// already redacted, so it is kept as llmward's own).
fn copy_error(err: &Error) -> Error {
    let mut copy = Error::new(err.kind(), err.message().unwrap_or_default())
        .with_request_id(err.request_id().map(str::to_owned))
        .with_retry_after(err.retry_after())
        .with_attempts(err.attempts().to_vec());
    if let Some(status) = err.status() {
        copy = copy.with_status(status);
    }
    if let Some(provider) = err.provider() {
        copy = copy.with_provider(provider);
    }
    copy
}

/// The stream and what was collected from it so far.
pub(crate) struct StreamCore {
    start: Option<(Arc<dyn Provider>, ChatRequest)>,
    stream: Option<ChatStream>,
    aggregator: Option<Aggregator>,
    request_id: Option<String>,
    response: Option<llmward::ChatResponse>,
    failure: Option<Error>,
    closed: bool,
}

impl StreamCore {
    pub(crate) fn new(provider: Arc<dyn Provider>, request: ChatRequest) -> Self {
        Self {
            start: Some((provider, request)),
            stream: None,
            aggregator: None,
            request_id: None,
            response: None,
            failure: None,
            closed: false,
        }
    }

    fn fail(&mut self, err: Error) -> Error {
        self.stream = None;
        self.failure = Some(copy_error(&err));
        err
    }

    /// Sends the request if it was not sent yet.
    pub(crate) async fn start(&mut self) -> Result<(), Error> {
        if self.stream.is_some() || self.response.is_some() {
            return Ok(());
        }
        if let Some(f) = &self.failure {
            return Err(copy_error(f));
        }
        let Some((provider, request)) = self.start.take() else {
            return Err(self.fail(Error::new(
                ErrorKind::Cancelled,
                "the stream was interrupted before it started",
            )));
        };
        match provider.chat_stream(&request).await {
            Ok(stream) => {
                self.aggregator = Some(Aggregator::new(
                    stream.provider(),
                    stream.model(),
                    stream.origin(),
                ));
                self.request_id = stream.request_id().map(str::to_owned);
                self.stream = Some(stream);
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// The next event Python sees; opaque events only feed the aggregator.
    pub(crate) async fn next(&mut self) -> Result<Option<PyStreamEvent>, Error> {
        loop {
            if self.response.is_some() || self.closed {
                return Ok(None);
            }
            self.start().await?;
            let Some(stream) = self.stream.as_mut() else {
                return Ok(None);
            };
            match stream.next().await {
                Some(Ok(event)) => {
                    let visible = PyStreamEvent::from_event(&event);
                    self.push(event);
                    if visible.is_some() {
                        return Ok(visible);
                    }
                }
                Some(Err(e)) => return Err(self.fail(e)),
                None => {
                    self.stream = None;
                    if let Some(agg) = self.aggregator.take() {
                        self.response = Some(agg.finish(self.request_id.clone()));
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn push(&mut self, event: StreamEvent) {
        if let Some(agg) = self.aggregator.as_mut() {
            agg.push(event);
        }
    }

    /// Reads the rest and returns the whole answer.
    pub(crate) async fn collect(&mut self) -> Result<llmward::ChatResponse, Error> {
        while self.next().await?.is_some() {}
        match &self.response {
            Some(r) => Ok(r.clone()),
            None => Err(Error::new(ErrorKind::Cancelled, "the stream was closed")),
        }
    }

    /// Drops the connection; iteration ends, and `collect` raises `CancelledError` unless
    /// the stream had already ended.
    pub(crate) fn close(&mut self) {
        self.start = None;
        self.stream = None;
        self.closed = self.response.is_none() && self.failure.is_none();
    }
}

type Shared = Arc<Mutex<StreamCore>>;

/// A streamed answer, iterated with `for event in stream`. Each event is a `StreamEvent`;
/// `collect()` returns the whole `ChatResponse` (events already iterated included).
/// Closing it (or leaving a `with` block, or dropping it) closes the connection.
#[pyclass(frozen, module = "llmward._llmward", name = "Stream")]
pub(crate) struct PyStream {
    core: Shared,
}

impl PyStream {
    pub(crate) fn new(core: StreamCore) -> Self {
        Self {
            core: Arc::new(Mutex::new(core)),
        }
    }
}

#[pymethods]
impl PyStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyStreamEvent>> {
        let core = self.core.clone();
        runtime::block_on(py, async move { core.lock().await.next().await })?
            .map_err(|e| errors::to_py(py, &e))
    }

    /// Reads the rest of the stream and returns the whole answer, including the events
    /// already iterated.
    fn collect(&self, py: Python<'_>) -> PyResult<PyChatResponse> {
        let core = self.core.clone();
        runtime::block_on(py, async move { core.lock().await.collect().await })?
            .map(|inner| PyChatResponse { inner })
            .map_err(|e| errors::to_py(py, &e))
    }

    /// Closes the connection; iteration ends.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let core = self.core.clone();
        runtime::block_on(py, async move { core.lock().await.close() })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> &'static str {
        "<llmward.Stream>"
    }
}

/// A streamed answer, iterated with `async for event in stream`; the request is sent on the
/// first iteration. `await stream.collect()` returns the whole `ChatResponse`.
#[pyclass(frozen, module = "llmward._llmward", name = "AsyncStream")]
pub(crate) struct PyAsyncStream {
    core: Shared,
}

impl PyAsyncStream {
    pub(crate) fn new(core: StreamCore) -> Self {
        Self {
            core: Arc::new(Mutex::new(core)),
        }
    }
}

#[pymethods]
impl PyAsyncStream {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__(&self) -> Call {
        let core = self.core.clone();
        Call::new(
            "AsyncStream.__anext__",
            Box::pin(async move {
                let next = core.lock().await.next().await;
                Box::new(move |py: Python<'_>| match next {
                    Ok(Some(event)) => Ok(Py::new(py, event)?.into_any()),
                    Ok(None) => Err(PyStopAsyncIteration::new_err(())),
                    Err(e) => Err(errors::to_py(py, &e)),
                }) as Deliver
            }),
        )
    }

    /// Reads the rest of the stream and returns the whole answer (awaitable).
    fn collect(&self) -> Call {
        let core = self.core.clone();
        Call::new(
            "AsyncStream.collect",
            Box::pin(async move {
                let result = core.lock().await.collect().await;
                Box::new(move |py: Python<'_>| match result {
                    Ok(inner) => Ok(Py::new(py, PyChatResponse { inner })?.into_any()),
                    Err(e) => Err(errors::to_py(py, &e)),
                }) as Deliver
            }),
        )
    }

    /// Closes the connection (awaitable); iteration ends.
    fn aclose(&self) -> Call {
        let core = self.core.clone();
        Call::new(
            "AsyncStream.aclose",
            Box::pin(async move {
                core.lock().await.close();
                Box::new(|py: Python<'_>| Ok(py.None())) as Deliver
            }),
        )
    }

    fn __aenter__(slf: Py<Self>) -> Call {
        aio::ready("AsyncStream.__aenter__", slf.into_any())
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> Call {
        self.aclose()
    }

    fn __repr__(&self) -> &'static str {
        "<llmward.AsyncStream>"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use async_trait::async_trait;
    use llmward::{ChatResponse, ChatStream, FinishReason, Signature, Usage};

    /// Streams a fixed list of events.
    #[derive(Debug)]
    struct Scripted(Vec<Result<StreamEvent, ErrorKind>>);

    #[async_trait]
    impl Provider for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }

        async fn chat(&self, _: &ChatRequest) -> llmward::Result<ChatResponse> {
            Err(Error::unsupported("stream only"))
        }

        async fn chat_stream(&self, request: &ChatRequest) -> llmward::Result<ChatStream> {
            let events = self
                .0
                .iter()
                .map(|e| {
                    e.clone()
                        .map_err(|kind| Error::new(kind, "scripted failure"))
                })
                .collect();
            Ok(ChatStream::from_events(
                "scripted",
                request.model.clone(),
                events,
            ))
        }
    }

    fn core(events: Vec<Result<StreamEvent, ErrorKind>>) -> StreamCore {
        let request = ChatRequest::builder("m").user("hi").build().unwrap();
        StreamCore::new(Arc::new(Scripted(events)), request)
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn text(t: &str) -> Result<StreamEvent, ErrorKind> {
        Ok(StreamEvent::TextDelta(t.into()))
    }

    #[test]
    fn collect_keeps_what_was_iterated_and_opaque_events() {
        let mut c = core(vec![
            Ok(StreamEvent::Started {
                id: Some("id-1".into()),
                model: Some("m-served".into()),
            }),
            Ok(StreamEvent::ReasoningDelta("think".into())),
            Ok(StreamEvent::ReasoningSignature(Signature::new(
                "anthropic",
                "sig",
            ))),
            text("Hel"),
            text("lo"),
            Ok(StreamEvent::Usage(Usage::new(3, 2))),
            Ok(StreamEvent::Finish {
                reason: FinishReason::Stop,
                raw: Some("stop".into()),
            }),
        ]);
        let (first, second, response) = run(async {
            let first = c.next().await.unwrap().unwrap();
            let second = c.next().await.unwrap().unwrap();
            (first, second, c.collect().await.unwrap())
        });
        // Started and the signature are not shown to Python, but are in the answer.
        assert_eq!(first.kind, "reasoning");
        assert_eq!(second.text.as_deref(), Some("Hel"));
        assert_eq!(response.text(), "Hello");
        assert_eq!(response.model, "m-served");
        assert_eq!(response.id.as_deref(), Some("id-1"));
        assert_eq!(response.reasoning().as_deref(), Some("think"));
        assert_eq!(response.usage, Some(Usage::new(3, 2)));
        assert!(
            run(c.next()).unwrap().is_none(),
            "iteration ends after collect"
        );
    }

    #[test]
    fn closing_ends_iteration_and_collect_is_cancelled() {
        let mut c = core(vec![text("a"), text("b")]);
        run(async {
            assert!(c.next().await.unwrap().is_some());
            c.close();
            assert!(c.next().await.unwrap().is_none());
            assert_eq!(c.collect().await.unwrap_err().kind(), ErrorKind::Cancelled);
        });
    }

    #[test]
    fn a_failure_is_raised_again_with_the_same_kind() {
        let mut c = core(vec![text("a"), Err(ErrorKind::StreamTruncated)]);
        run(async {
            assert!(c.next().await.unwrap().is_some());
            let first = c.next().await.unwrap_err();
            assert_eq!(first.kind(), ErrorKind::StreamTruncated);
            let again = c.collect().await.unwrap_err();
            assert_eq!(again.kind(), ErrorKind::StreamTruncated);
            assert_eq!(again.to_string(), first.to_string());
        });
    }
}
