//! Findings in BuildKit's formats: the `frontend.lint` subrequest's result
//! (`result.json` as its Go types marshal, `result.txt`, and
//! `result.statuscode`, 1 when there are findings, which buildx turns into
//! its exit status), and the short line of a build warning.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;

use super::{rule, Finding};

/// The lint subrequest's version (BuildKit's `lint` package).
pub const LINT_VERSION: &str = "1.0.0";

#[derive(Serialize)]
struct LintResults<'a> {
    warnings: Vec<Warning<'a>>,
    sources: Vec<Source<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Warning<'a> {
    rule_name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    url: String,
    detail: &'a str,
    location: Location,
}

/// BuildKit's `pb.Location` as Go's encoding/json writes it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    source_index: i32,
    ranges: Vec<Range>,
}

#[derive(Serialize)]
struct Range {
    start: Position,
    end: Position,
}

#[derive(Serialize)]
struct Position {
    line: usize,
    character: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Source<'a> {
    file_name: &'a str,
    language: &'static str,
    definition: Option<()>,
    /// Go marshals `[]byte` as base64.
    data: String,
}

/// The location of `finding` in source 0 (the build file).
pub fn location(finding: &Finding) -> Location {
    Location {
        source_index: 0,
        ranges: vec![Range {
            start: Position {
                line: finding.pos.line,
                character: finding.pos.col.saturating_sub(1),
            },
            end: Position {
                line: finding.end_line.max(finding.pos.line),
                character: 0,
            },
        }],
    }
}

/// The warning line a build shows: `Rule: detail (line N)`, as the
/// Dockerfile frontend writes its lint warnings.
pub fn short(finding: &Finding) -> String {
    format!(
        "{}: {} (line {})",
        finding.rule, finding.detail, finding.pos.line
    )
}

/// The `frontend.lint` answer for `findings` in build file `file`.
pub fn lint_result(findings: &[Finding], file: &str, text: &str) -> BTreeMap<String, Vec<u8>> {
    let warnings = findings
        .iter()
        .map(|f| {
            let rule = rule(f.rule);
            Warning {
                rule_name: f.rule,
                description: rule.map_or("", |r| r.description),
                url: rule.map(|r| r.url()).unwrap_or_default(),
                detail: &f.detail,
                location: location(f),
            }
        })
        .collect();
    let results = LintResults {
        warnings,
        sources: vec![Source {
            file_name: file,
            language: "YAML",
            definition: None,
            data: base64::engine::general_purpose::STANDARD.encode(text),
        }],
    };
    let json = serde_json::to_vec_pretty(&results).unwrap_or_default();
    let status = if findings.is_empty() { "0" } else { "1" };
    BTreeMap::from([
        ("result.json".to_string(), json),
        (
            "result.txt".to_string(),
            text_report(findings, file, text).into_bytes(),
        ),
        ("result.statuscode".to_string(), status.as_bytes().to_vec()),
        ("version".to_string(), LINT_VERSION.as_bytes().to_vec()),
    ])
}

/// Findings grouped by rule, each with its file line and marked lines.
fn text_report(findings: &[Finding], file: &str, text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
    rules.sort_unstable();
    rules.dedup();
    let mut out = String::new();
    for name in rules {
        out.push_str(&format!("Lint Rule {name}\n"));
        for f in findings.iter().filter(|f| f.rule == name) {
            out.push_str(&format!("  {file}:{}\n  {}\n", f.pos.line, f.detail));
            for n in f.pos.line..=f.end_line.max(f.pos.line) {
                let line = n.checked_sub(1).and_then(|i| lines.get(i)).unwrap_or(&"");
                out.push_str(&format!("  {n:>4} | {line}\n"));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;

    #[test]
    fn the_json_is_what_buildkits_go_types_read() {
        let finding = Finding::at("MissingLicense", Pos { line: 2, col: 9 }, "no license");
        let meta = lint_result(&[finding], "package.yaml", "package:\n  name: x\n");
        let json: serde_json::Value = serde_json::from_slice(&meta["result.json"]).unwrap();
        let warning = &json["warnings"][0];
        assert_eq!(warning["ruleName"], "MissingLicense");
        assert_eq!(warning["url"], "docs/lint.md#missinglicense");
        assert_eq!(warning["detail"], "no license");
        assert_eq!(warning["location"]["ranges"][0]["start"]["line"], 2);
        assert_eq!(warning["location"]["sourceIndex"], 0);
        assert_eq!(json["sources"][0]["fileName"], "package.yaml");
        assert_eq!(json["sources"][0]["data"], "cGFja2FnZToKICBuYW1lOiB4Cg==");
        assert_eq!(meta["result.statuscode"], b"1");
        let text = String::from_utf8(meta["result.txt"].clone()).unwrap();
        assert!(
            text.contains(
                "Lint Rule MissingLicense\n  package.yaml:2\n  no license\n     2 |   name: x\n"
            ),
            "{text}"
        );
        let clean = lint_result(&[], "package.yaml", "");
        assert_eq!(clean["result.statuscode"], b"0");
    }
}
