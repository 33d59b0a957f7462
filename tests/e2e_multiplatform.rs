//! `--platform linux/amd64,linux/arm64`: one build, one package per
//! platform, on Docker 28.5 with the containerd image store (the classic
//! store refuses multi-platform builds) and qemu-user-static registered, so
//! the arm64 step runs under emulation. The environment is
//! melange-test-env:busybox-multi (both platforms in one image).
//! Run by hack/test (the engines hack/engines starts).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use melange_frontend::apk::tools::verify_file;
use melange_frontend::apk::{ApkFile, Keyring, Verified};

const BOTH: &str = "linux/amd64,linux/arm64";

/// Records what the step sees; `nonce` makes a build that runs every step
/// again without `--no-cache` (which would disturb concurrent builds).
fn package(nonce: &str) -> String {
    format!(
        "# syntax=melange-frontend:dev
package:
  name: multi-arch
  version: \"1.0\"
  epoch: 0
  description: says which machine built it
  copyright:
    - license: MIT
vars:
  nonce: \"{nonce}\"
pipeline:
  - runs: |
      d=${{{{targets.destdir}}}}/usr/share/multi-arch
      mkdir -p $d
      uname -m > $d/uname
      echo ${{{{build.arch}}}} > $d/arch
      echo ${{{{build.goarch}}}} > $d/goarch
      echo ${{{{vars.nonce}}}} > $d/nonce
"
    )
}

fn context(dir: &Path, nonce: &str) -> std::path::PathBuf {
    let context = dir.join(format!("ctx-{nonce}"));
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("package.yaml"), package(nonce)).unwrap();
    context
}

fn timed(context: &Path, output: &str, platform: &str, extra: &[&str]) -> (BuildOutput, Duration) {
    let mut args = vec!["--platform", platform];
    args.extend_from_slice(extra);
    let start = Instant::now();
    let result = build_to(
        Engine::Docker28c,
        Some(MULTI_ENV_IMAGE),
        context,
        output,
        &args,
    );
    (result, start.elapsed())
}

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

