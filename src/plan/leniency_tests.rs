//! melange's leniency, one test per class: what real Wolfi files do that
//! melange accepts (its `pkg/config` and `pkg/build/compile.go`).

use std::collections::BTreeMap;

use super::*;
use crate::config;

fn plan_yaml(yaml: &str) -> Result<BuildPlan, ConfigError> {
    let options = BuildOptions {
        named_contexts: BTreeMap::from([(
            ENVIRONMENT_CONTEXT.to_string(),
            "docker-image://melange-test-env:busybox".to_string(),
        )]),
        ..Default::default()
    };
    plan(
        "package.yaml",
        &config::load("package.yaml", yaml)?,
        &options,
        &Library::new(),
    )
}

const HEAD: &str =
    "package:\n  name: demo\n  version: 1.0.0\n  epoch: 0\npipeline:\n  - runs: echo hi\n";

fn spec_of<'p>(plan: &'p BuildPlan, name: &str) -> &'p PackageSpec {
    let packaging = plan.packaging.as_ref().expect("target packages");
    packaging
        .packages
        .iter()
        .find(|p| p.name == name)
        .expect("package planned")
}

#[test]
fn an_empty_range_is_no_range() {
    let plan = plan_yaml(&format!(
        "{HEAD}subpackages:\n  - name: demo-doc\n    range: \"\"\n    pipeline:\n      - runs: echo doc\n"
    ))
    .unwrap();
    assert_eq!(plan.outputs, ["demo", "demo-doc"]);
}

#[test]
fn negative_and_empty_provider_priorities_are_accepted() {
    let yaml = format!(
        "{HEAD}subpackages:\n  - name: a\n    dependencies:\n      provider-priority: -1\n  - name: b\n    dependencies:\n      provider-priority: \"\"\n      replaces-priority: '5'\n"
    );
    let plan = plan_yaml(&yaml).unwrap();
    // apk-tools reads the field as unsigned: a negative one is not written.
    assert_eq!(spec_of(&plan, "a").provider_priority, 0);
    assert_eq!(spec_of(&plan, "b").provider_priority, 0);
    assert_eq!(spec_of(&plan, "b").replaces_priority, 5);
    let err = plan_yaml(&format!(
        "{HEAD}subpackages:\n  - name: c\n    dependencies:\n      provider-priority: 1.5\n"
    ))
    .unwrap_err();
    assert!(err.to_string().contains("must be an integer"), "{err}");
}

#[test]
fn update_enable_prerelease_tags_is_known() {
    plan_yaml(&format!(
        "{HEAD}update:\n  enabled: true\n  enable-prerelease-tags: true\n  oci:\n    identifier: cgr.dev/x\n"
    ))
    .unwrap();
}

#[test]
fn template_text_that_is_not_a_plain_variable_stays_in_descriptions() {
    let yaml = format!(
        "{HEAD}data:\n  - name: ints\n    items:\n      \"32\": a\n      \"64\": b\nsubpackages:\n  - name: blas-${{{{range.key}}}}\n    range: ints\n    description: \"BLAS${{{{range.key == \\\"64\\\" && \\\" (ILP64)\\\" || \\\"\\\"}}}}\"\n  - name: demo-doc\n    description: docs for ${{{{package.name}}\n"
    );
    let plan = plan_yaml(&yaml).unwrap();
    assert_eq!(
        spec_of(&plan, "blas-64").description,
        r#"BLAS${{range.key == "64" && " (ILP64)" || ""}}"#
    );
    assert_eq!(
        spec_of(&plan, "demo-doc").description,
        "docs for ${{package.name}"
    );
}

#[test]
fn an_undefined_variable_in_a_step_name_stays_as_written() {
    let yaml = format!(
        "{HEAD}  - name: build ${{{{inputs.flavour}}}} for ${{{{package.name}}}}\n    runs: echo x\n"
    );
    let plan = plan_yaml(&yaml).unwrap();
    let step = plan
        .steps
        .iter()
        .find(|s| s.name.contains("build"))
        .unwrap();
    assert!(
        step.name.ends_with("build ${{inputs.flavour}} for demo"),
        "{}",
        step.name
    );
    // Scripts stay strict, as in melange.
    let err = plan_yaml(&format!("{HEAD}  - runs: echo ${{{{inputs.flavour}}}}\n")).unwrap_err();
    assert!(err.to_string().contains("undefined variable"), "{err}");
}
