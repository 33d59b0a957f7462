//! End-to-end tests of target `packages` (the default) on both engines:
//! signed and unsigned `.apk` files and index, byte-identical rebuilds,
//! `.PKGINFO` from the config, and both ways of finding the helper image.
//! Ignored by plain `cargo test`; `hack/test` runs them with `--ignored`.

mod common;

use std::path::Path;

use common::*;
use melange_frontend::apk::tools::verify_file;
use melange_frontend::apk::{ApkFile, ApkIndex, EntryKind, Keyring, Verified};

const EPOCH: &str = "SOURCE_DATE_EPOCH=1700000000";
const HELLO_FILES: [&str; 5] = [
    "x86_64/",
    "x86_64/APKINDEX.tar.gz",
    "x86_64/hello-0.17-r1.apk",
    "x86_64/hello-doc-0.17-r1.apk",
    "x86_64/hello-env-0.17-r1.apk",
];

fn verify_all(out: &Path, keys: &Path) -> Vec<String> {
    let keyring = Keyring::from_dir(keys).unwrap();
    tree(out)
        .into_iter()
        .filter(|f| !f.ends_with('/'))
        .map(|f| match verify_file(&out.join(&f), &keyring) {
            Ok(Verified::Signed { key }) => format!("{f}: signed by {key}"),
            Ok(Verified::Unsigned) => format!("{f}: unsigned"),
            Err(e) => format!("{f}: FAILED {e}"),
        })
        .collect()
}

fn files_identical(a: &Path, b: &Path) {
    assert_eq!(tree(a), tree(b));
    for file in tree(a).iter().filter(|f| !f.ends_with('/')) {
        let (x, y) = (
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
        );
        assert!(x == y, "{file} differs between {a:?} and {b:?}");
    }
}

fn parse(path: &Path) -> ApkFile {
    ApkFile::parse(&std::fs::read(path).unwrap()).unwrap()
}

