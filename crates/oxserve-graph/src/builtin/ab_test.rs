//! Seldon's `RANDOM_ABTEST`: a fixed split between two children.

use std::sync::Mutex;

use async_trait::async_trait;
use oxserve_core::{Error, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit};
use rand::Rng;
use rand::rngs::StdRng;

use super::metrics::Router;
use crate::spec::Parameters;

/// Sends a request to child 0 with probability `ratioA` (default 0.5), else to child 1.
pub struct RandomAbTest {
    metadata: ModelMetadata,
    ratio_a: f64,
    rng: Mutex<StdRng>,
    metrics: Router,
}

impl RandomAbTest {
    pub fn new(metadata: ModelMetadata, parameters: &Parameters, metrics: Router) -> Result<RandomAbTest> {
        parameters.only(&["ratioA", "seed"])?;
        let ratio_a = parameters.f64("ratioA")?.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&ratio_a) {
            return Err(parameters.error("ratioA", format!("{ratio_a} is not between 0 and 1")));
        }
        Ok(RandomAbTest { metadata, ratio_a, rng: Mutex::new(super::rng(parameters)?), metrics })
    }
}

#[async_trait]
impl Unit for RandomAbTest {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, _request: InferenceRequest) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!("router '{}' routes; it does not predict", self.metadata.name)))
    }

    async fn route(&self, _request: &InferenceRequest) -> Result<i32> {
        let draw: f64 = self.rng.lock().expect("router lock").random();
        let branch = if draw < self.ratio_a { 0 } else { 1 };
        self.metrics.routed(branch);
        Ok(branch as i32)
    }
}
