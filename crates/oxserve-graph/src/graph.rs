//! The executor: a graph of units that is itself a [`Unit`], so the server serves it like any
//! model, through every protocol.
//!
//! The walk is Seldon's executor's (`seldon-contract.md` §6.3): a node's input stage (predict or
//! transform-input), then its children (all concurrently, or the one its router picks, or none),
//! then its aggregate (or the first child's answer), then its output transform. Unlike Seldon's,
//! the answer's `meta.routing` always carries each router's choice, so a client can send it back
//! with its feedback, and `meta.requestPath` lists every unit visited.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, join_all};
use oxserve_core::{
    DataType, Error, ErrorKind, Feedback, GraphMetadata, InferenceRequest, InferenceResponse, Meta,
    ModelMetadata, Parameters, Result, Tensor, TensorSpec, Unit,
};

use crate::condition::Condition;
use crate::message::{Body, as_request, as_response, as_v2_json, fit, merge, publish_routing, union};
use crate::metrics::UnitCalls;
use crate::spec::{InputStage, Stages};

/// The name of the empty output that answers feedback, as Seldon's components answer it.
const FEEDBACK_OUTPUT: &str = "feedback";

/// The parameter of the empty answer that stands for a soft child's failure under a node that
/// runs all its children, holding the error's message (see [`Node::excused`]).
pub(crate) const SOFT_FAILURE: &str = "error";

/// `-1` from a router: every child takes the request.
const ALL_CHILDREN: i32 = -1;
/// `-2` from a router: no child does; the node answers with its input.
const NO_CHILD: i32 = -2;

/// A graph ready to serve.
pub(crate) struct Graph {
    metadata: ModelMetadata,
    root: Node,
}

/// One node: its unit, the calls it gets, its children.
pub(crate) struct Node {
    pub name: String,
    pub stages: Stages,
    pub unit: Arc<dyn Unit>,
    /// What `meta.requestPath` records for this node: a model file, a built-in, a URL.
    pub label: String,
    pub children: Vec<Node>,
    /// In a sequence, this node takes the sequence's request instead of the previous answer.
    pub from_request: bool,
    /// In a sequence, this node runs only when its condition finds something in the previous
    /// answer (a switch's unit holds its children's conditions itself).
    pub condition: Option<Condition>,
    /// Its failure does not fail its parent ([`crate::spec::NodeSpec::soft`]).
    pub soft: bool,
    pub calls: UnitCalls,
}

impl Graph {
    /// A graph served as `name`. Its inputs are those of the first unit a request reaches, its
    /// outputs those of the unit that answers last (first children first), so that clients and
    /// codecs see the graph as the model it stands for.
    pub(crate) fn new(name: String, root: Node) -> Graph {
        let metadata = ModelMetadata {
            name,
            platform: "oxserve-graph".into(),
            inputs: entry_inputs(&root),
            outputs: exit_outputs(&root),
            ..Default::default()
        };
        Graph { metadata, root }
    }

    /// Every node's name and unit, root first, depth first.
    fn units(&self) -> Vec<(&str, &Arc<dyn Unit>)> {
        fn walk<'a>(node: &'a Node, out: &mut Vec<(&'a str, &'a Arc<dyn Unit>)>) {
            out.push((&node.name, &node.unit));
            node.children.iter().for_each(|child| walk(child, out));
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }
}

fn entry_inputs(node: &Node) -> Vec<TensorSpec> {
    let own = &node.unit.metadata().inputs;
    match (&node.stages.input, node.children.first()) {
        (Some(_), _) if !own.is_empty() => own.clone(),
        (_, Some(first)) => entry_inputs(first),
        _ => own.clone(),
    }
}

fn exit_outputs(node: &Node) -> Vec<TensorSpec> {
    let own = &node.unit.metadata().outputs;
    let answering = if node.stages.sequence { node.children.last() } else { node.children.first() };
    match answering {
        _ if node.stages.output && !own.is_empty() => own.clone(),
        Some(first) => exit_outputs(first),
        None => own.clone(),
    }
}

#[async_trait]
impl Unit for Graph {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn graph_metadata(&self) -> Option<GraphMetadata> {
        let units = self.units().into_iter().map(|(name, unit)| (name.to_string(), unit.metadata().clone()));
        Some(GraphMetadata { graph: self.metadata.clone(), units: units.collect() })
    }

