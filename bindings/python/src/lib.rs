//! The native half of the `oxserve` Python package (`oxserve._native`).
//!
//! The Rust server runs inside the user's Python process: [`serve`] is called from Python with
//! one handler object per model, releases the GIL, and serves every protocol from Rust until
//! SIGTERM or Ctrl-C. Each model is a [`unit::PythonUnit`] behind the per-model scheduler of
//! `oxserve-batch`, so queue limits, dynamic batching and metrics are the same as for native
//! models; only the handler's methods run Python, on the unit's own worker threads.

mod convert;
mod graph;
mod unit;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use oxserve_core::{Error, ModelMetadata, Unit};
use oxserve_foreign::Declaration;
use oxserve_server::{Metrics, Registry, ServerConfig};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

pyo3::create_exception!(
    _native,
    ServerError,
    PyRuntimeError,
    "The server could not start (a port in use, inconsistent model settings) or failed while serving."
);

use crate::unit::{OPERATIONS, PythonUnit, Readiness};

/// What Python declares about one model: the handler and its declaration, read with the GIL
/// held before the server starts.
struct Declared {
    handler: Py<PyAny>,
    declaration: Declaration,
    ready: Arc<AtomicBool>,
    wants_headers: bool,
}

/// Reads a handler's `metadata_json` (V2 model metadata), `settings_json` (MLServer's
/// model-settings fields), `operations` (the [`OPERATIONS`] it implements) and `wants_headers`
/// (whether its calls read the caller's headers), and hands it its [`Readiness`] through
/// `attach_readiness`.
fn declare(handler: &Bound<'_, PyAny>) -> PyResult<Declared> {
    let metadata: String = handler.getattr("metadata_json")?.extract()?;
    let metadata: ModelMetadata =
        serde_json::from_str(&metadata).map_err(|e| ServerError::new_err(format!("model metadata: {e}")))?;
    let settings: String = handler.getattr("settings_json")?.extract()?;
    let operations: Vec<String> = handler.getattr("operations")?.extract()?;
    let declaration = Declaration::new(metadata, &settings, &operations, &OPERATIONS)
        .map_err(|e| ServerError::new_err(e.message))?;
    // The handler reports readiness (KServe's `model.ready`) through this handle from now on.
    let ready = Arc::new(AtomicBool::new(true));
    handler.call_method1("attach_readiness", (Readiness { ready: Arc::clone(&ready) },))?;
    let wants_headers: bool = handler.getattr("wants_headers")?.extract()?;
    Ok(Declared { handler: handler.clone().unbind(), declaration, ready, wants_headers })
}

/// Puts a declared model behind its scheduler. Must run inside the tokio runtime.
fn schedule(declared: Declared, metrics: &Metrics) -> oxserve_core::Result<Arc<dyn Unit>> {
    let Declared { handler, declaration, ready, wants_headers } = declared;
    declaration.schedule(metrics, |setup| PythonUnit::new(setup, handler, ready, wants_headers))
}

/// Loads the models of repository folders that Rust serves itself (ONNX, in MLServer's or
/// Triton's layout) with the server's repository loader, so that one process serves a repository
/// whose other folders are Python models. Must run inside the tokio runtime.
fn load_folders(folders: &[PathBuf], metrics: &Metrics) -> oxserve_core::Result<Vec<Arc<dyn Unit>>> {
    let mut units = Vec::new();
    for folder in folders {
        let unit = oxserve_server::load_model_folder(folder, metrics)
            .map_err(|e| e.context(format_args!("model folder {}", folder.display())))?;
        units.extend(unit);
    }
    Ok(units)
}

