//! `git-checkout`: the in-build half of a native `uses: git-checkout`.
//! BuildKit has checked out the expected commit with its `.git` (a shallow
//! clone, `HEAD` detached); this runs over that tree, mounted writable, with
//! no git binary:
//!
//! 1. checks `HEAD` is the commit (or `--peeled`, the tag's commit, when
//!    the frontend's tag check found `--commit` to be an annotated tag's
//!    own object); the tag itself was checked against the server by the
//!    frontend before the build (`gateway/gittags.rs`), so this step needs
//!    no network;
//! 2. leaves `.git` as the script's clone would: `origin` is the repository,
//!    a branch is checked out as `refs/heads/<branch>`, a tag has
//!    `refs/tags/<tag>`, no `FETCH_HEAD`;
//! 3. without `--recurse-submodules` in the build file (`--no-submodules`),
//!    empties submodule folders (BuildKit before `git.skipsubmodules` always
//!    fetches them);
//! 4. sets every mtime to `--mtime`, so the tree is the same on every engine
//!    and `make` sees generated files as up to date.

use std::fs;
use std::path::{Path, PathBuf};

use clap::Args;
use filetime::FileTime;

/// Arguments of `git-checkout` (set by the LLB the frontend emits).
#[derive(Args, Debug)]
pub struct GitCheckoutArgs {
    /// The checkout (work tree with `.git`), changed in place.
    #[arg(long)]
    pub tree: PathBuf,
    /// The repository URL from the build file.
    #[arg(long)]
    pub repository: String,
    /// `expected-commit`.
    #[arg(long)]
    pub commit: String,
    /// `tag`.
    #[arg(long, conflicts_with = "branch")]
    pub tag: Option<String>,
    /// `branch`.
    #[arg(long)]
    pub branch: Option<String>,
    /// The commit `HEAD` is at when `--commit` is the annotated tag's own
    /// object (found by the frontend's tag check).
    #[arg(long, requires = "tag")]
    pub peeled: Option<String>,
    /// Empty submodule folders.
    #[arg(long)]
    pub no_submodules: bool,
    /// Every file's mtime (seconds since the epoch).
    #[arg(long)]
    pub mtime: i64,
}

/// Run `git-checkout`; the summary goes to the step's log.
pub fn git_checkout(args: &GitCheckoutArgs) -> Result<String, String> {
    let commit = args.commit.to_ascii_lowercase();
    if !is_object_id(&commit) {
        return Err(format!("--commit {:?} is not 40 hex digits", args.commit));
    }
    let git_dir = args.tree.join(".git");
    if !git_dir.is_dir() {
        return Err(format!(
            "{}: BuildKit's checkout of {} has no .git",
            git_dir.display(),
            args.repository
        ));
    }
    // The commit HEAD must be: the expected one, or the one an annotated
    // tag named by its object hash points to.
    let want = match &args.peeled {
        Some(peeled) if is_object_id(peeled) => peeled.to_ascii_lowercase(),
        Some(peeled) => return Err(format!("--peeled {peeled:?} is not 40 hex digits")),
        None => commit.clone(),
    };
    let head = head_commit(&git_dir)?;
    if head != want {
        return Err(format!(
            "git-checkout: the checkout of {} is at {head}, not expected-commit {want}",
            args.repository
        ));
    }
    set_origin(&git_dir, &args.repository)?;
    remove_if_present(&git_dir.join("FETCH_HEAD"))?;
    if let Some(branch) = &args.branch {
        write_ref(&git_dir, &format!("refs/heads/{branch}"), &head)?;
        write_ref(&git_dir, &format!("refs/remotes/origin/{branch}"), &head)?;
        write_file(
            &git_dir.join("HEAD"),
            format!("ref: refs/heads/{branch}\n").as_bytes(),
        )?;
    }
    if let Some(tag) = &args.tag {
        let name = format!("refs/tags/{tag}");
        if read_ref(&git_dir, &name)?.is_none() {
            write_ref(&git_dir, &name, &head)?;
        }
    }
    let emptied = if args.no_submodules {
        empty_submodules(&args.tree)?
    } else {
        0
    };
    let entries = set_mtimes(&args.tree, FileTime::from_unix_time(args.mtime, 0))?;
    let what = match (&args.tag, &args.branch) {
        (Some(tag), _) => format!("tag {tag}"),
        (_, Some(branch)) => format!("branch {branch}"),
        _ => "commit".to_string(),
    };
    let mut summary = format!(
        "git-checkout: {} {what} at {head}, {entries} entries",
        args.repository
    );
    if emptied > 0 {
        summary.push_str(&format!(", {emptied} submodule folder(s) left empty"));
    }
    Ok(summary)
}

