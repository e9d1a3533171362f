//! `Route`, `Budget` and `Router`: llmward's fallback router, configured from Python.
//!
//! The router is itself a `Provider`, so it has every provider method. Its configuration is
//! kept so that a forked child builds its own router (and its routes' providers) on first use;
//! budgets and cooldowns start afresh there.

use std::sync::Arc;
use std::time::Duration;

use llmward::{Budget, Provider, Route, Router, RouterEvent};
use pyo3::PyTraverseError;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::convert::{self, from_json};
use crate::errors;
use crate::provider::{Backend, Factory, PyProvider};
use crate::runtime::{self, PerGeneration};

/// A limit on tokens, requests or cost (US dollars) per window, for a whole router, one
/// route, or the calls carrying one tag. Give exactly one of `tokens`, `requests`,
/// `cost_usd`; `per` is the window in seconds or `"minute"`, `"hour"`, `"day"`.
///
/// Admission reserves before a request is sent and settles on the usage that arrives, so
/// concurrent calls cannot all spend the same remainder.
#[pyclass(frozen, module = "llmward._llmward", name = "Budget")]
pub(crate) struct PyBudget {
    inner: Budget,
}

fn window(per: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if let Ok(s) = per.cast::<PyString>() {
        return match &*s.to_cow()? {
            "second" => Ok(Duration::from_secs(1)),
            "minute" => Ok(Duration::from_secs(60)),
            "hour" => Ok(Duration::from_secs(3600)),
            "day" => Ok(Duration::from_secs(86_400)),
            other => Err(PyValueError::new_err(format!(
                "per must be seconds or \"second\", \"minute\", \"hour\", \"day\"; not {other:?}"
            ))),
        };
    }
    let seconds: f64 = per
        .extract()
        .map_err(|_| PyTypeError::new_err("per must be a number of seconds or a str"))?;
    convert::duration(seconds, "per")
}

fn non_negative(n: i64, name: &str) -> PyResult<u64> {
    u64::try_from(n).map_err(|_| PyValueError::new_err(format!("{name} must not be negative")))
}

#[pymethods]
impl PyBudget {
    #[new]
    #[pyo3(signature = (*, tokens=None, requests=None, cost_usd=None, per=None, route=None, tag=None))]
    fn new(
        tokens: Option<i64>,
        requests: Option<i64>,
        cost_usd: Option<f64>,
        per: Option<&Bound<'_, PyAny>>,
        route: Option<String>,
        tag: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut budget = match (tokens, requests, cost_usd) {
            (Some(t), None, None) => Budget::tokens(non_negative(t, "tokens")?),
            (None, Some(r), None) => Budget::requests(non_negative(r, "requests")?),
            (None, None, Some(usd)) => {
                if !usd.is_finite() || usd < 0.0 {
                    return Err(PyValueError::new_err(
                        "cost_usd must be a finite, non-negative amount",
                    ));
                }
                Budget::cost_usd(usd)
            }
            _ => {
                return Err(PyValueError::new_err(
                    "give exactly one of tokens, requests and cost_usd",
                ));
            }
        };
        if let Some(per) = per.filter(|p| !p.is_none()) {
            budget = budget.per(window(per)?);
        }
        match (route, tag.filter(|t| !t.is_none())) {
            (Some(_), Some(_)) => {
                return Err(PyValueError::new_err(
                    "a budget is for a route or for a tag, not both",
                ));
            }
            (Some(route), None) => budget = budget.for_route(route),
            (None, Some(tag)) => {
                let (key, value) = parse_tag(tag)?;
                budget = budget.for_tag(key, value);
            }
            (None, None) => {}
        }
        Ok(Self { inner: budget })
    }

    /// The budget's name, as events and `Router.budgets()` show it.
    #[getter]
    fn name(&self) -> String {
        self.inner.name()
    }

    fn __repr__(&self) -> String {
        format!("Budget({:?})", self.inner.name())
    }
}

/// `"key=value"` or `(key, value)`.
fn parse_tag(tag: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
    if let Ok(s) = tag.cast::<PyString>() {
        let s = s.to_cow()?;
        if let Some((k, v)) = s.split_once('=') {
            return Ok((k.to_owned(), v.to_owned()));
        }
        return Err(PyValueError::new_err(format!(
            "tag must look like \"key=value\", not {s:?}"
        )));
    }
    tag.extract::<(String, String)>()
        .map_err(|_| PyTypeError::new_err("tag must be \"key=value\" or a (key, value) tuple"))
}

