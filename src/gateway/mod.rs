//! The frontend role: talk to buildkitd over stdio, read the build file, plan,
//! emit LLB, solve it and return the result — or return an error the user can
//! act on. The only module that does I/O with buildkitd.

mod bridge;
mod cachedir;
pub mod connect;
mod contexts;
pub mod helper;
mod mismatch;
pub mod opts;
mod pipelines;
mod platforms;
mod repositories;
mod sourcedir;
mod subrequests;

use std::collections::BTreeMap;

use prost::Message;

use crate::config::{self, ConfigError};
use crate::llb::{self, BuildInputs, CapSet, SourceFile};
use crate::plan;
use crate::proto::{errdefs, pb, rpc};

pub use bridge::{status_of, Bridge, Capabilities};

/// gRPC codes we return.
const INVALID_ARGUMENT: i32 = 3;
const FAILED_PRECONDITION: i32 = 9;
const UNIMPLEMENTED: i32 = 12;
const INTERNAL: i32 = 13;

/// Why a build failed, ready to become the status the client shows.
#[derive(Debug)]
pub struct Failure(pub rpc::Status);

impl Failure {
    fn new(code: i32, message: impl Into<String>) -> Self {
        Failure(rpc::Status {
            code,
            message: message.into(),
            details: Vec::new(),
        })
    }
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Failure(status_of(&status))
    }
}

/// Run as a gateway frontend until the result (or error) is returned.
pub async fn serve() -> Result<(), String> {
    let raw = opts::from_env(std::env::vars());
    let channel = connect::stdio_channel()
        .await
        .map_err(|e| format!("cannot reach buildkitd over stdin/stdout: {e}"))?;
    let mut bridge = Bridge::new(channel);
    let caps = bridge
        .ping()
        .await
        .map_err(|e| {
            format!(
                "no BuildKit gateway answered on stdin/stdout (ping: {}); this binary is started by buildkitd \
                 as a frontend, or run with a subcommand (see --help)",
                e.message()
            )
        })?;
    tracing::info!(buildkit = %caps.version, "connected");
    let outcome = match raw.get("requestid").filter(|id| !id.is_empty()) {
        Some(id) => subrequest(id),
        None => build(&mut bridge, &caps, &raw).await,
    };
    let returned = match outcome {
        Ok(Answer::Build { refs, metadata }) => {
            let result = match <[_; 1]>::try_from(refs) {
                Ok([(_, id)]) => bridge::Refs::Single(id),
                Err(refs) => bridge::Refs::PerPlatform(refs),
            };
            bridge.return_result(result, metadata, &caps).await
        }
        Ok(Answer::Metadata(metadata)) => {
            bridge
                .return_result(bridge::Refs::None, metadata, &caps)
                .await
        }
        Err(Failure(status)) => {
            tracing::warn!(message = %status.message, "build failed");
            bridge.return_error(status).await
        }
    };
    returned.map_err(|e| format!("returning the result to buildkitd failed: {}", e.message()))
}

/// What a successful request returns.
enum Answer {
    /// The solved result: one ref ID per platform (keyed by the platform's
    /// ID), and what the exporter should know of them (their platforms).
    Build {
        refs: Vec<(String, String)>,
        metadata: BTreeMap<String, Vec<u8>>,
    },
    /// Subrequest metadata, no filesystem.
    Metadata(BTreeMap<String, Vec<u8>>),
}

fn subrequest(id: &str) -> Result<Answer, Failure> {
    subrequests::answer(id)
        .map(Answer::Metadata)
        .ok_or_else(|| {
            let detail = errdefs::Subrequest {
                name: id.to_string(),
            };
            Failure(rpc::Status {
                code: UNIMPLEMENTED,
                message: format!("unsupported subrequest {id:?}"),
                details: vec![any("errdefs.Subrequest", detail.encode_to_vec())],
            })
        })
}

/// A config error as a status whose details point at the offending line, so
/// the client prints the surrounding YAML with the line marked.
fn config_failure(error: ConfigError, build_file: &str, text: &str) -> Failure {
    let mut details = Vec::new();
    // Errors in a pipeline file point into that file, whose text the client
    // does not have here: no source snippet then.
    if error.pos.line > 0 && error.file == build_file {
        let line = i32::try_from(error.pos.line).unwrap_or(i32::MAX);
        let character = i32::try_from(error.pos.col).unwrap_or(0);
        let position = pb::Position { line, character };
        let source = errdefs::Source {
            info: Some(pb::SourceInfo {
                filename: error.file.clone(),
                data: text.as_bytes().to_vec(),
                definition: None,
                language: "YAML".to_string(),
            }),
            ranges: vec![pb::Range {
                start: Some(position),
                end: Some(position),
            }],
        };
        details.push(any("errdefs.Source", source.encode_to_vec()));
    }
    Failure(rpc::Status {
        code: INVALID_ARGUMENT,
        message: error.to_string(),
        details,
    })
}

