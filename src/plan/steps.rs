//! Pipeline steps → shell commands: variable substitution, inherited working
//! directory and environment, the `set -e` prelude, and progress labels.

use std::collections::BTreeMap;

use crate::config::error::LResult;
use crate::config::subst::{substitute, Vars};
use crate::config::{Config, Step};

use super::{PackageId, PlannedStep, CACHE_MOUNTS, OUT_DIR, WORKSPACE_DIR};

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

/// Every step of the main pipeline, then of each subpackage, in order.
pub(super) fn compile(
    config: &Config,
    package: &PackageId,
    source_date_epoch: &str,
) -> LResult<Vec<Command>> {
    let env = base_env(config, source_date_epoch);
    let main_vars = package_vars(package);
    let mut commands = Vec::new();
    let main = Scope {
        vars: &main_vars,
        env: env.clone(),
        working_directory: WORKSPACE_DIR.into(),
        label_prefix: "",
    };
    compile_steps(&config.pipeline, &main, &mut commands)?;
    for sub in &config.subpackages {
        let mut vars = main_vars.clone();
        let subpkgdir = format!("{OUT_DIR}/{}", sub.name.value);
        vars.insert("targets.subpkgdir".into(), subpkgdir.clone());
        vars.insert("targets.contextdir".into(), subpkgdir);
        let prefix = format!("{}: ", sub.name.value);
        let scope = Scope {
            vars: &vars,
            env: env.clone(),
            working_directory: WORKSPACE_DIR.into(),
            label_prefix: &prefix,
        };
        compile_steps(&sub.pipeline, &scope, &mut commands)?;
    }
    Ok(commands)
}

/// Variables of the main package, shared by every step.
fn package_vars(package: &PackageId) -> Vars {
    let destdir = format!("{OUT_DIR}/{}", package.name);
    [
        ("package.name", package.name.clone()),
        ("package.version", package.version.clone()),
        ("package.epoch", package.epoch.clone()),
        ("package.full-version", package.full_version()),
        ("targets.outdir", OUT_DIR.to_string()),
        ("targets.destdir", destdir.clone()),
        ("targets.contextdir", destdir),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
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
