//! `inference.GRPCInferenceService`: the V2 protocol over gRPC, as Triton serves it.

use futures::{Stream, StreamExt};
use oxserve_core::{Error, Result};
use oxserve_protocol::pb::inference::grpc_inference_service_server::GrpcInferenceService;
use oxserve_protocol::pb::inference::*;
use oxserve_protocol::v2::grpc as codec;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::HeaderMap;
use tonic::{Request, Response, Status, Streaming};

use super::{status_of, stream_status};
use crate::metrics::Protocol;
use crate::rest::pass_headers;
use crate::{AppState, EXTENSIONS, SERVER_NAME};

/// How many requests of one `ModelStreamInfer` stream run at the same time; their responses
/// may come back out of order, each carrying its request's `id`.
const STREAM_CONCURRENCY: usize = 16;

pub struct InferenceService {
    state: AppState,
}

impl InferenceService {
    pub fn new(state: AppState) -> Self {
        InferenceService { state }
    }
}

/// One ModelInfer call, with metrics; `metadata` is the call's (a stream's) gRPC metadata.
async fn infer(
    state: &AppState,
    request: ModelInferRequest,
    metadata: &HeaderMap,
) -> Result<ModelInferResponse> {
    let unit = state.registry.get(&request.model_name, Some(&request.model_version));
    state
        .observe(Protocol::V2Grpc, unit, |unit| async move {
            let mut request = codec::decode_infer_request(request)?;
            pass_headers(unit.as_ref(), metadata, &mut request);
            Ok(codec::encode_infer_response(unit.predict(request).await?))
        })
        .await
}

type ResponseStream = Pin<Box<dyn Stream<Item = Result<ModelStreamInferResponse, Status>> + Send>>;

#[tonic::async_trait]
impl GrpcInferenceService for InferenceService {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse { ready: self.state.registry.all_ready() }))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let request = request.into_inner();
        let unit = self.state.registry.get(&request.name, Some(&request.version)).map_err(status_of)?;
        Ok(Response::new(ModelReadyResponse { ready: unit.is_ready() }))
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: SERVER_NAME.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            extensions: EXTENSIONS.iter().map(|e| e.to_string()).collect(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let request = request.into_inner();
        let unit = self.state.registry.get(&request.name, Some(&request.version)).map_err(status_of)?;
        Ok(Response::new(codec::encode_model_metadata(unit.metadata())))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        infer(&self.state, request, &metadata.into_headers()).await.map(Response::new).map_err(status_of)
    }

    type ModelStreamInferStream = ResponseStream;

    /// Each request's failure becomes a message with `error_message` set and the stream goes on;
    /// only a broken transport ends it.
    async fn model_stream_infer(
        &self,
        request: Request<Streaming<ModelInferRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let state = self.state.clone();
        let (metadata, _, requests) = request.into_parts();
        let metadata = Arc::new(metadata.into_headers());
        let responses = requests
            .map(move |item| {
                let state = state.clone();
                let metadata = Arc::clone(&metadata);
                async move {
                    let request = item.map_err(stream_status)?;
                    let (id, model_name, model_version) =
                        (request.id.clone(), request.model_name.clone(), request.model_version.clone());
                    Ok(match infer(&state, request, &metadata).await {
                        Ok(response) => ModelStreamInferResponse {
                            error_message: String::new(),
                            infer_response: Some(response),
                        },
                        Err(e) => ModelStreamInferResponse {
                            error_message: e.message,
                            infer_response: Some(ModelInferResponse {
                                id,
                                model_name,
                                model_version,
                                ..Default::default()
                            }),
                        },
                    })
                }
            })
            .buffer_unordered(STREAM_CONCURRENCY);
        Ok(Response::new(Box::pin(responses)))
    }

    async fn model_config(
        &self,
        request: Request<ModelConfigRequest>,
    ) -> Result<Response<ModelConfigResponse>, Status> {
        let request = request.into_inner();
        let unit = self.state.registry.get(&request.name, Some(&request.version)).map_err(status_of)?;
        Ok(Response::new(codec::encode_model_config(unit.metadata(), unit.max_batch_size())))
    }

    async fn model_statistics(
        &self,
        _: Request<ModelStatisticsRequest>,
    ) -> Result<Response<ModelStatisticsResponse>, Status> {
        Err(status_of(Error::unimplemented(
            "model statistics are served as Prometheus metrics at GET /metrics",
        )))
    }

    async fn repository_index(
        &self,
        _: Request<RepositoryIndexRequest>,
    ) -> Result<Response<RepositoryIndexResponse>, Status> {
        let models = self
            .state
            .registry
            .units()
            .map(|unit| {
                let metadata = unit.metadata();
                repository_index_response::ModelIndex {
                    name: metadata.name.clone(),
                    version: metadata.versions.last().cloned().unwrap_or_default(),
                    state: if unit.is_ready() { "READY" } else { "UNAVAILABLE" }.to_string(),
                    reason: String::new(),
                }
            })
            .collect();
        Ok(Response::new(RepositoryIndexResponse { models }))
    }

    async fn repository_model_load(
        &self,
        _: Request<RepositoryModelLoadRequest>,
    ) -> Result<Response<RepositoryModelLoadResponse>, Status> {
        Err(status_of(Error::unimplemented(
            "loading models at run time is not enabled; models load at start",
        )))
    }

    async fn repository_model_unload(
        &self,
        _: Request<RepositoryModelUnloadRequest>,
    ) -> Result<Response<RepositoryModelUnloadResponse>, Status> {
        Err(status_of(Error::unimplemented("unloading models at run time is not enabled")))
    }
}
