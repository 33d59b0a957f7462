//! `extract` on archives made here: every compression, the fetch inputs,
//! and the archives it must refuse.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;

/// A tar member to write: (path, kind, contents or link target).
enum Member<'a> {
    Dir(&'a str),
    File(&'a str, &'a str, u32),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

/// Raw tar bytes; names are written as given (no sanitizing), so hostile
/// archives can be made too.
fn tar(members: &[Member]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let mut header = tar::Header::new_gnu();
        let (name, kind, data, link, mode): (&str, tar::EntryType, &[u8], &str, u32) = match member
        {
            Member::Dir(n) => (n, tar::EntryType::Directory, b"", "", 0o755),
            Member::File(n, d, m) => (n, tar::EntryType::Regular, d.as_bytes(), "", *m),
            Member::Symlink(n, t) => (n, tar::EntryType::Symlink, b"", t, 0o777),
            Member::HardLink(n, t) => (n, tar::EntryType::Link, b"", t, 0o644),
        };
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A fresh folder with the archive `name` in it and an empty `out/`.
fn setup(label: &str, name: &str, bytes: &[u8]) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("mf-extract-{label}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("out")).unwrap();
    let file = dir.join(name);
    fs::write(&file, bytes).unwrap();
    (file, dir.join("out"))
}

fn args(file: &Path, out: &Path) -> ExtractArgs {
    ExtractArgs {
        file: file.to_path_buf(),
        uri: "http://example.test/a.tar.gz".into(),
        sha256: None,
        sha512: None,
        extract: true,
        strip_components: 1,
        directory: String::new(),
        delete: false,
        out: out.to_path_buf(),
    }
}

fn project() -> Vec<u8> {
    tar(&[
        Member::Dir("p-1.0/"),
        Member::File("p-1.0/README", "hello\n", 0o644),
        Member::Dir("p-1.0/bin/"),
        Member::File("p-1.0/bin/run.sh", "#!/bin/sh\n", 0o755),
        Member::Symlink("p-1.0/bin/readme", "../README"),
        Member::HardLink("p-1.0/COPY", "p-1.0/README"),
    ])
}

fn check_project(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::read_to_string(root.join("README")).unwrap(), "hello\n");
    assert_eq!(fs::read_to_string(root.join("COPY")).unwrap(), "hello\n");
    let run = fs::metadata(root.join("bin/run.sh")).unwrap();
    assert_eq!(run.permissions().mode() & 0o777, 0o755);
    assert_eq!(
        fs::read_link(root.join("bin/readme")).unwrap(),
        Path::new("../README")
    );
}

#[test]
fn every_compression_unpacks_the_same_tree() {
    let plain = project();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&plain).unwrap();
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut &plain[..], &mut xz).unwrap();
    let zstd =
        ruzstd::encoding::compress_to_vec(&plain[..], ruzstd::encoding::CompressionLevel::Fastest);
    let mut lz = lzma_rust2::LzipWriter::new(Vec::new(), lzma_rust2::LzipOptions::default());
    lz.write_all(&plain).unwrap();
    let lz = lz.finish().unwrap();
    for (label, bytes) in [
        ("tar", plain.clone()),
        ("gz", gzip(&plain)),
        ("bz2", bz.finish().unwrap()),
        ("xz", xz),
        ("zst", zstd),
        ("lz", lz),
    ] {
        let (file, out) = setup(label, &format!("p.tar.{label}"), &bytes);
        let summary = extract(&args(&file, &out)).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(summary.contains("5 members"), "{label}: {summary}");
        check_project(&out);
        // the download is kept beside the tree, as melange leaves it
        assert_eq!(fs::read(out.join(format!("p.tar.{label}"))).unwrap(), bytes);
        assert!(!out.join(".melange-fetch.tar").exists(), "{label}");
    }
}

