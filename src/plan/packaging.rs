//! The packaging step's input: everything `.PKGINFO`, the control member
//! and the index need, computed from the config at plan time so the LLB
//! carries it as one file ([`PackagingSpec`] as JSON). The in-build helper
//! (`melange-frontend build-apks`) only reads it; a change to any of it
//! changes that file and so the packaging step's cache key, and nothing
//! else does.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::error::{LResult, Located};
use crate::config::model::{Dependencies, PackageOptions, Scriptlets};
use crate::config::subst::{substitute, substitute_known, Vars};
use crate::config::{Config, Text};

use super::metadata::{self, Rule};
use super::steps::Expanded;
use super::{BuildOptions, PackageId};
use crate::apk::pkginfo::describe_char;

/// The frontend binary inside its own image (see the Dockerfile).
pub const HELPER_BINARY: &str = "/melange-frontend";
/// Hidden subcommand of the helper that writes the packages and the index.
pub const HELPER_SUBCOMMAND: &str = "build-apks";
/// Hidden subcommand of the helper that reports the signing key's fingerprint.
pub const PROBE_SUBCOMMAND: &str = "signing-key-id";
/// Where the packaging step sees the spec file's folder (read-only).
pub const SPEC_DIR: &str = "/melange-packaging";
/// The spec's file name inside [`SPEC_DIR`].
pub const SPEC_FILE: &str = "spec.json";
/// Where the packaging step sees the `melange-out` tree (read-only).
pub const TREE_DIR: &str = "/melange-out";
/// Where the packaging step writes `<arch>/*.apk` and the index: the result.
pub const PACKAGES_DIR: &str = "/packages";
/// BuildKit secret ID of the signing key (`--secret id=melange.rsa,src=…`).
pub const SIGNING_SECRET_ID: &str = "melange.rsa";
/// Where the optional signing secret is mounted in the packaging step.
pub const SIGNING_SECRET_PATH: &str = "/run/secrets/melange.rsa";
/// Build-arg naming the key in signatures (`.SIGN.RSA256.<name>.pub`).
pub const SIGNING_KEY_NAME_ARG: &str = "MELANGE_SIGNING_KEY_NAME";
/// Default key name: users install the public key as `/etc/apk/keys/melange.rsa.pub`.
pub const DEFAULT_SIGNING_KEY_NAME: &str = "melange.rsa";
/// Build-arg naming the signing key's public half in the build context
/// (default `<key name>.pub` at its root, when present; `none`: not
/// declared, the frontend then asks the secret itself with a probe).
pub const SIGNING_PUBLIC_KEY_ARG: &str = "MELANGE_SIGNING_PUBLIC_KEY";
/// The value of [`SIGNING_PUBLIC_KEY_ARG`] that declares no public key.
pub const NO_PUBLIC_KEY: &str = "none";
/// Build-arg whose value becomes `.PKGINFO`'s `maintainer` (melange's `--namespace`).
pub const NAMESPACE_ARG: &str = "MELANGE_NAMESPACE";

/// What the packaging step is given: one spec for the whole build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagingSpec {
    /// APK architecture (`x86_64`): the output folder and `.PKGINFO` `arch`.
    pub arch: String,
    /// SOURCE_DATE_EPOCH: every mtime, and `builddate` when non-zero.
    pub source_date_epoch: u64,
    /// Private key name; signatures name `<this>.pub`.
    pub signing_key_name: String,
    /// `sha256:<hex>` of the signing key's public half, as the frontend
    /// found the secret at build time; empty: unsigned. Packaging refuses
    /// a different key, and the cache key follows the key.
    pub signing_key_id: String,
    /// The context path of the declared public key whose fingerprint is
    /// `signing_key_id`; empty when the probe found the key. A declared
    /// key must be matched by the secret: packaging never runs unsigned
    /// (or with another key) under it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub signing_public_key: String,
    /// `.melange.yaml` in each control member: the build file as written
    /// (a compiled rendering is not available yet). Empty: left out.
    /// Shared with the build options' text, not copied.
    pub melange_yaml: Arc<str>,
    /// The package, then each subpackage, in build order.
    pub packages: Vec<PackageSpec>,
}

