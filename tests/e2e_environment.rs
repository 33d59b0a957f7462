//! End-to-end tests of environments installed from APK repositories, on
//! both engines, offline: a `busybox` package is built with this frontend
//! from Debian's busybox-static binary (signed with a fresh key), its
//! output folder becomes a repository, and a second package is built with
//! `environment.contents.packages: [busybox]` and no base image, from the
//! build context's `./packages` and then from a local HTTP server. A
//! tampered package or index fails with the reason; adding a package
//! re-unpacks only it. Ignored by plain `cargo test`; `hack/test` runs them.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use melange_frontend::apk::index::sign_index;
use melange_frontend::apk::sign::generate_key_pem;
use melange_frontend::apk::{ApkFile, SigningKey};

const BUSYBOX: &str = "busybox-1.35.0-r0";

/// Debian's busybox-static binary and its upstream version, downloaded
/// once with apt (the Debian archive is reachable; the engines' setup
/// already fetched the package lists).
fn busybox_static() -> &'static (PathBuf, String) {
    static BINARY: OnceLock<(PathBuf, String)> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cache = repo().join("target/e2e-cache/busybox-static");
        let binary = cache.join("root/bin/busybox");
        let version_file = cache.join("version");
        if !binary.exists() || !version_file.exists() {
            // The two engines' test processes run side by side: each
            // downloads into its own folder and the first rename wins.
            let own = cache.with_extension(format!("tmp-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&own);
            download_busybox_static(&own);
            if !(binary.exists() && version_file.exists()) {
                let _ = std::fs::remove_dir_all(&cache);
            }
            if std::fs::rename(&own, &cache).is_err() {
                let _ = std::fs::remove_dir_all(&own);
            }
            assert!(
                binary.exists() && version_file.exists(),
                "busybox-static in {cache:?}"
            );
        }
        // 1:1.35.0-4+deb12u1+b1 → 1.35.0
        let raw = std::fs::read_to_string(&version_file).unwrap();
        let upstream = raw.trim().rsplit(':').next().unwrap();
        let upstream = upstream.split('-').next().unwrap().to_string();
        (binary, upstream)
    })
}

