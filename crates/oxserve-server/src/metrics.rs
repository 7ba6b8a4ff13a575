//! Prometheus metrics: requests per model, protocol and outcome; each model's scheduler (queue,
//! batches, compute, also under Triton's names); and the process's own.

use std::sync::Arc;
use std::time::Duration;

use oxserve_batch::{BatchReport, Rejection, SchedulerObserver};
use oxserve_core::ErrorKind;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

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
///
/// Two name sets describe the scheduler: `oxserve_*` histograms and gauges, and Triton's
/// `nv_inference_*` counters (cumulative microseconds, labels `model` and `version`) so that an
/// existing Triton dashboard keeps working. Autoscaling reads the queue depth and in-flight gauges.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    scheduler: SchedulerFamilies,
}

const LABELS: [&str; 3] = ["model", "protocol", "outcome"];
const MODEL: [&str; 1] = ["model"];
const TRITON: [&str; 2] = ["model", "version"];

/// Latency buckets in seconds, from 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The scheduler's metric families, one series per model.
struct SchedulerFamilies {
    queue_seconds: HistogramVec,
    compute_seconds: HistogramVec,
    batch_rows: HistogramVec,
    queue_depth: IntGaugeVec,
    in_flight: IntGaugeVec,
    rejected: IntCounterVec,
    nv_success: IntCounterVec,
    nv_failure: IntCounterVec,
    nv_count: IntCounterVec,
    nv_exec_count: IntCounterVec,
    nv_pending: IntGaugeVec,
    nv_request_us: IntCounterVec,
    nv_queue_us: IntCounterVec,
    nv_compute_us: IntCounterVec,
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: Vec<f64>,
    labels: &[&str],
) -> HistogramVec {
    let metric =
        HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("registered once");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("registered once");
    metric
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let requests = counter(
            &r,
            "oxserve_requests_total",
            "Inference requests by model, protocol and outcome.",
            &LABELS,
        );
        let duration = histogram(
            &r,
            "oxserve_request_duration_seconds",
            "End-to-end inference latency (decode, queue, run, encode) by model, protocol and outcome.",
            LATENCY_BUCKETS.to_vec(),
            &LABELS,
        );
        let scheduler = SchedulerFamilies {
            queue_seconds: histogram(
                &r,
                "oxserve_queue_duration_seconds",
                "Time a request waited for a batch to start.",
                LATENCY_BUCKETS.to_vec(),
                &MODEL,
            ),
            compute_seconds: histogram(
                &r,
                "oxserve_compute_duration_seconds",
                "Time a batch spent in the model.",
                LATENCY_BUCKETS.to_vec(),
                &MODEL,
            ),
            batch_rows: histogram(
                &r,
                "oxserve_batch_size",
                "Rows per executed batch.",
                vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                &MODEL,
            ),
            queue_depth: gauge(&r, "oxserve_queue_depth", "Requests waiting for the model.", &MODEL),
            in_flight: gauge(&r, "oxserve_inflight_requests", "Requests running in the model now.", &MODEL),
            rejected: counter(
                &r,
                "oxserve_rejected_requests_total",
                "Requests that ended without running, by reason.",
                &["model", "reason"],
            ),
            nv_success: counter(
                &r,
                "nv_inference_request_success",
                "Successful inference requests (Triton's name).",
                &TRITON,
            ),
            nv_failure: counter(
                &r,
                "nv_inference_request_failure",
                "Failed inference requests by reason (Triton's name).",
                &["model", "version", "reason"],
            ),
            nv_count: counter(
                &r,
                "nv_inference_count",
                "Inferences performed: rows, a batch of n counting n (Triton's name).",
                &TRITON,
            ),
            nv_exec_count: counter(
                &r,
                "nv_inference_exec_count",
                "Model executions: batches (Triton's name).",
                &TRITON,
            ),
            nv_pending: gauge(
                &r,
                "nv_inference_pending_request_count",
                "Requests waiting for the model (Triton's name).",
                &TRITON,
            ),
            nv_request_us: counter(
                &r,
                "nv_inference_request_duration_us",
                "Cumulative queue and compute time of requests, microseconds (Triton's name).",
                &TRITON,
            ),
            nv_queue_us: counter(
                &r,
                "nv_inference_queue_duration_us",
                "Cumulative queue time of requests, microseconds (Triton's name).",
                &TRITON,
            ),
            nv_compute_us: counter(
                &r,
                "nv_inference_compute_infer_duration_us",
                "Cumulative compute time of requests, microseconds (Triton's name).",
                &TRITON,
            ),
        };
        #[cfg(target_os = "linux")]
        r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("registered once");
        Metrics { registry: r, requests, duration, scheduler }
    }

    /// The observer a model's scheduler reports to, with its label values resolved once.
    pub fn scheduler_observer(&self, model: &str, version: &str) -> Arc<dyn SchedulerObserver> {
        let f = &self.scheduler;
        let m = [model];
        let t = [model, version];
        Arc::new(ModelObserver {
            queue_seconds: f.queue_seconds.with_label_values(&m),
            compute_seconds: f.compute_seconds.with_label_values(&m),
            batch_rows: f.batch_rows.with_label_values(&m),
            queue_depth: f.queue_depth.with_label_values(&m),
            in_flight: f.in_flight.with_label_values(&m),
            rejected: [Rejection::QueueFull, Rejection::TimedOut, Rejection::Cancelled]
                .map(|r| f.rejected.with_label_values(&[model, r.as_str()])),
            nv_success: f.nv_success.with_label_values(&t),
            nv_failure_backend: f.nv_failure.with_label_values(&[model, version, "BACKEND"]),
            nv_failure_rejected: f.nv_failure.with_label_values(&[model, version, "REJECTED"]),
            nv_failure_canceled: f.nv_failure.with_label_values(&[model, version, "CANCELED"]),
            nv_count: f.nv_count.with_label_values(&t),
            nv_exec_count: f.nv_exec_count.with_label_values(&t),
            nv_pending: f.nv_pending.with_label_values(&t),
            nv_request_us: f.nv_request_us.with_label_values(&t),
            nv_queue_us: f.nv_queue_us.with_label_values(&t),
            nv_compute_us: f.nv_compute_us.with_label_values(&t),
        })
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

/// One model's scheduler metrics. Queue time is counted per request when its batch starts;
/// compute time per request when its batch ends, so `nv_inference_request_duration_us` is their
/// sum, as in Triton (decode and encode are in `oxserve_request_duration_seconds`).
struct ModelObserver {
    queue_seconds: Histogram,
    compute_seconds: Histogram,
    batch_rows: Histogram,
    queue_depth: IntGauge,
    in_flight: IntGauge,
    /// By [`Rejection`]: queue full, timed out, cancelled.
    rejected: [IntCounter; 3],
    nv_success: IntCounter,
    nv_failure_backend: IntCounter,
    nv_failure_rejected: IntCounter,
    nv_failure_canceled: IntCounter,
    nv_count: IntCounter,
    nv_exec_count: IntCounter,
    nv_pending: IntGauge,
    nv_request_us: IntCounter,
    nv_queue_us: IntCounter,
    nv_compute_us: IntCounter,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl SchedulerObserver for ModelObserver {
    fn rejected(&self, reason: Rejection) {
        let index = match reason {
            Rejection::QueueFull => 0,
            Rejection::TimedOut => 1,
            Rejection::Cancelled => 2,
        };
        self.rejected[index].inc();
        match reason {
            Rejection::Cancelled => self.nv_failure_canceled.inc(),
            Rejection::QueueFull | Rejection::TimedOut => self.nv_failure_rejected.inc(),
        }
    }

    fn dequeued(&self, waited: Duration) {
        self.queue_seconds.observe(waited.as_secs_f64());
        self.nv_queue_us.inc_by(micros(waited));
        self.nv_request_us.inc_by(micros(waited));
    }

    fn batch_finished(&self, report: &BatchReport) {
        self.compute_seconds.observe(report.compute.as_secs_f64());
        self.batch_rows.observe(report.rows as f64);
        self.nv_exec_count.inc();
        let compute = micros(report.compute).saturating_mul(report.requests as u64);
        self.nv_compute_us.inc_by(compute);
        self.nv_request_us.inc_by(compute);
        if report.success {
            self.nv_success.inc_by(report.requests as u64);
            self.nv_count.inc_by(report.rows as u64);
        } else {
            self.nv_failure_backend.inc_by(report.requests as u64);
        }
    }

    fn queue_depth(&self, depth: usize) {
        let depth = i64::try_from(depth).unwrap_or(i64::MAX);
        self.queue_depth.set(depth);
        self.nv_pending.set(depth);
    }

    fn in_flight(&self, _batches: usize, requests: usize) {
        self.in_flight.set(i64::try_from(requests).unwrap_or(i64::MAX));
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
