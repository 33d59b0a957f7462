//! YAML tree → [`Config`], strictly: the whole tree is first checked against
//! melange's schema ([`super::schema`]), so unknown keys and wrong shapes are
//! errors at their line and column; then the values a build uses are read
//! and validated. Keys this version cannot honour yet are decoded too: the
//! planner refuses them at their position rather than ignoring them.

use std::collections::BTreeMap;

use super::error::{LResult, Located, Pos};
use super::model::{
    BuildOption, Capabilities, Config, DataSet, Dependencies, Environment, Group, Input, Package,
    PackageOptions, Scriptlets, Step, Subpackage, TestSection, Text, User, VarTransform,
};
use super::schema;
use super::yaml::{Key, Node, Value};

/// Decode a parsed build file.
pub fn decode(root: &Node) -> LResult<Config> {
    schema::validate(root, &schema::ROOT, "the build file")?;
    let top = Fields::new(root, "the build file")?;
    let package = match top.get("package") {
        Some(node) => decode_package(node)?,
        None => return Err(Located::new(root.pos, "missing required key `package`")),
    };
    let subpackages = top
        .get("subpackages")
        .map(|node| {
            list(node)
                .iter()
                .map(decode_subpackage)
                .collect::<LResult<_>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(Config {
        package,
        environment: top
            .get("environment")
            .map(decode_environment)
            .transpose()?
            .unwrap_or_default(),
        pipeline: top
            .get("pipeline")
            .map(decode_steps)
            .transpose()?
            .unwrap_or_default(),
        subpackages,
        vars: top.get("vars").map(pairs).unwrap_or_default(),
        var_transforms: top
            .get("var-transforms")
            .map(|node| {
                list(node)
                    .iter()
                    .map(decode_var_transform)
                    .collect::<LResult<_>>()
            })
            .transpose()?
            .unwrap_or_default(),
        data: top
            .get("data")
            .map(|node| list(node).iter().map(decode_data).collect::<LResult<_>>())
            .transpose()?
            .unwrap_or_default(),
        build_options: top
            .get("options")
            .map(decode_build_options)
            .unwrap_or_default(),
        test: top.get("test").map(decode_test).transpose()?,
        capabilities: top
            .get("capabilities")
            .map(|node| Capabilities {
                add: descend(node, &["add"]).map(text_list).unwrap_or_default(),
                drop: descend(node, &["drop"]).map(text_list).unwrap_or_default(),
            })
            .unwrap_or_default(),
    })
}

/// Decode a pipeline file (the target of `uses:`): one step, usually with
/// `inputs:` and nested `pipeline:` steps.
pub fn decode_pipeline_file(root: &Node) -> LResult<Step> {
    schema::validate(root, &schema::PIPELINE_FILE, "the pipeline file")?;
    decode_step(root)
}

fn decode_package(node: &Node) -> LResult<Package> {
    let fields = Fields::new(node, "package")?;
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
        .text("epoch")
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
    let description = fields.text("description").unwrap_or_default();
    if let Some(timeout) = fields.text("timeout").filter(|t| !t.value.is_empty()) {
        validate_duration(&timeout)?;
    }
    let licenses = fields
        .get("copyright")
        .map(|node| {
            list(node)
                .iter()
                .filter_map(|entry| Fields::new(entry, "copyright entry").ok())
                .filter_map(|entry| entry.text("license"))
                .collect()
        })
        .unwrap_or_default();
    Ok(Package {
        name,
        version,
        epoch,
        description,
        url: fields.text("url").unwrap_or_default(),
        commit: fields.text("commit").unwrap_or_default(),
        licenses,
        dependencies: decode_dependencies(&fields)?,
        scriptlets: decode_scriptlets(&fields)?,
        options: decode_package_options(&fields)?,
    })
}

fn decode_dependencies(parent: &Fields) -> LResult<Dependencies> {
    let Some(node) = parent.get("dependencies") else {
        return Ok(Dependencies::default());
    };
    let fields = Fields::new(node, "dependencies")?;
    let priority = |key: &str| -> LResult<Option<Text>> {
        let Some(text) = fields.text(key).filter(|t| !t.value.is_empty()) else {
            return Ok(None);
        };
        // A variable is checked once it is replaced. melange accepts any
        // integer Go's `strconv.Atoi` reads, negative ones included.
        if !text.value.contains("${{") && text.value.parse::<i64>().is_err() {
            return Err(Located::new(
                text.pos,
                format!(
                    "dependencies.{key} must be an integer, got {:?}",
                    text.value
                ),
            ));
        }
        Ok(Some(text))
    };
    let texts = |key: &str| fields.get(key).map(text_list).unwrap_or_default();
    Ok(Dependencies {
        runtime: texts("runtime"),
        provides: texts("provides"),
        replaces: texts("replaces"),
        provider_priority: priority("provider-priority")?,
        replaces_priority: priority("replaces-priority")?,
    })
}

fn decode_scriptlets(parent: &Fields) -> LResult<Scriptlets> {
    let Some(node) = parent.get("scriptlets") else {
        return Ok(Scriptlets::default());
    };
    let fields = Fields::new(node, "scriptlets")?;
    let mut scriptlets = Scriptlets::default();
    for (key, value) in fields.entries {
        if key.text == "trigger" {
            let trigger = Fields::new(value, "scriptlets.trigger")?;
            scriptlets.trigger_script = trigger.text("script").filter(|t| !t.value.is_empty());
            scriptlets.trigger_paths = trigger.get("paths").map(text_list).unwrap_or_default();
        } else {
            let script = scalar(value);
            if !script.value.is_empty() {
                scriptlets.scripts.push((key.text.clone(), script));
            }
        }
    }
    Ok(scriptlets)
}

fn decode_package_options(parent: &Fields) -> LResult<PackageOptions> {
    let Some(node) = parent.get("options") else {
        return Ok(PackageOptions::default());
    };
    let fields = Fields::new(node, "options")?;
    let flag = |key: &str| -> LResult<bool> {
        match fields.text(key) {
            None => Ok(false),
            Some(text) => match text.value.as_str() {
                "true" => Ok(true),
                "false" | "" => Ok(false),
                other => Err(Located::new(
                    text.pos,
                    format!("options.{key} must be true or false, got {other:?}"),
                )),
            },
        }
    };
    Ok(PackageOptions {
        no_provides: flag("no-provides")?,
        no_depends: flag("no-depends")?,
        no_commands: flag("no-commands")?,
        no_versioned_shlib_deps: flag("no-versioned-shlib-deps")?,
    })
}

/// `package.timeout` as melange reads it: a Go duration (`2h`, `1h30m`,
/// `90s`) or a bare integer.
fn validate_duration(text: &Text) -> LResult<()> {
    let value = text.value.trim();
    let bad = || {
        Located::new(
            text.pos,
            format!(
                "package.timeout must be a duration like \"2h\", \"45m\" or \"1h30m\", got {:?}",
                text.value
            ),
        )
    };
    if value.parse::<u64>().is_ok() {
        return Ok(());
    }
    let mut rest = value.strip_prefix(['+', '-']).unwrap_or(value);
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let number = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (digits, tail) = rest.split_at(number);
        if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
            return Err(bad());
        }
        let unit = ["ns", "us", "µs", "μs", "ms", "s", "m", "h"]
            .into_iter()
            .filter(|u| tail.starts_with(u))
            .max_by_key(|u| u.len())
            .ok_or_else(bad)?;
        rest = &tail[unit.len()..];
    }
    Ok(())
}

