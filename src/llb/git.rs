//! The LLB of a native `uses: git-checkout` (plan/git.rs):
//!
//! 1. a Git source at the expected commit with its `.git` kept
//!    (`git.keepgitdir`), plus BuildKit's auth attrs: the secrets
//!    `GIT_AUTH_TOKEN` / `GIT_AUTH_HEADER` for HTTP(S) remotes and the
//!    forwarded SSH agent `default` for SSH remotes, as the Dockerfile
//!    frontend sets them (each only when the daemon announces its cap);
//! 2. `check out <repository> ([k/N] <step>)`: the frontend's own binary
//!    (`git-checkout`) over that checkout, mounted writable: it checks
//!    `HEAD` is the commit and leaves the tree as melange's script does
//!    (branch or tag ref, `origin` URL, one mtime), with no network: the
//!    tag was checked against the server before the build
//!    (`gateway/gittags.rs`);
//! 3. `[k/N] <step>`: a copy of the result into `<working dir>/<destination>`.
//!
//! Steps 1–2 do not depend on the workspace, so BuildKit fetches every
//! source in parallel with the steps before it. The commit is the Git
//! source's ref, so its cache key is the commit: a warm rebuild does not
//! contact the server.

use std::collections::{BTreeMap, BTreeSet};

use super::caps::*;
use super::graph::{Graph, LlbError, OpInfo, State};
use super::helper::helper_exec;
use super::ops::Mount;
use crate::plan::git::{GitCheckoutSource, GitRef};
use crate::plan::PlannedStep;
use crate::proto::pb;

/// The helper subcommand that checks and lays out a checkout.
pub const GIT_CHECKOUT_SUBCOMMAND: &str = "git-checkout";
/// Where the checkout is mounted (writable) in the helper step.
const TREE_DIR: &str = "/checkout";
/// The secret BuildKit reads a token for HTTP(S) remotes from.
pub const AUTH_TOKEN_SECRET: &str = "GIT_AUTH_TOKEN";
/// The secret BuildKit reads a whole `Authorization` header from.
pub const AUTH_HEADER_SECRET: &str = "GIT_AUTH_HEADER";
/// The client's SSH agent forward BuildKit mounts for SSH remotes
/// (`--ssh default`).
pub const SSH_SOCK_ID: &str = "default";

/// Options of a Git source. The optional ones are dropped on a daemon that
/// does not announce their cap: BuildKit would reject the op otherwise, and
/// without them a public repository still works (a private one then fails
/// with git's own authentication error), submodules are still fetched.
#[derive(Debug, Clone, Default)]
pub struct GitOptions {
    /// Keep the `.git` directory (a shallow clone at the ref).
    pub keep_git_dir: bool,
    /// Secret holding a token for HTTP(S) remotes (`git.authtokensecret`;
    /// BuildKit also tries `<id>.<host>`).
    pub auth_token_secret: Option<String>,
    /// Secret holding a whole `Authorization` header value
    /// (`git.authheadersecret`).
    pub auth_header_secret: Option<String>,
    /// SSH agent socket forwarded by the client, for SSH remotes
    /// (`git.mountsshsock`).
    pub mount_ssh_sock: Option<String>,
    /// Do not fetch submodules (`git.skipsubmodules`).
    pub skip_submodules: bool,
}

