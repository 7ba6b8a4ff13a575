//! The `oxserve` command.

mod listen;
mod python_host;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use oxserve_server::{Metrics, Registry, foreign_models, load_model_file, load_repository};

use crate::listen::ListenArgs;

/// mimalloc instead of glibc's malloc: a request makes dozens of small, short-lived allocations
/// (headers, JSON buffers, tensors), and under load glibc spent a fifth of the server's CPU in
/// malloc, free and their consolidation (perf, iris c=64).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serve machine-learning models over Open Inference Protocol V2, Seldon and KServe v1
/// (REST and gRPC).
#[derive(Parser)]
#[command(name = "oxserve", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a model repository folder, or one model file.
    Serve(Box<ServeArgs>),
    /// Serve an inference graph (SeldonDeployment, KServe InferenceGraph or native YAML) as one model.
    Run(Box<run::RunArgs>),
    /// Print the version.
    Version,
}

#[derive(Args)]
struct ServeArgs {
    /// Folder with one sub-folder per model (a model file plus an optional model-settings.json).
    #[arg(
        long,
        env = "OXSERVE_MODEL_REPOSITORY",
        required_unless_present = "model",
        conflicts_with = "model"
    )]
    model_repository: Option<PathBuf>,
    /// A single model file to serve without any settings (e.g. model.onnx).
    #[arg(long, env = "OXSERVE_MODEL")]
    model: Option<PathBuf>,
    /// Name of the model given with --model (default: the file name without its extension).
    #[arg(long, env = "OXSERVE_MODEL_NAME", requires = "model")]
    name: Option<String>,
    #[command(flatten)]
    listen: ListenArgs,
    /// Model that answers Seldon requests which name no model (default: the only model).
    #[arg(long, env = "OXSERVE_DEFAULT_MODEL")]
    default_model: Option<String>,
    /// Path of libonnxruntime.so (default: found in the `onnxruntime` Python package).
    #[arg(long, env = "ORT_DYLIB_PATH")]
    onnxruntime_lib: Option<PathBuf>,
    /// Python interpreter for a repository with prepackaged Python servers (scikit-learn,
    /// XGBoost, ...), which has the oxserve package (default: $VIRTUAL_ENV's, a `.venv` above this
    /// executable, else python3).
    #[arg(long, env = "OXSERVE_PYTHON")]
    python: Option<PathBuf>,
    /// Seldon unit name for meta.requestPath.
    #[arg(long, env = "PREDICTIVE_UNIT_ID", hide = true)]
    predictive_unit_id: Option<String>,
    /// Seldon unit image for meta.requestPath.
    #[arg(long, env = "PREDICTIVE_UNIT_IMAGE", hide = true)]
    predictive_unit_image: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OXSERVE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Version => {
            println!("oxserve {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Serve(args) => exit(serve(*args)),
        Command::Run(args) => exit(run::run(*args)),
    }
}

fn exit(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    args.listen.check()?;
    if let Some(dir) = &args.model_repository {
        let foreign = foreign_models(dir).map_err(|e| e.to_string())?;
        if !foreign.is_empty() {
            let mut source = vec!["--model-repository".into(), dir.into()];
            if let Some(model) = &args.default_model {
                source.extend(["--default-model".into(), model.into()]);
            }
            let handover = python_host::Handover {
                source,
                foreign: &foreign,
                listen: &args.listen,
                onnxruntime_lib: args.onnxruntime_lib.as_deref(),
                python: args.python.as_deref(),
            };
            return Err(handover.exec());
        }
    }
    oxserve_onnx::init_onnxruntime(args.onnxruntime_lib.as_deref()).map_err(|e| e.to_string())?;
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // Models load before serving starts, inside the runtime: each one's scheduler runs there.
    let _in_runtime = runtime.enter();
    let metrics = Arc::new(Metrics::new());
    let units = match (&args.model_repository, &args.model) {
        (Some(dir), _) => load_repository(dir, &metrics).map_err(|e| e.to_string())?,
        (None, Some(file)) => {
            let name = match &args.name {
                Some(name) => name.clone(),
                None => file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "model".into()),
            };
            vec![load_model_file(file, &name, &metrics).map_err(|e| e.to_string())?]
        }
        (None, None) => return Err("give --model-repository DIR or --model FILE".into()),
    };
    let registry = Registry::new(units, args.default_model).map_err(|e| e.to_string())?;
    let config = args.listen.config((args.predictive_unit_id, args.predictive_unit_image));
    let served = runtime.block_on(oxserve_server::serve(config, registry, metrics));
    // The drain timeout has passed by now: leave whatever still runs (a model call cannot be
    // interrupted) instead of waiting for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    served.map_err(|e| e.to_string())
}
