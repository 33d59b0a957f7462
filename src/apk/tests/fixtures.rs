//! Real packages and indexes: signatures, hashes and parsed fields.

use super::*;
use crate::apk::package::EntryKind;
use crate::apk::{verify_index, verify_package, ApkError, IndexRecord, SignatureAlgo, Verified};

const MELANGE_PACKAGES: [&str; 4] = [
    "custom-ca-certs-1-1.0.0-r0.apk",
    "custom-ca-certs-2-1.0.0-r0.apk",
    "pretend-baselayout-1.0.0-r0.apk",
    "replayout-1.0.0-r0.apk",
];

fn signed_by(key: &str) -> Verified {
    Verified::Signed {
        key: key.to_string(),
    }
}

#[test]
fn apko_packages_and_indexes_verify_with_melange_key() {
    let keys = keyring("apko/packages");
    for arch in ["x86_64", "aarch64"] {
        for name in MELANGE_PACKAGES {
            let apk = package(&format!("apko/packages/{arch}/{name}"));
            assert_eq!(apk.signatures.len(), 1);
            assert_eq!(apk.signatures[0].algo, SignatureAlgo::RsaSha256, "{name}");
            let verdict =
                verify_package(&apk, &keys).unwrap_or_else(|e| panic!("{arch}/{name}: {e}"));
            assert_eq!(verdict, signed_by("melange.rsa.pub"));
        }
        let idx = index(&format!("apko/packages/{arch}/APKINDEX.tar.gz"));
        assert_eq!(
            verify_index(&idx, &keys).unwrap(),
            signed_by("melange.rsa.pub")
        );
        assert_eq!(idx.records.len(), 4);
    }
}

#[test]
fn legacy_sha1_signatures_verify() {
    let keys = keyring("apko/private_packages");
    for name in ["package-x-1.0.0-r0.apk", "package-y-1.0.0-r0.apk"] {
        let apk = package(&format!("apko/private_packages/x86_64/{name}"));
        assert_eq!(apk.signatures[0].algo, SignatureAlgo::RsaSha1);
        assert_eq!(
            verify_package(&apk, &keys).unwrap(),
            signed_by("private_pkg_key.rsa.pub")
        );
    }
    let idx = index("apko/private_packages/x86_64/APKINDEX.tar.gz");
    assert_eq!(
        verify_index(&idx, &keys).unwrap(),
        signed_by("private_pkg_key.rsa.pub")
    );
    let idx = index("apko/rsa256-signed/APKINDEX.tar.gz");
    assert_eq!(idx.signatures[0].algo, SignatureAlgo::RsaSha256);
    assert_eq!(
        verify_index(&idx, &keyring("apko/rsa256-signed")).unwrap(),
        signed_by("test-rsa256.rsa.pub")
    );
}

