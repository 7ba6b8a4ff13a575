//! The bounded queue, batch gathering and the load bookkeeping the batching rule reads.
//!
//! Everything here is synchronous and lives behind the scheduler's one `std::sync::Mutex`: each
//! operation is short, bounded by the queue size and never awaits, so the lock is never held
//! across an await point and an async worker is never blocked for long.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use oxserve_core::{Error, ErrorKind, InferenceRequest, InferenceResponse, Result};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::observer::{BatchReport, Rejection, SchedulerObserver};
use crate::stack::compatible;

/// Where a caller's answer goes; a closed one means the caller went away.
pub(crate) type Reply = oneshot::Sender<Result<InferenceResponse>>;

/// One caller's request on its way through the scheduler.
pub(crate) struct Job {
    pub request: InferenceRequest,
    /// Rows it adds to a batch; `None` when it must run alone (see [`crate::stack::batch_rows`]).
    pub rows: Option<usize>,
    /// Its [`crate::stack::fingerprint`] when it may be stacked, for the load bookkeeping.
    pub fingerprint: Option<u64>,
    pub arrived: Instant,
    pub deadline: Option<Deadline>,
    pub reply: Reply,
}

/// The latest a request may start running, and where that limit came from (for the message).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub at: Instant,
    pub timeout: Duration,
    pub source: &'static str,
}

/// The error of a request whose deadline passed before it ran.
pub(crate) fn deadline_error(model: &str, deadline: &Deadline) -> Error {
    Error::new(
        ErrorKind::DeadlineExceeded,
        format!(
            "model '{model}': the request waited {:?} ({}) without starting and was dropped",
            deadline.timeout, deadline.source
        ),
    )
}

/// The batching rules, read from the configuration once.
pub(crate) struct Policy {
    /// Most rows a batch may hold; `None` when batching is off.
    pub max_rows: Option<usize>,
    /// Sizes at which a batch leaves at once, sorted.
    pub preferred: Vec<usize>,
    pub max_batch_time: Duration,
}

/// A batch being put together; it holds its requests (they no longer count as queued).
pub(crate) struct Gathering {
    jobs: Vec<Job>,
    rows: usize,
    /// The latest it may leave: `max_batch_time` after its oldest request arrived, or a member's
    /// deadline if sooner, so that no request it holds ever expires while held.
    leave_by: Instant,
    /// Highest queue position examined, so that growing later looks only at newer arrivals.
    scanned: u64,
    /// No request can join any more: full, at a preferred size, the next compatible request does
    /// not fit (a later, smaller one must not overtake it), or not stackable at all.
    complete: bool,
    /// Whether others like its requests were about when they arrived (see [`Queue::push`]). Without
    /// company a batch never waits: that is what keeps a lone caller's latency untouched.
    company: bool,
    /// How many requests the last batch of several of its kind held, when that batch finished
    /// recently: the callers answered together then are expected back together, so once that many
    /// are here the batch leaves instead of waiting out `max_batch_time` for nobody.
    expected: Option<usize>,
}

impl Gathering {
    fn new(head: Job, company: bool, seq: u64, policy: &Policy) -> Gathering {
        let by_batch_time = head.arrived.checked_add(policy.max_batch_time).unwrap_or(head.arrived);
        let leave_by = head.deadline.map_or(by_batch_time, |d| d.at.min(by_batch_time));
        Gathering {
            rows: head.rows.unwrap_or(1),
            leave_by,
            scanned: seq,
            complete: false,
            company,
            expected: None,
            jobs: vec![head],
        }
    }

    fn add(&mut self, job: Job, rows: usize, company: bool) {
        self.rows += rows;
        self.company |= company;
        if let Some(deadline) = job.deadline {
            self.leave_by = self.leave_by.min(deadline.at);
        }
        self.jobs.push(job);
    }

    /// Whether it should run now rather than wait for more requests.
    pub fn ready(&self, now: Instant) -> bool {
        self.complete
            || !self.company
            || now >= self.leave_by
            || self.expected.is_some_and(|expected| self.jobs.len() >= expected)
    }

    pub fn leave_by(&self) -> Instant {
        self.leave_by
    }
}

/// How many requests of one kind (one fingerprint) are outstanding, and when and how big the last
/// batch of several of them finished.
#[derive(Default)]
struct KindLoad {
    outstanding: usize,
    several_finished: Option<Instant>,
    /// Requests in that batch.
    several: usize,
}

impl KindLoad {
    fn recently_batched(&self, now: Instant, window: Duration) -> bool {
        self.several_finished.is_some_and(|t| now.saturating_duration_since(t) < window)
    }
}

