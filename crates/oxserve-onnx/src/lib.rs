//! ONNX models served through ONNX Runtime.
//!
//! ONNX Runtime is not linked: it is loaded at run time from the `onnxruntime` Python wheel (or a
//! path the user gives), so the same binary serves with the CPU or the GPU build and nothing is
//! downloaded at build time. [`init_onnxruntime`] finds and loads it once per process, with a clear
//! error instead of ort's panics when it is missing or too old.
//!
//! [`OnnxModel`] is one model as an [`oxserve_core::Unit`]: metadata read from the graph, a pool
//! of sessions for concurrent requests, and tensors converted with at most one copy each way.
//!
//! ```no_run
//! use oxserve_core::{ModelSettings, Unit};
//! # fn main() -> oxserve_core::Result<()> {
//! oxserve_onnx::init_onnxruntime(None)?; // optional: `load` does it on first use
//! let model = oxserve_onnx::OnnxModel::load(
//!     "iris",
//!     std::path::Path::new("models/iris/model.onnx"),
//!     &ModelSettings::default(),
//! )?;
//! println!("{:?}", model.metadata().inputs);
//! # Ok(())
//! # }
//! ```

mod convert;
mod library;
mod model;

pub use library::{init_onnxruntime, onnxruntime_path};
pub use model::{OnnxModel, PLATFORM};
