//! The build environment installed from APK repositories, as melange does
//! with apko, planned as data: which repositories and keys (the build
//! file's `environment.contents` plus the build-args that append to them,
//! as melange's `--repository-append`, `--keyring-append` and
//! `--package-append` do), the world (`environment.contents.packages`,
//! every `needs.packages`, `MELANGE_PACKAGES`), the accounts, and — once
//! the gateway (or the host `plan`) has read and verified the indexes and
//! resolved the world — the packages to install, in order.
//!
//! Installing happens only when a repository is configured; a build that
//! names packages but no repository keeps today's behaviour (its base
//! image is used as is). With repositories and no base image, the
//! environment is built from scratch.

use serde::{Deserialize, Serialize};

use crate::apk::repository::{is_url, key_file_name, OpenedIndex, RepositoryRef, Trust};
use crate::apk::IndexRecord;
use crate::config::error::{LResult, Located};
use crate::config::{Config, Environment};

use super::accounts::{groups, users};
pub use super::accounts::{Account, AccountGroup};
use super::options::{list_arg, BuildOptions};

/// Build-arg appending repositories (comma/space separated; `@tag` pins
/// the next location: `@local ./packages`).
pub const REPOSITORIES_ARG: &str = "MELANGE_REPOSITORIES";
/// Build-arg appending public keys (URLs or context paths).
pub const KEYRING_ARG: &str = "MELANGE_KEYRING";
/// Build-arg appending packages to the world.
pub const PACKAGES_ARG: &str = "MELANGE_PACKAGES";
/// Build-arg that accepts indexes whose signature is missing or does not
/// verify (`1`/`true`); loudly warned.
pub const ALLOW_UNTRUSTED_ARG: &str = "MELANGE_ALLOW_UNTRUSTED";
/// uid and gid of melange's build user.
pub const BUILD_ID: u32 = 1000;

/// Helper subcommand that checks and unpacks one package into its layer.
pub const INSTALL_SUBCOMMAND: &str = "install-apk";
/// Helper subcommand that writes the apk database, keys and accounts.
pub const FINISH_SUBCOMMAND: &str = "finish-environment";
/// Where the unpack step finds the package file.
pub const APK_INPUT: &str = "/input/package.apk";
/// The unpack step's output: the package's files (its layer).
pub const LAYER_DIR: &str = "/layer";
/// The unpack steps' second output, and the finish step's input: one
/// `<name>.installed` installed-database record per package.
pub const META_DIR: &str = "/apk-meta";
/// The finish step's spec folder and file ([`FinishSpec`] as JSON).
pub const FINISH_SPEC_DIR: &str = "/environment-spec";
/// File name of the spec in [`FINISH_SPEC_DIR`].
pub const FINISH_SPEC_FILE: &str = "environment.json";
/// Where the finish step sees each package's own layer, as
/// `<name>-<version>/` (read-only): to settle file conflicts and links
/// over folders as apk does.
pub const LAYERS_DIR: &str = "/layers";
/// Where the finish step sees the environment's root filesystem.
pub const TARGET_DIR: &str = "/target";

/// Scheme naming a named context (`--build-context NAME=DIR` with buildx,
/// `--opt context:NAME=local:NAME` with buildctl) as a repository or key
/// location: `context://NAME` (the context's root) or
/// `context://NAME/PATH`. A scheme, so it cannot be read as a relative
/// path of the build context (those never contain `://`), nor as the
/// `@tag` word of a pinned repository.
pub const NAMED_CONTEXT_SCHEME: &str = "context://";

/// How the in-solve repository (the packages this solve built, target
/// `test`) is named in plans, messages and `s:` records.
pub const IN_SOLVE_REPOSITORY: &str = "(this build's packages)";

/// Where a repository or key is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "at", rename_all = "kebab-case")]
pub enum Location {
    /// An `http(s)://` URL.
    Url(String),
    /// A path in the build context (normalized: no `./`, no trailing `/`).
    Context(String),
    /// A path in a named context (normalized as [`Location::Context`];
    /// empty: the context's root).
    Named {
        /// The named context.
        context: String,
        /// The path inside it.
        path: String,
    },
    /// A package the same solve built (target `test`): its path in the
    /// packaging step's output (`<arch>/<name>-<version>.apk`). Never
    /// written in a build file: the gateway makes it from the in-solve
    /// repository.
    Built(String),
}

