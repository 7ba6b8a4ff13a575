//! A test model and a recording observer for the scheduler tests.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use oxserve_batch::{BatchReport, Rejection, SchedulerObserver};
use oxserve_core::{
    DataType, Error, InferenceRequest, InferenceResponse, ModelMetadata, RequestedOutput, Result, Tensor,
};
use tokio::sync::Semaphore;

/// What the test model does with the next call it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Fail,
    Panic,
    /// Answers one row more than it was given.
    ExtraRow,
}

/// "Add one and echo": each input `x` comes back as `x_out` — FP32 and INT64 plus one, BYTES with
/// `!` appended, anything else unchanged. It records every request it runs and, when gated, holds
/// each call until the test lets one through, so tests shape the queue deterministically.
pub struct AddOne {
    metadata: ModelMetadata,
    seen: Mutex<Vec<InferenceRequest>>,
    gate: Option<Semaphore>,
    faults: Mutex<VecDeque<Option<Fault>>>,
}

impl AddOne {
    /// Runs every call at once.
    pub fn open() -> Arc<AddOne> {
        Arc::new(AddOne::with_gate(None))
    }

    /// Holds every call until [`AddOne::release`] lets it through.
    pub fn gated() -> Arc<AddOne> {
        Arc::new(AddOne::with_gate(Some(Semaphore::new(0))))
    }

    pub fn with_metadata(metadata: ModelMetadata) -> Arc<AddOne> {
        Arc::new(AddOne { metadata, ..AddOne::with_gate(None) })
    }

    fn with_gate(gate: Option<Semaphore>) -> AddOne {
        AddOne {
            metadata: ModelMetadata { name: "add-one".into(), ..Default::default() },
            seen: Mutex::new(Vec::new()),
            gate,
            faults: Mutex::new(VecDeque::new()),
        }
    }

    /// Lets `calls` held (or future) calls through the gate.
    pub fn release(&self, calls: usize) {
        self.gate.as_ref().expect("a gated model").add_permits(calls);
    }

    /// Holds calls again: lets through none beyond those already let through and taken.
    pub fn close(&self) {
        let gate = self.gate.as_ref().expect("a gated model");
        gate.forget_permits(gate.available_permits());
    }

    /// What the following calls do, in order; `None` runs normally.
    pub fn script(&self, faults: impl IntoIterator<Item = Option<Fault>>) {
        self.faults.lock().unwrap().extend(faults);
    }

    /// Requests it has been called with so far (held ones included).
    pub fn seen(&self) -> Vec<InferenceRequest> {
        self.seen.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The first dimension of each call's first input.
    pub fn batch_rows(&self) -> Vec<usize> {
        self.seen().iter().map(|r| r.inputs[0].shape[0]).collect()
    }
}

#[async_trait]
impl oxserve_core::Unit for AddOne {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        self.seen.lock().unwrap().push(request.clone());
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("the gate stays open").forget();
        }
        let fault = self.faults.lock().unwrap().pop_front().flatten();
        match fault {
            Some(Fault::Fail) => return Err(Error::internal("add-one: scripted failure")),
            Some(Fault::Panic) => panic!("add-one: scripted panic"),
            _ => {}
        }
        let mut outputs: Vec<Tensor> = request.inputs.iter().map(add_one).collect();
        if !request.outputs.is_empty() {
            outputs = request
                .outputs
                .iter()
                .map(|wanted| {
                    outputs
                        .iter()
                        .find(|o| o.name == wanted.name)
                        .cloned()
                        .ok_or_else(|| Error::invalid(format!("add-one: no output '{}'", wanted.name)))
                })
                .collect::<Result<_>>()?;
        }
        if fault == Some(Fault::ExtraRow) {
            for output in &mut outputs {
                output.shape[0] += 1;
            }
        }
        Ok(InferenceResponse {
            id: request.id,
            model_name: self.metadata.name.clone(),
            model_version: Some("1".into()),
            parameters: Default::default(),
            outputs,
            meta: request.meta,
        })
    }
}

