//! Units built into oxserve: Seldon's `RANDOM_ABTEST` and average combiner, two multi-armed
//! bandit routers that learn from feedback (epsilon-greedy, Thompson sampling), and KServe's
//! `Splitter`, `Ensemble`, `Sequence` and `Switch` nodes.

mod ab_test;
mod average;
mod ensemble;
mod epsilon_greedy;
mod metrics;
mod reward;
mod sequence;
mod splitter;
mod switch;
mod thompson;

use std::sync::Arc;

use oxserve_core::{ModelMetadata, Result, Unit};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub(crate) use metrics::RouterMetrics;

use crate::spec::{Builtin, NodeSpec, Parameters};

/// Builds the unit for a built-in node. Routers check their parameters against the node's
/// children and label their metrics with the children's names; a switch takes their conditions.
pub fn build(builtin: Builtin, node: &NodeSpec, metrics: &RouterMetrics) -> Result<Arc<dyn Unit>> {
    let (parameters, name) = (&node.parameters, node.name.as_str());
    let branches: Vec<String> = node.children.iter().map(|c| c.name.clone()).collect();
    let metadata =
        ModelMetadata { name: name.to_string(), platform: builtin.name().into(), ..Default::default() };
    let metrics = metrics.for_router(name, &branches);
    Ok(match builtin {
        Builtin::RandomAbTest => Arc::new(ab_test::RandomAbTest::new(metadata, parameters, metrics)?),
        Builtin::AverageCombiner => {
            parameters.only(&[])?;
            Arc::new(average::AverageCombiner::new(metadata))
        }
        Builtin::EpsilonGreedy => {
            Arc::new(epsilon_greedy::EpsilonGreedy::new(metadata, parameters, metrics)?)
        }
        Builtin::ThompsonSampling => {
            Arc::new(thompson::ThompsonSampling::new(metadata, parameters, metrics)?)
        }
        Builtin::Splitter => Arc::new(splitter::Splitter::new(metadata, parameters, metrics)?),
        Builtin::Ensemble => {
            parameters.only(&[])?;
            Arc::new(ensemble::Ensemble::new(metadata, branches))
        }
        Builtin::Sequence => {
            parameters.only(&[])?;
            Arc::new(sequence::Sequence::new(metadata))
        }
        Builtin::Switch => {
            parameters.only(&[])?;
            // Every child has one: the spec's check refuses a switch step without.
            let conditions = node.children.iter().filter_map(|c| c.condition.clone()).collect();
            Arc::new(switch::Switch::new(metadata, conditions, metrics))
        }
    })
}

/// The random source of a router: seeded by its `seed` parameter for reproducible runs, else
/// from the operating system.
fn rng(parameters: &Parameters) -> Result<StdRng> {
    Ok(match parameters.u64("seed")? {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    })
}

/// Reads `n_branches`, which Seldon's bandit routers require, and checks it against the children.
fn n_branches(parameters: &Parameters, branches: usize) -> Result<usize> {
    let n = parameters
        .u64("n_branches")?
        .ok_or_else(|| parameters.error("n_branches", "required: the number of children"))?;
    if n as usize != branches || n == 0 {
        return Err(parameters.error("n_branches", format!("is {n} but the node has {branches} children")));
    }
    Ok(branches)
}

/// Parameters Seldon's bandit routers take that change nothing here: `verbose` and `history`
/// (logging) and `branch_names` (oxserve names branches after the children).
const SELDON_COSMETIC: [&str; 3] = ["verbose", "history", "branch_names"];
