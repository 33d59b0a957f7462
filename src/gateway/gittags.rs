//! The tag check of native `git-checkout` steps, done before the build:
//! BuildKit fetches each repository's ref advertisement
//! (`<repository>/info/refs?service=git-upload-pack`) as an HTTP source, in
//! the daemon's own network, and the frontend reads it back and checks the
//! tag against `expected-commit` (`plan/gitrefs.rs`).
//!
//! Why not in a build step: a step runs in its own network namespace, where
//! a server on the host's loopback is out of reach, and a step that asks
//! the server would either re-run every build or cache a stale answer. Here
//! the checkout's cache key stays the commit alone:
//!
//! - a wrong or missing tag fails the build, naming repository, tag, the
//!   expected and the actual commit;
//! - a server that cannot be read (gone, as on a warm rebuild offline, or
//!   wanting credentials, which only the Git source gets) leaves the tag
//!   unchecked: the build goes on with the pinned commit and shows a
//!   `WARNING: …` vertex saying why.

use super::bridge::Bridge;
use super::pipelines::Context;
use super::{Failure, FAILED_PRECONDITION};
use crate::llb::{FileAction, Graph, HttpOptions, OpInfo};
use crate::plan::git::{GitCheckoutSource, GitRef, TagCheck};
use crate::plan::gitrefs::{check_tag, parse_advertisement, refs_url, TagVerdict};
use crate::plan::sources::NativeSource;
use crate::plan::BuildPlan;

/// The file name the advertisement is saved as.
const REFS_FILE: &str = "info-refs";
/// Largest advertisement read (a repository with very many tags is a few MiB).
const MAX_REFS: usize = 64 << 20;

/// Check the tag of every native `git-checkout` whose server speaks HTTP;
/// records an annotated tag object's commit in the plan (`peeled`).
pub(super) async fn check(
    bridge: &Bridge,
    context: &Context<'_>,
    plan: &mut BuildPlan,
) -> Result<(), Failure> {
    for step in &mut plan.steps {
        let Some(NativeSource::GitCheckout(git)) = &mut step.source else {
            continue;
        };
        let GitRef::Tag(tag) = &git.reference else {
            continue;
        };
        if git.tag_check != TagCheck::Http {
            continue;
        }
        let tag = tag.clone();
        match read_refs(bridge, context, &git.repository, &tag).await {
            Ok(body) => check_one(git, &tag, &body)?,
            Err(reason) => warn(bridge, context, &unchecked(git, &tag, &reason)).await?,
        }
    }
    Ok(())
}

/// Apply the verdict on `body` (the advertisement) to `git`.
fn check_one(git: &mut GitCheckoutSource, tag: &str, body: &[u8]) -> Result<(), Failure> {
    let failed = |message: String| Failure::new(FAILED_PRECONDITION, message);
    let refs = parse_advertisement(body).map_err(|e| {
        failed(format!(
            "git-checkout: the refs {} sent: {e}",
            refs_url(&git.repository)
        ))
    })?;
    match check_tag(&refs, &git.repository, tag, &git.commit).map_err(failed)? {
        TagVerdict::AsExpected => {
            tracing::info!(repository = %git.repository, %tag, commit = %git.commit, "tag as expected");
        }
        TagVerdict::TagObject { commit } => {
            tracing::warn!(
                repository = %git.repository, %tag, %commit,
                "expected-commit is the annotated tag object; the checkout is its commit"
            );
            git.peeled = Some(commit);
        }
    }
    Ok(())
}

/// The warning shown when the server's refs could not be read.
fn unchecked(git: &GitCheckoutSource, tag: &str, reason: &str) -> String {
    let why = if reason.contains("status 401") || reason.contains("status 403") {
        "the server wants credentials to list its refs (only the Git source gets the \
         GIT_AUTH_TOKEN / GIT_AUTH_HEADER secrets)"
            .to_string()
    } else {
        format!("its refs could not be read ({})", one_line(reason))
    };
    format!(
        "WARNING: git-checkout: tag {tag} of {} is not checked: {why}; the checkout is \
         expected-commit {}",
        git.repository, git.commit
    )
}

