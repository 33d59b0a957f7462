//! Pipeline steps → shell commands: subpackage expansion (`range:`, `if:`),
//! variable substitution, conditions, inherited working directory and
//! environment, the `set -e` prelude, and progress labels.

use std::collections::BTreeMap;

use crate::config::cond;
use crate::config::error::{LResult, Located, Pos};
use crate::config::subst::{substitute, substitute_known, Vars};
use crate::config::{Config, Step, Subpackage, TestSection, Text};

use super::library::{self, Library, Pipeline};
use super::metadata::{self, Rule};
use super::{PlannedStep, CACHE_MOUNTS, OUT_DIR, WORKSPACE_DIR};

mod uses;

use uses::check_required_steps;

/// A step before numbering.
pub(super) struct Command {
    pub label: String,
    script: String,
    env: BTreeMap<String, String>,
    line: usize,
    source: Option<super::sources::NativeSource>,
}

impl Command {
    pub(super) fn into_planned(self) -> PlannedStep {
        PlannedStep {
            name: self.label,
            script: self.script,
            env: self.env,
            line: self.line,
            source: self.source,
        }
    }
}

/// What a step inherits from its parents.
#[derive(Clone)]
struct Scope {
    vars: Vars,
    env: BTreeMap<String, String>,
    working_directory: String,
}

/// A subpackage after `range:` expansion and `if:` evaluation.
pub(super) struct Expanded<'a> {
    /// Final name.
    pub name: String,
    /// Where its name is written, for errors.
    pos: Pos,
    /// Its steps, unsubstituted.
    pipeline: &'a [Step],
    /// Its `test:` section.
    test: Option<&'a TestSection>,
    /// `range.key` / `range.value` when ranged.
    pub(super) range: Option<(String, String)>,
    /// The entry it was expanded from (packaging metadata).
    pub(super) source: &'a Subpackage,
}

/// How many subpackages a build may make once `range:` is expanded. Wolfi's
/// largest builds make a few hundred; each subpackage is a package to write
/// and index.
pub(super) const MAX_SUBPACKAGES: usize = 10_000;

/// Refuse a build whose subpackages (ranges expanded) or steps (the main
/// pipeline's and every expanded subpackage's, before `uses:`) pass the
/// limits, from the counts alone: nothing is expanded yet, so a range over
/// a million items costs no more than reading it.
pub(super) fn check_counts(config: &Config) -> LResult<()> {
    let mut subpackages = 0usize;
    let mut steps = count_steps(&config.pipeline);
    for sub in &config.subpackages {
        let items = match &sub.range {
            None => 1,
            Some(range) => config
                .data
                .iter()
                .find(|d| d.name.value == range.value)
                .map_or(0, |set| set.items.len()),
        };
        subpackages = subpackages.saturating_add(items);
        let pos = sub.range.as_ref().map_or(sub.pos, |r| r.pos);
        if subpackages > MAX_SUBPACKAGES {
            return Err(Located::new(
                pos,
                format!(
                    "more than {MAX_SUBPACKAGES} subpackages (the limit) once `range:` is expanded: this entry makes {items}"
                ),
            ));
        }
        steps = steps.saturating_add(items.saturating_mul(count_steps(&sub.pipeline)));
        if steps > MAX_STEPS {
            return Err(Located::new(
                pos,
                format!(
                    "more than {MAX_STEPS} steps (the limit) once `range:` is expanded: this entry makes {items} subpackages of {} steps each",
                    count_steps(&sub.pipeline)
                ),
            ));
        }
    }
    Ok(())
}

/// Steps in `steps` and their nested `pipeline:`s, `uses:` not expanded.
fn count_steps(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|step| 1 + count_steps(&step.pipeline))
        .sum()
}

