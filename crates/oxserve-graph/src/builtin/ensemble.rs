//! KServe's `Ensemble`: every child's answer, side by side in one response.

use async_trait::async_trait;
use oxserve_core::{Error, InferenceRequest, InferenceResponse, ModelMetadata, Parameters, Result, Unit};

use crate::graph::SOFT_FAILURE;

/// Answers with all children's outputs, each renamed `<child>.<output>`: KServe answers an
/// ensemble with an object keyed by step name, and tensors keep that key in their name.
pub struct Ensemble {
    metadata: ModelMetadata,
    children: Vec<String>,
}

impl Ensemble {
    pub fn new(metadata: ModelMetadata, children: Vec<String>) -> Ensemble {
        Ensemble { metadata, children }
    }
}

#[async_trait]
impl Unit for Ensemble {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, _request: InferenceRequest) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!("ensemble '{}' combines; it does not predict", self.metadata.name)))
    }

    /// A soft step that failed answers no outputs; its error becomes the `<child>.error` parameter,
    /// where KServe's ensemble puts the step's error body under the step's name.
    async fn aggregate(&self, responses: Vec<InferenceResponse>) -> Result<InferenceResponse> {
        let (mut outputs, mut parameters) = (Vec::new(), Parameters::new());
        for (child, response) in self.children.iter().zip(responses) {
            if let Some(error) = response.parameters.get(SOFT_FAILURE) {
                parameters.insert(format!("{child}.{SOFT_FAILURE}"), error.clone());
            }
            outputs.extend(response.outputs.into_iter().map(|mut t| {
                t.name = format!("{child}.{}", t.name);
                t
            }));
        }
        Ok(InferenceResponse {
            model_name: self.metadata.name.clone(),
            outputs,
            parameters,
            ..Default::default()
        })
    }
}