/// Debian's busybox-static package unpacked into `cache` (`root/`) with its
/// version (`version`).
fn download_busybox_static(cache: &Path) {
    let download = cache.join("deb");
    std::fs::create_dir_all(&download).unwrap();
    let status = Command::new("apt-get")
        .args([
            "-o",
            "APT::Sandbox::User=root",
            "download",
            "-qq",
            "busybox-static",
        ])
        .current_dir(&download)
        .status()
        .expect("apt-get");
    assert!(status.success(), "apt-get download busybox-static failed");
    let deb = std::fs::read_dir(&download)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("downloaded .deb");
    let status = Command::new("dpkg")
        .arg("-x")
        .arg(&deb)
        .arg(cache.join("root"))
        .status()
        .unwrap();
    assert!(status.success());
    let version = Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Version")
        .output()
        .unwrap();
    std::fs::write(cache.join("version"), version.stdout).unwrap();
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Build the busybox repository: `dir/repo/x86_64/{busybox,busybox-doc}-….apk`
/// and the signed index, plus `dir/melange.rsa.pub`.
fn busybox_repository(engine: Engine, dir: &Path) -> PathBuf {
    let (binary, version) = busybox_static();
    assert_eq!(
        format!("busybox-{version}-r0"),
        BUSYBOX,
        "Debian's busybox-static moved"
    );
    let (private, public) = generate_key_pem(2048).unwrap();
    write(&dir.join("melange.rsa"), &private);
    write(&dir.join("melange.rsa.pub"), &public);
    let context = dir.join("busybox-context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::copy(binary, context.join("busybox")).unwrap();
    write(&context.join(".e2e-run"), &dir.display().to_string());
    write(
        &context.join("package.yaml"),
        &format!(
            r#"# syntax={image}
package:
  name: busybox
  version: {version}
  epoch: 0
  description: Debian's busybox-static, packaged for the environment tests
pipeline:
  - name: install busybox
    runs: |
      mkdir -p ${{{{targets.destdir}}}}/bin
      cp busybox ${{{{targets.destdir}}}}/bin/busybox
      chmod 755 ${{{{targets.destdir}}}}/bin/busybox
subpackages:
  - name: busybox-doc
    description: a second package, to show layer re-use
    pipeline:
      - runs: |
          mkdir -p ${{{{targets.subpkgdir}}}}/usr/share/doc/busybox
          echo "busybox-static from Debian" > ${{{{targets.subpkgdir}}}}/usr/share/doc/busybox/README
"#,
            image = frontend_image()
        ),
    );
    let out = dir.join("repo");
    let secret = format!("id=melange.rsa,src={}", dir.join("melange.rsa").display());
    let built = build(engine, &context, &out, &["--secret", &secret]);
    assert!(built.success, "{}", built.log);
    assert!(
        out.join(format!("x86_64/{BUSYBOX}.apk")).is_file(),
        "{}",
        built.log
    );
    out
}

/// A context for the package built *in* the busybox environment: its
/// `packages/` repository (when `repository` is given) and key.
fn environment_context(dir: &Path, name: &str, repository: Option<&Path>) -> PathBuf {
    let context = dir.join(name);
    std::fs::create_dir_all(&context).unwrap();
    if let Some(repository) = repository {
        copy_dir(repository, &context.join("packages"));
    }
    std::fs::copy(dir.join("melange.rsa.pub"), context.join("melange.rsa.pub")).unwrap();
    write(&context.join(".e2e-run"), &context.display().to_string());
    write(
        &context.join("package.yaml"),
        &format!(
            r#"# syntax={image}
package:
  name: in-env
  version: 1
  epoch: 0
environment:
  contents:
    packages:
      - busybox
pipeline:
  - name: look around
    runs: |
      out=${{{{targets.destdir}}}}/report
      mkdir -p $out
      busybox 2>&1 | head -n 1 > $out/banner
      readlink /bin/sh > $out/sh
      cat /etc/apk/world > $out/world
      grep '^P:' /lib/apk/db/installed > $out/installed
      grep -c '^R:' /lib/apk/db/installed > $out/files
      cat /etc/passwd > $out/passwd
      cat /etc/apk/arch > $out/arch
      ls /etc/apk/keys > $out/keys
      pwd > $out/pwd
"#,
            image = frontend_image()
        ),
    );
    context
}

const CONTEXT_REPO: [&str; 4] = [
    "--build-arg",
    "MELANGE_REPOSITORIES=./packages",
    "--build-arg",
    "MELANGE_KEYRING=./melange.rsa.pub",
];

fn build_in_environment(engine: Engine, context: &Path, out: &Path, extra: &[&str]) -> BuildOutput {
    let mut args = vec!["--target", "workspace"];
    args.extend_from_slice(extra);
    build_with_base(engine, None, context, out, &args)
}

fn check_report(out: &Path, log: &str, installed: &str) {
    let report = |name: &str| read(&out.join("in-env/report").join(name));
    assert!(
        report("banner").starts_with("BusyBox v1.35.0"),
        "{}\n{log}",
        report("banner")
    );
    assert_eq!(report("sh"), "/bin/busybox\n");
    assert_eq!(report("installed"), installed);
    assert_eq!(report("arch"), "x86_64\n");
    assert_eq!(report("keys"), "melange.rsa.pub\n");
    assert_eq!(report("pwd"), "/home/build\n");
    assert!(report("passwd").contains("build:x:1000:1000:build:/home/build:/bin/sh\n"));
    assert!(report("files").trim().parse::<u32>().unwrap() >= 1);
}

/// Whether the vertex whose name contains `name` was CACHED; None when the
/// log has no such vertex.
fn cached(log: &str, name: &str) -> Option<bool> {
    let id = log.lines().find_map(|line| {
        let (id, text) = line.strip_prefix('#')?.split_once(' ')?;
        text.contains(name).then(|| id.to_string())
    })?;
    Some(log.lines().any(|line| {
        line.strip_prefix('#').and_then(|r| r.split_once(' ')) == Some((&id, "CACHED"))
    }))
}

fn from_context_folder(engine: Engine) {
    let dir = scratch_dir("env-context");
    let repository = busybox_repository(engine, &dir);
    let context = environment_context(&dir, "env", Some(&repository));
    let out = dir.join("out");
    let first = build_in_environment(engine, &context, &out, &CONTEXT_REPO);
    assert!(first.success, "{}", first.log);
    check_report(&out, &first.log, "P:busybox\n");
    assert_eq!(read(&out.join("in-env/report/world")), "busybox\n");
    assert!(
        first
            .log
            .contains("environment: unpack busybox-1.35.0-r0 (1/1)"),
        "{}",
        first.log
    );

    // One more package: only it is unpacked, busybox's layer is re-used.
    let out2 = dir.join("out2");
    let mut args = CONTEXT_REPO.to_vec();
    args.extend(["--build-arg", "MELANGE_PACKAGES=busybox-doc"]);
    let second = build_in_environment(engine, &context, &out2, &args);
    assert!(second.success, "{}", second.log);
    check_report(&out2, &second.log, "P:busybox\nP:busybox-doc\n");
    assert_eq!(
        cached(&second.log, "unpack busybox-1.35.0-r0"),
        Some(true),
        "{}",
        second.log
    );
    assert_eq!(
        cached(&second.log, "unpack busybox-doc-1.35.0-r0"),
        Some(false),
        "{}",
        second.log
    );

    // On top of a base image: the packages are added, the base stays.
    let out3 = dir.join("out-on-base");
    let mut args = vec!["--target", "workspace"];
    args.extend(CONTEXT_REPO);
    args.extend(["--build-arg", "MELANGE_PACKAGES=busybox-doc"]);
    let on_base = build_in(engine, TEST_ENV_IMAGE, &context, &out3, &args);
    assert!(on_base.success, "{}", on_base.log);
    check_report(&out3, &on_base.log, "P:busybox\nP:busybox-doc\n");
    assert!(
        read(&out3.join("in-env/report/passwd")).contains("nobody:x:65534:65534:"),
        "the base image's accounts are kept"
    );

    // A package whose data member was swapped: the datahash says so.
    let bad = environment_context(&dir, "env-bad-package", Some(&repository));
    let apk_path = bad.join(format!("packages/x86_64/{BUSYBOX}.apk"));
    let doc_path = bad.join("packages/x86_64/busybox-doc-1.35.0-r0.apk");
    let (apk, doc) = (
        std::fs::read(&apk_path).unwrap(),
        std::fs::read(&doc_path).unwrap(),
    );
    let parsed = ApkFile::parse(&apk).unwrap();
    let other = ApkFile::parse(&doc).unwrap();
    let mut forged = apk[..parsed.control_range.end].to_vec();
    forged.extend_from_slice(&doc[other.data_range.clone()]);
    std::fs::write(&apk_path, forged).unwrap();
    let failed = build_in_environment(engine, &bad, &dir.join("out-bad"), &CONTEXT_REPO);
    assert!(!failed.success, "{}", failed.log);
    assert!(
        failed
            .log
            .contains(&format!("{BUSYBOX}: datahash mismatch")),
        "{}",
        failed.log
    );

    // An index re-signed by another key under the trusted key's name.
    let bad = environment_context(&dir, "env-bad-index", Some(&repository));
    let index_path = bad.join("packages/x86_64/APKINDEX.tar.gz");
    let (other_key, _) = generate_key_pem(2048).unwrap();
    let other_key = SigningKey::from_pem("melange.rsa", &other_key).unwrap();
    let resigned = sign_index(&std::fs::read(&index_path).unwrap(), &other_key).unwrap();
    std::fs::write(&index_path, resigned).unwrap();
    let failed = build_in_environment(engine, &bad, &dir.join("out-bad-index"), &CONTEXT_REPO);
    assert!(!failed.success, "{}", failed.log);
    assert!(
        failed.log.contains(
            "repository ./packages: x86_64/APKINDEX.tar.gz: the signature by key melange.rsa.pub does not verify"
        ),
        "{}",
        failed.log
    );

    // No key at all: the index is untrusted.
    let failed = build_in_environment(
        engine,
        &context,
        &dir.join("out-no-key"),
        &CONTEXT_REPO[..2],
    );
    assert!(!failed.success, "{}", failed.log);
    assert!(
        failed
            .log
            .contains("is signed by key melange.rsa.pub, which is not in the keyring"),
        "{}",
        failed.log
    );
}

/// Serve `root` over HTTP on 127.0.0.1 (a thread per connection; GET and
/// HEAD of files, 404 otherwise); returns the base URL.
fn serve(root: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                loop {
                    let mut header = String::new();
                    match reader.read_line(&mut header) {
                        Ok(n) if n > 2 => continue,
                        _ => break,
                    }
                }
                let mut parts = request.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
                let file = root.join(path.trim_start_matches('/'));
                let mut stream = stream;
                let safe = !path.contains("..");
                match std::fs::read(&file).ok().filter(|_| safe && file.is_file()) {
                    Some(body) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream.write_all(head.as_bytes());
                        if method != "HEAD" {
                            let _ = stream.write_all(&body);
                        }
                    }
                    None => {
                        let _ = stream.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                }
            });
        }
    });
    url
}

