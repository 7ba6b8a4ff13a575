use std::path::Path;

use super::*;

fn native(text: &str) -> Result<GraphSpec> {
    parse(text, Path::new("/graphs"), "file")
}

#[test]
fn native_form_infers_types_and_resolves_model_paths() {
    let spec = native(
        "graph:\n  name: ab\n  implementation: RANDOM_ABTEST\n  parameters: {ratioA: 0.7}\n  children:\n\
         \x20   - {name: a, model: ../models/iris/model.onnx}\n\
         \x20   - {name: b, endpoint: {host: 127.0.0.1, port: 9000, transport: grpc, timeout_ms: 250}}\n",
    )
    .unwrap();
    assert_eq!(spec.name, "file");
    assert_eq!(spec.predictors[0].root.unit, UnitSpec::Builtin(Builtin::RandomAbTest));
    assert!(spec.predictors[0].root.stages.route && spec.predictors[0].root.stages.feedback);
    assert_eq!(spec.predictors[0].root.parameters.f64("ratioA").unwrap(), Some(0.7));
    let a = &spec.predictors[0].root.children[0];
    assert_eq!(a.unit, UnitSpec::Model(PathBuf::from("/graphs/../models/iris/model.onnx")));
    assert_eq!(a.stages, NodeType::Model.stages());
    let UnitSpec::Remote(b) = &spec.predictors[0].root.children[1].unit else { panic!("b is remote") };
    assert_eq!(
        (b.transport, b.protocol, b.timeout),
        (Transport::Grpc, Protocol::Seldon, Duration::from_millis(250))
    );
    assert_eq!(b.url(), "seldon+grpc://127.0.0.1:9000");
}

#[test]
fn native_class_and_server_units() {
    let spec = native(
        "graph:\n  name: scale\n  type: TRANSFORMER\n  implementation: PYTHON\n  class: Scaler\n\
         \x20 parameters: {factor: 2}\n  children:\n\
         \x20   - {name: forest, implementation: SKLEARN_SERVER, model: models/forest}\n",
    )
    .unwrap();
    let root = &spec.predictors[0].root;
    let class =
        ClassSpec { language: Language::Python, class: "Scaler".into(), classpath: vec!["/graphs/.".into()] };
    assert_eq!(root.unit, UnitSpec::Class(class));
    assert_eq!(root.stages.operations(), ["transform_input"]);
    assert_eq!(root.parameters.u64("factor").unwrap(), Some(2));
    let server =
        UnitSpec::Server { implementation: "SKLEARN_SERVER".into(), folder: "/graphs/models/forest".into() };
    assert_eq!(root.children[0].unit, server);
    assert_eq!(root.children[0].stages.operations(), ["predict", "send_feedback"]);

    let java =
        native("graph: {name: lr, implementation: JAVA, class: com.example.Lr, classpath: lib/lr.jar}\n")
            .unwrap();
    let UnitSpec::Class(class) = &java.predictors[0].root.unit else { panic!("lr is a class") };
    assert_eq!(
        (class.language, class.classpath.clone()),
        (Language::Java, vec![PathBuf::from("/graphs/lib/lr.jar")])
    );
}

#[test]
fn class_units_are_checked() {
    let cases = [
        ("graph: {name: m, implementation: PYTHON}\n", "graph.class: a PYTHON unit needs the class to build"),
        ("graph: {name: m, model: a.onnx, class: A}\n", "graph.class: only a class unit has one"),
        ("graph: {name: m, implementation: JAVA, class: A, model: a.onnx}\n", "more than one of"),
        ("graph: {name: m, implementation: SKLEARN_SERVER}\n", "SKLEARN_SERVER needs `model: FOLDER`"),
        (
            "graph:\n  name: m\n  implementation: PYTHON\n  class: A\n  type: TRANSFORMER\n  children:\n\
             \x20   - {name: j, implementation: JAVA, class: B}\n",
            "graph.children[0]: node 'j' runs in JAVA but node 'm' (graph) runs in PYTHON",
        ),
    ];
    for (text, expected) in cases {
        let e = native(text).unwrap_err();
        assert!(e.message.contains(expected), "{text}: {}", e.message);
    }
}

