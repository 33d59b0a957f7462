//! YAML tree → [`Config`], strictly: unknown keys, wrong shapes and invalid
//! values are errors at the offending line and column. Keys of melange's
//! schema that this version does not act on yet are accepted (so real files
//! parse) unless ignoring them would build something different from what the
//! user asked, in which case they are rejected with a clear message.

use std::collections::BTreeMap;

use super::error::{LResult, Located, Pos};
use super::model::{Config, Environment, Package, Step, Subpackage, Text};
use super::yaml::{Key, Node, Value};

const TOP_KEYS: &[&str] = &[
    "package",
    "environment",
    "pipeline",
    "subpackages",
    "data",
    "vars",
    "var-transforms",
    "options",
    "update",
    "test",
    "capabilities",
];
const PACKAGE_KEYS: &[&str] = &[
    "name",
    "version",
    "epoch",
    "description",
    "annotations",
    "url",
    "commit",
    "target-architecture",
    "copyright",
    "dependencies",
    "options",
    "scriptlets",
    "checks",
    "cpe",
    "setcap",
    "timeout",
    "resources",
    "test-resources",
];
const ENVIRONMENT_KEYS: &[&str] = &[
    "contents",
    "environment",
    "accounts",
    "archs",
    "paths",
    "entrypoint",
    "cmd",
    "stop-signal",
    "work-dir",
    "include",
    "volumes",
    "annotations",
    "vcs-url",
    "options",
];
const CONTENTS_KEYS: &[&str] = &[
    "repositories",
    "build_repositories",
    "runtime_repositories",
    "keyring",
    "packages",
    "baseimage",
];
const STEP_KEYS: &[&str] = &[
    "name",
    "uses",
    "with",
    "runs",
    "pipeline",
    "inputs",
    "needs",
    "label",
    "if",
    "assertions",
    "working-directory",
    "environment",
];
const SUBPACKAGE_KEYS: &[&str] = &[
    "if",
    "range",
    "name",
    "pipeline",
    "dependencies",
    "options",
    "scriptlets",
    "description",
    "url",
    "commit",
    "checks",
    "test",
    "setcap",
    "copyright",
];
/// Step keys whose meaning this version cannot honour yet: ignoring them would
/// silently build something else, so they are refused.
const UNSUPPORTED_STEP_KEYS: &[&str] = &["uses", "with", "if", "needs", "assertions", "inputs"];

/// Decode a parsed build file.
pub fn decode(root: &Node) -> LResult<Config> {
    let top = Fields::new(root, "the build file", TOP_KEYS)?;
    let package = match top.get("package") {
        Some(node) => decode_package(node)?,
        None => return Err(Located::new(root.pos, "missing required key `package`")),
    };
    let environment = top
        .get("environment")
        .map(decode_environment)
        .transpose()?
        .unwrap_or_default();
    let pipeline = top
        .get("pipeline")
        .map(decode_steps)
        .transpose()?
        .unwrap_or_default();
    let subpackages = match top.get("subpackages") {
        Some(node) => list(node, "subpackages")?
            .iter()
            .map(decode_subpackage)
            .collect::<LResult<_>>()?,
        None => Vec::new(),
    };
    Ok(Config {
        package,
        environment,
        pipeline,
        subpackages,
    })
}

fn decode_package(node: &Node) -> LResult<Package> {
    let fields = Fields::new(node, "package", PACKAGE_KEYS)?;
    let name = fields.required_text("name")?;
    validate_package_name(&name)?;
    let version = fields.required_text("version")?;
    if version.value.is_empty() {
        return Err(Located::new(
            version.pos,
            "package.version must not be empty",
        ));
    }
    let epoch = fields
        .text("epoch")?
        .unwrap_or_else(|| Text::new("0", node.pos));
    let epoch = Text::new(
        if epoch.value.is_empty() {
            "0".into()
        } else {
            epoch.value
        },
        epoch.pos,
    );
    if epoch.value.parse::<u64>().is_err() {
        return Err(Located::new(
            epoch.pos,
            format!(
                "package.epoch must be a non-negative integer, got {:?}",
                epoch.value
            ),
        ));
    }
    let description = fields.text("description")?.unwrap_or_default();
    Ok(Package {
        name,
        version,
        epoch,
        description,
    })
}

