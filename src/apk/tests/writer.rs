//! Writer properties beyond the round trip: the streaming tree order and
//! files above the single-read size.

use std::os::unix::fs::symlink;

use super::*;
use crate::apk::tree;
use crate::apk::write::SMALL_FILE;
use crate::apk::{verify_package, write_package, PackageOptions, PkgInfo, Verified};

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
    assert_eq!(written.size, 5 * SMALL_FILE + 4322);
    for entry in &apk.entries {
        assert_eq!(entry.pax_sha1, entry.actual_sha1, "{}", entry.path);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
