//! A small ustar + PAX tar writer. APK needs control and signature tars
//! *without* end-of-archive blocks and exact control over every header byte
//! (determinism), so headers are written here rather than through a
//! general-purpose builder. Reading uses the `tar` crate.

use std::collections::BTreeMap;
use std::io::{self, Write};

/// Size of a tar block.
pub const BLOCK: usize = 512;

/// The two zero blocks that end a tar archive.
pub const END_OF_ARCHIVE: [u8; 2 * BLOCK] = [0; 2 * BLOCK];

/// What a tar entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TarKind {
    /// Regular file (`0`).
    File,
    /// Directory (`5`).
    Dir,
    /// Symbolic link to the target (`2`).
    Symlink(String),
    /// Hard link to an earlier entry's path (`1`).
    Hardlink(String),
}

/// One header to write (the content, if any, follows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarHeader {
    /// Path inside the archive, without a leading `./` or `/`.
    pub path: String,
    /// Entry type.
    pub kind: TarKind,
    /// Permission bits (and setuid/setgid/sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Content size (0 except for regular files).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// Extra PAX records (e.g. `APK-TOOLS.checksum.SHA1`), written sorted.
    pub pax: BTreeMap<String, Vec<u8>>,
}

impl TarHeader {
    /// A regular file of `size` bytes owned by root.
    pub fn file(path: &str, mode: u32, size: u64, mtime: u64) -> Self {
        TarHeader {
            path: path.to_string(),
            kind: TarKind::File,
            mode,
            uid: 0,
            gid: 0,
            size,
            mtime,
            pax: BTreeMap::new(),
        }
    }
}

const NAME_LEN: usize = 100;
/// Largest value of an 8-byte octal field (7 digits).
const MAX_OCTAL_8: u64 = 0o7_777_777;
/// Largest value of a 12-byte octal field (11 digits).
const MAX_OCTAL_12: u64 = 0o77_777_777_777;

/// Write `header` (preceded by a PAX header when needed) to `out`.
pub fn write_header(out: &mut impl Write, header: &TarHeader) -> io::Result<()> {
    let link = match &header.kind {
        TarKind::Symlink(target) | TarKind::Hardlink(target) => target.as_str(),
        _ => "",
    };
    let mut pax = header.pax.clone();
    if header.path.len() > NAME_LEN {
        pax.insert("path".into(), header.path.as_bytes().to_vec());
    }
    if link.len() > NAME_LEN {
        pax.insert("linkpath".into(), link.as_bytes().to_vec());
    }
    for (key, value) in [("uid", header.uid), ("gid", header.gid)] {
        if value > MAX_OCTAL_8 {
            pax.insert(key.into(), value.to_string().into_bytes());
        }
    }
    if header.size > MAX_OCTAL_12 {
        pax.insert("size".into(), header.size.to_string().into_bytes());
    }
    if !pax.is_empty() {
        let records = pax_records(&pax);
        let pax_header = ustar_block(
            &pax_header_name(&header.path),
            b'x',
            "",
            0o644,
            (0, 0),
            records.len() as u64,
            header.mtime,
        );
        out.write_all(&pax_header)?;
        out.write_all(&records)?;
        pad(out, records.len() as u64)?;
    }
    let typeflag = match header.kind {
        TarKind::File => b'0',
        TarKind::Hardlink(_) => b'1',
        TarKind::Symlink(_) => b'2',
        TarKind::Dir => b'5',
    };
    out.write_all(&ustar_block(
        &header.path,
        typeflag,
        link,
        header.mode,
        (header.uid, header.gid),
        header.size,
        header.mtime,
    ))
}

/// Write a whole regular file (header, content, padding).
pub fn write_file(out: &mut impl Write, header: &TarHeader, content: &[u8]) -> io::Result<()> {
    write_header(out, header)?;
    out.write_all(content)?;
    pad(out, content.len() as u64)
}

/// Zero-fill up to the next block boundary after `len` content bytes.
pub fn pad(out: &mut impl Write, len: u64) -> io::Result<()> {
    let rem = (len % BLOCK as u64) as usize;
    if rem != 0 {
        out.write_all(&[0; BLOCK][..BLOCK - rem])?;
    }
    Ok(())
}

/// `dir/PaxHeaders/base`, the conventional name of a PAX extended header,
/// cut to the ustar name field.
fn pax_header_name(path: &str) -> String {
    let (dir, base) = match path.rsplit_once('/') {
        Some((dir, base)) => (format!("{dir}/"), base),
        None => (String::new(), path),
    };
    truncate(&format!("{dir}PaxHeaders/{base}"), NAME_LEN).to_string()
}

