//! What every GNU hello end-to-end test checks of its results, whichever
//! way the sources came (release tarball, Git).

use std::path::Path;

use melange_frontend::apk::tools::verify_file;
use melange_frontend::apk::{ApkFile, Keyring, Verified};

use super::{run_in, Engine};

/// `out/hello/usr/bin/hello` (a `--target workspace` result) runs in
/// `image` and says hello.
pub fn workspace_hello_says_hello(engine: Engine, image: &str, out: &Path) {
    let (ok, stdout, stderr) = run_in(engine, image, out, "/o", &["/o/hello/usr/bin/hello"]);
    assert!(ok, "hello failed: {stdout}{stderr}");
    assert_eq!(stdout, "Hello, world!\n");
}

/// The index and both packages in `apks/x86_64` are signed with the key in
/// `keys`; returns `hello` and `hello-doc` parsed, for more checks.
pub fn signed_hello_packages(apks: &Path, keys: &Path) -> (ApkFile, ApkFile) {
    let keyring = Keyring::from_dir(keys).unwrap();
    for file in [
        "APKINDEX.tar.gz",
        "hello-2.10-r0.apk",
        "hello-doc-2.10-r0.apk",
    ] {
        match verify_file(&apks.join("x86_64").join(file), &keyring) {
            Ok(Verified::Signed { key }) => assert_eq!(key, "melange.rsa.pub"),
            other => panic!("{file}: {other:?}"),
        }
    }
    let parse = |name: &str| {
        ApkFile::parse(&std::fs::read(apks.join("x86_64").join(name)).unwrap()).unwrap()
    };
    let hello = parse("hello-2.10-r0.apk");
    assert!(hello.entries.iter().any(|e| e.path == "usr/bin/hello"));
    (hello, parse("hello-doc-2.10-r0.apk"))
}

/// `usr/bin/hello`, unpacked from `apks/x86_64/hello-2.10-r0.apk` as apk
/// would install it, runs in `image` and says hello.
pub fn packaged_hello_says_hello(engine: Engine, image: &str, apks: &Path) {
    let (ok, stdout, stderr) = run_in(
        engine,
        image,
        apks,
        "/o",
        &[
            "sh",
            "-c",
            "mkdir /tmp/root && tar -xzf /o/x86_64/hello-2.10-r0.apk -C /tmp/root 2>/dev/null; \
             /tmp/root/usr/bin/hello",
        ],
    );
    assert!(ok, "hello from the .apk failed: {stdout}{stderr}");
    assert_eq!(stdout, "Hello, world!\n");
}
