//! The data-member tar reader (`apk::tarread`) on arbitrary bytes: every
//! entry's header with its PAX / GNU extension headers applied, and every
//! content read (odd entries are skipped instead, as `next_entry` allows),
//! until the end or the first error. Bad input must come back as an error;
//! a panic, an abort, a hang or unbounded memory is a bug. The reader also
//! must not report more content than the input holds.
//!
//! `FUZZ_VERBOSE=1` prints each entry.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use melange_frontend::apk::tarread::{pax_records, TarReader};

fuzz_target!(|data: &[u8]| {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    let verbose =
        *VERBOSE.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some_and(|v| v == "1"));
    let mut reader = TarReader::new(data);
    let mut read = 0u64;
    for n in 0.. {
        let entry = match reader.next_entry() {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => {
                if verbose {
                    eprintln!("error: {e}");
                }
                return;
            }
        };
        if verbose {
            eprintln!("{entry:?}");
        }
        if n % 2 == 0 {
            match reader.content(&mut std::io::sink()) {
                Ok(size) => read += size,
                Err(_) => return,
            }
        }
    }
    assert!(
        read <= data.len() as u64,
        "{read} content bytes from {} input bytes",
        data.len()
    );
    // PAX records straight from the input, as a header's content.
    let _ = pax_records(data);
});