    fn is_ready(&self) -> bool {
        self.units().iter().all(|(_, unit)| unit.is_ready())
    }

    async fn predict(&self, mut request: InferenceRequest) -> Result<InferenceResponse> {
        if request.meta.puid.is_empty() {
            request.meta.puid = uuid::Uuid::new_v4().to_string();
        }
        let id = request.id.clone();
        let mut response = self.root.predict(request).await?;
        response.id = id;
        response.model_name.clone_from(&self.metadata.name);
        response.model_version = None;
        publish_routing(&mut response);
        Ok(response)
    }

    /// Feedback goes down the routing recorded in `response.meta.routing`, to every router and
    /// model that served the prediction; the answer is an empty message, as a Seldon component's.
    async fn send_feedback(&self, feedback: Feedback) -> Result<InferenceResponse> {
        self.root.feedback(&feedback).await?;
        let puid = feedback.request.as_ref().map(|r| r.meta.puid.clone()).unwrap_or_default();
        Ok(InferenceResponse {
            model_name: self.metadata.name.clone(),
            outputs: vec![Tensor::new(FEEDBACK_OUTPUT, DataType::Fp64, vec![0], Bytes::new())?],
            meta: Meta { puid, ..Meta::default() },
            ..InferenceResponse::default()
        })
    }
}

