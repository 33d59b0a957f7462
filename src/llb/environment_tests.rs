//! The LLB of an installed environment: one unpack exec per package with
//! its file bound by selector, merge or copy fallback, the finish step's
//! spec, busybox links, layer re-use (an added package leaves the other
//! unpack ops unchanged) and determinism.

use prost::Message;

use super::*;
use crate::config;
use crate::plan::environment::{InstallPackage, Installation, KeyFile, Location};
use crate::plan::{self, BuildOptions, BuildPlan};
use crate::proto::pb;

const YAML: &str = "package: {name: demo, version: 1, epoch: 0}\nenvironment:\n  contents:\n    packages: [busybox]\npipeline:\n  - runs: echo 1\n";

fn planned(extra_packages: &str) -> BuildPlan {
    let options = BuildOptions {
        build_args: [
            ("MELANGE_REPOSITORIES".to_string(), "./packages".to_string()),
            ("MELANGE_PACKAGES".to_string(), extra_packages.to_string()),
        ]
        .into(),
        build_file_text: YAML.into(),
        ..Default::default()
    };
    let config = config::load("package.yaml", YAML).unwrap();
    plan::plan("package.yaml", &config, &options, &plan::Library::new()).unwrap()
}

fn package(name: &str, source: Location) -> InstallPackage {
    InstallPackage {
        name: name.into(),
        version: "1.0-r0".into(),
        checksum: format!("Q1{name}="),
        tag: None,
        source,
        leave_out: Vec::new(),
    }
}

fn with_packages(mut plan: BuildPlan, packages: Vec<InstallPackage>) -> BuildPlan {
    let env = plan.environment.as_mut().unwrap();
    env.installation = Some(Installation {
        packages,
        keys: vec![KeyFile {
            name: "melange.rsa.pub".into(),
            pem: "PEM".into(),
        }],
        untrusted: Vec::new(),
        left_to_image: Vec::new(),
    });
    plan
}

fn inputs(caps: CapSet) -> BuildInputs {
    BuildInputs {
        base: ContextSource::Scratch,
        base_config: Default::default(),
        test_base: None,
        cache: None,
        cached_downloads: Default::default(),
        context_name: "context".into(),
        context_excludes: vec!["package.yaml".into()],
        source_dir: Default::default(),
        session_id: Some("sess".into()),
        platform: pb::Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        },
        build_platform: None,
        caps,
        source: None,
        helper: Some(ContextSource::Image(
            "docker.io/library/melange-frontend:dev".into(),
        )),
        signing_key_id: None,
        signing_public_key: None,
        no_cache: false,
        contexts: Default::default(),
    }
}

fn ops(def: &pb::Definition) -> Vec<(String, pb::Op)> {
    def.def
        .iter()
        .map(|b| (digest_of(b), pb::Op::decode(b.as_slice()).unwrap()))
        .collect()
}

fn name_of(def: &pb::Definition, digest: &str) -> String {
    def.metadata
        .get(digest)
        .and_then(|m| m.description.get("llb.customname").cloned())
        .unwrap_or_default()
}

/// (digest, exec) of every exec whose name contains `label`.
fn execs(def: &pb::Definition, label: &str) -> Vec<(String, pb::ExecOp)> {
    ops(def)
        .into_iter()
        .filter(|(digest, _)| name_of(def, digest).contains(label))
        .filter_map(|(digest, op)| match op.op {
            Some(pb::op::Op::Exec(exec)) => Some((digest, exec)),
            _ => None,
        })
        .collect()
}

fn two_packages() -> BuildPlan {
    with_packages(
        planned(""),
        vec![
            package(
                "musl",
                Location::Url("https://example.org/os/x86_64/musl-1.0-r0.apk".into()),
            ),
            package(
                "busybox",
                Location::Context("packages/x86_64/busybox-1.0-r0.apk".into()),
            ),
        ],
    )
}

