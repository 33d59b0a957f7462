//! `extract`: the in-build half of a native `uses: fetch`. BuildKit has
//! downloaded the file (and checked its SHA-256 when the plan had one);
//! this verifies the digests BuildKit could not, then writes what melange's
//! fetch leaves in the working directory into an empty output folder: the
//! file itself (unless `--delete`) and, with `--extract`, the archive's
//! members under `--directory`, `--strip-components` leading components
//! dropped. The frontend copies that folder into the workspace.
//!
//! Archives come from the network, so nothing in them may write outside
//! the output: absolute member paths, `..` components, links whose target
//! leaves the output and members written through a symbolic link are all
//! refused with the member's name, never skipped silently.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use clap::Args;
use sha2::{Digest, Sha256, Sha512};

/// Arguments of `extract` (set by the LLB the frontend emits).
#[derive(Args, Debug)]
pub struct ExtractArgs {
    /// The downloaded file.
    #[arg(long)]
    pub file: PathBuf,
    /// Where it was downloaded from (for messages).
    #[arg(long)]
    pub uri: String,
    /// SHA-256 (hex) the file must have, when BuildKit did not check it.
    #[arg(long)]
    pub sha256: Option<String>,
    /// SHA-512 (hex) the file must have.
    #[arg(long)]
    pub sha512: Option<String>,
    /// Unpack the file.
    #[arg(long)]
    pub extract: bool,
    /// Leading path components dropped from every member.
    #[arg(long, default_value_t = 0)]
    pub strip_components: u32,
    /// Folder (relative to `--out`) that receives the members.
    #[arg(long, default_value = "")]
    pub directory: String,
    /// Leave the downloaded file out of the result.
    #[arg(long)]
    pub delete: bool,
    /// The empty output folder (the working directory's new contents).
    #[arg(long)]
    pub out: PathBuf,
}

/// Run `extract`; the summary goes to the step's log.
pub fn extract(args: &ExtractArgs) -> Result<String, String> {
    let name = args
        .file
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", args.file.display()))?;
    for (algorithm, expected) in [("sha256", &args.sha256), ("sha512", &args.sha512)] {
        if let Some(expected) = expected {
            verify(&args.file, &args.uri, algorithm, expected)?;
            eprintln!("fetch: {algorithm} of {} verified", args.uri);
        }
    }
    let mut members = 0;
    if args.extract {
        let into = args.out.join(&args.directory);
        fs::create_dir_all(&into).map_err(|e| format!("{}: {e}", into.display()))?;
        members = unpack(&args.file, &into, args.strip_components, &args.out)
            .map_err(|e| format!("unpacking {} ({}): {e}", name.to_string_lossy(), args.uri))?;
    }
    if !args.delete {
        let kept = args.out.join(name);
        fs::copy(&args.file, &kept).map_err(|e| format!("{}: {e}", kept.display()))?;
    }
    Ok(if args.extract {
        format!(
            "fetch: {} unpacked, {members} members",
            name.to_string_lossy()
        )
    } else {
        format!("fetch: {} kept as is", name.to_string_lossy())
    })
}

/// Hash `file` and compare: a mismatch names the URI and both digests.
fn verify(file: &Path, uri: &str, algorithm: &str, expected: &str) -> Result<(), String> {
    let mut input = File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let actual = match algorithm {
        "sha256" => hash::<Sha256>(&mut input),
        _ => hash::<Sha512>(&mut input),
    }
    .map_err(|e| format!("{}: {e}", file.display()))?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(format!(
            "fetch {uri}: {algorithm} mismatch: expected {algorithm}:{expected}, got {algorithm}:{actual}"
        ))
    }
}

fn hash<D: Digest>(input: &mut impl Read) -> io::Result<String> {
    let mut hasher = D::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// Compression of a tar, told by its first bytes (as GNU tar does; the file
/// name may lie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
    Lzip,
    /// Not a compressed tar at all: a zip archive.
    Zip,
}

