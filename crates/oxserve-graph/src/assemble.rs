//! From a [`GraphSpec`] to a running [`Graph`]: each node's unit is loaded, built or connected.

use std::path::Path;
use std::sync::Arc;

use oxserve_core::{Result, Unit};

use crate::adapt::ModelAsTransformer;
use crate::builtin;
use crate::deployment::Deployment;
use crate::graph::{Graph, Node};
use crate::metrics::GraphMetrics;
use crate::spec::{GraphSpec, InputStage, NodeSpec, UnitSpec};

/// Loads a model file as a unit named by the second argument; `oxserve run` passes the same
/// loader `oxserve serve` uses, so a graph's models get the scheduler and batching too.
pub type ModelLoader<'a> = dyn Fn(&Path, &str) -> Result<Arc<dyn Unit>> + 'a;

/// Builds the servable: the graph, or a [`Deployment`] of several when the file has several
/// predictors. Unit calls and routers' state are reported to `metrics`.
pub fn assemble(
    spec: &GraphSpec,
    load_model: &ModelLoader<'_>,
    metrics: &GraphMetrics,
) -> Result<Arc<dyn Unit>> {
    let mut serving = Vec::new();
    let mut shadow = None;
    for predictor in &spec.predictors {
        let graph = Graph::new(spec.name.clone(), node(&predictor.root, load_model, metrics)?);
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

fn node(spec: &NodeSpec, load_model: &ModelLoader<'_>, metrics: &GraphMetrics) -> Result<Node> {
    let children =
        spec.children.iter().map(|child| node(child, load_model, metrics)).collect::<Result<Vec<_>>>()?;
    let (unit, label) = match &spec.unit {
        UnitSpec::Model(path) => {
            let model = load_model(path, &spec.name).map_err(|e| e.context(&spec.at))?;
            // A model placed as a transformer transforms by predicting: there is no other call
            // a model file can answer.
            let transforms = spec.stages.input == Some(InputStage::TransformInput) || spec.stages.output;
            let unit: Arc<dyn Unit> =
                if transforms { Arc::new(ModelAsTransformer::new(model)) } else { model };
            (unit, path.display().to_string())
        }
        UnitSpec::Builtin(kind) => (builtin::build(*kind, spec, &metrics.routers)?, kind.name().to_string()),
        UnitSpec::Remote(remote) => {
            let unit = crate::remote::connect(&spec.name, remote).map_err(|e| e.context(&spec.at))?;
            (unit, remote.url())
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
        calls: metrics.unit(&spec.name),
    })
}
