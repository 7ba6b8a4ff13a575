//! [`ForeignModel`]: the half of a binding's unit that is the same in every language.

use std::sync::mpsc;
use std::time::Duration;

use oxserve_core::{Error, ErrorKind, InferenceRequest, ModelMetadata, Result};
use tokio::sync::oneshot;

/// What runs a model's jobs, as the error of a call it never answered names it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Runner {
    /// The subject of "… stopped before predict answered".
    pub name: &'static str,
    pub stopped: ErrorKind,
}

/// A model whose code runs in another language: its metadata, which operations it implements,
/// its timeout, and the queue its calls go to. A binding's unit holds one and implements each
/// [`oxserve_core::Unit`] operation as a [`ForeignModel::call`] with a job that converts the
/// message, calls the user's code and converts its answer.
///
/// `J` is the binding's job type: a closure that takes what the language's thread lends it
/// (Python's GIL token, a JNI environment, R's dispatchers) and sends its answer through the
/// [`Reply`] it was built with.
pub struct ForeignModel<J> {
    pub(crate) metadata: ModelMetadata,
    /// The operations the model implements; calls for others answer `Unimplemented`.
    pub(crate) supported: Vec<&'static str>,
    pub(crate) max_batch_size: usize,
    /// How long a caller waits before answering `DeadlineExceeded`.
    pub(crate) timeout: Option<Duration>,
    pub(crate) jobs: mpsc::Sender<J>,
    pub(crate) runner: Runner,
}

/// How long a call waits for its answer, and which setting said so (named in the error).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    after: Duration,
    source: &'static str,
}

/// The way back to a caller waiting in [`ForeignModel::call`], moved into the job.
///
/// A job that panics, or that is dropped without running (its threads have stopped), still
/// answers: dropping an unsent `Reply` tells the caller which of the two happened, so no caller
/// waits for an answer that cannot come.
pub struct Reply<T> {
    answer: Option<oneshot::Sender<Outcome<T>>>,
}

enum Outcome<T> {
    Answered(Result<T>),
    Panicked,
}

impl<T> Reply<T> {
    /// Answers the caller; an answer after the caller stopped waiting is dropped.
    pub fn send(mut self, answer: Result<T>) {
        if let Some(reply) = self.answer.take() {
            let _ = reply.send(Outcome::Answered(answer));
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        // Unsent and not panicking, the reply just closes: the caller reports the runner gone.
        if let Some(reply) = self.answer.take()
            && std::thread::panicking()
        {
            let _ = reply.send(Outcome::Panicked);
        }
    }
}

impl<J> ForeignModel<J> {
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// The most rows one call takes (the model's `max_batch_size` setting).
    pub fn max_batch_size(&self) -> usize {
        self.max_batch_size
    }

    /// Whether the model implements `operation`.
    pub fn supports(&self, operation: &str) -> bool {
        self.supported.contains(&operation)
    }

    /// The queue the model's jobs go to, for jobs that answer nobody (Java frees references
    /// there and refreshes its model's health).
    pub fn jobs(&self) -> &mpsc::Sender<J> {
        &self.jobs
    }

    /// Checks a request against the declared inputs, so that the user's code only sees tensors
    /// it declared; a model that declares none takes any.
    pub fn check(&self, request: &InferenceRequest) -> Result<()> {
        if self.metadata.inputs.is_empty() { Ok(()) } else { self.metadata.check_request(request) }
    }

    /// How long a call for `request` (`None` for a call that carries none) waits: the model's
    /// timeout, or the request's own `timeout` parameter (microseconds, as V2 defines it; 0 is
    /// none, as for the scheduler) if sooner.
    pub fn limit(&self, request: Option<&InferenceRequest>) -> Option<Limit> {
        let own = request
            .and_then(|r| r.parameters.get("timeout"))
            .and_then(|t| t.as_u64())
            .filter(|&micros| micros > 0)
            .map(|micros| Limit {
                after: Duration::from_micros(micros),
                source: "the request's timeout parameter",
            });
        let model = self.timeout.map(|after| Limit { after, source: "the model's timeout" });
        // On a tie the first, the model's, is named.
        [model, own].into_iter().flatten().min_by_key(|limit| limit.after)
    }

