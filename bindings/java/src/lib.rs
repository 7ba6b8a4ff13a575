//! The native half of the `io.oxserve:oxserve` Maven artifact (`liboxserve_java`).
//!
//! The Rust server runs inside the user's JVM: `io.oxserve.Server.start` passes the models and a
//! JSON declaration of them to [`Java_io_oxserve_Server_start0`], which starts the server on its
//! own threads and returns once both ports listen. Each model is a [`unit::JavaUnit`] behind the
//! per-model scheduler of `oxserve-batch`, so queue limits, dynamic batching and metrics are the
//! same as for native models; only the model's methods run Java, on the unit's own threads,
//! each attached to the JVM once for its whole life.

mod convert;
mod graph;
mod unit;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JObject, JObjectArray, JString};
use jni::strings::JNIString;
use jni::sys::jlong;
use jni::{Env, EnvUnowned, jni_str};
use oxserve_core::{Error, ModelMetadata, Unit};
use oxserve_server::{Metrics, Registry, ServerConfig};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::unit::{JavaClasses, JavaUnit, OPERATIONS};

/// What `io.oxserve.Server` declares, as the JSON it writes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declaration {
    host: String,
    http_port: u16,
    grpc_port: u16,
    #[serde(default)]
    default_model: Option<String>,
    drain_timeout: f64,
    max_request_size: usize,
    log_level: String,
    /// One entry per model, in the order of the model objects passed beside the JSON.
    models: Vec<ModelDeclaration>,
    /// A graph file to serve beside the models (see [`graph`]).
    #[serde(default)]
    graph: Option<PathBuf>,
}

/// One model: its V2 metadata, its settings (MLServer's field names), the operations
/// ([`OPERATIONS`]) its class implements and what its `health()` answered after `load()`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelDeclaration {
    metadata: ModelMetadata,
    settings: serde_json::Value,
    operations: Vec<String>,
    ready: bool,
}

/// A server started by `start0`: how to stop it and the thread that serves.
struct RunningServer {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<Result<(), Error>>,
}

/// Puts each declared model behind its scheduler. Must run inside the tokio runtime.
fn build_units(
    env: &mut Env,
    classes: &Arc<JavaClasses>,
    models: &JObjectArray,
    declared: Vec<ModelDeclaration>,
    metrics: &Metrics,
) -> Result<Vec<Arc<dyn Unit>>, Error> {
    let mut units: Vec<Arc<dyn Unit>> = Vec::new();
    for (i, declaration) in declared.into_iter().enumerate() {
        let model = models.get_element(env, i).map_err(|e| jni_failure("cannot read the models", e))?;
        units.push(schedule(env, classes, &model, declaration, metrics)?);
    }
    Ok(units)
}

/// Puts one Java model (an `io.oxserve.Model`), described by `declared`, behind its scheduler:
/// a [`JavaUnit`] whose worker threads call it.
fn schedule(
    env: &mut Env,
    classes: &Arc<JavaClasses>,
    model: &JObject,
    declared: ModelDeclaration,
    metrics: &Metrics,
) -> Result<Arc<dyn Unit>, Error> {
    let ModelDeclaration { metadata, settings, operations, ready } = declared;
    let declaration =
        oxserve_foreign::Declaration::new(metadata, &settings.to_string(), &operations, &OPERATIONS)?;
    let model = env.new_global_ref(model).map_err(|e| jni_failure("cannot keep the model", e))?;
    let vm = env.get_java_vm().map_err(|e| jni_failure("cannot reach the JVM", e))?;
    let classes = Arc::clone(classes);
    declaration.schedule(metrics, |setup| JavaUnit::new(setup, vm, classes, model, ready))
}

/// A JNI failure inside oxserve's own glue (not the model's code) as an error naming `what`.
fn jni_failure(what: &str, error: jni::errors::Error) -> Error {
    Error::internal(format!("{what}: {error}"))
}

