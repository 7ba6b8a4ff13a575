//! Inference graphs: transformers, routers, combiners and models wired into one servable.
//!
//! A graph file ([`spec`]: a SeldonDeployment manifest, a KServe InferenceGraph or oxserve's
//! native YAML) is assembled ([`assemble`]) into one [`oxserve_core::Unit`]: a graph of nodes,
//! or several such graphs sharing the traffic (a deployment's predictors). The server serves it
//! like a model, through every protocol, and feedback reaches its routers. Its nodes are units
//! too: model files, prepackaged servers and users' classes run in this process by its [`Host`],
//! built-in routers and combiners (`builtin`), and units of other servers reached over REST or
//! gRPC (`remote`).

mod adapt;
mod assemble;
mod builtin;
mod condition;
mod deployment;
mod graph;
mod message;
mod metrics;
mod remote;
pub mod spec;

pub use assemble::{Host, assemble};
pub use condition::Condition;
pub use metrics::GraphMetrics;
