//! The environment's repositories, read through BuildKit before compiling:
//! each `APKINDEX.tar.gz` (a build-context folder's file, transferred
//! alone, or an HTTP source) and each key (context file or HTTP source) is
//! solved and read back, every index's signature is checked against the
//! keyring, and the world is resolved with apk's solver
//! ([`crate::apk::repository`], the same code as the host `resolve`). The
//! result goes into the plan: the packages to install, in order, with where
//! each file is.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use crate::apk::repository::{self, OpenedIndex, RepositoryRef, Trust};
use crate::apk::Keyring;

use crate::llb::{
    self, context_files, BuildInputs, CapSet, ContextSource, Graph, HttpOptions, OpInfo,
};
use crate::plan::environment::{
    key_name, InstallPackage, Installation, KeyFile, Location, ALLOW_UNTRUSTED_ARG,
};
use crate::plan::{BuildPlan, EnvironmentPlan};
use crate::proto::pb;

use super::bridge::Bridge;
use super::pipelines::{self, Context};
use super::{Failure, FAILED_PRECONDITION, INVALID_ARGUMENT};

/// Largest index or key read (Wolfi's index is tens of MB).
const MAX_FILE: usize = 512 << 20;

/// Resolve `environment`, if the plan has one: the installation to record
/// in it. `named` holds the named contexts its repositories and keys read.
/// Every context is transferred, and every key and index read, at once.
pub(super) async fn resolve(
    bridge: &Bridge,
    context: &Context<'_>,
    named: &BTreeMap<String, ContextSource>,
    environment: Option<&EnvironmentPlan>,
) -> Result<Option<Installation>, Failure> {
    let Some(environment) = environment else {
        return Ok(None);
    };
    resolve_environment(bridge, context, named, environment)
        .await
        .map(Some)
}

async fn resolve_environment(
    bridge: &Bridge,
    context: &Context<'_>,
    named: &BTreeMap<String, ContextSource>,
    env: &EnvironmentPlan,
) -> Result<Installation, Failure> {
    let opened = open_repositories(bridge, context, named, env).await?;
    let packages = resolve_packages(env, &opened.indexes, &env.world)?;
    Ok(Installation {
        packages,
        keys: opened.keys,
        untrusted: opened.untrusted,
        left_to_image: Vec::new(),
    })
}

/// An environment's repositories, read and checked.
pub(super) struct Opened {
    /// The indexes, in configuration order.
    pub indexes: Vec<OpenedIndex>,
    /// The keyring's files, installed at `/etc/apk/keys`.
    pub keys: Vec<KeyFile>,
    /// Indexes used without a verified signature (explicitly allowed).
    pub untrusted: Vec<String>,
}

