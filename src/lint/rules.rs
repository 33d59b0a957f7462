//! The rules. Each is a plain function over [`Input`]; the table at the end
//! gives it a name, a description and its anchor in docs/lint.md.

use crate::config::subst::{kept_literally, Vars};
use crate::config::{Step, Text};

use super::tolerated;
use super::{Finding, Input, Rule};

/// The rules in report order.
pub(super) static ALL: &[Rule] = &[
    Rule {
        name: "IgnoredPackages",
        description: "Declared packages are not installed: the environment is an image and no repository is configured",
        anchor: "ignoredpackages",
        check: ignored_packages,
    },
    Rule {
        name: "LiteralTemplate",
        description: "`${{…}}` text that melange keeps as written (not a defined variable)",
        anchor: "literaltemplate",
        check: literal_template,
    },
    Rule {
        name: "UndefinedStepNameVariable",
        description: "A step name uses a variable that is not defined there; it is shown as written",
        anchor: "undefinedstepnamevariable",
        check: undefined_step_name_variable,
    },
    Rule {
        name: "FetchWithoutChecksum",
        description: "`uses: fetch` without `expected-sha256` or `expected-sha512`",
        anchor: "fetchwithoutchecksum",
        check: fetch_without_checksum,
    },
    Rule {
        name: "GitCheckoutWithoutCommit",
        description: "`uses: git-checkout` of a tag or branch without `expected-commit`",
        anchor: "gitcheckoutwithoutcommit",
        check: git_checkout_without_commit,
    },
    Rule {
        name: "MissingLicense",
        description: "The package (and so its subpackages) declares no license",
        anchor: "missinglicense",
        check: missing_license,
    },
    Rule {
        name: "InputSetToDefault",
        description: "A `with:` value equals the pipeline input's default",
        anchor: "inputsettodefault",
        check: input_set_to_default,
    },
    Rule {
        name: "NegativePriority",
        description: "A negative provider or replaces priority is not written (apk-tools reads it unsigned)",
        anchor: "negativepriority",
        check: negative_priority,
    },
    Rule {
        name: "RepeatedDependency",
        description: "The same runtime dependency is listed twice",
        anchor: "repeateddependency",
        check: repeated_dependency,
    },
    Rule {
        name: "UpdateDisabledWithoutReason",
        description: "`update.enabled: false` without `update.exclude-reason`",
        anchor: "updatedisabledwithoutreason",
        check: tolerated::update_disabled_without_reason,
    },
    Rule {
        name: "ToleratedKey",
        description: "A key melange knows that has no effect in this frontend",
        anchor: "toleratedkey",
        check: tolerated::tolerated_keys,
    },
];

fn ignored_packages(input: &Input) -> Vec<Finding> {
    if input.plan.environment.is_some() || input.plan.packages.is_empty() {
        return Vec::new();
    }
    let config = input.config;
    let pos = config
        .environment
        .packages
        .first()
        .map(|p| p.pos)
        .or_else(|| first_step_with_needs(&config.pipeline))
        .unwrap_or(config.package.name.pos);
    vec![Finding::at(
        "IgnoredPackages",
        pos,
        format!(
            "not installed (the environment is an image and no repository is configured): {}",
            input.plan.packages.join(", ")
        ),
    )]
}

fn first_step_with_needs(steps: &[Step]) -> Option<crate::config::Pos> {
    steps.iter().find_map(|step| {
        step.needs
            .first()
            .map(|n| n.pos)
            .or_else(|| first_step_with_needs(&step.pipeline))
    })
}

fn literal_template(input: &Input) -> Vec<Finding> {
    let config = input.config;
    let mut out = Vec::new();
    let mut check = |text: &Text, what: &str, vars: &Vars| {
        let kept = kept_literally(&text.value, vars);
        if !kept.is_empty() {
            out.push(Finding::at(
                "LiteralTemplate",
                text.pos,
                format!("{what} keeps {} as written", kept.join(", ")),
            ));
        }
    };
    let package = &config.package;
    check(&package.description, "package.description", input.vars);
    check(&package.url, "package.url", input.vars);
    for (_, script) in &package.scriptlets.scripts {
        check(script, "a scriptlet", input.vars);
    }
    for sub in &config.subpackages {
        let vars = scope_of(input.vars, sub.range.is_some());
        check(&sub.description, "the subpackage description", &vars);
        check(&sub.url, "the subpackage url", &vars);
        for (_, script) in &sub.scriptlets.scripts {
            check(script, "a scriptlet", &vars);
        }
    }
    out
}

/// The variables of a subpackage: the build's, plus `range.*` when ranged.
fn scope_of(vars: &Vars, ranged: bool) -> Vars {
    let mut vars = vars.clone();
    if ranged {
        vars.insert("range.key".into(), String::new());
        vars.insert("range.value".into(), String::new());
    }
    vars
}

fn undefined_step_name_variable(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut visit = |steps: &[Step], vars: &Vars| {
        each_step(steps, &mut |step| {
            let Some(name) = &step.name else { return };
            let kept = kept_literally(&name.value, vars);
            if !kept.is_empty() {
                out.push(Finding::at(
                    "UndefinedStepNameVariable",
                    name.pos,
                    format!("the step name shows {} as written", kept.join(", ")),
                ));
            }
        })
    };
    visit(&input.config.pipeline, input.vars);
    for sub in &input.config.subpackages {
        visit(&sub.pipeline, &scope_of(input.vars, sub.range.is_some()));
    }
    out
}

