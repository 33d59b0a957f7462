//! The rules for every value that reaches a package's metadata: `.PKGINFO`,
//! the index record made from it, the SBOM and the file name. Each value is
//! checked where the build file writes it, after substitution, so a value
//! brought in by `${{vars.*}}`, `${{range.*}}` or a build-arg is refused at
//! the `${{…}}` that brought it. A line break would add lines to `.PKGINFO`
//! and forge records in the index; a space splits a dependency list entry
//! in two. [`check_spec`] repeats the rules on the finished spec for the
//! packaging step (and the writers in `apk` refuse line breaks again).

use crate::apk::constraint::{Dependency, Provide};
use crate::apk::pkginfo::describe_char;
use crate::apk::version;
use crate::config::decode::valid_package_name;
use crate::config::error::{LResult, Located};
use crate::config::subst::{parts, substitute, substitute_known, Part, Vars};
use crate::config::Text;

use super::packaging::{PackageSpec, PackagingSpec};

/// What a metadata value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// One line of text (`url`, `commit`, a license): no control characters.
    Line,
    /// Text folded onto one line (`description`): line breaks and tabs
    /// become spaces, other control characters are refused.
    Folded,
    /// One apk dependency atom (`runtime`, `replaces`): `[!]name[op version]`.
    Depend,
    /// One provides entry: `name[=version]`.
    Provide,
    /// One word of a space-separated list (a trigger path).
    Word,
    /// A package name as melange validates it.
    Name,
}

/// `text` substituted with `vars`, checked against `rule`; errors name
/// `what` and point at the offending spot. Surrounding white space is
/// dropped (a name keeps it, and is refused for it, as melange does); a
/// folded value has its white space runs made single spaces.
pub fn value(text: &Text, vars: &Vars, what: &str, rule: Rule) -> LResult<String> {
    checked(text, vars, substitute(text, vars)?, what, rule)
}

/// [`value`] for the fields melange substitutes leniently (descriptions,
/// URLs): a `${{…}}` it does not know stays as written, then the same rules.
pub fn lenient_value(text: &Text, vars: &Vars, what: &str, rule: Rule) -> LResult<String> {
    checked(text, vars, substitute_known(text, vars)?, what, rule)
}

fn checked(text: &Text, vars: &Vars, full: String, what: &str, rule: Rule) -> LResult<String> {
    let (value, lead) = match rule {
        Rule::Name => (full.as_str(), 0),
        _ => (full.trim(), full.len() - full.trim_start().len()),
    };
    check(text, vars, value, lead, what, rule)?;
    Ok(match rule {
        Rule::Folded => value.split_whitespace().collect::<Vec<_>>().join(" "),
        _ => value.to_string(),
    })
}

/// Check `value`, which is the substitution of `text` from byte `lead` on.
pub fn check(
    text: &Text,
    vars: &Vars,
    value: &str,
    lead: usize,
    what: &str,
    rule: Rule,
) -> LResult<()> {
    let bad = value.char_indices().find(|(_, c)| match rule {
        Rule::Line => c.is_control(),
        Rule::Folded => c.is_control() && !c.is_whitespace(),
        _ => c.is_control() || c.is_whitespace(),
    });
    if let Some((at, c)) = bad {
        let (offset, via) = blame(text, vars, lead + at);
        let hint = match rule {
            Rule::Depend | Rule::Provide if c == ' ' => ": write one entry per list item",
            _ => "",
        };
        return Err(Located::inside(
            text,
            offset,
            format!("{what} {value:?} contains {}{via}{hint}", describe_char(c)),
        ));
    }
    let problem = match rule {
        Rule::Line | Rule::Folded | Rule::Word => None,
        Rule::Depend => Dependency::parse_index(value).err().map(|e| e.reason),
        Rule::Provide => Provide::parse(value).err().map(|e| e.reason),
        Rule::Name => (!valid_package_name(value)).then(|| NAME_RULE.to_string()),
    };
    match problem {
        None => Ok(()),
        Some(reason) => Err(Located::new(
            text.pos,
            format!("{what} {value:?} is not {}: {reason}", rule_noun(rule)),
        )),
    }
}

/// melange's package name rule, in words.
pub const NAME_RULE: &str =
    "it must start with a letter or digit and contain only letters, digits and + _ . -";

