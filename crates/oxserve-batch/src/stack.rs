//! Stacking compatible requests along their first dimension, and splitting the answer back.
//!
//! Every datatype stacks the same way: a tensor's `data` is row-major, so the rows of several
//! requests laid end to end are the stacked tensor, and that holds for the length-prefixed `BYTES`
//! buffer too. Splitting slices the answer's buffers without copying.

use std::hash::{DefaultHasher, Hash, Hasher};

use bytes::Bytes;
use oxserve_core::{
    Error, InferenceRequest, InferenceResponse, Meta, Parameters, Result, Tensor, element_count,
};

/// The request parameter holding a caller's own deadline, in microseconds (V2 protocol).
///
/// It differs from caller to caller and only the scheduler acts on it, so it neither keeps
/// requests apart nor reaches the model in a stacked request.
pub(crate) const TIMEOUT_PARAMETER: &str = "timeout";

/// The rows a request adds to a batch: the first dimension its inputs share. `None` (the request
/// then runs alone) when there is nothing to stack along: no inputs, a scalar input, inputs that
/// disagree on their first dimension, an empty first dimension (what the model answers for no rows
/// is its own business), or an input name given twice.
pub(crate) fn batch_rows(request: &InferenceRequest) -> Option<usize> {
    let (first, rest) = request.inputs.split_first()?;
    let rows = *first.shape.first()?;
    let unique = |i: usize, t: &Tensor| request.inputs[..i].iter().all(|u| u.name != t.name);
    let agree = rest.iter().all(|t| t.shape.first() == Some(&rows));
    (rows > 0 && agree && request.inputs.iter().enumerate().all(|(i, t)| unique(i, t))).then_some(rows)
}

/// Whether two stackable requests (see [`batch_rows`]) may share a batch: same model and version,
/// the same inputs (by name, in any order) with the same datatypes, the same shapes past the first
/// dimension and the same parameters, the same requested outputs in the same order (their
/// parameters included, since they shape the answer), and the same request parameters apart from
/// `timeout`.
pub(crate) fn compatible(a: &InferenceRequest, b: &InferenceRequest) -> bool {
    let same_tensor = |x: &Tensor, y: &Tensor| {
        x.datatype == y.datatype && x.shape[1..] == y.shape[1..] && x.parameters == y.parameters
    };
    a.model_name == b.model_name
        && a.model_version == b.model_version
        && a.outputs == b.outputs
        && a.inputs.len() == b.inputs.len()
        && a.inputs.iter().all(|x| b.input(&x.name).is_some_and(|y| same_tensor(x, y)))
        && same_parameters(&a.parameters, &b.parameters)
}

fn same_parameters(a: &Parameters, b: &Parameters) -> bool {
    let relevant = |p: &Parameters| p.len() - usize::from(p.contains_key(TIMEOUT_PARAMETER));
    relevant(a) == relevant(b)
        && a.iter().filter(|(k, _)| k.as_str() != TIMEOUT_PARAMETER).all(|(k, v)| b.get(k) == Some(v))
}

/// A cheap fingerprint of what makes requests [`compatible`], for judging whether others like a
/// request are about. Parameters are left out: a shared fingerprint may only over-estimate
/// company, never decide what is stacked.
pub(crate) fn fingerprint(request: &InferenceRequest) -> u64 {
    let mut hasher = DefaultHasher::new();
    request.model_version.hash(&mut hasher);
    for output in &request.outputs {
        output.name.hash(&mut hasher);
    }
    // Inputs may come in any order, so their hashes are combined with an order-blind sum.
    let inputs = request.inputs.iter().fold(0u64, |sum, t| {
        let mut h = DefaultHasher::new();
        (&t.name, t.datatype, t.shape.get(1..)).hash(&mut h);
        sum.wrapping_add(h.finish())
    });
    inputs.hash(&mut hasher);
    hasher.finish()
}

/// What a caller keeps while its rows run in a stacked request.
#[derive(Debug)]
pub(crate) struct Origin {
    pub id: Option<String>,
    pub meta: Meta,
    pub rows: usize,
}

