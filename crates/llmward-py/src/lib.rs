//! llmward for Python: the native module `llmward._llmward`, re-exported by the `llmward`
//! package (`python/llmward/__init__.py`). Built with maturin (`pyproject.toml`).
//!
//! Everything is a thin layer over the Rust providers and router:
//!
//! - Arguments (OpenAI-style message and tool dicts) are converted and checked on the calling
//!   thread (`convert`); a wrong type is a `TypeError`, a wrong value a `ValueError`.
//! - Requests run as tasks on one shared tokio runtime (`runtime`), created on first use and
//!   rebuilt in a forked child (providers rebuild their connection pools there too).
//! - Blocking calls release the GIL and wait in short slices so Ctrl-C interrupts them; the
//!   interrupted request is dropped, which cancels it.
//! - Async calls return an awaitable (`aio`) whose result is handed to the event loop
//!   through a socket it watches: tokio threads never wait for the GIL.
//! - Errors become one Python exception class per `ErrorKind` (`errors`), with the Rust
//!   error's redacted message.
//!
//! Keys are read by Rust from the variable or file the caller names and never become Python
//! objects (unless the caller passes `api_key="..."`).
#![forbid(unsafe_code)]

mod aio;
mod convert;
mod errors;
mod provider;
mod router;
mod runtime;
mod stream;
mod types;

use pyo3::prelude::*;

/// The native module; import `llmward` instead.
#[pymodule]
fn _llmward(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<provider::PyProvider>()?;
    m.add_class::<provider::PyOpenAI>()?;
    m.add_class::<provider::PyAzureOpenAI>()?;
    m.add_class::<provider::PyOpenAICompatible>()?;
    m.add_class::<provider::PyAnthropic>()?;
    m.add_class::<provider::PyGemini>()?;
    m.add_class::<router::PyRouter>()?;
    m.add_class::<router::PyRoute>()?;
    m.add_class::<router::PyBudget>()?;
    m.add_class::<types::PyChatResponse>()?;
    m.add_class::<types::PyToolCall>()?;
    m.add_class::<types::PyUsage>()?;
    m.add_class::<types::PyStreamEvent>()?;
    m.add_class::<types::PyEmbeddings>()?;
    m.add_class::<stream::PyStream>()?;
    m.add_class::<stream::PyAsyncStream>()?;
    m.add_class::<aio::Call>()?;
    m.add_class::<aio::LoopWaker>()?;
    Ok(())
}