/// One way to answer: a provider (or a router), the model to ask it for, the aliases callers
/// use to reach it, and options (tier, weight, context window, per-attempt timeout, in-flight
/// cap, price per million input/output tokens, budgets).
#[pyclass(frozen, module = "llmward._llmward", name = "Route")]
pub(crate) struct PyRoute {
    /// The route's name (in events and errors).
    #[pyo3(get)]
    name: String,
    /// The provider (or router) it sends to.
    #[pyo3(get)]
    provider: Py<PyProvider>,
    /// The model it asks for.
    #[pyo3(get)]
    model: String,
    /// The model names callers use to reach it.
    #[pyo3(get)]
    aliases: Vec<String>,
    /// Its priority tier (0 first).
    #[pyo3(get)]
    tier: u32,
    /// Its share of its tier's traffic.
    #[pyo3(get)]
    weight: u32,
    /// Its context window in tokens, when known.
    #[pyo3(get)]
    context_window: Option<u64>,
    backend: Arc<Backend>,
    timeout: Option<Duration>,
    max_in_flight: Option<usize>,
    price: Option<(f64, f64)>,
    budgets: Vec<Budget>,
}

impl PyRoute {
    fn build(&self, py: Python<'_>) -> PyResult<Route> {
        let mut route = Route::shared(self.name.clone(), self.backend.get(py)?, self.model.clone())
            .tier(self.tier)
            .weight(self.weight);
        for alias in &self.aliases {
            route = route.alias(alias.clone());
        }
        if let Some(n) = self.context_window {
            route = route.context_window(n);
        }
        if let Some(t) = self.timeout {
            route = route.timeout(t);
        }
        if let Some(n) = self.max_in_flight {
            route = route.max_in_flight(n);
        }
        if let Some((input, output)) = self.price {
            route = route.price(input, output);
        }
        for budget in &self.budgets {
            route = route.budget(budget.clone());
        }
        Ok(route)
    }
}

fn budgets_arg(obj: Option<&Bound<'_, PyAny>>, at: &str) -> PyResult<Vec<Budget>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    if let Ok(b) = obj.cast::<PyBudget>() {
        return Ok(vec![b.get().inner.clone()]);
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = obj.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Err(PyTypeError::new_err(format!(
            "{at} must be a Budget or a list of Budgets"
        )));
    };
    items
        .iter()
        .map(|b| {
            b.cast::<PyBudget>()
                .map(|b| b.get().inner.clone())
                .map_err(|_| PyTypeError::new_err(format!("{at} must hold Budget objects")))
        })
        .collect()
}

fn u32_arg(n: i64, name: &str) -> PyResult<u32> {
    u32::try_from(n).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be between 0 and {}, not {n}",
            u32::MAX
        ))
    })
}

