//! The environment's repositories, read through BuildKit before compiling:
//! each `APKINDEX.tar.gz` (a build-context folder's file, transferred
//! alone, or an HTTP source) and each key (context file or HTTP source) is
//! solved and read back, every index's signature is checked against the
//! keyring, and the world is resolved with apk's solver
//! ([`crate::apk::repository`], the same code as the host `resolve`). The
//! result goes into the plan: the packages to install, in order, with where
//! each file is.

use crate::apk::repository::{self, OpenedIndex, RepositoryRef, Trust};
use crate::apk::Keyring;
use crate::llb::{Graph, HttpOptions, OpInfo};
use crate::plan::environment::{
    key_name, InstallPackage, Installation, KeyFile, Location, ALLOW_UNTRUSTED_ARG,
};
use crate::plan::{BuildPlan, EnvironmentPlan};

use super::bridge::Bridge;
use super::pipelines::{self, Context};
use super::{Failure, FAILED_PRECONDITION, INVALID_ARGUMENT};

/// Largest index or key read (Wolfi's index is tens of MB).
const MAX_FILE: usize = 512 << 20;

/// Resolve the plan's environment, if it has one, and record the result.
pub(super) async fn resolve(
    bridge: &mut Bridge,
    context: &Context<'_>,
    plan: &mut BuildPlan,
) -> Result<(), Failure> {
    let Some(environment) = plan.environment.as_mut() else {
        return Ok(());
    };
    let installation = resolve_environment(bridge, context, environment).await?;
    environment.installation = Some(installation);
    Ok(())
}

async fn resolve_environment(
    bridge: &mut Bridge,
    context: &Context<'_>,
    env: &EnvironmentPlan,
) -> Result<Installation, Failure> {
    let sources = Sources::new(bridge, context, env).await?;
    let mut keys = Keyring::new();
    let mut key_files = Vec::new();
    for location in &env.keyring {
        let name = key_name(location).to_string();
        let bytes = sources.read(bridge, context, location, &name).await?;
        let pem = String::from_utf8(bytes)
            .map_err(|_| invalid(format!("key {location}: not a PEM text file")))?;
        keys.add_pem(&name, &pem)
            .map_err(|e| invalid(format!("key {location}: {e}")))?;
        key_files.push(KeyFile { name, pem });
    }
    let index_path = RepositoryRef::index_path(&env.arch);
    let mut indexes: Vec<OpenedIndex> = Vec::new();
    let mut untrusted = Vec::new();
    for repository in &env.repositories {
        let location = format!("{}/{index_path}", repository.location);
        let bytes = sources
            .read(bridge, context, &location, "APKINDEX.tar.gz")
            .await
            .map_err(|Failure(mut status)| {
                status.message = format!("repository {repository}: {}", status.message);
                Failure(status)
            })?;
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
        }
        indexes.push(opened);
    }
    let started = std::time::Instant::now();
    let resolution = repository::resolve_world(&indexes, &env.world).map_err(|e| {
        Failure::new(
            FAILED_PRECONDITION,
            format!(
                "cannot install the environment ({}):\n{e}",
                env.world.join(" ")
            ),
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
    Ok(Installation {
        packages,
        keys: key_files,
        untrusted,
    })
}

fn invalid(message: String) -> Failure {
    Failure::new(INVALID_ARGUMENT, message)
}

/// The build-context files the repositories and keys need, transferred
/// together (only those files) in one local source.
struct Sources {
    context: Option<String>,
}

impl Sources {
    async fn new(
        bridge: &mut Bridge,
        context: &Context<'_>,
        env: &EnvironmentPlan,
    ) -> Result<Sources, Failure> {
        let index = RepositoryRef::index_path(&env.arch);
        let mut paths: Vec<String> = env
            .repositories
            .iter()
            .map(|r| format!("{}/{index}", r.location))
            .chain(env.keyring.iter().cloned())
            .filter_map(|l| match Location::parse(&l) {
                Ok(Location::Context(path)) => Some(path),
                _ => None,
            })
            .collect();
        if paths.is_empty() {
            return Ok(Sources { context: None });
        }
        paths.sort();
        paths.dedup();
        let label = format!("load {} from the build context", paths.join(", "));
        let reference = pipelines::solve(bridge, context, paths, "repositories", label).await?;
        Ok(Sources {
            context: Some(reference),
        })
    }

    /// The bytes at `location` (a context path or a URL, fetched as an HTTP
    /// source saved as `file_name`).
    async fn read(
        &self,
        bridge: &mut Bridge,
        context: &Context<'_>,
        location: &str,
        file_name: &str,
    ) -> Result<Vec<u8>, Failure> {
        match Location::parse(location).map_err(invalid)? {
            Location::Context(path) => {
                let reference = self
                    .context
                    .as_deref()
                    .ok_or_else(|| super::internal("build context not loaded"))?;
                bridge
                    .read_file_chunked(reference, &path, MAX_FILE)
                    .await
                    .map_err(|e| {
                        invalid(format!(
                            "cannot read {path} from the build context: {}",
                            e.message()
                        ))
                    })
            }
            Location::Url(url) => {
                let mut graph = Graph::new(context.platform.clone(), context.caps.clone());
                let options = HttpOptions {
                    filename: Some(file_name.to_string()),
                    ..Default::default()
                };
                let state = graph
                    .http(&url, &options, OpInfo::named(format!("fetch {url}")))
                    .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
                let reference = bridge.solve(graph.finish(&state)).await.map_err(|e| {
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