/// One `.apk` to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSpec {
    /// `pkgname`, also its folder under `melange-out`.
    pub name: String,
    /// `pkgver`: `<version>-r<epoch>`.
    pub version: String,
    /// `origin`: the main package's name.
    pub origin: String,
    /// `pkgdesc`.
    pub description: String,
    /// `url`.
    pub url: String,
    /// `commit`.
    pub commit: String,
    /// `maintainer` (from `MELANGE_NAMESPACE`), may be empty.
    pub maintainer: String,
    /// `license`, one per copyright entry of the main package.
    pub licenses: Vec<String>,
    /// `depend`, sorted and deduplicated.
    pub depends: Vec<String>,
    /// `provides`, sorted and deduplicated.
    pub provides: Vec<String>,
    /// `replaces`, sorted and deduplicated.
    pub replaces: Vec<String>,
    /// `provider_priority` (0: not written).
    pub provider_priority: u64,
    /// `replaces_priority` (0: not written).
    pub replaces_priority: u64,
    /// `triggers`: paths that run the `.trigger` scriptlet.
    pub triggers: Vec<String>,
    /// Control member scriptlets by file name (`.post-install`, …).
    pub scriptlets: BTreeMap<String, String>,
    /// Switches for automatic dependency generation (read by the scanner
    /// that adds `so:`/`cmd:`/`pc:` entries, once it exists).
    pub no_provides: bool,
    /// See [`PackageSpec::no_provides`].
    pub no_depends: bool,
    /// See [`PackageSpec::no_provides`].
    pub no_commands: bool,
}

impl PackageSpec {
    /// The file name under `<arch>/`: `<name>-<version>-r<epoch>.apk`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.apk", self.name, self.version)
    }
}

/// The packaging spec for the main package and the expanded subpackages.
pub(super) fn spec(
    config: &Config,
    package: &PackageId,
    vars: &Vars,
    subpackages: &[Expanded],
    options: &BuildOptions,
    arch: &str,
    source_date_epoch: u64,
) -> LResult<PackagingSpec> {
    let arg = |name: &str| {
        options
            .build_args
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let signing_key_name =
        signing_key_name(options).map_err(|m| Located::new(Default::default(), m))?;
    check_arch(arch)?;
    let maintainer = arg(NAMESPACE_ARG).unwrap_or_default();
    if let Some(c) = crate::apk::pkginfo::unsafe_char(&maintainer, false) {
        return Err(Located::new(
            Default::default(),
            format!(
                "build-arg {NAMESPACE_ARG} {maintainer:?} contains {} (it becomes .PKGINFO's maintainer)",
                describe_char(c)
            ),
        ));
    }
    let main = &config.package;
    let no_vars = Vars::new();
    let mut licenses = Vec::new();
    for license in &main.licenses {
        let trimmed = license.value.trim();
        let lead = license.value.len() - license.value.trim_start().len();
        metadata::check(
            license,
            &no_vars,
            trimmed,
            lead,
            "copyright license",
            Rule::Line,
        )?;
        if !trimmed.is_empty() {
            licenses.push(trimmed.to_string());
        }
    }
    let common = Common {
        version: package.full_version(),
        origin: package.name.clone(),
        maintainer,
        licenses,
    };
    let mut packages = vec![package_spec(
        &common,
        Meta {
            name: &package.name,
            description: &main.description,
            url: &main.url,
            commit: &main.commit,
            dependencies: &main.dependencies,
            scriptlets: &main.scriptlets,
            options: &main.options,
        },
        vars,
    )?];
    for sub in subpackages {
        let mut scope = vars.clone();
        scope.insert("subpkg.name".into(), sub.name.clone());
        scope.insert("context.name".into(), sub.name.clone());
        if let Some((key, value)) = &sub.range {
            scope.insert("range.key".into(), key.clone());
            scope.insert("range.value".into(), value.clone());
        }
        let source = sub.source;
        // An empty url/commit is the main package's (one source tree).
        let url = if source.url.value.is_empty() {
            &main.url
        } else {
            &source.url
        };
        let commit = if source.commit.value.is_empty() {
            &main.commit
        } else {
            &source.commit
        };
        packages.push(package_spec(
            &common,
            Meta {
                name: &sub.name,
                description: &source.description,
                url,
                commit,
                dependencies: &source.dependencies,
                scriptlets: &source.scriptlets,
                options: &source.options,
            },
            &scope,
        )?);
    }
    Ok(PackagingSpec {
        arch: arch.to_string(),
        source_date_epoch,
        signing_key_name,
        signing_key_id: String::new(),
        signing_public_key: String::new(),
        melange_yaml: options.build_file_text.clone(),
        packages,
    })
}

/// The signing key's name (`MELANGE_SIGNING_KEY_NAME`, default
/// `melange.rsa`): a file name, which signatures carry as `<name>.pub`.
pub fn signing_key_name(options: &BuildOptions) -> Result<String, String> {
    let name = options
        .build_args
        .get(SIGNING_KEY_NAME_ARG)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .unwrap_or(DEFAULT_SIGNING_KEY_NAME);
    if name.contains('/') {
        return Err(format!(
            "build-arg {SIGNING_KEY_NAME_ARG} must be a file name, got {name:?}"
        ));
    }
    if let Some(c) = crate::apk::pkginfo::unsafe_char(name, true) {
        return Err(format!(
            "build-arg {SIGNING_KEY_NAME_ARG} {name:?} contains {}",
            describe_char(c)
        ));
    }
    Ok(name.to_string())
}

/// Where a build declares its signing public key in the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeyFile {
    /// `<key name>.pub` at the context root: declared when present.
    Default(String),
    /// The [`SIGNING_PUBLIC_KEY_ARG`] path: must exist.
    Given(String),
}

