//! Which `git-checkout` inputs go native, and what the native source holds.

use super::*;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// The pipeline's defaults (src/pipelines/git-checkout.yaml) plus `pairs`.
fn vars(pairs: &[(&str, &str)]) -> Vars {
    let mut vars: Vars = [
        ("inputs.destination", "."),
        ("inputs.depth", "unset"),
        ("inputs.expected-commit-is-branch-tip", "false"),
        ("inputs.recurse-submodules", "false"),
        ("inputs.shallow-submodules", "false"),
        ("inputs.submodule-jobs", "1"),
        ("inputs.max-retries", "3"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in pairs {
        vars.insert(format!("inputs.{k}"), v.to_string());
    }
    vars
}

fn native(pairs: &[(&str, &str)]) -> Option<GitCheckoutSource> {
    match native_git_checkout(&vars(pairs), Some("1700000000"), "/home/build") {
        Some(NativeSource::GitCheckout(source)) => Some(source),
        Some(other) => panic!("not a git checkout: {other:?}"),
        None => None,
    }
}

const TAGGED: [(&str, &str); 3] = [
    ("repository", "https://github.com/o/r"),
    ("tag", "v1.2.3"),
    ("expected-commit", COMMIT),
];

#[test]
fn tag_with_expected_commit_is_native() {
    let source = native(&TAGGED).expect("native");
    assert_eq!(source.repository, "https://github.com/o/r");
    assert_eq!(source.commit, COMMIT);
    assert_eq!(source.reference, GitRef::Tag("v1.2.3".into()));
    assert_eq!(
        source.tag_check,
        TagCheck::Http,
        "BuildKit fetches https refs"
    );
    assert_eq!(source.destination, "");
    assert_eq!(source.into, "/home/build");
    assert!(!source.recurse_submodules);
    assert_eq!(source.mtime, 1_700_000_000);
    assert!(!source.is_ssh());
}

#[test]
fn http_tags_are_checked_ssh_and_git_tags_are_not() {
    let mut pairs = TAGGED.to_vec();
    pairs[0].1 = "http://git.example.org:8080/hello.git";
    assert_eq!(native(&pairs).expect("native").tag_check, TagCheck::Http);
    for remote in [
        "ssh://git@git.example.org/r.git",
        "git://git.example.org/r.git",
    ] {
        pairs[0].1 = remote;
        assert_eq!(native(&pairs).expect("native").tag_check, TagCheck::None);
    }
    // nothing to check without a tag
    let source = native(&[
        ("repository", "http://git.example.org/r.git"),
        ("expected-commit", COMMIT),
    ])
    .expect("native");
    assert_eq!(
        (source.reference, source.tag_check),
        (GitRef::Commit, TagCheck::None)
    );
}

#[test]
fn upper_case_commits_and_other_inputs() {
    let upper = COMMIT.to_ascii_uppercase();
    let source = native(&[
        ("repository", "git@github.com:o/r.git"),
        ("branch", "release/1.x"),
        ("depth", "1"),
        ("expected-commit", &upper),
        ("destination", "./src//sub/"),
        ("recurse-submodules", "True"),
        ("type-hint", "gitlab"),
        ("cherry-picks", "  # none yet\n\n"),
    ])
    .expect("native");
    assert_eq!(source.commit, COMMIT);
    assert_eq!(source.reference, GitRef::Branch("release/1.x".into()));
    assert_eq!(source.destination, "src/sub");
    assert!(source.recurse_submodules && source.is_ssh());
    for repository in ["ssh://git@h/r.git", "git://h/r.git", "http://h/r"] {
        let mut pairs = TAGGED.to_vec();
        pairs[0].1 = repository;
        assert!(native(&pairs).is_some(), "{repository}");
    }
}

#[test]
fn an_old_epoch_is_raised_to_1980() {
    let source = match native_git_checkout(&vars(&TAGGED), Some("0"), "/w") {
        Some(NativeSource::GitCheckout(source)) => source,
        other => panic!("{other:?}"),
    };
    assert_eq!(source.mtime, MIN_MTIME);
    let none = native_git_checkout(&vars(&TAGGED), None, "/w");
    assert!(matches!(none, Some(NativeSource::GitCheckout(s)) if s.mtime == MIN_MTIME));
}

#[test]
fn inputs_the_source_cannot_reproduce_keep_the_script() {
    let cases: &[&[(&str, &str)]] = &[
        &[("expected-commit", "")],
        &[("expected-commit", "abc123")],
        &[("branch", "main")], // tag and branch together
        &[("depth", "-1")],
        &[("depth", "10")],
        &[("cherry-picks", "main/abcdef: fix the build")],
        &[("sparse-paths", "src docs")],
        &[("recurse-submodules", "yes")],
        &[("expected-commit-is-branch-tip", "true")],
        &[("destination", "../elsewhere")],
        &[("destination", "/abs")],
        &[("repository", "file:///srv/r.git")],
        &[("repository", "/srv/r.git")],
        &[("repository", "https://h/r.git#main")],
        &[("repository", "https:///r.git")],
        &[("repository", "https://h/r x")],
        &[("tag", "v1..2")],
        &[("tag", "-v1")],
        &[("tag", "v1 2")],
        &[("tag", "v1:2")],
    ];
    for extra in cases {
        let mut pairs = TAGGED.to_vec();
        for (k, v) in *extra {
            match pairs.iter_mut().find(|(key, _)| key == k) {
                Some(pair) => pair.1 = v,
                None => pairs.push((k, v)),
            }
        }
        assert_eq!(native(&pairs), None, "{extra:?}");
    }
    // a branch without an explicit depth of 1: melange fetches the history
    let branch = [
        ("repository", "https://h/r"),
        ("branch", "main"),
        ("expected-commit", COMMIT),
    ];
    assert_eq!(native(&branch), None);
}
