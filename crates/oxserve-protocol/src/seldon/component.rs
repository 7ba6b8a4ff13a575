//! Seldon's component contract on a [`Unit`]: which unit method each component endpoint calls
//! (`/predict`, `/transform-input`, `/transform-output`, `/route`, `/aggregate`,
//! `/send-feedback` and their gRPC twins), and how the unit's answer becomes the message the
//! endpoint returns.
//!
//! Both transports share these rules, so a unit answers alike over REST and gRPC:
//!
//! - Messages are tensors either way. Where the unit takes responses (the output transform, a
//!   combiner's children), a decoded message's inputs become the response's outputs; a
//!   transformed request's inputs become the answer's outputs.
//! - `send-feedback` hands the unit the decoded request, response (with its `meta.routing`,
//!   which routers learn from), truth and reward. A unit that takes no feedback answers an
//!   empty `ndarray`, as the wrapper does for a class without `send_feedback`; one that does
//!   answers with its own message. Either answer's meta starts from the feedback request's `puid`
//!   only, as the wrapper's does.
//! - `route` answers the child index the unit chose as a 1×1 INT64 array, which the codecs write
//!   as Seldon's wrapper does (`{"data":{"names":["t:0"],"ndarray":[[k]]}}` for an ndarray
//!   request). Whether the index names an existing child is the graph's business, not the
//!   component's. The answer's meta holds only the request's `puid`, as the wrapper's does.
//! - Every other answer's meta is the input messages' meta merged (the first `puid`; tags,
//!   routing and request paths united, later messages winning; metrics concatenated), with the
//!   unit's own meta laid over it. For one input message that is the request's meta plus what
//!   the unit added; for a combiner it is Seldon's union over the children.
//! - The unit's own metrics are those its answer adds to its input's: a unit may copy the
//!   request's meta and append to it (as `predict` implementations do), or answer only its own
//!   metrics. They follow the inputs' metrics in the answer, from [`Answer::own_metrics_from`]
//!   on, so that the server can publish them and, if configured, leave them out of the answer.

use bytes::Bytes;
use oxserve_core::{
    DataType, ErrorKind, Feedback, InferenceRequest, InferenceResponse, Meta, Result, Tensor, Unit,
};

/// What a component endpoint asks of its unit, with the decoded message(s).
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Predict(InferenceRequest),
    TransformInput(InferenceRequest),
    TransformOutput(InferenceRequest),
    Route(InferenceRequest),
    /// A combiner's input: its children's answers in child order, at least one.
    Aggregate(Vec<InferenceRequest>),
    /// Boxed: a feedback holds three messages, and every other call one or a list.
    Feedback(Box<Feedback>),
}

impl Call {
    /// The `method` label Seldon's wrapper puts on the custom metrics a unit reports in this call.
    pub fn metric_method(&self) -> &'static str {
        match self {
            Call::Predict(_) => "predict",
            Call::TransformInput(_) => "inputtransform",
            Call::TransformOutput(_) => "outputtransform",
            Call::Route(_) => "router",
            Call::Aggregate(_) => "aggregate",
            Call::Feedback(_) => "feedback",
        }
    }
}

/// A unit's answer to a [`Call`], as the message to send back.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub response: InferenceResponse,
    /// Where the unit's own metrics start in `response.meta.metrics`; the ones before came with
    /// the input messages.
    pub own_metrics_from: usize,
}

/// The name of the one output of a route answer.
pub const ROUTE_OUTPUT: &str = "route";

/// The name of the empty output that answers feedback to a unit that does not take any. It is
/// BYTES, so it answers as `ndarray: []` whatever the request's form, as oxserve always has.
pub const FEEDBACK_OUTPUT: &str = "feedback";

