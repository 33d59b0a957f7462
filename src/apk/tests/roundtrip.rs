//! Writer round trips: a package written from a temporary tree reads back
//! with the same metadata and files, verifies, and is byte-reproducible.

use std::collections::BTreeMap;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use sha1::{Digest, Sha1};

use super::*;
use crate::apk::gzip;
use crate::apk::index::write_index;
use crate::apk::package::{EntryKind, PAX_SHA1};
use crate::apk::tarball::{self, TarHeader};
use crate::apk::write::control_member;
use crate::apk::{
    verify_package, write_package, ApkError, IndexRecord, PackageOptions, PkgInfo, Verified,
};

const EPOCH: u64 = 1_700_000_000;
const TOOL: &[u8] = b"#!/bin/sh\necho hello\n";
const SHARED: &[u8] = b"one inode, two names\n";

fn long_name() -> String {
    format!("usr/share/{}/deep.txt", "x".repeat(120))
}

/// A tree with a regular file, an executable, a symlink, a hard link pair,
/// nested and empty directories, a long path and a file owned by uid 1000.
/// Returns whether the uid-1000 chown worked (it needs root).
fn make_tree(root: &Path) -> bool {
    let write = |rel: &str, content: &[u8], mode: u32| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("usr/bin/tool", TOOL, 0o755);
    write("usr/share/doc/pkg/README", b"read me\n", 0o644);
    write("usr/lib/a-b", b"sorts before usr/lib/a/\n", 0o644);
    write("usr/lib/a/z", b"", 0o600);
    write("usr/lib/shared-1", SHARED, 0o644);
    std::fs::hard_link(root.join("usr/lib/shared-1"), root.join("usr/lib/shared-2")).unwrap();
    symlink("tool", root.join("usr/bin/link")).unwrap();
    std::fs::create_dir_all(root.join("var/empty/nested")).unwrap();
    write(&long_name(), b"long\n", 0o644);
    write("etc/owned-by-build-user", b"x\n", 0o644);
    std::os::unix::fs::chown(root.join("etc/owned-by-build-user"), Some(1000), Some(1000)).is_ok()
}

fn info() -> PkgInfo {
    PkgInfo {
        pkgname: "hello".into(),
        pkgver: "1.2.3-r4".into(),
        arch: "x86_64".into(),
        origin: "hello".into(),
        pkgdesc: "a test package".into(),
        url: "https://example.com".into(),
        commit: "0123456789abcdef".into(),
        builddate: EPOCH,
        license: vec!["MIT".into()],
        depends: vec!["so:libc.so.6".into(), "busybox".into(), "busybox".into()],
        provides: vec!["cmd:tool=1.2.3-r4".into()],
        replaces: vec!["old-hello".into()],
        provider_priority: 5,
        ..Default::default()
    }
}

fn scriptlets() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(".post-install".to_string(), b"#!/bin/sh\nexit 0\n".to_vec())])
}

/// Walk tar blocks: every header non-zero, content padded; returns whether
/// the stream ends with the two end-of-archive blocks (and nothing else).
fn ends_with_end_blocks(tar: &[u8]) -> bool {
    let mut pos = 0;
    while pos < tar.len() {
        let header = &tar[pos..pos + 512];
        if header.iter().all(|&b| b == 0) {
            return tar[pos..] == tarball::END_OF_ARCHIVE;
        }
        let size_field = std::str::from_utf8(&header[124..135]).unwrap();
        let size = u64::from_str_radix(size_field.trim_matches(char::from(0)), 8).unwrap() as usize;
        pos += 512 + size.div_ceil(512) * 512;
    }
    assert_eq!(pos, tar.len(), "tar stream ends inside an entry");
    false
}

fn members(bytes: &[u8]) -> Vec<gzip::Member> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let member = gzip::read_member(bytes, start, "member").unwrap();
        start = member.range.end;
        out.push(member);
    }
    out
}

