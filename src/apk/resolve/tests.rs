//! One small hand-written index per rule.

use super::{resolve, Problem, Repository, ResolveError};
use crate::apk::index::parse_records;
use crate::apk::{Dependency, IndexRecord};

/// Records from `APKINDEX` text where each record is one line of
/// space-separated `X:value` fields and list fields use `,` for spaces
/// (`D:a,b>1`).
fn records(text: &str) -> Vec<IndexRecord> {
    let index: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let fields: Vec<String> = l.split(' ').map(|f| f.replace(',', " ")).collect();
            fields.join("\n") + "\n\n"
        })
        .collect();
    parse_records(&index).unwrap_or_else(|e| panic!("{e}"))
}

fn world(text: &str) -> Vec<Dependency> {
    Dependency::parse_world(text).unwrap_or_else(|e| panic!("{e}"))
}

/// Resolve against untagged repositories; `name-version` in install order.
fn solve(repos: &[&str], text: &str) -> Result<Vec<String>, ResolveError> {
    let recs: Vec<Vec<IndexRecord>> = repos.iter().map(|r| records(r)).collect();
    let repos: Vec<Repository> = recs
        .iter()
        .map(|r| Repository {
            tag: None,
            records: r,
        })
        .collect();
    solve_in(&repos, text)
}

fn solve_in(repos: &[Repository], text: &str) -> Result<Vec<String>, ResolveError> {
    let resolution = resolve(repos, &world(text))?;
    Ok(resolution
        .packages
        .iter()
        .map(|p| format!("{}-{}", p.name, p.version))
        .collect())
}

