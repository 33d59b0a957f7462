//! melange's download cache for native fetches: a file named
//! `sha256:<hex>` (or `sha512:<hex>`) at the top of the `melange-cache`
//! named context is used instead of downloading, as melange's fetch does.
//! The gateway checks which such files exist before compiling
//! ([`BuildInputs::cached_downloads`]); the file alone is then the source
//! (a local source sends only it), copied under the name the download
//! would have had, and the helper verifies its digest.

use std::collections::BTreeSet;

use super::compile::{context_state, BuildInputs, ContextSource};
use super::graph::{Graph, LlbError, OpInfo, State};
use super::ops::{FileAction, LocalOptions};
use crate::plan::sources::{Digest, FetchSource};

/// The name a cached copy of `digest` has in the cache dir.
pub fn cache_file_name(digest: &Digest) -> Option<String> {
    match digest {
        Digest::Sha256(hex) => Some(format!("sha256:{hex}")),
        Digest::Sha512(hex) => Some(format!("sha512:{hex}")),
        Digest::None => None,
    }
}

/// Every cache file name the plan's native fetches could use.
pub fn wanted<'a, I: IntoIterator<Item = &'a FetchSource>>(fetches: I) -> BTreeSet<String> {
    fetches
        .into_iter()
        .filter_map(|fetch| cache_file_name(&fetch.digest))
        .collect()
}

/// `/<file name>` holding the cached copy of `fetch`'s file, when the cache
/// has one.
pub(super) fn cached_download(
    graph: &mut Graph,
    inputs: &BuildInputs,
    fetch: &FetchSource,
) -> Result<Option<State>, LlbError> {
    let (Some(cache), Some(name)) = (&inputs.cache, cache_file_name(&fetch.digest)) else {
        return Ok(None);
    };
    if !inputs.cached_downloads.contains(&name) {
        return Ok(None);
    }
    let info = OpInfo::named(format!("load {name} from melange-cache"));
    let source = match cache {
        // Only the one file is sent, so its cache key is that file's.
        ContextSource::Local(local) => {
            let options = LocalOptions {
                session_id: inputs.session_id.clone(),
                shared_key_hint: Some(format!("{local}:{name}")),
                include_patterns: vec![name.clone()],
                ..Default::default()
            };
            graph.local(local, &options, info)?
        }
        other => context_state(graph, other, "melange cache dir", inputs)?,
    };
    let copy = FileAction::Copy {
        from: source,
        src: format!("/{name}"),
        dest: format!("/{}", fetch.file_name),
        contents_only: false,
        create_parents: true,
        include: Vec::new(),
        exclude: Vec::new(),
    };
    let info = OpInfo::named(format!(
        "fetch {} from melange-cache ({name})",
        fetch.file_name
    ));
    graph.file(&State::scratch(), vec![copy], info).map(Some)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use prost::Message;

    use super::super::{compile, CapSet};
    use super::*;
    use crate::config;
    use crate::plan::{self, BuildOptions, ENVIRONMENT_CONTEXT};
    use crate::proto::pb;

    const SHA: &str = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";

    fn compile_with_cache(found: &[&str]) -> pb::Definition {
        let text = format!(
            "package: {{name: hello, version: '2.10', epoch: 0}}\npipeline:\n  - uses: fetch\n    with:\n      uri: https://ftp.gnu.org/gnu/hello/hello-2.10.tar.gz\n      expected-sha256: {SHA}\n"
        );
        let config = config::load("package.yaml", &text).unwrap();
        let options = BuildOptions {
            named_contexts: BTreeMap::from([
                (ENVIRONMENT_CONTEXT.into(), "docker-image://busybox".into()),
                (plan::CACHE_CONTEXT.into(), "local:cachedir".into()),
            ]),
            target: Some("workspace".into()),
            ..Default::default()
        };
        let plan = plan::plan("package.yaml", &config, &options, &plan::Library::new()).unwrap();
        let mut inputs = BuildInputs::offline(
            ContextSource::Image("docker.io/library/busybox:latest".into()),
            "docker.io/library/melange-frontend:dev",
            "package.yaml",
            pb::Platform::default(),
        );
        inputs.cache = Some(ContextSource::Local("cachedir".into()));
        inputs.cached_downloads = found.iter().map(|s| s.to_string()).collect();
        inputs.caps = CapSet::all();
        compile(&plan, &inputs).unwrap()
    }

    fn sources(def: &pb::Definition) -> Vec<pb::SourceOp> {
        def.def
            .iter()
            .filter_map(|b| match pb::Op::decode(b.as_slice()).unwrap().op {
                Some(pb::op::Op::Source(s)) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn extract_args(def: &pb::Definition) -> Vec<String> {
        def.def
            .iter()
            .find_map(|b| match pb::Op::decode(b.as_slice()).unwrap().op {
                Some(pb::op::Op::Exec(e)) => e
                    .meta
                    .map(|m| m.args)
                    .filter(|args| args.get(1).is_some_and(|a| a == "extract")),
                _ => None,
            })
            .expect("the extract exec")
    }

    #[test]
    fn a_cached_copy_replaces_the_download_and_the_helper_verifies_it() {
        let name = format!("sha256:{SHA}");
        let def = compile_with_cache(&[&name]);
        let sources = sources(&def);
        assert!(
            !sources.iter().any(|s| s.identifier.starts_with("https://")),
            "{sources:?}"
        );
        // The cache file alone, besides the whole context the cache dir is seeded from.
        let single = sources
            .iter()
            .find(|s| s.attrs.contains_key("local.includepattern"))
            .expect("the cache file's local source");
        assert_eq!(single.identifier, "local://cachedir");
        assert_eq!(
            single.attrs["local.includepattern"],
            format!("[\"{name}\"]")
        );
        let args = extract_args(&def);
        let at = args.iter().position(|a| a == "--sha256").expect("--sha256");
        assert_eq!(args[at + 1], SHA);
        assert!(args.contains(&"/download/hello-2.10.tar.gz".to_string()));
        let names: Vec<&String> = def
            .metadata
            .values()
            .filter_map(|m| m.description.get("llb.customname"))
            .collect();
        assert!(
            names
                .iter()
                .any(|n| *n == &format!("fetch hello-2.10.tar.gz from melange-cache ({name})")),
            "{names:?}"
        );
    }

    #[test]
    fn without_a_cached_copy_it_is_downloaded() {
        let def = compile_with_cache(&["sha256:other"]);
        let sources = sources(&def);
        let http: Vec<_> = sources
            .iter()
            .filter(|s| s.identifier.starts_with("https://"))
            .collect();
        assert_eq!(http.len(), 1, "{sources:?}");
        assert!(!extract_args(&def).contains(&"--sha256".to_string()));
    }

    #[test]
    fn cache_names_follow_the_digest() {
        assert_eq!(
            cache_file_name(&Digest::Sha512("ab".into())),
            Some("sha512:ab".to_string())
        );
        assert_eq!(cache_file_name(&Digest::None), None);
    }
}