#[test]
fn seldon_prepackaged_servers_and_s2i_classes() {
    let folder = std::env::temp_dir().join(format!("oxserve-s2i-{}", std::process::id()));
    std::fs::create_dir_all(folder.join("transformer/.s2i")).unwrap();
    std::fs::create_dir_all(folder.join("empty/.s2i")).unwrap();
    std::fs::write(
        folder.join("transformer/.s2i/environment"),
        "# s2i\nMODEL_NAME=Scaler\nSERVICE_TYPE=TRANSFORMER\n",
    )
    .unwrap();
    std::fs::write(folder.join("empty/.s2i/environment"), "SERVICE_TYPE=MODEL\n").unwrap();
    let text = SELDON.replace(
        "      - {name: a, type: MODEL, modelUri: \"file://models/a.onnx\"}",
        "      - {name: a, type: MODEL, implementation: SKLEARN_SERVER, modelUri: models/forest}\n\
         \x20     - {name: t, type: TRANSFORMER, modelUri: transformer, children: [{name: c, implementation: TRITON_SERVER, modelUri: triton}]}",
    );
    let text = text.replace("n_branches, value: \"2\"", "n_branches, value: \"3\"");
    let spec = parse(&text, &folder, "f").unwrap();
    let children = &spec.predictors[0].root.children;
    let server =
        UnitSpec::Server { implementation: "SKLEARN_SERVER".into(), folder: folder.join("models/forest") };
    assert_eq!(children[0].unit, server);
    let class = ClassSpec {
        language: Language::Python,
        class: "Scaler".into(),
        classpath: vec![folder.join("transformer")],
    };
    assert_eq!(children[1].unit, UnitSpec::Class(class));
    assert_eq!(children[1].children[0].unit, UnitSpec::Model(folder.join("triton")));
    let e = parse(&text.replace("modelUri: transformer", "modelUri: empty"), &folder, "f").unwrap_err();
    assert!(e.message.contains("names no MODEL_NAME"), "{}", e.message);
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn unknown_fields_are_named_with_their_path() {
    let e = native("graph:\n  name: m\n  model: m.onnx\n  childrn: []\n").unwrap_err();
    assert!(e.message.starts_with("graph: unknown field `childrn`"), "{}", e.message);
    let e =
        native("graph:\n  name: m\n  children:\n    - {name: a, model: a.onnx, tipe: MODEL}\n").unwrap_err();
    assert!(e.message.starts_with("graph.children[0]: unknown field `tipe`"), "{}", e.message);
    let e = native("graph: {name: m, type: MODLE, model: a.onnx}\n").unwrap_err();
    assert!(e.message.starts_with("graph.type: unknown variant `MODLE`"), "{}", e.message);
}

#[test]
fn nodes_are_checked() {
    let cases = [
        ("graph: {name: m}\n", "graph: node 'm' needs one of implementation, model or endpoint"),
        ("graph: {name: m, model: a.onnx, implementation: RANDOM_ABTEST}\n", "more than one of"),
        ("graph: {name: m, implementation: NOPE}\n", "graph.implementation: 'NOPE' is not a built-in"),
        (
            "graph: {name: r, implementation: RANDOM_ABTEST}\n",
            "routes, combines or chains, so it needs children",
        ),
        (
            "graph:\n  name: r\n  implementation: RANDOM_ABTEST\n  children: [{name: a, model: a.onnx}]\n",
            "exactly 2 children, not 1",
        ),
        (
            "graph:\n  name: m\n  model: a.onnx\n  children: [{name: m, model: b.onnx}]\n",
            "graph.children[0].name: 'm' names two nodes",
        ),
        ("graph: {name: m, model: 'gs://bucket/m'}\n", "graph.model: 'gs://bucket/m' is remote storage"),
        (
            "graph:\n  name: t\n  type: TRANSFORMER\n  endpoint: {host: h, port: 1, protocol: v2}\n  children: [{name: m, model: a.onnx}]\n",
            "speaks V2",
        ),
    ];
    for (text, expected) in cases {
        let e = native(text).unwrap_err();
        assert!(e.message.contains(expected), "{text}: {}", e.message);
    }
}

const SELDON: &str = r#"
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: bandit, namespace: models}
spec:
  protocol: seldon
  transport: grpc
  annotations: {seldon.io/grpc-timeout: "1500"}
  predictors:
  - name: main
    replicas: 1
    componentSpecs:
    - spec:
        containers:
        - {name: eg, image: seldonio/mab_epsilon_greedy:1.18.0}
    graph:
      name: eg
      type: ROUTER
      parameters:
      - {name: n_branches, value: "2", type: INT}
      - {name: epsilon, value: "0.2", type: FLOAT}
      children:
      - {name: a, type: MODEL, modelUri: "file://models/a.onnx"}
      - name: b
        type: MODEL
        endpoint: {service_host: 127.0.0.1, service_port: 9500}
