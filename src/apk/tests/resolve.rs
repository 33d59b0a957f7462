//! Version ordering against apk-tools' own test data, and resolution
//! against the real Alpine 3.16 index (x86_64, 4,929 packages), both read
//! in place from the shared fixtures.

use std::cmp::Ordering;

use super::{fixture, index};
use crate::apk::resolve::{resolve, Problem, Repository, ResolveError};
use crate::apk::{version, Dependency};

/// Every line of `apk-tools/version.data`: `a <op> b [# comment]`, where
/// `<op>` is what `apk version -t a b` prints.
#[test]
fn version_data_passes() {
    let path = fixture("apk-tools/version.data");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut checked = 0;
    let mut failures = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [a, op, b] = fields[..] else {
            panic!("line {}: expected `a op b`, got {line:?}", n + 1);
        };
        let want = match op {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            _ => panic!("line {}: unknown operator {op:?}", n + 1),
        };
        let got = version::compare(a, b);
        if got != want {
            failures.push(format!("line {}: {a} {op} {b}, got {got:?}", n + 1));
        }
        checked += 1;
    }
    assert_eq!(checked, 733, "every line of version.data");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn world(text: &str) -> Vec<Dependency> {
    Dependency::parse_world(text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn alpine_build_base_busybox() {
    let idx = index("alpine-316/APKINDEX.tar.gz");
    let repos = [Repository {
        tag: None,
        records: &idx.records,
    }];
    let resolution =
        resolve(&repos, &world("build-base busybox")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = resolution
        .packages
        .iter()
        .map(|p| format!("{}-{}", p.name, p.version))
        .collect();
    for want in [
        "build-base-0.5-r3",
        "busybox-1.35.0-r17",
        "musl-1.2.3-r2",
        "musl-dev-1.2.3-r2",
        "binutils-2.38-r3",
        "make-4.3-r0",
        "patch-2.7.6-r7",
        "fortify-headers-1.1-r1",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    let position = |name: &str| resolution.packages.iter().position(|p| p.name == name);
    let (Some(musl), Some(gcc), Some(base)) =
        (position("musl"), position("gcc"), position("build-base"))
    else {
        panic!("musl, gcc, build-base expected: {names:?}");
    };
    assert!(musl < gcc && gcc < base, "dependencies first: {names:?}");
    for p in &resolution.packages {
        let record = p.record(&repos).expect("record");
        assert_eq!((&record.name, &record.version), (&p.name, &p.version));
    }
}

#[test]
fn alpine_impossible_world_is_explained() {
    let idx = index("alpine-316/APKINDEX.tar.gz");
    let repos = [Repository {
        tag: None,
        records: &idx.records,
    }];
    let err = resolve(&repos, &world("build-base busybox>2 no-such-thing")).unwrap_err();
    let ResolveError::Unsatisfiable(report) = &err else {
        panic!("{err}");
    };
    assert_eq!(
        err.to_string(),
        "unable to select packages:\n  \
         no-such-thing (no such package):\n    \
         required by: world[no-such-thing]\n  \
         busybox-1.35.0-r17:\n    \
         breaks: world[busybox>2]\n"
    );
    assert!(
        matches!(&report.problems[0], Problem::Missing { name, .. } if name == "no-such-thing")
    );
}

#[test]
fn alpine_provider_priority_and_install_if() {
    let idx = index("alpine-316/APKINDEX.tar.gz");
    let repos = [Repository {
        tag: None,
        records: &idx.records,
    }];
    let names = |text: &str| -> Vec<String> {
        let resolution = resolve(&repos, &world(text)).unwrap_or_else(|e| panic!("{text}: {e}"));
        resolution.packages.into_iter().map(|p| p.name).collect()
    };
    // icu-libs needs icu-data=71.1-r2: icu-data-en (k:100) and
    // icu-data-full (k:10) both provide it; the priority decides. (Their
    // scripts need /bin/sh, which only busybox provides, unversioned and
    // without a priority: apk asks for it by name.)
    let missing_sh = resolve(&repos, &world("icu-libs")).unwrap_err().to_string();
    assert!(
        missing_sh.contains("  /bin/sh (virtual):\n"),
        "{missing_sh}"
    );
    let icu = names("icu-libs busybox");
    assert!(icu.iter().any(|n| n == "icu-data-en"), "{icu:?}");
    assert!(!icu.iter().any(|n| n == "icu-data-full"), "{icu:?}");
    assert_eq!(
        names("icu-libs icu-data-full busybox")
            .iter()
            .filter(|n| n.starts_with("icu-data"))
            .count(),
        1
    );
    // perl-timedate-doc has i:docs perl-timedate=2.33-r1.
    assert!(!names("perl-timedate busybox")
        .iter()
        .any(|n| n == "perl-timedate-doc"));
    let with_docs = names("perl-timedate docs busybox");
    let pos = |n: &str| with_docs.iter().position(|x| x == n);
    assert!(
        pos("perl-timedate-doc") > pos("perl-timedate"),
        "{with_docs:?}"
    );
    assert!(pos("perl-timedate-doc") > pos("docs"), "{with_docs:?}");
}
