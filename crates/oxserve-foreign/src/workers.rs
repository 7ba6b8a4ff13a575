//! A model's own worker threads, fed by one job queue.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use oxserve_core::{Error, Result};

/// The jobs one worker thread takes, handed to the binding's `worker` closure (see
/// [`crate::Setup::on_workers`]); iterating over it waits for the next job and ends when the
/// model's unit, and so every sender, is gone.
///
/// A worker takes one job at a time, whichever thread is free first: when all are busy, jobs
/// wait in the queue in the order they came.
pub struct Jobs<J> {
    queue: Arc<Mutex<mpsc::Receiver<J>>>,
    /// Whether the worker holds a job it took: a panic then came from that job, not from the
    /// worker's own setup.
    running: Cell<bool>,
}

impl<J> Iterator for &Jobs<J> {
    type Item = J;

    fn next(&mut self) -> Option<J> {
        self.running.set(false);
        // The lock is held only while waiting, never while a job runs.
        let job = self.queue.lock().unwrap_or_else(PoisonError::into_inner).recv().ok();
        self.running.set(job.is_some());
        job
    }
}

/// Starts `threads` (at least one) threads named `<name>-<i>`, each running `worker` with the
/// jobs sent to the returned queue; they end when every sender is dropped.
///
/// `worker` runs once per thread, so that it can set the thread up for the language before its
/// first job (attach it to the JVM) and run each job as the language needs (inside Python's
/// GIL). When a job panics, the job's caller gets an error (see [`crate::Reply`]) and `worker`
/// starts again on the same thread, so a bug in one call never shrinks the pool; a panic outside
/// a job (in the worker's own setup) would repeat, so that thread stops instead, logged.
pub(crate) fn start<J: Send + 'static>(
    name: &str,
    threads: usize,
    worker: impl Fn(&Jobs<J>) + Send + Sync + 'static,
) -> Result<mpsc::Sender<J>> {
    let (jobs, queue) = mpsc::channel::<J>();
    let queue = Arc::new(Mutex::new(queue));
    let worker = Arc::new(worker);
    for i in 0..threads.max(1) {
        let jobs = Jobs { queue: Arc::clone(&queue), running: Cell::new(false) };
        let worker = Arc::clone(&worker);
        let thread = format!("{name}-{i}");
        std::thread::Builder::new()
            .name(thread.clone())
            .spawn(move || run(&*worker, &jobs, &thread))
            .map_err(|e| Error::internal(format!("cannot start a worker thread: {e}")))?;
    }
    Ok(jobs)
}

/// One worker thread's life: `worker` until the queue closes, again after a job panicked.
fn run<J>(worker: &impl Fn(&Jobs<J>), jobs: &Jobs<J>, thread: &str) {
    loop {
        match catch_unwind(AssertUnwindSafe(|| worker(jobs))) {
            Ok(()) => return,
            // The panic hook has printed the panic; the job's caller has its error.
            Err(_) if jobs.running.get() => {}
            Err(_) => {
                tracing::error!("{thread}: the worker thread stopped: it panicked outside a job");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    type Job = Box<dyn FnOnce(&mut u32) + Send>;

    /// A worker whose per-thread state counts the jobs it ran.
    fn counting(jobs: &Jobs<Job>) {
        let mut ran = 0;
        for job in jobs {
            job(&mut ran);
        }
    }

    #[test]
    fn jobs_run_on_the_named_threads_with_their_state() {
        let queue = start("oxserve-test-m", 1, counting).unwrap();
        let (tx, rx) = mpsc::channel();
        for _ in 0..3 {
            let tx = tx.clone();
            let job: Job = Box::new(move |ran| {
                *ran += 1;
                tx.send((std::thread::current().name().map(String::from), *ran)).unwrap();
            });
            queue.send(job).unwrap();
        }
        let seen: Vec<_> = (0..3).map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        let thread = Some("oxserve-test-m-0".to_string());
        assert_eq!(seen, [(thread.clone(), 1), (thread.clone(), 2), (thread, 3)]);
    }

    #[test]
    fn a_panicking_job_leaves_its_thread_serving() {
        let queue = start("oxserve-test-panics", 1, counting).unwrap();
        queue.send(Box::new(|_| panic!("a bug in one call"))).unwrap();
        let (tx, rx) = mpsc::channel();
        queue.send(Box::new(move |ran| tx.send(*ran).unwrap())).unwrap();
        // The worker started again, with fresh state, on the pool's only thread.
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(0));
    }

    #[test]
    fn a_worker_that_panics_outside_a_job_stops_its_thread() {
        let queue: mpsc::Sender<Job> = start("oxserve-test-setup", 1, |_| panic!("cannot set up")).unwrap();
        // The thread is gone and so is the queue's only receiver: sending fails, once it has
        // stopped, rather than the worker panicking again and again.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while queue.send(Box::new(|_| {})).is_ok() {
            assert!(std::time::Instant::now() < deadline, "the worker thread kept running");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
