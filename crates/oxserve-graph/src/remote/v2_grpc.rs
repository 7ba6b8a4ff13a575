//! The V2 protocol over gRPC (`inference.GRPCInferenceService/ModelInfer`), for a model served
//! by another oxserve, Triton, MLServer or KServe.

use oxserve_core::{
    DataType, Error, InferenceRequest, InferenceResponse, ModelMetadata, Result, Tensor, TensorSpec,
};
use oxserve_protocol::pb::inference as pb;
use oxserve_protocol::pb::inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use oxserve_protocol::pb::inference::model_infer_request::InferInputTensor;
use tokio::sync::OnceCell;
use tonic::transport::{Channel, Endpoint};

use crate::message::fit;

use crate::spec::RemoteSpec;

pub struct Client {
    inference: GrpcInferenceServiceClient<Channel>,
    /// The model to call.
    model: String,
    /// The model's inputs, asked for once: a graph's tensors are fitted to them as a local
    /// model's are (see [`crate::message::fit`]).
    metadata: OnceCell<ModelMetadata>,
}

/// A lazily connected channel to the unit: the graph starts even if the unit is not up yet.
pub fn channel(spec: &RemoteSpec) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(format!("http://{}:{}", spec.host, spec.port)).map_err(|e| {
        Error::invalid(format!("endpoint: {}:{} is not an address: {e}", spec.host, spec.port))
    })?;
    Ok(endpoint.tcp_nodelay(true).connect_lazy())
}

impl Client {
    pub fn new(spec: &RemoteSpec) -> Result<Client> {
        let inference = GrpcInferenceServiceClient::new(channel(spec)?)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        Ok(Client { inference, model: spec.model.clone(), metadata: OnceCell::new() })
    }

    async fn metadata(&self) -> Result<&ModelMetadata> {
        self.metadata
            .get_or_try_init(|| async {
                let request = pb::ModelMetadataRequest { name: self.model.clone(), version: String::new() };
                let answer = self.inference.clone().model_metadata(request).await.map_err(|status| {
                    let error = super::seldon_grpc::status_error(super::Method::Predict, status);
                    Error::new(error.kind, error.message.replacen("Predict", "ModelMetadata", 1))
                })?;
                let inputs = answer
                    .into_inner()
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
        let answer = self.inference.clone().model_infer(message).await.map_err(|status| {
            let error = super::seldon_grpc::status_error(super::Method::Predict, status);
            Error::new(error.kind, error.message.replacen("Predict", "ModelInfer", 1))
        })?;
        let answer = answer.into_inner();
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
