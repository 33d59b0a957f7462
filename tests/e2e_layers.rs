//! End-to-end: merged package layers settled as apk does. Tiny packages
//! built by this frontend (signed with a fresh key) into two
//! repositories: `layout` ships the link `libexec -> usr/libexec` (as a
//! merged-usr baselayout ships `bin -> usr/bin`), `tool-a` (same origin)
//! ships `libexec/tool-a` and `etc/shared.conf`; from another origin,
//! `tool-b` replaces `tool-a` and ships `etc/shared.conf` too, and
//! `tool-c` ships it without replacing anything. Installed on the busybox
//! test image: the link stays and `tool-a` lands through it, `tool-b`'s
//! file wins and the installed database lists it only under `tool-b`;
//! `tool-a` with `tool-c` fails naming the path and both packages.
//! Ignored by plain `cargo test`; `hack/test` runs them.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use melange_frontend::apk::sign::generate_key_pem;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Build `yaml` (after the syntax line) into `dir/<name>`, signed with
/// `dir/melange.rsa`; the folder is then a repository.
fn repository(engine: Engine, dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let context = dir.join(format!("{name}-context"));
    write(
        &context.join("package.yaml"),
        &format!("# syntax={}\n{yaml}", frontend_image()),
    );
    write(&context.join(".e2e-run"), &dir.display().to_string());
    let out = dir.join(name);
    let secret = format!("id=melange.rsa,src={}", dir.join("melange.rsa").display());
    let built = build(engine, &context, &out, &["--secret", &secret]);
    assert!(built.success, "{}", built.log);
    assert!(
        out.join("x86_64/APKINDEX.tar.gz").is_file(),
        "{}",
        built.log
    );
    out
}

const LAYOUT: &str = r#"package:
  name: layout
  version: 1
  epoch: 0
  description: a merged-usr style link, and a tool installed through it
pipeline:
  - runs: |
      mkdir -p ${{targets.destdir}}/usr/libexec
      ln -s usr/libexec ${{targets.destdir}}/libexec
subpackages:
  - name: tool-a
    pipeline:
      - runs: |
          mkdir -p ${{targets.subpkgdir}}/libexec ${{targets.subpkgdir}}/etc
          echo a > ${{targets.subpkgdir}}/libexec/tool-a
          echo a > ${{targets.subpkgdir}}/etc/shared.conf
"#;

const OTHERS: &str = r#"package:
  name: tool-b
  version: 1
  epoch: 0
  description: takes etc/shared.conf over from tool-a
  dependencies:
    replaces:
      - tool-a
pipeline:
  - runs: |
      mkdir -p ${{targets.destdir}}/etc
      echo b > ${{targets.destdir}}/etc/shared.conf
subpackages:
  - name: tool-c
    description: ships etc/shared.conf without replacing anything
    pipeline:
      - runs: |
          mkdir -p ${{targets.subpkgdir}}/etc
          echo c > ${{targets.subpkgdir}}/etc/shared.conf
"#;

/// A context installing `packages` from both repositories and reporting.
fn environment(dir: &Path, name: &str, packages: &[&str], repos: &[PathBuf]) -> PathBuf {
    let context = dir.join(name);
    std::fs::create_dir_all(&context).unwrap();
    for repo in repos {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(repo)
            .arg(context.join(repo.file_name().unwrap()))
            .status()
            .unwrap();
        assert!(status.success());
    }
    std::fs::copy(dir.join("melange.rsa.pub"), context.join("melange.rsa.pub")).unwrap();
    write(&context.join(".e2e-run"), &context.display().to_string());
    write(
        &context.join("package.yaml"),
        &format!(
            r#"# syntax={image}
package:
  name: report
  version: 1
  epoch: 0
environment:
  contents:
    packages: [{packages}]
pipeline:
  - runs: |
      out=${{{{targets.destdir}}}}/report
      mkdir -p $out
      readlink /libexec > $out/link || true
      cat /libexec/tool-a > $out/tool-a
      cat /etc/shared.conf > $out/conf
      awk '/^P:/{{p=substr($0,3)}} /^F:/{{f=substr($0,3)}} /^R:/{{print p" "f"/"substr($0,3)}}' \
        /lib/apk/db/installed | sort > $out/owners
"#,
            image = frontend_image(),
            packages = packages.join(", ")
        ),
    );
    context
}

/// `links`: also install the link package with the folder package (both
/// engines' merges refuse a folder over a link, so the folder must have
/// been left out of its layer).
fn replaces_and_links(engine: Engine, links: bool) {
    let dir = scratch_dir("env-layers");
    let (private, public) = generate_key_pem(2048).unwrap();
    write(&dir.join("melange.rsa"), &private);
    write(&dir.join("melange.rsa.pub"), &public);
    let repos = [
        repository(engine, &dir, "repo-layout", LAYOUT),
        repository(engine, &dir, "repo-others", OTHERS),
    ];
    let args = [
        "--target",
        "workspace",
        "--build-arg",
        "MELANGE_REPOSITORIES=./repo-layout ./repo-others",
        "--build-arg",
        "MELANGE_KEYRING=./melange.rsa.pub",
    ];

    let context = environment(&dir, "env", &["tool-a", "tool-b"], &repos);
    let out = dir.join("out");
    let built = build(engine, &context, &out, &args);
    assert!(built.success, "{}", built.log);
    let report = |out: &Path, name: &str| read(&out.join("report/report").join(name));
    assert_eq!(report(&out, "tool-a"), "a\n");
    assert_eq!(
        report(&out, "conf"),
        "b\n",
        "the replacing package's file wins"
    );
    let owners = report(&out, "owners");
    let lines: Vec<&str> = owners.lines().collect();
    assert!(lines.contains(&"tool-a libexec/tool-a"), "{owners}");
    assert!(lines.contains(&"tool-b etc/shared.conf"), "{owners}");
    assert!(!lines.contains(&"tool-a etc/shared.conf"), "{owners}");

    if links {
        let context = environment(&dir, "env-link", &["tool-a", "layout"], &repos);
        let out = dir.join("out-link");
        let built = build(engine, &context, &out, &args);
        assert!(built.success, "{}", built.log);
        assert_eq!(report(&out, "link"), "usr/libexec\n", "{}", built.log);
        assert_eq!(report(&out, "tool-a"), "a\n");
        let owners = report(&out, "owners");
        assert!(
            owners.lines().any(|l| l == "tool-a libexec/tool-a"),
            "{owners}"
        );
    }

    let context = environment(&dir, "env-conflict", &["tool-a", "tool-c"], &repos);
    let failed = build(engine, &context, &dir.join("out-conflict"), &args);
    assert!(!failed.success, "{}", failed.log);
    let named = ["tool-a-1-r0 and tool-c-1-r0", "tool-c-1-r0 and tool-a-1-r0"]
        .iter()
        .any(|pair| {
            failed
                .log
                .contains(&format!("/etc/shared.conf: installed by both {pair}"))
        });
    assert!(named, "{}", failed.log);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_replaces_and_links_over_folders() {
    replaces_and_links(Engine::Docker28, true);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_replaces_and_links_over_folders() {
    replaces_and_links(Engine::Docker20, true);
}
