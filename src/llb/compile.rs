//! [`BuildPlan`] → LLB Definition. The environment base plus the build
//! context become the workspace (`[1/N] environment`), each planned step one
//! Exec on the previous step's root filesystem with the cache mounts, and the
//! result either the packages (an Exec of the frontend's own image over the
//! `melange-out` tree, see [`package`]) or a copy of the `melange-out` tree
//! onto scratch.

use std::collections::{BTreeMap, BTreeSet};

use super::caps::{self, CapSet};
use super::graph::{Graph, LlbError, OpInfo, SourceFile, State};
use super::image::ImageConfig;
use super::ops::{Exec, FileAction, LocalOptions};
use super::packaging::{package, Signing};
use super::{cachedir, cachefile, sources};
use crate::plan::sources::NativeSource;
use crate::plan::{BuildPlan, PlannedStep, SourceDir, DEFAULT_PATH, OUT_DIR, WORKSPACE_DIR};
use crate::proto::pb;

/// Where a filesystem given by the client comes from, once the gateway has
/// interpreted a named context or build-arg.
#[derive(Debug, Clone)]
pub enum ContextSource {
    /// An image reference, already normalized.
    Image(String),
    /// A directory the client sends under this local name.
    Local(String),
    /// A definition the client passed as a frontend input.
    Input(pb::Definition),
    /// Nothing: an empty filesystem (an environment made only of
    /// installed packages).
    Scratch,
}

/// What the LLB needs beyond the plan; supplied by the gateway (or defaults
/// offline).
#[derive(Debug, Clone)]
pub struct BuildInputs {
    /// Root filesystem of the build environment.
    pub base: ContextSource,
    /// Config of the base image (Env, WorkingDir, User).
    pub base_config: ImageConfig,
    /// Base of the test environments (target `test`) and its image config,
    /// when it is not the build's (`melange-test-environment`).
    pub test_base: Option<(ContextSource, ImageConfig)>,
    /// The `melange-cache` context, when the client gave one: what the
    /// `/var/cache/melange` cache mount starts with (llb/cachedir.rs).
    pub cache: Option<ContextSource>,
    /// The `sha256:<hex>` / `sha512:<hex>` files the gateway found at the
    /// top of `cache`: native fetches of those digests use them instead of
    /// downloading (see [`super::cachefile`]).
    pub cached_downloads: BTreeSet<String>,
    /// Local name of the build context (`context` unless `contextkey` says otherwise).
    pub context_name: String,
    /// Paths left out of the context transfer: the build file itself, so that
    /// editing a step does not change the workspace and re-run every step.
    pub context_excludes: Vec<String>,
    /// The part of the context that becomes the workspace (the source dir)
    /// and its `.melangeignore` patterns; only that part is transferred.
    pub source_dir: SourceDir,
    /// Client session for local sources.
    pub session_id: Option<String>,
    /// Target platform.
    pub platform: pb::Platform,
    /// The worker's platform, where the frontend's own image (the helper)
    /// exists and runs; `None`: the target's. See [`Graph::set_build_platform`].
    pub build_platform: Option<pb::Platform>,
    /// LLB caps of the daemon.
    pub caps: CapSet,
    /// The build file, for source maps.
    pub source: Option<SourceFile>,
    /// The frontend's own image, whose binary the packaging step runs:
    /// `Input` with the definition BuildKit ≥ 0.10 hands the frontend in
    /// `frontend.bin`, or `Image` with the `source` option's reference.
    /// Only target `packages` needs it.
    pub helper: Option<ContextSource>,
    /// Fingerprint of the signing key: the declared public key's, or what
    /// the probe ([`super::packaging::signing_probe`]) found in the secret;
    /// `None`: unsigned.
    pub signing_key_id: Option<String>,
    /// The declared public key file (context path) that `signing_key_id`
    /// was read from; `None`: the probe asked the secret.
    pub signing_public_key: Option<String>,
    /// `--no-cache`: every op runs again (BuildKit's ignore-cache).
    pub no_cache: bool,
    /// The named contexts the environment's repositories and keys read
    /// (`context://NAME/…`), by name: where package files come from.
    pub contexts: BTreeMap<String, ContextSource>,
}

impl BuildInputs {
    /// Inputs for compiling without a daemon (the `plan` subcommand, tests,
    /// benchmarks): every cap, no session, the base and helper images by
    /// reference, the build file left out of the context.
    pub fn offline(
        base: ContextSource,
        helper_image: &str,
        build_file: &str,
        platform: pb::Platform,
    ) -> Self {
        BuildInputs {
            base,
            base_config: ImageConfig::default(),
            test_base: None,
            cache: None,
            build_platform: None,
            cached_downloads: BTreeSet::new(),
            context_name: "context".to_string(),
            context_excludes: vec![build_file.to_string()],
            source_dir: SourceDir::default(),
            session_id: None,
            platform,
            caps: CapSet::all(),
            source: None,
            helper: Some(ContextSource::Image(helper_image.to_string())),
            signing_key_id: None,
            signing_public_key: None,
            no_cache: false,
            contexts: BTreeMap::new(),
        }
    }
}

