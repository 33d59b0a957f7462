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
        &Library::new(),
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
    assert_eq!(plan.result_step, "[5/5] package hello, hello-doc");
    assert_eq!(plan.outputs, ["hello", "hello-doc"]);
    let mut workspace = options();
    workspace.target = Some("workspace".into());
    let plan = plan_str(TWO_SUBPACKAGES, &workspace).unwrap();
    assert_eq!(plan.result_step, "[5/5] collect melange-out");
    assert!(plan.packaging.is_none());
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
        "unknown target \"pakages\"; available targets: packages, workspace, test"
    );
}

#[test]
fn undefined_variable_in_main_pipeline_is_located() {
    let yaml = "package: {name: a, version: 1}\npipeline:\n  - runs: echo ${{targets.subpkgdir}}\n";
    let err = plan_str(yaml, &options()).unwrap_err();
    assert_eq!(err.to_string(), "package.yaml:3:11: undefined variable `${{targets.subpkgdir}}` (known here: targets.contextdir, targets.destdir, targets.outdir, targets.package.a)");
}

#[test]
fn long_first_lines_are_shortened() {
    let label = steps::label_of(&"x".repeat(100));
    assert_eq!(label.chars().count(), 60);
    assert!(label.ends_with('…'));
}

#[test]
fn every_step_lists_the_eight_cache_mounts_and_the_cache_dir() {
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
            "melange-apk-cache",
            "melange-cache-dir"
        ]
    );
    assert_eq!(plan.cache_mounts[8].path, "/var/cache/melange");
}

const LANGUAGE: &str = r#"
package:
  name: py
  version: 3.10.4
  epoch: 0
vars:
  base: ${{package.name}}-base
var-transforms:
  - from: ${{package.version}}
    match: ^(\d+)\.(\d+)\.\d+$
    replace: $1.$2
    to: short
  - from: ${{vars.short}}
    match: \.
    replace: ${1}_
    to: short
data:
  - name: flavours
    items:
      b: second
      a: first
pipeline:
  - if: ${{build.arch}} == 'aarch64'
    runs: echo arm only
  - if: ${{build.arch}} == "x86_64" && ${{build.goarch}} == amd64
    runs: echo ${{vars.base}} ${{vars.short}} ${{host.triplet.gnu}} ${{cross.triplet.rust.musl}}
subpackages:
  - range: flavours
    name: ${{package.name}}-${{range.key}}
    pipeline:
      - runs: echo ${{range.value}} ${{subpkg.name}} ${{targets.package.py}}
  - if: ${{build.arch}} == 'aarch64'
    name: py-arm
"#;

#[test]
fn vars_transforms_ranges_and_conditions() {
    let plan = plan_str(LANGUAGE, &options()).unwrap();
    assert_eq!(plan.outputs, ["py", "py-a", "py-b"]);
    let bodies: Vec<&str> = plan
        .steps
        .iter()
        .map(|s| s.script.lines().last().unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            // A later transform with the same `to` overwrites; `${1}_` is
            // group 1 followed by `_` (here there is no group: empty).
            "echo py-base 3_10 x86_64-pc-linux-gnu x86_64-unknown-linux-musl",
            "echo first py-a /home/build/melange-out/py",
            "echo second py-b /home/build/melange-out/py",
        ]
    );
    assert_eq!(
        plan.steps[1].name,
        "[3/5] py-a: echo first py-a /home/build/melange-out/py"
    );
}

#[test]
fn platform_selects_conditions_and_arch_variables() {
    let mut arm = options();
    arm.platform = Platform::parse("linux/arm64").unwrap();
    let plan = plan_str(LANGUAGE, &arm).unwrap();
    assert_eq!(plan.outputs, ["py", "py-a", "py-b", "py-arm"]);
    assert_eq!(
        plan.steps[0].script.lines().last().unwrap(),
        "echo arm only"
    );
    assert_eq!(plan.steps.len(), 3);
}

#[test]
fn language_errors_are_located() {
    let cases = [
        (
            "package: {name: a, version: 1}\nsubpackages:\n  - range: nope\n    name: x\n",
            "package.yaml:3:12: range \"nope\" names no `data:` entry (defined: none)",
        ),
        (
            "package: {name: a, version: 1}\nsubpackages:\n  - name: b\n  - name: b\n",
            "package.yaml:4:11: subpackage name \"b\" is used twice",
        ),
        (
            "package: {name: a, version: 1}\npipeline:\n  - if: ${{build.arch}} ==\n    runs: x\n",
            "package.yaml:3:9: invalid `if:`: expected a value after the comparison, found the end",
        ),
        (
            "package: {name: a, version: 1}\nvar-transforms:\n  - {from: x, match: '(', replace: y, to: z}\n",
            "package.yaml:3:22: invalid regular expression in var-transforms:",
        ),
        (
            "package: {name: a, version: 1}\npipeline:\n  - uses: nope/nothing\n",
            "package.yaml:3:11: unknown pipeline `nope/nothing`",
        ),
        (
            "package: {name: a, version: 1}\nenvironment:\n  accounts: {run-as: build}\n",
            "package.yaml:3:22: `accounts.run-as: build`: steps can only run as root",
        ),
    ];
    for (yaml, want) in cases {
        let err = plan_str(yaml, &options()).unwrap_err().to_string();
        assert!(
            err.starts_with(want),
            "{err}\n  does not start with\n{want}"
        );
    }
}

