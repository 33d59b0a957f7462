//! The melange build file as this slice of the language understands it.
//! Every user-written string keeps its position for later error messages.

use std::collections::BTreeMap;

use super::error::Pos;

/// A string from the file with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Text {
    /// The raw scalar text.
    pub value: String,
    /// Where it was written.
    #[serde(skip)]
    pub pos: Pos,
}

impl Text {
    /// A text with a position.
    pub fn new(value: impl Into<String>, pos: Pos) -> Self {
        Text {
            value: value.into(),
            pos,
        }
    }
}

/// A whole build file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// The main package.
    pub package: Package,
    /// The build environment.
    pub environment: Environment,
    /// The main package's build steps.
    pub pipeline: Vec<Step>,
    /// Further packages split out of the same build.
    pub subpackages: Vec<Subpackage>,
    /// `vars:`, in file order.
    pub vars: Vec<(Text, Text)>,
    /// `var-transforms:`, applied in order.
    pub var_transforms: Vec<VarTransform>,
    /// `data:`: named item sets that ranged subpackages expand over.
    pub data: Vec<DataSet>,
    /// Build options declared under top-level `options:`, in file order.
    pub build_options: Vec<BuildOption>,
    /// `test:`: how to test the main package once built.
    pub test: Option<TestSection>,
    /// `capabilities:` the build steps need beyond the defaults.
    pub capabilities: Capabilities,
}

/// `capabilities:`: Linux capabilities to add to or drop from the steps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Capabilities {
    /// `add:` entries (e.g. `CAP_NET_ADMIN`).
    pub add: Vec<Text>,
    /// `drop:` entries.
    pub drop: Vec<Text>,
}

/// One top-level `options:` entry, applied when the user enables it
/// (melange's `--build-option`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildOption {
    /// The option's name.
    pub name: Text,
    /// `vars:` it sets (overriding the file's).
    pub vars: Vec<(Text, Text)>,
    /// `environment.contents.packages.add`.
    pub add: Vec<Text>,
    /// `environment.contents.packages.remove`.
    pub remove: Vec<Text>,
}

/// One `var-transforms:` entry: `to` = `from` with `match` replaced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VarTransform {
    /// Text to transform (may use `${{package.*}}` and earlier vars).
    pub from: Text,
    /// RE2 regular expression.
    pub pattern: Text,
    /// Replacement, with `$1` / `${1}` group references.
    pub replace: Text,
    /// Variable to define (`vars.<to>`).
    pub to: Text,
}

/// One `data:` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataSet {
    /// Name that `range:` refers to.
    pub name: Text,
    /// `key: value` items in file order (expansion sorts them by key).
    pub items: Vec<(Text, Text)>,
}

/// `package:`: identity of the main package.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Package {
    /// Package name.
    pub name: Text,
    /// Upstream version, raw text.
    pub version: Text,
    /// Release number (`-r<epoch>`), validated numeric.
    pub epoch: Text,
    /// One-line description.
    pub description: Text,
    /// `url`: the project's home page.
    pub url: Text,
    /// `commit`: the VCS commit the package is built from.
    pub commit: Text,
    /// `copyright[].license`, one per entry, in file order.
    pub licenses: Vec<Text>,
    /// `dependencies:` written by hand.
    pub dependencies: Dependencies,
    /// `scriptlets:`.
    pub scriptlets: Scriptlets,
    /// `options:` that switch off automatic dependencies.
    pub options: PackageOptions,
}

/// `dependencies:` of a package or subpackage: what goes into `.PKGINFO`
/// besides the automatically found entries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dependencies {
    /// `runtime`: `depend =` lines.
    pub runtime: Vec<Text>,
    /// `provides`.
    pub provides: Vec<Text>,
    /// `replaces`.
    pub replaces: Vec<Text>,
    /// `provider-priority`, validated numeric.
    pub provider_priority: Option<Text>,
    /// `replaces-priority`, validated numeric.
    pub replaces_priority: Option<Text>,
}

/// `scriptlets:`: shell scripts apk runs around installation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scriptlets {
    /// By melange key (`pre-install`, …, not `trigger`), in file order.
    pub scripts: Vec<(String, Text)>,
    /// `trigger.script`.
    pub trigger_script: Option<Text>,
    /// `trigger.paths`: directories whose changes run the trigger.
    pub trigger_paths: Vec<Text>,
}

