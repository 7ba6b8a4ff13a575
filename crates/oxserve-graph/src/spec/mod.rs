//! What a graph file says, in one neutral form whatever its format.
//!
//! Three formats are read: a SeldonDeployment manifest ([`seldon`]), a KServe InferenceGraph
//! ([`kserve`]) and a short native YAML ([`native`]). Both become a [`GraphSpec`]: a tree of [`NodeSpec`]s, each naming which unit
//! runs it and which calls (stages) the executor makes to it. Every field the formats do not
//! know is an error naming the field, so a typo never silently changes a deployment.

mod kserve;
mod native;
mod params;
mod seldon;

use std::path::{Path, PathBuf};
use std::time::Duration;

use oxserve_core::{Error, Result};
use serde::de::DeserializeOwned;

pub use crate::condition::Condition;
pub use params::Parameters;

/// A whole graph file: the name it is served under and its predictors, each a tree of nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSpec {
    pub name: String,
    pub predictors: Vec<PredictorSpec>,
}

impl GraphSpec {
    /// Every node of every predictor, each root before its children.
    pub fn nodes(&self) -> Vec<&NodeSpec> {
        fn walk<'a>(node: &'a NodeSpec, out: &mut Vec<&'a NodeSpec>) {
            out.push(node);
            node.children.iter().for_each(|child| walk(child, out));
        }
        let mut out = Vec::new();
        self.predictors.iter().for_each(|predictor| walk(&predictor.root, &mut out));
        out
    }
}

/// One predictor of a SeldonDeployment: a graph that takes a share of the traffic, or a copy of
/// it (`shadow`). The native form has one.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictorSpec {
    pub name: String,
    /// Percent of requests; the predictors that are not shadows add up to 100.
    pub traffic: u32,
    /// Gets a copy of every request; its answer is dropped.
    pub shadow: bool,
    pub root: NodeSpec,
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Unique in the graph: `meta.routing` and `meta.requestPath` are keyed by it.
    pub name: String,
    /// Where the node is in the file (`spec.predictors[0].graph.children[1]`), for errors.
    pub at: String,
    pub stages: Stages,
    pub unit: UnitSpec,
    pub parameters: Parameters,
    pub children: Vec<NodeSpec>,
    /// In a sequence, take the sequence's own request rather than the previous child's answer
    /// (KServe's `data: $request`).
    pub from_request: bool,
    /// KServe's step `condition`: under a `SWITCH`, the first child whose condition finds
    /// something in the request takes it; in a `SEQUENCE`, the child runs only when its condition
    /// finds something in the previous child's answer, and otherwise that answer ends the sequence.
    pub condition: Option<Condition>,
    /// KServe's `dependency: Soft` (its default): the node's failure does not fail its parent.
    /// In a SEQUENCE the next step takes what the failed one was given (the last step's failure
    /// is the answer, as KServe answers with the last step's status); under an ENSEMBLE its
    /// outputs are left out and its error is the answer's `<node>.error` parameter.
    pub soft: bool,
}

/// Seldon's predictive unit types; each implies the calls the executor makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    Model,
    Transformer,
    OutputTransformer,
    Router,
    Combiner,
}

impl NodeType {
    /// The calls Seldon's executor makes to a node of this type.
    pub fn stages(self) -> Stages {
        let mut stages = Stages::default();
        match self {
            NodeType::Model => {
                stages.input = Some(InputStage::Predict);
                stages.feedback = true;
            }
            NodeType::Transformer => stages.input = Some(InputStage::TransformInput),
            NodeType::OutputTransformer => stages.output = true,
            NodeType::Router => {
                stages.route = true;
                stages.feedback = true;
            }
            NodeType::Combiner => stages.aggregate = true,
        }
        stages
    }
}

/// Which unit calls the executor makes at a node, in walk order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    /// What turns the node's request into the one its children get.
    pub input: Option<InputStage>,
    /// Ask the unit which child (or all, or none) takes the request.
    pub route: bool,
    /// Combine the children's answers with the unit; otherwise the first child's answer is kept.
    pub aggregate: bool,
    /// Rewrite the answer on its way back.
    pub output: bool,
    /// Pass feedback to the unit.
    pub feedback: bool,
    /// Run the children one after another, each on the previous one's answer (a KServe
    /// `Sequence`), instead of side by side.
    pub sequence: bool,
}

impl Stages {
    /// The unit operations the executor calls, by the names the language bindings give them, so
    /// that a host can check at load time that a class implements them.
    pub fn operations(&self) -> Vec<&'static str> {
        let mut operations = Vec::new();
        match self.input {
            Some(InputStage::Predict) => operations.push("predict"),
            Some(InputStage::TransformInput) => operations.push("transform_input"),
            None => {}
        }
        let flagged = [
            (self.route, "route"),
            (self.aggregate, "aggregate"),
            (self.output, "transform_output"),
            (self.feedback, "send_feedback"),
        ];
        operations.extend(flagged.into_iter().filter(|(on, _)| *on).map(|(_, name)| name));
        operations
    }
}

