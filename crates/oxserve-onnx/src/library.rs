//! Finding and loading the ONNX Runtime shared library.
//!
//! oxserve does not link ONNX Runtime: it loads `libonnxruntime.so.<version>` at run time (ort's
//! `load-dynamic`), so one binary works with the CPU wheel, the GPU wheel or a system build. Users
//! should not have to set anything: the library is looked for where `pip install onnxruntime` puts
//! it. Loading must never panic (ort panics on a library older than the C API it was compiled for,
//! and when it is used before a library was loaded), so every candidate's version is checked from
//! its file name first and the ort call itself runs under `catch_unwind`.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use ort::environment::Environment;
use ort::logging::LogLevel;
use oxserve_core::{Error, ErrorKind};

/// The oldest ONNX Runtime minor version (1.x) ort can load: it is compiled against this C API
/// level (the `api-NN` cargo feature). Older libraries would make ort fail or panic.
const MIN_MINOR: u32 = ort::MINOR_VERSION;

/// What to tell a user who has no usable library.
const HOW_TO_FIX: &str = "install ONNX Runtime with `pip install onnxruntime` (or `onnxruntime-gpu`) in the \
     Python environment oxserve runs from, or set ORT_DYLIB_PATH to the full path of \
     libonnxruntime.so.<version>";

/// The loaded library and the process-wide ort environment every session is created in.
/// ort allows one environment per process and keeps only a weak reference itself, so it lives here.
struct Runtime {
    path: PathBuf,
    environment: Environment,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
/// Serialises initialisation attempts; a failed attempt leaves nothing behind, so a later call
/// (with a fixed path, say) may try again.
static INIT: Mutex<()> = Mutex::new(());

/// Finds and loads ONNX Runtime once per process, returning the path of the library in use.
///
/// Search order, first hit wins:
/// 1. `explicit` (the CLI's `--onnxruntime-lib`): a library file or a folder holding one;
/// 2. the `ORT_DYLIB_PATH` environment variable (file or folder);
/// 3. the `onnxruntime` Python package (`<pkg>/capi/libonnxruntime.so.<x.y.z>`) in `$VIRTUAL_ENV`,
///    then in a `.venv` in the current directory or any parent, then in a `.venv` beside any
///    ancestor of the executable's folder, and finally wherever `python3` finds the package.
///
/// A path the user gave (1 or 2) that does not work is an error at once, never silently replaced by
/// another library. Libraries older than ONNX Runtime 1.20 are refused before ort sees them. Calling
/// again after a success returns the same path (a different `explicit` path is then ignored with a
/// warning, because a process cannot unload ONNX Runtime). Errors list every place searched and how
/// to fix the problem; this function never panics.
pub fn init_onnxruntime(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(runtime) = already_loaded(explicit) {
        return Ok(runtime.path.clone());
    }
    let _guard = INIT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(runtime) = already_loaded(explicit) {
        return Ok(runtime.path.clone());
    }
    let path = SearchPlaces::from_process(explicit).locate()?;
    let environment = load(&path)?;
    tracing::info!(path = %path.display(), "loaded ONNX Runtime");
    let runtime = RUNTIME.get_or_init(|| Runtime { path, environment });
    Ok(runtime.path.clone())
}

/// The library this process loaded, if [`init_onnxruntime`] succeeded (for `oxserve version` and
/// diagnostics).
pub fn onnxruntime_path() -> Option<&'static Path> {
    RUNTIME.get().map(|runtime| runtime.path.as_path())
}

/// The process-wide ort environment, loading the library by discovery if nobody did yet.
pub(crate) fn environment() -> Result<&'static Environment, Error> {
    init_onnxruntime(None)?;
    RUNTIME
        .get()
        .map(|runtime| &runtime.environment)
        .ok_or_else(|| Error::internal("ONNX Runtime was initialised but its environment is missing"))
}

