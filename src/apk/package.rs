//! Reading an APK v2 package: find the gzip members, decode the signature
//! and control members, walk the data member's tar and compute what
//! verification needs (the data member's SHA-256, each entry's SHA-1).

use std::io::Read;
use std::ops::Range;

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::gzip::{self, MemberReader};
use super::sign::{SignatureAlgo, SignatureEntry};
use super::tarread::{TarEntry, TarReader};
use super::{ApkError, PkgInfo};

/// Scriptlet file names a control member may hold, in the order they are written.
pub const SCRIPTLETS: [&str; 7] = [
    ".pre-install",
    ".post-install",
    ".pre-deinstall",
    ".post-deinstall",
    ".pre-upgrade",
    ".post-upgrade",
    ".trigger",
];

/// The PAX record apk-tools stores a data entry's SHA-1 in.
pub const PAX_SHA1: &str = "APK-TOOLS.checksum.SHA1";

/// A parsed `.apk`.
#[derive(Debug, Clone)]
pub struct ApkFile {
    /// Signatures from the signature member (empty: unsigned package).
    pub signatures: Vec<SignatureEntry>,
    /// Byte range of the signature member, if any.
    pub signature_range: Option<Range<usize>>,
    /// Byte range of the control member (what signatures cover).
    pub control_range: Range<usize>,
    /// The compressed control member (signed bytes; SHA-1 of it is the
    /// index `C:` identity).
    pub control: Vec<u8>,
    /// Byte range of the data member.
    pub data_range: Range<usize>,
    /// Hex SHA-256 of the compressed data member (compare with `datahash`).
    pub data_sha256: String,
    /// The parsed `.PKGINFO`.
    pub pkginfo: PkgInfo,
    /// Files of the control member other than `.PKGINFO` (scriptlets, …).
    pub control_files: Vec<ControlFile>,
    /// The data member's entries, in archive order.
    pub entries: Vec<DataEntry>,
    /// Size of the whole file in bytes (the index `S:` field).
    pub file_size: u64,
}

/// A non-`.PKGINFO` file of the control member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFile {
    /// File name (e.g. `.post-install`).
    pub name: String,
    /// Permission bits.
    pub mode: u32,
    /// Content.
    pub content: Vec<u8>,
}

/// What a data entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Hard link to an earlier entry.
    Hardlink,
    /// Device, FIFO or anything else: the tar type flag.
    Other(u8),
}

/// One entry of the data member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataEntry {
    /// Path inside the package (as stored, no leading `./` expected).
    pub path: String,
    /// Entry type.
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Content size.
    pub size: u64,
    /// Modification time.
    pub mtime: u64,
    /// Symlink target or hard link source path.
    pub link_target: Option<String>,
    /// Hex SHA-1 from the PAX `APK-TOOLS.checksum.SHA1` record.
    pub pax_sha1: Option<String>,
    /// Hex SHA-1 of the content (files) or target (symlinks), computed on read.
    pub actual_sha1: Option<String>,
    /// Extended attributes from `SCHILY.xattr.<name>` PAX records: name
    /// and raw value, in archive order.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl ApkFile {
    /// Parse a whole package file held in memory.
    pub fn parse(bytes: &[u8]) -> Result<ApkFile, ApkError> {
        let first = gzip::read_member(bytes, 0, "first gzip member")?;
        let signatures = read_signatures(&first.content)?;
        let (signature_range, control) = if signatures.is_empty() {
            (None, first)
        } else {
            let control = gzip::read_member(bytes, first.range.end, "control member")?;
            (Some(first.range), control)
        };
        let (pkginfo, control_files) = read_control(&control.content)?;
        let (entries, data_end) = read_data(bytes, control.range.end)?;
        if data_end != bytes.len() {
            return Err(ApkError::malformed(
                "package",
                format!(
                    "{} unexpected bytes after the data member",
                    bytes.len() - data_end
                ),
            ));
        }
        let data_range = control.range.end..data_end;
        Ok(ApkFile {
            signatures,
            signature_range,
            control: bytes[control.range.clone()].to_vec(),
            control_range: control.range,
            data_sha256: hex::encode(Sha256::digest(&bytes[data_range.clone()])),
            data_range,
            pkginfo,
            control_files,
            entries,
            file_size: bytes.len() as u64,
        })
    }

    /// Whether the package has no signature member.
    pub fn is_signed(&self) -> bool {
        !self.signatures.is_empty()
    }

    /// Names of the scriptlets present, in [`SCRIPTLETS`] order.
    pub fn scriptlets(&self) -> Vec<&str> {
        SCRIPTLETS
            .iter()
            .copied()
            .filter(|s| self.control_files.iter().any(|f| f.name == *s))
            .collect()
    }
}