"#;

#[test]
fn seldon_deployment_graph() {
    let spec = parse(SELDON, Path::new("/g"), "file").unwrap();
    assert_eq!(spec.name, "bandit");
    assert_eq!(spec.predictors[0].root.unit, UnitSpec::Builtin(Builtin::EpsilonGreedy));
    assert_eq!(spec.predictors[0].root.parameters.u64("n_branches").unwrap(), Some(2));
    assert_eq!(spec.predictors[0].root.parameters.f64("epsilon").unwrap(), Some(0.2));
    assert_eq!(spec.predictors[0].root.children[0].unit, UnitSpec::Model(PathBuf::from("/g/models/a.onnx")));
    let UnitSpec::Remote(b) = &spec.predictors[0].root.children[1].unit else { panic!("b is remote") };
    assert_eq!((b.transport, b.port, b.timeout), (Transport::Grpc, 9500, Duration::from_millis(1500)));
}

#[test]
fn seldon_errors_name_the_field() {
    let e = parse(&SELDON.replace("replicas: 1", "replica: 1"), Path::new("/g"), "f").unwrap_err();
    assert!(e.message.starts_with("spec.predictors[0]: unknown field `replica`"), "{}", e.message);
    let e = parse(&SELDON.replace("value: \"0.2\"", "value: \"lots\""), Path::new("/g"), "f").unwrap_err();
    assert!(
        e.message.contains("spec.predictors[0].graph.parameters[1].value: 'lots' is not a number"),
        "{}",
        e.message
    );
    let e = parse(&SELDON.replace("mab_epsilon_greedy", "my_router"), Path::new("/g"), "f").unwrap_err();
    assert!(
        e.message.contains("node 'eg' (image seldonio/my_router:1.18.0) runs in a container"),
        "{}",
        e.message
    );
    let methods = SELDON.replace("type: ROUTER", "type: UNKNOWN_TYPE");
    let e = parse(&methods, Path::new("/g"), "f").unwrap_err();
    assert!(e.message.contains("UNKNOWN_TYPE needs methods"), "{}", e.message);
    let e = parse("apiVersion: serving.kserve.io/v1alpha1\nkind: Thing\n", Path::new("/g"), "f").unwrap_err();
    assert!(e.message.starts_with("kind: serving.kserve.io/v1alpha1 Thing"), "{}", e.message);
}

#[test]
fn seldon_methods_choose_the_stages() {
    let text = SELDON.replace(
        "      - {name: a, type: MODEL, modelUri: \"file://models/a.onnx\"}",
        "      - {name: a, type: UNKNOWN_TYPE, methods: [TRANSFORM_INPUT, SEND_FEEDBACK], modelUri: a.onnx, children: [{name: c, modelUri: c.onnx}]}",
    );
    let spec = parse(&text, Path::new("/g"), "f").unwrap();
    let a = &spec.predictors[0].root.children[0];
    assert_eq!(a.stages.input, Some(InputStage::TransformInput));
    assert!(a.stages.feedback && !a.stages.route && !a.stages.output);
}