fn already_loaded(explicit: Option<&Path>) -> Option<&'static Runtime> {
    let runtime = RUNTIME.get()?;
    if let Some(explicit) = explicit
        && !same_file(explicit, &runtime.path)
    {
        tracing::warn!(
            requested = %explicit.display(),
            loaded = %runtime.path.display(),
            "ONNX Runtime is already loaded in this process; the requested library is ignored"
        );
    }
    Some(runtime)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn unusable(message: String) -> Error {
    Error::new(ErrorKind::Unavailable, message)
}

/// Hands the library to ort and builds the environment, turning every failure (and any panic inside
/// ort) into an error.
fn load(path: &Path) -> Result<Environment, Error> {
    let attempt = std::panic::catch_unwind(|| -> Result<Environment, String> {
        let builder = ort::init_from(path).map_err(|e| e.to_string())?;
        let environment = builder
            .with_name("oxserve")
            // A server should not send usage telemetry unless its operator asks for it.
            .with_telemetry(false)
            .with_logger(Arc::new(forward_log))
            .build()
            .map_err(|e| e.to_string())?;
        // ort registers custom loggers at the verbose level; keep ONNX Runtime's own default.
        environment.set_log_level(log_level());
        Ok(environment)
    });
    let failure = match attempt {
        Ok(Ok(environment)) => return Ok(environment),
        Ok(Err(message)) => message,
        Err(panic) => format!("ort panicked: {}", panic_message(panic.as_ref())),
    };
    Err(unusable(format!(
        "cannot load ONNX Runtime from {}: {failure}; {HOW_TO_FIX} (ONNX Runtime 1.{MIN_MINOR} or newer)",
        path.display()
    )))
}

/// ONNX Runtime's messages go through `tracing` like the rest of the server's logs, instead of
/// ANSI-coloured lines on stderr.
fn forward_log(level: LogLevel, category: &str, id: &str, location: &str, message: &str) {
    match level {
        LogLevel::Verbose => tracing::trace!(target: "onnxruntime", category, id, location, "{message}"),
        LogLevel::Info => tracing::debug!(target: "onnxruntime", category, id, location, "{message}"),
        LogLevel::Warning => tracing::warn!(target: "onnxruntime", category, id, location, "{message}"),
        LogLevel::Error | LogLevel::Fatal => {
            tracing::error!(target: "onnxruntime", category, id, location, "{message}")
        }
    }
}

/// The level ONNX Runtime logs at: `ORT_LOG` (`verbose`, `info`, `warning`, `error`, `fatal`) as
/// in ort, else warnings and worse.
fn log_level() -> LogLevel {
    match std::env::var("ORT_LOG").as_deref() {
        Ok("verbose") => LogLevel::Verbose,
        Ok("info") => LogLevel::Info,
        Ok("error") => LogLevel::Error,
        Ok("fatal") => LogLevel::Fatal,
        _ => LogLevel::Warning,
    }
}

/// The text of a panic payload, for error messages.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Everything discovery looks at, gathered up front so that the search itself is a pure function
/// of its inputs (and testable without touching the process environment).
#[derive(Debug, Default)]
pub(crate) struct SearchPlaces {
    pub explicit: Option<PathBuf>,
    pub ort_dylib_path: Option<OsString>,
    pub virtual_env: Option<PathBuf>,
    pub current_dir: Option<PathBuf>,
    pub executable: Option<PathBuf>,
    /// Whether to ask `python3` where its `onnxruntime` package is, as the last resort.
    pub ask_python: bool,
}