/// Call `f` on every step of `steps`, nested ones included.
pub(super) fn each_step(steps: &[Step], f: &mut dyn FnMut(&Step)) {
    for step in steps {
        f(step);
        each_step(&step.pipeline, f);
    }
}

/// Every build-file step, in the main pipeline and the subpackages'.
fn all_steps<'c>(input: &'c Input) -> Vec<&'c Step> {
    fn collect<'s>(steps: &'s [Step], out: &mut Vec<&'s Step>) {
        for step in steps {
            out.push(step);
            collect(&step.pipeline, out);
        }
    }
    let mut out = Vec::new();
    collect(&input.config.pipeline, &mut out);
    for sub in &input.config.subpackages {
        collect(&sub.pipeline, &mut out);
    }
    out
}

fn uses_of<'s>(step: &'s Step, name: &str) -> Option<&'s Text> {
    step.uses.as_ref().filter(|u| u.value == name)
}

fn fetch_without_checksum(input: &Input) -> Vec<Finding> {
    all_steps(input)
        .into_iter()
        .filter_map(|step| {
            let uses = uses_of(step, "fetch")?;
            let has = |k: &str| step.with.get(k).is_some_and(|v| !v.value.is_empty());
            (!has("expected-sha256") && !has("expected-sha512")).then(|| {
                Finding::at(
                    "FetchWithoutChecksum",
                    uses.pos,
                    "the download is not checked (and BuildKit cannot cache it by content): \
                     add `expected-sha256` or `expected-sha512`",
                )
            })
        })
        .collect()
}

fn git_checkout_without_commit(input: &Input) -> Vec<Finding> {
    all_steps(input)
        .into_iter()
        .filter_map(|step| {
            let uses = uses_of(step, "git-checkout")?;
            let has = |k: &str| step.with.get(k).is_some_and(|v| !v.value.is_empty());
            (!has("expected-commit")).then(|| {
                Finding::at(
                    "GitCheckoutWithoutCommit",
                    uses.pos,
                    "the checkout is not pinned: add `expected-commit` (the tag or branch may move)",
                )
            })
        })
        .collect()
}

fn missing_license(input: &Input) -> Vec<Finding> {
    let package = &input.config.package;
    if package.licenses.iter().any(|l| !l.value.trim().is_empty()) {
        return Vec::new();
    }
    let subs = input.plan.outputs.len().saturating_sub(1);
    let detail = match subs {
        0 => format!("package {} declares no license (`copyright: [{{license: …}}]`)", package.name.value),
        n => format!(
            "package {} declares no license (`copyright: [{{license: …}}]`); its {n} subpackages inherit none",
            package.name.value
        ),
    };
    vec![Finding::at("MissingLicense", package.name.pos, detail)]
}

fn input_set_to_default(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    for step in all_steps(input) {
        let Some(uses) = &step.uses else { continue };
        let Some(loaded) = input.library.get(&uses.value) else {
            continue;
        };
        let Ok(pipeline) = loaded.as_ref() else {
            continue;
        };
        for (name, declared) in &pipeline.step.inputs {
            let (Some(given), Some(default)) = (step.with.get(&name.value), &declared.default)
            else {
                continue;
            };
            if given.value == default.value {
                out.push(Finding::at(
                    "InputSetToDefault",
                    given.pos,
                    format!(
                        "`{}: {}` is the default of `uses: {}`; it can be left out",
                        name.value, given.value, uses.value
                    ),
                ));
            }
        }
    }
    out
}

fn negative_priority(input: &Input) -> Vec<Finding> {
    let config = input.config;
    let deps = std::iter::once(&config.package.dependencies)
        .chain(config.subpackages.iter().map(|s| &s.dependencies));
    let mut out = Vec::new();
    for deps in deps {
        for (key, text) in [
            ("provider-priority", &deps.provider_priority),
            ("replaces-priority", &deps.replaces_priority),
        ] {
            let Some(text) = text else { continue };
            if text.value.trim().parse::<i64>().is_ok_and(|n| n < 0) {
                out.push(Finding::at(
                    "NegativePriority",
                    text.pos,
                    format!(
                        "`{key}: {}`: melange writes it, apk-tools reads it as no priority; none is written",
                        text.value
                    ),
                ));
            }
        }
    }
    out
}

fn repeated_dependency(input: &Input) -> Vec<Finding> {
    let config = input.config;
    let lists = std::iter::once(&config.package.dependencies.runtime)
        .chain(config.subpackages.iter().map(|s| &s.dependencies.runtime));
    let mut out = Vec::new();
    for list in lists {
        for (i, dep) in list.iter().enumerate() {
            if list[..i].iter().any(|d| d.value == dep.value) {
                out.push(Finding::at(
                    "RepeatedDependency",
                    dep.pos,
                    format!("`{}` is listed more than once", dep.value),
                ));
            }
        }
    }
    out
}