/// The call a node's input stage makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputStage {
    Predict,
    TransformInput,
}

/// What runs a node.
#[derive(Debug, Clone, PartialEq)]
pub enum UnitSpec {
    /// A model file or a model folder served in this process, through the same loader as
    /// `oxserve serve`: ONNX, or a folder whose `model-settings.json` names a prepackaged server.
    Model(PathBuf),
    /// A prepackaged server on the folder of its model file, as Seldon's `implementation:
    /// SKLEARN_SERVER` with a `modelUri`; the Python package serves it.
    Server { implementation: String, folder: PathBuf },
    /// A user's class, built in this process by its language's host.
    Class(ClassSpec),
    /// A unit of oxserve itself.
    Builtin(Builtin),
    /// Another server, reached over the network.
    Remote(RemoteSpec),
}

impl UnitSpec {
    /// The language whose runtime must host this unit, if any: a graph runs in one process, so
    /// its classes and prepackaged servers must share a language.
    pub fn language(&self) -> Option<Language> {
        match self {
            UnitSpec::Class(class) => Some(class.language),
            UnitSpec::Server { .. } => Some(Language::Python),
            UnitSpec::Model(_) | UnitSpec::Builtin(_) | UnitSpec::Remote(_) => None,
        }
    }
}

/// A user's model class: a Seldon-style class in Python, or an `io.oxserve.Model` in Java.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassSpec {
    pub language: Language,
    /// Python: Seldon's interface name (`Module.Class`, or `Class` defined in `Class.py`) or
    /// `module:Class`; Java: the class's binary name (`com.example.MyModel`).
    pub class: String,
    /// Where the class is found: folders put first on Python's `sys.path`, or the Java class
    /// path's folders and jars. Relative entries are resolved against the graph file's folder.
    pub classpath: Vec<PathBuf>,
}

/// The languages whose classes a graph can run in its own process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Language {
    Python,
    Java,
}

impl Language {
    /// The `implementation` value that names the language.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "PYTHON",
            Language::Java => "JAVA",
        }
    }

    pub fn parse(name: &str) -> Option<Language> {
        match name {
            "PYTHON" => Some(Language::Python),
            "JAVA" => Some(Language::Java),
            _ => None,
        }
    }
}

/// The built-in units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Seldon's `RANDOM_ABTEST`: child 0 with probability `ratioA`, else child 1.
    RandomAbTest,
    /// Seldon's `AVERAGE_COMBINER`: the element-wise mean of the children's outputs.
    AverageCombiner,
    /// A multi-armed bandit router that mostly exploits the best branch so far.
    EpsilonGreedy,
    /// A multi-armed bandit router that samples each branch's Beta posterior.
    ThompsonSampling,
    /// KServe's `Splitter`: a child drawn by its percentage `weights`.
    Splitter,
    /// KServe's `Ensemble`: every child's outputs side by side, named `<child>.<output>`.
    Ensemble,
    /// KServe's `Sequence`: the children one after another.
    Sequence,
    /// KServe's `Switch`: the first child whose condition finds something in the request.
    Switch,
}

impl Builtin {
    pub const ALL: [Builtin; 8] = [
        Builtin::RandomAbTest,
        Builtin::AverageCombiner,
        Builtin::EpsilonGreedy,
        Builtin::ThompsonSampling,
        Builtin::Splitter,
        Builtin::Ensemble,
        Builtin::Sequence,
        Builtin::Switch,
    ];

    /// The `implementation` names of all built-in units, for error messages.
    pub fn names() -> String {
        Builtin::ALL.map(Builtin::name).join(", ")
    }

    /// Parses an `implementation` value; `None` for names that are not built-in units.
    pub fn parse(name: &str) -> Option<Builtin> {
        match name {
            "RANDOM_ABTEST" => Some(Builtin::RandomAbTest),
            "AVERAGE_COMBINER" => Some(Builtin::AverageCombiner),
            "EPSILON_GREEDY" => Some(Builtin::EpsilonGreedy),
            "THOMPSON_SAMPLING" => Some(Builtin::ThompsonSampling),
            "SPLITTER" => Some(Builtin::Splitter),
            "ENSEMBLE" => Some(Builtin::Ensemble),
            "SEQUENCE" => Some(Builtin::Sequence),
            "SWITCH" => Some(Builtin::Switch),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Builtin::RandomAbTest => "RANDOM_ABTEST",
            Builtin::AverageCombiner => "AVERAGE_COMBINER",
            Builtin::EpsilonGreedy => "EPSILON_GREEDY",
            Builtin::ThompsonSampling => "THOMPSON_SAMPLING",
            Builtin::Splitter => "SPLITTER",
            Builtin::Ensemble => "ENSEMBLE",
            Builtin::Sequence => "SEQUENCE",
            Builtin::Switch => "SWITCH",
        }
    }

