//! apk-tools' own fresh-install solver cases (`testdata/resolver/apk-tools.cases`,
//! format described at its top), run against [`resolve`]: every case must
//! give the packages, in order, or the report apk gives.

use std::collections::HashMap;

use super::{resolve, Repository, ResolveError};
use crate::apk::index::parse_records;
use crate::apk::{Dependency, IndexRecord};

const CASES: &str = include_str!("../../../testdata/resolver/apk-tools.cases");

/// `P:a V:1 D:b,c` → APKINDEX text (one line per field, `,` → space),
/// with `I:1` unless given: as in apk's test repositories, no package is a
/// size-0 meta package (which pinning would let come from any repository).
fn index_text(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| {
            let mut fields: Vec<String> = l.split(' ').map(|f| f.replace(',', " ")).collect();
            if !fields.iter().any(|f| f.starts_with("I:")) {
                fields.push("I:1".into());
            }
            fields.join("\n") + "\n\n"
        })
        .collect()
}

enum Expect {
    Install(Vec<String>),
    Error(String),
    BadWorld,
}

struct Case {
    name: String,
    repos: Vec<(Option<String>, String)>,
    world: String,
    expect: Expect,
}

/// The repositories (name → records) and cases of the file.
fn parse() -> (HashMap<String, Vec<IndexRecord>>, Vec<Case>) {
    let mut repos = HashMap::new();
    let mut cases = Vec::new();
    let blocks = CASES.split("\n\n").map(|b| {
        b.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect::<Vec<_>>()
    });
    for block in blocks.filter(|b| !b.is_empty()) {
        let (head, body) = (block[0], &block[1..]);
        if let Some(name) = head.strip_prefix("repo ") {
            let records = parse_records(&index_text(body)).unwrap_or_else(|e| panic!("{e}"));
            repos.insert(name.to_string(), records);
            continue;
        }
        let mut words = head.split(' ');
        assert_eq!(words.next(), Some("case"), "{head}");
        let name = words.next().unwrap_or_default().to_string();
        let repo_list = words
            .map(
                |w| match w.strip_prefix('@').and_then(|t| t.split_once(':')) {
                    Some((tag, repo)) => (Some(tag.to_string()), repo.to_string()),
                    None => (None, w.to_string()),
                },
            )
            .collect();
        let world = body[0]
            .strip_prefix("world ")
            .expect("world line")
            .to_string();
        let expect = match body[1] {
            "error" => Expect::Error(body[2..].join("\n") + "\n"),
            "bad-world" => Expect::BadWorld,
            line => Expect::Install(
                line.strip_prefix("install ")
                    .expect("install line")
                    .split(' ')
                    .map(str::to_string)
                    .collect(),
            ),
        };
        cases.push(Case {
            name,
            repos: repo_list,
            world,
            expect,
        });
    }
    (repos, cases)
}

/// What our resolver gives for a case, in the file's terms; Err with a
/// description when it disagrees.
fn check(case: &Case, repos: &HashMap<String, Vec<IndexRecord>>) -> Result<(), String> {
    let world = Dependency::parse_world(&case.world);
    let world = match (&case.expect, world) {
        (Expect::BadWorld, Err(_)) => return Ok(()),
        (Expect::BadWorld, Ok(_)) => return Err("the world parsed".into()),
        (_, Err(e)) => return Err(format!("world: {e}")),
        (_, Ok(w)) => w,
    };
    let repositories: Vec<Repository> = case
        .repos
        .iter()
        .map(|(tag, name)| Repository {
            tag: tag.as_deref(),
            records: &repos[name],
        })
        .collect();
    let got = match resolve(&repositories, &world) {
        Ok(r) => Ok(r
            .packages
            .iter()
            .map(|p| match &p.tag {
                Some(tag) => format!("{}-{}@{tag}", p.name, p.version),
                None => format!("{}-{}", p.name, p.version),
            })
            .collect::<Vec<_>>()),
        Err(ResolveError::Unsatisfiable(report)) => Err(report.to_string()),
        Err(e) => return Err(format!("{e}")),
    };
    match (&case.expect, got) {
        (Expect::Install(want), Ok(got)) if *want == got => Ok(()),
        (Expect::Error(want), Err(got)) if *want == got => Ok(()),
        (Expect::Install(want), got) => Err(format!("want {want:?}, got {got:?}")),
        (Expect::Error(want), got) => Err(format!("want\n{want}got {got:?}")),
        (Expect::BadWorld, _) => unreachable!("handled above"),
    }
}

#[test]
fn apk_tools_fresh_install_cases() {
    let (repos, cases) = parse();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(c, &repos).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    assert_eq!(cases.len(), 51, "cases in the file");
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with apk-tools:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
