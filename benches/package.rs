//! Packaging benchmark driver, run by `hack/bench-package` (which pins it to
//! one core, times it with GNU time and compares it with `tar | gzip -6`).
//! Not a self-timing benchmark: wall time and peak RSS must be measured from
//! outside the process, the same way for both sides, so this binary only
//!
//! - `generate DIR SCALE`: writes a deterministic tree of mixed files
//!   (SCALE 1 ≈ 1 GiB: many small text files, medium partly-binary files, a
//!   few large partly-compressible binaries, symlinks and hard links) and
//!   prints its apparent size in bytes;
//! - `package TREE OUT`: packages TREE into OUT with [`write_package`], the
//!   code path of the in-build helper, unsigned (the signature is one RSA
//!   operation over the small control member, independent of tree size).
//!
//! Figures go in reports, never into assertions.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use melange_frontend::apk::{write_package, PackageOptions, PkgInfo};

/// SOURCE_DATE_EPOCH of the benchmark package.
const EPOCH: u64 = 1_700_000_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; ignore flags so a plain run is harmless.
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let result = match args.as_slice() {
        ["generate", dir, scale] => match scale.parse::<u32>() {
            Ok(scale) if scale > 0 => generate(Path::new(dir), scale)
                .map(|bytes| println!("{bytes}"))
                .map_err(|e| e.to_string()),
            _ => Err(format!("bad scale {scale:?}: a positive integer")),
        },
        ["package", tree, out] => package(Path::new(tree), Path::new(out)),
        [] => {
            eprintln!("package bench: run through hack/bench-package");
            Ok(())
        }
        _ => Err("usage: package generate DIR SCALE | package TREE OUT".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("package bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn package(tree: &Path, out: &Path) -> Result<(), String> {
    let info = PkgInfo {
        pkgname: "bench".into(),
        pkgver: "1.0-r0".into(),
        arch: "x86_64".into(),
        origin: "bench".into(),
        pkgdesc: "packaging benchmark".into(),
        builddate: EPOCH,
        license: vec!["MIT".into()],
        ..Default::default()
    };
    let options = PackageOptions {
        source_date_epoch: EPOCH,
        ..Default::default()
    };
    let written = write_package(tree, &info, &options, out).map_err(|e| e.to_string())?;
    eprintln!(
        "packaged {} bytes installed, datahash {}",
        written.pkginfo.size, written.pkginfo.datahash
    );
    Ok(())
}

/// splitmix64: tiny, fast and fully specified, so the tree is the same on
/// every machine and run without a random-number crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Log-uniform in `lo..hi`: many small values, a tail of large ones.
    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (l + (h - l) * unit).exp() as u64
    }
}

/// Source-like text: lines of words from a fixed vocabulary, skewed towards
/// common words, with indentation and punctuation (gzip -6 gets ~3–4×).
struct Text {
    words: Vec<Vec<u8>>,
}

impl Text {
    fn new(rng: &mut Rng) -> Self {
        let words = (0..4096)
            .map(|_| {
                let len = 2 + rng.below(9) as usize;
                (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
            })
            .collect();
        Text { words }
    }

    fn fill(&self, rng: &mut Rng, out: &mut Vec<u8>, len: usize) {
        let start = out.len();
        while out.len() - start < len {
            out.extend(std::iter::repeat_n(b' ', 4 * rng.below(4) as usize));
            for w in 0..3 + rng.below(9) {
                // The product of two uniforms favours small indexes (Zipf-ish).
                let i = (rng.below(64) * rng.below(64)) as usize;
                if w > 0 {
                    out.push(b" ,.(=:"[rng.below(6) as usize]);
                }
                out.extend_from_slice(&self.words[i]);
            }
            out.push(b'\n');
        }
        out.truncate(start + len);
    }
}

/// Binary-like content in 4 KiB blocks: random (already compressed data),
/// low-entropy machine-code-like bytes, embedded strings and zero runs.
fn fill_binary(rng: &mut Rng, text: &Text, out: &mut Vec<u8>, len: usize) {
    const OPCODES: &[u8] = b"\x48\x89\xe5\x8b\x45\xfc\x83\xc0\x01\x0f\x1f\x44\x00\xc3\xe8\xff\x24\x10\x74\x75\xeb\x31\xc9\x5d";
    let start = out.len();
    while out.len() - start < len {
        let block = 4096.min(len - (out.len() - start));
        match rng.below(10) {
            0..=2 => out.extend((0..block).map(|_| rng.next() as u8)),
            3..=6 => {
                out.extend((0..block).map(|_| OPCODES[rng.below(OPCODES.len() as u64) as usize]))
            }
            7 | 8 => text.fill(rng, out, block),
            _ => out.extend(std::iter::repeat_n(0, block)),
        }
    }
}

fn write_file(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut file = BufWriter::new(fs::File::create(path)?);
    file.write_all(content)?;
    file.flush()
}

/// Write the tree; returns the sum of regular file sizes (each inode once).
fn generate(root: &Path, scale: u32) -> io::Result<u64> {
    let scale = u64::from(scale);
    let mut rng = Rng(0x006d_656c_616e_6765);
    let text = Text::new(&mut rng);
    let mut total = 0u64;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut buf = Vec::new();
    let mkdir = |dir: &Path| fs::create_dir_all(dir).map(|_| dir.to_path_buf());

    // ~30,000 small text files (256 B – 16 KiB), ~120 MB per scale unit.
    for i in 0..30_000 * scale {
        let dir = mkdir(&root.join(format!("usr/share/doc/pkg{:03}/sub{}", i / 100, i % 7)))?;
        let len = rng.log_uniform(256, 16 * 1024) as usize;
        buf.clear();
        text.fill(&mut rng, &mut buf, len);
        let path = dir.join(format!("file{i}.txt"));
        write_file(&path, &buf)?;
        total += len as u64;
        files.push(path);
    }
    // ~1,200 medium files (64 KiB – 1 MiB): half text, half binary, ~420 MB.
    for i in 0..1_200 * scale {
        let dir = mkdir(&root.join(format!("usr/lib/mod{:02}", i / 40)))?;
        let len = rng.log_uniform(64 * 1024, 1024 * 1024) as usize;
        buf.clear();
        if i % 2 == 0 {
            text.fill(&mut rng, &mut buf, len);
        } else {
            fill_binary(&mut rng, &text, &mut buf, len);
        }
        let path = dir.join(format!("lib{i}.so.1"));
        write_file(&path, &buf)?;
        total += len as u64;
        files.push(path);
    }
    // 5 large partly-compressible binaries of 96 MiB, ~500 MB.
    for i in 0..5 * scale {
        let dir = mkdir(&root.join("opt/big"))?;
        let len = 96 << 20;
        buf.clear();
        fill_binary(&mut rng, &text, &mut buf, len);
        write_file(&dir.join(format!("blob{i}.bin")), &buf)?;
        total += len as u64;
    }
    // Hard links (second names of earlier files) and relative symlinks.
    let links = mkdir(&root.join("usr/links"))?;
    for i in 0..600 * scale {
        let target = &files[rng.below(files.len() as u64) as usize];
        fs::hard_link(target, links.join(format!("hard{i}")))?;
    }
    for i in 0..3_000 * scale {
        let target = &files[rng.below(files.len() as u64) as usize];
        let rel = target.strip_prefix(root).unwrap_or(target);
        symlink(Path::new("../..").join(rel), links.join(format!("sym{i}")))?;
    }
    Ok(total)
}
