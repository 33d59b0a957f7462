//! The source dir: the part of the build context that becomes the workspace
//! (melange's `--source-dir`), and `.melangeignore`, melange's list of files
//! left out of it. Pure: the gateway reads the context and hands the facts
//! (does the folder exist, what does the ignore file say) to these
//! functions, so only the source dir is transferred and a change elsewhere in
//! the context does not invalidate the workspace.

use super::options::BuildOptions;

/// Build-arg naming the source dir (melange's `--source-dir`), relative to
/// the build context.
pub const SOURCE_DIR_ARG: &str = "MELANGE_SOURCE_DIR";
/// melange's ignore file, read from the source dir's top.
pub const IGNORE_FILE: &str = ".melangeignore";

/// What the workspace is made of: a folder of the build context (or all of
/// it) minus some paths. Both relative to the context's root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceDir {
    /// The folder, without `./` or a trailing `/`; `None`: the whole context.
    pub dir: Option<String>,
    /// BuildKit exclude patterns (relative to the context's root) from the
    /// source dir's `.melangeignore`.
    pub excludes: Vec<String>,
}

impl SourceDir {
    /// The path of the ignore file in the context.
    pub fn ignore_file(dir: Option<&str>) -> String {
        match dir {
            Some(dir) => format!("{dir}/{IGNORE_FILE}"),
            None => IGNORE_FILE.to_string(),
        }
    }

    /// `dir` with the ignore file's rules, if it had one.
    pub fn new(dir: Option<String>, ignore_text: Option<&str>) -> Self {
        let excludes = ignore_text
            .map(|text| ignore_patterns(text, dir.as_deref()))
            .unwrap_or_default();
        SourceDir { dir, excludes }
    }
}

/// The folder `MELANGE_SOURCE_DIR` names: `Ok(None)` when not given, `Ok(Some(None))`
/// for the whole context (`.`), else the folder. Absolute paths and `..`
/// are refused: the source dir is part of the context.
pub fn source_dir_arg(options: &BuildOptions) -> Result<Option<Option<String>>, String> {
    let Some(raw) = options.build_args.get(SOURCE_DIR_ARG) else {
        return Ok(None);
    };
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.starts_with('/') {
        return Err(format!(
            "build-arg {SOURCE_DIR_ARG}={value}: must be a folder of the build context, \
             not an absolute path"
        ));
    }
    if value.contains(['*', '?', '[', '\\']) {
        return Err(format!(
            "build-arg {SOURCE_DIR_ARG}={value}: a folder name, not a pattern (`*`, `?`, `[`, `\\`)"
        ));
    }
    let mut parts = Vec::new();
    for part in value.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                "build-arg {SOURCE_DIR_ARG}={value}: must stay inside the build context (no `..`)"
            ))
            }
            part => parts.push(part),
        }
    }
    Ok(Some((!parts.is_empty()).then(|| parts.join("/"))))
}

/// Whether the package name can be the default source dir (`./<name>/`):
/// one path component.
pub fn default_dir_name(package: &str) -> Option<String> {
    let usable = !package.is_empty()
        && package != "."
        && package != ".."
        && !package.contains(['/', '\\', '*', '?', '[', '!'])
        && !package.chars().any(char::is_control);
    usable.then(|| package.to_string())
}

/// `.melangeignore` as BuildKit exclude patterns, rooted at the context.
///
/// melange reads it with xignore: `#` lines and blank lines are skipped,
/// each line is trimmed and cleaned (`./`, `//`, trailing `/` and a leading
/// `/` dropped), and a file is left out when a rule matches its path from
/// the source dir's top or its base name, `*`/`?` not crossing `/` and `**`
/// crossing any number of folders. So a rule without `/` (`*.o`) becomes
/// two patterns, one at the top and one at any depth (`**/*.o`), and a rule
/// with `/` stays anchored. A `!rule` re-includes what earlier rules left
/// out, as in `.dockerignore` (melange's matcher would treat it as one more
/// rule; re-including is what the syntax says).
pub fn ignore_patterns(text: &str, dir: Option<&str>) -> Vec<String> {
    let prefix = dir.map(|d| format!("{d}/")).unwrap_or_default();
    let mut patterns = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = match index {
            0 => line.trim_start_matches('\u{feff}'),
            _ => line,
        };
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        let (negate, rule) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let Some(rule) = clean(rule) else {
            continue;
        };
        let bang = if negate { "!" } else { "" };
        patterns.push(format!("{bang}{prefix}{rule}"));
        if !rule.contains('/') {
            patterns.push(format!("{bang}{prefix}**/{rule}"));
        }
    }
    patterns
}

