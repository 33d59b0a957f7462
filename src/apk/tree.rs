//! Walking a package's directory tree into the entries the data member is
//! written from: paths relative to the root, no `./`, in byte order of the
//! whole path (so every directory precedes its children), hard links
//! resolved to the first path (in that order) of the same inode, extended
//! attributes read.
//!
//! [`visit`] streams: it holds one directory's listing per level of depth,
//! not the whole tree, so memory does not grow with the number of files
//! (only with the number of hard-linked inodes, whose first paths must be
//! remembered).

use std::collections::HashMap;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::ApkError;

/// What a tree entry is, as it will be archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeKind {
    /// Directory.
    Dir,
    /// Regular file (first or only path of its inode).
    File,
    /// Symbolic link with its target.
    Symlink(String),
    /// Another path of an inode already archived at this path.
    Hardlink(String),
}

/// One entry of the tree.
#[derive(Debug, Clone)]
pub struct TreeEntry {
    /// Path relative to the root, `/`-separated.
    pub path: String,
    /// Where it is on disk.
    pub source: PathBuf,
    /// Kind.
    pub kind: TreeKind,
    /// Permission bits.
    pub mode: u32,
    /// Owner on disk.
    pub uid: u64,
    /// Group on disk.
    pub gid: u64,
    /// Size (regular files).
    pub size: u64,
    /// Extended attributes worth archiving ([`archived_xattr`]), sorted by
    /// name; values are raw bytes. Empty for hard links (the first path of
    /// the inode carries them).
    pub xattrs: Vec<(String, Vec<u8>)>,
}

/// All entries under `root` (not `root` itself), sorted by path. Holds the
/// whole list; [`visit`] does not.
pub fn walk(root: &Path) -> Result<Vec<TreeEntry>, ApkError> {
    let mut out = Vec::new();
    visit(root, |entry| {
        out.push(entry);
        Ok(())
    })?;
    Ok(out)
}

/// Call `f` on every entry under `root` (not `root` itself) in the order of
/// [`walk`], one directory listed at a time.
pub fn visit(
    root: &Path,
    mut f: impl FnMut(TreeEntry) -> Result<(), ApkError>,
) -> Result<(), ApkError> {
    let meta = std::fs::metadata(root).map_err(|e| ApkError::io(root, e))?;
    if !meta.is_dir() {
        return Err(ApkError::Invalid(format!(
            "{}: not a directory",
            root.display()
        )));
    }
    let mut first_path = HashMap::new();
    visit_dir(root, "", &mut first_path, &mut f)
}

/// A directory's child, or the subtree under a child directory.
enum Item {
    Entry(PathBuf, Metadata),
    Subtree(PathBuf),
}

/// Byte order of whole paths, one directory at a time: a child directory
/// `d` is two items, `d` (its own entry) and `d/` (everything under it).
/// No sibling name holds a `/`, so nothing sorts between `d/` and the paths
/// under it: sorting these keys per directory gives the global order (e.g.
/// `a`, `a-b`, `a/z`, since `-` < `/`).
fn visit_dir(
    dir: &Path,
    prefix: &str,
    first_path: &mut HashMap<(u64, u64), String>,
    f: &mut impl FnMut(TreeEntry) -> Result<(), ApkError>,
) -> Result<(), ApkError> {
    let mut items: Vec<(String, Item)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| ApkError::io(dir, e))? {
        let entry = entry.map_err(|e| ApkError::io(dir, e))?;
        let source = entry.path();
        let name = entry.file_name().into_string().map_err(|_| {
            ApkError::Invalid(format!("{}: file name is not UTF-8", source.display()))
        })?;
        // Not following symlinks, like `symlink_metadata`.
        let meta = entry.metadata().map_err(|e| ApkError::io(&source, e))?;
        let path = format!("{prefix}{name}");
        if meta.is_dir() {
            items.push((format!("{path}/"), Item::Subtree(source.clone())));
        }
        items.push((path, Item::Entry(source, meta)));
    }
    items.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (path, item) in items {
        match item {
            Item::Entry(source, meta) => f(entry(path, source, &meta, first_path)?)?,
            Item::Subtree(source) => visit_dir(&source, &path, first_path, f)?,
        }
    }
    Ok(())
}

