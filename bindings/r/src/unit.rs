//! [`RUnit`]: a [`Unit`] whose operations run the user's R code on R's main thread.
//!
//! R is single-threaded and may only be entered from the thread that runs it, so a unit never
//! calls R itself: it queues a [`Job`] to the main thread, which `oxserve::serve()` keeps
//! servicing ([`crate::main_thread`]), and awaits the answer. Health checks, metrics and other
//! protocol work stay on the server's tokio threads, so a slow `predict` never stalls them, and
//! the scheduler in front of each unit batches requests so that one R call serves many rows.

use std::sync::mpsc;

use async_trait::async_trait;
use oxserve_core::{Error, Feedback, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit};
use oxserve_foreign::{ForeignModel, Limit, Setup};

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
    model: ForeignModel<Job>,
}

impl RUnit {
    /// The unit of the model whose handler is the `index`-th, its calls queued to R's main
    /// thread through `jobs`.
    pub fn new(index: usize, setup: Setup, jobs: mpsc::Sender<Job>) -> RUnit {
        RUnit { index, model: setup.on_host_thread(jobs, "R") }
    }

    /// Runs `work` on R's main thread and waits for its answer, at most `limit`.
    async fn call<T: Send + 'static>(
        &self,
        operation: &'static str,
        limit: Option<Limit>,
        work: impl FnOnce(&MainThread, usize) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let index = self.index;
        self.model
            .call(operation, limit, |reply| -> Job {
                Box::new(move |main: &MainThread| reply.send(work(main, index)))
            })
            .await
    }
}

#[async_trait]
impl Unit for RUnit {
    fn metadata(&self) -> &ModelMetadata {
        self.model.metadata()
    }

    fn max_batch_size(&self) -> usize {
        self.model.max_batch_size()
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        self.model.check(&request)?;
        self.call("predict", self.model.limit(Some(&request)), move |main, index| {
            let answer = main.call(index, "predict", convert::request_to_r(&request)?)?;
            convert::response_from_r(&answer, request.id, &request.model_name, request.model_version)
        })
        .await
    }

    async fn transform_input(&self, request: InferenceRequest) -> Result<InferenceRequest> {
        self.model.check(&request)?;
        self.call("transform_input", self.model.limit(Some(&request)), move |main, index| {
            let answer = main.call(index, "transform_input", convert::request_to_r(&request)?)?;
            convert::request_from_r(&answer, &request)
        })
        .await
    }

    async fn transform_output(&self, response: InferenceResponse) -> Result<InferenceResponse> {
        self.call("transform_output", self.model.limit(None), move |main, index| {
            let answer = main.call(index, "transform_output", convert::response_to_r(&response)?)?;
            convert::response_from_r(&answer, response.id, &response.model_name, response.model_version)
        })
        .await
    }

    async fn route(&self, request: &InferenceRequest) -> Result<i32> {
        self.model.check(request)?;
        let request = request.clone();
        let model = self.model.metadata().name.clone();
        self.call("route", self.model.limit(Some(&request)), move |main, index| {
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
        let model = self.model.metadata().name.clone();
        self.call("send_feedback", self.model.limit(None), move |main, index| {
            let answer = main.call(index, "send_feedback", convert::feedback_to_r(&feedback)?)?;
            let id = feedback.request.as_ref().and_then(|r| r.id.clone());
            convert::response_from_r(&answer, id, &model, None)
        })
        .await
    }
}
