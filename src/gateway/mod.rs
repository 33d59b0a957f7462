//! The frontend role: talk to buildkitd over stdio, read the build file, plan,
//! emit LLB, solve it and return the result — or return an error the user can
//! act on. The only module that does I/O with buildkitd.

mod bridge;
mod cachedir;
pub mod connect;
mod contexts;
mod gittags;
pub mod helper;
mod limits;
mod located;
mod mismatch;
pub mod opts;
mod pipelines;
mod platforms;
mod repositories;
mod signing;
mod sourcedir;
mod subrequests;
mod tests_target;
mod warnings;

use std::collections::BTreeMap;
use std::sync::Arc;

use prost::Message;

use crate::config::{self, ConfigError};
use crate::lint;
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
    let started = std::time::Instant::now();
    let raw = opts::from_env(std::env::vars());
    let channel = connect::stdio_channel()
        .await
        .map_err(|e| format!("cannot reach buildkitd over stdin/stdout: {e}"))?;
    let bridge = Bridge::new(channel);
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
        Some(id) if id == subrequests::LINT => check(&bridge, &caps, &raw).await,
        Some(id) => subrequest(id, &raw),
        None => build(&bridge, &caps, &raw).await,
    };
    // Where a warm rebuild's time goes: hack/bench-rebuild reads this line
    // (buildkitd writes the frontend's stderr to its own log).
    tracing::info!(
        millis = format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
        file = %raw.get("filename").map(String::as_str).unwrap_or_default(),
        "returning to buildkitd"
    );
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

fn subrequest(id: &str, raw: &BTreeMap<String, String>) -> Result<Answer, Failure> {
    let options = opts::parse(raw).map_err(|m| Failure::new(INVALID_ARGUMENT, m))?;
    subrequests::answer(id, &options)
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

/// Everything between Ping and Return. Independent requests are joined:
/// the build file, the env file and the base image's config first (they
/// need the options alone); then the source-dir lookup with the declared
/// public key beside planning, the repositories and the cache-dir lookup.
/// An error about a build file too big for source maps carries its first
/// line as its source (see `limits::with_first_line`).
///
/// Each requested platform is one build of its own, solved one after
/// another in this request; what they share (sources, the frontend's own
/// steps on the worker's platform) is one vertex in BuildKit's graph. Every
/// platform's emulation is checked with the first plan, before anything of
/// any platform is solved.
async fn build(
    bridge: &Bridge,
    caps: &Capabilities,
    raw: &BTreeMap<String, String>,
) -> Result<Answer, Failure> {
    let mut options = options_for(raw, caps)?;
    if !options.platform_given {
        options.platforms = vec![options.build.platform.clone()];
    }
    let all = options.platforms.clone();
    let mut first_line = None;
    let mut refs = Vec::with_capacity(all.len());
    for (i, platform) in all.iter().enumerate() {
        let mut one = options.clone();
        one.build.platform = platform.clone();
        let each = Each {
            platforms: &all,
            first: i == 0,
        };
        let id = run_build(bridge, caps, one, each, &mut first_line)
            .await
            .map_err(|failure| match &first_line {
                Some((filename, line)) => limits::with_first_line(failure, filename, line),
                None => failure,
            })?;
        refs.push((platforms::id(platform), id));
    }
    let metadata = BTreeMap::from([(
        platforms::PLATFORMS_KEY.to_string(),
        platforms::result_platforms(&all),
    )]);
    Ok(Answer::Build { refs, metadata })
}

/// Where one platform's build stands among the requested platforms.
#[derive(Clone, Copy)]
struct Each<'a> {
    /// Every requested platform (emulation is checked for all at once).
    platforms: &'a [plan::Platform],
    /// The first platform: checks and warns for all.
    first: bool,
}

