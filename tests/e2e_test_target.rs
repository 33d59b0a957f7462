//! End-to-end: `--target test` on Docker 28.5 (buildx) and Docker 20.10
//! (`docker build --target test`). The packages are built as target
//! `packages` builds them, then every package's `test:` runs in its own
//! environment installed from the packages the same build made, and the
//! packages are exported only when every test passed:
//!
//! - testdata/test-target/iso: the main package's and the subpackage's
//!   tests each see only their own package, the workspace, their
//!   variables and the test base image (`melange-test-environment`, or
//!   `MELANGE_TEST_ENVIRONMENT_IMAGE` for Docker 20.10); a warm rebuild is
//!   all CACHED, tests included; a changed test pipeline file re-runs that
//!   test alone;
//! - testdata/test-target/fail: a failing test fails the build naming the
//!   package, the step and its line, and exports nothing;
//! - testdata/test-target/corpus: two real `test:` sections of the Wolfi
//!   corpus (containers-shortnames, tk's tk-dev), taken unmodified from
//!   ../shared/corpus with Wolfi's own `test/tw/contains-files` pipeline;
//! - GNU hello (testdata/gnu-hello in the Debian toolchain environment)
//!   with a test that runs `hello` and Wolfi's `test/ldd-check`: the times
//!   of `--target test` and `packages`, cold and warm, are printed.
//!
//! Ignored by plain `cargo test`; run with `--ignored --test-threads=1`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const EPOCH: &str = "SOURCE_DATE_EPOCH=1700000000";
/// The test environments' base in the isolation test: the busybox
/// environment with a marker file the tests look for.
const TEST_BASE_IMAGE: &str = "melange-test-env:test-base";

fn corpus() -> PathBuf {
    repo().join("../shared/corpus")
}

