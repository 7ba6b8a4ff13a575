//! Listening on both ports and draining on SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use oxserve_core::{Error, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{AppState, Metrics, Registry, ServerConfig, grpc, rest};

/// Serves `registry` until SIGTERM or Ctrl-C, then stops accepting connections and lets
/// in-flight requests finish for at most `config.drain_timeout`.
///
/// Both ports serve the same router (REST and gRPC), so a client that reaches either one
/// works; the HTTP port is where REST clients are expected and the gRPC port where gRPC
/// clients are.
pub async fn serve(config: ServerConfig, registry: Registry) -> Result<()> {
    let http_addr = SocketAddr::new(config.host, config.http_port);
    let grpc_addr = SocketAddr::new(config.host, config.grpc_port);
    let http_listener = bind(http_addr, "--http-port").await?;
    let grpc_listener = bind(grpc_addr, "--grpc-port").await?;
    let drain_timeout = config.drain_timeout;
    let state = AppState {
        registry: Arc::new(registry),
        metrics: Arc::new(Metrics::new()),
        config: Arc::new(config),
    };
    let app = rest::router(state.clone()).merge(grpc::router(state));

    let (stop_tx, stop_rx) = watch::channel(false);
    let servers = [http_listener, grpc_listener].map(|listener| {
        let mut stop = stop_rx.clone();
        let server = axum::serve(listener, app.clone()).with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        });
        tokio::spawn(async move { server.await })
    });
    tracing::info!(%http_addr, %grpc_addr, "serving");

    shutdown_signal().await;
    tracing::info!(?drain_timeout, "shutting down: no new connections, finishing in-flight requests");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(drain_timeout, futures::future::join_all(servers)).await;
    match drained {
        Ok(results) => {
            for result in results {
                result
                    .map_err(|e| Error::internal(format!("server task failed: {e}")))?
                    .map_err(|e| Error::internal(format!("server failed: {e}")))?;
            }
            tracing::info!("drained; bye");
        }
        Err(_) => tracing::warn!(?drain_timeout, "drain timeout passed; closing the remaining connections"),
    }
    Ok(())
}

async fn bind(addr: SocketAddr, flag: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| Error::invalid(format!("{flag}: cannot listen on {addr}: {e}")))
}

/// Resolves on SIGTERM (what Kubernetes sends) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