/// melange's rule: `^[a-zA-Z\d][a-zA-Z\d+_.-]*$`.
pub fn validate_package_name(name: &Text) -> LResult<()> {
    let mut chars = name.value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(Located::new(
            name.pos,
            format!(
                "invalid package name {:?}: it must start with a letter or digit and contain only letters, digits and + _ . -",
                name.value
            ),
        ))
    }
}

fn decode_environment(node: &Node) -> LResult<Environment> {
    let fields = Fields::new(node, "environment", ENVIRONMENT_KEYS)?;
    let env = fields
        .get("environment")
        .map(|n| string_map(n, "environment.environment"))
        .transpose()?;
    let mut packages = Vec::new();
    if let Some(contents) = fields.get("contents") {
        let contents = Fields::new(contents, "environment.contents", CONTENTS_KEYS)?;
        if let Some(list_node) = contents.get("packages") {
            packages = text_list(list_node, "environment.contents.packages")?;
        }
    }
    Ok(Environment {
        env: env.unwrap_or_default(),
        packages,
    })
}

fn decode_steps(node: &Node) -> LResult<Vec<Step>> {
    list(node, "pipeline")?.iter().map(decode_step).collect()
}

fn decode_step(node: &Node) -> LResult<Step> {
    let fields = Fields::new(node, "pipeline step", STEP_KEYS)?;
    for key in UNSUPPORTED_STEP_KEYS {
        if let Some((k, _)) = fields.entry(key) {
            return Err(Located::new(
                k.pos,
                format!("`{key}:` in pipeline steps is not supported by this version of melange-frontend yet"),
            ));
        }
    }
    let runs = fields.text("runs")?;
    let pipeline = fields
        .get("pipeline")
        .map(decode_steps)
        .transpose()?
        .unwrap_or_default();
    if runs.is_none() && pipeline.is_empty() {
        return Err(Located::new(
            node.pos,
            "a pipeline step needs `runs:` or a nested `pipeline:`",
        ));
    }
    Ok(Step {
        pos: node.pos,
        name: fields.text("name")?,
        runs,
        working_directory: fields.text("working-directory")?,
        environment: fields
            .get("environment")
            .map(|n| string_map(n, "step environment"))
            .transpose()?
            .unwrap_or_default(),
        pipeline,
    })
}

fn decode_subpackage(node: &Node) -> LResult<Subpackage> {
    let fields = Fields::new(node, "subpackage", SUBPACKAGE_KEYS)?;
    for key in ["if", "range"] {
        if let Some((k, _)) = fields.entry(key) {
            return Err(Located::new(
                k.pos,
                format!("`{key}:` in subpackages is not supported by this version of melange-frontend yet"),
            ));
        }
    }
    let name = fields.required_text("name")?;
    validate_package_name(&name)?;
    Ok(Subpackage {
        pos: node.pos,
        name,
        description: fields.text("description")?.unwrap_or_default(),
        pipeline: fields
            .get("pipeline")
            .map(decode_steps)
            .transpose()?
            .unwrap_or_default(),
    })
}

/// A mapping whose keys were checked against the schema.
struct Fields<'a> {
    entries: &'a [(Key, Node)],
    pos: Pos,
    what: &'a str,
}

impl<'a> Fields<'a> {
    fn new(node: &'a Node, what: &'a str, known: &[&str]) -> LResult<Self> {
        static EMPTY: Vec<(Key, Node)> = Vec::new();
        let entries = match &node.value {
            Value::Map(entries) => entries.as_slice(),
            Value::Null => EMPTY.as_slice(),
            _ => {
                return Err(Located::new(
                    node.pos,
                    format!("{what} must be a mapping, found {}", node.kind()),
                ))
            }
        };
        for (key, _) in entries {
            if !known.contains(&key.text.as_str()) {
                let hint = nearest(&key.text, known)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                return Err(Located::new(
                    key.pos,
                    format!("unknown key `{}` in {what}{hint}", key.text),
                ));
            }
        }
        Ok(Fields {
            entries,
            pos: node.pos,
            what,
        })
    }