/// Emit the Definition for `plan`.
pub fn compile(plan: &BuildPlan, inputs: &BuildInputs) -> Result<pb::Definition, LlbError> {
    let mut graph = prepared_graph(inputs);
    let result = build(&mut graph, plan, inputs)?;
    Ok(graph.finish(&result))
}

/// An empty graph with `--no-cache` and the build file's source map applied.
pub(super) fn prepared_graph(inputs: &BuildInputs) -> Graph {
    let mut graph = new_graph(inputs);
    if inputs.no_cache {
        graph.ignore_cache_everywhere();
    }
    if let Some(source) = &inputs.source {
        graph.set_source(source.clone());
    }
    graph
}

/// The build's ops into `graph`: environment, workspace, steps and the
/// target's result (the packages, or the `melange-out` tree).
pub(super) fn build(
    graph: &mut Graph,
    plan: &BuildPlan,
    inputs: &BuildInputs,
) -> Result<State, LlbError> {
    let base = context_state(graph, &inputs.base, "environment base", inputs)?;
    let base = match &plan.environment {
        Some(environment) => {
            let helper = helper_state(graph, inputs, "installing packages")?;
            let base = (!matches!(inputs.base, ContextSource::Scratch)).then_some(base);
            let step = &plan.environment_step;
            super::environment::install(
                graph,
                (step, plan.source_lines.environment),
                environment,
                (base, None),
                helper,
                inputs,
            )?
        }
        None => base,
    };
    let cache = cachedir::seed(graph, plan, inputs)?;
    let mut state = workspace(graph, (&plan.outputs, &plan.environment_step), base, inputs)?;
    for step in &plan.steps {
        state = pipeline_step(graph, plan, step, state, cache.as_ref(), inputs)?;
    }
    match &plan.packaging {
        Some(spec) => {
            let helper = helper_state(graph, inputs, "target packages")?;
            let signing = Signing {
                key_id: inputs.signing_key_id.as_deref().unwrap_or_default(),
                public_key: inputs.signing_public_key.as_deref().unwrap_or_default(),
            };
            package(graph, plan, (spec, signing), state, helper)
        }
        None => collect(graph, plan, state),
    }
}

/// One planned step on `state`: a native source, or a shell step run in
/// the environment (image config from `inputs.base_config`).
pub(super) fn pipeline_step(
    graph: &mut Graph,
    plan: &BuildPlan,
    step: &PlannedStep,
    state: State,
    cache: Option<&State>,
    inputs: &BuildInputs,
) -> Result<State, LlbError> {
    pipeline_step_in(graph, plan, step, state, cache, inputs, &inputs.base_config)
}

/// [`pipeline_step`] in an environment whose image config is `image`.
pub(super) fn pipeline_step_in(
    graph: &mut Graph,
    plan: &BuildPlan,
    step: &PlannedStep,
    state: State,
    cache: Option<&State>,
    inputs: &BuildInputs,
    image: &ImageConfig,
) -> Result<State, LlbError> {
    if let Some(source) = &step.source {
        let helper = helper_state(graph, inputs, "a native source")?;
        let cached = match source {
            NativeSource::Fetch(fetch) => cachefile::cached_download(graph, inputs, fetch)?,
            NativeSource::GitCheckout(_) => None,
        };
        return sources::native_step(graph, step, source, state, helper, cached);
    }
    run_step(graph, plan, step, state, cache, image)
}

/// An empty graph for `inputs`' target, caps and build platform.
pub(super) fn new_graph(inputs: &BuildInputs) -> Graph {
    let mut graph = Graph::new(inputs.platform.clone(), inputs.caps.clone());
    if let Some(build) = &inputs.build_platform {
        graph.set_build_platform(build.clone());
    }
    graph
}

/// The frontend's own image, for the steps that run its binary.
pub(super) fn helper_state(
    graph: &mut Graph,
    inputs: &BuildInputs,
    what: &str,
) -> Result<State, LlbError> {
    let helper = inputs.helper.as_ref().ok_or_else(|| {
        LlbError::InvalidDefinition(format!(
            "{what} needs the frontend's own image, and none was found"
        ))
    })?;
    // One name for the image whoever uses it: the op is shared. It is the
    // worker's image, whatever the target platform.
    graph.on_build_platform(|graph| context_state(graph, helper, "packaging helper", inputs))
}