#[test]
fn hello_wolfi_signed_by_another_melange_key_fails() {
    let apk = package("apko/hello-wolfi-2.12.1-r0.apk");
    let err = verify_package(&apk, &keyring("apko/packages")).unwrap_err();
    assert!(
        matches!(&err, ApkError::BadSignature { key } if key == "melange.rsa.pub"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "signature does not verify with key melange.rsa.pub"
    );
}

#[test]
fn missing_keys_are_named() {
    let cases = [
        ("melange/libcap-2.69-r0.apk", "wolfi-signing.rsa.pub"),
        ("melange/neon-4604-r0.apk", "wolfi-signing.rsa.pub"),
        (
            "melange/ruby3.2-base64-0.2.0-r2.apk",
            "wolfi-signing.rsa.pub",
        ),
        ("melange/aws-c-s3-0.4.9-r0.apk", "wolfi-signing.rsa.pub"),
        (
            "melange/kubeflow-pipelines-2.1.3-r7.apk",
            "wolfi-signing.rsa.pub",
        ),
        ("melange/test.apk", "wolfi-signing.rsa.pub"),
        ("melange/hello-wolfi-2.12.1-r1.apk", "local-melange.rsa.pub"),
        (
            "alpine-316/alpine-baselayout-3.2.0-r23.apk",
            "alpine-devel@lists.alpinelinux.org-616ae350.rsa.pub",
        ),
    ];
    // The melange directory holds test.pem.pub, and alpine-316 another Alpine key.
    for (rel, key) in cases {
        let dir = rel.split('/').next().unwrap();
        let err = verify_package(&package(rel), &keyring(dir)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("signed by key {key}, not in keyring"),
            "{rel}"
        );
    }
    let idx = index("alpine-316/APKINDEX.tar.gz");
    let err = verify_index(&idx, &keyring("alpine-316")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "signed by key alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub, not in keyring"
    );
}

#[test]
fn content_of_packages_with_absent_keys_still_checks_out() {
    // With the signature set aside, datahash and every PAX SHA-1 must match.
    for rel in [
        "melange/libcap-2.69-r0.apk",
        "melange/hello-wolfi-2.12.1-r1.apk",
        "apko/hello-wolfi-2.12.1-r0.apk",
        "alpine-316/alpine-baselayout-3.2.0-r23.apk",
    ] {
        let mut apk = package(rel);
        apk.signatures.clear();
        assert_eq!(
            verify_package(&apk, &Keyring::new()).unwrap(),
            Verified::Unsigned,
            "{rel}"
        );
    }
}

/// Two of melange's fixtures carry a `datahash` that is not the SHA-256 of
/// their data member (checked independently with Python's hashlib); their
/// entries' SHA-1s are fine.
#[test]
fn stale_datahash_is_reported_with_both_values() {
    let cases = [
        (
            "melange/aws-c-s3-0.4.9-r0.apk",
            "854d0f04211d3eb0160111839e64c90bca94ed804a599423b4cfacddc9b2437f",
            "e2816f0b22f08a1a0decac06072bd0e297cb57295975ed09f161d52168826516",
        ),
        (
            "melange/neon-4604-r0.apk",
            "cb21fa1e6f8af5bff823e30f05dbb6f482c5d61711713cc4bd5235e2be9165a1",
            "7c74535c23efa132c98419618ee588b190d570153f3c987429a8f0317b4d0906",
        ),
    ];
    for (rel, expected, actual) in cases {
        let mut apk = package(rel);
        apk.signatures.clear();
        let err = verify_package(&apk, &Keyring::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("datahash mismatch: .PKGINFO says {expected}, data member is {actual}"),
            "{rel}"
        );
        assert!(
            apk.entries.iter().all(|e| e.pax_sha1 == e.actual_sha1),
            "{rel}"
        );
    }
}

#[test]
fn unsigned_packages_are_reported_unsigned() {
    for rel in [
        "melange/perl-json-4.11-r0.apk",
        "melange/shbang-test-1-r1.apk",
        "melange/ld-so-conf-d-test-1-r1.apk",
    ] {
        let apk = package(rel);
        assert!(!apk.is_signed() && apk.signature_range.is_none(), "{rel}");
        assert_eq!(apk.control_range.start, 0);
        assert_eq!(
            verify_package(&apk, &keyring("melange")).unwrap(),
            Verified::Unsigned,
            "{rel}"
        );
    }
}

#[test]
fn member_ranges_tile_the_file() {
    let bytes = read_fixture("apko/packages/x86_64/replayout-1.0.0-r0.apk");
    let apk = ApkFile::parse(&bytes).unwrap();
    assert_eq!(apk.signature_range, Some(0..647));
    assert_eq!(apk.control_range, 647..1661);
    assert_eq!(apk.data_range, 1661..bytes.len());
    assert_eq!(apk.control, &bytes[647..1661]);
}

#[test]
fn pkginfo_fields_of_melange_package() {
    let info = package("apko/packages/x86_64/replayout-1.0.0-r0.apk").pkginfo;
    assert_eq!(info.pkgname, "replayout");
    assert_eq!(info.pkgver, "1.0.0-r0");
    assert_eq!(info.arch, "x86_64");
    assert_eq!(info.size, 3389);
    assert_eq!(info.origin, "replayout");
    assert_eq!(info.pkgdesc, "replacement baselayout");
    assert_eq!(info.url, "");
    assert_eq!(info.commit, "326e0ed687bdfeadac839dc9b25686e4442c9d04");
    assert_eq!(info.maintainer, "unknown");
    assert_eq!(info.license, ["MIT"]);
    assert_eq!(info.depends, ["pretend-baselayout"]);
    assert_eq!(info.replaces, ["pretend-baselayout"]);
    assert_eq!(
        info.datahash,
        "ce688706f6aa287b05f02c507876b43389992b08fb4f84f99117bd5694e45d4c"
    );

    let hello = package("apko/hello-wolfi-2.12.1-r0.apk").pkginfo;
    assert_eq!(hello.builddate, 12345678);
    assert_eq!(hello.provides, ["cmd:hello=2.12.1-r0"]);
    assert_eq!(hello.depends, ["so:ld-linux-x86-64.so.2", "so:libc.so.6"]);
    assert_eq!(hello.size, 640091);
}

#[test]
fn alpine_package_scriptlets_entries_and_unknown_keys() {
    let apk = package("alpine-316/alpine-baselayout-3.2.0-r23.apk");
    let info = &apk.pkginfo;
    assert_eq!(info.builddate, 1662926906);
    assert_eq!(
        info.depends,
        [
            "alpine-baselayout-data=3.2.0-r23",
            "/bin/sh",
            "so:libc.musl-aarch64.so.1"
        ]
    );
    assert!(info.other.contains(&(
        "packager".to_string(),
        "Buildozer <alpine-devel@lists.alpinelinux.org>".to_string()
    )));
    assert_eq!(
        apk.scriptlets(),
        [
            ".pre-install",
            ".post-install",
            ".pre-upgrade",
            ".post-upgrade"
        ]
    );
    let crontab = apk
        .entries
        .iter()
        .find(|e| e.path == "etc/crontabs/root")
        .unwrap();
    assert_eq!(
        (crontab.kind.clone(), crontab.mode, crontab.size),
        (EntryKind::File, 0o600, 283)
    );
    assert_eq!(
        crontab.pax_sha1.as_deref(),
        Some("bdf9356a9516238c8b2468613517749098b17ef6")
    );
    assert_eq!(crontab.pax_sha1, crontab.actual_sha1);
    let symlinks: Vec<_> = apk
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Symlink)
        .collect();
    assert_eq!(symlinks.len(), 3);
    assert!(symlinks
        .iter()
        .all(|e| e.link_target.is_some() && e.pax_sha1 == e.actual_sha1));
    assert_eq!(
        apk.entries
            .iter()
            .filter(|e| e.kind == EntryKind::Dir)
            .count(),
        69
    );
}