    /// Queues the job `job` builds around the caller's [`Reply`] and waits for its answer, at
    /// most `limit`.
    ///
    /// A model that does not implement `operation` answers `Unimplemented` without queueing
    /// anything; past `limit` the caller gets `DeadlineExceeded` naming the model, the operation
    /// and the limit's source, while the job may still run to its end on its thread (user code
    /// cannot be interrupted). A job that panics answers `Internal`; a job whose thread has
    /// stopped answers as the runner says (see [`crate::Setup`]).
    pub async fn call<T: Send + 'static>(
        &self,
        operation: &'static str,
        limit: Option<Limit>,
        job: impl FnOnce(Reply<T>) -> J + Send,
    ) -> Result<T> {
        let model = &self.metadata.name;
        if !self.supports(operation) {
            return Err(Error::unimplemented(format!("model '{model}' does not implement {operation}")));
        }
        let (reply, answer) = oneshot::channel();
        // A queue with nobody left to take from it hands the job back, and dropping the job drops
        // its reply: the same answer as a job dropped unrun, below.
        let _ = self.jobs.send(job(Reply { answer: Some(reply) }));
        let outcome = match limit {
            Some(Limit { after, source }) => tokio::time::timeout(after, answer).await.map_err(|_| {
                Error::new(
                    ErrorKind::DeadlineExceeded,
                    format!("model '{model}': {operation} did not answer within {after:?} ({source})"),
                )
            })?,
            None => answer.await,
        };
        match outcome {
            Ok(Outcome::Answered(answer)) => answer,
            Ok(Outcome::Panicked) => {
                Err(Error::internal(format!("model '{model}': {operation} panicked (the log has the panic)")))
            }
            Err(_) => Err(Error::new(
                self.runner.stopped,
                format!("model '{model}': {} stopped before {operation} answered", self.runner.name),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use oxserve_core::{DataType, Tensor, TensorSpec};
    use serde_json::json;
    use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

    use super::*;
    use crate::{Jobs, Setup};

    /// The tests' job: a closure the worker runs with nothing lent to it.
    type Job = Box<dyn FnOnce() + Send>;

    fn setup(name: &str, instances: usize, timeout: Option<Duration>) -> Setup {
        Setup {
            metadata: ModelMetadata { name: name.into(), ..ModelMetadata::default() },
            supported: vec!["predict", "route"],
            max_batch_size: 0,
            timeout,
            instances,
        }
    }

    fn worker(jobs: &Jobs<Job>) {
        for job in jobs {
            job();
        }
    }

    /// A model on `instances` worker threads of the test's own.
    fn on_workers(name: &str, instances: usize, timeout: Option<Duration>) -> ForeignModel<Job> {
        setup(name, instances, timeout).on_workers("oxserve-test", worker).unwrap()
    }

    /// Calls `predict` with `work` as the job's body.
    async fn call<T: Send + 'static>(
        model: &ForeignModel<Job>,
        limit: Option<Limit>,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        model.call("predict", limit, |reply| -> Job { Box::new(move || reply.send(work())) }).await
    }

    fn request(parameters: serde_json::Value) -> InferenceRequest {
        let serde_json::Value::Object(parameters) = parameters else { panic!("parameters are an object") };
        InferenceRequest { parameters, ..InferenceRequest::default() }
    }

    #[tokio::test]
    async fn a_call_runs_on_a_worker_thread() {
        let model = on_workers("m", 1, None);
        let thread = call(&model, None, || Ok(std::thread::current().name().map(String::from))).await;
        assert_eq!(thread.unwrap().as_deref(), Some("oxserve-test-m-0"));
        assert_ne!(std::thread::current().name(), Some("oxserve-test-m-0"));
    }

    #[tokio::test]
    async fn an_operation_the_model_lacks_is_unimplemented_without_a_job() {
        let model = on_workers("m", 1, None);
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let job = |reply: Reply<()>| -> Job {
            Box::new(move || {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
                reply.send(Ok(()))
            })
        };
        let e = model.call("aggregate", None, job).await.unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::Unimplemented, "model 'm' does not implement aggregate")
        );
        assert!(!ran.load(std::sync::atomic::Ordering::Relaxed));
    }

    /// A job that waits until the test lets it go, so that it outlives the caller's limit.
    fn held() -> (std::sync::mpsc::Sender<()>, impl FnOnce() -> Result<()> + Send + 'static) {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        (release, move || {
            // Let go, or the test is over: either way the job ends.
            let _ = hold.recv();
            Ok(())
        })
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_model_timeout_the_caller_gets_deadline_exceeded() {
        let model = on_workers("slow", 1, Some(Duration::from_secs(2)));
        let (release, job) = held();
        let e = call(&model, model.limit(None), job).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::DeadlineExceeded);
        assert_eq!(e.message, "model 'slow': predict did not answer within 2s (the model's timeout)");
        release.send(()).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_sooner_request_timeout_names_the_request() {
        let model = on_workers("slow", 1, Some(Duration::from_secs(2)));
        let (release, job) = held();
        let limit = model.limit(Some(&request(json!({"timeout": 1500}))));
        let e = call(&model, limit, job).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::DeadlineExceeded);
        assert_eq!(
            e.message,
            "model 'slow': predict did not answer within 1.5ms (the request's timeout parameter)"
        );
        release.send(()).unwrap();
    }

    #[test]
    fn the_limit_is_the_sooner_of_model_and_request() {
        let model = on_workers("m", 1, Some(Duration::from_secs(2)));
        let model_limit = Some(Limit { after: Duration::from_secs(2), source: "the model's timeout" });
        assert_eq!(model.limit(None), model_limit);
        assert_eq!(model.limit(Some(&request(json!({"timeout": 3_000_000})))), model_limit);
        // 0 is no timeout, as the scheduler reads it; a form the scheduler refuses is not ours to judge.
        assert_eq!(model.limit(Some(&request(json!({"timeout": 0})))), model_limit);
        assert_eq!(model.limit(Some(&request(json!({"timeout": "soon"})))), model_limit);
        let untimed = on_workers("m", 1, None);
        assert_eq!(untimed.limit(None), None);
        assert_eq!(
            untimed.limit(Some(&request(json!({"timeout": 10})))),
            Some(Limit { after: Duration::from_micros(10), source: "the request's timeout parameter" })
        );
    }

    #[tokio::test]
    async fn failing_and_panicking_jobs_leave_the_pool_serving() {
        let model = on_workers("flaky", 1, None);
        let e = call::<()>(&model, None, || Err(Error::invalid("bad rows"))).await.unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::InvalidArgument, "bad rows"));
        let e = call::<()>(&model, None, || panic!("a bug in the binding")).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert_eq!(e.message, "model 'flaky': predict panicked (the log has the panic)");
        // The pool's only thread still serves.
        assert_eq!(call(&model, None, || Ok(7)).await.unwrap(), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_queue_while_every_worker_is_busy() {
        let model = Arc::new(on_workers("busy", 2, None));
        let (started, mut starts) = unbounded_channel::<usize>();
        // Call `i` reports that it started, then waits for the test's release.
        let spawn = |i: usize, started: UnboundedSender<usize>| {
            let model = Arc::clone(&model);
            let (release, hold) = std::sync::mpsc::channel::<()>();
            let answer = tokio::spawn(async move {
                call(&model, None, move || {
                    started.send(i).unwrap();
                    hold.recv().unwrap();
                    Ok(i)
                })
                .await
            });
            (release, answer)
        };
        let (release_0, answer_0) = spawn(0, started.clone());
        let (release_1, answer_1) = spawn(1, started.clone());
        let mut running = [starts.recv().await.unwrap(), starts.recv().await.unwrap()];
        running.sort();
        assert_eq!(running, [0, 1]);
        let (release_2, answer_2) = spawn(2, started);
        let waiting = tokio::time::timeout(Duration::from_millis(100), starts.recv()).await;
        assert!(waiting.is_err(), "a third call started while both workers were busy");
        release_1.send(()).unwrap();
        assert_eq!(answer_1.await.unwrap().unwrap(), 1);
        assert_eq!(starts.recv().await, Some(2), "the queued call runs once a worker is free");
        release_2.send(()).unwrap();
        release_0.send(()).unwrap();
        assert_eq!(answer_2.await.unwrap().unwrap(), 2);
        assert_eq!(answer_0.await.unwrap().unwrap(), 0);
    }

    #[tokio::test]
    async fn a_host_thread_that_stopped_answers_unavailable() {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let model = setup("r-model", 1, None).on_host_thread(jobs, "R");
        drop(queue);
        let e = call(&model, None, || Ok(())).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert_eq!(e.message, "model 'r-model': R stopped before predict answered");
    }

    #[tokio::test]
    async fn workers_that_stopped_answer_internal() {
        let model: ForeignModel<Job> = setup("broken", 1, None)
            .on_workers("oxserve-test", |_: &Jobs<Job>| panic!("cannot attach"))
            .unwrap();
        let e = call(&model, None, || Ok(())).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert_eq!(e.message, "model 'broken': its worker threads stopped before predict answered");
    }

    #[test]
    fn requests_are_checked_against_declared_inputs_only() {
        let open = on_workers("open", 1, None);
        let x = Tensor::new("x", DataType::Fp32, vec![1], bytes::Bytes::from_static(&[0; 4])).unwrap();
        let anything = InferenceRequest { inputs: vec![x], ..InferenceRequest::default() };
        assert!(open.check(&anything).is_ok());
        let mut declared = setup("declared", 1, None);
        declared.metadata.inputs =
            vec![TensorSpec { name: "y".into(), datatype: DataType::Fp32, shape: vec![-1] }];
        let declared = declared.on_workers("oxserve-test", worker).unwrap();
        let e = declared.check(&anything).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
    }
}
