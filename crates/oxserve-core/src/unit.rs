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

    /// The unit's own health check, as Seldon's `/health/status` answers it (the wrapper calls the
    /// user's `health_status()`); `None` for a unit without one, which gets the wrapper's default
    /// `{"strData": "healthy"}`. An error is the check failing.
    async fn health_status(&self) -> Result<Option<InferenceResponse>> {
        Ok(None)
    }

    /// An explanation of the model's answer to `request` (KServe's `:explain` verb), in the
    /// unit's own form: one BYTES element marked `content_type` `json` is a JSON document sent as
    /// it is, any other response is encoded as a prediction.
    async fn explain(&self, _request: InferenceRequest) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!("model '{}' has no explainer", self.metadata().name)))
    }

    /// Whether the unit reads the caller's transport headers (HTTP headers, gRPC metadata), which
    /// the server then adds to each request under the parameter [`HEADERS_PARAMETER`]. Off by
    /// default, so that other units pay nothing for them and never forward them elsewhere.
    fn wants_headers(&self) -> bool {
        false
    }
}

/// The request parameter that carries the caller's transport headers to a unit that
/// [wants them](Unit::wants_headers): a JSON object of lower-case header name to value (values
/// that are not UTF-8 are left out; a repeated header keeps its values joined by `,`).
pub const HEADERS_PARAMETER: &str = "oxserve_headers";
