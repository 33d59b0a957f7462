//! The scan against real packages: melange-built fixtures (unpacked from
//! `../shared/fixtures` with the APK reader) checked against melange's own
//! expected analysis and the `.PKGINFO` melange wrote, and packages built
//! here with the machine's `gcc`.

mod built;
mod synthetic;

use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{analyze, scan, Generated, ScanOptions};
use crate::apk::tests::{read_fixture, scratch_dir};
use crate::apk::{ApkFile, PkgInfo};

/// Unpacks the data member of a fixture package into a fresh directory and
/// returns it with the package's `.PKGINFO`.
fn unpack(rel: &str) -> (PathBuf, PkgInfo) {
    let bytes = read_fixture(rel);
    let apk = ApkFile::parse(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let name = rel.rsplit('/').next().unwrap().trim_end_matches(".apk");
    let root = scratch_dir(&format!("deps-{name}"));
    let data = flate2::read::GzDecoder::new(&bytes[apk.data_range.clone()]);
    let mut archive = tar::Archive::new(data);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = root.join(entry.path().unwrap());
        let mode = entry.header().mode().unwrap();
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&path).unwrap(),
            tar::EntryType::Symlink => {
                symlink(entry.link_name().unwrap().unwrap(), &path).unwrap();
            }
            tar::EntryType::Regular => {
                let mut content = Vec::new();
                entry.read_to_end(&mut content).unwrap();
                std::fs::write(&path, content).unwrap();
                let perms = std::fs::Permissions::from_mode(mode);
                std::fs::set_permissions(&path, perms).unwrap();
            }
            other => panic!("{rel}: unexpected entry type {other:?}"),
        }
    }
    (root, apk.pkginfo)
}