/// Read the keyring and every repository's index of `env`, each index's
/// signature checked against the keyring.
pub(super) async fn open_repositories(
    bridge: &Bridge,
    context: &Context<'_>,
    named: &BTreeMap<String, ContextSource>,
    env: &EnvironmentPlan,
) -> Result<Opened, Failure> {
    let sources = Sources::new(bridge, context, env, named).await?;
    let index_path = RepositoryRef::index_path(&env.arch);
    let key_reads = join_all(env.keyring.iter().map(|location| {
        let name = key_name(location).to_string();
        let sources = &sources;
        async move {
            let bytes = sources.read(bridge, context, location, &name).await?;
            Ok::<_, Failure>((location, name, bytes))
        }
    }));
    let index_reads = join_all(env.repositories.iter().map(|repository| {
        let location = format!("{}/{index_path}", repository.location);
        let sources = &sources;
        async move {
            sources
                .read(bridge, context, &location, "APKINDEX.tar.gz")
                .await
                .map_err(|Failure(mut status)| {
                    status.message = format!("repository {repository}: {}", status.message);
                    Failure(status)
                })
        }
    }));
    let (key_reads, index_reads) = tokio::join!(key_reads, index_reads);
    let key_reads: Result<Vec<_>, Failure> = key_reads.into_iter().collect();
    let index_reads: Result<Vec<_>, Failure> = index_reads.into_iter().collect();
    let mut keys = Keyring::new();
    let mut key_files = Vec::new();
    for (location, name, bytes) in key_reads? {
        let pem = String::from_utf8(bytes)
            .map_err(|_| invalid(format!("key {location}: not a PEM text file")))?;
        keys.add_pem(&name, &pem)
            .map_err(|e| invalid(format!("key {location}: {e}")))?;
        key_files.push(KeyFile { name, pem });
    }
    let index_bytes = index_reads?;
    let mut indexes: Vec<OpenedIndex> = Vec::new();
    let mut untrusted = Vec::new();
    for (repository, bytes) in env.repositories.iter().zip(index_bytes) {
        let opened = repository::open_index(
            repository,
            &index_path,
            &bytes,
            &keys,
            env.allow_untrusted,
            &env.arch,
        )
        .map_err(|e| {
            let hint = if env.allow_untrusted {
                String::new()
            } else {
                format!(
                    " (keys come from environment.contents.keyring and --build-arg MELANGE_KEYRING; \
                     --build-arg {ALLOW_UNTRUSTED_ARG}=1 skips this check)"
                )
            };
            Failure::new(FAILED_PRECONDITION, format!("{e}{hint}"))
        })?;
        match &opened.trust {
            Trust::Signed { key } => {
                tracing::info!(%repository, %key, records = opened.records.len(), "index verified")
            }
            Trust::Untrusted { reason } => {
                tracing::warn!(%repository, %reason, "UNTRUSTED index used ({ALLOW_UNTRUSTED_ARG}=1)");
                untrusted.push(format!("repository {repository}: {reason}"));
            }
            Trust::Built => {}
        }
        indexes.push(opened);
    }
    Ok(Opened {
        indexes,
        keys: key_files,
        untrusted,
    })
}

/// Resolve `world` over `indexes` (apk's solver): the packages to install,
/// in order, with where each file is.
pub(super) fn resolve_packages(
    env: &EnvironmentPlan,
    indexes: &[OpenedIndex],
    world: &[String],
) -> Result<Vec<InstallPackage>, Failure> {
    let started = std::time::Instant::now();
    let resolution = repository::resolve_world(indexes, world).map_err(|e| {
        Failure::new(
            FAILED_PRECONDITION,
            format!("cannot install the environment ({}):\n{e}", world.join(" ")),
        )
    })?;
    tracing::info!(
        packages = resolution.packages.len(),
        millis = started.elapsed().as_millis() as u64,
        "environment resolved"
    );
    let mut packages = Vec::with_capacity(resolution.packages.len());
    for selected in &resolution.packages {
        let index = indexes
            .get(selected.repository)
            .ok_or_else(|| super::internal("resolution names an unknown repository"))?;
        let record = index
            .records
            .get(selected.record)
            .ok_or_else(|| super::internal("resolution names an unknown index record"))?;
        packages.push(
            InstallPackage::selected(&env.arch, index, record, selected.tag.clone())
                .map_err(invalid)?,
        );
    }
    Ok(packages)
}

