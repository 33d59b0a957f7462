//! Concurrency and cancellation on both engines:
//!
//! - 4 builds of one package at once (signed, one `SOURCE_DATE_EPOCH`) give
//!   byte-identical APKs and indexes;
//! - 4 warm rebuilds at once run no step: every pipeline step writes a
//!   random marker (`/proc/sys/kernel/random/uuid`) into the package, so a
//!   step that ran again would change the package's bytes; and every step
//!   any of the 4 clients shows is `CACHED` (BuildKit merges identical
//!   vertices of concurrent builds and may show a step to one client only,
//!   so the 4 logs are read together);
//! - a client interrupted (SIGINT) during a 30 s step: the build fails, the
//!   step's process is gone from the host within seconds, nothing is
//!   written to the `-o` folder, the daemon answers, and the same build
//!   then succeeds.
//!
//! No `--no-cache` here: such a build makes BuildKit re-run the merged
//! vertices of builds beside it (docs/limits.md), so hack/test
//! runs this file apart from `--no-cache` tests.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use melange_frontend::apk::tools::verify_file;
use melange_frontend::apk::{Keyring, Verified};

const EPOCH: &str = "SOURCE_DATE_EPOCH=1700000000";
const BUILDS: usize = 4;

/// A package whose two steps each leave a random marker in it.
fn marker_package(dir: &Path) -> PathBuf {
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    // Unique per run: every step is new to the daemon.
    std::fs::write(context.join(".e2e-run"), dir.display().to_string()).unwrap();
    std::fs::write(
        context.join("package.yaml"),
        "# syntax=melange-frontend:dev\n\
         package: {name: markers, version: '1.0', epoch: 0, description: random markers}\n\
         pipeline:\n\
         \x20 - name: first marker\n\
         \x20   runs: |\n\
         \x20     mkdir -p ${{targets.destdir}}/markers\n\
         \x20     cat /proc/sys/kernel/random/uuid > ${{targets.destdir}}/markers/first\n\
         \x20 - name: second marker\n\
         \x20   runs: cat /proc/sys/kernel/random/uuid > ${{targets.destdir}}/markers/second\n",
    )
    .unwrap();
    context
}

/// Run `BUILDS` builds of `context` at once, into `<dir>/<label>-<i>`.
fn build_concurrently(
    engine: Engine,
    context: &Path,
    dir: &Path,
    label: &str,
    args: &[&str],
) -> Vec<(PathBuf, BuildOutput)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..BUILDS)
            .map(|i| {
                let out = dir.join(format!("{label}-{i}"));
                scope.spawn(move || {
                    let built = build(engine, context, &out, args);
                    (out, built)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("build thread"))
            .collect()
    })
}

/// Every file under `out` with its bytes.
fn contents(out: &Path) -> Vec<(String, Vec<u8>)> {
    tree(out)
        .into_iter()
        .filter(|f| !f.ends_with('/'))
        .map(|f| {
            let bytes = std::fs::read(out.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

fn concurrent_builds_are_identical(engine: Engine) {
    let dir = scratch_dir("concurrent");
    let context = copy_package("hello", &dir);
    let (key, keys) = signing_key(&dir);
    let secret = format!("id=melange.rsa,src={}", key.display());
    let args = ["--secret", &secret, "--build-arg", EPOCH];
    let started = Instant::now();
    let builds = build_concurrently(engine, &context, &dir, "out", &args);
    let elapsed = started.elapsed();
    for (_, built) in &builds {
        assert!(built.success, "{}", built.log);
    }
    let first = contents(&builds[0].0);
    let names: Vec<&str> = first.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "x86_64/APKINDEX.tar.gz",
            "x86_64/hello-0.17-r1.apk",
            "x86_64/hello-doc-0.17-r1.apk",
            "x86_64/hello-env-0.17-r1.apk"
        ]
    );
    for (out, _) in &builds[1..] {
        assert!(
            contents(out) == first,
            "{out:?} differs from {:?}",
            builds[0].0
        );
    }
    let keyring = Keyring::from_dir(&keys).unwrap();
    for (file, _) in &first {
        let verified = verify_file(&builds[0].0.join(file), &keyring);
        assert!(
            matches!(verified, Ok(Verified::Signed { .. })),
            "{file}: {verified:?}"
        );
    }
    eprintln!(
        "{engine:?}: {BUILDS} concurrent signed builds in {:.1}s, identical",
        elapsed.as_secs_f64()
    );
}

fn concurrent_warm_rebuilds_run_nothing(engine: Engine) {
    let dir = scratch_dir("concurrent-warm");
    let context = marker_package(&dir);
    let args = ["--build-arg", EPOCH];
    let cold = build(engine, &context, &dir.join("cold"), &args);
    assert!(cold.success, "{}", cold.log);
    let cold_files = contents(&dir.join("cold"));
    assert_eq!(cold_files.len(), 2, "{cold_files:?}"); // the index and the package

    let started = Instant::now();
    let builds = build_concurrently(engine, &context, &dir, "warm", &args);
    let elapsed = started.elapsed();
    let mut shown = Vec::new();
    for (out, built) in &builds {
        assert!(built.success, "{}", built.log);
        // A step that ran again wrote a new marker: other bytes.
        assert!(
            contents(out) == cold_files,
            "{out:?}: a step ran again\n{}",
            built.log
        );
        shown.extend(built.steps());
    }
    assert!(!shown.is_empty());
    let ran: Vec<_> = shown.iter().filter(|(_, cached)| !cached).collect();
    assert!(ran.is_empty(), "steps ran in a warm rebuild: {ran:?}");
    eprintln!(
        "{engine:?}: {BUILDS} concurrent warm rebuilds in {:.1}s, {} step lines shown, all CACHED",
        elapsed.as_secs_f64(),
        shown.len()
    );
}

/// Whether a process on this host has `token` in its command line (a
/// build step's `sh -c SCRIPT`).
fn process_with(token: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .map(|cmd| String::from_utf8_lossy(&cmd).contains(token))
            .unwrap_or(false)
    })
}

