//! APK v2: read, verify, write and sign packages and `APKINDEX.tar.gz`.
//!
//! Both file kinds are a concatenation of gzip members whose tar streams are
//! read as one: an optional signature member (a tar holding one
//! `.SIGN.<ALGO>.<key>` file, no end-of-archive blocks), then for a package a
//! control member (`.PKGINFO` + scriptlets, no end blocks) and a data member
//! (the files, with end blocks); for an index the member holding
//! `DESCRIPTION` and `APKINDEX`. Signatures and checksums cover the
//! *compressed* bytes of a member, so members are always kept as the exact
//! byte ranges found in (or written to) the file.
//!
//! Everything here is pure except [`write`](mod@write) (reads the package's
//! directory tree), [`deps`] (scans it for automatic dependencies) and
//! [`tools`] (the file-level operations behind the host subcommands
//! `keygen`, `index`, `sign-index` and `verify`). [`version`],
//! [`constraint`] and [`resolve`] are apk's version ordering, dependency
//! atoms and solver, for building environments from repositories;
//! [`repository`] opens a repository's index (signature checked) and
//! resolves a world over the opened indexes.

pub mod constraint;
pub mod deflate;
pub mod deps;
mod error;
pub mod gzip;
pub mod index;
pub mod insolve;
pub mod install;
pub mod package;
pub mod pkginfo;
pub mod repository;
pub mod resolve;
pub mod sbom;
pub mod sign;
pub mod tarball;
pub mod tarread;
pub mod tools;
pub mod tree;
pub mod verify;
pub mod version;
pub mod write;

pub use constraint::{Dependency, Provide};
pub use error::ApkError;
pub use index::{ApkIndex, IndexRecord};
pub use package::{ApkFile, DataEntry, EntryKind};
pub use pkginfo::PkgInfo;
pub use sign::{Keyring, SignatureAlgo, SignatureEntry, SigningKey};
pub use verify::{verify_contents, verify_index, verify_package, Verified};
pub use write::{write_package, PackageOptions, WrittenPackage};

#[cfg(test)]
mod tests;
