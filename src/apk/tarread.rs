//! A streaming tar reader for data members: ustar and GNU headers, PAX
//! extended headers parsed by their length prefixes, GNU long names.
//!
//! Why not the `tar` crate here: it splits PAX headers on newlines before
//! honouring the record lengths (tar-rs issues #428, #452), so an entry
//! whose extended attribute value holds a 0x0A byte — a file capability can
//! — fails to parse, and a crafted value can even smuggle in a `path` or
//! `linkpath` record that other readers do not see. apk-tools, GNU tar and
//! Go read records by length, and so does this. Control and signature
//! members (small, written by apk tools) still use the `tar` crate.
//!
//! Everything here is bounded: extension headers over [`MAX_EXTENSION`]
//! bytes, bad checksums, bad numbers and truncation are errors.

use std::io::{self, Read};

const BLOCK: usize = 512;

/// Largest PAX or GNU long-name header accepted (real ones are a few KiB).
pub const MAX_EXTENSION: u64 = 1 << 20;

/// One entry's header, with its extension headers applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarEntry {
    /// Path (PAX `path`, GNU long name, or ustar prefix + name).
    pub path: Vec<u8>,
    /// Link target (PAX `linkpath`, GNU long link, or the header's).
    pub link: Vec<u8>,
    /// Type flag byte (`0`, `5`, `2`, …).
    pub typeflag: u8,
    /// The mode field as stored (permission bits, and file type bits if the
    /// writer put them there).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Content size.
    pub size: u64,
    /// Modification time (whole seconds).
    pub mtime: u64,
    /// Every record of the entry's PAX header, in order: key, raw value.
    pub pax: Vec<(String, Vec<u8>)>,
}

/// Reads entries one by one; content is read with [`TarReader::content`]
/// or skipped by the next [`TarReader::next_entry`].
pub struct TarReader<R> {
    inner: R,
    /// Content bytes of the current entry not read yet, then its padding.
    left: u64,
    padding: u64,
    ended: bool,
}

fn bad(reason: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.into())
}

impl<R: Read> TarReader<R> {
    /// Read tar entries from `inner`.
    pub fn new(inner: R) -> Self {
        TarReader {
            inner,
            left: 0,
            padding: 0,
            ended: false,
        }
    }

    /// The underlying reader (positioned after the end blocks once
    /// [`next_entry`](Self::next_entry) returned `None`).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next entry, or `None` at the end-of-archive block or at a clean
    /// end of input between entries.
    pub fn next_entry(&mut self) -> io::Result<Option<TarEntry>> {
        let rest = self.left + self.padding;
        skip(&mut self.inner, rest)?;
        (self.left, self.padding) = (0, 0);
        if self.ended {
            return Ok(None);
        }
        let mut entry = TarEntry::default();
        let (mut long_name, mut long_link) = (None, None);
        let mut pax: Option<Vec<(String, Vec<u8>)>> = None;
        loop {
            let Some(block) = self.read_header()? else {
                if pax.is_some() || long_name.is_some() || long_link.is_some() {
                    return Err(bad("archive ends after an extension header"));
                }
                self.ended = true;
                return Ok(None);
            };
            let size = number(&block[124..136], "size")?;
            match block[156] {
                flag @ (b'x' | b'g' | b'L' | b'K') => {
                    if size > MAX_EXTENSION {
                        return Err(bad(format!("extension header of {size} bytes")));
                    }
                    let mut data = vec![0; size as usize];
                    self.inner.read_exact(&mut data)?;
                    skip(&mut self.inner, pad(size))?;
                    match flag {
                        b'x' => pax = Some(pax_records(&data)?),
                        // Global headers set defaults apk-tools ignores.
                        b'g' => {}
                        b'L' => long_name = Some(until_nul(&data).to_vec()),
                        _ => long_link = Some(until_nul(&data).to_vec()),
                    }
                }
                typeflag => {
                    entry.typeflag = typeflag;
                    entry.path = long_name.unwrap_or_else(|| ustar_path(&block));
                    entry.link = long_link.unwrap_or_else(|| until_nul(&block[157..257]).to_vec());
                    entry.mode = u32::try_from(number(&block[100..108], "mode")?)
                        .map_err(|_| bad("mode out of range"))?;
                    entry.uid = number(&block[108..116], "uid")?;
                    entry.gid = number(&block[116..124], "gid")?;
                    entry.mtime = number(&block[136..148], "mtime")?;
                    entry.size = size;
                    for (key, value) in pax.iter().flatten() {
                        apply_pax(&mut entry, key, value)?;
                    }
                    entry.pax = pax.unwrap_or_default();
                    self.left = entry.size;
                    self.padding = pad(entry.size);
                    return Ok(Some(entry));
                }
            }
        }
    }