#[test]
fn each_package_is_unpacked_by_the_helper_from_its_file() {
    let def = compile(&two_packages(), &inputs(CapSet::all())).unwrap();
    let unpacks = execs(&def, "environment: unpack");
    assert_eq!(unpacks.len(), 2);
    let (_, busybox) = &unpacks[1];
    let meta = busybox.meta.as_ref().unwrap();
    assert_eq!(
        meta.args,
        [
            "/melange-frontend",
            "install-apk",
            "--apk",
            "/input/package.apk",
            "--name",
            "busybox",
            "--version",
            "1.0-r0",
            "--checksum",
            "Q1busybox=",
            "--root",
            "/layer",
            "--meta",
            "/apk-meta"
        ]
    );
    assert_eq!(busybox.network, pb::NetMode::None as i32);
    let input = &busybox.mounts[1];
    assert_eq!(input.dest, "/input/package.apk");
    assert_eq!(input.selector, "packages/x86_64/busybox-1.0-r0.apk");
    assert!(input.readonly);
    // The layer and the record are the two outputs.
    assert_eq!(
        busybox.mounts.iter().map(|m| m.output).collect::<Vec<_>>(),
        [0, -1, 1, 2]
    );
    let (_, musl) = &unpacks[0];
    assert_eq!(musl.mounts[1].selector, "musl-1.0-r0.apk");
    let sources: Vec<pb::SourceOp> = ops(&def)
        .into_iter()
        .filter_map(|(_, op)| match op.op {
            Some(pb::op::Op::Source(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert!(sources.iter().any(|s| s.identifier
        == "https://example.org/os/x86_64/musl-1.0-r0.apk"
        && s.attrs.get("http.filename").map(String::as_str) == Some("musl-1.0-r0.apk")));
    assert!(sources.iter().any(|s| s.identifier == "local://context"
        && s.attrs.get("local.includepattern").map(String::as_str)
            == Some("[\"packages/x86_64/busybox-1.0-r0.apk\"]")));
}

#[test]
fn layers_merge_with_mergeop_or_copies_without_it() {
    let def = compile(&two_packages(), &inputs(CapSet::all())).unwrap();
    let merges = ops(&def)
        .into_iter()
        .filter(|(_, op)| matches!(op.op, Some(pb::op::Op::Merge(_))))
        .count();
    assert_eq!(merges, 2, "layers and installed records");

    let old: Vec<String> = caps_without_merge();
    let def = compile(&two_packages(), &inputs(CapSet::from_enabled(old))).unwrap();
    let all = ops(&def);
    assert!(!all
        .iter()
        .any(|(_, op)| matches!(op.op, Some(pb::op::Op::Merge(_)))));
    let merge_copy = all
        .iter()
        .find(|(digest, _)| name_of(&def, digest).contains("merge 2 package layers"))
        .unwrap();
    assert!(matches!(merge_copy.1.op, Some(pb::op::Op::File(_))));
}

fn caps_without_merge() -> Vec<String> {
    use super::caps::*;
    [
        SOURCE_IMAGE,
        SOURCE_LOCAL,
        SOURCE_LOCAL_SESSION_ID,
        SOURCE_LOCAL_SHARED_KEY_HINT,
        SOURCE_LOCAL_FOLLOW_PATHS,
        SOURCE_LOCAL_INCLUDE_PATTERNS,
        SOURCE_LOCAL_EXCLUDE_PATTERNS,
        SOURCE_HTTP,
        SOURCE_HTTP_PERM,
        EXEC_META_BASE,
        EXEC_META_NETWORK,
        EXEC_MOUNT_BIND,
        EXEC_MOUNT_SELECTOR,
        EXEC_MOUNT_CACHE,
        EXEC_MOUNT_CACHE_SHARING,
        EXEC_MOUNT_SECRET,
        FILE_BASE,
        META_DESCRIPTION,
        META_IGNORE_CACHE,
    ]
    .iter()
    .map(|c| c.to_string())
    .collect()
}

#[test]
fn finish_step_gets_the_spec_and_busybox_gets_its_links() {
    let def = compile(&two_packages(), &inputs(CapSet::all())).unwrap();
    let finish = execs(&def, "install 2 packages");
    assert_eq!(finish.len(), 1);
    let args = &finish[0].1.meta.as_ref().unwrap().args;
    assert_eq!(args[1], "finish-environment");
    assert_eq!(args[args.len() - 2..], ["--layers", "/layers"]);
    // Each package's own layer, read-only, in install order: the unpack
    // steps. layer outputs.
    let layers: Vec<(&str, bool, String)> = finish[0]
        .1
        .mounts
        .iter()
        .filter(|m| m.dest.starts_with("/layers/"))
        .map(|m| (m.dest.as_str(), m.readonly, m.output.to_string()))
        .collect();
    assert_eq!(
        layers,
        [
            ("/layers/musl-1.0-r0", true, "-1".to_string()),
            ("/layers/busybox-1.0-r0", true, "-1".to_string())
        ]
    );
    let (finish_digest, _) = &finish[0];
    let finish_op = ops(&def)
        .into_iter()
        .find(|(d, _)| d == finish_digest)
        .unwrap()
        .1;
    let unpacks = execs(&def, "environment: unpack");
    for (mount, (unpack, _)) in finish[0]
        .1
        .mounts
        .iter()
        .filter(|m| m.dest.starts_with("/layers/"))
        .zip(&unpacks)
    {
        let input = &finish_op.inputs[mount.input as usize];
        // Output 1: the layer mount (0 is the helper root, 2 the record).
        assert_eq!((&input.digest, input.index), (unpack, 1));
    }
    let spec: serde_json::Value = ops(&def)
        .into_iter()
        .find_map(|(_, op)| match op.op {
            Some(pb::op::Op::File(file)) => file.actions.iter().find_map(|a| match &a.action {
                Some(pb::file_action::Action::Mkfile(mk)) if mk.path == "/environment.json" => {
                    serde_json::from_slice(&mk.data).ok()
                }
                _ => None,
            }),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        spec["packages"],
        serde_json::json!(["musl-1.0-r0", "busybox-1.0-r0"])
    );
    assert_eq!(spec["world"], serde_json::json!(["busybox"]));
    assert_eq!(spec["arch"], "x86_64");
    // Context folders do not exist inside the environment.
    assert_eq!(spec["repositories"], serde_json::json!([]));
    let links = execs(&def, "busybox --install -s");
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].1.meta.as_ref().unwrap().args[0], "/bin/busybox");
}

#[test]
fn an_added_package_leaves_the_other_unpack_steps_unchanged() {
    let before = compile(&two_packages(), &inputs(CapSet::all())).unwrap();
    let mut more = two_packages();
    let env = more.environment.as_mut().unwrap();
    let installation = env.installation.as_mut().unwrap();
    installation.packages.insert(
        1,
        package(
            "zlib",
            Location::Url("https://example.org/os/x86_64/zlib-1.0-r0.apk".into()),
        ),
    );
    let after = compile(&more, &inputs(CapSet::all())).unwrap();
    let digests = |def: &pb::Definition| -> Vec<String> {
        execs(def, "environment: unpack")
            .into_iter()
            .map(|(d, _)| d)
            .collect()
    };
    let (before, after) = (digests(&before), digests(&after));
    assert_eq!(after.len(), 3);
    for digest in &before {
        assert!(after.contains(digest), "{digest} changed");
    }
}

#[test]
fn compiling_is_deterministic_and_needs_a_resolution() {
    let a = compile(&two_packages(), &inputs(CapSet::all())).unwrap();
    let b = compile(&two_packages(), &inputs(CapSet::all())).unwrap();
    assert_eq!(a.encode_to_vec(), b.encode_to_vec());
    let err = compile(&planned(""), &inputs(CapSet::all())).unwrap_err();
    assert!(err.to_string().contains("not resolved"), "{err}");
}

#[test]
fn no_base_and_no_repository_is_an_error_naming_both_ways() {
    let yaml = "package: {name: demo, version: 1, epoch: 0}\nenvironment:\n  contents:\n    packages: [busybox]\npipeline:\n  - runs: echo 1\n";
    let config = config::load("package.yaml", yaml).unwrap();
    let err = plan::plan(
        "package.yaml",
        &config,
        &BuildOptions::default(),
        &plan::Library::new(),
    )
    .unwrap_err();
    assert!(
        err.message.contains("MELANGE_REPOSITORIES=./packages"),
        "{}",
        err.message
    );
    // Repositories but nothing to install: still no environment.
    let options = BuildOptions {
        build_args: [("MELANGE_REPOSITORIES".to_string(), "./p".to_string())].into(),
        ..Default::default()
    };
    let yaml = "package: {name: demo, version: 1, epoch: 0}\npipeline:\n  - runs: echo 1\n";
    let config = config::load("package.yaml", yaml).unwrap();
    let err = plan::plan("package.yaml", &config, &options, &plan::Library::new()).unwrap_err();
    assert!(
        err.message.starts_with("no build environment"),
        "{}",
        err.message
    );
}

#[test]
fn packages_from_named_contexts_come_from_their_own_sources() {
    let named = |path: &str| Location::Named {
        context: "repo".into(),
        path: path.into(),
    };
    let plan = with_packages(
        planned(""),
        vec![
            package("musl", named("os/x86_64/musl-1.0-r0.apk")),
            package(
                "busybox",
                Location::Context("packages/x86_64/busybox-1.0-r0.apk".into()),
            ),
            package("zlib", named("os/x86_64/zlib-1.0-r0.apk")),
            package(
                "make",
                Location::Named {
                    context: "image-repo".into(),
                    path: "x86_64/make-1.0-r0.apk".into(),
                },
            ),
        ],
    );
    // Without the contexts the gateway resolved, compiling says which is missing.
    let err = compile(&plan, &inputs(CapSet::all())).unwrap_err();
    assert!(
        err.to_string().contains("named context \"image-repo\""),
        "{err}"
    );

    let mut with_contexts = inputs(CapSet::all());
    with_contexts.contexts = [
        ("repo".to_string(), ContextSource::Local("repo".into())),
        (
            "image-repo".to_string(),
            ContextSource::Image("docker.io/library/repo:1".into()),
        ),
    ]
    .into();
    let def = compile(&plan, &with_contexts).unwrap();
    let sources: Vec<(String, pb::SourceOp)> = ops(&def)
        .into_iter()
        .filter_map(|(digest, op)| match op.op {
            Some(pb::op::Op::Source(s)) => Some((digest, s)),
            _ => None,
        })
        .collect();
    let local = |name: &str| {
        sources
            .iter()
            .find(|(_, s)| s.identifier == format!("local://{name}"))
            .map(|(digest, s)| (digest.clone(), s.clone()))
            .unwrap()
    };
    let (repo_digest, repo) = local("repo");
    assert_eq!(
        repo.attrs.get("local.includepattern").map(String::as_str),
        Some(r#"["os/x86_64/musl-1.0-r0.apk","os/x86_64/zlib-1.0-r0.apk"]"#)
    );
    assert_eq!(
        repo.attrs.get("local.sharedkeyhint").map(String::as_str),
        Some("repo:packages")
    );
    assert_eq!(
        name_of(&def, &repo_digest),
        "[1/3] environment: load 2 package files from named context repo"
    );
    let (_, context) = local("context");
    assert!(context
        .attrs
        .get("local.includepattern")
        .is_some_and(|p| p.contains("busybox")));
    assert!(sources
        .iter()
        .any(|(_, s)| s.identifier == "docker-image://docker.io/library/repo:1"));
    let unpacks = execs(&def, "environment: unpack");
    let selectors: Vec<&str> = unpacks
        .iter()
        .map(|(_, e)| e.mounts[1].selector.as_str())
        .collect();
    assert_eq!(
        selectors,
        [
            "os/x86_64/musl-1.0-r0.apk",
            "packages/x86_64/busybox-1.0-r0.apk",
            "os/x86_64/zlib-1.0-r0.apk",
            "x86_64/make-1.0-r0.apk"
        ]
    );
    // Each unpack reads its own context's source (input 1 is the file).
    let repo_index = def
        .def
        .iter()
        .position(|b| digest_of(b) == repo_digest)
        .unwrap();
    let inputs_of = |selector: &str| {
        let (digest, _) = unpacks
            .iter()
            .find(|(_, e)| e.mounts[1].selector == selector)
            .unwrap();
        let (_, op) = ops(&def).into_iter().find(|(d, _)| d == digest).unwrap();
        op.inputs[1].digest.clone()
    };
    assert_eq!(
        inputs_of("os/x86_64/zlib-1.0-r0.apk"),
        ops(&def)[repo_index].0
    );
    assert_ne!(inputs_of("packages/x86_64/busybox-1.0-r0.apk"), repo_digest);
}

#[test]
fn folders_under_a_link_are_left_out_of_the_layer() {
    let mut plan = two_packages();
    let installation = plan
        .environment
        .as_mut()
        .unwrap()
        .installation
        .as_mut()
        .unwrap();
    installation.packages[1].leave_out = vec!["bin".into()];
    let def = compile(&plan, &inputs(CapSet::all())).unwrap();
    let unpacks = execs(&def, "environment: unpack");
    let args = &unpacks[1].1.meta.as_ref().unwrap().args;
    assert_eq!(args[args.len() - 2..], ["--leave-out", "bin"]);
    assert!(!unpacks[0]
        .1
        .meta
        .as_ref()
        .unwrap()
        .args
        .contains(&"--leave-out".to_string()));
    // The gateway's look at the records runs the same unpack steps (no
    // leave-out yet): the build re-uses them.
    let records = package_records(&two_packages(), &inputs(CapSet::all())).unwrap();
    let plain = compile(&two_packages(), &inputs(CapSet::all())).unwrap();
    let digests = |def: &pb::Definition| -> Vec<String> {
        execs(def, "environment: unpack")
            .into_iter()
            .map(|(d, _)| d)
            .collect()
    };
    assert_eq!(digests(&records), digests(&plain));
}
