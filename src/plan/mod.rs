//! Compiled config → [`BuildPlan`]: the environment to start from, the
//! workspace, and the ordered, numbered steps with their final scripts,
//! environments and mounts. Pure data; `llb` turns it into BuildKit ops.

mod accounts;
pub mod args;
mod envfile;
pub mod environment;
pub mod git;
pub mod gitrefs;
mod library;
pub mod metadata;
mod options;
pub mod packaging;
pub mod sourcedir;
pub mod sources;
mod steps;
pub mod testplan;
mod vars;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::error::{LResult, Located};
use crate::config::{BuildOption, Config, ConfigError};

pub use environment::EnvironmentPlan;

pub use library::{valid_name as valid_pipeline_name, Library, PipelineText};
pub use options::{
    list_arg, BuildOptions, ContextFile, ContextValue, Platform, BUILD_OPTIONS_ARG, ENV_FILE_ARG,
};
pub use packaging::{PackageSpec, PackagingSpec};
pub use sourcedir::SourceDir;
pub use testplan::PlannedTest;
pub use vars::apk_arch;

/// Where melange keeps the workspace inside the build environment.
pub const WORKSPACE_DIR: &str = "/home/build";
/// `${{targets.outdir}}`: one folder per package below it.
pub const OUT_DIR: &str = "/home/build/melange-out";
/// melange's cache dir (its `--cache-dir` inside the build): a writable
/// cache mount in every step ([`CACHE_DIR_MOUNT`]), seeded from the
/// `melange-cache` named context when one is given.
pub const CACHE_DIR: &str = "/var/cache/melange";
/// Named context that supplies the build environment's base image.
pub const ENVIRONMENT_CONTEXT: &str = "melange-environment";
/// Named context whose files the cache dir starts with (melange's host
/// `--cache-dir`).
pub const CACHE_CONTEXT: &str = "melange-cache";
/// Build-arg naming the base image for clients without named contexts.
pub const ENVIRONMENT_IMAGE_ARG: &str = "MELANGE_ENVIRONMENT_IMAGE";
/// PATH used when the base image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A BuildKit cache mount every pipeline step gets, with the variable that
/// points tools at it (`None` when the tool finds the path on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CacheMount {
    /// BuildKit cache ID (shared across builds and packages).
    pub id: &'static str,
    /// Mount path inside the step.
    pub path: &'static str,
    /// Environment default so the tool uses the mount.
    pub env: Option<(&'static str, &'static str)>,
}

/// The documented cache mounts, mounted with sharing `shared` on every step.
pub const CACHE_MOUNTS: [CacheMount; 8] = [
    CacheMount {
        id: "melange-go-mod-cache",
        path: "/go/pkg/mod",
        env: Some(("GOMODCACHE", "/go/pkg/mod")),
    },
    CacheMount {
        id: "melange-go-build-cache",
        path: "/root/.cache/go-build",
        env: Some(("GOCACHE", "/root/.cache/go-build")),
    },
    CacheMount {
        id: "melange-pip-cache",
        path: "/root/.cache/pip",
        env: Some(("PIP_CACHE_DIR", "/root/.cache/pip")),
    },
    CacheMount {
        id: "melange-npm-cache",
        path: "/root/.npm",
        env: Some(("npm_config_cache", "/root/.npm")),
    },
    CacheMount {
        id: "melange-cargo-registry-cache",
        path: "/root/.cargo/registry",
        env: Some(("CARGO_HOME", "/root/.cargo")),
    },
    CacheMount {
        id: "melange-cargo-build-cache",
        path: "/root/.cargo/git",
        env: Some(("CARGO_HOME", "/root/.cargo")),
    },
    CacheMount {
        id: "melange-ccache-cache",
        path: "/root/.ccache",
        env: Some(("CCACHE_DIR", "/root/.ccache")),
    },
    CacheMount {
        id: "melange-apk-cache",
        path: "/var/cache/apk",
        env: None,
    },
];

