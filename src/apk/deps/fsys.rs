//! A package's output folder seen the way melange's SCA sees it: a tree
//! walked in Go `fs.WalkDir` order (pre-order, names sorted by bytes), with
//! `lstat` modes, and symlinks followed *inside* the folder (an absolute
//! target is taken relative to the folder, `..` stops at its root), so the
//! answer never depends on the machine the scan runs on.

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::ScanError;

/// Most symlinks followed while resolving one path (Linux's limit).
const MAX_HOPS: usize = 40;

/// What a walked entry is (from `lstat`, so symlinks are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    File,
    Symlink,
    /// FIFO, socket or device: never opened.
    Other,
}

/// One entry of a walk.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// Path relative to the package root, `/`-separated, no `./`.
    pub path: String,
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
}

/// One package output folder.
#[derive(Debug, Clone)]
pub(super) struct PkgFs {
    root: PathBuf,
}

impl PkgFs {
    /// The folder at `root`, which must be a directory.
    pub fn new(root: &Path) -> Result<PkgFs, ScanError> {
        let meta = std::fs::metadata(root).map_err(|e| ScanError::io(root, e))?;
        if !meta.is_dir() {
            return Err(ScanError::NotADirectory(root.display().to_string()));
        }
        Ok(PkgFs {
            root: root.to_path_buf(),
        })
    }

    /// Every entry below the root, in walk order.
    pub fn walk(&self) -> Result<Vec<Entry>, ScanError> {
        let mut out = Vec::new();
        self.walk_dir(&self.root, "", &mut out)?;
        Ok(out)
    }

    /// `rel` itself and everything below it when it is a directory; nothing
    /// when it does not exist.
    pub fn walk_from(&self, rel: &str) -> Result<Vec<Entry>, ScanError> {
        let disk = self.root.join(rel);
        let meta = match std::fs::symlink_metadata(&disk) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ScanError::io(&disk, e)),
        };
        let mut out = vec![entry(rel.to_string(), &meta)];
        if meta.is_dir() {
            self.walk_dir(&disk, &format!("{rel}/"), &mut out)?;
        }
        Ok(out)
    }

    fn walk_dir(&self, dir: &Path, prefix: &str, out: &mut Vec<Entry>) -> Result<(), ScanError> {
        let mut names = Vec::new();
        for item in std::fs::read_dir(dir).map_err(|e| ScanError::io(dir, e))? {
            let item = item.map_err(|e| ScanError::io(dir, e))?;
            let name = item
                .file_name()
                .into_string()
                .map_err(|_| ScanError::NonUtf8(item.path().display().to_string()))?;
            names.push(name);
        }
        names.sort();
        for name in names {
            let disk = dir.join(&name);
            let meta = std::fs::symlink_metadata(&disk).map_err(|e| ScanError::io(&disk, e))?;
            let path = format!("{prefix}{name}");
            let is_dir = meta.is_dir();
            out.push(entry(path.clone(), &meta));
            if is_dir {
                self.walk_dir(&disk, &format!("{path}/"), out)?;
            }
        }
        Ok(())
    }

    /// The target of the symlink at `rel`, as stored.
    pub fn readlink(&self, rel: &str) -> Option<String> {
        let target = std::fs::read_link(self.root.join(rel)).ok()?;
        target.into_os_string().into_string().ok()
    }

    /// Where `rel` ends up on disk once every symlink on the way is followed
    /// inside the root; `None` when it does not exist, dangles or loops.
    pub fn resolve(&self, rel: &str) -> Option<PathBuf> {
        let mut pending: Vec<String> = components(rel).rev().map(str::to_string).collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(part);
            let disk = self.disk_path(&done);
            let meta = std::fs::symlink_metadata(&disk).ok()?;
            if meta.file_type().is_symlink() {
                hops += 1;
                if hops > MAX_HOPS {
                    return None;
                }
                let target = std::fs::read_link(&disk).ok()?;
                let target = target.to_str()?.to_string();
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                pending.extend(components(&target).rev().map(str::to_string));
            }
        }
        let disk = self.disk_path(&done);
        std::fs::metadata(&disk).ok().map(|_| disk)
    }

    /// Whether `rel` exists once symlinks are followed (Go's `Stat`).
    pub fn exists(&self, rel: &str) -> bool {
        self.resolve(rel).is_some()
    }

    /// A walked entry opened for reading when it is, or (for a symlink)
    /// resolves to, a regular file. A walked regular file has no symlink
    /// on its path, so it is opened without resolving.
    pub fn open_entry(&self, entry: &Entry) -> Option<File> {
        match entry.kind {
            Kind::File => File::open(self.root.join(&entry.path)).ok(),
            Kind::Symlink => self.open_regular(&entry.path),
            Kind::Dir | Kind::Other => None,
        }
    }

    /// `rel` opened for reading when it resolves to a regular file.
    pub fn open_regular(&self, rel: &str) -> Option<File> {
        let disk = self.resolve(rel)?;
        let meta = std::fs::metadata(&disk).ok()?;
        if !meta.is_file() {
            return None;
        }
        File::open(disk).ok()
    }

    /// The whole content of `rel` (a regular file after resolution), unless
    /// it is larger than `limit` bytes.
    pub fn read_regular(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, ScanError> {
        let Some(disk) = self.resolve(rel) else {
            return Ok(None);
        };
        let meta = std::fs::metadata(&disk).map_err(|e| ScanError::io(&disk, e))?;
        if !meta.is_file() || meta.len() > limit {
            return Ok(None);
        }
        std::fs::read(&disk)
            .map(Some)
            .map_err(|e| ScanError::io(&disk, e))
    }

    fn disk_path(&self, parts: &[String]) -> PathBuf {
        let mut disk = self.root.clone();
        disk.extend(parts);
        disk
    }
}

