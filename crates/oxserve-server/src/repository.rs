//! Loading models from a model repository folder or a single model file.
//!
//! A repository holds one folder per model, in either of two layouts:
//! - MLServer's: the model file (`model.onnx`, or the folder's only `.onnx`) beside an optional
//!   `model-settings.json`;
//! - Triton's: `config.pbtxt` (optional for ONNX models) and numeric version folders,
//!   `<model>/<version>/model.onnx`, of which the version policy serves one.
//!
//! A folder with `model-settings.json` is MLServer's even when it also holds `config.pbtxt`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Metrics;
use oxserve_batch::{Scheduler, SchedulerConfig};
use oxserve_core::{Error, ModelSettings, Result, Unit};
use oxserve_onnx::OnnxModel;

use crate::triton_config::{CONFIG_FILE, DEFAULT_MODEL_FILENAME, TritonConfig, VersionPolicy};

const SETTINGS_FILE: &str = "model-settings.json";

/// Loads every model in `dir`: each sub-folder laid out as MLServer or Triton lays out a model
/// is one model. Any model that fails to load fails the whole start, so a broken deployment is
/// noticed at once rather than by its first request.
pub fn load_repository(dir: &Path, metrics: &Metrics) -> Result<Vec<Arc<dyn Unit>>> {
    let mut units = Vec::new();
    for folder in model_folders(dir)? {
        units.extend(load_model_folder(&folder, metrics)?);
    }
    if units.is_empty() {
        return Err(Error::invalid(format!(
            "--model-repository {}: no models found (expected one folder per model holding \
             {SETTINGS_FILE} or model.onnx, or Triton's {CONFIG_FILE} and <version>/model.onnx)",
            dir.display()
        )));
    }
    Ok(units)
}

/// The models in `dir` whose `implementation` this build does not run (a prepackaged Python
/// server such as `sklearn`, or a user's class), as (name, implementation), in name order.
///
/// `oxserve serve` asks this before loading anything: a repository that needs Python is handed
/// whole to the oxserve Python package, which serves those folders and the ONNX ones beside them.
pub fn foreign_models(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut foreign = Vec::new();
    for folder in model_folders(dir)? {
        foreign.extend(foreign_model(&folder)?);
    }
    Ok(foreign)
}

/// The model in `folder` as (name, implementation) when its `implementation` is one this build
/// does not run (see [`foreign_models`]); a graph's host asks it of each model folder.
pub fn foreign_model(folder: &Path) -> Result<Option<(String, String)>> {
    let settings_path = folder.join(SETTINGS_FILE);
    if !settings_path.is_file() {
        return Ok(None);
    }
    let settings = ModelSettings::from_file(&settings_path)?;
    Ok(settings.implementation.filter(|i| !ONNX_IMPLEMENTATIONS.contains(&i.as_str())).map(
        |implementation| {
            let name = settings.name.unwrap_or_else(|| folder_name(folder));
            (name, implementation)
        },
    ))
}

/// The sub-folders of a repository, in name order.
fn model_folders(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::invalid(format!("--model-repository {}: {e}", dir.display())))?;
    let mut folders: Vec<PathBuf> =
        entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    folders.sort();
    Ok(folders)
}