/// Go's `filepath.Clean` on a rule, then the leading `/` dropped; `None`
/// for a rule that matches nothing inside the source dir (empty, `.`, or
/// climbing out with `..`).
fn clean(rule: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in rule.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(value: &str) -> BuildOptions {
        let mut options = BuildOptions::default();
        options
            .build_args
            .insert(SOURCE_DIR_ARG.to_string(), value.to_string());
        options
    }

    #[test]
    fn the_build_arg_is_a_folder_of_the_context() {
        assert_eq!(source_dir_arg(&BuildOptions::default()), Ok(None));
        assert_eq!(source_dir_arg(&options(" ")), Ok(None));
        assert_eq!(source_dir_arg(&options(".")), Ok(Some(None)));
        assert_eq!(source_dir_arg(&options("./")), Ok(Some(None)));
        assert_eq!(
            source_dir_arg(&options("./src//hello/")),
            Ok(Some(Some("src/hello".to_string())))
        );
        let absolute = source_dir_arg(&options("/etc")).unwrap_err();
        assert!(absolute.contains("MELANGE_SOURCE_DIR=/etc"), "{absolute}");
        let climbing = source_dir_arg(&options("a/../../b")).unwrap_err();
        assert!(climbing.contains("no `..`"), "{climbing}");
        let pattern = source_dir_arg(&options("src/*")).unwrap_err();
        assert!(pattern.contains("not a pattern"), "{pattern}");
    }

    #[test]
    fn package_names_that_are_not_one_folder_are_not_source_dirs() {
        assert_eq!(default_dir_name("hello"), Some("hello".to_string()));
        assert_eq!(default_dir_name("py3.12-foo"), Some("py3.12-foo".into()));
        for bad in ["", ".", "..", "a/b", "a*", "x[1]", "!x"] {
            assert_eq!(default_dir_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn rules_without_a_slash_match_at_any_depth_rules_with_one_are_anchored() {
        let text = "\u{feff}# build outputs\n\n*.o\n  build/  \n/docs/*.md\n./a//b/./c\n";
        assert_eq!(
            ignore_patterns(text, None),
            ["*.o", "**/*.o", "build", "**/build", "docs/*.md", "a/b/c"]
        );
    }

    #[test]
    fn rules_are_rooted_at_the_source_dir() {
        assert_eq!(
            ignore_patterns("secret.txt\nsub/x\n", Some("hello")),
            ["hello/secret.txt", "hello/**/secret.txt", "hello/sub/x"]
        );
    }

    #[test]
    fn negations_re_include_and_rules_leaving_the_dir_are_dropped() {
        assert_eq!(
            ignore_patterns("*.log\n! keep.log\n../outside\n.\n/\n!\n", Some("p")),
            ["p/*.log", "p/**/*.log", "!p/keep.log", "!p/**/keep.log"]
        );
        // `a/..` is the dir itself: nothing to leave out.
        assert!(ignore_patterns("a/..\n", None).is_empty());
    }

    #[test]
    fn a_comment_must_start_the_line() {
        assert_eq!(ignore_patterns(" #x\n", None), ["#x", "**/#x"]);
    }

    #[test]
    fn source_dir_new_and_ignore_file_paths() {
        assert_eq!(SourceDir::ignore_file(None), ".melangeignore");
        assert_eq!(SourceDir::ignore_file(Some("p")), "p/.melangeignore");
        let dir = SourceDir::new(Some("p".into()), Some("x/y\n"));
        assert_eq!(dir.excludes, ["p/x/y"]);
        assert_eq!(SourceDir::new(None, None), SourceDir::default());
    }
}
