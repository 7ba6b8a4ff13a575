//! The native half of the `oxserve` R package.
//!
//! `oxserve::serve()` (R) calls [`serve_models`] with one dispatcher function per model. The Rust
//! server runs on background threads ([`serve_on_main_thread`]); every call into R is queued to
//! R's main thread, which stays in [`main_thread::MainThread::run`] until the server has
//! drained. Each model is an [`unit::RUnit`] behind the per-model scheduler of `oxserve-batch`,
//! so queue limits, dynamic batching and metrics are the same as for native models.

mod convert;
mod main_thread;
mod unit;

use std::sync::{Arc, mpsc};
use std::time::Duration;

use extendr_api::prelude::*;
use oxserve_core::{Error, ModelMetadata, Unit};
use oxserve_foreign::Declaration;
use oxserve_server::{Metrics, Registry, ServerConfig};
use serde::Deserialize;

use crate::main_thread::{Job, MainThread};
use crate::unit::{OPERATIONS, RUnit};

/// The server options `serve()` passes (see its documentation in `r/R/serve.R`).
#[derive(Deserialize)]
struct Options {
    host: String,
    http_port: u16,
    grpc_port: u16,
    max_request_size: usize,
    drain_timeout: f64,
    log_level: String,
    default_model: Option<String>,
    seldon_unit_id: Option<String>,
    seldon_unit_image: Option<String>,
}

/// Reads one model entry of `serve_models`: `list(metadata =, settings =, operations =,
/// handler =)`.
fn declare(entry: &Robj) -> Result<(Declaration, Function), Error> {
    let json = |name: &str| convert::r_to_json(&convert::field(entry, name), name);
    let metadata: ModelMetadata = serde_json::from_value(json("metadata")?)
        .map_err(|e| Error::invalid(format!("model metadata: {e}")))?;
    let name = metadata.name.clone();
    let operations = convert::field(entry, "operations").as_string_vector().unwrap_or_default();
    let declaration = Declaration::new(metadata, &json("settings")?.to_string(), &operations, &OPERATIONS)?;
    let handler = convert::field(entry, "handler")
        .as_function()
        .ok_or_else(|| Error::internal(format!("model '{name}': its handler must be a function")))?;
    Ok((declaration, handler))
}

/// Puts each declared model behind its scheduler, its calls queued to R's main thread through
/// `jobs`. Must run inside the tokio runtime.
fn build_units(
    declared: Vec<Declaration>,
    jobs: &mpsc::Sender<Job>,
    metrics: &Metrics,
) -> oxserve_core::Result<Vec<Arc<dyn Unit>>> {
    declared
        .into_iter()
        .enumerate()
        .map(|(index, declaration)| {
            declaration.schedule(metrics, |setup| Ok(RUnit::new(index, setup, jobs.clone())))
        })
        .collect()
}

/// Resolves on SIGTERM, Ctrl-C (R's own handler still sees it too: signal handlers chain) or
/// when the main thread reports an interrupt through `stop`.
async fn shutdown(mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        Some(_) = async { match terminate.as_mut() { Some(s) => s.recv().await, None => None } } => {}
        _ = stop.wait_for(|stopped| *stopped) => {}
    }
}

/// Serves on a background thread while R's main thread runs the jobs the units queue; returns
/// once the server has drained.
fn serve_on_main_thread(
    declared: Vec<Declaration>,
    handlers: Vec<Function>,
    config: ServerConfig,
    default_model: Option<String>,
) -> Result<(), Error> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = std::thread::Builder::new()
        .name("oxserve-server".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
            let served = runtime.block_on(async move {
                let metrics = Arc::new(Metrics::new());
                let units = build_units(declared, &jobs, &metrics)?;
                // The units hold their own senders; this one must not keep the main loop alive.
                drop(jobs);
                let registry = Registry::new(units, default_model)?;
                oxserve_server::serve_until(config, registry, metrics, || {}, shutdown(stopped)).await
            });
            // Past the drain timeout an R call may still be queued; the runtime is left behind
            // rather than waited for, which drops the units and so ends the main loop.
            runtime.shutdown_timeout(Duration::from_millis(100));
            served
        })
        .map_err(|e| Error::internal(format!("cannot start the server thread: {e}")))?;
    MainThread::new(handlers).run(&queue, || {
        let _ = stop.send(true);
    });
    server.join().map_err(|_| Error::internal("the server thread panicked"))?
}

/// Serves `models` (a list of model entries, see `declare`) with `options` until SIGTERM,
/// Ctrl-C or an R interrupt. Returns `NULL`, or the message of a start-up or serving failure
/// for `serve()` to raise as an R error (an R error raised from Rust would go through a panic).
#[extendr]
fn serve_models(models: List, options: Robj) -> Robj {
    let result = (|| {
        let options: Options = serde_json::from_value(convert::r_to_json(&options, "options")?)
            .map_err(|e| Error::invalid(format!("options: {e}")))?;
        let config = ServerConfig::from_options(
            &options.host,
            options.http_port,
            options.grpc_port,
            options.max_request_size,
            options.drain_timeout,
            "drain_timeout",
        )?;
        let (declared, handlers): (Vec<_>, Vec<_>) =
            models.values().map(|m| declare(&m)).collect::<Result<Vec<_>, Error>>()?.into_iter().unzip();
        oxserve_foreign::init_logging(&options.log_level);
        let config = ServerConfig {
            seldon_unit_id: options.seldon_unit_id,
            seldon_unit_image: options.seldon_unit_image,
            ..config
        };
        serve_on_main_thread(declared, handlers, config, options.default_model)
    })();
    match result {
        Ok(()) => Robj::from(()),
        Err(e) => Strings::from_values([e.message]).into(),
    }
}

/// Parses JSON `text` (Seldon's `PREDICTIVE_UNIT_PARAMETERS`) into `list(value =)`, or
/// `list(error =)` naming what is wrong: base R has no JSON reader, and the package needs
/// nothing from CRAN.
#[extendr]
fn parse_json(text: &str) -> Robj {
    let parsed = serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| Error::invalid(e.to_string()))
        .and_then(|value| convert::json_to_r(&value));
    let (name, value) = match parsed {
        Ok(value) => ("value", value),
        Err(e) => ("error", Strings::from_values([e.message]).into()),
    };
    List::from_names_and_values([name], [value]).map(Robj::from).unwrap_or_else(|_| Robj::from(()))
}

extendr_module! {
    mod oxserve;
    fn serve_models;
    fn parse_json;
}