fn folder_name(folder: &Path) -> String {
    folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Loads the model in one repository folder (MLServer's or Triton's layout), or `None` when the
/// folder holds no model. Hosts that serve some folders of a repository themselves (the Python
/// package serves its prepackaged frameworks) hand the others here one by one.
pub fn load_model_folder(folder: &Path, metrics: &Metrics) -> Result<Option<Arc<dyn Unit>>> {
    let Some(found) = discover(folder)? else {
        tracing::debug!(folder = %folder.display(), "no model here; skipped");
        return Ok(None);
    };
    load(&found.name, &found.model_path, &found.settings, metrics).map(Some)
}

/// A model found in a repository folder, ready for [`load`].
#[derive(Debug, Clone, PartialEq)]
struct Discovered {
    name: String,
    model_path: PathBuf,
    settings: ModelSettings,
}

/// What `folder` holds: a model in MLServer's or Triton's layout, or nothing (`None`).
fn discover(folder: &Path) -> Result<Option<Discovered>> {
    let folder_name = folder_name(folder);
    let settings_path = folder.join(SETTINGS_FILE);
    let config_path = folder.join(CONFIG_FILE);
    if settings_path.is_file() {
        if config_path.is_file() {
            tracing::info!(
                folder = %folder.display(),
                "{SETTINGS_FILE} and {CONFIG_FILE} both present: using {SETTINGS_FILE}, \
                 {CONFIG_FILE} is ignored"
            );
        }
        let settings = ModelSettings::from_file(&settings_path)?;
        return mlserver_model(folder, folder_name, settings).map(Some);
    }
    if config_path.is_file() {
        let config = TritonConfig::from_file(&config_path, &folder_name)?;
        return triton_model(folder, config, Some(&config_path)).map(Some);
    }
    if find_model_file(folder).is_ok() {
        return mlserver_model(folder, folder_name, ModelSettings::default()).map(Some);
    }
    // Triton loads an ONNX model without config.pbtxt (auto-complete); without it, a folder is a
    // model only if a version folder holds model.onnx, so that other folders stay skipped.
    let config = TritonConfig::auto_complete(&folder_name);
    let versions = version_folders(folder).unwrap_or_default();
    if versions.iter().any(|v| model_file_in(folder, *v, &config.model_filename).is_file()) {
        return triton_model(folder, config, None).map(Some);
    }
    if !versions.is_empty() {
        tracing::warn!(
            folder = %folder.display(),
            "version folders but no {CONFIG_FILE} and no <version>/{} in them: skipped",
            config.model_filename
        );
    }
    Ok(None)
}

/// MLServer's layout: the model file named by `parameters.uri`, else found in the folder.
///
/// An `implementation` this build does not load is refused before any file is looked for, so that
/// the error names it rather than a missing `model.onnx`.
fn mlserver_model(folder: &Path, folder_name: String, settings: ModelSettings) -> Result<Discovered> {
    let name = settings.name.clone().unwrap_or(folder_name);
    if let Some(other) = settings.implementation.as_deref().filter(|i| !ONNX_IMPLEMENTATIONS.contains(i)) {
        return Err(unavailable(&name, other));
    }
    let model_path = match &settings.parameters.uri {
        Some(uri) => folder.join(uri),
        None => find_model_file(folder)?,
    };
    Ok(Discovered { name, model_path, settings })
}

/// Triton's layout: the version the policy picks, `<folder>/<version>/<default_model_filename>`.
/// `config_path` is `None` for a folder without `config.pbtxt`.
fn triton_model(folder: &Path, config: TritonConfig, config_path: Option<&Path>) -> Result<Discovered> {
    let TritonConfig { mut settings, version_policy, model_filename } = config;
    let origin = match config_path {
        Some(path) => format!("{}: version_policy {version_policy}", path.display()),
        None => format!("{} (no {CONFIG_FILE}: version_policy latest)", folder.display()),
    };
    let present = version_folders(folder)?;
    if present.is_empty() {
        return Err(Error::invalid(format!(
            "{}: a Triton model folder needs numeric version folders holding the model, such as \
             {}; there are none",
            folder.display(),
            Path::new("1").join(&model_filename).display()
        )));
    }
    if let VersionPolicy::Specific { versions } = &version_policy {
        for missing in versions.iter().filter(|v| !present.contains(v)) {
            tracing::warn!(
                folder = %folder.display(),
                "version_policy names version {missing}, which has no version folder"
            );
        }
    }
    let version = match version_policy.select(&present)[..] {
        [one] => one,
        [] => {
            return Err(Error::invalid(format!(
                "{origin}: selects none of the version folders present ({})",
                list(&present)
            )));
        }
        ref several => {
            return Err(Error::invalid(format!(
                "{origin}: selects versions {}, and oxserve serves one version per model; \
                 use the default policy (latest) or list one version under specific",
                list(several)
            )));
        }
    };
    let mut model_path = model_file_in(folder, version, &model_filename);
    // ONNX Runtime's Triton backend also takes a folder named like the model file (a model with
    // external data files): the graph is the `model.onnx` inside it.
    if model_path.is_dir() {
        model_path.push(DEFAULT_MODEL_FILENAME);
    }
    if !model_path.is_file() {
        return Err(Error::invalid(format!(
            "{origin}: serves version {version}, but {} is not a file (this build serves ONNX models)",
            model_path.display()
        )));
    }
    let uri = model_path.strip_prefix(folder).unwrap_or(&model_path).to_string_lossy().into_owned();
    settings.parameters.uri = Some(uri);
    settings.parameters.version = Some(version.to_string());
    settings.versions = vec![version.to_string()];
    let name = settings.name.clone().unwrap_or_default();
    Ok(Discovered { name, model_path, settings })
}

fn model_file_in(folder: &Path, version: u64, file_name: &str) -> PathBuf {
    folder.join(version.to_string()).join(file_name)
}

fn list(versions: &[u64]) -> String {
    versions.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// The numeric sub-folders of `folder`, ascending, read as Triton reads them: other names are
/// not versions, and a name with a leading zero is ignored with a warning.
fn version_folders(folder: &Path) -> Result<Vec<u64>> {
    let entries =
        std::fs::read_dir(folder).map_err(|e| Error::invalid(format!("{}: {e}", folder.display())))?;
    let mut versions = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if name.len() > 1 && name.starts_with('0') {
            tracing::warn!(
                folder = %folder.display(),
                "version folder '{name}' has a leading zero: ignored, as Triton does"
            );
            continue;
        }
        match name.parse::<u64>() {
            Ok(v) if v <= i64::MAX as u64 => versions.push(v),
            _ => tracing::warn!(folder = %folder.display(), "version folder '{name}' is too large: ignored"),
        }
    }
    versions.sort_unstable();
    Ok(versions)
}

/// Loads one model file with default settings; its inputs and outputs come from the file.
pub fn load_model_file(path: &Path, name: &str, metrics: &Metrics) -> Result<Arc<dyn Unit>> {
    load(name, path, &ModelSettings::default(), metrics)
}

/// Loads the model a graph node names by its path: a model file under the node's `name`, or a
/// repository's model folder with its settings (batching included) and its own name.
pub fn load_model_path(path: &Path, name: &str, metrics: &Metrics) -> Result<Arc<dyn Unit>> {
    if !path.is_dir() {
        return load_model_file(path, name, metrics);
    }
    load_model_folder(path, metrics)?.ok_or_else(|| {
        Error::invalid(format!(
            "{}: no model here (model.onnx, {SETTINGS_FILE} or Triton's layout)",
            path.display()
        ))
    })
}

/// Loads a model with its runtime and puts its scheduler in front: every model gets a bounded
/// queue, the settings' dynamic batching and `instances` concurrent runs. Must run inside the
/// tokio runtime (the scheduler spawns its task there).
fn load(name: &str, path: &Path, settings: &ModelSettings, metrics: &Metrics) -> Result<Arc<dyn Unit>> {
    let config =
        SchedulerConfig::from_settings(settings).map_err(|e| e.context(format_args!("model '{name}'")))?;
    let implementation = settings.implementation.as_deref().unwrap_or_else(|| infer_implementation(path));
    if !ONNX_IMPLEMENTATIONS.contains(&implementation) {
        return Err(unavailable(name, implementation));
    }
    let unit: Arc<dyn Unit> = Arc::new(OnnxModel::load(name, path, settings)?);
    let version = settings.parameters.version.as_deref().unwrap_or("");
    let scheduler = Scheduler::new(unit, config, metrics.scheduler_observer(name, version))
        .map_err(|e| e.context(format_args!("model '{name}'")))?;
    Ok(Arc::new(scheduler))
}

/// The `implementation` names this build loads, all with ONNX Runtime.
const ONNX_IMPLEMENTATIONS: [&str; 3] = ["onnx", "onnxruntime", "onnxruntime_onnx"];

fn unavailable(name: &str, implementation: &str) -> Error {
    Error::invalid(format!(
        "model '{name}': implementation '{implementation}' is not available; this build serves: onnx \
         (the oxserve Python package serves scikit-learn, XGBoost, LightGBM, MLflow and TensorFlow \
         folders, and ONNX ones beside them: python -m oxserve --model-repository DIR)"
    ))
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A scratch folder under the system's temporary folder, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("oxserve-repository-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        /// Writes `text` at `relative` (creating folders) and returns the model folder `model`.
        fn write(&self, relative: &str, text: &str) -> &Self {
            let path = self.0.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
            self
        }

        fn folder(&self, model: &str) -> PathBuf {
            self.0.join(model)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn found(folder: &Path) -> Discovered {
        match discover(folder) {
            Ok(Some(found)) => found,
            Ok(None) => panic!("{}: nothing found", folder.display()),
            Err(e) => panic!("{}: {}", folder.display(), e.message),
        }
    }

    fn failure(folder: &Path) -> String {
        match discover(folder) {
            Ok(found) => panic!("{}: should fail, found {found:?}", folder.display()),
            Err(e) => e.message,
        }
    }

    const BATCHING: &str = "name: 'iris' platform: 'onnxruntime_onnx' max_batch_size: 8
        input [{ name: 'input' data_type: TYPE_FP32 dims: [4] }]
        dynamic_batching { max_queue_delay_microseconds: 500 }
        instance_group [{ count: 2 kind: KIND_CPU }]";

    #[test]
    fn foreign_models_are_the_folders_with_a_non_onnx_implementation() {
        let repo = Scratch::new();
        repo.write("b-iris/model-settings.json", r#"{"name": "iris", "implementation": "sklearn"}"#)
            .write("a-onnx/model-settings.json", r#"{"implementation": "onnx"}"#)
            .write("c-plain/model.onnx", "")
            .write("d-triton/config.pbtxt", "platform: 'onnxruntime_onnx'")
            .write("e-booster/model-settings.json", r#"{"implementation": "mlserver_xgboost.XGBoostModel"}"#);
        let found = foreign_models(&repo.0).unwrap();
        assert_eq!(
            found,
            [
                ("iris".to_string(), "sklearn".to_string()),
                ("e-booster".to_string(), "mlserver_xgboost.XGBoostModel".to_string())
            ]
        );
        repo.write("f-bad/model-settings.json", "{not json");
        assert!(foreign_models(&repo.0).unwrap_err().message.contains("f-bad"));
    }

    #[test]
    fn python_implementations_point_at_the_python_package() {
        let repo = Scratch::new();
        repo.write("iris/model-settings.json", r#"{"implementation": "mlserver_sklearn.SKLearnModel"}"#)
            .write("iris/model.joblib", "");
        let message = failure(&repo.folder("iris"));
        assert!(
            message.contains("implementation 'mlserver_sklearn.SKLearnModel' is not available"),
            "{message}"
        );
        assert!(message.contains("python -m oxserve --model-repository"), "{message}");
    }

    #[test]
    fn triton_folder_serves_the_numerically_latest_version() {
        let repo = Scratch::new();
        repo.write("iris/config.pbtxt", BATCHING)
            .write("iris/1/model.onnx", "v1")
            .write("iris/2/model.onnx", "v2")
            .write("iris/10/model.onnx", "v10")
            .write("iris/010/model.onnx", "leading zero: not a version")
            .write("iris/latest/model.onnx", "not a version");
        let found = found(&repo.folder("iris"));
        assert_eq!(found.name, "iris");
        assert_eq!(found.model_path, repo.folder("iris").join("10").join("model.onnx"));
        assert_eq!(found.settings.parameters.uri.as_deref(), Some("10/model.onnx"));
        assert_eq!(found.settings.parameters.version.as_deref(), Some("10"));
        assert_eq!(found.settings.max_batch_size, 8);
        assert_eq!(found.settings.instances, Some(2));
        assert_eq!(found.settings.inputs[0].shape, vec![-1, 4]);
    }

    #[test]
    fn version_policies_pick_one_version_or_say_why_not() {
        let repo = Scratch::new();
        repo.write("m/1/model.onnx", "").write("m/3/model.onnx", "");
        let config = |text: &str| repo.write("m/config.pbtxt", text);

        config("version_policy: { specific { versions: [1] } }");
        assert_eq!(found(&repo.folder("m")).settings.parameters.version.as_deref(), Some("1"));
        config("version_policy: { specific { versions: [1, 7] } }");
        assert_eq!(found(&repo.folder("m")).settings.parameters.version.as_deref(), Some("1"));

        config("version_policy: { all {} }");
        let message = failure(&repo.folder("m"));
        assert!(message.contains("config.pbtxt: version_policy all: selects versions 1, 3"), "{message}");
        assert!(message.contains("one version per model"), "{message}");
        config("version_policy: { latest { num_versions: 2 } }");
        assert!(failure(&repo.folder("m")).contains("selects versions 1, 3"));
        config("version_policy: { specific { versions: [5] } }");
        let message = failure(&repo.folder("m"));
        assert!(
            message
                .contains("specific { versions: [5] }: selects none of the version folders present (1, 3)"),
            "{message}"
        );

        std::fs::remove_dir_all(repo.folder("m").join("1")).unwrap();
        config("version_policy: { all {} }");
        assert_eq!(found(&repo.folder("m")).settings.parameters.version.as_deref(), Some("3"));
    }

    #[test]
    fn default_model_filename_and_model_folders() {
        let repo = Scratch::new();
        repo.write("m/config.pbtxt", "default_model_filename: 'net.onnx'").write("m/2/net.onnx", "");
        assert_eq!(found(&repo.folder("m")).settings.parameters.uri.as_deref(), Some("2/net.onnx"));

        repo.write("d/config.pbtxt", "")
            .write("d/1/model.onnx/model.onnx", "")
            .write("d/1/model.onnx/weights.bin", "");
        assert_eq!(
            found(&repo.folder("d")).settings.parameters.uri.as_deref(),
            Some("1/model.onnx/model.onnx")
        );
    }

    #[test]
    fn triton_folders_without_a_usable_version_are_errors() {
        let repo = Scratch::new();
        repo.write("none/config.pbtxt", "").write("none/model.onnx", "");
        let message = failure(&repo.folder("none"));
        assert!(
            message.contains("needs numeric version folders holding the model, such as 1/model.onnx"),
            "{message}"
        );

        repo.write("plan/config.pbtxt", "").write("plan/1/model.plan", "");
        let message = failure(&repo.folder("plan"));
        assert!(message.contains("config.pbtxt: version_policy latest: serves version 1, but"), "{message}");
        assert!(message.contains("1/model.onnx is not a file"), "{message}");

        // Triton serves the highest version even when an older one has the file.
        repo.write("gap/1/model.onnx", "").write("gap/2/README", "");
        let message = failure(&repo.folder("gap"));
        assert!(message.contains("(no config.pbtxt: version_policy latest): serves version 2"), "{message}");

        repo.write("bad/config.pbtxt", "max_batch_size: {");
        let message = failure(&repo.folder("bad"));
        assert!(message.contains("bad/config.pbtxt:1:18: end of file: missing '}'"), "{message}");
    }

    #[test]
    fn a_folder_without_config_is_a_triton_model_when_a_version_holds_model_onnx() {
        let repo = Scratch::new();
        repo.write("auto/1/model.onnx", "").write("auto/4/model.onnx", "");
        let found = found(&repo.folder("auto"));
        assert_eq!(found.name, "auto");
        assert_eq!(found.settings.parameters.uri.as_deref(), Some("4/model.onnx"));
        assert!(found.settings.inputs.is_empty(), "metadata comes from the graph");
        assert_eq!(found.settings.max_batch_size, 0);

        repo.write("data/2024/notes.txt", "").write("empty/.keep", "");
        assert_eq!(discover(&repo.folder("data")).unwrap(), None);
        assert_eq!(discover(&repo.folder("empty")).unwrap(), None);
    }

    #[test]
    fn model_settings_win_over_config_pbtxt() {
        let repo = Scratch::new();
        repo.write("m/model-settings.json", r#"{"name": "renamed", "parameters": {"uri": "1/model.onnx"}}"#)
            .write("m/config.pbtxt", "this is not even valid {")
            .write("m/1/model.onnx", "");
        let found = found(&repo.folder("m"));
        assert_eq!(found.name, "renamed");
        assert_eq!(found.model_path, repo.folder("m").join("1/model.onnx"));
        assert_eq!(found.settings.parameters.version, None);
    }

    #[test]
    fn mlserver_folders_behave_as_before() {
        let repo = Scratch::new();
        repo.write("plain/model.onnx", "").write("other/net.onnx", "");
        let plain = found(&repo.folder("plain"));
        assert_eq!((plain.name.as_str(), plain.settings), ("plain", ModelSettings::default()));
        assert_eq!(found(&repo.folder("other")).model_path, repo.folder("other").join("net.onnx"));
    }
}