#[pymethods]
impl PyRoute {
    #[new]
    #[pyo3(signature = (name, provider, model, *, aliases=None, tier=0, weight=1,
        context_window=None, timeout=None, max_in_flight=None, price=None, budgets=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: String,
        provider: &Bound<'_, PyAny>,
        model: String,
        aliases: Option<&Bound<'_, PyAny>>,
        tier: i64,
        weight: i64,
        context_window: Option<i64>,
        timeout: Option<f64>,
        max_in_flight: Option<i64>,
        price: Option<(f64, f64)>,
        budgets: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let provider = provider.cast::<PyProvider>().map_err(|_| {
            PyTypeError::new_err(format!(
                "Route provider must be a llmward provider or Router, not {}",
                provider
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        let aliases = match aliases.filter(|a| !a.is_none()) {
            Some(a) => convert::string_or_list(a, "aliases")?,
            None => Vec::new(),
        };
        Ok(Self {
            name,
            backend: provider.get().backend.clone(),
            provider: provider.clone().unbind(),
            model,
            aliases,
            tier: u32_arg(tier, "tier")?,
            weight: u32_arg(weight, "weight")?,
            context_window: context_window
                .map(|n| non_negative(n, "context_window"))
                .transpose()?,
            timeout: timeout
                .map(|t| convert::duration(t, "timeout"))
                .transpose()?,
            max_in_flight: max_in_flight
                .map(|n| {
                    usize::try_from(n)
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| PyValueError::new_err("max_in_flight must be positive"))
                })
                .transpose()?,
            price,
            budgets: budgets_arg(budgets, "budgets")?,
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.provider)
    }

    fn __repr__(&self) -> String {
        format!(
            "Route(name={:?}, provider={:?}, model={:?}, aliases={:?}, tier={})",
            self.name,
            self.backend.name(),
            self.model,
            self.aliases,
            self.tier
        )
    }
}

/// Retry settings: `max_attempts_per_route`, `base_delay` and `max_delay` (backoff, seconds),
/// `retry_after_cap` (seconds).
#[derive(Clone, Default)]
struct Retry {
    max_attempts_per_route: Option<u32>,
    backoff: Option<(Duration, Duration)>,
    retry_after_cap: Option<Duration>,
}

fn parse_retry(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Retry> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Retry::default());
    };
    if let Ok(n) = obj.extract::<i64>() {
        return Ok(Retry {
            max_attempts_per_route: Some(convert::positive_u32(n, "retry")?),
            ..Retry::default()
        });
    }
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("retry must be an int (attempts per route) or a dict"))?;
    let mut retry = Retry::default();
    let mut base = Duration::from_millis(250);
    let mut max = Duration::from_secs(8);
    let mut backoff = false;
    for (k, v) in d.iter() {
        let key: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("retry keys must be str"))?;
        match key.as_str() {
            "max_attempts_per_route" => {
                retry.max_attempts_per_route = Some(convert::positive_u32(
                    v.extract()?,
                    "retry.max_attempts_per_route",
                )?);
            }
            "base_delay" => {
                base = convert::duration(v.extract()?, "retry.base_delay")?;
                backoff = true;
            }
            "max_delay" => {
                max = convert::duration(v.extract()?, "retry.max_delay")?;
                backoff = true;
            }
            "retry_after_cap" => {
                retry.retry_after_cap =
                    Some(convert::duration(v.extract()?, "retry.retry_after_cap")?);
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown retry setting {other:?} (expected max_attempts_per_route, \
                     base_delay, max_delay, retry_after_cap)"
                )));
            }
        }
    }
    if backoff {
        retry.backoff = Some((base, max));
    }
    Ok(retry)
}

/// Everything needed to build the router again (in a forked child).
struct RouterConfig {
    routes: Vec<Py<PyRoute>>,
    name: Option<String>,
    retry: Retry,
    cooldown: Option<Duration>,
    failure_threshold: Option<u32>,
    budgets: Vec<Budget>,
    max_tokens_ceiling: Option<u32>,
    refuse_above_ceiling: bool,
    deadline: Option<Duration>,
    first_token_timeout: Option<Duration>,
    fallback_on_content_filter: bool,
    prefer_low_latency: bool,
    seed: Option<u64>,
    // Shared with the built router's closure, so the callback holds one reference (which
    // the garbage collector sees through `__traverse__`).
    on_event: Option<Arc<Py<PyAny>>>,
}

/// Calls the Python `on_event` callback with the event as a dict, on the thread that emits
/// it, in order. An exception in the callback is reported through `sys.unraisablehook` and
/// never affects the request.
fn deliver_event(callback: &Py<PyAny>, event: &RouterEvent) {
    // None only while the interpreter shuts down, when nobody is listening.
    let _ = Python::try_attach(|py| {
        let result = (|| -> PyResult<()> {
            let dict = PyDict::new(py);
            for (field, value) in event.fields() {
                dict.set_item(field, from_json(py, &value)?)?;
            }
            callback.call1(py, (dict,))?;
            Ok(())
        })();
        if let Err(err) = result {
            err.write_unraisable(py, Some(callback.bind(py)));
        }
    });
}

