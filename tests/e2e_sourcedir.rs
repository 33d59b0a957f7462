//! End-to-end of the source dir (plan/sourcedir.rs, gateway/sourcedir.rs)
//! on both engines with `testdata/srcdir`: the package `srcdir-demo` has its
//! folder `./srcdir-demo/` in the context (Wolfi's layout), which alone
//! becomes the workspace, minus what its `.melangeignore` lists; `uses:
//! patch` and `uses: git-am` apply patches kept there. Then: a change
//! outside the folder leaves every step CACHED, a change inside re-runs
//! them, and `MELANGE_SOURCE_DIR` picks another folder.

mod common;

use std::path::Path;

use common::*;

const WORKSPACE: [&str; 2] = ["--target", "workspace"];

fn build_demo(engine: Engine, context: &Path, out: &Path, extra: &[&str]) -> BuildOutput {
    let mut args = WORKSPACE.to_vec();
    args.extend_from_slice(extra);
    let result = build_in(engine, DEBIAN_BUILD_ENV_IMAGE, context, out, &args);
    assert!(result.success, "{}", result.log);
    result
}

fn share(out: &Path, file: &str) -> String {
    read(&out.join("srcdir-demo/share").join(file))
}

fn source_dir_patches_and_caching(engine: Engine) {
    let dir = scratch_dir("sourcedir");
    let context = copy_package("srcdir", &dir);

    let first = build_demo(engine, &context, &dir.join("out1"), &[]);
    // Only the folder's files, without the ignored ones; nothing from the
    // context's top (package.yaml, unrelated.txt, the test's marker).
    assert_eq!(
        share(&dir.join("out1"), "workspace.txt"),
        "./.melangeignore\n./0001-notes-second-line.patch\n./fix-greeting.patch\n\
         ./greeting.txt\n./kept.txt\n./notes.txt\n./sub/kept.txt\n",
        "{}",
        first.log
    );
    assert_eq!(share(&dir.join("out1"), "greeting.txt"), "Hello, world!\n");
    assert_eq!(
        share(&dir.join("out1"), "notes.txt"),
        "first line\nsecond line\n"
    );
    assert_eq!(
        share(&dir.join("out1"), "git-log.txt"),
        "notes: second line\nnotes: first version\n"
    );

    // Outside the source dir: every step CACHED.
    std::fs::write(context.join("unrelated.txt"), "changed\n").unwrap();
    std::fs::write(
        context.join("srcdir-demo/secret.txt"),
        "changed, still ignored\n",
    )
    .unwrap();
    let second = build_demo(engine, &context, &dir.join("out2"), &[]);
    let steps = second.steps();
    assert!(steps.len() >= 7, "{steps:?}\n{}", second.log);
    assert!(
        steps.iter().all(|(_, cached)| *cached),
        "{steps:?}\n{}",
        second.log
    );

    // Inside: the workspace and every step after it run again. The content
    // is new to the daemon (an earlier run's would be found in its cache).
    let unique = format!("{}\n", dir.display());
    std::fs::write(context.join("srcdir-demo/kept.txt"), unique).unwrap();
    let third = build_demo(engine, &context, &dir.join("out3"), &[]);
    let steps = third.steps();
    let pipeline: Vec<&(String, bool)> = steps
        .iter()
        .filter(|(name, _)| !name.contains("collect melange-out"))
        .collect();
    assert!(
        pipeline.iter().all(|(_, cached)| !cached),
        "{steps:?}\n{}",
        third.log
    );

    // MELANGE_SOURCE_DIR: another folder, used in place of ./srcdir-demo/.
    let other = context.join("other-src");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(context.join("srcdir-demo"))
        .arg(&other)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(other.join("only-here.txt"), "other\n").unwrap();
    let fourth = build_demo(
        engine,
        &context,
        &dir.join("out4"),
        &["--build-arg", "MELANGE_SOURCE_DIR=./other-src/"],
    );
    let listing = share(&dir.join("out4"), "workspace.txt");
    assert!(
        listing.contains("./only-here.txt\n") && !listing.contains("secret.txt"),
        "{listing}\n{}",
        fourth.log
    );
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_source_dir_melangeignore_patches_and_caching() {
    source_dir_patches_and_caching(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_source_dir_melangeignore_patches_and_caching() {
    source_dir_patches_and_caching(Engine::Docker20);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn a_missing_melange_source_dir_fails_naming_it() {
    let dir = scratch_dir("sourcedir-missing");
    let context = copy_package("srcdir", &dir);
    let mut args = WORKSPACE.to_vec();
    args.extend(["--build-arg", "MELANGE_SOURCE_DIR=nope"]);
    let result = build_in(
        Engine::Docker28,
        DEBIAN_BUILD_ENV_IMAGE,
        &context,
        &dir.join("out"),
        &args,
    );
    assert!(!result.success, "{}", result.log);
    assert!(
        result
            .log
            .contains("build-arg MELANGE_SOURCE_DIR=nope: no such folder in the build context"),
        "{}",
        result.log
    );
}
