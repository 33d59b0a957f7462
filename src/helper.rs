//! The in-build helper role: subcommands the frontend runs *inside* the
//! build, from its own image, so that packaging needs no tool of the user's
//! build environment. `build-apks` turns the `melange-out` tree and the
//! plan's [`PackagingSpec`] into `<arch>/*.apk` and `<arch>/APKINDEX.tar.gz`,
//! signed when the signing secret is mounted. Everything it prints goes to
//! stderr, which BuildKit shows as the packaging step's log; the key itself
//! is never printed.

pub mod environment;
mod extract;
mod git;
mod layers;

pub use extract::{extract, ExtractArgs};
pub use git::{git_checkout, GitCheckoutArgs};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use crate::apk::deps::{self, ScanOptions};
use crate::apk::index::write_index;
use crate::apk::sbom::{self, Copyright, SbomInput};
use crate::apk::write::write_atomically;
use crate::apk::{write_package, IndexRecord, PackageOptions, PkgInfo, SigningKey};
use crate::plan::packaging::{
    NO_PUBLIC_KEY, SIGNING_PUBLIC_KEY_ARG, SIGNING_SECRET_ID, SIGNING_SECRET_PATH,
};
use crate::plan::{PackageSpec, PackagingSpec};

/// Arguments of `build-apks` (set by the LLB the frontend emits).
#[derive(Args, Debug)]
pub struct BuildApksArgs {
    /// The packaging spec (JSON) the plan computed.
    #[arg(long)]
    pub spec: PathBuf,
    /// The `melange-out` tree: one folder per package.
    #[arg(long)]
    pub tree: PathBuf,
    /// Output folder; packages go to `<out>/<arch>/`.
    #[arg(long)]
    pub out: PathBuf,
    /// Private key (PEM); a missing file means an unsigned build.
    #[arg(long, default_value = SIGNING_SECRET_PATH)]
    pub signing_key: PathBuf,
}

/// Arguments of `signing-key-id`.
#[derive(Args, Debug)]
pub struct SigningKeyIdArgs {
    /// Private key (PEM); a missing file means no key.
    #[arg(long, default_value = SIGNING_SECRET_PATH)]
    pub signing_key: PathBuf,
    /// Where to write the answer.
    #[arg(long)]
    pub out: PathBuf,
}

/// Run `signing-key-id`: write [`key_id`] of the secret's key, or `none`.
/// A secret that is not a usable key fails here, before anything is built.
pub fn signing_key_id(args: &SigningKeyIdArgs) -> Result<String, String> {
    let key = signing_key(&args.signing_key, "probe")?;
    let answer = key.as_ref().map(key_id).unwrap_or_else(|| "none".into());
    std::fs::write(&args.out, format!("{answer}\n"))
        .map_err(|e| format!("{}: {e}", args.out.display()))?;
    Ok(match key {
        Some(_) => format!("secret {SIGNING_SECRET_ID}: RSA key {answer}"),
        None => format!("no {SIGNING_SECRET_ID} secret: the packages will be unsigned"),
    })
}

/// `sha256:<hex>` of the key's public half ([`crate::apk::sign::public_key_id`]).
pub fn key_id(key: &SigningKey) -> String {
    crate::apk::sign::public_key_id(&key.public_key())
}

/// The answer file of `signing-key-id`: `Some(id)`, or `None` for `none`.
pub fn parse_key_id(answer: &str) -> Result<Option<String>, String> {
    match answer.trim() {
        "none" => Ok(None),
        id if id.starts_with("sha256:") && id.len() == 7 + 64 => Ok(Some(id.to_string())),
        other => Err(format!("unexpected signing key probe answer {other:?}")),
    }
}