#[test]
fn run_as_root_is_honoured() {
    let yaml = "package: {name: a, version: 1}\nenvironment:\n  accounts: {run-as: root}\n";
    assert_eq!(
        plan_str(yaml, &options()).unwrap().user.as_deref(),
        Some("root")
    );
}

#[test]
fn variables_built_from_variables_are_bounded() {
    // Found with the fuzz target (fuzz/, `plan`): each var twice the one
    // before, or each var-transform doubling the last, took gigabytes from
    // a page of YAML.
    let mut yaml = String::from("package: {name: a, version: 1}\nvars:\n  a0: xxxxxxxxxxxxxxxx\n");
    for i in 1..40 {
        yaml += &format!("  a{i}: ${{{{vars.a{p}}}}}${{{{vars.a{p}}}}}\n", p = i - 1);
    }
    let err = plan_str(&yaml, &options()).unwrap_err().to_string();
    // a16 (line 19) is 1 MiB, all of them together 2 MiB.
    assert!(err.starts_with("package.yaml:19:8: "), "{err}");
    assert!(err.contains("more than 1 MiB"), "{err}");

    let mut yaml = String::from(
        "package: {name: a, version: 1}\nvars:\n  t0: xxxxxxxxxxxxxxxx\nvar-transforms:\n",
    );
    for i in 1..40 {
        yaml += &format!(
            "  - {{from: '${{{{vars.t{}}}}}', match: '(.*)', replace: '$1$1', to: t{i}}}\n",
            i - 1
        );
    }
    let err = plan_str(&yaml, &options()).unwrap_err().to_string();
    assert!(err.contains("more than 1 MiB"), "{err}");

    // Many small vars that each copy a big one: bounded in all.
    let mut yaml = String::from("package: {name: a, version: 1}\nvars:\n");
    yaml += &format!("  big: {}\n", "x".repeat(60_000));
    for i in 0..40 {
        yaml += &format!("  c{i}: ${{{{vars.big}}}}\n");
    }
    let err = plan_str(&yaml, &options()).unwrap_err().to_string();
    assert!(
        err.contains("`vars:` and `var-transforms:` hold more than 1 MiB"),
        "{err}"
    );
}

#[test]
fn a_var_transform_replacement_is_bounded_before_it_is_expanded() {
    // One match, a template of 100,000 `$0`: checked before expanding.
    let yaml = format!(
        "package: {{name: a, version: 1}}\nvars:\n  big: {}\nvar-transforms:\n  - {{from: '${{{{vars.big}}}}', match: '.+', replace: '{}', to: t}}\n",
        "x".repeat(60_000),
        "$0".repeat(100_000)
    );
    let err = plan_str(&yaml, &options()).unwrap_err().to_string();
    assert!(err.contains("more than 1 MiB"), "{err}");
    // Within the bound it is regex's replace_all.
    let yaml = "package: {name: a, version: 1.2.3}\nvar-transforms:\n  - {from: '${{package.version}}', match: '(\\d+)', replace: '<$1>', to: t}\npipeline:\n  - runs: echo ${{vars.t}}\n";
    let plan = plan_str(yaml, &options()).unwrap();
    assert!(plan.steps[0].script.contains("echo <1>.<2>.<3>"));
}

/// A build file with a `data:` set of `items` items and one ranged
/// subpackage of `steps` steps.
fn ranged(items: usize, steps: usize) -> String {
    let mut yaml = String::from("package: {name: r, version: 1}\ndata:\n  - name: d\n    items:\n");
    for i in 0..items {
        yaml += &format!("      k{i}: v\n");
    }
    yaml += "subpackages:\n  - range: d\n    name: r-${{range.key}}\n    pipeline:\n";
    for _ in 0..steps {
        yaml += "      - runs: echo ${{range.value}}\n";
    }
    yaml
}

#[test]
fn subpackage_and_step_counts_are_checked_before_expanding() {
    let err = plan_str(&ranged(10_001, 0), &options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "package.yaml:10007:12: more than 10000 subpackages (the limit) once `range:` is expanded: this entry makes 10001"
    );
    let err = plan_str(&ranged(5_001, 2), &options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "package.yaml:5007:12: more than 10000 steps (the limit) once `range:` is expanded: this entry makes 5001 subpackages of 2 steps each"
    );
    assert_eq!(
        plan_str(&ranged(5_000, 1), &options())
            .unwrap()
            .outputs
            .len(),
        5_001
    );
}

#[test]
fn ten_thousand_plain_subpackages_plan() {
    let mut yaml = String::from("package: {name: p, version: 1}\nsubpackages:\n");
    for i in 0..steps::MAX_SUBPACKAGES {
        yaml += &format!("  - name: p-{i}\n");
    }
    let plan = plan_str(&yaml, &options()).unwrap();
    assert_eq!(plan.outputs.len(), 10_001);
    assert_eq!(plan.packaging.unwrap().packages.len(), 10_001);
    yaml += "  - name: p-last\n";
    let err = plan_str(&yaml, &options()).unwrap_err();
    assert!(
        err.to_string()
            .contains("more than 10000 subpackages (the limit)"),
        "{err}"
    );
}
