//! The listening flags that `oxserve serve` and `oxserve run` share, and the server
//! configuration they make.

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use oxserve_server::ServerConfig;

#[derive(Args)]
pub struct ListenArgs {
    /// Interface to listen on.
    #[arg(long, env = "OXSERVE_HOST", default_value = "0.0.0.0")]
    host: IpAddr,
    /// Port for REST (V2, Seldon, KServe v1) and /metrics; gRPC is accepted here too.
    #[arg(long, env = "OXSERVE_HTTP_PORT", default_value_t = 8080)]
    http_port: u16,
    /// Port for gRPC (V2 inference, Seldon, health); REST is accepted here too.
    #[arg(long, env = "OXSERVE_GRPC_PORT", default_value_t = 8081)]
    grpc_port: u16,
    /// Largest HTTP request body (after decompression) or gRPC message, in bytes.
    #[arg(long, env = "OXSERVE_MAX_REQUEST_SIZE", default_value_t = 64 * 1024 * 1024)]
    max_request_size: usize,
    /// Seconds in-flight requests may take to finish after SIGTERM.
    #[arg(long, env = "OXSERVE_DRAIN_TIMEOUT", default_value_t = 30.0)]
    drain_timeout: f64,
}

impl ListenArgs {
    /// Refuses values clap cannot rule out, before any model is loaded.
    pub fn check(&self) -> Result<(), String> {
        if !(self.drain_timeout >= 0.0 && self.drain_timeout.is_finite()) {
            return Err("--drain-timeout: must be a non-negative number of seconds".into());
        }
        Ok(())
    }

    /// The same settings as flags of `python -m oxserve`, for a repository served from Python.
    pub fn python_flags(&self) -> Vec<String> {
        vec![
            format!("--host={}", self.host),
            format!("--http-port={}", self.http_port),
            format!("--grpc-port={}", self.grpc_port),
            format!("--max-request-size={}", self.max_request_size),
            format!("--drain-timeout={}", self.drain_timeout),
        ]
    }

    /// The server configuration; `seldon_unit` is the Seldon unit id and image for
    /// `meta.requestPath`, when running as a unit of a Seldon deployment.
    pub fn config(&self, seldon_unit: (Option<String>, Option<String>)) -> ServerConfig {
        ServerConfig {
            host: self.host,
            http_port: self.http_port,
            grpc_port: self.grpc_port,
            max_request_size: self.max_request_size,
            drain_timeout: Duration::from_secs_f64(self.drain_timeout),
            seldon_unit_id: seldon_unit.0,
            seldon_unit_image: seldon_unit.1,
            reuse_port: false,
            metrics_port: None,
        }
    }
}