/// One platform of [`build`]: its solved ref. Sets `first_line` (file
/// name, first line) once it has read a build file over
/// `limits::SOURCE_MAP_MAX`.
async fn run_build(
    bridge: &Bridge,
    caps: &Capabilities,
    options: opts::FrontendOpts,
    each: Each<'_>,
    first_line: &mut Option<(String, String)>,
) -> Result<String, Failure> {
    let inputs = if caps.gateway.contains(bridge::gateway_caps::FRONTEND_INPUTS) {
        bridge.inputs().await?
    } else {
        BTreeMap::new()
    };
    let session_id = std::env::var("BUILDKIT_SESSION_ID")
        .ok()
        .filter(|s| !s.is_empty());
    let llb_caps = CapSet::from_enabled(caps.llb.iter().cloned());
    let platform = platforms::to_pb(&options.build.platform);
    let context = pipelines::Context {
        options: &options,
        inputs: &inputs,
        session_id: session_id.as_deref(),
        caps: &llb_caps,
        platform: &platform,
    };
    let resolver = contexts::Resolver {
        caps,
        inputs: &inputs,
        platform: &platform,
        mode: options.resolve_mode,
    };
    let key_file = plan::packaging::public_key_file(&options.build)
        .map_err(|m| Failure::new(INVALID_ARGUMENT, m))?;

    // What the options alone decide.
    let early_base = plan::base_from_options(&options.build);
    let (text, env_file, base) = tokio::join!(
        contexts::read_build_file(
            bridge,
            &context,
            caps.gateway.contains(bridge::gateway_caps::STAT_FILE),
        ),
        pipelines::env_file(bridge, &context),
        async {
            match &early_base {
                Some(base) => Some(resolver.base(bridge, base).await),
                None => None,
            }
        },
    );
    let contexts::BuildFile { text, vertex } = text?;
    // One copy of the text, shared by the options and the packaging spec.
    let text: Arc<str> = text.into();
    if !limits::attach_source(text.len()) {
        let line = limits::first_line(text.as_bytes());
        *first_line = Some((options.filename.clone(), line));
    }
    let config = config::load(&options.filename, &text)
        .map_err(|e| config_failure(e, &options.filename, &text))?;
    let mut build_options = options.build.clone();
    build_options.env_file = env_file?;
    build_options.build_file_text = Arc::clone(&text);

    // Planning (and what the plan asks for) beside the source-dir lookup,
    // which needs only the package name.
    let planned = async {
        let library = pipelines::library(bridge, &context, &config).await?;
        let plan = plan::plan(&options.filename, &config, &build_options, &library)
            .map_err(|e| config_failure(e, &options.filename, &text))?;
        let named = named_contexts(&resolver, &options, &plan)?;
        let cache = plan
            .cache_context
            .as_ref()
            .map(|value| resolver.context(plan::CACHE_CONTEXT, value))
            .transpose()?;
        let (installation, cached_downloads) = tokio::join!(
            repositories::resolve(bridge, &context, &named, plan.environment.as_ref()),
            cachedir::cached_downloads(bridge, caps, &context, cache.as_ref(), &plan),
        );
        if each.first {
            for target in each.platforms {
                platforms::check_emulation(target, &caps.platforms, &plan)
                    .map_err(|m| Failure::new(FAILED_PRECONDITION, m))?;
            }
            // What `--check` would say, as build warnings, before anything runs.
            let found = findings(&text, &config, &plan, &build_options, &library);
            let vertex = vertex.as_deref();
            warnings::send(bridge, caps, &found, &options.filename, &text, vertex).await;
        }
        Ok::<_, Failure>((plan, named, cache, installation?, cached_downloads?))
    };
    let key_paths: Vec<String> = key_file.iter().map(|f| f.path().to_string()).collect();
    let looked_up = async {
        let package = config.package.name.value.as_str();
        let lookup = sourcedir::lookup(bridge, &context, package, &key_paths).await?;
        let declared = async {
            match &key_file {
                Some(file) => signing::declared_key(bridge, &lookup.reference, file).await,
                None => Ok(None),
            }
        };
        let (source_dir, declared) =
            tokio::join!(sourcedir::resolve(bridge, caps, &lookup), declared);
        Ok::<_, Failure>((source_dir?, declared))
    };
    let (planned, looked_up) = tokio::join!(planned, looked_up);
    // Peak memory: the decoded file is not needed past planning.
    drop((config, build_options));
    let (mut plan, named, cache, installation, cached_downloads) = planned?;
    let (source_dir, declared) = looked_up?;
    if let Some(environment) = plan.environment.as_mut() {
        environment.installation = installation;
    }
    gittags::check(bridge, &context, &mut plan).await?;
    let (base, base_config) = match base {
        Some(resolved) if early_base.as_ref() == Some(&plan.base) => resolved?,
        _ => resolver.base(bridge, &plan.base).await?,
    };
    let test_base = match &plan.test_base {
        Some(base) => Some(resolver.base(bridge, base).await?),
        None => None,
    };

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
    // The helper (the frontend's own image) runs on the worker's platform.
    let build_platform = caps.platforms.first().map(|worker| pb::Platform {
        architecture: worker.architecture.clone(),
        os: worker.os.clone(),
        variant: worker.variant.clone(),
        ..Default::default()
    });
    let (signing_key_id, signing_public_key) = match (&helper, &plan.packaging) {
        (Some(image), Some(_)) => match declared? {
            Some(key) => (Some(key.id), Some(key.file)),
            None => {
                let session = session_id.as_deref().unwrap_or_default();
                let probe_platform = build_platform.as_ref().unwrap_or(&platform);
                let id = helper::signing_key_id(bridge, image, probe_platform, &llb_caps, session)
                    .await?;
                (id, None)
            }
        },
        _ => (None, None),
    };
    let file_len = text.len();
    let build_inputs = BuildInputs {
        base,
        base_config,
        test_base,
        cache,
        cached_downloads,
        context_name: options.context_key.clone(),
        context_excludes: vec![options.filename.clone()],
        source_dir,
        session_id: session_id.clone(),
        platform: platform.clone(),
        build_platform,
        caps: llb_caps.clone(),
        source: limits::attach_source(file_len).then(|| SourceFile {
            filename: options.filename.clone(),
            data: text.as_bytes().to_vec(),
        }),
        helper,
        signing_key_id,
        signing_public_key,
        no_cache: options.no_cache,
        contexts: named,
    };
    repositories::leave_out_covered_folders(bridge, &mut plan, &build_inputs).await?;
    let evaluate = each.platforms.len() == 1 || explainable(&plan);
    let id = solve(bridge, caps, &plan, &build_inputs, file_len, evaluate).await?;
    if plan.target == plan::Target::Test {
        let named = &build_inputs.contexts;
        tests_target::run(bridge, caps, &context, named, &mut plan, &build_inputs, &id).await?;
    }
    Ok(id)
}

