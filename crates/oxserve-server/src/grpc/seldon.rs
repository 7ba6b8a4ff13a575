//! Seldon's gRPC services: the component ones (`Model`, `Generic`, `Transformer`,
//! `OutputTransformer`, `Router`, `Combiner`), each calling the same unit, and `Seldon` (a
//! deployment's front door). Every call goes through [`AppState::seldon_call`], as REST's do.

use std::collections::HashMap;
use std::sync::Arc;

use oxserve_core::{Error, InferenceRequest, ModelMetadata, Result, Unit};
use oxserve_protocol::pb::seldon::combiner_server::Combiner;
use oxserve_protocol::pb::seldon::generic_server::Generic;
use oxserve_protocol::pb::seldon::model_server::Model;
use oxserve_protocol::pb::seldon::output_transformer_server::OutputTransformer;
use oxserve_protocol::pb::seldon::router_server::Router;
use oxserve_protocol::pb::seldon::seldon_server::Seldon;
use oxserve_protocol::pb::seldon::transformer_server::Transformer;
use oxserve_protocol::pb::seldon::{
    Feedback, SeldonGraphMetadata, SeldonMessage, SeldonMessageList, SeldonModelMetadata,
    SeldonModelMetadataRequest,
};
use oxserve_protocol::seldon::PayloadKind;
use oxserve_protocol::seldon::component::Call;
use oxserve_protocol::seldon::grpc as codec;
use tonic::{Request, Response, Status};

use super::status_of;
use crate::AppState;
use crate::metrics::Protocol;
use crate::rest::seldon::mark_data_form;

/// The request parameter that says a Seldon call came over gRPC, so that a unit can hand Seldon's
/// `*_raw` methods a proto, as Seldon's gRPC server does (the Python package).
pub(crate) const TRANSPORT_PARAMETER: &str = "seldon_transport";

/// Marks every message of a gRPC call with [`TRANSPORT_PARAMETER`].
fn mark_grpc(call: &mut Call) {
    let messages: Vec<&mut InferenceRequest> = match call {
        Call::Predict(request)
        | Call::TransformInput(request)
        | Call::TransformOutput(request)
        | Call::Route(request) => vec![request],
        Call::Aggregate(list) => list.iter_mut().collect(),
        Call::Feedback(feedback) => feedback.request.iter_mut().chain(feedback.truth.iter_mut()).collect(),
    };
    for message in messages {
        message.parameters.insert(TRANSPORT_PARAMETER.to_string(), "grpc".into());
    }
}

/// gRPC metadata key naming the target model: Seldon's ingress routes a deployment by it.
const MODEL_KEY: &str = "seldon";

pub struct SeldonService {
    state: AppState,
}

impl SeldonService {
    pub fn new(state: AppState) -> Self {
        SeldonService { state }
    }

    /// The model named by the `seldon` metadata key, else the default model.
    fn target<T>(&self, request: &Request<T>) -> Result<Arc<dyn Unit>> {
        match request.metadata().get(MODEL_KEY) {
            Some(name) => {
                let name = name.to_str().map_err(|_| Error::invalid("metadata 'seldon': not ASCII text"))?;
                self.state.registry.get(name, None)
            }
            None => self.state.registry.default_unit(),
        }
    }

    /// Answers one message with the unit method `call` names.
    async fn one(
        &self,
        request: Request<SeldonMessage>,
        call: fn(InferenceRequest) -> Call,
    ) -> Result<Response<SeldonMessage>, Status> {
        let unit = self.target(&request);
        let message = request.into_inner();
        self.answer(unit, move |metadata| {
            codec::decode_message(message, metadata).map(|(r, kind)| (call(r), kind))
        })
        .await
    }

    async fn aggregate(
        &self,
        request: Request<SeldonMessageList>,
    ) -> Result<Response<SeldonMessage>, Status> {
        let unit = self.target(&request);
        let list = request.into_inner();
        self.answer(unit, move |metadata| codec::decode_aggregate(list, metadata)).await
    }

    async fn send_feedback(&self, request: Request<Feedback>) -> Result<Response<SeldonMessage>, Status> {
        let unit = self.target(&request);
        let feedback = request.into_inner();
        self.answer(unit, move |metadata| codec::decode_feedback(feedback, metadata)).await
    }

    /// Decodes with the target unit's metadata, lets the unit answer, and encodes the answer in
    /// the request's form; the outcome is recorded as every protocol's is.
    async fn answer(
        &self,
        unit: Result<Arc<dyn Unit>>,
        decode: impl FnOnce(&ModelMetadata) -> Result<(Call, PayloadKind)> + Send,
    ) -> Result<Response<SeldonMessage>, Status> {
        let state = self.state.clone();
        self.state
            .observe(Protocol::SeldonGrpc, unit, |unit| async move {
                let (mut call, kind) = decode(unit.metadata())?;
                mark_data_form(&mut call, kind);
                mark_grpc(&mut call);
                let response = state.seldon_call(unit.as_ref(), call).await?;
                codec::encode_message(&response, kind)
            })
            .await
            .map(Response::new)
            .map_err(status_of)
    }

