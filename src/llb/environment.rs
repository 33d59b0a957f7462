//! The LLB of an environment installed from APK repositories: each
//! package its own cached layer, then one step that writes what apk-tools
//! and the build expect around them.
//!
//! - per package, in install order: its file (an HTTP source, or the file
//!   in the build context) bound read-only into an exec of the frontend's
//!   own binary (`install-apk`, no network), which checks it against the
//!   index record (`C:`, `datahash`, per-file SHA-1) and unpacks it into an
//!   empty output mount: the package's layer; a second output holds its
//!   installed-database record. The exec's cache key is its arguments
//!   (name, version, `C:`) and the file's content, so adding a package
//!   re-uses every other package's layer;
//! - the base (if any) and the layers merged in install order: MergeOp
//!   where the daemon has `mergeop`, else copies onto the first layer;
//! - `finish-environment` over the merged root: `lib/apk/db/installed`,
//!   `etc/apk/{world,repositories,arch,keys/*}`, `/etc/passwd` and
//!   `/etc/group`, busybox applet links from `/etc/busybox-paths.d`;
//! - with a `busybox` package and no paths.d list, `busybox --install -s`
//!   run in the environment itself.

use std::collections::BTreeMap;

use super::compile::{BuildInputs, ContextSource};
use super::graph::{Graph, LlbError, OpInfo, State};
use super::helper::{helper_exec, output_mount};
use super::ops::{Exec, FileAction, HttpOptions, LocalOptions, Mount, Network};
use crate::plan::environment::{
    FinishSpec, InstallPackage, Installation, Location, APK_INPUT, FINISH_SPEC_DIR,
    FINISH_SPEC_FILE, FINISH_SUBCOMMAND, INSTALL_SUBCOMMAND, LAYERS_DIR, LAYER_DIR, META_DIR,
    TARGET_DIR,
};
use crate::plan::{BuildPlan, EnvironmentPlan, DEFAULT_PATH};
use crate::proto::pb;

/// The environment: `base` (None: from scratch) with the plan's packages
/// installed, using `helper` (the frontend's own image) for the work.
/// `line`: the YAML line its steps point at (0: none).
pub(super) fn install(
    graph: &mut Graph,
    (step, line): (&str, usize),
    env: &EnvironmentPlan,
    (base, built): (Option<State>, Option<&State>),
    helper: State,
    inputs: &BuildInputs,
) -> Result<State, LlbError> {
    let installation = env.installation.as_ref().ok_or_else(|| {
        LlbError::InvalidDefinition(
            "the environment's packages were not resolved before compiling".into(),
        )
    })?;
    if installation.packages.is_empty() {
        return Err(LlbError::InvalidDefinition(
            "the environment resolved to no packages".into(),
        ));
    }
    let total = installation.packages.len();
    let (package_layers, metas) =
        unpack_all(graph, (step, line), installation, &helper, inputs, built)?;
    let layers: Vec<State> = base
        .into_iter()
        .chain(package_layers.iter().map(|(_, layer)| layer.clone()))
        .collect();
    let merged = graph.merge(
        &layers,
        OpInfo::named(format!("{step}: merge {total} package layers")),
    )?;
    let metas = graph.merge(
        &metas,
        OpInfo::named(format!("{step}: collect installed-database records")),
    )?;
    let finished = finish(
        graph,
        (step, line),
        env,
        installation,
        (merged, metas, package_layers),
        helper,
    )?;
    if !env.installs_busybox() {
        return Ok(finished);
    }
    let exec = Exec {
        args: vec![
            "/bin/busybox".into(),
            "sh".into(),
            "-c".into(),
            // --install makes no folders: an applet whose folder is
            // missing would be silently left out.
            "[ -d /etc/busybox-paths.d ] || { /bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin \
             && /bin/busybox --install -s; }"
                .into(),
        ],
        env: [("PATH".to_string(), DEFAULT_PATH.to_string())].into(),
        cwd: "/".into(),
        network: Network::None,
        root: finished,
        ..Default::default()
    };
    Ok(graph
        .exec(
            exec,
            OpInfo::named(format!("{step}: busybox --install -s")).at(line),
        )?
        .root)
}

