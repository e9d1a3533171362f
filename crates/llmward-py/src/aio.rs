//! asyncio support: `Call`, the awaitable every `a*` method returns.
//!
//! A call's Rust future runs as a task on the shared tokio runtime. When it finishes, the
//! task never touches Python: it queues its result (a Rust value) for the event loop and, if
//! the queue was empty, writes one byte to a socket the loop watches (`loop.add_reader`).
//! The loop thread then turns the results into Python objects and resolves the asyncio
//! futures, many per wake-up. So tokio's threads never wait for the GIL, and no thread is
//! used per call.
//!
//! Cancelling the asyncio task (or dropping the `Call`) aborts the tokio task, which drops
//! the request: its connection is closed.

use std::collections::HashMap;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pyo3::PyTraverseError;
use pyo3::exceptions::{PyBaseException, PyRuntimeError, PyStopIteration};
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::runtime::{self, AbortOnDrop};

/// Turns a finished call's Rust result into its Python value (or exception), on the loop
/// thread.
pub(crate) type Deliver = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// The Rust side of a call, not started until the awaitable is first awaited.
pub(crate) type Work = Pin<Box<dyn Future<Output = Deliver> + Send>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Results waiting for their event loop, and the socket that wakes it.
struct Completions {
    items: Mutex<Vec<(u64, Deliver)>>,
    writer: UnixDatagram,
}

impl Completions {
    /// Called from a tokio thread; never blocks and never needs the GIL.
    fn complete(&self, id: u64, deliver: Deliver) {
        let mut items = lock(&self.items);
        if items.is_empty() {
            // One pending byte is enough to wake the loop for the whole batch. A full
            // buffer (WouldBlock) means bytes are already pending; a closed loop reads
            // nothing, and its calls were cancelled.
            let _ = self.writer.send(&[1]);
        }
        items.push((id, deliver));
    }
}

/// One event loop's side: the socket it watches and the asyncio futures it awaits.
struct LoopState {
    pid: u32,
    reader: UnixDatagram,
    completions: Arc<Completions>,
    pending: Mutex<HashMap<u64, Py<PyAny>>>,
}

impl LoopState {
    fn drain(&self, py: Python<'_>) {
        let mut buf = [0u8; 64];
        // Non-blocking: stops at WouldBlock once every wake-up byte is read.
        while self.reader.recv(&mut buf).is_ok() {}
        let items = std::mem::take(&mut *lock(&self.completions.items));
        for (id, deliver) in items {
            let future = lock(&self.pending).remove(&id);
            let result = deliver(py);
            let Some(future) = future else { continue };
            let future = future.bind(py);
            // A cancelled future is already done; its result is dropped.
            match future
                .call_method0(intern!(py, "done"))
                .and_then(|d| d.is_truthy())
            {
                Ok(false) => {}
                _ => continue,
            }
            let set = match result {
                Ok(value) => future.call_method1(intern!(py, "set_result"), (value,)),
                Err(err) => {
                    future.call_method1(intern!(py, "set_exception"), (err.into_value(py),))
                }
            };
            if let Err(err) = set {
                err.write_unraisable(py, Some(future));
            }
        }
    }
}

/// The callable the event loop runs when llmward's socket is readable.
#[pyclass(frozen, module = "llmward._llmward", name = "_LoopWaker")]
pub(crate) struct LoopWaker {
    state: Arc<LoopState>,
}

#[pymethods]
impl LoopWaker {
    /// Resolves the asyncio futures of every call that finished.
    fn __call__(&self, py: Python<'_>) {
        self.state.drain(py);
    }
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static LOOPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let get = GET_RUNNING_LOOP.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("asyncio")?.getattr("get_running_loop")?.unbind())
    })?;
    get.bind(py).call0()
}

