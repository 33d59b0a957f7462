//! What merging per-package layers cannot get right by itself, fixed by
//! `finish-environment` with every package's own layer in view (mounted
//! read-only, in install order):
//!
//! - **file conflicts, as apk decides them**: a path (file or link) shipped
//!   by two packages is an error naming the path and both packages, unless
//!   one `replaces` the other (its installed record's `r:`) or both come
//!   from the same origin (`o:`, a later subpackage wins), as apk-tools
//!   allows. The replacer's version is put in the root whatever the merge
//!   order left there, and the file is dropped from the other package's
//!   installed-database record, so only its owner lists it;
//! - **a link where another package has a folder** (`bin -> usr/bin` of a
//!   merged-usr baselayout, `bin/foo` of another package): apk writes
//!   through the link, so the link stays and the folder's files land where
//!   it points. A merge instead keeps whichever layer came last: the
//!   folder hides the link, or the link hides the files. The link is put
//!   back and the folder's content moved (or copied from the layers)
//!   through it.
//!
//! Every path is resolved inside the root ([`Root`]), never outside it.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::environment::Root;

/// What one package's layer holds at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    /// A folder.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link, with its target.
    Link(PathBuf),
}

/// One installed package: its record's fields that decide conflicts and
/// its layer's entries (paths relative to the layer, no `./`).
#[derive(Debug, Clone)]
pub(super) struct Package {
    /// `name-version`.
    pub id: String,
    /// `P:`.
    pub name: String,
    /// `o:` (empty when absent).
    pub origin: String,
    /// Names in `r:`.
    pub replaces: Vec<String>,
    /// Its layer.
    pub layer: PathBuf,
    /// Every entry of the layer, by path.
    pub nodes: BTreeMap<String, Node>,
    /// Entries kept out of the layer (see [`leave_out`]), by path, and the
    /// folder they are in.
    pub left_out: Option<(PathBuf, BTreeMap<String, Node>)>,
}

impl Package {
    /// Read the fields from the package's installed record and walk its
    /// layer.
    pub fn load(
        id: &str,
        record: &str,
        layer: &Path,
        left_out: Option<&Path>,
    ) -> Result<Package, String> {
        let field = |key: &str| {
            record
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_default()
                .to_string()
        };
        let replaces = field("r:")
            .split_whitespace()
            .map(|atom| {
                let end = atom.find(['<', '>', '=', '~']).unwrap_or(atom.len());
                atom[..end].to_string()
            })
            .collect();
        let mut nodes = BTreeMap::new();
        walk(layer, "", &mut nodes)?;
        let left_out = match left_out.filter(|dir| dir.is_dir()) {
            Some(dir) => {
                let mut kept = BTreeMap::new();
                walk(dir, "", &mut kept)?;
                Some((dir.to_path_buf(), kept))
            }
            None => None,
        };
        Ok(Package {
            id: id.to_string(),
            name: field("P:"),
            origin: field("o:"),
            replaces,
            layer: layer.to_path_buf(),
            nodes,
            left_out,
        })
    }

    /// Every entry, in the layer or left out of it, with the folder it is
    /// read from.
    fn entries(&self) -> impl Iterator<Item = (&String, &Node, &Path)> {
        let layer = self.nodes.iter().map(|(p, n)| (p, n, self.layer.as_path()));
        let kept = self
            .left_out
            .iter()
            .flat_map(|(dir, nodes)| nodes.iter().map(move |(p, n)| (p, n, dir.as_path())));
        layer.chain(kept)
    }

    fn node(&self, path: &str) -> Option<(&Node, &Path)> {
        self.entries()
            .find(|(p, _, _)| p.as_str() == path)
            .map(|(_, n, dir)| (n, dir))
    }
}

fn walk(base: &Path, prefix: &str, out: &mut BTreeMap<String, Node>) -> Result<(), String> {
    let dir = base.join(prefix);
    let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    names.sort();
    for name in names {
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let full = base.join(&path);
        let meta = fs::symlink_metadata(&full).map_err(|e| format!("{}: {e}", full.display()))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&full).map_err(|e| format!("{}: {e}", full.display()))?;
            out.insert(path, Node::Link(target));
        } else if meta.is_dir() {
            out.insert(path.clone(), Node::Dir);
            walk(base, &path, out)?;
        } else {
            out.insert(path, Node::File);
        }
    }
    Ok(())
}