/// Runs `call` on `unit` and builds the answer by the [module rules](self).
pub async fn call(unit: &dyn Unit, call: Call) -> Result<Answer> {
    match call {
        Call::Predict(request) => {
            let input = request.meta.clone();
            Ok(answer(vec![input], unit.predict(request).await?))
        }
        Call::TransformInput(request) => {
            let input = request.meta.clone();
            Ok(answer(vec![input], as_response(unit.transform_input(request).await?)))
        }
        Call::TransformOutput(request) => {
            let input = request.meta.clone();
            Ok(answer(vec![input], unit.transform_output(as_response(request)).await?))
        }
        Call::Route(request) => {
            let choice = unit.route(&request).await?;
            Ok(Answer { response: route_response(request, choice)?, own_metrics_from: 0 })
        }
        Call::Aggregate(messages) => {
            let inputs = messages.iter().map(|m| m.meta.clone()).collect();
            let children = messages.into_iter().map(as_response).collect();
            Ok(answer(inputs, unit.aggregate(children).await?))
        }
        Call::Feedback(feedback) => {
            let request = Meta {
                puid: feedback.request.as_ref().map(|r| r.meta.puid.clone()).unwrap_or_default(),
                ..Meta::default()
            };
            match unit.send_feedback(*feedback).await {
                Ok(response) => Ok(answer(vec![request], response)),
                Err(e) if e.kind == ErrorKind::Unimplemented => {
                    let empty = Tensor::new(FEEDBACK_OUTPUT, DataType::Bytes, vec![0], Bytes::new())?;
                    let response =
                        InferenceResponse { outputs: vec![empty], meta: request, ..Default::default() };
                    Ok(Answer { response, own_metrics_from: 0 })
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// A message decoded as a request, seen as a response (the tensors it carries are its outputs).
pub(super) fn as_response(request: InferenceRequest) -> InferenceResponse {
    InferenceResponse {
        id: request.id,
        model_name: request.model_name,
        model_version: request.model_version,
        parameters: request.parameters,
        outputs: request.inputs,
        meta: request.meta,
    }
}

/// The answer to `/route`: the chosen index as a 1×1 INT64 array, with the request's `puid`.
fn route_response(request: InferenceRequest, choice: i32) -> Result<InferenceResponse> {
    let data = Bytes::copy_from_slice(&i64::from(choice).to_le_bytes());
    Ok(InferenceResponse {
        id: request.id,
        model_name: request.model_name,
        model_version: request.model_version,
        outputs: vec![Tensor::new(ROUTE_OUTPUT, DataType::Int64, vec![1, 1], data)?],
        meta: Meta { puid: request.meta.puid, ..Meta::default() },
        ..InferenceResponse::default()
    })
}

/// `response` with its meta rebuilt: the inputs' meta merged, the unit's laid over it.
fn answer(inputs: Vec<Meta>, mut response: InferenceResponse) -> Answer {
    let mut meta = merged(inputs);
    let own_metrics_from = meta.metrics.len();
    let unit = std::mem::take(&mut response.meta);
    meta.tags.extend(unit.tags);
    meta.routing.extend(unit.routing);
    meta.request_path.extend(unit.request_path);
    let copied = if unit.metrics.starts_with(&meta.metrics) { own_metrics_from } else { 0 };
    meta.metrics.extend(unit.metrics.into_iter().skip(copied));
    response.meta = meta;
    Answer { response, own_metrics_from }
}

/// Seldon's combiner merge of the input messages' meta, which for one message is that meta.
fn merged(inputs: Vec<Meta>) -> Meta {
    let mut inputs = inputs.into_iter();
    let mut meta = inputs.next().unwrap_or_default();
    for input in inputs {
        meta.tags.extend(input.tags);
        meta.routing.extend(input.routing);
        meta.request_path.extend(input.request_path);
        meta.metrics.extend(input.metrics);
    }
    meta
}

#[cfg(test)]
mod tests {
    use oxserve_core::{Metric, MetricKind};
    use serde_json::json;

    use super::*;

    fn metric(key: &str) -> Metric {
        Metric { key: key.into(), kind: MetricKind::Counter, value: 1.0, tags: Default::default() }
    }

    fn meta(puid: &str, tag: (&str, i32), path: (&str, &str), metrics: &[&str]) -> Meta {
        Meta {
            puid: puid.into(),
            tags: [(tag.0.to_string(), json!(tag.1))].into_iter().collect(),
            routing: [(tag.0.to_string(), tag.1)].into_iter().collect(),
            request_path: [(path.0.to_string(), path.1.to_string())].into_iter().collect(),
            metrics: metrics.iter().map(|k| metric(k)).collect(),
        }
    }

    fn responding(meta: Meta) -> InferenceResponse {
        InferenceResponse { meta, ..InferenceResponse::default() }
    }

    #[test]
    fn children_meta_is_united_and_the_unit_laid_over_it() {
        let a = meta("p1", ("x", 1), ("a", "img-a"), &["ma"]);
        let b = meta("p2", ("x", 2), ("b", "img-b"), &["mb"]);
        let unit = meta("other", ("y", 3), ("c", "img-c"), &["own"]);
        let answer = answer(vec![a, b], responding(unit));
        let m = &answer.response.meta;
        assert_eq!(m.puid, "p1");
        assert_eq!(m.tags, json!({"x": 2, "y": 3}).as_object().unwrap().clone());
        assert_eq!(m.routing, [("x".into(), 2), ("y".into(), 3)].into());
        assert_eq!(m.request_path.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        let keys: Vec<&str> = m.metrics.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["ma", "mb", "own"]);
        assert_eq!(answer.own_metrics_from, 2);
    }

    #[test]
    fn metrics_copied_from_the_input_are_not_the_units_own() {
        let request = meta("p", ("t", 1), ("a", "img"), &["from-client"]);
        let mut echoed = request.clone();
        echoed.metrics.push(metric("own"));
        let answer = answer(vec![request.clone()], responding(echoed));
        let keys: Vec<&str> = answer.response.meta.metrics.iter().map(|m| m.key.as_str()).collect();
        assert_eq!((keys, answer.own_metrics_from), (vec!["from-client", "own"], 1));
        // A unit that answers only its own meta keeps the request's tags and metrics too.
        let only_own = Meta { metrics: vec![metric("own")], ..Meta::default() };
        let answer = super::answer(vec![request.clone()], responding(only_own));
        assert_eq!(answer.response.meta.metrics.len(), 2);
        assert_eq!(answer.response.meta.tags, request.tags);
    }

    #[test]
    fn a_route_is_a_one_by_one_int64_with_only_the_puid() {
        let request =
            InferenceRequest { meta: meta("p", ("t", 1), ("a", "img"), &["m"]), ..Default::default() };
        let response = route_response(request, -2).unwrap();
        let t = &response.outputs[0];
        assert_eq!(
            (t.name.as_str(), t.datatype, t.shape.clone()),
            (ROUTE_OUTPUT, DataType::Int64, vec![1, 1])
        );
        assert_eq!(t.data[..], (-2i64).to_le_bytes());
        assert_eq!(response.meta, Meta { puid: "p".into(), ..Meta::default() });
    }
}
