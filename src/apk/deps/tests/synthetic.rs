//! Rules that need no compiler: languages, pkg-config, scripts, symlink
//! resolution and bad input.

use std::os::unix::fs::{symlink, PermissionsExt};

use super::*;
use crate::apk::deps::ScanError;

fn put(root: &Path, rel: &str, content: &[u8], mode: u32) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn python_ruby_and_declared_overrides() {
    let root = scratch_dir("deps-lang");
    put(
        &root,
        "usr/lib/python3.12/site-packages/foo/__init__.py",
        b"",
        0o644,
    );
    put(
        &root,
        "usr/lib/ruby/gems/3.3.0/gems/foo-1/lib/foo.rb",
        b"",
        0o644,
    );
    let plain = opts("py3-foo", "1-r0");
    let got = scan(&root, &plain).unwrap();
    assert_eq!(got.depends, strings(&["python-3.12-base", "ruby-3.3"]));

    let declared = ScanOptions {
        declared_depends: strings(&["python3", "ruby"]),
        ..plain
    };
    assert_eq!(
        scan(&root, &declared).unwrap().depends,
        strings(&["python3", "ruby"])
    );

    // melange's glob only matches gem directories whose third part starts
    // with 0, '.' or 9.
    let other = scratch_dir("deps-lang-ruby34");
    put(
        &other,
        "usr/lib/ruby/gems/3.4.1/gems/foo-1/foo.rb",
        b"",
        0o644,
    );
    assert!(scan(&other, &opts("ruby-foo", "1-r0"))
        .unwrap()
        .depends
        .is_empty());
}

#[test]
fn pkg_config_rules() {
    let root = scratch_dir("deps-pc");
    let pc = b"Name: a\nVersion: 2.0\nRequires: b\n";
    put(&root, "usr/share/pkgconfig/a.pc", pc, 0o644);
    put(&root, "opt/a/lib/pkgconfig/vendored.pc", pc, 0o644);
    put(
        &root,
        "usr/lib/pkgconfig/broken.pc",
        b"Requires: ${x}\n",
        0o644,
    );
    // A symlinked .pc and a directory named like one are skipped.
    symlink("a.pc", root.join("usr/share/pkgconfig/alias.pc")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib/pkgconfig/dir.pc")).unwrap();
    let got = scan(&root, &opts("a", "2.0-r1")).unwrap();
    assert_eq!(got.provides, strings(&["pc:a=2.0-r1"]));
    assert_eq!(got.depends, strings(&["pc:b"]));
    assert_eq!(got.vendored, strings(&["pc:vendored=2.0-r1"]));
    assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
    assert!(got.warnings[0].contains("usr/lib/pkgconfig/broken.pc"));
}

#[test]
fn scripts_and_commands() {
    let root = scratch_dir("deps-scripts");
    put(
        &root,
        "usr/bin/a",
        b"#!/usr/bin/env -S node --flag\n",
        0o755,
    );
    put(&root, "usr/bin/b", b"#!/usr/bin/env ruby -w\n", 0o755);
    put(&root, "usr/bin/c", b"#!/bin/sh\n", 0o555);
    put(&root, "usr/bin/d", b"#!/usr/bin/python3\n", 0o700);
    put(&root, "usr/local/bin/e", b"#!/usr/bin/tclsh\n", 0o755);
    put(&root, "bin/f", b"#!/bin/bash\n", 0o755);
    put(&root, "usr/share/g", b"#!/bin/ksh\n", 0o755);
    symlink("a", root.join("usr/bin/h")).unwrap();
    let got = scan(&root, &opts("tools", "3-r0")).unwrap();
    // bin/ scripts are commands, but their #! is not looked at; usr/bin/d
    // is not r-x for everyone; symlinks are neither.
    assert_eq!(got.depends, strings(&["cmd:node", "cmd:tclsh"]));
    assert_eq!(
        got.provides,
        strings(&["cmd:a=3-r0", "cmd:b=3-r0", "cmd:c=3-r0", "cmd:f=3-r0"])
    );
    assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
    assert!(got.warnings[0].contains("usr/bin/b"));

    let no_commands = ScanOptions {
        no_commands: true,
        ..opts("tools", "3-r0")
    };
    let got = scan(&root, &no_commands).unwrap();
    assert!(got.depends.is_empty() && got.provides.is_empty());
}

#[test]
fn symlinks_stay_inside_the_package() {
    let root = scratch_dir("deps-links");
    // An absolute link, a link climbing out of the root, a loop and a
    // dangling link: none may reach outside, none may fail the scan.
    put(&root, "usr/lib/real.so.1", b"not an ELF file", 0o755);
    symlink("/usr/lib/real.so.1", root.join("usr/lib/abs.so")).unwrap();
    symlink("../../../../../../etc/passwd", root.join("usr/lib/out.so")).unwrap();
    symlink("loop.so", root.join("usr/lib/loop.so")).unwrap();
    symlink("missing.so.9", root.join("usr/lib/dangling.so")).unwrap();
    let got = scan(&root, &opts("links", "1-r0")).unwrap();
    assert_eq!(got, crate::apk::deps::Scan::default());

    let fs = crate::apk::deps::fsys::PkgFs::new(&root).unwrap();
    assert_eq!(
        fs.resolve("usr/lib/abs.so"),
        Some(root.join("usr/lib/real.so.1"))
    );
    assert_eq!(fs.resolve("usr/lib/out.so"), None);
    assert_eq!(fs.resolve("usr/lib/loop.so"), None);
    assert_eq!(fs.resolve("usr/lib/dangling.so"), None);
}

#[test]
fn malformed_elf_files_are_not_fatal() {
    let root = scratch_dir("deps-bad-elf");
    // ELF magic, then garbage; a truncated 64-bit header; an empty file.
    put(
        &root,
        "usr/lib/libbad.so.1",
        b"\x7fELF\x02\x01\x01garbage",
        0o755,
    );
    let mut header = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    header.resize(40, 0xff);
    put(&root, "usr/bin/truncated", &header, 0o755);
    put(&root, "usr/bin/empty", b"", 0o755);
    let got = scan(&root, &opts("bad", "1-r0")).unwrap();
    assert!(got.depends.is_empty());
    assert_eq!(
        got.provides,
        strings(&["cmd:empty=1-r0", "cmd:truncated=1-r0"])
    );
}

#[test]
fn bad_roots_are_errors() {
    let root = scratch_dir("deps-bad-root");
    let file = root.join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = scan(&file, &opts("x", "1-r0")).unwrap_err();
    assert!(matches!(err, ScanError::NotADirectory(_)), "{err}");
    let err = scan(&root.join("missing"), &opts("x", "1-r0")).unwrap_err();
    assert!(matches!(err, ScanError::Io { .. }), "{err}");
    let relatives = ScanOptions {
        relatives: vec![root.join("missing")],
        ..opts("x", "1-r0")
    };
    assert!(scan(&root, &relatives).is_err());
}
