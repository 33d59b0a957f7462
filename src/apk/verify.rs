//! Verification of packages and indexes against a keyring: the signature
//! (by the key the signature file names), the package's `datahash`, and
//! every data entry's PAX SHA-1.

use super::package::EntryKind;
use super::{ApkError, ApkFile, ApkIndex, Keyring, SignatureEntry};

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Signed, and the signature verifies with this key from the keyring.
    Signed {
        /// Key file name.
        key: String,
    },
    /// No signature member; content checks passed.
    Unsigned,
}

/// Check a package: signature (if any), datahash and entry checksums.
/// The signature is checked first, so a package signed by an unknown key
/// reports that key.
pub fn verify_package(apk: &ApkFile, keys: &Keyring) -> Result<Verified, ApkError> {
    let verdict = check_signatures(&apk.signatures, &apk.control, keys)?;
    verify_contents(apk)?;
    Ok(verdict)
}

/// Check what the control member vouches for: the data member's SHA-256
/// against `.PKGINFO` `datahash`, and every entry's content against its PAX
/// SHA-1. With the control member itself vouched for (by a signature, or
/// by a signed index's `C:`), this covers every byte that gets installed.
pub fn verify_contents(apk: &ApkFile) -> Result<(), ApkError> {
    let expected = &apk.pkginfo.datahash;
    if expected.is_empty() {
        return Err(ApkError::malformed(".PKGINFO", "no datahash"));
    }
    if !expected.eq_ignore_ascii_case(&apk.data_sha256) {
        return Err(ApkError::DatahashMismatch {
            expected: expected.clone(),
            actual: apk.data_sha256.clone(),
        });
    }
    for entry in &apk.entries {
        let needs_checksum = matches!(entry.kind, EntryKind::File | EntryKind::Symlink);
        match (&entry.pax_sha1, &entry.actual_sha1) {
            (Some(expected), Some(actual)) if !expected.eq_ignore_ascii_case(actual) => {
                return Err(ApkError::ChecksumMismatch {
                    path: entry.path.clone(),
                    expected: expected.clone(),
                    actual: actual.clone(),
                });
            }
            (None, _) if needs_checksum => {
                return Err(ApkError::malformed(
                    "data member",
                    format!("{}: no {} PAX record", entry.path, super::package::PAX_SHA1),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Check an index's signature over its index member.
pub fn verify_index(index: &ApkIndex, keys: &Keyring) -> Result<Verified, ApkError> {
    check_signatures(&index.signatures, &index.signed, keys)
}

/// Ok if any signature verifies with its key. With none verifying, a real
/// mismatch (a known key that does not verify) wins over "key not in keyring".
fn check_signatures(
    signatures: &[SignatureEntry],
    signed: &[u8],
    keys: &Keyring,
) -> Result<Verified, ApkError> {
    if signatures.is_empty() {
        return Ok(Verified::Unsigned);
    }
    let (mut mismatch, mut missing) = (None, None);
    for signature in signatures {
        match keys.verify(signature, signed) {
            Ok(()) => {
                return Ok(Verified::Signed {
                    key: signature.key_name.clone(),
                })
            }
            Err(e @ ApkError::BadSignature { .. }) => {
                mismatch.get_or_insert(e);
            }
            Err(e) => {
                missing.get_or_insert(e);
            }
        }
    }
    Err(mismatch
        .or(missing)
        .unwrap_or_else(|| ApkError::malformed("signature member", "no signatures")))
}