fn any(type_name: &str, value: Vec<u8>) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("type.googleapis.com/{type_name}"),
        value,
    }
}

/// What every platform's build shares: the options and the session.
struct Shared<'a> {
    caps: &'a Capabilities,
    inputs: BTreeMap<String, pb::Definition>,
    session_id: Option<String>,
    llb_caps: CapSet,
}

/// One platform's build, compiled and not yet solved.
struct Prepared {
    plan: plan::BuildPlan,
    definition: pb::Definition,
}

/// Everything between Ping and Return: each requested platform is planned
/// and checked first (so an impossible platform fails before anything
/// runs), then solved; identical vertices (sources, the frontend's own
/// steps on the worker's platform) are one vertex in BuildKit's graph.
async fn build(
    bridge: &mut Bridge,
    caps: &Capabilities,
    raw: &BTreeMap<String, String>,
) -> Result<Answer, Failure> {
    let mut options = opts::parse(raw).map_err(|m| Failure::new(INVALID_ARGUMENT, m))?;
    // Keys only: build-arg values may be sensitive.
    tracing::info!(filename = %options.filename, keys = ?raw.keys().collect::<Vec<_>>(), "options");
    if !options.platform_given {
        if let Some(worker) = caps.platforms.first() {
            options.build.platform = platforms::from_pb(worker);
        }
        options.platforms = vec![options.build.platform.clone()];
    }
    let inputs = if caps.gateway.contains(bridge::gateway_caps::FRONTEND_INPUTS) {
        bridge.inputs().await?
    } else {
        BTreeMap::new()
    };
    let shared = Shared {
        caps,
        inputs,
        session_id: std::env::var("BUILDKIT_SESSION_ID")
            .ok()
            .filter(|s| !s.is_empty()),
        llb_caps: CapSet::from_enabled(caps.llb.iter().cloned()),
    };
    let mut prepared = Vec::new();
    for platform in &options.platforms {
        let mut one = options.clone();
        one.build.platform = platform.clone();
        prepared.push(prepare(bridge, &shared, one).await?);
    }
    let mut refs = Vec::new();
    for (platform, one) in options.platforms.iter().zip(prepared) {
        refs.push((platforms::id(platform), solve(bridge, caps, one).await?));
    }
    let metadata = BTreeMap::from([(
        platforms::PLATFORMS_KEY.to_string(),
        platforms::result_platforms(&options.platforms),
    )]);
    Ok(Answer::Build { refs, metadata })
}

