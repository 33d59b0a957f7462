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
use crate::apk::Dependency;
use crate::llb::{self, BuildInputs, ContextSource, SourceFile};
use crate::plan::environment::{InstallPackage, Installation, IN_SOLVE_REPOSITORY};
use crate::plan::{BuildPlan, PlannedStep, PlannedTest};
use crate::proto::{errdefs, pb};

use super::bridge::{Bridge, Capabilities};
use super::pipelines::Context;
use super::repositories::{open_repositories, resolve_packages};
use super::{Failure, FAILED_PRECONDITION};

/// Largest in-solve index read.
const MAX_INDEX: usize = 64 << 20;

/// Run `plan`'s tests against the packages solved as `packages` (a ref).
pub(super) async fn run(
    bridge: &Bridge,
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
            .map_err(|status| explain(Failure::from(status), test, &names, inputs))?;
    }
    Ok(())
}

/// The packaging step's index, opened as the in-solve repository.
async fn built_index(
    bridge: &Bridge,
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
    bridge: &Bridge,
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
    let original = indexes.clone();
    let mut world = env.world.clone();
    let missing = drop_unprovided(&mut indexes, &mut world);
    let packages = resolve_packages(env, &indexes, &world)?;
    let left_to_image = wanted(&missing, &env.world, &original, &packages);
    if !left_to_image.is_empty() {
        tracing::warn!(package = %test.package, names = ?left_to_image,
            "no repository provides these; left to the test environment's image");
    }
    Ok(Installation {
        packages,
        keys: opened.keys,
        untrusted: opened.untrusted,
        left_to_image,
    })
}

/// Of the `missing` names, those the world or an installed package asks
/// for (records that were not chosen do not matter).
fn wanted(
    missing: &[String],
    world: &[String],
    indexes: &[OpenedIndex],
    installed: &[InstallPackage],
) -> Vec<String> {
    let asked: Vec<&str> = world
        .iter()
        .map(String::as_str)
        .chain(
            indexes
                .iter()
                .flat_map(|i| i.records.iter())
                .filter(|r| {
                    installed.iter().any(|p| {
                        p.name == r.name && p.version == r.version && p.checksum == r.checksum
                    })
                })
                .flat_map(|r| r.depends.iter().map(String::as_str)),
        )
        .filter_map(|atom| Dependency::parse(atom).ok().map(|d| d.name))
        .filter_map(|name| missing.iter().find(|m| **m == name).map(String::as_str))
        .collect();
    let mut asked: Vec<String> = asked.into_iter().map(str::to_string).collect();
    asked.sort();
    asked.dedup();
    asked
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
/// line, with a source location the client shows (BuildKit's own details
/// are kept).
fn explain(
    mut failure: Failure,
    test: &PlannedTest,
    names: &BTreeMap<String, String>,
    inputs: &BuildInputs,
) -> Failure {
    let by_vertex = failed_vertex(&failure.0).and_then(|digest| names.get(&digest));
    let planned = match by_vertex {
        Some(name) => test.steps.iter().find(|s| &s.name == name),
        None => failed_step(&failure.0.message, test),
    };
    let file = inputs.source.as_ref().map(|s| s.filename.as_str());
    let what = match (planned, by_vertex) {
        (Some(step), _) => format!(
            "at step \"{}\" ({}:{})",
            step.name,
            file.unwrap_or("the build file"),
            step.line
        ),
        (None, Some(name)) => format!("in its environment, at \"{name}\""),
        (None, None) => "(see the failing step above)".to_string(),
    };
    failure.0.message = format!(
        "test of package {} failed {what}: {}",
        test.package, failure.0.message
    );
    if let (Some(step), Some(source)) = (planned, &inputs.source) {
        failure.0.details.push(source_detail(source, step.line));
    }
    failure
}

/// The test step whose command an exec error quotes: BuildKit names the
/// process by its arguments, Go-quoted (`process "/bin/sh -c …" did not
/// complete`) or, on older daemons, as they are (`executor failed running
/// [/bin/sh -c …]`).
fn failed_step<'t>(message: &str, test: &'t PlannedTest) -> Option<&'t PlannedStep> {
    test.steps.iter().find(|step| {
        let command = format!("/bin/sh -c {}", step.script);
        !step.script.is_empty()
            && (message.contains(&go_quote(&command)) || message.contains(&command))
    })
}

/// `text` as Go's `%q` writes printable text: quotes, backslashes and
/// control characters escaped.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An `errdefs.Source` detail marking `line` of the build file.
fn source_detail(source: &SourceFile, line: usize) -> prost_types::Any {
    let position = pb::Position {
        line: i32::try_from(line).unwrap_or(i32::MAX),
        character: 0,
    };
    let detail = errdefs::Source {
        info: Some(pb::SourceInfo {
            filename: source.filename.clone(),
            data: source.data.clone(),
            definition: None,
            language: "YAML".to_string(),
        }),
        ranges: vec![pb::Range {
            start: Some(position),
            end: Some(position),
        }],
    };
    super::any("errdefs.Source", detail.encode_to_vec())
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

    fn test_with(scripts: &[&str]) -> PlannedTest {
        PlannedTest {
            package: "p".into(),
            packages: vec!["p".into()],
            environment_step: "[test 1/3] p: environment".into(),
            steps: scripts
                .iter()
                .enumerate()
                .map(|(i, script)| PlannedStep {
                    name: format!("[test {}/3] p: step", i + 2),
                    script: script.to_string(),
                    env: Default::default(),
                    line: 10 + i,
                    source: None,
                })
                .collect(),
            environment: None,
        }
    }

    #[test]
    fn the_failing_step_is_found_from_the_quoted_command() {
        let test = test_with(&["set -e\necho \"ok\"\n", "set -e\necho \"a\tb\"\nexit 3\n"]);
        // BuildKit ≥ 0.9: Go-quoted arguments.
        let new = r#"process "/bin/sh -c set -e\necho \"a\tb\"\nexit 3\n" did not complete successfully: exit code: 3"#;
        assert_eq!(failed_step(new, &test).map(|s| s.line), Some(11));
        // BuildKit 0.8: the arguments as they are.
        let old =
            "executor failed running [/bin/sh -c set -e\necho \"a\tb\"\nexit 3\n]: exit code: 3";
        assert_eq!(failed_step(old, &test).map(|s| s.line), Some(11));
        assert!(failed_step("no space left on device", &test).is_none());
    }

    #[test]
    fn only_names_the_installation_asks_for_are_warned() {
        let records = crate::apk::index::parse_records(
            "C:Q1a=\nP:hello\nV:1-r0\nD:so:libc.so.6\n\nC:Q1b=\nP:hello-doc\nV:1-r0\nD:man-db\n\n",
        )
        .unwrap();
        let index = OpenedIndex {
            repository: RepositoryRef::parse("./r").unwrap(),
            trust: crate::apk::repository::Trust::Built,
            description: String::new(),
            records,
            other_arch: 0,
        };
        let installed = [InstallPackage {
            name: "hello".into(),
            version: "1-r0".into(),
            checksum: "Q1a=".into(),
            tag: None,
            source: crate::plan::environment::Location::Built("x86_64/hello-1-r0.apk".into()),
            leave_out: Vec::new(),
        }];
        let missing = [
            "apk-tools".to_string(),
            "man-db".into(),
            "so:libc.so.6".into(),
        ];
        let world = ["hello".to_string(), "apk-tools".into()];
        assert_eq!(
            wanted(&missing, &world, &[index], &installed),
            ["apk-tools", "so:libc.so.6"]
        );
    }
}
