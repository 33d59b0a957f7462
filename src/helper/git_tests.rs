//! `git-checkout` over a checkout laid out as BuildKit leaves it (detached
//! HEAD, its own `origin`, FETCH_HEAD).

use std::os::unix::fs::symlink;

use super::*;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const OTHER: &str = "89abcdef0123456789abcdef0123456789abcdef";
const TAG_OBJECT: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// A checkout at COMMIT as BuildKit leaves it, with a submodule folder.
fn checkout(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mf-git-{label}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let git = dir.join(".git");
    fs::create_dir_all(git.join("refs/heads")).unwrap();
    fs::create_dir_all(git.join("modules/sub")).unwrap();
    fs::write(git.join("HEAD"), format!("{COMMIT}\n")).unwrap();
    fs::write(git.join("FETCH_HEAD"), format!("{COMMIT}\t\tbranch x\n")).unwrap();
    fs::write(git.join("shallow"), format!("{COMMIT}\n")).unwrap();
    fs::write(
        git.join("config"),
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n[remote \"origin\"]\n\turl = file:///var/lib/buildkit/git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
    )
    .unwrap();
    fs::create_dir_all(dir.join("src/sub")).unwrap();
    fs::write(dir.join("src/sub/.git"), "gitdir: ../../.git/modules/sub\n").unwrap();
    fs::write(dir.join("src/sub/file.c"), "int x;\n").unwrap();
    fs::write(dir.join("configure"), "#!/bin/sh\n").unwrap();
    symlink("configure", dir.join("link")).unwrap();
    dir
}

fn args(tree: &Path) -> GitCheckoutArgs {
    GitCheckoutArgs {
        tree: tree.to_path_buf(),
        repository: "https://example.com/o/r.git".into(),
        commit: COMMIT.to_ascii_uppercase(),
        tag: Some("v1.0".into()),
        branch: None,
        peeled: None,
        no_submodules: false,
        mtime: 315_532_800,
    }
}

#[test]
fn a_tag_checkout_is_left_as_the_script_leaves_it() {
    let tree = checkout("tag");
    let summary = git_checkout(&args(&tree)).unwrap();
    assert!(
        summary.contains("tag v1.0 at 0123456789abcdef"),
        "{summary}"
    );
    let git = tree.join(".git");
    assert_eq!(
        fs::read_to_string(git.join("refs/tags/v1.0")).unwrap(),
        format!("{COMMIT}\n")
    );
    assert_eq!(
        fs::read_to_string(git.join("HEAD")).unwrap(),
        format!("{COMMIT}\n")
    );
    assert!(!git.join("FETCH_HEAD").exists());
    let config = fs::read_to_string(git.join("config")).unwrap();
    assert!(
        config.contains("\turl = \"https://example.com/o/r.git\"\n"),
        "{config}"
    );
    assert!(!config.contains("buildkit"), "{config}");
    assert!(config.contains("fetch = +refs/heads/*"), "{config}");
    // submodules kept without --no-submodules
    assert!(tree.join("src/sub/file.c").exists());
    // one mtime for everything, links themselves included
    for path in [
        "configure",
        "link",
        "src",
        "src/sub/file.c",
        ".git/config",
        ".",
    ] {
        let meta = fs::symlink_metadata(tree.join(path)).unwrap();
        assert_eq!(
            FileTime::from_last_modification_time(&meta).unix_seconds(),
            315_532_800,
            "{path}"
        );
    }
}

#[test]
fn a_branch_is_checked_out_and_submodules_emptied() {
    let tree = checkout("branch");
    let mut a = args(&tree);
    a.tag = None;
    a.branch = Some("release/1.x".into());
    a.no_submodules = true;
    let summary = git_checkout(&a).unwrap();
    assert!(
        summary.contains("1 submodule folder(s) left empty"),
        "{summary}"
    );
    let git = tree.join(".git");
    assert_eq!(
        fs::read_to_string(git.join("HEAD")).unwrap(),
        "ref: refs/heads/release/1.x\n"
    );
    assert_eq!(
        fs::read_to_string(git.join("refs/heads/release/1.x")).unwrap(),
        format!("{COMMIT}\n")
    );
    assert!(git.join("refs/remotes/origin/release/1.x").is_file());
    assert!(tree.join("src/sub").is_dir());
    assert_eq!(fs::read_dir(tree.join("src/sub")).unwrap().count(), 0);
    assert!(!git.join("modules").exists());
    // HEAD through the branch still resolves: a second run is a no-op
    git_checkout(&a).unwrap();
}

#[test]
fn an_existing_tag_ref_is_kept_and_packed_refs_are_read() {
    let tree = checkout("packed");
    fs::write(
        tree.join(".git/packed-refs"),
        format!("# pack-refs with: peeled fully-peeled sorted\n{TAG_OBJECT} refs/tags/v1.0\n^{COMMIT}\n"),
    )
    .unwrap();
    git_checkout(&args(&tree)).unwrap();
    assert!(!tree.join(".git/refs/tags/v1.0").exists());
    assert_eq!(
        read_ref(&tree.join(".git"), "refs/tags/v1.0")
            .unwrap()
            .as_deref(),
        Some(TAG_OBJECT)
    );
}

#[test]
fn a_checkout_at_another_commit_fails() {
    let tree = checkout("wrong-head");
    fs::write(tree.join(".git/HEAD"), format!("{OTHER}\n")).unwrap();
    let err = git_checkout(&args(&tree)).unwrap_err();
    assert!(
        err.contains(OTHER) && err.contains(COMMIT) && err.contains("https://example.com/o/r.git"),
        "{err}"
    );
    let mut bad = args(&tree);
    bad.commit = "abc".into();
    assert!(git_checkout(&bad).unwrap_err().contains("40 hex"));
    let mut no_git = args(&tree);
    no_git.tree = tree.join("src");
    assert!(git_checkout(&no_git).unwrap_err().contains("has no .git"));
    assert!(ref_path(&tree, "refs/tags/../../x").is_err());
}

#[test]
fn an_annotated_tag_object_is_accepted_at_its_peeled_commit() {
    let tree = checkout("tag-object");
    let mut by_object = args(&tree);
    by_object.commit = TAG_OBJECT.into();
    let err = git_checkout(&by_object).unwrap_err();
    assert!(err.contains(TAG_OBJECT), "{err}");
    by_object.peeled = Some(COMMIT.into());
    git_checkout(&by_object).unwrap();
    let mut bad = args(&checkout("tag-object-bad"));
    bad.peeled = Some("xyz".into());
    assert!(git_checkout(&bad).unwrap_err().contains("--peeled"));
}