fn is_object_id(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `HEAD` names (detached, or through one symbolic ref).
fn head_commit(git_dir: &Path) -> Result<String, String> {
    let head = read_text(&git_dir.join("HEAD"))?;
    let head = head.trim();
    if let Some(name) = head.strip_prefix("ref:") {
        let name = name.trim();
        return read_ref(git_dir, name)?
            .ok_or_else(|| format!("{}: HEAD names {name}, which is missing", git_dir.display()));
    }
    match is_object_id(head) {
        true => Ok(head.to_ascii_lowercase()),
        false => Err(format!(
            "{}: HEAD is not a commit: {head:?}",
            git_dir.display()
        )),
    }
}

/// A ref's object id: the loose file, else its `packed-refs` line.
fn read_ref(git_dir: &Path, name: &str) -> Result<Option<String>, String> {
    let loose = ref_path(git_dir, name)?;
    if loose.is_file() {
        let text = read_text(&loose)?;
        let id = text.trim();
        return match is_object_id(id) {
            true => Ok(Some(id.to_ascii_lowercase())),
            false => Err(format!("{}: not an object id: {id:?}", loose.display())),
        };
    }
    let packed = git_dir.join("packed-refs");
    if !packed.is_file() {
        return Ok(None);
    }
    let text = read_text(&packed)?;
    Ok(text
        .lines()
        .filter(|line| !line.starts_with(['#', '^']))
        .filter_map(|line| line.split_once(' '))
        .find(|(_, ref_name)| *ref_name == name)
        .map(|(id, _)| id.to_ascii_lowercase()))
}

/// `.git/<name>`, refusing names that would leave `.git`.
fn ref_path(git_dir: &Path, name: &str) -> Result<PathBuf, String> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.split('/').any(|part| matches!(part, "" | "." | ".."));
    match bad {
        true => Err(format!("{name:?} is not a ref name")),
        false => Ok(git_dir.join(name)),
    }
}

fn write_ref(git_dir: &Path, name: &str, id: &str) -> Result<(), String> {
    let path = ref_path(git_dir, name)?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    write_file(&path, format!("{id}\n").as_bytes())
}

/// Point `[remote "origin"]`'s `url` at the repository (BuildKit leaves its
/// own cache directory there, or a redacted URL), adding the section with
/// the usual fetch refspec when it is missing.
fn set_origin(git_dir: &Path, repository: &str) -> Result<(), String> {
    let path = git_dir.join("config");
    let text = read_text(&path)?;
    let quoted = repository.replace('\\', "\\\\").replace('"', "\\\"");
    let url_line = format!("\turl = \"{quoted}\"");
    let mut out = Vec::new();
    let mut in_origin = false;
    let mut found = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_origin = trimmed.replace(' ', "") == "[remote\"origin\"]";
        } else if in_origin && config_key(trimmed) == Some("url") {
            if !found {
                out.push(url_line.clone());
            }
            found = true;
            continue;
        }
        out.push(line.to_string());
    }
    if !found {
        out.push("[remote \"origin\"]".into());
        out.push(url_line);
        out.push("\tfetch = +refs/heads/*:refs/remotes/origin/*".into());
    }
    let mut text = out.join("\n");
    text.push('\n');
    write_file(&path, text.as_bytes())
}

/// The key of a `key = value` config line, lower case.
fn config_key(line: &str) -> Option<&str> {
    let key = line.split('=').next()?.trim();
    key.eq_ignore_ascii_case("url").then_some("url")
}

/// Empty every submodule folder (one holding a `.git` *file*) and drop
/// `.git/modules`; returns how many folders were emptied.
fn empty_submodules(tree: &Path) -> Result<usize, String> {
    let mut emptied = 0;
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in read_dir(&dir)? {
            let path = entry.path();
            let meta =
                fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if !meta.is_dir() || (dir == tree && entry.file_name() == ".git") {
                continue;
            }
            if path.join(".git").is_file() {
                for inner in read_dir(&path)? {
                    let inner = inner.path();
                    let result = match fs::symlink_metadata(&inner) {
                        Ok(m) if m.is_dir() => fs::remove_dir_all(&inner),
                        _ => fs::remove_file(&inner),
                    };
                    result.map_err(|e| format!("{}: {e}", inner.display()))?;
                }
                emptied += 1;
            } else {
                stack.push(path);
            }
        }
    }
    let modules = tree.join(".git").join("modules");
    if modules.is_dir() {
        fs::remove_dir_all(&modules).map_err(|e| format!("{}: {e}", modules.display()))?;
    }
    Ok(emptied)
}

/// Set every entry's mtime (and atime), symbolic links themselves included;
/// returns how many entries.
fn set_mtimes(tree: &Path, time: FileTime) -> Result<usize, String> {
    let mut count = 0;
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in read_dir(&dir)? {
            let path = entry.path();
            let meta =
                fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if meta.is_dir() {
                stack.push(path.clone());
            }
            filetime::set_symlink_file_times(&path, time, time)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            count += 1;
        }
    }
    // Changing a child's times leaves its folder's mtime alone: only the
    // top is left.
    filetime::set_symlink_file_times(tree, time, time)
        .map_err(|e| format!("{}: {e}", tree.display()))?;
    Ok(count)
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, String> {
    let mut entries = fs::read_dir(dir)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn read_text(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_file(path: &Path, data: &[u8]) -> Result<(), String> {
    fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))
}

fn remove_if_present(path: &Path) -> Result<(), String> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("{}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "git_tests.rs"]
mod tests;