impl SearchPlaces {
    fn from_process(explicit: Option<&Path>) -> SearchPlaces {
        SearchPlaces {
            explicit: explicit.map(Path::to_path_buf),
            ort_dylib_path: std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()),
            virtual_env: std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()).map(PathBuf::from),
            current_dir: std::env::current_dir().ok(),
            executable: std::env::current_exe().ok(),
            ask_python: true,
        }
    }

    /// Runs the search in the documented order.
    pub(crate) fn locate(&self) -> Result<PathBuf, Error> {
        if let Some(explicit) = &self.explicit {
            return user_path(explicit, "--onnxruntime-lib / ORT_DYLIB_PATH");
        }
        if let Some(env) = &self.ort_dylib_path {
            return user_path(Path::new(env), "ORT_DYLIB_PATH");
        }

        let mut searched = Vec::new();
        let mut seen = HashSet::new();
        let mut venvs: Vec<(PathBuf, &str)> = Vec::new();
        match &self.virtual_env {
            Some(venv) => venvs.push((venv.clone(), "$VIRTUAL_ENV")),
            None => searched.push("$VIRTUAL_ENV: not set".to_string()),
        }
        if let Some(dir) = &self.current_dir {
            venvs.extend(dir.ancestors().map(|d| (d.join(".venv"), "current directory")));
        }
        if let Some(dir) = self.executable.as_deref().and_then(Path::parent) {
            venvs.extend(dir.ancestors().map(|d| (d.join(".venv"), "executable's folder")));
        }
        for (venv, why) in venvs {
            if !seen.insert(venv.clone()) {
                continue;
            }
            if !venv.is_dir() {
                // Absent .venv folders in every ancestor are the normal case: not worth listing.
                if why == "$VIRTUAL_ENV" {
                    searched.push(format!("$VIRTUAL_ENV={}: no such folder", venv.display()));
                }
                continue;
            }
            let packages = packages_in_venv(&venv);
            if packages.is_empty() {
                searched.push(format!("{} ({why}): no onnxruntime package", venv.display()));
            }
            for package in packages {
                match library_in_package(&package) {
                    Ok(lib) => return Ok(lib),
                    Err(why) => searched.push(why),
                }
            }
        }

        if self.ask_python {
            match python_package() {
                Ok(package) => match library_in_package(&package) {
                    Ok(lib) => return Ok(lib),
                    Err(why) => searched.push(why),
                },
                Err(why) => searched.push(why),
            }
        }

        Err(unusable(format!(
            "ONNX Runtime library (libonnxruntime.so.<version>, 1.{MIN_MINOR} or newer) not found; searched: {}; \
             {HOW_TO_FIX}",
            searched.join("; ")
        )))
    }
}

/// Checks a path the user named: a library file, or a folder holding one.
fn user_path(path: &Path, source: &str) -> Result<PathBuf, Error> {
    let fail = |why: String| {
        unusable(format!("ONNX Runtime library from {source} ({}): {why}; {HOW_TO_FIX}", path.display()))
    };
    if path.is_dir() {
        return match newest_library_in(path) {
            Some((lib, version)) => check_version(&lib, version).map(|()| lib).map_err(fail),
            None => Err(fail(format!("the folder has no {} file", library_pattern()))),
        };
    }
    if !path.is_file() {
        return Err(fail("no such file".to_string()));
    }
    // An unversioned name (`libonnxruntime.so`) is usually a symlink to the versioned file.
    let version = file_version(path).or_else(|| path.canonicalize().ok().and_then(|p| file_version(&p)));
    match version {
        Some(version) => check_version(path, version).map(|()| path.to_path_buf()).map_err(fail),
        // No version to read: ort checks the library's own version string and reports a mismatch.
        None => Ok(path.to_path_buf()),
    }
}

fn check_version(path: &Path, version: Version) -> Result<(), String> {
    if version.major > 1 || (version.major == 1 && version.minor >= MIN_MINOR) {
        Ok(())
    } else {
        Err(format!(
            "{} is ONNX Runtime {version}, older than the 1.{MIN_MINOR} oxserve needs",
            path.display()
        ))
    }
}

