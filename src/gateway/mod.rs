//! The frontend role: talk to buildkitd over stdio, read the build file, plan,
//! emit LLB, solve it and return the result — or return an error the user can
//! act on. The only module that does I/O with buildkitd.

mod bridge;
pub mod connect;
mod contexts;
pub mod opts;

use std::collections::BTreeMap;

use crate::config;
use crate::llb::{self, BuildInputs, CapSet, SourceFile};
use crate::plan;
use crate::proto::{pb, rpc};

pub use bridge::{status_of, Bridge, Capabilities};

/// gRPC codes we return.
const INVALID_ARGUMENT: i32 = 3;
const FAILED_PRECONDITION: i32 = 9;
const INTERNAL: i32 = 13;

/// Why a build failed, ready to become the status the client shows.
#[derive(Debug)]
pub struct Failure(pub rpc::Status);

impl Failure {
    fn new(code: i32, message: impl Into<String>) -> Self {
        Failure(rpc::Status {
            code,
            message: message.into(),
            details: Vec::new(),
        })
    }
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Self {
        Failure(status_of(&status))
    }
}

/// Run as a gateway frontend until the result (or error) is returned.
pub async fn serve() -> Result<(), String> {
    let raw = opts::from_env(std::env::vars());
    let channel = connect::stdio_channel()
        .await
        .map_err(|e| format!("cannot reach buildkitd over stdin/stdout: {e}"))?;
    let mut bridge = Bridge::new(channel);
    let caps = bridge
        .ping()
        .await
        .map_err(|e| format!("ping to buildkitd failed: {}", e.message()))?;
    tracing::info!(buildkit = %caps.version, "connected");
    let outcome = build(&mut bridge, &caps, &raw).await;
    let returned = match outcome {
        Ok(id) => bridge.return_ref(id, &caps).await,
        Err(Failure(status)) => {
            tracing::warn!(message = %status.message, "build failed");
            bridge.return_error(status).await
        }
    };
    returned.map_err(|e| format!("returning the result to buildkitd failed: {}", e.message()))
}

/// Everything between Ping and Return.
async fn build(
    bridge: &mut Bridge,
    caps: &Capabilities,
    raw: &BTreeMap<String, String>,
) -> Result<String, Failure> {
    let mut options = opts::parse(raw).map_err(|m| Failure::new(INVALID_ARGUMENT, m))?;
    // Keys only: build-arg values may be sensitive.
    tracing::info!(filename = %options.filename, keys = ?raw.keys().collect::<Vec<_>>(), "options");
    if !options.platform_given {
        if let Some(worker) = caps.platforms.first() {
            options.build.platform = plan::Platform {
                os: worker.os.clone(),
                architecture: worker.architecture.clone(),
                variant: worker.variant.clone(),
            };
        }
    }
    let inputs = if caps.gateway.contains(bridge::gateway_caps::FRONTEND_INPUTS) {
        bridge.inputs().await?
    } else {
        BTreeMap::new()
    };
    let session_id = std::env::var("BUILDKIT_SESSION_ID")
        .ok()
        .filter(|s| !s.is_empty());
    let llb_caps = CapSet::from_enabled(caps.llb.iter().cloned());
    let platform = pb_platform(&options.build.platform);
    let text = contexts::read_build_file(
        bridge,
        &options,
        &inputs,
        session_id.as_deref(),
        &llb_caps,
        &platform,
    )
    .await?;
    let config = config::load(&options.filename, &text)
        .map_err(|e| Failure::new(INVALID_ARGUMENT, e.to_string()))?;
    let plan = plan::plan(&options.filename, &config, &options.build)
        .map_err(|e| Failure::new(INVALID_ARGUMENT, e.to_string()))?;
    let resolver = contexts::Resolver {
        caps,
        inputs: &inputs,
        platform: &platform,
        mode: options.resolve_mode,
    };
    let (base, base_config) = resolver.base(bridge, &plan.base).await?;
    let cache = plan
        .cache_context
        .as_ref()
        .map(|value| resolver.context(plan::CACHE_CONTEXT, value))
        .transpose()?;
    let build_inputs = BuildInputs {
        base,
        base_config,
        cache,
        context_name: options.context_key.clone(),
        context_excludes: vec![options.filename.clone()],
        session_id,
        platform,
        caps: llb_caps,
        source: Some(SourceFile {
            filename: options.filename.clone(),
            data: text.into_bytes(),
        }),
    };
    let definition = llb::compile(&plan, &build_inputs)
        .map_err(|e| Failure::new(FAILED_PRECONDITION, e.to_string()))?;
    Ok(bridge.solve(definition).await?)
}

fn pb_platform(platform: &plan::Platform) -> pb::Platform {
    pb::Platform {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        ..Default::default()
    }
}

/// An internal error as a status (used by helpers that cannot fail otherwise).
fn internal(message: impl Into<String>) -> Failure {
    Failure::new(INTERNAL, message)
}