    /// The calls the unit takes.
    pub fn stages(self) -> Stages {
        match self {
            Builtin::AverageCombiner | Builtin::Ensemble => NodeType::Combiner.stages(),
            Builtin::RandomAbTest
            | Builtin::EpsilonGreedy
            | Builtin::ThompsonSampling
            | Builtin::Splitter
            | Builtin::Switch => NodeType::Router.stages(),
            Builtin::Sequence => Stages { sequence: true, ..Stages::default() },
        }
    }
}

/// A unit served by another process.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSpec {
    pub host: String,
    pub port: u16,
    /// The model a V2 unit is asked for (by default the node's name); Seldon units serve one.
    pub model: String,
    pub transport: Transport,
    pub protocol: Protocol,
    /// Longest one call may take, retries included.
    pub timeout: Duration,
    /// Extra attempts for calls that are safe to repeat (all but feedback, which changes state).
    pub retries: u32,
}

impl RemoteSpec {
    /// Where the unit is, as logs and `meta.requestPath` show it: `seldon+grpc://host:port`.
    pub fn url(&self) -> String {
        let protocol = match self.protocol {
            Protocol::Seldon => "seldon",
            Protocol::V2 => "v2",
        };
        let transport = match self.transport {
            Transport::Rest => "http",
            Transport::Grpc => "grpc",
        };
        format!("{protocol}+{transport}://{}:{}", self.host, self.port)
    }
}

/// Default per-call limit of a remote unit when the file sets none.
pub const DEFAULT_REMOTE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default extra attempts of an idempotent remote call.
pub const DEFAULT_REMOTE_RETRIES: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Rest,
    Grpc,
}

/// The protocol a remote unit speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Seldon's component API: `/predict`, `/transform-input`, `/route`, … (or their gRPC twins).
    Seldon,
    /// Open Inference Protocol V2: `infer` only, so the unit can be a model and nothing else.
    V2,
}

/// Reads a graph file, SeldonDeployment or native. Relative model paths are resolved against the
/// file's folder, so a graph works from any working directory.
pub fn load(path: &Path) -> Result<GraphSpec> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
    let folder = path.parent().unwrap_or(Path::new("."));
    let default_name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    parse(&text, folder, &default_name).map_err(|e| e.context(path.display()))
}

/// Parses graph text; `folder` anchors relative model paths, `default_name` names a graph whose
/// text names none.
pub fn parse(text: &str, folder: &Path, default_name: &str) -> Result<GraphSpec> {
    let probe: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| Error::invalid(format!("not YAML: {e}")))?;
    let spec = match (
        probe.get("apiVersion").and_then(|v| v.as_str()),
        probe.get("kind").and_then(|v| v.as_str()),
    ) {
        (Some(api), Some("SeldonDeployment")) if api.starts_with("machinelearning.seldon.io/") => {
            seldon::convert(typed(text)?, folder)?
        }
        (Some(api), Some("InferenceGraph")) if api.starts_with("serving.kserve.io/") => {
            kserve::convert(typed(text)?, default_name)?
        }
        (Some(api), Some(kind)) => {
            return Err(Error::invalid(format!(
                "kind: {api} {kind} is not a graph this version reads; give a SeldonDeployment \
                 (machinelearning.seldon.io/v1), a KServe InferenceGraph (serving.kserve.io/v1alpha1) \
                 or a native graph (name, graph)"
            )));
        }
        _ => native::convert(typed(text)?, folder, default_name)?,
    };
    check_one_language(&spec)?;
    for predictor in &spec.predictors {
        check_condition(&predictor.root, None, 0)?;
        validate(&predictor.root)?;
        let mut names = std::collections::BTreeSet::new();
        check_unique(&predictor.root, &mut names)?;
        if spec.predictors.len() > 1 && names.contains(spec.name.as_str()) {
            return Err(Error::invalid(format!(
                "{}: a node is named '{}' like the deployment, whose name keys the predictor chosen in \
                 meta.routing; rename one",
                predictor.root.at, spec.name
            )));
        }
    }
    Ok(spec)
}

/// Deserializes YAML into `T`. The YAML reader's errors start with the path of the field at
/// fault and end with its line (`graph.children[1]: unknown field `nmae`, … at line 7 column 5`).
fn typed<T: DeserializeOwned>(text: &str) -> Result<T> {
    serde_norway::from_str(text).map_err(|e| Error::invalid(e.to_string()))
}