impl Node {
    fn predict(&self, request: InferenceRequest) -> BoxFuture<'_, Result<InferenceResponse>> {
        async move {
            let input = match self.stages.input {
                Some(stage) => self.input_stage(stage, request).await?,
                None => request,
            };
            let mut answer = if self.children.is_empty() {
                as_response(input)
            } else {
                self.children_stage(input).await?
            };
            if self.stages.output {
                let meta = answer.meta.clone();
                let transformed = self.call("transform_output", self.unit.transform_output(answer)).await?;
                answer = InferenceResponse { meta: merge(&meta, transformed.meta.clone()), ..transformed };
            }
            answer.meta.request_path.entry(self.name.clone()).or_insert_with(|| self.label.clone());
            Ok(answer)
        }
        .boxed()
    }

    async fn input_stage(&self, stage: InputStage, request: InferenceRequest) -> Result<InferenceRequest> {
        let meta = request.meta.clone();
        let request = fit(request, self.unit.metadata());
        let mut next = match stage {
            InputStage::Predict => as_request(self.call("predict", self.unit.predict(request)).await?),
            InputStage::TransformInput => {
                self.call("transform_input", self.unit.transform_input(request)).await?
            }
        };
        next.meta = merge(&meta, std::mem::take(&mut next.meta));
        next.meta.request_path.insert(self.name.clone(), self.label.clone());
        Ok(next)
    }

    async fn children_stage(&self, input: InferenceRequest) -> Result<InferenceResponse> {
        if self.stages.sequence {
            return self.sequence_stage(input).await;
        }
        let choice = if self.stages.route {
            let request = fit(input.clone(), self.unit.metadata());
            self.call("route", self.unit.route(&request)).await?
        } else {
            ALL_CHILDREN
        };
        let answers = match choice {
            NO_CHILD => {
                let mut answer = as_response(input);
                self.record(&mut answer.meta, choice);
                return Ok(answer);
            }
            ALL_CHILDREN => {
                let answers = self.children.iter().map(|child| async {
                    let answer = child.predict(input.clone()).await;
                    child.excused(answer)
                });
                join_all(answers).await.into_iter().collect::<Result<Vec<_>>>()?
            }
            index => {
                let child = usize::try_from(index).ok().and_then(|i| self.children.get(i)).ok_or_else(|| {
                    Error::internal(format!(
                        "router '{}' chose child {index}, but it has {} children (0 to {}, -1 for all, -2 for none)",
                        self.name,
                        self.children.len(),
                        self.children.len() - 1
                    ))
                })?;
                vec![child.predict(input).await?]
            }
        };
        let meta = union(answers.iter().map(|a| &a.meta));
        let mut answer = if self.stages.aggregate {
            let combined = self.call("aggregate", self.unit.aggregate(answers)).await?;
            InferenceResponse { meta: merge(&meta, combined.meta.clone()), ..combined }
        } else {
            let first = answers.into_iter().next().expect("a node with children has an answer");
            InferenceResponse { meta, ..first }
        };
        self.record(&mut answer.meta, choice);
        Ok(answer)
    }

    /// The children one after another, each on the previous answer (or on the sequence's own
    /// request, for a child that asks for it), with meta accumulating along the way. A child
    /// whose condition finds nothing in the previous answer ends the sequence with that answer,
    /// as KServe's router does.
    async fn sequence_stage(&self, input: InferenceRequest) -> Result<InferenceResponse> {
        let mut current = input.clone();
        for child in &self.children {
            if let Some(condition) = &child.condition {
                let answer = as_v2_json(&current, Body::Response, condition.reads("data"))
                    .map_err(|e| e.context(format_args!("condition of '{}'", child.name)))?;
                if !condition.matches(&answer) {
                    break;
                }
            }
            let request = if child.from_request {
                InferenceRequest { meta: current.meta, ..input.clone() }
            } else {
                current
            };
            let last = std::ptr::eq(child, self.children.last().expect("a sequence has children"));
            let given = (child.soft && !last).then(|| request.clone());
            current = match (child.predict(request).await, given) {
                (Ok(answer), _) => as_request(answer),
                (Err(e), Some(given)) => {
                    tracing::warn!(
                        "sequence '{}': soft step '{}' failed, skipped: {e}",
                        self.name,
                        child.name
                    );
                    given
                }
                (Err(e), None) => return Err(e),
            };
        }
        Ok(as_response(current))
    }

    /// A soft node's failure as an answer with no outputs and the error's message in its
    /// [`SOFT_FAILURE`] parameter, which an ensemble reports; any other answer as it is.
    fn excused(&self, answer: Result<InferenceResponse>) -> Result<InferenceResponse> {
        match answer {
            Err(e) if self.soft => {
                tracing::warn!("soft step '{}' failed: {e}", self.name);
                let mut parameters = Parameters::new();
                parameters.insert(SOFT_FAILURE.into(), e.message.into());
                Ok(InferenceResponse { parameters, ..InferenceResponse::default() })
            }
            answer => answer,
        }
    }

    /// Routers' choices go to `meta.routing`, where feedback finds them.
    fn record(&self, meta: &mut Meta, choice: i32) {
        if self.stages.route {
            meta.routing.insert(self.name.clone(), choice);
        }
    }

    fn feedback<'a>(&'a self, feedback: &'a Feedback) -> BoxFuture<'a, Result<()>> {
        async move {
            if !self.children.is_empty() {
                let routing =
                    feedback.response.as_ref().and_then(|r| r.meta.routing.get(&self.name).copied());
                match routing.unwrap_or(ALL_CHILDREN) {
                    NO_CHILD => {}
                    ALL_CHILDREN => {
                        let done = join_all(self.children.iter().map(|child| child.feedback(feedback))).await;
                        done.into_iter().collect::<Result<Vec<()>>>()?;
                    }
                    index => {
                        let child = usize::try_from(index)
                            .ok()
                            .and_then(|i| self.children.get(i))
                            .ok_or_else(|| {
                                Error::invalid(format!(
                                    "response.meta.routing.{}: {index} is not a child of '{}' (0 to {})",
                                    self.name,
                                    self.name,
                                    self.children.len() - 1
                                ))
                            })?;
                        child.feedback(feedback).await?;
                    }
                }
            }
            if self.stages.feedback {
                match self.call("send_feedback", self.unit.send_feedback(feedback.clone())).await {
                    Ok(_) => {}
                    // A model that does not learn from feedback is no error, as in Seldon.
                    Err(e) if e.kind == ErrorKind::Unimplemented => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
        .boxed()
    }

    /// Calls the unit, timed for the metrics. An error names the unit and keeps its kind: a bad
    /// request stays the caller's fault and a failing unit the server's.
    async fn call<T>(&self, name: &str, call: impl Future<Output = Result<T>>) -> Result<T> {
        self.calls.time(name, call).await.map_err(|e| e.context(format_args!("unit '{}'", self.name)))
    }
}