    fn metadata_of(&self, unit: Result<Arc<dyn Unit>>) -> Result<Response<SeldonModelMetadata>, Status> {
        unit.map(|unit| Response::new(codec::encode_metadata(unit.metadata()))).map_err(status_of)
    }
}

#[tonic::async_trait]
impl Model for SeldonService {
    async fn predict(&self, request: Request<SeldonMessage>) -> Result<Response<SeldonMessage>, Status> {
        self.one(request, Call::Predict).await
    }

    async fn send_feedback(&self, request: Request<Feedback>) -> Result<Response<SeldonMessage>, Status> {
        SeldonService::send_feedback(self, request).await
    }

    async fn metadata(&self, request: Request<()>) -> Result<Response<SeldonModelMetadata>, Status> {
        self.metadata_of(self.target(&request))
    }
}

#[tonic::async_trait]
impl Seldon for SeldonService {
    async fn predict(&self, request: Request<SeldonMessage>) -> Result<Response<SeldonMessage>, Status> {
        self.one(request, Call::Predict).await
    }

    async fn send_feedback(&self, request: Request<Feedback>) -> Result<Response<SeldonMessage>, Status> {
        SeldonService::send_feedback(self, request).await
    }

    async fn model_metadata(
        &self,
        request: Request<SeldonModelMetadataRequest>,
    ) -> Result<Response<SeldonModelMetadata>, Status> {
        let name = request.get_ref().name.clone();
        if name.is_empty() {
            return self.metadata_of(self.target(&request));
        }
        // A unit of the graph being served, else a model of this server.
        let node = self.target(&request).ok().and_then(|unit| unit.graph_metadata()?.units.remove(&name));
        match node {
            Some(node) => Ok(Response::new(codec::encode_metadata(&node))),
            None => self.metadata_of(self.state.registry.get(&name, None)),
        }
    }

    /// A graph's units, or a single model as a graph of one node.
    async fn graph_metadata(&self, request: Request<()>) -> Result<Response<SeldonGraphMetadata>, Status> {
        let unit = self.target(&request).map_err(status_of)?;
        if let Some(graph) = unit.graph_metadata() {
            return Ok(Response::new(codec::encode_graph_metadata(&graph)));
        }
        let metadata = codec::encode_metadata(unit.metadata());
        Ok(Response::new(SeldonGraphMetadata {
            name: metadata.name.clone(),
            inputs: metadata.inputs.clone(),
            outputs: metadata.outputs.clone(),
            models: HashMap::from([(metadata.name.clone(), metadata)]),
        }))
    }
}

#[tonic::async_trait]
impl Generic for SeldonService {
    async fn transform_input(
        &self,
        request: Request<SeldonMessage>,
    ) -> Result<Response<SeldonMessage>, Status> {
        self.one(request, Call::TransformInput).await
    }

    async fn transform_output(
        &self,
        request: Request<SeldonMessage>,
    ) -> Result<Response<SeldonMessage>, Status> {
        self.one(request, Call::TransformOutput).await
    }

    async fn route(&self, request: Request<SeldonMessage>) -> Result<Response<SeldonMessage>, Status> {
        self.one(request, Call::Route).await
    }

    async fn aggregate(
        &self,
        request: Request<SeldonMessageList>,
    ) -> Result<Response<SeldonMessage>, Status> {
        SeldonService::aggregate(self, request).await
    }

    async fn send_feedback(&self, request: Request<Feedback>) -> Result<Response<SeldonMessage>, Status> {
        SeldonService::send_feedback(self, request).await
    }
}

#[tonic::async_trait]
impl Transformer for SeldonService {
    async fn transform_input(
        &self,
        request: Request<SeldonMessage>,
    ) -> Result<Response<SeldonMessage>, Status> {
        self.one(request, Call::TransformInput).await
    }
}

#[tonic::async_trait]
impl OutputTransformer for SeldonService {
    async fn transform_output(
        &self,
        request: Request<SeldonMessage>,
    ) -> Result<Response<SeldonMessage>, Status> {
        self.one(request, Call::TransformOutput).await
    }
}

#[tonic::async_trait]
impl Router for SeldonService {
    async fn route(&self, request: Request<SeldonMessage>) -> Result<Response<SeldonMessage>, Status> {
        self.one(request, Call::Route).await
    }

    async fn send_feedback(&self, request: Request<Feedback>) -> Result<Response<SeldonMessage>, Status> {
        SeldonService::send_feedback(self, request).await
    }
}

#[tonic::async_trait]
impl Combiner for SeldonService {
    async fn aggregate(
        &self,
        request: Request<SeldonMessageList>,
    ) -> Result<Response<SeldonMessage>, Status> {
        SeldonService::aggregate(self, request).await
    }
}