/// Signed, reproducible, then unsigned (from cache, without `--no-cache`).
fn signed_reproducible_then_unsigned(engine: Engine) {
    let dir = scratch_dir("packages");
    let context = copy_package("hello", &dir);
    let (key, keys) = signing_key(&dir);
    let secret = format!("id=melange.rsa,src={}", key.display());
    let signed = ["--no-cache", "--secret", &secret, "--build-arg", EPOCH];
    let (out1, out2, out3) = (dir.join("out1"), dir.join("out2"), dir.join("out3"));

    let first = build(engine, &context, &out1, &signed);
    assert!(first.success, "{}", first.log);
    assert_eq!(tree(&out1), HELLO_FILES, "{}", first.log);
    let verified = verify_all(&out1, &keys);
    assert!(
        verified
            .iter()
            .all(|l| l.ends_with("signed by melange.rsa.pub")),
        "{verified:?}"
    );
    assert!(first
        .log
        .contains("signing packages and index with melange.rsa.pub"));
    let steps: Vec<String> = first.steps().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        steps.last().map(String::as_str),
        Some("[6/6] package hello, hello-doc, hello-env"),
        "{}",
        first.log
    );

    let hello = parse(&out1.join("x86_64/hello-0.17-r1.apk"));
    let info = &hello.pkginfo;
    assert_eq!(
        (
            info.pkgname.as_str(),
            info.pkgver.as_str(),
            info.arch.as_str()
        ),
        ("hello", "0.17-r1", "x86_64")
    );
    assert_eq!(info.origin, "hello");
    assert_eq!(
        info.pkgdesc,
        "a two-subpackage example built from the build context"
    );
    assert_eq!(info.builddate, 1_700_000_000);
    let paths: Vec<&str> = hello.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "usr",
            "usr/bin",
            "usr/bin/hello",
            "usr/share",
            "usr/share/hello",
            "usr/share/hello/greeting.txt",
            "usr/share/hello/message.txt",
            "var",
            "var/lib",
            "var/lib/db",
            "var/lib/db/sbom",
            "var/lib/db/sbom/hello-0.17-r1.spdx.json"
        ]
    );
    // The SPDX SBOM describes the package; the shell script provides a
    // command and needs its interpreter (melange's automatic dependencies).
    let sbom = std::process::Command::new("tar")
        .arg("-xzOf")
        .arg(out1.join("x86_64/hello-0.17-r1.apk"))
        .arg("var/lib/db/sbom/hello-0.17-r1.spdx.json")
        .output()
        .unwrap();
    let sbom: serde_json::Value = serde_json::from_slice(&sbom.stdout).unwrap();
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    assert!(sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "hello" && p["versionInfo"] == "0.17-r1"));
    assert_eq!(info.provides, ["cmd:hello=0.17-r1"]);
    assert!(hello.entries.iter().all(|e| e.mtime == 1_700_000_000));
    assert!(hello
        .control_files
        .iter()
        .any(|f| f.name == ".melange.yaml" && f.content.starts_with(b"# syntax=")));
    let index =
        ApkIndex::parse(&std::fs::read(out1.join("x86_64/APKINDEX.tar.gz")).unwrap()).unwrap();
    let names: Vec<&str> = index.records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["hello", "hello-doc", "hello-env"]);

    // Same input, no cache at all: the same bytes.
    let second = build(engine, &context, &out2, &signed);
    assert!(second.success, "{}", second.log);
    // `--no-cache` re-runs every step (the bytes below come from a real
    // second build, not from the cache).
    assert!(
        second.steps().iter().all(|(_, cached)| !cached),
        "{}",
        second.log
    );
    files_identical(&out1, &out2);

    // Without the secret, and with the cache: the packaging step must not
    // come from the signed build's cache.
    let third = build(engine, &context, &out3, &["--build-arg", EPOCH]);
    assert!(third.success, "{}", third.log);
    let verified = verify_all(&out3, &keys);
    assert!(
        verified.iter().all(|l| l.ends_with(": unsigned")),
        "{verified:?}\n{}",
        third.log
    );
    // The pipeline comes from cache; the packaging step may only come from
    // an unsigned build's cache (the spec names the key, here none), and
    // says so when it runs.
    let cached: Vec<bool> = third.steps().into_iter().map(|(_, c)| c).collect();
    assert_eq!(cached[..5], [true; 5], "{}", third.log);
    if !cached[5] {
        assert!(third
            .log
            .contains("packages and APKINDEX.tar.gz are UNSIGNED"));
    }
    assert!(!third.log.contains("BEGIN"), "key material in the log");
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_packages_signed_reproducible_then_unsigned() {
    signed_reproducible_then_unsigned(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_packages_signed_reproducible_then_unsigned() {
    signed_reproducible_then_unsigned(Engine::Docker20);
}

/// `.PKGINFO`, scriptlets and ownership of the `meta` test package.
fn check_meta(out: &Path) {
    let meta = parse(&out.join("x86_64/meta-2.1-r3.apk"));
    let info = &meta.pkginfo;
    assert_eq!(info.pkgdesc, "a package that uses every packaging field");
    assert_eq!(info.url, "https://example.com/meta");
    assert_eq!(info.commit, "0123456789abcdef0123456789abcdef01234567");
    assert_eq!(info.maintainer, "wolfi");
    assert_eq!(info.license, ["Apache-2.0", "MIT"]);
    assert_eq!(info.depends, ["busybox", "meta-lib=2.1-r3"]);
    assert_eq!(info.provides, ["cmd:meta=2.1-r3", "meta-tool=2.1-r3"]);
    assert_eq!(info.replaces, ["old-meta"]);
    assert_eq!((info.provider_priority, info.replaces_priority), (10, 5));
    assert_eq!(info.triggers, ["/usr/share/meta"]);
    assert_eq!(meta.scriptlets(), [".post-install", ".trigger"]);
    assert!(meta
        .control_files
        .iter()
        .filter(|f| f.name.starts_with(".post") || f.name == ".trigger")
        .all(|f| f.mode == 0o755));
    for entry in &meta.entries {
        assert_eq!(entry.uid, 0, "{} keeps uid 1000", entry.path);
    }
    let bin = meta.entries.iter().find(|e| e.path == "usr/bin").unwrap();
    assert_eq!(bin.gid, 0);
    let hard = meta
        .entries
        .iter()
        .find(|e| e.path == "usr/share/meta/hard")
        .unwrap();
    assert_eq!(hard.kind, EntryKind::Hardlink);
    assert_eq!(hard.link_target.as_deref(), Some("usr/share/meta/greeting"));
    let lib = parse(&out.join("x86_64/meta-lib-2.1-r3.apk"));
    assert_eq!(lib.pkginfo.origin, "meta");
    assert_eq!(lib.pkginfo.url, "https://example.com/meta-lib");
    assert_eq!(lib.pkginfo.depends, ["meta-data"]);
    assert_eq!(lib.scriptlets(), [".pre-install"]);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_helper_from_frontend_bin_and_from_source_give_the_same_packages() {
    let dir = scratch_dir("helper-origin");
    let context = copy_package("meta", &dir);
    let common = [
        "--build-arg",
        EPOCH,
        "--build-arg",
        "MELANGE_NAMESPACE=wolfi",
    ];
    let mut outs = Vec::new();
    for origin in ["frontend.bin", "source"] {
        let out = dir.join(format!("out-{origin}"));
        let arg = format!("MELANGE_HELPER_IMAGE_FROM={origin}");
        let mut args = common.to_vec();
        args.extend(["--build-arg", &arg]);
        let result = build(Engine::Docker28, &context, &out, &args);
        assert!(result.success, "{origin}:\n{}", result.log);
        check_meta(&out);
        outs.push(out);
    }
    files_identical(&outs[0], &outs[1]);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_helper_from_source_and_no_frontend_bin() {
    let dir = scratch_dir("helper-origin20");
    let context = copy_package("meta", &dir);
    let common = [
        "--build-arg",
        EPOCH,
        "--build-arg",
        "MELANGE_NAMESPACE=wolfi",
    ];
    let out = dir.join("out");
    let result = build(Engine::Docker20, &context, &out, &common);
    assert!(result.success, "{}", result.log);
    check_meta(&out);
    let mut args = common.to_vec();
    args.extend(["--build-arg", "MELANGE_HELPER_IMAGE_FROM=frontend.bin"]);
    let refused = build(Engine::Docker20, &context, &dir.join("out2"), &args);
    assert!(!refused.success);
    assert!(
        refused
            .log
            .contains("this BuildKit provides no /run/config/buildkit/metadata/frontend.bin"),
        "{}",
        refused.log
    );
}

/// A shared library, a program linked to it and a pkg-config file, split
/// into three packages: signed packages whose automatic dependencies say
/// what needs what, on `engine`.
fn shared_library_packages(engine: Engine) {
    let dir = scratch_dir("libgreet");
    let context = copy_package("libgreet", &dir);
    let built = std::process::Command::new(context.join("src/build.sh"))
        .arg(context.join("prebuilt"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "compiling the test library with the host's gcc: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let (key, keys) = signing_key(&dir);
    let secret = format!("id=melange.rsa,src={}", key.display());
    let out = dir.join("out");
    let result = build(
        engine,
        &context,
        &out,
        &["--secret", &secret, "--build-arg", EPOCH],
    );
    assert!(result.success, "{}", result.log);
    let verified = verify_all(&out, &keys);
    assert_eq!(
        verified,
        [
            "x86_64/APKINDEX.tar.gz: signed by melange.rsa.pub",
            "x86_64/greet-1.0.0-r0.apk: signed by melange.rsa.pub",
            "x86_64/libgreet-1.0.0-r0.apk: signed by melange.rsa.pub",
            "x86_64/libgreet-dev-1.0.0-r0.apk: signed by melange.rsa.pub",
        ]
    );
    let info = |name: &str| parse(&out.join(format!("x86_64/{name}-1.0.0-r0.apk"))).pkginfo;
    let lib = info("libgreet");
    assert_eq!(lib.depends, ["so:libc.so.6"]);
    assert_eq!(
        lib.provides,
        ["so-ver:libgreet.so.1=1.0.0-r0", "so:libgreet.so.1=1"]
    );
    let dev = info("libgreet-dev");
    assert_eq!(dev.depends, ["so:libgreet.so.1"]);
    assert_eq!(dev.provides, ["pc:greet=1.0.0-r0"]);
    let program = info("greet");
    assert_eq!(
        program.depends,
        [
            "so:ld-linux-x86-64.so.2",
            "so:libc.so.6",
            "so:libgreet.so.1"
        ]
    );
    assert_eq!(program.provides, ["cmd:greet=1.0.0-r0"]);
    // Nothing depends on what the same package provides.
    for package in [&lib, &dev, &program] {
        for depend in &package.depends {
            let name = depend.split(['=', '<', '>', '~']).next().unwrap_or(depend);
            assert!(
                !package
                    .provides
                    .iter()
                    .any(|p| p.split('=').next() == Some(name)),
                "{} depends on its own {depend}",
                package.pkgname
            );
        }
    }
    let index =
        ApkIndex::parse(&std::fs::read(out.join("x86_64/APKINDEX.tar.gz")).unwrap()).unwrap();
    let greet = index.records.iter().find(|r| r.name == "greet").unwrap();
    assert_eq!(greet.depends, program.depends);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_shared_library_program_and_pkgconfig_get_their_dependencies() {
    shared_library_packages(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_shared_library_program_and_pkgconfig_get_their_dependencies() {
    shared_library_packages(Engine::Docker20);
}
