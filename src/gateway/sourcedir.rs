//! The source dir (plan/sourcedir.rs) from the build context: before
//! compiling, one small transfer tells whether the candidate folder exists
//! (the `MELANGE_SOURCE_DIR` build-arg, else `./<package name>/`, Wolfi's
//! layout) and brings the `.melangeignore` that applies, nothing else.

use super::bridge::{gateway_caps, Bridge, Capabilities};
use super::pipelines::{self, Context};
use super::{Failure, INVALID_ARGUMENT};
use crate::llb::caps;
use crate::plan::sourcedir::{self, SourceDir, IGNORE_FILE, SOURCE_DIR_ARG};

/// Go's `os.ModeDir` in a `fsutil.types.Stat` mode.
const MODE_DIR: u32 = 1 << 31;

/// The source dir of a build of `package`: the build-arg's folder (which
/// must exist), else `./<package>/` when the context has it, else the whole
/// context; with that folder's `.melangeignore` rules.
pub(super) async fn resolve(
    bridge: &mut Bridge,
    caps: &Capabilities,
    context: &Context<'_>,
    package: &str,
) -> Result<SourceDir, Failure> {
    let given = sourcedir::source_dir_arg(&context.options.build)
        .map_err(|m| Failure::new(INVALID_ARGUMENT, m))?;
    let candidate = match &given {
        Some(dir) => dir.clone(),
        None => sourcedir::default_dir_name(package),
    };
    // One transfer: the candidate folder without its contents (to see it
    // exists) and the ignore files that may apply.
    let mut include = vec![IGNORE_FILE.to_string()];
    let mut exclude = Vec::new();
    if let Some(dir) = &candidate {
        include.push(dir.clone());
        // Without exclude patterns (no known engine lacks them) the folder
        // comes whole: slower, same answer.
        if context.caps.supports(caps::SOURCE_LOCAL_EXCLUDE_PATTERNS) {
            exclude.push(format!("{dir}/*"));
            exclude.push(format!("!{}", SourceDir::ignore_file(Some(dir))));
        }
    }
    let label = match &candidate {
        Some(dir) => format!("look for source dir {dir} and {IGNORE_FILE}"),
        None => format!("look for {IGNORE_FILE}"),
    };
    let reference =
        pipelines::solve_filtered(bridge, context, include, exclude, "source-dir", label).await?;
    let found = match &candidate {
        Some(dir) => is_dir(bridge, caps, &reference, dir).await?,
        None => false,
    };
    let dir = match (&given, found) {
        (Some(Some(dir)), false) => {
            return Err(Failure::new(
                INVALID_ARGUMENT,
                format!("build-arg {SOURCE_DIR_ARG}={dir}: no such folder in the build context"),
            ))
        }
        (_, true) => candidate,
        (_, false) => None,
    };
    let ignore_file = SourceDir::ignore_file(dir.as_deref());
    let ignore_text = match bridge.read_file(&reference, &ignore_file).await {
        Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| {
            Failure::new(INVALID_ARGUMENT, format!("{ignore_file}: not UTF-8 text"))
        })?),
        Err(status) => {
            tracing::debug!(file = %ignore_file, message = %status.message(), "no ignore file");
            None
        }
    };
    let source = SourceDir::new(dir, ignore_text.as_deref());
    tracing::info!(dir = ?source.dir, excludes = source.excludes.len(), "source dir");
    Ok(source)
}

/// Whether `path` is a folder of the solved ref. Without StatFile (no known
/// engine lacks it) the folder is not seen: the whole context is used.
async fn is_dir(
    bridge: &mut Bridge,
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
