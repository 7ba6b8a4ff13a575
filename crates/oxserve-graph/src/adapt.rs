//! A model file in a transformer's place.

use std::sync::Arc;

use async_trait::async_trait;
use oxserve_core::{InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit};

use crate::message::{as_request, fit};

/// Answers `transform_input` and `transform_output` by running the model, so that a model file
/// (a scaler, a tokenizer exported to ONNX) can be a graph's TRANSFORMER or OUTPUT_TRANSFORMER.
pub struct ModelAsTransformer {
    model: Arc<dyn Unit>,
}

impl ModelAsTransformer {
    pub fn new(model: Arc<dyn Unit>) -> ModelAsTransformer {
        ModelAsTransformer { model }
    }
}

#[async_trait]
impl Unit for ModelAsTransformer {
    fn metadata(&self) -> &ModelMetadata {
        self.model.metadata()
    }

    fn is_ready(&self) -> bool {
        self.model.is_ready()
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        self.model.predict(request).await
    }

    async fn transform_input(&self, request: InferenceRequest) -> Result<InferenceRequest> {
        Ok(as_request(self.model.predict(request).await?))
    }

    async fn transform_output(&self, response: InferenceResponse) -> Result<InferenceResponse> {
        self.model.predict(fit(as_request(response), self.model.metadata())).await
    }
}
