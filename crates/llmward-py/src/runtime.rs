//! The one tokio runtime every call runs on, rebuilt in a forked child; blocking waits that
//! release the GIL and stay interruptible.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;

/// How long a blocking call waits with the GIL released before it checks for signals
/// (Ctrl-C): short enough to feel immediate, long enough to cost nothing.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// The runtime of this process, and the fork generation it belongs to.
struct State {
    pid: u32,
    generation: u64,
    runtime: Option<&'static Runtime>,
}

static STATE: Mutex<State> = Mutex::new(State {
    pid: 0,
    generation: 0,
    runtime: None,
});

fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Moves to a new generation when the process is not the one that built the runtime (a
/// forked child): the parent's runtime is abandoned, never dropped, since its worker threads
/// do not exist here and dropping it would wait for them forever.
fn check_fork(state: &mut State) {
    let pid = std::process::id();
    if state.pid != pid {
        state.pid = pid;
        state.generation += 1;
        state.runtime = None;
    }
}

/// The current fork generation. Objects that hold connection pools (providers, routers)
/// rebuild themselves when it changes. Called with the GIL held, so a fork (which holds the
/// GIL) never happens while another thread holds the lock.
pub(crate) fn generation(_py: Python<'_>) -> u64 {
    let mut state = lock();
    check_fork(&mut state);
    state.generation
}

/// The runtime handle for this process, built on first use (two worker threads at least).
pub(crate) fn handle(_py: Python<'_>) -> PyResult<Handle> {
    let mut state = lock();
    check_fork(&mut state);
    if let Some(rt) = state.runtime {
        return Ok(rt.handle().clone());
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let rt = Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("llmward-rt")
        .enable_all()
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start llmward's runtime: {e}")))?;
    // Leaked on purpose: it lives as long as the process (and is abandoned in a forked child).
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    state.runtime = Some(rt);
    Ok(rt.handle().clone())
}

/// A spawned task that is aborted when this guard is dropped: dropping the Python-side
/// object (or an interrupted wait) cancels the request upstream.
#[derive(Debug)]
pub(crate) struct AbortOnDrop<T>(pub(crate) JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `future` on the runtime and waits for it with the GIL released, in short slices so
/// that Ctrl-C (and any other Python signal handler) runs promptly; a raised signal drops
/// the task, which cancels the request.
pub(crate) fn block_on<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    if Handle::try_current().is_ok() {
        // Blocking a runtime thread on its own runtime would deadlock (tokio panics instead).
        return Err(PyRuntimeError::new_err(
            "llmward: blocking calls (chat, stream, embed, ...) cannot run on llmward's own \
             threads, e.g. inside an on_event callback",
        ));
    }
    let handle = handle(py)?;
    let mut task = AbortOnDrop(handle.spawn(future));
    loop {
        let waited = py.detach(|| {
            handle.block_on(async { tokio::time::timeout(SIGNAL_SLICE, &mut task.0).await })
        });
        match waited {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(join)) => return Err(join_error(join)),
            Err(_elapsed) => py.check_signals()?,
        }
    }
}

/// A task that did not finish: a bug (panic) or an abort, which only the guard does.
pub(crate) fn join_error(err: tokio::task::JoinError) -> PyErr {
    if err.is_panic() {
        PyRuntimeError::new_err("llmward: internal error (a task panicked); please report it")
    } else {
        PyRuntimeError::new_err("llmward: the call was cancelled")
    }
}

/// Something built from stored configuration once per fork generation: connection pools
/// belong to the runtime that opened them, so a forked child builds its own.
pub(crate) struct PerGeneration<T: ?Sized> {
    cache: Mutex<Option<(u64, Arc<T>)>>,
}

impl<T: ?Sized> std::fmt::Debug for PerGeneration<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerGeneration").finish_non_exhaustive()
    }
}

impl<T: ?Sized> PerGeneration<T> {
    /// A cache already holding `value` for `generation`.
    pub(crate) fn new(generation: u64, value: Arc<T>) -> Self {
        Self {
            cache: Mutex::new(Some((generation, value))),
        }
    }

    /// The value for the current generation, built with `build` when the generation changed.
    pub(crate) fn get<E>(
        &self,
        py: Python<'_>,
        build: impl FnOnce() -> Result<Arc<T>, E>,
    ) -> Result<Arc<T>, E> {
        let generation = generation(py);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((g, value)) = cache.as_ref() {
            if *g == generation {
                return Ok(value.clone());
            }
        }
        let value = build()?;
        if let Some((_, stale)) = cache.replace((generation, value.clone())) {
            // Built by the parent process: its pool's tasks lived on a runtime that has no
            // threads here, so it is left untouched rather than dropped.
            std::mem::forget(stale);
        }
        Ok(value)
    }
}