/// Run `build-apks`: a summary of what was written, or why it failed.
pub fn build_apks(args: &BuildApksArgs) -> Result<String, String> {
    let started = Instant::now();
    let text =
        std::fs::read_to_string(&args.spec).map_err(|e| format!("{}: {e}", args.spec.display()))?;
    let spec: PackagingSpec = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a packaging spec: {e}", args.spec.display()))?;
    // The plan checked every value at its YAML position; refuse again here
    // whatever made the spec, before anything is written.
    crate::plan::metadata::check_spec(&spec)
        .map_err(|e| format!("{}: {e}", args.spec.display()))?;
    let key = signing_key(&args.signing_key, &spec.signing_key_name)?;
    check_key(&spec, &key.as_ref().map(key_id).unwrap_or_default())?;
    match &key {
        Some(key) => eprintln!("signing packages and index with {}", key.key_name),
        None => eprintln!(
            "no `{SIGNING_SECRET_ID}` secret: packages and APKINDEX.tar.gz are UNSIGNED \
             (pass --secret id={SIGNING_SECRET_ID},src=PRIVATE_KEY to sign them)"
        ),
    }
    // Every folder first: a missing one fails before anything is written.
    for package in &spec.packages {
        if !args.tree.join(&package.name).is_dir() {
            return Err(format!(
                "package {}: its folder melange-out/{} is missing (did a step remove it?)",
                package.name, package.name
            ));
        }
    }
    let arch_dir = args.out.join(&spec.arch);
    std::fs::create_dir_all(&arch_dir).map_err(|e| format!("{}: {e}", arch_dir.display()))?;
    let mut records = Vec::with_capacity(spec.packages.len());
    let mut summary = String::new();
    for package in &spec.packages {
        let record = write_one(&spec, package, &args.tree, &arch_dir, key.as_ref())?;
        summary.push_str(&format!(
            "{}/{} ({} bytes, installed {})\n",
            spec.arch,
            package.file_name(),
            record.size,
            record.installed_size
        ));
        records.push(record);
    }
    let index = write_index(&records, "", key.as_ref()).map_err(|e| e.to_string())?;
    let index_path = arch_dir.join("APKINDEX.tar.gz");
    write_atomically(&index_path, |file| std::io::Write::write_all(file, &index))
        .map_err(|e| e.to_string())?;
    summary.push_str(&format!(
        "{}/APKINDEX.tar.gz ({} packages, {}) in {:.2}s",
        spec.arch,
        records.len(),
        match &key {
            Some(key) => format!("signed by {}", key.key_name),
            None => "unsigned".to_string(),
        },
        started.elapsed().as_secs_f64()
    ));
    Ok(summary)
}

/// Refuse a secret other than the one planned: `mounted` is its
/// fingerprint (empty: no secret). With a declared public key the message
/// names the file and says how to pass its private half.
fn check_key(spec: &PackagingSpec, mounted: &str) -> Result<(), String> {
    let planned = &spec.signing_key_id;
    if mounted == planned {
        return Ok(());
    }
    let file = &spec.signing_public_key;
    if !file.is_empty() {
        return Err(match mounted {
            "" => format!(
                "the build declares the signing public key {file} ({planned}) but no \
                 `{SIGNING_SECRET_ID}` secret was passed: pass its private half with \
                 --secret id={SIGNING_SECRET_ID},src=PRIVATE_KEY (or build unsigned with \
                 --build-arg {SIGNING_PUBLIC_KEY_ARG}={NO_PUBLIC_KEY})"
            ),
            _ => format!(
                "the `{SIGNING_SECRET_ID}` secret's public key is {mounted}, but the declared \
                 public key {file} is {planned}: pass the private key of {file}, or declare the \
                 secret's public key with --build-arg {SIGNING_PUBLIC_KEY_ARG}=PATH"
            ),
        });
    }
    let name = |id: &str| match id {
        "" => "no key".to_string(),
        id => format!("key {id}"),
    };
    Err(format!(
        "the {SIGNING_SECRET_ID} secret changed during the build: planned with {}, packaging got {}",
        name(planned),
        name(mounted)
    ))
}

/// The signing key from the secret mount, if the client passed the secret.
/// Errors name the secret, never its content.
fn signing_key(path: &Path, key_name: &str) -> Result<Option<SigningKey>, String> {
    let pem = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("secret {SIGNING_SECRET_ID}: cannot read it: {e}")),
    };
    if pem.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let pem = String::from_utf8(pem)
        .map_err(|_| format!("secret {SIGNING_SECRET_ID}: not a PEM file (not text)"))?;
    SigningKey::from_pem(key_name, &pem)
        .map(Some)
        .map_err(|e| format!("secret {SIGNING_SECRET_ID}: {e}"))
}

