//! An ONNX model served by a pool of ONNX Runtime sessions.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ort::session::{OutputSelector, RunOptions, Session, SessionInputValue};
use ort::value::{Outlet, ValueType};
use oxserve_core::{
    Error, InferenceRequest, InferenceResponse, ModelMetadata, ModelSettings, Result, Tensor, TensorSpec,
    Unit,
};
use tokio::sync::Semaphore;

use crate::convert;
use crate::library::{environment, panic_message};

/// The V2 `platform` of every ONNX model, as Triton spells it.
pub const PLATFORM: &str = "onnxruntime_onnx";

/// An ONNX model as an oxserve [`Unit`].
///
/// ONNX Runtime's `Session::run` needs exclusive access to its session, so the model holds a pool of
/// `settings.instances` sessions: a request waits (asynchronously) for a free one, and up to
/// `instances` requests run in parallel. Each session gets `available_parallelism / instances`
/// intra-op threads so that a fully busy pool uses the machine without oversubscribing it.
///
/// Where a run happens depends on how long the model's runs take (see [`RunPlacement`]): a run
/// expected to be short runs on the calling async worker, since handing it to a blocking thread
/// costs two thread switches, several times the run itself for a small model; anything longer
/// runs on tokio's blocking pool, so a slow model never stalls health checks or other models.
pub struct OnnxModel {
    metadata: ModelMetadata,
    version: Option<String>,
    /// What runs when a request names no outputs: the declared outputs, in order.
    default_outputs: Vec<String>,
    intra_op_threads: usize,
    pool: Arc<SessionPool>,
    placement: Arc<RunPlacement>,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("name", &self.metadata.name)
            .field("version", &self.version)
            .field("instances", &self.pool.size)
            .field("intra_op_threads", &self.intra_op_threads)
            .finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// Loads `model_path` into `settings.instances` sessions (default 1) and reads the model's
    /// metadata from the graph.
    ///
    /// Loads ONNX Runtime by discovery first if [`crate::init_onnxruntime`] was not called. This
    /// blocks while ONNX Runtime parses and optimises the graph, so call it from a blocking context.
    ///
    /// `settings.inputs` / `settings.outputs`, when given, replace what the graph declares (to
    /// narrow a shape, or to serve only some outputs); each must name a real graph input or output
    /// of the same datatype and rank. `settings.parameters.extra["intra_op_threads"]` overrides the
    /// number of threads per session. Errors name the model file, or the input or output at fault.
    pub fn load(name: &str, model_path: &Path, settings: &ModelSettings) -> Result<OnnxModel> {
        let environment = environment()?;
        let instances = settings.instances.unwrap_or(1);
        if instances == 0 {
            return Err(Error::invalid(format!("model '{name}': instances must be at least 1")));
        }
        let intra_op_threads = intra_op_threads(settings, instances)
            .map_err(|e| e.context(format_args!("model '{name}': parameters.intra_op_threads")))?;
        let in_context = |e: Error| e.context(format_args!("model '{name}' ({})", model_path.display()));
        check_model_file(model_path).map_err(in_context)?;

        // ort has `expect`s on paths we cannot rule out for an arbitrary model file: a panic there
        // must become a load error, not take the server down.
        let attempt = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<OnnxModel> {
            let mut sessions = Vec::with_capacity(instances);
            for _ in 0..instances {
                sessions.push(new_session(environment, model_path, intra_op_threads)?);
            }
            let metadata = ModelMetadata {
                name: name.to_string(),
                versions: settings.parameters.version.iter().cloned().collect(),
                platform: PLATFORM.to_string(),
                inputs: declared(sessions[0].inputs(), &settings.inputs, "input")?,
                outputs: declared(sessions[0].outputs(), &settings.outputs, "output")?,
            };
            let default_outputs = metadata.outputs.iter().map(|o| o.name.clone()).collect();
            Ok(OnnxModel {
                metadata,
                version: settings.parameters.version.clone(),
                default_outputs,
                intra_op_threads,
                pool: Arc::new(SessionPool::new(sessions)),
                placement: Arc::new(RunPlacement::new()),
            })
        }));
        let model = match attempt {
            Ok(result) => result.map_err(in_context)?,
            Err(panic) => {
                return Err(Error::internal(format!(
                    "model '{name}': loading {} panicked inside ort: {}",
                    model_path.display(),
                    panic_message(panic.as_ref())
                )));
            }
        };
        tracing::info!(
            model = name,
            path = %model_path.display(),
            instances,
            intra_op_threads,
            "loaded ONNX model"
        );
        Ok(model)
    }

    /// How many sessions the pool holds, i.e. how many requests can run at once.
    pub fn instances(&self) -> usize {
        self.pool.size
    }

    /// ONNX Runtime intra-op threads per session.
    pub fn intra_op_threads(&self) -> usize {
        self.intra_op_threads
    }
}

