//! Helpers for end-to-end tests: run real docker / buildx builds against the
//! engines `hack/engines` started, in throw-away copies of testdata packages.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub mod hello;

/// The frontend image the tests' `# syntax=` lines name; [`build`] points
/// them at [`frontend_image`] instead.
pub const FRONTEND_IMAGE: &str = "melange-frontend:dev";

/// The image under test: `MELANGE_E2E_IMAGE` (so concurrent test runs on
/// shared daemons can use their own tag, see hack/test), else
/// [`FRONTEND_IMAGE`].
pub fn frontend_image() -> String {
    std::env::var("MELANGE_E2E_IMAGE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| FRONTEND_IMAGE.to_string())
}

/// Point the build file's `# syntax=` line at [`frontend_image`].
pub fn use_frontend_image(build_file: &Path) {
    let Ok(text) = std::fs::read_to_string(build_file) else {
        return;
    };
    if let Some(rest) = text.strip_prefix("# syntax=") {
        let body = rest.split_once('\n').map_or("", |(_, body)| body);
        let text = format!("# syntax={}\n{body}", frontend_image());
        std::fs::write(build_file, text).expect("rewrite syntax line");
    }
}
/// The busybox build environment hack/engines creates in both daemons.
pub const TEST_ENV_IMAGE: &str = "melange-test-env:busybox";
/// The busybox root for linux/amd64 and linux/arm64 in one image, in the
/// containerd-store engine (Engine::Docker28c) only.
pub const MULTI_ENV_IMAGE: &str = "melange-test-env:busybox-multi";

/// The Debian C toolchain environment (build-essential, autoconf, automake,
/// wget, git, …) hack/test-env-debian creates in both daemons.
pub const DEBIAN_BUILD_ENV_IMAGE: &str = "melange-test-env:debian-build";

/// A real engine and the CLI users drive it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Docker 28.5 with `docker buildx build`.
    Docker28,
    /// Docker 20.10 with `DOCKER_BUILDKIT=1 docker build`.
    Docker20,
    /// Docker 28.5 with the containerd image store (multi-platform builds)
    /// and qemu-user-static, with `docker buildx build`.
    Docker28c,
}

/// What a build printed and whether it worked.
pub struct BuildOutput {
    pub success: bool,
    pub log: String,
}

impl BuildOutput {
    /// Names of the numbered steps (`[n/N] …`) in the plain progress log,
    /// each with whether BuildKit reported it CACHED.
    pub fn steps(&self) -> Vec<(String, bool)> {
        let mut steps: Vec<(String, String, bool)> = Vec::new();
        for line in self.log.lines() {
            let Some(rest) = line.strip_prefix('#') else {
                continue;
            };
            let Some((id, text)) = rest.split_once(' ') else {
                continue;
            };
            // BuildKit shares identical vertices between concurrent builds
            // on one daemon and shows the name the first build gave: a
            // Dockerfile test running at the same time names our base
            // image's source `[1/1] FROM …`. That vertex is not a step.
            let dockerfile_stage = text.contains("] FROM ");
            if text.starts_with('[')
                && text.contains("/")
                && text.contains("] ")
                && !text.starts_with("[internal]")
                && !dockerfile_stage
            {
                if !steps.iter().any(|(i, _, _)| i == id) {
                    steps.push((id.to_string(), text.trim().to_string(), false));
                }
            } else if text.trim() == "CACHED" {
                if let Some(step) = steps.iter_mut().find(|(i, _, _)| i == id) {
                    step.2 = true;
                }
            }
        }
        let mut named: Vec<(String, bool)> = steps
            .into_iter()
            .map(|(_, name, cached)| (name, cached))
            .collect();
        named.sort_by_key(|(name, _)| step_number(name));
        named
    }
}

