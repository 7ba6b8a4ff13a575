//! [`RUnit`]: a [`Unit`] whose operations run the user's R code on R's main thread.
//!
//! R is single-threaded and may only be entered from the thread that runs it, so a unit never
//! calls R itself: it queues a [`Job`] to the main thread, which `oxserve::serve()` keeps
//! servicing ([`crate::main_thread`]), and awaits the answer. Health checks, metrics and other
//! protocol work stay on the server's tokio threads, so a slow `predict` never stalls them, and
//! the scheduler in front of each unit batches requests so that one R call serves many rows.

use std::sync::mpsc;
use std::time::Duration;

use async_trait::async_trait;
use oxserve_core::{
    Error, ErrorKind, Feedback, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit,
};

use crate::convert;
use crate::main_thread::{Job, MainThread};

/// The operations of [`Unit`] an R model may implement, under the names R's dispatcher
/// (`r/R/serve.R`) knows them by.
pub const OPERATIONS: [&str; 5] =
    ["predict", "transform_input", "transform_output", "route", "send_feedback"];

/// An R model behind the [`Unit`] trait.
pub struct RUnit {
    /// Which of the handlers given to `serve()` this unit calls.
    index: usize,
    metadata: ModelMetadata,
    /// Which of [`OPERATIONS`] the model implements; the others answer `Unimplemented`.
    supported: Vec<&'static str>,
    max_batch_size: usize,
    /// How long a caller waits for R before answering `DeadlineExceeded`.
    timeout: Option<Duration>,
    jobs: mpsc::Sender<Job>,
}

impl RUnit {
    pub fn new(
        index: usize,
        metadata: ModelMetadata,
        supported: Vec<&'static str>,
        max_batch_size: usize,
        timeout: Option<Duration>,
        jobs: mpsc::Sender<Job>,
    ) -> RUnit {
        RUnit { index, metadata, supported, max_batch_size, timeout, jobs }
    }

    /// Checks a request against the declared inputs, so that R only sees tensors it declared;
    /// a model that declares none takes any.
    fn check(&self, request: &InferenceRequest) -> Result<()> {
        if self.metadata.inputs.is_empty() { Ok(()) } else { self.metadata.check_request(request) }
    }

    /// Runs `work` on R's main thread and waits for its answer.
    async fn call<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&MainThread, usize) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let model = &self.metadata.name;
        if !self.supported.contains(&operation) {
            return Err(Error::unimplemented(format!("model '{model}' does not implement {operation}")));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let index = self.index;
        let job: Job = Box::new(move |main: &MainThread| {
            let _ = reply.send(work(main, index));
        });
        self.jobs
            .send(job)
            .map_err(|_| Error::unavailable(format!("model '{model}': R has stopped serving")))?;
        let answer = match self.timeout {
            Some(limit) => tokio::time::timeout(limit, answer).await.map_err(|_| {
                Error::new(
                    ErrorKind::DeadlineExceeded,
                    format!(
                        "model '{model}': {operation} did not answer within {limit:?} (the model's timeout)"
                    ),
                )
            })?,
            None => answer.await,
        };
        answer.map_err(|_| {
            Error::unavailable(format!("model '{model}': R stopped before {operation} answered"))
        })?
    }
}

#[async_trait]
impl Unit for RUnit {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn max_batch_size(&self) -> usize {
        self.max_batch_size
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        self.check(&request)?;
        self.call("predict", move |main, index| {
            let answer = main.call(index, "predict", convert::request_to_r(&request)?)?;
            convert::response_from_r(&answer, request.id, &request.model_name, request.model_version)
        })
        .await
    }

    async fn transform_input(&self, request: InferenceRequest) -> Result<InferenceRequest> {
        self.check(&request)?;
        self.call("transform_input", move |main, index| {
            let answer = main.call(index, "transform_input", convert::request_to_r(&request)?)?;
            convert::request_from_r(&answer, &request)
        })
        .await
    }

    async fn transform_output(&self, response: InferenceResponse) -> Result<InferenceResponse> {
        self.call("transform_output", move |main, index| {
            let answer = main.call(index, "transform_output", convert::response_to_r(&response)?)?;
            convert::response_from_r(&answer, response.id, &response.model_name, response.model_version)
        })
        .await
    }

    async fn route(&self, request: &InferenceRequest) -> Result<i32> {
        self.check(request)?;
        let request = request.clone();
        let model = self.metadata.name.clone();
        self.call("route", move |main, index| {
            let answer = main.call(index, "route", convert::request_to_r(&request)?)?;
            answer.as_integer().filter(|&i| i != i32::MIN).ok_or_else(|| {
                Error::internal(format!(
                    "model '{model}': route must return one whole number, got {answer:?}"
                ))
            })
        })
        .await
    }

    async fn send_feedback(&self, feedback: Feedback) -> Result<InferenceResponse> {
        let model = self.metadata.name.clone();
        self.call("send_feedback", move |main, index| {
            let answer = main.call(index, "send_feedback", convert::feedback_to_r(&feedback)?)?;
            let id = feedback.request.as_ref().and_then(|r| r.id.clone());
            convert::response_from_r(&answer, id, &model, None)
        })
        .await
    }
}
