//! End-to-end `uses: git-checkout` done by BuildKit's Git source: GNU hello's
//! release tree committed and tagged in a bare repository, served over plain
//! ("dumb") HTTP from the host (`git update-server-info`, no git server),
//! built from testdata/gnu-hello-git in a Debian toolchain environment with
//! no git (and no autotools) on Docker 28.5 and 20.10: signed APKs whose
//! `usr/bin/hello` runs; a warm rebuild all CACHED with the server stopped
//! (the tag then unchecked, with a warning); an expected-commit that is not
//! the tag's fails naming both commits. The server listens on 127.0.0.1:
//! BuildKit fetches the repository and its refs in the host's network.
//!
//! The engine tests are ignored by plain `cargo test`; `hack/test` runs them
//! with `--ignored`. The host needs git to make the repository.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::*;

const EPOCH: &str = "SOURCE_DATE_EPOCH=1700000000";
/// GNU hello's release tarball, cached by hack/test-env-debian.
const HELLO_TARBALL: &str = "hello-2.10.tar.gz";
/// The Debian toolchain environment without git and the autotools, made by
/// [`no_git_env`]: a step that needed git, or a make that wanted to
/// regenerate configure, would fail.
const NO_GIT_ENV_IMAGE: &str = "melange-test-env:debian-nogit";

/// The steps a workspace build of testdata/gnu-hello-git shows, in order.
const STEPS: [&str; 11] = [
    "[1/11] environment",
    "[2/11] uses: git-checkout",
    "[3/11] the checkout is a shallow clone at the tag",
    "[4/11] uses: autoconf/configure",
    "[5/11] uses: autoconf/make",
    "[6/11] uses: autoconf/make-install › make -C \".\" install DESTDIR=\"/home/build/melange-out/hello\"…",
    "[7/11] uses: autoconf/make-install › remove libtool archives",
    "[8/11] uses: strip",
    "[9/11] hello-doc: uses: split/manpages",
    "[10/11] hello-doc: uses: split/infodir",
    "[11/11] collect melange-out",
];

#[test]
fn gnu_hello_git_plans_a_native_checkout() {
    let output = Command::new(env!("CARGO_BIN_EXE_melange-frontend"))
        .current_dir(repo())
        .args([
            "plan",
            "testdata/gnu-hello-git/package.yaml",
            "--target",
            "workspace",
            "--build-context",
        ])
        .arg(format!(
            "melange-environment=docker-image://{NO_GIT_ENV_IMAGE}"
        ))
        .output()
        .expect("run melange-frontend plan");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("plan JSON");
    let step = &json["plan"]["steps"][0];
    assert_eq!(step["name"], STEPS[1], "{stdout}");
    assert_eq!(step["source"]["kind"], "git-checkout", "{stdout}");
    assert_eq!(step["source"]["reference"]["name"], "v2.10", "{stdout}");
    assert_eq!(step["script"], "", "{stdout}");
}

/// A bare repository of GNU hello's release tree under `root/hello.git`:
/// commit 1 is the tree, tagged `v2.10` (annotated); commit 2 on top adds a
/// file. The first commit's message names `root`, so every run has its own
/// ids and BuildKit really fetches (a Git source is cached by its commit).
/// Returns both commit ids.
fn hello_repository(root: &Path) -> (String, String) {
    let tarball = test_sources_dir().join(HELLO_TARBALL);
    assert!(
        tarball.is_file(),
        "{} is missing: run hack/engines (it runs hack/test-env-debian)",
        tarball.display()
    );
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let run = |dir: &Path, args: &[&str]| {
        let output = Command::new(args[0])
            .args(&args[1..])
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "GNU hello")
            .env("GIT_AUTHOR_EMAIL", "hello@example.org")
            .env("GIT_COMMITTER_NAME", "GNU hello")
            .env("GIT_COMMITTER_EMAIL", "hello@example.org")
            .env("GIT_AUTHOR_DATE", "2014-11-16T12:00:00Z")
            .env("GIT_COMMITTER_DATE", "2014-11-16T12:00:00Z")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    run(
        &work,
        &[
            "tar",
            "-xzf",
            &tarball.display().to_string(),
            "--strip-components=1",
        ],
    );
    run(&work, &["git", "init", "-q", "-b", "master"]);
    run(&work, &["git", "add", "-A"]);
    let message = format!("GNU hello 2.10\n\ntest run {}", root.display());
    run(&work, &["git", "commit", "-q", "-m", &message]);
    run(
        &work,
        &["git", "tag", "-a", "v2.10", "-m", "GNU hello 2.10"],
    );
    let first = run(&work, &["git", "rev-parse", "HEAD"]);
    std::fs::write(work.join("AFTER-2.10"), "work after the release\n").unwrap();
    run(&work, &["git", "add", "AFTER-2.10"]);
    run(&work, &["git", "commit", "-q", "-m", "after 2.10"]);
    let second = run(&work, &["git", "rev-parse", "HEAD"]);
    run(root, &["git", "clone", "-q", "--bare", "work", "hello.git"]);
    // One pack (a dumb fetch then asks for one file, not every object),
    // then the files the dumb protocol reads: info/refs, objects/info/packs.
    run(
        &root.join("hello.git"),
        &["git", "repack", "-a", "-d", "-q"],
    );
    run(&root.join("hello.git"), &["git", "update-server-info"]);
    std::fs::remove_dir_all(&work).unwrap();
    (first, second)
}

