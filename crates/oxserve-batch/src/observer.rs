//! What a scheduler reports as it works, for metrics.

use std::time::Duration;

/// Why a request ended without running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The queue held `max_queue_size` requests when it arrived; the caller got `Unavailable`.
    QueueFull,
    /// Its deadline passed while it waited; the caller got `DeadlineExceeded`.
    TimedOut,
    /// Its caller went away (the `predict` future was dropped) before it ran.
    Cancelled,
}

impl Rejection {
    /// A short, stable name for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::QueueFull => "queue_full",
            Rejection::TimedOut => "timed_out",
            Rejection::Cancelled => "cancelled",
        }
    }
}

/// One finished batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    /// Callers answered by this batch.
    pub requests: usize,
    /// Rows (first-dimension entries) summed over its requests; a request whose inputs share no
    /// first dimension counts as one.
    pub rows: usize,
    /// Time inside the model, from handing it the batch to its answer (stacking and splitting
    /// included: they are part of what batching costs).
    pub compute: Duration,
    /// Whether the callers got answers rather than errors.
    pub success: bool,
}

/// Receives a scheduler's events; the server implements it with Prometheus metrics.
///
/// Callbacks run on the request path, some while the scheduler's queue lock is held (so that
/// gauges are updated in the order things happened): keep them cheap, never block, never panic and
/// never call back into the scheduler. Every method does nothing by default.
pub trait SchedulerObserver: Send + Sync {
    /// A request was refused or dropped before it ran.
    fn rejected(&self, _reason: Rejection) {}

    /// A request left the queue for a batch that starts running now, after waiting `waited` since
    /// it arrived (time spent gathering a batch included).
    fn dequeued(&self, _waited: Duration) {}

    /// A batch finished, successfully or not.
    fn batch_finished(&self, _report: &BatchReport) {}

    /// Requests now waiting for an instance (requests gathered into a batch no longer count).
    fn queue_depth(&self, _depth: usize) {}

    /// Batches, and the requests in them, now running in the model.
    fn in_flight(&self, _batches: usize, _requests: usize) {}
}

/// An observer that ignores everything, for tests and for callers without metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl SchedulerObserver for NoopObserver {}