/// The frontend options, the platform defaulting to the worker's.
fn options_for(
    raw: &BTreeMap<String, String>,
    caps: &Capabilities,
) -> Result<opts::FrontendOpts, Failure> {
    let mut options = opts::parse(raw).map_err(|m| Failure::new(INVALID_ARGUMENT, m))?;
    // Keys only: build-arg values may be sensitive.
    tracing::info!(filename = %options.filename, keys = ?raw.keys().collect::<Vec<_>>(), "options");
    if !options.platform_given {
        if let Some(worker) = caps.platforms.first() {
            options.build.platform = plan::Platform {
                os: worker.os.clone(),
                architecture: worker.architecture.clone(),
                variant: worker.variant.clone(),
            };
        }
    }
    Ok(options)
}

/// `--check` (the `frontend.lint` subrequest): the lint findings of the
/// planned build, without building. Plans as if an environment image were
/// given when the client gave none (`--check` needs no environment).
async fn check(
    bridge: &Bridge,
    caps: &Capabilities,
    raw: &BTreeMap<String, String>,
) -> Result<Answer, Failure> {
    let mut options = options_for(raw, caps)?;
    let inputs = if caps.gateway.contains(bridge::gateway_caps::FRONTEND_INPUTS) {
        bridge.inputs().await?
    } else {
        BTreeMap::new()
    };
    let session_id = std::env::var("BUILDKIT_SESSION_ID")
        .ok()
        .filter(|s| !s.is_empty());
    let llb_caps = CapSet::from_enabled(caps.llb.iter().cloned());
    let platform = platforms::to_pb(&options.build.platform);
    let can_stat = caps.gateway.contains(bridge::gateway_caps::STAT_FILE);
    let (text, config, library, env_file) = {
        let context = pipelines::Context {
            options: &options,
            inputs: &inputs,
            session_id: session_id.as_deref(),
            caps: &llb_caps,
            platform: &platform,
        };
        let text = contexts::read_build_file(bridge, &context, can_stat)
            .await?
            .text;
        let config = config::load(&options.filename, &text)
            .map_err(|e| config_failure(e, &options.filename, &text))?;
        let library = pipelines::library(bridge, &context, &config).await?;
        let env_file = pipelines::env_file(bridge, &context).await?;
        (Arc::<str>::from(text), config, library, env_file)
    };
    options.build.env_file = env_file;
    options.build.build_file_text = Arc::clone(&text);
    assume_environment(&mut options.build, &config);
    let plan = plan::plan(&options.filename, &config, &options.build, &library)
        .map_err(|e| config_failure(e, &options.filename, &text))?;
    let found = findings(&text, &config, &plan, &options.build, &library);
    Ok(Answer::Metadata(lint::report::lint_result(
        &found,
        &options.filename,
        &text,
    )))
}