    /// Read the current entry's content into `sink`.
    pub fn content(&mut self, sink: &mut impl io::Write) -> io::Result<u64> {
        let n = io::copy(&mut (&mut self.inner).take(self.left), sink)?;
        if n != self.left {
            return Err(bad("archive ends inside an entry's content"));
        }
        self.left = 0;
        Ok(n)
    }

    /// A header block, or `None` at an all-zero block or a clean end.
    fn read_header(&mut self) -> io::Result<Option<[u8; BLOCK]>> {
        let mut block = [0u8; BLOCK];
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(None),
                Ok(0) => return Err(bad("archive ends inside a header")),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if block.iter().all(|&b| b == 0) {
            return Ok(None);
        }
        let stored = number(&block[148..156], "checksum")?;
        let mut unsigned = 0u64;
        let mut signed = 0i64;
        for (i, &b) in block.iter().enumerate() {
            let b = if (148..156).contains(&i) { b' ' } else { b };
            unsigned += u64::from(b);
            signed += i64::from(b as i8);
        }
        if stored != unsigned && i64::try_from(stored).ok() != Some(signed) {
            return Err(bad("header checksum mismatch"));
        }
        Ok(Some(block))
    }
}

fn pad(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn skip(inner: &mut impl Read, n: u64) -> io::Result<()> {
    if io::copy(&mut inner.take(n), &mut io::sink())? != n {
        return Err(bad("archive ends inside an entry"));
    }
    Ok(())
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes.split(|&b| b == 0).next().unwrap_or_default()
}

/// Name, with the ustar prefix when the header is POSIX ustar (GNU headers
/// use those bytes for other fields).
fn ustar_path(block: &[u8; BLOCK]) -> Vec<u8> {
    let name = until_nul(&block[0..100]);
    let prefix = until_nul(&block[345..500]);
    if &block[257..263] == b"ustar\0" && !prefix.is_empty() {
        [prefix, b"/", name].concat()
    } else {
        name.to_vec()
    }
}

/// A numeric field: octal (spaces and NULs around it) or GNU base-256.
fn number(field: &[u8], what: &str) -> io::Result<u64> {
    if field.first().is_some_and(|&b| b & 0x80 != 0) {
        if field[0] == 0xff {
            return Err(bad(format!("negative {what}")));
        }
        let mut value = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            value = value
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(|| bad(format!("{what} out of range")))?;
        }
        return Ok(value);
    }
    let text = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ');
    let mut value = 0u64;
    for b in text {
        if !(b'0'..=b'7').contains(&b) {
            return Err(bad(format!("{what} is not octal")));
        }
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or_else(|| bad(format!("{what} out of range")))?;
    }
    Ok(value)
}

/// PAX records `"<len> <key>=<value>\n"`, each taken by its length.
pub fn pax_records(mut data: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    // Some writers pad the header's content with NULs.
    while data.first().is_some_and(|&b| b != 0) {
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("PAX record without a length"))?;
        let len = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&len| len > space + 1 && len <= data.len())
            .ok_or_else(|| bad("bad PAX record length"))?;
        let record = &data[space + 1..len];
        let Some((b'\n', body)) = record.split_last() else {
            return Err(bad("PAX record does not end with a newline"));
        };
        let equals = body
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("PAX record without '='"))?;
        let key =
            std::str::from_utf8(&body[..equals]).map_err(|_| bad("PAX keyword is not UTF-8"))?;
        out.push((key.to_string(), body[equals + 1..].to_vec()));
        data = &data[len..];
    }
    Ok(out)
}