/// `<venv>/lib*/python*/site-packages/onnxruntime` folders that exist.
fn packages_in_venv(venv: &Path) -> Vec<PathBuf> {
    let mut packages = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(entries) = std::fs::read_dir(venv.join(lib)) else { continue };
        let mut pythons: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
            .map(|e| e.path().join("site-packages").join("onnxruntime"))
            .filter(|p| p.is_dir())
            .collect();
        pythons.sort();
        for package in pythons {
            // lib64 is often a symlink to lib: do not report the same package twice.
            let canonical = package.canonicalize().unwrap_or_else(|_| package.clone());
            if !packages.iter().any(|p: &PathBuf| p.canonicalize().ok().as_ref() == Some(&canonical)) {
                packages.push(package);
            }
        }
    }
    packages
}

/// The newest acceptable versioned library in `<package>/capi`, or why there is none.
fn library_in_package(package: &Path) -> Result<PathBuf, String> {
    let capi = package.join("capi");
    match newest_library_in(&capi) {
        Some((lib, version)) => check_version(&lib, version).map(|()| lib),
        None => Err(format!("{}: no {} file", capi.display(), library_pattern())),
    }
}

/// Asks `python3` where its `onnxruntime` package lives, without importing it (an import would
/// load numpy and the whole runtime just to print a path).
fn python_package() -> Result<PathBuf, String> {
    const SCRIPT: &str = "import importlib.util as u; s = u.find_spec('onnxruntime'); \
                          print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')";
    let output = Command::new("python3")
        .args(["-c", SCRIPT])
        .output()
        .map_err(|e| format!("python3: cannot run it ({e})"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout.trim();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("python3: failed ({})", stderr.trim().lines().last().unwrap_or("no message")));
    }
    if dir.is_empty() {
        return Err("python3: has no onnxruntime package".to_string());
    }
    Ok(PathBuf::from(dir))
}

/// A library version read from a file name such as `libonnxruntime.so.1.32.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

fn library_pattern() -> &'static str {
    if cfg!(target_os = "macos") { "libonnxruntime.<version>.dylib" } else { "libonnxruntime.so.<version>" }
}

/// The version in a library file name (`libonnxruntime.so.1.32.0`, or on macOS
/// `libonnxruntime.1.32.0.dylib`); `None` for an unversioned or unrelated name.
pub(crate) fn file_version(path: &Path) -> Option<Version> {
    let name = path.file_name()?.to_str()?;
    let version = if cfg!(target_os = "macos") {
        name.strip_prefix("libonnxruntime.")?.strip_suffix(".dylib")?
    } else {
        name.strip_prefix("libonnxruntime.so.")?
    };
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) => p.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Version { major, minor, patch })
}

