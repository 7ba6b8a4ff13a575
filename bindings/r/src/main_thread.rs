//! R's main thread while `oxserve::serve()` runs: it takes [`Job`]s from the units, runs them,
//! and watches for R's interrupt (Ctrl-C, or the stop button of an R IDE), which drains the
//! server.
//!
//! The server runs on its own thread ([`crate::serve_on_main_thread`]); the main thread leaves
//! this loop only when that thread has finished and every unit (and so every job sender) is
//! gone, so requests still in flight during a drain are answered by R.

use std::cell::Cell;
use std::ffi::c_void;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use extendr_api::prelude::*;
use extendr_ffi::Rboolean;
use oxserve_core::{Error, ErrorKind};

use crate::convert;

/// Work for R's main thread; it sends its own answer back to the unit that queued it.
pub type Job = Box<dyn FnOnce(&MainThread) + Send>;

/// How often the loop looks for an interrupt while no job arrives, and at most between jobs.
const INTERRUPT_POLL: Duration = Duration::from_millis(100);

unsafe extern "C" {
    /// Runs `fun(data)` as if at R's top level: a long jump out of it (an interrupt) ends there
    /// and makes it return FALSE, instead of unwinding through Rust frames.
    fn R_ToplevelExec(fun: Option<unsafe extern "C" fn(*mut c_void)>, data: *mut c_void) -> Rboolean;
    fn R_CheckUserInterrupt();
}

unsafe extern "C" fn check_interrupt(_: *mut c_void) {
    // SAFETY: called by R_ToplevelExec on R's main thread, which catches the jump it may make.
    unsafe { R_CheckUserInterrupt() }
}

/// Whether the user interrupted R since the last check (the interrupt is consumed).
fn interrupt_pending() -> bool {
    // SAFETY: `serve` runs on R's main thread (it is called through `.Call`).
    unsafe { R_ToplevelExec(Some(check_interrupt), std::ptr::null_mut()) == Rboolean::FALSE }
}

/// The R side of the serving loop: one dispatcher per model (`r/R/serve.R`), and whether an
/// interrupt arrived while R code ran.
pub struct MainThread {
    handlers: Vec<Function>,
    interrupted: Cell<bool>,
}

impl MainThread {
    pub fn new(handlers: Vec<Function>) -> MainThread {
        MainThread { handlers, interrupted: Cell::new(false) }
    }

    /// Calls model `index`'s dispatcher with `operation` and `message`.
    ///
    /// The dispatcher catches R errors itself and answers `list(error =, status =)`, so that the
    /// caller gets R's own message; an interrupt during user code answers `interrupted = TRUE`
    /// and stops the server as Ctrl-C at any other time would.
    pub fn call(&self, index: usize, operation: &str, message: Robj) -> Result<Robj, Error> {
        let handler = &self.handlers[index];
        let answer = handler
            .call(pairlist!(operation, message))
            .map_err(|e| Error::internal(format!("the R dispatcher failed: {e}")))?;
        let field = |name: &str| Some(convert::field(&answer, name)).filter(|v| !v.is_null());
        if field("interrupted").and_then(|v| v.as_bool()) == Some(true) {
            self.interrupted.set(true);
        }
        match field("error") {
            Some(message) => {
                let status = field("status").and_then(|s| s.as_integer()).unwrap_or(500);
                let kind = if status == 400 {
                    ErrorKind::InvalidArgument
                } else if status == 503 {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::Internal
                };
                Err(Error::new(kind, message.as_str().unwrap_or("R error").to_string()))
            }
            None => Ok(convert::field(&answer, "ok")),
        }
    }

    /// Runs jobs until every sender is gone, calling `stop` once on the first interrupt.
    pub fn run(&self, queue: &mpsc::Receiver<Job>, mut stop: impl FnMut()) {
        let mut stopping = false;
        let mut checked = Instant::now();
        loop {
            match queue.recv_timeout(INTERRUPT_POLL) {
                Ok(job) => job(self),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            if !stopping && checked.elapsed() >= INTERRUPT_POLL {
                checked = Instant::now();
                if self.interrupted.get() || interrupt_pending() {
                    stopping = true;
                    stop();
                }
            }
        }
    }
}
