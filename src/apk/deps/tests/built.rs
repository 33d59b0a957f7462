//! A small library family compiled here with `gcc` (present on every
//! development and CI machine of the project): an origin package with a
//! shared library, a program using it and a vendored library, a `-dev`
//! subpackage whose `.so` symlink points into the origin package, and a
//! `-doc` subpackage.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use super::*;

const VERSION: &str = "1.2.3-r4";

/// The program interpreter gcc links in on this architecture.
#[cfg(target_arch = "x86_64")]
const INTERP: &str = "so:ld-linux-x86-64.so.2";
#[cfg(target_arch = "aarch64")]
const INTERP: &str = "so:ld-linux-aarch64.so.1";

fn gcc(dir: &Path, args: &[&str]) {
    let out = Command::new("gcc")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("gcc must be installed to build the ELF test inputs");
    assert!(
        out.status.success(),
        "gcc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn put(root: &Path, rel: &str, content: &[u8], mode: u32) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn link(root: &Path, rel: &str, target: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    symlink(target, path).unwrap();
}

struct Family {
    main: PathBuf,
    dev: PathBuf,
    doc: PathBuf,
}

impl Family {
    fn relatives(&self) -> Vec<PathBuf> {
        vec![self.main.clone(), self.dev.clone(), self.doc.clone()]
    }

    fn opts(&self, name: &str) -> ScanOptions {
        ScanOptions {
            relatives: self.relatives(),
            ..opts(name, VERSION)
        }
    }
}

/// Builds the three package folders (once per test; each test gets its own).
fn build(test: &str) -> Family {
    let work = scratch_dir(&format!("deps-gcc-{test}"));
    let src = work.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("foo.c"), "int foo(void) { return 42; }\n").unwrap();
    std::fs::write(src.join("vendor.c"), "int vendor(void) { return 7; }\n").unwrap();
    std::fs::write(src.join("plug.c"), "int plug(void) { return 1; }\n").unwrap();
    std::fs::write(
        src.join("tool.c"),
        "int foo(void); int vendor(void);\nint main(void) { return foo() + vendor(); }\n",
    )
    .unwrap();
    gcc(
        &src,
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libfoo.so.1",
            "-o",
            "libfoo.so.1.2.3",
            "foo.c",
        ],
    );
    gcc(
        &src,
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libvendor.so.2",
            "-o",
            "libvendor.so.2",
            "vendor.c",
        ],
    );
    gcc(
        &src,
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libplug.so.3",
            "-o",
            "libplug.so.3",
            "plug.c",
        ],
    );
    symlink("libfoo.so.1.2.3", src.join("libfoo.so")).unwrap();
    gcc(
        &src,
        &[
            "-o",
            "foo-tool",
            "tool.c",
            "-L.",
            "-Wl,--no-as-needed",
            "-lfoo",
            "-l:libvendor.so.2",
        ],
    );
    let read = |name: &str| std::fs::read(src.join(name)).unwrap();

    let main = work.join("libfoo");
    put(
        &main,
        "usr/lib/libfoo.so.1.2.3",
        &read("libfoo.so.1.2.3"),
        0o755,
    );
    link(&main, "usr/lib/libfoo.so.1", "libfoo.so.1.2.3");
    put(
        &main,
        "usr/libexec/foo/libvendor.so.2",
        &read("libvendor.so.2"),
        0o755,
    );
    put(&main, "usr/bin/foo-tool", &read("foo-tool"), 0o755);
    put(
        &main,
        "usr/bin/foo-script",
        b"#!/usr/bin/env perl\nprint 1;\n",
        0o755,
    );
    // Not executable: no `cmd:` provides, but its `#!` still counts.
    put(&main, "usr/bin/helper.sh", b"#!/bin/zsh\n", 0o644);
    link(&main, "usr/bin/foo", "foo-tool");
    put(
        &main,
        "etc/ld.so.conf.d/foo.conf",
        b"# plugins\n/usr/lib/foo\n",
        0o644,
    );
    put(
        &main,
        "usr/lib/foo/libplug.so.3",
        &read("libplug.so.3"),
        0o644,
    );

    let dev = work.join("libfoo-dev");
    link(&dev, "usr/lib/libfoo.so", "libfoo.so.1.2.3");
    put(&dev, "usr/include/foo.h", b"int foo(void);\n", 0o644);
    put(
        &dev,
        "usr/lib/pkgconfig/foo.pc",
        b"prefix=/usr\nName: foo\nVersion: 1.2.3\nRequires: zlib >= 1.2\n\
          Requires.private: libbar\nLibs: -L${prefix}/lib -lfoo\n",
        0o644,
    );

    let doc = work.join("libfoo-doc");
    put(&doc, "usr/share/man/man3/foo.3", b".TH FOO 3\n", 0o644);
    Family { main, dev, doc }
}