impl RouterConfig {
    fn build(&self, py: Python<'_>) -> PyResult<Router> {
        let mut b = Router::builder();
        for route in &self.routes {
            b = b.route(route.get().build(py)?);
        }
        if let Some(name) = &self.name {
            b = b.name(name.clone());
        }
        if let Some(n) = self.retry.max_attempts_per_route {
            b = b.max_attempts_per_route(n);
        }
        if let Some((base, max)) = self.retry.backoff {
            b = b.backoff(base, max);
        }
        if let Some(cap) = self.retry.retry_after_cap {
            b = b.retry_after_cap(cap);
        }
        if let Some(c) = self.cooldown {
            b = b.cooldown(c);
        }
        if let Some(n) = self.failure_threshold {
            b = b.failure_threshold(n);
        }
        for budget in &self.budgets {
            b = b.budget(budget.clone());
        }
        if let Some(n) = self.max_tokens_ceiling {
            b = b.max_tokens_ceiling(n);
        }
        if let Some(d) = self.deadline {
            b = b.deadline(d);
        }
        if let Some(t) = self.first_token_timeout {
            b = b.first_token_timeout(t);
        }
        if let Some(seed) = self.seed {
            b = b.seed(seed);
        }
        if let Some(callback) = &self.on_event {
            let callback = callback.clone();
            b = b.on_event(move |event| deliver_event(&callback, event));
        }
        b.refuse_above_ceiling(self.refuse_above_ceiling)
            .fallback_on_content_filter(self.fallback_on_content_filter)
            .prefer_low_latency(self.prefer_low_latency)
            .build()
            .map_err(|e| errors::to_py(py, &e))
    }
}

struct RouterCell {
    config: RouterConfig,
    cache: PerGeneration<Router>,
}

impl RouterCell {
    fn get(&self, py: Python<'_>) -> PyResult<Arc<Router>> {
        self.cache.get(py, || self.config.build(py).map(Arc::new))
    }
}

/// A fallback router: one provider in front of many `Route`s. A call names an alias as its
/// `model`; the router tries the routes serving it by tier, retries what is worth retrying
/// (honouring Retry-After), falls back on failure, puts failing routes in cooldown, enforces
/// budgets and the `max_tokens` ceiling before anything is sent, and reports every attempt to
/// `on_event`.
///
/// `on_event` is called with a plain dict per event (snake_case fields; never a key, a prompt
/// or a completion), in order, synchronously on the thread that emits it, holding the GIL: a
/// slow callback slows requests down. An exception in it is reported through
/// `sys.unraisablehook` and never breaks the request.
#[pyclass(extends = PyProvider, frozen, module = "llmward._llmward", name = "Router")]
pub(crate) struct PyRouter {
    cell: Arc<RouterCell>,
}

