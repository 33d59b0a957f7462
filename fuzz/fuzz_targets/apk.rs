//! The APK package reader on arbitrary bytes: `ApkFile::parse` (gzip
//! members, signature and control tars, `.PKGINFO`, the data member through
//! `tarread`), then what the tools do with a parsed package (content
//! checks, its index record). Input that is not gzip (no `1f 8b` magic) is
//! read as `.PKGINFO` text by `PkgInfo::parse`, so the line format is
//! fuzzed without a compressor in the way. Bad input must come back as an
//! error; a panic, an abort, a hang or unbounded memory is a bug.
//!
//! `FUZZ_VERBOSE=1` prints each outcome.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use melange_frontend::apk::{verify_contents, ApkFile, IndexRecord, PkgInfo};

fuzz_target!(|data: &[u8]| {
    let outcome = if data.starts_with(&[0x1f, 0x8b]) {
        package(data)
    } else {
        pkginfo(data)
    };
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    if *VERBOSE.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some_and(|v| v == "1")) {
        eprintln!("{}", outcome.unwrap_or_else(|e| e));
    }
});

fn package(data: &[u8]) -> Result<String, String> {
    let apk = ApkFile::parse(data).map_err(|e| format!("parse: {e}"))?;
    let record = IndexRecord::from_package(&apk).to_text();
    let contents = verify_contents(&apk).map_err(|e| e.to_string());
    Ok(format!(
        "{} entries, {} scriptlets, signed: {}, contents: {contents:?}\n{record}",
        apk.entries.len(),
        apk.scriptlets().len(),
        apk.is_signed()
    ))
}

fn pkginfo(data: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    let info = PkgInfo::parse(text).map_err(|e| format!(".PKGINFO: {e}"))?;
    Ok(format!("{}\n{}", info.name_version(), info.to_text()))
}
