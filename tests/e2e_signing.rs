//! End-to-end tests of signing with a declared public key, on both engines:
//! the key's public half beside the build (`melange.rsa.pub` at the context
//! root, or `MELANGE_SIGNING_PUBLIC_KEY`) replaces the never-cached signing
//! probe, so a warm signed rebuild runs no container; the packaging step
//! refuses another secret (naming both fingerprints) and a missing one
//! (saying how to pass it); without a declared key the probe still runs.
//! Ignored by plain `cargo test`; `hack/test` runs them with `--ignored`.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use melange_frontend::apk::sign::public_pem_id;
use melange_frontend::apk::tools::verify_file;
use melange_frontend::apk::{Keyring, Verified};

const EPOCH: &str = "SOURCE_DATE_EPOCH=1700000000";
/// The probe's vertex name: absent from every build with a declared key.
const PROBE: &str = "check the melange.rsa signing secret";

/// `hello` in a fresh context with a key pair: the private key's path and
/// the public key's fingerprint; the public key is at `context/PUB_PATH`.
fn context_with_key(label: &str, pub_path: &str) -> (PathBuf, PathBuf, PathBuf, String) {
    let dir = scratch_dir(label);
    let context = copy_package("hello", &dir);
    let (key, keys) = signing_key(&dir);
    let public = read(&keys.join("melange.rsa.pub"));
    let target = context.join(pub_path);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, &public).unwrap();
    (dir, context, key, public_pem_id(&public).unwrap())
}

fn secret_arg(key: &Path) -> String {
    format!("id=melange.rsa,src={}", key.display())
}

/// Every file of `out` signed by `melange.rsa.pub` from `keys`.
fn assert_signed(out: &Path, keys: &Path, log: &str) {
    let keyring = Keyring::from_dir(keys).unwrap();
    let files: Vec<String> = tree(out)
        .into_iter()
        .filter(|f| !f.ends_with('/'))
        .collect();
    assert_eq!(files.len(), 4, "{files:?}\n{log}");
    for file in files {
        match verify_file(&out.join(&file), &keyring) {
            Ok(Verified::Signed { key }) => assert_eq!(key, "melange.rsa.pub"),
            other => panic!("{file}: {other:?}\n{log}"),
        }
    }
}

