//! KServe's `Switch`: the first child whose condition finds something in the request.

use async_trait::async_trait;
use oxserve_core::{Error, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit};

use super::metrics::Router;
use crate::condition::Condition;
use crate::message::{Body, as_v2_json};

/// Routes each request to the first child whose condition matches the request read as a V2
/// body. With none, the request fails with 404, as KServe's router answers.
pub struct Switch {
    metadata: ModelMetadata,
    /// One per child, in order.
    conditions: Vec<Condition>,
    /// Whether any condition reads tensor data, which is only written out for them.
    reads_data: bool,
    metrics: Router,
}

impl Switch {
    pub fn new(metadata: ModelMetadata, conditions: Vec<Condition>, metrics: Router) -> Switch {
        let reads_data = conditions.iter().any(|c| c.reads("data"));
        Switch { metadata, conditions, reads_data, metrics }
    }
}

#[async_trait]
impl Unit for Switch {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, _request: InferenceRequest) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!("switch '{}' routes; it does not predict", self.metadata.name)))
    }

    async fn route(&self, request: &InferenceRequest) -> Result<i32> {
        let document = as_v2_json(request, Body::Request, self.reads_data)?;
        let branch = self.conditions.iter().position(|c| c.matches(&document)).ok_or_else(|| {
            let tried: Vec<String> = self.conditions.iter().map(|c| format!("'{c}'")).collect();
            Error::not_found(format!("no step's condition matches the request ({})", tried.join(", ")))
        })?;
        self.metrics.routed(branch);
        Ok(branch as i32)
    }
}
