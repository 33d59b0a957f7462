//! Host subcommands. `plan` prints the plan and the LLB for a build file
//! offline, with the same code path the frontend uses minus the daemon: the
//! golden-test and debugging entry point. `keygen`, `index`, `sign-index`
//! and `verify` are the APK tools melange users expect, over [`crate::apk`];
//! `resolve` runs the environment resolver offline ([`resolve_command`]).

mod resolve;

pub use resolve::{resolve_command, ResolveArgs, Resolved};

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::apk::{self, Keyring, SigningKey};
use crate::config;
use crate::llb::{self, image::normalize_reference, BuildInputs, ContextSource};
use crate::plan::{self, BaseSource, BuildOptions, BuildPlan, ContextValue, Platform};
use crate::proto::pb;

/// melange-frontend: build APK packages from melange YAML inside BuildKit.
///
/// Started by buildkitd (via `# syntax=` or `--frontend gateway.v0`) it runs
/// as a gateway frontend over stdin/stdout; the subcommands are for people.
#[derive(Parser, Debug)]
#[command(version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Host subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the build plan and its LLB as JSON, without a daemon.
    Plan(PlanArgs),
    /// Plan and compile as `plan` does, printing only the LLB's op count,
    /// size and result digest (for measuring the planning path).
    PlanSummary(PlanArgs),
    /// Run as a BuildKit gateway frontend over stdin/stdout (the default
    /// when buildkitd starts the image).
    Frontend,
    /// Generate an RSA 4096 signing key: NAME (private, PEM) and NAME.pub.
    Keygen(KeygenArgs),
    /// Build an APKINDEX.tar.gz from .apk files.
    Index(IndexArgs),
    /// Replace the signature of an APKINDEX.tar.gz (in place).
    SignIndex(SignIndexArgs),
    /// Verify .apk files and indexes against a directory of public keys.
    Verify(VerifyArgs),
    /// Resolve packages against local repositories (offline) and print the
    /// install order, one `name-version` per line.
    Resolve(ResolveArgs),
    /// In-build helper: write the packages and the index (the frontend runs
    /// this inside the build, from its own image).
    #[command(hide = true)]
    BuildApks(crate::helper::BuildApksArgs),
    /// In-build helper: report which signing key the build was given.
    #[command(hide = true)]
    SigningKeyId(crate::helper::SigningKeyIdArgs),
    /// In-build helper: check one package against its index record and
    /// unpack it into its own layer.
    #[command(hide = true)]
    InstallApk(crate::helper::environment::InstallApkArgs),
    /// In-build helper: write the apk database, keys and accounts over the
    /// installed packages.
    #[command(hide = true)]
    FinishEnvironment(crate::helper::environment::FinishEnvironmentArgs),
    /// In-build helper: verify and unpack a file a native `fetch` downloaded.
    #[command(hide = true)]
    Extract(crate::helper::ExtractArgs),
    /// In-build helper: check and lay out a checkout a native
    /// `git-checkout` got from BuildKit.
    #[command(hide = true)]
    GitCheckout(crate::helper::GitCheckoutArgs),
}

/// Arguments of `keygen`.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Private key file to create; the public key goes to NAME.pub.
    #[arg(default_value = "melange.rsa")]
    pub name: PathBuf,
}

/// Arguments of `index`.
#[derive(Args, Debug)]
pub struct IndexArgs {
    /// The index file to write.
    #[arg(short, long, default_value = "APKINDEX.tar.gz")]
    pub output: PathBuf,
    /// Private key to sign the index with (PEM, PKCS#1 or PKCS#8).
    #[arg(long)]
    pub signing_key: Option<PathBuf>,
    /// Packages to list.
    #[arg(required = true)]
    pub packages: Vec<PathBuf>,
}

/// Arguments of `sign-index`.
#[derive(Args, Debug)]
pub struct SignIndexArgs {
    /// Private key to sign with (PEM, PKCS#1 or PKCS#8).
    #[arg(long)]
    pub signing_key: PathBuf,
    /// The index to re-sign.
    pub index: PathBuf,
}

/// Arguments of `verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Directory of public keys, named as signatures name them (like /etc/apk/keys).
    #[arg(long)]
    pub keys_dir: PathBuf,
    /// Packages or indexes to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Run `keygen`: a message naming the two files written.
