//! From a [`GraphSpec`] to a running [`Graph`]: each node's unit is loaded, built or connected.

use std::sync::Arc;

use oxserve_core::{Result, Unit};

use crate::adapt::ModelAsTransformer;
use crate::builtin;
use crate::deployment::Deployment;
use crate::graph::{Graph, Node};
use crate::metrics::GraphMetrics;
use crate::spec::{GraphSpec, InputStage, NodeSpec, UnitSpec};

/// What runs a graph's units that live in this process besides the built-in ones: `oxserve run`
/// loads model files itself, and the hosts of a language (the Python package, the JVM) also build
/// that language's classes and prepackaged servers.
pub trait Host {
    /// The unit of a node whose [`UnitSpec`] is `Model`, `Server` or `Class`, named as the node.
    /// Models get the scheduler and batching of `oxserve serve`.
    fn load(&self, node: &NodeSpec) -> Result<Arc<dyn Unit>>;
}

/// A function of the node is a host: tests and simple embedders need no type of their own.
impl<F: Fn(&NodeSpec) -> Result<Arc<dyn Unit>>> Host for F {
    fn load(&self, node: &NodeSpec) -> Result<Arc<dyn Unit>> {
        self(node)
    }
}

/// Builds the servable: the graph, or a [`Deployment`] of several when the file has several
/// predictors. Unit calls and routers' state are reported to `metrics`.
pub fn assemble(spec: &GraphSpec, host: &dyn Host, metrics: &GraphMetrics) -> Result<Arc<dyn Unit>> {
    let mut serving = Vec::new();
    let mut shadow = None;
    for predictor in &spec.predictors {
        let graph = Graph::new(spec.name.clone(), node(&predictor.root, host, metrics)?);
        if predictor.shadow {
            shadow = Some(graph);
        } else {
            serving.push((predictor.traffic, graph));
        }
    }
    if serving.len() == 1 && shadow.is_none() {
        let (_, graph) = serving.pop().expect("one predictor");
        return Ok(Arc::new(graph));
    }
    Ok(Arc::new(Deployment::new(serving, shadow)?))
}

fn node(spec: &NodeSpec, host: &dyn Host, metrics: &GraphMetrics) -> Result<Node> {
    let children =
        spec.children.iter().map(|child| node(child, host, metrics)).collect::<Result<Vec<_>>>()?;
    let (unit, label) = match &spec.unit {
        UnitSpec::Model(_) | UnitSpec::Server { .. } => {
            let model = host.load(spec).map_err(|e| e.context(&spec.at))?;
            // A model placed as a transformer transforms by predicting: there is no other call
            // a model file or a prepackaged server can answer.
            let transforms = spec.stages.input == Some(InputStage::TransformInput) || spec.stages.output;
            let unit: Arc<dyn Unit> =
                if transforms { Arc::new(ModelAsTransformer::new(model)) } else { model };
            (unit, label(&spec.unit))
        }
        UnitSpec::Class(_) => (host.load(spec).map_err(|e| e.context(&spec.at))?, label(&spec.unit)),
        UnitSpec::Builtin(kind) => (builtin::build(*kind, spec, &metrics.routers)?, label(&spec.unit)),
        UnitSpec::Remote(remote) => {
            let unit = crate::remote::connect(&spec.name, remote).map_err(|e| e.context(&spec.at))?;
            (unit, label(&spec.unit))
        }
    };
    Ok(Node {
        name: spec.name.clone(),
        stages: spec.stages,
        unit,
        label,
        children,
        from_request: spec.from_request,
        condition: spec.condition.clone(),
        soft: spec.soft,
        calls: metrics.unit(&spec.name),
    })
}

/// What `meta.requestPath` records for a unit of this process.
fn label(unit: &UnitSpec) -> String {
    match unit {
        UnitSpec::Model(path) => path.display().to_string(),
        UnitSpec::Server { implementation, folder } => format!("{implementation}:{}", folder.display()),
        UnitSpec::Class(class) => format!("{}:{}", class.language.name().to_lowercase(), class.class),
        UnitSpec::Builtin(builtin) => builtin.name().to_string(),
        UnitSpec::Remote(remote) => remote.url(),
    }
}