const KSERVE: &str = r#"
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {name: chainer}
spec:
  timeout: 5
  nodes:
    root:
      routerType: Sequence
      steps:
      - {name: scale, serviceUrl: "http://127.0.0.1:9001/v2/models/scaler/infer"}
      - {nodeName: both, data: $request}
    both:
      routerType: Ensemble
      steps:
      - {serviceName: a, serviceUrl: "http://127.0.0.1:9002/v2/models/iris"}
      - {nodeName: split}
    split:
      routerType: Splitter
      steps:
      - {name: b, serviceUrl: "http://localhost/v2/models/iris/infer", weight: 30}
      - {name: c, serviceUrl: "http://localhost:9003/v2/models/iris/infer", weight: 70}
"#;

#[test]
fn kserve_inference_graph() {
    let spec = parse(KSERVE, Path::new("/g"), "file").unwrap();
    assert_eq!(spec.name, "chainer");
    let root = &spec.predictors[0].root;
    assert_eq!((root.unit.clone(), root.stages.sequence), (UnitSpec::Builtin(Builtin::Sequence), true));
    let UnitSpec::Remote(scale) = &root.children[0].unit else { panic!("scale is remote") };
    assert_eq!((scale.port, scale.model.as_str(), scale.protocol), (9001, "scaler", Protocol::V2));
    assert_eq!(scale.timeout, Duration::from_secs(5));
    let both = &root.children[1];
    assert!(both.from_request && both.stages.aggregate);
    // As in KServe, a step without `data` takes its sequence's request too.
    let text = KSERVE.replace("{nodeName: both, data: $request}", "{nodeName: both}");
    assert!(parse(&text, Path::new("/g"), "f").unwrap().predictors[0].root.children[1].from_request);
    let text = KSERVE.replace("data: $request", "data: $response");
    assert!(!parse(&text, Path::new("/g"), "f").unwrap().predictors[0].root.children[1].from_request);
    assert_eq!(both.children[0].name, "a");
    let split = &both.children[1];
    assert_eq!(split.unit, UnitSpec::Builtin(Builtin::Splitter));
    assert_eq!(split.parameters.u64_list("weights").unwrap(), Some(vec![30, 70]));
    let UnitSpec::Remote(b) = &split.children[0].unit else { panic!("b is remote") };
    assert_eq!((b.host.as_str(), b.port), ("localhost", 80));
}

#[test]
fn kserve_errors_name_the_field() {
    let cases = [
        (
            KSERVE.replace("routerType: Ensemble", "routerType: Switch"),
            "spec.nodes.both.steps[0]: node 'a' is a step of SWITCH 'both' without a condition",
        ),
        (
            KSERVE.replace("{nodeName: split}", "{nodeName: root}"),
            "spec.nodes.both.steps[1].nodeName: 'root' leads back",
        ),
        (KSERVE.replace("{nodeName: split}", "{nodeName: nope}"), "no node is named 'nope'"),
        (KSERVE.replace(", weight: 30", ""), "spec.nodes.split.steps[0].weight: a Splitter step needs one"),
        (KSERVE.replace("data: $request", "data: $other"), "spec.nodes.root.steps[1].data"),
        (
            KSERVE.replace("/v2/models/scaler/infer", "/v1/models/scaler:predict"),
            "steps[0].serviceUrl: 'http",
        ),
        (
            KSERVE.replace(
                "{serviceName: a, serviceUrl: \"http://127.0.0.1:9002/v2/models/iris\"}",
                "{serviceName: a}",
            ),
            "serviceName: an InferenceService",
        ),
        (KSERVE.replace("    root:", "    rot:"), "needs a node named 'root'"),
        (KSERVE.replace("timeout: 5", "timeout: 5\n  replica: 1"), "spec: unknown field `replica`"),
        (
            KSERVE.replace("data: $request", "data: $request, condition: \"outputs.#(name=x\""),
            "spec.nodes.root.steps[1].condition: 'outputs.#(name=x' is not a condition oxserve reads: \
             '#(' is not closed",
        ),
        (
            KSERVE.replace("{name: scale,", "{condition: outputs.0, name: scale,"),
            "spec.nodes.root.steps[0]: node 'scale' has the condition 'outputs.0' but is the first step \
             of SEQUENCE 'root'",
        ),
        (
            KSERVE.replace("{nodeName: split}", "{nodeName: split, condition: inputs.0}"),
            "spec.nodes.split: node 'split' has the condition 'inputs.0', which only the steps of a \
             SWITCH or a SEQUENCE have",
        ),
    ];
    for (text, expected) in cases {
        let e = parse(&text, Path::new("/g"), "f").unwrap_err();
        assert!(e.message.contains(expected), "{expected}: {}", e.message);
    }
}

