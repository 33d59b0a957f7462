//! `uses:`: loading, inputs, nesting, needs, assertions and their errors.

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

/// A library holding `pipelines` as user files `pipelines/<name>.yaml`.
fn library(pipelines: &[(&str, &str)]) -> Library {
    let mut library = Library::new();
    for (name, text) in pipelines {
        library.add(
            name,
            Some(PipelineText {
                file: format!("pipelines/{name}.yaml"),
                text: text.to_string(),
            }),
        );
    }
    library
}

fn plan_with(yaml: &str, pipelines: &[(&str, &str)]) -> Result<BuildPlan, ConfigError> {
    let config = config::load("package.yaml", yaml)?;
    plan("package.yaml", &config, &options(), &library(pipelines))
}

const HEAD: &str = "package:\n  name: p\n  version: 1\n  epoch: 0\n";

const OUTER: &str = r#"
name: outer
needs:
  packages:
    - make
    - ${{inputs.compiler}}
inputs:
  compiler:
    default: gcc
  flags:
    required: true
  dest:
    default: ${{targets.contextdir}}
pipeline:
  - name: configure
    working-directory: build
    environment:
      CC: ${{inputs.compiler}}
    runs: ./configure ${{inputs.flags}} --prefix=${{inputs.dest}}
  - uses: inner
    with:
      mode: fast
"#;

const INNER: &str = r#"
name: inner
inputs:
  mode:
    description: how
pipeline:
  - runs: echo ${{inputs.mode}} ${{inputs.flags}}
  - if: ${{inputs.mode}} == 'slow'
    needs:
      packages: [valgrind]
    runs: echo slow
"#;

#[test]
fn inputs_defaults_needs_and_nesting() {
    let yaml = format!(
        "{HEAD}environment:\n  contents:\n    packages: [busybox]\npipeline:\n  - uses: outer\n    working-directory: /src\n    environment:\n      A: b\n    with:\n      flags: --static\n"
    );
    let plan = plan_with(&yaml, &[("outer", OUTER), ("inner", INNER)]).unwrap();
    let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "[2/4] uses: outer › configure",
            "[3/4] uses: outer › uses: inner"
        ]
    );
    let configure = &plan.steps[0];
    assert!(configure
        .script
        .ends_with("cd '/src/build'\n./configure --static --prefix=/home/build/melange-out/p"));
    assert_eq!(configure.env["CC"], "gcc");
    assert_eq!(configure.env["A"], "b");
    // The nested pipeline sees its own input and inherits the caller's.
    assert!(plan.steps[1]
        .script
        .ends_with("cd '/src'\necho fast --static"));
    // needs of steps that run, substituted; the skipped step's are not.
    assert_eq!(plan.packages, ["busybox", "gcc", "make"]);
}

#[test]
fn a_subpackage_default_uses_its_own_contextdir() {
    let yaml = format!(
        "{HEAD}subpackages:\n  - name: p-dev\n    pipeline:\n      - uses: outer\n        name: split\n        with:\n          flags: x\n          compiler: clang\n"
    );
    let plan = plan_with(&yaml, &[("outer", OUTER), ("inner", INNER)]).unwrap();
    assert_eq!(plan.steps[0].name, "[2/4] p-dev: split › configure");
    assert!(plan.steps[0]
        .script
        .ends_with("--prefix=/home/build/melange-out/p-dev"));
    assert_eq!(plan.packages, ["clang", "make"]);
}

