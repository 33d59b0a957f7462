//! melange's `--env-file`: `KEY=VALUE` lines (dotenv style) whose variables
//! go under the build file's `environment.environment`.

use std::collections::BTreeMap;

use crate::config::{ConfigError, Pos};

use super::options::ContextFile;

/// Parse an env file: blank lines and `#` comments are skipped, `export `
/// is allowed, values may be quoted ('…' literally, "…" with `\n`, `\"`,
/// `\\` escapes); anything else is an error at its line.
pub fn parse(file: &ContextFile) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut vars = BTreeMap::new();
    for (index, raw) in file.text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |message: String| ConfigError {
            file: file.file.clone(),
            pos: Pos {
                line: index + 1,
                col: 1,
            },
            message,
        };
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once('=') else {
            return Err(fail(format!("expected KEY=VALUE, found {line:?}")));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        {
            return Err(fail(format!("invalid variable name {key:?}")));
        }
        vars.insert(key.to_string(), unquote(value.trim()).map_err(fail)?);
    }
    Ok(vars)
}

fn unquote(value: &str) -> Result<String, String> {
    let quoted = |q: char| value.len() >= 2 && value.starts_with(q) && value.ends_with(q);
    if quoted('\'') {
        return Ok(value[1..value.len() - 1].to_string());
    }
    if quoted('"') {
        let inner = &value[1..value.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        }
        return Ok(out);
    }
    if value.starts_with(['"', '\'']) {
        return Err(format!("unterminated quote in {value:?}"));
    }
    // Unquoted: an inline comment starts at " #".
    let value = value.split(" #").next().unwrap_or(value).trim_end();
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ContextFile {
        ContextFile {
            file: "build.env".into(),
            text: text.into(),
        }
    }

    #[test]
    fn dotenv_lines() {
        let vars = parse(&file(
            "# comment\n\nA=1\nexport B = two words # note\nC='x y'\nD=\"a\\nb\"\nE=\n",
        ))
        .unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["C"], "x y");
        assert_eq!(vars["D"], "a\nb");
        assert_eq!(vars["E"], "");
    }

    #[test]
    fn bad_lines_are_located() {
        let err = parse(&file("A=1\nnonsense\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "build.env:2:1: expected KEY=VALUE, found \"nonsense\""
        );
        let err = parse(&file("A='open\n")).unwrap_err();
        assert!(err.message.contains("unterminated quote"));
    }
}
