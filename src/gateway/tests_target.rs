//! Target `test`: after the packages are solved, run every package's test
//! in its own environment and fail the build, naming the package, the step
//! and its YAML line, at the first test that fails.
//!
//! The in-solve repository is the packaging step's output itself: its
//! `APKINDEX.tar.gz` is read back (trusted: this solve wrote it), each
//! test's world is resolved over it first and then over the test's
//! configured repositories (read and verified as the build's are), and
//! the install steps bind the chosen `.apk` files from that same output by
//! selector ([`crate::llb::compile_test`]). A name no repository provides
//! is left to the image, with a warning naming it.

use std::collections::BTreeMap;

use prost::Message;

use crate::apk::insolve::{drop_unprovided, open_built_index};
use crate::apk::repository::{OpenedIndex, RepositoryRef};
use crate::llb::{self, BuildInputs, ContextSource};
use crate::plan::environment::{Installation, IN_SOLVE_REPOSITORY};
use crate::plan::{BuildPlan, PlannedTest};
use crate::proto::{errdefs, pb};

use super::bridge::{Bridge, Capabilities};
use super::pipelines::Context;
use super::repositories::{open_repositories, resolve_packages};
use super::{Failure, FAILED_PRECONDITION};

/// Largest in-solve index read.
const MAX_INDEX: usize = 64 << 20;

/// Run `plan`'s tests against the packages solved as `packages` (a ref).
pub(super) async fn run(
    bridge: &mut Bridge,
    caps: &Capabilities,
    context: &Context<'_>,
    named: &BTreeMap<String, ContextSource>,
    plan: &mut BuildPlan,
    inputs: &BuildInputs,
    packages: &str,
) -> Result<(), Failure> {
    if plan.tests.is_empty() {
        tracing::warn!("target test: no package has test steps; returning the packages");
        return Ok(());
    }
    let built = built_index(bridge, plan, packages).await?;
    for index in 0..plan.tests.len() {
        let installation = resolve_test(bridge, context, named, &plan.tests[index], &built).await?;
        if let Some(environment) = plan.tests[index].environment.as_mut() {
            environment.installation = Some(installation);
        }
    }
    for (index, test) in plan.tests.iter().enumerate() {
        let definition = llb::compile_test(plan, inputs, index)
            .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
        let names = step_names(&definition);
        tracing::info!(package = %test.package, steps = test.steps.len(), "running test");
        bridge
            .solve_evaluated(definition, caps)
            .await
            .map_err(|status| explain(Failure::from(status), test, &names, context))?;
    }
    Ok(())
}

/// The packaging step's index, opened as the in-solve repository.
async fn built_index(
    bridge: &mut Bridge,
    plan: &BuildPlan,
    packages: &str,
) -> Result<OpenedIndex, Failure> {
    let arch = plan
        .packaging
        .as_ref()
        .map(|spec| spec.arch.clone())
        .ok_or_else(|| super::internal("target test without packaging"))?;
    let path = RepositoryRef::index_path(&arch);
    let bytes = bridge
        .read_file_chunked(packages, &path, MAX_INDEX)
        .await
        .map_err(|e| super::internal(format!("cannot read the built {path}: {}", e.message())))?;
    open_built_index(IN_SOLVE_REPOSITORY, &bytes, &arch)
        .map_err(|e| super::internal(format!("the built {path}: {e}")))
}

/// One test's packages: the in-solve repository first, then the test's
/// configured repositories; names none provides are left to the image.
async fn resolve_test(
    bridge: &mut Bridge,
    context: &Context<'_>,
    named: &BTreeMap<String, ContextSource>,
    test: &PlannedTest,
    built: &OpenedIndex,
) -> Result<Installation, Failure> {
    let env = test.environment.as_ref().ok_or_else(|| {
        super::internal(format!("the test of {} has no environment", test.package))
    })?;
    let opened = open_repositories(bridge, context, named, env).await?;
    let mut indexes = Vec::with_capacity(opened.indexes.len() + 1);
    indexes.push(built.clone());
    indexes.extend(opened.indexes);
    let mut world = env.world.clone();
    let left_to_image = drop_unprovided(&mut indexes, &mut world);
    if !left_to_image.is_empty() {
        tracing::warn!(package = %test.package, names = ?left_to_image,
            "no repository provides these; left to the test environment's image");
    }
    let packages = resolve_packages(env, &indexes, &world)?;
    Ok(Installation {
        packages,
        keys: opened.keys,
        untrusted: opened.untrusted,
        left_to_image,
    })
}

/// Each op's progress name, by digest.
fn step_names(definition: &pb::Definition) -> BTreeMap<String, String> {
    definition
        .metadata
        .iter()
        .filter_map(|(digest, meta)| {
            let name = meta.description.get("llb.customname")?;
            Some((digest.clone(), name.clone()))
        })
        .collect()
}

/// A test's failure as one line naming the package, the step and its YAML
/// line; the status keeps BuildKit's details (the source location the
/// client shows).
fn explain(
    mut failure: Failure,
    test: &PlannedTest,
    names: &BTreeMap<String, String>,
    context: &Context<'_>,
) -> Failure {
    let step = failed_vertex(&failure.0)
        .and_then(|digest| names.get(&digest))
        .cloned();
    let file = &context.options.filename;
    let what = match &step {
        Some(name) => match test.steps.iter().find(|s| &s.name == name) {
            Some(planned) => format!("at step \"{name}\" ({file}:{})", planned.line),
            None => format!("in its environment, at \"{name}\""),
        },
        None => "(see the failing step above)".to_string(),
    };
    failure.0.message = format!(
        "test of package {} failed {what}: {}",
        test.package, failure.0.message
    );
    failure
}

/// The digest of the vertex an error names (BuildKit's `errdefs.Vertex`
/// detail: protobuf, or JSON where its type URL says `+json`), when the
/// daemon attached one.
fn failed_vertex(status: &crate::proto::rpc::Status) -> Option<String> {
    status.details.iter().find_map(|any| {
        if any.type_url.ends_with("errdefs.Vertex+json") {
            let json: serde_json::Value = serde_json::from_slice(&any.value).ok()?;
            return json.get("digest")?.as_str().map(str::to_string);
        }
        if any.type_url.ends_with("errdefs.Vertex") {
            return errdefs::Vertex::decode(any.value.as_slice())
                .ok()
                .map(|v| v.digest);
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_vertex_is_read_from_the_details() {
        let vertex = errdefs::Vertex {
            digest: "sha256:abc".into(),
        };
        let status = crate::proto::rpc::Status {
            code: 2,
            message: "process did not complete successfully".into(),
            details: vec![
                super::super::any("errdefs.Source", Vec::new()),
                super::super::any("errdefs.Vertex", vertex.encode_to_vec()),
            ],
        };
        assert_eq!(failed_vertex(&status).as_deref(), Some("sha256:abc"));
        let json = crate::proto::rpc::Status {
            details: vec![prost_types::Any {
                type_url: "github.com/moby/buildkit/errdefs.Vertex+json".into(),
                value: br#"{"digest":"sha256:def"}"#.to_vec(),
            }],
            ..status.clone()
        };
        assert_eq!(failed_vertex(&json).as_deref(), Some("sha256:def"));
        let none = crate::proto::rpc::Status {
            details: Vec::new(),
            ..status
        };
        assert_eq!(failed_vertex(&none), None);
    }
}
