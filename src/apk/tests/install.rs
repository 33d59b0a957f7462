//! Installing packages into a folder: real fixture packages checked
//! against their index records and unpacked, the installed-database
//! record, and crafted packages that try to leave the root.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use sha1::Digest as _;

use super::*;
use crate::apk::gzip;
use crate::apk::index::control_checksum;
use crate::apk::install::{check, extract, installed_record};
use crate::apk::package::PAX_SHA1;
use crate::apk::tarball::{self, TarHeader, TarKind};
use crate::apk::EntryKind;

#[test]
fn fixture_package_checks_against_its_index_and_unpacks() {
    let idx = index("apko/packages/x86_64/APKINDEX.tar.gz");
    let record = idx
        .records
        .iter()
        .find(|r| r.name == "pretend-baselayout")
        .unwrap();
    let bytes = read_fixture("apko/packages/x86_64/pretend-baselayout-1.0.0-r0.apk");
    let apk = ApkFile::parse(&bytes).unwrap();
    check(&apk, &record.name, &record.version, &record.checksum).unwrap();

    let root = scratch_dir("install-baselayout");
    let done = extract(&bytes, &apk, &root).unwrap();
    assert!(!done.entries.is_empty());
    for entry in &done.entries {
        let path = root.join(&entry.path);
        let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        if !meta.file_type().is_symlink() {
            assert_eq!(meta.permissions().mode() & 0o7777, entry.mode, "{path:?}");
        }
    }
    let text = installed_record(&apk, &done.entries, None);
    assert!(
        text.starts_with(&format!(
            "C:{}\nP:pretend-baselayout\nV:1.0.0-r0\n",
            record.checksum
        )),
        "{text}"
    );
    assert!(text.contains("\nF:etc\n"), "{text}");
    assert!(text.ends_with("\n\n"), "{text}");
    let first_file = done
        .entries
        .iter()
        .find(|e| e.kind == EntryKind::File)
        .unwrap();
    let sum = hex::decode(first_file.sha1.as_ref().unwrap()).unwrap();
    use base64::Engine as _;
    let z = format!(
        "Z:Q1{}",
        base64::engine::general_purpose::STANDARD.encode(sum)
    );
    assert!(text.contains(&z), "{z} in {text}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn wrong_checksum_and_tampered_data_are_named() {
    let bytes = read_fixture("apko/packages/x86_64/replayout-1.0.0-r0.apk");
    let apk = ApkFile::parse(&bytes).unwrap();
    let err = check(
        &apk,
        "replayout",
        "1.0.0-r0",
        "Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "replayout-1.0.0-r0: not the package the index lists: the index says C:Q1AAAA"
        ),
        "{err}"
    );
    let err = check(&apk, "other", "1.0.0-r0", &control_checksum(&apk.control)).unwrap_err();
    assert!(
        err.to_string()
            .contains("the file's .PKGINFO says replayout-1.0.0-r0"),
        "{err}"
    );

    // Same control member, another data member: the datahash catches it.
    let other = read_fixture("apko/packages/x86_64/pretend-baselayout-1.0.0-r0.apk");
    let other = ApkFile::parse(&other).unwrap();
    let mut forged = bytes[..apk.control_range.end].to_vec();
    forged.extend_from_slice(
        &read_fixture("apko/packages/x86_64/pretend-baselayout-1.0.0-r0.apk")
            [other.data_range.clone()],
    );
    let forged = ApkFile::parse(&forged).unwrap();
    let err = check(
        &forged,
        "replayout",
        "1.0.0-r0",
        &control_checksum(&apk.control),
    )
    .unwrap_err();
    assert!(err.to_string().contains("datahash mismatch"), "{err}");
}

/// A package whose data member holds exactly `entries` (path, kind, content).
fn crafted(entries: &[(&str, TarKind, &[u8])]) -> Vec<u8> {
    crafted_with_pax(entries, &BTreeMap::new(), &BTreeMap::new())
}

