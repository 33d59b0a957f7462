//! LLB: a typed builder for BuildKit's build graph and the compiler from a
//! [`crate::plan::BuildPlan`] to a Definition. Pure and deterministic: the
//! same plan and inputs give byte-identical Definitions.

mod cachedir;
pub mod cachefile;
pub mod caps;
mod compile;
mod environment;
mod git;
mod graph;
mod helper;
pub mod image;
mod ops;
pub mod packaging;
mod sourcemap;
pub mod sources;
mod testenv;

pub use caps::CapSet;
pub use compile::{compile, BuildInputs, ContextSource};
pub use environment::{context_files, package_records};
pub use git::GitOptions;
pub use graph::{digest_of, Graph, LlbError, OpInfo, SourceFile, State};
pub use ops::{Exec, ExecOutputs, FileAction, HttpOptions, LocalOptions, Mount, Network, Sharing};
pub use packaging::signing_probe;
pub use testenv::compile_test;

#[cfg(test)]
mod environment_tests;
#[cfg(test)]
mod git_tests;
#[cfg(test)]
mod packaging_tests;
#[cfg(test)]
mod sources_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod workspace_tests;
