//! Installing one package into a root folder, as the environment builder's
//! in-build helper does for each package's own layer: check the package
//! against its signed index record, unpack its data member refusing
//! anything that would land outside the root, and produce the record
//! apk-tools keeps for it in `lib/apk/db/installed`.
//!
//! Trust: the index (signature checked before resolution) names the
//! package by `C:`, the SHA-1 of its compressed control member; the
//! control member's `.PKGINFO` names the data member by `datahash`
//! (SHA-256); each data entry carries its content's SHA-1. [`check`]
//! verifies that chain, so every installed byte is vouched for by the
//! index signature, whether or not the package itself is signed.
//!
//! Safety of [`extract`]: entry paths must be relative, without `..`;
//! nothing is written through a symbolic link (every parent of an entry
//! must be a real directory created by this extraction); relative link
//! targets must stay inside the root (absolute ones are resolved inside
//! the root when it is used, so they are kept); hard links must name a
//! regular file extracted before them; device and FIFO entries are
//! refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::gzip::MemberReader;
use super::index::control_checksum;
use super::package::PAX_SHA1;
use super::tarread::{TarEntry, TarReader};
use super::{verify_contents, ApkError, ApkFile, EntryKind, IndexRecord};

/// Check a package file against the index record that selected it: `C:`
/// equals its control member's SHA-1, then [`verify_contents`].
pub fn check(apk: &ApkFile, name: &str, version: &str, checksum: &str) -> Result<(), ApkError> {
    let actual = control_checksum(&apk.control);
    if actual != checksum {
        return Err(ApkError::Invalid(format!(
            "{name}-{version}: not the package the index lists: the index says C:{checksum}, \
             the file's control member is {actual}"
        )));
    }
    let info = &apk.pkginfo;
    if info.pkgname != name || info.pkgver != version {
        return Err(ApkError::Invalid(format!(
            "{name}-{version}: the file's .PKGINFO says {}-{}",
            info.pkgname, info.pkgver
        )));
    }
    verify_contents(apk).map_err(|e| ApkError::Invalid(format!("{name}-{version}: {e}")))
}

/// One installed entry, for the installed database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Normalized relative path (no `./`, no trailing `/`).
    pub path: String,
    /// Entry kind.
    pub kind: EntryKind,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Hex SHA-1 of the content (files) or target (symlinks), from PAX.
    pub sha1: Option<String>,
}

/// What [`extract`] did.
#[derive(Debug, Clone, Default)]
pub struct Extraction {
    /// Every entry, in archive order.
    pub entries: Vec<Installed>,
    /// Paths whose extended attributes were not applied.
    pub xattrs_skipped: Vec<String>,
}

/// Unpack `apk`'s data member (from `bytes`, the file it was parsed from)
/// into `root`, which should be empty. Owners and modes are applied (the
/// helper runs as root), directory modes last.
pub fn extract(bytes: &[u8], apk: &ApkFile, root: &Path) -> Result<Extraction, ApkError> {
    let bad = |e: io::Error| ApkError::malformed("data member", e.to_string());
    let mut archive = TarReader::new(MemberReader::new(bytes, apk.data_range.start));
    let mut out = Extraction::default();
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();
    while let Some(entry) = archive.next_entry().map_err(bad)? {
        if let Some(installed) = extract_entry(&mut archive, entry, root, &mut dir_modes, &mut out)?
        {
            out.entries.push(installed);
        }
    }
    // Children first, so a read-only directory does not block its own
    // subdirectories' modes.
    for (path, mode) in dir_modes.iter().rev() {
        fs::set_permissions(path, fs::Permissions::from_mode(*mode))
            .map_err(|e| ApkError::io(path, e))?;
    }
    Ok(out)
}

