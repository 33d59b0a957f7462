//! Writing a package from a directory tree. The data member is streamed to
//! a temporary file next to the output while its SHA-256 is computed; then
//! `.PKGINFO` gets `size` and `datahash`, the control member and (with a
//! key) the signature member are built, and the three members are joined
//! into the output, renamed into place only when complete.
//!
//! Memory stays flat with the tree: the tree is visited one directory at a
//! time ([`tree::visit`]), files up to [`SMALL_FILE`] are read once into one
//! reused buffer (hashed, then archived from it), larger ones are read
//! twice in [`READ_BUF`] pieces (the PAX SHA-1 must precede the content).
//!
//! Determinism: entries sorted by path, every mtime = SOURCE_DATE_EPOCH,
//! owner names only for root, extended attributes as sorted
//! `SCHILY.xattr.<name>` records, gzip members without time or name,
//! compressed in fixed blocks whose bytes do not depend on how many threads
//! compress them ([`gzip::GzipWriter`], [`PackageOptions::threads`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::gzip::{self, GzipWriter, HashingWriter};
use super::package::{PAX_SHA1, SCRIPTLETS};
use super::pkginfo::sorted_unique;
use super::sign::{signature_member, SignatureAlgo};
use super::tarball::{self, TarHeader, TarKind, END_OF_ARCHIVE};
use super::tree::{self, TreeEntry, TreeKind};

/// Files up to this size are read once, into one reused buffer.
pub const SMALL_FILE: u64 = 1 << 20;

/// Read size for larger files (read twice: hash, then archive).
pub const READ_BUF: usize = 256 * 1024;

/// PAX keyword prefix of an extended attribute (GNU tar, star, libarchive
/// and apk-tools read it).
pub const PAX_XATTR: &str = "SCHILY.xattr.";
use super::{ApkError, PkgInfo, SigningKey};

/// melange's build user; its files are owned by root in the package.
const BUILD_UID: u64 = 1000;

/// How to write a package besides its tree and metadata.
#[derive(Debug, Clone, Default)]
pub struct PackageOptions<'a> {
    /// SOURCE_DATE_EPOCH: the mtime of every entry.
    pub source_date_epoch: u64,
    /// Key to sign with (`.SIGN.RSA256.<key>.pub`); unsigned without.
    pub signing_key: Option<&'a SigningKey>,
    /// Scriptlets by file name (`.post-install`, …) with their content.
    pub scriptlets: BTreeMap<String, Vec<u8>>,
    /// `.melange.yaml` for the control member (the build's config), if any.
    pub melange_yaml: Option<Vec<u8>>,
    /// Threads compressing the data member; 0: as many as this process may
    /// run on ([`std::thread::available_parallelism`], which honours CPU
    /// affinity and cgroup quotas). The package's bytes do not depend on it.
    pub threads: usize,
}

/// What the data member came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSummary {
    /// Hex SHA-256 of the compressed member.
    pub datahash: String,
    /// Sum of the sizes of the regular files (hard links counted once).
    pub installed_size: u64,
    /// Size of the compressed member in bytes.
    pub compressed_size: u64,
}

/// What [`write_package`] wrote: everything an index record needs, so the
/// package never has to be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenPackage {
    /// The `.PKGINFO` written (with `size`, `datahash` and sorted
    /// dependency lists).
    pub pkginfo: PkgInfo,
    /// The compressed control member (its SHA-1 is the index `C:`).
    pub control: Vec<u8>,
    /// Size of the whole file in bytes (the index `S:`).
    pub file_size: u64,
}

/// Write the package for `tree` and `info` to `out`.
pub fn write_package(
    tree: &Path,
    info: &PkgInfo,
    options: &PackageOptions,
    out: &Path,
) -> Result<WrittenPackage, ApkError> {
    check_scriptlets(&options.scriptlets)?;
    info.check()?;
    let data_path = temp_path(out, "data");
    let result = write_with_data_file(tree, info, options, out, &data_path);
    let _ = std::fs::remove_file(&data_path);
    result
}

