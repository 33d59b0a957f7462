//! apk versions and dependency atoms on arbitrary text
//! (`apk::version`, `apk::constraint`): the same strings an index, a
//! `.PKGINFO` or a build file's `dependencies` bring in.
//!
//! Input: UTF-8 lines (other inputs are skipped). Every line goes through
//! `is_valid`, the atom parsers (world, index, provide, a whole world line)
//! and, when parsed, back through `Display` to the same atom. The first
//! three non-empty lines are also checked as versions against each other:
//! `compare` must be a total order on them (reflexive, antisymmetric,
//! transitive; the empty version, which apk leaves unordered, is left out),
//! and every operator must accept exactly the orderings it names. A panic
//! or a failed check is a bug.
//!
//! `FUZZ_VERBOSE=1` prints what each line parsed to.

#![no_main]

use std::cmp::Ordering;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use melange_frontend::apk::constraint::{Dependency, Provide, VersionSpec};
use melange_frontend::apk::version;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        atoms(line);
    }
    let versions: Vec<&str> = text.lines().filter(|l| !l.is_empty()).take(3).collect();
    for a in &versions {
        for b in &versions {
            pair(a, b);
            for c in &versions {
                transitive(a, b, c);
            }
        }
    }
});

fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some_and(|v| v == "1"))
}

/// Parse `line` every way an atom is read; what parses prints back as itself.
fn atoms(line: &str) {
    let valid = version::is_valid(line);
    let world = Dependency::parse(line);
    let index = Dependency::parse_index(line);
    let provide = Provide::parse(line);
    let _ =
        Dependency::parse_world(line).map(|w| melange_frontend::apk::constraint::world_file(&w));
    if verbose() {
        eprintln!("{line:?}: valid={valid} world={world:?} index={index:?} provide={provide:?}");
    }
    for dep in [&world, &index].into_iter().flatten() {
        let shown = dep.to_string();
        let again = Dependency::parse(&shown)
            .unwrap_or_else(|e| panic!("{line:?} parsed, its display {shown:?} does not: {e}"));
        assert_eq!(&again, dep, "{line:?} → {shown:?} reads back differently");
        if let VersionSpec::Compare { version, .. } = &dep.spec {
            assert!(
                version::is_valid(version),
                "{line:?}: kept invalid {version:?}"
            );
        }
    }
    if let Ok(provide) = &provide {
        let shown = provide.to_string();
        let again = Provide::parse(&shown)
            .unwrap_or_else(|e| panic!("provide {line:?} → {shown:?} does not read back: {e}"));
        assert_eq!(
            &again, provide,
            "provide {line:?} → {shown:?} reads back differently"
        );
    }
}

/// `compare` on a pair: reflexive and antisymmetric; operators agree with it.
fn pair(a: &str, b: &str) {
    let order = version::compare(a, b);
    assert_eq!(version::compare(a, a), Ordering::Equal, "{a:?} != itself");
    assert_eq!(
        version::compare(b, a),
        order.reverse(),
        "compare({a:?}, {b:?}) = {order:?} but not the reverse"
    );
    // Fuzzy comparison never panics and is `Equal` whenever exact is.
    if order == Ordering::Equal {
        assert_eq!(version::compare_fuzzy(a, b, true), Ordering::Equal);
    }
    // Only a valid version (it starts with a digit) leaves the operator
    // spelled as written: `p<` + `<=1` reads as `p` `<<=` `1`.
    if !version::is_valid(b) {
        return;
    }
    for op in ["<", "<=", "=", ">=", ">", "~", "<~", ">~"] {
        let Ok(dep) = Dependency::parse(&format!("p{op}{b}")) else {
            continue;
        };
        let VersionSpec::Compare { op: parsed, .. } = dep.spec else {
            panic!("p{op}{b} is not a comparison: {dep:?}");
        };
        let wanted = match order {
            Ordering::Less => op.contains('<'),
            Ordering::Equal => op.contains('=') || op.contains('~'),
            Ordering::Greater => op.contains('>'),
        };
        if !op.contains('~') {
            assert_eq!(
                parsed.accepts(a, b),
                wanted,
                "{a:?} {op} {b:?}: compare says {order:?}"
            );
        } else if wanted {
            // Fuzzy operators accept at least what their exact form does.
            assert!(
                parsed.accepts(a, b),
                "{a:?} {op} {b:?}: compare says {order:?}"
            );
        }
    }
}

/// a ≤ b ≤ c ⇒ a ≤ c, with equality carried through.
fn transitive(a: &str, b: &str, c: &str) {
    let (ab, bc, ac) = (
        version::compare(a, b),
        version::compare(b, c),
        version::compare(a, c),
    );
    if ab != Ordering::Greater && bc != Ordering::Greater {
        let expected = if ab == Ordering::Equal {
            bc
        } else {
            Ordering::Less
        };
        let expected = if bc == Ordering::Equal { ab } else { expected };
        assert_eq!(
            ac, expected,
            "compare({a:?}, {b:?}) = {ab:?}, compare({b:?}, {c:?}) = {bc:?}, compare({a:?}, {c:?}) = {ac:?}"
        );
    }
}