pub fn keygen_command(args: &KeygenArgs) -> Result<String, String> {
    let (private, public) =
        apk::tools::keygen(&args.name, apk::tools::KEYGEN_BITS).map_err(|e| e.to_string())?;
    Ok(format!(
        "wrote {} and {}",
        private.display(),
        public.display()
    ))
}

/// Run `index`: a message saying how many packages were listed.
pub fn index_command(args: &IndexArgs) -> Result<String, String> {
    let key = args
        .signing_key
        .as_deref()
        .map(SigningKey::from_file)
        .transpose()
        .map_err(|e| e.to_string())?;
    let count =
        apk::tools::index(&args.output, &args.packages, key.as_ref()).map_err(|e| e.to_string())?;
    let signed = key
        .map(|k| format!(", signed by {}", k.key_name))
        .unwrap_or_default();
    Ok(format!(
        "wrote {} ({count} packages{signed})",
        args.output.display()
    ))
}

/// Run `sign-index`.
pub fn sign_index_command(args: &SignIndexArgs) -> Result<String, String> {
    let key = SigningKey::from_file(&args.signing_key).map_err(|e| e.to_string())?;
    apk::tools::sign_index_file(&args.index, &key).map_err(|e| e.to_string())?;
    Ok(format!(
        "signed {} with {}",
        args.index.display(),
        key.key_name
    ))
}

/// Run `verify`: one line per file and whether any failed. An unusable
/// keys directory is an error.
pub fn verify_command(args: &VerifyArgs) -> Result<(String, bool), String> {
    let keys = Keyring::from_dir(&args.keys_dir).map_err(|e| e.to_string())?;
    let mut report = String::new();
    let mut any_failed = false;
    for file in &args.files {
        let (line, failed) = apk::tools::verify_line(file, &keys);
        report.push_str(&line);
        report.push('\n');
        any_failed |= failed;
    }
    Ok((report, any_failed))
}

/// Arguments of `plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The melange YAML file.
    pub file: PathBuf,
    /// Build-arg, as `docker build --build-arg K=V`.
    #[arg(long = "build-arg", value_name = "K=V")]
    pub build_args: Vec<String>,
    /// Named context, as `docker buildx build --build-context NAME=VALUE`.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// Target to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Target platform (os/arch[/variant]).
    #[arg(long, default_value = "linux/amd64")]
    pub platform: String,
    /// The worker's platform, where the frontend's own image runs (its
    /// steps declare it when the target is another)
    #[arg(long, default_value = "linux/amd64")]
    pub build_platform: String,
    /// Directory searched for `uses:` pipelines before the built-ins
    /// (repeatable; default: the build-arg MELANGE_PIPELINE_DIR, else
    /// `pipelines` — both relative to the build file's folder, as the
    /// frontend takes them relative to the build context).
    #[arg(long = "pipeline-dir", value_name = "DIR")]
    pub pipeline_dirs: Vec<PathBuf>,
    /// The frontend image the packaging step runs (inside a build it is the
    /// image BuildKit started the frontend from).
    #[arg(long, default_value = "melange-frontend:dev")]
    pub frontend_image: String,
}

/// The JSON `plan` prints.
#[derive(Serialize)]
pub struct PlanOutput {
    plan: BuildPlan,
    llb: LlbOutput,
}

#[derive(Serialize)]
struct LlbOutput {
    /// Digest of the op whose output is the result.
    result: String,
    ops: Vec<OpOutput>,
}

#[derive(Serialize)]
struct OpOutput {
    digest: String,
    op: pb::Op,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<pb::OpMetadata>,
}

/// Look up every pipeline the config reaches in the pipeline dirs, as the
/// frontend does in the build context.
fn read_pipeline_dirs(
    args: &PlanArgs,
    options: &BuildOptions,
    config: &config::Config,
) -> Result<plan::Library, String> {
    let base = args.file.parent().map(PathBuf::from).unwrap_or_default();
    let dirs: Vec<PathBuf> = if args.pipeline_dirs.is_empty() {
        plan::pipeline_dirs(options)
            .into_iter()
            .map(|dir| base.join(dir))
            .collect()
    } else {
        args.pipeline_dirs.clone()
    };
    Ok(read_library(config, &dirs))
}

