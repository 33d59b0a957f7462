//! melange's cache dir, `/var/cache/melange`: a writable BuildKit cache
//! mount in every step (melange bind-mounts its host `--cache-dir`
//! read-write), seeded from the `melange-cache` named context when the
//! client gives one.
//!
//! The seed is the cache mount's base, as with the Dockerfile's
//! `--mount=type=cache,from=…`. BuildKit keys a based cache directory by
//! the ID *and* the base snapshot's ID, so the base is a file op copying
//! the context: while the context's content is unchanged that op is
//! `CACHED` and returns the same snapshot, so every build finds the same
//! directory with what earlier steps wrote; a changed context gives a new
//! snapshot, so a new directory that starts with the new files (never a
//! stale seed). The copy matters: its result is looked up by content, so
//! it stays the same snapshot while the content does, whereas a local
//! source's snapshot is committed anew by each transfer (BuildKit's
//! `source/local`), which would start a fresh directory every build (with
//! the context itself as the base, tests/e2e_cache.rs's second build does
//! not find the first one's file).

use super::compile::{context_state, BuildInputs};
use super::graph::{Graph, LlbError, OpInfo, State};
use super::ops::{FileAction, Mount, Sharing};
use crate::plan::{BuildPlan, CACHE_DIR_MOUNT};

/// The snapshot the cache dir starts from: the `melange-cache` context
/// copied onto scratch, or `None` (no context: it starts empty; or no
/// step mounts it).
pub(super) fn seed(
    graph: &mut Graph,
    plan: &BuildPlan,
    inputs: &BuildInputs,
) -> Result<Option<State>, LlbError> {
    let mounted = plan.steps.iter().any(|step| step.source.is_none());
    seed_if(graph, inputs, mounted)
}

/// [`seed`] for steps other than the plan's (a test's): the same op, so
/// the same cache directory, when `mounted`.
pub(super) fn seed_if(
    graph: &mut Graph,
    inputs: &BuildInputs,
    mounted: bool,
) -> Result<Option<State>, LlbError> {
    let (Some(cache), true) = (&inputs.cache, mounted) else {
        return Ok(None);
    };
    let context = context_state(graph, cache, "melange cache dir", inputs)?;
    let copy = FileAction::Copy {
        from: context,
        src: "/".into(),
        dest: "/".into(),
        contents_only: true,
        create_parents: true,
        include: Vec::new(),
        exclude: Vec::new(),
    };
    let info = OpInfo::named(format!("seed {} from melange-cache", CACHE_DIR_MOUNT.id));
    graph.file(&State::scratch(), vec![copy], info).map(Some)
}

