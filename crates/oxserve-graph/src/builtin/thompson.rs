//! A Thompson-sampling multi-armed bandit router, as Seldon's `ThompsonSampling` component:
//! each branch's success rate has a Beta(α, β) posterior, starting at Beta(1, 1); a request goes
//! to the branch whose sample is highest, so branches are tried in proportion to their chance
//! of being the best.

use std::sync::Mutex;

use async_trait::async_trait;
use oxserve_core::{Error, Feedback, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit};
use rand::rngs::StdRng;
use rand_distr::{Beta, Distribution};

use super::metrics::Router;
use super::reward::outcome;
use crate::spec::Parameters;

pub struct ThompsonSampling {
    metadata: ModelMetadata,
    state: Mutex<State>,
    metrics: Router,
}

struct State {
    rng: StdRng,
    /// (α, β) per branch.
    posteriors: Vec<(f64, f64)>,
}

impl ThompsonSampling {
    pub fn new(
        metadata: ModelMetadata,
        parameters: &Parameters,
        metrics: Router,
    ) -> Result<ThompsonSampling> {
        let mut known = vec!["n_branches", "seed"];
        known.extend(super::SELDON_COSMETIC);
        parameters.only(&known)?;
        let n = super::n_branches(parameters, metrics.branch_count())?;
        for branch in 0..n {
            metrics.value(branch, 0.5);
        }
        let state = State { rng: super::rng(parameters)?, posteriors: vec![(1.0, 1.0); n] };
        Ok(ThompsonSampling { metadata, state: Mutex::new(state), metrics })
    }
}

#[async_trait]
impl Unit for ThompsonSampling {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, _request: InferenceRequest) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!("router '{}' routes; it does not predict", self.metadata.name)))
    }

    async fn route(&self, _request: &InferenceRequest) -> Result<i32> {
        let mut state = self.state.lock().expect("router lock");
        let State { rng, posteriors } = &mut *state;
        let mut best = (0, f64::NEG_INFINITY);
        for (branch, &(alpha, beta)) in posteriors.iter().enumerate() {
            let beta =
                Beta::new(alpha, beta).map_err(|e| Error::internal(format!("Beta({alpha}, {beta}): {e}")))?;
            let draw = beta.sample(rng);
            if draw > best.1 {
                best = (branch, draw);
            }
        }
        self.metrics.routed(best.0);
        Ok(best.0 as i32)
    }

    async fn send_feedback(&self, feedback: Feedback) -> Result<InferenceResponse> {
        let outcome = outcome(&feedback, self.metrics.name())?;
        let branch = self.metrics.branch(outcome.routing)?;
        let mut state = self.state.lock().expect("router lock");
        let (alpha, beta) = &mut state.posteriors[branch];
        *alpha += outcome.successes as f64;
        *beta += outcome.failures as f64;
        let mean = *alpha / (*alpha + *beta);
        self.metrics.rewarded(branch, outcome.successes, outcome.failures);
        self.metrics.value(branch, mean);
        Ok(InferenceResponse::default())
    }
}
