//! An epsilon-greedy multi-armed bandit router, as Seldon's `EpsilonGreedy` component: exploit
//! the branch with the best success rate so far, explore another with probability epsilon.

use std::sync::Mutex;

use async_trait::async_trait;
use oxserve_core::{Error, Feedback, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use super::metrics::Router;
use super::reward::outcome;
use crate::spec::Parameters;

pub struct EpsilonGreedy {
    metadata: ModelMetadata,
    epsilon: f64,
    state: Mutex<State>,
    metrics: Router,
}

struct State {
    rng: StdRng,
    best: usize,
    successes: Vec<u64>,
    tries: Vec<u64>,
}

impl EpsilonGreedy {
    pub fn new(metadata: ModelMetadata, parameters: &Parameters, metrics: Router) -> Result<EpsilonGreedy> {
        let mut known = vec!["n_branches", "epsilon", "best_branch", "seed"];
        known.extend(super::SELDON_COSMETIC);
        parameters.only(&known)?;
        let n = super::n_branches(parameters, metrics.branch_count())?;
        let epsilon = parameters.f64("epsilon")?.unwrap_or(0.1);
        if !(0.0..=1.0).contains(&epsilon) {
            return Err(parameters.error("epsilon", format!("{epsilon} is not between 0 and 1")));
        }
        let mut rng = super::rng(parameters)?;
        let best = match parameters.u64("best_branch")? {
            Some(best) if best as usize >= n => {
                return Err(
                    parameters.error("best_branch", format!("{best} is not a branch (0 to {})", n - 1))
                );
            }
            Some(best) => best as usize,
            None => rng.random_range(0..n),
        };
        metrics.best(best);
        let state = State { rng, best, successes: vec![0; n], tries: vec![0; n] };
        Ok(EpsilonGreedy { metadata, epsilon, state: Mutex::new(state), metrics })
    }
}

#[async_trait]
impl Unit for EpsilonGreedy {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, _request: InferenceRequest) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!("router '{}' routes; it does not predict", self.metadata.name)))
    }

    async fn route(&self, _request: &InferenceRequest) -> Result<i32> {
        let mut state = self.state.lock().expect("router lock");
        let n = state.tries.len();
        let branch = if n == 1 || state.rng.random::<f64>() >= self.epsilon {
            state.best
        } else {
            // Any branch but the best, uniformly.
            let other = state.rng.random_range(0..n - 1);
            if other >= state.best { other + 1 } else { other }
        };
        self.metrics.routed(branch);
        Ok(branch as i32)
    }

    async fn send_feedback(&self, feedback: Feedback) -> Result<InferenceResponse> {
        let outcome = outcome(&feedback, self.metrics.name())?;
        let branch = self.metrics.branch(outcome.routing)?;
        let mut state = self.state.lock().expect("router lock");
        state.successes[branch] += outcome.successes;
        state.tries[branch] += outcome.successes + outcome.failures;
        let values: Vec<f64> = (0..state.tries.len())
            .map(
                |b| if state.tries[b] == 0 { 0.0 } else { state.successes[b] as f64 / state.tries[b] as f64 },
            )
            .collect();
        let top = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let leaders: Vec<usize> = (0..values.len()).filter(|&b| values[b] == top).collect();
        let best = *leaders.choose(&mut state.rng).expect("at least one branch");
        state.best = best;
        self.metrics.rewarded(branch, outcome.successes, outcome.failures);
        self.metrics.value(branch, values[branch]);
        self.metrics.best(best);
        Ok(InferenceResponse::default())
    }
}