#[async_trait]
impl Unit for OnnxModel {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Checks the request against the metadata (400 on a mismatch), runs the requested outputs (all
    /// of them when the request names none) on a free session, and answers with the request's `id`
    /// and `meta`. An ONNX Runtime failure is an `Internal` error carrying its message; the session
    /// goes back to the pool either way.
    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        self.metadata.check_request(&request)?;
        let InferenceRequest { id, inputs, outputs, meta, .. } = request;
        let mut wanted: Vec<String> = Vec::new();
        if outputs.is_empty() {
            wanted.clone_from(&self.default_outputs);
        } else {
            for output in outputs {
                if !wanted.contains(&output.name) {
                    wanted.push(output.name);
                }
            }
        }

        // The permit bounds the runs in flight to the number of sessions, so a session is always
        // free for a permit holder and excess requests queue here without occupying a thread.
        let permit = Arc::clone(&self.pool.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::unavailable(format!("model '{}' is shutting down", self.metadata.name)))?;
        let outputs = if self.placement.inline(&inputs) {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.placement.timed(|| run(&self.pool, &self.metadata.name, &inputs, &wanted))
            }));
            drop(permit);
            outcome.map_err(|panic| self.panicked(panic.as_ref()))??
        } else {
            let pool = Arc::clone(&self.pool);
            let placement = Arc::clone(&self.placement);
            let model = self.metadata.name.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                placement.timed(|| run(&pool, &model, &inputs, &wanted))
            })
            .await;
            match outcome {
                Ok(result) => result?,
                Err(join) if join.is_panic() => return Err(self.panicked(join.into_panic().as_ref())),
                Err(_) => {
                    return Err(Error::unavailable(format!(
                        "model '{}' run was cancelled",
                        self.metadata.name
                    )));
                }
            }
        };
        Ok(InferenceResponse {
            id,
            model_name: self.metadata.name.clone(),
            model_version: self.version.clone(),
            parameters: Default::default(),
            outputs,
            meta,
        })
    }
}

impl OnnxModel {
    fn panicked(&self, panic: &(dyn std::any::Any + Send)) -> Error {
        Error::internal(format!("model '{}' panicked: {}", self.metadata.name, panic_message(panic)))
    }
}

/// Decides where a model's runs happen, from how long its recent runs took.
///
/// A run expected to take under [`RunPlacement::INLINE_BUDGET`], with inputs small enough that
/// converting them is cheap too, runs on the async worker that received the request; any other run
/// (including the first, whose length is unknown) goes to tokio's blocking pool. The estimate is an
/// exponentially weighted average of measured run times, so a model whose runs grow longer moves to
/// the blocking pool within a few runs.
#[derive(Debug)]
struct RunPlacement {
    /// Average run time in nanoseconds; `u64::MAX` until a run has been measured.
    average_nanos: AtomicU64,
}

impl RunPlacement {
    /// Longest expected run kept on an async worker: as long as decoding a modest JSON body, which
    /// the worker does anyway, and far below what would hold up other connections noticeably.
    const INLINE_BUDGET: Duration = Duration::from_micros(50);
    /// Most input bytes a run kept on an async worker may take.
    const INLINE_MAX_INPUT_BYTES: usize = 256 * 1024;

