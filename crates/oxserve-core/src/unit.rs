use async_trait::async_trait;

use crate::{Error, Feedback, GraphMetadata, InferenceRequest, InferenceResponse, ModelMetadata, Result};

/// One servable step: a model, or a transformer, router or combiner in a graph.
///
/// The server and the graph executor speak only to this trait, so a runtime (ONNX, Python, Java,
/// R, a remote server) is one implementation of it. Methods a unit does not support keep their
/// defaults: transforms are identities and the rest answer `Unimplemented`.
#[async_trait]
pub trait Unit: Send + Sync + 'static {
    /// Name, versions, platform, inputs and outputs.
    fn metadata(&self) -> &ModelMetadata;

    /// The units of a graph and their metadata; `None` for a unit that is not a graph, which
    /// Seldon's graph metadata shows as a graph of one.
    fn graph_metadata(&self) -> Option<GraphMetadata> {
        None
    }

    /// Whether the unit can take requests now.
    fn is_ready(&self) -> bool {
        true
    }

    /// The most rows this unit combines from separate requests into one run (what Triton's
    /// model configuration calls `max_batch_size`); 0 when it does not batch.
    fn max_batch_size(&self) -> usize {
        0
    }

    /// Runs the model.
    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse>;

    /// Rewrites a request before it reaches the next unit.
    async fn transform_input(&self, request: InferenceRequest) -> Result<InferenceRequest> {
        Ok(request)
    }

    /// Rewrites a response on its way back.
    async fn transform_output(&self, response: InferenceResponse) -> Result<InferenceResponse> {
        Ok(response)
    }

    /// Picks the child that should handle `request`: an index, `-1` for all, `-2` for none.
    async fn route(&self, _request: &InferenceRequest) -> Result<i32> {
        Err(Error::unimplemented(format!("unit '{}' does not route", self.metadata().name)))
    }

    /// Combines the responses of all children into one.
    async fn aggregate(&self, _responses: Vec<InferenceResponse>) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!("unit '{}' does not aggregate", self.metadata().name)))
    }

    /// Takes a reward for an earlier prediction.
    async fn send_feedback(&self, _feedback: Feedback) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!("unit '{}' does not take feedback", self.metadata().name)))
    }
}
