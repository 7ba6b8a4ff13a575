//! The executor and the built-in units, on graphs whose models are small in-process units.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use oxserve_core::{
    DataType, Error, ErrorKind, Feedback, InferenceRequest, InferenceResponse, Meta, ModelMetadata, Result,
    Tensor, TensorSpec, Unit,
};
use oxserve_graph::{GraphMetrics, assemble, spec};

/// A model that multiplies its FP64 input `x` by `factor` into output `y`, tags its answer with
/// its name, and counts the feedback it gets. Its "file name" says what it does: `scale3`,
/// `slow`, `fail`, `route7` (a router that picks child 7).
struct Fake {
    metadata: ModelMetadata,
    factor: f64,
    delay: Duration,
    route: i32,
    fails: bool,
    calls: Arc<Calls>,
}

/// How often a fake unit predicted and took feedback.
#[derive(Default)]
struct Calls {
    predict: AtomicUsize,
    feedback: AtomicUsize,
}

#[async_trait]
impl Unit for Fake {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        self.calls.predict.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if self.fails {
            return Err(Error::internal("out of cheese"));
        }
        let x = request.input("x").ok_or_else(|| Error::invalid("no input x"))?;
        let y: Vec<u8> = values(x).iter().flat_map(|v| (v * self.factor).to_le_bytes()).collect();
        let mut meta = Meta::default();
        meta.tags.insert(self.metadata.name.clone(), true.into());
        Ok(InferenceResponse {
            outputs: vec![Tensor::new("y", DataType::Fp64, x.shape.clone(), Bytes::from(y))?],
            meta,
            ..Default::default()
        })
    }

    async fn route(&self, _request: &InferenceRequest) -> Result<i32> {
        Ok(self.route)
    }

    async fn send_feedback(&self, _feedback: Feedback) -> Result<InferenceResponse> {
        self.calls.feedback.fetch_add(1, Ordering::SeqCst);
        Ok(InferenceResponse::default())
    }
}

fn values(t: &Tensor) -> Vec<f64> {
    t.data.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
}

/// Each fake unit's calls, by node name (several predictors may reuse a name).
type Counts = Arc<Mutex<Vec<(String, Arc<Calls>)>>>;

fn build(yaml: &str) -> (Arc<dyn Unit>, Counts, GraphMetrics) {
    build_spec(spec::parse(yaml, Path::new("/"), "test").unwrap())
}

fn build_spec(spec: spec::GraphSpec) -> (Arc<dyn Unit>, Counts, GraphMetrics) {
    let counts: Counts = Arc::default();
    let metrics = GraphMetrics::new();
    let loader = |node: &spec::NodeSpec| -> Result<Arc<dyn Unit>> {
        let path = match &node.unit {
            spec::UnitSpec::Model(path) => path,
            spec::UnitSpec::Class(class) => Path::new(&class.class),
            other => panic!("not a local unit: {other:?}"),
        };
        let name = &node.name;
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let calls = Arc::new(Calls::default());
        counts.lock().unwrap().push((name.to_string(), calls.clone()));
        let spec = |n: &str| TensorSpec { name: n.into(), datatype: DataType::Fp64, shape: vec![-1] };
        Ok(Arc::new(Fake {
            metadata: ModelMetadata {
                name: name.into(),
                inputs: vec![spec("x")],
                outputs: vec![spec("y")],
                ..Default::default()
            },
            factor: file.strip_prefix("scale").and_then(|f| f.parse().ok()).unwrap_or(1.0),
            delay: if file == "slow" { Duration::from_millis(300) } else { Duration::ZERO },
            route: file.strip_prefix("route").and_then(|r| r.parse().ok()).unwrap_or(-1),
            fails: file == "fail",
            calls,
        }))
    };
    let graph = assemble(&spec, &loader, &metrics).unwrap();
    (graph, counts, metrics)
}

fn feedback_count(counts: &Counts, name: &str) -> usize {
    counts.lock().unwrap().iter().find(|(n, _)| n == name).unwrap().1.feedback.load(Ordering::SeqCst)
}

