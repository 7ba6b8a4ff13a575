//! A model as its language declares it, and the unit the server runs it as.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use oxserve_batch::{Scheduler, SchedulerConfig};
use oxserve_core::{Error, ErrorKind, ModelMetadata, ModelSettings, Result, Unit};
use oxserve_server::Metrics;

use crate::model::{ForeignModel, Runner};
use crate::workers::{self, Jobs};

/// What a binding reads about one model before the server starts: its V2 metadata, its settings
/// (MLServer's `model-settings.json` fields) and the operations its code implements.
pub struct Declaration {
    metadata: ModelMetadata,
    settings: ModelSettings,
    supported: Vec<&'static str>,
}

impl Declaration {
    /// Reads `settings` (JSON) and checks `operations` against those the binding can call,
    /// `known`. Errors name the model.
    pub fn new(
        metadata: ModelMetadata,
        settings: &str,
        operations: &[String],
        known: &[&'static str],
    ) -> Result<Declaration> {
        let name = &metadata.name;
        let settings =
            ModelSettings::from_json(settings).map_err(|e| e.context(format_args!("model '{name}'")))?;
        let supported =
            operations
                .iter()
                .map(|operation| {
                    known.iter().find(|known| *known == operation).copied().ok_or_else(|| {
                        Error::invalid(format!("model '{name}': unknown operation '{operation}'"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
        Ok(Declaration { metadata, settings, supported })
    }

    /// The model's unit, built by `unit` from the model's [`Setup`], behind the scheduler its
    /// settings configure (queue bound, batching, instances, timeout) and reporting to
    /// `metrics`, as every model the server runs is. Must run inside the tokio runtime.
    pub fn schedule<U: Unit + 'static>(
        self,
        metrics: &Metrics,
        unit: impl FnOnce(Setup) -> Result<U>,
    ) -> Result<Arc<dyn Unit>> {
        let Declaration { metadata, settings, supported } = self;
        let name = metadata.name.clone();
        let in_model = |e: Error| e.context(format_args!("model '{name}'"));
        let config = SchedulerConfig::from_settings(&settings).map_err(in_model)?;
        let setup = Setup {
            metadata,
            supported,
            max_batch_size: config.max_batch_size,
            timeout: config.timeout,
            instances: config.instances,
        };
        let unit = unit(setup)?;
        let version = settings.parameters.version.as_deref().unwrap_or("");
        let scheduler = Scheduler::new(Arc::new(unit), config, metrics.scheduler_observer(&name, version))
            .map_err(in_model)?;
        Ok(Arc::new(scheduler))
    }
}

/// A declared model with its settings resolved, waiting only for the threads that will run its
/// code: the binding picks them, and gets the [`ForeignModel`] its unit calls through.
pub struct Setup {
    pub(crate) metadata: ModelMetadata,
    pub(crate) supported: Vec<&'static str>,
    pub(crate) max_batch_size: usize,
    pub(crate) timeout: Option<Duration>,
    /// Calls that may run at once (the `instances` setting): one worker thread each.
    pub(crate) instances: usize,
}

impl Setup {
    /// Runs the model's calls on its own worker threads, one per instance, named
    /// `<thread_prefix>-<model>-<i>`; `worker` runs each thread (see [`Jobs`]). The threads are
    /// meant to stop only with the model's unit, so a call they leave unanswered is oxserve's own
    /// failure (500).
    pub fn on_workers<J: Send + 'static>(
        self,
        thread_prefix: &str,
        worker: impl Fn(&Jobs<J>) + Send + Sync + 'static,
    ) -> Result<ForeignModel<J>> {
        let name = format!("{thread_prefix}-{}", self.metadata.name);
        let jobs = workers::start(&name, self.instances, worker)
            .map_err(|e| e.context(format_args!("model '{}'", self.metadata.name)))?;
        Ok(self.into_model(jobs, Runner { name: "its worker threads", stopped: ErrorKind::Internal }))
    }

    /// Runs the model's calls on a thread the host language owns and feeds from `jobs` (R's main
    /// thread), named `host` in errors. That thread stops when the host stops serving, so a call
    /// it leaves unanswered answers 503, as a server that is going away does.
    pub fn on_host_thread<J>(self, jobs: mpsc::Sender<J>, host: &'static str) -> ForeignModel<J> {
        self.into_model(jobs, Runner { name: host, stopped: ErrorKind::Unavailable })
    }

    fn into_model<J>(self, jobs: mpsc::Sender<J>, runner: Runner) -> ForeignModel<J> {
        let Setup { metadata, supported, max_batch_size, timeout, instances: _ } = self;
        ForeignModel { metadata, supported, max_batch_size, timeout, jobs, runner }
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use oxserve_core::{InferenceRequest, InferenceResponse};

    use super::*;

    type Job = Box<dyn FnOnce() + Send>;

    fn metadata(name: &str) -> ModelMetadata {
        ModelMetadata { name: name.into(), ..ModelMetadata::default() }
    }

    #[test]
    fn operations_are_checked_against_those_the_binding_knows() {
        let known = ["predict", "route"];
        let declared = Declaration::new(metadata("m"), "{}", &["route".into()], &known).unwrap();
        assert_eq!(declared.supported, ["route"]);
        let e =
            Declaration::new(metadata("m"), "{}", &["predict".into(), "fly".into()], &known).err().unwrap();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::InvalidArgument, "model 'm': unknown operation 'fly'")
        );
    }

    #[test]
    fn settings_errors_name_the_model() {
        let e = Declaration::new(metadata("m"), r#"{"max_batch_size": "many"}"#, &[], &[]).err().unwrap();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.starts_with("model 'm': "), "{}", e.message);
    }

    /// A unit whose `predict` answers, from a worker thread, the request's id.
    struct Echo {
        model: ForeignModel<Job>,
    }

    #[async_trait]
    impl Unit for Echo {
        fn metadata(&self) -> &ModelMetadata {
            self.model.metadata()
        }

        fn max_batch_size(&self) -> usize {
            self.model.max_batch_size()
        }

        async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
            let name = self.model.metadata().name.clone();
            self.model
                .call("predict", self.model.limit(Some(&request)), move |reply| -> Job {
                    Box::new(move || {
                        reply.send(Ok(InferenceResponse {
                            id: request.id,
                            model_name: name,
                            ..Default::default()
                        }))
                    })
                })
                .await
        }
    }

    #[tokio::test]
    async fn a_scheduled_model_answers_through_its_scheduler_and_workers() {
        let settings = r#"{"instances": 3, "max_batch_size": 4, "max_batch_time": 0.001, "timeout": 2}"#;
        let declared =
            Declaration::new(metadata("echo"), settings, &["predict".into()], &["predict"]).unwrap();
        let metrics = Metrics::new();
        let mut seen = None;
        let unit = declared
            .schedule(&metrics, |setup| {
                seen = Some((setup.instances, setup.max_batch_size, setup.timeout));
                Ok(Echo {
                    model: setup.on_workers("oxserve-test", |jobs: &Jobs<Job>| jobs.for_each(|job| job()))?,
                })
            })
            .unwrap();
        assert_eq!(seen, Some((3, 4, Some(Duration::from_secs(2)))));
        assert_eq!(unit.max_batch_size(), 4, "the scheduler batches");
        let request = InferenceRequest { id: Some("r-1".into()), ..InferenceRequest::default() };
        let response = unit.predict(request).await.unwrap();
        assert_eq!((response.id.as_deref(), response.model_name.as_str()), (Some("r-1"), "echo"));
    }

    #[tokio::test]
    async fn scheduler_settings_errors_name_the_model() {
        let declared =
            Declaration::new(metadata("m"), r#"{"preferred_batch_sizes": [2]}"#, &[], &[]).unwrap();
        let e = declared
            .schedule(&Metrics::new(), |setup| {
                Ok(Echo { model: setup.on_host_thread(std::sync::mpsc::channel().0, "R") })
            })
            .err()
            .unwrap();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.starts_with("model 'm': preferred_batch_sizes"), "{}", e.message);
    }
}