#[test]
fn directory_strip_delete_and_no_extract() {
    let bytes = gzip(&project());
    let (file, out) = setup("dir", "p.tar.gz", &bytes);
    let mut a = args(&file, &out);
    a.directory = "src/p".into();
    a.strip_components = 0;
    a.delete = true;
    extract(&a).unwrap();
    check_project(&out.join("src/p/p-1.0"));
    assert!(!out.join("p.tar.gz").exists());

    let (file, out) = setup("keep", "p.tar.gz", &bytes);
    let mut a = args(&file, &out);
    a.extract = false;
    extract(&a).unwrap();
    let names: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["p.tar.gz"]);
}

#[test]
fn digests_are_verified_and_a_mismatch_names_uri_and_both() {
    let bytes = gzip(&project());
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let sha512 = hex::encode(Sha512::digest(&bytes));
    let (file, out) = setup("digest", "p.tar.gz", &bytes);
    let mut a = args(&file, &out);
    a.sha256 = Some(sha256.clone());
    a.sha512 = Some(sha512);
    extract(&a).unwrap();
    let (file, out) = setup("digest-bad", "p.tar.gz", &bytes);
    let mut a = args(&file, &out);
    a.sha512 = Some("0".repeat(128));
    let error = extract(&a).unwrap_err();
    assert!(error.contains("http://example.test/a.tar.gz"), "{error}");
    assert!(
        error.contains(&format!("sha512:{}", "0".repeat(128))),
        "{error}"
    );
    assert!(error.contains("got sha512:"), "{error}");
    // nothing was unpacked
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn hostile_archives_are_refused() {
    let cases: [(&str, Vec<Member>, &str); 8] = [
        (
            "dotdot",
            vec![Member::File("p/../../evil", "x", 0o644)],
            "`..`",
        ),
        (
            "absolute",
            vec![Member::File("/etc/evil", "x", 0o644)],
            "absolute",
        ),
        (
            "link-up",
            vec![Member::Symlink("p/l", "../../x")],
            "outside",
        ),
        ("link-abs", vec![Member::Symlink("p/l", "/etc")], "outside"),
        ("hard-up", vec![Member::HardLink("p/h", "../x")], "outside"),
        (
            "through",
            vec![
                Member::Dir("p/d/"),
                Member::Symlink("p/l", "d"),
                Member::File("p/l/x", "x", 0o644),
            ],
            "symbolic link",
        ),
        (
            // `p/a/d -> ..` is the tree's top, so `p/a/x -> d/../..` would
            // resolve above it though it stays inside counted name by name.
            "link-chain",
            vec![
                Member::Dir("p/a/"),
                Member::Symlink("p/a/d", ".."),
                Member::Symlink("p/a/x", "d/../.."),
            ],
            "`..` after a name",
        ),
        (
            // `t` would be the link `../x` read from the top.
            "hard-to-symlink",
            vec![
                Member::Dir("p/a/b/"),
                Member::Symlink("p/a/b/s", "../x"),
                Member::HardLink("p/t", "p/a/b/s"),
            ],
            "hard link to the symbolic link",
        ),
    ];
    for (label, members, want) in cases {
        let (file, out) = setup(label, "p.tar", &tar(&members));
        let error = extract(&args(&file, &out)).unwrap_err();
        assert!(error.contains(want), "{label}: {error}");
        assert!(
            error.contains("http://example.test/a.tar.gz"),
            "{label}: {error}"
        );
    }
}

#[test]
fn corrupt_archives_are_errors() {
    let (file, out) = setup("corrupt", "p.tar.gz", &[0x1f, 0x8b, 0, 1, 2, 3]);
    let error = extract(&args(&file, &out)).unwrap_err();
    assert!(error.starts_with("unpacking p.tar.gz"), "{error}");
}

/// A zip member to write (zip has no hard links).
enum ZipMember<'a> {
    Dir(&'a str),
    File(&'a str, &'a str, u32),
    Symlink(&'a str, &'a str),
}

/// Zip bytes; names are written as given, so hostile archives can be made.
fn zip(members: &[ZipMember]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let time = zip::DateTime::from_date_and_time(2023, 11, 14, 22, 13, 20).unwrap();
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(time);
    for member in members {
        match member {
            ZipMember::Dir(name) => writer
                .add_directory(*name, options.unix_permissions(0o755))
                .unwrap(),
            ZipMember::File(name, data, mode) => {
                writer
                    .start_file(*name, options.unix_permissions(*mode))
                    .unwrap();
                writer.write_all(data.as_bytes()).unwrap();
            }
            ZipMember::Symlink(name, target) => {
                writer.add_symlink(*name, *target, options).unwrap()
            }
        }
    }
    writer.finish().unwrap().into_inner()
}

#[test]
fn zip_archives_unpack_with_modes_links_and_archive_times() {
    let bytes = zip(&[
        ZipMember::Dir("p-1.0/"),
        ZipMember::File("p-1.0/README", "hello\n", 0o644),
        ZipMember::File("p-1.0/bin/run.sh", "#!/bin/sh\n", 0o755),
        ZipMember::Symlink("p-1.0/bin/readme", "../README"),
    ]);
    // Told by its magic bytes, whatever the name says.
    let (file, out) = setup("zip", "p-1.0.tar.gz", &bytes);
    let summary = extract(&args(&file, &out)).unwrap();
    // `p-1.0/` itself is stripped away: three members written.
    assert!(summary.contains("3 members"), "{summary}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::read_to_string(out.join("README")).unwrap(), "hello\n");
    let run = fs::metadata(out.join("bin/run.sh")).unwrap();
    assert_eq!(run.permissions().mode() & 0o777, 0o755);
    assert_eq!(
        fs::read_link(out.join("bin/readme")).unwrap(),
        Path::new("../README")
    );
    let mtime = filetime::FileTime::from_last_modification_time(&run);
    assert_eq!(mtime.unix_seconds(), 1_700_000_000);
    // The same archive unpacks to the same tree (no clock in it).
    let (file2, out2) = setup("zip-again", "p.zip", &bytes);
    extract(&args(&file2, &out2)).unwrap();
    let meta2 = fs::metadata(out2.join("README")).unwrap();
    assert_eq!(
        filetime::FileTime::from_last_modification_time(&meta2),
        filetime::FileTime::from_last_modification_time(&fs::metadata(out.join("README")).unwrap())
    );
}

#[test]
fn hostile_zip_archives_are_refused() {
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "zip-dotdot",
            zip(&[ZipMember::File("p/../../evil", "x", 0o644)]),
            "`..` component",
        ),
        (
            "zip-absolute",
            zip(&[ZipMember::File("/etc/evil", "x", 0o644)]),
            "absolute path",
        ),
        (
            "zip-link-out",
            zip(&[ZipMember::Symlink("p/l", "../../outside")]),
            "outside the unpacked tree",
        ),
        (
            "zip-through-link",
            zip(&[
                ZipMember::Dir("p/d/"),
                ZipMember::Symlink("p/l", "d"),
                ZipMember::File("p/l/f", "x", 0o644),
            ]),
            "through the symbolic link",
        ),
        (
            "zip-link-chain",
            zip(&[
                ZipMember::Dir("p/a/"),
                ZipMember::Symlink("p/a/d", ".."),
                ZipMember::Symlink("p/a/x", "d/../.."),
            ]),
            "`..` after a name",
        ),
    ];
    for (label, bytes, want) in cases {
        let (file, out) = setup(label, "a.zip", &bytes);
        let error = extract(&args(&file, &out)).unwrap_err();
        assert!(error.contains(want), "{label}: {error}");
    }
    let (file, out) = setup("zip-corrupt", "a.zip", b"PK\x03\x04 not really a zip");
    let error = extract(&args(&file, &out)).unwrap_err();
    assert!(error.contains("zip"), "{error}");
}
