//! Seldon's `AVERAGE_COMBINER`: the element-wise mean of the children's answers.
//!
//! Seldon's Go executor never implemented it (a parent there returns its first child's answer);
//! here it averages every FP32 or FP64 output of the first child with the output of the same
//! name and shape of each other child, in the first child's output order. A child that has no
//! output of that name gives its first output in place of the first one: a Seldon message (what
//! a remote Seldon unit answers) carries one unnamed tensor. Other outputs (labels, strings)
//! are left out: their mean means nothing.

use async_trait::async_trait;
use bytes::Bytes;
use oxserve_core::{
    DataType, Error, InferenceRequest, InferenceResponse, ModelMetadata, Result, Tensor, Unit,
};

pub struct AverageCombiner {
    metadata: ModelMetadata,
}

impl AverageCombiner {
    pub fn new(metadata: ModelMetadata) -> AverageCombiner {
        AverageCombiner { metadata }
    }
}

#[async_trait]
impl Unit for AverageCombiner {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, _request: InferenceRequest) -> Result<InferenceResponse> {
        Err(Error::unimplemented(format!(
            "combiner '{}' aggregates; it does not predict",
            self.metadata.name
        )))
    }

    async fn aggregate(&self, responses: Vec<InferenceResponse>) -> Result<InferenceResponse> {
        let name = &self.metadata.name;
        let Some(first) = responses.first() else {
            return Err(Error::invalid(format!("combiner '{name}' got no answers to average")));
        };
        let mut outputs = Vec::new();
        for (position, output) in first.outputs.iter().enumerate().filter(|(_, t)| floating(t)) {
            let mut sum = vec![0f64; output.element_count()];
            for (child, response) in responses.iter().enumerate() {
                let in_place = if position == 0 { response.outputs.first() } else { None };
                let tensor = response.output(&output.name).or(in_place).ok_or_else(|| {
                    Error::internal(format!(
                        "combiner '{name}': answer {child} has no output '{}' to average",
                        output.name
                    ))
                })?;
                if !floating(tensor) || tensor.shape != output.shape {
                    return Err(Error::internal(format!(
                        "combiner '{name}': output '{}' is {} {:?} in answer {child} but {} {:?} in answer 0",
                        output.name, tensor.datatype, tensor.shape, output.datatype, output.shape
                    )));
                }
                for (total, value) in sum.iter_mut().zip(values(tensor)) {
                    *total += value;
                }
            }
            let count = responses.len() as f64;
            let data: Vec<u8> = match output.datatype {
                DataType::Fp32 => sum.iter().flat_map(|s| ((s / count) as f32).to_le_bytes()).collect(),
                _ => sum.iter().flat_map(|s| (s / count).to_le_bytes()).collect(),
            };
            let mean = Tensor::new(&output.name, output.datatype, output.shape.clone(), Bytes::from(data))?
                .with_parameters(output.parameters.clone());
            outputs.push(mean);
        }
        if outputs.is_empty() {
            return Err(Error::internal(format!(
                "combiner '{name}': the answers have no FP32 or FP64 output to average"
            )));
        }
        Ok(InferenceResponse {
            id: first.id.clone(),
            model_name: name.clone(),
            outputs,
            ..InferenceResponse::default()
        })
    }
}

fn floating(tensor: &Tensor) -> bool {
    matches!(tensor.datatype, DataType::Fp32 | DataType::Fp64)
}

/// The elements of an FP32 or FP64 tensor as f64.
fn values(tensor: &Tensor) -> Box<dyn Iterator<Item = f64> + '_> {
    match tensor.datatype {
        DataType::Fp32 => Box::new(
            tensor
                .data
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes")))),
        ),
        _ => {
            Box::new(tensor.data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))))
        }
    }
}