/// Make [`NO_GIT_ENV_IMAGE`] on `engine` from [`DEBIAN_BUILD_ENV_IMAGE`]
/// (a Dockerfile build of a local image: nothing is pulled), once per
/// engine in this process: a rebuild while another test of the same engine
/// is between its cold and warm builds could give the tag a new image id
/// and so a new environment under that test.
fn no_git_env(engine: Engine) {
    static MADE: std::sync::Mutex<Vec<Engine>> = std::sync::Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if made.contains(&engine) {
        return;
    }
    derived_env(
        engine,
        NO_GIT_ENV_IMAGE,
        "rm -rf /usr/bin/git* /usr/lib/git-core /usr/bin/autoconf /usr/bin/autoheader \
         /usr/bin/autoreconf /usr/bin/autom4te /usr/bin/automake* /usr/bin/aclocal* \
         && ! command -v git && ! command -v autoconf && ! command -v automake",
    );
    made.push(engine);
}

/// The lines BuildKit printed for the vertex whose name starts with
/// `prefix`, other than its name and digest (`CACHED`, `DONE 0.0s`, its
/// output …).
fn vertex_lines(log: &str, prefix: &str) -> Vec<String> {
    let Some(id) = log
        .lines()
        .filter_map(|line| line.strip_prefix('#')?.split_once(' '))
        .find(|(_, text)| text.starts_with(prefix))
        .map(|(id, _)| format!("#{id} "))
    else {
        return Vec::new();
    };
    log.lines()
        .filter_map(|line| line.strip_prefix(&id))
        // Docker 20.10's progress also prints each vertex's digest.
        .filter(|text| !text.starts_with(prefix) && !text.starts_with("sha256:"))
        .map(str::to_string)
        .collect()
}

/// A context for testdata/gnu-hello-git pointing at `repository`, `commit`.
fn hello_context(dir: &Path, repository: &str, commit: &str) -> PathBuf {
    let context = copy_package("gnu-hello-git", dir);
    let file = context.join("package.yaml");
    set_var(&file, "repository", repository);
    set_var(&file, "commit", commit);
    context
}

/// Held by a test for its whole run: the tests of one engine run one after
/// the other (the two engines in parallel). A concurrent build on the same
/// daemon sends another `context` under the same shared key, and the warm
/// rebuild's build-context copy then runs again instead of CACHED.
fn engine_lock(engine: Engine) -> std::sync::MutexGuard<'static, ()> {
    static LOCKS: [std::sync::Mutex<()>; 2] =
        [std::sync::Mutex::new(()), std::sync::Mutex::new(())];
    let lock = match engine {
        Engine::Docker28 | Engine::Docker28c => &LOCKS[0],
        Engine::Docker20 => &LOCKS[1],
    };
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

