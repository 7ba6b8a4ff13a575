//! KServe's `Splitter`: a child drawn by its share of the traffic.

use std::sync::Mutex;

use async_trait::async_trait;
use oxserve_core::{Error, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit};
use rand::Rng;
use rand::rngs::StdRng;

use super::metrics::Router;
use crate::spec::Parameters;

/// Sends each request to one child, child `i` with probability `weights[i]` percent.
pub struct Splitter {
    metadata: ModelMetadata,
    /// Running totals of the weights, ending at 100.
    bounds: Vec<u64>,
    rng: Mutex<StdRng>,
    metrics: Router,
}

impl Splitter {
    pub fn new(metadata: ModelMetadata, parameters: &Parameters, metrics: Router) -> Result<Splitter> {
        parameters.only(&["weights", "seed"])?;
        let weights = parameters
            .u64_list("weights")?
            .ok_or_else(|| parameters.error("weights", "required: one percentage per child"))?;
        if weights.len() != metrics.branch_count() || weights.iter().sum::<u64>() != 100 {
            return Err(parameters.error(
                "weights",
                format!(
                    "{weights:?} must hold one percentage per child ({}) adding up to 100",
                    metrics.branch_count()
                ),
            ));
        }
        let bounds = weights.iter().scan(0, |total, w| Some(*total + w).inspect(|t| *total = *t)).collect();
        Ok(Splitter { metadata, bounds, rng: Mutex::new(super::rng(parameters)?), metrics })
    }
}

#[async_trait]
impl Unit for Splitter {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, _request: InferenceRequest) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!("splitter '{}' routes; it does not predict", self.metadata.name)))
    }

    async fn route(&self, _request: &InferenceRequest) -> Result<i32> {
        let draw = self.rng.lock().expect("router lock").random_range(0..100u64);
        let branch = self.bounds.iter().position(|&bound| draw < bound).unwrap_or(self.bounds.len() - 1);
        self.metrics.routed(branch);
        Ok(branch as i32)
    }
}
