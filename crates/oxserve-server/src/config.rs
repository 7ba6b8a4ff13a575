use std::net::IpAddr;
use std::time::Duration;

use oxserve_core::{Error, Result};

/// How the server listens and what limits it enforces.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Interface to bind (all interfaces by default).
    pub host: IpAddr,
    /// REST port (gRPC is also accepted here).
    pub http_port: u16,
    /// gRPC port (REST is also accepted here).
    pub grpc_port: u16,
    /// Largest HTTP body (after decompression) or gRPC message, in bytes.
    pub max_request_size: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub drain_timeout: Duration,
    /// `PREDICTIVE_UNIT_ID`: this unit's name in Seldon's `meta.requestPath`.
    pub seldon_unit_id: Option<String>,
    /// `PREDICTIVE_UNIT_IMAGE`: this unit's image in Seldon's `meta.requestPath`.
    pub seldon_unit_image: Option<String>,
    /// Set SO_REUSEPORT on both listeners, so that several processes (the Python package's
    /// `--workers N`) share the ports and the kernel spreads connections over them.
    pub reuse_port: bool,
    /// Seldon's metrics port (`PREDICTIVE_UNIT_METRICS_SERVICE_PORT`): when set, a third listener
    /// answers `/prometheus` and `/metrics` there, where the Seldon operator's scrape annotations
    /// point. The metrics stay on the HTTP port too.
    pub metrics_port: Option<u16>,
}

impl ServerConfig {
    /// The configuration from the listening options a language binding is given as text and
    /// numbers: `host` parsed, `drain_timeout` (seconds) checked, every other field the default.
    /// `drain_field` is that option's name as the binding spells it, for the error.
    pub fn from_options(
        host: &str,
        http_port: u16,
        grpc_port: u16,
        max_request_size: usize,
        drain_timeout: f64,
        drain_field: &str,
    ) -> Result<ServerConfig> {
        let host: IpAddr = host.parse().map_err(|e| Error::invalid(format!("host '{host}': {e}")))?;
        if !(drain_timeout >= 0.0 && drain_timeout.is_finite()) {
            return Err(Error::invalid(format!("{drain_field}: must be a non-negative number of seconds")));
        }
        Ok(ServerConfig {
            host,
            http_port,
            grpc_port,
            max_request_size,
            drain_timeout: Duration::from_secs_f64(drain_timeout),
            ..ServerConfig::default()
        })
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: IpAddr::from([0, 0, 0, 0]),
            http_port: 8080,
            grpc_port: 8081,
            max_request_size: 64 * 1024 * 1024,
            drain_timeout: Duration::from_secs(30),
            seldon_unit_id: None,
            seldon_unit_image: None,
            reuse_port: false,
            metrics_port: None,
        }
    }
}
