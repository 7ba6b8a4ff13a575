use std::collections::BTreeMap;
use std::sync::Arc;

use oxserve_core::{Error, Result, Unit};

/// The models this server serves, by name.
pub struct Registry {
    models: BTreeMap<String, Arc<dyn Unit>>,
    default_model: Option<String>,
}

impl Registry {
    /// Builds a registry. The default model answers requests that name none (Seldon paths); with
    /// a single model it is that model.
    pub fn new(units: Vec<Arc<dyn Unit>>, default_model: Option<String>) -> Result<Registry> {
        let mut models = BTreeMap::new();
        for unit in units {
            let name = unit.metadata().name.clone();
            if models.insert(name.clone(), unit).is_some() {
                return Err(Error::invalid(format!("two models are named '{name}'")));
            }
        }
        if let Some(name) = &default_model
            && !models.contains_key(name)
        {
            return Err(Error::invalid(format!("--default-model: no model is named '{name}'")));
        }
        let default_model = default_model.or_else(|| match models.keys().collect::<Vec<_>>()[..] {
            [only] => Some(only.clone()),
            _ => None,
        });
        Ok(Registry { models, default_model })
    }

    /// The unit serving `name`, checking `version` against the versions it declares. An empty
    /// version means none, as in the protocols (gRPC cannot tell empty from unset).
    pub fn get(&self, name: &str, version: Option<&str>) -> Result<Arc<dyn Unit>> {
        let unit =
            self.models.get(name).ok_or_else(|| Error::not_found(format!("unknown model '{name}'")))?;
        if let Some(version) = version.filter(|v| !v.is_empty()) {
            let versions = &unit.metadata().versions;
            if !versions.iter().any(|v| v == version) {
                return Err(Error::not_found(format!(
                    "model '{name}' has no version '{version}' (versions: {})",
                    if versions.is_empty() { "none declared".to_string() } else { versions.join(", ") }
                )));
            }
        }
        Ok(unit.clone())
    }

    /// The unit for requests that do not name a model.
    pub fn default_unit(&self) -> Result<Arc<dyn Unit>> {
        match &self.default_model {
            Some(name) => self.get(name, None),
            None => Err(Error::not_found(format!(
                "this server has {} models and no default model; name one with --default-model or use \
                 the path /seldon/<namespace>/<model>/api/v1.0/predictions",
                self.models.len()
            ))),
        }
    }

    /// Names of all models, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.models.keys().map(String::as_str).collect()
    }

    pub fn units(&self) -> impl Iterator<Item = &Arc<dyn Unit>> {
        self.models.values()
    }

    /// Ready when every model is ready (Triton's strict readiness).
    pub fn all_ready(&self) -> bool {
        self.models.values().all(|m| m.is_ready())
    }
}
