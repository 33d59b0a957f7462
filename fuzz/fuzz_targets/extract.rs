//! The `extract` helper (a native `fetch`'s unpacking) on arbitrary
//! archives: the bytes are the downloaded file; `helper::extract` sniffs
//! tar (plain, gzip, bzip2, xz, zstd, lzip) or zip and unpacks it into an
//! empty folder of a scratch directory, as in the build. Errors are
//! expected; a panic, an abort, a hang or unbounded memory is a bug, and so
//! is anything that escapes the output folder: a file written or linked
//! beside it, a hard link to a file outside, or a symbolic link whose
//! target, resolved the way the kernel does (through the other links),
//! leaves the output.
//!
//! One input in four is unpacked with `--strip-components 1`.
//! `FUZZ_VERBOSE=1` prints each outcome. The scratch directory is
//! `$TMPDIR/melange-fuzz-extract-<pid>`, removed and made again per input.

#![no_main]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use melange_frontend::helper::{extract, ExtractArgs};

/// What sits beside the output; nothing may touch it.
const SECRET: &[u8] = b"outside the output\n";

struct Scratch {
    work: PathBuf,
    archive: PathBuf,
    out: PathBuf,
    secret: PathBuf,
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let work =
            std::env::temp_dir().join(format!("melange-fuzz-extract-{}", std::process::id()));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(work.join("outside")).expect("scratch directory");
        let work = fs::canonicalize(&work).expect("scratch directory");
        let secret = work.join("outside/secret");
        fs::write(&secret, SECRET).expect("sentinel file");
        Scratch {
            archive: work.join("archive"),
            out: work.join("out"),
            secret,
            work,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    let _ = fs::remove_dir_all(&s.out);
    fs::create_dir(&s.out).expect("output folder");
    fs::write(&s.archive, data).expect("archive file");
    let args = ExtractArgs {
        file: s.archive.clone(),
        uri: "https://example.com/fuzz.tar".into(),
        sha256: None,
        sha512: None,
        extract: true,
        strip_components: u32::from(data.len() % 4 == 3),
        directory: String::new(),
        delete: true,
        out: s.out.clone(),
    };
    let outcome = extract(&args);
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    if *VERBOSE.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some_and(|v| v == "1")) {
        eprintln!("{}", outcome.unwrap_or_else(|e| e));
    }
    contained(s);
});

/// Nothing escaped `s.out`.
fn contained(s: &Scratch) {
    let mut beside: Vec<_> = fs::read_dir(&s.work)
        .expect("scratch directory")
        .map(|e| e.expect("scratch entry").file_name())
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        ["archive", "out", "outside"],
        "written beside the output"
    );
    let outside: Vec<_> = fs::read_dir(s.work.join("outside"))
        .expect("outside")
        .collect();
    assert_eq!(
        outside.len(),
        1,
        "written into the folder beside the output"
    );
    let meta = fs::symlink_metadata(&s.secret).expect("sentinel file");
    assert!(
        meta.is_file() && meta.nlink() == 1,
        "sentinel file linked or replaced"
    );
    assert_eq!(
        fs::read(&s.secret).expect("sentinel file"),
        SECRET,
        "sentinel file changed"
    );
    assert_eq!(
        fs::symlink_metadata(&s.archive).expect("archive").nlink(),
        1,
        "archive hard-linked"
    );
    walk(&s.out, &s.out);
}

fn walk(dir: &Path, out: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let mut hops = 0;
            if let Some(resolved) = resolve(&path, &mut hops) {
                assert!(
                    resolved.starts_with(out),
                    "{} → {:?} resolves to {}, outside {}",
                    path.display(),
                    fs::read_link(&path),
                    resolved.display(),
                    out.display()
                );
            }
        } else if meta.is_dir() {
            walk(&path, out);
        }
    }
}

/// Where `path` leads, resolving symbolic links component by component as
/// the kernel does (`..` after a link goes up from the link's target);
/// components that do not exist (yet) are taken as they are. None for a
/// loop.
fn resolve(path: &Path, hops: &mut u32) -> Option<PathBuf> {
    let mut current = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::Prefix(_) => current = PathBuf::from("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                current.pop();
            }
            Component::Normal(name) => {
                let next = current.join(name);
                match fs::symlink_metadata(&next) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        *hops += 1;
                        if *hops > 40 {
                            return None;
                        }
                        let target = fs::read_link(&next).ok()?;
                        current = resolve(&current.join(target), hops)?;
                    }
                    _ => current = next,
                }
            }
        }
    }
    Some(current)
}
