//! The interpreter a script's `#!` line names, read the way melange reads
//! it: from the first 80 bytes, `/usr/bin/env NAME` and
//! `/usr/bin/env -S NAME …` naming NAME, and interpreters that no package
//! provides as a `cmd:` (symlinks such as `sh` or `python3`, or ambiguous
//! ones such as `luajit`) ignored.

use std::io::Read;

/// Bytes of a file melange looks at for a `#!` line.
const HEAD: usize = 80;

/// Interpreter base names that never become a `cmd:` depend.
const IGNORED: [&str; 5] = ["python3", "python", "sh", "awk", "luajit"];

/// The interpreter named by the `#!` line at the start of `reader`, as
/// written (a path or, through `env`, a bare name): `Ok(None)` for a file
/// without one or with an ignored interpreter, `Err` (a reason, which
/// melange only warns about) for an `env` line it cannot read.
pub(super) fn interpreter(
    reader: &mut impl Read,
) -> std::io::Result<Result<Option<String>, String>> {
    let mut buf = Vec::with_capacity(HEAD);
    reader.take(HEAD as u64).read_to_end(&mut buf)?;
    Ok(parse(&buf))
}

/// [`interpreter`] on bytes already read (at most the first 80 count).
pub(super) fn parse(head: &[u8]) -> Result<Option<String>, String> {
    let head = &head[..head.len().min(HEAD)];
    if head.len() < 2 || !head.starts_with(b"#!") {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&head[2..]);
    let line = match line.find('\n') {
        Some(end) => &line[..end],
        None => &line[..],
    };
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let Some(&first) = tokens.first() else {
        return Ok(None);
    };
    let mut bin = first;
    if bin == "/usr/bin/env" {
        bin = match tokens.len() {
            1 => return Err("a shbang of only '/usr/bin/env'".to_string()),
            2 => tokens[1],
            _ if tokens[1] == "-S" && !tokens[2].starts_with('-') => tokens[2],
            n => {
                return Err(format!(
                    "a shbang of only '/usr/bin/env' with multiple arguments ({n} {})",
                    tokens.join(" ")
                ))
            }
        };
    }
    if IGNORED.contains(&super::fsys::base(bin)) {
        return Ok(None);
    }
    Ok(Some(bin.to_string()))
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn ok(content: &str) -> Option<String> {
        parse(content.as_bytes()).unwrap_or_else(|e| panic!("{content:?}: {e}"))
    }

    /// melange's own table of cases (pkg/sca TestGetShbang).
    #[test]
    fn melange_cases() {
        assert_eq!(ok("#!/usr/bin/env bash\n").as_deref(), Some("bash"));
        assert_eq!(
            ok("#!/usr/bin/env python3.12\nwith open...\n").as_deref(),
            Some("python3.12")
        );
        assert_eq!(ok("#!/bin/sh\necho hi world\n"), None);
        assert_eq!(
            ok("#!/bin/dash\necho hi world\n").as_deref(),
            Some("/bin/dash")
        );
        assert_eq!(
            ok("#!/usr/bin/env -S bash -x\necho hi world\n").as_deref(),
            Some("bash")
        );
        let err = parse(b"#!/usr/bin/env bash -x\necho hi world\n").unwrap_err();
        assert!(err.contains("multiple arguments"), "{err}");
        assert_eq!(ok("cs101 assignment"), None);
        assert_eq!(ok("#!/usr/bin/perl").as_deref(), Some("/usr/bin/perl"));
        assert_eq!(ok("#!   \n"), None);
        assert_eq!(ok("#!\t\n"), None);
        assert_eq!(ok("#!\n"), None);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(ok(""), None);
        assert_eq!(ok("#"), None);
        assert_eq!(ok("#!/usr/bin/env luajit\n"), None);
        assert!(parse(b"#!/usr/bin/env\n").is_err());
        // Only the first 80 bytes count: a line cut there still names its
        // interpreter.
        let long = format!("#!/opt/{}/bin/tool\n", "x".repeat(100));
        assert_eq!(ok(&long).as_deref(), Some(&long[2..80]));
        // Not UTF-8 is no reason to fail.
        assert_eq!(
            parse(b"#!/usr/bin/p\xffl\n").unwrap().as_deref(),
            Some("/usr/bin/p\u{fffd}l")
        );
    }
}
