//! Writer properties beyond the round trip: extended attributes, the
//! streaming tree order, files above the single-read size (and the thread
//! count not changing the bytes), and the index record the writer returns.

use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;
use crate::apk::package::EntryKind;
use crate::apk::tree::{self, archived_xattr};
use crate::apk::write::SMALL_FILE;
use crate::apk::{verify_package, write_package, IndexRecord, PackageOptions, PkgInfo, Verified};

fn info() -> PkgInfo {
    PkgInfo {
        pkgname: "w".into(),
        pkgver: "1-r0".into(),
        arch: "x86_64".into(),
        ..Default::default()
    }
}

fn options() -> PackageOptions<'static> {
    PackageOptions {
        source_date_epoch: 1_700_000_000,
        ..Default::default()
    }
}

/// Set a user xattr, or say why the file system refuses (the test then
/// skips with that reason printed).
fn try_set(path: &Path, name: &str, value: &[u8]) -> bool {
    match xattr::set(path, name, value) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "skipping xattr checks: {} refuses user xattrs: {e}",
                path.display()
            );
            false
        }
    }
}

#[test]
fn xattrs_are_archived_as_sorted_schily_records_with_raw_values() {
    let dir = scratch_dir("xattrs");
    let root = dir.join("tree");
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    let file = root.join("usr/bin/ping");
    std::fs::write(&file, b"#!/bin/sh\n").unwrap();
    std::fs::hard_link(&file, root.join("usr/bin/ping2")).unwrap();
    let raw: &[u8] = b"\x00\x01 raw=\n22 path=evil\n\xff";
    if !try_set(&file, "user.melange.z", raw) {
        return;
    }
    assert!(try_set(&file, "user.a", b"1"));
    assert!(try_set(&root.join("usr"), "user.dir", b"d"));

    let out = dir.join("w.apk");
    let written = write_package(&root, &info(), &options(), &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let apk = ApkFile::parse(&bytes).unwrap();
    assert_eq!(
        verify_package(&apk, &Keyring::new()).unwrap(),
        Verified::Unsigned
    );
    let by_path = |p: &str| apk.entries.iter().find(|e| e.path == p).unwrap();
    assert_eq!(
        by_path("usr/bin/ping").xattrs,
        [
            ("user.a".to_string(), b"1".to_vec()),
            ("user.melange.z".to_string(), raw.to_vec())
        ]
    );
    assert_eq!(by_path("usr/bin/ping2").kind, EntryKind::Hardlink);
    assert!(
        by_path("usr/bin/ping2").xattrs.is_empty(),
        "the first path carries them"
    );
    assert_eq!(
        by_path("usr").xattrs,
        [("user.dir".to_string(), b"d".to_vec())]
    );
    assert_eq!(
        IndexRecord::from_written(&written),
        IndexRecord::from_package(&apk)
    );
    // Same tree, same bytes.
    write_package(&root, &info(), &options(), &dir.join("again.apk")).unwrap();
    assert_eq!(std::fs::read(dir.join("again.apk")).unwrap(), bytes);

    // A name a PAX record cannot carry is an error naming the file.
    assert!(try_set(&file, "user.a=b", b"x"));
    let err = write_package(&root, &info(), &options(), &dir.join("bad.apk")).unwrap_err();
    assert!(err.to_string().contains("holds '='"), "{err}");
    assert!(err.to_string().contains("usr/bin/ping"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn host_specific_xattrs_are_left_out() {
    assert!(archived_xattr("user.foo"));
    assert!(archived_xattr("security.capability"));
    assert!(archived_xattr("system.posix_acl_access"));
    assert!(!archived_xattr("security.selinux"));
    assert!(!archived_xattr("trusted.overlay.opaque"));
    assert!(!archived_xattr("user.overlay.origin"));
}

#[test]
fn streaming_visit_gives_the_global_byte_order() {
    let dir = scratch_dir("order");
    let root = dir.join("tree");
    for rel in ["a/z", "a/y/x", "a-b", "a.b/c", "ab", "B", "a0/q"] {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, rel).unwrap();
    }
    symlink("a", root.join("a~link")).unwrap();
    let paths: Vec<String> = tree::walk(&root)
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    let mut sorted = paths.clone();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(paths, sorted);
    assert_eq!(
        paths,
        ["B", "a", "a-b", "a.b", "a.b/c", "a/y", "a/y/x", "a/z", "a0", "a0/q", "ab", "a~link"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_above_the_single_read_size_stream_with_correct_checksums() {
    let dir = scratch_dir("large");
    let root = dir.join("tree");
    std::fs::create_dir_all(&root).unwrap();
    let pattern = |len: u64| -> Vec<u8> { (0..len).map(|i| (i * 7 % 251) as u8).collect() };
    for (name, len) in [
        ("at", SMALL_FILE),
        ("above", SMALL_FILE + 1),
        ("big", 3 * SMALL_FILE + 4321),
    ] {
        std::fs::write(root.join(name), pattern(len)).unwrap();
    }
    let out = dir.join("w.apk");
    let written = write_package(&root, &info(), &options(), &out).unwrap();
    let apk = ApkFile::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        verify_package(&apk, &Keyring::new()).unwrap(),
        Verified::Unsigned
    );
    assert_eq!(written.pkginfo.size, 5 * SMALL_FILE + 4322);
    for entry in &apk.entries {
        assert_eq!(entry.pax_sha1, entry.actual_sha1, "{}", entry.path);
    }
    // Several compression blocks: the bytes do not depend on the threads.
    let bytes = std::fs::read(&out).unwrap();
    for threads in [1, 2, 5] {
        let options = PackageOptions {
            threads,
            ..options()
        };
        let again = dir.join(format!("t{threads}.apk"));
        write_package(&root, &info(), &options, &again).unwrap();
        assert!(std::fs::read(&again).unwrap() == bytes, "{threads} threads");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