/// For `--check` without any environment: plan as with an image (the
/// findings are the same; nothing is pulled).
fn assume_environment(options: &mut plan::BuildOptions, config: &config::Config) {
    let given = options
        .named_contexts
        .contains_key(plan::ENVIRONMENT_CONTEXT)
        || options.build_args.contains_key(plan::ENVIRONMENT_IMAGE_ARG)
        || plan::environment::repositories_configured(config, options);
    if !given {
        options.named_contexts.insert(
            plan::ENVIRONMENT_CONTEXT.to_string(),
            "docker-image://scratch".to_string(),
        );
    }
}

/// The lint findings of a planned build (`--check`, build warnings).
fn findings(
    text: &str,
    config: &config::Config,
    plan: &plan::BuildPlan,
    options: &plan::BuildOptions,
    library: &plan::Library,
) -> Vec<lint::Finding> {
    let Ok(root) = config::yaml::parse(text.strip_prefix('\u{feff}').unwrap_or(text)) else {
        return Vec::new();
    };
    lint::check(&lint::Input {
        root: &root,
        config,
        plan,
        options,
        library,
        vars: &plan.vars,
    })
}

/// The named contexts the environment's repositories and keys read.
fn named_contexts(
    resolver: &contexts::Resolver<'_>,
    options: &opts::FrontendOpts,
    plan: &plan::BuildPlan,
) -> Result<BTreeMap<String, llb::ContextSource>, Failure> {
    let mut named = BTreeMap::new();
    let environments = plan.environment.iter().chain(
        plan.tests
            .iter()
            .filter_map(|test| test.environment.as_ref()),
    );
    let mut names: Vec<String> = environments
        .flat_map(plan::EnvironmentPlan::named_contexts)
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let value = options.build.named_contexts.get(&name).ok_or_else(|| {
            Failure::new(
                INVALID_ARGUMENT,
                format!("named context {name:?} was not given"),
            )
        })?;
        named.insert(name.clone(), resolver.context(&name, value)?);
    }
    Ok(named)
}

/// Whether the build must run before the frontend returns, whatever the
/// platforms: a wrong expected-sha256 surfaces only when the build runs.
fn explainable(plan: &plan::BuildPlan) -> bool {
    plan.steps.iter().any(|step| {
        matches!(&step.source, Some(plan::sources::NativeSource::Fetch(fetch))
            if matches!(fetch.digest, plan::sources::Digest::Sha256(_)))
    })
}

/// Compile and solve the build; errors explained where the frontend can.
/// `evaluate`: build now (one platform: a failing step then shows its YAML
/// lines). Several platforms are solved one after another and returned
/// lazily, so that BuildKit builds them side by side.
async fn solve(
    bridge: &Bridge,
    caps: &Capabilities,
    plan: &plan::BuildPlan,
    inputs: &BuildInputs,
    file_len: usize,
    evaluate: bool,
) -> Result<String, Failure> {
    let definition =
        llb::compile(plan, inputs).map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    let size = definition.encoded_len();
    limits::check_definition(size)?;
    // Built now (`evaluate`), a failure comes back here: a failing step is
    // located in the build file (see `located`), a wrong expected-sha256
    // explained (see `mismatch`).
    let locator = located::Locator::of(&definition);
    let solved = match evaluate || plan.target == plan::Target::Test {
        true => bridge.solve_evaluated(definition, caps).await,
        false => bridge.solve(definition).await,
    };
    solved.map_err(|status| {
        if let Some(failure) = limits::explain(status.message(), size, file_len) {
            return failure;
        }
        let mut failure = Failure::from(status);
        if let Some(locator) = &locator {
            failure = locator.locate(failure);
        }
        if let Some(line) = mismatch::explain(&failure.0.message, plan) {
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
