//! `${{name}}` substitution. Unknown variables are errors naming the variable
//! and where it was used: melange's strict compile-time pass.

use super::error::{LResult, Located, Pos};
use super::model::Text;

pub use super::scope::Vars;

/// The most text one substitution may make (1 MiB). Variables defined from
/// variables can double at each step (`b: ${{vars.a}}${{vars.a}}`, and so
/// on), so a page of YAML could otherwise ask for gigabytes; real values
/// are a few kilobytes at most.
pub const MAX_SUBSTITUTED: usize = 1 << 20;

/// The error for a substitution past [`MAX_SUBSTITUTED`].
pub fn too_long(pos: Pos) -> Located {
    Located::new(
        pos,
        format!(
            "`${{{{…}}}}` substitution makes more than {} MiB of text",
            MAX_SUBSTITUTED >> 20
        ),
    )
}

/// Append `value` to `out` unless that passes [`MAX_SUBSTITUTED`].
fn append(out: &mut String, value: &str, pos: Pos) -> LResult<()> {
    if out.len() + value.len() > MAX_SUBSTITUTED {
        return Err(too_long(pos));
    }
    out.push_str(value);
    Ok(())
}

/// Replace every `${{ name }}` in `text` with its value from `vars`.
pub fn substitute(text: &Text, vars: &Vars) -> LResult<String> {
    let mut out = String::with_capacity(text.value.len());
    for part in parts(text)? {
        match part {
            Part::Literal(literal) => out.push_str(literal),
            Part::Variable { name, at } => match vars.get(name) {
                Some(value) => append(&mut out, value, text.pos)?,
                None => {
                    return Err(Located::inside(
                        text,
                        at,
                        format!(
                            "undefined variable `${{{{{name}}}}}`{}",
                            known_hint(name, vars)
                        ),
                    ))
                }
            },
        }
    }
    Ok(out)
}

/// A piece of a scalar's raw text: as written, or one `${{ name }}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    /// Text kept as it is.
    Literal(&'a str),
    /// A variable, trimmed, and the byte offset of its `${{`.
    Variable {
        /// The variable's name.
        name: &'a str,
        /// Where its `${{` starts in the raw text.
        at: usize,
    },
}

/// Split `text` into literal text and `${{…}}` references. A `${{` with no
/// `}}` before the end or before the next `${{` is an error at its own
/// column (it would otherwise swallow the next reference's name).
pub fn parts(text: &Text) -> LResult<Vec<Part<'_>>> {
    let raw = text.value.as_str();
    let mut parts = Vec::new();
    let mut done = 0;
    while let Some(found) = raw[done..].find("${{") {
        let start = done + found;
        let after = &raw[start + 3..];
        let end = after
            .find("}}")
            .filter(|end| !after[..*end].contains("${{"));
        let Some(end) = end else {
            return Err(Located::inside(
                text,
                start,
                "unterminated `${{`: no `}}` closes it",
            ));
        };
        if start > done {
            parts.push(Part::Literal(&raw[done..start]));
        }
        parts.push(Part::Variable {
            name: after[..end].trim(),
            at: start,
        });
        done = start + 3 + end + 2;
    }
    if done < raw.len() {
        parts.push(Part::Literal(&raw[done..]));
    }
    Ok(parts)
}

/// melange's lenient pass (its parse-time `strings.Replacer`, used for
/// descriptions, URLs, scriptlets and step names): replace the variables
/// `vars` knows and keep any other `${{…}}` — an expression such as
/// `${{range.key == "64" && "x" || ""}}`, an undefined name, a missing
/// brace — as written. Scanning resumes right after a kept `${{`, so a
/// known variable after a broken one is still replaced.
pub fn substitute_known(text: &Text, vars: &Vars) -> LResult<String> {
    let mut out = String::with_capacity(text.value.len());
    let mut rest = text.value.as_str();
    while let Some(start) = rest.find("${{") {
        append(&mut out, &rest[..start], text.pos)?;
        let after = &rest[start + 3..];
        let known = after
            .find("}}")
            .and_then(|end| vars.get(after[..end].trim()).map(|v| (end, v)));
        match known {
            Some((end, value)) => {
                append(&mut out, value, text.pos)?;
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("${{");
                rest = after;
            }
        }
    }
    append(&mut out, rest, text.pos)?;
    Ok(out)
}

/// The `${{…}}` texts of `text` that [`substitute_known`] keeps as written
/// (for `--check` and build warnings), in order.
pub fn kept_literally(text: &str, vars: &Vars) -> Vec<String> {
    let mut kept = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        match after.find("}}") {
            Some(end) if vars.get(after[..end].trim()).is_some() => rest = &after[end + 2..],
            Some(end) if !after[..end].contains("${{") => {
                kept.push(format!("${{{{{}}}}}", &after[..end]));
                rest = &after[end + 2..];
            }
            _ => {
                let line_end = after.find(['\n', '$']).unwrap_or(after.len());
                kept.push(format!("${{{{{}", &after[..line_end]));
                rest = &after[line_end..];
            }
        }
    }
    kept
}