#[test]
fn input_errors_name_the_input_and_position() {
    let missing = format!("{HEAD}pipeline:\n  - uses: outer\n");
    let err = plan_with(&missing, &[("outer", OUTER), ("inner", INNER)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "package.yaml:6:11: pipeline `outer` requires input `flags`, which `with:` does not set"
    );
    let unknown = format!("{HEAD}pipeline:\n  - uses: outer\n    with:\n      flag: x\n");
    let err = plan_with(&unknown, &[("outer", OUTER), ("inner", INNER)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "package.yaml:8:13: `with: flag`: pipeline `outer` has no input `flag`; did you mean `flags`?"
    );
    let err = plan_with(
        &format!("{HEAD}pipeline:\n  - uses: outr\n"),
        &[("outer", OUTER)],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "package.yaml:6:11: unknown pipeline `outr`: not in the pipeline dirs nor among the built-ins; did you mean `outer`?"
    );
}

#[test]
fn digests_are_checked_like_melange() {
    let fetch =
        "inputs:\n  expected-sha256: {}\n  expected-commit: {}\npipeline:\n  - runs: 'true'\n";
    let yaml = format!("{HEAD}pipeline:\n  - uses: f\n    with:\n      expected-sha256: abc\n");
    let err = plan_with(&yaml, &[("f", fetch)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "package.yaml:8:24: `expected-sha256` must be 64 hexadecimal digits, got 3 characters: \"abc\""
    );
    let good = format!(
        "{HEAD}pipeline:\n  - uses: f\n    with:\n      expected-commit: {}\n",
        "0123456789abcdef0123456789abcdef01234567"
    );
    plan_with(&good, &[("f", fetch)]).unwrap();
}

#[test]
fn errors_inside_a_pipeline_file_name_that_file() {
    let broken = "inputs:\n  a:\n    default: x\npipeline:\n  - runs: echo ${{inputs.b}}\n";
    let yaml = format!("{HEAD}pipeline:\n  - uses: broken\n");
    let err = plan_with(&yaml, &[("broken", broken)]).unwrap_err();
    assert_eq!(err.file, "pipelines/broken.yaml");
    assert_eq!(err.pos.line, 5);
    assert!(
        err.message.contains("undefined variable `${{inputs.b}}`"),
        "{err}"
    );
    let typo = "pipeline:\n  - runz: x\n";
    let err = plan_with(&yaml, &[("broken", typo)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pipelines/broken.yaml:2:5: unknown key `runz` in an entry of `pipeline` (did you mean `runs`?) (loaded by `uses: broken`)"
    );
}

#[test]
fn cycles_and_bad_names_are_refused() {
    let a = "pipeline:\n  - uses: b\n";
    let b = "pipeline:\n  - uses: a\n";
    let err = plan_with(
        &format!("{HEAD}pipeline:\n  - uses: a\n"),
        &[("a", a), ("b", b)],
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "`uses:` cycle: a → b → a (via `uses: b` on line 2 of pipelines/a.yaml)"
    );
    assert_eq!(err.file, "pipelines/b.yaml");
    let err = plan_with(&format!("{HEAD}pipeline:\n  - uses: ../etc/x\n"), &[]).unwrap_err();
    assert!(err.message.contains("is not a pipeline name"), "{err}");
}

#[test]
fn nesting_too_deep_is_not_called_a_cycle() {
    // p0 → p1 → … → p40, no name twice.
    let names: Vec<String> = (0..=40).map(|i| format!("p{i}")).collect();
    let bodies: Vec<String> = (0..=40)
        .map(|i| match i {
            40 => "pipeline:\n  - runs: echo bottom\n".to_string(),
            _ => format!("pipeline:\n  - uses: p{}\n", i + 1),
        })
        .collect();
    let pipelines: Vec<(&str, &str)> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| (n.as_str(), b.as_str()))
        .collect();
    let err = plan_with(&format!("{HEAD}pipeline:\n  - uses: p0\n"), &pipelines).unwrap_err();
    assert!(
        err.message
            .starts_with("`uses:` nests deeper than 32 pipelines: p0 → p1 → "),
        "{err}"
    );
    assert!(!err.message.contains("cycle"), "{err}");
}

#[test]
fn required_steps_counts_steps_that_run() {
    let yaml = |arch: &str| {
        format!(
            "{HEAD}pipeline:\n  - assertions:\n      required-steps: 1\n    pipeline:\n      - if: ${{{{build.arch}}}} == '{arch}'\n        runs: echo one\n"
        )
    };
    plan_with(&yaml("x86_64"), &[]).unwrap();
    let err = plan_with(&yaml("aarch64"), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "package.yaml:7:23: assertion failed: `required-steps: 1` but 0 of the 1 nested steps run (the others' `if:` is false)"
    );
}

#[test]
fn unresolved_lists_reachable_names_not_yet_looked_up() {
    let config = config::load(
        "package.yaml",
        &format!("{HEAD}pipeline:\n  - uses: outer\n    with:\n      flags: x\n"),
    )
    .unwrap();
    let mut library = Library::new();
    assert_eq!(library.unresolved(&config), ["outer"]);
    library.add(
        "outer",
        Some(PipelineText {
            file: "pipelines/outer.yaml".into(),
            text: OUTER.into(),
        }),
    );
    assert_eq!(library.unresolved(&config), ["inner"]);
    library.add("inner", None);
    assert!(library.unresolved(&config).is_empty());
}

#[test]
fn build_options_set_vars_and_packages() {
    let yaml = format!(
        "{HEAD}vars:\n  flavor: plain\nenvironment:\n  contents:\n    packages: [gcc, openssl]\noptions:\n  fips:\n    vars:\n      flavor: fips\n    environment:\n      contents:\n        packages:\n          add: [openssl-fips]\n          remove: [openssl]\npipeline:\n  - if: ${{{{options.fips.enabled}}}} == 'true'\n    runs: echo ${{{{vars.flavor}}}}\n"
    );
    let config = config::load("package.yaml", &yaml).unwrap();
    let mut opts = options();
    let off = plan("package.yaml", &config, &opts, &Library::new()).unwrap();
    assert!(off.steps.is_empty());
    assert_eq!(off.packages, ["gcc", "openssl"]);
    opts.build_args
        .insert(BUILD_OPTIONS_ARG.into(), "fips".into());
    let on = plan("package.yaml", &config, &opts, &Library::new()).unwrap();
    assert!(on.steps[0].script.ends_with("echo fips"));
    assert_eq!(on.packages, ["gcc", "openssl-fips"]);
    opts.build_args
        .insert(BUILD_OPTIONS_ARG.into(), "fips,nope".into());
    let err = plan("package.yaml", &config, &opts, &Library::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "package.yaml: build-arg MELANGE_BUILD_OPTIONS: no build option \"nope\" under `options:` (declared: fips)"
    );
}

#[test]
fn env_file_goes_under_the_yaml_environment() {
    let yaml =
        format!("{HEAD}environment:\n  environment:\n    B: yaml\npipeline:\n  - runs: env\n");
    let config = config::load("package.yaml", &yaml).unwrap();
    let mut opts = options();
    opts.env_file = Some(ContextFile {
        file: "build.env".into(),
        text: "A=file\nB=file\nGOPATH=/go\n".into(),
    });
    let planned = plan("package.yaml", &config, &opts, &Library::new()).unwrap();
    let env = &planned.steps[0].env;
    assert_eq!((env["A"].as_str(), env["B"].as_str()), ("file", "yaml"));
    assert_eq!(env["GOPATH"], "/go");
    assert_eq!(env["HOME"], "/home/build");
}

#[test]
fn test_sections_compile_with_their_package_and_needs() {
    let yaml = format!(
        "{HEAD}test:\n  environment:\n    contents:\n      packages: [bash]\n  pipeline:\n    - uses: inner\n      with:\n        mode: slow\nsubpackages:\n  - name: p-doc\n    test:\n      pipeline:\n        - runs: test -d ${{{{targets.contextdir}}}}\n"
    );
    let inner = INNER.replace(" ${{inputs.flags}}", "");
    let planned = plan_with(&yaml, &[("inner", &inner)]).unwrap();
    assert!(planned.steps.is_empty());
    assert_eq!(planned.tests.len(), 2);
    assert_eq!(planned.tests[0].package, "p");
    assert_eq!(planned.tests[0].packages, ["bash", "p", "valgrind"]);
    assert_eq!(
        planned.tests[0].steps[1].name,
        "[test 3/5] p: uses: inner › echo slow"
    );
    assert_eq!(
        planned.tests[1].environment_step,
        "[test 4/5] p-doc: environment"
    );
    // Other targets check the tests but plan no test environment.
    assert!(planned.tests.iter().all(|t| t.environment.is_none()));
    assert_eq!(planned.tests[1].packages, ["p-doc"]);
    assert!(planned.tests[1].steps[0]
        .script
        .ends_with("test -d /home/build/melange-out/p-doc"));
}

#[test]
fn timeouts_are_go_durations() {
    for good in ["2h", "1h30m", "90s", "1.5h", "3600"] {
        let yaml = format!("package: {{name: p, version: 1, timeout: {good}}}\n");
        config::load("package.yaml", &yaml).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in ["2 hours", "h", "1h30", "-"] {
        let yaml = format!("package: {{name: p, version: 1, timeout: '{bad}'}}\n");
        let err = config::load("package.yaml", &yaml).unwrap_err();
        assert!(
            err.message
                .starts_with("package.timeout must be a duration"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn capabilities_add_means_insecure_mode_and_drop_is_refused() {
    let add =
        format!("{HEAD}capabilities:\n  add: [CAP_NET_ADMIN]\npipeline:\n  - runs: ip link\n");
    assert!(plan_with(&add, &[]).unwrap().insecure);
    assert!(
        !plan_with(&format!("{HEAD}pipeline:\n  - runs: x\n"), &[])
            .unwrap()
            .insecure
    );
    let drop = format!("{HEAD}capabilities:\n  drop: [CAP_CHOWN]\n");
    let err = plan_with(&drop, &[]).unwrap_err();
    assert_eq!((err.pos.line, err.pos.col), (6, 10));
    assert!(err.message.starts_with("`capabilities.drop`"), "{err}");
}

#[test]
fn inputs_doubled_through_nested_uses_are_bounded() {
    // Found with the fuzz target (fuzz/, `plan`): each pipeline passing its
    // input twice to the next (3.6 KB of YAML) took more than 4 GB.
    let yaml = format!("{HEAD}pipeline:\n  - uses: p0\n    with:\n      x: xxxxxxxxxxxxxxxx\n");
    let texts: Vec<(String, String)> = (0..31)
        .map(|i| {
            let text = format!(
                "inputs:\n  x:\n    description: x\npipeline:\n  - uses: p{}\n    with:\n      x: ${{{{inputs.x}}}}${{{{inputs.x}}}}\n",
                i + 1
            );
            (format!("p{i}"), text)
        })
        .chain(std::iter::once((
            "p31".to_string(),
            "inputs:\n  x:\n    description: x\npipeline:\n  - runs: echo\n".to_string(),
        )))
        .collect();
    let pipelines: Vec<(&str, &str)> = texts
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()))
        .collect();
    let err = plan_with(&yaml, &pipelines).unwrap_err().to_string();
    assert!(err.contains("more than 1 MiB"), "{err}");
    // p16 would pass 2 MiB on.
    assert!(err.starts_with("pipelines/p16.yaml:7:10:"), "{err}");
}

#[test]
fn uses_fan_out_is_bounded() {
    // Found with the fuzz target (fuzz/, `plan`): 2,000 `uses: a`, each
    // 2,000 `uses: b` (48 KB of YAML), made 4 million steps and 2 GB.
    let yaml = format!("{HEAD}pipeline:\n{}", "  - uses: a\n".repeat(200));
    let a = format!("pipeline:\n{}", "  - uses: b\n".repeat(200));
    let b = "pipeline:\n  - if: a == b\n    runs: never\n";
    let err = plan_with(&yaml, &[("a", &a), ("b", b)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("more than 10000 steps once `uses:` is expanded"),
        "{err}"
    );
    // Few steps, each a big script: bounded by the text they make.
    let yaml = format!(
        "{HEAD}vars:\n  big: {}\npipeline:\n{}",
        "x".repeat(60_000),
        "  - uses: c\n".repeat(100)
    );
    let c = format!("pipeline:\n  - runs: {}\n", "${{vars.big}}".repeat(17));
    let err = plan_with(&yaml, &[("c", &c)]).unwrap_err().to_string();
    assert!(err.contains("more than 64 MiB of scripts"), "{err}");
    // Test pipelines share one budget across their sections.
    let tests: String = (0..100)
        .map(|i| format!("  - name: s{i}\n    test:\n      pipeline:\n        - uses: c\n"))
        .collect();
    let yaml = format!(
        "{HEAD}vars:\n  big: {}\nsubpackages:\n{tests}",
        "x".repeat(60_000)
    );
    let err = plan_with(&yaml, &[("c", &c)]).unwrap_err().to_string();
    assert!(err.contains("more than 64 MiB of scripts"), "{err}");
}
