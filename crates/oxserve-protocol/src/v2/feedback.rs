//! oxserve's V2 `feedback` extension: `POST /v2/models/{m}/feedback`, a reward for an earlier
//! prediction (Seldon's feedback) for clients of the V2 protocol.
//!
//! The body is `{"reward": r, "request": <the infer request>, "response": <its answer>}`, both
//! messages optional. V2 answers carry no Seldon `meta`, so an inference graph answers its
//! routers' choices as parameters `routing.<router>` ([`ROUTING_PARAMETER_PREFIX`]); echoed in
//! `response.parameters`, they become the feedback's `meta.routing`, which the graph follows
//! back to the routers. The request is decoded as an infer request of the model (its rows are
//! the trials a reward counts); the rest of the echoed response is not read.

use bytes::Bytes;
use oxserve_core::{Error, Feedback, InferenceResponse, Meta, ModelMetadata, Parameters, Result};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::json_envelope;

/// The prefix of the response parameters that carry a graph's routing, one per router.
pub const ROUTING_PARAMETER_PREFIX: &str = "routing.";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<'a> {
    reward: f64,
    #[serde(borrow, default)]
    request: Option<&'a RawValue>,
    #[serde(default)]
    response: Option<EchoedResponse>,
}

/// The answer the client got, echoed: only its parameters are read.
#[derive(Deserialize)]
struct EchoedResponse {
    #[serde(default)]
    parameters: Parameters,
}

/// Decodes a feedback body for the model `metadata` describes. Errors name the field
/// (`request: inputs[0].shape: …`, `response.parameters.routing.ab: …`).
pub fn decode_feedback(body: &[u8], metadata: &ModelMetadata) -> Result<Feedback> {
    let Body { reward, request, response } = json_envelope::parse(body)?;
    let request = request
        .map(|raw| {
            super::rest::decode_infer_request(Bytes::copy_from_slice(raw.get().as_bytes()), None, metadata)
                .map_err(|e| e.context("request"))
        })
        .transpose()?;
    let response = response
        .map(|echoed| {
            let mut routing = std::collections::BTreeMap::new();
            for (key, value) in &echoed.parameters {
                if let Some(router) = key.strip_prefix(ROUTING_PARAMETER_PREFIX) {
                    let choice = value.as_i64().and_then(|c| i32::try_from(c).ok()).ok_or_else(|| {
                        Error::invalid(format!("response.parameters.{key}: {value} is not a child index"))
                    })?;
                    routing.insert(router.to_string(), choice);
                }
            }
            let meta = Meta { routing, ..Meta::default() };
            Ok::<_, Error>(InferenceResponse { parameters: echoed.parameters, meta, ..Default::default() })
        })
        .transpose()?;
    Ok(Feedback { request, response, reward, truth: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iris() -> ModelMetadata {
        serde_json::from_str(r#"{"name":"iris","inputs":[{"name":"x","datatype":"FP32","shape":[-1,2]}]}"#)
            .unwrap()
    }

    #[test]
    fn routing_parameters_become_meta_routing() {
        let body = br#"{"reward": 0.5,
            "request": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [1, 2, 3, 4]}]},
            "response": {"model_name": "g", "outputs": [], "parameters": {"routing.ab": 1, "other": "x"}}}"#;
        let feedback = decode_feedback(body, &iris()).unwrap();
        assert_eq!(feedback.reward, 0.5);
        assert_eq!(feedback.request.unwrap().inputs[0].shape, vec![2, 2]);
        assert_eq!(feedback.response.unwrap().meta.routing["ab"], 1);
    }

    #[test]
    fn errors_name_the_field() {
        let e =
            decode_feedback(br#"{"reward": 1, "response": {"parameters": {"routing.ab": "b"}}}"#, &iris())
                .unwrap_err();
        assert!(
            e.message.starts_with("response.parameters.routing.ab: \"b\" is not a child index"),
            "{}",
            e.message
        );
        let e = decode_feedback(br#"{"reward": 1, "reqest": {}}"#, &iris()).unwrap_err();
        assert!(e.message.contains("unknown field `reqest`"), "{}", e.message);
        let e = decode_feedback(br#"{"reward": 1, "request": {"inputs": [{"name": "y"}]}}"#, &iris())
            .unwrap_err();
        assert!(e.message.starts_with("request: "), "{}", e.message);
        let e = decode_feedback(br#"{"request": {"inputs": []}}"#, &iris()).unwrap_err();
        assert!(e.message.contains("missing field `reward`"), "{}", e.message);
    }
}
