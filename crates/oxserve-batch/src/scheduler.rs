//! The scheduler: a [`Unit`] in front of another one, with a queue, a batcher and an instance pool.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use oxserve_core::{
    Error, Feedback, InferenceRequest, InferenceResponse, ModelMetadata, Parameters, Result, Unit,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::SchedulerConfig;
use crate::observer::{BatchReport, Rejection, SchedulerObserver};
use crate::queue::{Deadline, Gathering, Job, Policy, Queue, deadline_error};
use crate::stack::{TIMEOUT_PARAMETER, batch_rows, fingerprint, stack, unstack};

/// One model's scheduler: a bounded queue, an adaptive dynamic batcher and up to `instances`
/// batches running at once, in front of any [`Unit`].
///
/// It is itself a [`Unit`]: `predict` goes through the queue; metadata, readiness and the other
/// operations go straight to the wrapped unit. One tokio task per scheduler gathers batches; each
/// batch runs in a task of its own. Dropping the scheduler ends its task (batches already running
/// finish). See the crate documentation for the batching rule.
pub struct Scheduler {
    inner: Arc<dyn Unit>,
    shared: Arc<Shared>,
    config: SchedulerConfig,
    dispatcher: JoinHandle<()>,
}

/// What callers, the dispatcher task and the batch tasks share.
struct Shared {
    model: String,
    queue: Mutex<Queue>,
    /// Wakes the dispatcher when a request is queued. `notify_one` keeps the wake-up when the
    /// dispatcher is busy, so none is lost.
    arrivals: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Every queue operation leaves it consistent before anything that could panic (observer
        // callbacks), so a poisoned lock holds a usable queue.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler").field("model", &self.shared.model).field("config", &self.config).finish()
    }
}

impl Scheduler {
    /// Puts a scheduler in front of `inner` and starts its task on the current tokio runtime.
    ///
    /// Fails when the configuration is inconsistent, when batching is on but `inner` declares an
    /// input or output whose first dimension is fixed (stacking along it would change it), or when
    /// called outside a tokio runtime.
    pub fn new(
        inner: Arc<dyn Unit>,
        config: SchedulerConfig,
        observer: Arc<dyn SchedulerObserver>,
    ) -> Result<Scheduler> {
        config.validate()?;
        let metadata = inner.metadata();
        let model = metadata.name.clone();
        if config.batching() {
            check_batch_dimension(metadata, config.max_batch_size)?;
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::internal(format!("model '{model}': a scheduler must be created inside a tokio runtime"))
        })?;
        let mut preferred = config.preferred_batch_sizes.clone();
        preferred.sort_unstable();
        preferred.dedup();
        let policy = Policy {
            max_rows: config.batching().then_some(config.max_batch_size),
            preferred,
            max_batch_time: config.max_batch_time,
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::new(model.clone(), policy, config.max_queue_size, observer)),
            model,
            arrivals: Notify::new(),
        });
        let dispatcher = Dispatcher {
            shared: Arc::clone(&shared),
            inner: Arc::clone(&inner),
            instances: Arc::new(Semaphore::new(config.instances)),
            spare: None,
            gathering: Vec::new(),
            batching: config.batching(),
        };
        let dispatcher = runtime.spawn(dispatcher.run());
        Ok(Scheduler { inner, shared, config, dispatcher })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// The earlier of the model's timeout and the request's own `timeout` parameter.
    fn deadline(&self, request: &InferenceRequest, arrived: Instant) -> Result<Option<Deadline>> {
        let own = request_timeout(&request.parameters)?.map(|t| (t, "the request's timeout parameter"));
        let model = self.config.timeout.map(|t| (t, "the model's timeout setting"));
        let chosen = match (own, model) {
            (Some(own), Some(model)) => Some(if own.0 <= model.0 { own } else { model }),
            (own, model) => own.or(model),
        };
        // A timeout too long to add to the clock is no limit at all.
        Ok(chosen.and_then(|(timeout, source)| {
            arrived.checked_add(timeout).map(|at| Deadline { at, timeout, source })
        }))
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.dispatcher.abort();
    }
}