    fn entry(&self, key: &str) -> Option<&'a (Key, Node)> {
        self.entries.iter().find(|(k, _)| k.text == key)
    }

    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entry(key).map(|(_, node)| node)
    }

    fn text(&self, key: &str) -> LResult<Option<Text>> {
        self.get(key).map(|node| scalar(node, key)).transpose()
    }

    fn required_text(&self, key: &str) -> LResult<Text> {
        self.text(key)?.ok_or_else(|| {
            Located::new(
                self.pos,
                format!("missing required key `{key}` in {}", self.what),
            )
        })
    }
}

/// A scalar as raw text; null is "".
fn scalar(node: &Node, what: &str) -> LResult<Text> {
    match &node.value {
        Value::Scalar(s) => Ok(Text::new(s.clone(), node.pos)),
        Value::Null => Ok(Text::new("", node.pos)),
        _ => Err(Located::new(
            node.pos,
            format!("`{what}` must be a scalar, found {}", node.kind()),
        )),
    }
}

fn list<'a>(node: &'a Node, what: &str) -> LResult<&'a [Node]> {
    match &node.value {
        Value::Seq(items) => Ok(items),
        Value::Null => Ok(&[]),
        _ => Err(Located::new(
            node.pos,
            format!("`{what}` must be a list, found {}", node.kind()),
        )),
    }
}

fn text_list(node: &Node, what: &str) -> LResult<Vec<Text>> {
    list(node, what)?
        .iter()
        .map(|item| scalar(item, what))
        .collect()
}

fn string_map(node: &Node, what: &str) -> LResult<BTreeMap<String, Text>> {
    let entries = match &node.value {
        Value::Map(entries) => entries.as_slice(),
        Value::Null => &[],
        _ => {
            return Err(Located::new(
                node.pos,
                format!("`{what}` must be a mapping, found {}", node.kind()),
            ))
        }
    };
    entries
        .iter()
        .map(|(key, value)| Ok((key.text.clone(), scalar(value, &key.text)?)))
        .collect()
}

/// The known key closest to a misspelt one, if it is close enough to help.
fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::yaml;
    use super::*;

    fn decode_str(text: &str) -> LResult<Config> {
        decode(&yaml::parse(text)?)
    }

    const MINIMAL: &str = "package:\n  name: hello\n  version: 0.10\n  epoch: 2\n";

    #[test]
    fn minimal_package_keeps_raw_version() {
        let config = decode_str(MINIMAL).unwrap();
        assert_eq!(config.package.name.value, "hello");
        assert_eq!(config.package.version.value, "0.10");
        assert_eq!(config.package.epoch.value, "2");
    }

    #[test]
    fn unknown_key_names_key_position_and_suggestion() {
        let err = decode_str("package:\n  name: a\n  version: 1\n  epohc: 0\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 4, col: 3 });
        assert_eq!(
            err.message,
            "unknown key `epohc` in package (did you mean `epoch`?)"
        );
    }

    #[test]
    fn invalid_names_and_epochs_are_rejected() {
        let err = decode_str("package:\n  name: -x\n  version: 1\n").unwrap_err();
        assert!(
            err.message.contains("invalid package name"),
            "{}",
            err.message
        );
        let err = decode_str("package:\n  name: x\n  version: 1\n  epoch: one\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 4, col: 10 });
    }

    #[test]
    fn steps_nest_and_keep_environment() {
        let config = decode_str(&format!(
            "{MINIMAL}pipeline:\n  - name: outer\n    environment: {{A: 1}}\n    pipeline:\n      - runs: echo hi\n"
        ))
        .unwrap();
        let outer = &config.pipeline[0];
        assert_eq!(outer.environment["A"].value, "1");
        assert_eq!(outer.pipeline[0].runs.as_ref().unwrap().value, "echo hi");
    }

    #[test]
    fn uses_is_refused_rather_than_ignored() {
        let err = decode_str(&format!("{MINIMAL}pipeline:\n  - uses: fetch\n")).unwrap_err();
        assert_eq!(err.pos.line, 6);
        assert!(err.message.contains("`uses:`"), "{}", err.message);
    }

    #[test]
    fn wrong_shapes_are_named() {
        let err = decode_str(&format!("{MINIMAL}pipeline: hello\n")).unwrap_err();
        assert_eq!(err.message, "`pipeline` must be a list, found a scalar");
    }
}