/// Move `folder` (relative) of the unpacked `layer` to the same place
/// under `left_out`, copying (they are different mounts) then removing.
pub(super) fn leave_out(layer: &Path, folder: &str, left_out: &Path) -> Result<(), String> {
    let parts: Vec<&str> = folder
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") {
        return Err(format!(
            "--leave-out {folder:?}: not a folder of the package"
        ));
    }
    let relative = parts.join("/");
    let source = layer.join(&relative);
    match fs::symlink_metadata(&source) {
        Ok(meta) if meta.is_dir() => {}
        // Nothing there (or not a folder): nothing to keep out.
        _ => return Ok(()),
    }
    let mut nodes = BTreeMap::new();
    nodes.insert(relative.clone(), Node::Dir);
    walk(layer, &relative, &mut nodes)?;
    for (path, node) in &nodes {
        let from = layer.join(path);
        let to = left_out.join(path);
        let meta = fs::symlink_metadata(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        match node {
            Node::Dir => {
                fs::create_dir_all(&to).map_err(|e| format!("{}: {e}", to.display()))?;
                fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))
                    .map_err(|e| format!("{}: {e}", to.display()))?;
            }
            Node::Link(target) => {
                symlink(target, &to).map_err(|e| format!("{}: {e}", to.display()))?
            }
            Node::File => {
                fs::copy(&from, &to).map_err(|e| format!("{}: {e}", to.display()))?;
            }
        }
        let _ = std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()));
    }
    fs::remove_dir_all(&source).map_err(|e| format!("{}: {e}", source.display()))
}

/// What [`reconcile`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Reconciled {
    /// Per package id, the paths it lost to a replacing package.
    pub lost: BTreeMap<String, Vec<String>>,
    /// Links restored over a folder another package shipped.
    pub links_restored: Vec<String>,
    /// Paths whose owner's version was put back over a later layer's.
    pub owner_restored: Vec<String>,
}

/// Fix the merged `root` given the packages in install order (the merge
/// order): links over folders first, then file conflicts.
pub(super) fn reconcile(root: &Root, packages: &[Package]) -> Result<Reconciled, String> {
    let mut done = Reconciled::default();
    restore_links(root, packages, &mut done)?;
    resolve_conflicts(root, packages, &mut done)?;
    Ok(done)
}

/// A path that is a link in one package and a folder in another: the
/// link stays, the folder's content goes through it.
fn restore_links(root: &Root, packages: &[Package], done: &mut Reconciled) -> Result<(), String> {
    let mut links: BTreeMap<&str, &PathBuf> = BTreeMap::new();
    for package in packages {
        for (path, node, _) in package.entries() {
            if let Node::Link(target) = node {
                links.entry(path.as_str()).or_insert(target);
            }
        }
    }
    for (path, target) in links {
        let folders: Vec<&Package> = packages
            .iter()
            .filter(|p| p.node(path).is_some_and(|(n, _)| *n == Node::Dir))
            .collect();
        if folders.is_empty() {
            continue;
        }
        let here = root.path_nofollow(path)?;
        let meta = fs::symlink_metadata(&here).map_err(|e| format!("{}: {e}", here.display()))?;
        if meta.is_dir() {
            // The folder won the merge: move everything in it (other
            // packages' and the base's files too) to where the link points,
            // then put the link back. Files are renamed one by one: an
            // overlay mount refuses to rename a lower layer's folder.
            let destination = link_destination(path, target);
            let resolved = root.path(&destination)?;
            if resolved.starts_with(&here) {
                return Err(format!(
                    "/{path}: the link to {} points into the folder it replaces",
                    target.display()
                ));
            }
            move_into(root, &here, &destination)?;
            fs::remove_dir_all(&here).map_err(|e| format!("{}: {e}", here.display()))?;
            symlink(target, &here).map_err(|e| format!("{}: {e}", here.display()))?;
        } else {
            // The link won: the folders' files are hidden behind it.
            for package in &folders {
                copy_tree(root, package, path)?;
            }
        }
        done.links_restored.push(path.to_string());
    }
    Ok(())
}