impl Location {
    /// Classify a configured location; a context path must stay inside the
    /// context.
    pub fn parse(text: &str) -> Result<Location, String> {
        if is_url(text) {
            return Ok(Location::Url(text.trim_end_matches('/').to_string()));
        }
        if let Some(rest) = text.strip_prefix(NAMED_CONTEXT_SCHEME) {
            let (context, path) = rest.split_once('/').unwrap_or((rest, ""));
            check_context_name(context).map_err(|m| format!("{text:?}: {m}"))?;
            let path = relative_path(text, path)?;
            return Ok(Location::Named {
                context: context.to_string(),
                path,
            });
        }
        if text.starts_with('/') {
            return Err(format!(
                "{text:?}: an absolute path is not in the build context; give a path relative to \
                 the context (./packages), a named context (context://NAME/PATH) or an http(s):// URL"
            ));
        }
        if text.contains("://") {
            return Err(format!(
                "{text:?}: only http:// and https:// URLs, context://NAME/PATH for a named context \
                 and build-context paths are supported"
            ));
        }
        let path = relative_path(text, text)?;
        if path.is_empty() {
            return Err(format!(
                "{text:?}: names the whole build context; give its folder (./packages)"
            ));
        }
        Ok(Location::Context(path))
    }

    /// The location of `file` below this one (a folder).
    pub fn join(&self, file: &str) -> Location {
        let join = |dir: &str| match dir {
            "" => file.to_string(),
            dir => format!("{dir}/{file}"),
        };
        match self {
            Location::Url(url) => Location::Url(join(url)),
            Location::Context(dir) => Location::Context(join(dir)),
            Location::Named { context, path } => Location::Named {
                context: context.clone(),
                path: join(path),
            },
            Location::Built(dir) => Location::Built(join(dir)),
        }
    }

    /// The named context this location reads, if it is in one.
    pub fn named_context(&self) -> Option<&str> {
        match self {
            Location::Named { context, .. } => Some(context),
            _ => None,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Url(url) => f.write_str(url),
            Location::Context(path) => write!(f, "./{path}"),
            Location::Named { context, path } => {
                write!(f, "{NAMED_CONTEXT_SCHEME}{context}")?;
                match path.as_str() {
                    "" => Ok(()),
                    path => write!(f, "/{path}"),
                }
            }
            Location::Built(path) => write!(f, "{IN_SOLVE_REPOSITORY}/{path}"),
        }
    }
}

/// A named context as repositories and keys may name it: letters, digits,
/// `.`, `_`, `-` (no `/` or `:`, so the path after it is unambiguous).
fn check_context_name(name: &str) -> Result<(), String> {
    let valid = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || !valid || name.starts_with('.') {
        return Err(format!(
            "{name:?} is not a named context name usable here (letters, digits, '.', '_', '-'; \
             written context://NAME/PATH)"
        ));
    }
    Ok(())
}

/// `path` normalized (no `.` or empty parts), refused if it climbs out
/// with `..`; `text` is the whole location, for the message.
fn relative_path(text: &str, path: &str) -> Result<String, String> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(format!("{text:?}: leaves its context (`..`)"));
    }
    Ok(parts.join("/"))
}

/// One package to install, as resolution chose it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallPackage {
    /// `P:`.
    pub name: String,
    /// `V:`.
    pub version: String,
    /// `C:` of the index record: the helper checks the file against it.
    pub checksum: String,
    /// Tag of its repository (recorded as `s:` in the installed database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Where its file is: `<repo>/<arch>/<name>-<version>.apk`.
    pub source: Location,
    /// Its folders that another package ships as a link (`bin` beside
    /// `bin -> usr/bin`): left out of its layer, since a merge cannot lay a
    /// folder over a link, and installed through the link by the finish
    /// step. Found by the gateway from the unpacked packages' records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leave_out: Vec<String>,
}