    fn new() -> RunPlacement {
        RunPlacement { average_nanos: AtomicU64::new(u64::MAX) }
    }

    fn inline(&self, inputs: &[Tensor]) -> bool {
        let expected = self.average_nanos.load(Ordering::Relaxed);
        expected < Self::INLINE_BUDGET.as_nanos() as u64
            && inputs.iter().map(|t| t.data.len()).sum::<usize>() <= Self::INLINE_MAX_INPUT_BYTES
    }

    /// Runs `f`, folding its duration into the average.
    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = f();
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // Racing updates may drop a sample; the average stays a fair estimate either way.
        let previous = self.average_nanos.load(Ordering::Relaxed);
        let average = if previous == u64::MAX { nanos } else { previous - previous / 8 + nanos / 8 };
        self.average_nanos.store(average, Ordering::Relaxed);
        result
    }
}

/// One inference: convert, run on a checked-out session, convert back.
fn run(pool: &SessionPool, model: &str, inputs: &[Tensor], wanted: &[String]) -> Result<Vec<Tensor>> {
    let values = inputs
        .iter()
        .map(|t| Ok((t.name.as_str(), convert::to_ort(t)?)))
        .collect::<Result<Vec<(&str, SessionInputValue<'_>)>>>()?;
    let selector = wanted.iter().fold(OutputSelector::no_default(), |s, name| s.with(name.as_str()));
    let options = RunOptions::new()
        .map_err(|e| Error::internal(format!("model '{model}': {e}")))?
        .with_outputs(selector);

    let mut session = pool.checkout()?;
    let results = session
        .run_with_options(values, &options)
        .map_err(|e| Error::internal(format!("model '{model}': ONNX Runtime failed: {e}")))?;
    wanted
        .iter()
        .map(|name| {
            let value = results.get(name.as_str()).ok_or_else(|| {
                Error::internal(format!("model '{model}': ONNX Runtime returned no '{name}'"))
            })?;
            convert::from_ort(name, value).map_err(|e| e.context(format_args!("model '{model}'")))
        })
        .collect()
}

/// Sessions not in use, plus one permit per session.
struct SessionPool {
    idle: Mutex<Vec<Session>>,
    permits: Arc<Semaphore>,
    size: usize,
}

impl SessionPool {
    fn new(sessions: Vec<Session>) -> SessionPool {
        let size = sessions.len();
        SessionPool { idle: Mutex::new(sessions), permits: Arc::new(Semaphore::new(size)), size }
    }

    /// Takes a free session; call only while holding a permit, which guarantees there is one.
    fn checkout(&self) -> Result<CheckedOut<'_>> {
        // A panic while the lock is held cannot leave the Vec half-updated, so poisoning is moot.
        let session = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let session =
            session.ok_or_else(|| Error::internal("no free ONNX Runtime session despite a permit"))?;
        Ok(CheckedOut { pool: self, session: Some(session) })
    }
}

/// A session out of the pool; it goes back on drop, whatever happened during the run (an ORT
/// error leaves the session usable).
struct CheckedOut<'a> {
    pool: &'a SessionPool,
    session: Option<Session>,
}

impl std::ops::Deref for CheckedOut<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session.as_ref().expect("session present until drop")
    }
}

impl std::ops::DerefMut for CheckedOut<'_> {
    fn deref_mut(&mut self) -> &mut Session {
        self.session.as_mut().expect("session present until drop")
    }
}

impl Drop for CheckedOut<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.pool.idle.lock().unwrap_or_else(PoisonError::into_inner).push(session);
        }
    }
}

fn new_session(environment: &ort::environment::Environment, path: &Path, threads: usize) -> Result<Session> {
    let fail = |e: String| Error::invalid(format!("ONNX Runtime cannot load it: {e}"));
    Session::builder(environment)
        .map_err(|e| fail(e.to_string()))?
        .with_intra_threads(threads)
        .map_err(|e| fail(e.to_string()))?
        .commit_from_file(path)
        .map_err(|e| fail(e.to_string()))
}

