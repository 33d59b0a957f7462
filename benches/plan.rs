//! Planning benchmark: how long the frontend spends between reading the build
//! file and having a Definition to solve (parse → decode → plan → LLB), per
//! corpus file, plus the YAML layer alone on the largest file. Run through
//! `hack/bench-plan`, which also measures peak memory; figures go in notes,
//! never into assertions.

mod common;

use common::{median, ms};
use std::path::{Path, PathBuf};
use std::time::Instant;

use melange_frontend::cli;
use melange_frontend::config::{self, yaml};
use melange_frontend::llb::{self, BuildInputs, ContextSource};
use melange_frontend::plan::{self, BuildOptions};
use melange_frontend::proto::pb;

const ROUNDS: usize = 200;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/wolfi");
    let mut files: Vec<(u64, PathBuf)> = match std::fs::read_dir(&corpus) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| (std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0), p))
            .collect(),
        Err(e) => {
            eprintln!("{}: {e}", corpus.display());
            std::process::exit(1);
        }
    };
    files.sort();
    let Some((size, largest)) = files.last().cloned() else {
        eprintln!("no YAML files in {}", corpus.display());
        std::process::exit(1);
    };
    let text = std::fs::read_to_string(&largest).unwrap_or_default();
    let parse = median(ROUNDS, || {
        std::hint::black_box(yaml::parse(&text).map(|_| ()).ok());
    });
    let file = name(&largest);
    let load = median(ROUNDS, || {
        std::hint::black_box(config::load(&file, &text).map(|_| ()).ok());
    });
    println!(
        "largest corpus file {file} ({size} bytes): YAML parse with spans, median {}; parse + schema check + decode, median {}",
        ms(parse),
        ms(load)
    );
    let mut planned = 0;
    for (size, path) in files.iter().rev() {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        match plan_once(path, &text) {
            Ok(()) => {
                let t = median(ROUNDS, || {
                    std::hint::black_box(plan_once(path, &text).ok());
                });
                println!("plan + LLB {} ({size} bytes): median {}", name(path), ms(t));
                planned += 1;
            }
            Err(e) if path == &largest => println!("plan {}: not planned: {e}", name(path)),
            Err(_) => {}
        }
    }
    println!(
        "{planned} of {} corpus files planned by this version",
        files.len()
    );
    let all = Instant::now();
    for (_, path) in &files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        std::hint::black_box(plan_once(path, &text).ok());
    }
    println!(
        "whole corpus read + parse + decode + plan (or refusal), single-threaded, once: {}",
        ms(all.elapsed())
    );
}

/// The frontend's pure path for one file.
fn plan_once(path: &Path, text: &str) -> Result<(), String> {
    let file = name(path);
    let mut options = BuildOptions::default();
    options.named_contexts.insert(
        plan::ENVIRONMENT_CONTEXT.to_string(),
        "docker-image://melange-test-env:busybox".to_string(),
    );
    let config = config::load(&file, text).map_err(|e| e.to_string())?;
    // Wolfi's own pipeline dir, read from disk as the gateway reads it from
    // the context: part of the measured path.
    let pipelines: Vec<PathBuf> = path
        .parent()
        .and_then(Path::parent)
        .map(|corpus| corpus.join("wolfi-pipelines"))
        .into_iter()
        .collect();
    let library = cli::read_library(&config, &pipelines);
    let plan = plan::plan(&file, &config, &options, &library).map_err(|e| e.to_string())?;
    let inputs = BuildInputs::offline(
        ContextSource::Image("docker.io/library/melange-test-env:busybox".into()),
        "docker.io/library/melange-frontend:dev",
        &file,
        pb::Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        },
    );
    llb::compile(&plan, &inputs).map_err(|e| e.to_string())?;
    Ok(())
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
