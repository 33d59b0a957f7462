//! The Wolfi corpus (../shared/corpus/wolfi, 418 real melange files): every
//! file must parse and decode — every key of melange's schema is known — and
//! planning must either succeed or stop at a feature this version refuses,
//! at a position in the file. Anything else (a decode error, an unlocated
//! error, a panic) is a bug in the language layer.

use std::path::PathBuf;

use melange_frontend::plan::{self, BuildOptions};
use melange_frontend::{cli, config};

/// Refusals this version makes on purpose, with the feature each names.
const REFUSED: &[&str] = &["`capabilities:` is not supported by this version"];

#[test]
fn every_corpus_file_decodes_and_plans_or_is_refused_at_a_position() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/wolfi");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 400,
        "corpus incomplete: {} files",
        files.len()
    );
    let mut options = BuildOptions::default();
    options.named_contexts.insert(
        plan::ENVIRONMENT_CONTEXT.into(),
        "docker-image://melange-test-env:busybox".into(),
    );
    let pipelines = dir.with_file_name("wolfi-pipelines");
    let (mut planned, mut refused) = (0, 0);
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let config = match config::load(&name, &text) {
            Ok(config) => config,
            Err(e) => {
                failures.push(format!("decode: {e}"));
                continue;
            }
        };
        let library = cli::read_library(&config, std::slice::from_ref(&pipelines));
        match plan::plan(&name, &config, &options, &library) {
            Ok(_) => planned += 1,
            Err(e) if e.pos.line > 0 && REFUSED.iter().any(|r| e.message.contains(r)) => {
                refused += 1
            }
            Err(e) => failures.push(format!("plan: {e}")),
        }
    }
    eprintln!(
        "{planned} planned, {refused} refused on purpose, of {}",
        files.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
