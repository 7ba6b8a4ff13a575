use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result, TensorSpec};

/// A model's `model-settings.json`, with MLServer's field names where MLServer has the field.
///
/// Unknown fields are ignored so that an MLServer settings file loads unchanged.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ModelSettings {
    /// Model name; defaults to the name of the folder holding the settings file.
    pub name: Option<String>,
    /// Which runtime serves the model (`onnx`); inferred from the model file when absent.
    pub implementation: Option<String>,
    pub parameters: SettingsParameters,
    /// Largest batch the dynamic batcher may form; 0 turns batching off.
    pub max_batch_size: usize,
    /// Longest a request may wait for others to join its batch, in seconds (MLServer's unit).
    pub max_batch_time: f64,
    /// Batch sizes the batcher tries to form (Triton's `preferred_batch_size`); empty: any size.
    pub preferred_batch_sizes: Vec<usize>,
    /// Requests that may wait for the model before new ones are refused with 503; 0: the default.
    pub max_queue_size: usize,
    /// Longest a request may wait in the queue, in seconds; a request past it is refused before
    /// it runs. 0: no limit (a request's own `timeout` parameter still applies).
    pub timeout: f64,
    /// How many copies of the model run concurrently (ONNX sessions, worker processes…).
    pub instances: Option<usize>,
    pub platform: Option<String>,
    pub versions: Vec<String>,
    /// Declared inputs; when empty they are read from the model itself.
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// The `parameters` block of [`ModelSettings`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SettingsParameters {
    /// Path of the model artefact, relative to the settings file's folder.
    pub uri: Option<String>,
    pub version: Option<String>,
    /// Any other key, passed to the runtime untouched.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ModelSettings {
    /// Reads and parses a settings file; errors name the file and the bad field.
    pub fn from_file(path: &Path) -> Result<ModelSettings> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
        ModelSettings::from_json(&text).map_err(|e| e.context(path.display()))
    }

    /// Parses settings from JSON text.
    pub fn from_json(text: &str) -> Result<ModelSettings> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let settings: ModelSettings = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            Error::invalid(format!("{path}: {}", e.into_inner()))
        })?;
        if settings.instances == Some(0) {
            return Err(Error::invalid("instances: must be at least 1"));
        }
        if !(settings.max_batch_time >= 0.0 && settings.max_batch_time.is_finite()) {
            return Err(Error::invalid("max_batch_time: must be a non-negative number of seconds"));
        }
        if !(settings.timeout >= 0.0 && settings.timeout.is_finite()) {
            return Err(Error::invalid("timeout: must be a non-negative number of seconds"));
        }
        if settings.preferred_batch_sizes.contains(&0) {
            return Err(Error::invalid("preferred_batch_sizes: sizes must be at least 1"));
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mlserver_settings() {
        let s = ModelSettings::from_json(
            r#"{"name":"iris","implementation":"mlserver_sklearn.SKLearnModel",
                "parameters":{"uri":"./model.onnx","version":"v1","extra":{"a":1}},
                "max_batch_size":8,"max_batch_time":0.01,"parallel_workers":2,
                "inputs":[{"name":"x","datatype":"FP32","shape":[-1,4]}]}"#,
        )
        .unwrap();
        assert_eq!(s.name.as_deref(), Some("iris"));
        assert_eq!(s.parameters.uri.as_deref(), Some("./model.onnx"));
        assert_eq!(s.parameters.extra["extra"]["a"], 1);
        assert_eq!(s.max_batch_size, 8);
        assert_eq!(s.inputs[0].shape, vec![-1, 4]);
    }

    #[test]
    fn rejects_bad_values_with_the_field_name() {
        assert!(ModelSettings::from_json(r#"{"instances":0}"#).unwrap_err().message.contains("instances"));
        assert!(
            ModelSettings::from_json(r#"{"max_batch_time":-1}"#)
                .unwrap_err()
                .message
                .contains("max_batch_time")
        );
        assert!(
            ModelSettings::from_json(r#"{"max_batch_size":"x"}"#)
                .unwrap_err()
                .message
                .contains("max_batch_size")
        );
    }
}
