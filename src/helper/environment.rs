//! In-build helper subcommands that build an environment from packages:
//! `install-apk` checks one package against its index record and unpacks
//! it into its own layer (see [`crate::apk::install`]); `finish-environment`
//! writes, over the merged layers, what apk-tools and the build expect:
//! the installed database, `etc/apk/*`, accounts and busybox applet links.
//!
//! The merged root is made of package files, so `finish-environment`
//! resolves every path it writes *inside* that root: a symbolic link in it
//! (`lib -> usr/lib` in a merged-usr layout, or a hostile `etc -> /`) is
//! followed as it would be in the environment, never out of it.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::layers;
use crate::apk::install::{check, extract, installed_record};
use crate::apk::ApkFile;
use crate::plan::environment::{Account, AccountGroup, FinishSpec};

/// Arguments of `install-apk` (set by the LLB the frontend emits).
#[derive(Args, Debug)]
pub struct InstallApkArgs {
    /// The package file.
    #[arg(long)]
    pub apk: PathBuf,
    /// Name the index gives it.
    #[arg(long)]
    pub name: String,
    /// Version the index gives it.
    #[arg(long)]
    pub version: String,
    /// The index `C:` (Q1 + base64 SHA-1 of the control member).
    #[arg(long)]
    pub checksum: String,
    /// Tag of its repository, recorded in the installed database.
    #[arg(long)]
    pub tag: Option<String>,
    /// Empty folder to unpack into (the layer).
    #[arg(long)]
    pub root: PathBuf,
    /// Folder for the `<name>-<version>.installed` record and the
    /// `<name>-<version>.links` list (the links the package ships).
    #[arg(long)]
    pub meta: PathBuf,
    /// A folder of the package that another package ships as a link
    /// (`bin` beside `bin -> usr/bin`): kept out of the layer, which a
    /// merge could not lay over the link, and put in the meta folder under
    /// `<name>-<version>.left-out/` for `finish-environment` to install
    /// through the link.
    #[arg(long = "leave-out")]
    pub leave_out: Vec<String>,
}

/// Suffix of the folder holding a package's left-out folders in the meta
/// output.
pub(super) const LEFT_OUT: &str = "left-out";

/// Run `install-apk`: a summary, or which check failed.
pub fn install_apk(args: &InstallApkArgs) -> Result<String, String> {
    let started = Instant::now();
    let id = format!("{}-{}", args.name, args.version);
    let bytes = fs::read(&args.apk).map_err(|e| format!("{id}: {}: {e}", args.apk.display()))?;
    let apk = ApkFile::parse(&bytes).map_err(|e| format!("{id}: not a valid package: {e}"))?;
    check(&apk, &args.name, &args.version, &args.checksum).map_err(|e| e.to_string())?;
    let done = extract(&bytes, &apk, &args.root).map_err(|e| format!("{id}: {e}"))?;
    if !done.xattrs_skipped.is_empty() {
        eprintln!(
            "warning: {id}: extended attributes not applied to {}",
            done.xattrs_skipped.join(", ")
        );
    }
    let record = installed_record(&apk, &done.entries, args.tag.as_deref());
    let meta = args.meta.join(format!("{id}.installed"));
    fs::write(&meta, record).map_err(|e| format!("{}: {e}", meta.display()))?;
    let links: String = done
        .entries
        .iter()
        .filter(|e| e.kind == crate::apk::EntryKind::Symlink)
        .map(|e| format!("{}\n", e.path))
        .collect();
    let links_file = args.meta.join(format!("{id}.links"));
    fs::write(&links_file, links).map_err(|e| format!("{}: {e}", links_file.display()))?;
    for folder in &args.leave_out {
        let left_out = args.meta.join(format!("{id}.{LEFT_OUT}"));
        layers::leave_out(&args.root, folder, &left_out)?;
        eprintln!("{id}: /{folder} is a link in another package: installed through it later");
    }
    Ok(format!(
        "{id}: {} bytes checked against the index (C:{}, datahash, per-file SHA-1); \
         {} entries unpacked in {:.2}s",
        bytes.len(),
        args.checksum,
        done.entries.len(),
        started.elapsed().as_secs_f64()
    ))
}

/// Arguments of `finish-environment`.
#[derive(Args, Debug)]
pub struct FinishEnvironmentArgs {
    /// The [`FinishSpec`] (JSON).
    #[arg(long)]
    pub spec: PathBuf,
    /// Folder of `<name>-<version>.installed` records.
    #[arg(long)]
    pub meta: PathBuf,
    /// The environment's root filesystem (merged package layers).
    #[arg(long)]
    pub root: PathBuf,
    /// Folder with each package's own layer as `<name>-<version>/`: file
    /// conflicts and links over folders are settled as apk does
    /// (`helper/layers.rs`).
    #[arg(long)]
    pub layers: Option<PathBuf>,
}