fn ok(repos: &[&str], text: &str) -> Vec<String> {
    solve(repos, text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn err(repos: &[&str], text: &str) -> String {
    match solve(repos, text) {
        Ok(got) => panic!("{text}: resolved to {got:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn dependencies_come_first() {
    let idx = "P:app V:1 D:lib,tool
               P:lib V:2 D:base
               P:tool V:1 D:base
               P:base V:1";
    assert_eq!(ok(&[idx], "app"), ["base-1", "lib-2", "tool-1", "app-1"]);
    // The world is walked in name order, whatever order it was given in.
    assert_eq!(ok(&[idx], "tool lib"), ["base-1", "lib-2", "tool-1"]);
    assert_eq!(ok(&[idx], "lib tool"), ok(&[idx], "tool lib"));
}

#[test]
fn highest_matching_version_wins() {
    let idx = "P:foo V:1.2.5
               P:foo V:1.10
               P:foo V:1.3_rc1
               P:foo V:1.3";
    assert_eq!(ok(&[idx], "foo"), ["foo-1.10"]);
    assert_eq!(ok(&[idx], "foo<1.10"), ["foo-1.3"]);
    assert_eq!(ok(&[idx], "foo<1.3"), ["foo-1.3_rc1"]);
    assert_eq!(ok(&[idx], "foo~1.2"), ["foo-1.2.5"]);
    assert_eq!(ok(&[idx], "foo=1.3"), ["foo-1.3"]);
    assert_eq!(ok(&[idx], "foo>=1.3 foo<=1.3"), ["foo-1.3"]);
}

#[test]
fn checksum_atoms_pick_one_build() {
    let idx = "C:Q1aaa= P:foo V:2
               C:Q1bbb= P:foo V:1";
    assert_eq!(ok(&[idx], "foo><Q1bbb="), ["foo-1"]);
}

#[test]
fn versioned_provides_satisfy_versioned_atoms() {
    let idx = "P:app V:1 D:so:libx.so.1,cmd:x>=2
               P:libx V:1.4 p:so:libx.so.1=1.4
               P:xtools V:3 p:cmd:x=3
               P:xold V:1 p:cmd:x=1";
    assert_eq!(ok(&[idx], "app"), ["libx-1.4", "xtools-3", "app-1"]);
    // The package chosen for one name takes all its names: libx would
    // also be cmd:x=1.4, which cmd:x>=2 rules out.
    let clash = "P:app V:1 D:so:libx.so.1,cmd:x>=2
                 P:libx V:1.4 p:so:libx.so.1=1.4,cmd:x=1.4
                 P:xtools V:3 p:cmd:x=3";
    let text = err(&[clash], "app");
    assert!(
        text.contains("  libx-1.4:\n    breaks: app-1[cmd:x>=2]\n"),
        "{text}"
    );
}

#[test]
fn unversioned_provides_need_a_priority_or_an_explicit_choice() {
    let two = "P:app V:1 D:/bin/sh
               P:dash V:1 p:/bin/sh
               P:mksh V:1 p:/bin/sh";
    assert_eq!(
        err(&[two], "app"),
        "unable to select packages:\n  \
         /bin/sh (virtual):\n    \
         note: please select one of the 'provided by'\n          \
         packages explicitly\n    \
         provided by: dash mksh\n    \
         required by: app-1[/bin/sh]\n"
    );
    // Naming one explicitly settles it; both may provide the unversioned
    // name, and the one decided first (both are decided at once, in world
    // order) serves app.
    assert_eq!(ok(&[two], "app mksh"), ["mksh-1", "app-1"]);
    assert_eq!(ok(&[two], "app dash mksh"), ["dash-1", "app-1", "mksh-1"]);
    // Even a single such provider is not chosen on its own (apk 2.12.10).
    let one = "P:app V:1 D:/bin/sh
               P:dash V:1 p:/bin/sh";
    let text = err(&[one], "app");
    assert!(text.contains("  /bin/sh (virtual):\n"), "{text}");
    assert_eq!(ok(&[one], "app dash"), ["dash-1", "app-1"]);
    // An unversioned provide never satisfies a versioned atom.
    let text = err(&[one], "dash /bin/sh>1");
    assert!(text.contains("breaks: world[/bin/sh>1]"), "{text}");
}

#[test]
fn provider_priority_breaks_ties() {
    let virtuals = "P:app V:1 D:/bin/sh
                    P:dash V:9 p:/bin/sh k:10
                    P:busybox V:1 p:/bin/sh k:100";
    assert_eq!(ok(&[virtuals], "app"), ["busybox-1", "app-1"]);
    // With versioned provides, the version of the requested name comes
    // first, then the priority.
    let versioned = "P:app V:1 D:cmd:sh
                     P:dash V:9 p:cmd:sh=1 k:10
                     P:busybox V:1 p:cmd:sh=1 k:100
                     P:oldsh V:1 p:cmd:sh=0.9 k:900";
    assert_eq!(ok(&[versioned], "app"), ["busybox-1", "app-1"]);
}

#[test]
fn ties_go_to_the_first_repository_then_the_first_record() {
    let a = "P:app V:1 D:cmd:x
             P:xa V:1 p:cmd:x=1";
    let b = "P:xb V:1 p:cmd:x=1";
    assert_eq!(ok(&[a, b], "app"), ["xa-1", "app-1"]);
    assert_eq!(ok(&[b, a], "app"), ["xb-1", "app-1"]);
    let both = "P:app V:1 D:cmd:x
                P:xz V:1 p:cmd:x=1
                P:xa V:1 p:cmd:x=1";
    assert_eq!(ok(&[both], "app"), ["xz-1", "app-1"]);
}

#[test]
fn identical_packages_in_two_repositories_are_one() {
    // apk compares the decoded checksum bytes: `E` and `F` differ only in
    // the bits past the 20th byte.
    let a = records("C:Q1EyN5AdpAOBJWKMR89pp/C66o+OE= P:foo V:1");
    let b = records("C:Q1EyN5AdpAOBJWKMR89pp/C66o+OF= P:foo V:1");
    let repos = [
        Repository {
            tag: None,
            records: &a,
        },
        Repository {
            tag: Some("edge"),
            records: &b,
        },
    ];
    let db = super::db::Db::build(&repos, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((db.pkgs.len(), db.pkgs[0].repos), (1, 0b11));

    let main = records("C:Q1same= P:foo V:1");
    let mirror = records("C:Q1same= P:foo V:1");
    let repos = [
        Repository {
            tag: None,
            records: &mirror,
        },
        Repository {
            tag: None,
            records: &main,
        },
    ];
    let resolution = resolve(&repos, &world("foo")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resolution.packages.len(), 1);
    assert_eq!(resolution.packages[0].repository, 0);
}

#[test]
fn install_if_joins_when_every_trigger_is_installed() {
    let idx = "P:foo V:1
               P:docs V:1
               P:foo-doc V:1 D:foo i:foo,docs
               P:foo-bash V:1 D:foo i:foo=2,bash";
    assert_eq!(ok(&[idx], "foo"), ["foo-1"]);
    assert_eq!(ok(&[idx], "foo docs"), ["docs-1", "foo-1", "foo-doc-1"]);
}

#[test]
fn conflicts_are_reported_with_both_sides() {
    let idx = "P:a V:1 D:!b
               P:b V:1
               P:c V:1 D:b";
    assert_eq!(
        err(&[idx], "a c"),
        "unable to select packages:\n  \
         b-1:\n    \
         breaks: a-1[!b]\n    \
         satisfies: c-1[b]\n"
    );
    assert_eq!(ok(&[idx], "a"), ["a-1"]);
}

#[test]
fn two_packages_cannot_provide_one_versioned_name() {
    let idx = "P:a V:1 p:cmd:x=1
               P:b V:1 p:cmd:x=1";
    let text = err(&[idx], "a b");
    assert!(
        text.contains("  a-1:\n    conflicts: b-1[cmd:x=1]\n"),
        "{text}"
    );
    assert!(
        text.contains("  b-1:\n    conflicts: a-1[cmd:x=1]\n"),
        "{text}"
    );
}

#[test]
fn a_package_does_not_conflict_with_itself() {
    let idx = "P:openssl V:3 p:libssl=3 D:!libssl";
    assert_eq!(ok(&[idx], "openssl"), ["openssl-3"]);
}

#[test]
fn unsatisfiable_versions_say_who_asked() {
    let idx = "P:app V:1 D:lib>=2
               P:lib V:1
               P:lib V:1.5";
    assert_eq!(
        err(&[idx], "app"),
        "unable to select packages:\n  \
         lib-1.5:\n    \
         breaks: app-1[lib>=2]\n"
    );
    assert_eq!(
        err(&[idx], "app missing"),
        "unable to select packages:\n  \
         missing (no such package):\n    \
         required by: world[missing]\n  \
         lib-1.5:\n    \
         breaks: app-1[lib>=2]\n"
    );
    let deep = "P:app V:1 D:lib
                P:lib V:1 D:gone";
    assert_eq!(
        err(&[deep], "app"),
        "unable to select packages:\n  \
         gone (no such package):\n    \
         required by: lib-1[gone]\n"
    );
}

#[test]
fn tagged_repositories_serve_only_pinned_atoms() {
    // Installed sizes matter: apk lets a package of size 0 (a meta
    // package) come from any repository.
    let main = records(
        "P:foo V:1 I:1
         P:app V:1 I:1 D:foo",
    );
    let edge = records(
        "P:foo V:2 I:1
         P:new V:1 I:1 D:newdep
         P:newdep V:1 I:1
         P:meta V:1 I:0",
    );
    let repos = [
        Repository {
            tag: None,
            records: &main,
        },
        Repository {
            tag: Some("edge"),
            records: &edge,
        },
    ];
    assert_eq!(solve_in(&repos, "foo").unwrap(), ["foo-1"]);
    assert_eq!(solve_in(&repos, "app").unwrap(), ["foo-1", "app-1"]);
    assert_eq!(solve_in(&repos, "foo@edge").unwrap(), ["foo-2"]);
    assert_eq!(
        solve_in(&repos, "new@edge").unwrap(),
        ["newdep-1", "new-1"],
        "dependencies of a pinned package may come from its tag"
    );
    let e = solve_in(&repos, "new").unwrap_err().to_string();
    assert_eq!(
        e,
        "unable to select packages:\n  \
         newdep-1:\n    \
         masked in: @edge\n    \
         satisfies: new-1[newdep]\n  \
         new-1:\n    \
         masked in: @edge\n    \
         satisfies: world[new]\n"
    );
    assert_eq!(solve_in(&repos, "meta").unwrap(), ["meta-1"]);
    let resolution = resolve(&repos, &world("new@edge app")).unwrap();
    let new = &resolution.packages[resolution.packages.len() - 1];
    assert_eq!((new.name.as_str(), new.repository), ("new", 1));
    assert_eq!(new.tag.as_deref(), Some("edge"));
    let e = resolve(&repos, &world("foo@testing")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "world atom foo@testing: no repository is tagged @testing"
    );
}

#[test]
fn replaces_are_noted_for_file_conflicts() {
    let idx = "P:new V:2 D:old r:old
               P:old V:1
               P:other V:1 r:old<1";
    let recs = records(idx);
    let repos = [Repository {
        tag: None,
        records: &recs,
    }];
    let resolution = resolve(&repos, &world("new other")).unwrap();
    let names: Vec<&str> = resolution
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["old", "new", "other"]);
    assert_eq!(resolution.packages[1].replaces, [0]);
    assert!(
        resolution.packages[2].replaces.is_empty(),
        "old<1 does not match old-1"
    );
}

#[test]
fn dependency_cycles_resolve_deterministically() {
    let idx = "P:a V:1 D:b
               P:b V:1 D:c
               P:c V:1 D:a";
    assert_eq!(ok(&[idx], "a"), ["c-1", "b-1", "a-1"]);
    assert_eq!(ok(&[idx], "b"), ["a-1", "c-1", "b-1"]);
}

#[test]
fn unreadable_depends_make_a_package_uninstallable() {
    let idx = "P:bad V:2 D:x=1.0bc
               P:bad V:1";
    assert_eq!(ok(&[idx], "bad"), ["bad-1"]);
    let only = "P:bad V:2 D:x=1.0bc";
    assert_eq!(
        err(&[only], "bad"),
        "unable to select packages:\n  \
         bad-2:\n    \
         cannot be installed: D: invalid dependency \"x=1.0bc\": \"1.0bc\" is not a valid apk version\n    \
         satisfies: world[bad]\n"
    );
    let newer = "P:new V:2 Z:future
                 P:new V:1 y:informational";
    assert_eq!(ok(&[newer], "new"), ["new-1"]);
    let with_old = "P:app V:1 D:new>1
                    P:new V:2 Z:future
                    P:new V:1";
    assert_eq!(
        err(&[with_old], "app"),
        "unable to select packages:\n  \
         new-2:\n    \
         cannot be installed: unknown index field Z:\n    \
         satisfies: app-1[new>1]\n"
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let recs = records("P:foo");
    let repos = [Repository {
        tag: None,
        records: &recs,
    }];
    assert_eq!(
        resolve(&repos, &world("foo")).unwrap_err().to_string(),
        "repository 0, record 0: no P: (name) or V: (version)"
    );
    let empty: Vec<IndexRecord> = Vec::new();
    let many: Vec<Repository> = (0..64)
        .map(|_| Repository {
            tag: None,
            records: &empty,
        })
        .collect();
    assert_eq!(
        resolve(&many, &[]).unwrap_err(),
        ResolveError::TooManyRepositories(64)
    );
    assert!(matches!(
        resolve(&[], &world("x")),
        Err(ResolveError::Unsatisfiable(r)) if matches!(&r.problems[0], Problem::Missing { name, .. } if name == "x")
    ));
    assert!(resolve(&[], &[]).unwrap().packages.is_empty());
}

#[test]
fn repeated_list_fields_append() {
    let idx = records("P:app V:1 D:a D:b p:x=1 p:y=1");
    assert_eq!(idx[0].depends, ["a", "b"]);
    assert_eq!(idx[0].provides, ["x=1", "y=1"]);
}

#[test]
fn install_if_through_a_provided_name() {
    // doc-bash joins once bash's cmd:bash (a provide, never asked for by
    // name) and docs are in.
    let idx = "P:app V:1 D:cmd:bash
               P:bash V:5 p:cmd:bash=5
               P:docs V:1
               P:doc-bash V:1 i:cmd:bash,docs";
    assert_eq!(
        ok(&[idx], "app docs"),
        ["bash-5", "app-1", "docs-1", "doc-bash-1"]
    );
}
