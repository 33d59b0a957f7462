//! Each rule on a small build file: the finding, its place and its text.

use std::collections::BTreeMap;

use super::*;
use crate::config;
use crate::plan::{self, BuildOptions, Library, ENVIRONMENT_CONTEXT};

fn findings(yaml: &str, build_args: &[(&str, &str)]) -> Vec<Finding> {
    let options = BuildOptions {
        named_contexts: BTreeMap::from([(
            ENVIRONMENT_CONTEXT.to_string(),
            "docker-image://debian".to_string(),
        )]),
        build_args: build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    let config = config::load("package.yaml", yaml).unwrap();
    let library = Library::new();
    let plan = plan::plan("package.yaml", &config, &options, &library).unwrap();
    let root = config::yaml::parse(yaml).unwrap();
    check(&Input {
        root: &root,
        config: &config,
        plan: &plan,
        options: &options,
        library: &library,
        vars: &plan.vars,
    })
}

fn of<'f>(findings: &'f [Finding], rule: &str) -> Vec<&'f Finding> {
    findings.iter().filter(|f| f.rule == rule).collect()
}

const HEAD: &str =
    "package:\n  name: demo\n  version: 1.0.0\n  epoch: 0\n  copyright:\n    - license: MIT\n";

#[test]
fn every_rule_has_a_documented_anchor() {
    let doc = include_str!("../../docs/lint.md");
    for rule in RULES {
        assert!(
            doc.contains(&format!("## {}", rule.name)),
            "docs/lint.md has no section for {}",
            rule.name
        );
        assert_eq!(rule.anchor, rule.name.to_lowercase());
        assert!(rule.url().starts_with("docs/lint.md#"));
    }
}

#[test]
fn packages_of_an_image_environment_without_repository_are_named() {
    let yaml = format!(
        "{HEAD}environment:\n  contents:\n    packages:\n      - cmake\n      - zlib-dev\npipeline:\n  - uses: autoconf/configure\n"
    );
    let all = findings(&yaml, &[]);
    let found = of(&all, "IgnoredPackages");
    assert_eq!(found.len(), 1, "{all:?}");
    assert_eq!(found[0].pos.line, 10);
    assert!(
        found[0]
            .detail
            .ends_with("autoconf, automake, cmake, zlib-dev"),
        "{}",
        found[0].detail
    );
    // With a repository they are installed: no finding.
    let all = findings(&yaml, &[("MELANGE_REPOSITORIES", "./packages")]);
    assert!(of(&all, "IgnoredPackages").is_empty());
}

#[test]
fn literal_templates_and_step_names_are_located() {
    let yaml = format!(
        "{HEAD}pipeline:\n  - name: build ${{{{inputs.flavour}}}}\n    runs: echo\nsubpackages:\n  - name: demo-doc\n    description: docs for ${{{{package.name}}\n"
    );
    let all = findings(&yaml, &[]);
    let names = of(&all, "UndefinedStepNameVariable");
    assert_eq!(names.len(), 1);
    assert_eq!((names[0].pos.line, names[0].pos.col), (8, 11));
    assert!(names[0].detail.contains("${{inputs.flavour}}"));
    let texts = of(&all, "LiteralTemplate");
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].pos.line, 12);
    assert!(
        texts[0].detail.contains("${{package.name}"),
        "{}",
        texts[0].detail
    );
}

#[test]
fn unpinned_sources_defaults_and_licenses() {
    let yaml = "package:\n  name: demo\n  version: 1.0.0\n  epoch: 0\npipeline:\n  - uses: fetch\n    with:\n      uri: https://example.com/a.tar.gz\n      strip-components: 1\n  - uses: git-checkout\n    with:\n      repository: https://example.com/a.git\n      tag: v1\n";
    let all = findings(yaml, &[]);
    assert_eq!(of(&all, "FetchWithoutChecksum")[0].pos.line, 6);
    assert_eq!(of(&all, "GitCheckoutWithoutCommit")[0].pos.line, 10);
    let default = of(&all, "InputSetToDefault");
    assert_eq!(default.len(), 1, "{all:?}");
    assert_eq!(default[0].pos.line, 9);
    assert_eq!(of(&all, "MissingLicense")[0].pos.line, 2);
}

#[test]
fn priorities_repeats_update_and_tolerated_keys() {
    let yaml = format!(
        "{HEAD}  timeout: 3600\n  target-architecture: [aarch64]\n  dependencies:\n    runtime: [a, b, a]\n    provider-priority: -1\npipeline:\n  - runs: echo\nupdate:\n  enabled: false\n"
    );
    let all = findings(&yaml, &[]);
    assert_eq!(of(&all, "NegativePriority")[0].pos.line, 11);
    assert_eq!(of(&all, "RepeatedDependency")[0].pos.line, 10);
    assert_eq!(of(&all, "UpdateDisabledWithoutReason")[0].pos.line, 15);
    let tolerated = of(&all, "ToleratedKey");
    assert_eq!(tolerated.len(), 2, "{tolerated:?}");
    assert!(tolerated[0].detail.contains("timeout"));
    assert!(tolerated[1].detail.contains("leaves out x86_64"));
}

#[test]
fn a_clean_file_has_no_findings() {
    let yaml = format!("{HEAD}pipeline:\n  - name: build ${{{{package.name}}}}\n    runs: echo\n");
    assert_eq!(findings(&yaml, &[]), []);
}
