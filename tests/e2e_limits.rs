//! Big build files get clear answers on both engines (docs/limits.md):
//!
//! - a 12 MB build file (a small package and 12 MB of comments, as a
//!   vendored licence text or generated notes would make it) is read in
//!   ranges and left out of the source map; it is carried whole in the
//!   definition (each package's `.melange.yaml`), so it builds on Docker
//!   28.5 and, on Docker 20.10 (BuildKit 0.8: 4 MiB per request), fails
//!   naming the definition's size, the daemon's limit and its own size;
//! - a build file over 64 MiB fails before it is read, naming its size and
//!   the limit;

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::*;

const MIB: usize = 1 << 20;

/// A small package followed by `padding` bytes of comment lines.
fn padded_package(dir: &Path, padding: usize) -> PathBuf {
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join(".e2e-run"), dir.display().to_string()).unwrap();
    let mut text = String::from(
        "# syntax=melange-frontend:dev\n\
         package: {name: big, version: '1.0', epoch: 0, description: a big build file}\n\
         pipeline:\n\
         \x20 - runs: |\n\
         \x20     mkdir -p ${{targets.destdir}}/usr/share/big\n\
         \x20     echo big > ${{targets.destdir}}/usr/share/big/README\n",
    );
    let line = format!("# {}\n", "notes ".repeat(16));
    text.reserve(padding + line.len());
    let target = text.len() + padding;
    while text.len() < target {
        text.push_str(&line);
    }
    std::fs::write(context.join("package.yaml"), text).unwrap();
    context
}

fn twelve_megabytes_build(engine: Engine) {
    let dir = scratch_dir("limits-12mb");
    let context = padded_package(&dir, 12 * 1000 * 1000);
    use_frontend_image(&context.join("package.yaml"));
    let size = std::fs::metadata(context.join("package.yaml"))
        .unwrap()
        .len();
    assert!(size >= 12_000_000, "{size}");
    let out = dir.join("out");
    let started = Instant::now();
    let built = build(engine, &context, &out, &[]);
    let elapsed = started.elapsed();
    if engine == Engine::Docker20 {
        assert!(!built.success, "built over BuildKit 0.8's limit?");
        for part in [
            "the build's LLB definition is ".to_string(),
            "more than this BuildKit accepts in one request (4194304 bytes, 4.0 MiB)".into(),
            format!("the build file itself is {size} bytes"),
        ] {
            assert!(
                built.log.contains(&part),
                "no {part:?} in:\n{}",
                tail(&built.log)
            );
        }
        assert!(!out.exists() || tree(&out).is_empty());
        eprintln!(
            "{engine:?}: a {size}-byte build file refused in {:.1}s, naming the sizes",
            elapsed.as_secs_f64()
        );
        return;
    }
    assert!(
        built.success,
        "a {size}-byte build file did not build:\n{}",
        tail(&built.log)
    );
    assert_eq!(
        tree(&out),
        ["x86_64/", "x86_64/APKINDEX.tar.gz", "x86_64/big-1.0-r0.apk"]
    );
    eprintln!(
        "{engine:?}: a {size}-byte build file built in {:.1}s",
        elapsed.as_secs_f64()
    );
}

fn over_64_mib_refused(engine: Engine) {
    let dir = scratch_dir("limits-70mb");
    let context = padded_package(&dir, 70 * MIB);
    use_frontend_image(&context.join("package.yaml"));
    let size = std::fs::metadata(context.join("package.yaml"))
        .unwrap()
        .len();
    let started = Instant::now();
    let built = build(engine, &context, &dir.join("out"), &[]);
    let elapsed = started.elapsed();
    assert!(!built.success, "a {size}-byte build file built");
    let limit = "over the limit of 67108864 bytes (64 MiB) for a build file";
    assert!(built.log.contains(limit), "{}", tail(&built.log));
    // Named by its size: both engines can stat the file before it is read.
    let named = format!("build file package.yaml is {size} bytes");
    assert!(built.log.contains(&named), "{}", tail(&built.log));
    assert!(!dir.join("out").exists() || tree(&dir.join("out")).is_empty());
    eprintln!(
        "{engine:?}: a {size}-byte build file refused in {:.1}s, naming its size",
        elapsed.as_secs_f64()
    );
}

/// The last lines of a build log (the whole log of a big build file can be
/// long).
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_a_12_mb_build_file_builds() {
    twelve_megabytes_build(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_a_12_mb_build_file_is_refused_naming_the_sizes() {
    twelve_megabytes_build(Engine::Docker20);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_a_build_file_over_64_mib_is_refused_naming_its_size() {
    over_64_mib_refused(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_a_build_file_over_64_mib_is_refused_naming_its_size() {
    over_64_mib_refused(Engine::Docker20);
}
