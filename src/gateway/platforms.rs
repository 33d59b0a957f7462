//! Which platforms a build is for, whether the worker can run each, and how
//! the result names them for BuildKit's exporters.
//!
//! A multi-platform result is one ref per platform, keyed by the platform's
//! ID (`linux/amd64`), plus the `refs.platforms` metadata listing the IDs in
//! order: BuildKit's exporters read it to lay the refs out (the local
//! exporter's `platform-split` folders, an image index).

use crate::plan::{BuildPlan, Platform};
use crate::proto::pb;

/// BuildKit's exporter metadata key for the platforms of a result.
pub const PLATFORMS_KEY: &str = "refs.platforms";

/// BuildKit's ID of a platform: `os/arch[/variant]`.
pub fn id(platform: &Platform) -> String {
    match platform.variant.is_empty() {
        true => format!("{}/{}", platform.os, platform.architecture),
        false => format!(
            "{}/{}/{}",
            platform.os, platform.architecture, platform.variant
        ),
    }
}

/// The `refs.platforms` value: every platform of the result, in order.
/// Without it BuildKit takes a single result for the daemon's own platform
/// and, for `--platform linux/arm64` on an amd64 machine, warns that the
/// result does not match; a multi-ref result without it is refused.
pub fn result_platforms(platforms: &[Platform]) -> Vec<u8> {
    let entries: Vec<serde_json::Value> = platforms
        .iter()
        .map(|platform| {
            let mut spec = serde_json::json!({
                "architecture": platform.architecture,
                "os": platform.os,
            });
            if !platform.variant.is_empty() {
                spec["variant"] = platform.variant.clone().into();
            }
            serde_json::json!({ "id": id(platform), "platform": spec })
        })
        .collect();
    serde_json::json!({ "platforms": entries })
        .to_string()
        .into_bytes()
}

/// The platform as LLB spells it.
pub fn to_pb(platform: &Platform) -> pb::Platform {
    pb::Platform {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        ..Default::default()
    }
}

/// The worker's platform as the plan spells it.
pub fn from_pb(platform: &pb::Platform) -> Platform {
    Platform {
        os: platform.os.clone(),
        architecture: platform.architecture.clone(),
        variant: platform.variant.clone(),
    }
}

/// Does the worker run `target`? A missing variant matches any (the worker
/// lists `linux/arm64`, the user may say `linux/arm64/v8`; `linux/amd64`
/// covers the amd64 micro-architecture levels).
fn worker_runs(target: &Platform, worker: &[pb::Platform]) -> bool {
    worker.iter().any(|w| {
        w.os == target.os
            && w.architecture == target.architecture
            && (w.variant.is_empty() || target.variant.is_empty() || w.variant == target.variant)
    })
}

/// The first step of the plan that runs a program of the target platform
/// (the frontend's own steps run on the worker's platform), if any.
fn first_target_exec(plan: &BuildPlan) -> Option<&str> {
    if plan
        .environment
        .as_ref()
        .is_some_and(|env| env.installs_busybox())
    {
        return Some(&plan.environment_step);
    }
    plan.steps
        .iter()
        .find(|step| step.source.is_none())
        .map(|step| step.name.as_str())
}

/// qemu's name for a GOARCH (the binfmt_misc handler is `qemu-<name>`).
fn qemu_name(architecture: &str) -> &str {
    match architecture {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i386",
        "mips64le" => "mips64el",
        "mipsle" => "mipsel",
        "loong64" => "loongarch64",
        other => other,
    }
}