fn gnu_hello_git(engine: Engine) {
    let _engine = engine_lock(engine);
    no_git_env(engine);
    let dir = scratch_dir("gnu-hello-git");
    let served = dir.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let (tagged, later) = hello_repository(&served);
    let mut server = FileServer::start(LOOPBACK, &served);
    let repository = format!("{}/hello.git", server.url());
    let context = hello_context(&dir, &repository, &tagged);
    let args = ["--target", "workspace", "--build-arg", EPOCH];

    // Cold. The checkout is BuildKit's, by commit: a full fetch, which the
    // dumb protocol serves (a tag ref would be a shallow fetch, which it
    // cannot).
    let out = dir.join("out");
    let started = Instant::now();
    let cold = build_in(engine, NO_GIT_ENV_IMAGE, &context, &out, &args);
    let cold_time = started.elapsed();
    assert!(cold.success, "build failed:\n{}", cold.log);
    let steps = cold.steps();
    let names: Vec<&str> = steps.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, STEPS, "{}", cold.log);
    assert!(
        steps[..10].iter().all(|(_, cached)| !cached),
        "a cold build ran from cache: {steps:?}\n{}",
        cold.log
    );
    let source = format!("git {repository} tag v2.10 (expected-commit {tagged})");
    assert!(cold.log.contains(&source), "{}", cold.log);
    // The frontend checked the tag before the build, from the refs BuildKit
    // fetched in the host's network (the checkout step has no network).
    assert!(
        cold.log
            .contains(&format!("read the refs of {repository} (check tag v2.10)")),
        "{}",
        cold.log
    );
    assert!(!cold.log.contains("WARNING: git-checkout"), "{}", cold.log);
    // No script ran git: its log lines start with `[git-checkout]`.
    assert!(!cold.log.contains("[git-checkout]"), "{}", cold.log);
    // BuildKit fetched over the dumb protocol (the refs, then the pack),
    // and the refs once more for the frontend's tag check.
    let requests = server.requests();
    let refs = "GET /hello.git/info/refs?service=git-upload-pack 200";
    assert!(
        requests.iter().filter(|r| *r == refs).count() >= 2,
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /hello.git/objects/pack/pack-") && r.ends_with(".pack 200")),
        "{requests:#?}"
    );

    let files = tree(&out);
    assert!(
        files.iter().any(|f| f == "hello/usr/bin/hello"),
        "{files:#?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f == "hello-doc/usr/share/man/man1/hello.1"),
        "{files:#?}"
    );
    hello::workspace_hello_says_hello(engine, NO_GIT_ENV_IMAGE, &out);

    // Warm, with the server stopped: the Git source is keyed by the commit,
    // so BuildKit asks no server and every step is CACHED; the tag cannot
    // be checked, which a warning says.
    server.stop();
    let out_warm = dir.join("out-warm");
    let started = Instant::now();
    let warm = build_in(engine, NO_GIT_ENV_IMAGE, &context, &out_warm, &args);
    let warm_time = started.elapsed();
    assert!(
        warm.success,
        "warm rebuild without the server failed:\n{}",
        warm.log
    );
    let steps = warm.steps();
    assert_eq!(steps.len(), STEPS.len(), "{}", warm.log);
    assert!(
        steps.iter().all(|(_, cached)| *cached),
        "not all CACHED: {steps:?}\n{}",
        warm.log
    );
    // The Git source is not fetched again: BuildKit shows it resolved at
    // once (its cache key is the commit), and the checkout step CACHED.
    let source_lines = vertex_lines(&warm.log, &source);
    assert!(
        !source_lines.is_empty()
            && source_lines
                .iter()
                .all(|l| l == "CACHED" || l == "DONE 0.0s"),
        "{source_lines:?}\n{}",
        warm.log
    );
    assert_eq!(
        vertex_lines(&warm.log, &format!("check out {repository}")),
        ["CACHED"],
        "{}",
        warm.log
    );
    assert_eq!(server.requests(), requests);
    assert_eq!(tree(&out_warm), files);
    let warning = format!(
        "WARNING: git-checkout: tag v2.10 of {repository} is not checked: its refs could not be \
         read ("
    );
    assert!(warm.log.contains(&warning), "{}", warm.log);

    // Signed packages from the warm cache, still without the server.
    let (key, keys) = signing_key(&dir);
    let secret = format!("id=melange.rsa,src={}", key.display());
    let apks = dir.join("out-packages");
    let packaged = build_in(
        engine,
        NO_GIT_ENV_IMAGE,
        &context,
        &apks,
        &["--secret", &secret, "--build-arg", EPOCH],
    );
    assert!(packaged.success, "packages build failed:\n{}", packaged.log);
    hello::signed_hello_packages(&apks, &keys);
    hello::packaged_hello_says_hello(engine, NO_GIT_ENV_IMAGE, &apks);

    // expected-commit is the later commit, not the tag's: the checkout
    // step fails naming repository, tag, expected and actual commit.
    let server = FileServer::start(LOOPBACK, &served);
    let repository = format!("{}/hello.git", server.url());
    let wrong_dir = dir.join("wrong");
    std::fs::create_dir_all(&wrong_dir).unwrap();
    let wrong = hello_context(&wrong_dir, &repository, &later);
    let failed = build_in(
        engine,
        NO_GIT_ENV_IMAGE,
        &wrong,
        &wrong_dir.join("out"),
        &args,
    );
    assert!(
        !failed.success,
        "a tag/commit mismatch built:\n{}",
        failed.log
    );
    let message = format!(
        "git-checkout: expected-commit {later}, but tag v2.10 of {repository} is commit {tagged}"
    );
    assert!(
        failed.log.contains(&message),
        "no {message:?} in:\n{}",
        failed.log
    );

    eprintln!(
        "gnu-hello-git on {engine:?}: cold build {:.1}s, warm rebuild (server stopped) {:.1}s",
        cold_time.as_secs_f64(),
        warm_time.as_secs_f64()
    );
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_gnu_hello_from_a_git_tag() {
    gnu_hello_git(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_gnu_hello_from_a_git_tag() {
    gnu_hello_git(Engine::Docker20);
}

/// A bare repository under `root/private.git` with one commit (a README),
/// tagged `v1`; returns the commit id.
fn tiny_repository(root: &Path) -> String {
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("README"), "private\n").unwrap();
    let git = |dir: &Path, args: &[&str]| {
        let output = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "README"]);
    let message = format!("private {}", root.display());
    git(&work, &["commit", "-q", "-m", &message]);
    git(&work, &["tag", "-a", "v1", "-m", "v1"]);
    let commit = git(&work, &["rev-parse", "HEAD"]);
    git(root, &["clone", "-q", "--bare", "work", "private.git"]);
    git(&root.join("private.git"), &["update-server-info"]);
    commit
}

