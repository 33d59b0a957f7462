//! Subrequests: questions a client asks instead of a build (`docker buildx
//! build --call targets`, and the describe call clients make first). The
//! answer travels as result metadata (`result.json`, `result.txt`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::Target;

/// Lists the subrequests this frontend answers.
pub const DESCRIBE: &str = "frontend.subrequests.describe";
/// Lists the build targets.
pub const TARGETS: &str = "frontend.targets";

#[derive(Serialize)]
struct Named {
    name: &'static str,
}

#[derive(Serialize)]
struct Request {
    name: &'static str,
    version: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    description: &'static str,
    metadata: Vec<Named>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TargetList {
    targets: Vec<TargetInfo>,
    sources: Vec<String>,
}

#[derive(Serialize)]
struct TargetInfo {
    name: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    default: bool,
    description: &'static str,
}

/// The metadata answering subrequest `id`, or None when it is not one we know.
pub fn answer(id: &str) -> Option<BTreeMap<String, Vec<u8>>> {
    match id {
        DESCRIBE => Some(describe()),
        TARGETS => Some(targets()),
        _ => None,
    }
}

fn describe() -> BTreeMap<String, Vec<u8>> {
    let requests = [
        Request {
            name: DESCRIBE,
            version: "1.0.0",
            kind: "rpc",
            description: "List available subrequest types",
            metadata: vec![
                Named {
                    name: "result.json",
                },
                Named { name: "result.txt" },
            ],
        },
        Request {
            name: TARGETS,
            version: "1.0.0",
            kind: "rpc",
            description: "List all targets current build supports",
            metadata: vec![Named {
                name: "result.json",
            }],
        },
    ];
    let mut text = String::from("NAME                VERSION DESCRIPTION\n");
    for request in &requests {
        let short = request.name.trim_start_matches("frontend.");
        text.push_str(&format!(
            "{short:<19} {:<7} {}\n",
            request.version, request.description
        ));
    }
    metadata(&requests, text)
}

fn targets() -> BTreeMap<String, Vec<u8>> {
    let targets = Target::NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| TargetInfo {
            name,
            default: i == 0,
            description: Target::describe(name),
        })
        .collect();
    let list = TargetList {
        targets,
        sources: Vec::new(),
    };
    let text = Target::NAMES
        .iter()
        .map(|name| format!("{name}\t{}\n", Target::describe(name)))
        .collect();
    metadata(&list, text)
}

fn metadata<T: Serialize>(value: &T, text: String) -> BTreeMap<String, Vec<u8>> {
    let json = serde_json::to_vec_pretty(value).unwrap_or_default();
    BTreeMap::from([
        ("result.json".to_string(), json),
        ("result.txt".to_string(), text.into_bytes()),
        ("version".to_string(), b"1.0.0".to_vec()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_both_subrequests() {
        let answer = answer(DESCRIBE).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&answer["result.json"]).unwrap();
        let names: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, [DESCRIBE, TARGETS]);
        assert_eq!(json[0]["type"], "rpc");
    }

    #[test]
    fn targets_marks_the_default() {
        let answer = answer(TARGETS).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&answer["result.json"]).unwrap();
        assert_eq!(json["Targets"][0]["name"], "packages");
        assert_eq!(json["Targets"][0]["default"], true);
        assert!(super::answer("frontend.outline").is_none());
    }
}
