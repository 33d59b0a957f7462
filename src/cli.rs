//! Host subcommands. `plan` prints the plan and the LLB for a build file
//! offline, with the same code path the frontend uses minus the daemon: the
//! golden-test and debugging entry point.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::config;
use crate::llb::{self, image::normalize_reference, BuildInputs, CapSet, ContextSource};
use crate::plan::{self, BaseSource, BuildOptions, BuildPlan, ContextValue, Platform};
use crate::proto::pb;

/// melange-frontend: build APK packages from melange YAML inside BuildKit.
///
/// Started by buildkitd (via `# syntax=` or `--frontend gateway.v0`) it runs
/// as a gateway frontend over stdin/stdout; the subcommands are for people.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Host subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the build plan and its LLB as JSON, without a daemon.
    Plan(PlanArgs),
    /// Run as a BuildKit gateway frontend over stdin/stdout (the default
    /// when buildkitd starts the image).
    Frontend,
}

/// Arguments of `plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The melange YAML file.
    pub file: PathBuf,
    /// Build-arg, as `docker build --build-arg K=V`.
    #[arg(long = "build-arg", value_name = "K=V")]
    pub build_args: Vec<String>,
    /// Named context, as `docker buildx build --build-context NAME=VALUE`.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// Target to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Target platform (os/arch[/variant]).
    #[arg(long, default_value = "linux/amd64")]
    pub platform: String,
}

/// The JSON `plan` prints.
#[derive(Serialize)]
struct PlanOutput {
    plan: BuildPlan,
    llb: LlbOutput,
}

#[derive(Serialize)]
struct LlbOutput {
    /// Digest of the op whose output is the result.
    result: String,
    ops: Vec<OpOutput>,
}

#[derive(Serialize)]
struct OpOutput {
    digest: String,
    op: pb::Op,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<pb::OpMetadata>,
}

/// Run `plan`: the JSON on success, a `file:line:col: message` error otherwise.
pub fn plan_command(args: &PlanArgs) -> Result<String, String> {
    let file_name = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).map_err(|e| format!("{file_name}: {e}"))?;
    let options = BuildOptions {
        build_args: split_pairs(&args.build_args, "--build-arg")?,
        target: args.target.clone(),
        platform: Platform::parse(&args.platform)?,
        named_contexts: split_pairs(&args.build_contexts, "--build-context")?
            .into_iter()
            .map(|(name, value)| (name, client_context_value(&value)))
            .collect(),
    };
    let config = config::load(&file_name, &text).map_err(|e| e.to_string())?;
    let plan = plan::plan(&file_name, &config, &options).map_err(|e| e.to_string())?;
    let inputs = BuildInputs {
        base: offline_source(&plan.base)?,
        base_config: Default::default(),
        cache: plan
            .cache_context
            .as_deref()
            .map(|v| offline_context(plan::CACHE_CONTEXT, v))
            .transpose()?,
        context_name: "context".to_string(),
        context_excludes: vec![file_name_in_context(&args.file)],
        session_id: None,
        platform: pb::Platform {
            architecture: options.platform.architecture.clone(),
            os: options.platform.os.clone(),
            variant: options.platform.variant.clone(),
            ..Default::default()
        },
        caps: CapSet::all(),
        source: None,
    };
    let definition = llb::compile(&plan, &inputs).map_err(|e| e.to_string())?;
    let output = PlanOutput {
        plan,
        llb: llb_output(definition)?,
    };
    serde_json::to_string_pretty(&output).map_err(|e| e.to_string())
}

/// What buildx sends for a `--build-context` value: a path becomes `local:NAME`.
fn client_context_value(value: &str) -> String {
    if value.contains("://") || value.starts_with("local:") || value.starts_with("input:") {
        value.to_string()
    } else {
        format!("local:{value}")
    }
}

fn offline_source(base: &BaseSource) -> Result<ContextSource, String> {
    match base {
        BaseSource::Image { reference } => {
            Ok(ContextSource::Image(normalize_reference(reference)?))
        }
        BaseSource::Context { name, value } => offline_context(name, value),
    }
}

fn offline_context(name: &str, value: &str) -> Result<ContextSource, String> {
    match ContextValue::parse(name, value)? {
        ContextValue::Image(reference) => {
            Ok(ContextSource::Image(normalize_reference(&reference)?))
        }
        ContextValue::Local(local) => Ok(ContextSource::Local(local)),
        ContextValue::Input(input) => Err(format!(
            "named context {name:?}: input:{input} exists only inside a build"
        )),
    }
}

fn llb_output(definition: pb::Definition) -> Result<LlbOutput, String> {
    use prost::Message;
    let mut ops = Vec::with_capacity(definition.def.len());
    for bytes in &definition.def {
        let digest = llb::digest_of(bytes);
        let op = pb::Op::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
        ops.push(OpOutput {
            metadata: definition.metadata.get(&digest).cloned(),
            digest,
            op,
        });
    }
    let result = ops
        .last()
        .and_then(|terminal| terminal.op.inputs.first())
        .map(|input| input.digest.clone())
        .unwrap_or_default();
    Ok(LlbOutput { result, ops })
}

/// The build file as the client names it inside its folder (buildx sends the
/// base name).
fn file_name_in_context(file: &std::path::Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn split_pairs(pairs: &[String], flag: &str) -> Result<BTreeMap<String, String>, String> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{flag} expects NAME=VALUE, got {pair:?}")),
        })
        .collect()
}
