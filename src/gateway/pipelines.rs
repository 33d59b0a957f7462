//! Files read from the build context before planning: the user's `uses:`
//! pipelines (only the pipeline dirs' YAML is transferred; the files the
//! config reaches are read, repeating until every name is found or known to
//! be absent, then the built-in library answers) and the env file.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::bridge::Bridge;
use super::opts::FrontendOpts;
use super::{Failure, FAILED_PRECONDITION, INVALID_ARGUMENT};
use crate::config::Config;
use crate::llb::{CapSet, Graph, LocalOptions, OpInfo};
use crate::plan::{self, ContextFile, Library, PipelineText};
use crate::proto::pb;

/// How to reach the build context.
pub(super) struct Context<'a> {
    pub options: &'a FrontendOpts,
    pub inputs: &'a BTreeMap<String, pb::Definition>,
    pub session_id: Option<&'a str>,
    pub caps: &'a CapSet,
    pub platform: &'a pb::Platform,
}

/// The library for this build; touches the context only when the config
/// has a `uses:`.
pub(super) async fn library(
    bridge: &Bridge,
    context: &Context<'_>,
    config: &Config,
) -> Result<Library, Failure> {
    let mut library = Library::new();
    if library.unresolved(config).is_empty() {
        return Ok(library);
    }
    let dirs = plan::pipeline_dirs(&context.options.build);
    // `**` alone: BuildKit 0.8 (Docker 20.10) sends one folder level of
    // it, which leaves out Wolfi's `test/tw/*.yaml`; the explicit depths
    // make sure of those.
    let patterns = dirs
        .iter()
        .flat_map(|dir| {
            [
                format!("{dir}/**/*.yaml"),
                format!("{dir}/*/*.yaml"),
                format!("{dir}/*/*/*.yaml"),
                format!("{dir}/*/*/*/*.yaml"),
            ]
        })
        .collect();
    let label = format!("load pipelines from {}", dirs.join(", "));
    let reference = solve(bridge, context, patterns, "pipelines", label).await?;
    loop {
        let wanted = library.unresolved(config);
        if wanted.is_empty() {
            return Ok(library);
        }
        let reference = &reference;
        let dirs = &dirs;
        let found = join_all(wanted.into_iter().map(|name| async move {
            let found = find(bridge, reference, dirs, &name).await;
            (name, found)
        }))
        .await;
        for (name, found) in found {
            library.add(&name, found?);
        }
    }
}

/// The env file `MELANGE_ENV_FILE` names, if any.
pub(super) async fn env_file(
    bridge: &Bridge,
    context: &Context<'_>,
) -> Result<Option<ContextFile>, Failure> {
    let Some(path) = context.options.build.env_file_path() else {
        return Ok(None);
    };
    let label = format!("load env file {path}");
    let reference = solve(bridge, context, vec![path.clone()], "env-file", label).await?;
    let bytes = bridge.read_file(&reference, &path).await.map_err(|e| {
        Failure::new(
            INVALID_ARGUMENT,
            format!(
                "build-arg {}={path}: cannot read it from the build context: {}",
                plan::ENV_FILE_ARG,
                e.message()
            ),
        )
    })?;
    let text = utf8(bytes, &path)?;
    Ok(Some(ContextFile { file: path, text }))
}

/// The context restricted to `patterns`.
pub(super) async fn solve(
    bridge: &Bridge,
    context: &Context<'_>,
    patterns: Vec<String>,
    purpose: &str,
    label: String,
) -> Result<String, Failure> {
    solve_filtered(bridge, context, patterns, Vec::new(), purpose, label).await
}

/// The context restricted to `include` minus `exclude` (BuildKit's
/// patterns; a frontend input is taken whole).
pub(super) async fn solve_filtered(
    bridge: &Bridge,
    context: &Context<'_>,
    include: Vec<String>,
    exclude: Vec<String>,
    purpose: &str,
    label: String,
) -> Result<String, Failure> {
    let options = context.options;
    let mut graph = Graph::new(context.platform.clone(), context.caps.clone());
    let state = match context.inputs.get(&options.context_key) {
        Some(definition) => graph.import(definition),
        None => {
            let local = LocalOptions {
                session_id: context.session_id.map(str::to_string),
                shared_key_hint: Some(format!("{}:{purpose}", options.context_key)),
                include_patterns: include,
                exclude_patterns: exclude,
                ..Default::default()
            };
            graph.local(&options.context_key, &local, OpInfo::named(label))
        }
    }
    .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    Ok(bridge.solve(graph.finish(&state)).await?)
}

/// `<dir>/<name>.yaml` from the first dir that has it.
async fn find(
    bridge: &Bridge,
    reference: &str,
    dirs: &[String],
    name: &str,
) -> Result<Option<PipelineText>, Failure> {
    for dir in dirs {
        let file = format!("{dir}/{name}.yaml");
        match bridge.read_file(reference, &file).await {
            Ok(bytes) => {
                let text = utf8(bytes, &file)?;
                return Ok(Some(PipelineText { file, text }));
            }
            // Absent (or unreadable as a file): the next dir, then the built-ins.
            Err(status) => tracing::debug!(%file, message = %status.message(), "no pipeline"),
        }
    }
    Ok(None)
}

fn utf8(bytes: Vec<u8>, file: &str) -> Result<String, Failure> {
    crate::config::utf8(file, bytes).map_err(|e| Failure::new(INVALID_ARGUMENT, e.to_string()))
}
