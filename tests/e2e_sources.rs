//! End-to-end with real upstream sources: GNU hello's release tarball, served
//! over HTTP from the host, built by the built-in autotools pipelines in the
//! Debian C toolchain environment hack/test-env-debian makes
//! (`melange-test-env:debian-build`), on Docker 28.5 and 20.10, into signed
//! APKs whose `usr/bin/hello` runs.
//!
//! The engine tests are ignored by plain `cargo test`; `hack/test` runs them
//! with `--ignored`. The offline test below only plans the package.

mod common;

use std::time::Instant;

use common::*;
use melange_frontend::apk::ApkFile;

const EPOCH: &str = "SOURCE_DATE_EPOCH=1700000000";

/// GNU hello's release tarball: Debian's hello_2.10.orig.tar.gz, which
/// hack/test-env-debian caches under this name in [`test_sources_dir`].
const HELLO_TARBALL: &str = "hello-2.10.tar.gz";

/// The steps a workspace build of testdata/gnu-hello shows, in order.
const GNU_HELLO_STEPS: [&str; 10] = [
    "[1/10] environment",
    "[2/10] uses: fetch",
    "[3/10] uses: autoconf/configure",
    "[4/10] uses: autoconf/make",
    "[5/10] uses: autoconf/make-install › make -C \".\" install DESTDIR=\"/home/build/melange-out/hello\"…",
    "[6/10] uses: autoconf/make-install › remove libtool archives",
    "[7/10] uses: strip",
    "[8/10] hello-doc: uses: split/manpages",
    "[9/10] hello-doc: uses: split/infodir",
    "[10/10] collect melange-out",
];

