//! oxserve's front end: REST routes and gRPC services for every protocol, on two ports.
//!
//! The server only wires routes to codecs ([`oxserve_protocol`]) and servables ([`Registry`]):
//! a handler decodes the caller's protocol, asks the registry for the unit, runs it, and encodes
//! the answer in the same protocol. Metrics are recorded around that, never inside codecs.

mod body;
mod config;
mod grpc;
mod metrics;
mod registry;
mod repository;
mod rest;
mod serve;
mod triton_config;

pub use config::ServerConfig;
pub use metrics::Metrics;
pub use registry::Registry;
pub use repository::{
    foreign_model, foreign_models, load_model_file, load_model_folder, load_model_path, load_repository,
};
pub use serve::{serve, serve_until};

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use oxserve_core::{InferenceResponse, Result, Unit};
use oxserve_protocol::seldon::component::{self, Call};

use crate::metrics::Protocol;

/// The server's name in V2 server metadata.
pub(crate) const SERVER_NAME: &str = "oxserve";
/// V2 extensions implemented, spelled as Triton spells them, so clients that probe find them, and
/// oxserve's own `feedback` (`POST /v2/models/{m}/feedback`, rewards for routers in graphs).
pub(crate) const EXTENSIONS: &[&str] =
    &["binary_tensor_data", "parameters", "model_configuration", "feedback"];

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ServerConfig>,
}

impl AppState {
    /// Runs one inference call against `unit` (already looked up, or the lookup's error) and
    /// records its outcome and latency. Every protocol handler goes through here, so metrics
    /// mean the same thing for all of them.
    pub(crate) async fn observe<T, Fut>(
        &self,
        protocol: Protocol,
        unit: Result<Arc<dyn Unit>>,
        call: impl FnOnce(Arc<dyn Unit>) -> Fut,
    ) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        let start = Instant::now();
        let (model, result) = match unit {
            Err(e) => (String::new(), Err(e)),
            Ok(unit) => (unit.metadata().name.clone(), call(unit).await),
        };
        self.metrics.record(protocol, &model, result.as_ref().err().map(|e| e.kind), start.elapsed());
        result
    }

    /// Answers a Seldon component call (predict, transforms, route, aggregate, feedback) with `unit`, for
    /// REST and gRPC alike: the unit's answer as a message ([`component::call`]) with this unit
    /// on its request path, and the custom metrics the unit reported (and a feedback's reward)
    /// published on `/metrics`.
    pub(crate) async fn seldon_call(&self, unit: &dyn Unit, call: Call) -> Result<InferenceResponse> {
        let method = call.metric_method();
        if let Call::Feedback(feedback) = &call {
            self.metrics.record_reward(&unit.metadata().name, feedback.reward);
        }
        let mut answer = component::call(unit, call).await?;
        self.metrics.publish_unit_metrics(&unit.metadata().name, method, &mut answer)?;
        self.add_seldon_request_path(&mut answer.response, unit);
        Ok(answer.response)
    }

    /// Adds this unit to Seldon's `meta.requestPath`: `PREDICTIVE_UNIT_ID` (or the model name)
    /// mapped to `PREDICTIVE_UNIT_IMAGE` (or `oxserve:<version>`). An entry the caller already
    /// sent for the same unit wins, as Seldon overlays the request's path on its own.
    pub(crate) fn add_seldon_request_path(&self, response: &mut InferenceResponse, unit: &dyn Unit) {
        let id = self.config.seldon_unit_id.clone().unwrap_or_else(|| unit.metadata().name.clone());
        response.meta.request_path.entry(id).or_insert_with(|| {
            self.config
                .seldon_unit_image
                .clone()
                .unwrap_or_else(|| format!("oxserve:{}", env!("CARGO_PKG_VERSION")))
        });
    }
}