#[async_trait]
impl Unit for Scheduler {
    fn metadata(&self) -> &ModelMetadata {
        self.inner.metadata()
    }

    fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    fn max_batch_size(&self) -> usize {
        if self.config.batching() { self.config.max_batch_size } else { 0 }
    }

    /// Queues the request and waits for its answer.
    ///
    /// A full queue answers `Unavailable` at once; a request still queued at its deadline answers
    /// `DeadlineExceeded` at that moment and never runs. Dropping the returned future takes the
    /// request out of the queue, or out of its batch before the batch runs.
    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        let arrived = Instant::now();
        let deadline = self.deadline(&request, arrived)?;
        let rows = batch_rows(&request);
        let fingerprint = (self.config.batching() && rows.is_some()).then(|| fingerprint(&request));
        let (reply, mut answer) = oneshot::channel();
        let job = Job { request, rows, fingerprint, arrived, deadline, reply };
        let seq = self.shared.lock().push(job, arrived)?;
        self.shared.arrivals.notify_one();

        let mut queued = Queued { shared: &self.shared, seq: Some(seq) };
        let outcome = match deadline {
            None => (&mut answer).await,
            Some(deadline) => tokio::select! {
                biased;
                outcome = &mut answer => outcome,
                () = tokio::time::sleep_until(deadline.at) => {
                    if queued.withdraw(Rejection::TimedOut) {
                        return Err(deadline_error(&self.shared.model, &deadline));
                    }
                    // Already in a batch, which leaves by this deadline at the latest: it runs.
                    (&mut answer).await
                }
            },
        };
        queued.seq = None;
        outcome.unwrap_or_else(|_| {
            Err(Error::unavailable(format!("model '{}' stopped before answering", self.shared.model)))
        })
    }

    async fn transform_input(&self, request: InferenceRequest) -> Result<InferenceRequest> {
        self.inner.transform_input(request).await
    }

    async fn transform_output(&self, response: InferenceResponse) -> Result<InferenceResponse> {
        self.inner.transform_output(response).await
    }

    async fn route(&self, request: &InferenceRequest) -> Result<i32> {
        self.inner.route(request).await
    }

    async fn aggregate(&self, responses: Vec<InferenceResponse>) -> Result<InferenceResponse> {
        self.inner.aggregate(responses).await
    }

    async fn send_feedback(&self, feedback: Feedback) -> Result<InferenceResponse> {
        self.inner.send_feedback(feedback).await
    }

    async fn health_status(&self) -> Result<Option<InferenceResponse>> {
        self.inner.health_status().await
    }

    async fn explain(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        self.inner.explain(request).await
    }

    fn wants_headers(&self) -> bool {
        self.inner.wants_headers()
    }
}

/// A caller's hold on its queued request: if the caller's future is dropped while the request is
/// still queued, the request is taken out and counted as cancelled.
struct Queued<'a> {
    shared: &'a Shared,
    /// `None` once the caller no longer needs to take it back.
    seq: Option<u64>,
}

impl Queued<'_> {
    fn withdraw(&mut self, reason: Rejection) -> bool {
        self.seq.take().is_some_and(|seq| self.shared.lock().withdraw(seq, reason, Instant::now()))
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.withdraw(Rejection::Cancelled);
    }
}

/// The request's own `timeout` parameter: microseconds, as the V2 protocol defines it; 0 or absent
/// is no limit.
fn request_timeout(parameters: &Parameters) -> Result<Option<Duration>> {
    let Some(value) = parameters.get(TIMEOUT_PARAMETER) else { return Ok(None) };
    let timeout = value
        .as_u64()
        .map(Duration::from_micros)
        .or_else(|| value.as_f64().and_then(|micros| Duration::try_from_secs_f64(micros / 1e6).ok()));
    match timeout {
        Some(timeout) => Ok((!timeout.is_zero()).then_some(timeout)),
        None => Err(Error::invalid(format!(
            "parameters.{TIMEOUT_PARAMETER}: expected a non-negative number of microseconds, got {value}"
        ))),
    }
}