impl PublicKeyFile {
    /// Its path in the build context.
    pub fn path(&self) -> &str {
        match self {
            PublicKeyFile::Default(path) | PublicKeyFile::Given(path) => path,
        }
    }
}

/// The public key file to look for, or `None` when the build-arg says
/// `none` (the signing probe then asks the secret).
pub fn public_key_file(options: &BuildOptions) -> Result<Option<PublicKeyFile>, String> {
    let given = options
        .build_args
        .get(SIGNING_PUBLIC_KEY_ARG)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty());
    let Some(value) = given else {
        let name = signing_key_name(options)?;
        return Ok(Some(PublicKeyFile::Default(format!("{name}.pub"))));
    };
    if value == NO_PUBLIC_KEY {
        return Ok(None);
    }
    let path = value.trim_start_matches("./");
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.ends_with('/')
        || path.contains(['*', '?', '[', '\\'])
        || path.split('/').any(|part| part == "..");
    if bad {
        return Err(format!(
            "build-arg {SIGNING_PUBLIC_KEY_ARG}={value}: expected a file path inside the build \
             context (or {NO_PUBLIC_KEY})"
        ));
    }
    Ok(Some(PublicKeyFile::Given(path.to_string())))
}

/// The platform's architecture names the output folder and `.PKGINFO`'s
/// `arch`: a plain word (`x86_64`, `aarch64`, `riscv64`).
fn check_arch(arch: &str) -> LResult<()> {
    if !arch.is_empty() && arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(());
    }
    Err(Located::new(
        Default::default(),
        format!(
            "platform architecture {arch:?} is not an apk architecture name (letters, digits, _)"
        ),
    ))
}

/// What every package of the build shares.
struct Common {
    version: String,
    origin: String,
    maintainer: String,
    licenses: Vec<String>,
}

/// One package's own metadata in the config.
struct Meta<'a> {
    name: &'a str,
    description: &'a Text,
    url: &'a Text,
    commit: &'a Text,
    dependencies: &'a Dependencies,
    scriptlets: &'a Scriptlets,
    options: &'a PackageOptions,
}