fn from_http_server(engine: Engine) {
    let dir = scratch_dir("env-http");
    let repository = busybox_repository(engine, &dir);
    // The key is served too: both come from URLs.
    std::fs::copy(
        dir.join("melange.rsa.pub"),
        repository.join("melange.rsa.pub"),
    )
    .unwrap();
    let url = serve(repository);
    let context = environment_context(&dir, "env", None);
    let out = dir.join("out");
    let repositories = format!("MELANGE_REPOSITORIES={url}");
    let key = format!("MELANGE_KEYRING={url}/melange.rsa.pub");
    let args = ["--build-arg", &repositories, "--build-arg", &key];
    let built = build_in_environment(engine, &context, &out, &args);
    assert!(built.success, "{}", built.log);
    check_report(&out, &built.log, "P:busybox\n");
    assert!(
        built.log.contains(&format!("fetch {BUSYBOX}.apk")),
        "{}",
        built.log
    );
    if engine != Engine::Docker28 {
        // BuildKit 0.8 can panic on --no-cache builds sharing vertices
        // (docs/limits.md): only the index re-use is checked.
        return;
    }
    // Warm: the index and key fetched before compiling are CACHED; with
    // --no-cache they are fetched again, like every other op.
    let index = format!("fetch {url}/x86_64/APKINDEX.tar.gz");
    let warm = build_in_environment(engine, &context, &dir.join("out-warm"), &args);
    assert!(warm.success, "{}", warm.log);
    assert_eq!(cached(&warm.log, &index), Some(true), "{}", warm.log);
    let mut no_cache = args.to_vec();
    no_cache.push("--no-cache");
    let again = build_in_environment(engine, &context, &dir.join("out-no-cache"), &no_cache);
    assert!(again.success, "{}", again.log);
    assert_eq!(cached(&again.log, &index), Some(false), "{}", again.log);
    let key = format!("fetch {url}/melange.rsa.pub");
    assert_eq!(cached(&again.log, &key), Some(false), "{}", again.log);
}