/// The state of `event_loop`, created (and its socket registered) on first use. Kept in a
/// `WeakKeyDictionary`, so it goes away with the loop; a forked child gets its own.
fn loop_state(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<LoopState>> {
    let loops = LOOPS
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py
                .import("weakref")?
                .getattr("WeakKeyDictionary")?
                .call0()?
                .unbind())
        })?
        .bind(py);
    let pid = std::process::id();
    if let Ok(waker) = loops
        .call_method1(intern!(py, "get"), (event_loop,))?
        .cast_into::<LoopWaker>()
    {
        if waker.get().state.pid == pid {
            return Ok(waker.get().state.clone());
        }
    }
    let io = |e: std::io::Error| {
        PyRuntimeError::new_err(format!("llmward: cannot set up asyncio wake-ups: {e}"))
    };
    let (reader, writer) = UnixDatagram::pair().map_err(io)?;
    reader.set_nonblocking(true).map_err(io)?;
    writer.set_nonblocking(true).map_err(io)?;
    let state = Arc::new(LoopState {
        pid,
        reader,
        completions: Arc::new(Completions {
            items: Mutex::new(Vec::new()),
            writer,
        }),
        pending: Mutex::new(HashMap::new()),
    });
    let waker = Bound::new(
        py,
        LoopWaker {
            state: state.clone(),
        },
    )?;
    event_loop
        .call_method1(
            intern!(py, "add_reader"),
            (state.reader.as_raw_fd(), &waker),
        )
        .map_err(|e| {
            PyRuntimeError::new_err(format!(
                "llmward's async methods need an event loop with add_reader() \
                 (asyncio's default loop on Linux and macOS, or uvloop): {e}"
            ))
        })?;
    loops.set_item(event_loop, &waker)?;
    Ok(state)
}

/// Removes a call's future from its loop when the call ends any way other than by the loop
/// delivering it (cancelled, closed, garbage-collected).
struct Registration {
    id: u64,
    state: Arc<LoopState>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = lock(&self.state.pending).remove(&self.id);
        drop(removed);
    }
}

enum State {
    Idle(Work),
    Running {
        registration: Registration,
        future: Py<PyAny>,
        _task: AbortOnDrop<()>,
    },
    Finished,
}

/// An awaitable llmward call, returned by `achat`, `aembed`, `AsyncStream.__anext__` and
/// `AsyncStream.collect`. Await it once; it starts when first awaited. Cancelling the task
/// that awaits it cancels the request.
#[pyclass(frozen, module = "llmward._llmward", name = "Call")]
pub(crate) struct Call {
    state: Mutex<State>,
    name: &'static str,
}

impl Call {
    /// A call that runs `work` when awaited; `name` is shown in its `repr()`.
    pub(crate) fn new(name: &'static str, work: Work) -> Self {
        Self {
            state: Mutex::new(State::Idle(work)),
            name,
        }
    }

    /// The state, leaving `Finished` behind while Python code runs: a re-entrant use sees a
    /// finished call instead of deadlocking.
    fn take(&self) -> State {
        std::mem::replace(&mut *lock(&self.state), State::Finished)
    }

    fn put(&self, state: State) {
        *lock(&self.state) = state;
    }

    fn step(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.take() {
            State::Idle(work) => {
                let event_loop = running_loop(py)?;
                let loop_state = loop_state(py, &event_loop)?;
                let future = event_loop.call_method0(intern!(py, "create_future"))?;
                let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                lock(&loop_state.pending).insert(id, future.clone().unbind());
                let registration = Registration {
                    id,
                    state: loop_state.clone(),
                };
                let completions = loop_state.completions.clone();
                let handle = runtime::handle(py)?;
                let task = AbortOnDrop(handle.spawn(async move {
                    let deliver = work.await;
                    completions.complete(id, deliver);
                }));
                let out = suspend(py, &future);
                self.put(State::Running {
                    registration,
                    future: future.unbind(),
                    _task: task,
                });
                out
            }
            State::Running {
                registration,
                future,
                _task,
            } => {
                let f = future.bind(py);
                if !f.call_method0(intern!(py, "done"))?.is_truthy()? {
                    let out = suspend(py, f);
                    self.put(State::Running {
                        registration,
                        future,
                        _task,
                    });
                    return out;
                }
                drop(registration);
                let value = f.call_method0(intern!(py, "result"))?;
                Err(PyStopIteration::new_err((value.unbind(),)))
            }
            State::Finished => Err(PyRuntimeError::new_err(
                "cannot reuse already awaited coroutine",
            )),
        }
    }
}