impl InstallPackage {
    /// The package resolution picked from `index`: its file is
    /// `<repository>/<arch>/<name>-<version>.apk`. Shared by the gateway and
    /// the `plan`/`resolve` subcommands.
    pub fn selected(
        arch: &str,
        index: &OpenedIndex,
        record: &IndexRecord,
        tag: Option<String>,
    ) -> Result<Self, String> {
        let file = RepositoryRef::package_path(arch, &record.name, &record.version);
        let source = match index.trust {
            Trust::Built => Location::Built(file),
            _ => Location::parse(&index.repository.location)
                .map_err(|m| format!("repository {}: {m}", index.repository))?
                .join(&file),
        };
        Ok(InstallPackage {
            name: record.name.clone(),
            version: record.version.clone(),
            checksum: record.checksum.clone(),
            tag,
            source,
            leave_out: Vec::new(),
        })
    }

    /// `name-version`.
    pub fn id(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// The package's file name.
    pub fn file_name(&self) -> String {
        format!("{}.apk", self.id())
    }
}

/// A key of the keyring, installed at `/etc/apk/keys/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    /// File name (the name signatures refer to).
    pub name: String,
    /// PEM text.
    pub pem: String,
}

/// The result of reading, verifying and resolving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installation {
    /// Packages in install order.
    pub packages: Vec<InstallPackage>,
    /// The keyring.
    pub keys: Vec<KeyFile>,
    /// Indexes used without a verified signature (explicitly allowed),
    /// with what the check found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub untrusted: Vec<String>,
    /// Names no repository provides, left to the base image (test
    /// environments only, see [`crate::apk::insolve::drop_unprovided`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_to_image: Vec<String>,
}

/// The environment to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentPlan {
    /// apk arch (`x86_64`, `aarch64`, …).
    pub arch: String,
    /// Repositories in priority order.
    pub repositories: Vec<RepositoryRef>,
    /// Public key locations.
    pub keyring: Vec<String>,
    /// World atoms, in the order given, unique.
    pub world: Vec<String>,
    /// Whether untrusted indexes were explicitly allowed.
    pub allow_untrusted: bool,
    /// `/etc/passwd` accounts (root and build first).
    pub users: Vec<Account>,
    /// `/etc/group` groups (root and build first).
    pub groups: Vec<AccountGroup>,
    /// Filled after resolution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installation: Option<Installation>,
}

