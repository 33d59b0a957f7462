//! Opening repository indexes with their signatures checked against real
//! fixture keys: accepted (RSA, RSA256), the missing-key, wrong-key,
//! tampered and unsigned cases, the arch filter, and resolution over the
//! opened indexes.

use super::*;
use crate::apk::index::write_index;
use crate::apk::repository::{open_index, resolve_world, RepositoryError, RepositoryRef, Trust};
use crate::apk::sign::signature_member;

fn repo(location: &str) -> RepositoryRef {
    RepositoryRef::parse(location).unwrap()
}

fn key_file(rel: &str) -> Keyring {
    let path = fixture(rel);
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut keys = Keyring::new();
    keys.add_pem(&name, &std::fs::read_to_string(&path).unwrap())
        .unwrap();
    keys
}

fn open(
    index: &str,
    keys: &Keyring,
    allow_untrusted: bool,
    arch: &str,
) -> Result<crate::apk::repository::OpenedIndex, RepositoryError> {
    open_index(
        &repo("./packages"),
        "x86_64/APKINDEX.tar.gz",
        &read_fixture(index),
        keys,
        allow_untrusted,
        arch,
    )
}

#[test]
fn rsa256_signed_index_with_its_key() {
    let opened = open(
        "apko/packages/x86_64/APKINDEX.tar.gz",
        &key_file("apko/melange.rsa.pub"),
        false,
        "x86_64",
    )
    .unwrap();
    assert_eq!(
        opened.trust,
        Trust::Signed {
            key: "melange.rsa.pub".into()
        }
    );
    assert_eq!(opened.records.len(), 4);
    assert_eq!(opened.other_arch, 0);
    let opened = open(
        "apko/rsa256-signed/APKINDEX.tar.gz",
        &key_file("apko/rsa256-signed/test-rsa256.rsa.pub"),
        false,
        "x86_64",
    )
    .unwrap();
    assert!(matches!(opened.trust, Trust::Signed { .. }));
}

#[test]
fn legacy_sha1_signed_index_with_its_key() {
    let opened = open(
        "apko/private_packages/x86_64/APKINDEX.tar.gz",
        &key_file("apko/private_packages/private_pkg_key.rsa.pub"),
        false,
        "x86_64",
    )
    .unwrap();
    assert_eq!(
        opened.trust,
        Trust::Signed {
            key: "private_pkg_key.rsa.pub".into()
        }
    );
}

#[test]
fn missing_key_names_the_key_and_the_keyring() {
    // The fixture's key file is another Alpine key than the one that
    // signed the index.
    let err = open(
        "alpine-316/APKINDEX.tar.gz",
        &key_file("alpine-316/alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub"),
        false,
        "aarch64",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "repository ./packages: x86_64/APKINDEX.tar.gz is signed by key \
         alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub, which is not in the keyring \
         (the keyring holds alpine-devel@lists.alpinelinux.org-4a6a0840.rsa.pub): UNTRUSTED signature"
    );
    let err = open(
        "apko/packages/x86_64/APKINDEX.tar.gz",
        &Keyring::new(),
        false,
        "x86_64",
    )
    .unwrap_err();
    assert!(err.reason.contains("(the keyring is empty)"), "{err}");
}

#[test]
fn wrong_key_under_the_right_name_is_a_bad_signature() {
    let mut keys = Keyring::new();
    let other = std::fs::read_to_string(fixture("apko/rsa256-signed/test-rsa256.rsa.pub")).unwrap();
    keys.add_pem("melange.rsa.pub", &other).unwrap();
    let err = open(
        "apko/packages/x86_64/APKINDEX.tar.gz",
        &keys,
        false,
        "x86_64",
    )
    .unwrap_err();
    assert!(
        err.reason
            .contains("the signature by key melange.rsa.pub does not verify"),
        "{err}"
    );
    assert!(err.reason.ends_with("BAD signature"), "{err}");
}

