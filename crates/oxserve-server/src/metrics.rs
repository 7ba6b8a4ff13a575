//! Prometheus metrics: requests per model, protocol and outcome; each model's scheduler (queue,
//! batches, compute, also under Triton's names); the custom metrics units report in Seldon's
//! `meta.metrics`; and the process's own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use oxserve_batch::{BatchReport, Rejection, SchedulerObserver};
use oxserve_core::{Error, ErrorKind, Metric, MetricKind, Result};
use oxserve_protocol::seldon::component::Answer;
use prometheus::{
    CounterVec, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder, proto,
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
    units: UnitMetrics,
    feedback: CounterVec,
    feedback_reward: CounterVec,
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

fn float_counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> CounterVec {
    let metric = CounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("registered once");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("registered once");
    metric
}

impl Metrics {
    /// The server's metrics, with units' custom metrics kept in Seldon answers unless
    /// `INCLUDE_METRICS_IN_CLIENT_RESPONSE` says otherwise (Seldon's wrapper reads the same
    /// variable; `1`, `true` and `t` mean true, and so does leaving it unset).
    pub fn new() -> Metrics {
        let include = std::env::var("INCLUDE_METRICS_IN_CLIENT_RESPONSE")
            .map_or(true, |v| ["1", "true", "t"].iter().any(|t| v.eq_ignore_ascii_case(t)));
        Metrics::with_unit_metrics_in_answers(include)
    }

    /// The server's metrics; `include` says whether units' custom metrics stay in the Seldon
    /// answers that carried them or are only published here.
    pub fn with_unit_metrics_in_answers(include: bool) -> Metrics {
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
        let units = UnitMetrics {
            families: Mutex::default(),
            include_in_answers: include,
            timer_buckets: timer_buckets(),
            dropped: counter(
                &r,
                "oxserve_unit_metrics_dropped_total",
                "Custom metric updates dropped because the series limit was reached.",
                &[],
            )
            .with_label_values::<&str>(&[]),
            warned: AtomicBool::new(false),
        };
        #[cfg(target_os = "linux")]
        r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("registered once");
        let feedback_labels = [MODEL_LABEL, METHOD_LABEL];
        let feedback = float_counter(
            &r,
            "seldon_api_model_feedback_total",
            "Feedback with a reward, by unit (Seldon's name).",
            &feedback_labels,
        );
        let feedback_reward = float_counter(
            &r,
            "seldon_api_model_feedback_reward_total",
            "Sum of feedback rewards, by unit (Seldon's name).",
            &feedback_labels,
        );
        Metrics { registry: r, requests, duration, scheduler, units, feedback, feedback_reward }
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

    /// Publishes the custom metrics `model`'s unit reported in a Seldon `answer` (the ones from
    /// [`Answer::own_metrics_from`] on; those before came from the caller and are not the unit's
    /// to report), labelled with their tags, `model_name` and Seldon's `method`. Unless answers
    /// are to include them, they are then taken out of the answer.
    ///
    /// A metric Prometheus cannot take is the unit's fault: an internal error naming the field
    /// (`meta.metrics[2].key: …`), and none of the answer's metrics is published.
    pub fn publish_unit_metrics(&self, model: &str, method: &str, answer: &mut Answer) -> Result<()> {
        let metrics = &mut answer.response.meta.metrics;
        let from = answer.own_metrics_from.min(metrics.len());
        self.units.record(model, method, &metrics[from..], from)?;
        if !self.units.include_in_answers {
            metrics.truncate(from);
        }
        Ok(())
    }

    /// Counts a feedback with a positive reward for `model`'s unit, as Seldon's wrapper does (a
    /// zero reward is not counted; a counter cannot take a negative one).
    pub fn record_reward(&self, model: &str, reward: f64) {
        if reward.is_finite() && reward > 0.0 {
            let labels = [model, "feedback"];
            self.feedback.with_label_values(&labels).inc();
            self.feedback_reward.with_label_values(&labels).inc_by(reward);
        }
    }

    /// Publishes families that another crate keeps, such as a graph's router state.
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) -> Result<()> {
        self.registry.register(collector).map_err(|e| Error::internal(format!("cannot publish metrics: {e}")))
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        families.extend(self.units.families());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        TextEncoder::new().encode(&families, &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// Most distinct custom series (metric name and label values) kept. A unit that puts a
/// per-request value in a tag would otherwise grow memory, and every scrape, without bound;
/// updates that would add a series past this are dropped and counted.
const MAX_UNIT_SERIES: usize = 5_000;

/// Most bytes of one custom series' name, tag names and tag values together, which bounds the
/// memory [`MAX_UNIT_SERIES`] series can take.
const MAX_SERIES_BYTES: usize = 1024;

/// Name prefixes of the server's own families, which a unit's metric must not take: two
/// families of one name would make the exposition unreadable to Prometheus.
const RESERVED_PREFIXES: [&str; 4] = ["oxserve_", "nv_", "process_", "seldon_api_"];

/// Labels the server sets on every custom series; a tag of the same name gives way to them, as
/// in Seldon's wrapper.
const MODEL_LABEL: &str = "model_name";
const METHOD_LABEL: &str = "method";

/// The custom metrics units report (Seldon's `meta.metrics`): COUNTER adds, GAUGE sets, TIMER
/// observes milliseconds into a histogram in seconds with Seldon's buckets. Their names and
/// label sets come from units at run time, which fixed-label `prometheus` vectors cannot hold,
/// so they are kept here and rendered beside the registry's families.
struct UnitMetrics {
    families: Mutex<UnitFamilies>,
    include_in_answers: bool,
    /// Histogram upper bounds in seconds, without `+Inf`.
    timer_buckets: Vec<f64>,
    dropped: IntCounter,
    /// Whether the series limit has been logged already (once is enough to explain the counter).
    warned: AtomicBool,
}

#[derive(Default)]
struct UnitFamilies {
    by_name: BTreeMap<String, UnitFamily>,
    series: usize,
}

/// One metric name: its type, fixed by the first report, and its series by label pairs.
struct UnitFamily {
    kind: MetricKind,
    series: BTreeMap<Vec<(String, String)>, SeriesValue>,
}

/// A series' value; its variant is its family's type.
enum SeriesValue {
    Counter(f64),
    Gauge(f64),
    Timer(TimerValue),
}

/// A histogram: observations per bucket (not cumulative; the last is beyond every bound, and
/// their total is the count) and the sum of the observed seconds.
struct TimerValue {
    counts: Vec<u64>,
    sum: f64,
}

/// A checked metric: its family name, label pairs sorted by name, and the metric.
type Checked<'m> = (String, Vec<(String, String)>, &'m Metric);

impl UnitMetrics {
    /// Records `metrics`, which sit at `first_index` on in the answer's `meta.metrics`. All are
    /// checked before any is recorded, so an error leaves nothing half-published.
    fn record(&self, model: &str, method: &str, metrics: &[Metric], first_index: usize) -> Result<()> {
        if metrics.is_empty() {
            return Ok(());
        }
        let checked = metrics
            .iter()
            .enumerate()
            .map(|(i, metric)| check(metric, first_index + i, model, method))
            .collect::<Result<Vec<Checked<'_>>>>()?;
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let mut kinds: BTreeMap<&str, MetricKind> = BTreeMap::new();
        for (i, (name, _, metric)) in checked.iter().enumerate() {
            let known =
                families.by_name.get(name).map(|f| f.kind).or_else(|| kinds.get(name.as_str()).copied());
            match known {
                Some(kind) if kind != metric.kind => {
                    return Err(Error::internal(format!(
                        "meta.metrics[{}].type: metric '{name}' is already a {}; one name has one type",
                        first_index + i,
                        kind_name(kind)
                    )));
                }
                _ => kinds.insert(name, metric.kind),
            };
        }
        let UnitFamilies { by_name, series } = &mut *families;
        for (name, labels, metric) in checked {
            let existing = by_name.get_mut(&name).and_then(|f| f.series.get_mut(&labels));
            let value = match existing {
                Some(value) => value,
                None if *series >= MAX_UNIT_SERIES => {
                    self.dropped.inc();
                    if !self.warned.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            limit = MAX_UNIT_SERIES,
                            "custom metric series limit reached; new series are dropped \
                             (counted in oxserve_unit_metrics_dropped_total)"
                        );
                    }
                    continue;
                }
                None => {
                    *series += 1;
                    let family = by_name
                        .entry(name)
                        .or_insert_with(|| UnitFamily { kind: metric.kind, series: BTreeMap::new() });
                    let empty = match metric.kind {
                        MetricKind::Counter => SeriesValue::Counter(0.0),
                        MetricKind::Gauge => SeriesValue::Gauge(0.0),
                        MetricKind::Timer => SeriesValue::Timer(TimerValue {
                            counts: vec![0; self.timer_buckets.len() + 1],
                            sum: 0.0,
                        }),
                    };
                    family.series.entry(labels).or_insert(empty)
                }
            };
            // The family's type is the metric's, checked above.
            match value {
                SeriesValue::Counter(total) => *total += metric.value,
                SeriesValue::Gauge(current) => *current = metric.value,
                SeriesValue::Timer(timer) => {
                    let seconds = metric.value / 1000.0;
                    timer.counts[self.timer_buckets.partition_point(|&bound| bound < seconds)] += 1;
                    timer.sum += seconds;
                }
            }
        }
        Ok(())
    }

    /// The custom families in Prometheus form.
    fn families(&self) -> Vec<proto::MetricFamily> {
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        families
            .by_name
            .iter()
            .map(|(name, family)| {
                let mut mf = proto::MetricFamily::default();
                mf.set_name(name.clone());
                mf.set_help("Reported by units in Seldon meta.metrics.".to_string());
                mf.set_field_type(match family.kind {
                    MetricKind::Counter => proto::MetricType::COUNTER,
                    MetricKind::Gauge => proto::MetricType::GAUGE,
                    MetricKind::Timer => proto::MetricType::HISTOGRAM,
                });
                mf.set_metric(
                    family.series.iter().map(|(labels, value)| self.sample(labels, value)).collect(),
                );
                mf
            })
            .collect()
    }

    fn sample(&self, labels: &[(String, String)], value: &SeriesValue) -> proto::Metric {
        let pairs = labels
            .iter()
            .map(|(name, value)| {
                let mut pair = proto::LabelPair::default();
                pair.set_name(name.clone());
                pair.set_value(value.clone());
                pair
            })
            .collect();
        let mut metric = proto::Metric::from_label(pairs);
        match value {
            SeriesValue::Counter(total) => {
                let mut counter = proto::Counter::default();
                counter.set_value(*total);
                metric.set_counter(counter);
            }
            SeriesValue::Gauge(current) => {
                let mut gauge = proto::Gauge::default();
                gauge.set_value(*current);
                metric.set_gauge(gauge);
            }
            SeriesValue::Timer(timer) => {
                let mut cumulative = 0;
                let buckets = self
                    .timer_buckets
                    .iter()
                    .zip(&timer.counts)
                    .map(|(&bound, &count)| {
                        cumulative += count;
                        let mut bucket = proto::Bucket::default();
                        bucket.set_upper_bound(bound);
                        bucket.set_cumulative_count(cumulative);
                        bucket
                    })
                    .collect();
                let mut histogram = proto::Histogram::default();
                histogram.set_bucket(buckets);
                histogram.set_sample_sum(timer.sum);
                histogram.set_sample_count(timer.counts.iter().sum());
                metric.set_histogram(histogram);
            }
        }
        metric
    }
}

/// Seldon's TIMER buckets in seconds: 50 bounds spaced logarithmically from 1 ms to 30 s (the
/// text format adds `+Inf`).
fn timer_buckets() -> Vec<f64> {
    (0..50).map(|i| 1e-3 * 30_000f64.powf(f64::from(i) / 49.0)).collect()
}

/// Checks that Prometheus can take `metric`, `meta.metrics[index]` of an answer, and gives its
/// family name and label pairs. A COUNTER's family ends in `_total`, the name Seldon's wrapper
/// exposes it under.
fn check<'m>(metric: &'m Metric, index: usize, model: &str, method: &str) -> Result<Checked<'m>> {
    let field = format!("meta.metrics[{index}]");
    let key = &metric.key;
    if !is_metric_name(key) {
        return Err(Error::internal(format!(
            "{field}.key: '{key}' is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"
        )));
    }
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| key.starts_with(*p)) {
        return Err(Error::internal(format!(
            "{field}.key: '{key}': names starting '{prefix}' are the server's own"
        )));
    }
    let value = metric.value;
    let non_negative = metric.kind != MetricKind::Gauge;
    if !value.is_finite() || (non_negative && value < 0.0) {
        let want = if non_negative { "a finite number ≥ 0" } else { "a finite number" };
        return Err(Error::internal(format!(
            "{field}.value: a {} takes {want}, got {value}",
            kind_name(metric.kind)
        )));
    }
    let mut labels = BTreeMap::new();
    for (name, value) in &metric.tags {
        if !is_label_name(name) {
            return Err(Error::internal(format!(
                "{field}.tags.{name}: not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting '__')"
            )));
        }
        labels.insert(name.clone(), value.clone());
    }
    labels.insert(MODEL_LABEL.to_string(), model.to_string());
    labels.insert(METHOD_LABEL.to_string(), method.to_string());
    let bytes = key.len() + labels.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>();
    if bytes > MAX_SERIES_BYTES {
        return Err(Error::internal(format!(
            "{field}.tags: metric '{key}' with its tags takes {bytes} bytes; the limit is {MAX_SERIES_BYTES}"
        )));
    }
    let name = match metric.kind {
        MetricKind::Counter if !key.ends_with("_total") => format!("{key}_total"),
        _ => key.clone(),
    };
    Ok((name, labels.into_iter().collect(), metric))
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Counter => "COUNTER",
        MetricKind::Gauge => "GAUGE",
        MetricKind::Timer => "TIMER",
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

    fn answer(metrics: Vec<Metric>) -> Answer {
        let mut response = oxserve_core::InferenceResponse::default();
        response.meta.metrics = metrics;
        Answer { response, own_metrics_from: 0 }
    }

    fn counter(key: &str, tag: &str) -> Metric {
        Metric {
            key: key.into(),
            kind: MetricKind::Counter,
            value: 1.0,
            tags: [("id".to_string(), tag.to_string())].into(),
        }
    }

    #[test]
    fn unit_series_past_the_limit_are_dropped_and_counted() {
        let m = Metrics::with_unit_metrics_in_answers(true);
        let many = (0..MAX_UNIT_SERIES + 2).map(|i| counter("requests_by_id", &i.to_string())).collect();
        m.publish_unit_metrics("m", "predict", &mut answer(many)).unwrap();
        // Series already kept still count; new ones are dropped.
        m.publish_unit_metrics("m", "predict", &mut answer(vec![counter("requests_by_id", "0")])).unwrap();
        m.publish_unit_metrics("m", "predict", &mut answer(vec![counter("other", "x")])).unwrap();
        let text = m.render();
        assert!(text.contains(r#"requests_by_id_total{id="0",method="predict",model_name="m"} 2"#), "{text}");
        assert!(!text.contains("other_total"), "{text}");
        assert!(text.contains("oxserve_unit_metrics_dropped_total 3"), "{text}");
        assert_eq!(text.matches("requests_by_id_total{").count(), MAX_UNIT_SERIES);
    }

    #[test]
    fn unit_tags_named_like_server_labels_give_way() {
        let m = Metrics::with_unit_metrics_in_answers(true);
        let mut metric = counter("calls", "1");
        metric.tags.insert(MODEL_LABEL.into(), "spoofed".into());
        m.publish_unit_metrics("real", "router", &mut answer(vec![metric])).unwrap();
        assert!(m.render().contains(r#"calls_total{id="1",method="router",model_name="real"} 1"#));
    }

    #[test]
    fn the_answer_keeps_unit_metrics_unless_configured_otherwise() {
        let from_caller = counter("caller", "c");
        let mut kept = answer(vec![from_caller.clone(), counter("own", "o")]);
        kept.own_metrics_from = 1;
        let mut dropped = kept.clone();
        Metrics::with_unit_metrics_in_answers(true).publish_unit_metrics("m", "predict", &mut kept).unwrap();
        assert_eq!(kept.response.meta.metrics.len(), 2);
        let m = Metrics::with_unit_metrics_in_answers(false);
        m.publish_unit_metrics("m", "predict", &mut dropped).unwrap();
        assert_eq!(dropped.response.meta.metrics, [from_caller]);
        let text = m.render();
        assert!(text.contains("own_total") && !text.contains("caller_total"), "{text}");
    }

    #[test]
    fn only_positive_rewards_are_counted() {
        let m = Metrics::with_unit_metrics_in_answers(true);
        for reward in [0.25, 0.0, -1.0, f64::NAN, f64::INFINITY, 0.5] {
            m.record_reward("router", reward);
        }
        let text = m.render();
        assert!(text.contains(r#"seldon_api_model_feedback_total{method="feedback",model_name="router"} 2"#));
        assert!(text.contains(
            r#"seldon_api_model_feedback_reward_total{method="feedback",model_name="router"} 0.75"#
        ));
    }
}
