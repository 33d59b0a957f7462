//! Rules over keys the typed config does not keep: melange's keys this
//! frontend accepts but does not act on, and `update:` metadata.

use crate::config::yaml::{Node, Value};
use crate::plan::apk_arch;

use super::{Finding, Input};

/// Keys (by path from the root; `*` is any list entry) that melange uses
/// and this frontend accepts without acting on them, and what they would do.
const TOLERATED: &[(&[&str], &str)] = &[
    (&["package", "timeout"], "a build time limit"),
    (&["package", "resources"], "resources for the build runner"),
    (
        &["package", "test-resources"],
        "resources for the test runner",
    ),
    (
        &["package", "setcap"],
        "file capabilities set after the build",
    ),
    (&["package", "checks"], "melange's post-build linters"),
    (
        &["subpackages", "*", "setcap"],
        "file capabilities set after the build",
    ),
    (
        &["subpackages", "*", "checks"],
        "melange's post-build linters",
    ),
    (
        &["subpackages", "*", "copyright"],
        "the subpackage's own license (the package's is used)",
    ),
    (
        &["subpackages", "*", "annotations"],
        "annotations of the subpackage",
    ),
    (&["environment", "archs"], "apko image architectures"),
    (&["environment", "paths"], "apko path mutations"),
    (&["environment", "entrypoint"], "an apko image entrypoint"),
    (&["environment", "cmd"], "an apko image command"),
    (&["environment", "stop-signal"], "an apko image stop signal"),
    (
        &["environment", "work-dir"],
        "an apko image working directory",
    ),
    (&["environment", "volumes"], "apko image volumes"),
    (&["environment", "vcs-url"], "an apko image VCS URL"),
    (&["environment", "annotations"], "apko image annotations"),
    (&["environment", "layering"], "apko image layering"),
    (&["environment", "certificates"], "apko certificates"),
    (&["environment", "include"], "an apko include file"),
    (&["environment", "options"], "apko options"),
];

/// Every node at `path` under `node`, with its key's position.
fn at_path<'n>(node: &'n Node, path: &[&str], out: &mut Vec<(crate::config::Pos, &'n Node)>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match (&node.value, *first) {
        (Value::Seq(items), "*") => items.iter().for_each(|item| at_path(item, rest, out)),
        (Value::Map(entries), key) => {
            for (k, v) in entries.iter().filter(|(k, _)| k.text == key) {
                if rest.is_empty() {
                    out.push((k.pos, v));
                } else {
                    at_path(v, rest, out);
                }
            }
        }
        _ => {}
    }
}

pub(super) fn tolerated_keys(input: &Input) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, what) in TOLERATED {
        let mut found = Vec::new();
        at_path(input.root, path, &mut found);
        for (pos, node) in found {
            if matches!(node.value, Value::Null) {
                continue;
            }
            out.push(Finding::at(
                "ToleratedKey",
                pos,
                format!(
                    "`{}` ({what}) is accepted but has no effect in melange-frontend",
                    path.last().copied().unwrap_or_default()
                ),
            ));
        }
    }
    out.extend(target_architecture(input));
    out
}

/// `package.target-architecture` without `all` or the build's architecture:
/// melange would not build this package here; this frontend builds it.
fn target_architecture(input: &Input) -> Option<Finding> {
    let mut found = Vec::new();
    at_path(input.root, &["package", "target-architecture"], &mut found);
    let (pos, node) = found.into_iter().next()?;
    let Value::Seq(items) = &node.value else {
        return None;
    };
    let arch = apk_arch(&input.options.platform);
    let listed: Vec<&str> = items
        .iter()
        .filter_map(|i| match &i.value {
            Value::Scalar(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    let covers = listed.iter().any(|a| {
        *a == "all"
            || *a == arch
            || (*a == "amd64" && arch == "x86_64")
            || (*a == "arm64" && arch == "aarch64")
    });
    (!covers).then(|| {
        Finding::at(
            "ToleratedKey",
            pos,
            format!(
                "`target-architecture: [{}]` leaves out {arch}: melange would skip this build, melange-frontend builds it",
                listed.join(", ")
            ),
        )
    })
}

pub(super) fn update_disabled_without_reason(input: &Input) -> Vec<Finding> {
    let mut enabled = Vec::new();
    at_path(input.root, &["update", "enabled"], &mut enabled);
    let mut reason = Vec::new();
    at_path(input.root, &["update", "exclude-reason"], &mut reason);
    let has_reason = reason
        .iter()
        .any(|(_, n)| matches!(&n.value, Value::Scalar(s) if !s.trim().is_empty()));
    enabled
        .into_iter()
        .filter(|(_, n)| matches!(&n.value, Value::Scalar(s) if s == "false"))
        .filter(|_| !has_reason)
        .map(|(pos, _)| {
            Finding::at(
                "UpdateDisabledWithoutReason",
                pos,
                "updates are disabled without `update.exclude-reason` saying why",
            )
        })
        .collect()
}