/// Signatures in a first member, or none if it is not a signature member
/// (its first entry is not a `.SIGN.` file).
pub fn read_signatures(tar_bytes: &[u8]) -> Result<Vec<SignatureEntry>, ApkError> {
    let mut out = Vec::new();
    for (n, (name, _, content)) in tar_files(tar_bytes, "signature member")?
        .into_iter()
        .enumerate()
    {
        if !name.starts_with(".SIGN.") {
            if n == 0 {
                return Ok(out);
            }
            return Err(ApkError::malformed(
                "signature member",
                format!("unexpected file {name:?}"),
            ));
        }
        let (algo, key_name) = SignatureAlgo::from_file_name(&name).ok_or_else(|| {
            ApkError::malformed(
                "signature member",
                format!("unsupported signature type {name:?}"),
            )
        })?;
        out.push(SignatureEntry {
            algo,
            key_name,
            signature: content,
        });
    }
    Ok(out)
}

/// (name, mode, content) of every regular file in an uncompressed tar.
pub fn tar_files(tar_bytes: &[u8], what: &str) -> Result<Vec<(String, u32, Vec<u8>)>, ApkError> {
    let bad = |e: std::io::Error| ApkError::malformed(what, format!("bad tar: {e}"));
    let mut archive = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mode = entry.header().mode().map_err(bad)?;
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(bad)?;
        out.push((name, mode, content));
    }
    Ok(out)
}

fn read_control(tar_bytes: &[u8]) -> Result<(PkgInfo, Vec<ControlFile>), ApkError> {
    let mut pkginfo = None;
    let mut files = Vec::new();
    for (name, mode, content) in tar_files(tar_bytes, "control member")? {
        if name == ".PKGINFO" {
            let text = String::from_utf8(content)
                .map_err(|_| ApkError::malformed(".PKGINFO", "not UTF-8 text"))?;
            pkginfo = Some(PkgInfo::parse(&text)?);
        } else {
            files.push(ControlFile {
                name,
                mode,
                content,
            });
        }
    }
    let pkginfo = pkginfo.ok_or_else(|| ApkError::malformed("control member", "no .PKGINFO"))?;
    Ok((pkginfo, files))
}

/// Walk the data member starting at `start`; returns its entries and end offset.
fn read_data(bytes: &[u8], start: usize) -> Result<(Vec<DataEntry>, usize), ApkError> {
    if start >= bytes.len() {
        return Err(ApkError::malformed("package", "no data member"));
    }
    let bad = |e: std::io::Error| ApkError::malformed("data member", e.to_string());
    // Our own reader: PAX records are taken by length (see tarread).
    let mut archive = TarReader::new(MemberReader::new(bytes, start));
    let mut entries = Vec::new();
    while let Some(entry) = archive.next_entry().map_err(bad)? {
        entries.push(read_entry(&mut archive, entry).map_err(bad)?);
    }
    let end = archive.into_inner().finish().map_err(bad)?;
    Ok((entries, end))
}

fn read_entry<R: Read>(archive: &mut TarReader<R>, entry: TarEntry) -> std::io::Result<DataEntry> {
    let kind = match entry.typeflag {
        b'0' | b'\0' | b'7' => EntryKind::File,
        b'5' => EntryKind::Dir,
        b'2' => EntryKind::Symlink,
        b'1' => EntryKind::Hardlink,
        other => EntryKind::Other(other),
    };
    let path = String::from_utf8_lossy(&entry.path).into_owned();
    let link_target =
        (!entry.link.is_empty()).then(|| String::from_utf8_lossy(&entry.link).into_owned());
    let (mut pax_sha1, mut xattrs) = (None, Vec::new());
    for (key, value) in &entry.pax {
        if key == PAX_SHA1 {
            pax_sha1 = Some(String::from_utf8_lossy(value).into_owned());
        } else if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
            xattrs.push((name.to_string(), value.clone()));
        }
    }
    let (mode, uid, gid, mtime, size) = (entry.mode, entry.uid, entry.gid, entry.mtime, entry.size);
    let actual_sha1 = match kind {
        EntryKind::File => {
            let mut hasher = Sha1::new();
            archive.content(&mut hasher)?;
            Some(hex::encode(hasher.finalize()))
        }
        EntryKind::Symlink => link_target
            .as_ref()
            .map(|t| hex::encode(Sha1::digest(t.as_bytes()))),
        _ => None,
    };
    Ok(DataEntry {
        path,
        kind,
        mode,
        uid,
        gid,
        size,
        mtime,
        link_target,
        pax_sha1,
        actual_sha1,
        xattrs,
    })
}
