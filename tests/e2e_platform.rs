//! `--platform` for another architecture than the worker's (arm64 on this
//! amd64 machine), without an emulator: packages whose steps run only the
//! frontend's own binary (packaging, installing an environment), so
//! nothing of the target architecture executes. The helper image must come
//! for the worker's platform and its steps declare it; the environment is
//! resolved from an `aarch64` index; the packages say `arch = aarch64`.
//! Run by hack/test (the engines hack/engines starts).

mod common;

use std::path::Path;

use common::*;
use melange_frontend::apk::verify::verify_package;
use melange_frontend::apk::{ApkFile, Keyring, Verified};

const ARM64: [&str; 2] = ["--platform", "linux/arm64"];

const DATA: &str = "# syntax=melange-frontend:dev
package:
  name: arm-data
  version: \"1.0\"
  epoch: 0
  description: metadata only
  copyright:
    - license: MIT
pipeline: []
";

const APP: &str = "# syntax=melange-frontend:dev
package:
  name: arm-app
  version: \"2.0\"
  epoch: 0
  description: built in an aarch64 environment
  copyright:
    - license: MIT
environment:
  contents:
    repositories: [./packages]
    keyring: [./melange.rsa.pub]
    packages: [arm-data]
pipeline: []
";

/// The package's `.PKGINFO` arch, after checking its signature.
fn arch_of(apk: &Path, keys: &Path) -> String {
    let bytes = std::fs::read(apk).unwrap_or_else(|e| panic!("{}: {e}", apk.display()));
    let file = ApkFile::parse(&bytes).unwrap();
    let keyring = Keyring::from_dir(keys).unwrap();
    assert!(
        matches!(verify_package(&file, &keyring), Ok(Verified::Signed { .. })),
        "{} does not verify",
        apk.display()
    );
    file.pkginfo.arch.clone()
}

fn assert_no_platform_warning(log: &str) {
    assert!(!log.contains("does not match result platform"), "{log}");
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn aarch64_packages_and_environment_on_an_amd64_worker() {
    let dir = scratch_dir("platform");
    let (key, keys) = signing_key(&dir);
    let secret = format!("id=melange.rsa,src={}", key.display());

    // 1. A data-only aarch64 package, its environment an empty folder
    //    (a named context: Docker 28.5 only).
    let data = dir.join("data");
    let empty = dir.join("empty-base");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(data.join("package.yaml"), DATA).unwrap();
    let base = format!("melange-environment={}", empty.display());
    let packages = dir.join("packages");
    let first = build_with_base(
        Engine::Docker28,
        None,
        &data,
        &packages,
        &[
            ARM64[0],
            ARM64[1],
            "--build-context",
            &base,
            "--secret",
            &secret,
        ],
    );
    assert!(first.success, "{}", first.log);
    assert_no_platform_warning(&first.log);
    let data_apk = packages.join("aarch64/arm-data-1.0-r0.apk");
    assert_eq!(arch_of(&data_apk, &keys), "aarch64");
    assert!(packages.join("aarch64/APKINDEX.tar.gz").is_file());

    // 2. A package whose environment is installed from that aarch64
    //    repository, on both engines (Docker 20.10 takes the helper from
    //    the `# syntax=` image, which exists only for amd64 here).
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("package.yaml"), APP).unwrap();
    std::fs::copy(keys.join("melange.rsa.pub"), app.join("melange.rsa.pub")).unwrap();
    copy_tree(&packages, &app.join("packages"));
    for engine in [Engine::Docker28, Engine::Docker20] {
        let out = dir.join(format!("out-{engine:?}"));
        let second = build_with_base(
            engine,
            None,
            &app,
            &out,
            &[ARM64[0], ARM64[1], "--secret", &secret],
        );
        assert!(second.success, "{engine:?}: {}", second.log);
        assert_no_platform_warning(&second.log);
        assert!(
            second.log.contains("arm-data-1.0-r0"),
            "{engine:?}: the environment did not install arm-data\n{}",
            second.log
        );
        let app_apk = out.join("aarch64/arm-app-2.0-r0.apk");
        assert_eq!(arch_of(&app_apk, &keys), "aarch64", "{engine:?}");
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
