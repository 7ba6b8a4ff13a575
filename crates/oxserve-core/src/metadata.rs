use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{DataType, Error, InferenceRequest, Result};

/// Name, type and shape of one model input or output. `-1` marks a variable dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    #[serde(serialize_with = "datatype_ser", deserialize_with = "datatype_de")]
    pub datatype: DataType,
    pub shape: Vec<i64>,
}

fn datatype_ser<S: Serializer>(d: &DataType, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.as_str())
}

fn datatype_de<'de, D: Deserializer<'de>>(d: D) -> Result<DataType, D::Error> {
    let name = String::deserialize(d)?;
    DataType::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown datatype '{name}'")))
}

impl TensorSpec {
    /// Whether a concrete `shape` fits this spec (same rank, fixed dimensions equal).
    pub fn accepts_shape(&self, shape: &[usize]) -> bool {
        self.shape.len() == shape.len()
            && self.shape.iter().zip(shape).all(|(&want, &got)| want < 0 || want as u64 == got as u64)
    }
}

/// What a model says about itself: the answer to V2 `GET /v2/models/{m}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub inputs: Vec<TensorSpec>,
    #[serde(default)]
    pub outputs: Vec<TensorSpec>,
}

/// What a graph says about itself, Seldon's `SeldonGraphMetadata`: the graph's inputs and outputs
/// (those of the model it stands for) and the metadata of every unit, by node name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphMetadata {
    pub graph: ModelMetadata,
    pub units: std::collections::BTreeMap<String, ModelMetadata>,
}

impl ModelMetadata {
    /// Checks a request against the declared inputs and outputs, so that a runtime only ever
    /// sees tensors it can take. Every message names the input or output at fault.
    pub fn check_request(&self, request: &InferenceRequest) -> Result<()> {
        let model = &self.name;
        for (i, input) in request.inputs.iter().enumerate() {
            let Some(spec) = self.inputs.iter().find(|s| s.name == input.name) else {
                return Err(Error::invalid(format!(
                    "inputs[{i}].name: unexpected input '{}' for model '{model}'; expected {}",
                    input.name,
                    names(&self.inputs)
                )));
            };
            if request.inputs[..i].iter().any(|t| t.name == input.name) {
                return Err(Error::invalid(format!(
                    "inputs[{i}].name: input '{}' is given twice",
                    input.name
                )));
            }
            if spec.datatype != input.datatype {
                return Err(Error::invalid(format!(
                    "inputs[{i}].datatype: input '{}' of model '{model}' is {}, got {}",
                    input.name, spec.datatype, input.datatype
                )));
            }
            if !spec.accepts_shape(&input.shape) {
                return Err(Error::invalid(format!(
                    "inputs[{i}].shape: input '{}' of model '{model}' has shape {:?}, got {:?}",
                    input.name, spec.shape, input.shape
                )));
            }
        }
        if let Some(missing) = self.inputs.iter().find(|s| request.input(&s.name).is_none()) {
            return Err(Error::invalid(format!(
                "inputs: model '{model}' needs input '{}', which the request does not have",
                missing.name
            )));
        }
        for (i, output) in request.outputs.iter().enumerate() {
            if !self.outputs.iter().any(|s| s.name == output.name) {
                return Err(Error::invalid(format!(
                    "outputs[{i}].name: unexpected output '{}' for model '{model}'; expected {}",
                    output.name,
                    names(&self.outputs)
                )));
            }
        }
        Ok(())
    }
}

fn names(specs: &[TensorSpec]) -> String {
    let quoted: Vec<String> = specs.iter().map(|s| format!("'{}'", s.name)).collect();
    if quoted.is_empty() { "none".to_string() } else { quoted.join(", ") }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{RequestedOutput, Tensor};

    fn iris() -> ModelMetadata {
        ModelMetadata {
            name: "iris".into(),
            inputs: vec![TensorSpec { name: "x".into(), datatype: DataType::Fp32, shape: vec![-1, 4] }],
            outputs: vec![TensorSpec { name: "y".into(), datatype: DataType::Fp32, shape: vec![-1, 3] }],
            ..Default::default()
        }
    }

    fn request(name: &str, datatype: DataType, shape: Vec<usize>) -> InferenceRequest {
        let len = shape.iter().product::<usize>() * datatype.element_size().unwrap();
        let tensor = Tensor::new(name, datatype, shape, Bytes::from(vec![0u8; len])).unwrap();
        InferenceRequest { inputs: vec![tensor], ..Default::default() }
    }

    #[test]
    fn accepts_a_matching_request() {
        iris().check_request(&request("x", DataType::Fp32, vec![5, 4])).unwrap();
    }

    #[test]
    fn names_the_field_at_fault() {
        let m = iris();
        let e = m.check_request(&request("z", DataType::Fp32, vec![1, 4])).unwrap_err();
        assert!(e.message.starts_with("inputs[0].name") && e.message.contains("'x'"), "{}", e.message);
        let e = m.check_request(&request("x", DataType::Fp64, vec![1, 4])).unwrap_err();
        assert!(e.message.starts_with("inputs[0].datatype"), "{}", e.message);
        let e = m.check_request(&request("x", DataType::Fp32, vec![1, 5])).unwrap_err();
        assert!(e.message.starts_with("inputs[0].shape"), "{}", e.message);
        let e = m.check_request(&InferenceRequest::default()).unwrap_err();
        assert!(e.message.contains("needs input 'x'"), "{}", e.message);
        let mut r = request("x", DataType::Fp32, vec![1, 4]);
        r.outputs.push(RequestedOutput { name: "nope".into(), ..Default::default() });
        let e = m.check_request(&r).unwrap_err();
        assert!(e.message.starts_with("outputs[0].name"), "{}", e.message);
    }

    #[test]
    fn spec_json_uses_protocol_names() {
        let spec: TensorSpec =
            serde_json::from_str(r#"{"name":"a","datatype":"INT64","shape":[-1]}"#).unwrap();
        assert_eq!(spec.datatype, DataType::Int64);
        assert!(serde_json::from_str::<TensorSpec>(r#"{"name":"a","datatype":"int64","shape":[]}"#).is_err());
    }
}
