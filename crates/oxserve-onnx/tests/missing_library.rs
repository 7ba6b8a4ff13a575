//! A missing or unusable ONNX Runtime library is an error, never a panic. This is its own test
//! binary because a process loads ONNX Runtime at most once: every failure below must happen
//! before the successful load at the end.

use std::path::{Path, PathBuf};

use oxserve_core::ErrorKind;
use oxserve_onnx::{init_onnxruntime, onnxruntime_path};

fn scratch() -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("oxserve-onnx-libs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn assert_helpful(err: &oxserve_core::Error, path: &Path) {
    assert_eq!(err.kind, ErrorKind::Unavailable, "{}", err.message);
    assert!(err.message.contains(&path.display().to_string()), "names the path: {}", err.message);
    assert!(err.message.contains("pip install onnxruntime"), "says how to fix: {}", err.message);
    assert!(err.message.contains("ORT_DYLIB_PATH"), "says how to fix: {}", err.message);
}

#[test]
fn unusable_libraries_are_errors_and_discovery_still_works_afterwards() {
    let dir = scratch();

    let bogus = Path::new("/nonexistent/oxserve/libonnxruntime.so.1.32.0");
    let err = init_onnxruntime(Some(bogus)).unwrap_err();
    assert_helpful(&err, bogus);

    let too_old = dir.join("libonnxruntime.so.1.19.0");
    std::fs::write(&too_old, b"").unwrap();
    let err = init_onnxruntime(Some(&too_old)).unwrap_err();
    assert_helpful(&err, &too_old);
    assert!(err.message.contains("older than the 1.20"), "{}", err.message);
    let err = init_onnxruntime(Some(&dir)).unwrap_err();
    assert!(err.message.contains("older than the 1.20"), "a folder is searched too: {}", err.message);

    // Right name, wrong contents: ort's dlopen fails, and that is reported, not panicked.
    let not_a_library = dir.join("fake/libonnxruntime.so.1.32.0");
    std::fs::create_dir_all(not_a_library.parent().unwrap()).unwrap();
    std::fs::write(&not_a_library, b"not an ELF file").unwrap();
    let err = init_onnxruntime(Some(&not_a_library)).unwrap_err();
    assert_helpful(&err, &not_a_library);

    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = init_onnxruntime(Some(&empty)).unwrap_err();
    assert!(err.message.contains("has no libonnxruntime.so.<version> file"), "{}", err.message);

    assert_eq!(onnxruntime_path(), None, "nothing was loaded");
    let _ = std::fs::remove_dir_all(&dir);

    // The failures left nothing behind: discovery (the wheel in the workspace .venv) still works.
    let path = init_onnxruntime(None).unwrap();
    assert_eq!(onnxruntime_path(), Some(path.as_path()));
}