#[pymethods]
impl PyRouter {
    #[new]
    #[pyo3(signature = (routes, *, name=None, retry=None, cooldown=None, failure_threshold=None,
        budget=None, max_tokens_ceiling=None, refuse_above_ceiling=false, deadline=None,
        first_token_timeout=None, fallback_on_content_filter=false, prefer_low_latency=false,
        seed=None, on_event=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        routes: &Bound<'_, PyAny>,
        name: Option<String>,
        retry: Option<&Bound<'_, PyAny>>,
        cooldown: Option<f64>,
        failure_threshold: Option<i64>,
        budget: Option<&Bound<'_, PyAny>>,
        max_tokens_ceiling: Option<i64>,
        refuse_above_ceiling: bool,
        deadline: Option<f64>,
        first_token_timeout: Option<f64>,
        fallback_on_content_filter: bool,
        prefer_low_latency: bool,
        seed: Option<u64>,
        on_event: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = routes.cast::<PyList>() {
            l.iter().collect()
        } else if let Ok(t) = routes.cast::<PyTuple>() {
            t.iter().collect()
        } else {
            return Err(PyTypeError::new_err(
                "routes must be a list of Route objects",
            ));
        };
        let routes = items
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.cast::<PyRoute>()
                    .map(|r| r.clone().unbind())
                    .map_err(|_| PyTypeError::new_err(format!("routes[{i}] must be a Route")))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let on_event = match on_event.filter(|o| !o.is_none()) {
            Some(f) if f.is_callable() => Some(Arc::new(f.clone().unbind())),
            Some(_) => return Err(PyTypeError::new_err("on_event must be callable")),
            None => None,
        };
        let config = RouterConfig {
            routes,
            name,
            retry: parse_retry(retry)?,
            cooldown: cooldown
                .map(|c| convert::duration(c, "cooldown"))
                .transpose()?,
            failure_threshold: failure_threshold
                .map(|n| convert::positive_u32(n, "failure_threshold"))
                .transpose()?,
            budgets: budgets_arg(budget, "budget")?,
            max_tokens_ceiling: max_tokens_ceiling
                .map(|n| convert::positive_u32(n, "max_tokens_ceiling"))
                .transpose()?,
            refuse_above_ceiling,
            deadline: deadline
                .map(|d| convert::duration(d, "deadline"))
                .transpose()?,
            first_token_timeout: first_token_timeout
                .map(|d| convert::duration(d, "first_token_timeout"))
                .transpose()?,
            fallback_on_content_filter,
            prefer_low_latency,
            seed,
            on_event,
        };
        let router = config.build(py)?;
        let cell = Arc::new(RouterCell {
            config,
            cache: PerGeneration::new(runtime::generation(py), Arc::new(router)),
        });
        let provider_cell = cell.clone();
        let factory: Factory = Box::new(move |py| Ok(provider_cell.get(py)? as Arc<dyn Provider>));
        let routes: Vec<String> = cell
            .config
            .routes
            .iter()
            .map(|r| r.get().name.clone())
            .collect();
        let backend = Backend::new(
            py,
            Box::new(move |name| format!("Router(name={name:?}, routes={routes:?})")),
            factory,
            None,
        )?;
        Ok(PyClassInitializer::from(PyProvider::new(backend)).add_subclass(Self { cell }))
    }

    /// The model names (aliases) callers may ask for, sorted.
    #[getter]
    fn models(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let router = self.cell.get(py)?;
        Ok(router.models().into_iter().map(str::to_owned).collect())
    }

    /// The routes, in declaration order.
    #[getter]
    fn routes(&self, py: Python<'_>) -> Vec<Py<PyRoute>> {
        self.cell
            .config
            .routes
            .iter()
            .map(|r| r.clone_ref(py))
            .collect()
    }

    /// Each route's health now: a list of dicts (`route`, `provider`, `model`, `tier`,
    /// `in_rotation`, `cooldown_remaining` seconds, `probing`, `anomaly_locked`,
    /// `error_rate`, `latency` seconds, `in_flight`, `max_in_flight`, `attempts`,
    /// `failures`).
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let router = self.cell.get(py)?;
        let health = runtime::block_on(py, async move {
            let now = tokio::time::Instant::now();
            router
                .health()
                .await
                .into_iter()
                .map(|h| {
                    (
                        h.cooldown_until.map(|t| t.saturating_duration_since(now)),
                        h,
                    )
                })
                .collect::<Vec<_>>()
        })?;
        let out = PyList::empty(py);
        for (remaining, h) in health {
            let d = PyDict::new(py);
            d.set_item("route", h.route)?;
            d.set_item("provider", h.provider)?;
            d.set_item("model", h.model)?;
            d.set_item("tier", h.tier)?;
            d.set_item("in_rotation", h.in_rotation)?;
            d.set_item("cooldown_remaining", remaining.map(|r| r.as_secs_f64()))?;
            d.set_item("probing", h.probing)?;
            d.set_item("anomaly_locked", h.anomaly_locked)?;
            d.set_item("error_rate", h.error_rate)?;
            d.set_item("latency", h.latency_ewma.map(|l| l.as_secs_f64()))?;
            d.set_item("in_flight", h.in_flight)?;
            d.set_item("max_in_flight", h.max_in_flight)?;
            d.set_item("attempts", h.attempts)?;
            d.set_item("failures", h.failures)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Every budget's state now: a list of dicts (`name`, `metric`, `scope`, `window`
    /// seconds, `limit`, `used`, `reserved`, `remaining`).
    fn budgets<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let router = self.cell.get(py)?;
        let budgets = runtime::block_on(py, async move { router.budgets().await })?;
        let out = PyList::empty(py);
        for b in budgets {
            let d = PyDict::new(py);
            d.set_item("name", b.name)?;
            d.set_item("metric", b.metric.as_str())?;
            d.set_item("scope", b.scope.to_string())?;
            d.set_item("window", b.window.as_secs_f64())?;
            d.set_item("limit", b.limit)?;
            d.set_item("used", b.used)?;
            d.set_item("reserved", b.reserved)?;
            d.set_item("remaining", b.remaining)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Puts `route` back in rotation now, ending its cooldown; returns whether it was out.
    fn reset_cooldown(&self, py: Python<'_>, route: String) -> PyResult<bool> {
        let router = self.cell.get(py)?;
        runtime::block_on(py, async move { router.reset_cooldown(&route).await })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(callback) = &self.cell.config.on_event {
            visit.call(&**callback)?;
        }
        for route in &self.cell.config.routes {
            visit.call(route)?;
        }
        Ok(())
    }

    /// Lifts every anomaly lock.
    fn reset_anomaly(&self, py: Python<'_>) -> PyResult<()> {
        let router = self.cell.get(py)?;
        py.detach(|| router.reset_anomaly());
        Ok(())
    }
}
