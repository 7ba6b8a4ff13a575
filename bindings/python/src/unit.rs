//! [`PythonUnit`]: a [`Unit`] whose operations run the user's Python code.
//!
//! Calls never run on the server's tokio threads: each is handed to one of the unit's own worker
//! threads, which takes the GIL, calls the Python handler and sends the answer back. A slow or
//! hung `predict` therefore only occupies its worker, never health checks or other models, and
//! the caller stops waiting after the unit's timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use oxserve_core::{
    Error, ErrorKind, Feedback, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit,
};
use oxserve_foreign::{ForeignModel, Jobs, Limit, Setup};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::convert;

/// A unit of work for a worker thread; it sends its own result back.
type Job = Box<dyn FnOnce(Python<'_>) + Send>;

/// The operations of [`Unit`] that the Python handler may implement, by the name of the handler
/// method that implements each.
pub const OPERATIONS: [&str; 8] = [
    "predict",
    "transform_input",
    "transform_output",
    "route",
    "aggregate",
    "send_feedback",
    "health_status",
    "explain",
];

/// A model's readiness, set from Python (KServe's `model.ready`) and read by the server's health
/// routes without the GIL.
#[pyclass(frozen, module = "oxserve._native")]
pub struct Readiness {
    pub ready: Arc<AtomicBool>,
}

#[pymethods]
impl Readiness {
    /// Marks the model ready or not; while it is not, its health answers 503 and its calls are
    /// refused with 503 before reaching Python.
    fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

/// A Python model behind the [`Unit`] trait.
pub struct PythonUnit {
    model: ForeignModel<Job>,
    /// The Python object with one method per supported operation (see `oxserve/_wire.py`).
    handler: Arc<Py<PyAny>>,
    ready: Arc<AtomicBool>,
    /// The handler's `wants_headers`: KServe methods that take a `headers` argument.
    wants_headers: bool,
}

impl PythonUnit {
    /// Starts the model's worker threads for `handler`; they end when the unit is dropped. `ready`
    /// is shared with the [`Readiness`] handle given to Python; `wants_headers` is the handler's
    /// own attribute of that name, read when it was declared.
    pub fn new(
        setup: Setup,
        handler: Py<PyAny>,
        ready: Arc<AtomicBool>,
        wants_headers: bool,
    ) -> Result<PythonUnit> {
        let model = setup.on_workers("oxserve-py", worker)?;
        Ok(PythonUnit { model, handler: Arc::new(handler), ready, wants_headers })
    }

    /// Runs `call` with the handler on a worker thread and waits for its answer, at most `limit`.
    async fn call<T: Send + 'static>(
        &self,
        operation: &'static str,
        limit: Option<Limit>,
        call: impl FnOnce(Python<'_>, &Bound<'_, PyAny>) -> PyResult<Result<T>> + Send + 'static,
    ) -> Result<T> {
        if !self.is_ready() {
            return Err(Error::unavailable(format!("model '{}' is not ready", self.model.metadata().name)));
        }
        let handler = Arc::clone(&self.handler);
        let name = self.model.metadata().name.clone();
        self.model
            .call(operation, limit, |reply| -> Job {
                Box::new(move |py| {
                    reply.send(
                        call(py, handler.bind(py))
                            .unwrap_or_else(|err| Err(user_error(py, err, &name, operation))),
                    )
                })
            })
            .await
    }
}

impl PythonUnit {
    /// Calls the handler's `operation` (`predict`, `explain`) with `request`, answering for it.
    async fn answer(&self, operation: &'static str, request: InferenceRequest) -> Result<InferenceResponse> {
        self.model.check(&request)?;
        let limit = self.model.limit(Some(&request));
        self.call(operation, limit, move |py, handler| {
            let message = match convert::request_to_py(py, &request) {
                Ok(message) => message,
                Err(e) => return Ok(Err(e)),
            };
            let answer = handler.call_method1(operation, (message,))?;
            Ok(convert::response_from_py(py, &answer, request.id, &request.model_name, request.model_version))
        })
        .await
    }
}

/// A worker thread: takes jobs until the unit is dropped. The GIL is held only while a job runs.
///
/// The thread keeps one Python thread state for its whole life. Without one, each job's
/// `Python::attach` would make CPython create a thread state and delete it again, mapping and
/// unmapping its frame stack every time. The state is never deleted here but left to the
/// interpreter, which deletes it when it finalizes: deleting it needs the GIL, and a thread that
/// waits for the GIL while the interpreter shuts down is ended from inside CPython, through this
/// thread's Rust frames. Started again after a panicking job, the worker finds the state it kept.
fn worker(jobs: &Jobs<Job>) {
    // SAFETY: the interpreter is running (this package was imported from it). Ensure gives this
    // thread a state and the GIL, and SaveThread releases the GIL while keeping the state, so
    // each job's attach below only takes the GIL with it; that state is never used after this
    // thread ends.
    unsafe {
        pyo3::ffi::PyGILState_Ensure();
        pyo3::ffi::PyEval_SaveThread();
    }
    for job in jobs {
        Python::attach(job);
    }
}

/// An exception from the user's code as an error for the caller.
///
/// An exception with an integer `status_code` attribute (Seldon's microservice exceptions,
/// oxserve's own) answers with that status and its message; any other is the model's failure,
/// a 500 whose message names the exception type, with the traceback written to the log.
fn user_error(py: Python<'_>, err: PyErr, model: &str, operation: &str) -> Error {
    let value = err.value(py);
    let message = value.str().map(|s| s.to_string()).unwrap_or_default();
    let status = value.getattr("status_code").ok().and_then(|s| s.extract::<u16>().ok());
    match status {
        Some(status) => Error::new(ErrorKind::from_http_status(status), message),
        None => {
            err.display(py);
            let kind = err.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into());
            Error::internal(format!("model '{model}': {operation} raised {kind}: {message}"))
        }
    }
}