/// Tag [`TEST_BASE_IMAGE`] on `engine`: [`TEST_ENV_IMAGE`] plus
/// `/etc/melange-test-base`. A local Dockerfile build: nothing is pulled.
fn make_test_base(engine: Engine) {
    let dockerfile = format!("FROM {TEST_ENV_IMAGE}\nRUN touch /etc/melange-test-base\n");
    let dir = scratch_dir("test-base");
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let output = Command::new(client(engine))
        .args(["build", "-q", "-t", TEST_BASE_IMAGE])
        .arg(&dir)
        .env("DOCKER_BUILDKIT", "1")
        .output()
        .expect("docker build");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The arguments naming the test base on `engine`.
fn test_base_args(engine: Engine, image: &str) -> Vec<String> {
    match engine {
        Engine::Docker28 | Engine::Docker28c => vec![
            "--build-context".into(),
            format!("melange-test-environment=docker-image://{image}"),
        ],
        Engine::Docker20 => vec![
            "--build-arg".into(),
            format!("MELANGE_TEST_ENVIRONMENT_IMAGE={image}"),
        ],
    }
}

/// Copy testdata/test-target/NAME into `dest/context`.
fn copy_case(name: &str, dest: &Path) -> PathBuf {
    let context = copy_package(&format!("test-target/{name}"), dest);
    assert!(context.join("package.yaml").is_file());
    // A file unique to this run in the source dir too (when the package
    // has one, it alone is the workspace), so that a cold build runs.
    let source_dir = context.join(name);
    if source_dir.is_dir() {
        std::fs::write(source_dir.join(".e2e-run"), dest.display().to_string()).unwrap();
    }
    context
}

/// Build `--target test` in the busybox environment.
fn build_test(engine: Engine, context: &Path, out: &Path, extra: &[String]) -> BuildOutput {
    let mut args: Vec<&str> = vec!["--target", "test", "--build-arg", EPOCH];
    args.extend(extra.iter().map(String::as_str));
    build(engine, context, out, &args)
}

/// The `[test k/N] …` steps the log shows, with whether each was CACHED.
fn test_steps(output: &BuildOutput) -> Vec<(String, bool)> {
    output
        .steps()
        .into_iter()
        .filter(|(name, _)| name.starts_with("[test "))
        .collect()
}

/// The `.apk` files the build exported.
fn apks(out: &Path) -> Vec<String> {
    if !out.exists() {
        return Vec::new();
    }
    let mut files: Vec<String> = tree(out)
        .into_iter()
        .filter(|f| f.ends_with(".apk") || f.ends_with("APKINDEX.tar.gz"))
        .collect();
    files.sort();
    files
}

fn isolation(engine: Engine) {
    make_test_base(engine);
    let dir = scratch_dir("test-iso");
    let context = copy_case("iso", &dir);
    let base = test_base_args(engine, TEST_BASE_IMAGE);
    let out = dir.join("out");
    let cold = build_test(engine, &context, &out, &base);
    assert!(cold.success, "build failed:\n{}", cold.log);
    assert_eq!(
        apks(&out),
        [
            "x86_64/APKINDEX.tar.gz",
            "x86_64/iso-1.0-r0.apk",
            "x86_64/iso-extra-1.0-r0.apk"
        ],
        "{}",
        cold.log
    );
    let steps = test_steps(&cold);
    let names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "[test 1/6] iso: environment",
        "[test 2/6] iso: sees only iso",
        "[test 3/6] iso: runs iso",
        "[test 4/6] iso-extra: environment",
        "[test 5/6] iso-extra: sees only iso-extra",
        "[test 6/6] iso-extra: uses: check-extra",
    ] {
        assert!(
            names.contains(&want),
            "no {want:?} in {names:#?}\n{}",
            cold.log
        );
    }
    // The install steps are named as the build's are.
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("[test 4/6] iso-extra: environment: unpack iso-extra-1.0-r0")),
        "{names:#?}"
    );
    let ran: Vec<&(String, bool)> = steps
        .iter()
        .filter(|(n, _)| n.contains(": sees only") || n.contains("runs iso"))
        .collect();
    assert!(
        ran.iter().all(|(_, cached)| !cached),
        "{ran:?}\n{}",
        cold.log
    );

    // Warm: everything CACHED, the tests included.
    let warm_out = dir.join("out-warm");
    let warm = build_test(engine, &context, &warm_out, &base);
    assert!(warm.success, "warm build failed:\n{}", warm.log);
    let not_cached: Vec<(String, bool)> = warm
        .steps()
        .into_iter()
        .filter(|(_, cached)| !cached)
        .collect();
    assert!(
        not_cached.is_empty(),
        "warm rebuild ran {not_cached:#?}\n{}",
        warm.log
    );
    assert_eq!(apks(&warm_out), apks(&out));

    // A changed test pipeline file (not the build file, which every
    // package carries as .melange.yaml) re-runs only that test.
    let pipeline = context.join("pipelines/check-extra.yaml");
    let text = read(&pipeline).replace("grep -q", "grep -q -e");
    std::fs::write(&pipeline, text).unwrap();
    let changed = build_test(engine, &context, &dir.join("out-changed"), &base);
    assert!(changed.success, "{}", changed.log);
    for (name, cached) in changed.steps() {
        let expect_cached = name != "[test 6/6] iso-extra: uses: check-extra";
        assert_eq!(cached, expect_cached, "{name}\n{}", changed.log);
    }
}

#[test]
#[ignore]
fn tests_are_isolated_and_cached_on_docker28() {
    isolation(Engine::Docker28);
}

#[test]
#[ignore]
fn tests_are_isolated_and_cached_on_docker20() {
    isolation(Engine::Docker20);
}

fn failing(engine: Engine) {
    let dir = scratch_dir("test-fail");
    let context = copy_case("fail", &dir);
    let out = dir.join("out");
    let failed = build_test(engine, &context, &out, &[]);
    assert!(!failed.success, "a failing test passed:\n{}", failed.log);
    let message =
        "test of package fails failed at step \"[test 3/3] fails: breaks\" (package.yaml:19)";
    assert!(failed.log.contains(message), "{}", failed.log);
    assert!(failed.log.contains("about to fail"), "{}", failed.log);
    assert!(apks(&out).is_empty(), "exported {:?}", apks(&out));
}

