//! The packaging step's LLB: mounts, the secret, the spec file, cache-key
//! behaviour (which metadata changes the step) and the signing probe.

use std::collections::BTreeMap;

use prost::Message;

use super::*;
use crate::config;
use crate::plan::{self, BuildOptions, ENVIRONMENT_CONTEXT};
use crate::proto::pb;

const YAML: &str = "package: {name: hello, version: 1, epoch: 0, description: hi}\npipeline:\n  - runs: echo 1\nsubpackages:\n  - name: hello-doc\n    pipeline:\n      - runs: echo doc\n";

fn platform() -> pb::Platform {
    pb::Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        ..Default::default()
    }
}

fn inputs(signing_key_id: Option<&str>) -> BuildInputs {
    BuildInputs {
        base: ContextSource::Image("docker.io/library/busybox:latest".into()),
        base_config: Default::default(),
        test_base: None,
        cache: None,
        cached_downloads: Default::default(),
        context_name: "context".into(),
        context_excludes: vec!["package.yaml".into()],
        source_dir: Default::default(),
        session_id: Some("sess".into()),
        platform: platform(),
        build_platform: None,
        caps: CapSet::all(),
        source: None,
        helper: Some(ContextSource::Image(
            "docker.io/library/melange-frontend:dev".into(),
        )),
        signing_key_id: signing_key_id.map(str::to_string),
        signing_public_key: None,
        no_cache: false,
        contexts: Default::default(),
    }
}

fn compile_with(yaml: &str, args: &[(&str, &str)], inputs: &BuildInputs) -> pb::Definition {
    let options = BuildOptions {
        named_contexts: BTreeMap::from([(
            ENVIRONMENT_CONTEXT.into(),
            "docker-image://busybox".into(),
        )]),
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        build_file_text: yaml.into(),
        ..Default::default()
    };
    let config = config::load("package.yaml", yaml).unwrap();
    let plan = plan::plan("package.yaml", &config, &options, &plan::Library::new()).unwrap();
    compile(&plan, inputs).unwrap()
}

fn ops(def: &pb::Definition) -> Vec<(String, pb::Op)> {
    def.def
        .iter()
        .map(|b| (digest_of(b), pb::Op::decode(b.as_slice()).unwrap()))
        .collect()
}

/// The packaging exec (the last exec) and its digest.
fn packaging_exec(def: &pb::Definition) -> (String, pb::ExecOp) {
    ops(def)
        .into_iter()
        .rev()
        .find_map(|(digest, op)| match op.op {
            Some(pb::op::Op::Exec(exec)) => Some((digest, exec)),
            _ => None,
        })
        .unwrap()
}

fn spec_json(def: &pb::Definition) -> serde_json::Value {
    let data = ops(def)
        .into_iter()
        .find_map(|(_, op)| match op.op {
            Some(pb::op::Op::File(file)) => file.actions.iter().find_map(|a| match &a.action {
                Some(pb::file_action::Action::Mkfile(m)) if m.path == "/spec.json" => {
                    Some(m.data.clone())
                }
                _ => None,
            }),
            _ => None,
        })
        .unwrap();
    serde_json::from_slice(&data).unwrap()
}

#[test]
fn packaging_runs_the_helper_over_a_private_copy_of_the_tree_with_an_optional_secret() {
    let def = compile_with(YAML, &[], &inputs(None));
    let (digest, exec) = packaging_exec(&def);
    let meta = exec.meta.as_ref().unwrap();
    assert_eq!(
        meta.args[..2],
        ["/melange-frontend".to_string(), "build-apks".to_string()]
    );
    assert_eq!(exec.network, pb::NetMode::None as i32);
    let mounts: Vec<(&str, &str, bool, i64)> = exec
        .mounts
        .iter()
        .map(|m| (m.dest.as_str(), m.selector.as_str(), m.readonly, m.output))
        .collect();
    assert_eq!(
        mounts,
        [
            ("/", "", false, 0),
            ("/melange-out", "/home/build/melange-out", false, 1),
            ("/melange-packaging", "", true, -1),
            ("/packages", "", false, 2),
            ("/run/secrets/melange.rsa", "", false, -1),
        ]
    );
    let secret = exec.mounts[4].secret_opt.as_ref().unwrap();
    assert_eq!(
        (secret.id.as_str(), secret.optional, secret.mode),
        ("melange.rsa", true, 0o400)
    );
    // The result is the /packages output of the packaging exec.
    let terminal = pb::Op::decode(def.def.last().unwrap().as_slice()).unwrap();
    assert_eq!(terminal.inputs[0].digest, digest);
    assert_eq!(terminal.inputs[0].index, 2);
    // The root is the helper image, not the build environment.
    let (_, root) = ops(&def)
        .into_iter()
        .find(|(d, _)| *d == exec_root_digest(&def))
        .unwrap();
    match root.op {
        Some(pb::op::Op::Source(source)) => assert_eq!(
            source.identifier,
            "docker-image://docker.io/library/melange-frontend:dev"
        ),
        other => panic!("root is {other:?}"),
    }
}

