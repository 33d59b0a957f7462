//! The LLB of a native `fetch`: the HTTP source carries the checksum, the
//! helper unpacks without network, the copy lands in the working directory,
//! and the bytes are deterministic.

use prost::Message;

use super::test_support::*;
use super::*;
use crate::proto::pb;

const SHA: &str = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";

fn yaml(with: &str) -> String {
    format!(
        "package: {{name: hello, version: '2.10', epoch: 0}}\npipeline:\n  - uses: fetch\n    working-directory: src\n    with:\n      uri: https://ftp.gnu.org/gnu/hello/hello-${{{{package.version}}}}.tar.gz\n{with}  - runs: ./configure\n"
    )
}

fn compile_fetch(with: &str, caps: CapSet) -> pb::Definition {
    compile(&workspace_plan(&yaml(with)), &offline_inputs(caps)).unwrap()
}

fn http_source(def: &pb::Definition) -> pb::SourceOp {
    let found: Vec<pb::SourceOp> = decoded_ops(def)
        .into_iter()
        .filter_map(|op| match op.op {
            Some(pb::op::Op::Source(s)) if s.identifier.starts_with("https://") => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

fn helper_args(def: &pb::Definition) -> Vec<String> {
    decoded_ops(def)
        .into_iter()
        .find_map(|op| match op.op {
            Some(pb::op::Op::Exec(e))
                if e.meta.as_ref().unwrap().args[0] == "/melange-frontend" =>
            {
                let meta = e.meta.unwrap();
                assert_eq!(e.network, pb::NetMode::None as i32);
                Some(meta.args)
            }
            _ => None,
        })
        .expect("the unpack exec")
}

#[test]
fn sha256_fetch_is_an_http_source_with_its_checksum() {
    let with = format!("      expected-sha256: {SHA}\n");
    let def = compile_fetch(&with, CapSet::all());
    let source = http_source(&def);
    assert_eq!(
        source.identifier,
        "https://ftp.gnu.org/gnu/hello/hello-2.10.tar.gz"
    );
    assert_eq!(source.attrs["http.checksum"], format!("sha256:{SHA}"));
    assert_eq!(source.attrs["http.filename"], "hello-2.10.tar.gz");
    let args = helper_args(&def);
    assert_eq!(
        args[1..],
        [
            "extract",
            "--file",
            "/download/hello-2.10.tar.gz",
            "--uri",
            "https://ftp.gnu.org/gnu/hello/hello-2.10.tar.gz",
            "--out",
            "/unpacked",
            "--extract",
            "--strip-components",
            "1",
            "--directory",
            "",
        ]
    );
    // No wget: the script is gone, so are its needs.
    let text = exec_text(&def);
    assert!(text.contains("./configure"), "{text}");
    assert!(!text.contains("wget"), "{text}");
    // The copy into the working directory carries the step's name.
    let names: Vec<&String> = def
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname"))
        .collect();
    assert!(names.iter().any(|n| *n == "[2/4] uses: fetch"), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| *n == "unpack hello-2.10.tar.gz ([2/4] uses: fetch)"),
        "{names:?}"
    );
    let copy_dest = decoded_ops(&def).into_iter().find_map(|op| match op.op {
        Some(pb::op::Op::File(f)) => f.actions.into_iter().find_map(|a| match a.action {
            Some(pb::file_action::Action::Copy(c))
                if c.src == "/" && c.dest.starts_with("/home/build/src") =>
            {
                Some(c.dest)
            }
            _ => None,
        }),
        _ => None,
    });
    assert_eq!(copy_dest.as_deref(), Some("/home/build/src/"));
}

#[test]
fn the_definition_is_deterministic() {
    let with = format!("      expected-sha256: {SHA}\n");
    let a = compile_fetch(&with, CapSet::all());
    let b = compile_fetch(&with, CapSet::all());
    assert_eq!(a.encode_to_vec(), b.encode_to_vec());
}

#[test]
fn sha512_and_missing_checksum_cap_are_verified_by_the_helper() {
    let sha512 = "ab".repeat(64);
    let def = compile_fetch(&format!("      expected-sha512: {sha512}\n"), CapSet::all());
    assert!(!http_source(&def).attrs.contains_key("http.checksum"));
    let args = helper_args(&def);
    assert!(
        args.windows(2).any(|w| w == ["--sha512", sha512.as_str()]),
        "{args:?}"
    );

    let caps: Vec<String> = [
        "source.image",
        "source.local",
        "source.local.sessionid",
        "source.local.sharedkeyhint",
        "source.local.excludepatterns",
        "source.http",
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
    let def = compile_fetch(
        &format!("      expected-sha256: {SHA}\n"),
        CapSet::from_enabled(caps),
    );
    assert!(!http_source(&def).attrs.contains_key("http.checksum"));
    let args = helper_args(&def);
    assert!(args.windows(2).any(|w| w == ["--sha256", SHA]), "{args:?}");
}

#[test]
fn inputs_the_source_cannot_express_keep_the_script() {
    let def = compile_fetch(
        &format!("      expected-sha256: {SHA}\n      directory: ../elsewhere\n"),
        CapSet::all(),
    );
    assert!(decoded_ops(&def).iter().all(|op| !matches!(&op.op,
        Some(pb::op::Op::Source(s)) if s.identifier.starts_with("https://"))));
    assert!(exec_text(&def).contains("wget"));
}
