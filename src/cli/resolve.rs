//! `resolve`: the environment resolver on the host, offline, over local
//! repository folders and index files, with the same code the frontend
//! runs ([`crate::apk::repository`]): prints the install order, one
//! `name-version` per line, or apk's explanation of why the world cannot
//! be installed.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::apk::repository::{self, OpenedIndex, RepositoryRef, Trust};
use crate::apk::Keyring;

/// Arguments of `resolve`.
#[derive(Args, Debug)]
pub struct ResolveArgs {
    /// A repository: a folder holding `<arch>/APKINDEX.tar.gz` (or an
    /// `APKINDEX.tar.gz` directly), or an index file; `@tag LOCATION` pins
    /// it as apk does. Repeatable, in priority order.
    #[arg(
        long = "repository",
        short = 'X',
        value_name = "DIR|FILE",
        required = true
    )]
    pub repositories: Vec<String>,
    /// A public key (PEM), known by its file name as in /etc/apk/keys, or a
    /// folder of them. Repeatable.
    #[arg(long = "keyring", value_name = "FILE")]
    pub keyring: Vec<PathBuf>,
    /// Use indexes whose signature is missing or does not verify (warned).
    #[arg(long)]
    pub allow_untrusted: bool,
    /// Architecture of the packages (x86_64, aarch64, …).
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// The world: package atoms (`name`, `name>=1.2`, `name@tag`, `!name`,
    /// `so:libc.so.6`, …).
    #[arg(required = true, value_name = "PKG")]
    pub packages: Vec<String>,
}

/// What `resolve` found: warnings (stderr) and the install order or why
/// there is none.
#[derive(Debug)]
pub struct Resolved {
    /// Warnings for untrusted indexes and dropped records, printed first
    /// whatever the outcome.
    pub warnings: Vec<String>,
    /// `name-version` lines in install order (stdout), or the message to
    /// print: apk's explanation for an unsatisfiable world, else which
    /// repository or key failed and why.
    pub outcome: Result<String, String>,
}

/// Run `resolve`.
pub fn resolve_command(args: &ResolveArgs) -> Resolved {
    let mut warnings = Vec::new();
    let outcome = run(args, &mut warnings);
    Resolved { warnings, outcome }
}

fn run(args: &ResolveArgs, warnings: &mut Vec<String>) -> Result<String, String> {
    let keys = read_keyring(&args.keyring)?;
    let mut indexes: Vec<OpenedIndex> = Vec::new();
    for text in &args.repositories {
        let repository = RepositoryRef::parse(text)?;
        if repository.is_url() {
            return Err(format!(
                "repository {repository}: `resolve` works offline; give a local folder or index file \
                 (the frontend fetches http(s) repositories inside the build)"
            ));
        }
        let file = index_file(Path::new(&repository.location), &args.arch)?;
        let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let shown = file.display().to_string();
        let opened = repository::open_index(
            &repository,
            &shown,
            &bytes,
            &keys,
            args.allow_untrusted,
            &args.arch,
        )
        .map_err(|e| e.to_string())?;
        if let Trust::Untrusted { reason } = &opened.trust {
            warnings.push(format!(
                "WARNING: repository {repository}: using it UNTRUSTED (--allow-untrusted): {reason}"
            ));
        }
        if opened.other_arch > 0 {
            warnings.push(format!(
                "repository {repository}: {} records for another arch than {} left out",
                opened.other_arch, args.arch
            ));
        }
        indexes.push(opened);
    }
    let resolution =
        repository::resolve_world(&indexes, &args.packages).map_err(|e| e.to_string())?;
    Ok(resolution
        .packages
        .iter()
        .map(|p| format!("{}-{}\n", p.name, p.version))
        .collect())
}

/// `DIR/<arch>/APKINDEX.tar.gz`, else `DIR/APKINDEX.tar.gz`, else the file.
fn index_file(location: &Path, arch: &str) -> Result<PathBuf, String> {
    if location.is_file() {
        return Ok(location.to_path_buf());
    }
    if !location.is_dir() {
        return Err(format!(
            "repository {}: no such folder or file",
            location.display()
        ));
    }
    let candidates = [
        location.join(RepositoryRef::index_path(arch)),
        location.join("APKINDEX.tar.gz"),
    ];
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "repository {}: no {} (nor APKINDEX.tar.gz) in it",
                location.display(),
                RepositoryRef::index_path(arch)
            )
        })
}