fn arch_of(apk: &Path) -> String {
    let bytes = std::fs::read(apk).unwrap_or_else(|e| panic!("{}: {e}", apk.display()));
    ApkFile::parse(&bytes).unwrap().pkginfo.arch
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn two_platforms_in_one_build_each_with_its_own_arch() {
    let dir = scratch_dir("multiplatform");
    let (key, keys) = signing_key(&dir);
    let secret = format!("id=melange.rsa,src={}", key.display());
    let ctx = context(&dir, "a");

    // melange's layout: one folder per arch, each with its own signed index.
    let out = dir.join("out");
    let output = format!("type=local,dest={},platform-split=false", out.display());
    let (first, _) = timed(&ctx, &output, BOTH, &["--secret", &secret]);
    assert!(first.success, "{}", first.log);
    assert!(!first.log.contains("not multi-platform"), "{}", first.log);
    assert_eq!(
        verify_all(&out, &keys),
        [
            "aarch64/APKINDEX.tar.gz: signed by melange.rsa.pub",
            "aarch64/multi-arch-1.0-r0.apk: signed by melange.rsa.pub",
            "x86_64/APKINDEX.tar.gz: signed by melange.rsa.pub",
            "x86_64/multi-arch-1.0-r0.apk: signed by melange.rsa.pub",
        ]
    );
    assert_eq!(arch_of(&out.join("x86_64/multi-arch-1.0-r0.apk")), "x86_64");
    assert_eq!(
        arch_of(&out.join("aarch64/multi-arch-1.0-r0.apk")),
        "aarch64"
    );

    // Nothing changed: every step of both platforms is CACHED.
    let (again, _) = timed(&ctx, &output, BOTH, &["--secret", &secret]);
    assert!(again.success, "{}", again.log);
    let steps = again.steps();
    assert!(!steps.is_empty(), "{}", again.log);
    let not_cached: Vec<&String> = steps
        .iter()
        .filter(|(_, cached)| !cached)
        .map(|(name, _)| name)
        .collect();
    assert!(
        not_cached.is_empty(),
        "not CACHED: {not_cached:?}\n{}",
        again.log
    );

    // The workspace, split by platform (BuildKit's default): what each
    // step saw.
    let ws = dir.join("ws");
    let output = format!("type=local,dest={}", ws.display());
    let (workspace, _) = timed(&ctx, &output, BOTH, &["--target", "workspace"]);
    assert!(workspace.success, "{}", workspace.log);
    for (split, uname, goarch) in [
        ("linux_amd64", "x86_64", "amd64"),
        ("linux_arm64", "aarch64", "arm64"),
    ] {
        let files = ws.join(split).join("multi-arch/usr/share/multi-arch");
        assert_eq!(read(&files.join("uname")).trim(), uname, "{split}");
        assert_eq!(read(&files.join("arch")).trim(), uname, "{split}");
        assert_eq!(read(&files.join("goarch")).trim(), goarch, "{split}");
    }
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn two_platforms_at_once_against_one_at_a_time() {
    let dir = scratch_dir("multiplatform-time");
    let out = |name: &str| format!("type=local,dest={}", dir.join(name).display());
    let seed = std::process::id();
    // Fresh steps each time (a new nonce), the environment and helper
    // image warm from the first, untimed build.
    let warm = context(&dir, &format!("{seed}-warm"));
    let (result, _) = timed(&warm, &out("warm"), BOTH, &[]);
    assert!(result.success, "{}", result.log);
    let mut together = Vec::new();
    let mut apart = Vec::new();
    for round in 0..3 {
        let ctx = context(&dir, &format!("{seed}-both-{round}"));
        let (both, took) = timed(&ctx, &out(&format!("both-{round}")), BOTH, &[]);
        assert!(both.success, "{}", both.log);
        // Default platform split: <platform>/<arch>/…
        let files = tree(&dir.join(format!("both-{round}")));
        for apk in [
            "linux_amd64/x86_64/multi-arch-1.0-r0.apk",
            "linux_arm64/aarch64/multi-arch-1.0-r0.apk",
        ] {
            assert!(files.contains(&apk.to_string()), "{files:?}");
        }
        together.push(took);
        let ctx = context(&dir, &format!("{seed}-apart-{round}"));
        let mut sum = Duration::ZERO;
        for platform in ["linux/amd64", "linux/arm64"] {
            let name = format!("apart-{round}-{}", platform.replace('/', "_"));
            let (one, took) = timed(&ctx, &out(&name), platform, &[]);
            assert!(one.success, "{}", one.log);
            sum += took;
        }
        apart.push(sum);
    }
    together.sort();
    apart.sort();
    println!(
        "two platforms: one build {:.1}s (median of 3), two single-platform builds {:.1}s",
        together[1].as_secs_f64(),
        apart[1].as_secs_f64()
    );
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn a_platform_the_worker_cannot_run_fails_before_anything_runs() {
    let dir = scratch_dir("multiplatform-emulator");
    let ctx = context(&dir, "e");
    let output = format!("type=local,dest={}", dir.join("out").display());
    // BuildKit lists the platforms it runs (natively or with a registered
    // emulator it probes for); it never lists sparc64.
    let (result, _) = timed(&ctx, &output, "linux/amd64,linux/sparc64", &[]);
    assert!(!result.success, "{}", result.log);
    for needle in [
        "linux/sparc64: step `[",
        "does not list linux/sparc64 among the platforms it runs (linux/amd64,",
        "qemu-sparc64",
        "apt-get install qemu-user-static binfmt-support",
    ] {
        assert!(
            result.log.contains(needle),
            "{needle:?} not in\n{}",
            result.log
        );
    }
    assert!(result.steps().is_empty(), "a step ran:\n{}", result.log);
    assert!(!dir.join("out").exists());
}