fn predict_count(counts: &Counts, name: &str) -> usize {
    counts.lock().unwrap().iter().find(|(n, _)| n == name).unwrap().1.predict.load(Ordering::SeqCst)
}

fn request(values: &[f64]) -> InferenceRequest {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    InferenceRequest {
        id: Some("r1".into()),
        inputs: vec![Tensor::new("input", DataType::Fp64, vec![values.len()], Bytes::from(data)).unwrap()],
        meta: Meta { puid: "p1".into(), ..Default::default() },
        ..Default::default()
    }
}

fn output(response: &InferenceResponse) -> Vec<f64> {
    values(&response.outputs[0])
}

#[tokio::test]
async fn a_transformer_feeds_its_model_and_meta_accumulates() {
    let (graph, ..) = build(
        "graph:\n  name: t\n  type: TRANSFORMER\n  model: scale2\n  children: [{name: m, model: scale3}]\n",
    );
    assert_eq!(graph.metadata().inputs[0].name, "x");
    let response = graph.predict(request(&[1.0, 2.0])).await.unwrap();
    assert_eq!(output(&response), [6.0, 12.0]);
    assert_eq!((response.id.as_deref(), response.model_name.as_str()), (Some("r1"), "test"));
    assert_eq!(response.meta.puid, "p1");
    assert_eq!(response.meta.request_path.keys().collect::<Vec<_>>(), ["m", "t"]);
    assert_eq!(response.meta.request_path["m"], "/scale3");
    assert!(response.meta.tags.contains_key("t") && response.meta.tags.contains_key("m"));
    assert!(response.meta.routing.is_empty(), "no router on the path");
}

#[test]
fn graph_metadata_lists_every_unit() {
    let (graph, ..) = build(
        "graph:\n  name: ab\n  implementation: RANDOM_ABTEST\n  children:\n\
         \x20   - {name: a, model: scale2}\n    - {name: b, model: scale5}\n",
    );
    let metadata = graph.graph_metadata().expect("a graph");
    assert_eq!(metadata.graph.name, "test");
    assert_eq!(metadata.units.keys().collect::<Vec<_>>(), ["a", "ab", "b"]);
    assert_eq!(metadata.units["ab"].platform, "RANDOM_ABTEST");
    assert_eq!(metadata.graph.inputs[0].name, "x", "a router's graph takes its first child's inputs");
    assert_eq!(metadata.graph.outputs[0].name, "y");
}

#[tokio::test]
async fn an_output_transformer_runs_after_its_children() {
    let (graph, ..) = build(
        "graph:\n  name: o\n  type: OUTPUT_TRANSFORMER\n  model: scale10\n  children: [{name: m, model: scale3}]\n",
    );
    assert_eq!(output(&graph.predict(request(&[1.0])).await.unwrap()), [30.0]);
}