fn extract_entry<R: Read>(
    archive: &mut TarReader<R>,
    entry: TarEntry,
    root: &Path,
    dir_modes: &mut Vec<(PathBuf, u32)>,
    out: &mut Extraction,
) -> Result<Option<Installed>, ApkError> {
    let raw = String::from_utf8_lossy(&entry.path).into_owned();
    let parts = safe_components(&raw)?;
    if parts.is_empty() {
        // The root itself (`./`): nothing to create.
        return Ok(None);
    }
    let path = parts.join("/");
    let kind = match entry.typeflag {
        b'0' | 0 | b'7' => EntryKind::File,
        b'5' => EntryKind::Dir,
        b'2' => EntryKind::Symlink,
        b'1' => EntryKind::Hardlink,
        other => {
            return Err(ApkError::Invalid(format!(
                "{path}: entry type {:?} (device, FIFO, …) is not installed by this version",
                other as char
            )))
        }
    };
    let mode = entry.mode & 0o7777;
    let (uid, gid, mtime) = (entry.uid, entry.gid, entry.mtime);
    let mut sha1 = None;
    let mut has_xattrs = false;
    for (key, value) in &entry.pax {
        if key == PAX_SHA1 {
            sha1 = Some(String::from_utf8_lossy(value).into_owned());
        } else if key.starts_with("SCHILY.xattr.") {
            has_xattrs = true;
        }
    }
    if has_xattrs {
        out.xattrs_skipped.push(path.clone());
    }
    let link = (!entry.link.is_empty()).then(|| String::from_utf8_lossy(&entry.link).into_owned());
    let target = prepare_parent(root, &parts)?;
    let time = filetime::FileTime::from_unix_time(i64::try_from(mtime).unwrap_or(0), 0);
    match kind {
        EntryKind::Dir => {
            match fs::symlink_metadata(&target) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(ApkError::Invalid(format!(
                        "{path}: a directory entry where the package already put a file"
                    )))
                }
                Err(_) => fs::create_dir(&target).map_err(|e| ApkError::io(&target, e))?,
            }
            chown(&target, uid, gid)?;
            dir_modes.push((target.clone(), mode));
        }
        EntryKind::File => {
            replace_non_dir(&target, &path)?;
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&target)
                .map_err(|e| ApkError::io(&target, e))?;
            archive
                .content(&mut file)
                .map_err(|e| ApkError::io(&target, e))?;
            drop(file);
            // chown clears setuid/setgid bits: owner first, then the mode.
            chown(&target, uid, gid)?;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                .map_err(|e| ApkError::io(&target, e))?;
        }
        EntryKind::Symlink => {
            let link = link.unwrap_or_default();
            check_link_target(&parts, &link).map_err(|reason| {
                ApkError::Invalid(format!("{path}: symbolic link to {link:?} {reason}"))
            })?;
            replace_non_dir(&target, &path)?;
            symlink(&link, &target).map_err(|e| ApkError::io(&target, e))?;
            chown(&target, uid, gid)?;
        }
        EntryKind::Hardlink => {
            let link = link.unwrap_or_default();
            let source_parts = safe_components(&link)
                .map_err(|e| ApkError::Invalid(format!("{path}: hard link target: {e}")))?;
            let source = existing_file(root, &source_parts).ok_or_else(|| {
                ApkError::Invalid(format!(
                    "{path}: hard link to {link:?}, which is not a regular file extracted before it"
                ))
            })?;
            replace_non_dir(&target, &path)?;
            fs::hard_link(&source, &target).map_err(|e| ApkError::io(&target, e))?;
        }
        EntryKind::Other(_) => {}
    }
    if kind != EntryKind::Hardlink {
        filetime::set_symlink_file_times(&target, time, time)
            .map_err(|e| ApkError::io(&target, e))?;
    }
    Ok(Some(Installed {
        path,
        kind,
        mode,
        uid,
        gid,
        sha1,
    }))
}

/// The components of an archive path, or why it may not be installed.
fn safe_components(raw: &str) -> Result<Vec<&str>, ApkError> {
    if raw.starts_with('/') {
        return Err(ApkError::Invalid(format!(
            "{raw:?}: absolute path in the package"
        )));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(ApkError::Invalid(format!(
                    "{raw:?}: path leaves the root (`..`)"
                )))
            }
            part => parts.push(part),
        }
    }
    Ok(parts)
}

/// Make sure every parent of `parts` is a real directory under `root`
/// (creating missing ones), never a symbolic link; return the full path.
fn prepare_parent(root: &Path, parts: &[&str]) -> Result<PathBuf, ApkError> {
    let mut current = root.to_path_buf();
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| ApkError::Invalid("empty path".into()))?;
    for (i, part) in parents.iter().enumerate() {
        current.push(part);
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(ApkError::Invalid(format!(
                    "{}: goes through the symbolic link {}",
                    parts.join("/"),
                    parts[..=i].join("/")
                )))
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(ApkError::Invalid(format!(
                    "{}: {} is not a directory",
                    parts.join("/"),
                    parts[..=i].join("/")
                )))
            }
            Err(_) => {
                fs::create_dir(&current).map_err(|e| ApkError::io(&current, e))?;
                fs::set_permissions(&current, fs::Permissions::from_mode(0o755))
                    .map_err(|e| ApkError::io(&current, e))?;
            }
        }
    }
    current.push(last);
    Ok(current)
}

