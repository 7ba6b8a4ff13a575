//! What a graph publishes on `/metrics`: every unit call's latency and outcome (Seldon's
//! executor reports the same per node), and the routers' state.

use std::future::Future;
use std::time::Instant;

use oxserve_core::{ErrorKind, Result};
use prometheus::core::Collector;
use prometheus::{HistogramOpts, HistogramVec};

use crate::builtin::RouterMetrics;

/// Latency buckets in seconds, from 50 µs (an in-process unit) to 10 s.
const BUCKETS: [f64; 17] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];

/// A graph's metric families; register [`GraphMetrics::collectors`] with the server's registry.
#[derive(Clone)]
pub struct GraphMetrics {
    pub(crate) routers: RouterMetrics,
    calls: HistogramVec,
}

impl GraphMetrics {
    pub fn new() -> GraphMetrics {
        let opts = HistogramOpts::new(
            "oxserve_graph_unit_call_seconds",
            "Time of each call the graph made to a unit (predict, transform_input, route, …), by outcome.",
        )
        .buckets(BUCKETS.to_vec());
        GraphMetrics {
            routers: RouterMetrics::new(),
            calls: HistogramVec::new(opts, &["unit", "call", "outcome"]).expect("valid metric"),
        }
    }

    /// Every family, for a server's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        let mut collectors = self.routers.collectors();
        collectors.push(Box::new(self.calls.clone()));
        collectors
    }

    /// The timer of the calls to `unit`.
    pub(crate) fn unit(&self, unit: &str) -> UnitCalls {
        UnitCalls { calls: self.calls.clone(), unit: unit.to_string() }
    }
}

impl Default for GraphMetrics {
    fn default() -> Self {
        GraphMetrics::new()
    }
}

/// Times the calls to one unit.
pub(crate) struct UnitCalls {
    calls: HistogramVec,
    unit: String,
}

impl UnitCalls {
    /// Runs `call` (named `name` in the metric) and records how long it took and how it ended.
    pub async fn time<T>(&self, name: &str, call: impl Future<Output = Result<T>>) -> Result<T> {
        let start = Instant::now();
        let result = call.await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => outcome(e.kind),
        };
        self.calls
            .with_label_values(&[self.unit.as_str(), name, outcome])
            .observe(start.elapsed().as_secs_f64());
        result
    }
}

fn outcome(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArgument => "invalid_argument",
        ErrorKind::NotFound => "not_found",
        ErrorKind::TooLarge => "too_large",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::DeadlineExceeded => "deadline_exceeded",
        ErrorKind::Unimplemented => "unimplemented",
        ErrorKind::Internal => "internal",
    }
}