/// The library for `config` with the pipelines found in `dirs` (searched in
/// order, before the built-ins): the host-side counterpart of the gateway's
/// reading of the build context.
pub fn read_library(config: &config::Config, dirs: &[PathBuf]) -> plan::Library {
    let mut library = plan::Library::new();
    loop {
        let wanted = library.unresolved(config);
        if wanted.is_empty() {
            return library;
        }
        for name in wanted {
            let found = dirs.iter().find_map(|dir| {
                let path = dir.join(format!("{name}.yaml"));
                let text = std::fs::read_to_string(&path).ok()?;
                Some(plan::PipelineText {
                    file: path.display().to_string(),
                    text,
                })
            });
            library.add(&name, found);
        }
    }
}

/// Run `plan`: the JSON on success, a `file:line:col: message` error otherwise.
pub fn plan_command(args: &PlanArgs) -> Result<String, String> {
    let output = plan_output(args)?;
    serde_json::to_string_pretty(&output).map_err(|e| e.to_string())
}

/// Write [`plan_command`]'s JSON to `out` as it is made (a big plan is not
/// held twice, as a value and as text).
pub fn write_plan(args: &PlanArgs, out: impl std::io::Write) -> Result<(), String> {
    let output = plan_output(args)?;
    serde_json::to_writer_pretty(out, &output).map_err(|e| e.to_string())
}

/// Plan and compile offline: what `plan` prints.
pub fn plan_output(args: &PlanArgs) -> Result<PlanOutput, String> {
    let (plan, definition) = plan_definition(args)?;
    Ok(PlanOutput {
        plan,
        llb: llb_output(definition)?,
    })
}

/// Run `plan-summary`: plan and compile as `plan` does, then say only how
/// big the LLB is and what it evaluates to. The frontend's own path (parse,
/// plan, compile) without the JSON `plan` prints, which repeats every op
/// decoded: `hack/bench-plan` measures planning memory with it.
pub fn plan_summary(args: &PlanArgs) -> Result<String, String> {
    use prost::Message;
    let (plan, definition) = plan_definition(args)?;
    drop(plan);
    let result = match definition.def.last() {
        Some(terminal) => pb::Op::decode(terminal.as_slice())
            .map_err(|e| e.to_string())?
            .inputs
            .first()
            .map(|input| input.digest.clone())
            .unwrap_or_default(),
        None => String::new(),
    };
    Ok(format!(
        "{} ops, {} bytes of LLB, result {result}",
        definition.def.len(),
        definition.encoded_len()
    ))
}

/// The plan and its LLB, offline.
fn plan_definition(args: &PlanArgs) -> Result<(BuildPlan, pb::Definition), String> {
    let file_name = args.file.display().to_string();
    let bytes = std::fs::read(&args.file).map_err(|e| format!("{file_name}: {e}"))?;
    let text = config::utf8(&file_name, bytes).map_err(|e| e.to_string())?;
    let options = BuildOptions {
        build_args: split_pairs(&args.build_args, "--build-arg")?,
        target: args.target.clone(),
        platform: Platform::parse(&args.platform)?,
        named_contexts: split_pairs(&args.build_contexts, "--build-context")?
            .into_iter()
            .map(|(name, value)| (name, client_context_value(&value)))
            .collect(),
        env_file: None,
        // The options (and the packaging spec) share the one copy of the text.
        build_file_text: text.into(),
    };
    let mut options = options;
    if let Some(path) = options.env_file_path() {
        let base = args.file.parent().map(PathBuf::from).unwrap_or_default();
        let text = std::fs::read_to_string(base.join(&path))
            .map_err(|e| format!("build-arg {}={path}: {e}", plan::ENV_FILE_ARG))?;
        options.env_file = Some(plan::ContextFile { file: path, text });
    }
    let config = config::load(&file_name, &options.build_file_text).map_err(|e| e.to_string())?;
    let library = read_pipeline_dirs(args, &options, &config)?;
    let mut plan =
        plan::plan(&file_name, &config, &options, &library).map_err(|e| e.to_string())?;
    // Peak memory: the plan holds what the rest needs (the packaging spec
    // its own copy of the text).
    drop((config, library));
    options.build_file_text = "".into();
    if let Some(environment) = plan.environment.as_mut() {
        let base = args.file.parent().map(PathBuf::from).unwrap_or_default();
        environment.installation = Some(resolve::install_offline(
            &base,
            &options.named_contexts,
            environment,
        )?);
    }
    let mut inputs = BuildInputs::offline(
        offline_source(&plan.base)?,
        &normalize_reference(&args.frontend_image)?,
        &file_name_in_context(&args.file),
        pb::Platform {
            architecture: options.platform.architecture.clone(),
            os: options.platform.os.clone(),
            variant: options.platform.variant.clone(),
            ..Default::default()
        },
    );
    let build = plan::Platform::parse(&args.build_platform)?;
    inputs.build_platform = Some(pb::Platform {
        architecture: build.architecture,
        os: build.os,
        variant: build.variant,
        ..Default::default()
    });
    if let Some(environment) = &plan.environment {
        for name in environment.named_contexts() {
            let value = options
                .named_contexts
                .get(&name)
                .ok_or_else(|| format!("no named context {name:?} was given"))?;
            inputs
                .contexts
                .insert(name.clone(), offline_context(&name, value)?);
        }
    }
    inputs.cache = plan
        .cache_context
        .as_deref()
        .map(|v| offline_context(plan::CACHE_CONTEXT, v))
        .transpose()?;
    inputs.source_dir = offline_source_dir(args, &options, &plan.package.name)?;
    let definition = llb::compile(&plan, &inputs).map_err(|e| e.to_string())?;
    Ok((plan, definition))
}