#[test]
fn index_records_match_the_packages_they_list() {
    let idx = index("apko/packages/x86_64/APKINDEX.tar.gz");
    assert_eq!(idx.description, "");
    for name in MELANGE_PACKAGES {
        let ours = IndexRecord::from_package(&package(&format!("apko/packages/x86_64/{name}")));
        let theirs = idx.records.iter().find(|r| r.name == ours.name).unwrap();
        assert_eq!(ours.checksum, theirs.checksum, "{name}");
        assert_eq!(
            (ours.size, ours.installed_size, &ours.version, &ours.arch),
            (
                theirs.size,
                theirs.installed_size,
                &theirs.version,
                &theirs.arch
            )
        );
        assert_eq!(
            (&ours.description, &ours.license, &ours.origin),
            (&theirs.description, &theirs.license, &theirs.origin)
        );
        assert_eq!(
            (&ours.commit, &ours.maintainer, ours.build_time),
            (&theirs.commit, &theirs.maintainer, theirs.build_time)
        );
        assert_eq!(
            (&ours.depends, &ours.provides),
            (&theirs.depends, &theirs.provides)
        );
    }
    let replayout = idx.records.iter().find(|r| r.name == "replayout").unwrap();
    assert_eq!(replayout.checksum, "Q11/HhSewwwOXgl0r0ffb0O0BRtYc=");
}

#[test]
fn alpine_index_parses_4929_records() {
    let idx = index("alpine-316/APKINDEX.tar.gz");
    assert_eq!(idx.description, "v3.16.3-13-g4d933a1fa3");
    assert_eq!(idx.records.len(), 4929);
    let first = &idx.records[0];
    assert_eq!(first.checksum, "Q1ZX+on7zBgcokTctj4tLSmx7q5O4=");
    assert_eq!(
        (first.name.as_str(), first.version.as_str()),
        ("git-zsh-completion", "5.8.1-r4")
    );
    assert_eq!(
        (first.size, first.installed_size, first.build_time),
        (97492, 405504, 1647977252)
    );
    assert_eq!(first.install_if, ["zsh=5.8.1-r4", "git"]);
    assert_eq!(first.depends, ["zsh"]);
    assert!(idx
        .records
        .iter()
        .all(|r| !r.name.is_empty() && r.checksum.starts_with("Q1")));
    assert_eq!(
        idx.records
            .iter()
            .filter(|r| r.provider_priority != 0)
            .count(),
        72
    );
    assert!(idx.records.iter().all(|r| r.other.is_empty()));
}

#[test]
fn truncated_and_trailing_bytes_are_errors() {
    let bytes = read_fixture("apko/packages/x86_64/replayout-1.0.0-r0.apk");
    let err = ApkFile::parse(&bytes[..bytes.len() - 10])
        .unwrap_err()
        .to_string();
    assert!(err.contains("data member"), "{err}");
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"junk");
    let err = ApkFile::parse(&longer).unwrap_err().to_string();
    assert!(err.contains("4 unexpected bytes"), "{err}");
    let err = ApkFile::parse(&bytes[..647]).unwrap_err().to_string();
    assert!(err.contains("control member"), "{err}");
}

/// The APKINDEX text of an uncompressed index member.
fn apkindex_text(index_file: &[u8]) -> String {
    let idx = ApkIndex::parse(index_file).unwrap();
    let member = crate::apk::gzip::read_member(&idx.signed, 0, "index").unwrap();
    let files = crate::apk::package::tar_files(&member.content, "index").unwrap();
    let (_, _, text) = files
        .into_iter()
        .find(|(name, _, _)| name == "APKINDEX")
        .unwrap();
    String::from_utf8(text).unwrap()
}

#[test]
fn index_text_from_packages_matches_melange_byte_for_byte() {
    for arch in ["x86_64", "aarch64"] {
        let mut records: Vec<IndexRecord> = MELANGE_PACKAGES
            .iter()
            .map(|name| {
                IndexRecord::from_package(&package(&format!("apko/packages/{arch}/{name}")))
            })
            .collect();
        records.reverse();
        let ours = crate::apk::index::write_index(&records, "", None).unwrap();
        let theirs = read_fixture(&format!("apko/packages/{arch}/APKINDEX.tar.gz"));
        assert_eq!(apkindex_text(&ours), apkindex_text(&theirs), "{arch}");
    }
}