#[test]
fn gnu_hello_plans_offline() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_melange-frontend"))
        .current_dir(repo())
        .args([
            "plan",
            "testdata/gnu-hello/package.yaml",
            "--target",
            "workspace",
            "--build-context",
        ])
        .arg(format!(
            "melange-environment=docker-image://{DEBIAN_BUILD_ENV_IMAGE}"
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
    let names: Vec<&str> = json["plan"]["steps"]
        .as_array()
        .expect("plan.steps")
        .iter()
        .map(|step| step["name"].as_str().expect("step name"))
        .collect();
    assert_eq!(names, GNU_HELLO_STEPS[1..9], "{stdout}");
    // The tarball's URI is the upstream one until a test points vars.mirror
    // at its own server.
    assert!(
        stdout.contains("https://ftp.gnu.org/gnu/hello/hello-2.10.tar.gz"),
        "{stdout}"
    );
}

/// Build testdata/gnu-hello on `engine` from the tarball on a local HTTP
/// server: target `workspace` cold, then warm (all CACHED), then target
/// `packages` signed; check the trees and packages, run the program from
/// both, print the times.
fn gnu_hello(engine: Engine) {
    let sources = test_sources_dir();
    assert!(
        sources.join(HELLO_TARBALL).is_file(),
        "{} is missing: run hack/engines (it runs hack/test-env-debian)",
        sources.join(HELLO_TARBALL).display()
    );
    // BuildKit downloads the tarball itself, in the host's network.
    let mut server = FileServer::start(LOOPBACK, &sources);
    let dir = scratch_dir("gnu-hello");
    let context = copy_package("gnu-hello", &dir);
    set_var(&context.join("package.yaml"), "mirror", &server.url());
    let args = ["--target", "workspace", "--build-arg", EPOCH];

    // Cold: the context holds a file unique to this run (copy_package), so
    // every step after the environment runs.
    let out = dir.join("out");
    let started = Instant::now();
    let cold = build_in(engine, DEBIAN_BUILD_ENV_IMAGE, &context, &out, &args);
    let cold_time = started.elapsed();
    assert!(cold.success, "build failed:\n{}", cold.log);
    let steps = cold.steps();
    let names: Vec<&str> = steps.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, GNU_HELLO_STEPS, "{}", cold.log);
    // Every step up to the last runs. The last, the copy of the melange-out
    // tree, may still show CACHED: BuildKit keys a copy by the content it
    // copies, and the tree is byte-identical to an earlier run's.
    assert!(
        steps[..9].iter().all(|(_, cached)| !cached),
        "a cold build ran from cache: {steps:?}\n{}",
        cold.log
    );
    // `fetch` is native: BuildKit downloads the tarball (once; a run after
    // an earlier one finds it by its checksum and asks nothing), and no
    // wget runs in the environment.
    let requests = server.requests();
    assert!(
        requests.is_empty() || requests == [format!("GET /{HELLO_TARBALL} 200")],
        "{requests:?}\n{}",
        cold.log
    );
    // (The build warning naming the packages an image environment does not
    // install lists wget: that line is no wget run.)
    let ran_wget = cold
        .log
        .lines()
        .any(|line| line.contains("wget") && !line.contains("IgnoredPackages"));
    assert!(!ran_wget, "{}", cold.log);
    assert!(
        cold.log
            .contains(&format!("fetch {}/{HELLO_TARBALL}", server.url())),
        "{}",
        cold.log
    );

    // The workspace tree: the program and its translations in hello, its
    // manual and info pages moved to hello-doc (and no info index there).
    let files = tree(&out);
    for want in [
        "hello/usr/bin/hello",
        "hello/usr/share/locale/fr/LC_MESSAGES/hello.mo",
        "hello-doc/usr/share/man/man1/hello.1",
        "hello-doc/usr/share/info/hello.info",
    ] {
        assert!(files.iter().any(|f| f == want), "no {want} in {files:#?}");
    }
    for gone in [
        "hello/usr/share/man/",
        "hello/usr/share/info/",
        "hello-doc/usr/share/info/dir",
    ] {
        assert!(!files.iter().any(|f| f == gone), "{gone} in {files:#?}");
    }
    // It runs in the environment it was built in and says hello.
    hello::workspace_hello_says_hello(engine, DEBIAN_BUILD_ENV_IMAGE, &out);
    // `strip` took the debugging symbols out (configure's default CFLAGS is
    // "-g -O2", so they were there).
    let (ok, stdout, stderr) = run_in(
        engine,
        DEBIAN_BUILD_ENV_IMAGE,
        &out,
        "/o",
        &["file", "-L", "/o/hello/usr/bin/hello"],
    );
    assert!(ok, "file failed: {stdout}{stderr}");
    assert!(stdout.contains("ELF 64-bit LSB"), "{stdout}");
    assert!(!stdout.contains("with debug_info"), "{stdout}");

    // Warm: nothing changed, so every step is CACHED, and with the server
    // stopped the sources come from the cache too (the HTTP source is keyed
    // by its checksum: BuildKit does not ask the server).
    let requests = server.requests();
    server.stop();
    let out_warm = dir.join("out-warm");
    let started = Instant::now();
    let warm = build_in(engine, DEBIAN_BUILD_ENV_IMAGE, &context, &out_warm, &args);
    let warm_time = started.elapsed();
    assert!(warm.success, "warm rebuild failed:\n{}", warm.log);
    let steps = warm.steps();
    assert_eq!(steps.len(), GNU_HELLO_STEPS.len(), "{}", warm.log);
    assert!(
        steps.iter().all(|(_, cached)| *cached),
        "not all CACHED: {steps:?}\n{}",
        warm.log
    );
    assert_eq!(server.requests(), requests);
    assert_eq!(tree(&out_warm), files);

    // The default target, `packages`, signed: the pipeline comes from the
    // cache (still without the server) and only the packaging runs.
    let (key, keys) = signing_key(&dir);
    let secret = format!("id=melange.rsa,src={}", key.display());
    let apks = dir.join("out-packages");
    let started = Instant::now();
    let packaged = build_in(
        engine,
        DEBIAN_BUILD_ENV_IMAGE,
        &context,
        &apks,
        &["--secret", &secret, "--build-arg", EPOCH],
    );
    let packages_time = started.elapsed();
    assert!(packaged.success, "packages build failed:\n{}", packaged.log);
    assert_eq!(
        tree(&apks),
        [
            "x86_64/",
            "x86_64/APKINDEX.tar.gz",
            "x86_64/hello-2.10-r0.apk",
            "x86_64/hello-doc-2.10-r0.apk",
        ],
        "{}",
        packaged.log
    );
    for (name, cached) in packaged.steps() {
        if GNU_HELLO_STEPS[..9].contains(&name.as_str()) {
            assert!(cached, "{name} ran again:\n{}", packaged.log);
        }
    }
    let (hello, doc) = hello::signed_hello_packages(&apks, &keys);
    let has = |apk: &ApkFile, path: &str| apk.entries.iter().any(|e| e.path == path);
    assert!(has(&hello, "usr/bin/hello"));
    assert!(!has(&hello, "usr/share/man"));
    assert!(has(&doc, "usr/share/man/man1/hello.1"));
    assert!(has(&doc, "usr/share/info/hello.info"));
    // melange's automatic dependencies: the program links libc and is a
    // command.
    assert!(
        hello.pkginfo.depends.iter().any(|d| d == "so:libc.so.6"),
        "{:?}",
        hello.pkginfo.depends
    );
    assert!(
        hello
            .pkginfo
            .provides
            .iter()
            .any(|p| p == "cmd:hello=2.10-r0"),
        "{:?}",
        hello.pkginfo.provides
    );
    // Unpacked from the package (as apk would install it), it says hello.
    hello::packaged_hello_says_hello(engine, DEBIAN_BUILD_ENV_IMAGE, &apks);

    eprintln!(
        "gnu-hello on {engine:?}: cold build {:.1}s, warm rebuild {:.1}s, \
         packages from the warm cache {:.1}s",
        cold_time.as_secs_f64(),
        warm_time.as_secs_f64(),
        packages_time.as_secs_f64()
    );
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_gnu_hello_from_its_release_tarball() {
    gnu_hello(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_gnu_hello_from_its_release_tarball() {
    gnu_hello(Engine::Docker20);
}