impl Graph {
    /// Git source: `remote` (a full URL) at `reference` (commit, tag or
    /// branch). Optional attrs a daemon does not announce are left out
    /// (documented on [`GitOptions`]).
    pub fn git(
        &mut self,
        remote: &str,
        reference: &str,
        options: &GitOptions,
        info: OpInfo,
    ) -> Result<State, LlbError> {
        let stripped = remote.split_once("://").map_or(remote, |(_, rest)| rest);
        let identifier = if reference.is_empty() {
            format!("git://{stripped}")
        } else {
            format!("git://{stripped}#{reference}")
        };
        let mut attrs = BTreeMap::from([("git.fullurl".to_string(), remote.to_string())]);
        let mut needed = BTreeSet::from([SOURCE_GIT, SOURCE_GIT_FULL_URL]);
        if options.keep_git_dir {
            attrs.insert("git.keepgitdir".to_string(), "true".to_string());
            needed.insert(SOURCE_GIT_KEEP_DIR);
        }
        let caps = self.caps().clone();
        let mut optional = |cap: &'static str, key: &str, value: &str| {
            if caps.supports(cap) {
                attrs.insert(key.to_string(), value.to_string());
                needed.insert(cap);
            }
        };
        if let Some(secret) = &options.auth_token_secret {
            optional(SOURCE_GIT_HTTP_AUTH, "git.authtokensecret", secret);
        }
        if let Some(secret) = &options.auth_header_secret {
            optional(SOURCE_GIT_HTTP_AUTH, "git.authheadersecret", secret);
        }
        if let Some(id) = &options.mount_ssh_sock {
            optional(SOURCE_GIT_MOUNT_SSH_SOCK, "git.mountsshsock", id);
        }
        if options.skip_submodules {
            optional(SOURCE_GIT_SKIP_SUBMODULES, "git.skipsubmodules", "true");
        }
        let source = pb::SourceOp { identifier, attrs };
        let op = self.op(Vec::new(), pb::op::Op::Source(source));
        self.add(op, needed, info)
    }
}

/// The Git source's options for `git`.
pub fn git_options(git: &GitCheckoutSource) -> GitOptions {
    let ssh = git.is_ssh();
    GitOptions {
        keep_git_dir: true,
        auth_token_secret: (!ssh).then(|| AUTH_TOKEN_SECRET.to_string()),
        auth_header_secret: (!ssh).then(|| AUTH_HEADER_SECRET.to_string()),
        mount_ssh_sock: ssh.then(|| SSH_SOCK_ID.to_string()),
        skip_submodules: !git.recurse_submodules,
    }
}

/// The helper's arguments for `git`.
pub fn helper_args(git: &GitCheckoutSource) -> Vec<String> {
    let mut args = vec![
        GIT_CHECKOUT_SUBCOMMAND.to_string(),
        "--tree".into(),
        TREE_DIR.into(),
        "--repository".into(),
        git.repository.clone(),
        "--commit".into(),
        git.commit.clone(),
        "--mtime".into(),
        git.mtime.to_string(),
    ];
    match &git.reference {
        GitRef::Tag(tag) => args.extend(["--tag".to_string(), tag.clone()]),
        GitRef::Branch(branch) => args.extend(["--branch".to_string(), branch.clone()]),
        GitRef::Commit => {}
    }
    if let Some(peeled) = &git.peeled {
        args.extend(["--peeled".to_string(), peeled.clone()]);
    }
    if !git.recurse_submodules {
        args.push("--no-submodules".into());
    }
    args
}

/// `step` (a native `git-checkout`) on top of `root`; `helper` is the
/// frontend's own image.
pub(super) fn git_checkout_step(
    graph: &mut Graph,
    step: &PlannedStep,
    git: &GitCheckoutSource,
    root: State,
    helper: State,
) -> Result<State, LlbError> {
    let what = match &git.reference {
        GitRef::Tag(tag) => format!("tag {tag}"),
        GitRef::Branch(branch) => format!("branch {branch}"),
        GitRef::Commit => "commit".to_string(),
    };
    // BuildKit's errors (an unknown commit, a refused fetch) show under this
    // name: it says which repository and which commit.
    let source = graph.git(
        &git.repository,
        &git.commit,
        &git_options(git),
        OpInfo::named(format!(
            "git {} {what} (expected-commit {})",
            git.repository, git.commit
        ))
        .at(step.line),
    )?;
    let exec = helper_exec(
        helper,
        helper_args(git),
        vec![Mount::Bind {
            dest: TREE_DIR.into(),
            source,
            selector: None,
            readonly: false,
        }],
    );
    let info = OpInfo {
        // Not `[k/N] …`: the numbered name is the step's own, on the copy.
        name: Some(format!("check out {} ({})", git.repository, step.name)),
        lines: vec![step.line],
        ..Default::default()
    };
    let into = git.into.trim_end_matches('/');
    let dest = match git.destination.as_str() {
        "" => format!("{into}/"),
        dir => format!("{into}/{dir}/"),
    };
    super::sources::run_and_copy_into(graph, exec, info, step, &root, dest)
}