fn step_number(name: &str) -> usize {
    name.trim_start_matches('[')
        .split('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory under target/ for one test.
pub fn scratch_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = repo()
        .join("target/e2e")
        .join(format!("{label}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Copy a testdata package folder into `dest/context`.
pub fn copy_package(name: &str, dest: &Path) -> PathBuf {
    let context = dest.join("context");
    let status = Command::new("cp")
        .arg("-a")
        .arg(repo().join("testdata").join(name))
        .arg(&context)
        .status()
        .expect("cp");
    assert!(status.success());
    // A unique file per test keeps concurrent tests from building identical
    // vertices: BuildKit shares in-flight vertices between sessions and shows
    // their progress to one client only, which would hide steps from another.
    std::fs::write(context.join(".e2e-run"), dest.display().to_string()).expect("write marker");
    use_frontend_image(&context.join("package.yaml"));
    context
}

/// Build `context/package.yaml` with the engine's CLI into `out`, in the
/// busybox environment.
pub fn build(engine: Engine, context: &Path, out: &Path, extra: &[&str]) -> BuildOutput {
    build_in(engine, TEST_ENV_IMAGE, context, out, extra)
}

/// Build `context/package.yaml` with the engine's CLI into `out`, with the
/// image `env_image` as the build environment.
pub fn build_in(
    engine: Engine,
    env_image: &str,
    context: &Path,
    out: &Path,
    extra: &[&str],
) -> BuildOutput {
    build_with_base(engine, Some(env_image), context, out, extra)
}

/// Build with `base` as the environment image, or with none (the build
/// file's packages, from repositories, are then the whole environment).
pub fn build_with_base(
    engine: Engine,
    base: Option<&str>,
    context: &Path,
    out: &Path,
    extra: &[&str],
) -> BuildOutput {
    let output = format!("type=local,dest={}", out.display());
    build_to(engine, base, context, &output, extra)
}

/// [`build_with_base`] with the whole `-o` value given (e.g.
/// `type=local,dest=…,platform-split=false`).
pub fn build_to(
    engine: Engine,
    base: Option<&str>,
    context: &Path,
    output: &str,
    extra: &[&str],
) -> BuildOutput {
    use_frontend_image(&context.join("package.yaml"));
    let (client, mut args): (&str, Vec<String>) = match engine {
        Engine::Docker28 => ("hack/docker28", vec!["buildx".into(), "build".into()]),
        Engine::Docker28c => ("hack/docker28c", vec!["buildx".into(), "build".into()]),
        Engine::Docker20 => ("hack/docker20", vec!["build".into()]),
    };
    match (engine, base) {
        (Engine::Docker28 | Engine::Docker28c, Some(base)) => args.extend([
            "--build-context".into(),
            format!("melange-environment=docker-image://{base}"),
        ]),
        (Engine::Docker20, Some(base)) => args.extend([
            "--build-arg".into(),
            format!("MELANGE_ENVIRONMENT_IMAGE={base}"),
        ]),
        (_, None) => {}
    }
    args.extend([
        "--progress=plain".into(),
        "-f".into(),
        context.join("package.yaml").display().to_string(),
    ]);
    args.extend(["-o".into(), output.to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(context.display().to_string());
    let output = Command::new(repo().join(client))
        .args(&args)
        .output()
        .expect("run docker client");
    let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&output.stderr));
    BuildOutput {
        success: output.status.success(),
        log,
    }
}

/// Read a file the build exported.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `root`, relative, sorted.
pub fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() && !path.is_symlink() {
                out.push(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Where hack/engines keeps what it downloads and builds (MF_ENGINES_ROOT).
pub fn engines_root() -> PathBuf {
    std::env::var_os("MF_ENGINES_ROOT")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/mf-engines"))
}

/// Upstream source tarballs hack/test-env-debian cached (hello-2.10.tar.gz).
pub fn test_sources_dir() -> PathBuf {
    engines_root().join("sources/v1")
}

/// The docker client script of an engine, for commands other than builds.
pub fn client(engine: Engine) -> PathBuf {
    repo().join(match engine {
        Engine::Docker28 => "hack/docker28",
        Engine::Docker20 => "hack/docker20",
        Engine::Docker28c => "hack/docker28c",
    })
}

/// Where test servers listen: loopback. BuildKit fetches HTTP and Git
/// sources (and the frontend's tag check, an HTTP source too) itself, in
/// the host's network, so the daemon reaches 127.0.0.1; no build step needs
/// a test server. No test sends traffic to any other address.
pub const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Run `cmd` in a container of `image` on the engine, with `host_dir`
/// mounted read-only at `mount_at`. Returns (success, stdout, stderr).
pub fn run_in(
    engine: Engine,
    image: &str,
    host_dir: &Path,
    mount_at: &str,
    cmd: &[&str],
) -> (bool, String, String) {
    let output = Command::new(client(engine))
        .args(["run", "--rm", "--network", "none", "-v"])
        .arg(format!("{}:{mount_at}:ro", host_dir.display()))
        .arg(image)
        .args(cmd)
        .output()
        .expect("run docker client");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Set `name: value` under the top-level `vars:` of a build file (the line
/// must exist, indented by two spaces): how tests point a package at a
/// server they started.
pub fn set_var(build_file: &Path, name: &str, value: &str) {
    let text = read(build_file);
    let mut in_vars = false;
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if !line.starts_with(' ') && !line.starts_with('#') && !line.is_empty() {
                in_vars = line.trim_end() == "vars:";
            } else if in_vars && line.starts_with(&format!("  {name}:")) {
                found = true;
                return format!("  {name}: {value}");
            }
            line.to_string()
        })
        .collect();
    assert!(found, "{}: no vars.{name} line", build_file.display());
    std::fs::write(build_file, lines.join("\n") + "\n").expect("write build file");
}

/// A small static file server for build steps to download from (plain
/// HTTP/1.1, GET and HEAD, one thread per connection, `Connection: close`).
/// It records every request; dropping it stops it.
pub struct FileServer {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileServer {
    /// Serve the files under `root` (sub-folders too: a bare Git repository
    /// for Git's "dumb" HTTP protocol) on `ip` (tests use [`LOOPBACK`]), on
    /// a free port.
    pub fn start(ip: std::net::IpAddr, root: &Path) -> FileServer {
        FileServer::start_with_auth(ip, root, None)
    }

    /// [`FileServer::start`], answering 401 to requests whose
    /// `Authorization` header is not `auth` (compared case-insensitively).
    pub fn start_with_auth(ip: std::net::IpAddr, root: &Path, auth: Option<String>) -> FileServer {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind((ip, 0))
            .unwrap_or_else(|e| panic!("bind a test HTTP server on {ip}: {e}"));
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let root = root.to_path_buf();
        let thread = {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (root, log, auth) = (root.clone(), log.clone(), auth.clone());
                    std::thread::spawn(move || serve_one(conn, &root, auth.as_deref(), &log));
                }
            })
        };
        FileServer {
            addr,
            stop,
            log,
            thread: Some(thread),
        }
    }

    /// `http://ip:port`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far as `METHOD /path STATUS`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Stop accepting connections (requests in flight finish).
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the accept loop so it sees the flag.
            let _ = std::net::TcpStream::connect(self.addr);
            let _ = thread.join();
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_one(
    mut conn: std::net::TcpStream,
    root: &Path,
    auth: Option<&str>,
    log: &std::sync::Mutex<Vec<String>>,
) {
    use std::io::{Read, Write};
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method.is_empty() {
        return; // e.g. the wake-up connection of stop()
    }
    let name = target
        .split('?')
        .next()
        .unwrap_or("")
        .trim_start_matches('/');
    let file = served_file(root, name);
    let authorized = auth.is_none_or(|want| {
        head.lines().any(|line| {
            line.split_once(':').is_some_and(|(key, value)| {
                key.trim().eq_ignore_ascii_case("authorization")
                    && value.trim().eq_ignore_ascii_case(want)
            })
        })
    });
    let (status, body) = match (method, file) {
        _ if !authorized => ("401 Unauthorized", None),
        ("GET" | "HEAD", Some(path)) => ("200 OK", std::fs::read(path).ok()),
        ("GET" | "HEAD", None) => ("404 Not Found", None),
        _ => ("405 Method Not Allowed", None),
    };
    let status = if status.starts_with("200") && body.is_none() {
        "500 Internal Server Error"
    } else {
        status
    };
    log.lock()
        .unwrap()
        .push(format!("{method} {target} {}", &status[..3]));
    let body = body.unwrap_or_default();
    let challenge = if authorized {
        ""
    } else {
        "WWW-Authenticate: Basic realm=\"test\"\r\n"
    };
    let header = format!(
        "HTTP/1.1 {status}\r\n{challenge}Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(header.as_bytes());
    if method == "GET" {
        let _ = conn.write_all(&body);
    }
}

/// The file `name` (a `/`-separated path from the request) names under
/// `root`, if it is one: no empty, `.`-leading (so no `..`) or hidden
/// component, and, links resolved, still inside `root`.
fn served_file(root: &Path, name: &str) -> Option<PathBuf> {
    let safe = !name.is_empty()
        && name
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.'));
    if !safe {
        return None;
    }
    let path = root.join(name).canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    (path.starts_with(&root) && path.is_file()).then_some(path)
}

/// A fresh signing key: `dir/melange.rsa` and `dir/keys/melange.rsa.pub`.
pub fn signing_key(dir: &Path) -> (PathBuf, PathBuf) {
    let (private, public) = melange_frontend::apk::sign::generate_key_pem(2048).unwrap();
    let key = dir.join("melange.rsa");
    std::fs::write(&key, private).unwrap();
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("melange.rsa.pub"), public).unwrap();
    (key, keys)
}

/// Tag `tag` on `engine`: [`DEBIAN_BUILD_ENV_IMAGE`] after the shell
/// command `run` (which takes tools out, to show a build does not need
/// them). A plain Dockerfile build of a local image: nothing is pulled.
pub fn derived_env(engine: Engine, tag: &str, run: &str) {
    let dockerfile = format!("FROM {DEBIAN_BUILD_ENV_IMAGE}\nRUN {run}\n");
    let mut child = Command::new(client(engine))
        .args(["build", "-q", "-t", tag, "-"])
        .env("DOCKER_BUILDKIT", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run docker build");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A gzipped tarball of `members` (path, content, mode), every mtime fixed:
/// the bytes depend on the members alone.
pub fn tar_gz(members: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data, mode) in members {
        let mut header = tar::Header::new_gnu();
        header.set_path(path).unwrap();
        header.set_mode(*mode);
        header.set_size(data.len() as u64);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append(&header, data.as_bytes()).unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}