fn rule_noun(rule: Rule) -> &'static str {
    match rule {
        Rule::Depend => "one apk dependency",
        Rule::Provide => "one apk provides entry",
        Rule::Name => "a valid package name",
        Rule::Line | Rule::Folded | Rule::Word => "valid",
    }
}

/// Where byte `at` of `text`'s substituted value comes from: its offset in
/// the raw text (the `${{` of the variable that brought it in, or the
/// character itself) and, for a variable, words naming it.
fn blame(text: &Text, vars: &Vars, at: usize) -> (usize, String) {
    let Ok(pieces) = parts(text) else {
        return (0, String::new());
    };
    let raw = text.value.as_ptr() as usize;
    let mut made = 0;
    for piece in pieces {
        match piece {
            Part::Literal(literal) => {
                if at < made + literal.len() {
                    return (literal.as_ptr() as usize - raw + (at - made), String::new());
                }
                made += literal.len();
            }
            Part::Variable { name, at: start } => {
                made += vars.get(name).map_or(0, String::len);
                if at < made {
                    return (start, format!(" (brought in by `${{{{{name}}}}}`)"));
                }
            }
        }
    }
    (0, String::new())
}

/// `package.version` with `package.epoch`: `<version>-r<epoch>` must be a
/// valid apk version (apk-tools' grammar, the one `apk::version` orders),
/// or the index and every resolver would misorder or refuse it.
pub fn check_version(version: &Text, epoch: &str) -> LResult<()> {
    let vars = Vars::new();
    check(
        version,
        &vars,
        &version.value,
        0,
        "package.version",
        Rule::Word,
    )?;
    if version::is_valid(&format!("{}-r{epoch}", version.value)) {
        return Ok(());
    }
    Err(Located::new(
        version.pos,
        format!(
            "package.version {:?} is not a valid apk version: digits separated by dots, then \
             an optional letter, `_alpha`/`_beta`/`_pre`/`_rc`/`_p`…-style suffixes each with \
             an optional number, and an optional `~hash` (the `-r{epoch}` comes from package.epoch)",
            version.value
        ),
    ))
}

/// Repeat the rules on a finished spec: what the packaging step refuses to
/// write whatever made the spec.
pub fn check_spec(spec: &PackagingSpec) -> Result<(), String> {
    if spec.arch.is_empty()
        || spec
            .arch
            .contains(|c: char| !c.is_ascii_alphanumeric() && c != '_')
    {
        return Err(format!(
            "architecture {:?} is not an apk architecture name",
            spec.arch
        ));
    }
    if spec.signing_key_name.contains('/') || bad_char(&spec.signing_key_name, true).is_some() {
        return Err(format!(
            "signing key name {:?} is not a file name",
            spec.signing_key_name
        ));
    }
    spec.packages.iter().try_for_each(check_package)
}

fn check_package(package: &PackageSpec) -> Result<(), String> {
    let fail = |key: &str, value: &str, why: String| {
        Err(format!("package {:?}: {key} {value:?} {why}", package.name))
    };
    if !valid_package_name(&package.name) {
        return fail("name", &package.name, NAME_RULE.into());
    }
    if !version::is_valid(&package.version) || !package.version.contains("-r") {
        return fail(
            "version",
            &package.version,
            "is not a valid apk version".into(),
        );
    }
    let lines = [
        ("origin", &package.origin),
        ("description", &package.description),
        ("url", &package.url),
        ("commit", &package.commit),
        ("maintainer", &package.maintainer),
    ];
    let licenses = package.licenses.iter().map(|l| ("license", l));
    for (key, value) in lines.into_iter().chain(licenses) {
        if let Some(c) = bad_char(value, false) {
            return fail(key, value, format!("contains {}", describe_char(c)));
        }
    }
    for (key, list) in [
        ("depend", &package.depends),
        ("provides", &package.provides),
        ("replaces", &package.replaces),
        ("triggers", &package.triggers),
    ] {
        for value in list {
            if let Some(c) = bad_char(value, true) {
                return fail(key, value, format!("contains {}", describe_char(c)));
            }
        }
    }
    Ok(())
}

fn bad_char(value: &str, word: bool) -> Option<char> {
    crate::apk::pkginfo::unsafe_char(value, word)
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
