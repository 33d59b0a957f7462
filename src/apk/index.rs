//! `APKINDEX.tar.gz`: an optional signature member, then one gzip'ed tar
//! (with end blocks) holding `DESCRIPTION` and `APKINDEX`. `APKINDEX` is
//! blank-line separated records of `X:value` lines, one per package.

use std::fmt::Write as _;

use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::package::{read_signatures, tar_files};
use super::pkginfo::refuse;
use super::sign::{signature_member, SignatureAlgo, SignatureEntry, SigningKey};
use super::tarball::{self, TarHeader};
use super::write::WrittenPackage;
use super::{gzip, ApkError, ApkFile, PkgInfo};

/// A parsed index file.
#[derive(Debug, Clone)]
pub struct ApkIndex {
    /// Signatures (empty: unsigned index).
    pub signatures: Vec<SignatureEntry>,
    /// The compressed index member: what signatures cover.
    pub signed: Vec<u8>,
    /// `DESCRIPTION` content.
    pub description: String,
    /// One record per package, in file order.
    pub records: Vec<IndexRecord>,
}

/// One package's `APKINDEX` record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexRecord {
    /// `C:` `Q1` + base64 SHA-1 of the package's compressed control member.
    pub checksum: String,
    /// `P:` name.
    pub name: String,
    /// `V:` version.
    pub version: String,
    /// `A:` architecture.
    pub arch: String,
    /// `S:` package file size.
    pub size: u64,
    /// `I:` installed size.
    pub installed_size: u64,
    /// `T:` description.
    pub description: String,
    /// `U:` project URL.
    pub url: String,
    /// `L:` license.
    pub license: String,
    /// `o:` origin.
    pub origin: String,
    /// `m:` maintainer.
    pub maintainer: String,
    /// `t:` build time.
    pub build_time: u64,
    /// `c:` commit.
    pub commit: String,
    /// `k:` provider priority (0 = not given).
    pub provider_priority: u64,
    /// `D:` dependencies.
    pub depends: Vec<String>,
    /// `p:` provides.
    pub provides: Vec<String>,
    /// `i:` install_if.
    pub install_if: Vec<String>,
    /// `r:` replaces.
    pub replaces: Vec<String>,
    /// Other fields, in file order.
    pub other: Vec<(char, String)>,
}

impl ApkIndex {
    /// Parse an index file held in memory.
    pub fn parse(bytes: &[u8]) -> Result<ApkIndex, ApkError> {
        let first = gzip::read_member(bytes, 0, "first gzip member")?;
        let signatures = read_signatures(&first.content)?;
        let member = if signatures.is_empty() {
            first
        } else {
            gzip::read_member(bytes, first.range.end, "index member")?
        };
        if member.range.end != bytes.len() {
            return Err(ApkError::malformed(
                "APKINDEX.tar.gz",
                format!(
                    "{} unexpected bytes after the index member",
                    bytes.len() - member.range.end
                ),
            ));
        }
        let (mut description, mut text) = (String::new(), None);
        for (name, _, content) in tar_files(&member.content, "index member")? {
            let content = String::from_utf8(content).map_err(|_| {
                ApkError::malformed("APKINDEX.tar.gz", format!("{name} is not UTF-8 text"))
            })?;
            match name.as_str() {
                "DESCRIPTION" => description = content,
                "APKINDEX" => text = Some(content),
                _ => {}
            }
        }
        let text =
            text.ok_or_else(|| ApkError::malformed("APKINDEX.tar.gz", "no APKINDEX file"))?;
        Ok(ApkIndex {
            signatures,
            signed: bytes[member.range].to_vec(),
            description,
            records: parse_records(&text)?,
        })
    }
}

/// Parse `APKINDEX` text into records.
pub fn parse_records(text: &str) -> Result<Vec<IndexRecord>, ApkError> {
    let mut records = Vec::new();
    let mut current: Option<IndexRecord> = None;
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            records.extend(current.take());
            continue;
        }
        // Byte 1 is an ASCII ':', so byte 0 is a whole character and 2 a
        // character boundary.
        let (key, value) = match line.as_bytes() {
            [key, b':', ..] => (*key as char, &line[2..]),
            _ => {
                return Err(ApkError::malformed(
                    "APKINDEX",
                    format!("line {}: expected `X:value`, got {line:?}", n + 1),
                ))
            }
        };
        current
            .get_or_insert_with(IndexRecord::default)
            .set(key, value, n + 1)?;
    }
    records.extend(current);
    Ok(records)
}