#[test]
fn written_package_reads_back_and_verifies() {
    let dir = scratch_dir("roundtrip");
    let chowned = make_tree(&dir.join("tree"));
    let (key, keys) = test_key();
    let options = PackageOptions {
        source_date_epoch: EPOCH,
        signing_key: Some(&key),
        scriptlets: scriptlets(),
        ..Default::default()
    };
    let out = dir.join("hello-1.2.3-r4.apk");
    let written = write_package(&dir.join("tree"), &info(), &options, &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let apk = ApkFile::parse(&bytes).unwrap();

    assert_eq!(
        IndexRecord::from_written(&written),
        IndexRecord::from_package(&apk),
        "the writer's own record is the one read back"
    );
    assert_eq!(written.file_size, bytes.len() as u64);
    let written = written.pkginfo;
    assert_eq!(apk.pkginfo, written);
    assert_eq!(written.depends, ["busybox", "so:libc.so.6"]);
    assert_eq!(written.datahash, apk.data_sha256);
    let expected_size = [TOOL.len(), 8, 24, 0, SHARED.len(), 5, 2]
        .iter()
        .sum::<usize>() as u64;
    assert_eq!(
        written.size, expected_size,
        "hard-linked content counts once"
    );
    assert_eq!(apk.scriptlets(), [".post-install"]);
    assert_eq!(
        verify_package(&apk, &keys).unwrap(),
        Verified::Signed {
            key: "test.pem.pub".into()
        }
    );

    let paths: Vec<&str> = apk.entries.iter().map(|e| e.path.as_str()).collect();
    let long = long_name();
    let expected_paths = [
        "etc",
        "etc/owned-by-build-user",
        "usr",
        "usr/bin",
        "usr/bin/link",
        "usr/bin/tool",
    ];
    assert_eq!(&paths[..6], &expected_paths);
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "entries sorted by path");
    assert!(paths.contains(&long.as_str()));
    assert!(paths.contains(&"var/empty/nested"));
    for (i, entry) in apk.entries.iter().enumerate() {
        assert!(!entry.path.starts_with("./") && !entry.path.starts_with('/'));
        assert_eq!(entry.mtime, EPOCH, "{}", entry.path);
        if let Some((parent, _)) = entry.path.rsplit_once('/') {
            assert!(
                paths[..i].contains(&parent),
                "{} before its parent",
                entry.path
            );
        }
    }
    let by_path = |p: &str| apk.entries.iter().find(|e| e.path == p).unwrap();
    let tool = by_path("usr/bin/tool");
    assert_eq!(
        (tool.kind.clone(), tool.mode, tool.size),
        (EntryKind::File, 0o755, TOOL.len() as u64)
    );
    assert_eq!(
        tool.pax_sha1.as_deref(),
        Some(hex::encode(Sha1::digest(TOOL)).as_str())
    );
    assert_eq!(by_path("usr/lib/a/z").mode, 0o600);
    let link = by_path("usr/bin/link");
    assert_eq!(
        (link.kind.clone(), link.link_target.as_deref()),
        (EntryKind::Symlink, Some("tool"))
    );
    assert_eq!(
        link.pax_sha1.as_deref(),
        Some(hex::encode(Sha1::digest(b"tool")).as_str())
    );
    let hard = by_path("usr/lib/shared-2");
    assert_eq!(
        (hard.kind.clone(), hard.link_target.as_deref()),
        (EntryKind::Hardlink, Some("usr/lib/shared-1"))
    );
    assert_eq!(by_path("usr/lib/shared-1").kind, EntryKind::File);
    if chowned {
        let owned = by_path("etc/owned-by-build-user");
        assert_eq!((owned.uid, owned.gid), (0, 0), "uid/gid 1000 become root");
    }

    if let Ok(keep) = std::env::var("APK_TEST_KEEP") {
        std::fs::copy(&out, keep).unwrap();
    }
    // Same input, same bytes.
    let again = dir.join("again.apk");
    write_package(&dir.join("tree"), &info(), &options, &again).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn members_have_deterministic_headers_and_the_right_end_blocks() {
    let dir = scratch_dir("members");
    make_tree(&dir.join("tree"));
    let (key, _) = test_key();
    let options = PackageOptions {
        source_date_epoch: EPOCH,
        signing_key: Some(&key),
        scriptlets: scriptlets(),
        ..Default::default()
    };
    let out = dir.join("p.apk");
    write_package(&dir.join("tree"), &info(), &options, &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let members = members(&bytes);
    assert_eq!(members.len(), 3);
    for (n, member) in members.iter().enumerate() {
        // magic, deflate, no flags (no name), mtime 0, XFL, OS 255; XFL is
        // 2 (best) for the small members, 0 for the data member (level 6).
        let xfl = if n == 2 { b'\x00' } else { b'\x02' };
        let mut expected = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff".to_vec();
        expected[8] = xfl;
        assert_eq!(
            &bytes[member.range.start..member.range.start + 10],
            expected
        );
    }
    assert!(
        !ends_with_end_blocks(&members[0].content),
        "signature member has end blocks"
    );
    assert!(
        !ends_with_end_blocks(&members[1].content),
        "control member has end blocks"
    );
    assert!(
        ends_with_end_blocks(&members[2].content),
        "data member lacks end blocks"
    );
    let apk = ApkFile::parse(&bytes).unwrap();
    assert_eq!(apk.signatures[0].key_name, "test.pem.pub");
    let sign_names = crate::apk::package::tar_files(&members[0].content, "sig").unwrap();
    assert_eq!(sign_names[0].0, ".SIGN.RSA256.test.pem.pub");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsigned_package_has_two_members() {
    let dir = scratch_dir("unsigned");
    make_tree(&dir.join("tree"));
    let out = dir.join("p.apk");
    let options = PackageOptions {
        source_date_epoch: EPOCH,
        ..Default::default()
    };
    write_package(&dir.join("tree"), &info(), &options, &out).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(members(&bytes).len(), 2);
    let apk = ApkFile::parse(&bytes).unwrap();
    assert!(!apk.is_signed());
    assert_eq!(
        verify_package(&apk, &test_key().1).unwrap(),
        Verified::Unsigned
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_scriptlet_names_and_special_files_are_refused() {
    let dir = scratch_dir("refused");
    std::fs::create_dir_all(dir.join("tree")).unwrap();
    let options = PackageOptions {
        scriptlets: BTreeMap::from([(".post-instal".to_string(), Vec::new())]),
        ..Default::default()
    };
    let err = write_package(&dir.join("tree"), &info(), &options, &dir.join("p.apk")).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown scriptlet \".post-instal\""),
        "{err}"
    );
    assert!(!dir.join("p.apk").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_value_with_a_line_break_is_refused_before_anything_is_written() {
    let dir = scratch_dir("forged");
    make_tree(&dir.join("tree"));
    let forged = PkgInfo {
        depends: vec!["foo\n\nC:Q1x\nP:forged\nV:6.6-r0".into()],
        ..info()
    };
    let out = dir.join("p.apk");
    let err = write_package(&dir.join("tree"), &forged, &Default::default(), &out).unwrap_err();
    assert!(err.to_string().contains("contains a line break"), "{err}");
    assert!(!out.exists());
    // The index writer refuses such a record too, whatever made it.
    let record = IndexRecord {
        name: "a".into(),
        version: "1-r0".into(),
        url: "https://x\nP:forged".into(),
        ..Default::default()
    };
    let err = write_index(&[record], "", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed APKINDEX record \"a\": U \"https://x\\nP:forged\" contains a line break"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn special_files_fail_cleanly_without_leftovers() {
    let dir = scratch_dir("socket");
    make_tree(&dir.join("tree"));
    let _listener = std::os::unix::net::UnixListener::bind(dir.join("tree/usr/sock")).unwrap();
    let err = write_package(
        &dir.join("tree"),
        &info(),
        &PackageOptions::default(),
        &dir.join("p.apk"),
    )
    .unwrap_err();
    assert!(
        err.to_string().ends_with(
            "usr/sock: is a socket; packages may only hold directories, regular files and symlinks"
        ),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["tree"], "no output or temporary file left");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Assemble an unsigned package from a control `info` and a data tar.
fn assemble(info: &PkgInfo, data_tar: &[u8]) -> Vec<u8> {
    let mut bytes = control_member(info, &BTreeMap::new(), 0);
    bytes.extend(gzip::compress(data_tar));
    bytes
}

fn data_tar(content: &[u8], claimed_sha1: &str) -> Vec<u8> {
    let mut header = TarHeader::file("usr/bin/x", 0o755, content.len() as u64, 0);
    header
        .pax
        .insert(PAX_SHA1.into(), claimed_sha1.as_bytes().to_vec());
    let mut tar = Vec::new();
    tarball::write_file(&mut tar, &header, content).unwrap();
    tar.extend_from_slice(&tarball::END_OF_ARCHIVE);
    tar
}

#[test]
fn tampering_is_detected_precisely() {
    let good_sha1 = hex::encode(Sha1::digest(b"payload"));
    let data = gzip::compress(&data_tar(b"payload", &good_sha1));
    let mut info = info();
    info.datahash = hex::encode(sha2::Sha256::digest(&data));
    assert_eq!(
        verify_package(
            &ApkFile::parse(&assemble(&info, &data_tar(b"payload", &good_sha1))).unwrap(),
            &Keyring::new()
        )
        .unwrap(),
        Verified::Unsigned
    );

    let wrong = "0".repeat(40);
    let tampered = data_tar(b"payload", &wrong);
    info.datahash = hex::encode(sha2::Sha256::digest(gzip::compress(&tampered)));
    let err = verify_package(
        &ApkFile::parse(&assemble(&info, &tampered)).unwrap(),
        &Keyring::new(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "usr/bin/x: SHA-1 checksum mismatch: PAX header says {wrong}, content is {good_sha1}"
        )
    );

    info.datahash = "ab".repeat(32);
    let err = verify_package(
        &ApkFile::parse(&assemble(&info, &data_tar(b"payload", &good_sha1))).unwrap(),
        &Keyring::new(),
    )
    .unwrap_err();
    assert!(matches!(err, ApkError::DatahashMismatch { .. }), "{err}");
}

#[test]
fn swapped_control_member_breaks_the_signature() {
    let dir = scratch_dir("swapped");
    make_tree(&dir.join("tree"));
    let (key, keys) = test_key();
    let options = PackageOptions {
        source_date_epoch: EPOCH,
        signing_key: Some(&key),
        scriptlets: BTreeMap::new(),
        ..Default::default()
    };
    let out = dir.join("p.apk");
    let written = write_package(&dir.join("tree"), &info(), &options, &out)
        .unwrap()
        .pkginfo;
    let bytes = std::fs::read(&out).unwrap();
    let apk = ApkFile::parse(&bytes).unwrap();
    let mut changed = written.clone();
    changed.pkgdesc = "something else".into();
    let mut forged = bytes[apk.signature_range.clone().unwrap()].to_vec();
    forged.extend(control_member(&changed, &BTreeMap::new(), EPOCH));
    forged.extend_from_slice(&bytes[apk.data_range.clone()]);
    let err = verify_package(&ApkFile::parse(&forged).unwrap(), &keys).unwrap_err();
    assert_eq!(
        err.to_string(),
        "signature does not verify with key test.pem.pub"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pkcs8_private_and_pkcs1_public_keys_are_accepted() {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let (key, _) = test_key();
    let pkcs8 = key.key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let again = SigningKey::from_pem("k8.rsa", &pkcs8).unwrap();
    assert_eq!(again.key_name, "k8.rsa.pub");
    let pkcs1_public = key.public_key().to_pkcs1_pem(LineEnding::LF).unwrap();
    assert!(pkcs1_public.contains("RSA PUBLIC KEY"));
    let mut keys = Keyring::new();
    keys.add_pem("k8.rsa.pub", &pkcs1_public).unwrap();
    let member = gzip::compress(b"signed bytes");
    let signature = again
        .sign(crate::apk::SignatureAlgo::RsaSha256, &member)
        .unwrap();
    keys.verify(&signature, &member).unwrap();
    let sha512 = again
        .sign(crate::apk::SignatureAlgo::RsaSha512, &member)
        .unwrap();
    keys.verify(&sha512, &member).unwrap();
    assert!(keys.verify(&signature, b"other bytes").is_err());
    let err = Keyring::new().add_pem(
        "bad.pub",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    );
    assert!(err.unwrap_err().to_string().starts_with("key bad.pub: "));
}