fn write_with_data_file(
    tree: &Path,
    info: &PkgInfo,
    options: &PackageOptions,
    out: &Path,
    data_path: &Path,
) -> Result<WrittenPackage, ApkError> {
    let data_file = File::create(data_path).map_err(|e| ApkError::io(data_path, e))?;
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let summary = write_data_member(
        tree,
        options.source_date_epoch,
        threads,
        BufWriter::new(data_file),
    )?;
    let mut info = info.clone();
    info.size = summary.installed_size;
    info.datahash = summary.datahash;
    for list in [&mut info.depends, &mut info.provides, &mut info.replaces] {
        *list = sorted_unique(list);
    }
    let control = control_member_with_config(
        &info,
        options.melange_yaml.as_deref(),
        &options.scriptlets,
        options.source_date_epoch,
    );
    let signature = match options.signing_key {
        Some(key) => signature_member(
            &key.sign(SignatureAlgo::RsaSha256, &control)?,
            options.source_date_epoch,
        ),
        None => Vec::new(),
    };
    write_atomically(out, |file| {
        file.write_all(&signature)?;
        file.write_all(&control)?;
        // File to file: the kernel copies (copy_file_range), no user buffer.
        let mut data = File::open(data_path)?;
        io::copy(&mut data, file)?;
        Ok(())
    })?;
    Ok(WrittenPackage {
        file_size: (signature.len() + control.len()) as u64 + summary.compressed_size,
        pkginfo: info,
        control,
    })
}

