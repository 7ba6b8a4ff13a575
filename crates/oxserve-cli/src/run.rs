//! `oxserve run GRAPH.yaml`: serve an inference graph as one model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use oxserve_core::Error;
use oxserve_graph::GraphMetrics;
use oxserve_server::{Metrics, Registry, load_model_file, load_model_folder};

use crate::listen::ListenArgs;

#[derive(Args)]
pub struct RunArgs {
    /// The graph: a SeldonDeployment manifest, a KServe InferenceGraph or oxserve's native graph YAML.
    graph: PathBuf,
    #[command(flatten)]
    listen: ListenArgs,
    /// Path of libonnxruntime.so (default: found in the `onnxruntime` Python package); needed
    /// only when the graph has model files.
    #[arg(long, env = "ORT_DYLIB_PATH")]
    onnxruntime_lib: Option<PathBuf>,
}

/// Loads the graph, then serves it until SIGTERM. The graph is the server's only model, so
/// requests that name no model (Seldon's paths) reach it too.
pub fn run(args: RunArgs) -> Result<(), String> {
    args.listen.check()?;
    let spec = oxserve_graph::spec::load(&args.graph).map_err(|e| e.to_string())?;
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // Models' schedulers and remote units' connection pools live in the runtime.
    let _in_runtime = runtime.enter();
    let metrics = Arc::new(Metrics::new());
    // ONNX Runtime is looked for only when a model file needs it, so a graph of remote units
    // runs on a machine without it.
    let onnxruntime_loaded = std::cell::Cell::new(false);
    let load_model = |path: &Path, name: &str| {
        if !onnxruntime_loaded.get() {
            oxserve_onnx::init_onnxruntime(args.onnxruntime_lib.as_deref())?;
            onnxruntime_loaded.set(true);
        }
        if path.is_dir() {
            // A Seldon modelUri names the model's folder: it is read as a model repository's
            // folder, settings (batching, instances) included.
            return load_model_folder(path, &metrics)?.ok_or_else(|| {
                Error::invalid(format!(
                    "{}: no model here (model.onnx, model-settings.json or Triton's layout)",
                    path.display()
                ))
            });
        }
        load_model_file(path, name, &metrics)
    };
    let graph_metrics = GraphMetrics::new();
    let graph = oxserve_graph::assemble(&spec, &load_model, &graph_metrics).map_err(|e| e.to_string())?;
    for collector in graph_metrics.collectors() {
        metrics.register(collector).map_err(|e| e.to_string())?;
    }
    let registry = Registry::new(vec![graph], None).map_err(|e| e.to_string())?;
    let config = args.listen.config((None, None));
    let served = runtime.block_on(oxserve_server::serve(config, registry, metrics));
    runtime.shutdown_timeout(Duration::from_millis(100));
    served.map_err(|e| e.to_string())
}