/// Yields `future` to the asyncio task driving this call (as `await future` would).
fn suspend(py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    match future.try_iter()?.next() {
        Some(item) => Ok(item?.unbind()),
        None => Ok(py.None()),
    }
}

#[pymethods]
impl Call {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.step(py)
    }

    /// Resumes the call (the coroutine protocol; the value is ignored).
    fn send(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let _ = value;
        self.step(py)
    }

    /// Cancels the call and raises `exc` in the awaiting code (the coroutine protocol).
    #[pyo3(signature = (exc, value=None, traceback=None))]
    fn throw(
        &self,
        exc: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let _ = traceback;
        drop(self.take());
        let value = value.filter(|v| !v.is_none());
        let err = match (exc.cast::<PyType>(), value) {
            (Ok(_), Some(v)) if v.is_instance_of::<PyBaseException>() => {
                PyErr::from_value(v.clone())
            }
            (Ok(t), Some(v)) => PyErr::from_value(t.call1((v,))?),
            _ => PyErr::from_value(exc.clone()),
        };
        Err(err)
    }

    /// Cancels the call if it is still running.
    fn close(&self) {
        drop(self.take());
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Never waits: the lock is only held for a moment, never across Python code.
        if let Ok(state) = self.state.try_lock() {
            if let State::Running { future, .. } = &*state {
                visit.call(future)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        drop(self.take());
    }

    fn __repr__(&self) -> String {
        let state = match &*lock(&self.state) {
            State::Idle(_) => "not started",
            State::Running { .. } => "running",
            State::Finished => "finished",
        };
        format!("<llmward call {} ({state})>", self.name)
    }
}

/// An awaitable that resolves to `value` at once (for `__aenter__`).
pub(crate) fn ready(name: &'static str, value: Py<PyAny>) -> Call {
    Call::new(
        name,
        Box::pin(async move { Box::new(move |_py: Python<'_>| Ok(value)) as Deliver }),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn pending_bytes(reader: &UnixDatagram) -> usize {
        let mut buf = [0u8; 8];
        let mut n = 0;
        while reader.recv(&mut buf).is_ok() {
            n += 1;
        }
        n
    }

    fn nothing() -> Deliver {
        Box::new(|py: Python<'_>| Ok(py.None()))
    }

    #[test]
    fn one_wake_up_per_batch() {
        let (reader, writer) = UnixDatagram::pair().unwrap();
        reader.set_nonblocking(true).unwrap();
        writer.set_nonblocking(true).unwrap();
        let completions = Completions {
            items: Mutex::new(Vec::new()),
            writer,
        };
        for id in 0..3 {
            completions.complete(id, nothing());
        }
        // The loop is woken once for the three results.
        assert_eq!(pending_bytes(&reader), 1);
        let taken = std::mem::take(&mut *lock(&completions.items));
        assert_eq!(
            taken.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        // After a drain, the next result wakes it again.
        completions.complete(3, nothing());
        assert_eq!(pending_bytes(&reader), 1);
    }

    #[test]
    fn completing_after_the_loop_is_gone_is_harmless() {
        let (reader, writer) = UnixDatagram::pair().unwrap();
        writer.set_nonblocking(true).unwrap();
        drop(reader);
        let completions = Completions {
            items: Mutex::new(Vec::new()),
            writer,
        };
        completions.complete(1, nothing());
        assert_eq!(lock(&completions.items).len(), 1);
    }
}