fn add_one(input: &Tensor) -> Tensor {
    let data: Vec<u8> = match input.datatype {
        DataType::Fp32 => input
            .data
            .chunks_exact(4)
            .flat_map(|c| (f32::from_le_bytes(c.try_into().unwrap()) + 1.0).to_le_bytes())
            .collect(),
        DataType::Int64 => input
            .data
            .chunks_exact(8)
            .flat_map(|c| (i64::from_le_bytes(c.try_into().unwrap()) + 1).to_le_bytes())
            .collect(),
        DataType::Bytes => {
            let elements = input.bytes_elements().map(|e| [e, b"!"].concat());
            oxserve_core::encode_bytes_elements(elements).unwrap().to_vec()
        }
        _ => input.data.to_vec(),
    };
    Tensor::new(format!("{}_out", input.name), input.datatype, input.shape.clone(), Bytes::from(data))
        .unwrap()
}

pub fn fp32(name: &str, shape: Vec<usize>, values: impl IntoIterator<Item = f32>) -> Tensor {
    let data: Vec<u8> = values.into_iter().flat_map(f32::to_le_bytes).collect();
    Tensor::new(name, DataType::Fp32, shape, Bytes::from(data)).unwrap()
}

pub fn int64(name: &str, shape: Vec<usize>, values: impl IntoIterator<Item = i64>) -> Tensor {
    let data: Vec<u8> = values.into_iter().flat_map(i64::to_le_bytes).collect();
    Tensor::new(name, DataType::Int64, shape, Bytes::from(data)).unwrap()
}

pub fn strings<E: AsRef<[u8]>>(
    name: &str,
    shape: Vec<usize>,
    elements: impl IntoIterator<Item = E>,
) -> Tensor {
    Tensor::from_bytes_elements(name, shape, elements).unwrap()
}

/// A request for `add-one` with id `id`.
pub fn request(id: &str, inputs: Vec<Tensor>) -> InferenceRequest {
    InferenceRequest { id: Some(id.into()), model_name: "add-one".into(), inputs, ..Default::default() }
}

/// An FP32 request of `rows` rows of width 3, filled with `seed`-based values.
pub fn rows_request(id: &str, rows: usize, seed: f32) -> InferenceRequest {
    request(id, vec![fp32("x", vec![rows, 3], (0..rows * 3).map(|i| seed + i as f32))])
}

pub fn wanting(mut request: InferenceRequest, outputs: &[&str]) -> InferenceRequest {
    request.outputs =
        outputs.iter().map(|name| RequestedOutput { name: (*name).into(), ..Default::default() }).collect();
    request
}

pub fn with_parameter(
    mut request: InferenceRequest,
    key: &str,
    value: serde_json::Value,
) -> InferenceRequest {
    request.parameters.insert(key.into(), value);
    request
}

/// Yields to the runtime until `condition` holds. The clock does not move meanwhile (a task that
/// yields keeps the runtime busy, so paused time does not auto-advance).
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..100_000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

/// A small deterministic generator, so that "random" row counts are the same on every run.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Records everything a scheduler reports.
#[derive(Default)]
pub struct Recorder {
    pub rejected: Mutex<Vec<Rejection>>,
    pub batches: Mutex<Vec<BatchReport>>,
    depth: AtomicUsize,
    dequeued: AtomicUsize,
    in_flight: Mutex<(usize, usize)>,
    most_in_flight: AtomicUsize,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }

    pub fn dequeued(&self) -> usize {
        self.dequeued.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> (usize, usize) {
        *self.in_flight.lock().unwrap()
    }

    pub fn most_in_flight(&self) -> usize {
        self.most_in_flight.load(Ordering::SeqCst)
    }

    pub fn rejected(&self) -> Vec<Rejection> {
        self.rejected.lock().unwrap().clone()
    }

    pub fn batches(&self) -> Vec<BatchReport> {
        self.batches.lock().unwrap().clone()
    }
}

impl SchedulerObserver for Recorder {
    fn rejected(&self, reason: Rejection) {
        self.rejected.lock().unwrap().push(reason);
    }

    fn dequeued(&self, _waited: std::time::Duration) {
        self.dequeued.fetch_add(1, Ordering::SeqCst);
    }

    fn batch_finished(&self, report: &BatchReport) {
        self.batches.lock().unwrap().push(*report);
    }

    fn queue_depth(&self, depth: usize) {
        self.depth.store(depth, Ordering::SeqCst);
    }

    fn in_flight(&self, batches: usize, requests: usize) {
        *self.in_flight.lock().unwrap() = (batches, requests);
        self.most_in_flight.fetch_max(batches, Ordering::SeqCst);
    }
}
