//! [`JavaUnit`]: a [`Unit`] whose operations run the user's Java model.
//!
//! Calls never run on the server's tokio threads: each is handed to one of the unit's own worker
//! threads, attached to the JVM once when it starts (a JVM thread named `oxserve-<model>-<i>`),
//! which calls the model and sends the answer back. A slow or hung `predict` therefore only
//! occupies its worker, never health checks or other models, and the caller stops waiting after
//! the unit's timeout. Every call runs in its own JNI local frame, so the references it makes are
//! freed when it ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jni::objects::{JClass, JObject, JThrowable, JValue};
use jni::refs::Global;
use jni::strings::JNIString;
use jni::vm::{AttachConfig, JavaVM};
use jni::{Env, jni_sig, jni_str};
use oxserve_core::{
    Error, ErrorKind, Feedback, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit,
};
use oxserve_foreign::{ForeignModel, Jobs, Limit, Setup};

use crate::convert;

/// A unit of work for a worker thread, given the model object; it sends its own result back.
pub type Job = Box<dyn FnOnce(&mut Env, &JavaClasses, &JObject) + Send>;

/// The operations of [`Unit`] that a Java model may implement, by their Rust names; the Java
/// side lists the ones the model's class overrides (`predict` → `predict`, `transformInput` →
/// `transform_input`, …).
pub const OPERATIONS: [&str; 7] =
    ["predict", "transform_input", "transform_output", "route", "aggregate", "send_feedback", "health"];

/// How old the model's last `health()` answer may be before a readiness probe asks again.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);

/// References to oxserve's own Java classes, found once on the Java thread that starts the
/// server: threads attached from Rust find classes with the system class loader, which may not
/// be the one that loaded oxserve (an application server, a test runner's isolated loader).
pub struct JavaClasses {
    pub bridge: Global<JClass<'static>>,
}

impl JavaClasses {
    pub fn find(env: &mut Env) -> jni::errors::Result<JavaClasses> {
        let bridge = env.find_class(jni_str!("io/oxserve/Bridge"))?;
        Ok(JavaClasses { bridge: env.new_global_ref(bridge)? })
    }
}

/// A Java model behind the [`Unit`] trait. Transforms the model does not implement pass the
/// message through, as the [`Unit`] defaults do; any other call it does not implement answers
/// `Unimplemented` from [`ForeignModel::call`], as the Python and R units do.
pub struct JavaUnit {
    model: ForeignModel<Job>,
    health: Arc<Health>,
}

/// The model's readiness as its `health()` last answered it.
///
/// Readiness probes run on the server's I/O threads, which never call Java, so a probe answers
/// the last known value and, when that is older than [`HEALTH_INTERVAL`], queues a `health()`
/// call on a worker thread to refresh it.
struct Health {
    ready: AtomicBool,
    /// Whether a refresh is queued or running, so probes never queue more than one.
    refreshing: AtomicBool,
    checked: Mutex<Instant>,
}

impl JavaUnit {
    /// Starts the model's worker threads, attached to `vm`, that call `model` (an
    /// `io.oxserve.Model`), whose `health()` answered `ready` at start; they end when the unit is
    /// dropped.
    pub fn new(
        setup: Setup,
        vm: JavaVM,
        classes: Arc<JavaClasses>,
        model: Global<JObject<'static>>,
        ready: bool,
    ) -> Result<JavaUnit> {
        // Only worker threads hold the model's global references, so that they are released on
        // a thread attached to the JVM (elsewhere jni would attach a thread just to free them).
        let model = setup.on_workers("oxserve", move |jobs| worker(&vm, &classes, &model, jobs))?;
        let health = Arc::new(Health {
            ready: AtomicBool::new(ready),
            refreshing: AtomicBool::new(false),
            checked: Mutex::new(Instant::now()),
        });
        Ok(JavaUnit { model, health })
    }