/// Key files by file name; a folder adds every public key in it.
fn read_keyring(paths: &[PathBuf]) -> Result<Keyring, String> {
    let mut keys = Keyring::new();
    for path in paths {
        if path.is_dir() {
            let found = Keyring::from_dir(path).map_err(|e| e.to_string())?;
            for name in found.names() {
                if let Some(key) = found.get(name) {
                    keys.add_key(name, key.clone());
                }
            }
            continue;
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = repository::key_file_name(&path.to_string_lossy()).to_string();
        keys.add_pem(&name, &text).map_err(|e| e.to_string())?;
    }
    Ok(keys)
}

/// The installation of a planned environment, read from the build
/// context folder `base` and the named contexts that are directories
/// (`named`: name → value as the client sends it, `local:DIR`) — the host
/// `plan`'s counterpart of the gateway: local repositories and keys only.
pub fn install_offline(
    base: &Path,
    named: &std::collections::BTreeMap<String, String>,
    env: &crate::plan::EnvironmentPlan,
) -> Result<crate::plan::environment::Installation, String> {
    use crate::plan::environment::{key_name, InstallPackage, Installation, KeyFile, Location};
    let context_path = |location: &str| {
        match Location::parse(location)? {
        Location::Context(path) => Ok(base.join(path)),
        Location::Named { context, path } => {
            let value = named
                .get(&context)
                .ok_or_else(|| format!("{location}: no named context {context:?} was given"))?;
            let dir = value.strip_prefix("local:").ok_or_else(|| {
                format!("{location}: `plan` reads named contexts that are directories only")
            })?;
            Ok(Path::new(dir).join(path))
        }
        Location::Url(url) => Err(format!(
            "{url}: http(s) repositories and keys are fetched inside a build; `plan` reads local ones only"
        )),
        built @ Location::Built(_) => Err(format!("{built}: exists only inside a build")),
    }
    };
    let mut keys = Keyring::new();
    let mut key_files = Vec::new();
    for location in &env.keyring {
        let path = context_path(location)?;
        let pem = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = key_name(location).to_string();
        keys.add_pem(&name, &pem).map_err(|e| e.to_string())?;
        key_files.push(KeyFile { name, pem });
    }
    let index_path = RepositoryRef::index_path(&env.arch);
    let mut indexes = Vec::new();
    let mut untrusted = Vec::new();
    for repository in &env.repositories {
        let path = context_path(&repository.location)?.join(&index_path);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let opened = repository::open_index(
            repository,
            &index_path,
            &bytes,
            &keys,
            env.allow_untrusted,
            &env.arch,
        )
        .map_err(|e| e.to_string())?;
        if let Trust::Untrusted { reason } = &opened.trust {
            untrusted.push(format!("repository {repository}: {reason}"));
        }
        indexes.push(opened);
    }
    let resolution = repository::resolve_world(&indexes, &env.world).map_err(|e| e.to_string())?;
    let mut packages = Vec::new();
    for selected in &resolution.packages {
        let Some((index, record)) = indexes
            .get(selected.repository)
            .and_then(|index| Some((index, index.records.get(selected.record)?)))
        else {
            return Err("resolution names an unknown index record".into());
        };
        packages.push(InstallPackage::selected(
            &env.arch,
            index,
            record,
            selected.tag.clone(),
        )?);
    }
    Ok(Installation {
        packages,
        keys: key_files,
        untrusted,
        left_to_image: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn fixture(rel: &str) -> String {
        format!("{}/../shared/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))
    }

    fn run_cli(args: &[&str]) -> Resolved {
        let mut argv = vec!["melange-frontend", "resolve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Resolve(args) => resolve_command(&args),
            other => panic!("{other:?}"),
        }
    }

    /// The host `plan`'s installation reads named contexts that are
    /// directories (`local:DIR`), as the gateway reads them in a build.
    #[test]
    fn offline_installation_from_named_contexts() {
        use crate::plan::environment::Location;
        let env = crate::plan::EnvironmentPlan {
            arch: "x86_64".into(),
            repositories: vec![RepositoryRef::parse("context://repo").unwrap()],
            keyring: vec!["context://keys/melange.rsa.pub".into()],
            world: vec!["replayout".into()],
            allow_untrusted: false,
            users: Vec::new(),
            groups: Vec::new(),
            installation: None,
        };
        let named = [
            (
                "repo".to_string(),
                format!("local:{}", fixture("apko/packages")),
            ),
            ("keys".to_string(), format!("local:{}", fixture("apko"))),
        ]
        .into();
        let installation = install_offline(Path::new("/nonexistent"), &named, &env).unwrap();
        let sources: Vec<String> = installation
            .packages
            .iter()
            .map(|p| p.source.to_string())
            .collect();
        assert_eq!(
            sources,
            [
                "context://repo/x86_64/pretend-baselayout-1.0.0-r0.apk",
                "context://repo/x86_64/replayout-1.0.0-r0.apk"
            ]
        );
        assert!(matches!(
            &installation.packages[0].source,
            Location::Named { context, .. } if context == "repo"
        ));
        assert_eq!(installation.keys[0].name, "melange.rsa.pub");
        let image = [("repo".to_string(), "docker-image://repo:1".to_string())].into();
        let err = install_offline(Path::new("/nonexistent"), &image, &env).unwrap_err();
        assert!(err.contains("no named context \"keys\""), "{err}");
        let image = [
            ("repo".to_string(), "docker-image://repo:1".to_string()),
            ("keys".to_string(), format!("local:{}", fixture("apko"))),
        ]
        .into();
        let err = install_offline(Path::new("/nonexistent"), &image, &env).unwrap_err();
        assert!(err.contains("directories only"), "{err}");
    }

    #[test]
    fn install_order_from_a_signed_folder() {
        let repo = fixture("apko/packages");
        let key = fixture("apko/melange.rsa.pub");
        let resolved = run_cli(&[
            "--repository",
            &repo,
            "--keyring",
            &key,
            "replayout",
            "custom-ca-certs-1",
        ]);
        assert!(resolved.warnings.is_empty(), "{:?}", resolved.warnings);
        assert_eq!(
            resolved.outcome.unwrap(),
            "custom-ca-certs-1-1.0.0-r0\npretend-baselayout-1.0.0-r0\nreplayout-1.0.0-r0\n"
        );
    }

    #[test]
    fn index_file_and_key_folder() {
        let index = fixture("apko/private_packages/x86_64/APKINDEX.tar.gz");
        let keys = fixture("apko/private_packages");
        // package-x depends on pretend-baselayout, from the other repository.
        let resolved = run_cli(&["-X", &index, "--keyring", &keys, "package-x"]);
        let err = resolved.outcome.unwrap_err();
        assert!(
            err.contains("required by: package-x-1.0.0-r0[pretend-baselayout]"),
            "{err}"
        );
        let (repo, key) = (fixture("apko/packages"), fixture("apko/melange.rsa.pub"));
        let resolved = run_cli(&[
            "-X",
            &index,
            "-X",
            &repo,
            "--keyring",
            &keys,
            "--keyring",
            &key,
            "package-x",
        ]);
        assert_eq!(
            resolved.outcome.unwrap(),
            "pretend-baselayout-1.0.0-r0\npackage-x-1.0.0-r0\n"
        );
    }

    #[test]
    fn missing_and_wrong_keys_fail_with_the_reason() {
        let repo = fixture("apko/packages");
        let resolved = run_cli(&["-X", &repo, "busybox"]);
        let err = resolved.outcome.unwrap_err();
        assert!(
            err.contains(
                "signed by key melange.rsa.pub, which is not in the keyring (the keyring is empty)"
            ),
            "{err}"
        );

        let dir = std::env::temp_dir().join(format!("mf-resolve-wrong-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wrong = dir.join("melange.rsa.pub");
        std::fs::copy(fixture("apko/rsa256-signed/test-rsa256.rsa.pub"), &wrong).unwrap();
        let resolved = run_cli(&[
            "-X",
            &repo,
            "--keyring",
            &wrong.to_string_lossy(),
            "replayout",
        ]);
        let err = resolved.outcome.unwrap_err();
        assert!(err.contains("BAD signature"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();

        // Explicitly allowed: resolves, with a warning saying what was skipped.
        let resolved = run_cli(&["-X", &repo, "--allow-untrusted", "replayout"]);
        assert!(resolved.outcome.is_ok());
        assert!(
            resolved.warnings[0].starts_with("WARNING: repository"),
            "{:?}",
            resolved.warnings
        );
    }

    #[test]
    fn tagged_repositories_serve_only_tagged_atoms() {
        let tagged = format!("@private {}", fixture("apko/private_packages"));
        let (repo, keys) = (fixture("apko/packages"), fixture("apko/private_packages"));
        let key = fixture("apko/melange.rsa.pub");
        let args = [
            "-X",
            &repo,
            "-X",
            &tagged,
            "--keyring",
            &keys,
            "--keyring",
            &key,
        ];
        let mut plain = args.to_vec();
        plain.push("package-x");
        let err = run_cli(&plain).outcome.unwrap_err();
        assert!(err.contains("package-x-1.0.0-r0:"), "{err}");
        assert!(err.contains("masked in: @private"), "{err}");
        let mut pinned = args.to_vec();
        pinned.push("package-x@private");
        assert_eq!(
            run_cli(&pinned).outcome.unwrap(),
            "pretend-baselayout-1.0.0-r0\npackage-x-1.0.0-r0\n"
        );
    }

    #[test]
    fn unsatisfiable_world_prints_apks_explanation() {
        let repo = fixture("apko/packages");
        let key = fixture("apko/melange.rsa.pub");
        let resolved = run_cli(&["-X", &repo, "--keyring", &key, "replayout>2"]);
        let err = resolved.outcome.unwrap_err();
        assert!(err.starts_with("unable to select packages:\n"), "{err}");
        assert!(err.contains("breaks: world[replayout>2]"), "{err}");
    }

    #[test]
    fn urls_and_missing_folders_are_refused() {
        let err = run_cli(&["-X", "https://example.org/os", "x"])
            .outcome
            .unwrap_err();
        assert!(err.contains("works offline"), "{err}");
        let err = run_cli(&["-X", "/nonexistent/repo", "x"])
            .outcome
            .unwrap_err();
        assert_eq!(err, "repository /nonexistent/repo: no such folder or file");
        let repo = fixture("apko");
        let err = run_cli(&["-X", &repo, "x"]).outcome.unwrap_err();
        assert!(
            err.contains("no x86_64/APKINDEX.tar.gz (nor APKINDEX.tar.gz) in it"),
            "{err}"
        );
    }
}
