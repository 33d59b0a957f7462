//! Settling merged layers on real folders: a layer per package and the
//! merged root as the merge left it (last layer wins), then
//! [`reconcile`].

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mf-layers-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn file(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    fs::write(full, text).unwrap();
}

fn link(root: &Path, path: &str, target: &str) {
    let full = root.join(path);
    fs::create_dir_all(full.parent().unwrap()).unwrap();
    symlink(target, full).unwrap();
}

/// A package `name-1-r0` whose layer is `dir/layers/name-1-r0`, made by
/// `fill`, with `extra` record lines (`r:…`, `o:…`).
fn package(dir: &Path, name: &str, extra: &str, fill: impl Fn(&Path)) -> Package {
    let id = format!("{name}-1-r0");
    let layer = dir.join("layers").join(&id);
    fs::create_dir_all(&layer).unwrap();
    fill(&layer);
    let record = format!("P:{name}\nV:1-r0\n{extra}\n");
    Package::load(&id, &record, &layer, None).unwrap()
}

/// The merged root as MergeOp leaves it: each layer copied over the
/// previous ones (a later folder replaces an earlier link, a later link
/// an earlier folder).
fn merge(dir: &Path, packages: &[Package]) -> PathBuf {
    let root = dir.join("root");
    fs::create_dir_all(&root).unwrap();
    for package in packages {
        for (path, node) in &package.nodes {
            let target = root.join(path);
            if let Ok(meta) = fs::symlink_metadata(&target) {
                match (node, meta.is_dir() && !meta.file_type().is_symlink()) {
                    (Node::Dir, true) => continue,
                    (_, true) => fs::remove_dir_all(&target).unwrap(),
                    _ => fs::remove_file(&target).unwrap(),
                }
            }
            match node {
                Node::Dir => fs::create_dir(&target).unwrap(),
                Node::File => {
                    fs::copy(package.layer.join(path), &target).unwrap();
                }
                Node::Link(to) => symlink(to, &target).unwrap(),
            }
        }
    }
    root
}