    /// Runs `call` with the model on a worker thread and waits for its answer, at most `limit`.
    /// `call` returns a JNI error when Java threw (the exception is still pending) and an
    /// [`Error`] inside `Ok` when the model answered something oxserve cannot use; it gets the
    /// unit's queue to lend answered buffers to tensors (see [`convert::Release`]).
    async fn call<T: Send + 'static>(
        &self,
        operation: &'static str,
        limit: Option<Limit>,
        call: impl FnOnce(&mut Env, &JavaClasses, &JObject, &convert::Release) -> jni::errors::Result<Result<T>>
        + Send
        + 'static,
    ) -> Result<T> {
        let name = self.model.metadata().name.clone();
        let release = self.model.jobs().clone();
        self.model
            .call(operation, limit, |reply| -> Job {
                Box::new(move |env, classes, object| {
                    let result = call(env, classes, object, &release)
                        .unwrap_or_else(|e| Err(java_error(env, classes, e, &name, operation)));
                    reply.send(result);
                })
            })
            .await
    }

    fn supports(&self, operation: &str) -> bool {
        self.model.supports(operation)
    }

    /// Queues a `health()` call when the last answer is older than [`HEALTH_INTERVAL`] and none is
    /// queued; never waits. A `health()` that throws counts as not ready, and is logged.
    fn refresh_health(&self) {
        let checked = *self.health.checked.lock().unwrap_or_else(PoisonError::into_inner);
        if checked.elapsed() < HEALTH_INTERVAL || self.health.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let health = Arc::clone(&self.health);
        let name = self.model.metadata().name.clone();
        let job: Job = Box::new(move |env, classes, model| {
            let ready = env
                .call_method(model, jni_str!("health"), jni_sig!("()Z"), &[])
                .and_then(|ready| ready.z())
                .unwrap_or_else(|e| {
                    // `java_error` logs the exception and its stack trace.
                    java_error(env, classes, e, &name, "health");
                    false
                });
            health.ready.store(ready, Ordering::Release);
            *health.checked.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
            health.refreshing.store(false, Ordering::Release);
        });
        if self.model.jobs().send(job).is_err() {
            self.health.refreshing.store(false, Ordering::Release);
        }
    }
}

/// A worker thread: attaches to the JVM once, under the thread's name, then takes jobs until the
/// unit is dropped, each in its own local reference frame. The thread stays attached until it
/// ends, after it has dropped its references to `classes` and `model`.
fn worker(vm: &JavaVM, classes: &JavaClasses, model: &Global<JObject<'static>>, jobs: &Jobs<Job>) {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("oxserve");
    let thread_name = JNIString::from(name);
    let attached = vm.attach_current_thread_with_config(
        || AttachConfig::new().thread_name(&thread_name),
        None,
        |env| -> jni::errors::Result<()> {
            for job in jobs {
                env.with_local_frame(32, |env| -> jni::errors::Result<()> {
                    job(env, classes, model.as_obj());
                    Ok(())
                })?;
            }
            Ok(())
        },
    );
    if let Err(e) = attached {
        tracing::error!("{name}: the worker thread stopped: {e}");
    }
}

/// The error for a Java call that failed: the pending exception as the caller's error, or the
/// JNI failure itself when Java did not throw.
///
/// An `io.oxserve.ModelException` answers with its status and message; any other exception
/// (an `OutOfMemoryError` included) is the model's failure, a 500 whose message names the
/// exception, with its stack trace written to the log.
fn java_error(
    env: &mut Env,
    classes: &JavaClasses,
    error: jni::errors::Error,
    model: &str,
    operation: &str,
) -> Error {
    let Some(throwable) = env.exception_occurred() else {
        return Error::internal(format!("model '{model}': {operation}: {error}"));
    };
    env.exception_clear();
    match describe(env, classes, &throwable) {
        Ok((status, message, _)) if status != 0 => Error::new(ErrorKind::from_http_status(status), message),
        Ok((_, message, trace)) => {
            tracing::error!("model '{model}': {operation} raised {trace}");
            Error::internal(format!("model '{model}': {operation} raised {message}"))
        }
        Err(_) => {
            env.exception_clear();
            Error::internal(format!(
                "model '{model}': {operation} raised an exception that could not be described (is the JVM out of memory?)"
            ))
        }
    }
}

/// A throwable's status (an `io.oxserve.ModelException`'s, else 0), its message (the bare
/// message for a `ModelException`, else `toString`) and its stack trace, from `Bridge`.
fn describe(
    env: &mut Env,
    classes: &JavaClasses,
    throwable: &JThrowable,
) -> jni::errors::Result<(u16, String, String)> {
    let args = [JValue::Object(throwable)];
    let status = env
        .call_static_method(&classes.bridge, jni_str!("status"), jni_sig!("(Ljava/lang/Throwable;)I"), &args)?
        .i()?;
    let message = env
        .call_static_method(
            &classes.bridge,
            jni_str!("message"),
            jni_sig!("(Ljava/lang/Throwable;)Ljava/lang/String;"),
            &args,
        )?
        .l()?;
    let message = convert::string(env, message)?;
    let trace = env
        .call_static_method(
            &classes.bridge,
            jni_str!("stackTrace"),
            jni_sig!("(Ljava/lang/Throwable;)Ljava/lang/String;"),
            &args,
        )?
        .l()?;
    let trace = convert::string(env, trace)?;
    Ok((u16::try_from(status).unwrap_or(500), message, trace))
}