/// Expand ranged subpackages over their `data:` set (items sorted by key, as
/// melange does), substitute names, and drop those whose `if:` is false.
pub(super) fn expand_subpackages<'a>(
    config: &'a Config,
    vars: &Vars,
) -> LResult<Vec<Expanded<'a>>> {
    let mut out = Vec::new();
    for sub in &config.subpackages {
        let items: Vec<Option<(String, String)>> = match &sub.range {
            None => vec![None],
            Some(range) => {
                let set = config
                    .data
                    .iter()
                    .find(|d| d.name.value == range.value)
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            config.data.iter().map(|d| d.name.value.as_str()).collect();
                        Located::new(
                            range.pos,
                            format!(
                                "range {:?} names no `data:` entry (defined: {})",
                                range.value,
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        )
                    })?;
                let mut items: Vec<(String, String)> = set
                    .items
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.value.clone()))
                    .collect();
                items.sort();
                items.into_iter().map(Some).collect()
            }
        };
        for item in items {
            let mut scope = vars.clone();
            if let Some((key, value)) = &item {
                scope.insert("range.key".into(), key.clone());
                scope.insert("range.value".into(), value.clone());
            }
            if let Some(condition) = &sub.condition {
                if !condition_holds(condition, &scope)? {
                    continue;
                }
            }
            let name = metadata::value(&sub.name, &scope, "subpackage name", Rule::Name)?;
            out.push(Expanded {
                name,
                pos: sub.name.pos,
                pipeline: &sub.pipeline,
                test: sub.test.as_ref(),
                range: item,
                source: sub,
            });
        }
    }
    check_unique_names(&config.package.name.value, &out)?;
    Ok(out)
}

fn check_unique_names(package: &str, subpackages: &[Expanded]) -> LResult<()> {
    let mut seen = std::collections::HashSet::with_capacity(subpackages.len());
    for sub in subpackages {
        if sub.name == package {
            return Err(Located::new(
                sub.pos,
                format!("subpackage {:?} has the same name as the package", sub.name),
            ));
        }
        if !seen.insert(sub.name.as_str()) {
            return Err(Located::new(
                sub.pos,
                format!("subpackage name {:?} is used twice", sub.name),
            ));
        }
    }
    Ok(())
}

/// What compiling the pipelines yields: the commands in order and the
/// packages their steps need (`needs.packages`, unsorted).
#[derive(Default)]
pub(super) struct Compiled {
    pub commands: Vec<Command>,
    pub needs: Vec<String>,
}

/// A compiled `test:` section of one package.
pub(super) struct CompiledTest<'a> {
    /// The package under test.
    pub package: String,
    /// The section (its environment's repositories, keys and accounts).
    pub section: &'a TestSection,
    /// The test environment's packages: its own, the steps' needs and the
    /// package under test, sorted and unique (as melange).
    pub packages: Vec<String>,
    pub commands: Vec<Command>,
}

/// Every step of the main pipeline, then of each subpackage, in order.
pub(super) fn compile(
    config: &Config,
    vars: &Vars,
    subpackages: &[Expanded],
    env: BTreeMap<String, String>,
    library: &Library,
) -> LResult<Compiled> {
    let mut compiler = Compiler::new(library);
    let main = Scope {
        vars: vars.clone(),
        env: env.clone(),
        working_directory: WORKSPACE_DIR.into(),
    };
    compiler.steps(&config.pipeline, &main)?;
    for sub in subpackages {
        let scope = subpackage_scope(vars, &env, sub);
        let first = compiler.out.commands.len();
        compiler.steps(sub.pipeline, &scope)?;
        for command in &mut compiler.out.commands[first..] {
            command.label = format!("{}: {}", sub.name, command.label);
        }
    }
    Ok(compiler.out)
}

/// The `test:` sections of the package and of each subpackage, compiled
/// with the same variables as their builds.
pub(super) fn compile_tests<'a>(
    config: &'a Config,
    vars: &Vars,
    subpackages: &[Expanded<'a>],
    env: &BTreeMap<String, String>,
    library: &Library,
) -> LResult<Vec<CompiledTest<'a>>> {
    let main = Scope {
        vars: vars.clone(),
        env: env.clone(),
        working_directory: WORKSPACE_DIR.into(),
    };
    let mut sections = Vec::new();
    if let Some(test) = &config.test {
        sections.push((config.package.name.value.clone(), test, main));
    }
    for sub in subpackages {
        if let Some(test) = sub.test {
            sections.push((sub.name.clone(), test, subpackage_scope(vars, env, sub)));
        }
    }
    // One compiler for every section: they share its limits.
    let mut compiler = Compiler::new(library);
    sections
        .into_iter()
        .map(|(package, test, mut scope)| {
            // The test environment's variables go over the build's.
            for (key, value) in &test.environment.env {
                scope.env.insert(key.clone(), value.value.clone());
            }
            compiler.out = Compiled::default();
            compiler.steps(&test.pipeline, &scope)?;
            let mut packages: Vec<String> = test
                .environment
                .packages
                .iter()
                .map(|p| substitute(p, &scope.vars))
                .collect::<LResult<_>>()?;
            packages.extend(std::mem::take(&mut compiler.out.needs));
            packages.push(package.clone());
            packages.sort();
            packages.dedup();
            Ok(CompiledTest {
                package,
                section: test,
                packages,
                commands: std::mem::take(&mut compiler.out.commands),
            })
        })
        .collect()
}

