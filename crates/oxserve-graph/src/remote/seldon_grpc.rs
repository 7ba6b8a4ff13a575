//! Seldon's component API over gRPC (`seldon.protos.Model` and `Generic`), on one HTTP/2
//! channel that multiplexes every call.

use oxserve_core::{Error, ErrorKind, Feedback, InferenceRequest, InferenceResponse, Meta, Result};
use oxserve_protocol::pb::seldon as pb;
use oxserve_protocol::pb::seldon::generic_client::GenericClient;
use oxserve_protocol::pb::seldon::model_client::ModelClient;
use oxserve_protocol::seldon::PayloadKind;
use oxserve_protocol::seldon::grpc as codec;
use tonic::transport::Channel;

use super::{Method, Payload, answer_metadata};
use crate::message::as_response;
use crate::spec::RemoteSpec;

pub struct Client {
    model: ModelClient<Channel>,
    generic: GenericClient<Channel>,
}

/// Tensors go out as Seldon's `tensor` form, the compact one in protobuf.
const FORM: PayloadKind = PayloadKind::Tensor;

/// Seldon messages may be as large as the server in front allows; the unit decides.
const MAX_MESSAGE: usize = usize::MAX;

impl Client {
    pub fn new(spec: &RemoteSpec) -> Result<Client> {
        let channel = super::v2_grpc::channel(spec)?;
        Ok(Client {
            model: ModelClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            generic: GenericClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        })
    }

    pub async fn call(&self, method: Method, payload: &Payload<'_>) -> Result<InferenceRequest> {
        let (mut model, mut generic) = (self.model.clone(), self.generic.clone());
        let answer = match (method, payload) {
            (Method::Predict, Payload::One(m)) => model.predict(message(m)?).await,
            (Method::TransformInput, Payload::One(m)) => generic.transform_input(message(m)?).await,
            (Method::TransformOutput, Payload::One(m)) => generic.transform_output(message(m)?).await,
            (Method::Route, Payload::One(m)) => generic.route(message(m)?).await,
            (Method::Aggregate, Payload::Many(messages)) => {
                let list = messages.iter().map(message).collect::<Result<Vec<_>>>()?;
                generic.aggregate(pb::SeldonMessageList { seldon_messages: list }).await
            }
            (Method::SendFeedback, Payload::Feedback(f)) => generic.send_feedback(feedback(f)?).await,
            _ => return Err(Error::internal(format!("{method:?} does not take this payload"))),
        };
        let answer = answer.map_err(|status| status_error(method, status))?.into_inner();
        codec::decode_message(answer, &answer_metadata())
            .map(|(request, _)| request)
            .map_err(|e| Error::internal(format!("{method:?}: the answer is not a Seldon message: {e}")))
    }
}

fn message(response: &InferenceResponse) -> Result<pb::SeldonMessage> {
    codec::encode_message(response, FORM)
}

fn feedback(feedback: &Feedback) -> Result<pb::Feedback> {
    let part = |message: Option<InferenceResponse>| -> Result<Option<pb::SeldonMessage>> {
        message
            .map(|m| {
                if m.outputs.is_empty() {
                    Ok(pb::SeldonMessage { meta: Some(meta(&m.meta)), ..Default::default() })
                } else {
                    self::message(&m)
                }
            })
            .transpose()
    };
    Ok(pb::Feedback {
        request: part(feedback.request.clone().map(as_response))?,
        response: part(feedback.response.clone())?,
        reward: feedback.reward as f32,
        truth: part(feedback.truth.clone().map(as_response))?,
    })
}

/// The meta of a feedback part sent without tensors: what routers and models read from it.
fn meta(meta: &Meta) -> pb::Meta {
    pb::Meta {
        puid: meta.puid.clone(),
        routing: meta.routing.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        request_path: meta.request_path.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ..Default::default()
    }
}

/// A gRPC failure as an error of the same meaning (see [`super::kind_of_status`]).
pub(super) fn status_error(method: Method, status: tonic::Status) -> Error {
    use tonic::Code;
    let kind = match status.code() {
        Code::Unavailable => ErrorKind::Unavailable,
        Code::DeadlineExceeded => ErrorKind::DeadlineExceeded,
        Code::ResourceExhausted => ErrorKind::TooLarge,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("{method:?} answered {:?}: {}", status.code(), status.message()))
}
