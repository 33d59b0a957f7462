//! Tests of the APK layer: real fixture packages and indexes (read in place
//! from the shared fixtures), writer round trips, and the host tools.

mod fixtures;
mod install;
mod repository;
mod resolve;
mod roundtrip;
mod tools;
mod writer;

use std::path::{Path, PathBuf};

use super::{ApkFile, ApkIndex, Keyring, SigningKey};

/// A file under the shared fixtures directory.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures")).join(rel)
}

pub fn read_fixture(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn package(rel: &str) -> ApkFile {
    ApkFile::parse(&read_fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn index(rel: &str) -> ApkIndex {
    ApkIndex::parse(&read_fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

pub fn keyring(dir: &str) -> Keyring {
    Keyring::from_dir(&fixture(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"))
}

/// melange's signing-test key (2048-bit, PKCS#1 PEM) and its public half.
pub fn test_key() -> (SigningKey, Keyring) {
    let pem = std::fs::read_to_string(fixture("melange/test.pem")).unwrap();
    let key = SigningKey::from_pem("test.pem", &pem).unwrap();
    let mut keys = Keyring::new();
    let public = std::fs::read_to_string(fixture("melange/test.pem.pub")).unwrap();
    keys.add_pem("test.pem.pub", &public).unwrap();
    (key, keys)
}

/// A fresh empty directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "melange-frontend-apk-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