/// A later entry for the same path replaces a file or link, never a
/// directory.
fn replace_non_dir(target: &Path, path: &str) -> Result<(), ApkError> {
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => Err(ApkError::Invalid(format!(
            "{path}: the package already put a directory there"
        ))),
        Ok(_) => fs::remove_file(target).map_err(|e| ApkError::io(target, e)),
        Err(_) => Ok(()),
    }
}

/// A relative target must stay inside the root, counted from the link's
/// folder; an absolute one is resolved inside the root when the root is
/// used as a filesystem.
fn check_link_target(parts: &[&str], target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err("is empty".into());
    }
    if target.starts_with('/') {
        return Ok(());
    }
    let mut depth = parts.len().saturating_sub(1);
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| "escapes the root".to_string())?;
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

/// The regular file at `parts` under `root`, reached without links.
fn existing_file(root: &Path, parts: &[&str]) -> Option<PathBuf> {
    let mut current = root.to_path_buf();
    for part in parts {
        current.push(part);
        let meta = fs::symlink_metadata(&current).ok()?;
        if meta.file_type().is_symlink() {
            return None;
        }
    }
    fs::symlink_metadata(&current)
        .ok()
        .filter(|m| m.is_file())
        .map(|_| current)
}

/// Set the owner. Only root may give files away; an unprivileged caller
/// (a test on a workstation) keeps its own ownership instead of failing.
fn chown(path: &Path, uid: u64, gid: u64) -> Result<(), ApkError> {
    let id = |n: u64| u32::try_from(n).ok();
    match std::os::unix::fs::lchown(path, id(uid), id(gid)) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied && !is_root() => Ok(()),
        other => other.map_err(|e| ApkError::io(path, e)),
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The package's record in `lib/apk/db/installed`: its index fields
/// (with `r:` replaces, which installed databases keep), `s:` for a
/// tagged repository, then per folder `F:` (`M:` owner and mode unless
/// root 0755) and its files `R:` (`a:` unless root 0644, `Z:` SHA-1 as
/// `Q1` base64). Ends with the blank separator line.
pub fn installed_record(apk: &ApkFile, entries: &[Installed], tag: Option<&str>) -> String {
    let mut record = IndexRecord::from_package(apk);
    record.replaces = apk.pkginfo.replaces.clone();
    let mut text = record.to_text();
    // to_text ends with the separator; the file lists come first.
    text.pop();
    if let Some(tag) = tag {
        let _ = writeln!(text, "s:{tag}");
    }
    let mut dirs: BTreeMap<&str, (Option<&Installed>, Vec<&Installed>)> = BTreeMap::new();
    for entry in entries {
        if entry.kind == EntryKind::Dir {
            dirs.entry(entry.path.as_str()).or_default().0 = Some(entry);
        } else {
            let folder = entry.path.rsplit_once('/').map_or("", |(dir, _)| dir);
            dirs.entry(folder).or_default().1.push(entry);
        }
    }
    for (dir, (own, files)) in &dirs {
        let _ = writeln!(text, "F:{dir}");
        if let Some(d) = own.filter(|d| (d.uid, d.gid, d.mode) != (0, 0, 0o755)) {
            let _ = writeln!(text, "M:{}:{}:{:04o}", d.uid, d.gid, d.mode);
        }
        for file in files {
            let name = file.path.rsplit('/').next().unwrap_or(&file.path);
            let _ = writeln!(text, "R:{name}");
            if (file.uid, file.gid, file.mode) != (0, 0, 0o644) {
                let _ = writeln!(text, "a:{}:{}:{:04o}", file.uid, file.gid, file.mode);
            }
            if let Some(sum) = file.sha1.as_deref().and_then(|h| hex::decode(h).ok()) {
                let encoded = base64::engine::general_purpose::STANDARD.encode(sum);
                let _ = writeln!(text, "Z:Q1{encoded}");
            }
        }
    }
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_without_parent_steps() {
        assert_eq!(safe_components("./usr//bin/").unwrap(), ["usr", "bin"]);
        assert!(safe_components("./").unwrap().is_empty());
        assert!(safe_components("/etc/passwd")
            .unwrap_err()
            .to_string()
            .contains("absolute path"));
        assert!(safe_components("usr/../../etc")
            .unwrap_err()
            .to_string()
            .contains("leaves the root"));
    }

    #[test]
    fn relative_link_targets_stay_inside() {
        assert!(check_link_target(&["usr", "bin", "sh"], "../../bin/busybox").is_ok());
        assert!(check_link_target(&["usr", "bin", "sh"], "../../../etc").is_err());
        assert!(check_link_target(&["a"], "..").is_err());
        assert!(check_link_target(&["bin", "sh"], "/bin/busybox").is_ok());
        assert!(check_link_target(&["a"], "").is_err());
    }
}
