use std::collections::BTreeMap;

use super::*;
use crate::config;

fn options() -> BuildOptions {
    BuildOptions {
        named_contexts: BTreeMap::from([(
            ENVIRONMENT_CONTEXT.to_string(),
            "docker-image://melange-test-env:busybox".to_string(),
        )]),
        ..Default::default()
    }
}

fn plan_str(yaml: &str, options: &BuildOptions) -> Result<BuildPlan, ConfigError> {
    plan(
        "package.yaml",
        &config::load("package.yaml", yaml)?,
        options,
    )
}

const TWO_SUBPACKAGES: &str = r#"
package:
  name: hello
  version: "1.2"
  epoch: 3
environment:
  environment:
    GREETING: hi
pipeline:
  - name: build
    working-directory: src
    environment:
      STAGE: one
    runs: |
      mkdir -p ${{targets.destdir}}/usr/bin
      echo ${{package.full-version}} > ${{targets.contextdir}}/version
  - pipeline:
      - runs: echo nested
        working-directory: /tmp
subpackages:
  - name: hello-doc
    pipeline:
      - runs: mkdir -p ${{targets.subpkgdir}}/usr/share
"#;

#[test]
fn steps_are_numbered_over_the_whole_plan() {
    let plan = plan_str(TWO_SUBPACKAGES, &options()).unwrap();
    let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(plan.environment_step, "[1/5] environment");
    assert_eq!(
        names,
        [
            "[2/5] build",
            "[3/5] echo nested",
            "[4/5] hello-doc: mkdir -p /home/build/melange-out/hello-doc/usr/share"
        ]
    );
    assert_eq!(plan.result_step, "[5/5] collect melange-out");
    assert_eq!(plan.outputs, ["hello", "hello-doc"]);
}

#[test]
fn scripts_substitute_and_enter_their_directory() {
    let plan = plan_str(TWO_SUBPACKAGES, &options()).unwrap();
    assert_eq!(
        plan.steps[0].script,
        "set -e\n[ -d '/home/build/src' ] || mkdir -p '/home/build/src'\ncd '/home/build/src'\n\
         mkdir -p /home/build/melange-out/hello/usr/bin\necho 1.2-r3 > /home/build/melange-out/hello/version\n"
    );
    assert!(plan.steps[1].script.contains("cd '/tmp'"));
}

#[test]
fn environment_layers_defaults_yaml_then_step() {
    let plan = plan_str(TWO_SUBPACKAGES, &options()).unwrap();
    let env = &plan.steps[0].env;
    assert_eq!(env["HOME"], "/home/build");
    assert_eq!(env["SOURCE_DATE_EPOCH"], "0");
    assert_eq!(env["GOCACHE"], "/root/.cache/go-build");
    assert_eq!(env["CARGO_HOME"], "/root/.cargo");
    assert_eq!(env["GREETING"], "hi");
    assert_eq!(env["STAGE"], "one");
    assert!(
        !plan.steps[2].env.contains_key("STAGE"),
        "step environment must not leak to later steps"
    );
}

#[test]
fn yaml_environment_overrides_cache_defaults() {
    let yaml = "package: {name: a, version: 1}\nenvironment:\n  environment:\n    GOCACHE: /elsewhere\npipeline:\n  - runs: go build\n";
    let plan = plan_str(yaml, &options()).unwrap();
    assert_eq!(plan.steps[0].env["GOCACHE"], "/elsewhere");
}

#[test]
fn source_date_epoch_comes_from_build_arg() {
    let mut opts = options();
    opts.build_args
        .insert("SOURCE_DATE_EPOCH".into(), "1700000000".into());
    let plan = plan_str(TWO_SUBPACKAGES, &opts).unwrap();
    assert_eq!(plan.steps[0].env["SOURCE_DATE_EPOCH"], "1700000000");
    opts.build_args
        .insert("SOURCE_DATE_EPOCH".into(), "yesterday".into());
    assert!(plan_str(TWO_SUBPACKAGES, &opts)
        .unwrap_err()
        .message
        .contains("SOURCE_DATE_EPOCH"));
}

#[test]
fn base_comes_from_named_context_then_build_arg() {
    let plan = plan_str(TWO_SUBPACKAGES, &options()).unwrap();
    assert!(matches!(plan.base, BaseSource::Context { .. }));
    let mut opts = BuildOptions::default();
    opts.build_args
        .insert(ENVIRONMENT_IMAGE_ARG.into(), "busybox".into());
    assert_eq!(
        plan_str(TWO_SUBPACKAGES, &opts).unwrap().base,
        BaseSource::Image {
            reference: "busybox".into()
        }
    );
    let err = plan_str(TWO_SUBPACKAGES, &BuildOptions::default()).unwrap_err();
    assert!(
        err.message.starts_with("no build environment"),
        "{}",
        err.message
    );
}

#[test]
fn unknown_target_lists_the_targets() {
    let mut opts = options();
    opts.target = Some("pakages".into());
    let err = plan_str(TWO_SUBPACKAGES, &opts).unwrap_err();
    assert_eq!(
        err.message,
        "unknown target \"pakages\"; available targets: workspace"
    );
}

#[test]
fn undefined_variable_in_main_pipeline_is_located() {
    let yaml = "package: {name: a, version: 1}\npipeline:\n  - runs: echo ${{targets.subpkgdir}}\n";
    let err = plan_str(yaml, &options()).unwrap_err();
    assert_eq!(err.to_string(), "package.yaml:3:11: undefined variable `${{targets.subpkgdir}}` (known here: targets.contextdir, targets.destdir, targets.outdir)");
}

#[test]
fn long_first_lines_are_shortened() {
    let label = steps::label_of(&"x".repeat(100));
    assert_eq!(label.chars().count(), 60);
    assert!(label.ends_with('…'));
}

#[test]
fn every_step_lists_the_eight_cache_mounts() {
    let plan = plan_str(TWO_SUBPACKAGES, &options()).unwrap();
    let ids: Vec<&str> = plan.cache_mounts.iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        [
            "melange-go-mod-cache",
            "melange-go-build-cache",
            "melange-pip-cache",
            "melange-npm-cache",
            "melange-cargo-registry-cache",
            "melange-cargo-build-cache",
            "melange-ccache-cache",
            "melange-apk-cache"
        ]
    );
}
