//! Inference graphs: transformers, routers, combiners and models wired into one servable.
//!
//! A graph file ([`spec`]: a SeldonDeployment manifest or oxserve's native YAML) is assembled
//! ([`assemble`]) into a [`Graph`] (or a [`Deployment`] of several that share the traffic),
//! which is itself a [`oxserve_core::Unit`]: the server serves
//! it like a model, through every protocol, and Seldon feedback reaches its routers. Its nodes
//! are units too: model files loaded in this process, built-in routers and combiners
//! ([`builtin`]), and units of other servers reached over REST or gRPC ([`remote`]).

mod adapt;
mod assemble;
pub mod builtin;
mod deployment;
mod graph;
mod message;
pub mod remote;
pub mod spec;

pub use assemble::{ModelLoader, assemble};
pub use builtin::RouterMetrics;
pub use deployment::Deployment;
pub use graph::{Graph, Node};