/// Queued requests in arrival order, plus what the batching rule and the metrics need to know.
pub(crate) struct Queue {
    model: String,
    policy: Policy,
    observer: Arc<dyn SchedulerObserver>,
    capacity: usize,
    /// Keyed by arrival number: the first entry is the oldest request, and a caller can take its
    /// own request back in O(log n) when it times out or goes away. The flag is its company.
    waiting: BTreeMap<u64, (Job, bool)>,
    next_seq: u64,
    /// Outstanding (queued, gathered or running) stackable requests per fingerprint. An entry goes
    /// when its kind has nothing outstanding and no recent multi-request batch.
    kinds: HashMap<u64, KindLoad>,
    /// Size of `kinds` at which idle entries are swept, so it stays bounded whatever arrives.
    sweep_kinds_at: usize,
    running_batches: usize,
    running_requests: usize,
}

impl Queue {
    pub fn new(
        model: String,
        policy: Policy,
        capacity: usize,
        observer: Arc<dyn SchedulerObserver>,
    ) -> Queue {
        Queue {
            model,
            policy,
            observer,
            capacity,
            waiting: BTreeMap::new(),
            next_seq: 0,
            kinds: HashMap::new(),
            sweep_kinds_at: capacity,
            running_batches: 0,
            running_requests: 0,
        }
    }

    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Queues a request, or refuses it at once with `Unavailable` when the queue is full.
    /// Returns its arrival number, with which the caller can take it back.
    ///
    /// Also records whether it has company: another request of its kind was outstanding when it
    /// arrived, or a batch of several of its kind finished less than `max_batch_time` ago (callers
    /// answered together tend to come back together; without this, c closed-loop callers on one
    /// instance settle into alternating batches of 1 and c − 1). A lone caller never has company,
    /// because its previous request was no longer outstanding when it was answered.
    pub fn push(&mut self, job: Job, now: Instant) -> Result<u64> {
        if self.waiting.len() >= self.capacity {
            self.observer.rejected(Rejection::QueueFull);
            return Err(Error::unavailable(format!(
                "model '{}' is overloaded: its queue already holds max_queue_size {} requests; retry later",
                self.model, self.capacity
            )));
        }
        let company = job.fingerprint.is_some_and(|kind| self.arrive(kind, now));
        let seq = self.next_seq;
        self.next_seq += 1;
        self.waiting.insert(seq, (job, company));
        self.observer.queue_depth(self.waiting.len());
        Ok(seq)
    }

    /// Takes a request back from the queue if it is still there (not yet gathered into a batch),
    /// reporting `reason`. Returns whether it was.
    pub fn withdraw(&mut self, seq: u64, reason: Rejection, now: Instant) -> bool {
        let Some((job, _)) = self.waiting.remove(&seq) else { return false };
        self.observer.rejected(reason);
        self.observer.queue_depth(self.waiting.len());
        self.leave(job.fingerprint, now, None);
        true
    }

    /// Starts a batch with the oldest live request and the compatible requests queued behind it;
    /// `None` when nothing live is queued. Requests found expired or abandoned on the way are
    /// answered and dropped.
    pub fn start_batch(&mut self, now: Instant) -> Option<Gathering> {
        let before = self.waiting.len();
        let mut gathering = None;
        while let Some((seq, (job, company))) = self.waiting.pop_first() {
            if is_dead(&job, now) {
                self.reject(job, now);
                continue;
            }
            let mut batch = Gathering::new(job, company, seq, &self.policy);
            batch.expected = batch.jobs[0].fingerprint.and_then(|kind| self.expected(kind, now));
            match (self.policy.max_rows, batch.jobs[0].rows) {
                (Some(max), Some(rows)) if rows < max => self.grow(&mut batch, now),
                _ => batch.complete = true,
            }
            gathering = Some(batch);
            break;
        }
        if self.waiting.len() != before {
            self.observer.queue_depth(self.waiting.len());
        }
        gathering
    }

