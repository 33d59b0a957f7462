use std::collections::BTreeMap;

use prost::Message;

use super::*;
use crate::config;
use crate::plan::{self, BuildOptions};
use crate::proto::pb;

fn platform() -> pb::Platform {
    pb::Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        ..Default::default()
    }
}

fn decode_ops(def: &pb::Definition) -> Vec<pb::Op> {
    def.def
        .iter()
        .map(|b| pb::Op::decode(b.as_slice()).unwrap())
        .collect()
}

fn find_exec(ops: &[pb::Op]) -> Vec<&pb::ExecOp> {
    ops.iter()
        .filter_map(|op| match &op.op {
            Some(pb::op::Op::Exec(e)) => Some(e),
            _ => None,
        })
        .collect()
}

const YAML: &str = "package: {name: hello, version: 1, epoch: 0}\npipeline:\n  - name: one\n    runs: echo 1\n  - runs: echo 2\nsubpackages:\n  - name: hello-doc\n    pipeline:\n      - runs: echo doc\n";

fn inputs(caps: CapSet) -> BuildInputs {
    BuildInputs {
        base: ContextSource::Image("docker.io/library/busybox:latest".into()),
        base_config: image::ImageConfig {
            env: vec![
                ("PATH".into(), "/opt/bin:/bin".into()),
                ("LANG".into(), "C".into()),
            ],
            working_dir: None,
            user: Some("1000".into()),
        },
        test_base: None,
        cache: None,
        cached_downloads: Default::default(),
        context_name: "context".into(),
        context_excludes: vec!["package.yaml".into()],
        source_dir: Default::default(),
        session_id: Some("sess".into()),
        platform: platform(),
        build_platform: None,
        caps,
        source: Some(SourceFile {
            filename: "package.yaml".into(),
            data: YAML.as_bytes().to_vec(),
        }),
        helper: Some(ContextSource::Image(
            "docker.io/library/melange-frontend:dev".into(),
        )),
        signing_key_id: None,
        signing_public_key: None,
        no_cache: false,
        contexts: Default::default(),
    }
}

fn compile_yaml(caps: CapSet) -> pb::Definition {
    // The pipeline steps alone; packaging has its own tests.
    compile(&test_support::workspace_plan(YAML), &inputs(caps)).unwrap()
}

#[test]
fn same_plan_gives_identical_bytes_and_digests() {
    let a = compile_yaml(CapSet::all());
    let b = compile_yaml(CapSet::all());
    assert_eq!(a.encode_to_vec(), b.encode_to_vec());
    let digests: Vec<String> = a.def.iter().map(|d| digest_of(d)).collect();
    assert_eq!(
        digests,
        b.def.iter().map(|d| digest_of(d)).collect::<Vec<_>>()
    );
}

#[test]
fn definition_ends_with_a_terminal_op_and_inputs_come_first() {
    let def = compile_yaml(CapSet::all());
    let ops = decode_ops(&def);
    let terminal = ops.last().unwrap();
    assert!(terminal.op.is_none());
    assert_eq!(terminal.inputs.len(), 1);
    let mut seen = std::collections::BTreeSet::new();
    for (bytes, op) in def.def.iter().zip(&ops) {
        for input in &op.inputs {
            assert!(
                seen.contains(&input.digest),
                "input {} used before it is defined",
                input.digest
            );
        }
        seen.insert(digest_of(bytes));
    }
}

