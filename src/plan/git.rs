//! `uses: git-checkout` as a native BuildKit Git source instead of the shell
//! pipeline (`src/pipelines/git-checkout.yaml`, which needs git in the build
//! environment).
//!
//! Why: a Git source whose ref is the commit is content-addressed: its cache
//! key is the commit itself, so a warm rebuild does not contact the server
//! (BuildKit skips `ls-remote`), and the fetch of a commit is a full fetch,
//! which works over Git's "dumb" HTTP protocol too (a tag or branch ref makes
//! BuildKit fetch with `--depth=1`, which dumb HTTP cannot serve). The
//! in-build helper (`git-checkout`, the frontend's own binary) then checks
//! the checkout is that commit and lays the tree out where melange's script
//! leaves it; the frontend checks a tag against the server where it can
//! (see [`TagCheck`]).
//!
//! Only inputs whose result the native path reproduces go native; the others
//! keep the script, see [`native_git_checkout`].

use serde::Serialize;

use super::sources::NativeSource;
use crate::config::subst::Vars;

/// The earliest mtime the checkout gets: 1980-01-01, the first instant ZIP
/// can store (Python wheels and jars are zip files).
pub const MIN_MTIME: u64 = 315_532_800;

/// What the build file names besides the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum GitRef {
    /// `tag:`: the work tree is detached at the commit, `refs/tags/<tag>`
    /// points at it (as `git clone --branch <tag>` leaves it).
    Tag(String),
    /// `branch:`: `HEAD` is `refs/heads/<branch>` at the commit.
    Branch(String),
    /// Neither: the commit, detached.
    Commit,
}

/// How the frontend checks that `tag` is `expected-commit` on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TagCheck {
    /// Not checked: no tag, or a transport without an HTTP ref
    /// advertisement (`ssh://`, `git://`). The content is still exactly
    /// the pinned commit.
    None,
    /// Before the build, the frontend has BuildKit fetch the server's ref
    /// advertisement (`gateway/gittags.rs`, `plan/gitrefs.rs`) as an HTTP
    /// source, in the daemon's network: a wrong tag fails the build; a
    /// server that cannot be read (gone, or wanting credentials) leaves the
    /// tag unchecked with a warning. The checkout's cache key does not
    /// depend on it.
    Http,
}

/// A `uses: git-checkout` done natively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitCheckoutSource {
    /// The repository URL as written (`http(s)://`, `git://`, `ssh://`,
    /// `git@host:path`).
    pub repository: String,
    /// `expected-commit`, lower case: the Git source's ref.
    pub commit: String,
    /// `tag`, `branch` or neither.
    pub reference: GitRef,
    /// How the tag is checked against the server.
    pub tag_check: TagCheck,
    /// Where the checkout goes, relative to `into` ("" = `into` itself).
    pub destination: String,
    /// The step's working directory (absolute).
    pub into: String,
    /// `recurse-submodules: true`.
    pub recurse_submodules: bool,
    /// The tag's commit when `expected-commit` is the annotated tag's own
    /// object: the checkout is there. Set by the frontend's tag check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peeled: Option<String>,
    /// Every file's mtime in the checkout: `SOURCE_DATE_EPOCH`, not before
    /// [`MIN_MTIME`]. One time for all files, so `make` sees generated files
    /// (configure, Makefile.in) as up to date, whatever order git wrote them.
    pub mtime: u64,
}

impl GitCheckoutSource {
    /// Whether the repository is reached over SSH (BuildKit then needs the
    /// client's forwarded agent, `git.mountsshsock`).
    pub fn is_ssh(&self) -> bool {
        self.repository.starts_with("ssh://") || scp_like(&self.repository)
    }
}