/// Checks what the executor relies on: routers and combiners have children, built-ins get the
/// children they need.
fn validate(node: &NodeSpec) -> Result<()> {
    let fail = |message: String| Err(Error::invalid(format!("{}: node '{}' {message}", node.at, node.name)));
    if (node.stages.route || node.stages.aggregate || node.stages.sequence) && node.children.is_empty() {
        return fail("routes, combines or chains, so it needs children".into());
    }
    if node.stages.input.is_none() && !node.stages.output && node.children.is_empty() {
        return fail("has no children and no stage that answers; give it a type such as MODEL".into());
    }
    if let UnitSpec::Builtin(builtin) = node.unit {
        // Feedback may be asked for by a method; every other call is the unit's to say.
        let without_feedback = |stages: Stages| Stages { feedback: false, ..stages };
        if without_feedback(node.stages) != without_feedback(builtin.stages()) {
            return fail(format!("is {} but its type or methods ask for other calls", builtin.name()));
        }
        if builtin == Builtin::RandomAbTest && node.children.len() != 2 {
            return fail(format!(
                "is RANDOM_ABTEST, which needs exactly 2 children, not {}",
                node.children.len()
            ));
        }
    }
    if let UnitSpec::Remote(remote) = &node.unit
        && remote.protocol == Protocol::V2
        && (node.stages.route
            || node.stages.aggregate
            || node.stages.output
            || node.stages.input == Some(InputStage::TransformInput))
    {
        return fail(
            "speaks V2, which has only model inference; use protocol seldon for other node types".into(),
        );
    }
    for (i, child) in node.children.iter().enumerate() {
        check_condition(child, Some(node), i)?;
    }
    node.children.iter().try_for_each(validate)
}

/// Conditions belong to the steps of a SWITCH (each needs one) and to the steps of a SEQUENCE
/// after the first (which has no previous answer to read); `node` is child `index` of `parent`.
fn check_condition(node: &NodeSpec, parent: Option<&NodeSpec>, index: usize) -> Result<()> {
    let fail = |message: String| Err(Error::invalid(format!("{}: node '{}' {message}", node.at, node.name)));
    let parent_builtin = parent.and_then(|p| match p.unit {
        UnitSpec::Builtin(builtin) => Some((p.name.as_str(), builtin)),
        _ => None,
    });
    match (parent_builtin, &node.condition) {
        (Some((switch, Builtin::Switch)), None) => fail(format!(
            "is a step of SWITCH '{switch}' without a condition; the first step whose condition finds \
             something in the request takes it"
        )),
        (Some((sequence, Builtin::Sequence)), Some(condition)) if index == 0 => fail(format!(
            "has the condition '{condition}' but is the first step of SEQUENCE '{sequence}': a step's \
             condition reads the previous step's answer"
        )),
        (Some((_, Builtin::Switch | Builtin::Sequence)), _) | (_, None) => Ok(()),
        (_, Some(condition)) => fail(format!(
            "has the condition '{condition}', which only the steps of a SWITCH or a SEQUENCE have"
        )),
    }
}

/// A graph runs in one process, which hosts one language besides Rust: Python (classes and
/// prepackaged servers) or Java.
fn check_one_language(spec: &GraphSpec) -> Result<()> {
    let mut first: Option<(&NodeSpec, Language)> = None;
    for node in spec.nodes() {
        let Some(language) = node.unit.language() else { continue };
        match first {
            None => first = Some((node, language)),
            Some((other, theirs)) if theirs != language => {
                return Err(Error::invalid(format!(
                    "{}: node '{}' runs in {} but node '{}' ({}) runs in {}; one process hosts one of \
                     them, so serve one as a remote unit (an endpoint)",
                    node.at,
                    node.name,
                    language.name(),
                    other.name,
                    other.at,
                    theirs.name()
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn check_unique<'a>(node: &'a NodeSpec, names: &mut std::collections::BTreeSet<&'a str>) -> Result<()> {
    if !names.insert(&node.name) {
        return Err(Error::invalid(format!(
            "{}.name: '{}' names two nodes; names key meta.routing and must be unique",
            node.at, node.name
        )));
    }
    node.children.iter().try_for_each(|child| check_unique(child, names))
}

/// A model path from a file: relative paths are relative to the graph file's folder, and a
/// `file://` prefix is dropped. Remote storage (`gs://`, `s3://`…) is not fetched.
fn model_path(uri: &str, folder: &Path, field: &str) -> Result<PathBuf> {
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    if path.contains("://") {
        return Err(Error::invalid(format!(
            "{field}: '{uri}' is remote storage, which `oxserve run` does not download; give a local path"
        )));
    }
    Ok(folder.join(path))
}

#[cfg(test)]
mod tests;
