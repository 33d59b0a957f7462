//! The host tools behind `keygen`, `index`, `sign-index` and `verify`,
//! driven through the same functions the CLI calls.

use std::path::PathBuf;

use clap::Parser;

use super::*;
use crate::apk::index::write_index;
use crate::apk::{tools, verify_index, IndexRecord, Verified};
use crate::cli::{self, Cli, Command, VerifyArgs};

/// Small keys: RSA 4096 generation is too slow for unit tests.
const TEST_BITS: usize = 1024;

fn melange_packages(arch: &str) -> Vec<PathBuf> {
    [
        "custom-ca-certs-1",
        "custom-ca-certs-2",
        "pretend-baselayout",
        "replayout",
    ]
    .iter()
    .map(|name| fixture(&format!("apko/packages/{arch}/{name}-1.0.0-r0.apk")))
    .collect()
}

#[test]
fn keygen_writes_a_usable_pair_and_refuses_to_overwrite() {
    let dir = scratch_dir("keygen");
    let private = dir.join("local.rsa");
    let (_, public) = tools::keygen(&private, TEST_BITS).unwrap();
    assert_eq!(public, dir.join("local.rsa.pub"));
    let key = SigningKey::from_file(&private).unwrap();
    assert_eq!(key.key_name, "local.rsa.pub");
    let keys = Keyring::from_dir(&dir).unwrap();
    assert_eq!(keys.names().collect::<Vec<_>>(), ["local.rsa.pub"]);
    assert_eq!(keys.get("local.rsa.pub"), Some(&key.public_key()));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let before = std::fs::read(&private).unwrap();
    let err = tools::keygen(&private, TEST_BITS).unwrap_err();
    assert!(
        err.to_string().contains("already exists; not overwriting"),
        "{err}"
    );
    assert_eq!(std::fs::read(&private).unwrap(), before);
    // Only the two key files: no temporary files left behind.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn index_sign_index_and_verify_round_trip() {
    let dir = scratch_dir("index");
    let (first_key, second_key) = (dir.join("first.rsa"), dir.join("second.rsa"));
    tools::keygen(&first_key, TEST_BITS).unwrap();
    tools::keygen(&second_key, TEST_BITS).unwrap();
    let keys = Keyring::from_dir(&dir).unwrap();
    let first = SigningKey::from_file(&first_key).unwrap();
    let out = dir.join("APKINDEX.tar.gz");

    let mut packages = melange_packages("x86_64");
    packages.reverse();
    assert_eq!(tools::index(&out, &packages, Some(&first)).unwrap(), 4);
    let bytes = std::fs::read(&out).unwrap();
    let idx = ApkIndex::parse(&bytes).unwrap();
    assert_eq!(
        verify_index(&idx, &keys).unwrap(),
        Verified::Signed {
            key: "first.rsa.pub".into()
        }
    );
    let names: Vec<&str> = idx.records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "custom-ca-certs-1",
            "custom-ca-certs-2",
            "pretend-baselayout",
            "replayout"
        ]
    );
    let theirs = index("apko/packages/x86_64/APKINDEX.tar.gz");
    for (ours, theirs) in idx.records.iter().zip(&theirs.records) {
        assert_eq!(
            (&ours.checksum, ours.size),
            (&theirs.checksum, theirs.size),
            "{}",
            ours.name
        );
    }
    // Same packages, same index bytes.
    tools::index(&dir.join("again.tar.gz"), &packages, Some(&first)).unwrap();
    assert_eq!(std::fs::read(dir.join("again.tar.gz")).unwrap(), bytes);

    // Re-sign: the index member is kept, the signature replaced.
    let second = SigningKey::from_file(&second_key).unwrap();
    tools::sign_index_file(&out, &second).unwrap();
    let resigned = ApkIndex::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(resigned.signed, idx.signed);
    assert_eq!(resigned.signatures.len(), 1);
    assert_eq!(
        verify_index(&resigned, &keys).unwrap(),
        Verified::Signed {
            key: "second.rsa.pub".into()
        }
    );
    let (line, failed) = tools::verify_line(&out, &keyring("apko/packages"));
    assert!(failed);
    assert!(
        line.ends_with("FAILED: signed by key second.rsa.pub, not in keyring"),
        "{line}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsigned_index_round_trips_records() {
    let records: Vec<IndexRecord> = melange_packages("aarch64")
        .iter()
        .map(|p| IndexRecord::from_package(&ApkFile::parse(&std::fs::read(p).unwrap()).unwrap()))
        .collect();
    let bytes = write_index(&records, "test repo", None).unwrap();
    let idx = ApkIndex::parse(&bytes).unwrap();
    assert!(idx.signatures.is_empty());
    assert_eq!(idx.description, "test repo");
    assert_eq!(idx.records, records);
    assert_eq!(
        verify_index(&idx, &Keyring::new()).unwrap(),
        Verified::Unsigned
    );
    let replayout = idx.records.iter().find(|r| r.name == "replayout").unwrap();
    assert_eq!(replayout.depends, ["pretend-baselayout"]);
    assert!(
        replayout.replaces.is_empty(),
        "indexes do not carry replaces"
    );
}

#[test]
fn verify_command_reports_each_file() {
    let files = vec![
        fixture("apko/packages/x86_64/replayout-1.0.0-r0.apk"),
        fixture("apko/packages/x86_64/APKINDEX.tar.gz"),
        fixture("melange/perl-json-4.11-r0.apk"),
        fixture("apko/hello-wolfi-2.12.1-r0.apk"),
    ];
    let args = VerifyArgs {
        keys_dir: fixture("apko/packages"),
        files: files.clone(),
    };
    let (report, failed) = cli::verify_command(&args).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    let expect = [
        "OK (signed by melange.rsa.pub)",
        "OK (signed by melange.rsa.pub)",
        "UNSIGNED",
        "FAILED: signature does not verify with key melange.rsa.pub",
    ];
    assert_eq!(lines.len(), 4);
    for ((line, file), suffix) in lines.iter().zip(&files).zip(expect) {
        assert_eq!(*line, format!("{}: {suffix}", file.display()));
    }
    assert!(failed);
    let ok_only = VerifyArgs {
        keys_dir: fixture("apko/packages"),
        files: files[..3].to_vec(),
    };
    assert!(!cli::verify_command(&ok_only).unwrap().1);
    let missing_dir = VerifyArgs {
        keys_dir: fixture("no/such/dir"),
        files: files[..1].to_vec(),
    };
    assert!(cli::verify_command(&missing_dir).is_err());
}

#[test]
fn subcommands_parse() {
    let cli = Cli::try_parse_from([
        "m",
        "index",
        "-o",
        "out.tar.gz",
        "--signing-key",
        "k.rsa",
        "a.apk",
        "b.apk",
    ])
    .unwrap();
    match cli.command {
        Command::Index(args) => {
            assert_eq!(args.output, PathBuf::from("out.tar.gz"));
            assert_eq!(args.signing_key, Some(PathBuf::from("k.rsa")));
            assert_eq!(args.packages.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    match Cli::try_parse_from(["m", "keygen"]).unwrap().command {
        Command::Keygen(args) => assert_eq!(args.name, PathBuf::from("melange.rsa")),
        other => panic!("{other:?}"),
    }
    assert!(
        Cli::try_parse_from(["m", "sign-index", "APKINDEX.tar.gz"]).is_err(),
        "--signing-key is required"
    );
    assert!(
        Cli::try_parse_from(["m", "verify", "--keys-dir", "k"]).is_err(),
        "files are required"
    );
}
