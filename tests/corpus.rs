//! The Wolfi corpus (../shared/corpus/wolfi, 418 real melange files, with
//! Wolfi's own pipeline dir ../shared/corpus/wolfi-pipelines): every file
//! must parse, decode and plan — `uses:` of Wolfi's pipelines and of our
//! built-in library included — and its LLB must compile. Anything else (an
//! error, a panic) is a bug in the language layer.

use std::path::PathBuf;

use melange_frontend::llb::{self, BuildInputs, ContextSource};
use melange_frontend::plan::{self, BuildOptions};
use melange_frontend::proto::pb;
use melange_frontend::{cli, config};

#[test]
fn every_corpus_file_decodes_plans_and_compiles() {
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
    let pipelines = dir.with_file_name("wolfi-pipelines");
    let mut options = BuildOptions::default();
    options.named_contexts.insert(
        plan::ENVIRONMENT_CONTEXT.into(),
        "docker-image://melange-test-env:busybox".into(),
    );
    let mut failures = Vec::new();
    let mut steps = 0;
    // `uses: git-checkout` steps done by BuildKit's Git source vs the script.
    let (mut git_native, mut git_script) = (0, 0);
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
            Ok(planned) => {
                steps += planned.steps.len();
                for step in &planned.steps {
                    match &step.source {
                        Some(plan::sources::NativeSource::GitCheckout(_)) => git_native += 1,
                        _ if step.script.contains("[git-checkout]") => git_script += 1,
                        _ => {}
                    }
                }
                if let Err(e) = llb::compile(&planned, &inputs(&name)) {
                    failures.push(format!("llb: {name}: {e}"));
                }
            }
            Err(e) => failures.push(format!("plan: {e}")),
        }
    }
    eprintln!(
        "{} of {} files planned ({steps} steps)",
        files.len() - failures.len(),
        files.len()
    );
    eprintln!("git-checkout: {git_native} native, {git_script} script");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Nearly every Wolfi checkout is a tag pinned by expected-commit: those
    // must go native (the rest: branches with history, cherry-picks, depth).
    assert!(
        git_native > 9 * git_script,
        "{git_native} native vs {git_script} script"
    );
}

fn inputs(file: &str) -> BuildInputs {
    BuildInputs::offline(
        ContextSource::Image("docker.io/library/melange-test-env:busybox".into()),
        "docker.io/library/melange-frontend:dev",
        file,
        pb::Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        },
    )
}
