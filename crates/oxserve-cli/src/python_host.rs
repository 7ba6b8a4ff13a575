//! `oxserve serve` on a repository, or `oxserve run` on a graph, that needs Python: prepackaged
//! Python servers (scikit-learn, XGBoost, LightGBM, MLflow, TensorFlow) and users' classes run in
//! the oxserve Python package, whose server is this same Rust core and also loads the ONNX models
//! beside them. So the command replaces itself with `python -m oxserve` on the whole repository or
//! graph, keeping its process id (what a container's signals reach), its environment and its
//! listening flags.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::listen::ListenArgs;

/// How to hand a repository or a graph over to Python.
pub struct Handover<'a> {
    /// What `python -m oxserve` serves: `--model-repository DIR` or `--graph FILE`, and the
    /// options that go with it.
    pub source: Vec<OsString>,
    /// The units that need Python, as (name, implementation or class), for messages.
    pub foreign: &'a [(String, String)],
    pub listen: &'a ListenArgs,
    pub onnxruntime_lib: Option<&'a Path>,
    /// The interpreter chosen by the user (`--python`), if any.
    pub python: Option<&'a Path>,
}

impl Handover<'_> {
    /// Execs `python -m oxserve`; returns only if that cannot happen, with the reason.
    pub fn exec(&self) -> String {
        let python = self.python.map(Path::to_path_buf).unwrap_or_else(default_python);
        if let Err(why) = check_package(&python) {
            return format!(
                "{}: need the oxserve Python package, which {} cannot import ({why}); install it into \
                 that interpreter (`pip install oxserve`, or `pip install ./python` from a checkout) or \
                 choose another with --python",
                self.described(),
                python.display()
            );
        }
        tracing::info!(python = %python.display(), "{}: serving from the oxserve Python package", self.described());
        let mut command = Command::new(&python);
        command.args(["-m", "oxserve"]).args(&self.source);
        command.args(self.listen.python_flags());
        if let Some(lib) = self.onnxruntime_lib {
            command.env("ORT_DYLIB_PATH", lib);
        }
        let error = command.exec();
        format!("cannot start {}: {error}", python.display())
    }

    fn described(&self) -> String {
        let units: Vec<String> = self
            .foreign
            .iter()
            .map(|(name, implementation)| format!("'{name}' ({implementation})"))
            .collect();
        let kind = if self.source.first().is_some_and(|flag| flag == "--graph") { "unit" } else { "model" };
        format!("{kind}{} {}", if units.len() == 1 { "" } else { "s" }, units.join(", "))
    }
}

/// The interpreter of the active virtual environment, else of a `.venv` in the working directory
/// or its parents, or beside the executable or above it (a checkout's `make serve`), else
/// `python3` from the PATH: the places where ONNX Runtime is looked for too.
fn default_python() -> PathBuf {
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        return PathBuf::from(venv).join("bin/python");
    }
    let cwd = std::env::current_dir().ok();
    let exe_dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf));
    [cwd, exe_dir]
        .iter()
        .flatten()
        .flat_map(|start| start.ancestors())
        .map(|dir| dir.join(".venv/bin/python"))
        .find(|python| python.is_file())
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Whether `python` imports the oxserve package, checked before the exec so that a missing
/// package is reported by this command with what to do, not as a Python traceback.
fn check_package(python: &Path) -> Result<(), String> {
    let output = Command::new(python)
        .args(["-c", "import oxserve"])
        .output()
        .map_err(|e| format!("cannot run it: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(stderr.trim().lines().last().unwrap_or("import failed").to_string())
}