/// Repository and key from named contexts (`--build-context NAME=DIR`;
/// Docker 20.10's `docker build` has none): `context://repo` and
/// `context://keys/melange.rsa.pub`, the build context holding neither.
fn from_named_contexts(engine: Engine) {
    let dir = scratch_dir("env-named");
    let repository = busybox_repository(engine, &dir);
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::copy(dir.join("melange.rsa.pub"), keys.join("melange.rsa.pub")).unwrap();
    let context = environment_context(&dir, "env", None);
    std::fs::remove_file(context.join("melange.rsa.pub")).unwrap();
    let repo_context = format!("repo={}", repository.display());
    let keys_context = format!("keys={}", keys.display());
    let args = [
        "--build-context",
        &repo_context,
        "--build-context",
        &keys_context,
        "--build-arg",
        "MELANGE_REPOSITORIES=context://repo",
        "--build-arg",
        "MELANGE_KEYRING=context://keys/melange.rsa.pub",
        "--build-arg",
        "MELANGE_PACKAGES=busybox-doc",
    ];
    let out = dir.join("out");
    let built = build_in_environment(engine, &context, &out, &args);
    assert!(built.success, "{}", built.log);
    check_report(&out, &built.log, "P:busybox\nP:busybox-doc\n");
    assert_eq!(
        read(&out.join("in-env/report/world")),
        "busybox\nbusybox-doc\n"
    );
    for expected in [
        "load x86_64/APKINDEX.tar.gz from named context repo",
        "load melange.rsa.pub from named context keys",
        "environment: load 2 package files from named context repo",
    ] {
        assert!(built.log.contains(expected), "{expected}\n{}", built.log);
    }

    // A repository naming a context the client did not give.
    let failed = build_in_environment(engine, &context, &dir.join("out-missing"), &args[2..]);
    assert!(!failed.success, "{}", failed.log);
    assert!(
        failed.log.contains("no named context \"repo\" was given"),
        "{}",
        failed.log
    );
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_environment_from_a_context_folder() {
    from_context_folder(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_environment_from_a_context_folder() {
    from_context_folder(Engine::Docker20);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_environment_from_an_http_repository() {
    from_http_server(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker28_environment_from_named_contexts() {
    from_named_contexts(Engine::Docker28);
}

#[test]
#[ignore = "needs the engines: run hack/test"]
fn docker20_environment_from_an_http_repository() {
    from_http_server(Engine::Docker20);
}