/// Variables of a subpackage's steps: its own dirs and names on top.
fn subpackage_scope(vars: &Vars, env: &BTreeMap<String, String>, sub: &Expanded) -> Scope {
    let mut sub_vars = vars.clone();
    let subpkgdir = format!("{OUT_DIR}/{}", sub.name);
    sub_vars.insert("targets.subpkgdir".into(), subpkgdir.clone());
    sub_vars.insert("targets.contextdir".into(), subpkgdir);
    sub_vars.insert("subpkg.name".into(), sub.name.clone());
    sub_vars.insert("context.name".into(), sub.name.clone());
    if let Some((key, value)) = &sub.range {
        sub_vars.insert("range.key".into(), key.clone());
        sub_vars.insert("range.value".into(), value.clone());
    }
    Scope {
        vars: sub_vars,
        env: env.clone(),
        working_directory: WORKSPACE_DIR.into(),
    }
}

/// The environment every step starts from: melange's defaults (HOME,
/// GOPATH), the cache mounts' variables, SOURCE_DATE_EPOCH, then the env
/// file, then the YAML's `environment.environment` on top.
pub(super) fn base_env(
    config: &Config,
    source_date_epoch: &str,
    env_file: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), WORKSPACE_DIR.to_string());
    env.insert("GOPATH".to_string(), format!("{WORKSPACE_DIR}/.cache/go"));
    env.insert(
        "SOURCE_DATE_EPOCH".to_string(),
        source_date_epoch.to_string(),
    );
    for mount in CACHE_MOUNTS {
        if let Some((key, value)) = mount.env {
            env.insert(key.to_string(), value.to_string());
        }
    }
    env.extend(env_file);
    for (key, value) in &config.environment.env {
        env.insert(key.clone(), value.value.clone());
    }
    env
}

/// How many steps the build's pipelines (and, apart, its tests) may visit
/// once `uses:` is expanded: a few lines of `uses:` fanning out through a
/// few pipelines would otherwise make millions. Real builds visit hundreds.
const MAX_STEPS: usize = 10_000;

/// How much text (substituted values, each command's script and
/// environment) the steps may make in all, for the same reason.
const MAX_TEXT: usize = 64 << 20;

/// Walks steps depth first, expanding `uses:` from the library.
struct Compiler<'l> {
    library: &'l Library,
    out: Compiled,
    /// The `uses:` names being expanded, outermost first (cycle detection).
    stack: Vec<String>,
    /// Their files, for saying where an inner error was reached from.
    files: Vec<String>,
    /// Steps visited so far (at most [`MAX_STEPS`]).
    visited: usize,
    /// Text made so far (at most [`MAX_TEXT`]).
    text: usize,
}

impl<'l> Compiler<'l> {
    fn new(library: &'l Library) -> Self {
        Compiler {
            library,
            out: Compiled::default(),
            stack: Vec::new(),
            files: Vec::new(),
            visited: 0,
            text: 0,
        }
    }

    /// Count `bytes` more text made at `pos`.
    fn spend(&mut self, bytes: usize, pos: Pos) -> LResult<()> {
        self.text = self.text.saturating_add(bytes);
        if self.text > MAX_TEXT {
            return Err(Located::new(
                pos,
                format!(
                    "the steps make more than {} MiB of scripts, variables and environment (`uses:` expanded)",
                    MAX_TEXT >> 20
                ),
            ));
        }
        Ok(())
    }

