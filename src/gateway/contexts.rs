//! Where the build's inputs come from: the build file (the `dockerfile` local
//! or a frontend input) and named contexts (`docker-image://`, `local:`,
//! `input:`), including the base image's config.

use std::collections::BTreeMap;

use super::bridge::{gateway_caps, Bridge, Capabilities};
use super::limits;
use super::opts::ResolveMode;
use super::pipelines::Context;
use super::{internal, Failure, FAILED_PRECONDITION, INVALID_ARGUMENT};
use crate::llb::image::{normalize_reference, ImageConfig};
use crate::llb::{ContextSource, Graph, LocalOptions, OpInfo};
use crate::plan::{BaseSource, ContextValue};
use crate::proto::pb;

/// Read the build file: from the frontend input named like the dockerfile
/// local when the client passed one, else from that local, transferring only
/// the file itself; in ranges, up to [`MAX_BUILD_FILE`] (`can_stat`: the
/// daemon can tell the size first).
pub(super) async fn read_build_file(
    bridge: &Bridge,
    context: &Context<'_>,
    can_stat: bool,
) -> Result<BuildFile, Failure> {
    let options = context.options;
    let mut graph = Graph::new(context.platform.clone(), context.caps.clone());
    let state = match context.inputs.get(&options.dockerfile_key) {
        Some(definition) => graph.import(definition),
        None => {
            let local = LocalOptions {
                session_id: context.session_id.map(str::to_string),
                shared_key_hint: Some(options.filename.clone()),
                follow_paths: vec![options.filename.clone()],
                differ_none: true,
                ..Default::default()
            };
            graph.local(
                &options.dockerfile_key,
                &local,
                OpInfo::named(format!("load build definition from {}", options.filename)),
            )
        }
    }
    .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    let vertex = state.digest().map(str::to_string);
    let reference = bridge.solve(graph.finish(&state)).await?;
    let size = build_file_size(bridge, can_stat, &reference, &options.filename).await;
    let read = match size.filter(|n| *n > MAX_BUILD_FILE as u64) {
        Some(size) => Err(too_big(&options.filename, &format!("{size} bytes"))),
        // In ranges: one ReadFile answer must fit BuildKit's message limit.
        None => bridge
            .read_file_chunked(&reference, &options.filename, MAX_BUILD_FILE)
            .await
            .map_err(|e| match e.code() {
                tonic::Code::ResourceExhausted => too_big(
                    &options.filename,
                    &format!("more than {MAX_BUILD_FILE} bytes"),
                ),
                _ => Failure::new(
                    INVALID_ARGUMENT,
                    format!(
                        "cannot read build file {:?}: {}",
                        options.filename,
                        e.message()
                    ),
                ),
            }),
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(failure) => {
            let head = bridge
                .read_file_head(&reference, &options.filename, 4096)
                .await
                .unwrap_or_default();
            let first = limits::first_line(&head);
            return Err(limits::with_first_line(failure, &options.filename, &first));
        }
    };
    let text = crate::config::utf8(&options.filename, bytes)
        .map_err(|e| Failure::new(INVALID_ARGUMENT, e.to_string()))?;
    Ok(BuildFile { text, vertex })
}

/// The build file's text and the vertex that loaded it (build warnings are
/// attached to it, as the Dockerfile frontend does).
pub(super) struct BuildFile {
    /// The file's contents.
    pub text: String,
    /// Digest of the load vertex, when the file came from a local source.
    pub vertex: Option<String>,
}

/// The largest build file read: 64 MiB, as much text as planning accepts
/// once `uses:` is expanded (docs/limits.md). Files past it fail before
/// they are read, naming their size when the daemon can stat files.
pub(super) const MAX_BUILD_FILE: usize = 64 << 20;

fn too_big(filename: &str, size: &str) -> Failure {
    Failure::new(
        INVALID_ARGUMENT,
        format!(
            "build file {filename} is {size}, over the limit of {MAX_BUILD_FILE} bytes (64 MiB) \
             for a build file"
        ),
    )
}

/// The build file's size, when the daemon can stat files.
async fn build_file_size(
    bridge: &Bridge,
    can_stat: bool,
    reference: &str,
    filename: &str,
) -> Option<u64> {
    if !can_stat {
        return None;
    }
    let stat = bridge.stat_file(reference, filename).await.ok()??;
    u64::try_from(stat.size).ok()
}

/// Interprets named contexts and the environment base.
pub(super) struct Resolver<'a> {
    pub caps: &'a Capabilities,
    pub inputs: &'a BTreeMap<String, pb::Definition>,
    pub platform: &'a pb::Platform,
    pub mode: ResolveMode,
}

impl Resolver<'_> {
    /// The environment base and, for images, its config.
    pub async fn base(
        &self,
        bridge: &Bridge,
        base: &BaseSource,
    ) -> Result<(ContextSource, ImageConfig), Failure> {
        let source = match base {
            BaseSource::Image { reference } => ContextSource::Image(normalize(reference)?),
            BaseSource::Context { name, value } => self.context(name, value)?,
            BaseSource::Scratch => ContextSource::Scratch,
        };
        let config = match &source {
            ContextSource::Image(reference) => self.image_config(bridge, reference).await?,
            _ => ImageConfig::default(),
        };
        Ok((source, config))
    }

    /// A named context's value as a source.
    pub fn context(&self, name: &str, value: &str) -> Result<ContextSource, Failure> {
        match ContextValue::parse(name, value).map_err(|m| Failure::new(INVALID_ARGUMENT, m))? {
            ContextValue::Image(reference) => Ok(ContextSource::Image(normalize(&reference)?)),
            ContextValue::Local(local) => Ok(ContextSource::Local(local)),
            ContextValue::Input(key) => {
                if !self.caps.gateway.contains(gateway_caps::FRONTEND_INPUTS) {
                    return Err(Failure::new(
                        FAILED_PRECONDITION,
                        "input: named contexts need a BuildKit with frontend inputs",
                    ));
                }
                self.inputs.get(&key).cloned().map(ContextSource::Input).ok_or_else(|| {
                    Failure::new(
                        INVALID_ARGUMENT,
                        format!("named context {name:?} refers to input {key:?}, which the client did not pass"),
                    )
                })
            }
        }
    }

    async fn image_config(&self, bridge: &Bridge, reference: &str) -> Result<ImageConfig, Failure> {
        if !self.caps.gateway.contains(gateway_caps::RESOLVE_IMAGE) {
            tracing::warn!("BuildKit cannot resolve image configs; using no image environment");
            return Ok(ImageConfig::default());
        }
        let mode = self
            .caps
            .gateway
            .contains(gateway_caps::RESOLVE_IMAGE_MODE)
            .then(|| self.mode.as_str());
        let bytes = bridge
            .resolve_image_config(reference, self.platform, mode)
            .await
            .map_err(|e| {
                Failure::new(
                    e.code() as i32,
                    format!(
                        "cannot resolve build environment image {reference}: {}",
                        e.message()
                    ),
                )
            })?;
        ImageConfig::from_json(&bytes).map_err(|e| internal(format!("{reference}: {e}")))
    }
}

fn normalize(reference: &str) -> Result<String, Failure> {
    normalize_reference(reference).map_err(|e| Failure::new(INVALID_ARGUMENT, e))
}