/// One platform: read the build file, plan, resolve the environment,
/// compile; fails if the worker cannot run the platform's steps.
async fn prepare(
    bridge: &mut Bridge,
    shared: &Shared<'_>,
    mut options: opts::FrontendOpts,
) -> Result<Prepared, Failure> {
    let caps = shared.caps;
    let inputs = &shared.inputs;
    let session_id = shared.session_id.clone();
    let llb_caps = shared.llb_caps.clone();
    let platform = platforms::to_pb(&options.build.platform);
    // The helper (the frontend's own image) runs on the worker's platform.
    let build_platform = caps.platforms.first().map(|worker| pb::Platform {
        architecture: worker.architecture.clone(),
        os: worker.os.clone(),
        variant: worker.variant.clone(),
        ..Default::default()
    });
    let text = contexts::read_build_file(
        bridge,
        &options,
        inputs,
        session_id.as_deref(),
        &llb_caps,
        &platform,
    )
    .await?;
    let config = config::load(&options.filename, &text)
        .map_err(|e| config_failure(e, &options.filename, &text))?;
    let context = pipelines::Context {
        options: &options,
        inputs,
        session_id: session_id.as_deref(),
        caps: &llb_caps,
        platform: &platform,
    };
    let library = pipelines::library(bridge, &context, &config).await?;
    let env_file = pipelines::env_file(bridge, &context).await?;
    options.build.env_file = env_file;
    options.build.build_file_text = text.clone();
    let mut plan = plan::plan(&options.filename, &config, &options.build, &library)
        .map_err(|e| config_failure(e, &options.filename, &text))?;
    platforms::check_emulation(&options.build.platform, &caps.platforms, &plan)
        .map_err(|m| Failure::new(FAILED_PRECONDITION, m))?;
    let context = pipelines::Context {
        options: &options,
        inputs,
        session_id: session_id.as_deref(),
        caps: &llb_caps,
        platform: &platform,
    };
    let source_dir = sourcedir::resolve(bridge, caps, &context, &plan.package.name).await?;
    let resolver = contexts::Resolver {
        caps,
        inputs,
        platform: &platform,
        mode: options.resolve_mode,
    };
    // The named contexts the environment's repositories and keys read.
    let mut named = BTreeMap::new();
    for name in plan
        .environment
        .as_ref()
        .map(plan::EnvironmentPlan::named_contexts)
        .unwrap_or_default()
    {
        let value = options.build.named_contexts.get(&name).ok_or_else(|| {
            Failure::new(
                INVALID_ARGUMENT,
                format!("named context {name:?} was not given"),
            )
        })?;
        named.insert(name.clone(), resolver.context(&name, value)?);
    }
    repositories::resolve(bridge, &context, &named, &mut plan).await?;
    let (base, base_config) = resolver.base(bridge, &plan.base).await?;
    let cache = plan
        .cache_context
        .as_ref()
        .map(|value| resolver.context(plan::CACHE_CONTEXT, value))
        .transpose()?;
    let cached_downloads =
        cachedir::cached_downloads(bridge, caps, &context, cache.as_ref(), &plan).await?;
    // The frontend's own binary packages the result, installs packages and
    // unpacks native sources.
    let needs_helper = plan.packaging.is_some()
        || plan.environment.is_some()
        || plan.steps.iter().any(|step| step.source.is_some());
    let helper = match needs_helper {
        true => {
            let (image, origin) = helper::helper_image(&options)?;
            tracing::info!(?origin, "helper image");
            Some(image)
        }
        false => None,
    };
    let signing_key_id = match (&helper, &plan.packaging) {
        (Some(image), Some(_)) => {
            let session = session_id.as_deref().unwrap_or_default();
            let probe_platform = build_platform.as_ref().unwrap_or(&platform);
            helper::signing_key_id(bridge, image, probe_platform, &llb_caps, session).await?
        }
        _ => None,
    };
    let build_inputs = BuildInputs {
        base,
        base_config,
        cache,
        cached_downloads,
        context_name: options.context_key.clone(),
        context_excludes: vec![options.filename.clone()],
        source_dir,
        session_id,
        platform,
        build_platform,
        caps: llb_caps,
        source: Some(SourceFile {
            filename: options.filename.clone(),
            data: text.into_bytes(),
        }),
        helper,
        signing_key_id,
        no_cache: options.no_cache,
        contexts: named,
    };
    repositories::leave_out_covered_folders(bridge, &mut plan, &build_inputs).await?;
    let definition = llb::compile(&plan, &build_inputs)
        .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    Ok(Prepared { plan, definition })
}

/// Solve one platform's definition; failures explained where we can.
async fn solve(
    bridge: &mut Bridge,
    caps: &Capabilities,
    prepared: Prepared,
) -> Result<String, Failure> {
    let Prepared { plan, definition } = prepared;
    // A wrong expected-sha256 surfaces only when the build runs: build now
    // when the plan has such a source, so the error can be explained.
    let explainable = plan.steps.iter().any(|step| {
        matches!(&step.source, Some(plan::sources::NativeSource::Fetch(fetch))
            if matches!(fetch.digest, plan::sources::Digest::Sha256(_)))
    });
    let solved = match explainable {
        true => bridge.solve_evaluated(definition, caps).await,
        false => bridge.solve(definition).await,
    };
    solved.map_err(|status| {
        let mut failure = Failure::from(status);
        if let Some(line) = mismatch::explain(&failure.0.message, &plan) {
            failure.0.message = line;
        }
        if plan.insecure && failure.0.message.contains("security.insecure") {
            failure.0.message.push_str(
                " (the build file's `capabilities.add` runs steps in security.insecure mode: \
                 build with `--allow security.insecure` on a BuildKit that permits it)",
            );
        }
        failure
    })
}

/// An internal error as a status (used by helpers that cannot fail otherwise).
fn internal(message: impl Into<String>) -> Failure {
    Failure::new(INTERNAL, message)
}
