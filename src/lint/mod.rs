//! Lint: rules as data (name, description, documentation anchor, check)
//! over the config with its YAML positions and the plan made from it. The
//! findings answer `--check` (BuildKit's `frontend.lint` subrequest) and are
//! sent as build warnings during a normal build. Pure: no I/O.

pub mod report;
mod rules;
mod tolerated;

use crate::config::subst::Vars;
use crate::config::{yaml, Config, Pos};
use crate::plan::{BuildOptions, BuildPlan, Library};

/// Where the rules are documented, relative to the project's repository
/// (it has no public home yet); each rule's anchor follows `#`.
pub const DOCS_URL: &str = "docs/lint.md";

/// One rule: what it checks and where it is explained.
pub struct Rule {
    /// The rule's name (BuildKit's `ruleName`), PascalCase like the
    /// Dockerfile frontend's rules.
    pub name: &'static str,
    /// One line saying what the rule is about.
    pub description: &'static str,
    /// Its anchor in docs/lint.md.
    pub anchor: &'static str,
    /// The check itself.
    pub check: fn(&Input) -> Vec<Finding>,
}

impl Rule {
    /// The rule's documentation URL.
    pub fn url(&self) -> String {
        format!("{DOCS_URL}#{}", self.anchor)
    }
}

/// What the rules look at.
pub struct Input<'a> {
    /// The build file's YAML tree (for keys the typed config drops).
    pub root: &'a yaml::Node,
    /// The decoded config.
    pub config: &'a Config,
    /// The plan made from it with the build's options.
    pub plan: &'a BuildPlan,
    /// The build's options (build-args, platform).
    pub options: &'a BuildOptions,
    /// Where `uses:` pipelines come from.
    pub library: &'a Library,
    /// The build-wide variables (`package.*`, `vars.*`, `targets.*`, …).
    pub vars: &'a Vars,
}

/// One problem found, at a place in the build file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's name.
    pub rule: &'static str,
    /// What is wrong here, in one sentence.
    pub detail: String,
    /// The first line and column.
    pub pos: Pos,
    /// The last line the finding covers (≥ `pos.line`).
    pub end_line: usize,
}

impl Finding {
    /// A finding at `pos` covering that line.
    pub fn at(rule: &'static str, pos: Pos, detail: impl Into<String>) -> Self {
        Finding {
            rule,
            detail: detail.into(),
            pos,
            end_line: pos.line,
        }
    }
}

/// Every rule, in the order findings are reported.
pub static RULES: &[Rule] = rules::ALL;

/// The rule named `name`.
pub fn rule(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.name == name)
}

/// Run every rule; findings sorted by position, then rule.
pub fn check(input: &Input) -> Vec<Finding> {
    let mut findings: Vec<Finding> = RULES.iter().flat_map(|r| (r.check)(input)).collect();
    findings.sort_by(|a, b| (a.pos.line, a.pos.col, a.rule).cmp(&(b.pos.line, b.pos.col, b.rule)));
    findings.dedup();
    findings
}

#[cfg(test)]
mod tests;