fn cancelled_build_leaves_nothing(engine: Engine) {
    let dir = scratch_dir("cancel");
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    let token = format!("slow-step-{}-{:?}", std::process::id(), engine);
    std::fs::write(
        context.join("package.yaml"),
        format!(
            "# syntax=melange-frontend:dev\n\
             package: {{name: slow, version: '1.0', epoch: 0, description: a slow step}}\n\
             pipeline:\n\
             \x20 - name: slow step\n\
             \x20   runs: |\n\
             \x20     echo \"{token} started\"\n\
             \x20     sleep 30\n\
             \x20     mkdir -p ${{{{targets.destdir}}}}\n\
             \x20     echo done > ${{{{targets.destdir}}}}/done\n"
        ),
    )
    .unwrap();
    use_frontend_image(&context.join("package.yaml"));
    let out = dir.join("out");
    let mut command = Command::new(client(engine));
    match engine {
        Engine::Docker28 | Engine::Docker28c => command.args(["buildx", "build"]).args([
            "--build-context",
            &format!("melange-environment=docker-image://{TEST_ENV_IMAGE}"),
        ]),
        Engine::Docker20 => command.arg("build").args([
            "--build-arg",
            &format!("MELANGE_ENVIRONMENT_IMAGE={TEST_ENV_IMAGE}"),
        ]),
    };
    command
        .args(["--progress=plain", "-f"])
        .arg(context.join("package.yaml"))
        .arg("-o")
        .arg(format!("type=local,dest={}", out.display()))
        .arg(&context)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the client");
    let stderr = child.stderr.take().unwrap();
    let (lines, seen) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line.clone());
            log.push_str(&line);
            log.push('\n');
        }
        log
    });
    let started = format!("{token} started");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) if line.contains(&started) && !line.contains("echo") => break,
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("the slow step did not start:\n{}", reader.join().unwrap());
            }
        }
    }
    assert!(
        process_with(&token),
        "the step's process is not seen on the host"
    );
    // SIGINT, as a user's Ctrl-C, to the client we started (by its id).
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let cancelled_at = Instant::now();
    let status = child.wait().unwrap();
    let log = reader.join().unwrap();
    let client_exit = cancelled_at.elapsed();
    assert!(!status.success(), "an interrupted build succeeded:\n{log}");
    assert!(
        client_exit < Duration::from_secs(20),
        "the client took {client_exit:?} to stop:\n{log}"
    );
    // The step's process goes away well before its 30 s.
    let gone_by = Instant::now() + Duration::from_secs(20);
    while process_with(&token) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(200));
    }
    let process_gone = cancelled_at.elapsed();
    assert!(
        !process_with(&token),
        "the step still runs after the cancel:\n{log}"
    );
    assert!(
        !out.exists() || tree(&out).is_empty(),
        "partial output: {:?}",
        tree(&out)
    );
    let version = Command::new(client(engine))
        .arg("version")
        .output()
        .unwrap();
    assert!(version.status.success(), "the daemon does not answer");

    // The same build again: the cancelled step left nothing behind.
    let started = Instant::now();
    let again = build(engine, &context, &out, &[]);
    assert!(
        again.success,
        "the build after the cancel failed:\n{}",
        again.log
    );
    assert!(
        started.elapsed() >= Duration::from_secs(30),
        "{}",
        again.log
    );
    assert_eq!(
        tree(&out),
        [
            "x86_64/",
            "x86_64/APKINDEX.tar.gz",
            "x86_64/slow-1.0-r0.apk"
        ]
    );
    eprintln!(
        "{engine:?}: cancelled: client exited {:.1}s and the step's process was gone {:.1}s \
         after SIGINT; the next build took {:.1}s",
        client_exit.as_secs_f64(),
        process_gone.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_concurrent_builds_give_identical_packages() {
    concurrent_builds_are_identical(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_concurrent_builds_give_identical_packages() {
    concurrent_builds_are_identical(Engine::Docker20);
}

/// Fails on Docker 28.5 (issue 11 open): of 4 concurrent warm rebuilds,
/// those that get a fresh copy of the context (one build reuses the
/// daemon's saved copy, the others get full transfers) re-run the
/// workspace step and what follows, while each of them alone stays
/// `CACHED`; the Dockerfile frontend's equivalent stays cached. The
/// vertices the builds share (environment image, packaging metadata)
/// point at BuildKit's concurrent-request cache loading (moby/buildkit
/// #4674); not yet avoided. hack/test skips it; run it by hand.
#[test]
#[ignore = "needs the engines; fails on Docker 28.5 (see above): run by hand"]
fn docker28_concurrent_warm_rebuilds_run_no_step() {
    concurrent_warm_rebuilds_run_nothing(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_concurrent_warm_rebuilds_run_no_step() {
    concurrent_warm_rebuilds_run_nothing(Engine::Docker20);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_a_cancelled_build_leaves_nothing_behind() {
    cancelled_build_leaves_nothing(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_a_cancelled_build_leaves_nothing_behind() {
    cancelled_build_leaves_nothing(Engine::Docker20);
}
