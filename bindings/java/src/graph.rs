//! An inference graph served in the JVM (`Server.builder().graph(file)`, `Runner --graph FILE`).
//!
//! The graph file is read and assembled by `oxserve-graph`, as `oxserve run` does, with a host
//! that runs the graph's local units here: model files through the server's loader, and Java
//! classes built by `io.oxserve.GraphUnit` on the Java thread that started the server, so that
//! the class loaders it makes descend from the one that loaded oxserve. Each class then runs as a
//! [`crate::unit::JavaUnit`] behind its scheduler, like a model given to `Server.builder().model`.
//! Python classes and prepackaged servers cannot run in a JVM and are refused by node.

use std::path::Path;
use std::sync::Arc;

use jni::objects::{JObject, JValue};
use jni::{Env, jni_sig, jni_str};
use oxserve_core::{Error, Result, Unit};
use oxserve_graph::spec::{ClassSpec, Language, NodeSpec, UnitSpec};
use oxserve_graph::{GraphMetrics, Host};
use oxserve_server::{Metrics, foreign_model, load_model_path};
use serde_json::json;

use crate::unit::JavaClasses;
use crate::{ModelDeclaration, jni_failure, schedule};

/// Reads the graph in `file` and builds it, its Java units included; the graph's unit and router
/// metrics join `metrics`. Must run inside the tokio runtime, on the Java thread that called
/// `start0`.
pub fn assemble(
    env: &Env,
    classes: &Arc<JavaClasses>,
    file: &Path,
    metrics: &Metrics,
) -> Result<Arc<dyn Unit>> {
    let spec = oxserve_graph::spec::load(file)?;
    let host = JvmHost { env, classes, metrics };
    let graph_metrics = GraphMetrics::new();
    let graph = oxserve_graph::assemble(&spec, &host, &graph_metrics)?;
    for collector in graph_metrics.collectors() {
        metrics.register(collector)?;
    }
    Ok(graph)
}

/// The graph's host in the JVM: loads model files and builds Java classes.
struct JvmHost<'a, 'local> {
    /// The thread that called `start0`; `assemble` calls the host from it, one node at a time,
    /// each in a local reference frame of its own.
    env: &'a Env<'local>,
    classes: &'a Arc<JavaClasses>,
    metrics: &'a Metrics,
}

impl Host for JvmHost<'_, '_> {
    fn load(&self, node: &NodeSpec) -> Result<Arc<dyn Unit>> {
        match &node.unit {
            UnitSpec::Model(path) => {
                if path.is_dir()
                    && let Some((_, implementation)) = foreign_model(path)?
                {
                    return Err(runs_in_python(node, &format!("a model folder served by {implementation}")));
                }
                load_model_path(path, &node.name, self.metrics)
            }
            UnitSpec::Class(class) if class.language == Language::Java => self.java_class(node, class),
            UnitSpec::Class(class) => Err(runs_in_python(node, &format!("the Python class {}", class.class))),
            UnitSpec::Server { implementation, .. } => {
                Err(runs_in_python(node, &format!("the prepackaged server {implementation}")))
            }
            UnitSpec::Builtin(_) | UnitSpec::Remote(_) => {
                Err(Error::internal(format!("node '{}' is not a unit of this process", node.name)))
            }
        }
    }
}

impl JvmHost<'_, '_> {
    /// Builds, loads and describes the node's class in Java (`GraphUnit.build`), then schedules it.
    /// A failure there (a missing class, an operation the node needs that the class lacks, a
    /// `load` that threw) comes back as the `ServerException` Java threw, whose message names the
    /// node and the class.
    fn java_class(&self, node: &NodeSpec, class: &ClassSpec) -> Result<Arc<dyn Unit>> {
        // The executor treats a unit without feedback as one that ignores it, so only the other
        // calls of the node's stages are required.
        let required: Vec<&str> =
            node.stages.operations().into_iter().filter(|operation| *operation != "send_feedback").collect();
        let request = json!({
            "node": node.name,
            "class": class.class,
            "classpath": class.classpath.iter().map(|path| path.display().to_string()).collect::<Vec<_>>(),
            "parameters": node.parameters.values(),
            "operations": required,
        });
        // The frame frees the local references made for this node; only JNI failures of the frame
        // itself are `Err` outside, the node's own failures are the inner result.
        let scheduled = self.env.with_local_frame(8, |env| -> jni::errors::Result<Result<Arc<dyn Unit>>> {
            let (model, declaration) = match build(env, &request.to_string()) {
                Ok(built) => built,
                Err(e) => {
                    return Ok(Err(java_exception(env).unwrap_or_else(|| jni_failure("GraphUnit.build", e))));
                }
            };
            let declared = serde_json::from_str::<ModelDeclaration>(&declaration)
                .map_err(|e| Error::internal(format!("node '{}': its declaration: {e}", node.name)));
            Ok(declared.and_then(|declared| schedule(env, self.classes, &model, declared, self.metrics)))
        });
        scheduled.unwrap_or_else(|e| Err(jni_failure("cannot make a local reference frame", e)))
    }
}

/// Calls `io.oxserve.GraphUnit.build(request)`: the model object and its declaration (JSON).
fn build<'local>(env: &mut Env<'local>, request: &str) -> jni::errors::Result<(JObject<'local>, String)> {
    let graph_unit = env.find_class(jni_str!("io/oxserve/GraphUnit"))?;
    let request = env.new_string(request)?;
    let built = env
        .call_static_method(
            &graph_unit,
            jni_str!("build"),
            jni_sig!("(Ljava/lang/String;)Lio/oxserve/GraphUnit;"),
            &[JValue::Object(&request)],
        )?
        .l()?;
    let model = env.call_method(&built, jni_str!("model"), jni_sig!("()Lio/oxserve/Model;"), &[])?.l()?;
    let declaration =
        env.call_method(&built, jni_str!("declaration"), jni_sig!("()Ljava/lang/String;"), &[])?.l()?;
    Ok((model, crate::convert::string(env, declaration)?))
}

/// The pending Java exception's message as an error, cleared so that the start can throw its own.
fn java_exception(env: &mut Env) -> Option<Error> {
    let throwable = env.exception_occurred()?;
    env.exception_clear();
    let message = env
        .call_method(&throwable, jni_str!("getMessage"), jni_sig!("()Ljava/lang/String;"), &[])
        .and_then(|message| message.l())
        .and_then(|message| crate::convert::string(env, message));
    env.exception_clear();
    Some(Error::invalid(message.unwrap_or_else(|_| "a Java class could not be built".into())))
}

/// The error for a node whose unit needs Python.
fn runs_in_python(node: &NodeSpec, what: &str) -> Error {
    Error::invalid(format!(
        "node '{}' is {what}, which runs in Python, not in the JVM: serve the graph with `oxserve run` \
         or `python -m oxserve --graph`, or serve the node on its own and give it an endpoint",
        node.name
    ))
}