/// melange's rule: `^[a-zA-Z\d][a-zA-Z\d+_.-]*$`.
pub fn valid_package_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c))
}

/// [`valid_package_name`] as an error at the name's position.
pub fn validate_package_name(name: &Text) -> LResult<()> {
    if valid_package_name(&name.value) {
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
    let fields = Fields::new(node, "environment")?;
    let contents = fields
        .get("contents")
        .map(|n| Fields::new(n, "contents"))
        .transpose()?;
    let accounts = fields
        .get("accounts")
        .map(|n| Fields::new(n, "accounts"))
        .transpose()?;
    Ok(Environment {
        env: fields
            .get("environment")
            .map(string_map)
            .unwrap_or_default(),
        packages: contents
            .as_ref()
            .and_then(|c| c.get("packages"))
            .map(text_list)
            .unwrap_or_default(),
        run_as: accounts
            .as_ref()
            .and_then(|a| a.text("run-as"))
            .filter(|t| !t.value.is_empty()),
        repositories: contents
            .as_ref()
            .and_then(|c| c.get("repositories"))
            .map(text_list)
            .unwrap_or_default(),
        keyring: contents
            .as_ref()
            .and_then(|c| c.get("keyring"))
            .map(text_list)
            .unwrap_or_default(),
        users: accounts
            .as_ref()
            .and_then(|a| a.get("users"))
            .map(|n| list(n).iter().map(decode_user).collect())
            .transpose()?
            .unwrap_or_default(),
        groups: accounts
            .as_ref()
            .and_then(|a| a.get("groups"))
            .map(|n| list(n).iter().map(decode_group).collect())
            .transpose()?
            .unwrap_or_default(),
    })
}

fn decode_user(node: &Node) -> LResult<User> {
    let fields = Fields::new(node, "accounts user")?;
    Ok(User {
        username: fields.required_text("username")?,
        uid: fields.text("uid"),
        gid: fields.text("gid"),
        shell: fields.text("shell"),
        homedir: fields.text("homedir"),
    })
}

fn decode_group(node: &Node) -> LResult<Group> {
    let fields = Fields::new(node, "accounts group")?;
    Ok(Group {
        groupname: fields.required_text("groupname")?,
        gid: fields.text("gid"),
        members: fields.get("members").map(text_list).unwrap_or_default(),
    })
}

fn decode_steps(node: &Node) -> LResult<Vec<Step>> {
    list(node).iter().map(decode_step).collect()
}

fn decode_step(node: &Node) -> LResult<Step> {
    let fields = Fields::new(node, "pipeline step")?;
    let runs = fields.text("runs");
    let uses = fields.text("uses");
    let with = fields.get("with").map(string_map).unwrap_or_default();
    let pipeline = fields
        .get("pipeline")
        .map(decode_steps)
        .transpose()?
        .unwrap_or_default();
    if let (Some(uses), Some(runs)) = (&uses, &runs) {
        return Err(Located::new(
            runs.pos,
            format!("a step cannot have both `uses: {}` and `runs:`", uses.value),
        ));
    }
    if let Some((key, _)) = fields.entry("with") {
        if uses.is_none() {
            return Err(Located::new(
                key.pos,
                "`with:` needs `uses:` in the same step",
            ));
        }
    }
    // A step with neither `runs:`, `uses:` nor `pipeline:` (often a lone
    // `name:`) is a no-op that melange accepts; so do we.
    let needs = fields
        .get("needs")
        .and_then(|n| Fields::new(n, "needs").ok())
        .and_then(|n| n.get("packages"))
        .map(text_list)
        .unwrap_or_default();
    Ok(Step {
        pos: node.pos,
        name: fields.text("name"),
        runs,
        working_directory: fields.text("working-directory"),
        environment: fields
            .get("environment")
            .map(string_map)
            .unwrap_or_default(),
        pipeline,
        uses,
        with,
        condition: fields.text("if"),
        needs,
        inputs: fields.get("inputs").map(decode_inputs).unwrap_or_default(),
        required_steps: fields
            .get("assertions")
            .and_then(|n| Fields::new(n, "assertions").ok())
            .and_then(|n| n.text("required-steps")),
    })
}

fn decode_test(node: &Node) -> LResult<TestSection> {
    Ok(TestSection {
        environment: descend(node, &["environment"])
            .map(decode_environment)
            .transpose()?
            .unwrap_or_default(),
        pipeline: descend(node, &["pipeline"])
            .map(decode_steps)
            .transpose()?
            .unwrap_or_default(),
    })
}

fn decode_build_options(node: &Node) -> Vec<BuildOption> {
    let Value::Map(entries) = &node.value else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|(key, value)| {
            let packages = |which: &str| {
                descend(value, &["environment", "contents", "packages", which])
                    .map(text_list)
                    .unwrap_or_default()
            };
            BuildOption {
                name: Text::new(key.text.clone(), key.pos),
                vars: descend(value, &["vars"]).map(pairs).unwrap_or_default(),
                add: packages("add"),
                remove: packages("remove"),
            }
        })
        .collect()
}