/// Write one package and return its index record.
fn write_one(
    spec: &PackagingSpec,
    package: &PackageSpec,
    tree: &Path,
    arch_dir: &Path,
    key: Option<&SigningKey>,
) -> Result<IndexRecord, String> {
    let dir = tree.join(&package.name);
    if !dir.is_dir() {
        return Err(format!(
            "package {}: its folder melange-out/{} is missing (did a step remove it?)",
            package.name, package.name
        ));
    }
    write_sbom(spec, package, &dir)?;
    let mut info = pkginfo(spec, package);
    let scan = deps::scan(&dir, &scan_options(spec, package, tree))
        .map_err(|e| format!("package {}: {e}", package.name))?;
    for warning in &scan.warnings {
        eprintln!("package {}: {warning}", package.name);
    }
    info.depends = scan.depends;
    info.provides = scan.provides;
    let options = PackageOptions {
        source_date_epoch: spec.source_date_epoch,
        signing_key: key,
        scriptlets: package
            .scriptlets
            .iter()
            .map(|(name, script)| (name.clone(), script.clone().into_bytes()))
            .collect::<BTreeMap<_, _>>(),
        melange_yaml: Some(spec.melange_yaml.as_bytes().to_vec()).filter(|yaml| !yaml.is_empty()),
        // Every core the step may use; the bytes are the same for any count.
        threads: 0,
    };
    let out = arch_dir.join(package.file_name());
    let written = write_package(&dir, &info, &options, &out)
        .map_err(|e| format!("package {}: {e}", package.name))?;
    // The writer returns the exact control member and file size the index
    // describes, so the package (possibly GiBs) is never read back whole.
    Ok(IndexRecord::from_written(&written))
}

/// What the dependency scan needs: the package's switches and declared
/// lists, and every package of the build as relatives (origin first), so a
/// `-dev` package's `.so` links resolve to the library package's SONAME.
fn scan_options(spec: &PackagingSpec, package: &PackageSpec, tree: &Path) -> ScanOptions {
    ScanOptions {
        package_name: package.name.clone(),
        version: package.version.clone(),
        no_provides: package.no_provides,
        no_depends: package.no_depends,
        no_commands: package.no_commands,
        no_versioned_shlib_deps: false,
        declared_depends: package.depends.clone(),
        declared_provides: package.provides.clone(),
        relatives: spec.packages.iter().map(|p| tree.join(&p.name)).collect(),
    }
}

/// The package's SPDX SBOM at `var/lib/db/sbom/<name>-<version>.spdx.json`
/// inside its folder (the tree is a throwaway writable copy here).
fn write_sbom(spec: &PackagingSpec, package: &PackageSpec, dir: &Path) -> Result<(), String> {
    let fail = |e: String| format!("package {}: SBOM: {e}", package.name);
    let (version, epoch) = package
        .version
        .rsplit_once("-r")
        .and_then(|(v, e)| Some((v.to_string(), e.parse::<u64>().ok()?)))
        .ok_or_else(|| {
            fail(format!(
                "version {:?} is not <version>-r<epoch>",
                package.version
            ))
        })?;
    let input = SbomInput {
        name: package.name.clone(),
        version: version.clone(),
        epoch,
        arch: spec.arch.clone(),
        namespace: match package.maintainer.as_str() {
            "" => "unknown".to_string(),
            namespace => namespace.to_string(),
        },
        copyright: package
            .licenses
            .iter()
            .map(|license| Copyright {
                license: license.clone(),
                ..Default::default()
            })
            .collect(),
        source_date_epoch: spec.source_date_epoch,
        operating_system: None,
        build_config: None,
        creators: sbom::default_creators(),
    };
    let json = sbom::generate(&input).map_err(|e| fail(e.to_string()))?;
    let path = dir.join(sbom::sbom_path(&package.name, &version, epoch));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| fail(format!("{}: {e}", parent.display())))?;
    }
    std::fs::write(&path, json).map_err(|e| fail(format!("{}: {e}", path.display())))
}

