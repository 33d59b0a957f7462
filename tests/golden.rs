//! Golden tests: `melange-frontend plan` output (plan + LLB with digests) for
//! the packages in testdata/, compared byte for byte. A change in any digest
//! means the LLB changed: review it, then regenerate with UPDATE_GOLDEN=1.

use std::path::{Path, PathBuf};

use melange_frontend::cli::{plan_command, PlanArgs};

fn testdata(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(path)
}

fn args(file: &str, contexts: &[&str], build_args: &[&str]) -> PlanArgs {
    PlanArgs {
        file: PathBuf::from("testdata").join(file),
        build_args: build_args.iter().map(|s| s.to_string()).collect(),
        build_contexts: contexts.iter().map(|s| s.to_string()).collect(),
        target: None,
        platform: "linux/amd64".into(),
        build_platform: "linux/amd64".into(),
        pipeline_dirs: Vec::new(),
        frontend_image: "melange-frontend:dev".into(),
    }
}

fn check_golden(name: &str, actual: &str) {
    let path = testdata(&format!("golden/{name}"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} differs from the golden file; review and run with UPDATE_GOLDEN=1\n{actual}"
    );
}

fn in_repo<T>(f: impl FnOnce() -> T) -> T {
    // PlanArgs paths are relative to the repository, as a user would type them.
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    f()
}

#[test]
fn hello_plan_and_llb_match_golden() {
    let json = in_repo(|| {
        plan_command(&args(
            "hello/package.yaml",
            &[
                "melange-environment=docker-image://melange-test-env:busybox",
                "melange-cache=./cache",
            ],
            &["SOURCE_DATE_EPOCH=1700000000"],
        ))
    })
    .unwrap();
    check_golden("hello.plan.json", &format!("{json}\n"));
}

