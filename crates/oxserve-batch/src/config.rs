//! What a scheduler is told: how to batch, how many batches may run, how long requests may wait.

use std::time::Duration;

use oxserve_core::{Error, ModelSettings, Result};
use tokio::sync::Semaphore;

/// Requests a model's queue holds when its settings leave `max_queue_size` at 0.
///
/// The queue is always bounded so that an overloaded model answers 503 at once instead of letting
/// memory and latency grow until clients time out; 1024 absorbs a burst from a few hundred clients
/// while keeping the worst queueing delay to a few seconds for a model that serves a few hundred
/// requests per second.
pub const DEFAULT_MAX_QUEUE_SIZE: usize = 1024;

/// How a [`crate::Scheduler`] queues, batches and runs one model's requests.
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// Most rows (first-dimension entries, summed over requests) one batch may hold. 0 or 1 turns
    /// batching off: every request runs on its own.
    pub max_batch_size: usize,
    /// Longest a batch may keep its oldest request waiting for others to join. Only spent when
    /// other requests of the same kind are arriving (see the crate documentation).
    pub max_batch_time: Duration,
    /// Batch sizes, in rows, at which a batch leaves at once (models compiled for fixed sizes run
    /// those fastest). Empty: only `max_batch_size` and `max_batch_time` end a batch's wait.
    pub preferred_batch_sizes: Vec<usize>,
    /// Batches that may run at the same time; at least 1. Give the runtime as many copies of the
    /// model (sessions, worker processes), so that every batch sent finds one free.
    pub instances: usize,
    /// Requests that may wait for a free instance before new ones are refused; at least 1.
    pub max_queue_size: usize,
    /// Longest a request may wait before it starts running; `None`: no limit. A request's own
    /// `timeout` parameter (microseconds, as the V2 protocol defines it) applies too; the smaller
    /// wins.
    pub timeout: Option<Duration>,
}

impl Default for SchedulerConfig {
    /// No batching, one instance, the default queue bound, no timeout.
    fn default() -> Self {
        SchedulerConfig {
            max_batch_size: 0,
            max_batch_time: Duration::ZERO,
            preferred_batch_sizes: Vec::new(),
            instances: 1,
            max_queue_size: DEFAULT_MAX_QUEUE_SIZE,
            timeout: None,
        }
    }
}

impl SchedulerConfig {
    /// Reads the scheduling fields of a model's settings.
    ///
    /// `instances` defaults to 1, `max_queue_size` 0 to [`DEFAULT_MAX_QUEUE_SIZE`], `timeout` 0 to no
    /// limit. Errors name the settings field at fault.
    pub fn from_settings(settings: &ModelSettings) -> Result<SchedulerConfig> {
        let seconds = |value: f64, field: &str| {
            Duration::try_from_secs_f64(value).map_err(|_| {
                Error::invalid(format!("{field}: must be a non-negative number of seconds, got {value}"))
            })
        };
        let timeout = seconds(settings.timeout, "timeout")?;
        let config = SchedulerConfig {
            max_batch_size: settings.max_batch_size,
            max_batch_time: seconds(settings.max_batch_time, "max_batch_time")?,
            preferred_batch_sizes: settings.preferred_batch_sizes.clone(),
            instances: settings.instances.unwrap_or(1),
            max_queue_size: match settings.max_queue_size {
                0 => DEFAULT_MAX_QUEUE_SIZE,
                n => n,
            },
            timeout: (!timeout.is_zero()).then_some(timeout),
        };
        config.validate()?;
        Ok(config)
    }

    /// Whether requests are stacked into batches (`max_batch_size` above 1).
    pub fn batching(&self) -> bool {
        self.max_batch_size > 1
    }

    /// Checks the fields against each other; [`crate::Scheduler::new`] calls it too, since the
    /// fields are public.
    pub fn validate(&self) -> Result<()> {
        if self.instances == 0 || self.instances > Semaphore::MAX_PERMITS {
            return Err(Error::invalid(format!(
                "instances: must be between 1 and {}, got {}",
                Semaphore::MAX_PERMITS,
                self.instances
            )));
        }
        if self.max_queue_size == 0 {
            return Err(Error::invalid("max_queue_size: must be at least 1"));
        }
        if self.preferred_batch_sizes.is_empty() {
            return Ok(());
        }
        if !self.batching() {
            return Err(Error::invalid(format!(
                "preferred_batch_sizes: {:?} needs max_batch_size above 1 (it is {})",
                self.preferred_batch_sizes, self.max_batch_size
            )));
        }
        if let Some(&bad) = self.preferred_batch_sizes.iter().find(|&&s| s == 0 || s > self.max_batch_size) {
            return Err(Error::invalid(format!(
                "preferred_batch_sizes: {bad} is not between 1 and max_batch_size {}",
                self.max_batch_size
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_from_empty_settings() {
        let config = SchedulerConfig::from_settings(&ModelSettings::default()).unwrap();
        assert_eq!(config, SchedulerConfig::default());
        assert!(!config.batching());
        assert_eq!(config.max_queue_size, DEFAULT_MAX_QUEUE_SIZE);
    }

    #[test]
    fn reads_every_field_in_its_unit() {
        let settings = ModelSettings::from_json(
            r#"{"max_batch_size":8,"max_batch_time":0.005,"preferred_batch_sizes":[4,8],
                "instances":2,"max_queue_size":16,"timeout":1.5}"#,
        )
        .unwrap();
        let config = SchedulerConfig::from_settings(&settings).unwrap();
        assert_eq!(
            config,
            SchedulerConfig {
                max_batch_size: 8,
                max_batch_time: Duration::from_micros(5000),
                preferred_batch_sizes: vec![4, 8],
                instances: 2,
                max_queue_size: 16,
                timeout: Some(Duration::from_millis(1500)),
            }
        );
        assert!(config.batching());
    }

    #[test]
    fn inconsistent_fields_are_named() {
        let check = |json: &str, field: &str| {
            let e = SchedulerConfig::from_settings(&ModelSettings::from_json(json).unwrap()).unwrap_err();
            assert!(e.message.starts_with(field), "{}", e.message);
        };
        check(r#"{"preferred_batch_sizes":[4]}"#, "preferred_batch_sizes");
        check(r#"{"max_batch_size":4,"preferred_batch_sizes":[8]}"#, "preferred_batch_sizes");
        let negative = ModelSettings { max_batch_time: -1.0, ..Default::default() };
        assert!(SchedulerConfig::from_settings(&negative).unwrap_err().message.starts_with("max_batch_time"));
        let zero = ModelSettings { instances: Some(0), ..Default::default() };
        assert!(SchedulerConfig::from_settings(&zero).unwrap_err().message.starts_with("instances"));
        let empty_queue = SchedulerConfig { max_queue_size: 0, ..Default::default() };
        assert!(empty_queue.validate().unwrap_err().message.starts_with("max_queue_size"));
    }
}
