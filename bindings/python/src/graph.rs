//! `python -m oxserve --graph FILE`: an inference graph whose Python units (users' classes,
//! prepackaged servers) run in this process beside its ONNX models, built-in routers and remote
//! units.
//!
//! The graph file is read by the same `oxserve-graph` crate as `oxserve run`. Before serving, the
//! Python callback `build_unit` builds and loads a handler for each Python node, with the GIL held;
//! the executor then calls those handlers as it calls every other unit, on their own workers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use oxserve_core::{Error, Unit};
use oxserve_graph::spec::{Language, NodeSpec, UnitSpec};
use oxserve_graph::{GraphMetrics, assemble};
use oxserve_server::{Registry, foreign_model, load_model_path};
use pyo3::prelude::*;

use crate::{Declared, ServerError, declare, schedule, serve_registry, server_config};

/// What Python builds for a node, as `build_unit`'s second and third arguments: the kind
/// (`class`, `server` or `folder`), and the class name, the server's implementation or the
/// folder.
struct PythonNode {
    kind: &'static str,
    target: String,
    /// The class's import folders; a server's and a folder's model folder.
    paths: Vec<PathBuf>,
}

/// The Python unit a node needs, if any: a Python class, a prepackaged server, or a model folder
/// whose `model-settings.json` names a Python server.
fn python_unit(node: &NodeSpec) -> oxserve_core::Result<Option<PythonNode>> {
    Ok(match &node.unit {
        UnitSpec::Class(class) if class.language == Language::Python => {
            Some(PythonNode { kind: "class", target: class.class.clone(), paths: class.classpath.clone() })
        }
        UnitSpec::Server { implementation, folder } => {
            Some(PythonNode { kind: "server", target: implementation.clone(), paths: vec![folder.clone()] })
        }
        UnitSpec::Model(path) if path.is_dir() => foreign_model(path)?.map(|(_, implementation)| {
            PythonNode { kind: "folder", target: implementation, paths: vec![path.clone()] }
        }),
        _ => None,
    })
}

/// Serves the graph in `graph` until SIGTERM or Ctrl-C, with the GIL released.
///
/// `build_unit(node, kind, target, paths, parameters_json, operations)` returns the loaded handler
/// of a Python node (see [`PythonNode`]); `operations` are the calls its place in the graph makes,
/// which the handler must answer. A failure there, or a bad graph file, raises `ServerError`
/// naming the node.
#[pyfunction]
#[pyo3(signature = (
    graph, build_unit, *, host, http_port, grpc_port, reuse_port=false, max_request_size=64 * 1024 * 1024,
    drain_timeout=30.0, log_level="info"
))]
#[allow(clippy::too_many_arguments)]
pub fn serve_graph(
    py: Python<'_>,
    graph: PathBuf,
    build_unit: Bound<'_, PyAny>,
    host: &str,
    http_port: u16,
    grpc_port: u16,
    reuse_port: bool,
    max_request_size: usize,
    drain_timeout: f64,
    log_level: &str,
) -> PyResult<()> {
    let config = server_config(host, http_port, grpc_port, reuse_port, max_request_size, drain_timeout)?;
    let spec = oxserve_graph::spec::load(&graph).map_err(|e| ServerError::new_err(e.message))?;
    // Handlers by node position: names are unique within one predictor only.
    let mut declared: HashMap<String, Declared> = HashMap::new();
    for node in spec.nodes() {
        let fail =
            |message: String| ServerError::new_err(format!("{}: node '{}': {message}", node.at, node.name));
        let Some(unit) = python_unit(node).map_err(|e| fail(e.message))? else { continue };
        let parameters = serde_json::to_string(node.parameters.values()).map_err(|e| fail(e.to_string()))?;
        let arguments =
            (&node.name, unit.kind, &unit.target, &unit.paths, parameters, node.stages.operations());
        let handler = build_unit.call1(arguments).map_err(|e| fail(e.value(py).to_string()))?;
        declared.insert(node.at.clone(), declare(&handler)?);
    }
    oxserve_foreign::init_logging(log_level);
    serve_registry(py, config, move |metrics| {
        let declared = RefCell::new(declared);
        let host = |node: &NodeSpec| -> oxserve_core::Result<Arc<dyn Unit>> {
            if let Some(handler) = declared.borrow_mut().remove(&node.at) {
                return schedule(handler, metrics);
            }
            match &node.unit {
                UnitSpec::Model(path) => load_model_path(path, &node.name, metrics),
                UnitSpec::Class(class) => Err(Error::invalid(format!(
                    "node '{}' is the {} class {}, which Python cannot host: serve it as a remote unit",
                    node.name,
                    class.language.name(),
                    class.class
                ))),
                _ => Err(Error::internal(format!("node '{}' is not a local unit", node.name))),
            }
        };
        let graph_metrics = GraphMetrics::new();
        let graph = assemble(&spec, &host, &graph_metrics)?;
        for collector in graph_metrics.collectors() {
            metrics.register(collector)?;
        }
        Registry::new(vec![graph], None)
    })
}