#[test]
fn origin_package() {
    let family = build("origin");
    let opts = family.opts("libfoo");
    let got = scan(&family.main, &opts).unwrap();
    assert_eq!(
        got.depends,
        strings(&["cmd:perl", "cmd:zsh", INTERP, "so:libc.so.6"]),
        "so:libfoo.so.1 is provided by the package itself, so:libvendor.so.2 vendored"
    );
    assert_eq!(
        got.provides,
        strings(&[
            "cmd:foo-script=1.2.3-r4",
            "cmd:foo-tool=1.2.3-r4",
            "so-ver:libfoo.so.1=1.2.3-r4",
            "so-ver:libplug.so.3=1.2.3-r4",
            "so:libfoo.so.1=1",
            "so:libplug.so.3=3",
        ])
    );
    assert_eq!(
        got.vendored,
        strings(&["so-ver:libvendor.so.2=1.2.3-r4", "so:libvendor.so.2=2"])
    );
    assert_eq!(got.warnings, Vec::<String>::new());

    // The raw analysis still has the depends the merge removes.
    let raw = analyzed(&family.main, &opts);
    for dep in ["so:libfoo.so.1", "so:libvendor.so.2"] {
        assert!(raw.runtime.contains(&dep.to_string()), "{dep}");
    }
}

#[test]
fn dev_subpackage_depends_on_the_library_across_packages() {
    let family = build("dev");
    let got = scan(&family.dev, &family.opts("libfoo-dev")).unwrap();
    assert_eq!(
        got.depends,
        strings(&["pc:libbar", "pc:zlib", "so:libfoo.so.1"])
    );
    assert_eq!(got.provides, strings(&["pc:foo=1.2.3-r4"]));
    assert!(got.vendored.is_empty());

    // Scanned alone, the symlink leads nowhere.
    let alone = ScanOptions {
        relatives: Vec::new(),
        ..family.opts("libfoo-dev")
    };
    let got = scan(&family.dev, &alone).unwrap();
    assert_eq!(got.depends, strings(&["pc:libbar", "pc:zlib"]));
}

#[test]
fn doc_subpackage_depends_on_man_db() {
    let family = build("doc");
    let got = scan(&family.doc, &family.opts("libfoo-doc")).unwrap();
    assert_eq!(got.depends, strings(&["man-db"]));
    assert!(got.provides.is_empty());
    // The same files in a package not named -doc: nothing.
    let got = scan(&family.doc, &family.opts("libfoo-manual")).unwrap();
    assert!(got.depends.is_empty());
}

