//! YAML → config alone (`config::load` and `config::load_pipeline`) on
//! arbitrary text: the parser, the schema walk and the decoder, without
//! planning (the `plan` target goes on from here). Bad input must come back
//! as an error; a panic, an abort, a hang or unbounded memory is a bug.
//!
//! Input: the text of a build file, also read as a pipeline file (UTF-8;
//! other inputs are skipped). `FUZZ_VERBOSE=1` prints each outcome.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use melange_frontend::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let build = config::load("melange.yaml", text)
        .map(|c| {
            format!(
                "{} steps, {} subpackages",
                c.pipeline.len(),
                c.subpackages.len()
            )
        })
        .map_err(|e| e.to_string());
    let pipeline = config::load_pipeline("pipelines/fuzz.yaml", text)
        .map(|step| format!("step at {}:{}", step.pos.line, step.pos.col))
        .map_err(|e| e.to_string());
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    if *VERBOSE.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some_and(|v| v == "1")) {
        eprintln!("build file: {build:?}\npipeline: {pipeline:?}");
    }
});