/// The versioned library with the highest version in `dir` (the wheel ships exactly one, and no
/// unversioned `libonnxruntime.so`).
fn newest_library_in(dir: &Path) -> Option<(PathBuf, Version)> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter_map(|p| file_version(&p).map(|v| (p, v)))
        .max_by_key(|(_, v)| *v)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A scratch folder removed when the test ends.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("oxserve-onnx-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        /// Creates an empty fake library inside a fake venv and returns its path.
        fn wheel(&self, venv: &str, version: &str) -> PathBuf {
            let capi = self.0.join(venv).join("lib/python3.11/site-packages/onnxruntime/capi");
            std::fs::create_dir_all(&capi).unwrap();
            let lib = capi.join(format!("libonnxruntime.so.{version}"));
            std::fs::write(&lib, b"").unwrap();
            lib
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn places(scratch: &Scratch) -> SearchPlaces {
        SearchPlaces { current_dir: Some(scratch.0.join("proj/a/b")), ..Default::default() }
    }

    #[test]
    fn versions_are_read_from_file_names() {
        let v = |s: &str| file_version(Path::new(s));
        assert_eq!(v("/x/libonnxruntime.so.1.32.0"), Some(Version { major: 1, minor: 32, patch: 0 }));
        assert_eq!(v("libonnxruntime.so.1.20"), Some(Version { major: 1, minor: 20, patch: 0 }));
        assert_eq!(v("libonnxruntime.so"), None);
        assert_eq!(v("libonnxruntime.so.1"), None);
        assert_eq!(v("libonnxruntime_providers_shared.so"), None);
        assert_eq!(v("libonnxruntime.so.1.x.0"), None);
    }

    #[test]
    fn finds_a_venv_in_a_parent_of_the_current_directory() {
        let scratch = Scratch::new("parent");
        std::fs::create_dir_all(scratch.0.join("proj/a/b")).unwrap();
        let lib = scratch.wheel("proj/.venv", "1.32.0");
        assert_eq!(places(&scratch).locate().unwrap(), lib);
    }

    #[test]
    fn virtual_env_comes_before_dot_venv_and_the_newest_library_wins() {
        let scratch = Scratch::new("order");
        std::fs::create_dir_all(scratch.0.join("proj/a/b")).unwrap();
        scratch.wheel("proj/.venv", "1.32.0");
        scratch.wheel("active", "1.21.0");
        let newest = scratch.wheel("active", "1.25.1");
        let search = SearchPlaces { virtual_env: Some(scratch.0.join("active")), ..places(&scratch) };
        assert_eq!(search.locate().unwrap(), newest);
    }

    #[test]
    fn finds_a_venv_beside_the_executable() {
        let scratch = Scratch::new("exe");
        let lib = scratch.wheel("app/.venv", "1.22.0");
        let search = SearchPlaces {
            executable: Some(scratch.0.join("app/target/release/oxserve")),
            ..Default::default()
        };
        assert_eq!(search.locate().unwrap(), lib);
    }

    #[test]
    fn too_old_libraries_are_refused_with_a_fix() {
        let scratch = Scratch::new("old");
        std::fs::create_dir_all(scratch.0.join("proj/a/b")).unwrap();
        scratch.wheel("proj/.venv", "1.19.2");
        let err = places(&scratch).locate().unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unavailable);
        assert!(err.message.contains("1.19.2, older than the 1.20"), "{}", err.message);
        assert!(err.message.contains("pip install onnxruntime"), "{}", err.message);
        assert!(err.message.contains("ORT_DYLIB_PATH"), "{}", err.message);
    }

    #[test]
    fn user_paths_win_and_are_never_replaced() {
        let scratch = Scratch::new("user");
        std::fs::create_dir_all(scratch.0.join("proj/a/b")).unwrap();
        scratch.wheel("proj/.venv", "1.32.0");
        let chosen = scratch.wheel("elsewhere", "1.30.0");
        let capi = chosen.parent().unwrap().to_path_buf();

        let by_env = SearchPlaces { ort_dylib_path: Some(chosen.clone().into()), ..places(&scratch) };
        assert_eq!(by_env.locate().unwrap(), chosen);
        let by_folder = SearchPlaces { explicit: Some(capi), ..places(&scratch) };
        assert_eq!(by_folder.locate().unwrap(), chosen);

        let missing = scratch.0.join("nope/libonnxruntime.so.1.32.0");
        let explicit_first = SearchPlaces {
            explicit: Some(missing.clone()),
            ort_dylib_path: Some(chosen.into()),
            ..places(&scratch)
        };
        let err = explicit_first.locate().unwrap_err();
        assert!(err.message.contains(&missing.display().to_string()), "{}", err.message);
        assert!(err.message.contains("no such file"), "{}", err.message);
    }

    #[test]
    fn nothing_found_lists_what_was_searched() {
        let scratch = Scratch::new("none");
        std::fs::create_dir_all(scratch.0.join("proj/.venv/lib/python3.11/site-packages")).unwrap();
        std::fs::create_dir_all(scratch.0.join("proj/a/b")).unwrap();
        let search = SearchPlaces { virtual_env: Some(scratch.0.join("gone")), ..places(&scratch) };
        let err = search.locate().unwrap_err();
        assert!(err.message.contains("$VIRTUAL_ENV="), "{}", err.message);
        assert!(err.message.contains("no onnxruntime package"), "{}", err.message);
        assert!(err.message.contains("pip install onnxruntime"), "{}", err.message);
    }
}