fn entry(
    path: String,
    source: PathBuf,
    meta: &Metadata,
    first_path: &mut HashMap<(u64, u64), String>,
) -> Result<TreeEntry, ApkError> {
    let file_type = meta.file_type();
    let kind = if file_type.is_dir() {
        TreeKind::Dir
    } else if file_type.is_symlink() {
        let target = std::fs::read_link(&source).map_err(|e| ApkError::io(&source, e))?;
        let target = target.into_os_string().into_string().map_err(|_| {
            ApkError::Invalid(format!("{}: symlink target is not UTF-8", source.display()))
        })?;
        TreeKind::Symlink(target)
    } else if file_type.is_file() {
        match meta.nlink() > 1 {
            true => match first_path.get(&(meta.dev(), meta.ino())) {
                Some(first) => TreeKind::Hardlink(first.clone()),
                None => {
                    first_path.insert((meta.dev(), meta.ino()), path.clone());
                    TreeKind::File
                }
            },
            false => TreeKind::File,
        }
    } else {
        let what = match () {
            _ if file_type.is_fifo() => "a FIFO",
            _ if file_type.is_socket() => "a socket",
            _ => "a device node",
        };
        return Err(ApkError::Invalid(format!(
            "{}: is {what}; packages may only hold directories, regular files and symlinks",
            source.display()
        )));
    };
    let xattrs = match kind {
        TreeKind::Hardlink(_) => Vec::new(),
        _ => read_xattrs(&source)?,
    };
    Ok(TreeEntry {
        size: if kind == TreeKind::File {
            meta.len()
        } else {
            0
        },
        path,
        source,
        kind,
        mode: meta.mode() & 0o7777,
        uid: u64::from(meta.uid()),
        gid: u64::from(meta.gid()),
        xattrs,
    })
}

/// Whether an extended attribute belongs in a package. Everything the file
/// carries (`user.*`, file capabilities in `security.capability`, ACLs in
/// `system.posix_acl_*`, …) except what describes the build machine rather
/// than the file: its SELinux label (`security.selinux`; the installing
/// system labels files itself) and overlayfs's bookkeeping
/// (`trusted.overlay.*`, `user.overlay.*`). Keeping those would make the
/// package depend on the host it was built on.
pub fn archived_xattr(name: &str) -> bool {
    !(name == "security.selinux"
        || name.starts_with("trusted.overlay.")
        || name.starts_with("user.overlay."))
}

/// Linux's EOPNOTSUPP (= ENOTSUP): the file system has no extended attributes.
const EOPNOTSUPP: i32 = 95;

/// The archived extended attributes of `path` itself (not of a symlink's
/// target), sorted by name. Names must be UTF-8 without `=` (they become
/// PAX keywords `SCHILY.xattr.<name>`); a file system without extended
/// attributes has none.
pub fn read_xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>, ApkError> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(EOPNOTSUPP) => return Ok(Vec::new()),
        Err(e) => return Err(xattr_error(path, "list", e)),
    };
    let mut out = Vec::new();
    for name in names {
        let name = name.into_string().map_err(|n| {
            ApkError::Invalid(format!(
                "{}: extended attribute name {n:?} is not UTF-8",
                path.display()
            ))
        })?;
        if !archived_xattr(&name) {
            continue;
        }
        if name.contains('=') {
            return Err(ApkError::Invalid(format!(
                "{}: extended attribute name {name:?} holds '=', which a PAX record cannot",
                path.display()
            )));
        }
        // None: removed between listing and reading.
        if let Some(value) = xattr::get(path, &name).map_err(|e| xattr_error(path, &name, e))? {
            out.push((name, value));
        }
    }
    out.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

fn xattr_error(path: &Path, what: &str, e: io::Error) -> ApkError {
    ApkError::Invalid(format!(
        "{}: extended attributes ({what}): {e}",
        path.display()
    ))
}
