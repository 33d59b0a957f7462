//! Where the packaging helper comes from: the frontend's own image. BuildKit
//! ≥ 0.10 mounts, into the frontend's container, the LLB definition it
//! loaded the frontend image from (`frontend.bin`: a marshalled
//! `pb.Definition` whose op is the image source, pinned by digest); that
//! definition is imported as is, so the helper is exactly the running
//! frontend. Older BuildKit (0.8 in Docker 20.10) has no such file; then
//! the `source` option (the `# syntax=` reference, or buildctl's
//! `--opt source=`) names the image.

use prost::Message;

use super::bridge::Bridge;
use super::opts::FrontendOpts;
use super::{internal, Failure, FAILED_PRECONDITION, INVALID_ARGUMENT};
use crate::llb::image::normalize_reference;
use crate::llb::{CapSet, ContextSource};
use crate::proto::pb;

/// The definition BuildKit ≥ 0.10 leaves for the frontend.
pub const FRONTEND_METADATA: &str = "/run/config/buildkit/metadata/frontend.bin";

/// Build-arg choosing the helper's origin: `auto` (default: `frontend.bin`
/// when present, else `source`), `frontend.bin` or `source` (for tests and
/// debugging; both must give the same packages).
pub const HELPER_FROM_ARG: &str = "MELANGE_HELPER_IMAGE_FROM";

/// Which origin was used, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperOrigin {
    /// `frontend.bin`.
    Metadata,
    /// The `source` frontend option.
    SourceOpt,
}

/// The helper image as an LLB source, and where it came from.
pub(super) fn helper_image(
    options: &FrontendOpts,
) -> Result<(ContextSource, HelperOrigin), Failure> {
    let choice = options
        .build
        .build_args
        .get(HELPER_FROM_ARG)
        .map(|s| s.trim())
        .unwrap_or("auto");
    match choice {
        "" | "auto" => match read_metadata()? {
            Some(definition) => Ok((ContextSource::Input(definition), HelperOrigin::Metadata)),
            None => from_source(options),
        },
        "frontend.bin" => read_metadata()?
            .map(|definition| (ContextSource::Input(definition), HelperOrigin::Metadata))
            .ok_or_else(|| {
                Failure::new(
                    FAILED_PRECONDITION,
                    format!(
                        "build-arg {HELPER_FROM_ARG}=frontend.bin: this BuildKit provides no {FRONTEND_METADATA} \
                         (it appeared in BuildKit 0.10)"
                    ),
                )
            }),
        "source" => from_source(options),
        other => Err(Failure::new(
            INVALID_ARGUMENT,
            format!("build-arg {HELPER_FROM_ARG}: expected auto, frontend.bin or source, got {other:?}"),
        )),
    }
}

fn read_metadata() -> Result<Option<pb::Definition>, Failure> {
    let bytes = match std::fs::read(FRONTEND_METADATA) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Failure::new(
                FAILED_PRECONDITION,
                format!("cannot read {FRONTEND_METADATA}: {e}"),
            ))
        }
    };
    let definition = decode_metadata(&bytes)?;
    for op in &definition.def {
        if let Ok(op) = pb::Op::decode(op.as_slice()) {
            if let Some(pb::op::Op::Source(source)) = op.op {
                tracing::info!(
                    ops = definition.def.len(),
                    identifier = %source.identifier,
                    attrs = ?source.attrs,
                    "frontend.bin: frontend image source"
                );
            }
        }
    }
    Ok(Some(definition))
}

/// Parse `frontend.bin`; an empty or undecodable one is an error naming it.
pub fn decode_metadata(bytes: &[u8]) -> Result<pb::Definition, Failure> {
    let definition = pb::Definition::decode(bytes).map_err(|e| {
        Failure::new(
            FAILED_PRECONDITION,
            format!("{FRONTEND_METADATA} is not an LLB definition: {e}"),
        )
    })?;
    if definition.def.is_empty() {
        return Err(Failure::new(
            FAILED_PRECONDITION,
            format!("{FRONTEND_METADATA} holds an empty LLB definition"),
        ));
    }
    Ok(definition)
}

fn from_source(options: &FrontendOpts) -> Result<(ContextSource, HelperOrigin), Failure> {
    let source = options.source.as_deref().ok_or_else(|| {
        Failure::new(
            FAILED_PRECONDITION,
            "cannot find the frontend's own image for the packaging step: BuildKit gave neither \
             frontend.bin nor the `source` option; build with --target workspace, or start the \
             frontend with --opt source=IMAGE",
        )
    })?;
    let reference = normalize_reference(source)
        .map_err(|e| Failure::new(INVALID_ARGUMENT, format!("frontend source {source:?}: {e}")))?;
    Ok((ContextSource::Image(reference), HelperOrigin::SourceOpt))
}

/// Ask the helper which signing key the client passed (see
/// [`crate::llb::signing_probe`]): `Some(fingerprint)`, or `None` when the
/// build is unsigned.
pub(super) async fn signing_key_id(
    bridge: &Bridge,
    helper: &ContextSource,
    platform: &pb::Platform,
    caps: &CapSet,
    session: &str,
) -> Result<Option<String>, Failure> {
    let definition = crate::llb::signing_probe(helper, platform.clone(), caps.clone(), session)
        .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    let reference = bridge.solve(definition).await?;
    let answer = bridge
        .read_file(&reference, crate::llb::packaging::PROBE_FILE)
        .await?;
    crate::helper::parse_key_id(&String::from_utf8_lossy(&answer)).map_err(internal)
}
