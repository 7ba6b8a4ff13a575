//! `oxserve run GRAPH.yaml`: serve an inference graph as one model.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use oxserve_core::{Error, Unit};
use oxserve_graph::spec::{GraphSpec, Language, NodeSpec, UnitSpec};
use oxserve_graph::{GraphMetrics, Host};
use oxserve_server::{Metrics, Registry, foreign_model, load_model_path};

use crate::listen::ListenArgs;
use crate::python_host::Handover;

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
    /// Python interpreter for a graph with Python classes or prepackaged Python servers, which has
    /// the oxserve package (default: $VIRTUAL_ENV's, a `.venv` above this executable, else python3).
    #[arg(long, env = "OXSERVE_PYTHON")]
    python: Option<PathBuf>,
}

/// Loads the graph, then serves it until SIGTERM. The graph is the server's only model, so
/// requests that name no model (Seldon's paths) reach it too. A graph with Python units is handed
/// to the Python package, which runs the same executor with them in its process.
pub fn run(args: RunArgs) -> Result<(), String> {
    args.listen.check()?;
    let spec = oxserve_graph::spec::load(&args.graph).map_err(|e| e.to_string())?;
    let foreign = foreign_units(&spec)?;
    match foreign.first().map(|(_, _, language)| *language) {
        Some(Language::Python) => {
            let named: Vec<(String, String)> = foreign
                .into_iter()
                .filter(|(_, _, language)| *language == Language::Python)
                .map(|(name, what, _)| (name, what))
                .collect();
            let handover = Handover {
                source: vec!["--graph".into(), args.graph.clone().into()],
                foreign: &named,
                listen: &args.listen,
                onnxruntime_lib: args.onnxruntime_lib.as_deref(),
                python: args.python.as_deref(),
            };
            return Err(handover.exec());
        }
        Some(Language::Java) => {
            let (name, class, _) = &foreign[0];
            return Err(format!(
                "node '{name}' is the Java class {class}, which runs in a JVM: serve the graph with \
                 `java -jar oxserve-{version}.jar --graph {}` (the jar of the io.oxserve:oxserve Maven \
                 artifact)",
                args.graph.display(),
                version = env!("CARGO_PKG_VERSION")
            ));
        }
        None => {}
    }
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // Models' schedulers and remote units' connection pools live in the runtime.
    let _in_runtime = runtime.enter();
    let metrics = Arc::new(Metrics::new());
    let host = ModelHost {
        metrics: &metrics,
        onnxruntime_lib: args.onnxruntime_lib.as_deref(),
        loaded: Cell::new(false),
    };
    let graph_metrics = GraphMetrics::new();
    let graph = oxserve_graph::assemble(&spec, &host, &graph_metrics).map_err(|e| e.to_string())?;
    for collector in graph_metrics.collectors() {
        metrics.register(collector).map_err(|e| e.to_string())?;
    }
    let registry = Registry::new(vec![graph], None).map_err(|e| e.to_string())?;
    let config = args.listen.config((None, None));
    let served = runtime.block_on(oxserve_server::serve(config, registry, metrics));
    runtime.shutdown_timeout(Duration::from_millis(100));
    served.map_err(|e| e.to_string())
}

/// The nodes that another language must host, as (node, what it runs, language): classes,
/// prepackaged servers, and model folders whose settings name a Python server. The first decides
/// the host; the spec has checked that the classes share one language, and a host refuses, by
/// node, any other unit it cannot run (a Python model folder beside Java classes).
fn foreign_units(spec: &GraphSpec) -> Result<Vec<(String, String, Language)>, String> {
    let mut foreign = Vec::new();
    for node in spec.nodes() {
        let (what, language) = match &node.unit {
            UnitSpec::Class(class) => (class.class.clone(), class.language),
            UnitSpec::Server { implementation, .. } => (implementation.clone(), Language::Python),
            UnitSpec::Model(path) if path.is_dir() => {
                match foreign_model(path).map_err(|e| format!("{}: {e}", node.at))? {
                    Some((_, implementation)) => (implementation, Language::Python),
                    None => continue,
                }
            }
            _ => continue,
        };
        foreign.push((node.name.clone(), what, language));
    }
    Ok(foreign)
}

/// Runs a graph's model files. ONNX Runtime is looked for only when a model needs it, so a graph
/// of remote units runs on a machine without it.
struct ModelHost<'a> {
    metrics: &'a Metrics,
    onnxruntime_lib: Option<&'a Path>,
    loaded: Cell<bool>,
}

impl Host for ModelHost<'_> {
    fn load(&self, node: &NodeSpec) -> oxserve_core::Result<Arc<dyn Unit>> {
        let UnitSpec::Model(path) = &node.unit else {
            return Err(Error::internal(format!(
                "node '{}': `oxserve run` hosts model files only",
                node.name
            )));
        };
        if !self.loaded.get() {
            oxserve_onnx::init_onnxruntime(self.onnxruntime_lib)?;
            self.loaded.set(true);
        }
        load_model_path(path, &node.name, self.metrics)
    }
}