/// Folders some package ships where another ships a link (`bin` beside
/// `bin -> usr/bin`): a merge of their layers fails ("cannot copy to
/// non-directory"), so the packages' records are read first (their unpack
/// steps are the build's own, so they run once) and those folders are
/// left out of the layers, to be installed through the link by the finish
/// step.
pub(super) async fn leave_out_covered_folders(
    bridge: &Bridge,
    plan: &mut BuildPlan,
    inputs: &BuildInputs,
) -> Result<(), Failure> {
    let Some(installation) = plan
        .environment
        .as_ref()
        .and_then(|env| env.installation.as_ref())
        .filter(|i| i.packages.len() > 1)
    else {
        return Ok(());
    };
    let ids: Vec<String> = installation.packages.iter().map(|p| p.id()).collect();
    let definition = llb::package_records(plan, inputs)
        .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    let reference = bridge.solve(definition).await?;
    let read = |name: String| {
        let reference = &reference;
        async move {
            let bytes = bridge
                .read_file(reference, &name)
                .await
                .map_err(|e| super::internal(format!("cannot read {name}: {}", e.message())))?;
            Ok::<_, Failure>(String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    let records = join_all(ids.iter().map(|id| async move {
        let (links, installed) =
            tokio::try_join!(read(format!("{id}.links")), read(format!("{id}.installed")))?;
        Ok::<_, Failure>((links, installed))
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>, Failure>>()?;
    let covered = covered_folders(&records);
    if let Some(installation) = plan
        .environment
        .as_mut()
        .and_then(|env| env.installation.as_mut())
    {
        for (package, folders) in installation.packages.iter_mut().zip(covered) {
            if !folders.is_empty() {
                tracing::info!(package = %package.id(), ?folders, "folders under another package's link");
            }
            package.leave_out = folders;
        }
    }
    Ok(())
}

/// Per package (links list, installed record), in install order: the
/// link paths of *other* packages that are, or contain, one of its
/// folders (`F:` lines).
fn covered_folders(records: &[(String, String)]) -> Vec<Vec<String>> {
    let links: Vec<(usize, &str)> = records
        .iter()
        .enumerate()
        .flat_map(|(i, (links, _))| links.lines().filter(|l| !l.is_empty()).map(move |l| (i, l)))
        .collect();
    records
        .iter()
        .enumerate()
        .map(|(i, (_, installed))| {
            let mut covered: Vec<String> = installed
                .lines()
                .filter_map(|l| l.strip_prefix("F:"))
                .flat_map(|folder| {
                    links.iter().filter(move |(owner, link)| {
                        *owner != i
                            && (folder == *link
                                || folder
                                    .strip_prefix(*link)
                                    .is_some_and(|r| r.starts_with('/')))
                    })
                })
                .map(|(_, link)| link.to_string())
                .collect();
            covered.sort();
            covered.dedup();
            covered
        })
        .collect()
}

fn invalid(message: String) -> Failure {
    Failure::new(INVALID_ARGUMENT, message)
}

/// Where a location's bytes are read from: the build context (`None`)
/// or a named context (its name).
type Origin = Option<String>;

/// The context files the repositories and keys need, transferred together
/// (only those files) in one source per context, solved once.
struct Sources {
    refs: BTreeMap<Origin, String>,
    no_cache: bool,
}

impl Sources {
    async fn new(
        bridge: &Bridge,
        context: &Context<'_>,
        env: &EnvironmentPlan,
        named: &BTreeMap<String, ContextSource>,
    ) -> Result<Sources, Failure> {
        let no_cache = context.options.no_cache;
        let solved = join_all(
            context_paths(env)
                .into_iter()
                .map(|(origin, paths)| async move {
                    let reference = match &origin {
                        None => {
                            let label = format!("load {} from the build context", paths.join(", "));
                            pipelines::solve(bridge, context, paths, "repositories", label).await?
                        }
                        Some(name) => {
                            let source = named.get(name).ok_or_else(|| {
                                invalid(format!("named context {name:?} was not given"))
                            })?;
                            let definition = named_definition(
                                name,
                                source,
                                &paths,
                                context.session_id.map(str::to_string),
                                (context.platform, context.caps),
                                no_cache,
                            )?;
                            bridge.solve(definition).await.map_err(|e| {
                                Failure::new(
                                    FAILED_PRECONDITION,
                                    format!("cannot load named context {name}: {}", e.message()),
                                )
                            })?
                        }
                    };
                    Ok::<_, Failure>((origin, reference))
                }),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<_>, Failure>>()?;
        Ok(Sources {
            refs: solved.into_iter().collect(),
            no_cache,
        })
    }

    /// The bytes at `location` (a context path or a URL, fetched as an HTTP
    /// source saved as `file_name`).
    async fn read(
        &self,
        bridge: &Bridge,
        context: &Context<'_>,
        location: &str,
        file_name: &str,
    ) -> Result<Vec<u8>, Failure> {
        let parsed = Location::parse(location).map_err(invalid)?;
        match &parsed {
            Location::Context(path) | Location::Named { path, .. } => {
                let origin = parsed.named_context().map(str::to_string);
                let place = match &origin {
                    None => "the build context".to_string(),
                    Some(name) => format!("named context {name}"),
                };
                let reference = self
                    .refs
                    .get(&origin)
                    .ok_or_else(|| super::internal(format!("{place} not loaded")))?;
                bridge
                    .read_file_chunked(reference, path, MAX_FILE)
                    .await
                    .map_err(|e| {
                        invalid(format!("cannot read {path} from {place}: {}", e.message()))
                    })
            }
            Location::Built(_) => Err(super::internal(format!(
                "{parsed}: the in-solve repository is not read from a location"
            ))),
            Location::Url(url) => {
                let definition = fetch_definition(
                    url,
                    file_name,
                    context.platform,
                    context.caps,
                    self.no_cache,
                )?;
                let reference = bridge.solve(definition).await.map_err(|e| {
                    Failure::new(
                        FAILED_PRECONDITION,
                        format!("cannot fetch {url}: {}", e.message()),
                    )
                })?;
                bridge
                    .read_file_chunked(&reference, file_name, MAX_FILE)
                    .await
                    .map_err(|e| {
                        Failure::new(
                            FAILED_PRECONDITION,
                            format!("cannot read {url}: {}", e.message()),
                        )
                    })
            }
        }
    }
}

/// The context files the indexes and keys are in, by context, sorted.
fn context_paths(env: &EnvironmentPlan) -> BTreeMap<Origin, Vec<String>> {
    let index = RepositoryRef::index_path(&env.arch);
    let mut paths: BTreeMap<Origin, Vec<String>> = BTreeMap::new();
    let locations = env
        .repositories
        .iter()
        .map(|r| format!("{}/{index}", r.location))
        .chain(env.keyring.iter().cloned());
    for location in locations.filter_map(|l| Location::parse(&l).ok()) {
        match &location {
            Location::Context(path) | Location::Named { path, .. } => paths
                .entry(location.named_context().map(str::to_string))
                .or_default()
                .push(path.clone()),
            Location::Url(_) | Location::Built(_) => {}
        }
    }
    for list in paths.values_mut() {
        list.sort();
        list.dedup();
    }
    paths
}

/// The LLB that fetches `url` into `file_name`: an HTTP source, marked
/// ignore-cache under `--no-cache` so the index and keys are fetched again
/// like every other op of the build.
fn fetch_definition(
    url: &str,
    file_name: &str,
    platform: &pb::Platform,
    caps: &CapSet,
    no_cache: bool,
) -> Result<pb::Definition, Failure> {
    let mut graph = Graph::new(platform.clone(), caps.clone());
    if no_cache {
        graph.ignore_cache_everywhere();
    }
    let options = HttpOptions {
        filename: Some(file_name.to_string()),
        ..Default::default()
    };
    let state = graph
        .http(url, &options, OpInfo::named(format!("fetch {url}")))
        .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    Ok(graph.finish(&state))
}

/// The LLB that loads `paths` from the named context `name`.
fn named_definition(
    name: &str,
    source: &ContextSource,
    paths: &[String],
    session_id: Option<String>,
    (platform, caps): (&pb::Platform, &CapSet),
    no_cache: bool,
) -> Result<pb::Definition, Failure> {
    let mut graph = Graph::new(platform.clone(), caps.clone());
    if no_cache {
        graph.ignore_cache_everywhere();
    }
    let label = format!("load {} from named context {name}", paths.join(", "));
    let state = context_files(&mut graph, source, paths, session_id, "repositories", label)
        .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    Ok(graph.finish(&state))
}

#[cfg(test)]
mod tests {
    #[test]
    fn folders_under_another_packages_link_are_found() {
        let records = [
            (
                "bin\nusr/lib64\n".to_string(),
                "P:layout\nF:usr\nF:usr/bin\nR:x\n".to_string(),
            ),
            (
                String::new(),
                "P:tool\nF:bin\nR:tool\nF:bin/sub\nF:binx\nF:usr/lib64/a\n".to_string(),
            ),
            ("bin\n".to_string(), "P:own\nF:bin\n".to_string()),
        ];
        let covered = super::covered_folders(&records);
        assert_eq!(
            covered,
            [
                Vec::<String>::new(),
                vec!["bin".to_string(), "usr/lib64".to_string()],
                // Its own link is no conflict; layout's `bin` is.
                vec!["bin".to_string()],
            ]
        );
    }

    use prost::Message;

    use super::*;
    use crate::apk::repository::RepositoryRef;

    fn ops(definition: &pb::Definition) -> Vec<(pb::Op, bool)> {
        definition
            .def
            .iter()
            .map(|bytes| {
                let op = pb::Op::decode(bytes.as_slice()).unwrap();
                let digest = crate::llb::digest_of(bytes);
                let ignore = definition
                    .metadata
                    .get(&digest)
                    .is_some_and(|m| m.ignore_cache);
                (op, ignore)
            })
            .collect()
    }

    fn source_identifier(op: &pb::Op) -> Option<&str> {
        match &op.op {
            Some(pb::op::Op::Source(source)) => Some(&source.identifier),
            _ => None,
        }
    }

    #[test]
    fn no_cache_fetches_indexes_and_keys_again() {
        let platform = pb::Platform::default();
        let url = "http://127.0.0.1:1/os/x86_64/APKINDEX.tar.gz";
        for no_cache in [false, true] {
            let definition =
                fetch_definition(url, "APKINDEX.tar.gz", &platform, &CapSet::all(), no_cache)
                    .unwrap();
            let ops = ops(&definition);
            let (source, ignore) = ops
                .iter()
                .find(|(op, _)| source_identifier(op).is_some())
                .unwrap();
            assert_eq!(source_identifier(source), Some(url));
            assert_eq!(*ignore, no_cache, "no_cache = {no_cache}");
        }
    }

    #[test]
    fn named_contexts_send_only_the_index_and_keys() {
        let env = EnvironmentPlan {
            arch: "x86_64".into(),
            repositories: vec![
                RepositoryRef::parse("./packages").unwrap(),
                RepositoryRef::parse("@local context://repo/os").unwrap(),
                RepositoryRef::parse("context://repo").unwrap(),
                RepositoryRef::parse("https://example.org/os").unwrap(),
            ],
            keyring: vec![
                "context://keys/melange.rsa.pub".into(),
                "./k.pub".into(),
                "https://example.org/k.pub".into(),
            ],
            world: vec!["busybox".into()],
            allow_untrusted: false,
            users: Vec::new(),
            groups: Vec::new(),
            installation: None,
        };
        let paths = context_paths(&env);
        let expected: BTreeMap<Origin, Vec<String>> = [
            (
                None,
                vec!["k.pub".into(), "packages/x86_64/APKINDEX.tar.gz".into()],
            ),
            (Some("keys".into()), vec!["melange.rsa.pub".into()]),
            (
                Some("repo".into()),
                vec![
                    "os/x86_64/APKINDEX.tar.gz".into(),
                    "x86_64/APKINDEX.tar.gz".into(),
                ],
            ),
        ]
        .into();
        assert_eq!(paths, expected);

        let platform = pb::Platform::default();
        let repo = &paths[&Some("repo".to_string())];
        let source = ContextSource::Local("repo".into());
        let definition = named_definition(
            "repo",
            &source,
            repo,
            Some("session".into()),
            (&platform, &CapSet::all()),
            true,
        )
        .unwrap();
        let ops = ops(&definition);
        let (op, ignore) = ops
            .iter()
            .find(|(op, _)| source_identifier(op).is_some())
            .unwrap();
        assert_eq!(source_identifier(op), Some("local://repo"));
        assert!(*ignore);
        let Some(pb::op::Op::Source(local)) = &op.op else {
            unreachable!()
        };
        assert_eq!(
            local.attrs.get("local.includepattern").map(String::as_str),
            Some(r#"["os/x86_64/APKINDEX.tar.gz","x86_64/APKINDEX.tar.gz"]"#)
        );
        assert_eq!(
            local.attrs.get("local.sharedkeyhint").map(String::as_str),
            Some("repo:repositories")
        );
    }
}