/// The plan's cache mounts for one step, all shared; the cache dir's
/// starts from `seed`.
pub(super) fn step_mounts(plan: &BuildPlan, seed: Option<&State>) -> Vec<Mount> {
    plan.cache_mounts
        .iter()
        .map(|m| Mount::Cache {
            dest: m.path.to_string(),
            id: m.id.to_string(),
            sharing: Sharing::Shared,
            base: seed.filter(|_| m.id == CACHE_DIR_MOUNT.id).cloned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{decoded_ops, offline_inputs, workspace_plan};
    use super::super::{compile, digest_of, CapSet, ContextSource};
    use crate::plan::CACHE_DIR;
    use crate::proto::pb;

    const YAML: &str = "package: {name: demo, version: '1', epoch: 0}\npipeline:\n  - runs: echo one\n  - runs: echo two\n";

    fn compiled(cache: Option<ContextSource>) -> pb::Definition {
        let mut inputs = offline_inputs(CapSet::all());
        inputs.cache = cache;
        compile(&workspace_plan(YAML), &inputs).unwrap()
    }

    /// Each step exec's `/var/cache/melange` mount and the exec's inputs.
    fn cache_dir_mounts(def: &pb::Definition) -> Vec<(pb::Mount, Vec<pb::Input>)> {
        decoded_ops(def)
            .into_iter()
            .filter_map(|op| match op.op {
                Some(pb::op::Op::Exec(exec)) => {
                    let mounts: Vec<_> = exec
                        .mounts
                        .into_iter()
                        .filter(|m| m.dest == CACHE_DIR)
                        .collect();
                    assert_eq!(mounts.len(), 1, "one mount at {CACHE_DIR}");
                    Some((mounts[0].clone(), op.inputs.clone()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn without_a_step_to_mount_it_there_is_no_seed() {
        let yaml = format!(
            "package: {{name: demo, version: '1', epoch: 0}}\npipeline:\n  - uses: fetch\n    with:\n      uri: https://example.com/demo.tar.gz\n      expected-sha256: {}\n",
            "a".repeat(64)
        );
        let mut inputs = offline_inputs(CapSet::all());
        inputs.cache = Some(ContextSource::Local("cachedir".into()));
        let def = compile(&workspace_plan(&yaml), &inputs).unwrap();
        let names: Vec<&String> = def
            .metadata
            .values()
            .filter_map(|m| m.description.get("llb.customname"))
            .collect();
        assert!(!names.iter().any(|n| n.starts_with("seed ")), "{names:?}");
        assert!(names.iter().any(|n| n.contains("uses: fetch")), "{names:?}");
    }

    #[test]
    fn without_the_context_every_step_has_an_empty_writable_cache_dir() {
        let def = compiled(None);
        let mounts = cache_dir_mounts(&def);
        assert_eq!(mounts.len(), 2);
        for (mount, _) in mounts {
            assert_eq!(mount.mount_type, pb::MountType::Cache as i32);
            assert_eq!((mount.input, mount.output, mount.readonly), (-1, -1, false));
            let cache = mount.cache_opt.unwrap();
            assert_eq!(cache.id, "melange-cache-dir");
            assert_eq!(cache.sharing, pb::CacheSharingOpt::Shared as i32);
        }
    }

    #[test]
    fn the_context_seeds_the_cache_dir_through_a_copy() {
        let def = compiled(Some(ContextSource::Local("cachedir".into())));
        let ops = decoded_ops(&def);
        let digests: Vec<String> = def.def.iter().map(|b| digest_of(b)).collect();
        let mounts = cache_dir_mounts(&def);
        assert_eq!(mounts.len(), 2);
        let mut seeds = Vec::new();
        for (mount, inputs) in &mounts {
            assert_eq!(mount.mount_type, pb::MountType::Cache as i32);
            assert_eq!((mount.output, mount.readonly), (-1, false), "writable");
            assert_eq!(mount.cache_opt.as_ref().unwrap().id, "melange-cache-dir");
            let input = usize::try_from(mount.input).expect("the seed is the mount's input");
            seeds.push(inputs[input].digest.clone());
        }
        assert_eq!(seeds[0], seeds[1], "one seed for every step");
        // The seed: a copy of the whole context onto scratch.
        let at = digests.iter().position(|d| *d == seeds[0]).unwrap();
        let Some(pb::op::Op::File(file)) = &ops[at].op else {
            panic!("the seed is a file op: {:?}", ops[at]);
        };
        let Some(pb::file_action::Action::Copy(copy)) = &file.actions[0].action else {
            panic!("a copy: {file:?}");
        };
        assert_eq!((copy.src.as_str(), copy.dest.as_str()), ("/", "/"));
        let source = &ops[digests
            .iter()
            .position(|d| *d == ops[at].inputs[0].digest)
            .unwrap()];
        let Some(pb::op::Op::Source(source)) = &source.op else {
            panic!("copied from the context: {source:?}");
        };
        assert_eq!(source.identifier, "local://cachedir");
        // The other cache mounts start empty.
        for op in ops {
            if let Some(pb::op::Op::Exec(exec)) = op.op {
                let others: Vec<i64> = exec
                    .mounts
                    .iter()
                    .filter(|m| m.cache_opt.is_some() && m.dest != CACHE_DIR)
                    .map(|m| m.input)
                    .collect();
                assert_eq!(others, [-1; 8]);
            }
        }
    }
}
