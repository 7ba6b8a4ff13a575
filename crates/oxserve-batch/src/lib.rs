//! The per-model scheduler of oxserve: a bounded queue, an adaptive dynamic batcher and a pool of
//! concurrent instances, in front of any runtime.
//!
//! [`Scheduler`] wraps an `Arc<dyn Unit>` (ONNX today; Python, Java and R workers later) and is a
//! [`oxserve_core::Unit`] itself, so the server puts it in front of a model without knowing what
//! the model runs on.
//!
//! # The path of a request
//!
//! `predict` queues the request without waiting: a full queue (`max_queue_size`) answers
//! `Unavailable` at once, so overload turns into fast 503s rather than growing memory and latency.
//! A request whose caller goes away, or whose deadline (the model's `timeout`, or the request's own
//! `timeout` parameter in microseconds; the smaller wins) passes before it starts, never runs; an
//! expired one answers `DeadlineExceeded` the moment its deadline passes.
//!
//! # The batching rule
//!
//! With `max_batch_size` above 1, requests that are *compatible* (same inputs by name, datatype and
//! shape past the first dimension, same requested outputs, same request parameters apart from
//! `timeout`) are stacked along their first dimension, up to `max_batch_size` rows, and the answer
//! is split back by rows. Incompatible requests run in separate batches; a request bigger than
//! `max_batch_size` rows runs alone.
//!
//! 1. A batch starts the moment an instance is free and a request is queued. It takes the oldest
//!    request and the compatible requests queued behind it, oldest first, up to the row cap. Given
//!    `preferred_batch_sizes`, it takes the longest such run that ends on a preferred size.
//! 2. It leaves at once unless it has *company*: one of its requests arrived while another request
//!    of its kind was outstanding (queued, gathering or running), or less than `max_batch_time`
//!    after a batch of several of its kind finished. With company it keeps its instance and takes
//!    compatible arrivals until it reaches `max_batch_size` rows or a preferred size, or holds as
//!    many requests as the last batch of several of its kind did (if that finished less than
//!    `max_batch_time` ago), or until `max_batch_time` after its oldest request arrived (sooner if
//!    a member's deadline comes first).
//!
//! Why this adds no wait at concurrency 1: a lone caller's previous request stopped being
//! outstanding before its answer was sent, and it never shared a batch, so its next request has no
//! company and leaves the moment it is taken; a waiting batch holds a free instance only while
//! other requests of its kind are demonstrably about. Under sustained concurrency requests arrive
//! with company, so batches wait for one another and fill. Closed-loop callers (each sends its
//! next request when answered) come back as a group the size of their last batch: the batch leaves
//! as soon as that group is in, rather than waiting out `max_batch_time` for callers that do not
//! exist; fewer coming back costs at most one `max_batch_time`, after which the smaller group is
//! what is expected, and a group that grows is taken whole from the queue. When the model
//! is saturated, requests queue past `max_batch_time` and batches leave full without any wait,
//! because the time limit counts from arrival.

mod config;
mod observer;
mod queue;
mod scheduler;
mod stack;

pub use config::{DEFAULT_MAX_QUEUE_SIZE, SchedulerConfig};
pub use observer::{BatchReport, NoopObserver, Rejection, SchedulerObserver};
pub use scheduler::Scheduler;