/// Run `finish-environment`.
pub fn finish_environment(args: &FinishEnvironmentArgs) -> Result<String, String> {
    let text =
        fs::read_to_string(&args.spec).map_err(|e| format!("{}: {e}", args.spec.display()))?;
    let spec: FinishSpec = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not an environment spec: {e}", args.spec.display()))?;
    let root = Root::new(&args.root);
    let mut own_records = Vec::with_capacity(spec.packages.len());
    for id in &spec.packages {
        let path = args.meta.join(format!("{id}.installed"));
        own_records
            .push(fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let mut settled = String::new();
    if let Some(layers) = &args.layers {
        let packages = spec
            .packages
            .iter()
            .zip(&own_records)
            .map(|(id, record)| {
                let left_out = args.meta.join(format!("{id}.{LEFT_OUT}"));
                layers::Package::load(id, record, &layers.join(id), Some(&left_out))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let done = layers::reconcile(&root, &packages)?;
        for (id, record) in spec.packages.iter().zip(own_records.iter_mut()) {
            if let Some(lost) = done.lost.get(id) {
                eprintln!("{id}: replaced by another package: /{}", lost.join(", /"));
                *record = layers::drop_files(record, lost);
            }
        }
        if !done.links_restored.is_empty() {
            eprintln!(
                "links kept over other packages' folders: /{}",
                done.links_restored.join(", /")
            );
        }
        settled = format!(
            "; {} files taken over by a replacing package, {} links kept over folders",
            done.lost.values().map(Vec::len).sum::<usize>(),
            done.links_restored.len()
        );
    }
    let records: String = own_records.concat();
    let ours: Vec<&str> = records
        .lines()
        .filter_map(|l| l.strip_prefix("P:"))
        .collect();
    let installed = root.path("lib/apk/db/installed")?;
    // A base image's own records stay, unless a package of ours replaces them.
    let kept = read_optional(&installed)?
        .split("\n\n")
        .filter(|r| !r.trim().is_empty())
        .filter(|r| {
            !r.lines()
                .any(|l| l.strip_prefix("P:").is_some_and(|n| ours.contains(&n)))
        })
        .map(|r| format!("{}\n\n", r.trim_end_matches('\n')))
        .collect::<String>();
    root.write("lib/apk/db/installed", &(kept + &records), 0o644)?;
    for file in ["lib/apk/db/triggers", "lib/apk/db/scripts.tar"] {
        if !root.path(file)?.exists() {
            root.write(file, "", 0o644)?;
        }
    }
    root.write("etc/apk/arch", &format!("{}\n", spec.arch), 0o644)?;
    root.write(
        "etc/apk/world",
        &merge_lines(&root, "etc/apk/world", &spec.world, true)?,
        0o644,
    )?;
    root.write(
        "etc/apk/repositories",
        &merge_lines(&root, "etc/apk/repositories", &spec.repositories, false)?,
        0o644,
    )?;
    for key in &spec.keys {
        if key.name.contains('/') || key.name.starts_with('.') || key.name.is_empty() {
            return Err(format!("key name {:?} cannot be a file name", key.name));
        }
        root.write(&format!("etc/apk/keys/{}", key.name), &key.pem, 0o644)?;
    }
    accounts(&root, &spec.users, &spec.groups)?;
    let links = busybox_links(&root)?;
    root.dir("tmp", 0o1777)?;
    Ok(format!(
        "installed {} packages ({}); {} keys, {} users, {} groups{}{settled}",
        spec.packages.len(),
        spec.packages.join(" "),
        spec.keys.len(),
        spec.users.len(),
        spec.groups.len(),
        match links {
            Some(n) => format!(", {n} busybox applet links from /etc/busybox-paths.d"),
            None => String::new(),
        }
    ))
}

/// Existing lines of `file` plus `add`, without duplicates (sorted for
/// the world, as apk keeps it).
fn merge_lines(root: &Root, file: &str, add: &[String], sort: bool) -> Result<String, String> {
    let existing = read_optional(&root.path(file)?)?;
    let mut lines: Vec<String> = existing
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    for line in add {
        if !lines.contains(line) {
            lines.push(line.clone());
        }
    }
    if sort {
        lines.sort();
    }
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

/// Add missing accounts and groups (by name) to `/etc/passwd` and
/// `/etc/group`, and create missing home folders.
fn accounts(root: &Root, users: &[Account], groups: &[AccountGroup]) -> Result<(), String> {
    let mut passwd = read_optional(&root.path("etc/passwd")?)?;
    for user in users {
        if !has_entry(&passwd, &user.name) {
            ensure_newline(&mut passwd);
            passwd.push_str(&format!(
                "{0}:x:{1}:{2}:{0}:{3}:{4}\n",
                user.name, user.uid, user.gid, user.home, user.shell
            ));
        }
    }
    root.write("etc/passwd", &passwd, 0o644)?;
    let mut group = read_optional(&root.path("etc/group")?)?;
    for g in groups {
        if !has_entry(&group, &g.name) {
            ensure_newline(&mut group);
            group.push_str(&format!("{}:x:{}:{}\n", g.name, g.gid, g.members.join(",")));
        }
    }
    root.write("etc/group", &group, 0o644)?;
    for user in users {
        let home = user.home.trim_start_matches('/');
        if home.is_empty() || root.path(home)?.exists() {
            continue;
        }
        let mode = if user.uid == 0 { 0o700 } else { 0o755 };
        root.dir(home, mode)?;
        let path = root.path(home)?;
        std::os::unix::fs::chown(&path, Some(user.uid), Some(user.gid))
            .or_else(ignore_if_unprivileged)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn has_entry(file: &str, name: &str) -> bool {
    file.lines().any(|l| l.split(':').next() == Some(name))
}

fn ensure_newline(text: &mut String) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
}

/// Links to `/bin/busybox` for every path the lists in
/// `/etc/busybox-paths.d` name, where nothing exists yet. None: no lists.
fn busybox_links(root: &Root) -> Result<Option<usize>, String> {
    let dir = root.path("etc/busybox-paths.d")?;
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(None);
    };
    let mut lists: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    lists.sort();
    let mut made = 0;
    for list in lists {
        let text = read_optional(&list)?;
        for applet in text.split_whitespace() {
            let relative = applet.trim_start_matches('/');
            if relative.is_empty() || relative == "bin/busybox" {
                continue;
            }
            let path = root.path_nofollow(relative)?;
            if fs::symlink_metadata(&path).is_ok() {
                continue;
            }
            if let Some(parent) = relative.rsplit_once('/').map(|(p, _)| p) {
                root.dir(parent, 0o755)?;
            }
            symlink("/bin/busybox", &path).map_err(|e| format!("{}: {e}", path.display()))?;
            made += 1;
        }
    }
    Ok(Some(made))
}

fn read_optional(path: &Path) -> Result<String, String> {
    match fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn ignore_if_unprivileged(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::PermissionDenied {
        Ok(())
    } else {
        Err(e)
    }
}

/// The environment's root, with paths resolved as inside it.
pub(super) struct Root {
    base: PathBuf,
}

/// Symbolic links followed at most this many times per path (as Linux).
const MAX_LINKS: usize = 40;

impl Root {
    pub(super) fn new(base: &Path) -> Self {
        Root {
            base: base.to_path_buf(),
        }
    }

    /// The host path of `relative` inside the root, every symbolic link
    /// on the way followed inside the root (for reading and folders).
    pub(super) fn path(&self, relative: &str) -> Result<PathBuf, String> {
        self.resolve(relative, true)
    }

    /// Like [`Root::path`], but a link as the last component is not
    /// followed (for replacing it).
    pub(super) fn path_nofollow(&self, relative: &str) -> Result<PathBuf, String> {
        self.resolve(relative, false)
    }

    fn resolve(&self, relative: &str, follow_last: bool) -> Result<PathBuf, String> {
        let mut pending: Vec<String> = relative
            .split('/')
            .rev()
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let mut resolved: Vec<String> = Vec::new();
        let mut followed = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            let candidate = self.join(&resolved).join(&part);
            let is_last = pending.is_empty();
            match fs::symlink_metadata(&candidate) {
                Ok(meta) if meta.file_type().is_symlink() && (follow_last || !is_last) => {
                    followed += 1;
                    if followed > MAX_LINKS {
                        return Err(format!("/{relative}: too many levels of symbolic links"));
                    }
                    let target = fs::read_link(&candidate)
                        .map_err(|e| format!("{}: {e}", candidate.display()))?;
                    if target.is_absolute() {
                        resolved.clear();
                    }
                    for component in target.components().rev() {
                        if let Component::Normal(name) = component {
                            pending.push(name.to_string_lossy().into_owned());
                        } else if component == Component::ParentDir {
                            pending.push("..".into());
                        }
                    }
                }
                _ => resolved.push(part),
            }
        }
        Ok(self.join(&resolved))
    }

    fn join(&self, parts: &[String]) -> PathBuf {
        let mut path = self.base.clone();
        path.extend(parts);
        path
    }

    /// Create `relative` and its missing parents (inside the root).
    pub(super) fn dir(&self, relative: &str, mode: u32) -> Result<(), String> {
        let mut so_far = String::new();
        for part in relative.split('/').filter(|p| !p.is_empty()) {
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(part);
            let path = self.path(&so_far)?;
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => return Err(format!("/{so_far} exists and is not a directory")),
                Err(_) => {
                    fs::create_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                    let mode = if so_far.len() == relative.trim_matches('/').len() {
                        mode
                    } else {
                        0o755
                    };
                    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
        }
        Ok(())
    }

    /// Replace `relative` (a link there is replaced, not followed) with
    /// `content`.
    fn write(&self, relative: &str, content: &str, mode: u32) -> Result<(), String> {
        if let Some((parent, _)) = relative.rsplit_once('/') {
            self.dir(parent, 0o755)?;
        }
        let path = self.path_nofollow(relative)?;
        if let Ok(meta) = fs::symlink_metadata(&path) {
            if meta.is_dir() {
                return Err(format!("/{relative} is a directory"));
            }
            fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        fs::write(&path, content).map_err(|e| format!("{}: {e}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mf-finish-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn paths_resolve_inside_the_root() {
        let dir = scratch("root");
        fs::create_dir_all(dir.join("usr/lib")).unwrap();
        symlink("usr/lib", dir.join("lib")).unwrap();
        symlink("/", dir.join("etc")).unwrap();
        let root = Root::new(&dir);
        assert_eq!(root.path("lib/apk/db").unwrap(), dir.join("usr/lib/apk/db"));
        // An absolute link points at the root, not at the helper's /.
        assert_eq!(root.path("etc/passwd").unwrap(), dir.join("passwd"));
        symlink("../../..", dir.join("usr/up")).unwrap();
        assert_eq!(root.path("usr/up/x").unwrap(), dir.join("x"));
        symlink("loop", dir.join("loop")).unwrap();
        assert!(root.path("loop/x").unwrap_err().contains("too many levels"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finish_writes_database_keys_and_accounts() {
        let dir = scratch("finish");
        let (root, meta) = (dir.join("root"), dir.join("meta"));
        fs::create_dir_all(root.join("etc/busybox-paths.d")).unwrap();
        fs::create_dir_all(&meta).unwrap();
        fs::write(
            root.join("etc/busybox-paths.d/busybox"),
            "/bin/sh\nusr/bin/env\n",
        )
        .unwrap();
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/ash").unwrap();
        fs::write(meta.join("busybox-1-r0.installed"), "P:busybox\nV:1-r0\n\n").unwrap();
        fs::write(meta.join("b-2-r0.installed"), "P:b\nV:2-r0\n\n").unwrap();
        let spec = FinishSpec {
            arch: "x86_64".into(),
            world: vec!["busybox".into(), "b".into()],
            repositories: vec!["https://example.org/os".into()],
            keys: vec![crate::plan::environment::KeyFile {
                name: "melange.rsa.pub".into(),
                pem: "PEM".into(),
            }],
            packages: vec!["busybox-1-r0".into(), "b-2-r0".into()],
            users: vec![
                Account {
                    name: "root".into(),
                    uid: 0,
                    gid: 0,
                    home: "/root".into(),
                    shell: "/bin/sh".into(),
                },
                Account {
                    name: "build".into(),
                    uid: 1000,
                    gid: 1000,
                    home: "/home/build".into(),
                    shell: "/bin/sh".into(),
                },
            ],
            groups: vec![AccountGroup {
                name: "build".into(),
                gid: 1000,
                members: vec!["build".into()],
            }],
        };
        fs::write(dir.join("spec.json"), serde_json::to_string(&spec).unwrap()).unwrap();
        let summary = finish_environment(&FinishEnvironmentArgs {
            spec: dir.join("spec.json"),
            meta,
            root: root.clone(),
            layers: None,
        })
        .unwrap();
        assert!(summary.contains("2 busybox applet links"), "{summary}");
        let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(
            read("lib/apk/db/installed"),
            "P:busybox\nV:1-r0\n\nP:b\nV:2-r0\n\n"
        );
        assert_eq!(read("etc/apk/world"), "b\nbusybox\n");
        assert_eq!(read("etc/apk/arch"), "x86_64\n");
        assert_eq!(read("etc/apk/repositories"), "https://example.org/os\n");
        assert_eq!(read("etc/apk/keys/melange.rsa.pub"), "PEM");
        assert_eq!(
            read("etc/passwd"),
            "root:x:0:0:root:/root:/bin/ash\nbuild:x:1000:1000:build:/home/build:/bin/sh\n"
        );
        assert_eq!(read("etc/group"), "build:x:1000:build\n");
        assert_eq!(
            fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert!(root.join("home/build").is_dir());
        assert_eq!(
            fs::metadata(root.join("tmp")).unwrap().permissions().mode() & 0o7777,
            0o1777
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