#[test]
fn steps_chain_root_filesystems_with_cache_mounts_and_names() {
    let def = compile_yaml(CapSet::all());
    let ops = decode_ops(&def);
    let execs = find_exec(&ops);
    assert_eq!(execs.len(), 3);
    for exec in &execs {
        assert_eq!(exec.mounts[0].dest, "/");
        assert_eq!(exec.mounts[0].output, 0);
        let caches: Vec<(&str, &str, i32)> = exec
            .mounts
            .iter()
            .filter_map(|m| {
                m.cache_opt
                    .as_ref()
                    .map(|c| (c.id.as_str(), m.dest.as_str(), c.sharing))
            })
            .collect();
        assert_eq!(caches.len(), 9);
        for cache in [
            ("melange-go-build-cache", "/root/.cache/go-build"),
            ("melange-cache-dir", "/var/cache/melange"),
        ] {
            assert!(
                caches.contains(&(cache.0, cache.1, pb::CacheSharingOpt::Shared as i32)),
                "{caches:?}"
            );
        }
        let meta = exec.meta.as_ref().unwrap();
        assert_eq!(meta.args[..2], ["/bin/sh".to_string(), "-c".to_string()]);
        assert_eq!(meta.user, "1000");
        assert!(
            meta.env.contains(&"PATH=/opt/bin:/bin".to_string()),
            "image PATH wins over the default"
        );
        assert!(meta.env.contains(&"LANG=C".to_string()));
        assert!(meta.env.contains(&"HOME=/home/build".to_string()));
        let mut sorted = meta.env.clone();
        sorted.sort();
        assert_eq!(sorted, meta.env, "env must be sorted for stable digests");
    }
    let names: Vec<&str> = def
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname").map(String::as_str))
        .collect();
    for want in [
        "[1/5] environment",
        "[2/5] one",
        "[3/5] echo 2",
        "[4/5] hello-doc: echo doc",
        "[5/5] collect melange-out",
    ] {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }
}

#[test]
fn step_ops_carry_source_locations() {
    let def = compile_yaml(CapSet::all());
    let source = def.source.as_ref().unwrap();
    assert_eq!(source.infos[0].filename, "package.yaml");
    let lines: Vec<i32> = source
        .locations
        .values()
        .flat_map(|l| {
            l.locations
                .iter()
                .flat_map(|loc| loc.ranges.iter().map(|r| r.start.as_ref().unwrap().line))
        })
        .collect();
    assert!(
        lines.contains(&3) && lines.contains(&5) && lines.contains(&9),
        "{lines:?}"
    );
}

#[test]
fn a_step_is_marked_whole_and_the_result_points_at_the_package() {
    let def = compile_yaml(CapSet::all());
    let source = def.source.as_ref().unwrap();
    let range_of = |name: &str| {
        let digest = def
            .metadata
            .iter()
            .find(|(_, m)| m.description.get("llb.customname").map(String::as_str) == Some(name))
            .map(|(d, _)| d.clone())
            .unwrap_or_else(|| panic!("no op named {name}"));
        let range = &source.locations[&digest].locations[0].ranges[0];
        (
            range.start.as_ref().unwrap().line,
            range.end.as_ref().unwrap().line,
        )
    };
    // `- name: one` / `runs: echo 1`: lines 3-4.
    assert_eq!(range_of("[2/5] one"), (3, 4));
    // The package's name is on line 1.
    assert_eq!(range_of("[5/5] collect melange-out"), (1, 1));
}

#[test]
fn metadata_records_caps_per_op() {
    let def = compile_yaml(CapSet::all());
    let all_caps: std::collections::BTreeSet<&str> = def
        .metadata
        .values()
        .flat_map(|m| m.caps.keys().map(String::as_str))
        .collect();
    for cap in [
        "source.image",
        "source.local",
        "source.local.sessionid",
        "exec.meta.base",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
        "file.base",
        "meta.description",
    ] {
        assert!(all_caps.contains(cap), "{cap} not recorded: {all_caps:?}");
    }
}