impl EnvironmentPlan {
    /// The named contexts the repositories and keys read, sorted, unique.
    pub fn named_contexts(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .repositories
            .iter()
            .map(|r| r.location.as_str())
            .chain(self.keyring.iter().map(String::as_str))
            .filter_map(|text| Some(Location::parse(text).ok()?.named_context()?.to_string()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Whether the resolution includes a package called `busybox`, whose
    /// applet links are then made (apko's behaviour).
    pub fn installs_busybox(&self) -> bool {
        self.installation
            .as_ref()
            .is_some_and(|i| i.packages.iter().any(|p| p.name == "busybox"))
    }
}

/// What the last installation step (in the helper) needs: written as JSON
/// into a file the step mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishSpec {
    /// `etc/apk/arch`.
    pub arch: String,
    /// `etc/apk/world`.
    pub world: Vec<String>,
    /// `etc/apk/repositories` lines (URL repositories; context folders do
    /// not exist inside the environment).
    pub repositories: Vec<String>,
    /// `etc/apk/keys/*`.
    pub keys: Vec<KeyFile>,
    /// The installed packages' `name-version`, in install order: their
    /// installed-database records are concatenated in this order.
    pub packages: Vec<String>,
    /// Accounts.
    pub users: Vec<Account>,
    /// Groups.
    pub groups: Vec<AccountGroup>,
}

/// Whether any repository is configured, in the build file or by
/// build-arg: only then is anything installed.
pub fn repositories_configured(config: &Config, options: &BuildOptions) -> bool {
    !config.environment.repositories.is_empty()
        || !list_arg(options.build_args.get(REPOSITORIES_ARG)).is_empty()
}

/// The environment to install, or None when no repository is configured
/// or the world is empty. `packages` is the plan's package list (contents
/// and needs).
pub fn plan(
    config: &Config,
    options: &BuildOptions,
    packages: &[String],
    arch: &str,
) -> LResult<Option<EnvironmentPlan>> {
    if !repositories_configured(config, options) {
        return Ok(None);
    }
    let mut world: Vec<String> = Vec::new();
    for atom in packages
        .iter()
        .cloned()
        .chain(list_arg(options.build_args.get(PACKAGES_ARG)))
    {
        if !world.contains(&atom) {
            world.push(atom);
        }
    }
    // Locations are checked even when nothing is to be installed.
    let plan = assemble(&config.environment, options, world, arch)?;
    Ok((!plan.world.is_empty()).then_some(plan))
}

/// A test's environment (`test.environment`, melange's `melange test`):
/// its own repositories and keys plus the build-args' (the in-solve
/// repository of the packages under test comes first, added by the
/// gateway), its own accounts, and `world` as given. Planned even when no
/// repository is configured: the packages under test are installed from
/// the in-solve repository.
pub fn test_environment(
    env: &Environment,
    options: &BuildOptions,
    world: Vec<String>,
    arch: &str,
) -> LResult<EnvironmentPlan> {
    assemble(env, options, world, arch)
}

/// Repositories, keys, trust and accounts of `env` and the build-args,
/// around `world`.
fn assemble(
    env: &Environment,
    options: &BuildOptions,
    world: Vec<String>,
    arch: &str,
) -> LResult<EnvironmentPlan> {
    let mut repositories = Vec::new();
    for text in &env.repositories {
        let repository =
            RepositoryRef::parse(&text.value).map_err(|m| Located::new(text.pos, m))?;
        check_location(&repository.location, Role::Repository, options)
            .map_err(|m| Located::new(text.pos, m))?;
        repositories.push(repository);
    }
    for text in repository_args(options.build_args.get(REPOSITORIES_ARG)) {
        let repository = RepositoryRef::parse(&text)
            .and_then(|r| check_location(&r.location, Role::Repository, options).map(|()| r))
            .map_err(|m| arg_error(REPOSITORIES_ARG, m))?;
        repositories.push(repository);
    }
    let mut keyring: Vec<String> = Vec::new();
    for text in &env.keyring {
        check_location(&text.value, Role::Key, options).map_err(|m| Located::new(text.pos, m))?;
        keyring.push(text.value.clone());
    }
    for text in list_arg(options.build_args.get(KEYRING_ARG)) {
        check_location(&text, Role::Key, options).map_err(|m| arg_error(KEYRING_ARG, m))?;
        keyring.push(text);
    }
    let allow_untrusted = match options
        .build_args
        .get(ALLOW_UNTRUSTED_ARG)
        .map(|s| s.trim())
    {
        None | Some("" | "0" | "false") => false,
        Some("1" | "true") => true,
        Some(other) => {
            return Err(arg_error(
                ALLOW_UNTRUSTED_ARG,
                format!("expected 1 or true (or 0, false), got {other:?}"),
            ))
        }
    };
    Ok(EnvironmentPlan {
        arch: arch.to_string(),
        repositories,
        keyring,
        world,
        allow_untrusted,
        users: users(&env.users)?,
        groups: groups(&env.groups)?,
        installation: None,
    })
}

/// What a location is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Repository,
    Key,
}

/// A location must parse, a key must name a file, and a named context
/// must have been given by the client.
fn check_location(text: &str, role: Role, options: &BuildOptions) -> Result<(), String> {
    let location = Location::parse(text)?;
    if let Location::Named { context, path } = &location {
        if role == Role::Key && path.is_empty() {
            return Err(format!(
                "{text:?}: names the whole context {context:?}; give the key file's path in it \
                 ({NAMED_CONTEXT_SCHEME}{context}/melange.rsa.pub)"
            ));
        }
        if !options.named_contexts.contains_key(context) {
            return Err(format!(
                "{text:?}: no named context {context:?} was given (docker buildx build \
                 --build-context {context}=DIR, or buildctl --local {context}=DIR \
                 --opt context:{context}=local:{context})"
            ));
        }
    }
    Ok(())
}

fn arg_error(arg: &str, message: String) -> Located {
    Located::new(Default::default(), format!("build-arg {arg}: {message}"))
}

/// Repository build-arg items: `@tag` joins the location after it.
fn repository_args(value: Option<&String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending_tag: Option<String> = None;
    for item in list_arg(value) {
        if item.starts_with('@') && pending_tag.is_none() {
            pending_tag = Some(item);
        } else if let Some(tag) = pending_tag.take() {
            out.push(format!("{tag} {item}"));
        } else {
            out.push(item);
        }
    }
    out.extend(pending_tag);
    out
}

/// The name a key is installed under.
pub fn key_name(location: &str) -> &str {
    key_file_name(location)
}

#[cfg(test)]
#[path = "environment_tests.rs"]
mod tests;