/// Every package's unpack step, in install order: (`name-version`, its
/// layer) and its installed-record outputs.
#[allow(clippy::type_complexity)]
fn unpack_all(
    graph: &mut Graph,
    (step, line): (&str, usize),
    installation: &Installation,
    helper: &State,
    inputs: &BuildInputs,
    built: Option<&State>,
) -> Result<(Vec<(String, State)>, Vec<State>), LlbError> {
    let contexts = context_packages(graph, installation, inputs, step)?;
    let total = installation.packages.len();
    let mut metas = Vec::with_capacity(total);
    let mut package_layers = Vec::with_capacity(total);
    for (i, package) in installation.packages.iter().enumerate() {
        let (source, selector) = match &package.source {
            Location::Context(path) | Location::Named { path, .. } => {
                let origin = package.source.named_context().map(str::to_string);
                let state = contexts.get(&origin).cloned().ok_or_else(|| {
                    LlbError::InvalidDefinition(format!(
                        "no source for the package file {}",
                        package.source
                    ))
                })?;
                (state, path.clone())
            }
            Location::Built(path) => {
                let state = built.cloned().ok_or_else(|| {
                    LlbError::InvalidDefinition(format!(
                        "{}: the in-solve repository is only there for target test",
                        package.source
                    ))
                })?;
                (state, path.clone())
            }
            Location::Url(url) => {
                let file = package.file_name();
                let options = HttpOptions {
                    filename: Some(file.clone()),
                    ..Default::default()
                };
                let name = format!("{step}: fetch {file}");
                let info = OpInfo::named(name).at(line);
                (graph.http(url, &options, info)?, file)
            }
        };
        let at = (step, line);
        let (layer, meta) = unpack(graph, package, source, selector, helper, at, i, total)?;
        package_layers.push((package.id(), layer));
        metas.push(meta);
    }
    Ok((package_layers, metas))
}

/// The packages' installed records and link lists (`<name>-<version>.installed`,
/// `.links`), unpacked as the build will (so the steps are shared): the
/// gateway reads them before compiling to find folders another package
/// ships as a link, which the build then leaves out of those layers
/// ([`InstallPackage::leave_out`]).
pub fn package_records(plan: &BuildPlan, inputs: &BuildInputs) -> Result<pb::Definition, LlbError> {
    let installation = plan
        .environment
        .as_ref()
        .and_then(|env| env.installation.as_ref())
        .ok_or_else(|| {
            LlbError::InvalidDefinition("the environment's packages were not resolved".into())
        })?;
    let mut graph = super::compile::new_graph(inputs);
    let helper = super::compile::helper_state(&mut graph, inputs, "installing packages")?;
    let at = (
        plan.environment_step.as_str(),
        plan.source_lines.environment,
    );
    let (_, metas) = unpack_all(&mut graph, at, installation, &helper, inputs, None)?;
    let records = graph.merge(
        &metas,
        OpInfo::named(format!("{}: collect installed-database records", at.0)),
    )?;
    Ok(graph.finish(&records))
}

/// One source per context holding package files (the build context:
/// `None`; a named context: its name): a local source sends only those
/// files; an image or frontend input is used whole. Each unpack step binds
/// its own file.
fn context_packages(
    graph: &mut Graph,
    installation: &Installation,
    inputs: &BuildInputs,
    step: &str,
) -> Result<BTreeMap<Option<String>, State>, LlbError> {
    let mut paths: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
    for package in &installation.packages {
        match &package.source {
            Location::Context(path) | Location::Named { path, .. } => paths
                .entry(package.source.named_context().map(str::to_string))
                .or_default()
                .push(path.clone()),
            Location::Url(_) | Location::Built(_) => {}
        }
    }
    let mut states = BTreeMap::new();
    for (origin, mut paths) in paths {
        paths.sort();
        paths.dedup();
        let (source, what) = match &origin {
            None => (
                ContextSource::Local(inputs.context_name.clone()),
                "the build context".to_string(),
            ),
            Some(name) => match inputs.contexts.get(name) {
                Some(source) => (source.clone(), format!("named context {name}")),
                None => {
                    return Err(LlbError::InvalidDefinition(format!(
                        "named context {name:?} holds packages but was not given"
                    )))
                }
            },
        };
        let label = format!("{step}: load {} package files from {what}", paths.len());
        let state = context_files(
            graph,
            &source,
            &paths,
            inputs.session_id.clone(),
            "packages",
            label,
        )?;
        states.insert(origin, state);
    }
    Ok(states)
}

/// Files of a context: a local directory sends only `paths` (its transfers
/// shared under `<local>:<purpose>`); an image or a frontend input is used
/// whole. Shared by the gateway's index and key reads and the packages'
/// unpack steps.
pub fn context_files(
    graph: &mut Graph,
    source: &ContextSource,
    paths: &[String],
    session_id: Option<String>,
    purpose: &str,
    label: String,
) -> Result<State, LlbError> {
    match source {
        ContextSource::Local(local) => {
            let options = LocalOptions {
                session_id,
                shared_key_hint: Some(format!("{local}:{purpose}")),
                include_patterns: paths.to_vec(),
                ..Default::default()
            };
            graph.local(local, &options, OpInfo::named(label))
        }
        ContextSource::Image(reference) => graph.image(reference, OpInfo::named(label)),
        ContextSource::Input(definition) => graph.import(definition),
        ContextSource::Scratch => Err(LlbError::InvalidDefinition(format!(
            "{label}: the context is empty"
        ))),
    }
}