#[test]
fn missing_cap_fails_naming_it() {
    let caps = CapSet::from_enabled(
        [
            "source.image",
            "source.local",
            "source.local.sessionid",
            "source.local.sharedkeyhint",
            "file.base",
            "exec.meta.base",
            "exec.mount.bind",
        ]
        .map(String::from),
    );
    let config = config::load("package.yaml", YAML).unwrap();
    let options = BuildOptions {
        build_args: BTreeMap::from([("MELANGE_ENVIRONMENT_IMAGE".into(), "busybox".into())]),
        ..Default::default()
    };
    let plan = plan::plan("package.yaml", &config, &options, &plan::Library::new()).unwrap();
    let err = compile(&plan, &inputs(caps)).unwrap_err();
    assert_eq!(
        err,
        LlbError::MissingCap {
            cap: "exec.mount.cache".into(),
            feature: "[2/5] one".into()
        }
    );
}

#[test]
fn without_meta_description_names_are_left_out() {
    let mut caps: Vec<String> = [
        "source.image",
        "source.local",
        "source.local.sessionid",
        "source.local.sharedkeyhint",
        "file.base",
        "exec.meta.base",
        "exec.mount.bind",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
    ]
    .map(String::from)
    .to_vec();
    let def = compile(
        &plan::plan(
            "package.yaml",
            &config::load("package.yaml", YAML).unwrap(),
            &BuildOptions {
                build_args: BTreeMap::from([(
                    "MELANGE_ENVIRONMENT_IMAGE".into(),
                    "busybox".into(),
                )]),
                target: Some("workspace".into()),
                ..Default::default()
            },
            &plan::Library::new(),
        )
        .unwrap(),
        &inputs(CapSet::from_enabled(caps.clone())),
    )
    .unwrap();
    assert!(def.metadata.values().all(|m| m.description.is_empty()));
    caps.push("meta.description".into());
    assert!(!compile_yaml(CapSet::from_enabled(caps))
        .metadata
        .values()
        .all(|m| m.description.is_empty()));
}

fn graph() -> Graph {
    Graph::new(platform(), CapSet::all())
}

fn single_op(def: &pb::Definition, index: usize) -> pb::Op {
    pb::Op::decode(def.def[index].as_slice()).unwrap()
}

