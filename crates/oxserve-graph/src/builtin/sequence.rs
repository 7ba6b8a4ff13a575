//! KServe's `Sequence` node, whose work (running its children in turn) is the executor's.

use async_trait::async_trait;
use oxserve_core::{Error, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit};

/// The unit of a node that only chains its children: it has a name and metadata for
/// `meta.requestPath` and graph metadata, and nothing to run.
pub struct Sequence {
    metadata: ModelMetadata,
}

impl Sequence {
    pub fn new(metadata: ModelMetadata) -> Sequence {
        Sequence { metadata }
    }
}

#[async_trait]
impl Unit for Sequence {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, _request: InferenceRequest) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!(
            "sequence '{}' chains its children; it does not predict",
            self.metadata.name
        )))
    }
}
