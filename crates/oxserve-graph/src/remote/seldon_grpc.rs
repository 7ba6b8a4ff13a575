//! Seldon's component API over gRPC (`seldon.protos.Model` and `Generic`), on one HTTP/2
//! connection that multiplexes every call.

use oxserve_core::{Error, Feedback, InferenceRequest, InferenceResponse, Meta, Result};
use oxserve_protocol::pb::seldon as pb;
use oxserve_protocol::seldon::PayloadKind;
use oxserve_protocol::seldon::grpc as codec;

use super::grpc::Channel;
use super::{Method, Payload, answer_metadata};
use crate::message::as_response;
use crate::spec::RemoteSpec;

pub struct Client {
    channel: Channel,
}

/// Tensors go out as Seldon's `tensor` form, the compact one in protobuf.
const FORM: PayloadKind = PayloadKind::Tensor;

impl Client {
    pub fn new(spec: &RemoteSpec) -> Result<Client> {
        Ok(Client { channel: Channel::new(spec)? })
    }

    pub async fn call(&self, method: Method, payload: &Payload<'_>) -> Result<InferenceRequest> {
        let channel = &self.channel;
        let answer: pb::SeldonMessage = match (method, payload) {
            (Method::Predict, Payload::One(m)) => {
                channel.unary("/seldon.protos.Model/Predict", &message(m)?).await
            }
            (Method::TransformInput, Payload::One(m)) => {
                channel.unary("/seldon.protos.Generic/TransformInput", &message(m)?).await
            }
            (Method::TransformOutput, Payload::One(m)) => {
                channel.unary("/seldon.protos.Generic/TransformOutput", &message(m)?).await
            }
            (Method::Route, Payload::One(m)) => {
                channel.unary("/seldon.protos.Generic/Route", &message(m)?).await
            }
            (Method::Aggregate, Payload::Many(messages)) => {
                let list = messages.iter().map(message).collect::<Result<Vec<_>>>()?;
                channel
                    .unary(
                        "/seldon.protos.Generic/Aggregate",
                        &pb::SeldonMessageList { seldon_messages: list },
                    )
                    .await
            }
            (Method::SendFeedback, Payload::Feedback(f)) => {
                channel.unary("/seldon.protos.Generic/SendFeedback", &feedback(f)?).await
            }
            _ => return Err(Error::internal(format!("{method:?} does not take this payload"))),
        }?;
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