/// Write `path` through a temporary file in the same directory, renamed
/// over `path` only after `fill` succeeded and the data is flushed.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), ApkError> {
    let temp = temp_path(path, "tmp");
    let result = (|| {
        let mut file = BufWriter::new(File::create(&temp)?);
        fill(&mut file)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(|e| ApkError::io(path, e))
}

/// A hidden sibling of `path` for work in progress.
pub fn temp_path(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

fn check_scriptlets(scriptlets: &BTreeMap<String, Vec<u8>>) -> Result<(), ApkError> {
    match scriptlets
        .keys()
        .find(|name| !SCRIPTLETS.contains(&name.as_str()))
    {
        Some(name) => Err(ApkError::Invalid(format!(
            "unknown scriptlet {name:?}; expected one of {}",
            SCRIPTLETS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// The gzip'ed control member: `.PKGINFO` then the scriptlets (mode 0755),
/// no end-of-archive blocks.
pub fn control_member(
    info: &PkgInfo,
    scriptlets: &BTreeMap<String, Vec<u8>>,
    mtime: u64,
) -> Vec<u8> {
    control_member_with_config(info, None, scriptlets, mtime)
}

/// [`control_member`] with `.melange.yaml` (mode 0644) after `.PKGINFO`,
/// as melange writes it.
pub fn control_member_with_config(
    info: &PkgInfo,
    melange_yaml: Option<&[u8]>,
    scriptlets: &BTreeMap<String, Vec<u8>>,
    mtime: u64,
) -> Vec<u8> {
    let pkginfo = info.to_text();
    let mut tar = Vec::new();
    // Writing to a Vec cannot fail.
    let header = TarHeader::file(".PKGINFO", 0o644, pkginfo.len() as u64, mtime);
    let _ = tarball::write_file(&mut tar, &header, pkginfo.as_bytes());
    if let Some(config) = melange_yaml {
        let header = TarHeader::file(".melange.yaml", 0o644, config.len() as u64, mtime);
        let _ = tarball::write_file(&mut tar, &header, config);
    }
    for name in SCRIPTLETS {
        if let Some(content) = scriptlets.get(name) {
            let header = TarHeader::file(name, 0o755, content.len() as u64, mtime);
            let _ = tarball::write_file(&mut tar, &header, content);
        }
    }
    gzip::compress(&tar)
}

/// Stream the gzip'ed data tar of `root` into `sink`, compressing on
/// `threads` threads (same bytes for any number).
pub fn write_data_member<W: Write>(
    root: &Path,
    mtime: u64,
    threads: usize,
    sink: W,
) -> Result<DataSummary, ApkError> {
    let mut hashing = HashingWriter::<W, Sha256>::new(sink);
    let mut tar = GzipWriter::with_threads(&mut hashing, gzip::DATA_LEVEL, threads);
    let mut buf = Vec::new();
    let mut installed_size = 0;
    tree::visit(root, |entry| {
        write_entry(&mut tar, &entry, mtime, &mut buf)?;
        if entry.kind == TreeKind::File {
            installed_size += entry.size;
        }
        Ok(())
    })?;
    let io_err = |e| ApkError::io(root, e);
    tar.write_all(&END_OF_ARCHIVE).map_err(io_err)?;
    tar.finish().map_err(io_err)?;
    hashing.flush().map_err(io_err)?;
    Ok(DataSummary {
        datahash: hex::encode(hashing.digest.finalize()),
        installed_size,
        compressed_size: hashing.written,
    })
}

/// Write one entry; `buf` is scratch space reused across entries.
fn write_entry(
    out: &mut impl Write,
    entry: &TreeEntry,
    mtime: u64,
    buf: &mut Vec<u8>,
) -> Result<(), ApkError> {
    let owner = |id: u64| if id == BUILD_UID { 0 } else { id };
    let mut header = TarHeader {
        path: entry.path.clone(),
        kind: TarKind::Dir,
        mode: entry.mode,
        uid: owner(entry.uid),
        gid: owner(entry.gid),
        size: 0,
        mtime,
        pax: entry
            .xattrs
            .iter()
            .map(|(name, value)| (format!("{PAX_XATTR}{name}"), value.clone()))
            .collect(),
    };
    let io_err = |e| ApkError::io(&entry.source, e);
    match &entry.kind {
        TreeKind::Dir => tarball::write_header(out, &header).map_err(io_err),
        TreeKind::Hardlink(first) => {
            header.kind = TarKind::Hardlink(first.clone());
            tarball::write_header(out, &header).map_err(io_err)
        }
        TreeKind::Symlink(target) => {
            header.kind = TarKind::Symlink(target.clone());
            header.pax.insert(
                PAX_SHA1.into(),
                hex::encode(Sha1::digest(target.as_bytes())).into_bytes(),
            );
            tarball::write_header(out, &header).map_err(io_err)
        }
        TreeKind::File => {
            header.kind = TarKind::File;
            header.size = entry.size;
            let mut file = File::open(&entry.source).map_err(io_err)?;
            if entry.size <= SMALL_FILE {
                buf.clear();
                let n = (&mut file)
                    .take(entry.size + 1)
                    .read_to_end(buf)
                    .map_err(io_err)?;
                check_size(entry, n as u64)?;
                header.pax.insert(
                    PAX_SHA1.into(),
                    hex::encode(Sha1::digest(&buf)).into_bytes(),
                );
                tarball::write_header(out, &header).map_err(io_err)?;
                out.write_all(buf).map_err(io_err)?;
            } else {
                let sha1 = stream_file(entry, &mut file, buf, &mut io::sink())?;
                header
                    .pax
                    .insert(PAX_SHA1.into(), hex::encode(sha1).into_bytes());
                tarball::write_header(out, &header).map_err(io_err)?;
                file.rewind().map_err(io_err)?;
                // Hashed again as archived: the checksum must describe
                // these bytes even if the file changed in between.
                if stream_file(entry, &mut file, buf, out)? != sha1 {
                    return Err(changed(entry, "content"));
                }
            }
            tarball::pad(out, entry.size).map_err(io_err)
        }
    }
}

/// Copy exactly `entry.size` bytes of `file` to `out` in [`READ_BUF`]
/// pieces; returns their SHA-1.
fn stream_file(
    entry: &TreeEntry,
    file: &mut File,
    buf: &mut Vec<u8>,
    out: &mut impl Write,
) -> Result<[u8; 20], ApkError> {
    let io_err = |e| ApkError::io(&entry.source, e);
    buf.resize(READ_BUF, 0);
    let mut hasher = Sha1::new();
    let mut total = 0u64;
    loop {
        let n = match file.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        total += n as u64;
        if total > entry.size {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_err)?;
    }
    check_size(entry, total)?;
    Ok(hasher.finalize().into())
}

fn check_size(entry: &TreeEntry, read: u64) -> Result<(), ApkError> {
    if read != entry.size {
        return Err(changed(
            entry,
            &format!("size {} when listed, {read} bytes read", entry.size),
        ));
    }
    Ok(())
}

fn changed(entry: &TreeEntry, what: &str) -> ApkError {
    ApkError::Invalid(format!(
        "{}: file changed while packaging ({what})",
        entry.source.display()
    ))
}