fn opts(name: &str, version: &str) -> ScanOptions {
    ScanOptions {
        package_name: name.to_string(),
        version: version.to_string(),
        ..ScanOptions::default()
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn generated(runtime: &[&str], provides: &[&str], vendored: &[&str]) -> Generated {
    Generated {
        runtime: strings(runtime),
        provides: strings(provides),
        vendored: strings(vendored),
        warnings: Vec::new(),
    }
}

fn analyzed(root: &Path, opts: &ScanOptions) -> Generated {
    let mut got = analyze(root, opts).unwrap();
    got.warnings.clear();
    got
}

/// melange's TestExecableSharedObjects: libcap's libraries carry a
/// `PT_INTERP` (they run as programs) yet, being named `*.so.*`, provide
/// their SONAMEs; the `.so.2` symlinks depend on them.
#[test]
fn libcap_matches_melange() {
    let (root, _) = unpack("melange/libcap-2.69-r0.apk");
    let opts = opts("libcap", "2.69-r0");
    let want = generated(
        &[
            "so:ld-linux-aarch64.so.1",
            "so:libc.so.6",
            "so:libcap.so.2",
            "so:libpsx.so.2",
        ],
        &[
            "so-ver:libcap.so.2=2.69-r0",
            "so-ver:libpsx.so.2=2.69-r0",
            "so:libcap.so.2=2",
            "so:libpsx.so.2=2",
        ],
        &[],
    );
    assert_eq!(analyzed(&root, &opts), want);
    let got = scan(&root, &opts).unwrap();
    assert_eq!(
        got.depends,
        strings(&["so:ld-linux-aarch64.so.1", "so:libc.so.6"])
    );
    assert_eq!(got.provides, want.provides);
}

/// melange's TestVendoredPkgConfig: libraries and `.pc` files outside the
/// library directories are vendored, not provided.
#[test]
fn neon_matches_melange() {
    let (root, _) = unpack("melange/neon-4604-r0.apk");
    let want = generated(
        &[
            "so:ld-linux-aarch64.so.1",
            "so:libc.so.6",
            "so:libecpg.so.6",
            "so:libpgtypes.so.3",
            "so:libpq.so.5",
        ],
        &[],
        &[
            "pc:libecpg=4604-r0",
            "pc:libecpg_compat=4604-r0",
            "pc:libpgtypes=4604-r0",
            "pc:libpq=4604-r0",
            "so-ver:libecpg_compat.so.3=4604-r0",
            "so:libecpg_compat.so.3=3",
        ],
    );
    assert_eq!(analyzed(&root, &opts("neon", "4604-r0")), want);
}

/// melange's TestUnstableSonames: a non-numeric SONAME version provides
/// ABI `0`.
#[test]
fn aws_c_s3_matches_melange() {
    let (root, _) = unpack("melange/aws-c-s3-0.4.9-r0.apk");
    let want = generated(
        &[
            "so:ld-linux-aarch64.so.1",
            "so:libaws-c-auth.so.1.0.0",
            "so:libaws-c-cal.so.1.0.0",
            "so:libaws-c-common.so.1",
            "so:libaws-c-http.so.1.0.0",
            "so:libaws-c-io.so.1.0.0",
            "so:libaws-c-s3.so.0unstable",
            "so:libaws-checksums.so.1.0.0",
            "so:libc.so.6",
        ],
        &[
            "so-ver:libaws-c-s3.so.0unstable=0.4.9-r0",
            "so:libaws-c-s3.so.0unstable=0",
        ],
        &[],
    );
    assert_eq!(analyzed(&root, &opts("aws-c-s3", "0.4.9-r0")), want);
}

/// melange's TestShbangDeps, and the `.PKGINFO` melange wrote for the same
/// package (`options.no-provides: true`).
#[test]
fn shbang_test_matches_melange_and_its_pkginfo() {
    let (root, info) = unpack("melange/shbang-test-1-r1.apk");
    let opts = ScanOptions {
        no_provides: true,
        ..opts("shbang-test", "1-r1")
    };
    let want = [
        "cmd:bash",
        "cmd:envDashSCmd",
        "cmd:python3.12",
        "so:ld-linux-x86-64.so.2",
        "so:libc.so.6",
    ];
    assert_eq!(analyzed(&root, &opts), generated(&want, &[], &[]));
    let got = scan(&root, &opts).unwrap();
    assert_eq!(got.depends, info.depends);
    assert_eq!(got.provides, info.provides);
    assert!(got.provides.is_empty());
}

/// melange's TestRubySca.
#[test]
fn ruby_gem_matches_melange_and_its_pkginfo() {
    let (root, info) = unpack("melange/ruby3.2-base64-0.2.0-r2.apk");
    let opts = opts("ruby3.2-base64", "0.2.0-r2");
    assert_eq!(analyzed(&root, &opts), generated(&["ruby-3.2"], &[], &[]));
    assert_eq!(scan(&root, &opts).unwrap().depends, info.depends);
}

/// Packages whose `.PKGINFO` a current-enough melange wrote: the scan plus
/// what their build files declare gives exactly those lists.
#[test]
fn melange_pkginfo_lists_are_reproduced() {
    let cases: [(&str, &[&str], &[&str]); 7] = [
        ("melange/hello-wolfi-2.12.1-r1.apk", &[], &[]),
        ("melange/perl-json-4.11-r0.apk", &[], &[]),
        ("melange/kubeflow-pipelines-2.1.3-r7.apk", &[], &[]),
        ("melange/ld-so-conf-d-test-1-r1.apk", &[], &[]),
        (
            "apko/packages/x86_64/custom-ca-certs-1-1.0.0-r0.apk",
            &[],
            &["custom-ca-certificates"],
        ),
        (
            "apko/packages/x86_64/pretend-baselayout-1.0.0-r0.apk",
            &[],
            &[],
        ),
        (
            "apko/packages/x86_64/replayout-1.0.0-r0.apk",
            &["pretend-baselayout"],
            &[],
        ),
    ];
    for (rel, declared_depends, declared_provides) in cases {
        let (root, info) = unpack(rel);
        let opts = ScanOptions {
            declared_depends: strings(declared_depends),
            declared_provides: strings(declared_provides),
            ..opts(&info.pkgname, &info.pkgver)
        };
        let got = scan(&root, &opts).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(got.depends, info.depends, "{rel}");
        assert_eq!(got.provides, info.provides, "{rel}");
        assert_eq!(got.warnings, Vec::<String>::new(), "{rel}");
    }
    // hello-wolfi is the interesting one: an ELF program in usr/bin.
    let (_, info) = unpack("melange/hello-wolfi-2.12.1-r1.apk");
    assert_eq!(
        info.depends,
        strings(&["so:ld-linux-aarch64.so.1", "so:libc.so.6"])
    );
    assert_eq!(info.provides, strings(&["cmd:hello=2.12.1-r1"]));
}

/// melange's TestLdSoConfD: the fixture's `etc/ld.so.conf.d` names
/// `/my/lib/test`, which then counts as a library directory.
#[test]
fn ld_so_conf_d_adds_library_directories() {
    let (root, _) = unpack("melange/ld-so-conf-d-test-1-r1.apk");
    let rel = super::fsys::PkgFs::new(&root).unwrap();
    let dirs = super::generators::ld_so_conf_dirs(&[rel]).unwrap();
    assert_eq!(dirs, strings(&["my/lib/test"]));
}