#[test]
fn options_and_declared_lists() {
    let family = build("options");
    let base = ScanOptions {
        declared_depends: strings(&["busybox", "so:libfoo.so.1"]),
        declared_provides: strings(&["foo-virtual=1"]),
        ..family.opts("libfoo")
    };

    let got = scan(&family.main, &base).unwrap();
    assert_eq!(
        got.depends,
        strings(&["busybox", "cmd:perl", "cmd:zsh", INTERP, "so:libc.so.6"]),
        "a declared depend the package provides is dropped too"
    );
    assert!(got.provides.contains(&"foo-virtual=1".to_string()));

    let no_commands = ScanOptions {
        no_commands: true,
        ..base.clone()
    };
    let got = scan(&family.main, &no_commands).unwrap();
    assert!(!got.depends.iter().any(|d| d.starts_with("cmd:")));
    assert!(!got.provides.iter().any(|p| p.starts_with("cmd:")));

    let no_depends = ScanOptions {
        no_depends: true,
        ..base.clone()
    };
    let got = scan(&family.main, &no_depends).unwrap();
    assert_eq!(got.depends, strings(&["busybox"]));

    let no_provides = ScanOptions {
        no_provides: true,
        ..base.clone()
    };
    let got = scan(&family.main, &no_provides).unwrap();
    assert_eq!(got.provides, strings(&["foo-virtual=1"]));
    assert_eq!(
        got.depends,
        strings(&[
            "busybox",
            "cmd:perl",
            "cmd:zsh",
            INTERP,
            "so:libc.so.6",
            "so:libfoo.so.1"
        ]),
        "nothing generated is provided, so the library depend stays"
    );

    // Accepted, and (as in melange without a package resolver) no change.
    let unversioned = ScanOptions {
        no_versioned_shlib_deps: true,
        ..base.clone()
    };
    assert_eq!(
        scan(&family.main, &unversioned).unwrap(),
        scan(&family.main, &base).unwrap()
    );
}

#[test]
fn scans_are_deterministic() {
    let family = build("determinism");
    let opts = family.opts("libfoo");
    let first = scan(&family.main, &opts).unwrap();
    for _ in 0..3 {
        assert_eq!(scan(&family.main, &opts).unwrap(), first);
    }
}

/// A C program carrying a `.go.buildinfo` section as Go writes it, so the
/// Go build-settings rule runs on a real ELF file.
fn fake_go_program(test: &str, settings: &[&str]) -> PathBuf {
    let work = scratch_dir(&format!("deps-gcc-{test}"));
    let blob = crate::apk::deps::gobuild::test_blob(settings);
    let bytes: Vec<String> = blob.iter().map(|b| format!("0x{b:02x}")).collect();
    let source = format!(
        "__attribute__((used, section(\".go.buildinfo\"), aligned(16)))\n\
         const unsigned char buildinfo[] = {{{}}};\n\
         int main(void) {{ return 0; }}\n",
        bytes.join(",")
    );
    std::fs::write(work.join("main.c"), source).unwrap();
    gcc(&work, &["-o", "prog", "main.c"]);
    let root = work.join("pkg");
    put(
        &root,
        "usr/bin/prog",
        &std::fs::read(work.join("prog")).unwrap(),
        0o755,
    );
    root
}

#[test]
fn go_fips_programs_depend_on_openssl() {
    let fips = fake_go_program("go-fips", &["CGO_ENABLED=1", "GOEXPERIMENT=boringcrypto"]);
    let got = scan(&fips, &opts("prog", VERSION)).unwrap();
    assert_eq!(
        got.depends,
        strings(&[
            "openssl-config-fipshardened",
            INTERP,
            "so:libc.so.6",
            "so:libcrypto.so.3"
        ])
    );
    for settings in [
        &["CGO_ENABLED=0", "GOEXPERIMENT=boringcrypto"][..],
        &["CGO_ENABLED=1"][..],
        &["CGO_ENABLED=1", "GOEXPERIMENT=boringcrypto,arenas"][..],
    ] {
        let plain = fake_go_program("go-plain", settings);
        let got = scan(&plain, &opts("prog", VERSION)).unwrap();
        assert_eq!(
            got.depends,
            strings(&[INTERP, "so:libc.so.6"]),
            "{settings:?}"
        );
    }
}
