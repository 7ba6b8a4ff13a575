//! Units built into oxserve: Seldon's `RANDOM_ABTEST` and average combiner, two multi-armed
//! bandit routers that learn from feedback (epsilon-greedy, Thompson sampling), and KServe's
//! `Splitter`, `Ensemble` and `Sequence` nodes.

mod ab_test;
mod average;
mod ensemble;
mod epsilon_greedy;
mod metrics;
mod reward;
mod sequence;
mod splitter;
mod thompson;

use std::sync::Arc;

use oxserve_core::{ModelMetadata, Result, Unit};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub(crate) use metrics::RouterMetrics;

use crate::spec::{Builtin, Parameters};

/// Builds the unit for a built-in node. `branches` are the node's children's names, in order:
/// routers check their parameters against them and label their metrics with them.
pub fn build(
    builtin: Builtin,
    node: &str,
    parameters: &Parameters,
    branches: &[String],
    metrics: &RouterMetrics,
) -> Result<Arc<dyn Unit>> {
    let metadata =
        ModelMetadata { name: node.to_string(), platform: builtin.name().into(), ..Default::default() };
    let metrics = metrics.for_router(node, branches);
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
            Arc::new(ensemble::Ensemble::new(metadata, branches.to_vec()))
        }
        Builtin::Sequence => {
            parameters.only(&[])?;
            Arc::new(sequence::Sequence::new(metadata))
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
