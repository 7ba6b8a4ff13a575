//! Prometheus metrics: per model, protocol and outcome; plus the process's own.

use std::time::Duration;

use oxserve_core::ErrorKind;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

/// The protocol a request arrived in, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V2Rest,
    V2Grpc,
    SeldonRest,
    SeldonGrpc,
    V1Rest,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::V2Rest => "v2_rest",
            Protocol::V2Grpc => "v2_grpc",
            Protocol::SeldonRest => "seldon_rest",
            Protocol::SeldonGrpc => "seldon_grpc",
            Protocol::V1Rest => "v1_rest",
        }
    }
}

/// The server's metrics registry, rendered at `GET /metrics`.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
}

const LABELS: [&str; 3] = ["model", "protocol", "outcome"];

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("oxserve_requests_total", "Inference requests by model, protocol and outcome."),
            &LABELS,
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "oxserve_request_duration_seconds",
                "End-to-end inference latency (decode, run, encode) by model, protocol and outcome.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                5.0, 10.0,
            ]),
            &LABELS,
        )
        .expect("valid metric");
        registry.register(Box::new(requests.clone())).expect("registered once");
        registry.register(Box::new(duration.clone())).expect("registered once");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("registered once");
        Metrics { registry, requests, duration }
    }

    /// Records one inference call. `model` is empty when the request named no known model, so
    /// that arbitrary names from clients cannot grow the label set without bound.
    pub fn record(&self, protocol: Protocol, model: &str, failure: Option<ErrorKind>, elapsed: Duration) {
        let outcome = match failure {
            None => "success",
            Some(kind) if kind.http_status() < 500 => "client_error",
            Some(_) => "server_error",
        };
        let labels = [model, protocol.label(), outcome];
        self.requests.with_label_values(&labels).inc();
        self.duration.with_label_values(&labels).observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_outcomes_and_renders_text() {
        let m = Metrics::new();
        m.record(Protocol::V2Rest, "iris", None, Duration::from_millis(2));
        m.record(Protocol::V2Rest, "iris", Some(ErrorKind::InvalidArgument), Duration::from_millis(1));
        m.record(Protocol::SeldonGrpc, "", Some(ErrorKind::Internal), Duration::from_millis(1));
        let text = m.render();
        assert!(
            text.contains(r#"oxserve_requests_total{model="iris",outcome="success",protocol="v2_rest"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"outcome="client_error""#));
        assert!(
            text.contains(
                r#"oxserve_requests_total{model="",outcome="server_error",protocol="seldon_grpc"} 1"#
            )
        );
        assert!(text.contains("oxserve_request_duration_seconds_bucket"));
        assert!(text.contains("process_resident_memory_bytes"));
    }
}