pub(super) fn context_state(
    graph: &mut Graph,
    source: &ContextSource,
    what: &str,
    inputs: &BuildInputs,
) -> Result<State, LlbError> {
    match source {
        ContextSource::Image(reference) => {
            graph.image(reference, OpInfo::named(format!("{what}: {reference}")))
        }
        ContextSource::Local(name) => {
            let options = LocalOptions {
                session_id: inputs.session_id.clone(),
                shared_key_hint: Some(name.clone()),
                ..Default::default()
            };
            graph.local(
                name,
                &options,
                OpInfo::named(format!("load {what} ({name})")),
            )
        }
        ContextSource::Input(definition) => graph.import(definition),
        ContextSource::Scratch => Ok(State::scratch()),
    }
}

/// `[1/N] environment`: the base with the source dir (the build context
/// or one folder of it, minus `.melangeignore`'s paths) in the workspace and
/// an empty output folder per package.
pub(super) fn workspace(
    graph: &mut Graph,
    (outputs, step): (&[String], &str),
    base: State,
    inputs: &BuildInputs,
) -> Result<State, LlbError> {
    let source = &inputs.source_dir;
    // Leaving the build file out only improves caching: on a daemon
    // without the cap, send it along rather than fail. `.melangeignore`
    // changes the workspace, so its patterns need the cap (`graph.local`
    // fails naming it).
    let mut exclude_patterns = if graph.caps().supports(caps::SOURCE_LOCAL_EXCLUDE_PATTERNS) {
        inputs.context_excludes.clone()
    } else {
        Vec::new()
    };
    exclude_patterns.extend(source.excludes.iter().cloned());
    // Only the source dir is sent; without the include cap the whole
    // context is, and the copy below still takes just the folder.
    let include_patterns = match &source.dir {
        Some(dir) if graph.caps().supports(caps::SOURCE_LOCAL_INCLUDE_PATTERNS) => {
            vec![dir.clone()]
        }
        _ => Vec::new(),
    };
    let options = LocalOptions {
        session_id: inputs.session_id.clone(),
        shared_key_hint: Some(inputs.context_name.clone()),
        include_patterns,
        exclude_patterns,
        ..Default::default()
    };
    let label = match &source.dir {
        Some(dir) => format!("load source dir {dir}"),
        None => "load build context".to_string(),
    };
    let context = graph.local(&inputs.context_name, &options, OpInfo::named(label))?;
    let src = match &source.dir {
        Some(dir) => format!("/{dir}/"),
        None => "/".to_string(),
    };
    let mut actions = vec![FileAction::Copy {
        from: context,
        src,
        dest: format!("{WORKSPACE_DIR}/"),
        contents_only: true,
        create_parents: true,
        include: Vec::new(),
        exclude: Vec::new(),
    }];
    actions.extend(outputs.iter().map(|name| FileAction::Mkdir {
        path: format!("{OUT_DIR}/{name}"),
        mode: 0o755,
        parents: true,
    }));
    graph.file(&base, actions, OpInfo::named(step.to_string()))
}

fn run_step(
    graph: &mut Graph,
    plan: &BuildPlan,
    step: &PlannedStep,
    root: State,
    seed: Option<&State>,
    image: &ImageConfig,
) -> Result<State, LlbError> {
    let mounts = cachedir::step_mounts(plan, seed);
    let exec = Exec {
        args: vec!["/bin/sh".into(), "-c".into(), step.script.clone()],
        env: step_env(image, &step.env),
        cwd: image
            .working_dir
            .clone()
            .unwrap_or_else(|| WORKSPACE_DIR.to_string()),
        user: plan
            .user
            .clone()
            .or_else(|| image.user.clone())
            .unwrap_or_default(),
        root,
        mounts,
        insecure: plan.insecure,
        ..Default::default()
    };
    let info = OpInfo {
        name: Some(step.name.clone()),
        lines: vec![step.line],
        ..Default::default()
    };
    Ok(graph.exec(exec, info)?.root)
}

/// Default PATH, then the image's variables, then the plan's.
fn step_env(image: &ImageConfig, planned: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([("PATH".to_string(), DEFAULT_PATH.to_string())]);
    env.extend(image.env.iter().cloned());
    env.extend(planned.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The `melange-out` tree alone, as the result filesystem.
fn collect(graph: &mut Graph, plan: &BuildPlan, state: State) -> Result<State, LlbError> {
    let copy = FileAction::Copy {
        from: state,
        src: format!("{OUT_DIR}/"),
        dest: "/".into(),
        contents_only: true,
        create_parents: true,
        include: Vec::new(),
        exclude: Vec::new(),
    };
    graph.file(
        &State::scratch(),
        vec![copy],
        OpInfo::named(plan.result_step.clone()).at(plan.source_lines.package),
    )
}