impl IndexRecord {
    fn set(&mut self, key: char, value: &str, line: usize) -> Result<(), ApkError> {
        let number = || {
            value.parse::<u64>().map_err(|_| {
                ApkError::malformed(
                    "APKINDEX",
                    format!("line {line}: {key}: must be a number, got {value:?}"),
                )
            })
        };
        let words = || {
            value
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        match key {
            'C' => self.checksum = value.into(),
            'P' => self.name = value.into(),
            'V' => self.version = value.into(),
            'A' => self.arch = value.into(),
            'S' => self.size = number()?,
            'I' => self.installed_size = number()?,
            'T' => self.description = value.into(),
            'U' => self.url = value.into(),
            'L' => self.license = value.into(),
            'o' => self.origin = value.into(),
            'm' => self.maintainer = value.into(),
            't' => self.build_time = number()?,
            'c' => self.commit = value.into(),
            'k' => self.provider_priority = number()?,
            // As apk: a list field given on several lines is one list.
            'D' => self.depends.extend(words()),
            'p' => self.provides.extend(words()),
            'i' => self.install_if.extend(words()),
            'r' => self.replaces.extend(words()),
            _ => self.other.push((key, value.into())),
        }
        Ok(())
    }

    /// The record for a parsed package file.
    pub fn from_package(apk: &ApkFile) -> IndexRecord {
        IndexRecord::from_parts(&apk.pkginfo, &apk.control, apk.file_size)
    }

    /// The record for a package just written, from what the writer
    /// returned: the same record [`from_package`](Self::from_package) gives
    /// for the file, without reading it back.
    pub fn from_written(written: &WrittenPackage) -> IndexRecord {
        IndexRecord::from_parts(&written.pkginfo, &written.control, written.file_size)
    }

    /// The record for a package's `.PKGINFO`, compressed control member and
    /// file size.
    fn from_parts(info: &PkgInfo, control: &[u8], file_size: u64) -> IndexRecord {
        IndexRecord {
            checksum: control_checksum(control),
            name: info.pkgname.clone(),
            version: info.pkgver.clone(),
            arch: info.arch.clone(),
            size: file_size,
            installed_size: info.size,
            description: info.pkgdesc.clone(),
            url: info.url.clone(),
            license: info.license.join(" AND "),
            origin: info.origin.clone(),
            maintainer: info.maintainer.clone(),
            build_time: info.builddate,
            commit: info.commit.clone(),
            provider_priority: info.provider_priority,
            depends: info.depends.clone(),
            provides: info.provides.clone(),
            install_if: info.install_if.clone(),
            // apk-tools and melange leave `replaces` out of indexes (apk
            // reads it from the package when installing).
            replaces: Vec::new(),
            other: Vec::new(),
        }
    }

    /// Refuse a value that would break out of its `X:value` line (a line
    /// break would forge a record) or a list entry with a space (read back
    /// as two): the index writer calls this for every record.
    pub fn check(&self) -> Result<(), ApkError> {
        let what = format!("APKINDEX record {:?}", self.name);
        for (key, value) in [
            ("C", &self.checksum),
            ("P", &self.name),
            ("V", &self.version),
            ("A", &self.arch),
            ("T", &self.description),
            ("U", &self.url),
            ("L", &self.license),
            ("o", &self.origin),
            ("m", &self.maintainer),
            ("c", &self.commit),
        ] {
            refuse(&what, key, value, false)?;
        }
        for (key, list) in [
            ("D", &self.depends),
            ("p", &self.provides),
            ("i", &self.install_if),
            ("r", &self.replaces),
        ] {
            for value in list {
                refuse(&what, key, value, true)?;
            }
        }
        for (key, value) in &self.other {
            refuse(&what, &key.to_string(), value, false)?;
            refuse(&what, "a key", &key.to_string(), true)?;
        }
        Ok(())
    }

    /// The record as `APKINDEX` lines in apk-tools' order, ending with the
    /// blank separator line. Empty text fields are left out; S, I and t are
    /// always written (as melange does).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut line = |key: char, value: &str| {
            if !value.is_empty() {
                let _ = writeln!(out, "{key}:{value}");
            }
        };
        line('C', &self.checksum);
        line('P', &self.name);
        line('V', &self.version);
        line('A', &self.arch);
        line('S', &self.size.to_string());
        line('I', &self.installed_size.to_string());
        line('T', &self.description);
        line('U', &self.url);
        line('L', &self.license);
        line('o', &self.origin);
        line('m', &self.maintainer);
        line('t', &self.build_time.to_string());
        line('c', &self.commit);
        if self.provider_priority != 0 {
            line('k', &self.provider_priority.to_string());
        }
        line('D', &self.depends.join(" "));
        line('p', &self.provides.join(" "));
        line('i', &self.install_if.join(" "));
        line('r', &self.replaces.join(" "));
        for (key, value) in &self.other {
            line(*key, value);
        }
        out.push('\n');
        out
    }
}

/// `Q1` + base64 of the SHA-1 of a compressed control member: how indexes
/// and the installed database name a package build.
pub fn control_checksum(control: &[u8]) -> String {
    format!(
        "Q1{}",
        base64::engine::general_purpose::STANDARD.encode(Sha1::digest(control))
    )
}

/// Build an index file: records sorted by name then version, a
/// `DESCRIPTION`, and a RSA256 signature when `key` is given.
pub fn write_index(
    records: &[IndexRecord],
    description: &str,
    key: Option<&SigningKey>,
) -> Result<Vec<u8>, ApkError> {
    for record in records {
        record.check()?;
    }
    let mut sorted: Vec<&IndexRecord> = records.iter().collect();
    sorted.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    let text: String = sorted.iter().map(|r| r.to_text()).collect();
    let mut tar = Vec::new();
    for (name, content) in [
        ("DESCRIPTION", description.as_bytes()),
        ("APKINDEX", text.as_bytes()),
    ] {
        let header = TarHeader::file(name, 0o644, content.len() as u64, 0);
        tarball::write_file(&mut tar, &header, content).map_err(|e| ApkError::io(name, e))?;
    }
    tar.extend_from_slice(&tarball::END_OF_ARCHIVE);
    let member = gzip::compress(&tar);
    match key {
        Some(key) => signed_file(&member, key),
        None => Ok(member),
    }
}

/// Replace an index file's signatures with one RSA256 signature by `key`.
pub fn sign_index(bytes: &[u8], key: &SigningKey) -> Result<Vec<u8>, ApkError> {
    let index = ApkIndex::parse(bytes)?;
    signed_file(&index.signed, key)
}

fn signed_file(member: &[u8], key: &SigningKey) -> Result<Vec<u8>, ApkError> {
    let signature = key.sign(SignatureAlgo::RsaSha256, member)?;
    let mut out = signature_member(&signature, 0);
    out.extend_from_slice(member);
    Ok(out)
}