/// The cache dir's mount: melange bind-mounts its host `--cache-dir`
/// read-write, so here it is a persistent BuildKit cache shared by every
/// build on the builder (a Go module cache set there fills it, as with
/// melange). No variable points at it: melange sets none.
pub const CACHE_DIR_MOUNT: CacheMount = CacheMount {
    id: "melange-cache-dir",
    path: CACHE_DIR,
    env: None,
};

/// What the build returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// `<arch>/*.apk` for every package and `<arch>/APKINDEX.tar.gz` (default).
    Packages,
    /// The `melange-out` tree: one folder per package.
    Workspace,
    /// As `packages`, returned only once every package's `test:` passed,
    /// each in its own environment.
    Test,
}

impl Target {
    /// Every target name, the default first, for help and errors.
    pub const NAMES: &'static [&'static str] = &["packages", "workspace", "test"];

    /// One line for `--call targets` and errors.
    pub fn describe(name: &str) -> &'static str {
        match name {
            "packages" => {
                "<arch>/*.apk for the package and every subpackage, and <arch>/APKINDEX.tar.gz"
            }
            "workspace" => "the melange-out tree: one folder per package",
            "test" => {
                "as packages, once every package's test: pipelines passed, each in its own environment"
            }
            _ => "",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "" | "packages" => Some(Target::Packages),
            "workspace" => Some(Target::Workspace),
            "test" => Some(Target::Test),
            _ => None,
        }
    }
}

/// Where the build environment's root filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BaseSource {
    /// An image reference (from `MELANGE_ENVIRONMENT_IMAGE`).
    Image {
        /// The reference as given.
        reference: String,
    },
    /// A named context, resolved by the gateway (`docker-image://`, `local:`, `input:`).
    Context {
        /// Context name.
        name: String,
        /// The context's value as the client sent it.
        value: String,
    },
    /// No base: the environment is only the packages installed from
    /// repositories ([`BuildPlan::environment`]).
    Scratch,
}

/// Identity of the main package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageId {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Epoch.
    pub epoch: String,
}

impl PackageId {
    /// `<version>-r<epoch>`, melange's full version.
    pub fn full_version(&self) -> String {
        format!("{}-r{}", self.version, self.epoch)
    }
}

/// One numbered step: a shell script run in the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    /// Progress name, `[n/N] …`.
    pub name: String,
    /// Complete `/bin/sh -c` script (prelude included).
    pub script: String,
    /// Environment set by the plan; the image's own variables go under it.
    pub env: BTreeMap<String, String>,
    /// Line of the step in the build file, for source maps.
    pub line: usize,
    /// Set when BuildKit does the step natively (`uses: fetch`,
    /// `uses: git-checkout`); `script`
    /// is then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<sources::NativeSource>,
}

