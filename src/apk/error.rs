//! Errors of the APK layer. Each message names what mismatched and, where
//! known, the file or entry, so `verify` output can be read without a debugger.

/// Why an APK file or index could not be read, verified or written.
#[derive(Debug, thiserror::Error)]
pub enum ApkError {
    /// The bytes are not a well-formed APK v2 file (gzip/tar/.PKGINFO structure).
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which part: `package`, `APKINDEX`, `.PKGINFO`, `data member`, …
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Signed by a key the keyring does not hold.
    #[error("signed by key {key}, not in keyring")]
    KeyNotInKeyring {
        /// The key name from the `.SIGN.*` file.
        key: String,
    },
    /// The key is known but the signature does not match the signed member.
    #[error("signature does not verify with key {key}")]
    BadSignature {
        /// The key name from the `.SIGN.*` file.
        key: String,
    },
    /// `.PKGINFO` datahash differs from the SHA-256 of the data member.
    #[error("datahash mismatch: .PKGINFO says {expected}, data member is {actual}")]
    DatahashMismatch {
        /// Value in `.PKGINFO`.
        expected: String,
        /// SHA-256 of the compressed data member.
        actual: String,
    },
    /// A data entry's content does not match its PAX `APK-TOOLS.checksum.SHA1`.
    #[error("{path}: SHA-1 checksum mismatch: PAX header says {expected}, content is {actual}")]
    ChecksumMismatch {
        /// Entry path inside the package.
        path: String,
        /// Hex SHA-1 from the PAX header.
        expected: String,
        /// Hex SHA-1 of the content (or symlink target).
        actual: String,
    },
    /// A key file could not be used.
    #[error("key {name}: {reason}")]
    Key {
        /// Key file name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Input to the writer that cannot be packaged (bad name, unsupported file type…).
    #[error("{0}")]
    Invalid(String),
}

impl ApkError {
    /// A [`ApkError::Malformed`] for `what`.
    pub fn malformed(what: impl Into<String>, reason: impl Into<String>) -> Self {
        ApkError::Malformed {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// An [`ApkError::Io`] naming `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        ApkError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
