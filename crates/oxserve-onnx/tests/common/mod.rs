//! Shared by the integration tests: the example models, generated once per test binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use oxserve_core::ModelSettings;
use oxserve_onnx::OnnxModel;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// An interpreter that can import `onnx`: `$OXSERVE_PYTHON` or the workspace's `.venv`, then `python3`.
fn python() -> PathBuf {
    let first = std::env::var_os("OXSERVE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    let candidates = [first, PathBuf::from("python3")];
    for python in &candidates {
        let ok = Command::new(python)
            .args(["-c", "import onnx, numpy"])
            .output()
            .is_ok_and(|out| out.status.success());
        if ok {
            return python.clone();
        }
    }
    panic!(
        "no Python interpreter with the `onnx` package (tried {candidates:?}); the ONNX tests generate \
         their models with examples/make_models.py. Run `make test` (it creates .venv with onnx and \
         onnxruntime), or point OXSERVE_PYTHON at an interpreter that has them."
    );
}

/// The folder holding `iris/`, `mlp/`, `every_type/` and `reshape3/`.
pub fn models_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_model_dirs(tmp);
        let dir = tmp.join(format!("{PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let script = workspace_root().join("examples/make_models.py");
        let out = Command::new(python())
            .arg(&script)
            .arg(&dir)
            .arg("--with-test-models")
            .output()
            .expect("run make_models.py");
        assert!(
            out.status.success(),
            "{} failed:\n{}{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

const PREFIX: &str = "oxserve-onnx-models-";

/// Each test process writes its own folder (test binaries may run at the same time) and cannot
/// remove it at exit, so folders of processes that are gone are removed here.
fn remove_stale_model_dirs(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else { continue };
        if cfg!(target_os = "linux") && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Loads an example model with settings given as JSON.
pub fn load(name: &str, settings_json: &str) -> OnnxModel {
    try_load(name, settings_json).unwrap_or_else(|e| panic!("load {name}: {e}"))
}

pub fn try_load(name: &str, settings_json: &str) -> oxserve_core::Result<OnnxModel> {
    let settings = ModelSettings::from_json(settings_json).expect("settings");
    OnnxModel::load(name, &models_dir().join(name).join("model.onnx"), &settings)
}