/// The vertices of a rawjson progress stream (Docker 28.5's buildx) that
/// ran: started, and never reported `cached`. Each as its name.
fn executed_vertices(log: &str) -> Vec<String> {
    let mut vertices: Vec<(String, serde_json::Map<String, serde_json::Value>)> = Vec::new();
    for line in log.lines() {
        let Ok(serde_json::Value::Object(status)) = serde_json::from_str(line) else {
            continue;
        };
        let Some(serde_json::Value::Array(list)) = status.get("vertexes") else {
            continue;
        };
        for vertex in list.iter().filter_map(|v| v.as_object()) {
            let Some(digest) = vertex.get("digest").and_then(|d| d.as_str()) else {
                continue;
            };
            let slot = match vertices.iter().position(|(d, _)| d == digest) {
                Some(i) => &mut vertices[i].1,
                None => {
                    vertices.push((digest.to_string(), Default::default()));
                    &mut vertices.last_mut().unwrap().1
                }
            };
            for (key, value) in vertex {
                if !value.is_null() && value != &serde_json::Value::Bool(false) {
                    slot.insert(key.clone(), value.clone());
                }
            }
        }
    }
    vertices
        .into_iter()
        .filter(|(_, v)| v.contains_key("started") && !v.contains_key("cached"))
        .map(|(_, v)| {
            v.get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

/// Vertices a warm rebuild may run that start no container: transfers of
/// the build file and context, image sources and config lookups (BuildKit
/// resolves them again on every build, as the Dockerfile frontend's FROM),
/// the spec file op, and the export.
fn starts_no_container(name: &str) -> bool {
    [
        "[internal] load ",
        "load build definition from ",
        "look for ",
        "load build context",
        "resolve image config for ",
        "environment base: ",
        "packaging metadata",
        "exporting to ",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

/// A declared public key at the context root: signed packages with no probe;
/// the warm rebuild runs nothing but context transfers, all steps CACHED.
fn declared_key_signs_without_a_probe(engine: Engine) {
    let (dir, context, key, _) = context_with_key("declared", "melange.rsa.pub");
    let secret = secret_arg(&key);
    let args = ["--secret", secret.as_str(), "--build-arg", EPOCH];
    let (out1, out2) = (dir.join("out1"), dir.join("out2"));
    let first = build(engine, &context, &out1, &args);
    assert!(first.success, "{}", first.log);
    assert!(!first.log.contains(PROBE), "{}", first.log);
    assert_signed(&out1, &dir.join("keys"), &first.log);

    let mut warm_args = args.to_vec();
    if engine == Engine::Docker28 {
        warm_args.push("--progress=rawjson");
    }
    let warm = build(engine, &context, &out2, &warm_args);
    assert!(warm.success, "{}", warm.log);
    assert!(!warm.log.contains(PROBE), "{}", warm.log);
    assert_signed(&out2, &dir.join("keys"), &warm.log);
    for file in tree(&out1).iter().filter(|f| !f.ends_with('/')) {
        assert_eq!(
            std::fs::read(out1.join(file)).unwrap(),
            std::fs::read(out2.join(file)).unwrap(),
            "{file} differs between the cold and the warm build"
        );
    }
    match engine {
        Engine::Docker28 | Engine::Docker28c => {
            let ran = executed_vertices(&warm.log);
            let execs: Vec<&String> = ran.iter().filter(|n| !starts_no_container(n)).collect();
            assert!(execs.is_empty(), "ran {execs:?} (all that ran: {ran:?})");
            assert!(
                !ran.is_empty() || warm.log.contains("\"cached\":true"),
                "no vertex in the rawjson stream:\n{}",
                warm.log
            );
        }
        Engine::Docker20 => {
            let steps = warm.steps();
            assert_eq!(steps.len(), 6, "{}", warm.log);
            assert!(steps.iter().all(|(_, cached)| *cached), "{}", warm.log);
        }
    }
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_declared_public_key_signs_and_a_warm_rebuild_runs_no_exec() {
    declared_key_signs_without_a_probe(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_declared_public_key_signs_and_a_warm_rebuild_runs_no_exec() {
    declared_key_signs_without_a_probe(Engine::Docker20);
}

/// A public key declared by build-arg: another secret fails naming both
/// fingerprints, no secret fails saying how to pass it, a file that is not
/// a public key fails naming it; `none` brings the probe back.
fn declared_key_refusals_and_the_probe(engine: Engine) {
    let (dir, context, _, declared) = context_with_key("refusals", "keys/packager.pub");
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (other_key, other_keys) = signing_key(&other);
    let other_id = public_pem_id(&read(&other_keys.join("melange.rsa.pub"))).unwrap();
    let arg = "MELANGE_SIGNING_PUBLIC_KEY=keys/packager.pub";
    let secret = secret_arg(&other_key);

    let wrong = build(
        engine,
        &context,
        &dir.join("out-wrong"),
        &["--build-arg", arg, "--secret", &secret],
    );
    assert!(!wrong.success, "{}", wrong.log);
    assert!(
        wrong.log.contains(&other_id) && wrong.log.contains(&declared),
        "both fingerprints ({other_id}, {declared}) expected:\n{}",
        wrong.log
    );
    assert!(wrong.log.contains("keys/packager.pub"), "{}", wrong.log);
    assert!(!wrong.log.contains(PROBE), "{}", wrong.log);

    let missing = build(
        engine,
        &context,
        &dir.join("out-missing"),
        &["--build-arg", arg],
    );
    assert!(!missing.success, "{}", missing.log);
    assert!(
        missing.log.contains("--secret id=melange.rsa,src="),
        "{}",
        missing.log
    );
    assert!(!missing.log.contains(PROBE), "{}", missing.log);

    // Not declared: the probe asks the secret, and no secret is unsigned.
    let probed = build(
        engine,
        &context,
        &dir.join("out-probed"),
        &["--build-arg", "MELANGE_SIGNING_PUBLIC_KEY=none"],
    );
    assert!(probed.success, "{}", probed.log);
    assert!(probed.log.contains(PROBE), "{}", probed.log);
    let index = dir.join("out-probed/x86_64/APKINDEX.tar.gz");
    assert!(matches!(
        verify_file(&index, &Keyring::new()).unwrap(),
        Verified::Unsigned
    ));

    // A default-named file that is no public key: named in the error.
    std::fs::write(context.join("melange.rsa.pub"), "not a key\n").unwrap();
    let bad = build(
        engine,
        &context,
        &dir.join("out-bad"),
        &["--secret", &secret],
    );
    assert!(!bad.success, "{}", bad.log);
    assert!(
        bad.log
            .contains("melange.rsa.pub: not an RSA public key in PEM form"),
        "{}",
        bad.log
    );
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_declared_public_key_refuses_other_or_no_secret_and_none_probes() {
    declared_key_refusals_and_the_probe(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_declared_public_key_refuses_other_or_no_secret_and_none_probes() {
    declared_key_refusals_and_the_probe(Engine::Docker20);
}