/// `.PKGINFO` fields from the spec (`size` and `datahash` are filled in by
/// the writer).
pub fn pkginfo(spec: &PackagingSpec, package: &PackageSpec) -> PkgInfo {
    PkgInfo {
        pkgname: package.name.clone(),
        pkgver: package.version.clone(),
        arch: spec.arch.clone(),
        origin: package.origin.clone(),
        pkgdesc: package.description.clone(),
        url: package.url.clone(),
        commit: package.commit.clone(),
        maintainer: package.maintainer.clone(),
        builddate: spec.source_date_epoch,
        license: package.licenses.clone(),
        depends: package.depends.clone(),
        provides: package.provides.clone(),
        replaces: package.replaces.clone(),
        provider_priority: package.provider_priority,
        replaces_priority: package.replaces_priority,
        triggers: package.triggers.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::apk::sign::generate_key_pem;
    use crate::apk::tools::verify_file;
    use crate::apk::{ApkFile, Keyring, Verified};

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mf-helper-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn package(name: &str) -> PackageSpec {
        PackageSpec {
            name: name.into(),
            version: "1.0-r2".into(),
            origin: "demo".into(),
            description: format!("{name} package"),
            url: String::new(),
            commit: String::new(),
            maintainer: String::new(),
            licenses: vec!["MIT".into()],
            depends: vec!["busybox".into()],
            provides: Vec::new(),
            replaces: Vec::new(),
            provider_priority: 0,
            replaces_priority: 0,
            triggers: Vec::new(),
            scriptlets: BTreeMap::from([(".post-install".into(), "#!/bin/sh\n".into())]),
            no_provides: false,
            no_depends: false,
            no_commands: false,
        }
    }

    /// A tree with two packages, a spec file, and the arguments.
    fn setup(dir: &Path, key_id: &str) -> BuildApksArgs {
        for name in ["demo", "demo-doc"] {
            let bin = dir.join("tree").join(name).join("usr/bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join(name), format!("{name}\n")).unwrap();
            std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let spec = PackagingSpec {
            arch: "x86_64".into(),
            source_date_epoch: 1_700_000_000,
            signing_key_name: "melange.rsa".into(),
            signing_key_id: key_id.into(),
            signing_public_key: String::new(),
            melange_yaml: "package: {name: demo}\n".into(),
            packages: vec![package("demo"), package("demo-doc")],
        };
        std::fs::write(dir.join("spec.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
        BuildApksArgs {
            spec: dir.join("spec.json"),
            tree: dir.join("tree"),
            out: dir.join("out"),
            signing_key: dir.join("melange.rsa"),
        }
    }

    #[test]
    fn signed_packages_and_index_verify_and_rebuild_identically() {
        let dir = scratch("signed");
        let (private, public) = generate_key_pem(2048).unwrap();
        std::fs::write(dir.join("melange.rsa"), &private).unwrap();
        let keys = dir.join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::write(keys.join("melange.rsa.pub"), public).unwrap();
        let id_args = SigningKeyIdArgs {
            signing_key: dir.join("melange.rsa"),
            out: dir.join("id"),
        };
        signing_key_id(&id_args).unwrap();
        let id = parse_key_id(&std::fs::read_to_string(dir.join("id")).unwrap())
            .unwrap()
            .unwrap();
        let args = setup(&dir, &id);
        let summary = build_apks(&args).unwrap();
        assert!(summary.contains("x86_64/demo-doc-1.0-r2.apk"), "{summary}");
        assert!(summary.contains("signed by melange.rsa.pub"), "{summary}");
        let keyring = Keyring::from_dir(&keys).unwrap();
        let arch = dir.join("out/x86_64");
        for file in ["demo-1.0-r2.apk", "demo-doc-1.0-r2.apk", "APKINDEX.tar.gz"] {
            match verify_file(&arch.join(file), &keyring).unwrap() {
                Verified::Signed { key } => assert_eq!(key, "melange.rsa.pub"),
                Verified::Unsigned => panic!("{file} unsigned"),
            }
        }
        let apk = ApkFile::parse(&std::fs::read(arch.join("demo-1.0-r2.apk")).unwrap()).unwrap();
        assert_eq!(apk.pkginfo.builddate, 1_700_000_000);
        assert_eq!(apk.pkginfo.depends, ["busybox"]);
        let names: Vec<&str> = apk.control_files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, [".melange.yaml", ".post-install"]);
        let first = std::fs::read(arch.join("demo-1.0-r2.apk")).unwrap();
        let index = std::fs::read(arch.join("APKINDEX.tar.gz")).unwrap();
        build_apks(&args).unwrap();
        assert_eq!(first, std::fs::read(arch.join("demo-1.0-r2.apk")).unwrap());
        assert_eq!(index, std::fs::read(arch.join("APKINDEX.tar.gz")).unwrap());
    }

    #[test]
    fn no_secret_means_unsigned_and_a_changed_secret_is_refused() {
        let dir = scratch("unsigned");
        let args = setup(&dir, "");
        let summary = build_apks(&args).unwrap();
        assert!(summary.contains("unsigned"), "{summary}");
        let keyring = Keyring::new();
        let index = dir.join("out/x86_64/APKINDEX.tar.gz");
        assert!(matches!(
            verify_file(&index, &keyring).unwrap(),
            Verified::Unsigned
        ));
        let (private, _) = generate_key_pem(2048).unwrap();
        std::fs::write(dir.join("melange.rsa"), private).unwrap();
        let err = build_apks(&args).unwrap_err();
        assert!(err.contains("secret changed during the build"), "{err}");
        assert!(!err.contains("PRIVATE"), "{err}");
    }

    #[test]
    fn a_declared_public_key_needs_its_own_private_half() {
        let dir = scratch("declared");
        let (private, public) = generate_key_pem(2048).unwrap();
        let declared = crate::apk::sign::public_pem_id(&public).unwrap();
        let mut args = setup(&dir, &declared);
        let mut spec: PackagingSpec =
            serde_json::from_slice(&std::fs::read(&args.spec).unwrap()).unwrap();
        spec.signing_public_key = "keys/melange.rsa.pub".into();
        std::fs::write(&args.spec, serde_json::to_vec(&spec).unwrap()).unwrap();
        // No secret: never unsigned output under the declared key.
        let err = build_apks(&args).unwrap_err();
        assert!(err.contains("keys/melange.rsa.pub"), "{err}");
        assert!(err.contains("--secret id=melange.rsa,src="), "{err}");
        assert!(!dir.join("out/x86_64/APKINDEX.tar.gz").exists());
        // Another key: both fingerprints named.
        let (other, _) = generate_key_pem(2048).unwrap();
        std::fs::write(dir.join("other.rsa"), &other).unwrap();
        args.signing_key = dir.join("other.rsa");
        let other_id = key_id(&SigningKey::from_pem("other.rsa", &other).unwrap());
        let err = build_apks(&args).unwrap_err();
        assert!(err.contains(&other_id) && err.contains(&declared), "{err}");
        assert!(!err.contains("PRIVATE"), "{err}");
        // Its own private half: the fingerprints agree, packages are signed.
        std::fs::write(dir.join("melange.rsa"), &private).unwrap();
        args.signing_key = dir.join("melange.rsa");
        let summary = build_apks(&args).unwrap();
        assert!(summary.contains("signed by melange.rsa.pub"), "{summary}");
    }

    #[test]
    fn a_secret_that_is_no_key_fails_without_echoing_it() {
        let dir = scratch("badkey");
        std::fs::write(dir.join("melange.rsa"), "hunter2-not-a-key\n").unwrap();
        let err = signing_key_id(&SigningKeyIdArgs {
            signing_key: dir.join("melange.rsa"),
            out: dir.join("id"),
        })
        .unwrap_err();
        assert!(err.starts_with("secret melange.rsa: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(parse_key_id("none\n").unwrap(), None);
        assert!(parse_key_id("sha256:short").is_err());
    }

    #[test]
    fn a_spec_value_with_a_line_break_is_refused_before_anything_is_written() {
        let dir = scratch("forged");
        let args = setup(&dir, "");
        let text = std::fs::read_to_string(&args.spec).unwrap();
        let mut spec: PackagingSpec = serde_json::from_str(&text).unwrap();
        let good = spec.clone();
        let changes: [fn(&mut PackageSpec); 6] = [
            |p| {
                p.depends
                    .push("foo\n\nC:Q1x\nP:forged\nV:6.6-r0\nA:x86_64\nS:1\nI:1\nT:x".into())
            },
            |p| p.version = "1.0\ndepend = evil-r0".into(),
            |p| p.version = "1.0 beta-r0".into(),
            |p| p.url = "https://x\r\n".into(),
            |p| p.licenses.push("MIT\nP:x".into()),
            |p| p.name = "../x".into(),
        ];
        for change in changes {
            spec = good.clone();
            change(&mut spec.packages[1]);
            std::fs::write(&args.spec, serde_json::to_vec(&spec).unwrap()).unwrap();
            let err = build_apks(&args).unwrap_err();
            assert!(err.contains("package \""), "{err}");
            assert!(!dir.join("out").exists(), "{err}");
        }
        spec = good;
        spec.arch = "x86_64/../..".into();
        std::fs::write(&args.spec, serde_json::to_vec(&spec).unwrap()).unwrap();
        let err = build_apks(&args).unwrap_err();
        assert!(err.contains("not an apk architecture"), "{err}");
    }

    #[test]
    fn a_missing_package_folder_is_named() {
        let dir = scratch("missing");
        let args = setup(&dir, "");
        std::fs::remove_dir_all(dir.join("tree/demo-doc")).unwrap();
        let err = build_apks(&args).unwrap_err();
        assert!(err.contains("melange-out/demo-doc is missing"), "{err}");
    }
}