/// The node at `path` below `node`, through nested mappings.
fn descend<'a>(node: &'a Node, path: &[&str]) -> Option<&'a Node> {
    path.iter().try_fold(node, |node, key| match &node.value {
        Value::Map(entries) => entries.iter().find(|(k, _)| k.text == *key).map(|(_, v)| v),
        _ => None,
    })
}

fn decode_inputs(node: &Node) -> Vec<(Text, Input)> {
    let Value::Map(entries) = &node.value else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|(key, value)| {
            let fields = Fields::new(value, "input").ok();
            let field = |name: &str| fields.as_ref().and_then(|f| f.text(name));
            let input = Input {
                default: field("default"),
                required: field("required").is_some_and(|r| r.value == "true"),
            };
            (Text::new(key.text.clone(), key.pos), input)
        })
        .collect()
}

fn decode_subpackage(node: &Node) -> LResult<Subpackage> {
    let fields = Fields::new(node, "subpackage")?;
    let name = fields.required_text("name")?;
    // melange: an empty `range:` is no range.
    let range = fields.text("range").filter(|r| !r.value.is_empty());
    // A name using variables is checked once they are replaced.
    if !name.value.contains("${{") {
        validate_package_name(&name)?;
    }
    Ok(Subpackage {
        pos: node.pos,
        name,
        description: fields.text("description").unwrap_or_default(),
        pipeline: fields
            .get("pipeline")
            .map(decode_steps)
            .transpose()?
            .unwrap_or_default(),
        condition: fields.text("if"),
        range,
        url: fields.text("url").unwrap_or_default(),
        commit: fields.text("commit").unwrap_or_default(),
        dependencies: decode_dependencies(&fields)?,
        scriptlets: decode_scriptlets(&fields)?,
        options: decode_package_options(&fields)?,
        test: fields.get("test").map(decode_test).transpose()?,
    })
}