/// Stacks compatible requests, given with their rows, into one request.
///
/// The stacked request has no `id` and empty `meta` (each caller gets its own back from
/// [`unstack`]), the first request's parameters less `timeout`, and its requested outputs.
pub(crate) fn stack(parts: Vec<(InferenceRequest, usize)>) -> Result<(InferenceRequest, Vec<Origin>)> {
    let total: usize = parts.iter().map(|(_, rows)| rows).sum();
    let Some((head, _)) = parts.first() else {
        return Err(Error::internal("an empty batch cannot be stacked"));
    };
    let mut inputs = Vec::with_capacity(head.inputs.len());
    for template in &head.inputs {
        let tensors = parts
            .iter()
            .map(|(request, _)| {
                request.input(&template.name).ok_or_else(|| {
                    Error::internal(format!(
                        "stacking: a request in the batch lacks input '{}'",
                        template.name
                    ))
                })
            })
            .collect::<Result<Vec<&Tensor>>>()?;
        let mut data = Vec::with_capacity(tensors.iter().map(|t| t.data.len()).sum());
        for tensor in tensors {
            data.extend_from_slice(&tensor.data);
        }
        let mut shape = template.shape.clone();
        shape[0] = total;
        inputs.push(Tensor {
            name: template.name.clone(),
            datatype: template.datatype,
            shape,
            data: Bytes::from(data),
            parameters: template.parameters.clone(),
        });
    }
    let mut parameters = head.parameters.clone();
    parameters.remove(TIMEOUT_PARAMETER);
    let request = InferenceRequest {
        id: None,
        model_name: head.model_name.clone(),
        model_version: head.model_version.clone(),
        parameters,
        inputs,
        outputs: head.outputs.clone(),
        meta: Meta::default(),
    };
    let origins = parts
        .into_iter()
        .map(|(request, rows)| Origin { id: request.id, meta: request.meta, rows })
        .collect();
    Ok((request, origins))
}