const SWITCH: &str = r#"
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata: {name: switch}
spec:
  nodes:
    root:
      routerType: Switch
      steps:
      - {nodeName: chain, condition: '[@this].#(parameters.route=="chain")'}
      - {name: raw, serviceUrl: "http://127.0.0.1:9001/v2/models/iris/infer", condition: 'inputs.#(datatype=="FP32")'}
    chain:
      routerType: Sequence
      steps:
      - {name: scale, serviceUrl: "http://127.0.0.1:9002/v2/models/scaler/infer"}
      - {name: classify, serviceUrl: "http://127.0.0.1:9001/v2/models/iris/infer", data: $response,
         condition: 'outputs.0.data.#(>1.5)', dependency: Hard}
"#;

#[test]
fn kserve_switch_and_step_conditions() {
    let spec = parse(SWITCH, Path::new("/g"), "f").unwrap();
    let root = &spec.predictors[0].root;
    assert_eq!(root.unit, UnitSpec::Builtin(Builtin::Switch));
    assert!(root.stages.route && !root.stages.aggregate);
    let conditions: Vec<&str> =
        root.children.iter().map(|c| c.condition.as_ref().unwrap().as_str()).collect();
    assert_eq!(conditions, ["[@this].#(parameters.route==\"chain\")", "inputs.#(datatype==\"FP32\")"]);
    let chain = &root.children[0];
    assert!(chain.condition.is_some() && chain.children[0].condition.is_none());
    let classify = &chain.children[1];
    assert_eq!(classify.condition.as_ref().map(Condition::as_str), Some("outputs.0.data.#(>1.5)"));
    assert!(!classify.from_request);
    // Steps are soft dependencies unless they say Hard, as in KServe.
    assert!(!classify.soft && chain.children[0].soft && root.children[1].soft);
}

#[test]
fn native_switch_and_its_checks() {
    let text = "graph:\n  name: s\n  implementation: SWITCH\n  children:\n\
                \x20   - {name: a, model: a.onnx, condition: 'parameters.fast'}\n\
                \x20   - {name: b, model: b.onnx, condition: 'inputs.0'}\n";
    let spec = native(text).unwrap();
    assert_eq!(spec.predictors[0].root.children[1].condition, Some(Condition::parse("inputs.0").unwrap()));
    let e = native(&text.replace(", condition: 'inputs.0'", "")).unwrap_err();
    assert!(
        e.message.contains("graph.children[1]: node 'b' is a step of SWITCH 's' without a condition"),
        "{}",
        e.message
    );
    let e = native(&text.replace("'inputs.0'", "'inputs|0'")).unwrap_err();
    assert!(
        e.message.starts_with("graph.children[1].condition: 'inputs|0' is not a condition"),
        "{}",
        e.message
    );
    let e = native("graph: {name: m, model: a.onnx, condition: 'x'}\n").unwrap_err();
    assert!(
        e.message.contains("graph: node 'm' has the condition 'x', which only the steps"),
        "{}",
        e.message
    );
}