#[test]
fn two_packages_shipping_a_file_is_an_error_naming_both() {
    let dir = scratch("conflict");
    let a = package(&dir, "a", "", |l| file(l, "usr/bin/tool", "a"));
    let b = package(&dir, "b", "", |l| {
        file(l, "usr/bin/tool", "b");
        file(l, "usr/bin/other", "b")
    });
    let root = merge(&dir, &[a.clone(), b.clone()]);
    let err = reconcile(&Root::new(&root), &[a, b]).unwrap_err();
    assert!(
        err.contains(
            "/usr/bin/tool: installed by both a-1-r0 and b-1-r0, and neither replaces the other"
        ),
        "{err}"
    );
    assert!(!err.contains("usr/bin/other"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_replacer_wins_whatever_the_install_order() {
    for replacer_first in [true, false] {
        let dir = scratch(&format!("replaces-{replacer_first}"));
        let new = package(&dir, "new", "r:old>1 other", |l| {
            file(l, "etc/conf", "new");
            link(l, "usr/bin/run", "new-run");
        });
        let old = package(&dir, "old", "", |l| {
            file(l, "etc/conf", "old");
            link(l, "usr/bin/run", "old-run");
            file(l, "etc/only-old", "old");
        });
        let order = if replacer_first {
            vec![new, old]
        } else {
            vec![old, new]
        };
        let root = merge(&dir, &order);
        let done = reconcile(&Root::new(&root), &order).unwrap();
        assert_eq!(fs::read_to_string(root.join("etc/conf")).unwrap(), "new");
        assert_eq!(
            fs::read_link(root.join("usr/bin/run")).unwrap(),
            Path::new("new-run")
        );
        assert_eq!(
            fs::read_to_string(root.join("etc/only-old")).unwrap(),
            "old"
        );
        assert_eq!(
            done.lost.get("old-1-r0").unwrap(),
            &["etc/conf".to_string(), "usr/bin/run".to_string()]
        );
        assert!(!done.lost.contains_key("new-1-r0"));
        // Only when the merge put the other version on top is anything copied.
        assert_eq!(
            done.owner_restored.len(),
            if replacer_first { 2 } else { 0 }
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn same_origin_later_package_wins() {
    let dir = scratch("origin");
    let a = package(&dir, "a", "o:src", |l| file(l, "f", "a"));
    let b = package(&dir, "a-extra", "o:src", |l| file(l, "f", "b"));
    let root = merge(&dir, &[a.clone(), b.clone()]);
    let done = reconcile(&Root::new(&root), &[a, b]).unwrap();
    assert_eq!(fs::read_to_string(root.join("f")).unwrap(), "b");
    assert_eq!(done.lost.get("a-1-r0").unwrap(), &["f".to_string()]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_link_stays_over_another_packages_folder_in_either_order() {
    for link_first in [true, false] {
        let dir = scratch(&format!("usrmerge-{link_first}"));
        let layout = package(&dir, "baselayout", "", |l| {
            fs::create_dir_all(l.join("usr/bin")).unwrap();
            link(l, "bin", "usr/bin");
        });
        let tool = package(&dir, "tool", "", |l| {
            file(l, "bin/tool", "tool");
            file(l, "bin/sub/data", "data");
        });
        let order = if link_first {
            vec![layout, tool]
        } else {
            vec![tool, layout]
        };
        let root = merge(&dir, &order);
        // The merge got it wrong one way or the other.
        let bin = fs::symlink_metadata(root.join("bin")).unwrap();
        assert_eq!(bin.file_type().is_symlink(), !link_first);
        let done = reconcile(&Root::new(&root), &order).unwrap();
        assert_eq!(done.links_restored, ["bin"]);
        assert_eq!(
            fs::read_link(root.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        assert_eq!(
            fs::read_to_string(root.join("usr/bin/tool")).unwrap(),
            "tool"
        );
        assert_eq!(
            fs::read_to_string(root.join("usr/bin/sub/data")).unwrap(),
            "data"
        );
        let leftovers: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("relocate"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn lost_files_leave_the_record_only() {
    let record = "P:old\nV:1-r0\nF:etc\nR:conf\na:0:0:0600\nZ:Q1aaa=\nR:keep\nZ:Q1bbb=\nF:usr/bin\nR:run\nZ:Q1ccc=\n\n";
    let lost = ["etc/conf".to_string(), "usr/bin/run".to_string()];
    assert_eq!(
        drop_files(record, &lost),
        "P:old\nV:1-r0\nF:etc\nR:keep\nZ:Q1bbb=\nF:usr/bin\n\n"
    );
    assert_eq!(drop_files(record, &[]), record);
}

#[test]
fn link_destinations_resolve_from_the_links_folder() {
    assert_eq!(link_destination("bin", Path::new("usr/bin")), "usr/bin");
    assert_eq!(link_destination("usr/lib64", Path::new("lib")), "usr/lib");
    assert_eq!(link_destination("a/b", Path::new("../../../c")), "c");
    assert_eq!(
        link_destination("usr/sbin", Path::new("/usr/bin")),
        "usr/bin"
    );
}

#[test]
fn a_left_out_folder_is_installed_through_the_link() {
    let dir = scratch("left-out");
    let layout = package(&dir, "baselayout", "", |l| {
        fs::create_dir_all(l.join("usr/bin")).unwrap();
        link(l, "bin", "usr/bin");
    });
    let id = "tool-1-r0";
    let layer = dir.join("layers").join(id);
    file(&layer, "bin/tool", "tool");
    file(&layer, "etc/tool.conf", "conf");
    let kept = dir.join("meta").join(format!("{id}.left-out"));
    leave_out(&layer, "bin", &kept).unwrap();
    assert!(!layer.join("bin").exists());
    assert_eq!(fs::read_to_string(kept.join("bin/tool")).unwrap(), "tool");
    // Nothing to leave out: no error, nothing moved.
    leave_out(&layer, "sbin", &kept).unwrap();
    assert!(leave_out(&layer, "../x", &kept).is_err());
    let tool = Package::load(id, "P:tool\nV:1-r0\n\n", &layer, Some(&kept)).unwrap();
    // The merge now succeeds (no folder over the link), in either order.
    let order = vec![tool, layout];
    let root = merge(&dir, &order);
    let done = reconcile(&Root::new(&root), &order).unwrap();
    assert_eq!(done.links_restored, ["bin"]);
    assert_eq!(
        fs::read_link(root.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    assert_eq!(
        fs::read_to_string(root.join("usr/bin/tool")).unwrap(),
        "tool"
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/tool.conf")).unwrap(),
        "conf"
    );
    fs::remove_dir_all(&dir).unwrap();
}
