//! How a message moves between units: a response becomes the next unit's request, tensors are
//! fitted to the next unit's declared input, and `meta` accumulates along the way.

use bytes::Bytes;
use oxserve_core::{
    DataType, Error, InferenceRequest, InferenceResponse, Meta, ModelMetadata, Result, Tensor,
};
use oxserve_protocol::json_data::{self, Layout};
use oxserve_protocol::v2::feedback::ROUTING_PARAMETER_PREFIX;
use serde_json::{Map, Value};

/// A response passed on as the next unit's request (its outputs become the inputs).
pub fn as_request(response: InferenceResponse) -> InferenceRequest {
    InferenceRequest {
        id: response.id,
        model_name: response.model_name,
        model_version: response.model_version,
        parameters: response.parameters,
        inputs: response.outputs,
        outputs: Vec::new(),
        meta: response.meta,
    }
}

/// A request passed on as a response (a node that answers with what it got).
pub fn as_response(request: InferenceRequest) -> InferenceResponse {
    InferenceResponse {
        id: request.id,
        model_name: request.model_name,
        model_version: request.model_version,
        parameters: request.parameters,
        outputs: request.inputs,
        meta: request.meta,
    }
}

/// Fits `request` to what a unit declares, as a Seldon message would reach it.
///
/// A Seldon graph passes one payload from unit to unit, so a model's outputs feed the next one
/// whatever they are called. Here tensors have names, and a unit checks them: when the unit
/// declares inputs the request lacks by name and it takes one input, the first tensor becomes
/// that input (the tensor a Seldon message would carry); when all are present by name, only
/// those are passed. A unit that declares nothing (a remote or built-in unit) gets the request
/// unchanged.
pub fn fit(mut request: InferenceRequest, metadata: &ModelMetadata) -> InferenceRequest {
    request.model_name.clone_from(&metadata.name);
    let declared = &metadata.inputs;
    if declared.is_empty() {
        return request;
    }
    if declared.iter().all(|spec| request.input(&spec.name).is_some()) {
        request.inputs.retain(|t| declared.iter().any(|spec| spec.name == t.name));
    } else if let [spec] = declared.as_slice()
        && !request.inputs.is_empty()
    {
        let mut first = request.inputs.swap_remove(0);
        first.name.clone_from(&spec.name);
        request.inputs = vec![first];
    }
    for tensor in &mut request.inputs {
        if let Some(spec) = declared.iter().find(|spec| spec.name == tensor.name)
            && let Some(cast) = cast(tensor, spec.datatype)
        {
            *tensor = cast;
        }
    }
    request
}

/// `tensor` converted to `datatype` when both are FP32, FP64, INT32 or INT64 and they differ:
/// Seldon messages carry numbers without a width (its `tensor` form is always doubles), so a
/// remote unit's answer may need narrowing for the next model. `None` leaves the tensor as it is.
fn cast(tensor: &Tensor, datatype: DataType) -> Option<Tensor> {
    let numeric =
        |d: DataType| matches!(d, DataType::Fp32 | DataType::Fp64 | DataType::Int32 | DataType::Int64);
    if tensor.datatype == datatype || !numeric(tensor.datatype) || !numeric(datatype) {
        return None;
    }
    let size = tensor.datatype.element_size()?;
    let values = tensor.data.chunks_exact(size).map(|c| match tensor.datatype {
        DataType::Fp32 => f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))),
        DataType::Int32 => f64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))),
        DataType::Int64 => i64::from_le_bytes(c.try_into().expect("8 bytes")) as f64,
        _ => f64::from_le_bytes(c.try_into().expect("8 bytes")),
    });
    let data: Vec<u8> = match datatype {
        DataType::Fp32 => values.flat_map(|v| (v as f32).to_le_bytes()).collect(),
        DataType::Int32 => values.flat_map(|v| (v as i32).to_le_bytes()).collect(),
        DataType::Int64 => values.flat_map(|v| (v as i64).to_le_bytes()).collect(),
        _ => values.flat_map(f64::to_le_bytes).collect(),
    };
    let cast = Tensor::new(&tensor.name, datatype, tensor.shape.clone(), Bytes::from(data)).ok()?;
    Some(cast.with_parameters(tensor.parameters.clone()))
}

/// Which V2 body a message is read as by a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// An infer request: `{"id", "parameters", "inputs": [...]}`.
    Request,
    /// An infer response (a step's answer passed on): `{"model_name", "model_version", "id",
    /// "parameters", "outputs": [...]}`.
    Response,
}