/// As [`crafted`], with `extra` PAX records on the first entry and
/// `owners` (path → mode, uid, gid) instead of root's 0644/0755.
fn crafted_with_pax(
    entries: &[(&str, TarKind, &[u8])],
    extra: &BTreeMap<String, Vec<u8>>,
    owners: &BTreeMap<&str, (u32, u64, u64)>,
) -> Vec<u8> {
    let mut data = Vec::new();
    for (i, (path, kind, content)) in entries.iter().enumerate() {
        let mut header = TarHeader::file(path, 0o644, content.len() as u64, 0);
        header.kind = kind.clone();
        if *kind != TarKind::File {
            header.size = 0;
            header.mode = 0o755;
        }
        let sum = match kind {
            TarKind::File => Some(hex::encode(sha1::Sha1::digest(content))),
            TarKind::Symlink(target) => Some(hex::encode(sha1::Sha1::digest(target.as_bytes()))),
            _ => None,
        };
        header.pax = sum
            .map(|s| BTreeMap::from([(PAX_SHA1.to_string(), s.into_bytes())]))
            .unwrap_or_default();
        if i == 0 {
            header.pax.extend(extra.clone());
        }
        if let Some(&(mode, uid, gid)) = owners.get(path) {
            (header.mode, header.uid, header.gid) = (mode, uid, gid);
        }
        tarball::write_file(
            &mut data,
            &header,
            if *kind == TarKind::File { content } else { &[] },
        )
        .unwrap();
    }
    data.extend_from_slice(&tarball::END_OF_ARCHIVE);
    let data = gzip::compress(&data);
    let datahash = hex::encode(sha2::Sha256::digest(&data));
    let pkginfo =
        format!("pkgname = evil\npkgver = 1-r0\narch = x86_64\nsize = 1\ndatahash = {datahash}\n");
    let mut control = Vec::new();
    let header = TarHeader::file(".PKGINFO", 0o644, pkginfo.len() as u64, 0);
    tarball::write_file(&mut control, &header, pkginfo.as_bytes()).unwrap();
    let mut bytes = gzip::compress(&control);
    bytes.extend_from_slice(&data);
    bytes
}

fn try_extract(
    name: &str,
    entries: &[(&str, TarKind, &[u8])],
) -> Result<std::path::PathBuf, String> {
    let bytes = crafted(entries);
    let apk = ApkFile::parse(&bytes).unwrap();
    let parent = scratch_dir(name);
    let root = parent.join("root");
    std::fs::create_dir(&root).unwrap();
    extract(&bytes, &apk, &root)
        .map(|_| parent)
        .map_err(|e| e.to_string())
}

#[test]
fn traversal_is_refused() {
    let err = try_extract("abs", &[("/etc/passwd", TarKind::File, b"x")]).unwrap_err();
    assert!(err.contains("absolute path"), "{err}");
    let err = try_extract("dotdot", &[("usr/../../outside", TarKind::File, b"x")]).unwrap_err();
    assert!(err.contains("path leaves the root"), "{err}");
    let err = try_extract(
        "escape-link",
        &[("usr/lib", TarKind::Symlink("../../..".into()), b"")],
    )
    .unwrap_err();
    assert_eq!(
        err,
        "usr/lib: symbolic link to \"../../..\" escapes the root"
    );
    let err = try_extract(
        "through-link",
        &[
            ("lib", TarKind::Symlink("/".into()), b""),
            ("lib/owned", TarKind::File, b"x"),
        ],
    )
    .unwrap_err();
    assert_eq!(err, "lib/owned: goes through the symbolic link lib");
    let err = try_extract(
        "hardlink",
        &[("bin/x", TarKind::Hardlink("../etc/shadow".into()), b"")],
    )
    .unwrap_err();
    assert!(err.contains("hard link target"), "{err}");
    let err = try_extract(
        "hardlink-missing",
        &[("bin/x", TarKind::Hardlink("bin/y".into()), b"")],
    )
    .unwrap_err();
    assert!(
        err.contains("not a regular file extracted before it"),
        "{err}"
    );
}

#[test]
fn ordinary_links_are_kept() {
    let parent = try_extract(
        "links",
        &[
            ("bin/busybox", TarKind::File, b"#!/bin/true\n"),
            ("bin/sh", TarKind::Symlink("/bin/busybox".into()), b""),
            (
                "usr/bin/env",
                TarKind::Symlink("../../bin/busybox".into()),
                b"",
            ),
            ("bin/ash", TarKind::Hardlink("bin/busybox".into()), b""),
        ],
    )
    .unwrap();
    let root = parent.join("root");
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        std::path::Path::new("/bin/busybox")
    );
    assert_eq!(
        std::fs::read(root.join("usr/bin/env")).unwrap(),
        b"#!/bin/true\n"
    );
    assert_eq!(
        std::fs::read(root.join("bin/ash")).unwrap(),
        b"#!/bin/true\n"
    );
    std::fs::remove_dir_all(&parent).unwrap();
}