/// Batching stacks requests along the first dimension, so no declared input or output may fix it.
/// A declared rank of 0 means the runtime does not know the shape, which is no objection.
fn check_batch_dimension(metadata: &ModelMetadata, max_batch_size: usize) -> Result<()> {
    let declared =
        metadata.inputs.iter().map(|s| ("input", s)).chain(metadata.outputs.iter().map(|s| ("output", s)));
    for (what, spec) in declared {
        if spec.shape.first().is_some_and(|&first| first >= 0) {
            return Err(Error::invalid(format!(
                "model '{}': max_batch_size {max_batch_size} stacks requests along the first dimension, \
                 but {what} '{}' has the fixed shape {:?}; declare that dimension -1 or turn batching off",
                metadata.name, spec.name, spec.shape
            )));
        }
    }
    Ok(())
}

/// The scheduler's task: gathers batches and hands them to free instances.
struct Dispatcher {
    shared: Arc<Shared>,
    inner: Arc<dyn Unit>,
    /// One permit per instance; a running or gathering batch holds one.
    instances: Arc<Semaphore>,
    /// A permit obtained while waiting for an instance, not yet given to a batch.
    spare: Option<OwnedSemaphorePermit>,
    /// Batches waiting for more requests, each holding the instance it will run on.
    gathering: Vec<(Gathering, OwnedSemaphorePermit)>,
    batching: bool,
}

/// A batch ready to run on the instance whose permit it holds.
type Launch = (Vec<Job>, OwnedSemaphorePermit);

impl Dispatcher {
    async fn run(mut self) {
        loop {
            let (launches, more_waiting) = self.plan(Instant::now());
            for (jobs, permit) in launches {
                tokio::spawn(run_batch(Arc::clone(&self.shared), Arc::clone(&self.inner), jobs, permit));
            }
            // Sleep until something can change the plan: an arrival, a gathering batch's time
            // limit, or an instance freeing up while requests wait for one.
            let leave_by = self.gathering.iter().map(|(batch, _)| batch.leave_by()).min();
            let shared = Arc::clone(&self.shared);
            let instances = Arc::clone(&self.instances);
            tokio::select! {
                () = shared.arrivals.notified() => {
                    // Woken by an arrival, this task runs next, before the tasks of requests that
                    // arrived with it (tokio runs a task woken by the running one first); then
                    // every request is handled alone from socket to answer and none is ever
                    // batched. Yielding once lets those arrivals queue first.
                    if self.batching {
                        tokio::task::yield_now().await;
                    }
                }
                () = sleep_until(leave_by) => {}
                permit = instances.acquire_owned(), if more_waiting && self.spare.is_none() => {
                    // The semaphore is never closed, so this is always a permit.
                    self.spare = permit.ok();
                }
            }
        }
    }

    /// Grows the gathering batches, starts new ones on free instances, and returns the batches to
    /// launch now and whether requests are still queued.
    fn plan(&mut self, now: Instant) -> (Vec<Launch>, bool) {
        let shared = Arc::clone(&self.shared);
        let mut queue = shared.lock();
        let mut launches = Vec::new();
        for (mut batch, permit) in std::mem::take(&mut self.gathering) {
            queue.grow(&mut batch, now);
            if batch.ready(now) {
                self.launch(&mut queue, batch, permit, now, &mut launches);
            } else {
                self.gathering.push((batch, permit));
            }
        }
        while queue.has_waiting() {
            let Some(permit) =
                self.spare.take().or_else(|| Arc::clone(&self.instances).try_acquire_owned().ok())
            else {
                break;
            };
            match queue.start_batch(now) {
                Some(batch) if batch.ready(now) => self.launch(&mut queue, batch, permit, now, &mut launches),
                Some(batch) => self.gathering.push((batch, permit)),
                None => self.spare = Some(permit),
            }
        }
        (launches, queue.has_waiting())
    }