fn sniff(magic: &[u8]) -> Compression {
    match magic {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [b'B', b'Z', b'h', ..] => Compression::Bzip2,
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        [b'L', b'Z', b'I', b'P', ..] => Compression::Lzip,
        [b'P', b'K', 0x03, 0x04, ..] | [b'P', b'K', 0x05, 0x06, ..] => Compression::Zip,
        _ => Compression::None,
    }
}

/// Unpack the archive `file` (a tar, compressed or not, or a zip) into `into`; returns how many members were written.
fn unpack(file: &Path, into: &Path, strip: u32, root: &Path) -> Result<usize, String> {
    let mut input = File::open(file).map_err(|e| e.to_string())?;
    let mut magic = [0u8; 6];
    let got = read_up_to(&mut input, &mut magic).map_err(|e| e.to_string())?;
    input.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let input = BufReader::new(input);
    match sniff(&magic[..got]) {
        Compression::None => unpack_tar(input, into, strip, root),
        Compression::Gzip => unpack_tar(
            flate2::bufread::MultiGzDecoder::new(input),
            into,
            strip,
            root,
        ),
        Compression::Bzip2 => unpack_tar(
            bzip2::bufread::MultiBzDecoder::new(input),
            into,
            strip,
            root,
        ),
        Compression::Zstd => {
            let decoder =
                ruzstd::decoding::StreamingDecoder::new(input).map_err(|e| format!("zstd: {e}"))?;
            unpack_tar(decoder, into, strip, root)
        }
        Compression::Lzip => unpack_tar(lzma_rust2::LzipReader::new(input), into, strip, root),
        Compression::Zip => unzip::unpack_zip(file, into, strip, root),
        Compression::Xz => {
            // lzma-rs decodes into a writer, not a reader: decompress into a
            // temporary file beside the output, removed afterwards.
            let temp = root.join(".melange-fetch.tar");
            let result = (|| {
                let mut output = File::create(&temp).map_err(|e| e.to_string())?;
                let mut input = input;
                lzma_rs::xz_decompress(&mut input, &mut output).map_err(|e| format!("xz: {e}"))?;
                let tar = File::open(&temp).map_err(|e| e.to_string())?;
                unpack_tar(BufReader::new(tar), into, strip, root)
            })();
            let _ = fs::remove_file(&temp);
            result
        }
    }
}

fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The members of a tar stream, written one by one after their paths (and
/// link targets) are checked.
fn unpack_tar(input: impl Read, into: &Path, strip: u32, root: &Path) -> Result<usize, String> {
    let mut archive = tar::Archive::new(input);
    let mut written = 0;
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let raw = entry.path().map_err(|e| e.to_string())?.into_owned();
        let Some(relative) = member_path(&raw, strip)? else {
            continue;
        };
        let target = into.join(&relative);
        no_symlink_between(root, &target, &raw)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", raw.display()))?;
            if let Ok(mode) = entry.header().mode() {
                set_mode(&target, mode | 0o700);
            }
            written += 1;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", raw.display()))?;
        }
        if fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(&target).map_err(|e| format!("{}: {e}", raw.display()))?;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let link = entry
                .link_name()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{}: link without a target", raw.display()))?
                .into_owned();
            let made = match check_link(&raw, &relative, &link, kind.is_hard_link(), strip)? {
                // A hard link to a member unpacked earlier.
                Some(member) => {
                    let source = into.join(member);
                    no_symlink_between(root, &source, &raw)?;
                    no_link_to_symlink(&source, &raw, &link)?;
                    fs::hard_link(&source, &target)
                }
                None => symlink(&link, &target),
            };
            made.map_err(|e| format!("{}: {e}", raw.display()))?;
            written += 1;
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            // Devices and FIFOs have no place in a source tree (PAX/GNU
            // metadata entries are consumed by tar-rs itself).
            eprintln!(
                "fetch: skipping {} (not a file, folder or link)",
                raw.display()
            );
            continue;
        }
        entry.set_preserve_permissions(true);
        entry.set_preserve_mtime(true);
        entry
            .unpack(&target)
            .map_err(|e| format!("{}: {e}", raw.display()))?;
        written += 1;
    }
    Ok(written)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777));
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) {}