/// PAX records `"<len> <key>=<value>\n"`, where len counts the whole record.
fn pax_records(pax: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in pax {
        let body = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut len = body + body.to_string().len();
        if len.to_string().len() != body.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One ustar header block. Values too large for their field were already
/// put in a PAX header; here they are clamped.
fn ustar_block(
    path: &str,
    typeflag: u8,
    link: &str,
    mode: u32,
    (uid, gid): (u64, u64),
    size: u64,
    mtime: u64,
) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    put(&mut block[0..100], truncate(path, NAME_LEN).as_bytes());
    octal(&mut block[100..108], u64::from(mode & 0o7777));
    octal(&mut block[108..116], uid.min(MAX_OCTAL_8));
    octal(&mut block[116..124], gid.min(MAX_OCTAL_8));
    octal(&mut block[124..136], size.min(MAX_OCTAL_12));
    octal(&mut block[136..148], mtime.min(MAX_OCTAL_12));
    block[156] = typeflag;
    put(&mut block[157..257], truncate(link, NAME_LEN).as_bytes());
    put(&mut block[257..263], b"ustar\0");
    put(&mut block[263..265], b"00");
    if uid == 0 {
        put(&mut block[265..297], b"root");
    }
    if gid == 0 {
        put(&mut block[297..329], b"root");
    }
    octal(&mut block[329..337], 0);
    octal(&mut block[337..345], 0);
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    octal(&mut block[148..155], u64::from(sum));
    block
}

fn put(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

/// Zero-padded octal filling the field but its last byte, which stays NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    put(field, text.as_bytes());
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        for value_len in [0usize, 1, 85, 86, 87, 95, 96, 97, 990, 995, 996, 1000] {
            let mut pax = BTreeMap::new();
            pax.insert("k".to_string(), vec![b'v'; value_len]);
            let rec = pax_records(&pax);
            let text = String::from_utf8(rec.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(
                len.parse::<usize>().unwrap(),
                rec.len(),
                "value_len {value_len}"
            );
        }
    }

    #[test]
    fn long_paths_and_pax_read_back_with_tar_crate() {
        let long = format!("{}/file", "d".repeat(150));
        let mut header = TarHeader::file(&long, 0o755, 3, 42);
        header
            .pax
            .insert("APK-TOOLS.checksum.SHA1".into(), b"abc".to_vec());
        let mut out = Vec::new();
        write_file(&mut out, &header, b"xyz").unwrap();
        out.extend_from_slice(&END_OF_ARCHIVE);
        let mut archive = tar::Archive::new(out.as_slice());
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str().unwrap(), long);
        assert_eq!(entry.header().mode().unwrap(), 0o755);
        assert_eq!(entry.header().mtime().unwrap(), 42);
        let pax: Vec<_> = entry
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|e| e.unwrap().key().unwrap().to_string())
            .collect();
        assert!(pax.contains(&"APK-TOOLS.checksum.SHA1".to_string()));
        let mut content = String::new();
        std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
        assert_eq!(content, "xyz");
        assert!(entries.next().is_none());
    }

    #[test]
    fn long_link_targets_and_big_ids_go_to_pax() {
        let target = format!("../{}", "t".repeat(200));
        let header = TarHeader {
            path: "usr/lib/link".into(),
            kind: TarKind::Symlink(target.clone()),
            mode: 0o777,
            uid: 10_000_000,
            gid: 5,
            size: 0,
            mtime: 0,
            pax: BTreeMap::new(),
        };
        let mut out = Vec::new();
        write_header(&mut out, &header).unwrap();
        assert_eq!(out.len() % BLOCK, 0);
        out.extend_from_slice(&END_OF_ARCHIVE);
        let mut archive = tar::Archive::new(out.as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.header().entry_type(), tar::EntryType::Symlink);
        assert_eq!(entry.link_name_bytes().unwrap().as_ref(), target.as_bytes());
        let pax: Vec<(String, String)> = entry
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.key().unwrap().to_string(), e.value().unwrap().to_string())
            })
            .collect();
        assert!(
            pax.contains(&("uid".to_string(), "10000000".to_string())),
            "{pax:?}"
        );
        assert!(!pax.iter().any(|(k, _)| k == "gid"));
    }
}
