//! Several predictors of one deployment: traffic split by percentage, and a shadow that gets a
//! copy of every request.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::future::join_all;
use oxserve_core::{
    Error, Feedback, GraphMetadata, InferenceRequest, InferenceResponse, ModelMetadata, Result, Unit,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::graph::Graph;
use crate::message::publish_routing;

/// Predictors that share the traffic, as Istio splits it for a SeldonDeployment. The predictor
/// that answered is recorded in `meta.routing` under the deployment's name, so that feedback
/// returns to it.
pub(crate) struct Deployment {
    /// The main predictor's (the one with the most traffic), as Seldon's executor of that
    /// predictor would describe it.
    metadata: ModelMetadata,
    predictors: Vec<(u32, Graph)>,
    shadow: Option<Arc<Graph>>,
    rng: Mutex<StdRng>,
}

impl Deployment {
    /// `predictors` with their traffic in percent (summing to 100), and the shadow, if any.
    pub fn new(predictors: Vec<(u32, Graph)>, shadow: Option<Graph>) -> Result<Deployment> {
        let main = predictors
            .iter()
            .rev()
            .max_by_key(|(traffic, _)| *traffic)
            .ok_or_else(|| Error::invalid("a deployment needs a predictor"))?;
        Ok(Deployment {
            metadata: main.1.metadata().clone(),
            shadow: shadow.map(Arc::new),
            rng: Mutex::new(StdRng::from_os_rng()),
            predictors,
        })
    }

    fn main(&self) -> &Graph {
        let (_, main) =
            self.predictors.iter().rev().max_by_key(|(traffic, _)| *traffic).expect("one predictor");
        main
    }

    fn choose(&self) -> usize {
        let draw = self.rng.lock().expect("traffic lock").random_range(0..100u32);
        let mut upto = 0;
        for (i, (traffic, _)) in self.predictors.iter().enumerate() {
            upto += traffic;
            if draw < upto {
                return i;
            }
        }
        self.predictors.len() - 1
    }
}

#[async_trait]
impl Unit for Deployment {
    fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    fn graph_metadata(&self) -> Option<GraphMetadata> {
        self.main().graph_metadata()
    }

    fn is_ready(&self) -> bool {
        self.predictors.iter().all(|(_, graph)| graph.is_ready())
    }

    async fn predict(&self, request: InferenceRequest) -> Result<InferenceResponse> {
        if let Some(shadow) = &self.shadow {
            let (shadow, copy) = (shadow.clone(), request.clone());
            tokio::spawn(async move {
                if let Err(e) = shadow.predict(copy).await {
                    tracing::debug!("the shadow predictor failed: {e}");
                }
            });
        }
        let chosen = self.choose();
        let mut response = self.predictors[chosen].1.predict(request).await?;
        if self.predictors.len() > 1 {
            response.meta.routing.insert(self.metadata.name.clone(), chosen as i32);
            publish_routing(&mut response);
        }
        Ok(response)
    }

    async fn send_feedback(&self, feedback: Feedback) -> Result<InferenceResponse> {
        let routing = feedback.response.as_ref().and_then(|r| r.meta.routing.get(&self.metadata.name));
        match routing {
            Some(&chosen) => {
                let graph =
                    usize::try_from(chosen).ok().and_then(|i| self.predictors.get(i)).ok_or_else(|| {
                        Error::invalid(format!(
                            "response.meta.routing.{}: {chosen} is not a predictor (0 to {})",
                            self.metadata.name,
                            self.predictors.len() - 1
                        ))
                    })?;
                graph.1.send_feedback(feedback).await
            }
            None => {
                let answers =
                    join_all(self.predictors.iter().map(|(_, g)| g.send_feedback(feedback.clone()))).await;
                answers
                    .into_iter()
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::internal("a deployment has a predictor"))
            }
        }
    }
}