/// Where the link at `path` to `target` points, relative to the root
/// (`..` stops at the root, as it does there).
fn link_destination(path: &str, target: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !target.is_absolute() {
        parts.extend(path.split('/').map(str::to_string));
        parts.pop();
    }
    for component in target.components() {
        match component {
            std::path::Component::Normal(name) => parts.push(name.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.join("/")
}

/// Move the content of the host folder `from` to `to` inside the root
/// (resolved through links), merging folders, replacing the rest.
fn move_into(root: &Root, from: &Path, to: &str) -> Result<(), String> {
    let destination = root.path(to)?;
    if !destination.is_dir() {
        root.dir(to, 0o755)?;
    }
    let mut names: Vec<_> = fs::read_dir(from)
        .map_err(|e| format!("{}: {e}", from.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        let source = from.join(&name);
        let relative = format!("{to}/{}", name.to_string_lossy());
        let meta =
            fs::symlink_metadata(&source).map_err(|e| format!("{}: {e}", source.display()))?;
        let target = root.path_nofollow(&relative)?;
        if meta.is_dir() && !meta.file_type().is_symlink() {
            if fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
                fs::remove_file(&target).map_err(|e| format!("{}: {e}", target.display()))?;
            }
            move_into(root, &source, &relative)?;
        } else {
            remove_non_dir(&target)?;
            fs::rename(&source, &target).map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    Ok(())
}

/// Copy `package`'s entries at and below `path` from its layer into the
/// root (through links in the root).
fn copy_tree(root: &Root, package: &Package, path: &str) -> Result<(), String> {
    let prefix = format!("{path}/");
    for (entry, node, dir) in package.entries() {
        if entry.starts_with(&prefix) {
            copy_entry(root, dir, entry, node)?;
        }
    }
    Ok(())
}

/// Put the version of `path` under `from` (a layer or a left-out folder)
/// into the root.
fn copy_entry(root: &Root, from: &Path, path: &str, node: &Node) -> Result<(), String> {
    let source = from.join(path);
    let meta = fs::symlink_metadata(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    if *node == Node::Dir {
        root.dir(path, meta.mode() & 0o7777)?;
        return Ok(());
    }
    if let Some((parent, _)) = path.rsplit_once('/') {
        root.dir(parent, 0o755)?;
    }
    let target = root.path_nofollow(path)?;
    remove_non_dir(&target)?;
    match node {
        Node::Link(link) => {
            symlink(link, &target).map_err(|e| format!("{}: {e}", target.display()))?
        }
        _ => {
            fs::copy(&source, &target).map_err(|e| format!("{}: {e}", target.display()))?;
            fs::set_permissions(&target, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    let _ = std::os::unix::fs::lchown(&target, Some(meta.uid()), Some(meta.gid()));
    let time = filetime::FileTime::from_last_modification_time(&meta);
    filetime::set_symlink_file_times(&target, time, time)
        .map_err(|e| format!("{}: {e}", target.display()))
}

fn remove_non_dir(target: &Path) -> Result<(), String> {
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => Err(format!(
            "{}: a folder where a file or link is to go",
            target.display()
        )),
        Ok(_) => fs::remove_file(target).map_err(|e| format!("{}: {e}", target.display())),
        Err(_) => Ok(()),
    }
}

/// apk's rule for a path two packages ship: `Some(true)` the new one
/// takes it, `Some(false)` the current owner keeps it, `None` a conflict.
fn takes_over(owner: &Package, new: &Package) -> Option<bool> {
    let same_origin = !new.origin.is_empty() && new.origin == owner.origin;
    if same_origin || new.replaces.contains(&owner.name) {
        Some(true)
    } else if owner.replaces.contains(&new.name) {
        Some(false)
    } else {
        None
    }
}

/// Every non-folder path shipped by more than one package: decided as
/// apk does in install order; the owner's version put in the root when a
/// later layer covered it; the losers' records lose the path.
fn resolve_conflicts(
    root: &Root,
    packages: &[Package],
    done: &mut Reconciled,
) -> Result<(), String> {
    let mut shippers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, package) in packages.iter().enumerate() {
        for (path, node, _) in package.entries() {
            if *node != Node::Dir {
                shippers.entry(path.as_str()).or_default().push(i);
            }
        }
    }
    let mut errors = Vec::new();
    for (path, list) in shippers.into_iter().filter(|(_, l)| l.len() > 1) {
        let mut owner = list[0];
        let mut conflict = false;
        for &next in &list[1..] {
            match takes_over(&packages[owner], &packages[next]) {
                Some(true) => owner = next,
                Some(false) => {}
                None => {
                    errors.push(format!(
                        "/{path}: installed by both {} and {}, and neither replaces the other",
                        packages[owner].id, packages[next].id
                    ));
                    conflict = true;
                    break;
                }
            }
        }
        if conflict {
            continue;
        }
        for &i in list.iter().filter(|&&i| i != owner) {
            done.lost
                .entry(packages[i].id.clone())
                .or_default()
                .push(path.to_string());
        }
        // The merge left the last layer's version there.
        if list.last() != Some(&owner) {
            let (node, from) = packages[owner]
                .node(path)
                .ok_or_else(|| format!("/{path}: gone from {}", packages[owner].id))?;
            copy_entry(root, from, path, node)?;
            done.owner_restored.push(path.to_string());
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "file conflicts (apk refuses these; a package may take a file over with `replaces`):\n  {}",
            errors.join("\n  ")
        ))
    }
}

/// `record` without the files in `lost` (full paths): each `R:` line and
/// its `a:`/`Z:` lines under the matching `F:` folder.
pub(super) fn drop_files(record: &str, lost: &[String]) -> String {
    let mut out = String::with_capacity(record.len());
    let mut folder = "";
    let mut skipping = false;
    for line in record.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        if let Some(dir) = body.strip_prefix("F:") {
            folder = dir;
            skipping = false;
        } else if let Some(name) = body.strip_prefix("R:") {
            let full = if folder.is_empty() {
                name.to_string()
            } else {
                format!("{folder}/{name}")
            };
            skipping = lost.contains(&full);
        } else if !(body.starts_with("a:") || body.starts_with("Z:")) {
            skipping = false;
        }
        if !skipping {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
#[path = "layers_tests.rs"]
mod tests;
