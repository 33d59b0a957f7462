//! End-to-end on Docker 28.5 (buildx 0.29): `--call outline`, `--check`,
//! build warnings, and failing steps that show `package.yaml:<line>` with
//! the step's lines marked, as buildx does for a Dockerfile. Docker 20.10's
//! client prints neither warnings nor source lines for any frontend.
//! Ignored by plain `cargo test`; run with `--ignored`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use sha2::{Digest, Sha256};

/// A context holding `package.yaml` = `body` under the syntax line.
fn context_with(label: &str, body: &str) -> (PathBuf, PathBuf) {
    let dir = scratch_dir(label);
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("package.yaml"),
        format!("# syntax={}\n{body}", frontend_image()),
    )
    .unwrap();
    // Unique per run: no vertex shared with a concurrent test.
    std::fs::write(context.join(".e2e-run"), dir.display().to_string()).unwrap();
    (dir, context)
}

/// `docker buildx build` with `args` on `context` (no output), and what it
/// printed.
fn buildx(context: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(client(Engine::Docker28))
        .args(["buildx", "build", "--progress=plain", "-f"])
        .arg(context.join("package.yaml"))
        .args(args)
        .arg(context)
        .output()
        .expect("run docker buildx");
    let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), log)
}

const ENVIRONMENT: &str = "melange-environment=docker-image://melange-test-env:busybox";

