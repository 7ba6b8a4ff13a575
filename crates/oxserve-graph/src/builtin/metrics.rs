//! Router state as Prometheus metrics, so that an operator watches a bandit learn.

use oxserve_core::{Error, Result};
use prometheus::core::Collector;
use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts};

/// The metric families of every router in a graph, labelled by router and branch.
#[derive(Clone)]
pub struct RouterMetrics {
    routed: IntCounterVec,
    successes: IntCounterVec,
    failures: IntCounterVec,
    value: GaugeVec,
    best: IntGaugeVec,
}

impl RouterMetrics {
    pub fn new() -> RouterMetrics {
        let labels = ["router", "branch"];
        RouterMetrics {
            routed: IntCounterVec::new(
                Opts::new("oxserve_router_routed_total", "Requests a graph router sent to each branch."),
                &labels,
            )
            .expect("valid metric"),
            successes: IntCounterVec::new(
                Opts::new("oxserve_router_successes_total", "Rewarded rows fed back to each router branch."),
                &labels,
            )
            .expect("valid metric"),
            failures: IntCounterVec::new(
                Opts::new("oxserve_router_failures_total", "Unrewarded rows fed back to each router branch."),
                &labels,
            )
            .expect("valid metric"),
            value: GaugeVec::new(
                Opts::new(
                    "oxserve_router_branch_value",
                    "A bandit router's estimate of each branch's success rate.",
                ),
                &labels,
            )
            .expect("valid metric"),
            best: IntGaugeVec::new(
                Opts::new("oxserve_router_best_branch", "The branch an epsilon-greedy router exploits."),
                &["router"],
            )
            .expect("valid metric"),
        }
    }

    /// The families, for a server's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.routed.clone()),
            Box::new(self.successes.clone()),
            Box::new(self.failures.clone()),
            Box::new(self.value.clone()),
            Box::new(self.best.clone()),
        ]
    }

    /// The series of one router.
    pub(super) fn for_router(&self, router: &str, branches: &[String]) -> Router {
        Router { families: self.clone(), router: router.to_string(), branches: branches.to_vec() }
    }
}

/// One router's view of [`RouterMetrics`].
pub(super) struct Router {
    families: RouterMetrics,
    router: String,
    branches: Vec<String>,
}

impl Router {
    fn labels(&self, branch: usize) -> [&str; 2] {
        [&self.router, self.branches.get(branch).map_or("?", String::as_str)]
    }

    pub fn routed(&self, branch: usize) {
        self.families.routed.with_label_values(&self.labels(branch)).inc();
    }

    pub fn rewarded(&self, branch: usize, successes: u64, failures: u64) {
        self.families.successes.with_label_values(&self.labels(branch)).inc_by(successes);
        self.families.failures.with_label_values(&self.labels(branch)).inc_by(failures);
    }

    pub fn value(&self, branch: usize, value: f64) {
        self.families.value.with_label_values(&self.labels(branch)).set(value);
    }

    pub fn best(&self, branch: usize) {
        self.families.best.with_label_values(&[&self.router]).set(branch as i64);
    }

    /// The branch `routing` names, checked to be one of this router's.
    pub fn branch(&self, routing: i32) -> Result<usize> {
        usize::try_from(routing).ok().filter(|&b| b < self.branches.len()).ok_or_else(|| {
            Error::invalid(format!(
                "response.meta.routing.{}: {routing} is not a branch of router '{}' (0 to {})",
                self.router,
                self.router,
                self.branches.len().saturating_sub(1)
            ))
        })
    }

    pub fn branch_count(&self) -> usize {
        self.branches.len()
    }

    pub fn name(&self) -> &str {
        &self.router
    }
}
