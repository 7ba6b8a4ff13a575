//! A node's parameters: typed values by name, read by the built-in units.

use std::collections::BTreeMap;

use oxserve_core::{Error, Result};
use serde_json::Value;

/// Parameter values by name. Seldon writes them as `{name, value, type}` strings and the native
/// form as a plain map; both arrive here typed, so a unit reads numbers as numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parameters {
    values: BTreeMap<String, Value>,
    /// Where the parameters are in the file, for errors.
    at: String,
}

impl Parameters {
    pub fn new(values: BTreeMap<String, Value>, at: String) -> Parameters {
        Parameters { values, at }
    }

    /// Every value by name, for units that take them all (a class's constructor arguments).
    pub fn values(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Fails on a parameter outside `known`, so a misspelt one is not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<()> {
        match self.values.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => Err(self.error(
                unknown,
                format!(
                    "unknown parameter; expected {}",
                    if known.is_empty() { "none".into() } else { known.join(", ") }
                ),
            )),
            None => Ok(()),
        }
    }

    pub fn f64(&self, name: &str) -> Result<Option<f64>> {
        self.values
            .get(name)
            .map(|v| v.as_f64().ok_or_else(|| self.error(name, format!("expected a number, got {v}"))))
            .transpose()
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>> {
        self.values
            .get(name)
            .map(|v| {
                v.as_u64().ok_or_else(|| self.error(name, format!("expected a whole number ≥ 0, got {v}")))
            })
            .transpose()
    }

    /// A list of whole numbers ≥ 0, such as a splitter's weights.
    pub fn u64_list(&self, name: &str) -> Result<Option<Vec<u64>>> {
        let Some(value) = self.values.get(name) else { return Ok(None) };
        let list =
            value.as_array().and_then(|items| items.iter().map(|v| v.as_u64()).collect::<Option<Vec<_>>>());
        list.map(Some)
            .ok_or_else(|| self.error(name, format!("expected a list of whole numbers ≥ 0, got {value}")))
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        self.values
            .get(name)
            .map(|v| v.as_bool().ok_or_else(|| self.error(name, format!("expected true or false, got {v}"))))
            .transpose()
    }

    pub fn str(&self, name: &str) -> Result<Option<&str>> {
        self.values
            .get(name)
            .map(|v| v.as_str().ok_or_else(|| self.error(name, format!("expected a string, got {v}"))))
            .transpose()
    }

    /// An error about parameter `name`, naming where it is.
    pub fn error(&self, name: &str, message: impl std::fmt::Display) -> Error {
        Error::invalid(format!("{}.{name}: {message}", self.at))
    }
}