#[test]
fn sources_have_buildkit_identifiers_and_attrs() {
    let mut g = graph();
    let local = g
        .local(
            "context",
            &LocalOptions {
                session_id: Some("s".into()),
                shared_key_hint: Some("context".into()),
                follow_paths: vec!["package.yaml".into()],
                include_patterns: vec!["src/**".into()],
                exclude_patterns: vec!["out".into()],
                differ_none: true,
            },
            OpInfo::default(),
        )
        .unwrap();
    let http = g
        .http(
            "https://example.com/a.tar.gz",
            &HttpOptions {
                checksum: Some("sha256:00".into()),
                filename: Some("a.tar.gz".into()),
                mode: Some(0o644),
            },
            OpInfo::default(),
        )
        .unwrap();
    let git = g
        .git(
            "https://example.com/r.git",
            "v1",
            &GitOptions {
                keep_git_dir: true,
                ..Default::default()
            },
            OpInfo::default(),
        )
        .unwrap();
    let merged = g.merge(&[local, http, git], OpInfo::default()).unwrap();
    let def = g.finish(&merged);
    let source = |i: usize| match single_op(&def, i).op {
        Some(pb::op::Op::Source(s)) => s,
        other => panic!("{other:?}"),
    };
    let local = source(0);
    assert_eq!(local.identifier, "local://context");
    assert_eq!(local.attrs["local.followpaths"], r#"["package.yaml"]"#);
    assert_eq!(local.attrs["local.includepattern"], r#"["src/**"]"#);
    assert_eq!(local.attrs["local.excludepatterns"], r#"["out"]"#);
    assert_eq!(local.attrs["local.differ"], "none");
    assert_eq!(local.attrs["local.session"], "s");
    let http = source(1);
    assert_eq!(http.identifier, "https://example.com/a.tar.gz");
    assert_eq!(http.attrs["http.checksum"], "sha256:00");
    assert_eq!(http.attrs["http.perm"], "0644");
    let git = source(2);
    assert_eq!(git.identifier, "git://example.com/r.git#v1");
    assert_eq!(git.attrs["git.fullurl"], "https://example.com/r.git");
    assert_eq!(git.attrs["git.keepgitdir"], "true");
    match single_op(&def, 3).op {
        Some(pb::op::Op::Merge(m)) => assert_eq!(
            m.inputs.iter().map(|i| i.input).collect::<Vec<_>>(),
            [0, 1, 2]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exec_mounts_number_inputs_and_outputs() {
    let mut g = graph();
    let root = g
        .image("docker.io/library/busybox:latest", OpInfo::default())
        .unwrap();
    let data = g
        .local("data", &LocalOptions::default(), OpInfo::default())
        .unwrap();
    let out = g
        .exec(
            Exec {
                args: vec!["true".into()],
                root: root.clone(),
                network: Network::None,
                mounts: vec![
                    Mount::Bind {
                        dest: "/src".into(),
                        source: data.clone(),
                        selector: Some("sub".into()),
                        readonly: true,
                    },
                    Mount::Bind {
                        dest: "/out".into(),
                        source: State::scratch(),
                        selector: None,
                        readonly: false,
                    },
                    Mount::Bind {
                        dest: "/again".into(),
                        source: root,
                        selector: None,
                        readonly: false,
                    },
                    Mount::Secret {
                        dest: "/run/secrets/k".into(),
                        id: "k".into(),
                        mode: 0o400,
                        optional: true,
                    },
                    Mount::Tmpfs {
                        dest: "/tmp".into(),
                        size: 0,
                    },
                ],
                ..Default::default()
            },
            OpInfo::default(),
        )
        .unwrap();
    assert_eq!(out.binds.len(), 2);
    let def = g.finish(&out.binds[0]);
    let op = single_op(&def, 2);
    assert_eq!(
        op.inputs.len(),
        2,
        "the root image is used twice but is one input"
    );
    let Some(pb::op::Op::Exec(exec)) = op.op else {
        panic!()
    };
    assert_eq!(exec.network, pb::NetMode::None as i32);
    let shape: Vec<(i64, i64, bool, i32)> = exec
        .mounts
        .iter()
        .map(|m| (m.input, m.output, m.readonly, m.mount_type))
        .collect();
    assert_eq!(
        shape,
        [
            (0, 0, false, 0),
            (1, -1, true, 0),
            (-1, 1, false, 0),
            (0, 2, false, 0),
            (-1, -1, false, 1),
            (-1, -1, false, 4)
        ]
    );
    assert_eq!(exec.mounts[1].selector, "sub");
    assert_eq!(exec.mounts[4].secret_opt.as_ref().unwrap().mode, 0o400);
    let terminal = single_op(&def, 3);
    assert_eq!(terminal.inputs[0].index, 1);
    let caps = &def.metadata[&digest_of(&def.def[2])].caps;
    for cap in [
        "exec.mount.selector",
        "exec.mount.secret",
        "exec.mount.tmpfs",
        "exec.meta.network",
    ] {
        assert!(caps.contains_key(cap), "{cap}");
    }
}

#[test]
fn file_actions_chain_through_relative_indices() {
    let mut g = graph();
    let base = g
        .image("docker.io/library/busybox:latest", OpInfo::default())
        .unwrap();
    let other = g
        .local("ctx", &LocalOptions::default(), OpInfo::default())
        .unwrap();
    let out = g
        .file(
            &base,
            vec![
                FileAction::Mkdir {
                    path: "/a".into(),
                    mode: 0o755,
                    parents: true,
                },
                FileAction::Copy {
                    from: other,
                    src: "/x".into(),
                    dest: "/a/x".into(),
                    contents_only: false,
                    create_parents: true,
                    include: vec![],
                    exclude: vec![],
                },
                FileAction::Mkfile {
                    path: "/a/f".into(),
                    mode: 0o644,
                    data: b"hi".to_vec(),
                },
                FileAction::Rm {
                    path: "/a/x".into(),
                    allow_not_found: true,
                },
            ],
            OpInfo::default(),
        )
        .unwrap();
    let def = g.finish(&out);
    let Some(pb::op::Op::File(file)) = single_op(&def, 2).op else {
        panic!()
    };
    let shape: Vec<(i64, i64, i64)> = file
        .actions
        .iter()
        .map(|a| (a.input, a.secondary_input, a.output))
        .collect();
    assert_eq!(shape, [(0, -1, -1), (2, 1, -1), (3, -1, -1), (4, -1, 0)]);
}

#[test]
fn merge_falls_back_to_copies_without_mergeop() {
    let mut g = Graph::new(
        platform(),
        CapSet::from_enabled(["source.image", "file.base"].map(String::from)),
    );
    let a = g
        .image("docker.io/library/a:latest", OpInfo::default())
        .unwrap();
    let b = g
        .image("docker.io/library/b:latest", OpInfo::default())
        .unwrap();
    let merged = g.merge(&[a, b], OpInfo::default()).unwrap();
    let def = g.finish(&merged);
    let Some(pb::op::Op::File(file)) = single_op(&def, 2).op else {
        panic!("expected a copy fallback")
    };
    assert_eq!(file.actions.len(), 1);
}

#[test]
fn imported_definitions_are_reused_verbatim() {
    let mut g = graph();
    let image = g
        .image("docker.io/library/a:latest", OpInfo::named("a"))
        .unwrap();
    let imported = g.finish(&image);
    let mut g = graph();
    let state = g.import(&imported).unwrap();
    assert_eq!(state.digest(), Some(digest_of(&imported.def[0]).as_str()));
    let def = g.finish(&state);
    assert_eq!(def.def, imported.def);
    assert!(g_err_empty());
}

fn g_err_empty() -> bool {
    graph().import(&pb::Definition::default()).is_err()
}

#[test]
fn the_build_file_is_left_out_of_the_context() {
    let def = compile_yaml(CapSet::all());
    let context = decode_ops(&def)
        .into_iter()
        .find_map(|op| match op.op {
            Some(pb::op::Op::Source(s)) if s.identifier == "local://context" => Some(s),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        context.attrs["local.excludepatterns"],
        r#"["package.yaml"]"#
    );
}

#[test]
fn insecure_exec_sets_the_security_mode_and_its_cap() {
    let mut g = graph();
    let root = g
        .image("docker.io/library/busybox:latest", OpInfo::default())
        .unwrap();
    let out = g
        .exec(
            Exec {
                args: vec!["true".into()],
                root,
                insecure: true,
                ..Default::default()
            },
            OpInfo::default(),
        )
        .unwrap();
    let def = g.finish(&out.root);
    let Some(pb::op::Op::Exec(exec)) = single_op(&def, 1).op else {
        panic!()
    };
    assert_eq!(exec.security, pb::SecurityMode::Insecure as i32);
    let caps = &def.metadata[&digest_of(&def.def[1])].caps;
    assert!(caps.contains_key("exec.meta.security"));
}

#[test]
fn no_cache_marks_every_op_ignore_cache() {
    let config = config::load("package.yaml", YAML).unwrap();
    let options = BuildOptions {
        build_args: BTreeMap::from([("MELANGE_ENVIRONMENT_IMAGE".into(), "busybox".into())]),
        target: Some("workspace".into()),
        ..Default::default()
    };
    let plan = plan::plan("package.yaml", &config, &options, &plan::Library::new()).unwrap();
    let cached = compile(&plan, &inputs(CapSet::all())).unwrap();
    assert!(cached.metadata.values().all(|m| !m.ignore_cache));
    let mut no_cache = inputs(CapSet::all());
    no_cache.no_cache = true;
    let def = compile(&plan, &no_cache).unwrap();
    assert_eq!(def.def.len(), cached.def.len());
    for op in &def.def[..def.def.len() - 1] {
        assert!(def.metadata[&digest_of(op)].ignore_cache);
    }
}
