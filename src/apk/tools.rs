//! The file-level operations behind the host subcommands: generate a key
//! pair, build / re-sign an index, verify files. Outputs are written through
//! a temporary file and a rename (or a hard link, where overwriting must be
//! refused), so a failure never leaves a half-written file.

use std::path::{Path, PathBuf};

use super::index::{sign_index, write_index};
use super::sign::generate_key_pem;
use super::write::{temp_path, write_atomically};
use super::{
    verify_index, verify_package, ApkError, ApkFile, ApkIndex, IndexRecord, Keyring, SigningKey,
    Verified,
};

/// Key size `keygen` uses (melange's default).
pub const KEYGEN_BITS: usize = 4096;

/// Create `private` (PEM PKCS#1) and `private`.pub (PEM PKIX) with a new
/// RSA key of `bits`; refuses to overwrite either file. Returns the paths.
pub fn keygen(private: &Path, bits: usize) -> Result<(PathBuf, PathBuf), ApkError> {
    let public = PathBuf::from(format!("{}.pub", private.display()));
    for path in [private, public.as_path()] {
        if path.symlink_metadata().is_ok() {
            return Err(ApkError::Invalid(format!(
                "{}: already exists; not overwriting",
                path.display()
            )));
        }
    }
    let (private_pem, public_pem) = generate_key_pem(bits)?;
    create_new(private, private_pem.as_bytes(), 0o600)?;
    if let Err(e) = create_new(&public, public_pem.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(private);
        return Err(e);
    }
    Ok((private.to_path_buf(), public))
}

/// Write a new file atomically, failing if `path` exists (hard link of a
/// complete temporary file).
fn create_new(path: &Path, content: &[u8], mode: u32) -> Result<(), ApkError> {
    use std::os::unix::fs::PermissionsExt;
    let temp = temp_path(path, "new");
    let result = (|| {
        std::fs::write(&temp, content)?;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode))?;
        std::fs::hard_link(&temp, path)
    })();
    let _ = std::fs::remove_file(&temp);
    result.map_err(|e| ApkError::io(path, e))
}

fn read(path: &Path) -> Result<Vec<u8>, ApkError> {
    std::fs::read(path).map_err(|e| ApkError::io(path, e))
}

/// With a file name in front, so a batch's errors say which file failed.
fn in_file(path: &Path, e: ApkError) -> ApkError {
    match e {
        ApkError::Io { .. } => e,
        other => ApkError::Invalid(format!("{}: {other}", path.display())),
    }
}

/// Build `out` from package files, signed when `key` is given.
pub fn index(
    out: &Path,
    packages: &[PathBuf],
    key: Option<&SigningKey>,
) -> Result<usize, ApkError> {
    let mut records = Vec::with_capacity(packages.len());
    for path in packages {
        let apk = ApkFile::parse(&read(path)?).map_err(|e| in_file(path, e))?;
        records.push(IndexRecord::from_package(&apk));
    }
    let bytes = write_index(&records, "", key)?;
    write_atomically(out, |file| std::io::Write::write_all(file, &bytes))?;
    Ok(records.len())
}

/// Replace the signature of the index at `path` with one by `key`, in place.
pub fn sign_index_file(path: &Path, key: &SigningKey) -> Result<(), ApkError> {
    let signed = sign_index(&read(path)?, key).map_err(|e| in_file(path, e))?;
    write_atomically(path, |file| std::io::Write::write_all(file, &signed))
}

/// Verify one package or index file (an index is recognised by its
/// content, not its name).
pub fn verify_file(path: &Path, keys: &Keyring) -> Result<Verified, ApkError> {
    let bytes = read(path)?;
    match ApkFile::parse(&bytes) {
        Ok(apk) => verify_package(&apk, keys),
        Err(package_error) => match ApkIndex::parse(&bytes) {
            Ok(index) => verify_index(&index, keys),
            Err(_) => Err(package_error),
        },
    }
}

/// One line of `verify` output: `FILE: OK (key K)`, `FILE: UNSIGNED` or
/// `FILE: FAILED: reason`; the bool says whether it failed.
pub fn verify_line(path: &Path, keys: &Keyring) -> (String, bool) {
    let name = path.display();
    match verify_file(path, keys) {
        Ok(Verified::Signed { key }) => (format!("{name}: OK (signed by {key})"), false),
        Ok(Verified::Unsigned) => (format!("{name}: UNSIGNED"), false),
        Err(e) => (format!("{name}: FAILED: {e}"), true),
    }
}