#[tokio::test]
async fn a_b_test_follows_its_ratio_and_reports_routing() {
    for (ratio, branch, expected) in [(1.0, 0, 2.0), (0.0, 1, 5.0)] {
        let (graph, _, metrics) = build(&format!(
            "graph:\n  name: ab\n  implementation: RANDOM_ABTEST\n  parameters: {{ratioA: {ratio}}}\n  children:\n\
             \x20   - {{name: a, model: scale2}}\n    - {{name: b, model: scale5}}\n"
        ));
        for _ in 0..5 {
            let response = graph.predict(request(&[1.0])).await.unwrap();
            assert_eq!(output(&response), [expected]);
            assert_eq!(response.meta.routing["ab"], branch);
            // The same for protocols without meta.
            assert_eq!(response.parameters["routing.ab"], branch);
        }
        let text = render(&metrics);
        let child = ["a", "b"][branch as usize];
        let timed = format!(
            "oxserve_graph_unit_call_seconds_count{{call=\"predict\",outcome=\"ok\",unit=\"{child}\"}} 5"
        );
        assert!(text.contains(&timed), "{text}");
        assert!(
            text.contains(
                "oxserve_graph_unit_call_seconds_count{call=\"route\",outcome=\"ok\",unit=\"ab\"} 5"
            )
        );
        assert!(
            text.contains(&format!("oxserve_router_routed_total{{branch=\"{child}\",router=\"ab\"}} 5")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_combiner_averages_children_that_run_concurrently() {
    let (graph, ..) = build(
        "graph:\n  name: avg\n  implementation: AVERAGE_COMBINER\n  children:\n\
         \x20   - {name: a, model: slow}\n    - {name: b, model: slow}\n    - {name: c, model: scale4}\n",
    );
    let start = Instant::now();
    let response = graph.predict(request(&[3.0, 6.0])).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(550),
        "children ran one after another: {:?}",
        start.elapsed()
    );
    assert_eq!(output(&response), [6.0, 12.0]);
    assert_eq!(response.meta.request_path.len(), 4, "{:?}", response.meta.request_path);
}

#[tokio::test]
async fn a_node_without_aggregate_answers_with_its_first_child() {
    let (graph, ..) = build(
        "graph:\n  name: m\n  model: scale1\n  children:\n    - {name: a, model: scale2}\n    - {name: b, model: scale3}\n",
    );
    let response = graph.predict(request(&[1.0])).await.unwrap();
    assert_eq!(output(&response), [2.0]);
    assert!(response.meta.request_path.contains_key("b"), "b ran too");
}

#[tokio::test]
async fn router_choices_minus_two_and_out_of_range() {
    let (graph, ..) = build(
        "graph:\n  name: r\n  type: ROUTER\n  model: route-2\n  children: [{name: a, model: scale2}]\n",
    );
    let response = graph.predict(request(&[4.0])).await.unwrap();
    assert_eq!((output(&response), response.meta.routing["r"]), (vec![4.0], -2));
    let (graph, ..) =
        build("graph:\n  name: r\n  type: ROUTER\n  model: route7\n  children: [{name: a, model: scale2}]\n");
    let e = graph.predict(request(&[4.0])).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Internal);
    assert!(e.message.contains("router 'r' chose child 7, but it has 1 children"), "{}", e.message);
}

#[tokio::test]
async fn a_failing_unit_fails_the_request_with_its_name() {
    let (graph, _, metrics) = build(
        "graph:\n  name: avg\n  implementation: AVERAGE_COMBINER\n  children:\n\
         \x20   - {name: good, model: scale2}\n    - {name: bad, model: fail}\n",
    );
    let e = graph.predict(request(&[1.0])).await.unwrap_err();
    assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Internal, "unit 'bad': out of cheese"));
    let text = render(&metrics);
    assert!(
        text.contains(
            "oxserve_graph_unit_call_seconds_count{call=\"predict\",outcome=\"internal\",unit=\"bad\"} 1"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn feedback_follows_the_recorded_routing() {
    let (graph, counts, _) = build(
        "graph:\n  name: ab\n  implementation: RANDOM_ABTEST\n  parameters: {ratioA: 1}\n  children:\n\
         \x20   - {name: a, model: scale2}\n    - {name: b, model: scale5}\n",
    );
    let response = graph.predict(request(&[1.0])).await.unwrap();
    let feedback =
        Feedback { request: Some(request(&[1.0])), response: Some(response), reward: 1.0, truth: None };
    let answer = graph.send_feedback(feedback.clone()).await.unwrap();
    assert_eq!((answer.meta.puid.as_str(), answer.outputs[0].shape.clone()), ("p1", vec![0]));
    assert_eq!((feedback_count(&counts, "a"), feedback_count(&counts, "b")), (1, 0));
    // Without routing, feedback reaches every child.
    graph.send_feedback(Feedback { response: None, ..feedback.clone() }).await.unwrap();
    assert_eq!((feedback_count(&counts, "a"), feedback_count(&counts, "b")), (2, 1));
    let mut bad = feedback;
    bad.response.as_mut().unwrap().meta.routing.insert("ab".into(), 4);
    let e = graph.send_feedback(bad).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.starts_with("response.meta.routing.ab: 4 is not a child"), "{}", e.message);
}

#[tokio::test]
async fn a_bandit_needs_the_routing_back_and_a_reward_in_range() {
    let (graph, ..) = build(&bandit("EPSILON_GREEDY", "{n_branches: 2, seed: 1}"));
    let feedback = Feedback { request: Some(request(&[1.0])), response: None, reward: 1.0, truth: None };
    let e = graph.send_feedback(feedback.clone()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("response.meta.routing.bandit: missing"), "{}", e.message);
    let response = graph.predict(request(&[1.0])).await.unwrap();
    let e = graph
        .send_feedback(Feedback { response: Some(response), reward: 1.5, ..feedback })
        .await
        .unwrap_err();
    assert!(e.message.contains("reward: 1.5 is not between 0 and 1"), "{}", e.message);
}

#[tokio::test]
async fn builtin_parameters_are_checked() {
    let metrics = GraphMetrics::new();
    let no_models = |_: &spec::NodeSpec| -> Result<Arc<dyn Unit>> { Err(Error::internal("no models here")) };
    let cases = [
        (
            "EPSILON_GREEDY",
            "{n_branches: 3}",
            "graph.parameters.n_branches: is 3 but the node has 2 children",
        ),
        ("EPSILON_GREEDY", "{}", "graph.parameters.n_branches: required"),
        (
            "EPSILON_GREEDY",
            "{n_branches: 2, epsilon: 2}",
            "graph.parameters.epsilon: 2 is not between 0 and 1",
        ),
        (
            "EPSILON_GREEDY",
            "{n_branches: 2, best_branch: 2}",
            "graph.parameters.best_branch: 2 is not a branch",
        ),
        ("THOMPSON_SAMPLING", "{n_branches: 2, epsilon: 0.1}", "graph.parameters.epsilon: unknown parameter"),
        ("RANDOM_ABTEST", "{ratioA: 1.5}", "graph.parameters.ratioA: 1.5 is not between 0 and 1"),
        ("RANDOM_ABTEST", "{ratioA: high}", "graph.parameters.ratioA: expected a number"),
        (
            "SPLITTER",
            "{weights: [50, 40]}",
            "graph.parameters.weights: [50, 40] must hold one percentage per child",
        ),
        ("SPLITTER", "{}", "graph.parameters.weights: required"),
        ("ENSEMBLE", "{n: 1}", "graph.parameters.n: unknown parameter; expected none"),
    ];
    for (implementation, parameters, expected) in cases {
        let text = bandit(implementation, parameters)
            .replace(
                "model: scale2",
                "implementation: AVERAGE_COMBINER, children: [{name: a1, endpoint: {host: h, port: 1}}]",
            )
            .replace("model: scale5", "endpoint: {host: h, port: 2}");
        let spec = spec::parse(&text, Path::new("/"), "t").unwrap();
        let e = assemble(&spec, &no_models, &metrics).err().expect("invalid parameters");
        assert!(e.message.contains(expected), "{implementation} {parameters}: {}", e.message);
    }
}

fn bandit(implementation: &str, parameters: &str) -> String {
    format!(
        "graph:\n  name: bandit\n  implementation: {implementation}\n  parameters: {parameters}\n  children:\n\
         \x20   - {{name: a, model: scale2}}\n    - {{name: b, model: scale5}}\n"
    )
}

/// Branch `b` is right 9 times in 10 and `a` once in 10; after 300 rounds of feedback, most
/// traffic must go to `b`. Seeded, so the run is the same every time.
async fn learns_the_better_branch(implementation: &str, parameters: &str) {
    let (graph, _, metrics) = build(&bandit(implementation, parameters));
    let mut late_b = 0;
    for round in 0..300 {
        let response = graph.predict(request(&[1.0, 1.0])).await.unwrap();
        let branch = response.meta.routing["bandit"];
        let right = if branch == 1 { round % 10 != 0 } else { round % 10 == 0 };
        if round >= 200 && branch == 1 {
            late_b += 1;
        }
        let feedback = Feedback {
            request: Some(request(&[1.0, 1.0])),
            response: Some(response),
            reward: if right { 1.0 } else { 0.0 },
            truth: None,
        };
        graph.send_feedback(feedback).await.unwrap();
    }
    assert!(
        late_b >= 80,
        "{implementation}: only {late_b} of the last 100 requests went to the better branch"
    );
    let text = render(&metrics);
    assert!(text.contains("oxserve_router_branch_value{branch=\"b\",router=\"bandit\"} 0.8"), "{text}");
    assert!(text.contains("oxserve_router_successes_total{branch=\"b\",router=\"bandit\"}"), "{text}");
}

#[tokio::test]
async fn epsilon_greedy_learns_the_better_branch() {
    learns_the_better_branch("EPSILON_GREEDY", "{n_branches: 2, epsilon: 0.1, best_branch: 0, seed: 7}")
        .await;
}

#[tokio::test]
async fn thompson_sampling_learns_the_better_branch() {
    learns_the_better_branch("THOMPSON_SAMPLING", "{n_branches: 2, seed: 7}").await;
}

fn render(metrics: &GraphMetrics) -> String {
    let registry = prometheus::Registry::new();
    for collector in metrics.collectors() {
        registry.register(collector).unwrap();
    }
    let mut out = Vec::new();
    use prometheus::Encoder;
    prometheus::TextEncoder::new().encode(&registry.gather(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

const PREDICTORS: &str = r#"
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: split}
spec:
  predictors:
  - {name: main, traffic: 50, graph: {name: main-model, modelUri: scale2}}
  - {name: canary, traffic: 50, graph: {name: canary-model, modelUri: scale3}}
  - {name: mirror, shadow: true, graph: {name: shadow-model, modelUri: scale5}}
"#;

#[tokio::test]
async fn predictors_share_traffic_and_the_shadow_gets_a_copy() {
    let (deployment, counts, _) = build(PREDICTORS);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let response = deployment.predict(request(&[1.0])).await.unwrap();
        let chosen = response.meta.routing["split"];
        assert_eq!(output(&response), [[2.0, 3.0][chosen as usize]]);
        seen.insert(chosen);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "both predictors answer");
    let served = predict_count(&counts, "main-model") + predict_count(&counts, "canary-model");
    // The shadow's copies run on their own tasks; give them a moment.
    for _ in 0..100 {
        if predict_count(&counts, "shadow-model") == served {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(predict_count(&counts, "shadow-model"), served);
    // Feedback returns to the predictor that answered.
    let response = deployment.predict(request(&[1.0])).await.unwrap();
    let chosen = response.meta.routing["split"];
    let feedback =
        Feedback { request: Some(request(&[1.0])), response: Some(response), reward: 1.0, truth: None };
    deployment.send_feedback(feedback).await.unwrap();
    let (main, canary) = (feedback_count(&counts, "main-model"), feedback_count(&counts, "canary-model"));
    assert_eq!((main, canary), if chosen == 0 { (1, 0) } else { (0, 1) });
}

#[test]
fn predictor_traffic_is_checked() {
    let cases = [
        (
            PREDICTORS.replace("traffic: 50, graph: {name: main", "traffic: 40, graph: {name: main"),
            "share 90%",
        ),
        (
            PREDICTORS.replace("name: canary, traffic: 50", "name: canary, shadow: true"),
            "at most one predictor may be a shadow",
        ),
        (
            PREDICTORS.replace("name: main-model", "name: split"),
            "a node is named 'split' like the deployment",
        ),
    ];
    for (text, expected) in cases {
        let e = spec::parse(&text, Path::new("/"), "t").unwrap_err();
        assert!(e.message.contains(expected), "{}", e.message);
    }
}

#[tokio::test]
async fn a_sequence_chains_its_children_and_can_restart_from_its_request() {
    let (graph, ..) = build(
        "graph:\n  name: seq\n  implementation: SEQUENCE\n  children:\n\
         \x20   - {name: a, model: scale2}\n    - {name: b, model: scale3}\n",
    );
    let response = graph.predict(request(&[1.0])).await.unwrap();
    assert_eq!(output(&response), [6.0]);
    assert_eq!(response.meta.request_path.keys().collect::<Vec<_>>(), ["a", "b", "seq"]);
    let mut spec = spec::parse(
        "graph:\n  name: seq\n  implementation: SEQUENCE\n  children:\n\
         \x20   - {name: a, model: scale2}\n    - {name: b, model: scale3}\n",
        Path::new("/"),
        "test",
    )
    .unwrap();
    spec.predictors[0].root.children[1].from_request = true;
    let (graph, ..) = build_spec(spec);
    let response = graph.predict(request(&[1.0])).await.unwrap();
    assert_eq!(output(&response), [3.0], "b took the sequence's request, not a's answer");
    assert!(response.meta.tags.contains_key("a"), "a's meta still travels");
}

#[tokio::test]
async fn a_splitter_follows_its_weights_and_an_ensemble_keeps_every_answer() {
    let (graph, ..) = build(
        "graph:\n  name: split\n  implementation: SPLITTER\n  parameters: {weights: [0, 100]}\n  children:\n\
         \x20   - {name: a, model: scale2}\n    - {name: b, model: scale5}\n",
    );
    for _ in 0..5 {
        let response = graph.predict(request(&[1.0])).await.unwrap();
        assert_eq!((output(&response), response.meta.routing["split"]), (vec![5.0], 1));
    }
    let (graph, ..) = build(
        "graph:\n  name: all\n  implementation: ENSEMBLE\n  children:\n\
         \x20   - {name: a, model: scale2}\n    - {name: b, model: scale5}\n",
    );
    let response = graph.predict(request(&[1.0])).await.unwrap();
    let names: Vec<&str> = response.outputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a.y", "b.y"]);
    assert_eq!((values(&response.outputs[0]), values(&response.outputs[1])), (vec![2.0], vec![5.0]));
}

#[tokio::test]
async fn a_graph_is_ready_while_its_remote_units_can_be_reached() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let graph =
        |port: u16| build(&format!("graph: {{name: far, endpoint: {{host: 127.0.0.1, port: {port}}}}}\n")).0;
    let (up, down) = (graph(open), graph(closed));
    for _ in 0..100 {
        if up.is_ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(up.is_ready(), "a unit that accepts connections is ready");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!down.is_ready(), "a unit nobody listens for is not");
}

const SWITCH: &str = "graph:\n  name: sw\n  implementation: SWITCH\n  children:\n\
    \x20   - {name: big, model: scale2, condition: 'inputs.0.data.#(>10)'}\n\
    \x20   - {name: acme, model: scale3, condition: '[@this].#(parameters.tenant==\"acme\")'}\n\
    \x20   - {name: rest, model: scale5, condition: 'inputs.#(datatype==\"FP64\")'}\n";

#[tokio::test]
async fn a_switch_takes_the_first_step_whose_condition_matches() {
    let (graph, counts, _) = build(SWITCH);
    let response = graph.predict(request(&[1.0])).await.unwrap();
    assert_eq!((output(&response), response.meta.routing["sw"]), (vec![5.0], 2));
    let response = graph.predict(request(&[1.0, 20.0])).await.unwrap();
    assert_eq!((output(&response), response.meta.routing["sw"]), (vec![2.0, 40.0], 0));
    let mut acme = request(&[1.0]);
    acme.parameters.insert("tenant".into(), "acme".into());
    let response = graph.predict(acme).await.unwrap();
    assert_eq!((output(&response), response.meta.routing["sw"]), (vec![3.0], 1));
    assert_eq!(response.meta.request_path.keys().collect::<Vec<_>>(), ["acme", "sw"]);
    assert_eq!(
        ["big", "acme", "rest"].map(|n| predict_count(&counts, n)),
        [1, 1, 1],
        "only the chosen step runs"
    );
}

#[tokio::test]
async fn a_switch_without_a_matching_step_is_a_404_naming_it() {
    let (graph, counts, _) = build(SWITCH);
    let mut ints = request(&[]);
    ints.inputs =
        vec![Tensor::new("input", DataType::Int32, vec![1], Bytes::from_static(&[7, 0, 0, 0])).unwrap()];
    let e = graph.predict(ints).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.starts_with("unit 'sw': no step's condition matches the request ("), "{}", e.message);
    assert!(e.message.contains("'inputs.#(datatype==\"FP64\")'"), "{}", e.message);
    assert_eq!(["big", "acme", "rest"].map(|n| predict_count(&counts, n)), [0, 0, 0]);
}

#[tokio::test]
async fn a_sequence_step_whose_condition_fails_ends_the_sequence() {
    let (graph, counts, _) = build(
        "graph:\n  name: seq\n  implementation: SEQUENCE\n  children:\n\
         \x20   - {name: a, model: scale2}\n\
         \x20   - {name: b, model: scale3, condition: 'outputs.0.data.#(>5)'}\n\
         \x20   - {name: c, model: scale5}\n",
    );
    let response = graph.predict(request(&[1.0])).await.unwrap();
    assert_eq!(output(&response), [2.0], "a's answer, which b's condition does not match, ends it");
    assert_eq!(response.meta.request_path.keys().collect::<Vec<_>>(), ["a", "seq"]);
    assert_eq!(["a", "b", "c"].map(|n| predict_count(&counts, n)), [1, 0, 0]);
    let response = graph.predict(request(&[3.0])).await.unwrap();
    assert_eq!(output(&response), [90.0], "6 > 5: b and then c run");
    assert_eq!(["a", "b", "c"].map(|n| predict_count(&counts, n)), [2, 1, 1]);
}

/// A graph whose children named in `soft` are soft dependencies, as KServe's steps are by default.
fn build_soft(yaml: &str, soft: &[&str]) -> Arc<dyn Unit> {
    let mut spec = spec::parse(yaml, Path::new("/"), "test").unwrap();
    for child in &mut spec.predictors[0].root.children {
        child.soft = soft.contains(&child.name.as_str());
    }
    build_spec(spec).0
}

#[tokio::test]
async fn a_soft_sequence_step_that_fails_is_skipped_but_not_the_last() {
    let sequence = "graph:\n  name: seq\n  implementation: SEQUENCE\n  children:\n\
         \x20   - {name: a, model: scale2}\n    - {name: bad, model: fail}\n    - {name: c, model: scale3}\n";
    let graph = build_soft(sequence, &["bad"]);
    let response = graph.predict(request(&[1.0])).await.unwrap();
    assert_eq!(output(&response), [6.0], "c took what the failed step was given");
    let hard = build_soft(sequence, &[]);
    assert_eq!(hard.predict(request(&[1.0])).await.unwrap_err().message, "unit 'bad': out of cheese");
    let last = build_soft(
        &sequence.replace("model: fail", "model: scale5").replace("model: scale3", "model: fail"),
        &["c"],
    );
    let e = last.predict(request(&[1.0])).await.unwrap_err();
    assert_eq!(e.message, "unit 'c': out of cheese", "the last step's failure is the answer");
}

#[tokio::test]
async fn a_soft_ensemble_step_that_fails_is_named_in_the_answer() {
    let ensemble = "graph:\n  name: all\n  implementation: ENSEMBLE\n  children:\n\
         \x20   - {name: a, model: scale2}\n    - {name: bad, model: fail}\n";
    let response = build_soft(ensemble, &["bad"]).predict(request(&[1.0])).await.unwrap();
    let names: Vec<&str> = response.outputs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a.y"]);
    assert_eq!(response.parameters["bad.error"], "unit 'bad': out of cheese");
    let e = build_soft(ensemble, &[]).predict(request(&[1.0])).await.unwrap_err();
    assert_eq!(e.message, "unit 'bad': out of cheese");
}
