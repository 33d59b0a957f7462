//! The LLB of packaging: the frontend's own image runs its own binary, so no
//! tool of the build environment is involved.
//!
//! - `package`: the packaging step. `build-apks` reads the spec
//!   (read-only) and the `melange-out` tree (a writable copy: it adds each
//!   package's SBOM) and writes `<arch>/*.apk` and
//!   `<arch>/APKINDEX.tar.gz` into an empty mount, which is the result.
//! - [`signing_probe`]: a step run on every build (never cached) that
//!   reports the fingerprint of the signing secret's public key, or `none`.
//!   The frontend puts that fingerprint into the spec, so the packaging
//!   step's cache key changes when the key is added, removed or replaced.
//!
//! In both, the private key is an optional secret mount: BuildKit keeps
//! secrets out of the definition and of cache keys, so it never appears
//! in the LLB.
use super::compile::ContextSource;
use super::graph::{Graph, LlbError, OpInfo, State};
use super::helper::{helper_exec, output_mount};
use super::ops::{FileAction, Mount};
use crate::plan::packaging::{
    HELPER_SUBCOMMAND, PACKAGES_DIR, PROBE_SUBCOMMAND, SIGNING_SECRET_ID, SIGNING_SECRET_PATH,
    SPEC_DIR, SPEC_FILE, TREE_DIR,
};
use serde::Serialize;

use crate::plan::packaging::PackageSpec;
use crate::plan::{BuildPlan, PackagingSpec, OUT_DIR};
use crate::proto::pb;

/// Where the probe writes its answer, and the file name of it.
pub const PROBE_DIR: &str = "/probe";
/// The probe's answer file inside its output.
pub const PROBE_FILE: &str = "signing-key-id";

/// The signing key the gateway found, which the spec carries into the
/// packaging step (see [`PackagingSpec::signing_key_id`]).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Signing<'a> {
    /// [`PackagingSpec::signing_key_id`].
    pub key_id: &'a str,
    /// [`PackagingSpec::signing_public_key`].
    pub public_key: &'a str,
}

/// A [`PackagingSpec`] with the signing fields replaced, serialized exactly
/// as the spec would be: borrowed, because a spec holds the build file and
/// every package and is not worth a copy.
#[derive(Serialize)]
struct SignedSpec<'a> {
    arch: &'a str,
    source_date_epoch: u64,
    signing_key_name: &'a str,
    signing_key_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    signing_public_key: &'a str,
    melange_yaml: &'a str,
    packages: &'a [PackageSpec],
}

/// The spec's JSON as the packaging step reads it.
pub(super) fn spec_json(spec: &PackagingSpec, signing: Signing<'_>) -> Result<Vec<u8>, LlbError> {
    // Every field named: a field added to the spec must be added here.
    let PackagingSpec {
        arch,
        source_date_epoch,
        signing_key_name,
        signing_key_id: _,
        signing_public_key: _,
        melange_yaml,
        packages,
    } = spec;
    let signed = SignedSpec {
        arch,
        source_date_epoch: *source_date_epoch,
        signing_key_name,
        signing_key_id: signing.key_id,
        signing_public_key: signing.public_key,
        melange_yaml,
        packages,
    };
    serde_json::to_vec_pretty(&signed)
        .map_err(|e| LlbError::InvalidDefinition(format!("packaging spec: {e}")))
}

/// The packaging step over `built` (the last pipeline step's filesystem).
pub(super) fn package(
    graph: &mut Graph,
    plan: &BuildPlan,
    (spec, signing): (&PackagingSpec, Signing<'_>),
    built: State,
    helper: State,
) -> Result<State, LlbError> {
    let json = spec_json(spec, signing)?;
    let spec_state = graph.file(
        &State::scratch(),
        vec![FileAction::Mkfile {
            path: format!("/{SPEC_FILE}"),
            mode: 0o444,
            data: json,
        }],
        OpInfo::named("packaging metadata"),
    )?;
    let exec = helper_exec(
        helper,
        vec![
            HELPER_SUBCOMMAND.into(),
            "--spec".into(),
            format!("{SPEC_DIR}/{SPEC_FILE}"),
            "--tree".into(),
            TREE_DIR.into(),
            "--out".into(),
            PACKAGES_DIR.into(),
            "--signing-key".into(),
            SIGNING_SECRET_PATH.into(),
        ],
        vec![
            // Writable so the helper can add each package's SBOM; the copy
            // is this step's alone (BuildKit snapshots it, the built tree is
            // not changed).
            Mount::Bind {
                dest: TREE_DIR.into(),
                source: built,
                selector: Some(OUT_DIR.into()),
                readonly: false,
            },
            Mount::Bind {
                dest: SPEC_DIR.into(),
                source: spec_state,
                selector: None,
                readonly: true,
            },
            output_mount(PACKAGES_DIR),
            secret_mount(),
        ],
    );
    let info = OpInfo::named(plan.result_step.clone()).at(plan.source_lines.package);
    let outputs = graph.exec(exec, info)?;
    // Outputs in mount order: the tree's copy, then the packages.
    outputs
        .binds
        .into_iter()
        .nth(1)
        .ok_or_else(|| LlbError::InvalidDefinition("packaging step has no output mount".into()))
}

/// A definition whose result holds [`PROBE_FILE`]: `sha256:<hex>` of the
/// signing secret's public key, or `none` without the secret. Never cached,
/// so it answers for the secret of this build; `session` (the client
/// session ID) makes the op unique to this build, because BuildKit runs
/// identical ops of concurrent builds once, with one build's secrets.
pub fn signing_probe(
    helper: &ContextSource,
    platform: pb::Platform,
    caps: super::CapSet,
    session: &str,
) -> Result<pb::Definition, LlbError> {
    let mut graph = Graph::new(platform, caps);
    let root = match helper {
        ContextSource::Image(reference) => graph.image(
            reference,
            OpInfo::named(format!("packaging helper: {reference}")),
        )?,
        ContextSource::Input(definition) => graph.import(definition)?,
        ContextSource::Local(name) => {
            return Err(LlbError::InvalidDefinition(format!(
                "the packaging helper cannot be a local directory ({name})"
            )))
        }
        ContextSource::Scratch => {
            return Err(LlbError::InvalidDefinition(
                "the packaging helper cannot be an empty filesystem".into(),
            ))
        }
    };
    let mut exec = helper_exec(
        root,
        vec![
            PROBE_SUBCOMMAND.into(),
            "--signing-key".into(),
            SIGNING_SECRET_PATH.into(),
            "--out".into(),
            format!("{PROBE_DIR}/{PROBE_FILE}"),
        ],
        vec![output_mount(PROBE_DIR), secret_mount()],
    );
    exec.env
        .insert("MELANGE_BUILD_SESSION".into(), session.to_string());
    let info = OpInfo {
        name: Some(format!("check the {SIGNING_SECRET_ID} signing secret")),
        ignore_cache: true,
        ..Default::default()
    };
    let outputs = graph.exec(exec, info)?;
    let result =
        outputs.binds.into_iter().next().ok_or_else(|| {
            LlbError::InvalidDefinition("signing probe has no output mount".into())
        })?;
    Ok(graph.finish(&result))
}

/// The signing key, if the client passed it (never an error when absent).
fn secret_mount() -> Mount {
    Mount::Secret {
        dest: SIGNING_SECRET_PATH.into(),
        id: SIGNING_SECRET_ID.into(),
        mode: 0o400,
        optional: true,
    }
}