/// The unpack step of one package: (its layer, its installed record).
#[allow(clippy::too_many_arguments)]
fn unpack(
    graph: &mut Graph,
    package: &InstallPackage,
    source: State,
    selector: String,
    helper: &State,
    (step, line): (&str, usize),
    index: usize,
    total: usize,
) -> Result<(State, State), LlbError> {
    let mut args = vec![
        INSTALL_SUBCOMMAND.to_string(),
        "--apk".into(),
        APK_INPUT.into(),
        "--name".into(),
        package.name.clone(),
        "--version".into(),
        package.version.clone(),
        "--checksum".into(),
        package.checksum.clone(),
        "--root".into(),
        LAYER_DIR.into(),
        "--meta".into(),
        META_DIR.into(),
    ];
    if let Some(tag) = &package.tag {
        args.extend(["--tag".to_string(), tag.clone()]);
    }
    for folder in &package.leave_out {
        args.extend(["--leave-out".to_string(), folder.clone()]);
    }
    let exec = helper_exec(
        helper.clone(),
        args,
        vec![
            Mount::Bind {
                dest: APK_INPUT.into(),
                source,
                selector: Some(selector),
                readonly: true,
            },
            output_mount(LAYER_DIR),
            output_mount(META_DIR),
        ],
    );
    let name = format!("{step}: unpack {} ({}/{total})", package.id(), index + 1);
    let outputs = graph.exec(exec, OpInfo::named(name).at(line))?;
    let mut binds = outputs.binds.into_iter();
    match (binds.next(), binds.next()) {
        (Some(layer), Some(meta)) => Ok((layer, meta)),
        _ => Err(LlbError::InvalidDefinition(
            "unpack step has no output mounts".into(),
        )),
    }
}

/// `finish-environment` over the merged root, with the installed records
/// and each package's own layer (`/layers/<name>-<version>`, read-only)
/// to settle file conflicts and links over folders.
fn finish(
    graph: &mut Graph,
    (step, line): (&str, usize),
    env: &EnvironmentPlan,
    installation: &Installation,
    (merged, metas, package_layers): (State, State, Vec<(String, State)>),
    helper: State,
) -> Result<State, LlbError> {
    let spec = FinishSpec {
        arch: env.arch.clone(),
        world: env.world.clone(),
        repositories: env
            .repositories
            .iter()
            .filter(|r| r.is_url())
            .map(|r| r.to_string())
            .collect(),
        keys: installation.keys.clone(),
        packages: installation
            .packages
            .iter()
            .map(InstallPackage::id)
            .collect(),
        users: env.users.clone(),
        groups: env.groups.clone(),
    };
    let json = serde_json::to_vec_pretty(&spec)
        .map_err(|e| LlbError::InvalidDefinition(format!("environment spec: {e}")))?;
    let spec_state = graph.file(
        &State::scratch(),
        vec![FileAction::Mkfile {
            path: format!("/{FINISH_SPEC_FILE}"),
            mode: 0o444,
            data: json,
        }],
        OpInfo::named("environment metadata"),
    )?;
    let layer_mounts = package_layers.into_iter().map(|(id, layer)| Mount::Bind {
        dest: format!("{LAYERS_DIR}/{id}"),
        source: layer,
        selector: None,
        readonly: true,
    });
    let exec = helper_exec(
        helper,
        vec![
            FINISH_SUBCOMMAND.into(),
            "--spec".into(),
            format!("{FINISH_SPEC_DIR}/{FINISH_SPEC_FILE}"),
            "--meta".into(),
            META_DIR.into(),
            "--root".into(),
            TARGET_DIR.into(),
            "--layers".into(),
            LAYERS_DIR.into(),
        ],
        vec![
            Mount::Bind {
                dest: TARGET_DIR.into(),
                source: merged,
                selector: None,
                readonly: false,
            },
            Mount::Bind {
                dest: META_DIR.into(),
                source: metas,
                selector: None,
                readonly: true,
            },
            Mount::Bind {
                dest: FINISH_SPEC_DIR.into(),
                source: spec_state,
                selector: None,
                readonly: true,
            },
        ]
        .into_iter()
        .chain(layer_mounts)
        .collect(),
    );
    let untrusted = if installation.untrusted.is_empty() {
        String::new()
    } else {
        " — UNTRUSTED indexes allowed".to_string()
    };
    let left = match installation.left_to_image.as_slice() {
        [] => String::new(),
        names => format!(
            " — WARNING: no repository provides {}: left to the image",
            names.join(", ")
        ),
    };
    let name = format!(
        "{step}: install {} packages (apk database, keys, accounts){untrusted}{left}",
        installation.packages.len()
    );
    let outputs = graph.exec(exec, OpInfo::named(name).at(line))?;
    outputs
        .binds
        .into_iter()
        .next()
        .ok_or_else(|| LlbError::InvalidDefinition("finish step has no output mount".into()))
}
