//! Decoding tests: shapes, positions and messages of errors.

use super::super::yaml;
use super::*;

fn decode_str(text: &str) -> LResult<Config> {
    decode(&yaml::parse(text)?)
}

const MINIMAL: &str = "package:\n  name: hello\n  version: 0.10\n  epoch: 2\n";

#[test]
fn minimal_package_keeps_raw_version() {
    let config = decode_str(MINIMAL).unwrap();
    assert_eq!(config.package.name.value, "hello");
    assert_eq!(config.package.version.value, "0.10");
    assert_eq!(config.package.epoch.value, "2");
}

#[test]
fn unknown_key_names_key_position_and_suggestion() {
    let err = decode_str("package:\n  name: a\n  version: 1\n  epohc: 0\n").unwrap_err();
    assert_eq!(err.pos, Pos { line: 4, col: 3 });
    assert_eq!(
        err.message,
        "unknown key `epohc` in package (did you mean `epoch`?)"
    );
}

#[test]
fn invalid_names_and_epochs_are_rejected() {
    let err = decode_str("package:\n  name: -x\n  version: 1\n").unwrap_err();
    assert!(
        err.message.contains("invalid package name"),
        "{}",
        err.message
    );
    let err = decode_str("package:\n  name: x\n  version: 1\n  epoch: one\n").unwrap_err();
    assert_eq!(err.pos, Pos { line: 4, col: 10 });
}

#[test]
fn steps_nest_and_keep_environment() {
    let config = decode_str(&format!(
        "{MINIMAL}pipeline:\n  - name: outer\n    environment: {{A: 1}}\n    pipeline:\n      - runs: echo hi\n"
    ))
    .unwrap();
    let outer = &config.pipeline[0];
    assert_eq!(outer.environment["A"].value, "1");
    assert_eq!(outer.pipeline[0].runs.as_ref().unwrap().value, "echo hi");
}

#[test]
fn uses_with_and_conditions_are_decoded() {
    let config = decode_str(&format!(
        "{MINIMAL}pipeline:\n  - uses: fetch\n    if: ${{{{build.arch}}}} == 'x86_64'\n    with:\n      uri: https://x\n      extract: true\n    needs:\n      packages: [wget]\n"
    ))
    .unwrap();
    let step = &config.pipeline[0];
    assert_eq!(step.uses.as_ref().unwrap().value, "fetch");
    assert_eq!(step.with["extract"].value, "true");
    assert_eq!(step.needs[0].value, "wget");
    assert_eq!(
        step.condition.as_ref().unwrap().pos,
        Pos { line: 7, col: 9 }
    );
}

#[test]
fn uses_with_runs_and_with_without_uses_are_errors() {
    let err = decode_str(&format!(
        "{MINIMAL}pipeline:\n  - uses: fetch\n    runs: x\n"
    ))
    .unwrap_err();
    assert_eq!(
        err.message,
        "a step cannot have both `uses: fetch` and `runs:`"
    );
    let err = decode_str(&format!(
        "{MINIMAL}pipeline:\n  - runs: x\n    with: {{a: b}}\n"
    ))
    .unwrap_err();
    assert_eq!(err.pos.line, 7);
    assert_eq!(err.message, "`with:` needs `uses:` in the same step");
}

#[test]
fn vars_transforms_data_and_ranges_are_decoded() {
    let config = decode_str(&format!(
        "{MINIMAL}vars:\n  short: 1.2\nvar-transforms:\n  - from: ${{{{package.version}}}}\n    match: (\\d+)\n    replace: v$1\n    to: v\ndata:\n  - name: pythons\n    items:\n      3.10: a\nsubpackages:\n  - range: pythons\n    name: py${{{{range.key}}}}\n"
    ))
    .unwrap();
    assert_eq!(config.vars[0].1.value, "1.2");
    assert_eq!(config.var_transforms[0].replace.value, "v$1");
    assert_eq!(config.data[0].items[0].0.value, "3.10");
    assert_eq!(
        config.subpackages[0].range.as_ref().unwrap().value,
        "pythons"
    );
}

#[test]
fn packaging_fields_are_decoded() {
    let config = decode_str(&format!(
        "{MINIMAL}  url: https://x\n  copyright:\n    - license: MIT\n    - paths: ['*']\n  dependencies:\n    runtime: [a, b]\n    provider-priority: 5\n  scriptlets:\n    pre-install: echo\n    trigger: {{script: t, paths: [/p]}}\n  options: {{no-commands: true}}\nsubpackages:\n  - name: s\n    commit: c\n    dependencies: {{provides: [p]}}\n"
    ))
    .unwrap();
    let package = &config.package;
    assert_eq!(package.url.value, "https://x");
    assert_eq!(package.licenses.len(), 1);
    assert_eq!(package.dependencies.runtime[1].value, "b");
    assert_eq!(
        package
            .dependencies
            .provider_priority
            .as_ref()
            .unwrap()
            .value,
        "5"
    );
    assert_eq!(package.scriptlets.scripts[0].0, "pre-install");
    assert_eq!(package.scriptlets.trigger_paths[0].value, "/p");
    assert!(package.options.no_commands && !package.options.no_depends);
    let sub = &config.subpackages[0];
    assert_eq!(sub.commit.value, "c");
    assert_eq!(sub.dependencies.provides[0].value, "p");
}

#[test]
fn bad_priorities_and_options_are_located() {
    let err = decode_str(&format!(
        "{MINIMAL}  dependencies:\n    provider-priority: high\n"
    ))
    .unwrap_err();
    assert_eq!(err.pos, Pos { line: 6, col: 24 });
    let err = decode_str(&format!("{MINIMAL}  options:\n    no-provides: yes\n")).unwrap_err();
    assert_eq!(
        err.message,
        "options.no-provides must be true or false, got \"yes\""
    );
}

#[test]
fn wrong_shapes_are_named() {
    let err = decode_str(&format!("{MINIMAL}pipeline: hello\n")).unwrap_err();
    assert_eq!(err.message, "`pipeline` must be a list, found a scalar");
}