fn decode_var_transform(node: &Node) -> LResult<VarTransform> {
    let fields = Fields::new(node, "var-transforms entry")?;
    Ok(VarTransform {
        from: fields.required_text("from")?,
        pattern: fields.required_text("match")?,
        replace: fields
            .text("replace")
            .unwrap_or_else(|| Text::new("", node.pos)),
        to: fields.required_text("to")?,
    })
}

fn decode_data(node: &Node) -> LResult<DataSet> {
    let fields = Fields::new(node, "data entry")?;
    Ok(DataSet {
        name: fields.required_text("name")?,
        items: fields.get("items").map(pairs).unwrap_or_default(),
    })
}

/// A mapping whose keys the schema already checked.
struct Fields<'a> {
    entries: &'a [(Key, Node)],
    pos: Pos,
    what: &'a str,
}

impl<'a> Fields<'a> {
    fn new(node: &'a Node, what: &'a str) -> LResult<Self> {
        let entries = match &node.value {
            Value::Map(entries) => entries.as_slice(),
            Value::Null => &[],
            _ => {
                return Err(Located::new(
                    node.pos,
                    format!("{what} must be a mapping, found {}", node.kind()),
                ))
            }
        };
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

    fn text(&self, key: &str) -> Option<Text> {
        self.get(key).map(scalar)
    }

    fn required_text(&self, key: &str) -> LResult<Text> {
        self.text(key).ok_or_else(|| {
            Located::new(
                self.pos,
                format!("missing required key `{key}` in {}", self.what),
            )
        })
    }
}

/// A scalar as raw text; null (and, defensively, any other shape) is "".
fn scalar(node: &Node) -> Text {
    match &node.value {
        Value::Scalar(s) => Text::new(s.clone(), node.pos),
        _ => Text::new("", node.pos),
    }
}

fn list(node: &Node) -> &[Node] {
    match &node.value {
        Value::Seq(items) => items,
        _ => &[],
    }
}

fn text_list(node: &Node) -> Vec<Text> {
    list(node).iter().map(scalar).collect()
}

/// A mapping's entries as (key, scalar value) texts, in file order.
fn pairs(node: &Node) -> Vec<(Text, Text)> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .map(|(key, value)| (Text::new(key.text.clone(), key.pos), scalar(value)))
            .collect(),
        _ => Vec::new(),
    }
}

fn string_map(node: &Node) -> BTreeMap<String, Text> {
    pairs(node).into_iter().map(|(k, v)| (k.value, v)).collect()
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