/// `message` as the V2 REST JSON body that carries it, for the GJSON conditions of KServe steps,
/// which are written against the JSON its router passes on. Whatever protocol the client used,
/// the condition reads the V2 form; tensors are `{"name", "datatype", "shape", "parameters",
/// "data"}` with `data` flat in row-major order. `with_data: false` leaves `data` out, for
/// conditions that never read it: writing a large tensor as JSON costs far more than the test.
pub fn as_v2_json(message: &InferenceRequest, body: Body, with_data: bool) -> Result<Value> {
    let mut json = Map::new();
    if body == Body::Response {
        json.insert("model_name".into(), message.model_name.clone().into());
        if let Some(version) = &message.model_version {
            json.insert("model_version".into(), version.clone().into());
        }
    }
    if let Some(id) = &message.id {
        json.insert("id".into(), id.clone().into());
    }
    if !message.parameters.is_empty() {
        json.insert("parameters".into(), Value::Object(message.parameters.clone()));
    }
    let tensors = message.inputs.iter().map(|tensor| {
        let mut entry = Map::new();
        entry.insert("name".into(), tensor.name.clone().into());
        entry.insert("datatype".into(), tensor.datatype.as_str().into());
        entry.insert("shape".into(), tensor.shape.clone().into());
        if !tensor.parameters.is_empty() {
            entry.insert("parameters".into(), Value::Object(tensor.parameters.clone()));
        }
        if with_data {
            entry.insert("data".into(), tensor_data(tensor)?);
        }
        Ok(Value::Object(entry))
    });
    let key = if body == Body::Request { "inputs" } else { "outputs" };
    json.insert(key.into(), Value::Array(tensors.collect::<Result<_>>()?));
    Ok(Value::Object(json))
}

/// A tensor's elements as a flat JSON array. JSON has no NaN or infinities, which the element
/// writer spells as JavaScript does: they read as `null`.
fn tensor_data(tensor: &Tensor) -> Result<Value> {
    let mut text = Vec::new();
    json_data::write(&mut text, tensor, Layout::Flat)
        .map_err(|e| e.context(format_args!("a condition reads tensor '{}' as JSON", tensor.name)))?;
    if let Ok(data) = serde_json::from_slice(&text) {
        return Ok(data);
    }
    // Only numbers fail to parse (strings are written as valid JSON), so the words are never
    // inside a string here.
    let finite = String::from_utf8_lossy(&text)
        .replace("-Infinity", "null")
        .replace("Infinity", "null")
        .replace("NaN", "null");
    serde_json::from_str(&finite)
        .map_err(|e| Error::internal(format!("tensor '{}' did not read back as JSON: {e}", tensor.name)))
}

/// Copies `meta.routing` into the response parameters (`routing.<router>`), for protocols
/// without Seldon's `meta` (V2): a V2 client reads each router's choice there and sends it back
/// with its feedback ([`oxserve_protocol::v2::feedback`]).
pub fn publish_routing(response: &mut InferenceResponse) {
    for (router, choice) in &response.meta.routing {
        response.parameters.insert(format!("{ROUTING_PARAMETER_PREFIX}{router}"), (*choice).into());
    }
}

/// `unit`'s answer with the meta of the message it answered laid under its own: the `puid` of the
/// input, tags, routing and request paths united (the unit's winning), and only the metrics the
/// unit added (a unit may echo the input's metrics before its own).
pub fn merge(input: &Meta, mut unit: Meta) -> Meta {
    let mut meta = input.clone();
    meta.tags.append(&mut unit.tags);
    meta.routing.append(&mut unit.routing);
    meta.request_path.append(&mut unit.request_path);
    let copied = if unit.metrics.starts_with(&input.metrics) { input.metrics.len() } else { 0 };
    meta.metrics.extend(unit.metrics.into_iter().skip(copied));
    meta
}

/// The union of several children's meta (a combiner's inputs), the first one's `puid` kept.
pub fn union<'a>(mut metas: impl Iterator<Item = &'a Meta>) -> Meta {
    let mut meta = metas.next().cloned().unwrap_or_default();
    for other in metas {
        meta.tags.extend(other.tags.clone());
        meta.routing.extend(other.routing.clone());
        meta.request_path.extend(other.request_path.clone());
        for metric in &other.metrics {
            if !meta.metrics.contains(metric) {
                meta.metrics.push(metric.clone());
            }
        }
    }
    meta
}