/// The source dir as the frontend would find it, with the build file's
/// folder as the context (plan/sourcedir.rs).
fn offline_source_dir(
    args: &PlanArgs,
    options: &BuildOptions,
    package: &str,
) -> Result<plan::SourceDir, String> {
    use plan::sourcedir::{self, SourceDir, SOURCE_DIR_ARG};
    let base = args.file.parent().map(PathBuf::from).unwrap_or_default();
    let dir = match sourcedir::source_dir_arg(options)? {
        Some(Some(dir)) if base.join(&dir).is_dir() => Some(dir),
        Some(Some(dir)) => {
            return Err(format!(
                "build-arg {SOURCE_DIR_ARG}={dir}: no such folder in the build context"
            ))
        }
        Some(None) => None,
        None => sourcedir::default_dir_name(package).filter(|dir| base.join(dir).is_dir()),
    };
    let ignore = base.join(SourceDir::ignore_file(dir.as_deref()));
    let text = std::fs::read_to_string(&ignore).ok();
    Ok(SourceDir::new(dir, text.as_deref()))
}

/// What buildx sends for a `--build-context` value: a path becomes `local:NAME`.
fn client_context_value(value: &str) -> String {
    if value.contains("://") || value.starts_with("local:") || value.starts_with("input:") {
        value.to_string()
    } else {
        format!("local:{value}")
    }
}

fn offline_source(base: &BaseSource) -> Result<ContextSource, String> {
    match base {
        BaseSource::Image { reference } => {
            Ok(ContextSource::Image(normalize_reference(reference)?))
        }
        BaseSource::Context { name, value } => offline_context(name, value),
        BaseSource::Scratch => Ok(ContextSource::Scratch),
    }
}

fn offline_context(name: &str, value: &str) -> Result<ContextSource, String> {
    match ContextValue::parse(name, value)? {
        ContextValue::Image(reference) => {
            Ok(ContextSource::Image(normalize_reference(&reference)?))
        }
        ContextValue::Local(local) => Ok(ContextSource::Local(local)),
        ContextValue::Input(input) => Err(format!(
            "named context {name:?}: input:{input} exists only inside a build"
        )),
    }
}

fn llb_output(definition: pb::Definition) -> Result<LlbOutput, String> {
    use prost::Message;
    let mut ops = Vec::with_capacity(definition.def.len());
    let mut metadata = definition.metadata;
    for bytes in definition.def {
        let digest = llb::digest_of(&bytes);
        let op = pb::Op::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
        ops.push(OpOutput {
            metadata: metadata.remove(&digest),
            digest,
            op,
        });
    }
    let result = ops
        .last()
        .and_then(|terminal| terminal.op.inputs.first())
        .map(|input| input.digest.clone())
        .unwrap_or_default();
    Ok(LlbOutput { result, ops })
}

/// The build file as the client names it inside its folder (buildx sends the
/// base name).
fn file_name_in_context(file: &std::path::Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn split_pairs(pairs: &[String], flag: &str) -> Result<BTreeMap<String, String>, String> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{flag} expects NAME=VALUE, got {pair:?}")),
        })
        .collect()
}
