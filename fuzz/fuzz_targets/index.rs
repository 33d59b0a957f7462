//! The APKINDEX reader on arbitrary bytes: `ApkIndex::parse` for gzip input
//! (`1f 8b` magic: signature member, index member, its tar), `parse_records`
//! for anything else (the `APKINDEX` text itself, without a compressor in
//! the way); then each record's dependency atoms as the resolver reads
//! them. Records whose values hold no control characters must survive the
//! writer: `to_text` read back gives the same record. Bad input must come
//! back as an error; a panic, an abort, a hang or unbounded memory is a bug.
//!
//! `FUZZ_VERBOSE=1` prints each outcome.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use melange_frontend::apk::index::parse_records;
use melange_frontend::apk::{ApkIndex, Dependency, IndexRecord, Provide};

fuzz_target!(|data: &[u8]| {
    let outcome = records(data).map(|records| {
        for record in &records {
            check(record);
        }
        format!("{} records", records.len())
    });
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    if *VERBOSE.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some_and(|v| v == "1")) {
        eprintln!("{}", outcome.unwrap_or_else(|e| e));
    }
});

fn records(data: &[u8]) -> Result<Vec<IndexRecord>, String> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let index = ApkIndex::parse(data).map_err(|e| format!("parse: {e}"))?;
        return Ok(index.records);
    }
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    parse_records(text).map_err(|e| format!("records: {e}"))
}

fn check(record: &IndexRecord) {
    for atom in record.depends.iter().chain(&record.install_if) {
        let _ = Dependency::parse_index(atom);
    }
    for provide in &record.provides {
        let _ = Provide::parse(provide);
    }
    let text = record.to_text();
    if text.lines().any(|l| l.chars().any(char::is_control)) {
        return;
    }
    let again = parse_records(&text)
        .unwrap_or_else(|e| panic!("written record does not read back: {e}\n{text}"));
    assert_eq!(
        again.len(),
        1,
        "one record written, {} read:\n{text}",
        again.len()
    );
    assert_eq!(again[0].to_text(), text, "record reads back differently");
}
