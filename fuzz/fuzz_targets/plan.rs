//! The frontend's pure path on arbitrary input: YAML text → `config::load`
//! → `plan::plan` (with `uses:` pipelines; the default target, `packages`)
//! → `llb::compile` (offline inputs plus the gateway's source map; when
//! repositories are configured, a stand-in resolution, on the base image and
//! from scratch). Bad input must come back as an error; a panic, an abort, a
//! hang or unbounded memory is a bug.
//!
//! Input format (UTF-8; other bytes are skipped): the build file, then
//! optionally pipeline files, each after a separator line
//!
//! ```text
//! #=== <name>
//! ```
//!
//! giving the pipeline file for `uses: <name>`; `#=== *` answers every name
//! not given by its own section. Names no section answers come from the
//! built-in library. A separator is a YAML comment, so the first section of
//! any input is also a build file `melange-frontend plan` accepts.
//!
//! `FUZZ_PLAN_VERBOSE=1` prints how far each input got (for reading a
//! reproducer or checking the seeds).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

use melange_frontend::apk::repository::RepositoryRef;
use melange_frontend::config;
use melange_frontend::llb::{self, BuildInputs, ContextSource, SourceFile};
use melange_frontend::plan::environment::{
    self, EnvironmentPlan, InstallPackage, Installation, KeyFile, Location,
};
use melange_frontend::plan::{self, BaseSource, BuildOptions, Library, PipelineText};
use melange_frontend::proto::pb;

const FILE: &str = "melange.yaml";
const SEPARATOR: &str = "#=== ";

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        run(text);
    }
});

fn run(text: &str) {
    let outcome = outcome(text);
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    if *VERBOSE.get_or_init(|| std::env::var_os("FUZZ_PLAN_VERBOSE").is_some_and(|v| v == "1")) {
        eprintln!("{}", outcome.unwrap_or_else(|e| e));
    }
}

fn outcome(text: &str) -> Result<String, String> {
    let (build_file, pipelines) = split(text);
    let config = config::load(FILE, build_file).map_err(|e| format!("load: {e}"))?;
    let library = library(&config, &pipelines);
    let mut options = BuildOptions::default();
    options.named_contexts.insert(
        plan::ENVIRONMENT_CONTEXT.to_string(),
        "docker-image://melange-test-env:busybox".to_string(),
    );
    let mut outcome = compile(build_file, &config, &options, &library)?;
    // With repositories, also the environment made only of their packages.
    if environment::repositories_configured(&config, &options) {
        options.named_contexts.clear();
        outcome += &format!(
            "; from scratch: {}",
            compile(build_file, &config, &options, &library)?
        );
    }
    Ok(outcome)
}

/// Plan and compile, with the resolution the gateway would make when the
/// plan installs packages (the same repositories, atoms taken as names).
fn compile(
    build_file: &str,
    config: &config::Config,
    options: &BuildOptions,
    library: &Library,
) -> Result<String, String> {
    let mut plan = plan::plan(FILE, config, options, library).map_err(|e| format!("plan: {e}"))?;
    if let Some(environment) = plan.environment.as_mut() {
        environment.installation = Some(resolved(environment));
    }
    let base = match &plan.base {
        BaseSource::Scratch => ContextSource::Scratch,
        _ => ContextSource::Image("docker.io/library/melange-test-env:busybox".into()),
    };
    let mut inputs = BuildInputs::offline(
        base,
        "docker.io/library/melange-frontend:dev",
        FILE,
        pb::Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        },
    );
    // As the gateway: source locations point into the build file.
    inputs.source = Some(SourceFile {
        filename: FILE.to_string(),
        data: build_file.as_bytes().to_vec(),
    });
    let definition = llb::compile(&plan, &inputs).map_err(|e| format!("llb: {e}"))?;
    Ok(format!(
        "ok: {} steps, {} LLB ops",
        plan.steps.len(),
        std::hint::black_box(definition).def.len()
    ))
}

/// A stand-in for resolving the world against the repositories' indexes:
/// each atom's name (a valid package name) at version 1.0-r0 from the
/// first repository, and every key of the keyring.
fn resolved(environment: &EnvironmentPlan) -> Installation {
    let packages = environment
        .world
        .iter()
        .filter_map(|atom| {
            let name = atom.split(|c| "<>=~@!".contains(c)).next()?;
            let valid = name.starts_with(|c: char| c.is_ascii_alphanumeric())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+_.-".contains(c));
            let repository = environment.repositories.first().filter(|_| valid)?;
            let file = RepositoryRef::package_path(&environment.arch, name, "1.0-r0");
            let source = Location::parse(&repository.location).ok()?.join(&file);
            Some(InstallPackage {
                name: name.to_string(),
                version: "1.0-r0".to_string(),
                checksum: format!("Q1{name}="),
                tag: repository.tag.clone(),
                source,
                leave_out: Vec::new(),
            })
        })
        .collect();
    let keys = environment
        .keyring
        .iter()
        .map(|location| KeyFile {
            name: environment::key_name(location).to_string(),
            pem: "PEM".to_string(),
        })
        .collect();
    Installation {
        packages,
        keys,
        untrusted: Vec::new(),
    }
}

/// The build file and the `(name, text)` pipeline sections.
fn split(text: &str) -> (&str, Vec<(&str, &str)>) {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix(SEPARATOR) {
            starts.push((offset, offset + line.len(), name.trim()));
        }
        offset += line.len();
    }
    let Some(&(first, _, _)) = starts.first() else {
        return (text, Vec::new());
    };
    let sections = starts
        .iter()
        .enumerate()
        .map(|(i, &(_, body, name))| {
            let end = starts.get(i + 1).map_or(text.len(), |next| next.0);
            (name, &text[body..end])
        })
        .collect();
    (&text[..first], sections)
}

/// Resolve `uses:` the way the gateway and `melange-frontend plan` do: ask
/// the library for the names it still needs until none remain.
fn library(config: &config::Config, pipelines: &[(&str, &str)]) -> Library {
    let mut library = Library::new();
    let any = pipelines.iter().find(|(name, _)| *name == "*");
    loop {
        let wanted = library.unresolved(config);
        if wanted.is_empty() {
            return library;
        }
        for name in wanted {
            let found = pipelines
                .iter()
                .find(|(given, _)| *given == name)
                .or(any)
                .map(|(_, text)| PipelineText {
                    file: format!("pipelines/{name}.yaml"),
                    text: text.to_string(),
                });
            library.add(&name, found);
        }
    }
}