#[test]
fn tampered_index_fails_and_allow_untrusted_only_warns() {
    // The original signature member in front of a changed index member.
    let original = index("apko/packages/x86_64/APKINDEX.tar.gz");
    let mut records = original.records.clone();
    records[0].version = "9.9.9-r0".into();
    let member = write_index(&records, "", None).unwrap();
    let mut bytes = signature_member(&original.signatures[0], 0);
    bytes.extend_from_slice(&member);
    let keys = key_file("apko/melange.rsa.pub");
    let repository = repo("https://example.org/os");
    let err = open_index(
        &repository,
        "x86_64/APKINDEX.tar.gz",
        &bytes,
        &keys,
        false,
        "x86_64",
    )
    .unwrap_err();
    assert_eq!(err.repository, "https://example.org/os");
    assert!(err.reason.contains("BAD signature"), "{err}");

    let opened = open_index(
        &repository,
        "x86_64/APKINDEX.tar.gz",
        &bytes,
        &keys,
        true,
        "x86_64",
    )
    .unwrap();
    match opened.trust {
        Trust::Untrusted { reason } => assert!(reason.contains("BAD signature"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsigned_index_needs_allow_untrusted() {
    let records = index("apko/packages/x86_64/APKINDEX.tar.gz").records;
    let bytes = write_index(&records, "", None).unwrap();
    let keys = key_file("apko/melange.rsa.pub");
    let err = open_index(
        &repo("./p"),
        "x86_64/APKINDEX.tar.gz",
        &bytes,
        &keys,
        false,
        "x86_64",
    )
    .unwrap_err();
    assert!(
        err.reason
            .starts_with("x86_64/APKINDEX.tar.gz is not signed (UNTRUSTED)"),
        "{err}"
    );
    let opened = open_index(
        &repo("./p"),
        "x86_64/APKINDEX.tar.gz",
        &bytes,
        &keys,
        true,
        "x86_64",
    )
    .unwrap();
    assert!(matches!(opened.trust, Trust::Untrusted { .. }));
    assert_eq!(opened.records.len(), 4);
}

#[test]
fn garbage_is_not_an_index() {
    let err = open_index(
        &repo("./p"),
        "x86_64/APKINDEX.tar.gz",
        b"<html>not found</html>",
        &Keyring::new(),
        true,
        "x86_64",
    )
    .unwrap_err();
    assert!(
        err.reason.starts_with("x86_64/APKINDEX.tar.gz: malformed"),
        "{err}"
    );
}

#[test]
fn records_of_another_arch_are_left_out() {
    let opened = open(
        "apko/packages/aarch64/APKINDEX.tar.gz",
        &key_file("apko/melange.rsa.pub"),
        false,
        "x86_64",
    )
    .unwrap();
    assert!(opened.records.is_empty());
    assert_eq!(opened.other_arch, 4);
}

#[test]
fn resolve_over_opened_indexes() {
    let opened = open(
        "apko/packages/x86_64/APKINDEX.tar.gz",
        &key_file("apko/melange.rsa.pub"),
        false,
        "x86_64",
    )
    .unwrap();
    let world = ["replayout".to_string(), "custom-ca-certs-1".to_string()];
    let resolution = resolve_world(std::slice::from_ref(&opened), &world).unwrap();
    let mut names: Vec<String> = resolution
        .packages
        .iter()
        .map(|p| format!("{}-{}", p.name, p.version))
        .collect();
    names.sort();
    assert!(
        names.contains(&"replayout-1.0.0-r0".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"custom-ca-certs-1-1.0.0-r0".to_string()),
        "{names:?}"
    );

    let err = resolve_world(std::slice::from_ref(&opened), &["nope".to_string()]).unwrap_err();
    assert!(err.to_string().contains("nope (no such package)"), "{err}");
    let err = resolve_world(&[opened], &["a>=".to_string()]).unwrap_err();
    assert!(err.to_string().starts_with("package \"a>=\":"), "{err}");
}
