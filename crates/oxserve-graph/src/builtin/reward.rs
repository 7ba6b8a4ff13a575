//! Seldon's reward convention for bandit routers: `reward` is the fraction of the request's rows
//! that were right, so a batch of n rows counts as n trials.

use oxserve_core::{Error, Feedback, Result};

/// Which branch a feedback is about and its successes and failures, for router `router`.
pub(super) struct Outcome {
    pub routing: i32,
    pub successes: u64,
    pub failures: u64,
}

/// Reads the router's choice from `response.meta.routing` (the prediction's meta, echoed by the
/// client) and turns `reward` into successes and failures over the request's rows.
pub(super) fn outcome(feedback: &Feedback, router: &str) -> Result<Outcome> {
    let routing =
        feedback.response.as_ref().and_then(|r| r.meta.routing.get(router)).copied().ok_or_else(|| {
            Error::invalid(format!(
                "response.meta.routing.{router}: missing; send the prediction's meta.routing back with the \
             feedback so that router '{router}' knows which branch it rewards"
            ))
        })?;
    if !(0.0..=1.0).contains(&feedback.reward) {
        return Err(Error::invalid(format!(
            "reward: {} is not between 0 and 1 (the fraction of rows predicted right)",
            feedback.reward
        )));
    }
    let rows = feedback
        .request
        .as_ref()
        .and_then(|r| r.inputs.first())
        .and_then(|t| t.shape.first().copied())
        .unwrap_or(1)
        .max(1) as u64;
    let successes = (feedback.reward * rows as f64).floor() as u64;
    Ok(Outcome { routing, successes, failures: rows - successes })
}
