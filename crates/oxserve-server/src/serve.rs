//! Listening on both ports, with read timeouts, and draining on SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use oxserve_core::{Error, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{AppState, Metrics, Registry, ServerConfig, grpc, rest};

/// How long a client may take to send a request's headers. Without a bound, connections that
/// trickle bytes (slowloris) would each hold a task and a socket for ever, and hold up drain.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `registry` (whose schedulers report to `metrics`) until SIGTERM or Ctrl-C, then reports NOT_SERVING on gRPC health, stops
/// accepting connections and lets in-flight requests finish for at most `config.drain_timeout`.
///
/// Both ports serve the same router (REST and gRPC), so a client that reaches either one
/// works; the HTTP port is where REST clients are expected and the gRPC port where gRPC
/// clients are.
pub async fn serve(config: ServerConfig, registry: Registry, metrics: Arc<Metrics>) -> Result<()> {
    serve_until(config, registry, metrics, || {}, shutdown_signal()).await
}

/// [`serve`] for a host that owns the process's signals and the server's lifetime (the Java
/// binding inside a JVM): calls `listening` once both ports accept connections, and drains when
/// `shutdown` resolves instead of on SIGTERM or Ctrl-C.
pub async fn serve_until(
    config: ServerConfig,
    registry: Registry,
    metrics: Arc<Metrics>,
    listening: impl FnOnce(),
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let http_addr = SocketAddr::new(config.host, config.http_port);
    let grpc_addr = SocketAddr::new(config.host, config.grpc_port);
    let http_listener = bind(http_addr, "--http-port", config.reuse_port).await?;
    let grpc_listener = bind(grpc_addr, "--grpc-port", config.reuse_port).await?;
    let metrics_addr = config.metrics_port.map(|port| SocketAddr::new(config.host, port));
    let metrics_listener = match metrics_addr {
        Some(addr) => Some(bind(addr, "--metrics-port", config.reuse_port).await?),
        None => None,
    };
    let drain_timeout = config.drain_timeout;
    let state = AppState { registry: Arc::new(registry), metrics, config: Arc::new(config) };
    let (grpc_router, health) = grpc::router(state.clone()).await;
    let metrics_app = rest::metrics_router(state.clone());
    let app = rest::router(state).merge(grpc_router);

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut servers: Vec<_> = [http_listener, grpc_listener]
        .map(|listener| tokio::spawn(accept_loop(listener, app.clone(), stop_rx.clone())))
        .into();
    servers.extend(
        metrics_listener.map(|listener| tokio::spawn(accept_loop(listener, metrics_app, stop_rx.clone()))),
    );
    tracing::info!(%http_addr, %grpc_addr, ?metrics_addr, "serving");
    listening();

    shutdown.await;
    tracing::info!(?drain_timeout, "shutting down: no new connections, finishing in-flight requests");
    health.not_serving().await;
    let _ = stop_tx.send(true);
    match tokio::time::timeout(drain_timeout, futures::future::join_all(servers)).await {
        Ok(results) => {
            for result in results {
                result.map_err(|e| Error::internal(format!("server task failed: {e}")))?;
            }
            tracing::info!("drained; bye");
        }
        Err(_) => tracing::warn!(?drain_timeout, "drain timeout passed; closing the remaining connections"),
    }
    Ok(())
}

/// Accepts connections until `stop` turns true, then waits for the open ones to finish their
/// requests (each connection is told to close once its in-flight request is answered).
async fn accept_loop(listener: TcpListener, app: Router, mut stop: watch::Receiver<bool>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection closed with an error: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

async fn bind(addr: SocketAddr, flag: &str, reuse_port: bool) -> Result<TcpListener> {
    let listener = if reuse_port { bind_reusing_port(addr) } else { TcpListener::bind(addr).await };
    listener.map_err(|e| Error::invalid(format!("{flag}: cannot listen on {addr}: {e}")))
}

/// A listener with SO_REUSEPORT, so that other processes may listen on the same port.
#[cfg(unix)]
fn bind_reusing_port(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    // The backlog tokio's own `TcpListener::bind` uses.
    socket.listen(1024)
}

#[cfg(not(unix))]
fn bind_reusing_port(_addr: SocketAddr) -> std::io::Result<TcpListener> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "SO_REUSEPORT needs a Unix system"))
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