#[async_trait]
impl Unit for PythonUnit {
    fn metadata(&self) -> &ModelMetadata {
        self.model.metadata()
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    fn max_batch_size(&self) -> usize {
        self.model.max_batch_size()
    }

    /// A model that batches gets no headers: one call serves several callers, and requests with
    /// different headers (any two, by their ids or lengths) could not share a batch.
    fn wants_headers(&self) -> bool {
        self.wants_headers && self.model.max_batch_size() <= 1
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        self.answer("predict", request).await
    }

    async fn explain(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        self.answer("explain", request).await
    }

    async fn health_status(&self) -> Result<Option<InferenceResponse>> {
        if !self.model.supports("health_status") {
            return Ok(None);
        }
        let model = self.model.metadata().name.clone();
        self.call("health_status", self.model.limit(None), move |py, handler| {
            let answer = handler.call_method0("health_status")?;
            Ok(convert::response_from_py(py, &answer, None, &model, None).map(Some))
        })
        .await
    }

    async fn transform_input(&self, request: InferenceRequest) -> Result<InferenceRequest> {
        self.model.check(&request)?;
        let limit = self.model.limit(Some(&request));
        self.call("transform_input", limit, move |py, handler| {
            let message = match convert::request_to_py(py, &request) {
                Ok(message) => message,
                Err(e) => return Ok(Err(e)),
            };
            let answer = handler.call_method1("transform_input", (message,))?;
            Ok(convert::request_from_py(py, &answer, &request))
        })
        .await
    }

    async fn transform_output(&self, response: InferenceResponse) -> Result<InferenceResponse> {
        self.call("transform_output", self.model.limit(None), move |py, handler| {
            let message = match convert::response_to_py(py, &response) {
                Ok(message) => message,
                Err(e) => return Ok(Err(e)),
            };
            let answer = handler.call_method1("transform_output", (message,))?;
            Ok(convert::response_from_py(
                py,
                &answer,
                response.id,
                &response.model_name,
                response.model_version,
            ))
        })
        .await
    }

    async fn route(&self, request: &InferenceRequest) -> Result<i32> {
        self.model.check(request)?;
        let request = request.clone();
        self.call("route", self.model.limit(Some(&request)), move |py, handler| {
            let message = match convert::request_to_py(py, &request) {
                Ok(message) => message,
                Err(e) => return Ok(Err(e)),
            };
            Ok(Ok(handler.call_method1("route", (message,))?.extract::<i32>()?))
        })
        .await
    }

    async fn aggregate(&self, responses: Vec<InferenceResponse>) -> Result<InferenceResponse> {
        let model = self.model.metadata().name.clone();
        self.call("aggregate", self.model.limit(None), move |py, handler| {
            let messages =
                match responses.iter().map(|r| convert::response_to_py(py, r)).collect::<Result<Vec<_>>>() {
                    Ok(messages) => messages,
                    Err(e) => return Ok(Err(e)),
                };
            let answer = handler.call_method1("aggregate", (PyList::new(py, messages)?,))?;
            let id = responses.first().and_then(|r| r.id.clone());
            Ok(convert::response_from_py(py, &answer, id, &model, None))
        })
        .await
    }

    async fn send_feedback(&self, feedback: Feedback) -> Result<InferenceResponse> {
        let model = self.model.metadata().name.clone();
        self.call("send_feedback", self.model.limit(None), move |py, handler| {
            let message = match convert::feedback_to_py(py, &feedback) {
                Ok(message) => message,
                Err(e) => return Ok(Err(e)),
            };
            let answer = handler.call_method1("send_feedback", (message,))?;
            let id = feedback.request.as_ref().and_then(|r| r.id.clone());
            Ok(convert::response_from_py(py, &answer, id, &model, None))
        })
        .await
    }
}