fn exec_root_digest(def: &pb::Definition) -> String {
    let (digest, _) = packaging_exec(def);
    let (_, op) = ops(def).into_iter().find(|(d, _)| *d == digest).unwrap();
    op.inputs[0].digest.clone()
}

#[test]
fn spec_carries_the_metadata_and_names_the_key_only_by_fingerprint() {
    let key_id = format!("sha256:{}", "ab".repeat(32));
    let def = compile_with(
        YAML,
        &[
            ("MELANGE_SIGNING_KEY_NAME", "packager.rsa"),
            ("SOURCE_DATE_EPOCH", "42"),
        ],
        &inputs(Some(&key_id)),
    );
    let spec = spec_json(&def);
    assert_eq!(spec["signing_key_name"], "packager.rsa");
    assert_eq!(spec["signing_key_id"], key_id.as_str());
    assert_eq!(spec["source_date_epoch"], 42);
    assert_eq!(spec["arch"], "x86_64");
    assert_eq!(spec["melange_yaml"], YAML);
    assert_eq!(spec["packages"][1]["name"], "hello-doc");
    assert_eq!(spec["packages"][1]["origin"], "hello");
    // Nothing that looks like key material anywhere in the definition.
    let bytes = def.encode_to_vec();
    for needle in ["PRIVATE KEY", "BEGIN", "melange.rsa.pub"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} in the definition"
        );
    }
}

#[test]
fn packaging_cache_key_follows_the_metadata_and_the_key_only() {
    let base = packaging_exec(&compile_with(YAML, &[], &inputs(None))).0;
    let again = packaging_exec(&compile_with(YAML, &[], &inputs(None))).0;
    assert_eq!(base, again);
    let key_id = format!("sha256:{}", "cd".repeat(32));
    let signed = packaging_exec(&compile_with(YAML, &[], &inputs(Some(&key_id)))).0;
    assert_ne!(
        base, signed,
        "adding the key must change the packaging step"
    );
    let namespaced = compile_with(YAML, &[("MELANGE_NAMESPACE", "wolfi")], &inputs(None));
    assert_ne!(base, packaging_exec(&namespaced).0);
    // A build-arg the packaging does not read leaves the step alone, and
    // so does an unrelated one for the pipeline steps too.
    let unrelated = compile_with(YAML, &[("UNUSED", "1")], &inputs(None));
    assert_eq!(base, packaging_exec(&unrelated).0);
    let described = YAML.replace("description: hi", "description: hello");
    let changed = compile_with(&described, &[], &inputs(None));
    assert_ne!(base, packaging_exec(&changed).0);
}

#[test]
fn a_declared_public_key_is_named_in_the_spec_by_path_and_fingerprint() {
    let key_id = format!("sha256:{}", "ef".repeat(32));
    let probed = compile_with(YAML, &[], &inputs(Some(&key_id)));
    assert!(spec_json(&probed).get("signing_public_key").is_none());
    let mut declared = inputs(Some(&key_id));
    declared.signing_public_key = Some("keys/melange.rsa.pub".into());
    let def = compile_with(YAML, &[], &declared);
    let spec = spec_json(&def);
    assert_eq!(spec["signing_public_key"], "keys/melange.rsa.pub");
    assert_eq!(spec["signing_key_id"], key_id.as_str());
    // The declared step demands the secret, the probed one was told by
    // it: not one cache entry for both.
    assert_ne!(packaging_exec(&def).0, packaging_exec(&probed).0);
}

#[test]
fn the_signed_spec_is_the_spec_with_the_key_serialized_alike() {
    let options = BuildOptions {
        named_contexts: BTreeMap::from([(
            ENVIRONMENT_CONTEXT.into(),
            "docker-image://busybox".into(),
        )]),
        build_file_text: YAML.into(),
        ..Default::default()
    };
    let config = config::load("package.yaml", YAML).unwrap();
    let plan = plan::plan("package.yaml", &config, &options, &plan::Library::new()).unwrap();
    let spec = plan.packaging.unwrap();
    for (key_id, public_key) in [("", ""), ("sha256:ab", ""), ("sha256:cd", "k/m.rsa.pub")] {
        let mut expected = spec.clone();
        expected.signing_key_id = key_id.into();
        expected.signing_public_key = public_key.into();
        let signing = super::packaging::Signing { key_id, public_key };
        assert_eq!(
            super::packaging::spec_json(&spec, signing).unwrap(),
            serde_json::to_vec_pretty(&expected).unwrap()
        );
    }
}