/// `text` on one line, at most 300 characters.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(300)
        .collect()
}

/// The advertisement's bytes, or why BuildKit could not fetch them.
async fn read_refs(
    bridge: &Bridge,
    context: &Context<'_>,
    repository: &str,
    tag: &str,
) -> Result<Vec<u8>, String> {
    let url = refs_url(repository);
    let mut graph = Graph::new(context.platform.clone(), context.caps.clone());
    if context.options.no_cache {
        graph.ignore_cache_everywhere();
    }
    let options = HttpOptions {
        filename: Some(REFS_FILE.to_string()),
        ..Default::default()
    };
    let name = format!("read the refs of {repository} (check tag {tag})");
    let state = graph
        .http(&url, &options, OpInfo::named(name))
        .map_err(|e| e.to_string())?;
    let reference = bridge
        .solve(graph.finish(&state))
        .await
        .map_err(|e| e.message().to_string())?;
    bridge
        .read_file_chunked(&reference, REFS_FILE, MAX_REFS)
        .await
        .map_err(|e| e.message().to_string())
}

/// Show `message` as a vertex of its own, `ignore_cache` so it shows on
/// every build (every engine shows vertex names; BuildKit 0.8 has no other
/// way for a frontend to warn).
async fn warn(bridge: &Bridge, context: &Context<'_>, message: &str) -> Result<(), Failure> {
    tracing::warn!("{message}");
    let mut graph = Graph::new(context.platform.clone(), context.caps.clone());
    let info = OpInfo {
        name: Some(message.to_string()),
        ignore_cache: true,
        ..Default::default()
    };
    let action = FileAction::Mkfile {
        path: "/warning".into(),
        mode: 0o644,
        data: message.as_bytes().to_vec(),
    };
    let state = graph
        .file(&crate::llb::State::scratch(), vec![action], info)
        .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    // A solved ref is built only when something reads it: the vertex (and
    // so the warning) shows when the file is read.
    let reference = bridge.solve(graph.finish(&state)).await?;
    bridge.read_file(&reference, "warning").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::git::MIN_MTIME;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    fn source() -> GitCheckoutSource {
        GitCheckoutSource {
            repository: "http://127.0.0.1:1/r.git".into(),
            commit: B.into(),
            reference: GitRef::Tag("v1".into()),
            tag_check: TagCheck::Http,
            destination: String::new(),
            into: "/home/build".into(),
            recurse_submodules: false,
            peeled: None,
            mtime: MIN_MTIME,
        }
    }

    #[test]
    fn verdicts_reach_the_plan() {
        let body = format!("{B}\trefs/tags/v1\n{A}\trefs/tags/v1^{{}}\n");
        let mut git = source();
        check_one(&mut git, "v1", body.as_bytes()).unwrap();
        assert_eq!(git.peeled.as_deref(), Some(A));
        git.commit = A.into();
        git.peeled = None;
        check_one(&mut git, "v1", body.as_bytes()).unwrap();
        assert_eq!(git.peeled, None);
        let err = check_one(&mut git, "v2", body.as_bytes()).unwrap_err();
        assert!(err.0.message.contains("has no tag v2"), "{}", err.0.message);
        let err = check_one(&mut git, "v1", b"<html>\n").unwrap_err();
        assert!(
            err.0
                .message
                .contains("info/refs?service=git-upload-pack sent"),
            "{}",
            err.0.message
        );
    }

    #[test]
    fn unreadable_refs_say_why() {
        let git = source();
        let auth = unchecked(
            &git,
            "v1",
            "failed to load cache key: invalid response status 401",
        );
        assert!(auth.contains("wants credentials"), "{auth}");
        assert!(auth.starts_with("WARNING: git-checkout: tag v1 of http://127.0.0.1:1/r.git"));
        let gone = unchecked(
            &git,
            "v1",
            "dial tcp 127.0.0.1:1:\n connect: connection refused",
        );
        assert!(
            gone.contains("(dial tcp 127.0.0.1:1: connect: connection refused)"),
            "{gone}"
        );
        assert!(gone.ends_with(&format!("the checkout is expected-commit {B}")));
    }
}