/// Fails, before anything runs, when the plan has a step of `target` that
/// the worker cannot run: the message names the emulator and how to get it.
pub fn check_emulation(
    target: &Platform,
    worker: &[pb::Platform],
    plan: &BuildPlan,
) -> Result<(), String> {
    // No list (an old daemon): nothing to check against.
    if worker.is_empty() || worker_runs(target, worker) {
        return Ok(());
    }
    let Some(step) = first_target_exec(plan) else {
        return Ok(());
    };
    let mut listed: Vec<String> = Vec::new();
    for platform in worker {
        let one = id(&from_pb(platform));
        if !listed.contains(&one) {
            listed.push(one);
        }
    }
    let qemu = qemu_name(&target.architecture);
    Err(format!(
        "{target_id}: step `{step}` runs {target_id} programs, and this BuildKit worker \
         does not list {target_id} among the platforms it runs ({listed}): it needs an \
         emulator the worker detects. Register qemu-{qemu} with binfmt_misc on the daemon's \
         host — e.g. on Debian/Ubuntu, with binfmt_misc mounted (`mount -t binfmt_misc \
         binfmt_misc /proc/sys/fs/binfmt_misc`), `apt-get install qemu-user-static \
         binfmt-support`, or `docker run --privileged --rm tonistiigi/binfmt --install {arch}` \
         — then restart the daemon or builder if it still does not list {target_id}",
        target_id = id(target),
        listed = listed.join(", "),
        arch = target.architecture,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(spec: &str) -> pb::Platform {
        to_pb(&Platform::parse(spec).unwrap())
    }

    #[test]
    fn result_platforms_name_every_target_as_buildkit_reads_them() {
        let arm = Platform::parse("linux/arm/v7").unwrap();
        let amd = Platform::parse("linux/amd64").unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&result_platforms(&[amd, arm])).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"platforms": [
                {"id": "linux/amd64", "platform": {"architecture": "amd64", "os": "linux"}},
                {"id": "linux/arm/v7",
                 "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}}
            ]})
        );
    }

    #[test]
    fn a_missing_variant_matches_any() {
        let worker = [pb("linux/amd64"), pb("linux/arm64"), pb("linux/arm/v7")];
        for runs in ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/arm"] {
            assert!(
                worker_runs(&Platform::parse(runs).unwrap(), &worker),
                "{runs}"
            );
        }
        for not in ["linux/riscv64", "linux/arm/v6", "windows/amd64"] {
            assert!(
                !worker_runs(&Platform::parse(not).unwrap(), &worker),
                "{not}"
            );
        }
    }

    #[test]
    fn qemu_names_follow_the_handlers() {
        assert_eq!(qemu_name("arm64"), "aarch64");
        assert_eq!(qemu_name("s390x"), "s390x");
        assert_eq!(qemu_name("loong64"), "loongarch64");
    }
}

#[cfg(test)]
mod check_tests {
    use super::*;
    use crate::config;
    use crate::plan::{self, BuildOptions, Library};

    fn plan_of(pipeline: &str) -> BuildPlan {
        let yaml = format!("package: {{name: p, version: 1}}\npipeline:\n{pipeline}");
        let config = config::load("package.yaml", &yaml).unwrap();
        let options = BuildOptions {
            named_contexts: [(
                plan::ENVIRONMENT_CONTEXT.to_string(),
                "docker-image://busybox".to_string(),
            )]
            .into(),
            ..Default::default()
        };
        plan::plan("package.yaml", &config, &options, &Library::new()).unwrap()
    }

    #[test]
    fn a_step_of_an_unlisted_platform_names_the_emulator() {
        let worker = [to_pb(&Platform::default()), to_pb(&Platform::default())];
        let riscv = Platform::parse("linux/riscv64").unwrap();
        let err = check_emulation(&riscv, &worker, &plan_of("  - runs: uname -m\n")).unwrap_err();
        assert!(
            err.starts_with("linux/riscv64: step `[2/3] uname -m`"),
            "{err}"
        );
        assert!(err.contains("platforms it runs (linux/amd64)"), "{err}");
        assert!(err.contains("qemu-riscv64"), "{err}");
        assert!(err.contains("apt-get install qemu-user-static"), "{err}");
        // The worker's own platform, or no steps at all: nothing to emulate.
        assert!(check_emulation(&Platform::default(), &worker, &plan_of("  - runs: x\n")).is_ok());
        assert!(check_emulation(&riscv, &worker, &plan_of("  []\n")).is_ok());
        // A daemon that lists no platforms is not second-guessed.
        assert!(check_emulation(&riscv, &[], &plan_of("  - runs: x\n")).is_ok());
    }
}