/// A missing or unreadable file gets a plain message before ONNX Runtime is involved.
fn check_model_file(path: &Path) -> Result<()> {
    let fail = |why: String| Error::invalid(format!("model file: {why}"));
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if meta.is_dir() {
        return Err(fail("is a folder, not an .onnx file".to_string()));
    }
    std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    Ok(())
}

/// Threads per session: the `intra_op_threads` parameter, else an equal share of the CPUs.
fn intra_op_threads(settings: &ModelSettings, instances: usize) -> Result<usize> {
    let Some(value) = settings.parameters.extra.get("intra_op_threads") else {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        return Ok((cpus / instances).max(1));
    };
    let parsed = value.as_u64().or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()));
    match parsed.and_then(|n| usize::try_from(n).ok()) {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(Error::invalid(format!("expected a positive integer, got {value}"))),
    }
}

/// A graph input or output as V2 metadata, or why it cannot be served.
fn graph_spec(outlet: &Outlet, what: &str) -> Result<TensorSpec> {
    let name = outlet.name();
    // An output the protocol cannot carry can be left out; an input cannot.
    let hint = if what == "output" { " (list the outputs to serve in the model settings)" } else { "" };
    let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return Err(Error::invalid(format!(
            "{what} '{name}' is a {}, and only tensors can be served{hint}",
            outlet.dtype()
        )));
    };
    let datatype = convert::datatype_of(*ty).ok_or_else(|| {
        Error::invalid(format!(
            "{what} '{name}' has ONNX element type {ty}, which no V2 datatype carries{hint}"
        ))
    })?;
    let shape = shape.iter().map(|&d| if d < 0 { -1 } else { d }).collect();
    Ok(TensorSpec { name: name.to_string(), datatype, shape })
}

/// The inputs or outputs the model serves: the graph's, or the settings' when given, each checked
/// against the graph.
fn declared(graph: &[Outlet], overrides: &[TensorSpec], what: &str) -> Result<Vec<TensorSpec>> {
    if overrides.is_empty() {
        return graph.iter().map(|o| graph_spec(o, what)).collect();
    }
    overrides
        .iter()
        .map(|spec| {
            let Some(outlet) = graph.iter().find(|o| o.name() == spec.name) else {
                let names: Vec<String> = graph.iter().map(|o| format!("'{}'", o.name())).collect();
                return Err(Error::invalid(format!(
                    "settings {what}s: the graph has no {what} '{}'; its {what}s are {}",
                    spec.name,
                    names.join(", ")
                )));
            };
            let real = graph_spec(outlet, what)?;
            if real.datatype != spec.datatype {
                return Err(Error::invalid(format!(
                    "settings {what}s: '{}' is {} in the graph, not {}",
                    spec.name, real.datatype, spec.datatype
                )));
            }
            // A graph without shape information reports rank 0: then the settings are the only source.
            let compatible = real.shape.is_empty()
                || (real.shape.len() == spec.shape.len()
                    && real.shape.iter().zip(&spec.shape).all(|(&g, &s)| g < 0 || s < 0 || g == s));
            if !compatible {
                return Err(Error::invalid(format!(
                    "settings {what}s: '{}' has shape {:?} in the graph, which {:?} contradicts",
                    spec.name, real.shape, spec.shape
                )));
            }
            Ok(spec.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use oxserve_core::DataType;

    use super::*;

    fn floats(count: usize) -> Vec<Tensor> {
        let data = Bytes::from(vec![0u8; count * 4]);
        vec![Tensor::new("x", DataType::Fp32, vec![count], data).unwrap()]
    }

    #[test]
    fn short_runs_of_small_inputs_stay_inline_and_slow_ones_move_to_the_blocking_pool() {
        let placement = RunPlacement::new();
        assert!(!placement.inline(&floats(4)), "the first run's length is unknown");

        placement.timed(|| ());
        assert!(placement.inline(&floats(4)));
        assert!(!placement.inline(&floats(64 * 1024 + 1)), "too much input to convert inline");

        placement.timed(|| std::thread::sleep(Duration::from_millis(2)));
        assert!(!placement.inline(&floats(4)), "one slow run is enough to leave the worker");
    }
}
