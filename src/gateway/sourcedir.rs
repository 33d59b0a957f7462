//! The source dir (plan/sourcedir.rs) from the build context: before
//! compiling, one small transfer tells whether the candidate folder exists
//! (the `MELANGE_SOURCE_DIR` build-arg, else `./<package name>/`, Wolfi's
//! layout) and brings the `.melangeignore` that applies and the declared
//! signing public key (gateway/signing.rs), nothing else.

use super::bridge::{gateway_caps, Bridge, Capabilities};
use super::pipelines::{self, Context};
use super::{Failure, INVALID_ARGUMENT};
use crate::llb::caps;
use crate::plan::sourcedir::{self, SourceDir, IGNORE_FILE, SOURCE_DIR_ARG};

/// Go's `os.ModeDir` in a `fsutil.types.Stat` mode.
const MODE_DIR: u32 = 1 << 31;

/// The one transfer that answers the source-dir question (and brings the
/// declared public key along): what was asked, and the solved ref.
pub(super) struct Lookup {
    /// The solved context subset.
    pub reference: String,
    /// `MELANGE_SOURCE_DIR` as given (`Some(None)`: the whole context).
    given: Option<Option<String>>,
    /// The folder looked for.
    candidate: Option<String>,
}

/// Transfer, from the build context, the candidate source folder of a
/// build of `package` without its contents (to see it exists), the ignore
/// files that may apply and the `extra` files (the declared public key).
pub(super) async fn lookup(
    bridge: &Bridge,
    context: &Context<'_>,
    package: &str,
    extra: &[String],
) -> Result<Lookup, Failure> {
    let given = sourcedir::source_dir_arg(&context.options.build)
        .map_err(|m| Failure::new(INVALID_ARGUMENT, m))?;
    let candidate = match &given {
        Some(dir) => dir.clone(),
        None => sourcedir::default_dir_name(package),
    };
    let mut include = vec![IGNORE_FILE.to_string()];
    let mut exclude = Vec::new();
    if let Some(dir) = &candidate {
        include.push(dir.clone());
        // Without exclude patterns (no known engine lacks them) the folder
        // comes whole: slower, same answer.
        if context.caps.supports(caps::SOURCE_LOCAL_EXCLUDE_PATTERNS) {
            exclude.push(format!("{dir}/*"));
            exclude.push(format!("!{}", SourceDir::ignore_file(Some(dir))));
            exclude.extend(extra.iter().map(|file| format!("!{file}")));
        }
    }
    include.extend(extra.iter().cloned());
    let mut wanted: Vec<String> = candidate
        .iter()
        .map(|d| format!("source dir {d}"))
        .collect();
    wanted.push(IGNORE_FILE.to_string());
    wanted.extend(extra.iter().cloned());
    let label = format!("look for {}", wanted.join(", "));
    let reference =
        pipelines::solve_filtered(bridge, context, include, exclude, "source-dir", label).await?;
    Ok(Lookup {
        reference,
        given,
        candidate,
    })
}

/// The source dir: the build-arg's folder (which must exist), else
/// `./<package>/` when the context has it, else the whole context; with
/// that folder's `.melangeignore` rules. The stat and both possible ignore
/// files are asked at once.
pub(super) async fn resolve(
    bridge: &Bridge,
    caps: &Capabilities,
    lookup: &Lookup,
) -> Result<SourceDir, Failure> {
    let reference = lookup.reference.as_str();
    let candidate = &lookup.candidate;
    let found = async {
        match candidate {
            Some(dir) => is_dir(bridge, caps, reference, dir).await,
            None => Ok(false),
        }
    };
    let in_dir = async {
        match candidate {
            Some(dir) => Some(read_ignore(bridge, reference, Some(dir)).await),
            None => None,
        }
    };
    let at_root = read_ignore(bridge, reference, None);
    let (found, in_dir, at_root) = tokio::join!(found, in_dir, at_root);
    let found = found?;
    let (dir, ignore_text) = match (&lookup.given, found) {
        (Some(Some(dir)), false) => {
            return Err(Failure::new(
                INVALID_ARGUMENT,
                format!("build-arg {SOURCE_DIR_ARG}={dir}: no such folder in the build context"),
            ))
        }
        (_, true) => (candidate.clone(), in_dir.unwrap_or(Ok(None))?),
        (_, false) => (None, at_root?),
    };
    let source = SourceDir::new(dir, ignore_text.as_deref());
    tracing::info!(dir = ?source.dir, excludes = source.excludes.len(), "source dir");
    Ok(source)
}

/// The ignore file of `dir` (or of the context root), if there is one.
async fn read_ignore(
    bridge: &Bridge,
    reference: &str,
    dir: Option<&str>,
) -> Result<Option<String>, Failure> {
    let ignore_file = SourceDir::ignore_file(dir);
    match bridge.read_file(reference, &ignore_file).await {
        Ok(bytes) => Ok(Some(String::from_utf8(bytes).map_err(|_| {
            Failure::new(INVALID_ARGUMENT, format!("{ignore_file}: not UTF-8 text"))
        })?)),
        Err(status) => {
            tracing::debug!(file = %ignore_file, message = %status.message(), "no ignore file");
            Ok(None)
        }
    }
}

/// Whether `path` is a folder of the solved ref. Without StatFile (no known
/// engine lacks it) the folder is not seen: the whole context is used.
async fn is_dir(
    bridge: &Bridge,
    caps: &Capabilities,
    reference: &str,
    path: &str,
) -> Result<bool, Failure> {
    if !caps.gateway.contains(gateway_caps::STAT_FILE) {
        tracing::warn!("BuildKit cannot stat files; the whole context is the source dir");
        return Ok(false);
    }
    let stat = bridge.stat_file(reference, path).await?;
    Ok(stat.is_some_and(|stat| stat.mode & MODE_DIR != 0))
}
