//! Subrequests: questions a client asks instead of a build (`docker buildx
//! build --call targets`, `--call outline`, `--check`, and the describe
//! call clients make first). The answer travels as result metadata
//! (`result.json`, `result.txt`). `--check` (`frontend.lint`) reads the
//! build file and is answered in `gateway/mod.rs`; these need only options.

use std::collections::BTreeMap;

use serde::Serialize;

use super::opts::FrontendOpts;
use crate::plan::args::{BUILD_ARGS, NAMED_CONTEXTS, SIGNING_SECRET};
use crate::plan::{Target, CACHE_MOUNTS};

/// Lists the subrequests this frontend answers.
pub const DESCRIBE: &str = "frontend.subrequests.describe";
/// Lists the build targets.
pub const TARGETS: &str = "frontend.targets";
/// Lists the build-args, secret and named contexts of a target.
pub const OUTLINE: &str = "frontend.outline";
/// Lints the build file (`--check`).
pub const LINT: &str = "frontend.lint";

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

/// BuildKit's `outline.Outline` as Go's encoding/json writes it.
#[derive(Serialize)]
struct Outline {
    name: String,
    description: String,
    args: Vec<OutlineArg>,
    secrets: Vec<OutlineSecret>,
    cache: Vec<OutlineCache>,
}

#[derive(Serialize)]
struct OutlineArg {
    name: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    value: String,
}

#[derive(Serialize)]
struct OutlineSecret {
    name: &'static str,
}

#[derive(Serialize)]
struct OutlineCache {
    #[serde(rename = "ID")]
    id: &'static str,
}

/// The metadata answering subrequest `id` for a build with `options`, or
/// None when it is not one we know.
pub fn answer(id: &str, options: &FrontendOpts) -> Option<BTreeMap<String, Vec<u8>>> {
    match id {
        DESCRIBE => Some(describe()),
        TARGETS => Some(targets()),
        OUTLINE => Some(outline(options)),
        _ => None,
    }
}

/// Every build-arg with its current value (the given one, else the
/// default), the optional signing secret, the cache mounts, and the named
/// contexts in the description (the outline has no field for them).
fn outline(options: &FrontendOpts) -> BTreeMap<String, Vec<u8>> {
    let build = &options.build;
    let target = build.target.clone().filter(|t| !t.is_empty());
    let name = target
        .clone()
        .unwrap_or_else(|| Target::NAMES[0].to_string());
    let contexts: Vec<String> = NAMED_CONTEXTS
        .iter()
        .map(|(context, what)| {
            let given = build
                .named_contexts
                .get(*context)
                .map(|v| format!(" [given: {v}]"))
                .unwrap_or_default();
            format!("{context}: {what}{given}")
        })
        .collect();
    let description = format!(
        "{}. Named contexts: {}. Reference: docs/build-args.md",
        Target::describe(&name),
        contexts.join("; ")
    );
    let args = BUILD_ARGS
        .iter()
        .map(|arg| {
            let given = build.build_args.get(arg.name).cloned();
            let description = match (&given, arg.default) {
                (Some(_), default) if !default.is_empty() => {
                    format!("{} (default: {default})", arg.description)
                }
                _ => arg.description.to_string(),
            };
            OutlineArg {
                name: arg.name,
                description,
                value: given.unwrap_or_else(|| arg.default.to_string()),
            }
        })
        .collect();
    let value = Outline {
        name,
        description,
        args,
        secrets: vec![OutlineSecret {
            name: SIGNING_SECRET,
        }],
        cache: CACHE_MOUNTS
            .iter()
            .map(|m| OutlineCache { id: m.id })
            .collect(),
    };
    let text = outline_text(&value);
    metadata(&value, text)
}

/// The outline as buildx prints it (a table per section).
fn outline_text(outline: &Outline) -> String {
    let mut text = format!(
        "TARGET:      {}\nDESCRIPTION: {}\n\n",
        outline.name, outline.description
    );
    let width = outline.args.iter().map(|a| a.name.len()).max().unwrap_or(0);
    text.push_str(&format!("{:<width$}   VALUE   DESCRIPTION\n", "BUILD ARG"));
    for arg in &outline.args {
        text.push_str(&format!(
            "{:<width$}   {}   {}\n",
            arg.name, arg.value, arg.description
        ));
    }
    text.push_str("\nSECRET        REQUIRED\n");
    for secret in &outline.secrets {
        text.push_str(&format!("{}\n", secret.name));
    }
    text
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
        Request {
            name: OUTLINE,
            version: "1.0.0",
            kind: "rpc",
            description: "List all parameters current build target supports",
            metadata: vec![
                Named {
                    name: "result.json",
                },
                Named { name: "result.txt" },
            ],
        },
        Request {
            name: LINT,
            version: "1.0.0",
            kind: "rpc",
            description: "Lint a melange build file",
            metadata: vec![
                Named {
                    name: "result.json",
                },
                Named { name: "result.txt" },
                Named {
                    name: "result.statuscode",
                },
            ],
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

    fn options(raw: &[(&str, &str)]) -> FrontendOpts {
        let raw = raw
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::gateway::opts::parse(&raw).unwrap()
    }

    #[test]
    fn describe_lists_every_subrequest() {
        let answer = answer(DESCRIBE, &options(&[])).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&answer["result.json"]).unwrap();
        let names: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, [DESCRIBE, TARGETS, OUTLINE, LINT]);
        assert_eq!(json[0]["type"], "rpc");
    }

    #[test]
    fn targets_marks_the_default() {
        let answer = answer(TARGETS, &options(&[])).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&answer["result.json"]).unwrap();
        assert_eq!(json["Targets"][0]["name"], "packages");
        assert_eq!(json["Targets"][0]["default"], true);
        assert!(super::answer("frontend.unknown", &options(&[])).is_none());
    }

    #[test]
    fn outline_lists_args_with_values_the_secret_and_the_contexts() {
        let given = options(&[
            ("build-arg:SOURCE_DATE_EPOCH", "5"),
            ("context:melange-cache", "local:cache"),
        ]);
        let answer = answer(OUTLINE, &given).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&answer["result.json"]).unwrap();
        assert_eq!(json["name"], "packages");
        let args = json["args"].as_array().unwrap();
        assert_eq!(args.len(), BUILD_ARGS.len());
        assert_eq!(args[0]["name"], "SOURCE_DATE_EPOCH");
        assert_eq!(args[0]["value"], "5");
        assert!(args[0]["description"]
            .as_str()
            .unwrap()
            .ends_with("(default: 0)"));
        let signing = args
            .iter()
            .find(|a| a["name"] == "MELANGE_SIGNING_KEY_NAME")
            .unwrap();
        assert_eq!(signing["value"], "melange.rsa");
        assert_eq!(json["secrets"][0]["name"], "melange.rsa");
        assert!(json["secrets"][0].get("required").is_none());
        assert_eq!(json["cache"][0]["ID"], "melange-go-mod-cache");
        let description = json["description"].as_str().unwrap();
        assert!(
            description.contains("melange-environment: "),
            "{description}"
        );
        assert!(description.contains("melange-cache: "), "{description}");
        assert!(
            description.contains("[given: local:cache]"),
            "{description}"
        );
        let text = String::from_utf8(answer["result.txt"].clone()).unwrap();
        assert!(text.starts_with("TARGET:      packages\n"), "{text}");
    }
}
