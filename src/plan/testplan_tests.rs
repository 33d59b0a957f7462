//! Target `test`: numbering, worlds, environments and bases of the tests.

use std::collections::BTreeMap;

use super::*;
use crate::config;
use crate::plan::{plan, Library, ENVIRONMENT_CONTEXT};

const YAML: &str = r#"package:
  name: p
  version: 1
  epoch: 0
environment:
  environment:
    BUILD_ONLY: build
    SHARED: build
pipeline:
  - runs: make
test:
  environment:
    contents:
      repositories: [./extra]
      keyring: [./extra.rsa.pub]
      packages: [zsh]
    environment:
      SHARED: test
    accounts:
      users:
        - username: tester
          uid: 4242
  pipeline:
    - name: runs p
      runs: p --version
    - runs: echo two
subpackages:
  - name: p-skipped
    if: ${{package.name}} == 'q'
    test:
      pipeline:
        - runs: exit 1
  - name: p-doc
    test:
      pipeline:
        - runs: test -d /usr/share/doc
  - name: p-untested
    test:
      environment:
        contents:
          packages: [busybox]
"#;

fn options(target: &str, args: &[(&str, &str)]) -> BuildOptions {
    BuildOptions {
        target: Some(target.to_string()),
        named_contexts: BTreeMap::from([(
            ENVIRONMENT_CONTEXT.to_string(),
            "docker-image://melange-test-env:busybox".to_string(),
        )]),
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn planned(target: &str, args: &[(&str, &str)]) -> crate::plan::BuildPlan {
    let config = config::load("package.yaml", YAML).unwrap();
    plan(
        "package.yaml",
        &config,
        &options(target, args),
        &Library::new(),
    )
    .unwrap()
}

#[test]
fn each_tested_package_gets_its_own_numbered_environment() {
    let plan = planned("test", &[(TEST_PACKAGES_ARG, "strace, p")]);
    assert!(
        plan.packaging.is_some(),
        "target test packages as `packages`"
    );
    let names: Vec<(&str, Vec<&str>)> = plan
        .tests
        .iter()
        .map(|t| {
            let steps = t.steps.iter().map(|s| s.name.as_str()).collect();
            (t.environment_step.as_str(), steps)
        })
        .collect();
    // p-skipped's `if:` is false; p-untested has no steps: no test.
    assert_eq!(
        names,
        [
            (
                "[test 1/5] p: environment",
                vec!["[test 2/5] p: runs p", "[test 3/5] p: echo two"]
            ),
            (
                "[test 4/5] p-doc: environment",
                vec!["[test 5/5] p-doc: test -d /usr/share/doc"]
            ),
        ]
    );
    let main = &plan.tests[0];
    assert_eq!(main.packages, ["p", "zsh", "strace"]);
    let env = main.environment.as_ref().unwrap();
    assert_eq!(env.world, main.packages);
    assert_eq!(env.repositories[0].location, "./extra");
    assert_eq!(env.keyring, ["./extra.rsa.pub"]);
    assert!(env
        .users
        .iter()
        .any(|u| u.name == "tester" && u.uid == 4242));
    assert_eq!(main.steps[0].line, 24);
    // The subpackage's world is its own package, not the main one (which
    // MELANGE_TEST_PACKAGES adds here, as it adds strace to every test).
    assert_eq!(plan.tests[1].packages, ["p-doc", "strace", "p"]);
    assert!(plan.tests[1]
        .environment
        .as_ref()
        .unwrap()
        .repositories
        .is_empty());
    // Test variables go over the build's.
    let vars = &main.steps[0].env;
    assert_eq!(vars["SHARED"], "test");
    assert_eq!(vars["BUILD_ONLY"], "build");
    assert_eq!(plan.tests[1].steps[0].env["SHARED"], "build");
    assert_eq!(plan.test_base, None);
}

#[test]
fn the_test_base_comes_from_its_context_or_build_arg() {
    let image = planned("test", &[(TEST_ENVIRONMENT_IMAGE_ARG, "debian:12")]);
    assert_eq!(
        image.test_base,
        Some(BaseSource::Image {
            reference: "debian:12".into()
        })
    );
    let config = config::load("package.yaml", YAML).unwrap();
    let mut opts = options("test", &[(TEST_ENVIRONMENT_IMAGE_ARG, "debian:12")]);
    opts.named_contexts.insert(
        TEST_ENVIRONMENT_CONTEXT.into(),
        "docker-image://alpine".into(),
    );
    let planned = plan("package.yaml", &config, &opts, &Library::new()).unwrap();
    assert_eq!(
        planned.test_base,
        Some(BaseSource::Context {
            name: TEST_ENVIRONMENT_CONTEXT.into(),
            value: "docker-image://alpine".into()
        })
    );
    // Only target test has one.
    let packages = self::planned("packages", &[(TEST_ENVIRONMENT_IMAGE_ARG, "debian:12")]);
    assert_eq!(packages.test_base, None);
}

#[test]
fn a_test_cannot_run_as_another_user() {
    let yaml = YAML.replace(
        "    accounts:\n      users:",
        "    accounts:\n      run-as: tester\n      users:",
    );
    let config = config::load("package.yaml", &yaml).unwrap();
    let err = plan(
        "package.yaml",
        &config,
        &options("test", &[]),
        &Library::new(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("test steps can only run as root"),
        "{err}"
    );
    assert_eq!(err.pos.line, 20, "{err}");
}