/// `uses: git-checkout` with its inputs bound (`inputs.*` in `vars`) as a
/// native source, or `None` to keep the script. Native when:
/// - `repository` is an `http://`, `https://`, `git://` or `ssh://` URL or
///   `git@host:path`, without whitespace or `#` (BuildKit's ref separator);
/// - `expected-commit` is given (40 hex digits: the pin);
/// - at most one of `tag`/`branch`, each a plain ref name;
/// - the history depth is 1, as BuildKit's kept `.git` is shallow: `depth`
///   is `1`, or `unset` without a branch (with a branch and an
///   expected-commit melange fetches the whole history);
/// - `expected-commit-is-branch-tip` is false (it needs the branch's tip on
///   the server at build time), `recurse-submodules` is true or false;
/// - no `cherry-picks`, no `sparse-paths`;
/// - `destination` is relative and stays inside the working directory.
///
/// Ignored natively, as they do not change the tree: `type-hint`, `reason`,
/// `max-retries`/`initial-backoff`/`max-backoff` (BuildKit's own),
/// `shallow-submodules`, `submodule-jobs` (BuildKit's submodules are
/// shallow).
pub fn native_git_checkout(
    vars: &Vars,
    env_epoch: Option<&str>,
    working_directory: &str,
) -> Option<NativeSource> {
    let input = |name: &str| {
        vars.get(&format!("inputs.{name}"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let repository = input("repository");
    if !transport_supported(&repository) {
        return None;
    }
    let commit = input("expected-commit").to_ascii_lowercase();
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let reference = match (input("tag"), input("branch")) {
        (tag, branch) if branch.is_empty() && !tag.is_empty() => GitRef::Tag(ref_name(tag)?),
        (tag, branch) if tag.is_empty() && !branch.is_empty() => GitRef::Branch(ref_name(branch)?),
        (tag, branch) if tag.is_empty() && branch.is_empty() => GitRef::Commit,
        _ => return None,
    };
    match (input("depth").as_str(), &reference) {
        ("1", _) => {}
        ("unset" | "", GitRef::Tag(_) | GitRef::Commit) => {}
        _ => return None,
    }
    if boolean(&input("expected-commit-is-branch-tip"))? {
        return None;
    }
    let recurse_submodules = boolean(&input("recurse-submodules"))?;
    if !input("sparse-paths").is_empty() || has_cherry_picks(&input("cherry-picks")) {
        return None;
    }
    let destination = super::sources::relative_dir(&input("destination"))?;
    let tag_check = match &reference {
        GitRef::Tag(_)
            if repository.starts_with("http://") || repository.starts_with("https://") =>
        {
            TagCheck::Http
        }
        _ => TagCheck::None,
    };
    let epoch = env_epoch.and_then(|e| e.trim().parse::<u64>().ok());
    Some(NativeSource::GitCheckout(GitCheckoutSource {
        repository,
        commit,
        reference,
        tag_check,
        destination,
        into: working_directory.to_string(),
        recurse_submodules,
        peeled: None,
        mtime: epoch.unwrap_or(0).max(MIN_MTIME),
    }))
}

/// The URL forms BuildKit's Git source accepts as a full URL.
fn transport_supported(repository: &str) -> bool {
    if repository.is_empty()
        || repository.contains('#')
        || repository
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    let with_host = |scheme: &str| {
        repository
            .strip_prefix(scheme)
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
    };
    ["http://", "https://", "git://", "ssh://"]
        .iter()
        .any(|scheme| with_host(scheme))
        || scp_like(repository)
}

/// `git@host:path`, the scp-like SSH form (BuildKit knows it by `git@`).
fn scp_like(repository: &str) -> bool {
    repository
        .strip_prefix("git@")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(host, path)| !host.is_empty() && !path.is_empty() && !host.contains('/'))
}

/// A tag or branch name as BuildKit can pass it on: git's ref name rules
/// (no `..`, no `@{`, none of ` ~^:?*[\`, no leading `-` or `/`, no
/// trailing `/`, `.` or `.lock`).
fn ref_name(name: String) -> Option<String> {
    let bad_char = |c: char| c.is_control() || " ~^:?*[\\".contains(c);
    let ok = !name.is_empty()
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("@{")
        && !name.contains("//")
        && !name.contains("/.")
        && !name.chars().any(bad_char);
    ok.then_some(name)
}

/// The script's `as_bool`: `true`/`True`/`TRUE` and the same for false;
/// anything else keeps the script (which reports it).
fn boolean(value: &str) -> Option<bool> {
    match value {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Whether `cherry-picks` lists anything once comments and blank lines are
/// dropped (as the script reads it).
fn has_cherry_picks(text: &str) -> bool {
    text.lines()
        .any(|line| !line.split('#').next().unwrap_or_default().trim().is_empty())
}

#[cfg(test)]
#[path = "git_tests.rs"]
mod tests;
