//! The LLB of a native `git-checkout`: a Git source at the commit with its
//! `.git`, BuildKit's auth attrs where the daemon has them, the helper
//! (network only for an `http://` tag check), the copy into the workspace,
//! and deterministic bytes.

use std::collections::BTreeMap;

use prost::Message;

use super::test_support::*;
use super::*;
use crate::proto::pb;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn compile_git(with: &str, caps: CapSet) -> pb::Definition {
    let text = format!(
        "package: {{name: hello, version: '2.10', epoch: 0}}\npipeline:\n  - uses: git-checkout\n    with:\n      expected-commit: {COMMIT}\n{with}  - runs: ./configure\n"
    );
    compile(&workspace_plan(&text), &offline_inputs(caps)).unwrap()
}

fn git_sources(def: &pb::Definition) -> Vec<pb::SourceOp> {
    decoded_ops(def)
        .into_iter()
        .filter_map(|op| match op.op {
            Some(pb::op::Op::Source(s)) if s.identifier.starts_with("git://") => Some(s),
            _ => None,
        })
        .collect()
}

/// The helper exec's argv and network mode.
fn helper(def: &pb::Definition) -> (Vec<String>, i32) {
    decoded_ops(def)
        .into_iter()
        .find_map(|op| match op.op {
            Some(pb::op::Op::Exec(e))
                if e.meta.as_ref().unwrap().args[0] == "/melange-frontend" =>
            {
                Some((e.meta.unwrap().args, e.network))
            }
            _ => None,
        })
        .expect("the checkout exec")
}

fn copy_dests(def: &pb::Definition) -> Vec<String> {
    decoded_ops(def)
        .into_iter()
        .filter_map(|op| match op.op {
            Some(pb::op::Op::File(f)) => Some(f.actions),
            _ => None,
        })
        .flatten()
        .filter_map(|a| match a.action {
            Some(pb::file_action::Action::Copy(c)) if c.src == "/" => Some(c.dest),
            _ => None,
        })
        .collect()
}

#[test]
fn a_tag_is_a_git_source_pinned_by_the_commit() {
    let def = compile_git(
        "      repository: https://github.com/o/hello.git\n      tag: v2.10\n      destination: src\n",
        CapSet::all(),
    );
    let [source] = git_sources(&def).try_into().unwrap();
    assert_eq!(
        source.identifier,
        format!("git://github.com/o/hello.git#{COMMIT}")
    );
    assert_eq!(
        source.attrs,
        BTreeMap::from([
            (
                "git.fullurl".to_string(),
                "https://github.com/o/hello.git".to_string()
            ),
            ("git.keepgitdir".into(), "true".into()),
            ("git.authtokensecret".into(), "GIT_AUTH_TOKEN".into()),
            ("git.authheadersecret".into(), "GIT_AUTH_HEADER".into()),
            ("git.skipsubmodules".into(), "true".into()),
        ])
    );
    let (args, network) = helper(&def);
    assert_eq!(
        args[1..],
        [
            "git-checkout",
            "--tree",
            "/checkout",
            "--repository",
            "https://github.com/o/hello.git",
            "--commit",
            COMMIT,
            "--mtime",
            "315532800",
            "--tag",
            "v2.10",
            "--no-submodules",
        ]
    );
    assert_eq!(
        network,
        pb::NetMode::None as i32,
        "no network in the checkout step"
    );
    assert!(copy_dests(&def).contains(&"/home/build/src/".to_string()));
    // no git in the environment: the script and its needs are gone
    let text = exec_text(&def);
    assert!(
        text.contains("./configure") && !text.contains("git clone"),
        "{text}"
    );
    let names: Vec<&String> = def
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname"))
        .collect();
    assert!(
        names.iter().any(|n| *n == "[2/4] uses: git-checkout"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| **n
            == format!("git https://github.com/o/hello.git tag v2.10 (expected-commit {COMMIT})")),
        "{names:?}"
    );
}

#[test]
fn the_checkout_step_has_no_network_ssh_gets_the_agent() {
    let def = compile_git(
        "      repository: http://git.example.org:8080/hello.git\n      tag: v2.10\n      recurse-submodules: true\n",
        CapSet::all(),
    );
    let (args, network) = helper(&def);
    // the tag is checked by the frontend before the build, not in a step
    assert!(!args.iter().any(|a| a.contains("check-tag")), "{args:?}");
    assert!(!args.contains(&"--peeled".to_string()), "{args:?}");
    assert!(!args.contains(&"--no-submodules".to_string()), "{args:?}");
    assert_eq!(network, pb::NetMode::None as i32);
    assert!(!git_sources(&def)[0]
        .attrs
        .contains_key("git.skipsubmodules"));
    assert!(copy_dests(&def).contains(&"/home/build/".to_string()));

    let def = compile_git(
        "      repository: git@github.com:o/hello.git\n",
        CapSet::all(),
    );
    let [source] = git_sources(&def).try_into().unwrap();
    assert_eq!(source.attrs["git.mountsshsock"], "default");
    assert!(!source.attrs.contains_key("git.authtokensecret"));
    assert_eq!(
        source.identifier,
        format!("git://git@github.com:o/hello.git#{COMMIT}")
    );
}

#[test]
fn optional_attrs_need_their_caps() {
    let caps: Vec<String> = [
        "source.image",
        "source.local",
        "source.local.sessionid",
        "source.local.sharedkeyhint",
        "source.local.excludepatterns",
        "source.git",
        "source.git.fullurl",
        "source.git.keepgitdir",
        "file.base",
        "exec.meta.base",
        "exec.meta.network",
        "exec.mount.bind",
        "exec.mount.selector",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
        "meta.description",
    ]
    .map(String::from)
    .to_vec();
    let def = compile_git(
        "      repository: https://h/o/r\n      tag: v1\n",
        CapSet::from_enabled(caps),
    );
    let [source] = git_sources(&def).try_into().unwrap();
    assert_eq!(
        source.attrs.keys().collect::<Vec<_>>(),
        ["git.fullurl", "git.keepgitdir"]
    );
    // submodules are then emptied by the helper instead
    assert!(helper(&def).0.contains(&"--no-submodules".to_string()));
}

#[test]
fn the_definition_is_deterministic_and_fallbacks_keep_the_script() {
    let with = "      repository: https://h/o/r\n      tag: v1\n";
    let a = compile_git(with, CapSet::all());
    let b = compile_git(with, CapSet::all());
    assert_eq!(a.encode_to_vec(), b.encode_to_vec());
    let def = compile_git(
        "      repository: https://h/o/r\n      tag: v1\n      cherry-picks: \"main/abc: why\"\n",
        CapSet::all(),
    );
    assert!(git_sources(&def).is_empty());
    assert!(exec_text(&def).contains("git"));
}
