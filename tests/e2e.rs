//! End-to-end: the frontend image driven by the real CLIs users run, on the
//! real engines hack/engines starts (Docker 28.5 + buildx, Docker 20.10).
//! Ignored by plain `cargo test`; `hack/test` runs them with `--ignored`.

mod common;

use common::*;

fn hello_build(engine: Engine) {
    let dir = scratch_dir("hello");
    let context = copy_package("hello", &dir);
    let out = dir.join("out");
    let result = build(
        engine,
        &context,
        &out,
        &[
            "--target",
            "workspace",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
        ],
    );
    assert!(result.success, "build failed:\n{}", result.log);
    assert_eq!(
        tree(&out),
        [
            "hello-doc/",
            "hello-doc/usr/",
            "hello-doc/usr/share/",
            "hello-doc/usr/share/doc/",
            "hello-doc/usr/share/doc/hello/",
            "hello-doc/usr/share/doc/hello/README",
            "hello-env/",
            "hello-env/etc/",
            "hello-env/etc/env",
            "hello/",
            "hello/usr/",
            "hello/usr/bin/",
            "hello/usr/bin/hello",
            "hello/usr/share/",
            "hello/usr/share/hello/",
            "hello/usr/share/hello/greeting.txt",
            "hello/usr/share/hello/message.txt",
        ]
    );
    assert_eq!(
        read(&out.join("hello/usr/share/hello/greeting.txt")),
        "hello from compile in /home/build/build\n"
    );
    assert_eq!(
        read(&out.join("hello/usr/share/hello/message.txt")),
        "message from the build context\n"
    );
    assert_eq!(
        read(&out.join("hello/usr/bin/hello")),
        "#!/bin/sh\necho hello 0.17-r1\n"
    );
    assert_eq!(
        read(&out.join("hello-doc/usr/share/doc/hello/README")),
        "docs for hello\n"
    );
    assert_eq!(
        read(&out.join("hello-env/etc/env")),
        "HOME=/home/build\nGOCACHE=/root/.cache/go-build\nSOURCE_DATE_EPOCH=1700000000\nPWD=/tmp\n"
    );
    let names: Vec<String> = result.steps().into_iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        [
            "[1/6] environment",
            "[2/6] build",
            "[3/6] install",
            "[4/6] hello-doc: mkdir -p /home/build/melange-out/hello-doc/usr/share/doc/he…",
            "[5/6] hello-env: mkdir -p /home/build/melange-out/hello-env/etc",
            "[6/6] collect melange-out",
        ],
        "{}",
        result.log
    );
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_buildx_builds_the_melange_out_tree() {
    hello_build(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_build_builds_the_melange_out_tree() {
    hello_build(Engine::Docker20);
}

fn rebuild_is_all_cached(engine: Engine) {
    let dir = scratch_dir("cached");
    let context = copy_package("hello", &dir);
    let first = build(engine, &context, &dir.join("out1"), &[]);
    assert!(first.success, "{}", first.log);
    let second = build(engine, &context, &dir.join("out2"), &[]);
    assert!(second.success, "{}", second.log);
    let steps = second.steps();
    assert_eq!(steps.len(), 6, "{}", second.log);
    let not_cached: Vec<&String> = steps
        .iter()
        .filter(|(_, cached)| !cached)
        .map(|(name, _)| name)
        .collect();
    assert!(
        not_cached.is_empty(),
        "not CACHED on rebuild: {not_cached:?}\n{}",
        second.log
    );
    assert_eq!(tree(&dir.join("out1")), tree(&dir.join("out2")));
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_rebuild_without_change_is_all_cached() {
    rebuild_is_all_cached(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_rebuild_without_change_is_all_cached() {
    rebuild_is_all_cached(Engine::Docker20);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn changing_the_last_step_reruns_only_it() {
    let dir = scratch_dir("last-step");
    let context = copy_package("hello", &dir);
    let workspace = ["--target", "workspace"];
    let first = build(Engine::Docker28, &context, &dir.join("out1"), &workspace);
    assert!(first.success, "{}", first.log);
    let yaml = read(&context.join("package.yaml")).replace("PWD=$(pwd)", "PWD=$(pwd) changed");
    std::fs::write(context.join("package.yaml"), yaml).unwrap();
    let second = build(Engine::Docker28, &context, &dir.join("out2"), &workspace);
    assert!(second.success, "{}", second.log);
    let cached: Vec<(String, bool)> = second.steps();
    let flags: Vec<bool> = cached.iter().map(|(_, c)| *c).collect();
    // The collect step is keyed by the content it copies, so it may be
    // CACHED too when an earlier run produced the same tree.
    assert_eq!(flags.len(), 6, "{cached:?}\n{}", second.log);
    assert_eq!(
        flags[..5],
        [true, true, true, true, false],
        "{cached:?}\n{}",
        second.log
    );

    assert!(read(&dir.join("out2/hello-env/etc/env")).contains("PWD=/tmp changed"));
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn cache_mounts_persist_across_packages() {
    let token = format!(
        "token-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let dir = scratch_dir("cache-mount");
    let writer = dir.join("writer");
    std::fs::create_dir_all(&writer).unwrap();
    std::fs::write(
        writer.join("package.yaml"),
        format!(
            "# syntax={FRONTEND_IMAGE}\npackage: {{name: cache-writer, version: 1}}\npipeline:\n  - runs: |\n      echo {token} > /root/.cache/go-build/melange-e2e-token\n      test \"$GOCACHE\" = /root/.cache/go-build\n"
        ),
    )
    .unwrap();
    let result = build(Engine::Docker28, &writer, &dir.join("out-writer"), &[]);
    assert!(result.success, "{}", result.log);
    let reader = dir.join("reader");
    std::fs::create_dir_all(&reader).unwrap();
    std::fs::write(
        reader.join("package.yaml"),
        format!(
            "# syntax={FRONTEND_IMAGE}\npackage: {{name: cache-reader, version: 1}}\npipeline:\n  - runs: |\n      # reader for {token}\n      cp /root/.cache/go-build/melange-e2e-token ${{{{targets.destdir}}}}/token\n      for d in /go/pkg/mod /root/.cache/pip /root/.npm /root/.cargo/registry /root/.cargo/git /root/.ccache /var/cache/apk; do test -d $d; done\n"
        ),
    )
    .unwrap();
    let result = build(
        Engine::Docker28,
        &reader,
        &dir.join("out-reader"),
        &["--target", "workspace"],
    );
    assert!(result.success, "{}", result.log);
    assert_eq!(
        read(&dir.join("out-reader/cache-reader/token")),
        format!("{token}\n")
    );
}

fn yaml_error_is_located(engine: Engine) {
    let dir = scratch_dir("yaml-error");
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("package.yaml"),
        format!("# syntax={FRONTEND_IMAGE}\npackage:\n  name: broken\n  version: 1\n  epohc: 0\n"),
    )
    .unwrap();
    let result = build(engine, &context, &dir.join("out"), &[]);
    assert!(
        !result.success,
        "a bad file must fail the build:\n{}",
        result.log
    );
    assert!(
        result
            .log
            .contains("package.yaml:5:3: unknown key `epohc` in package (did you mean `epoch`?)"),
        "error without position:\n{}",
        result.log
    );
    assert!(
        !dir.join("out").exists() || tree(&dir.join("out")).is_empty(),
        "nothing may be exported"
    );
    if engine == Engine::Docker28 {
        // The status carries a source location, so buildx shows the lines.
        assert!(
            result.log.contains(">>>   epohc: 0"),
            "no source snippet:\n{}",
            result.log
        );
    }
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_yaml_error_shows_file_line_col() {
    yaml_error_is_located(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_yaml_error_shows_file_line_col() {
    yaml_error_is_located(Engine::Docker20);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_call_targets_lists_the_targets() {
    let dir = scratch_dir("targets");
    let context = copy_package("hello", &dir);
    let output = std::process::Command::new(repo().join("hack/docker28"))
        .args(["buildx", "build", "--call", "targets", "-f"])
        .arg(context.join("package.yaml"))
        .arg(&context)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("packages (default)"), "{stdout}");
    assert!(stdout.contains("workspace"), "{stdout}");
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_image_config_and_cache_dir_reach_the_steps() {
    let dir = scratch_dir("image-config");
    // An environment image with its own variables, built from the busybox one.
    let image = "melange-test-env:configured";
    let dockerfile = format!("FROM {TEST_ENV_IMAGE}\nENV IMAGE_VAR=from-image PATH=/opt/tools:/usr/bin:/bin GREETING=image\n");
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let status = std::process::Command::new(repo().join("hack/docker28"))
        .args(["build", "-q", "-t", image])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("sha256:abc"), "cached source\n").unwrap();
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("package.yaml"),
        format!(
            "# syntax={FRONTEND_IMAGE}\npackage: {{name: configured, version: 1}}\nenvironment:\n  environment:\n    GREETING: yaml\npipeline:\n  - runs: |\n      d=${{{{targets.destdir}}}}\n      echo \"$IMAGE_VAR $PATH $GREETING\" > $d/env\n      cp '/var/cache/melange/sha256:abc' $d/from-cache\n"
        ),
    )
    .unwrap();
    use_frontend_image(&context.join("package.yaml"));
    let out = dir.join("out");
    let output = std::process::Command::new(repo().join("hack/docker28"))
        .args([
            "buildx",
            "build",
            "--progress=plain",
            "--target",
            "workspace",
        ])
        .arg("--build-context")
        .arg(format!("melange-environment=docker-image://{image}"))
        .arg("--build-context")
        .arg(format!("melange-cache={}", cache.display()))
        .arg("-f")
        .arg(context.join("package.yaml"))
        .arg("-o")
        .arg(format!("type=local,dest={}", out.display()))
        .arg(&context)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        read(&out.join("configured/env")),
        "from-image /opt/tools:/usr/bin:/bin yaml\n"
    );
    assert_eq!(read(&out.join("configured/from-cache")), "cached source\n");
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_vars_ranges_and_conditions() {
    let dir = scratch_dir("language");
    let context = copy_package("language", &dir);
    let out = dir.join("out");
    let result = build(Engine::Docker28, &context, &out, &["--target", "workspace"]);
    assert!(result.success, "build failed:\n{}", result.log);
    assert_eq!(
        tree(&out),
        [
            "lang-a/",
            "lang-a/etc/",
            "lang-a/etc/a",
            "lang-b/",
            "lang-b/etc/",
            "lang-b/etc/b",
            "lang/",
            "lang/usr/",
            "lang/usr/share/",
            "lang/usr/share/lang/",
            "lang/usr/share/lang/info",
        ]
    );
    assert_eq!(
        read(&out.join("lang/usr/share/lang/info")),
        "2.4 x86_64 x86_64-pc-linux-gnu\n"
    );
    assert_eq!(read(&out.join("lang-b/etc/b")), "beta in lang-b\n");
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_uses_builtins_and_the_pipeline_dir() {
    let dir = scratch_dir("uses");
    let context = copy_package("uses", &dir);
    let out = dir.join("out");
    let result = build(Engine::Docker28, &context, &out, &["--target", "workspace"]);
    assert!(result.success, "build failed:\n{}", result.log);
    assert_eq!(
        tree(&out),
        [
            "uses-demo-doc/",
            "uses-demo-doc/usr/",
            "uses-demo-doc/usr/share/",
            "uses-demo-doc/usr/share/man/",
            "uses-demo-doc/usr/share/man/man1/",
            "uses-demo-doc/usr/share/man/man1/uses-demo.1",
            "uses-demo-en/",
            "uses-demo-en/usr/",
            "uses-demo-en/usr/share/",
            "uses-demo-en/usr/share/en/",
            "uses-demo-en/usr/share/en/message",
            "uses-demo-fr/",
            "uses-demo-fr/usr/",
            "uses-demo-fr/usr/share/",
            "uses-demo-fr/usr/share/fr/",
            "uses-demo-fr/usr/share/fr/message",
            "uses-demo/",
            "uses-demo/arch",
            "uses-demo/usr/",
            "uses-demo/usr/share/",
            "uses-demo/usr/share/greet/",
            "uses-demo/usr/share/greet/message",
        ]
    );
    assert_eq!(
        read(&out.join("uses-demo/usr/share/greet/message")),
        "hello-1.2.3 step /home/build/src/out\n-- hello-1.2.3\n"
    );
    assert_eq!(read(&out.join("uses-demo/arch")), "x86 1_2\n");
    assert_eq!(
        read(&out.join("uses-demo-fr/usr/share/fr/message")),
        "bonjour top /home/build/out\n-- bonjour\n"
    );
    let names: Vec<String> = result.steps().into_iter().map(|(name, _)| name).collect();
    assert!(
        names.contains(&"[10/11] uses-demo-doc: uses: split/manpages".to_string()),
        "{names:?}"
    );
}