/// Splits the answer to a stacked request into one answer per caller, in the order of `origins`.
///
/// Every output must have the batch's rows as its first dimension, else no caller can be answered
/// and the error (`Internal`) names the output. Each caller gets its own `id` and `meta`, the
/// latter with what the model added to the batch's meta (tags, routing, request path); metrics the
/// model reported describe one run, so only the first caller carries them and a counter is not
/// multiplied by the batch size.
pub(crate) fn unstack(
    response: InferenceResponse,
    origins: Vec<Origin>,
    model: &str,
) -> Result<Vec<InferenceResponse>> {
    let rows: Vec<usize> = origins.iter().map(|o| o.rows).collect();
    let mut outputs: Vec<Vec<Tensor>> =
        (0..origins.len()).map(|_| Vec::with_capacity(response.outputs.len())).collect();
    for output in &response.outputs {
        let pieces = split_rows(output, &rows)
            .map_err(|why| Error::internal(format!("model '{model}': output '{}' {why}", output.name)))?;
        for (caller, piece) in outputs.iter_mut().zip(pieces) {
            caller.push(piece);
        }
    }
    let answers = origins
        .into_iter()
        .zip(outputs)
        .enumerate()
        .map(|(i, (origin, outputs))| {
            let mut meta = origin.meta;
            meta.tags.extend(response.meta.tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            meta.routing.extend(response.meta.routing.iter().map(|(k, v)| (k.clone(), *v)));
            meta.request_path.extend(response.meta.request_path.iter().map(|(k, v)| (k.clone(), v.clone())));
            if i == 0 {
                meta.metrics.extend(response.meta.metrics.iter().cloned());
            }
            InferenceResponse {
                id: origin.id,
                model_name: response.model_name.clone(),
                model_version: response.model_version.clone(),
                parameters: response.parameters.clone(),
                outputs,
                meta,
            }
        })
        .collect();
    Ok(answers)
}

/// Cuts `tensor` into consecutive pieces of `rows` rows each, sharing its buffer. The error says
/// what is wrong with the tensor, to follow its name.
fn split_rows(tensor: &Tensor, rows: &[usize]) -> Result<Vec<Tensor>, String> {
    let total: usize = rows.iter().sum();
    let Some((&first, rest)) = tensor.shape.split_first() else {
        return Err(format!("is a scalar, which cannot be split into the batch's {total} rows"));
    };
    if first != total {
        return Err(format!(
            "has shape {:?} for a batch of {total} rows; a model served with max_batch_size above 1 \
             must answer one row per input row",
            tensor.shape
        ));
    }
    let too_large = || format!("has shape {:?}, which is too large", tensor.shape);
    let per_row = element_count(rest).ok_or_else(too_large)?;
    let mut offset: usize = 0;
    let mut pieces = Vec::with_capacity(rows.len());
    for &n in rows {
        let elements = n.checked_mul(per_row).ok_or_else(too_large)?;
        let end = match tensor.datatype.element_size() {
            Some(size) => {
                elements.checked_mul(size).and_then(|len| offset.checked_add(len)).ok_or_else(too_large)?
            }
            None => skip_bytes_elements(&tensor.data, offset, elements)?,
        };
        if end > tensor.data.len() {
            return Err(format!(
                "holds {} bytes, fewer than its shape {:?} needs",
                tensor.data.len(),
                tensor.shape
            ));
        }
        let mut shape = tensor.shape.clone();
        shape[0] = n;
        pieces.push(Tensor {
            name: tensor.name.clone(),
            datatype: tensor.datatype,
            shape,
            data: tensor.data.slice(offset..end),
            parameters: tensor.parameters.clone(),
        });
        offset = end;
    }
    if offset != tensor.data.len() {
        return Err(format!(
            "holds {} bytes, more than its shape {:?} needs",
            tensor.data.len(),
            tensor.shape
        ));
    }
    Ok(pieces)
}

/// The offset just past `count` length-prefixed elements starting at `offset`.
fn skip_bytes_elements(data: &[u8], mut offset: usize, count: usize) -> Result<usize, String> {
    for _ in 0..count {
        let prefix = data
            .get(offset..)
            .and_then(|rest| rest.first_chunk::<4>())
            .ok_or_else(|| format!("is BYTES data that ends inside a length prefix at byte {offset}"))?;
        let len = u32::from_le_bytes(*prefix) as usize;
        offset = offset
            .checked_add(4 + len)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| format!("is BYTES data whose element at byte {offset} runs past its end"))?;
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use oxserve_core::{DataType, Metric, RequestedOutput};

    use super::*;

    fn fp32(name: &str, shape: Vec<usize>, values: &[f32]) -> Tensor {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::new(name, DataType::Fp32, shape, Bytes::from(data)).unwrap()
    }

    fn request(inputs: Vec<Tensor>) -> InferenceRequest {
        InferenceRequest { model_name: "m".into(), inputs, ..Default::default() }
    }

    #[test]
    fn rows_need_one_shared_first_dimension() {
        let a = fp32("a", vec![2, 1], &[1.0, 2.0]);
        let b = fp32("b", vec![2], &[1.0, 2.0]);
        assert_eq!(batch_rows(&request(vec![a.clone(), b.clone()])), Some(2));
        assert_eq!(batch_rows(&request(vec![a.clone(), fp32("c", vec![1], &[1.0])])), None);
        assert_eq!(batch_rows(&request(vec![fp32("s", vec![], &[1.0])])), None);
        assert_eq!(batch_rows(&request(vec![fp32("e", vec![0, 3], &[])])), None);
        assert_eq!(batch_rows(&request(vec![a.clone(), a])), None, "a name given twice");
        assert_eq!(batch_rows(&request(vec![])), None);
    }

    #[test]
    fn compatibility_ignores_rows_input_order_and_timeout_only() {
        let base = request(vec![fp32("a", vec![1, 2], &[1.0, 2.0]), fp32("b", vec![1], &[3.0])]);
        let mut other = request(vec![fp32("b", vec![3], &[0.0; 3]), fp32("a", vec![3, 2], &[0.0; 6])]);
        other.parameters.insert(TIMEOUT_PARAMETER.into(), 5.into());
        assert!(compatible(&base, &other));
        assert_eq!(fingerprint(&base), fingerprint(&other));

        let mut p = other.clone();
        p.parameters.insert("temperature".into(), 1.into());
        assert!(!compatible(&base, &p));
        let mut o = other.clone();
        o.outputs.push(RequestedOutput { name: "y".into(), ..Default::default() });
        assert!(!compatible(&base, &o));
        let mut v = other.clone();
        v.model_version = Some("2".into());
        assert!(!compatible(&base, &v));
        let shape = request(vec![fp32("a", vec![1, 1], &[1.0]), fp32("b", vec![1], &[3.0])]);
        assert!(!compatible(&base, &shape));
        let mut tagged = other;
        tagged.inputs[0].parameters.insert("content_type".into(), "np".into());
        assert!(!compatible(&base, &tagged));
    }

    #[test]
    fn stack_then_unstack_gives_each_caller_its_rows() {
        let mut one = request(vec![
            fp32("x", vec![1, 2], &[1.0, 2.0]),
            Tensor::from_bytes_elements("s", vec![1], ["a"]).unwrap(),
        ]);
        one.id = Some("1".into());
        one.meta.puid = "p1".into();
        one.parameters.insert(TIMEOUT_PARAMETER.into(), 10.into());
        let mut two = request(vec![
            Tensor::from_bytes_elements("s", vec![2], ["", "bcd"]).unwrap(),
            fp32("x", vec![2, 2], &[3.0, 4.0, 5.0, 6.0]),
        ]);
        two.id = Some("2".into());
        let (stacked, origins) = stack(vec![(one, 1), (two, 2)]).unwrap();
        assert_eq!(stacked.id, None);
        assert!(stacked.parameters.is_empty(), "timeout stays with the scheduler");
        assert_eq!(stacked.inputs[0], fp32("x", vec![3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        assert_eq!(stacked.inputs[1], Tensor::from_bytes_elements("s", vec![3], ["a", "", "bcd"]).unwrap());

        let mut response = InferenceResponse {
            model_name: "m".into(),
            model_version: Some("7".into()),
            outputs: stacked.inputs.clone(),
            ..Default::default()
        };
        response.meta.tags.insert("model".into(), "tag".into());
        response.meta.metrics.push(Metric {
            key: "runs".into(),
            kind: Default::default(),
            value: 1.0,
            tags: Default::default(),
        });
        let answers = unstack(response, origins, "m").unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].id.as_deref(), Some("1"));
        assert_eq!(answers[0].meta.puid, "p1");
        assert_eq!(answers[1].id.as_deref(), Some("2"));
        assert_eq!(answers[1].model_version.as_deref(), Some("7"));
        assert_eq!(answers[0].outputs[0], fp32("x", vec![1, 2], &[1.0, 2.0]));
        assert_eq!(answers[1].outputs[0], fp32("x", vec![2, 2], &[3.0, 4.0, 5.0, 6.0]));
        assert_eq!(answers[0].outputs[1], Tensor::from_bytes_elements("s", vec![1], ["a"]).unwrap());
        assert_eq!(answers[1].outputs[1], Tensor::from_bytes_elements("s", vec![2], ["", "bcd"]).unwrap());
        assert!(answers.iter().all(|a| a.meta.tags["model"] == "tag"));
        assert_eq!((answers[0].meta.metrics.len(), answers[1].meta.metrics.len()), (1, 0));
    }

    #[test]
    fn outputs_that_do_not_split_name_the_output() {
        let origins = || (0..2).map(|_| Origin { id: None, meta: Meta::default(), rows: 1 }).collect();
        let answer = |outputs| InferenceResponse { outputs, ..Default::default() };
        let e = unstack(answer(vec![fp32("y", vec![3], &[0.0; 3])]), origins(), "m").unwrap_err();
        assert_eq!(e.kind, oxserve_core::ErrorKind::Internal);
        assert!(
            e.message.starts_with("model 'm': output 'y' has shape [3] for a batch of 2 rows"),
            "{}",
            e.message
        );
        let e = unstack(answer(vec![fp32("z", vec![], &[0.0])]), origins(), "m").unwrap_err();
        assert!(e.message.contains("output 'z' is a scalar"), "{}", e.message);
        // Built without `Tensor::new`, as a careless runtime might: too few bytes for its shape.
        let short = Tensor { data: Bytes::from_static(&[0; 4]), ..fp32("w", vec![2], &[0.0, 0.0]) };
        let e = unstack(answer(vec![short]), origins(), "m").unwrap_err();
        assert!(e.message.contains("output 'w' holds 4 bytes, fewer"), "{}", e.message);
        let truncated = Tensor {
            data: Bytes::from_static(&[1, 0, 0, 0, b'a', 9, 0, 0, 0]),
            ..Tensor::from_bytes_elements("b", vec![2], ["a", "b"]).unwrap()
        };
        let e = unstack(answer(vec![truncated]), origins(), "m").unwrap_err();
        assert!(e.message.contains("output 'b' is BYTES data whose element at byte 5"), "{}", e.message);
    }
}
