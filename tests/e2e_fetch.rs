//! End-to-end of the native `fetch` (plan/sources.rs, llb/sources.rs,
//! helper/extract.rs) on both engines: a small package whose sources come
//! from a local HTTP server, built in an environment that has *no wget*
//! (the Debian test environment with its wget removed), so only BuildKit
//! can have downloaded them. Then a warm rebuild (all CACHED, the SHA-256
//! source not asked for again) and a wrong `expected-sha256`, which must
//! fail naming the URL and both digests.

mod common;

use common::*;
use sha2::{Digest, Sha256, Sha512};

/// The Debian test environment without wget (or curl). Not the busybox
/// one: its shell runs applets such as wget even without their links.
const NO_WGET_ENV_IMAGE: &str = "melange-test-env:debian-nowget";

/// `greet-1.0.tar.gz`: a script, a data file and a folder, one top folder.
fn tarball() -> Vec<u8> {
    tar_gz(&[
        (
            "greet-1.0/greet.sh",
            "#!/bin/sh\necho hi from greet\n",
            0o755,
        ),
        ("greet-1.0/share/msg", "hello\n", 0o644),
    ])
}

fn package_yaml(sha256: &str, sha512: &str) -> String {
    format!(
        r#"# syntax=melange-frontend:dev
package:
  name: greet
  version: "1.0"
  epoch: 0
  description: a script whose sources BuildKit fetches
vars:
  mirror: http://unset
pipeline:
  - uses: fetch
    with:
      uri: ${{{{vars.mirror}}}}/greet-1.0.tar.gz
      expected-sha256: {sha256}
  - uses: fetch
    with:
      uri: ${{{{vars.mirror}}}}/greet-1.0-copy.tar.gz
      expected-sha512: {sha512}
      directory: second
      strip-components: 0
      delete: true
  - name: install
    runs: |
      if command -v wget; then echo "wget is in the environment" >&2; exit 1; fi
      test -f greet-1.0.tar.gz
      test ! -e second/greet-1.0-copy.tar.gz
      test ! -e greet-1.0-copy.tar.gz
      test -f second/greet-1.0/share/msg
      mkdir -p ${{{{targets.destdir}}}}/usr/bin ${{{{targets.destdir}}}}/usr/share/greet
      cp greet.sh ${{{{targets.destdir}}}}/usr/bin/greet
      cp share/msg ${{{{targets.destdir}}}}/usr/share/greet/msg
"#
    )
}

fn native_fetch(engine: Engine) {
    derived_env(
        engine,
        NO_WGET_ENV_IMAGE,
        "rm -f /usr/bin/wget /usr/bin/curl && ! command -v wget && ! command -v curl",
    );
    let dir = scratch_dir("native-fetch");
    let served = dir.join("served");
    std::fs::create_dir_all(&served).unwrap();
    let bytes = tarball();
    std::fs::write(served.join("greet-1.0.tar.gz"), &bytes).unwrap();
    std::fs::write(served.join("greet-1.0-copy.tar.gz"), &bytes).unwrap();
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let sha512 = hex::encode(Sha512::digest(&bytes));
    let server = FileServer::start(LOOPBACK, &served);

    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    // Unique per run, so the workspace (and every step) is new.
    std::fs::write(context.join(".e2e-run"), dir.display().to_string()).unwrap();
    let build_file = context.join("package.yaml");
    std::fs::write(&build_file, package_yaml(&sha256, &sha512)).unwrap();
    set_var(&build_file, "mirror", &server.url());
    let args = ["--target", "workspace"];

    let out = dir.join("out");
    let started = std::time::Instant::now();
    let cold = build_in(engine, NO_WGET_ENV_IMAGE, &context, &out, &args);
    let cold_time = started.elapsed();
    assert!(cold.success, "build failed:\n{}", cold.log);
    let names: Vec<String> = cold.steps().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "[1/5] environment",
            "[2/5] uses: fetch",
            "[3/5] uses: fetch",
            "[4/5] install",
            "[5/5] collect melange-out",
        ],
        "{}",
        cold.log
    );
    assert_eq!(
        read(&out.join("greet/usr/bin/greet")),
        "#!/bin/sh\necho hi from greet\n"
    );
    assert_eq!(read(&out.join("greet/usr/share/greet/msg")), "hello\n");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("greet/usr/bin/greet"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    // Warm: all CACHED; the SHA-256 source is keyed by its checksum, so
    // BuildKit does not ask for it again (the SHA-512 one it revalidates).
    let before = server.requests().len();
    let started = std::time::Instant::now();
    let warm = build_in(
        engine,
        NO_WGET_ENV_IMAGE,
        &context,
        &dir.join("out2"),
        &args,
    );
    let warm_time = started.elapsed();
    assert!(warm.success, "warm rebuild failed:\n{}", warm.log);
    let steps = warm.steps();
    assert!(
        steps.iter().all(|(_, cached)| *cached),
        "{steps:?}\n{}",
        warm.log
    );
    let again = server.requests()[before..].to_vec();
    assert!(
        again.iter().all(|r| !r.contains("/greet-1.0.tar.gz")),
        "{again:?}"
    );

    // A wrong expected-sha256 fails naming the URL and both digests.
    let wrong = hex::encode(Sha256::digest(b"not the tarball"));
    std::fs::write(&build_file, package_yaml(&wrong, &sha512)).unwrap();
    set_var(&build_file, "mirror", &server.url());
    let bad = build_in(
        engine,
        NO_WGET_ENV_IMAGE,
        &context,
        &dir.join("out3"),
        &args,
    );
    assert!(!bad.success, "{}", bad.log);
    // BuildKit fails the source op with `digest mismatch <actual>:
    // <expected>` under the op's name (the URL and the expected digest);
    // the build's error is one line naming the URL and which is which.
    for want in [
        format!(
            "fetch {}/greet-1.0.tar.gz (expected sha256:{wrong})",
            server.url()
        ),
        format!("digest mismatch sha256:{sha256}: sha256:{wrong}"),
    ] {
        assert!(bad.log.contains(&want), "no {want} in\n{}", bad.log);
    }
    let one_line = format!(
        "uses: fetch: {}/greet-1.0.tar.gz does not have the expected-sha256: \
         expected sha256:{wrong}, downloaded sha256:{sha256}",
        server.url()
    );
    let error_line = bad
        .log
        .lines()
        .any(|l| (l.contains("ERROR") || l.contains("error")) && l.contains(&one_line));
    assert!(error_line, "no error line with {one_line} in\n{}", bad.log);
    let error = bad
        .log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("mismatch"));
    eprintln!(
        "wrong sha256 on {engine:?}:\n{}",
        error.collect::<Vec<_>>().join("\n")
    );
    eprintln!(
        "native fetch on {engine:?}: cold {:.1}s, warm {:.1}s",
        cold_time.as_secs_f64(),
        warm_time.as_secs_f64()
    );
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_native_fetch_without_wget() {
    native_fetch(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_native_fetch_without_wget() {
    native_fetch(Engine::Docker20);
}