/// `options:` of a package: automatic dependency generation switches (for
/// the dependency scanner; raw text, `true` switches off).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PackageOptions {
    /// `no-provides`.
    pub no_provides: bool,
    /// `no-depends`.
    pub no_depends: bool,
    /// `no-commands`.
    pub no_commands: bool,
    /// `no-versioned-shlib-deps`.
    pub no_versioned_shlib_deps: bool,
}

/// `environment:`: the build environment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Environment {
    /// `environment.environment`: variables for every step.
    pub env: BTreeMap<String, Text>,
    /// `environment.contents.packages` (not installed by this version; the
    /// environment comes from a base image).
    pub packages: Vec<Text>,
    /// `environment.accounts.run-as`, if given.
    pub run_as: Option<Text>,
    /// `environment.contents.repositories` (`URL`, `DIR` or `@tag URL`).
    pub repositories: Vec<Text>,
    /// `environment.contents.keyring`: public keys (URLs or context paths).
    pub keyring: Vec<Text>,
    /// `environment.accounts.users`, written to `/etc/passwd`.
    pub users: Vec<User>,
    /// `environment.accounts.groups`, written to `/etc/group`.
    pub groups: Vec<Group>,
}

/// One `environment.accounts.users` entry (apko's fields, raw text).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct User {
    /// `username`.
    pub username: Text,
    /// `uid`.
    pub uid: Option<Text>,
    /// `gid` (the primary group).
    pub gid: Option<Text>,
    /// `shell`.
    pub shell: Option<Text>,
    /// `homedir`.
    pub homedir: Option<Text>,
}

/// One `environment.accounts.groups` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    /// `groupname`.
    pub groupname: Text,
    /// `gid`.
    pub gid: Option<Text>,
    /// `members`.
    pub members: Vec<Text>,
}

/// One pipeline step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    /// Where the step starts.
    pub pos: Pos,
    /// `name:`
    pub name: Option<Text>,
    /// `runs:` shell script.
    pub runs: Option<Text>,
    /// `working-directory:`
    pub working_directory: Option<Text>,
    /// `environment:` for this step (and its nested steps).
    pub environment: BTreeMap<String, Text>,
    /// `pipeline:` nested steps.
    pub pipeline: Vec<Step>,
    /// `uses:`: a pipeline to run in place of `runs:`.
    pub uses: Option<Text>,
    /// `with:`: inputs of the `uses:` pipeline.
    pub with: BTreeMap<String, Text>,
    /// `if:`: a condition; a false step is skipped with its nested steps.
    pub condition: Option<Text>,
    /// `needs.packages`: packages the step needs in the environment.
    pub needs: Vec<Text>,
    /// `inputs:` a pipeline file declares (meaningful at a file's top).
    pub inputs: Vec<(Text, Input)>,
    /// `assertions.required-steps`: how many nested steps must run.
    pub required_steps: Option<Text>,
}

/// One declared input of a pipeline file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Input {
    /// Value used when `with:` leaves the input out or empty.
    pub default: Option<Text>,
    /// Whether a non-empty value must result.
    pub required: bool,
}

/// One `subpackages:` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subpackage {
    /// Where the entry starts.
    pub pos: Pos,
    /// Subpackage name.
    pub name: Text,
    /// One-line description.
    pub description: Text,
    /// Steps that fill `${{targets.subpkgdir}}`.
    pub pipeline: Vec<Step>,
    /// `if:`: the subpackage exists only when true.
    pub condition: Option<Text>,
    /// `range:`: the `data:` set this entry is expanded over.
    pub range: Option<Text>,
    /// `url` (the package's when empty).
    pub url: Text,
    /// `commit` (the package's when empty).
    pub commit: Text,
    /// `dependencies:`.
    pub dependencies: Dependencies,
    /// `scriptlets:`.
    pub scriptlets: Scriptlets,
    /// `options:`.
    pub options: PackageOptions,
    /// `test:`: how to test this subpackage.
    pub test: Option<TestSection>,
}

/// A `test:` section: an environment and steps run in it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TestSection {
    /// `environment:` of the test: its contents (repositories, keyring,
    /// packages), accounts and variables, as the build's.
    pub environment: Environment,
    /// The test steps.
    pub pipeline: Vec<Step>,
}
