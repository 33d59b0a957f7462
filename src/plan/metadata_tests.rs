//! One test per rule of `plan::metadata`, through the whole planner where
//! the value reaches metadata, so the position is the one a user sees.

use std::collections::BTreeMap;

use super::*;
use crate::config;
use crate::plan::{plan, BuildOptions, Library, ENVIRONMENT_CONTEXT};

/// Plan `yaml` with build-args; the error as a user sees it.
fn error(yaml: &str, args: &[(&str, &str)]) -> String {
    let options = BuildOptions {
        named_contexts: BTreeMap::from([(
            ENVIRONMENT_CONTEXT.to_string(),
            "docker-image://busybox".to_string(),
        )]),
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        build_file_text: yaml.into(),
        ..Default::default()
    };
    let config = match config::load("p.yaml", yaml) {
        Ok(config) => config,
        Err(e) => return e.to_string(),
    };
    match plan("p.yaml", &config, &options, &Library::new()) {
        Ok(_) => "planned".to_string(),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = "package:\n  name: p\n  version: 1.0\n";

#[test]
fn a_forged_index_record_in_a_runtime_dependency_is_refused_at_its_line() {
    let yaml = format!(
        "{HEAD}  dependencies:\n    runtime:\n      - ok\n      - \"foo\\n\\nC:Q1x\\nP:forged\\nV:6.6-r0\"\n"
    );
    assert_eq!(
        error(&yaml, &[]),
        "p.yaml:7:13: runtime dependency \"foo\\n\\nC:Q1x\\nP:forged\\nV:6.6-r0\" contains a line break"
    );
}

#[test]
fn a_value_brought_in_by_a_variable_points_at_the_variable() {
    let yaml = format!("{HEAD}  url: https://x/${{{{vars.bad}}}}\nvars:\n  bad: \"a\\nU:evil\"\n");
    assert_eq!(
        error(&yaml, &[]),
        "p.yaml:4:18: url \"https://x/a\\nU:evil\" contains a line break (brought in by `${{vars.bad}}`)"
    );
    // Through a range, in a subpackage.
    let yaml = format!(
        "{HEAD}data:\n  - name: d\n    items:\n      \"a b\": x\nsubpackages:\n  - range: d\n    name: p-sub\n    dependencies:\n      provides: [\"p-${{{{range.key}}}}\"]\n"
    );
    assert_eq!(
        error(&yaml, &[]),
        "p.yaml:12:21: provides entry \"p-a b\" contains a space (brought in by `${{range.key}}`): write one entry per list item"
    );
}

#[test]
fn commit_license_description_and_replaces_are_checked() {
    let cases = [
        ("  commit: \"abc\\ndepend = evil\"\n", "4:15: commit"),
        (
            "  copyright:\n    - license: \"MIT\\u0001\"\n",
            "5:20: copyright license",
        ),
        ("  description: \"a\\u0007b\"\n", "4:18: description"),
        (
            "  dependencies:\n    replaces: [\"a\\tb\"]\n",
            "5:18: replaces entry",
        ),
    ];
    for (lines, expected) in cases {
        let got = error(&format!("{HEAD}{lines}"), &[]);
        assert!(got.starts_with(&format!("p.yaml:{expected}")), "{got}");
    }
    // A folded description keeps its words on one line.
    let yaml = format!("{HEAD}  description: >\n    two\n    lines\n");
    assert_eq!(error(&yaml, &[]), "planned");
}

#[test]
fn dependency_entries_must_be_one_apk_atom() {
    let yaml = format!("{HEAD}  dependencies:\n    runtime: [\"foo>=1.0 beta\"]\n");
    assert_eq!(
        error(&yaml, &[]),
        "p.yaml:5:24: runtime dependency \"foo>=1.0 beta\" contains a space: write one entry per list item"
    );
    let yaml = format!("{HEAD}  dependencies:\n    runtime: [\"foo>=1..0\"]\n");
    assert_eq!(
        error(&yaml, &[]),
        "p.yaml:5:15: runtime dependency \"foo>=1..0\" is not one apk dependency: \"1..0\" is not a valid apk version"
    );
    let yaml = format!("{HEAD}  dependencies:\n    provides: [\"!foo\"]\n");
    assert!(error(&yaml, &[]).contains("a provide cannot be a conflict"));
    // What Wolfi writes is accepted.
    let yaml = format!(
        "{HEAD}  dependencies:\n    runtime: [\"so:libc.so.6\", \"!old\", \"py3-x>=1.2_rc1\", \"a=${{{{package.full-version}}}}\"]\n    provides: [\"cmd:p=${{{{package.full-version}}}}\", \"virtual\"]\n"
    );
    assert_eq!(error(&yaml, &[]), "planned");
}

#[test]
fn version_must_be_an_apk_version() {
    for (version, expected) in [
        (
            "\"1.0 beta\"",
            "p.yaml:3:16: package.version \"1.0 beta\" contains a space",
        ),
        (
            "\"1.0\\ndepend = evil\"",
            "p.yaml:3:16: package.version \"1.0\\ndepend = evil\" contains a line break",
        ),
        (
            "1.0/../../x",
            "p.yaml:3:12: package.version \"1.0/../../x\" is not a valid apk version",
        ),
        (
            "1.0-r3",
            "p.yaml:3:12: package.version \"1.0-r3\" is not a valid apk version",
        ),
    ] {
        let yaml = format!("package:\n  name: p\n  version: {version}\n");
        let got = error(&yaml, &[]);
        assert!(got.starts_with(expected), "{got}");
    }
    for good in [
        "1.2.3",
        "2024.01.05",
        "1.0_rc2",
        "6.6_p20240101",
        "1.2a",
        "0.1_alpha~abc1234",
    ] {
        let yaml = format!("package:\n  name: p\n  version: {good}\n");
        assert_eq!(error(&yaml, &[]), "planned", "{good}");
    }
}

#[test]
fn subpackage_names_from_variables_are_checked_where_the_variable_is() {
    let yaml = format!("{HEAD}vars:\n  s: \"x\\ny\"\nsubpackages:\n  - name: p-${{{{vars.s}}}}\n");
    assert_eq!(
        error(&yaml, &[]),
        "p.yaml:7:13: subpackage name \"p-x\\ny\" contains a line break (brought in by `${{vars.s}}`)"
    );
    let yaml = format!("{HEAD}subpackages:\n  - name: p-${{{{package.version}}}}/x\n");
    assert!(error(&yaml, &[]).contains("is not a valid package name"));
}

#[test]
fn build_args_and_platform_reach_metadata_checked() {
    let got = error(HEAD, &[("MELANGE_NAMESPACE", "wolfi\nP:forged")]);
    assert_eq!(
        got,
        "p.yaml: build-arg MELANGE_NAMESPACE \"wolfi\\nP:forged\" contains a line break (it becomes .PKGINFO's maintainer)"
    );
    let got = error(HEAD, &[("MELANGE_SIGNING_KEY_NAME", "a\nb")]);
    assert!(got.contains("contains a line break"), "{got}");
}

#[test]
fn trigger_paths_are_single_words() {
    let yaml = format!(
        "{HEAD}  scriptlets:\n    trigger:\n      script: x\n      paths: [\"/usr/lib /etc\"]\n"
    );
    assert!(error(&yaml, &[]).starts_with("p.yaml:7:24: trigger path"));
}

#[test]
fn a_finished_spec_is_checked_again() {
    let package = PackageSpec {
        name: "p".into(),
        version: "1.0-r0".into(),
        origin: "p".into(),
        description: String::new(),
        url: String::new(),
        commit: String::new(),
        maintainer: String::new(),
        licenses: Vec::new(),
        depends: vec!["a>=1".into()],
        provides: Vec::new(),
        replaces: Vec::new(),
        provider_priority: 0,
        replaces_priority: 0,
        triggers: Vec::new(),
        scriptlets: BTreeMap::new(),
        no_provides: false,
        no_depends: false,
        no_commands: false,
    };
    let spec = PackagingSpec {
        arch: "x86_64".into(),
        source_date_epoch: 0,
        signing_key_name: "melange.rsa".into(),
        signing_key_id: String::new(),
        signing_public_key: String::new(),
        melange_yaml: "".into(),
        packages: vec![package.clone()],
    };
    check_spec(&spec).unwrap();
    let mut bad = spec.clone();
    bad.packages[0].commit = "a\nb".into();
    assert_eq!(
        check_spec(&bad).unwrap_err(),
        "package \"p\": commit \"a\\nb\" contains a line break"
    );
    let mut bad = spec.clone();
    bad.packages[0].version = "1.0 beta-r0".into();
    assert!(check_spec(&bad)
        .unwrap_err()
        .contains("not a valid apk version"));
    let mut bad = spec;
    bad.signing_key_name = "../k".into();
    assert!(check_spec(&bad).unwrap_err().contains("not a file name"));
}