#[test]
#[ignore]
fn a_failing_test_fails_the_build_on_docker28() {
    failing(Engine::Docker28);
}

#[test]
#[ignore]
fn a_failing_test_fails_the_build_on_docker20() {
    failing(Engine::Docker20);
}

/// The lines of the `test:` block that starts with `indent` + `test:` in
/// `text` after the line `after` (the block: that line and every deeper
/// or empty line after it).
fn test_block(text: &str, after: &str, indent: usize) -> String {
    let start_key = format!("{}test:", " ".repeat(indent));
    let mut lines = text.lines().skip_while(|l| *l != after);
    let mut block = Vec::new();
    for line in lines.by_ref() {
        if line == start_key {
            block.push(line);
            break;
        }
    }
    assert!(!block.is_empty(), "no {start_key:?} after {after:?}");
    for line in lines {
        let depth = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && depth <= indent {
            break;
        }
        block.push(line);
    }
    while block.last().is_some_and(|l| l.trim().is_empty()) {
        block.pop();
    }
    block.join("\n") + "\n"
}

fn corpus_sections(engine: Engine) {
    let dir = scratch_dir("test-corpus");
    let context = copy_case("corpus", &dir);
    let wolfi = corpus().join("wolfi");
    let shortnames = read(&wolfi.join("containers-shortnames.yaml"));
    let tk = read(&wolfi.join("tk.yaml"));
    let main_test = test_block(&shortnames, "package:", 0);
    let tk_dev_test = test_block(&tk, "  - name: tk-dev", 4);
    assert!(main_test.contains("uses: test/tw/contains-files"));
    assert!(tk_dev_test.contains("uses: test/tw/contains-files"));
    let file = context.join("package.yaml");
    let text = read(&file) + &tk_dev_test + "\n" + &main_test;
    std::fs::write(&file, text).unwrap();
    let pipelines = context.join("pipelines/test/tw");
    std::fs::create_dir_all(&pipelines).unwrap();
    std::fs::copy(
        corpus().join("wolfi-pipelines/test/tw/contains-files.yaml"),
        pipelines.join("contains-files.yaml"),
    )
    .unwrap();

    let out = dir.join("out");
    let built = build_test(engine, &context, &out, &[]);
    assert!(built.success, "build failed:\n{}", built.log);
    let names: Vec<String> = test_steps(&built).into_iter().map(|(n, _)| n).collect();
    for want in [
        "containers-shortnames: uses: test/tw/contains-files › check the specified dir for file names",
        "containers-shortnames: Verify shortnames configuration content",
        "tk-dev: uses: test/tw/contains-files › check the speficied files paths",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(want)),
            "no step ending {want:?} in {names:#?}"
        );
    }
    assert!(
        built
            .log
            .contains("containers-shortnames configuration validated"),
        "{}",
        built.log
    );
    assert!(
        built
            .log
            .contains("PASS: the specified file paths are in the package"),
        "{}",
        built.log
    );
    // tk-dev's test environment has tk too: its runtime dependency, from
    // the packages this build made.
    assert!(
        names
            .iter()
            .any(|n| n.contains("tk-dev: environment: unpack tk-2025.03.19-r0")),
        "{names:#?}"
    );
    assert_eq!(apks(&out).len(), 4, "{:?}", apks(&out));
}

#[test]
#[ignore]
fn real_corpus_test_sections_pass_on_docker28() {
    corpus_sections(Engine::Docker28);
}

#[test]
#[ignore]
fn real_corpus_test_sections_pass_on_docker20() {
    corpus_sections(Engine::Docker20);
}

/// GNU hello's test: the program says hello, and Wolfi's ldd-check finds
/// its libraries (its needs, and libc, are left to the Debian image).
const HELLO_TEST: &str = r#"
test:
  pipeline:
    - name: hello says hello
      runs: |
        hello | grep -x 'Hello, world!'
        hello --version | grep -q '^hello (GNU Hello) 2.10$'
    - uses: test/ldd-check
      with:
        files: /usr/bin/hello
"#;

fn timed(f: impl FnOnce() -> BuildOutput) -> (BuildOutput, Duration) {
    let started = Instant::now();
    let output = f();
    (output, started.elapsed())
}