    /// Queues `batch` for launch, or keeps its instance for the next one when every caller in it
    /// went away.
    fn launch(
        &mut self,
        queue: &mut Queue,
        batch: Gathering,
        permit: OwnedSemaphorePermit,
        now: Instant,
        launches: &mut Vec<Launch>,
    ) {
        let jobs = queue.begin(batch, now);
        if jobs.is_empty() {
            // Keeping one spare is enough; another goes back to the semaphore on drop.
            self.spare.get_or_insert(permit);
        } else {
            launches.push((jobs, permit));
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs one batch on the instance whose permit it holds and answers its callers.
///
/// The load bookkeeping is updated, and the instance freed, before the callers are answered: a
/// caller that sends its next request as soon as it has an answer must find its previous one no
/// longer outstanding, or a lone caller would look like company and wait.
async fn run_batch(shared: Arc<Shared>, inner: Arc<dyn Unit>, jobs: Vec<Job>, permit: OwnedSemaphorePermit) {
    let model = shared.model.as_str();
    let started = Instant::now();
    let fingerprints: Vec<Option<u64>> = jobs.iter().map(|job| job.fingerprint).collect();
    let requests = jobs.len();
    let rows = jobs.iter().map(|job| job.rows.unwrap_or(1)).sum();
    let (replies, answers) = match <[Job; 1]>::try_from(jobs) {
        // Alone, a request goes through untouched, exactly as without the scheduler.
        Ok([job]) => (vec![job.reply], vec![call(&*inner, job.request, model).await]),
        Err(jobs) => {
            let (replies, parts): (Vec<_>, Vec<_>) =
                jobs.into_iter().map(|job| (job.reply, (job.request, job.rows.unwrap_or(1)))).unzip();
            let answers = match run_stacked(&*inner, parts, model).await {
                Ok(answers) => answers.into_iter().map(Ok).collect(),
                Err(e) => {
                    vec![Err(e.context(format_args!("batch of {requests} requests ({rows} rows)"))); requests]
                }
            };
            (replies, answers)
        }
    };
    let report = BatchReport {
        requests,
        rows,
        compute: started.elapsed(),
        success: answers.iter().all(Result::is_ok),
    };
    drop(permit);
    shared.lock().finish(&fingerprints, &report, Instant::now());
    for (reply, answer) in replies.into_iter().zip(answers) {
        // A caller that went away while its batch ran does not need the answer.
        let _ = reply.send(answer);
    }
}

async fn run_stacked(
    inner: &dyn Unit,
    parts: Vec<(InferenceRequest, usize)>,
    model: &str,
) -> Result<Vec<InferenceResponse>> {
    let (request, origins) = stack(parts)?;
    let response = call(inner, request, model).await?;
    unstack(response, origins, model)
}

/// Runs the model, turning a panic into an `Internal` error for this batch's callers only.
async fn call(inner: &dyn Unit, request: InferenceRequest, model: &str) -> Result<InferenceResponse> {
    match AssertUnwindSafe(inner.predict(request)).catch_unwind().await {
        Ok(answer) => answer,
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            tracing::error!(model, panic = message, "model panicked; its batch failed, serving on");
            Err(Error::internal(format!("model '{model}' panicked: {message}")))
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(message) = panic.downcast_ref::<&str>() {
        message
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message
    } else {
        "a panic without a message"
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn timeout_of(value: serde_json::Value) -> Result<Option<Duration>> {
        let mut parameters = Parameters::new();
        parameters.insert(TIMEOUT_PARAMETER.into(), value);
        request_timeout(&parameters)
    }

    #[test]
    fn request_timeout_is_in_microseconds() {
        assert_eq!(timeout_of(json!(1500)).unwrap(), Some(Duration::from_micros(1500)));
        assert_eq!(timeout_of(json!(2.5)).unwrap(), Some(Duration::from_nanos(2500)));
        assert_eq!(timeout_of(json!(0)).unwrap(), None);
        assert_eq!(request_timeout(&Parameters::new()).unwrap(), None);
        for bad in [json!(-1), json!("100"), json!(true)] {
            let e = timeout_of(bad).unwrap_err();
            assert!(e.message.starts_with("parameters.timeout: expected"), "{}", e.message);
        }
    }
}
