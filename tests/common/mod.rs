//! Helpers for end-to-end tests: run real docker / buildx builds against the
//! engines `hack/engines` started, in throw-away copies of testdata packages.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A real engine and the CLI users drive it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Docker 28.5 with `docker buildx build`.
    Docker28,
    /// Docker 20.10 with `DOCKER_BUILDKIT=1 docker build`.
    Docker20,
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
            if text.starts_with('[')
                && text.contains("/")
                && text.contains("] ")
                && !text.starts_with("[internal]")
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
/// [`TEST_ENV_IMAGE`] environment.
pub fn build(engine: Engine, context: &Path, out: &Path, extra: &[&str]) -> BuildOutput {
    build_in(engine, Some(TEST_ENV_IMAGE), context, out, extra)
}

/// Build with `base` as the environment image, or with none (the build
/// file's packages are then the whole environment).
pub fn build_in(
    engine: Engine,
    base: Option<&str>,
    context: &Path,
    out: &Path,
    extra: &[&str],
) -> BuildOutput {
    use_frontend_image(&context.join("package.yaml"));
    let (client, mut args): (&str, Vec<String>) = match engine {
        Engine::Docker28 => ("hack/docker28", vec!["buildx".into(), "build".into()]),
        Engine::Docker20 => ("hack/docker20", vec!["build".into()]),
    };
    match (engine, base) {
        (Engine::Docker28, Some(base)) => args.extend([
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
    args.extend(["-o".into(), format!("type=local,dest={}", out.display())]);
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