fn entry(path: String, meta: &std::fs::Metadata) -> Entry {
    let file_type = meta.file_type();
    let kind = if file_type.is_symlink() {
        Kind::Symlink
    } else if file_type.is_dir() {
        Kind::Dir
    } else if file_type.is_file() {
        Kind::File
    } else {
        Kind::Other
    };
    Entry {
        path,
        kind,
        mode: meta.permissions().mode() & 0o7777,
    }
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|part| !part.is_empty())
}

/// Go's `path.Base`: the last element, trailing slashes ignored.
pub(super) fn base(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// Go's `path.Dir`.
pub(super) fn dir(path: &str) -> String {
    let parent = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    clean(parent)
}

/// Go's `path.Join` of two relative paths.
pub(super) fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(b),
        (false, true) => clean(a),
        (false, false) => clean(&format!("{a}/{b}")),
    }
}

/// Go's `path.Clean` for relative paths.
pub(super) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match out.last() {
                Some(&last) if last != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            _ => out.push(part),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_helpers() {
        assert_eq!(base("usr/lib/libfoo.so.1"), "libfoo.so.1");
        assert_eq!(base("/lib64/ld-linux-x86-64.so.2"), "ld-linux-x86-64.so.2");
        assert_eq!(base("usr/bin/"), "bin");
        assert_eq!(base(""), ".");
        assert_eq!(base("//"), "/");
        assert_eq!(dir("usr/lib/libfoo.so"), "usr/lib");
        assert_eq!(dir("README"), ".");
        assert_eq!(dir("/file"), "/");
        assert_eq!(join("usr/lib/", "libfoo.so.1"), "usr/lib/libfoo.so.1");
        assert_eq!(join("", "libfoo.so.1"), "libfoo.so.1");
        assert_eq!(join("usr/lib/../lib64", "x"), "usr/lib64/x");
        assert_eq!(clean("../a/./b/"), "../a/b");
    }
}
