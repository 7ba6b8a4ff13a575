//! What the Python, Java and R bindings share: hosting a model whose code runs in another
//! language's runtime.
//!
//! Each binding turns its language's calls into [`oxserve_core::Unit`] operations, and each needs
//! the same machinery around that: the model's declaration read against its settings and put
//! behind its scheduler ([`Declaration`]), the threads that run its code fed by a job queue
//! ([`Setup::on_workers`], or the one thread the language allows, [`Setup::on_host_thread`]),
//! and calls that hand a job to them and wait for its answer no longer than the timeout
//! ([`ForeignModel::call`]). It lives here once, so that a fix to a timeout or to a worker that
//! panics reaches all three; what is particular to a language (taking Python's GIL, attaching a
//! thread to the JVM, R's main-thread loop, converting messages) stays in its binding, which
//! gives the pool a per-thread `worker` closure and builds the jobs.
//!
//! User code never runs on the server's tokio threads, so a slow or hung `predict` occupies only
//! the thread that runs it, never health checks or other models.

mod declaration;
mod logging;
mod model;
mod workers;

pub use declaration::{Declaration, Setup};
pub use logging::init_logging;
pub use model::{ForeignModel, Limit, Reply};
pub use workers::Jobs;