#[async_trait]
impl Unit for JavaUnit {
    fn metadata(&self) -> &ModelMetadata {
        self.model.metadata()
    }

    fn max_batch_size(&self) -> usize {
        self.model.max_batch_size()
    }

    fn is_ready(&self) -> bool {
        if self.supports("health") {
            self.refresh_health();
        }
        self.health.ready.load(Ordering::Acquire)
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        self.model.check(&request)?;
        self.call("predict", self.model.limit(Some(&request)), move |env, classes, model, release| {
            let message = convert::request_to_java(env, classes, &request)?;
            let answer = env
                .call_method(
                    model,
                    jni_str!("predict"),
                    jni_sig!("(Lio/oxserve/InferenceRequest;)Lio/oxserve/InferenceResponse;"),
                    &[JValue::Object(&message)],
                )?
                .l()?;
            convert::response_from_java(
                env,
                classes,
                release,
                &answer,
                request.id,
                &request.model_name,
                request.model_version,
            )
        })
        .await
    }

    async fn transform_input(&self, request: InferenceRequest) -> Result<InferenceRequest> {
        if !self.supports("transform_input") {
            return Ok(request);
        }
        self.model.check(&request)?;
        self.call("transform_input", self.model.limit(Some(&request)), move |env, classes, model, release| {
            let message = convert::request_to_java(env, classes, &request)?;
            let answer = env
                .call_method(
                    model,
                    jni_str!("transformInput"),
                    jni_sig!("(Lio/oxserve/InferenceRequest;)Lio/oxserve/InferenceRequest;"),
                    &[JValue::Object(&message)],
                )?
                .l()?;
            convert::request_from_java(env, classes, release, &answer, request)
        })
        .await
    }

    async fn transform_output(&self, response: InferenceResponse) -> Result<InferenceResponse> {
        if !self.supports("transform_output") {
            return Ok(response);
        }
        self.call("transform_output", self.model.limit(None), move |env, classes, model, release| {
            let message = convert::response_to_java(env, classes, &response)?;
            let answer = env
                .call_method(
                    model,
                    jni_str!("transformOutput"),
                    jni_sig!("(Lio/oxserve/InferenceResponse;)Lio/oxserve/InferenceResponse;"),
                    &[JValue::Object(&message)],
                )?
                .l()?;
            convert::response_from_java(
                env,
                classes,
                release,
                &answer,
                response.id,
                &response.model_name,
                response.model_version,
            )
        })
        .await
    }

    async fn route(&self, request: &InferenceRequest) -> Result<i32> {
        self.model.check(request)?;
        let request = request.clone();
        self.call("route", self.model.limit(Some(&request)), move |env, classes, model, _| {
            let message = convert::request_to_java(env, classes, &request)?;
            let route = env
                .call_method(
                    model,
                    jni_str!("route"),
                    jni_sig!("(Lio/oxserve/InferenceRequest;)I"),
                    &[JValue::Object(&message)],
                )?
                .i()?;
            Ok(Ok(route))
        })
        .await
    }

    async fn aggregate(&self, responses: Vec<InferenceResponse>) -> Result<InferenceResponse> {
        let model_name = self.model.metadata().name.clone();
        self.call("aggregate", self.model.limit(None), move |env, classes, model, release| {
            let messages = convert::responses_to_java(env, classes, &responses)?;
            let answer = env
                .call_method(
                    model,
                    jni_str!("aggregate"),
                    jni_sig!("(Ljava/util/List;)Lio/oxserve/InferenceResponse;"),
                    &[JValue::Object(&messages)],
                )?
                .l()?;
            let id = responses.first().and_then(|r| r.id.clone());
            convert::response_from_java(env, classes, release, &answer, id, &model_name, None)
        })
        .await
    }

    async fn send_feedback(&self, feedback: Feedback) -> Result<InferenceResponse> {
        let model_name = self.model.metadata().name.clone();
        self.call("send_feedback", self.model.limit(None), move |env, classes, model, release| {
            let message = convert::feedback_to_java(env, classes, &feedback)?;
            let answer = env
                .call_method(
                    model,
                    jni_str!("sendFeedback"),
                    jni_sig!("(Lio/oxserve/Feedback;)Lio/oxserve/InferenceResponse;"),
                    &[JValue::Object(&message)],
                )?
                .l()?;
            let id = feedback.request.as_ref().and_then(|r| r.id.clone());
            convert::response_from_java(env, classes, release, &answer, id, &model_name, None)
        })
        .await
    }
}
