//! Pipeline steps → shell commands: subpackage expansion (`range:`, `if:`),
//! variable substitution, conditions, inherited working directory and
//! environment, the `set -e` prelude, and progress labels.

use std::collections::BTreeMap;

use crate::config::cond;
use crate::config::decode::validate_package_name;
use crate::config::error::{LResult, Located, Pos};
use crate::config::subst::{substitute, Vars};
use crate::config::{Config, Step, Subpackage, Text};

use super::{PlannedStep, CACHE_MOUNTS, OUT_DIR, WORKSPACE_DIR};

/// A step before numbering.
pub(super) struct Command {
    pub label: String,
    script: String,
    env: BTreeMap<String, String>,
    line: usize,
}

impl Command {
    pub(super) fn into_planned(self) -> PlannedStep {
        PlannedStep {
            name: self.label,
            script: self.script,
            env: self.env,
            line: self.line,
        }
    }
}

/// What a step inherits from its parents.
#[derive(Clone)]
struct Scope<'a> {
    vars: &'a Vars,
    env: BTreeMap<String, String>,
    working_directory: String,
    label_prefix: &'a str,
}

/// A subpackage after `range:` expansion and `if:` evaluation.
pub(super) struct Expanded<'a> {
    /// Final name.
    pub name: String,
    /// Where its name is written, for errors.
    pos: Pos,
    /// Its steps, unsubstituted.
    pipeline: &'a [Step],
    /// `range.key` / `range.value` when ranged.
    pub(super) range: Option<(String, String)>,
    /// The entry it was expanded from (packaging metadata).
    pub(super) source: &'a Subpackage,
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
            let name = Text::new(substitute(&sub.name, &scope)?, sub.name.pos);
            validate_package_name(&name)?;
            out.push(Expanded {
                name: name.value,
                pos: sub.name.pos,
                pipeline: &sub.pipeline,
                range: item,
                source: sub,
            });
        }
    }
    check_unique_names(&config.package.name.value, &out)?;
    Ok(out)
}

fn check_unique_names(package: &str, subpackages: &[Expanded]) -> LResult<()> {
    for (i, sub) in subpackages.iter().enumerate() {
        if sub.name == package {
            return Err(Located::new(
                sub.pos,
                format!("subpackage {:?} has the same name as the package", sub.name),
            ));
        }
        if subpackages[..i]
            .iter()
            .any(|earlier| earlier.name == sub.name)
        {
            return Err(Located::new(
                sub.pos,
                format!("subpackage name {:?} is used twice", sub.name),
            ));
        }
    }
    Ok(())
}

/// Every step of the main pipeline, then of each subpackage, in order.
pub(super) fn compile(
    config: &Config,
    vars: &Vars,
    subpackages: &[Expanded],
    source_date_epoch: &str,
) -> LResult<Vec<Command>> {
    let env = base_env(config, source_date_epoch);
    let mut commands = Vec::new();
    let main = Scope {
        vars,
        env: env.clone(),
        working_directory: WORKSPACE_DIR.into(),
        label_prefix: "",
    };
    compile_steps(&config.pipeline, &main, &mut commands)?;
    for sub in subpackages {
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
        let prefix = format!("{}: ", sub.name);
        let scope = Scope {
            vars: &sub_vars,
            env: env.clone(),
            working_directory: WORKSPACE_DIR.into(),
            label_prefix: &prefix,
        };
        compile_steps(sub.pipeline, &scope, &mut commands)?;
    }
    Ok(commands)
}

/// Defaults every step gets, under the YAML's `environment.environment`.
fn base_env(config: &Config, source_date_epoch: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), WORKSPACE_DIR.to_string());
    env.insert(
        "SOURCE_DATE_EPOCH".to_string(),
        source_date_epoch.to_string(),
    );
    for mount in CACHE_MOUNTS {
        if let Some((key, value)) = mount.env {
            env.insert(key.to_string(), value.to_string());
        }
    }
    for (key, value) in &config.environment.env {
        env.insert(key.clone(), value.value.clone());
    }
    env
}

fn compile_steps(steps: &[Step], scope: &Scope, out: &mut Vec<Command>) -> LResult<()> {
    for step in steps {
        compile_step(step, scope, out)?;
    }
    Ok(())
}

fn compile_step(step: &Step, parent: &Scope, out: &mut Vec<Command>) -> LResult<()> {
    if let Some(condition) = &step.condition {
        if !condition_holds(condition, parent.vars)? {
            return Ok(());
        }
    }
    refuse_unsupported(step)?;
    let mut scope = parent.clone();
    for (key, value) in &step.environment {
        scope
            .env
            .insert(key.clone(), substitute(value, scope.vars)?);
    }
    if let Some(dir) = &step.working_directory {
        scope.working_directory =
            resolve_dir(&parent.working_directory, &substitute(dir, scope.vars)?);
    }
    if let Some(runs) = &step.runs {
        let body = substitute(runs, scope.vars)?;
        let label = match &step.name {
            Some(name) => substitute(name, scope.vars)?,
            None => first_line(&body),
        };
        out.push(Command {
            label: format!("{}{label}", scope.label_prefix),
            script: script(&scope.working_directory, &body),
            env: scope.env.clone(),
            line: step.pos.line,
        });
    }
    compile_steps(&step.pipeline, &scope, out)
}

/// Substitute (strictly) and evaluate an `if:`.
fn condition_holds(condition: &Text, vars: &Vars) -> LResult<bool> {
    let text = substitute(condition, vars)?;
    cond::evaluate(&text).map_err(|e| Located::new(condition.pos, format!("invalid `if:`: {e}")))
}

/// Step features this version cannot honour: refused where they are
/// written, never silently dropped.
fn refuse_unsupported(step: &Step) -> LResult<()> {
    if let Some(uses) = &step.uses {
        return Err(Located::new(
            uses.pos,
            format!(
                "`uses: {}`: the pipeline library is not supported by this version of melange-frontend yet; \
                 write the step with `runs:`",
                uses.value
            ),
        ));
    }
    if let Some(first) = step.needs.first() {
        return Err(Located::new(
            first.pos,
            "`needs.packages`: installing packages is not supported by this version of melange-frontend yet; \
             use an environment image that has them",
        ));
    }
    Ok(())
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