/// Serves `handlers`, and the models in `model_folders` (see [`load_folders`]), until SIGTERM or
/// Ctrl-C, with the GIL released. `metrics_port`: Seldon's metrics port, answering `/prometheus`
/// and `/metrics`.
///
/// A start-up failure (a port in use, inconsistent settings) raises `ServerError` naming it.
#[pyfunction]
#[pyo3(signature = (
    handlers, *, host, http_port, grpc_port, model_folders=Vec::new(), reuse_port=false, max_request_size=64 * 1024 * 1024,
    drain_timeout=30.0, default_model=None, seldon_unit_id=None, seldon_unit_image=None, metrics_port=None,
    log_level="info"
))]
#[allow(clippy::too_many_arguments)]
fn serve(
    py: Python<'_>,
    handlers: Vec<Bound<'_, PyAny>>,
    host: &str,
    http_port: u16,
    grpc_port: u16,
    model_folders: Vec<PathBuf>,
    reuse_port: bool,
    max_request_size: usize,
    drain_timeout: f64,
    default_model: Option<String>,
    seldon_unit_id: Option<String>,
    seldon_unit_image: Option<String>,
    metrics_port: Option<u16>,
    log_level: &str,
) -> PyResult<()> {
    let config = server_config(host, http_port, grpc_port, reuse_port, max_request_size, drain_timeout)?;
    let config = ServerConfig { seldon_unit_id, seldon_unit_image, metrics_port, ..config };
    let declared = handlers.iter().map(declare).collect::<PyResult<Vec<_>>>()?;
    oxserve_foreign::init_logging(log_level);
    serve_registry(py, config, move |metrics| {
        let mut units =
            declared.into_iter().map(|d| schedule(d, metrics)).collect::<oxserve_core::Result<Vec<_>>>()?;
        units.extend(load_folders(&model_folders, metrics)?);
        if units.is_empty() {
            return Err(Error::invalid("no models to serve"));
        }
        Registry::new(units, default_model)
    })
}

/// The server's listening settings, checked.
fn server_config(
    host: &str,
    http_port: u16,
    grpc_port: u16,
    reuse_port: bool,
    max_request_size: usize,
    drain_timeout: f64,
) -> PyResult<ServerConfig> {
    let config = ServerConfig::from_options(
        host,
        http_port,
        grpc_port,
        max_request_size,
        drain_timeout,
        "drain_timeout",
    )
    .map_err(|e| ServerError::new_err(e.message))?;
    Ok(ServerConfig { reuse_port, ..config })
}

/// Serves what `registry` builds until SIGTERM or Ctrl-C, with the GIL released. `registry` runs
/// inside the tokio runtime, where models' schedulers start.
fn serve_registry(
    py: Python<'_>,
    config: ServerConfig,
    registry: impl FnOnce(&Arc<Metrics>) -> oxserve_core::Result<Registry> + Send,
) -> PyResult<()> {
    py.detach(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
        let served = runtime.block_on(async move {
            let metrics = Arc::new(Metrics::new());
            let registry = registry(&metrics)?;
            oxserve_server::serve(config, registry, metrics).await
        });
        // Past the drain timeout a Python call may still run; it cannot be interrupted, so the
        // runtime is left behind rather than waited for.
        runtime.shutdown_timeout(Duration::from_millis(100));
        served
    })
    .map_err(|e: Error| ServerError::new_err(e.message))
}

/// The serialized protobuf descriptors of the protocols the core serves, from which
/// `oxserve.seldon` builds Seldon's message classes for gRPC `*_raw` methods.
#[pyfunction]
fn service_descriptors(py: Python<'_>) -> Bound<'_, pyo3::types::PyBytes> {
    pyo3::types::PyBytes::new(py, oxserve_protocol::pb::SERVICE_DESCRIPTORS)
}

/// The version of the Rust core this extension was built from.
#[pyfunction]
fn core_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(serve, module)?)?;
    module.add_function(wrap_pyfunction!(graph::serve_graph, module)?)?;
    module.add_function(wrap_pyfunction!(core_version, module)?)?;
    module.add_function(wrap_pyfunction!(service_descriptors, module)?)?;
    module.add_class::<convert::SharedBytes>()?;
    module.add_class::<Readiness>()?;
    module.add("ServerError", module.py().get_type::<ServerError>())?;
    Ok(())
}
