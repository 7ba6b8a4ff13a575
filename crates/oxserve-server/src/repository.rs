//! Loading models from a model repository folder or a single model file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxserve_core::{Error, ModelSettings, Result, Unit};
use oxserve_onnx::OnnxModel;

const SETTINGS_FILE: &str = "model-settings.json";

/// Loads every model in `dir`: each sub-folder holding a `model-settings.json` or a model file
/// is one model. Any model that fails to load fails the whole start, so a broken deployment is
/// noticed at once rather than by its first request.
pub fn load_repository(dir: &Path) -> Result<Vec<Arc<dyn Unit>>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::invalid(format!("--model-repository {}: {e}", dir.display())))?;
    let mut folders: Vec<PathBuf> =
        entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    folders.sort();
    let mut units = Vec::new();
    for folder in folders {
        let settings_path = folder.join(SETTINGS_FILE);
        let settings = if settings_path.is_file() {
            ModelSettings::from_file(&settings_path)?
        } else if find_model_file(&folder).is_ok() {
            ModelSettings::default()
        } else {
            tracing::debug!(folder = %folder.display(), "no model here; skipped");
            continue;
        };
        let folder_name = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let name = settings.name.clone().unwrap_or(folder_name);
        let model_path = match &settings.parameters.uri {
            Some(uri) => folder.join(uri),
            None => find_model_file(&folder)?,
        };
        units.push(load(&name, &model_path, &settings)?);
    }
    if units.is_empty() {
        return Err(Error::invalid(format!(
            "--model-repository {}: no models found (expected one folder per model holding {SETTINGS_FILE} or model.onnx)",
            dir.display()
        )));
    }
    Ok(units)
}

/// Loads one model file with default settings; its inputs and outputs come from the file.
pub fn load_model_file(path: &Path, name: &str) -> Result<Arc<dyn Unit>> {
    load(name, path, &ModelSettings::default())
}

fn load(name: &str, path: &Path, settings: &ModelSettings) -> Result<Arc<dyn Unit>> {
    let implementation = settings.implementation.as_deref().unwrap_or_else(|| infer_implementation(path));
    let unit: Arc<dyn Unit> = match implementation {
        "onnx" | "onnxruntime" | "onnxruntime_onnx" => Arc::new(OnnxModel::load(name, path, settings)?),
        other => {
            return Err(Error::invalid(format!(
                "model '{name}': implementation '{other}' is not available; this build serves: onnx"
            )));
        }
    };
    if settings.max_batch_size > 0 || settings.max_batch_time > 0.0 {
        tracing::warn!(
            model = name,
            "max_batch_size / max_batch_time are read but dynamic batching is not available yet; \
             requests run one by one"
        );
    }
    Ok(unit)
}

fn infer_implementation(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("onnx") => "onnx",
        _ => "unknown",
    }
}

/// The model file in a folder: `model.onnx`, else the only `*.onnx` file.
fn find_model_file(folder: &Path) -> Result<PathBuf> {
    let preferred = folder.join("model.onnx");
    if preferred.is_file() {
        return Ok(preferred);
    }
    let candidates: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| Error::invalid(format!("{}: {e}", folder.display())))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    match &candidates[..] {
        [only] => Ok(only.clone()),
        [] => Err(Error::invalid(format!(
            "{}: no model file (model.onnx) and no parameters.uri",
            folder.display()
        ))),
        _ => Err(Error::invalid(format!(
            "{}: several .onnx files; name one in {SETTINGS_FILE} parameters.uri",
            folder.display()
        ))),
    }
}