fn known_hint(name: &str, vars: &Vars) -> String {
    let prefix = name.split('.').next().unwrap_or_default();
    let same_scope: Vec<&str> = vars
        .names()
        .into_iter()
        .filter(|k| k.split('.').next() == Some(prefix))
        .collect();
    if same_scope.is_empty() {
        String::new()
    } else {
        format!(" (known here: {})", same_scope.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::error::Pos;

    fn vars() -> Vars {
        [
            ("package.name", "hello"),
            ("targets.destdir", "/home/build/melange-out/hello"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn replaces_with_and_without_spaces() {
        let text = Text::new(
            "mkdir ${{targets.destdir}}/bin ${{ package.name }}",
            Pos::default(),
        );
        assert_eq!(
            substitute(&text, &vars()).unwrap(),
            "mkdir /home/build/melange-out/hello/bin hello"
        );
    }

    #[test]
    fn leaves_shell_variables_alone() {
        let text = Text::new("echo ${HOME} $PATH", Pos::default());
        assert_eq!(substitute(&text, &vars()).unwrap(), "echo ${HOME} $PATH");
    }

    #[test]
    fn the_lenient_pass_keeps_unknown_variables() {
        let text = Text::new("${{package.name}}-${{range.key}}", Pos::default());
        assert_eq!(
            substitute_known(&text, &vars()).unwrap(),
            "hello-${{range.key}}"
        );
    }

    #[test]
    fn the_lenient_pass_keeps_expressions_and_broken_braces_as_melange_does() {
        let expr = r#"BLAS${{range.key == "64" && " (ILP64)" || ""}} for ${{package.name}}"#;
        let text = Text::new(expr, Pos::default());
        assert_eq!(
            substitute_known(&text, &vars()).unwrap(),
            r#"BLAS${{range.key == "64" && " (ILP64)" || ""}} for hello"#
        );
        assert_eq!(
            kept_literally(expr, &vars()),
            [r#"${{range.key == "64" && " (ILP64)" || ""}}"#]
        );
        let broken = "docs for ${{package.name} and ${{package.name}}";
        let text = Text::new(broken, Pos::default());
        assert_eq!(
            substitute_known(&text, &vars()).unwrap(),
            "docs for ${{package.name} and hello"
        );
        assert_eq!(kept_literally(broken, &vars()), ["${{package.name} and "]);
        assert_eq!(
            substitute_known(&Text::new("a ${{x", Pos::default()), &vars()).unwrap(),
            "a ${{x"
        );
    }

    #[test]
    fn unknown_variable_is_named_with_position() {
        let text = Text::new("x ${{package.nme}}", Pos { line: 7, col: 12 });
        let err = substitute(&text, &vars()).unwrap_err();
        assert_eq!(err.pos, Pos { line: 7, col: 12 });
        assert_eq!(
            err.message,
            "undefined variable `${{package.nme}}` (known here: package.name)"
        );
    }

    #[test]
    fn unterminated_and_undefined_point_at_their_own_column() {
        let text = Text::new("echo ${{package.name ${{vars.x}}", Pos { line: 2, col: 9 });
        let err = substitute(&text, &vars()).unwrap_err();
        assert_eq!(err.message, "unterminated `${{`: no `}}` closes it");
        assert_eq!(err.within.as_deref(), Some("echo "));
        let text = Text::new("a ${{package.name}} ${{nope}}", Pos { line: 2, col: 9 });
        let err = substitute(&text, &vars()).unwrap_err();
        assert_eq!(err.within.as_deref(), Some("a ${{package.name}} "));
        let err = substitute(&Text::new("x ${{y", Pos::default()), &vars()).unwrap_err();
        assert_eq!(err.within.as_deref(), Some("x "));
    }

    #[test]
    fn substitution_stops_at_one_mebibyte() {
        // Found with the fuzz target (fuzz/, `plan`): 40 vars each twice the
        // one before (1.4 KB of YAML) took more than 3 GB.
        let vars: Vars = [("vars.a".to_string(), "x".repeat(64 << 10))].into();
        let pos = Pos { line: 3, col: 4 };
        let text = Text::new("${{vars.a}}".repeat(16), pos);
        assert_eq!(substitute(&text, &vars).unwrap().len(), MAX_SUBSTITUTED);
        let text = Text::new("${{vars.a}}".repeat(17), pos);
        let err = substitute(&text, &vars).unwrap_err();
        assert_eq!(err.pos, pos);
        assert!(err.message.contains("more than 1 MiB"), "{}", err.message);
        assert!(substitute_known(&text, &vars).is_err());
    }
}