/// Everything needed to emit LLB, and nothing that needs a daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildPlan {
    /// The main package.
    pub package: PackageId,
    /// Every package whose folder exists under [`OUT_DIR`], main first.
    pub outputs: Vec<String>,
    /// Base of the build environment.
    pub base: BaseSource,
    /// The `melange-cache` named context: what the [`CACHE_DIR`] mount
    /// starts with (and where native fetches look for downloads).
    pub cache_context: Option<String>,
    /// Cache mounts added to every step: the documented ones, then
    /// [`CACHE_DIR_MOUNT`].
    pub cache_mounts: Vec<CacheMount>,
    /// Name of the workspace-preparation step (`[1/N] environment`).
    pub environment_step: String,
    /// Pipeline steps in order.
    pub steps: Vec<PlannedStep>,
    /// Name of the final step, which makes the result (the packaging step
    /// for `packages`, the copy of `melange-out` for `workspace`).
    pub result_step: String,
    /// What the build returns.
    pub target: Target,
    /// Packages the environment must contain: `environment.contents.packages`
    /// plus every `needs.packages` of the steps that run, sorted, unique.
    pub packages: Vec<String>,
    /// Whether steps run in BuildKit's `security.insecure` mode: the build
    /// file's `capabilities.add` (BuildKit cannot grant single capabilities;
    /// the user must allow the entitlement).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// The compiled `test:` sections, one per package with test steps
    /// (run by target `test`, see [`testplan`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<PlannedTest>,
    /// Base of the test environments when it is not the build's
    /// (`melange-test-environment`, target `test` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_base: Option<BaseSource>,
    /// What the packaging step writes (target `packages` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packaging: Option<PackagingSpec>,
    /// User the steps run as (`accounts.run-as`); the image's user when None.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Packages installed from repositories into the environment (on the
    /// base, or as the whole environment when the base is
    /// [`BaseSource::Scratch`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentPlan>,
    /// Build-file lines of the steps that are no pipeline step, for
    /// BuildKit's source map (not part of the plan's JSON).
    #[serde(skip)]
    pub source_lines: SourceLines,
    /// The build-wide variables (`package.*`, `vars.*`, `targets.*`, …),
    /// for lint (not part of the plan's JSON).
    #[serde(skip)]
    pub vars: crate::config::subst::Vars,
}

/// Where the environment and the packaging steps come from in the build
/// file (0: nowhere), so their failures show those lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceLines {
    /// The `package:` name line (packaging, the workspace result).
    pub package: usize,
    /// The first `environment.contents.packages` entry (unpack, install).
    pub environment: usize,
}

/// Build-arg naming the pipeline dirs (melange's `--pipeline-dir`),
/// relative to the build context; comma or space separated.
pub const PIPELINE_DIR_ARG: &str = "MELANGE_PIPELINE_DIR";