#[test]
fn workspace_target_has_no_packaging_and_needs_no_helper() {
    let mut no_helper = inputs(None);
    no_helper.helper = None;
    let options = BuildOptions {
        named_contexts: BTreeMap::from([(
            ENVIRONMENT_CONTEXT.into(),
            "docker-image://busybox".into(),
        )]),
        target: Some("workspace".into()),
        ..Default::default()
    };
    let config = config::load("package.yaml", YAML).unwrap();
    let plan = plan::plan("package.yaml", &config, &options, &plan::Library::new()).unwrap();
    let def = compile(&plan, &no_helper).unwrap();
    assert!(!def.encode_to_vec().windows(10).any(|w| w == b"build-apks"));
    let packages = plan::plan(
        "package.yaml",
        &config,
        &BuildOptions {
            target: None,
            ..options
        },
        &plan::Library::new(),
    )
    .unwrap();
    let err = compile(&packages, &no_helper).unwrap_err().to_string();
    assert!(err.contains("frontend's own image"), "{err}");
}

#[test]
fn frontend_bin_definition_is_imported_as_the_helper_root() {
    // What BuildKit >= 0.10 writes: the image source op and a terminal op.
    let mut graph = Graph::new(platform(), CapSet::all());
    let image = graph
        .image(
            "docker.io/library/melange-frontend:dev@sha256:0123",
            OpInfo::default(),
        )
        .unwrap();
    let frontend_bin = graph.finish(&image);
    let mut with_bin = inputs(None);
    with_bin.helper = Some(ContextSource::Input(frontend_bin.clone()));
    let def = compile_with(YAML, &[], &with_bin);
    assert_eq!(
        exec_root_digest(&def),
        digest_of(&frontend_bin.def[0]),
        "the helper root is the op frontend.bin names"
    );
}

#[test]
fn signing_probe_is_never_cached_unique_per_session_and_secret_free() {
    let helper = ContextSource::Image("docker.io/library/melange-frontend:dev".into());
    let a = signing_probe(&helper, platform(), CapSet::all(), "session-a").unwrap();
    let b = signing_probe(&helper, platform(), CapSet::all(), "session-b").unwrap();
    let (digest_a, exec) = packaging_exec(&a);
    assert_ne!(digest_a, packaging_exec(&b).0);
    assert!(a.metadata[&digest_a].ignore_cache);
    assert_eq!(exec.meta.as_ref().unwrap().args[1], "signing-key-id");
    assert!(exec
        .mounts
        .iter()
        .any(|m| m.secret_opt.as_ref().is_some_and(|s| s.optional)));
    let without = CapSet::from_enabled(
        [
            "source.image",
            "exec.meta.base",
            "exec.mount.bind",
            "exec.meta.network",
            "exec.mount.secret",
        ]
        .map(String::from),
    );
    let err = signing_probe(&helper, platform(), without, "s")
        .unwrap_err()
        .to_string();
    assert!(err.contains("meta.ignorecache"), "{err}");
}

#[test]
fn a_foreign_target_runs_the_helper_on_the_worker_platform() {
    let arm64 = pb::Platform {
        architecture: "arm64".into(),
        os: "linux".into(),
        ..Default::default()
    };
    let mut cross = inputs(None);
    cross.platform = arm64.clone();
    cross.build_platform = Some(platform());
    let def = compile_with(YAML, &[], &cross);
    let platform_of = |op: &pb::Op| op.platform.clone().unwrap_or_default().architecture;
    let all = ops(&def);
    let image = |name: &str| {
        all.iter()
            .find_map(|(digest, op)| match &op.op {
                Some(pb::op::Op::Source(s)) if s.identifier.contains(name) => {
                    Some((digest.clone(), platform_of(op)))
                }
                _ => None,
            })
            .unwrap()
    };
    let (helper_digest, helper_arch) = image("melange-frontend:dev");
    assert_eq!(helper_arch, "amd64", "the helper image is the worker's");
    assert_eq!(
        image("busybox").1,
        "arm64",
        "the environment is the target's"
    );
    let execs: Vec<(String, String)> = all
        .iter()
        .filter_map(|(_, op)| match &op.op {
            Some(pb::op::Op::Exec(exec)) => {
                let root = &op.inputs[exec.mounts[0].input as usize].digest;
                Some((root.clone(), platform_of(op)))
            }
            _ => None,
        })
        .collect();
    assert!(execs.len() >= 2, "{execs:?}");
    for (root, arch) in &execs {
        let want = if *root == helper_digest {
            "amd64"
        } else {
            "arm64"
        };
        assert_eq!(arch, want, "exec on {root}: {execs:?}");
    }
    assert!(execs.iter().any(|(root, _)| *root == helper_digest));

    // The worker's platform given for a native build changes nothing.
    let mut native = inputs(None);
    native.build_platform = Some(platform());
    assert_eq!(
        compile_with(YAML, &[], &native),
        compile_with(YAML, &[], &inputs(None))
    );
}