#[cfg(test)]
mod tests {
    use oxserve_core::{Metric, MetricKind, TensorSpec};

    use super::*;

    fn tensor(name: &str) -> Tensor {
        Tensor::new(name, DataType::Fp32, vec![1], Bytes::from_static(&[0; 4])).unwrap()
    }

    fn model(inputs: &[&str]) -> ModelMetadata {
        ModelMetadata {
            name: "m".into(),
            inputs: inputs
                .iter()
                .map(|n| TensorSpec { name: n.to_string(), datatype: DataType::Fp32, shape: vec![-1] })
                .collect(),
            ..Default::default()
        }
    }

    fn names(request: &InferenceRequest) -> Vec<&str> {
        request.inputs.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn the_first_tensor_feeds_a_single_input_of_another_name() {
        let request =
            InferenceRequest { inputs: vec![tensor("probabilities"), tensor("label")], ..Default::default() };
        let fitted = fit(request, &model(&["input"]));
        assert_eq!((names(&fitted), fitted.model_name.as_str()), (vec!["input"], "m"));
    }

    #[test]
    fn inputs_present_by_name_are_kept_and_others_dropped() {
        let request = InferenceRequest {
            inputs: vec![tensor("x"), tensor("extra"), tensor("y")],
            ..Default::default()
        };
        assert_eq!(names(&fit(request.clone(), &model(&["y", "x"]))), vec!["x", "y"]);
        assert_eq!(names(&fit(request, &model(&[]))), vec!["x", "extra", "y"]);
    }

    #[test]
    fn seldon_doubles_are_narrowed_to_the_declared_datatype() {
        let doubles = Tensor::new(
            "data",
            DataType::Fp64,
            vec![2],
            Bytes::from([1.5f64, -2.0].map(f64::to_le_bytes).concat()),
        )
        .unwrap();
        let fitted =
            fit(InferenceRequest { inputs: vec![doubles], ..Default::default() }, &model(&["input"]));
        let t = &fitted.inputs[0];
        assert_eq!((t.name.as_str(), t.datatype), ("input", DataType::Fp32));
        assert_eq!(t.data[..], [1.5f32, -2.0].map(f32::to_le_bytes).concat());
    }

    #[test]
    fn a_message_reads_as_its_v2_body() {
        let floats = Tensor::new(
            "x",
            DataType::Fp32,
            vec![1, 3],
            Bytes::from([1.5f32, f32::NAN, -2.0].map(f32::to_le_bytes).concat()),
        )
        .unwrap();
        let words = Tensor::from_bytes_elements("w", vec![1], ["hi"]).unwrap();
        let mut message = InferenceRequest {
            id: Some("r1".into()),
            model_name: "m".into(),
            inputs: vec![floats, words],
            ..Default::default()
        };
        message.parameters.insert("tenant".into(), "acme".into());
        let request = as_v2_json(&message, Body::Request, true).unwrap();
        assert_eq!(
            request,
            serde_json::json!({"id": "r1", "parameters": {"tenant": "acme"}, "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1.5, null, -2.0]},
                {"name": "w", "datatype": "BYTES", "shape": [1], "data": ["hi"]}
            ]})
        );
        let response = as_v2_json(&message, Body::Response, false).unwrap();
        assert_eq!(response["model_name"], "m");
        assert_eq!(
            response["outputs"][1],
            serde_json::json!({"name": "w", "datatype": "BYTES", "shape": [1]})
        );
    }

    #[test]
    fn meta_keeps_the_puid_and_accumulates() {
        let metric = |k: &str| Metric {
            key: k.into(),
            kind: MetricKind::Counter,
            value: 1.0,
            tags: Default::default(),
        };
        let input = Meta {
            puid: "p".into(),
            tags: [("a".to_string(), 1.into())].into_iter().collect(),
            metrics: vec![metric("in")],
            ..Default::default()
        };
        let mut unit = input.clone();
        unit.puid = "other".into();
        unit.tags.insert("b".into(), 2.into());
        unit.metrics.push(metric("own"));
        unit.request_path.insert("m".into(), "model.onnx".into());
        let merged = merge(&input, unit);
        assert_eq!(merged.puid, "p");
        assert_eq!(merged.tags.len(), 2);
        assert_eq!(merged.metrics.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(), ["in", "own"]);
        assert_eq!(merged.request_path["m"], "model.onnx");
    }
}