/// The pipeline dirs to search before the built-ins, relative to the
/// context: the build-arg's, else `pipelines` (Wolfi's layout).
pub fn pipeline_dirs(options: &BuildOptions) -> Vec<String> {
    let given: Vec<String> = options
        .build_args
        .get(PIPELINE_DIR_ARG)
        .map(|value| {
            value
                .split(|c: char| c == ',' || c.is_whitespace())
                .map(|dir| dir.trim_start_matches("./").trim_end_matches('/'))
                .filter(|dir| !dir.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if given.is_empty() {
        vec!["pipelines".to_string()]
    } else {
        given
    }
}

/// Compile a config and the client's options into a plan; `uses:` comes
/// from `library`.
pub fn plan(
    file: &str,
    config: &Config,
    options: &BuildOptions,
    library: &Library,
) -> Result<BuildPlan, ConfigError> {
    let package = PackageId {
        name: config.package.name.value.clone(),
        version: config.package.version.value.clone(),
        epoch: config.package.epoch.value.clone(),
    };
    // Errors inside a scalar of the build file point at their own column.
    let located = |e: Located| e.place(&options.build_file_text).in_file(file);
    metadata::check_version(&config.package.version, &package.epoch).map_err(located)?;
    let target = resolve_target(file, options)?;
    // Without a base, repositories may still provide the environment;
    // whether they do is known once the world is (below).
    let base = match resolve_base(file, options) {
        Err(_) if environment::repositories_configured(config, options) => None,
        other => Some(other?),
    };
    let source_date_epoch = options.source_date_epoch().map_err(|message| ConfigError {
        file: file.to_string(),
        pos: Default::default(),
        message,
    })?;
    refuse_unsupported(config).map_err(located)?;
    let enabled = enabled_build_options(file, config, options)?;
    let env_file = options.env_file.as_ref().map(envfile::parse).transpose()?;
    let mut vars =
        vars::build_vars(config, &package, &options.platform, &enabled).map_err(located)?;
    // Counts first: a range over a huge data set is refused before it is
    // expanded.
    steps::check_counts(config).map_err(located)?;
    // Every subpackage and step copies the variables: share them.
    vars.share();
    let subpackages = steps::expand_subpackages(config, &vars).map_err(located)?;
    let mut outputs = vec![package.name.clone()];
    outputs.extend(subpackages.iter().map(|s| s.name.clone()));
    vars::add_package_targets(&mut vars, &outputs);
    vars.share();
    let env = steps::base_env(config, &source_date_epoch, env_file.unwrap_or_default());
    let tests = steps::compile_tests(config, &vars, &subpackages, &env, library)
        .and_then(|tests| testplan::plan_tests(tests, options, apk_arch(&options.platform), target))
        .map_err(located)?;
    let compiled = steps::compile(config, &vars, &subpackages, env, library).map_err(located)?;
    let mut packages: Vec<String> = environment_packages(config, &enabled)
        .into_iter()
        .chain(compiled.needs)
        .filter(|p| !p.is_empty())
        .collect();
    packages.sort();
    packages.dedup();
    let environment = environment::plan(config, options, &packages, apk_arch(&options.platform))
        .map_err(located)?;
    let base = match (base, &environment) {
        (Some(base), _) => base,
        (None, Some(_)) => BaseSource::Scratch,
        (None, None) => {
            return Err(resolve_base(file, options)
                .err()
                .unwrap_or_else(|| ConfigError {
                    file: file.to_string(),
                    pos: Default::default(),
                    message: "no build environment".into(),
                }))
        }
    };
    let packaging = match target {
        Target::Packages | Target::Test => Some(
            packaging::spec(
                config,
                &package,
                &vars,
                &subpackages,
                options,
                apk_arch(&options.platform),
                source_date_epoch.parse().unwrap_or_default(),
            )
            .map_err(located)?,
        ),
        Target::Workspace => None,
    };
    let total = compiled.commands.len() + 2;
    let result_step = match &packaging {
        Some(spec) => format!("[{total}/{total}] {}", packaging_label(spec)),
        None => format!("[{total}/{total}] collect melange-out"),
    };
    let steps = compiled
        .commands
        .into_iter()
        .enumerate()
        .map(|(i, step)| PlannedStep {
            name: format!("[{}/{total}] {}", i + 2, step.label),
            ..step.into_planned()
        })
        .collect();
    Ok(BuildPlan {
        outputs,
        base,
        cache_context: options.named_contexts.get(CACHE_CONTEXT).cloned(),
        cache_mounts: CACHE_MOUNTS.into_iter().chain([CACHE_DIR_MOUNT]).collect(),
        environment_step: format!("[1/{total}] environment"),
        steps,
        result_step,
        target,
        packaging,
        package,
        packages,
        tests,
        test_base: match target {
            Target::Test => testplan::test_base(options),
            _ => None,
        },
        insecure: !config.capabilities.add.is_empty(),
        user: config.environment.run_as.as_ref().map(|u| u.value.clone()),
        environment,
        vars,
        source_lines: SourceLines {
            package: config.package.name.pos.line,
            environment: config
                .environment
                .packages
                .first()
                .map_or(0, |p| p.pos.line),
        },
    })
}

/// The options `MELANGE_BUILD_OPTIONS` enables; each must be declared.
fn enabled_build_options<'c>(
    file: &str,
    config: &'c Config,
    options: &BuildOptions,
) -> Result<Vec<&'c BuildOption>, ConfigError> {
    options
        .enabled_build_options()
        .iter()
        .map(|name| {
            config
                .build_options
                .iter()
                .find(|o| &o.name.value == name)
                .ok_or_else(|| {
                    let declared: Vec<&str> =
                        config.build_options.iter().map(|o| o.name.value.as_str()).collect();
                    ConfigError {
                        file: file.to_string(),
                        pos: Default::default(),
                        message: format!(
                            "build-arg {BUILD_OPTIONS_ARG}: no build option {name:?} under `options:` (declared: {})",
                            if declared.is_empty() { "none".to_string() } else { declared.join(", ") }
                        ),
                    }
                })
        })
        .collect()
}

/// `environment.contents.packages` with the enabled options' additions and
/// removals applied.
fn environment_packages(config: &Config, enabled: &[&BuildOption]) -> Vec<String> {
    let mut packages: Vec<String> = config
        .environment
        .packages
        .iter()
        .map(|p| p.value.clone())
        .collect();
    for option in enabled {
        packages.extend(option.add.iter().map(|p| p.value.clone()));
        packages.retain(|p| !option.remove.iter().any(|r| &r.value == p));
    }
    packages
}

/// `package hello, hello-doc` (or `package hello and N subpackages` when
/// the names would make a long progress line).
fn packaging_label(spec: &PackagingSpec) -> String {
    let names: Vec<&str> = spec.packages.iter().map(|p| p.name.as_str()).collect();
    let all = format!("package {}", names.join(", "));
    match names.split_first() {
        Some((first, rest)) if all.len() > 72 => {
            format!("package {first} and {} subpackages", rest.len())
        }
        _ => all,
    }
}

/// Build-file features that change how every step runs and that this
/// version cannot honour: refused at their position, never ignored.
fn refuse_unsupported(config: &Config) -> LResult<()> {
    if let Some(run_as) = config
        .environment
        .run_as
        .as_ref()
        .filter(|user| !matches!(user.value.as_str(), "root" | "0"))
    {
        return Err(Located::new(
            run_as.pos,
            format!(
                "`accounts.run-as: {}`: steps can only run as root in this version of melange-frontend \
                 (the workspace is owned by root)",
                run_as.value
            ),
        ));
    }
    if let Some(drop) = config.capabilities.drop.first() {
        return Err(Located::new(
            drop.pos,
            "`capabilities.drop`: BuildKit cannot remove capabilities from a step's default set; \
             remove the entry (steps run with BuildKit's default capabilities)",
        ));
    }
    Ok(())
}

fn resolve_target(file: &str, options: &BuildOptions) -> Result<Target, ConfigError> {
    let name = options.target.as_deref().unwrap_or("");
    Target::parse(name).ok_or_else(|| ConfigError {
        file: file.to_string(),
        pos: Default::default(),
        message: format!(
            "unknown target {name:?}; available targets: {}",
            Target::NAMES.join(", ")
        ),
    })
}

/// The environment base the client named (the `melange-environment`
/// named context, else the image build-arg), if any. It depends on the
/// options alone, so the gateway can resolve its image config while the
/// build file is still being read.
pub fn base_from_options(options: &BuildOptions) -> Option<BaseSource> {
    if let Some(value) = options.named_contexts.get(ENVIRONMENT_CONTEXT) {
        return Some(BaseSource::Context {
            name: ENVIRONMENT_CONTEXT.to_string(),
            value: value.clone(),
        });
    }
    options
        .build_args
        .get(ENVIRONMENT_IMAGE_ARG)
        .filter(|r| !r.is_empty())
        .map(|reference| BaseSource::Image {
            reference: reference.clone(),
        })
}

fn resolve_base(file: &str, options: &BuildOptions) -> Result<BaseSource, ConfigError> {
    if let Some(base) = base_from_options(options) {
        return Ok(base);
    }
    Err(ConfigError {
        file: file.to_string(),
        pos: Default::default(),
        message: format!(
            "no build environment: pass --build-context {ENVIRONMENT_CONTEXT}=docker-image://IMAGE \
             (or --build-arg {ENVIRONMENT_IMAGE_ARG}=IMAGE with docker build), or install packages: \
             environment.contents.packages (or --build-arg {}=…) from a repository \
             (environment.contents.repositories, or --build-arg {}=./packages)",
            environment::PACKAGES_ARG,
            environment::REPOSITORIES_ARG
        ),
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod uses_tests;

#[cfg(test)]
mod leniency_tests;