fn package_spec(common: &Common, meta: Meta, vars: &Vars) -> LResult<PackageSpec> {
    let list = |items: &[Text], what: &str, rule: Rule| -> LResult<Vec<String>> {
        let mut out = items
            .iter()
            .map(|t| metadata::value(t, vars, what, rule))
            .collect::<LResult<Vec<_>>>()?;
        out.retain(|s| !s.is_empty());
        out.sort();
        out.dedup();
        Ok(out)
    };
    // melange skips an empty priority and accepts any integer; a negative
    // one is written by melange but read as no priority by apk-tools (an
    // unsigned field), so none is written here (`--check` says so).
    let priority = |text: &Option<Text>, key: &str| -> LResult<u64> {
        let Some(text) = text else { return Ok(0) };
        let value = substitute(text, vars)?;
        if value.is_empty() {
            return Ok(0);
        }
        let number: i64 = value.parse().map_err(|_| {
            Located::new(
                text.pos,
                format!("dependencies.{key} must be an integer, got {value:?}"),
            )
        })?;
        Ok(u64::try_from(number).unwrap_or(0))
    };
    let deps = meta.dependencies;
    let mut scriptlets = BTreeMap::new();
    for (key, script) in &meta.scriptlets.scripts {
        scriptlets.insert(format!(".{key}"), substitute_known(script, vars)?);
    }
    let triggers = list(&meta.scriptlets.trigger_paths, "trigger path", Rule::Word)?;
    if let Some(script) = &meta.scriptlets.trigger_script {
        scriptlets.insert(".trigger".into(), substitute_known(script, vars)?);
    }
    Ok(PackageSpec {
        name: meta.name.to_string(),
        version: common.version.clone(),
        origin: common.origin.clone(),
        description: metadata::lenient_value(meta.description, vars, "description", Rule::Folded)?,
        url: metadata::lenient_value(meta.url, vars, "url", Rule::Line)?,
        commit: metadata::value(meta.commit, vars, "commit", Rule::Line)?,
        maintainer: common.maintainer.clone(),
        licenses: common.licenses.clone(),
        depends: list(&deps.runtime, "runtime dependency", Rule::Depend)?,
        provides: list(&deps.provides, "provides entry", Rule::Provide)?,
        replaces: list(&deps.replaces, "replaces entry", Rule::Depend)?,
        provider_priority: priority(&deps.provider_priority, "provider-priority")?,
        replaces_priority: priority(&deps.replaces_priority, "replaces-priority")?,
        triggers,
        scriptlets,
        no_provides: meta.options.no_provides,
        no_depends: meta.options.no_depends,
        no_commands: meta.options.no_commands,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::config;
    use crate::plan::{plan, BuildOptions, PackagingSpec, ENVIRONMENT_CONTEXT};

    fn spec(yaml: &str, args: &[(&str, &str)]) -> Result<PackagingSpec, String> {
        let options = BuildOptions {
            named_contexts: BTreeMap::from([(
                ENVIRONMENT_CONTEXT.to_string(),
                "docker-image://busybox".to_string(),
            )]),
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            build_file_text: yaml.into(),
            ..Default::default()
        };
        let config = config::load("p.yaml", yaml).map_err(|e| e.to_string())?;
        let plan = plan("p.yaml", &config, &options, &crate::plan::Library::new())
            .map_err(|e| e.to_string())?;
        Ok(plan.packaging.expect("target packages is the default"))
    }

    const RANGED: &str = r#"
package:
  name: py
  version: 1.0
  epoch: 2
  url: https://py.example
  commit: abc
  copyright: [{license: MIT}, {license: ""}, {license: BSD-3-Clause}]
  dependencies:
    provider-priority: ${{vars.prio}}
vars:
  prio: "7"
data:
  - name: versions
    items: {"3.10": ten, "3.9": nine}
subpackages:
  - range: versions
    name: py-${{range.key}}
    description: python ${{range.key}} (${{range.value}})
    commit: def
    dependencies:
      runtime:
        - python-${{range.key}}
        - "python-${{range.key}}"
        - so:libc.so.6
      replaces:
        - py-old-${{subpkg.name}}
    options: {no-depends: true}
"#;

    #[test]
    fn subpackages_get_their_own_metadata_substituted_in_their_scope() {
        let spec = spec(RANGED, &[("MELANGE_NAMESPACE", " wolfi ")]).unwrap();
        let names: Vec<&str> = spec.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["py", "py-3.10", "py-3.9"]);
        let main = &spec.packages[0];
        assert_eq!(main.version, "1.0-r2");
        assert_eq!(main.provider_priority, 7);
        assert_eq!(main.licenses, ["MIT", "BSD-3-Clause"]);
        assert_eq!(main.maintainer, "wolfi");
        let sub = &spec.packages[1];
        assert_eq!(sub.origin, "py");
        assert_eq!(sub.description, "python 3.10 (ten)");
        assert_eq!(
            sub.url, "https://py.example",
            "url falls back to the package's"
        );
        assert_eq!(sub.commit, "def");
        assert_eq!(sub.depends, ["python-3.10", "so:libc.so.6"]);
        assert_eq!(sub.replaces, ["py-old-py-3.10"]);
        assert!(sub.no_depends && !sub.no_provides);
        assert_eq!(sub.licenses, main.licenses);
        assert_eq!(spec.signing_key_name, "melange.rsa");
        assert_eq!(spec.signing_key_id, "");
        assert_eq!(&*spec.melange_yaml, RANGED);
        assert_eq!(spec.packages[2].file_name(), "py-3.9-1.0-r2.apk");
    }

    #[test]
    fn scriptlets_and_triggers_become_control_files() {
        let yaml = "package:\n  name: s\n  version: 1\n  scriptlets:\n    post-install: echo ${{package.name}}\n    trigger:\n      script: run\n      paths: [/usr/lib, /etc]\n";
        let spec = spec(yaml, &[]).unwrap();
        let package = &spec.packages[0];
        assert_eq!(
            package.scriptlets,
            BTreeMap::from([
                (".post-install".to_string(), "echo s".to_string()),
                (".trigger".to_string(), "run".to_string()),
            ])
        );
        assert_eq!(package.triggers, ["/etc", "/usr/lib"]);
    }

    #[test]
    fn bad_priorities_and_key_names_are_located_errors() {
        let yaml = "package:\n  name: s\n  version: 1\n  dependencies:\n    replaces-priority: ${{vars.p}}\nvars:\n  p: high\n";
        let err = spec(yaml, &[]).unwrap_err();
        assert_eq!(
            err,
            "p.yaml:5:24: dependencies.replaces-priority must be an integer, got \"high\""
        );
        let err = spec(
            "package: {name: s, version: 1}\n",
            &[("MELANGE_SIGNING_KEY_NAME", "keys/a.rsa")],
        )
        .unwrap_err();
        assert!(err.contains("must be a file name"), "{err}");
    }

    #[test]
    fn the_public_key_file_defaults_to_the_key_name_and_can_be_given_or_turned_off() {
        use super::{public_key_file, PublicKeyFile};
        let options = |args: &[(&str, &str)]| BuildOptions {
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let file = |args: &[(&str, &str)]| public_key_file(&options(args));
        assert_eq!(
            file(&[]).unwrap(),
            Some(PublicKeyFile::Default("melange.rsa.pub".into()))
        );
        assert_eq!(
            file(&[("MELANGE_SIGNING_KEY_NAME", "wolfi.rsa")]).unwrap(),
            Some(PublicKeyFile::Default("wolfi.rsa.pub".into()))
        );
        assert_eq!(
            file(&[("MELANGE_SIGNING_PUBLIC_KEY", " ./keys/k.pub ")]).unwrap(),
            Some(PublicKeyFile::Given("keys/k.pub".into()))
        );
        assert_eq!(
            file(&[("MELANGE_SIGNING_PUBLIC_KEY", "none")]).unwrap(),
            None
        );
        for bad in ["/etc/k.pub", "../k.pub", "keys/", "./", "keys/*.pub"] {
            let err = file(&[("MELANGE_SIGNING_PUBLIC_KEY", bad)]).unwrap_err();
            assert!(err.contains("MELANGE_SIGNING_PUBLIC_KEY"), "{err}");
        }
        assert!(file(&[("MELANGE_SIGNING_KEY_NAME", "a/b")]).is_err());
    }
}