/// A repository behind HTTP auth: without the `GIT_AUTH_TOKEN` secret
/// BuildKit's fetch is refused; with it BuildKit sends the token (basic auth
/// `x-access-token`, as the Dockerfile frontend's Git sources do) and the
/// build works. The frontend's tag check (an HTTP source, which gets no
/// Git secrets) is refused too: it warns and the build goes on.
fn private_repository(engine: Engine) {
    use base64::Engine as _;
    let _engine = engine_lock(engine);
    no_git_env(engine);
    let dir = scratch_dir("git-private");
    let served = dir.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let commit = tiny_repository(&served);
    let token = format!("token-{}", std::process::id());
    let header = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"))
    );
    let server = FileServer::start_with_auth(LOOPBACK, &served, Some(header));
    let repository = format!("{}/private.git", server.url());
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    let build_file = context.join("package.yaml");
    std::fs::write(
        &build_file,
        format!(
            "# syntax={FRONTEND_IMAGE}\npackage: {{name: private, version: '1', epoch: 0}}\n\
             pipeline:\n  - uses: git-checkout\n    with:\n      repository: {repository}\n      \
             tag: v1\n      expected-commit: {commit}\n  - runs: |\n      mkdir -p \
             ${{{{targets.destdir}}}}\n      cp README ${{{{targets.destdir}}}}/\n"
        ),
    )
    .unwrap();
    std::fs::write(context.join("token"), &token).unwrap();
    let args = ["--target", "workspace"];
    let refused = build_in(
        engine,
        NO_GIT_ENV_IMAGE,
        &context,
        &dir.join("out-refused"),
        &args,
    );
    assert!(
        !refused.success,
        "built without the token:\n{}",
        refused.log
    );
    assert!(
        server.requests().iter().any(|r| r.ends_with(" 401")),
        "{:?}",
        server.requests()
    );
    let secret = format!("id=GIT_AUTH_TOKEN,src={}", context.join("token").display());
    let out = dir.join("out");
    let built = build_in(
        engine,
        NO_GIT_ENV_IMAGE,
        &context,
        &out,
        &["--target", "workspace", "--secret", &secret],
    );
    assert!(built.success, "build with the token failed:\n{}", built.log);
    assert_eq!(read(&out.join("private/README")), "private\n");
    assert!(
        built.log.contains("wants credentials to list its refs"),
        "{}",
        built.log
    );
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_private_repository_with_git_auth_token() {
    private_repository(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_private_repository_with_git_auth_token() {
    private_repository(Engine::Docker20);
}