fn gnu_hello(engine: Engine) {
    let sources = test_sources_dir();
    let tarball = "hello-2.10.tar.gz";
    assert!(
        sources.join(tarball).is_file(),
        "{} is missing: run hack/engines",
        sources.join(tarball).display()
    );
    let server = FileServer::start(LOOPBACK, &sources);
    let mut times = Vec::new();
    for target in ["packages", "test"] {
        let dir = scratch_dir(&format!("test-hello-{target}"));
        let context = copy_package("gnu-hello", &dir);
        let file = context.join("package.yaml");
        set_var(&file, "mirror", &server.url());
        std::fs::write(&file, read(&file) + HELLO_TEST).unwrap();
        let pipelines = context.join("pipelines/test");
        std::fs::create_dir_all(&pipelines).unwrap();
        std::fs::copy(
            corpus().join("wolfi-pipelines/test/ldd-check.yaml"),
            pipelines.join("ldd-check.yaml"),
        )
        .unwrap();
        let args = ["--target", target, "--build-arg", EPOCH];
        let (cold, cold_time) = timed(|| {
            build_in(
                engine,
                DEBIAN_BUILD_ENV_IMAGE,
                &context,
                &dir.join("out"),
                &args,
            )
        });
        assert!(cold.success, "{target} cold failed:\n{}", cold.log);
        // Cold indeed: the context is unique to this run, so make runs.
        assert!(
            cold.steps()
                .iter()
                .any(|(name, cached)| name.ends_with("uses: autoconf/make") && !cached),
            "{target}: {:#?}",
            cold.steps()
        );
        let (warm, warm_time) = timed(|| {
            build_in(
                engine,
                DEBIAN_BUILD_ENV_IMAGE,
                &context,
                &dir.join("warm"),
                &args,
            )
        });
        assert!(warm.success, "{target} warm failed:\n{}", warm.log);
        assert!(
            warm.steps().iter().all(|(_, cached)| *cached),
            "{target} warm ran steps: {:#?}",
            warm.steps()
        );
        assert_eq!(apks(&dir.join("out")).len(), 3);
        if target == "test" {
            let names: Vec<String> = test_steps(&cold).into_iter().map(|(n, _)| n).collect();
            assert!(
                names.contains(&"[test 2/3] hello: hello says hello".to_string()),
                "{names:#?}\n{}",
                cold.log
            );
            assert!(
                cold.log.contains("PASS[ldd-check]: /usr/bin/hello"),
                "{}",
                cold.log
            );
            // ldd-check's needs and hello's libc are no repository's: left
            // to the image, with a warning naming them.
            let warning = cold
                .log
                .lines()
                .find(|l| l.contains("WARNING: no repository provides"))
                .unwrap_or_else(|| panic!("no warning:\n{}", cold.log));
            for name in ["apk-tools", "posix-libc-utils", "so:libc.so.6"] {
                assert!(warning.contains(name), "{warning}");
            }
            // hello-doc's dependencies are not hello's test's business.
            assert!(!warning.contains("man-db"), "{warning}");
        }
        times.push((target, cold_time, warm_time));
    }
    for (target, cold, warm) in times {
        println!(
            "GNU hello on {engine:?}: --target {target}: cold {:.1}s, warm {:.1}s",
            cold.as_secs_f64(),
            warm.as_secs_f64()
        );
    }
}

#[test]
#[ignore]
fn gnu_hello_is_tested_on_docker28() {
    gnu_hello(Engine::Docker28);
}

#[test]
#[ignore]
fn gnu_hello_is_tested_on_docker20() {
    gnu_hello(Engine::Docker20);
}

#[test]
fn corpus_test_blocks_are_found_verbatim() {
    let tk = read(&corpus().join("wolfi/tk.yaml"));
    let block = test_block(&tk, "  - name: tk-dev", 4);
    assert_eq!(
        block,
        "    test:\n      pipeline:\n        - uses: test/tw/contains-files\n          with:\n            files: /usr/lib/tkConfig.sh\n"
    );
}
