//! Which downloads the `melange-cache` named context already holds: before
//! compiling, the files a native fetch could use (`sha256:<hex>`,
//! `sha512:<hex>` at its top) are looked up there — for a local directory
//! only those names are transferred — so the LLB can take the file from
//! the cache instead of an HTTP source (llb/cachefile.rs), as melange does.

use std::collections::BTreeSet;

use futures_util::future::join_all;

use super::bridge::{gateway_caps, Bridge, Capabilities};
use super::pipelines::Context;
use super::{Failure, FAILED_PRECONDITION};
use crate::llb::cachefile;
use crate::llb::{ContextSource, Graph, LocalOptions, OpInfo};
use crate::plan::sources::NativeSource;
use crate::plan::BuildPlan;

/// Go's `os.ModeType` bits in a `fsutil.types.Stat` mode: none set is a
/// regular file.
const MODE_TYPE: u32 = 0x8F28_0000;

/// The cache files of `cache` that `plan`'s native fetches could use.
pub(super) async fn cached_downloads(
    bridge: &Bridge,
    caps: &Capabilities,
    context: &Context<'_>,
    cache: Option<&ContextSource>,
    plan: &BuildPlan,
) -> Result<BTreeSet<String>, Failure> {
    let wanted = cachefile::wanted(plan.steps.iter().filter_map(|step| match &step.source {
        Some(NativeSource::Fetch(fetch)) => Some(fetch),
        _ => None,
    }));
    let Some(cache) = cache else {
        return Ok(BTreeSet::new());
    };
    if wanted.is_empty() {
        return Ok(BTreeSet::new());
    }
    if !caps.gateway.contains(gateway_caps::STAT_FILE) {
        tracing::warn!("BuildKit cannot stat files; melange-cache is not used for native fetches");
        return Ok(BTreeSet::new());
    }
    let mut graph = Graph::new(context.platform.clone(), context.caps.clone());
    let state = match cache {
        ContextSource::Local(name) => {
            let options = LocalOptions {
                session_id: context.session_id.map(str::to_string),
                shared_key_hint: Some(format!("{name}:lookup")),
                include_patterns: wanted.iter().cloned().collect(),
                ..Default::default()
            };
            let label = format!("look for {} download(s) in melange-cache", wanted.len());
            graph.local(name, &options, OpInfo::named(label))
        }
        ContextSource::Image(reference) => graph.image(
            reference,
            OpInfo::named(format!("melange cache dir: {reference}")),
        ),
        ContextSource::Input(definition) => graph.import(definition),
        ContextSource::Scratch => return Ok(BTreeSet::new()),
    }
    .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    let reference = bridge.solve(graph.finish(&state)).await?;
    let reference = &reference;
    let stats = join_all(wanted.into_iter().map(|name| async move {
        let stat = bridge.stat_file(reference, &name).await;
        (name, stat)
    }))
    .await;
    let mut found = BTreeSet::new();
    for (name, stat) in stats {
        if stat?.is_some_and(|stat| stat.mode & MODE_TYPE == 0) {
            tracing::info!(%name, "download found in melange-cache");
            found.insert(name);
        }
    }
    Ok(found)
}