#[test]
fn source_dir_and_melangeignore_match_golden() {
    let json = in_repo(|| {
        plan_command(&args(
            "srcdir/package.yaml",
            &["melange-environment=docker-image://melange-test-env:debian-build"],
            &[],
        ))
    })
    .unwrap();
    // Only ./srcdir-demo/ is sent, minus its .melangeignore rules.
    assert!(
        json.contains(r#""local.includepattern": "[\"srcdir-demo\"]""#),
        "{json}"
    );
    check_golden("srcdir.plan.json", &format!("{json}\n"));
}

#[test]
fn build_arg_environment_workspace_matches_golden() {
    let json = in_repo(|| {
        plan_command(&PlanArgs {
            target: Some("workspace".into()),
            ..args(
                "hello/package.yaml",
                &[],
                &["MELANGE_ENVIRONMENT_IMAGE=busybox:1.36"],
            )
        })
    })
    .unwrap();
    check_golden("hello-build-arg.plan.json", &format!("{json}\n"));
}

/// A native `git-checkout`: the Git source at the commit (keepgitdir, auth
/// attrs), the helper's `git-checkout` exec (no network: the build file's
/// repository is https://, whose tag the helper does not check) and the copy
/// into the workspace.
#[test]
fn git_checkout_plan_and_llb_match_golden() {
    let json = in_repo(|| {
        plan_command(&PlanArgs {
            target: Some("workspace".into()),
            ..args(
                "gnu-hello-git/package.yaml",
                &["melange-environment=docker-image://melange-test-env:debian-nogit"],
                &["SOURCE_DATE_EPOCH=1700000000"],
            )
        })
    })
    .unwrap();
    check_golden("gnu-hello-git.plan.json", &format!("{json}\n"));
}

#[test]
fn packaging_metadata_matches_golden() {
    let json = in_repo(|| {
        plan_command(&args(
            "meta/package.yaml",
            &["melange-environment=docker-image://melange-test-env:busybox"],
            &[
                "SOURCE_DATE_EPOCH=1700000000",
                "MELANGE_NAMESPACE=wolfi",
                "MELANGE_SIGNING_KEY_NAME=packager.rsa",
            ],
        ))
    })
    .unwrap();
    check_golden("meta.plan.json", &format!("{json}\n"));
}

#[test]
fn errors_match_golden() {
    let mut messages = String::new();
    for (file, contexts) in [
        (
            "golden/errors.yaml",
            vec!["melange-environment=docker-image://busybox"],
        ),
        ("golden/errors.yaml", vec![]),
        ("golden/missing.yaml", vec![]),
        (
            "hello/package.yaml",
            vec!["melange-environment=oci-layout:///tmp/x"],
        ),
    ] {
        let error = in_repo(|| plan_command(&args(file, &contexts, &[]))).unwrap_err();
        messages.push_str(&format!("{error}\n"));
    }
    check_golden("errors.txt", &messages);
}

#[test]
fn plan_is_deterministic_across_runs() {
    let run = || {
        in_repo(|| {
            plan_command(&args(
                "hello/package.yaml",
                &["melange-environment=docker-image://busybox"],
                &[],
            ))
        })
        .unwrap()
    };
    assert_eq!(run(), run());
}

/// The steps of a plan as reviewable text: name, working directory and
/// body of each script, the variables a step sets beyond the defaults, and
/// the environment's packages.
fn steps_text(file: &str, build_args: &[(&str, &str)], platform: &str) -> String {
    use melange_frontend::{cli, config, plan};
    let path = testdata(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let config = config::load(file, &text).unwrap();
    let mut options = plan::BuildOptions {
        platform: plan::Platform::parse(platform).unwrap(),
        ..Default::default()
    };
    options.named_contexts.insert(
        plan::ENVIRONMENT_CONTEXT.into(),
        "docker-image://busybox".into(),
    );
    for (key, value) in build_args {
        options
            .build_args
            .insert(key.to_string(), value.to_string());
    }
    let dir = path.parent().unwrap().join("pipelines");
    let library = cli::read_library(&config, &[dir]);
    let planned = plan::plan(file, &config, &options, &library).unwrap_or_else(|e| panic!("{e}"));
    let defaults = &planned.steps[0].env;
    let mut out = format!(
        "# {file} on {platform}\npackages: {}\n",
        planned.packages.join(" ")
    );
    out.push_str(&format!("outputs: {}\n", planned.outputs.join(" ")));
    for step in &planned.steps {
        out.push_str(&format!("\n{}\n", step.name));
        for (key, value) in &step.env {
            if defaults.get(key) != Some(value) || key == "LEVEL" {
                out.push_str(&format!("  env {key}={value}\n"));
            }
        }
        let body = step.script.strip_prefix("set -e\n").unwrap_or(&step.script);
        for line in body.lines() {
            out.push_str(&format!("  | {line}\n"));
        }
    }
    out
}

#[test]
fn language_features_match_golden() {
    let mut text = steps_text("uses/package.yaml", &[], "linux/amd64");
    text.push('\n');
    text.push_str(&steps_text("uses/package.yaml", &[], "linux/arm64"));
    check_golden("uses.steps.txt", &text);
}

#[test]
fn language_errors_match_golden() {
    use melange_frontend::cli;
    let dir = testdata("errors");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    let mut messages = String::new();
    for name in files {
        let mut args = args(
            &format!("errors/{name}"),
            &["melange-environment=docker-image://busybox"],
            &[],
        );
        args.platform = "linux/amd64".into();
        let error = in_repo(|| cli::plan_command(&args)).expect_err(&name);
        messages.push_str(&format!("{error}\n"));
    }
    check_golden("errors-language.txt", &messages);
}

#[test]
fn test_target_plan_matches_golden() {
    // Target test: the packages' plan and LLB, plus one test per package
    // with its environment (world, repositories, base) and numbered steps.
    let json = in_repo(|| {
        let mut args = args(
            "test-target/iso/package.yaml",
            &[
                "melange-environment=docker-image://melange-test-env:busybox",
                "melange-test-environment=docker-image://melange-test-env:test-base",
            ],
            &[
                "SOURCE_DATE_EPOCH=1700000000",
                "MELANGE_TEST_PACKAGES=busybox",
            ],
        );
        args.target = Some("test".into());
        plan_command(&args)
    })
    .unwrap();
    check_golden("test-target.plan.json", &format!("{json}\n"));
}
