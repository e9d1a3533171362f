//! llmward's `Error` as a Python exception: one class per kind, defined in
//! `llmward/_errors.py` (so `llmward.TimeoutError` can also be a builtin `TimeoutError`).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

static CLASSES: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// The exception for `err`: the class of its kind, with the error's `Display` (already
/// redacted) as message and `kind`, `status`, `provider`, `request_id`, `retry_after`
/// (seconds) and `attempts` (a list of dicts) as attributes.
pub(crate) fn to_py(py: Python<'_>, err: &llmward::Error) -> PyErr {
    match build(py, err) {
        Ok(e) => e,
        Err(e) => e,
    }
}

fn build(py: Python<'_>, err: &llmward::Error) -> PyResult<PyErr> {
    let classes = CLASSES.get_or_try_init(py, || -> PyResult<Py<PyDict>> {
        let module = py.import("llmward._errors")?;
        Ok(module.getattr("_BY_KIND")?.cast_into::<PyDict>()?.unbind())
    })?;
    let kind = err.kind().as_str();
    let Some(class) = classes.bind(py).get_item(kind)? else {
        return Ok(PyRuntimeError::new_err(format!(
            "llmward: no exception class for error kind {kind}: {err}"
        )));
    };
    let kwargs = PyDict::new(py);
    kwargs.set_item("kind", kind)?;
    kwargs.set_item("status", err.status())?;
    kwargs.set_item("provider", err.provider())?;
    kwargs.set_item("request_id", err.request_id())?;
    kwargs.set_item("retry_after", err.retry_after().map(|d| d.as_secs_f64()))?;
    let attempts = PyList::empty(py);
    for a in err.attempts() {
        let d = PyDict::new(py);
        d.set_item("route", &a.route)?;
        d.set_item("kind", a.kind.as_str())?;
        d.set_item("status", a.status)?;
        d.set_item("request_id", a.request_id.as_deref())?;
        attempts.append(d)?;
    }
    kwargs.set_item("attempts", attempts)?;
    let exc = class.call((err.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(exc))
}