    /// Moves compatible requests that arrived since the last look into `batch`, oldest first,
    /// while they fit in `max_batch_size` rows.
    ///
    /// With preferred sizes, it takes the longest run of candidates that ends on a preferred size
    /// (the batch is then complete and leaves at once); failing that, all that fit.
    pub fn grow(&mut self, batch: &mut Gathering, now: Instant) {
        let Some(max) = self.policy.max_rows else {
            batch.complete = true;
            return;
        };
        if batch.complete {
            return;
        }
        let mut dead = Vec::new();
        // (arrival number, batch rows once it is in)
        let mut candidates: Vec<(u64, usize)> = Vec::new();
        let mut rows = batch.rows;
        let head = &batch.jobs[0].request;
        for (&seq, (job, _)) in self.waiting.range(batch.scanned + 1..) {
            if rows == max {
                break;
            }
            batch.scanned = seq;
            if is_dead(job, now) {
                dead.push(seq);
                continue;
            }
            let Some(more) = job.rows.filter(|_| compatible(head, &job.request)) else { continue };
            if rows + more > max {
                batch.complete = true;
                break;
            }
            rows += more;
            candidates.push((seq, rows));
        }
        let preferred = |rows: &usize| self.policy.preferred.binary_search(rows).is_ok();
        let take = match candidates.iter().rposition(|(_, rows)| preferred(rows)) {
            Some(last) => {
                batch.complete = true;
                last + 1
            }
            None if preferred(&batch.rows) => {
                batch.complete = true;
                0
            }
            None => candidates.len(),
        };
        let mut before = batch.rows;
        for &(seq, rows) in &candidates[..take] {
            if let Some((job, company)) = self.waiting.remove(&seq) {
                batch.add(job, rows - before, company);
                before = rows;
            }
        }
        if batch.rows >= max {
            batch.complete = true;
        }
        for seq in &dead {
            if let Some((job, _)) = self.waiting.remove(seq) {
                self.reject(job, now);
            }
        }
        if take > 0 || !dead.is_empty() {
            self.observer.queue_depth(self.waiting.len());
        }
    }

    /// Hands a batch to an instance: drops the requests whose callers went away while it gathered
    /// and counts the rest as running. Returns the requests to run (possibly none).
    pub fn begin(&mut self, batch: Gathering, now: Instant) -> Vec<Job> {
        let (live, gone): (Vec<Job>, Vec<Job>) = batch.jobs.into_iter().partition(|j| !j.reply.is_closed());
        for job in gone {
            self.observer.rejected(Rejection::Cancelled);
            self.leave(job.fingerprint, now, None);
        }
        if !live.is_empty() {
            for job in &live {
                self.observer.dequeued(now.saturating_duration_since(job.arrived));
            }
            self.running_batches += 1;
            self.running_requests += live.len();
            self.observer.in_flight(self.running_batches, self.running_requests);
        }
        live
    }

    /// Records the end of a running batch whose requests had `fingerprints`.
    pub fn finish(&mut self, fingerprints: &[Option<u64>], report: &BatchReport, now: Instant) {
        self.running_batches -= 1;
        self.running_requests -= fingerprints.len();
        let several = (fingerprints.len() > 1).then_some(fingerprints.len());
        for &fingerprint in fingerprints {
            self.leave(fingerprint, now, several);
        }
        self.observer.in_flight(self.running_batches, self.running_requests);
        self.observer.batch_finished(report);
    }

    /// Answers a dead request found in the queue: expired ones get `DeadlineExceeded`.
    fn reject(&mut self, job: Job, now: Instant) {
        if job.reply.is_closed() {
            self.observer.rejected(Rejection::Cancelled);
        } else if let Some(deadline) = job.deadline {
            self.observer.rejected(Rejection::TimedOut);
            // The caller may have gone in the meantime; then nobody needs the answer.
            let _ = job.reply.send(Err(deadline_error(&self.model, &deadline)));
        }
        self.leave(job.fingerprint, now, None);
    }

    /// Counts a request of `kind` in, returning whether it has company.
    fn arrive(&mut self, kind: u64, now: Instant) -> bool {
        let window = self.policy.max_batch_time;
        if self.kinds.len() >= self.sweep_kinds_at && !self.kinds.contains_key(&kind) {
            self.kinds.retain(|_, load| load.outstanding > 0 || load.recently_batched(now, window));
            self.sweep_kinds_at = self.capacity.max(2 * self.kinds.len());
        }
        let load = self.kinds.entry(kind).or_default();
        let company = load.outstanding > 0 || load.recently_batched(now, window);
        load.outstanding += 1;
        company
    }

    /// The size of the last batch of several of `kind`, if it finished within `max_batch_time`.
    fn expected(&self, kind: u64, now: Instant) -> Option<usize> {
        let load = self.kinds.get(&kind)?;
        load.recently_batched(now, self.policy.max_batch_time).then_some(load.several)
    }

    /// Counts a request out; `several` is the size of its batch when it ran with others.
    fn leave(&mut self, kind: Option<u64>, now: Instant, several: Option<usize>) {
        let Some(kind) = kind else { return };
        let window = self.policy.max_batch_time;
        if let Some(load) = self.kinds.get_mut(&kind) {
            load.outstanding = load.outstanding.saturating_sub(1);
            if let Some(size) = several {
                load.several_finished = Some(now);
                load.several = size;
            }
            if load.outstanding == 0 && !load.recently_batched(now, window) {
                self.kinds.remove(&kind);
            }
        }
    }
}

/// A queued request that must not run: its caller went away or its deadline passed.
fn is_dead(job: &Job, now: Instant) -> bool {
    job.reply.is_closed() || job.deadline.is_some_and(|d| now >= d.at)
}