/// A member's path with `strip` leading components dropped (`None`: nothing
/// left, the member is skipped as GNU tar does); absolute paths and `..`
/// are errors.
fn member_path(raw: &Path, strip: u32) -> Result<Option<PathBuf>, String> {
    let mut parts = Vec::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                "member {} has a `..` component: refused (it could write outside the workspace)",
                raw.display()
            ))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "member {} has an absolute path: refused",
                    raw.display()
                ))
            }
        }
    }
    let strip = usize::try_from(strip).unwrap_or(usize::MAX);
    if parts.len() <= strip {
        return Ok(None);
    }
    Ok(Some(parts[strip..].iter().collect()))
}

/// Links must stay inside the unpacked tree: a symbolic link's target is
/// resolved against the link's folder; a hard link names another member,
/// stripped like the members (returned, to link to).
///
/// A symbolic link's `..` components must all come first: the kernel
/// resolves `d/..` through `d`, so if `d` is (or later becomes) a link to
/// `..`, a target that stays inside when counted name by name (`d/../..`
/// from `a/`) leads out. Leading `..` climb real folders (nothing is written
/// through a link), and every name after them resolves inside by the same
/// rule.
fn check_link(
    raw: &Path,
    relative: &Path,
    link: &Path,
    hard: bool,
    strip: u32,
) -> Result<Option<PathBuf>, String> {
    let escapes = || {
        format!(
            "member {} links to {} outside the unpacked tree: refused",
            raw.display(),
            link.display()
        )
    };
    if hard {
        return match member_path(link, strip) {
            Ok(Some(member)) => Ok(Some(member)),
            _ => Err(escapes()),
        };
    }
    if link.is_absolute() {
        return Err(escapes());
    }
    let mut depth: usize = relative.components().count().saturating_sub(1);
    let mut named = false;
    for component in link.components() {
        match component {
            Component::Normal(_) => {
                depth += 1;
                named = true;
            }
            Component::CurDir => {}
            Component::ParentDir if named => {
                return Err(format!(
                    "member {} links to {}: `..` after a name is refused (through a link it could lead outside the unpacked tree)",
                    raw.display(),
                    link.display()
                ))
            }
            Component::ParentDir => depth = depth.checked_sub(1).ok_or_else(escapes)?,
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
    }
    Ok(None)
}

#[cfg(unix)]
fn symlink(link: &Path, target: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(link, target)
}

#[cfg(not(unix))]
fn symlink(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::other("symbolic links need unix"))
}

/// Refuse a hard link to a symbolic link: the new name would be a copy of
/// the link, its relative target read from another folder (`a/b/s -> ../x`
/// hard-linked as `t` points above the tree).
fn no_link_to_symlink(source: &Path, raw: &Path, link: &Path) -> Result<(), String> {
    if fs::symlink_metadata(source).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(format!(
            "member {} is a hard link to the symbolic link {}: refused",
            raw.display(),
            link.display()
        ));
    }
    Ok(())
}

/// Refuse to write `target` through a symbolic link an earlier member made.
fn no_symlink_between(root: &Path, target: &Path, raw: &Path) -> Result<(), String> {
    let Ok(below) = target.strip_prefix(root) else {
        return Err(format!("member {} is outside the output", raw.display()));
    };
    let mut path = root.to_path_buf();
    let mut parts = below.components().peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            break;
        }
        path.push(part);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "member {} would be written through the symbolic link {}: refused",
                raw.display(),
                path.display()
            ));
        }
    }
    Ok(())
}

mod unzip;

#[cfg(test)]
mod tests;