/// PAX records are taken by length: an extended attribute value holding
/// newlines (a file capability can) neither fails the unpack nor smuggles
/// a `path` record in (the `tar` crate split such headers on newlines).
#[test]
fn pax_values_with_newlines_install_where_the_length_says() {
    let smuggled = b"\x01\n30 path=../../../etc/evil-path\n\x02".to_vec();
    let extra = BTreeMap::from([("SCHILY.xattr.security.capability".to_string(), smuggled)]);
    let bytes = crafted_with_pax(
        &[
            ("bin/ping", TarKind::File, b"ping\n"),
            ("bin/pong", TarKind::File, b"pong\n"),
        ],
        &extra,
        &BTreeMap::new(),
    );
    let apk = ApkFile::parse(&bytes).unwrap();
    let parent = scratch_dir("pax-newlines");
    let root = parent.join("root");
    std::fs::create_dir(&root).unwrap();
    let done = extract(&bytes, &apk, &root).unwrap();
    let paths: Vec<&str> = done.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["bin/ping", "bin/pong"]);
    assert_eq!(done.xattrs_skipped, ["bin/ping"]);
    assert_eq!(std::fs::read(root.join("bin/ping")).unwrap(), b"ping\n");
    assert_eq!(std::fs::read(root.join("bin/pong")).unwrap(), b"pong\n");
    assert!(done.entries[0].sha1.is_some());
    assert!(!parent.join("etc").exists() && !root.join("etc").exists());
    std::fs::remove_dir_all(&parent).unwrap();
}

/// The installed-database record in apk-tools' v2 format, line by line
/// (no apk-tools here to read it back: not packaged for Debian, PyPI or
/// npm): the package's index fields, then per folder in path order `F:`
/// (relative, no leading `/`), `M:uid:gid:mode` only when not root 0755,
/// then each file or link in it: `R:name`, `a:uid:gid:mode` only when not
/// root 0644, `Z:Q1<base64 SHA-1>` (of the content, or a link's target);
/// the record ends with one empty line.
#[test]
fn installed_record_follows_the_apk_v2_database_format() {
    let owners = BTreeMap::from([
        ("home/build", (0o700, 1000, 1000)),
        ("usr/bin/su", (0o4755, 0, 0)),
    ]);
    let bytes = crafted_with_pax(
        &[
            ("etc", TarKind::Dir, b""),
            ("etc/motd", TarKind::File, b"hi\n"),
            ("home", TarKind::Dir, b""),
            ("home/build", TarKind::Dir, b""),
            ("usr", TarKind::Dir, b""),
            ("usr/bin", TarKind::Dir, b""),
            ("usr/bin/su", TarKind::File, b"su"),
            ("usr/bin/sh", TarKind::Symlink("su".into()), b""),
        ],
        &BTreeMap::new(),
        &owners,
    );
    let apk = ApkFile::parse(&bytes).unwrap();
    let parent = scratch_dir("db-format");
    let root = parent.join("root");
    std::fs::create_dir(&root).unwrap();
    let done = extract(&bytes, &apk, &root).unwrap();
    let text = installed_record(&apk, &done.entries, Some("local"));
    let q1 = |data: &[u8]| {
        use base64::Engine as _;
        format!(
            "Q1{}",
            base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(data))
        )
    };
    let checksum = control_checksum(&apk.control);
    let expected = format!(
        // `t:0`: the index writer keeps a zero build date (apk-tools leaves
        // it out; both read it the same).
        "C:{checksum}\nP:evil\nV:1-r0\nA:x86_64\nS:{size}\nI:1\nt:0\ns:local\n\
         F:etc\nR:motd\nZ:{motd}\n\
         F:home\n\
         F:home/build\nM:1000:1000:0700\n\
         F:usr\n\
         F:usr/bin\nR:su\na:0:0:4755\nZ:{su}\nR:sh\na:0:0:0755\nZ:{sh}\n\n",
        size = bytes.len(),
        motd = q1(b"hi\n"),
        su = q1(b"su"),
        sh = q1(b"su"),
    );
    assert_eq!(text, expected);
    // The grammar, checked line by line as apk-tools reads it.
    let mut last = ' ';
    for line in text.trim_end_matches('\n').lines() {
        let (key, value) = line.split_once(':').unwrap();
        let key = key.chars().next().unwrap();
        assert!(!value.is_empty(), "{line}");
        match key {
            'M' => assert_eq!(last, 'F', "M: follows its F:"),
            'R' => assert!("FMRaZ".contains(last), "R: inside a folder"),
            'a' => assert_eq!(last, 'R', "a: follows its R:"),
            'Z' => assert!("Ra".contains(last), "Z: follows its R: or a:"),
            _ => {}
        }
        last = key;
    }
    std::fs::remove_dir_all(&parent).unwrap();
}
