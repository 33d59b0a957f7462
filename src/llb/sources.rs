//! The LLB of native sources (plan/sources.rs): a `uses: fetch` becomes
//!
//! 1. an HTTP source op, `http.checksum = sha256:<hex>` when the build file
//!    gave `expected-sha256` (BuildKit verifies the download, and the
//!    checksum is the cache key: a warm rebuild does not contact the server),
//! 2. `unpack <file> ([k/N] <step>)`: the frontend's own binary (`extract`)
//!    with the download mounted read-only and no network, verifying what
//!    BuildKit did not (SHA-512; SHA-256 on a daemon without
//!    `source.http.checksum`) and writing the working directory's new
//!    contents into an empty output,
//! 3. `[k/N] <step>`: a copy of that output into the step's working
//!    directory on the previous step's filesystem.
//!
//! Steps 1–2 do not depend on the workspace, so BuildKit fetches and unpacks
//! every source in parallel with the steps before it.

use super::caps;
use super::graph::{Graph, LlbError, OpInfo, State};
use super::helper::{helper_exec, output_mount};
use super::ops::{Exec, FileAction, HttpOptions, Mount};
use crate::plan::sources::{Digest, FetchSource, NativeSource};
use crate::plan::PlannedStep;

/// The helper subcommand that verifies and unpacks a download.
pub const EXTRACT_SUBCOMMAND: &str = "extract";
/// Where the download is mounted in the unpack step.
const DOWNLOAD_DIR: &str = "/download";
/// The unpack step's output: the working directory's new contents.
const UNPACKED_DIR: &str = "/unpacked";

/// `step` (which has a native source) on top of `root`; `helper` is the
/// frontend's own image; `cached`, the file from the `melange-cache`
/// context to use instead of downloading (llb/cachefile.rs).
pub(super) fn native_step(
    graph: &mut Graph,
    step: &PlannedStep,
    source: &NativeSource,
    root: State,
    helper: State,
    cached: Option<State>,
) -> Result<State, LlbError> {
    match source {
        NativeSource::Fetch(fetch) => fetch_step(graph, step, fetch, root, helper, cached),
        NativeSource::GitCheckout(git) => {
            super::git::git_checkout_step(graph, step, git, root, helper)
        }
    }
}

fn fetch_step(
    graph: &mut Graph,
    step: &PlannedStep,
    fetch: &FetchSource,
    root: State,
    helper: State,
    cached: Option<State>,
) -> Result<State, LlbError> {
    // Without the checksum cap (no known engine lacks it) BuildKit
    // downloads unverified and the helper checks the SHA-256 itself; so it
    // does for a cached copy, which BuildKit did not download.
    let by_buildkit = graph.caps().supports(caps::SOURCE_HTTP_CHECKSUM) && cached.is_none();
    let checksum = fetch.digest.buildkit_checksum().filter(|_| by_buildkit);
    let download = match cached {
        Some(file) => file,
        None => graph.http(
            &fetch.uri,
            &HttpOptions {
                checksum: checksum.clone(),
                filename: Some(fetch.file_name.clone()),
                mode: None,
            },
            // BuildKit's mismatch error is `digest mismatch <actual>:
            // <expected>` under this name: naming the URL and the expected
            // digest here makes the failure say which file and which is which.
            OpInfo::named(match &checksum {
                Some(checksum) => format!("fetch {} (expected {checksum})", fetch.uri),
                None => format!("fetch {}", fetch.uri),
            })
            .at(step.line),
        )?,
    };
    let mut args = vec![
        EXTRACT_SUBCOMMAND.to_string(),
        "--file".into(),
        format!("{DOWNLOAD_DIR}/{}", fetch.file_name),
        "--uri".into(),
        fetch.uri.clone(),
        "--out".into(),
        UNPACKED_DIR.into(),
    ];
    match &fetch.digest {
        Digest::Sha256(hex) if checksum.is_none() => {
            args.extend(["--sha256".to_string(), hex.clone()])
        }
        Digest::Sha512(hex) => args.extend(["--sha512".to_string(), hex.clone()]),
        _ => {}
    }
    if fetch.extract {
        args.extend([
            "--extract".to_string(),
            "--strip-components".into(),
            fetch.strip_components.to_string(),
            "--directory".into(),
            fetch.directory.clone(),
        ]);
    }
    if fetch.delete {
        args.push("--delete".into());
    }
    let exec = helper_exec(
        helper,
        args,
        vec![
            Mount::Bind {
                dest: DOWNLOAD_DIR.into(),
                source: download,
                selector: None,
                readonly: true,
            },
            output_mount(UNPACKED_DIR),
        ],
    );
    let what = if fetch.extract { "unpack" } else { "verify" };
    let info = OpInfo {
        // Not `[k/N] …`: the numbered name is the step's own, on the copy.
        name: Some(format!("{what} {} ({})", fetch.file_name, step.name)),
        lines: vec![step.line],
        ..Default::default()
    };
    let dest = format!("{}/", fetch.into.trim_end_matches('/'));
    run_and_copy_into(graph, exec, info, step, &root, dest)
}

/// Run `exec` (the helper over a source, with one output mount), then copy
/// that output into `dest` of `root` under the step's own numbered name:
/// the `[k/N]` line is the copy, CACHED exactly when the step's result is.
pub(super) fn run_and_copy_into(
    graph: &mut Graph,
    exec: Exec,
    info: OpInfo,
    step: &PlannedStep,
    root: &State,
    dest: String,
) -> Result<State, LlbError> {
    let output = graph
        .exec(exec, info)?
        .binds
        .into_iter()
        .next()
        .ok_or_else(|| {
            LlbError::InvalidDefinition(format!(
                "{}: the helper step has no output mount",
                step.name
            ))
        })?;
    let copy = FileAction::Copy {
        from: output,
        src: "/".into(),
        dest,
        contents_only: true,
        create_parents: true,
        include: Vec::new(),
        exclude: Vec::new(),
    };
    let info = OpInfo {
        name: Some(step.name.clone()),
        lines: vec![step.line],
        ..Default::default()
    };
    graph.file(root, vec![copy], info)
}
