//! melange's YAML schema as data: which keys exist where and what shape
//! their values have. One walk over the tree checks every key in the file, so
//! an unknown or misspelt key anywhere — including in sections this version
//! only carries as metadata (`update:`, apko image keys) — is an error at its
//! line and column, with the nearest known key suggested. The typed decoder
//! (`decode`) then reads only what it needs, knowing the shapes are right.

use super::error::{LResult, Located};
use super::yaml::{Node, Value};

/// The shape a value must have.
pub enum Shape {
    /// A scalar (null allowed: it is the empty string).
    Scalar,
    /// A mapping with exactly these keys (each optional).
    Map(&'static [(&'static str, &'static Shape)]),
    /// A mapping with any keys whose values are all of one shape.
    MapOf(&'static Shape),
    /// A list whose items are all of one shape.
    List(&'static Shape),
    /// Anything (free-form metadata).
    Any,
}

use Shape::{Any, List, Map, MapOf, Scalar};

static SCALAR: Shape = Scalar;
static ANY: Shape = Any;
static SCALARS: Shape = List(&SCALAR);
static SCALAR_MAP: Shape = MapOf(&SCALAR);

/// The whole build file.
pub static ROOT: Shape = Map(&[
    ("package", &PACKAGE),
    ("environment", &ENVIRONMENT),
    ("capabilities", &CAPABILITIES),
    ("pipeline", &PIPELINE),
    ("subpackages", &SUBPACKAGES),
    ("data", &DATA),
    ("vars", &SCALAR_MAP),
    ("var-transforms", &VAR_TRANSFORMS),
    ("options", &BUILD_OPTIONS),
    ("update", &UPDATE),
    ("test", &TEST),
]);

static PACKAGE: Shape = Map(&[
    ("name", &SCALAR),
    ("version", &SCALAR),
    ("epoch", &SCALAR),
    ("description", &SCALAR),
    ("annotations", &SCALAR_MAP),
    ("url", &SCALAR),
    ("commit", &SCALAR),
    ("target-architecture", &SCALARS),
    ("copyright", &COPYRIGHTS),
    ("dependencies", &DEPENDENCIES),
    ("options", &PACKAGE_OPTIONS),
    ("scriptlets", &SCRIPTLETS),
    ("checks", &CHECKS),
    ("cpe", &CPE),
    ("setcap", &SETCAPS),
    ("timeout", &SCALAR),
    ("resources", &RESOURCES),
    ("test-resources", &RESOURCES),
]);

static COPYRIGHTS: Shape = List(&COPYRIGHT);
static COPYRIGHT: Shape = Map(&[
    ("paths", &SCALARS),
    ("attestation", &SCALAR),
    ("license", &SCALAR),
    ("license-path", &SCALAR),
    ("detection-override", &SCALAR),
]);

static DEPENDENCIES: Shape = Map(&[
    ("runtime", &SCALARS),
    ("provides", &SCALARS),
    ("replaces", &SCALARS),
    ("provider-priority", &SCALAR),
    ("replaces-priority", &SCALAR),
]);

static PACKAGE_OPTIONS: Shape = Map(&[
    ("no-provides", &SCALAR),
    ("no-depends", &SCALAR),
    ("no-commands", &SCALAR),
    ("no-versioned-shlib-deps", &SCALAR),
]);

static SCRIPTLETS: Shape = Map(&[
    ("trigger", &TRIGGER),
    ("pre-install", &SCALAR),
    ("post-install", &SCALAR),
    ("pre-deinstall", &SCALAR),
    ("post-deinstall", &SCALAR),
    ("pre-upgrade", &SCALAR),
    ("post-upgrade", &SCALAR),
]);
static TRIGGER: Shape = Map(&[("script", &SCALAR), ("paths", &SCALARS)]);

static CHECKS: Shape = Map(&[("enabled", &SCALARS), ("disabled", &SCALARS)]);

static CPE: Shape = Map(&[
    ("part", &SCALAR),
    ("vendor", &SCALAR),
    ("product", &SCALAR),
    ("edition", &SCALAR),
    ("language", &SCALAR),
    ("sw_edition", &SCALAR),
    ("target_sw", &SCALAR),
    ("target_hw", &SCALAR),
    ("other", &SCALAR),
]);

static SETCAPS: Shape = List(&SETCAP);
static SETCAP: Shape = Map(&[("path", &SCALAR), ("add", &SCALAR_MAP), ("reason", &SCALAR)]);

static RESOURCES: Shape = Map(&[
    ("cpu", &SCALAR),
    ("cpumodel", &SCALAR),
    ("memory", &SCALAR),
    ("disk", &SCALAR),
]);

/// `environment:` is an apko image configuration; melange tolerates its keys.
static ENVIRONMENT: Shape = Map(&[
    ("contents", &CONTENTS),
    ("environment", &SCALAR_MAP),
    ("accounts", &ACCOUNTS),
    ("archs", &SCALARS),
    ("paths", &PATHS),
    ("entrypoint", &ENTRYPOINT),
    ("cmd", &SCALAR),
    ("stop-signal", &SCALAR),
    ("work-dir", &SCALAR),
    ("include", &SCALAR),
    ("volumes", &SCALARS),
    ("annotations", &SCALAR_MAP),
    ("vcs-url", &SCALAR),
    ("options", &ANY),
    ("layering", &LAYERING),
    ("certificates", &CERTIFICATES),
]);

static LAYERING: Shape = Map(&[("strategy", &SCALAR), ("budget", &SCALAR)]);
static CERTIFICATES: Shape = Map(&[
    ("additional", &CERTIFICATE_ENTRIES),
    ("providers", &SCALARS),
]);
static CERTIFICATE_ENTRIES: Shape = List(&CERTIFICATE_ENTRY);
static CERTIFICATE_ENTRY: Shape = Map(&[("name", &SCALAR), ("content", &SCALAR)]);

static CONTENTS: Shape = Map(&[
    ("repositories", &SCALARS),
    ("build_repositories", &SCALARS),
    ("runtime_repositories", &SCALARS),
    ("keyring", &SCALARS),
    ("packages", &SCALARS),
    ("baseimage", &BASEIMAGE),
]);
static BASEIMAGE: Shape = Map(&[("image", &SCALAR), ("apkindex", &SCALAR)]);

static ACCOUNTS: Shape = Map(&[("run-as", &SCALAR), ("users", &USERS), ("groups", &GROUPS)]);
static USERS: Shape = List(&USER);
static USER: Shape = Map(&[
    ("username", &SCALAR),
    ("uid", &SCALAR),
    ("gid", &SCALAR),
    ("shell", &SCALAR),
    ("homedir", &SCALAR),
]);
static GROUPS: Shape = List(&GROUP);
static GROUP: Shape = Map(&[
    ("groupname", &SCALAR),
    ("gid", &SCALAR),
    ("members", &SCALARS),
]);

static PATHS: Shape = List(&PATH);
static PATH: Shape = Map(&[
    ("path", &SCALAR),
    ("type", &SCALAR),
    ("uid", &SCALAR),
    ("gid", &SCALAR),
    ("permissions", &SCALAR),
    ("source", &SCALAR),
    ("recursive", &SCALAR),
]);

static ENTRYPOINT: Shape = Map(&[
    ("type", &SCALAR),
    ("command", &SCALAR),
    ("shell-fragment", &SCALAR),
    ("services", &SCALAR_MAP),
]);

static CAPABILITIES: Shape = Map(&[("add", &SCALARS), ("drop", &SCALARS)]);

/// A list of pipeline steps (recursive through `pipeline:`).
pub static PIPELINE: Shape = List(&STEP);
static STEP: Shape = Map(&[
    ("name", &SCALAR),
    ("uses", &SCALAR),
    ("with", &SCALAR_MAP),
    ("runs", &SCALAR),
    ("pipeline", &PIPELINE),
    ("inputs", &INPUTS),
    ("needs", &NEEDS),
    ("label", &SCALAR),
    ("if", &SCALAR),
    ("assertions", &ASSERTIONS),
    ("working-directory", &SCALAR),
    ("environment", &SCALAR_MAP),
]);
/// A pipeline file (`uses:` target): a step plus a `description`, and the
/// same for its nested steps. melange ignores unknown keys in these files;
/// we accept `description` (Wolfi's pipelines document themselves with it)
/// and still reject typos.
pub static PIPELINE_FILE: Shape = Map(&[
    ("name", &SCALAR),
    ("description", &SCALAR),
    ("uses", &SCALAR),
    ("with", &SCALAR_MAP),
    ("runs", &SCALAR),
    ("pipeline", &PIPELINE_FILE_STEPS),
    ("inputs", &INPUTS),
    ("needs", &NEEDS),
    ("label", &SCALAR),
    ("if", &SCALAR),
    ("assertions", &ASSERTIONS),
    ("working-directory", &SCALAR),
    ("environment", &SCALAR_MAP),
]);
static PIPELINE_FILE_STEPS: Shape = List(&PIPELINE_FILE);
static INPUTS: Shape = MapOf(&INPUT);
static INPUT: Shape = Map(&[
    ("description", &SCALAR),
    ("default", &SCALAR),
    ("required", &SCALAR),
]);
static NEEDS: Shape = Map(&[("packages", &SCALARS)]);
static ASSERTIONS: Shape = Map(&[("required-steps", &SCALAR)]);

static SUBPACKAGES: Shape = List(&SUBPACKAGE);
static SUBPACKAGE: Shape = Map(&[
    ("if", &SCALAR),
    ("range", &SCALAR),
    ("name", &SCALAR),
    ("pipeline", &PIPELINE),
    ("dependencies", &DEPENDENCIES),
    ("options", &PACKAGE_OPTIONS),
    ("scriptlets", &SCRIPTLETS),
    ("description", &SCALAR),
    ("annotations", &SCALAR_MAP),
    ("url", &SCALAR),
    ("commit", &SCALAR),
    ("copyright", &COPYRIGHTS),
    ("checks", &CHECKS),
    ("test", &TEST),
    ("setcap", &SETCAPS),
]);

static DATA: Shape = List(&DATA_ITEM);
static DATA_ITEM: Shape = Map(&[("name", &SCALAR), ("items", &SCALAR_MAP)]);

static VAR_TRANSFORMS: Shape = List(&VAR_TRANSFORM);
static VAR_TRANSFORM: Shape = Map(&[
    ("from", &SCALAR),
    ("match", &SCALAR),
    ("replace", &SCALAR),
    ("to", &SCALAR),
]);

static BUILD_OPTIONS: Shape = MapOf(&BUILD_OPTION);
static BUILD_OPTION: Shape = Map(&[("vars", &SCALAR_MAP), ("environment", &OPTION_ENVIRONMENT)]);
static OPTION_ENVIRONMENT: Shape = Map(&[("contents", &OPTION_CONTENTS)]);
static OPTION_CONTENTS: Shape = Map(&[("packages", &OPTION_PACKAGES)]);
static OPTION_PACKAGES: Shape = Map(&[("add", &SCALARS), ("remove", &SCALARS)]);

static TEST: Shape = Map(&[("environment", &ENVIRONMENT), ("pipeline", &PIPELINE)]);

/// `update:` is metadata for melange's update bot; its keys are checked so
/// typos surface, its values are not used by builds.
static UPDATE: Shape = Map(&[
    ("enabled", &SCALAR),
    ("shared", &SCALAR),
    ("manual", &SCALAR),
    ("require-sequential", &SCALAR),
    ("release-monitor", &RELEASE_MONITOR),
    ("github", &GITHUB_MONITOR),
    ("git", &GIT_MONITOR),
    ("ignore-regex-patterns", &SCALARS),
    ("version-separator", &SCALAR),
    ("version-transform", &VERSION_TRANSFORMS),
    ("schedule", &SCHEDULE),
    ("exclude-reason", &SCALAR),
    ("ignore-live-version", &SCALAR),
    ("oci", &OCI_MONITOR),
    ("version_data", &VERSION_DATA_MONITOR),
    ("enable-prerelease-tags", &SCALAR),
]);
static OCI_MONITOR: Shape = Map(&[
    ("identifier", &SCALAR),
    ("strip-prefix", &SCALAR),
    ("strip-suffix", &SCALAR),
    ("tag-filter-prefix", &SCALAR),
    ("tag-filter-contains", &SCALAR),
]);
static VERSION_DATA_MONITOR: Shape = Map(&[
    ("version_format", &SCALAR),
    ("sources", &VERSION_DATA_SOURCES),
]);
static VERSION_DATA_SOURCES: Shape = List(&VERSION_DATA_SOURCE);
static VERSION_DATA_SOURCE: Shape = Map(&[
    ("name", &SCALAR),
    ("stream", &SCALAR),
    ("ignore", &SCALARS),
    ("commit_source", &SCALAR),
    ("use_release", &SCALAR),
]);
static RELEASE_MONITOR: Shape = Map(&[
    ("identifier", &SCALAR),
    ("strip-prefix", &SCALAR),
    ("strip-suffix", &SCALAR),
    ("version-filter", &SCALAR),
    ("version-filter-contains", &SCALAR),
    ("version-filter-prefix", &SCALAR),
]);
static GITHUB_MONITOR: Shape = Map(&[
    ("identifier", &SCALAR),
    ("strip-prefix", &SCALAR),
    ("strip-suffix", &SCALAR),
    ("use-tag", &SCALAR),
    ("tag-filter", &SCALAR),
    ("tag-filter-prefix", &SCALAR),
    ("tag-filter-contains", &SCALAR),
]);
static GIT_MONITOR: Shape = Map(&[
    ("strip-prefix", &SCALAR),
    ("strip-suffix", &SCALAR),
    ("tag-filter", &SCALAR),
    ("tag-filter-prefix", &SCALAR),
    ("tag-filter-contains", &SCALAR),
]);
static VERSION_TRANSFORMS: Shape = List(&VERSION_TRANSFORM);
static VERSION_TRANSFORM: Shape = Map(&[("match", &SCALAR), ("replace", &SCALAR)]);
static SCHEDULE: Shape = Map(&[("period", &SCALAR), ("reason", &SCALAR)]);

/// Check `node` against `shape`; `what` names the place in messages.
pub fn validate(node: &Node, shape: &Shape, what: &str) -> LResult<()> {
    match (shape, &node.value) {
        (Any, _) | (_, Value::Null) => Ok(()),
        (Scalar, Value::Scalar(_)) => Ok(()),
        (Scalar, _) => Err(wrong(node, what, "a scalar")),
        (Map(keys), Value::Map(entries)) => {
            for (key, value) in entries {
                let Some((_, inner)) = keys.iter().find(|(k, _)| *k == key.text) else {
                    let known: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
                    let hint = nearest(&key.text, &known)
                        .map(|k| format!(" (did you mean `{k}`?)"))
                        .unwrap_or_default();
                    return Err(Located::new(
                        key.pos,
                        format!("unknown key `{}` in {what}{hint}", key.text),
                    ));
                };
                validate(value, inner, &key.text)?;
            }
            Ok(())
        }
        (MapOf(inner), Value::Map(entries)) => entries
            .iter()
            .try_for_each(|(key, value)| validate(value, inner, &format!("{what}.{}", key.text))),
        (Map(_) | MapOf(_), _) => Err(wrong(node, what, "a mapping")),
        (List(inner), Value::Seq(items)) => items
            .iter()
            .try_for_each(|item| validate(item, inner, &format!("an entry of `{what}`"))),
        (List(_), _) => Err(wrong(node, what, "a list")),
    }
}

fn wrong(node: &Node, what: &str, expected: &str) -> Located {
    Located::new(
        node.pos,
        format!("`{what}` must be {expected}, found {}", node.kind()),
    )
}

/// The known key closest to a misspelt one, if it is close enough to help.
pub(crate) fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::yaml;
    use super::*;

    fn check(text: &str) -> LResult<()> {
        validate(&yaml::parse(text)?, &ROOT, "the build file")
    }

    #[test]
    fn deep_unknown_keys_are_located_with_a_suggestion() {
        let err = check("update:\n  github:\n    identifer: a/b\n").unwrap_err();
        assert_eq!((err.pos.line, err.pos.col), (3, 5));
        assert_eq!(
            err.message,
            "unknown key `identifer` in github (did you mean `identifier`?)"
        );
        let err = check("pipeline:\n  - pipeline:\n      - runz: x\n").unwrap_err();
        assert_eq!((err.pos.line, err.pos.col), (3, 9));
        assert!(
            err.message.contains("did you mean `runs`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn free_keys_and_null_values_are_accepted() {
        check("vars:\n  any-name: 1\ndata:\n  - name: x\n    items:\n      3.10: a\nenvironment:\n  contents:\n    repositories:\n").unwrap();
    }

    #[test]
    fn shapes_are_enforced() {
        let err = check("package:\n  copyright: MIT\n").unwrap_err();
        assert_eq!(err.message, "`copyright` must be a list, found a scalar");
        let err = check("pipeline:\n  - with: [a]\n").unwrap_err();
        assert_eq!(err.message, "`with` must be a mapping, found a list");
    }
}