    /// [`substitute`], counted.
    fn subst(&mut self, text: &Text, vars: &Vars) -> LResult<String> {
        let value = substitute(text, vars)?;
        self.spend(value.len(), text.pos)?;
        Ok(value)
    }

    /// A step name: melange never substitutes names strictly, so an
    /// undefined `${{inputs.x}}` stays as written (counted like the rest).
    fn subst_name(&mut self, text: &Text, vars: &Vars) -> LResult<String> {
        let value = substitute_known(text, vars)?;
        self.spend(value.len(), text.pos)?;
        Ok(value)
    }

    /// Compile a list of steps; returns how many of them ran (their `if:`
    /// held), for `assertions.required-steps`.
    fn steps(&mut self, steps: &[Step], scope: &Scope) -> LResult<usize> {
        let mut ran = 0;
        for step in steps {
            if self.step(step, scope)? {
                ran += 1;
            }
        }
        Ok(ran)
    }

    fn step(&mut self, step: &Step, parent: &Scope) -> LResult<bool> {
        self.visited += 1;
        if self.visited > MAX_STEPS {
            return Err(Located::new(
                step.pos,
                format!("more than {MAX_STEPS} steps once `uses:` is expanded"),
            ));
        }
        if let Some(condition) = &step.condition {
            let text = self.subst(condition, &parent.vars)?;
            if !evaluate_condition(condition, &text)? {
                return Ok(false);
            }
        }
        let mut scope = parent.clone();
        for (key, value) in &step.environment {
            let value = self.subst(value, &scope.vars)?;
            scope.env.insert(key.clone(), value);
        }
        if let Some(dir) = &step.working_directory {
            let dir = self.subst(dir, &scope.vars)?;
            scope.working_directory = resolve_dir(&parent.working_directory, &dir);
        }
        if let Some(uses) = &step.uses {
            self.uses(step, uses, scope)?;
            return Ok(true);
        }
        for need in &step.needs {
            let need = self.subst(need, &scope.vars)?;
            self.out.needs.push(need);
        }
        if let Some(runs) = &step.runs {
            let body = self.subst(runs, &scope.vars)?;
            let label = match &step.name {
                Some(name) => self.subst_name(name, &scope.vars)?,
                None => first_line(&body),
            };
            // Each command carries its own copy of the environment.
            let env: usize = scope.env.iter().map(|(k, v)| k.len() + v.len()).sum();
            self.spend(env, runs.pos)?;
            self.out.commands.push(Command {
                label,
                script: script(&scope.working_directory, &body),
                env: scope.env.clone(),
                line: step.pos.line,
                source: None,
            });
        }
        let ran = self.steps(&step.pipeline, &scope)?;
        check_required_steps(step, ran)?;
        Ok(true)
    }
}

/// Substitute (strictly) and evaluate an `if:`.
fn condition_holds(condition: &Text, vars: &Vars) -> LResult<bool> {
    evaluate_condition(condition, &substitute(condition, vars)?)
}

/// Evaluate `condition` once substituted to `text`.
fn evaluate_condition(condition: &Text, text: &str) -> LResult<bool> {
    cond::evaluate(text).map_err(|e| Located::new(condition.pos, format!("invalid `if:`: {e}")))
}

/// Relative working directories are relative to the parent's (the workspace
/// at the top), as melange resolves them.
fn resolve_dir(parent: &str, dir: &str) -> String {
    if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!(
            "{}/{}",
            parent.trim_end_matches('/'),
            dir.trim_start_matches("./")
        )
    }
}

/// The script BuildKit runs with `/bin/sh -c`: fail fast, create and enter the
/// working directory as melange does, then the user's commands.
fn script(working_directory: &str, body: &str) -> String {
    let dir = shell_quote(working_directory);
    format!("set -e\n[ -d {dir} ] || mkdir -p {dir}\ncd {dir}\n{body}")
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A label for an unnamed step: its first non-empty line, shortened.
fn first_line(body: &str) -> String {
    const MAX: usize = 60;
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("run");
    if line.chars().count() > MAX {
        let short: String = line.chars().take(MAX - 1).collect();
        format!("{short}…")
    } else {
        line.to_string()
    }
}

/// A step label from the file (exposed for tests).
#[cfg(test)]
pub(super) fn label_of(text: &str) -> String {
    first_line(text)
}
