//! What the LLB unit tests share: a plan for the `workspace` target in a
//! busybox image, offline inputs and the decoded ops of a Definition.

use std::collections::BTreeMap;

use prost::Message;

use super::*;
use crate::config;
use crate::plan::{self, BuildOptions, BuildPlan, ENVIRONMENT_CONTEXT};
use crate::proto::pb;

/// `yaml` planned for `--target workspace` with `docker-image://busybox` as
/// the environment, no pipeline dirs.
pub(super) fn workspace_plan(yaml: &str) -> BuildPlan {
    let config = config::load("package.yaml", yaml).unwrap();
    let options = BuildOptions {
        named_contexts: BTreeMap::from([(
            ENVIRONMENT_CONTEXT.into(),
            "docker-image://busybox".into(),
        )]),
        target: Some("workspace".into()),
        ..Default::default()
    };
    plan::plan("package.yaml", &config, &options, &plan::Library::new()).unwrap()
}

/// Offline inputs (busybox base, the frontend image as the helper,
/// linux/amd64) limited to `caps`.
pub(super) fn offline_inputs(caps: CapSet) -> BuildInputs {
    let mut inputs = BuildInputs::offline(
        ContextSource::Image("docker.io/library/busybox:latest".into()),
        "docker.io/library/melange-frontend:dev",
        "package.yaml",
        pb::Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        },
    );
    inputs.caps = caps;
    inputs
}

/// Every op of `def`, decoded, in order.
pub(super) fn decoded_ops(def: &pb::Definition) -> Vec<pb::Op> {
    def.def
        .iter()
        .map(|b| pb::Op::decode(b.as_slice()).unwrap())
        .collect()
}

/// Every exec's arguments, joined (the scripts steps run).
pub(super) fn exec_text(def: &pb::Definition) -> String {
    decoded_ops(def)
        .into_iter()
        .filter_map(|op| match op.op {
            Some(pb::op::Op::Exec(e)) => e.meta.map(|m| m.args.join(" ")),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}