// Line numbers below count the syntax line as line 1.
const LINTED: &str = "package:
  name: linted
  version: 1.0.0
  epoch: 0
  description: docs for ${{package.name}
  copyright:
    - license: MIT
environment:
  contents:
    packages:
      - cmake
pipeline:
  - name: build ${{inputs.flavour}}
    runs: mkdir -p ${{targets.destdir}}
";

#[test]
#[ignore = "needs the engines (hack/engines) and the frontend image"]
fn outline_lists_build_args_secret_and_named_contexts() {
    let (_dir, context) = context_with("outline", LINTED);
    let (ok, log) = buildx(
        &context,
        &[
            "--call",
            "outline",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
        ],
    );
    assert!(ok, "{log}");
    assert!(log.contains("TARGET:") && log.contains("packages"), "{log}");
    assert!(log.contains("BUILD ARG"), "{log}");
    let sde = log
        .lines()
        .find(|l| l.starts_with("SOURCE_DATE_EPOCH"))
        .unwrap_or_else(|| panic!("no SOURCE_DATE_EPOCH row:\n{log}"));
    assert!(sde.contains("1700000000"), "{sde}");
    assert!(log.contains("MELANGE_REPOSITORIES"), "{log}");
    assert!(
        log.contains("SECRET") && log.contains("melange.rsa"),
        "{log}"
    );
    assert!(
        log.contains("melange-environment") && log.contains("melange-cache"),
        "{log}"
    );
}

#[test]
#[ignore = "needs the engines (hack/engines) and the frontend image"]
fn check_reports_located_findings_and_fails() {
    let (_dir, context) = context_with("check", LINTED);
    let (ok, log) = buildx(&context, &["--check"]);
    assert!(!ok, "findings must make --check fail:\n{log}");
    for want in [
        "IgnoredPackages",
        "cmake",
        "package.yaml:12",
        "LiteralTemplate",
        "package.yaml:6",
        "UndefinedStepNameVariable",
        "package.yaml:14",
        "docs/lint.md#ignoredpackages",
    ] {
        assert!(log.contains(want), "missing {want:?}:\n{log}");
    }
    // A clean file passes.
    let clean = LINTED
        .replace("docs for ${{package.name}", "docs")
        .replace("build ${{inputs.flavour}}", "build")
        .replace("      - cmake\n", "");
    let (_dir, context) = context_with("check-clean", &clean);
    let (ok, log) = buildx(&context, &["--check"]);
    assert!(ok, "{log}");
}

#[test]
#[ignore = "needs the engines (hack/engines) and the frontend image"]
fn a_build_warns_about_packages_it_does_not_install() {
    let (dir, context) = context_with("warnings", LINTED);
    let out = dir.join("out");
    let dest = format!("type=local,dest={}", out.display());
    let (ok, log) = buildx(
        &context,
        &[
            "--build-context",
            ENVIRONMENT,
            "--target",
            "workspace",
            "-o",
            &dest,
        ],
    );
    assert!(ok, "{log}");
    assert!(
        log.contains("warnings found") || log.contains("warning found"),
        "{log}"
    );
    assert!(
        log.contains("IgnoredPackages: not installed") && log.contains("cmake (line 12)"),
        "{log}"
    );
}

/// The error block buildx prints for a failing vertex with source lines:
/// `package.yaml:<line>`, then the lines, marked with `>>>`.
fn assert_points_at(log: &str, line: usize, marked: &str) {
    assert!(
        log.contains(&format!("package.yaml:{line}")),
        "no package.yaml:{line}:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains(">>>") && l.contains(marked)),
        "no line marked >>> with {marked:?}:\n{log}"
    );
}

#[test]
#[ignore = "needs the engines (hack/engines) and the frontend image"]
fn a_failing_runs_step_shows_its_yaml() {
    let body = "package:
  name: failing
  version: 1.0.0
  epoch: 0
pipeline:
  - runs: echo fine
  - name: the failing step
    runs: |
      echo about to fail
      exit 3
";
    let (dir, context) = context_with("fail-runs", body);
    let dest = format!("type=local,dest={}", dir.join("out").display());
    let (ok, log) = buildx(
        &context,
        &[
            "--build-context",
            ENVIRONMENT,
            "--target",
            "workspace",
            "-o",
            &dest,
        ],
    );
    assert!(!ok, "{log}");
    assert_points_at(&log, 8, "- name: the failing step");
    assert_points_at(&log, 8, "exit 3");
}

#[test]
#[ignore = "needs the engines (hack/engines) and the frontend image"]
fn a_failing_uses_step_points_at_the_uses_line() {
    // No ./configure in the workspace: the built-in pipeline's step fails.
    let body = "package:
  name: failing-uses
  version: 1.0.0
  epoch: 0
pipeline:
  - name: configure it
    uses: autoconf/configure
";
    let (dir, context) = context_with("fail-uses", body);
    let dest = format!("type=local,dest={}", dir.join("out").display());
    let (ok, log) = buildx(
        &context,
        &[
            "--build-context",
            ENVIRONMENT,
            "--target",
            "workspace",
            "-o",
            &dest,
        ],
    );
    assert!(!ok, "{log}");
    assert_points_at(&log, 8, "uses: autoconf/configure");
}

#[test]
#[ignore = "needs the engines (hack/engines) and the frontend image"]
fn failing_fetch_and_unpack_point_at_the_fetch() {
    let dir = scratch_dir("fail-fetch-files");
    let files = dir.join("files");
    std::fs::create_dir_all(&files).unwrap();
    // Not an archive: BuildKit downloads it, the unpack step fails.
    let bytes = format!("not a tarball {}\n", dir.display());
    std::fs::write(files.join("plain.tar.gz"), &bytes).unwrap();
    let sha = hex::encode(Sha256::digest(bytes.as_bytes()));
    let server = FileServer::start("127.0.0.1".parse().unwrap(), &files);
    let body = |sha: &str| {
        format!(
            "package:
  name: failing-fetch
  version: 1.0.0
  epoch: 0
pipeline:
  - uses: fetch
    with:
      uri: {}/plain.tar.gz
      expected-sha256: {sha}
",
            server.url()
        )
    };
    for (label, sha) in [("unpack", sha.clone()), ("checksum", "0".repeat(64))] {
        let (out_dir, context) = context_with(&format!("fail-fetch-{label}"), &body(&sha));
        let dest = format!("type=local,dest={}", out_dir.join("out").display());
        let (ok, log) = buildx(
            &context,
            &[
                "--build-context",
                ENVIRONMENT,
                "--target",
                "workspace",
                "-o",
                &dest,
            ],
        );
        assert!(!ok, "{label}: {log}");
        assert_points_at(&log, 7, "- uses: fetch");
    }
}
