//! The workspace's source dir: which part of the context is transferred and
//! copied, and `.melangeignore`'s patterns on the local source.

use prost::Message;

use super::test_support::*;
use super::*;
use crate::plan::SourceDir;
use crate::proto::pb;

const YAML: &str = "package: {name: hello, version: 1, epoch: 0}\npipeline:\n  - runs: echo 1\n";

fn compile_with(source_dir: SourceDir, caps: CapSet) -> Result<pb::Definition, LlbError> {
    let mut inputs = offline_inputs(caps);
    inputs.source_dir = source_dir;
    compile(&workspace_plan(YAML), &inputs)
}

fn ops(def: &pb::Definition) -> Vec<pb::Op> {
    def.def
        .iter()
        .map(|b| pb::Op::decode(b.as_slice()).unwrap())
        .collect()
}

fn context_source(def: &pb::Definition) -> pb::SourceOp {
    ops(def)
        .into_iter()
        .find_map(|op| match op.op {
            Some(pb::op::Op::Source(s)) if s.identifier == "local://context" => Some(s),
            _ => None,
        })
        .expect("a local://context source")
}

/// The copy of the context into the workspace: its `src`.
fn workspace_copy_src(def: &pb::Definition) -> String {
    ops(def)
        .into_iter()
        .find_map(|op| match op.op {
            Some(pb::op::Op::File(file)) => file.actions.into_iter().find_map(|a| match a.action {
                Some(pb::file_action::Action::Copy(copy)) if copy.dest == "/home/build/" => {
                    Some(copy.src)
                }
                _ => None,
            }),
            _ => None,
        })
        .expect("the workspace copy")
}

fn hello_dir(ignore: Option<&str>) -> SourceDir {
    SourceDir::new(Some("hello".into()), ignore)
}

#[test]
fn a_source_dir_is_the_only_part_of_the_context_sent_and_copied() {
    let def = compile_with(hello_dir(None), CapSet::all()).unwrap();
    let source = context_source(&def);
    assert_eq!(source.attrs["local.includepattern"], r#"["hello"]"#);
    assert_eq!(source.attrs["local.excludepatterns"], r#"["package.yaml"]"#);
    assert_eq!(workspace_copy_src(&def), "/hello/");
}

#[test]
fn the_whole_context_without_a_source_dir() {
    let def = compile_with(SourceDir::default(), CapSet::all()).unwrap();
    let source = context_source(&def);
    assert!(!source.attrs.contains_key("local.includepattern"));
    assert_eq!(workspace_copy_src(&def), "/");
}

#[test]
fn melangeignore_patterns_follow_the_build_file_on_the_local_source() {
    let def = compile_with(hello_dir(Some("*.tmp\nsub/big\n")), CapSet::all()).unwrap();
    let source = context_source(&def);
    assert_eq!(
        source.attrs["local.excludepatterns"],
        r#"["package.yaml","hello/*.tmp","hello/**/*.tmp","hello/sub/big"]"#
    );
}

#[test]
fn the_source_dir_changes_the_workspace_and_is_deterministic() {
    let a = compile_with(hello_dir(Some("x\n")), CapSet::all()).unwrap();
    let b = compile_with(hello_dir(Some("x\n")), CapSet::all()).unwrap();
    assert_eq!(a.encode_to_vec(), b.encode_to_vec());
    let whole = compile_with(SourceDir::default(), CapSet::all()).unwrap();
    assert_ne!(a.encode_to_vec(), whole.encode_to_vec());
}

fn caps_without(missing: &[&str]) -> CapSet {
    use super::caps::*;
    let all = [
        SOURCE_IMAGE,
        SOURCE_LOCAL,
        SOURCE_LOCAL_SESSION_ID,
        SOURCE_LOCAL_SHARED_KEY_HINT,
        SOURCE_LOCAL_FOLLOW_PATHS,
        SOURCE_LOCAL_INCLUDE_PATTERNS,
        SOURCE_LOCAL_EXCLUDE_PATTERNS,
        EXEC_META_BASE,
        EXEC_MOUNT_BIND,
        EXEC_MOUNT_CACHE,
        EXEC_MOUNT_CACHE_SHARING,
        FILE_BASE,
        META_DESCRIPTION,
    ];
    CapSet::from_enabled(
        all.iter()
            .filter(|cap| !missing.contains(cap))
            .map(|cap| cap.to_string()),
    )
}

#[test]
fn without_include_patterns_the_whole_context_is_sent_and_the_folder_copied() {
    let def = compile_with(
        hello_dir(None),
        caps_without(&[caps::SOURCE_LOCAL_INCLUDE_PATTERNS]),
    )
    .unwrap();
    assert!(!context_source(&def)
        .attrs
        .contains_key("local.includepattern"));
    assert_eq!(workspace_copy_src(&def), "/hello/");
}

#[test]
fn without_exclude_patterns_melangeignore_fails_naming_the_cap() {
    let caps = caps_without(&[caps::SOURCE_LOCAL_EXCLUDE_PATTERNS]);
    // No ignore rules: the build file goes along, nothing fails.
    let def = compile_with(hello_dir(None), caps.clone()).unwrap();
    assert!(!context_source(&def)
        .attrs
        .contains_key("local.excludepatterns"));
    let error = compile_with(hello_dir(Some("x\n")), caps).unwrap_err();
    assert!(
        error.to_string().contains("source.local.excludepatterns"),
        "{error}"
    );
}
