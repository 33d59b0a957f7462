//! End-to-end of the `melange-cache` named context as a download cache for
//! native fetches (llb/cachefile.rs, gateway/cachedir.rs): with the
//! tarball saved as `sha256:<hex>` / `sha512:<hex>` in the cache dir, the
//! build never contacts the server (none is running at the URL), and a
//! cached file whose bytes do not match its name fails naming the URL and
//! both digests. One of the sources is a zip archive, unpacked by the
//! helper in the frontend's image. Docker 28.5 only: Docker 20.10's `docker build` cannot
//! pass named contexts.

mod common;

use std::io::Write;

use common::*;
use sha2::{Digest, Sha256, Sha512};

/// A tarball unique to this run, so no earlier download can stand in.
fn tarball(token: &str) -> Vec<u8> {
    let token = format!("{token}\n");
    tar_gz(&[
        ("greet-1.0/greet.sh", "#!/bin/sh\necho hi\n", 0o644),
        ("greet-1.0/token", &token, 0o644),
    ])
}

/// The same members as a zip archive (unpacked by the helper too).
fn zip_archive(token: &str) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().unix_permissions(0o644);
    writer.start_file("greet-1.0/token", options).unwrap();
    writer.write_all(format!("{token}\n").as_bytes()).unwrap();
    writer.finish().unwrap().into_inner()
}

/// Nothing listens there: the sources can only come from the cache.
const NOWHERE: &str = "http://127.0.0.1:9/nowhere";

fn package_yaml(sha256: &str, sha512: &str, zip_sha256: &str) -> String {
    format!(
        r#"# syntax=melange-frontend:dev
package:
  name: greet-cached
  version: "1.0"
  epoch: 0
  description: sources from the melange-cache named context
pipeline:
  - uses: fetch
    with:
      uri: {NOWHERE}/greet-1.0.tar.gz
      expected-sha256: {sha256}
  - uses: fetch
    with:
      uri: {NOWHERE}/greet-1.0-copy.tar.gz
      expected-sha512: {sha512}
      directory: second
  - uses: fetch
    with:
      uri: {NOWHERE}/greet-1.0.zip
      expected-sha256: {zip_sha256}
      directory: third
  - runs: |
      mkdir -p ${{{{targets.destdir}}}}
      cp token ${{{{targets.destdir}}}}/token
      cp second/token ${{{{targets.destdir}}}}/token2
      cp third/token ${{{{targets.destdir}}}}/token3
      ls greet-1.0.tar.gz greet-1.0-copy.tar.gz
"#
    )
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_fetch_uses_the_melange_cache_and_checks_it() {
    let dir = scratch_dir("melange-cache");
    let token = dir.display().to_string();
    let bytes = tarball(&token);
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let sha512 = hex::encode(Sha512::digest(&bytes));
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join(format!("sha256:{sha256}")), &bytes).unwrap();
    std::fs::write(cache.join(format!("sha512:{sha512}")), &bytes).unwrap();
    let zipped = zip_archive(&token);
    let zip_sha256 = hex::encode(Sha256::digest(&zipped));
    std::fs::write(cache.join(format!("sha256:{zip_sha256}")), &zipped).unwrap();
    std::fs::write(cache.join("unrelated"), "not a download").unwrap();

    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    let build_file = context.join("package.yaml");
    std::fs::write(&build_file, package_yaml(&sha256, &sha512, &zip_sha256)).unwrap();
    let cache_arg = format!("melange-cache={}", cache.display());
    let args = ["--target", "workspace", "--build-context", &cache_arg];

    let out = dir.join("out");
    let built = build_in(
        Engine::Docker28,
        DEBIAN_BUILD_ENV_IMAGE,
        &context,
        &out,
        &args,
    );
    assert!(built.success, "{}", built.log);
    assert_eq!(read(&out.join("greet-cached/token")), format!("{token}\n"));
    assert_eq!(read(&out.join("greet-cached/token2")), format!("{token}\n"));
    assert_eq!(read(&out.join("greet-cached/token3")), format!("{token}\n"));
    for name in [
        format!("fetch greet-1.0.tar.gz from melange-cache (sha256:{sha256})"),
        format!("fetch greet-1.0-copy.tar.gz from melange-cache (sha512:{sha512})"),
    ] {
        assert!(built.log.contains(&name), "no {name} in\n{}", built.log);
    }
    assert!(
        !built.log.contains(&format!("fetch {NOWHERE}")),
        "{}",
        built.log
    );

    // A cached file whose bytes are not what its name says is refused.
    std::fs::write(cache.join(format!("sha256:{sha256}")), b"tampered").unwrap();
    let bad = build_in(
        Engine::Docker28,
        DEBIAN_BUILD_ENV_IMAGE,
        &context,
        &dir.join("out2"),
        &args,
    );
    assert!(!bad.success, "{}", bad.log);
    let actual = hex::encode(Sha256::digest(b"tampered"));
    assert!(
        bad.log.contains(&sha256) && bad.log.contains(&actual),
        "{}",
        bad.log
    );
    assert!(
        bad.log.contains(&format!("{NOWHERE}/greet-1.0.tar.gz")),
        "{}",
        bad.log
    );
}
