//! Read the user's `uses:` pipelines from the build context: transfer only
//! the pipeline dirs' YAML files, then read the files the config reaches,
//! repeating until every name is either found or known to be absent (then
//! the built-in library answers).

use std::collections::BTreeMap;

use super::bridge::Bridge;
use super::opts::FrontendOpts;
use super::{Failure, FAILED_PRECONDITION, INVALID_ARGUMENT};
use crate::config::Config;
use crate::llb::{CapSet, Graph, LocalOptions, OpInfo};
use crate::plan::{self, Library, PipelineText};
use crate::proto::pb;

/// The library for this build; touches the context only when the config
/// has a `uses:`.
pub(super) async fn library(
    bridge: &mut Bridge,
    options: &FrontendOpts,
    config: &Config,
    inputs: &BTreeMap<String, pb::Definition>,
    session_id: Option<&str>,
    caps: &CapSet,
    platform: &pb::Platform,
) -> Result<Library, Failure> {
    let mut library = Library::new();
    if library.unresolved(config).is_empty() {
        return Ok(library);
    }
    let dirs = plan::pipeline_dirs(&options.build);
    let reference = solve_dirs(bridge, options, &dirs, inputs, session_id, caps, platform).await?;
    loop {
        let wanted = library.unresolved(config);
        if wanted.is_empty() {
            return Ok(library);
        }
        for name in wanted {
            let found = find(bridge, &reference, &dirs, &name).await?;
            library.add(&name, found);
        }
    }
}

/// The context restricted to `<dir>/**/*.yaml` for each pipeline dir.
async fn solve_dirs(
    bridge: &mut Bridge,
    options: &FrontendOpts,
    dirs: &[String],
    inputs: &BTreeMap<String, pb::Definition>,
    session_id: Option<&str>,
    caps: &CapSet,
    platform: &pb::Platform,
) -> Result<String, Failure> {
    let mut graph = Graph::new(platform.clone(), caps.clone());
    let state = match inputs.get(&options.context_key) {
        Some(definition) => graph.import(definition),
        None => {
            let local = LocalOptions {
                session_id: session_id.map(str::to_string),
                shared_key_hint: Some(format!("{}:pipelines", options.context_key)),
                include_patterns: dirs.iter().map(|dir| format!("{dir}/**/*.yaml")).collect(),
                ..Default::default()
            };
            graph.local(
                &options.context_key,
                &local,
                OpInfo::named(format!("load pipelines from {}", dirs.join(", "))),
            )
        }
    }
    .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    Ok(bridge.solve(graph.finish(&state)).await?)
}

/// `<dir>/<name>.yaml` from the first dir that has it.
async fn find(
    bridge: &mut Bridge,
    reference: &str,
    dirs: &[String],
    name: &str,
) -> Result<Option<PipelineText>, Failure> {
    for dir in dirs {
        let file = format!("{dir}/{name}.yaml");
        match bridge.read_file(reference, &file).await {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    Failure::new(INVALID_ARGUMENT, format!("{file}: not UTF-8 text"))
                })?;
                return Ok(Some(PipelineText { file, text }));
            }
            // Absent (or unreadable as a file): the next dir, then the built-ins.
            Err(status) => tracing::debug!(%file, message = %status.message(), "no pipeline"),
        }
    }
    Ok(None)
}