/// Starts serving `models` as `declaration` (JSON) describes them, and returns once both ports
/// listen; the handle is for `stop0`. Throws `io.oxserve.ServerException` naming the problem when
/// the server cannot start (a port in use, inconsistent settings).
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_oxserve_Server_start0<'caller>(
    mut unowned_env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    declaration: JString<'caller>,
    models: JObjectArray<'caller>,
) -> jlong {
    unowned_env
        .with_env(|env| -> jni::errors::Result<jlong> {
            let declaration = declaration.try_to_string(env)?;
            match start(env, &declaration, &models) {
                Ok(server) => Ok(Box::into_raw(Box::new(server)) as jlong),
                Err(e) => {
                    env.throw_new(jni_str!("io/oxserve/ServerException"), JNIString::from(e.message))?;
                    Ok(0)
                }
            }
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// Stops a server started by `start0`: no new connections, in-flight requests finish within the
/// drain timeout; returns when the server has stopped. Java calls it at most once per handle.
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_oxserve_Server_stop0<'caller>(
    mut unowned_env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    handle: jlong,
) {
    unowned_env
        .with_env(|env| -> jni::errors::Result<()> {
            // SAFETY: `handle` came from `Box::into_raw` in `start0`, and `io.oxserve.Server`
            // passes it here exactly once.
            let server = unsafe { Box::from_raw(handle as *mut RunningServer) };
            let _ = server.stop.send(());
            match server.thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    env.throw_new(jni_str!("io/oxserve/ServerException"), JNIString::from(e.message))?
                }
                Err(_) => env.throw_new(
                    jni_str!("io/oxserve/ServerException"),
                    jni_str!("the server thread panicked"),
                )?,
            }
            Ok(())
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

fn start(env: &mut Env, declaration: &str, models: &JObjectArray) -> Result<RunningServer, Error> {
    let declaration: Declaration =
        serde_json::from_str(declaration).map_err(|e| Error::invalid(format!("server declaration: {e}")))?;
    let config = ServerConfig::from_options(
        &declaration.host,
        declaration.http_port,
        declaration.grpc_port,
        declaration.max_request_size,
        declaration.drain_timeout,
        "drainTimeout",
    )?;
    oxserve_foreign::init_logging(&declaration.log_level);
    let config = ServerConfig {
        seldon_unit_id: std::env::var("PREDICTIVE_UNIT_ID").ok(),
        seldon_unit_image: std::env::var("PREDICTIVE_UNIT_IMAGE").ok(),
        ..config
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("oxserve-io")
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
    let metrics = Arc::new(Metrics::new());
    // Units are built here, on the Java thread that called `start`: its class loader is the
    // one that found the model classes, and the one a graph's classes descend from.
    let units = {
        let _entered = runtime.enter();
        let classes =
            Arc::new(JavaClasses::find(env).map_err(|e| jni_failure("cannot find oxserve's classes", e))?);
        let mut units = build_units(env, &classes, models, declaration.models, &metrics)?;
        if let Some(file) = &declaration.graph {
            units.push(graph::assemble(env, &classes, file, &metrics)?);
        }
        units
    };
    let registry = Registry::new(units, declaration.default_model)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (listening_tx, listening) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("oxserve-server".into())
        .spawn(move || {
            let served = runtime.block_on(oxserve_server::serve_until(
                config,
                registry,
                metrics,
                move || {
                    let _ = listening_tx.send(());
                },
                async move {
                    let _ = stopped.await;
                },
            ));
            // Past the drain timeout a Java call may still run; it cannot be interrupted, so the
            // runtime is left behind rather than waited for.
            runtime.shutdown_timeout(Duration::from_millis(100));
            served
        })
        .map_err(|e| Error::internal(format!("cannot start the server thread: {e}")))?;
    match listening.recv() {
        Ok(()) => Ok(RunningServer { stop, thread }),
        // The server ended before listening: its error says why.
        Err(_) => Err(match thread.join() {
            Ok(Err(e)) => e,
            Ok(Ok(())) => Error::internal("the server stopped before it listened"),
            Err(_) => Error::internal("the server thread panicked while starting"),
        }),
    }
}