fn apply_pax(entry: &mut TarEntry, key: &str, value: &[u8]) -> io::Result<()> {
    let decimal = |what: &str| -> io::Result<u64> {
        let text = std::str::from_utf8(value).unwrap_or_default();
        // mtime may carry a fraction; whole seconds are kept.
        let whole = text.split('.').next().unwrap_or_default();
        whole
            .parse()
            .map_err(|_| bad(format!("bad PAX {what} {text:?}")))
    };
    match key {
        "path" => entry.path = value.to_vec(),
        "linkpath" => entry.link = value.to_vec(),
        "size" => entry.size = decimal("size")?,
        "uid" => entry.uid = decimal("uid")?,
        "gid" => entry.gid = decimal("gid")?,
        "mtime" => entry.mtime = decimal("mtime")?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::apk::tarball::{self, TarHeader, TarKind, END_OF_ARCHIVE};

    fn read_all(bytes: &[u8]) -> io::Result<Vec<(TarEntry, Vec<u8>)>> {
        let mut reader = TarReader::new(bytes);
        let mut out = Vec::new();
        while let Some(entry) = reader.next_entry()? {
            let mut content = Vec::new();
            reader.content(&mut content)?;
            out.push((entry, content));
        }
        Ok(out)
    }

    #[test]
    fn pax_values_with_newlines_are_taken_by_length_and_smuggle_nothing() {
        let value = b"\x01\x00\x00\x02\x0a\n22 linkpath=/etc/evil\n".to_vec();
        let mut header = TarHeader {
            path: "usr/bin/ping".into(),
            kind: TarKind::Symlink("busybox".into()),
            mode: 0o777,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: 7,
            pax: BTreeMap::from([("SCHILY.xattr.security.capability".into(), value.clone())]),
        };
        let mut tar = Vec::new();
        tarball::write_header(&mut tar, &header).unwrap();
        header.path = format!("{}/long", "d".repeat(120));
        header.kind = TarKind::File;
        header.size = 3;
        tarball::write_file(&mut tar, &header, b"abc").unwrap();
        tar.extend_from_slice(&END_OF_ARCHIVE);
        let entries = read_all(&tar).unwrap();
        assert_eq!(entries.len(), 2);
        let (link, _) = &entries[0];
        assert_eq!(link.link, b"busybox", "no smuggled linkpath");
        assert_eq!(
            link.pax,
            [("SCHILY.xattr.security.capability".into(), value)]
        );
        let (file, content) = &entries[1];
        assert_eq!(file.path, header.path.as_bytes());
        assert_eq!(
            (file.size, file.mtime, content.as_slice()),
            (3, 7, &b"abc"[..])
        );
    }

    #[test]
    fn gnu_long_names_and_ustar_prefixes_are_read() {
        let long = format!("{}/file", "x".repeat(150));
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, &long, &b"hi"[..]).unwrap();
        let mut ustar = tar::Header::new_ustar();
        ustar.set_path(format!("{}/short", "p".repeat(90))).unwrap();
        ustar.set_size(0);
        ustar.set_cksum();
        builder.append(&ustar, &b""[..]).unwrap();
        let bytes = builder.into_inner().unwrap();
        let entries = read_all(&bytes).unwrap();
        assert_eq!(entries[0].0.path, long.as_bytes());
        assert_eq!(entries[0].1, b"hi");
        assert_eq!(
            entries[1].0.path,
            format!("{}/short", "p".repeat(90)).as_bytes()
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(pax_records(b"9 a=b\n").is_err(), "length past the end");
        assert!(pax_records(b"0 =\n").is_err());
        assert!(pax_records(b"6 ab\nx").is_err(), "no '='");
        assert!(pax_records(b"6 a=bc").is_err(), "no newline");
        assert!(pax_records(b"x a=b\n").is_err());
        assert!(pax_records(b"99999999999999999999999 a=b\n").is_err());
        assert_eq!(pax_records(b"6 a=b\n\0\0").unwrap().len(), 1);
        assert!(number(b"12x\0", "n").is_err());
        assert!(number(&[0xff; 8], "n").is_err());
        assert!(number(&[0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "n").is_err());
        assert_eq!(number(&[0x80, 0, 0, 0, 0, 0, 1, 0], "n").unwrap(), 256);
        assert_eq!(number(b"  0755 \0", "n").unwrap(), 0o755);

        let mut tar = Vec::new();
        tarball::write_file(&mut tar, &TarHeader::file("f", 0o644, 600, 0), &[1; 600]).unwrap();
        for cut in [100, 512, 700, tar.len() - 1] {
            assert!(read_all(&tar[..cut]).is_err(), "cut at {cut}");
        }
        let mut corrupt = tar.clone();
        corrupt[0] ^= 1;
        assert!(read_all(&corrupt)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        let mut huge = Vec::new();
        let pax = TarHeader {
            pax: BTreeMap::from([("k".into(), vec![b'v'; 2 << 20])]),
            ..TarHeader::file("f", 0o644, 0, 0)
        };
        tarball::write_header(&mut huge, &pax).unwrap();
        assert!(read_all(&huge).is_err(), "extension header over the limit");
    }
}
