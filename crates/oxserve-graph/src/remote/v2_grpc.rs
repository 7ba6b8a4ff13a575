//! The V2 protocol over gRPC (`inference.GRPCInferenceService/ModelInfer`), for a model served
//! by another oxserve, Triton, MLServer or KServe.

use oxserve_core::{
    DataType, Error, InferenceRequest, InferenceResponse, ModelMetadata, Result, Tensor, TensorSpec,
};
use oxserve_protocol::pb::inference as pb;
use oxserve_protocol::pb::inference::model_infer_request::InferInputTensor;
use tokio::sync::OnceCell;

use super::grpc::Channel;
use crate::message::fit;
use crate::spec::RemoteSpec;

const MODEL_INFER: &str = "/inference.GRPCInferenceService/ModelInfer";
const MODEL_METADATA: &str = "/inference.GRPCInferenceService/ModelMetadata";

pub struct Client {
    channel: Channel,
    /// The model to call.
    model: String,
    /// The model's inputs, asked for once: a graph's tensors are fitted to them as a local
    /// model's are (see [`crate::message::fit`]).
    metadata: OnceCell<ModelMetadata>,
}

impl Client {
    pub fn new(spec: &RemoteSpec) -> Result<Client> {
        Ok(Client { channel: Channel::new(spec)?, model: spec.model.clone(), metadata: OnceCell::new() })
    }

    async fn metadata(&self) -> Result<&ModelMetadata> {
        self.metadata
            .get_or_try_init(|| async {
                let request = pb::ModelMetadataRequest { name: self.model.clone(), version: String::new() };
                let answer: pb::ModelMetadataResponse = self.channel.unary(MODEL_METADATA, &request).await?;
                let inputs = answer
                    .inputs
                    .into_iter()
                    .filter_map(|t| {
                        Some(TensorSpec {
                            datatype: DataType::parse(&t.datatype)?,
                            name: t.name,
                            shape: t.shape,
                        })
                    })
                    .collect();
                Ok(ModelMetadata { name: self.model.clone(), inputs, ..Default::default() })
            })
            .await
    }

    pub async fn infer(&self, request: &InferenceRequest) -> Result<InferenceResponse> {
        let request = &fit(request.clone(), self.metadata().await?);
        let message = pb::ModelInferRequest {
            model_name: self.model.clone(),
            id: request.id.clone().unwrap_or_default(),
            inputs: request
                .inputs
                .iter()
                .map(|t| InferInputTensor {
                    name: t.name.clone(),
                    datatype: t.datatype.as_str().to_string(),
                    shape: t.shape.iter().map(|&d| d as i64).collect(),
                    ..Default::default()
                })
                .collect(),
            raw_input_contents: request.inputs.iter().map(|t| t.data.clone()).collect(),
            ..Default::default()
        };
        let answer: pb::ModelInferResponse = self.channel.unary(MODEL_INFER, &message).await?;
        if answer.raw_output_contents.len() != answer.outputs.len() {
            return Err(Error::internal(format!(
                "ModelInfer: {} outputs but {} raw output buffers (typed `contents` are not read)",
                answer.outputs.len(),
                answer.raw_output_contents.len()
            )));
        }
        let outputs = answer
            .outputs
            .into_iter()
            .zip(answer.raw_output_contents)
            .map(|(output, data)| {
                let datatype = DataType::parse(&output.datatype).ok_or_else(|| {
                    Error::internal(format!(
                        "ModelInfer: output '{}' has datatype '{}'",
                        output.name, output.datatype
                    ))
                })?;
                let shape =
                    oxserve_core::shape_from_i64(&output.shape, &format!("outputs.{}.shape", output.name))?;
                Tensor::new(output.name, datatype, shape, data).map_err(|e| e.context("ModelInfer"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(InferenceResponse {
            id: request.id.clone(),
            model_name: answer.model_name,
            outputs,
            meta: request.meta.clone(),
            ..Default::default()
        })
    }
}
