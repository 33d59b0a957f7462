//! Typed calls to buildkitd's LLBBridge. Each method is one RPC with the
//! fallbacks older daemons need (BuildKit 0.8 in Docker 20.10 included).

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use tonic::transport::Channel;

use super::connect::MAX_MESSAGE_BYTES;
use crate::proto::gateway::{self as gw, llb_bridge_client::LlbBridgeClient};
use crate::proto::{pb, rpc};

/// Gateway API caps we check (BuildKit's names).
pub mod gateway_caps {
    /// Return a result by ref ID (`Result.ref`) instead of the deprecated string.
    pub const PROTO_REF_ARRAY: &str = "proto.refarray";
    /// Frontend inputs (`Inputs` RPC, `input:` named contexts).
    pub const FRONTEND_INPUTS: &str = "frontend.inputs";
    /// ResolveImageConfig.
    pub const RESOLVE_IMAGE: &str = "resolveimage";
    /// ResolveImageConfig with a resolve mode.
    pub const RESOLVE_IMAGE_MODE: &str = "resolveimage.resolvemode";
    /// Solve requests with `evaluate` (build now, not when exported).
    pub const EVALUATE_SOLVE: &str = "gateway.solve.evaluate";
    /// StatFile on a solved ref.
    pub const STAT_FILE: &str = "statfile";
    /// The `Warn` RPC: build warnings the client shows (not in BuildKit 0.8).
    pub const WARNINGS: &str = "gateway.warnings";
}

/// Bytes per ReadFile call of [`Bridge::read_file_chunked`].
pub const READ_CHUNK: usize = 8 << 20;

/// What Ping told us about the daemon.
#[derive(Debug, Clone, Default)]
pub struct Capabilities {
    /// Enabled gateway API caps.
    pub gateway: BTreeSet<String>,
    /// Enabled LLB caps.
    pub llb: BTreeSet<String>,
    /// The first worker's platforms.
    pub platforms: Vec<pb::Platform>,
    /// BuildKit version, for logs.
    pub version: String,
}

/// The refs a result carries.
pub enum Refs {
    /// None: a subrequest's answer is metadata only.
    None,
    /// One ref (a single-platform build).
    Single(String),
    /// One ref per platform, keyed by the platform's ID (`linux/amd64`).
    PerPlatform(Vec<(String, String)>),
}

/// A connected LLBBridge client. Methods take `&self`: each call uses its
/// own clone of the client, so independent requests can be joined.
pub struct Bridge {
    client: LlbBridgeClient<Channel>,
}

impl Bridge {
    /// Wrap a channel with large message limits.
    pub fn new(channel: Channel) -> Self {
        let client = LlbBridgeClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Bridge { client }
    }

    /// A handle for one call: clones share the connection (HTTP/2 streams
    /// over stdio), so independent calls can run at the same time.
    fn client(&self) -> LlbBridgeClient<Channel> {
        self.client.clone()
    }

    /// Ping: caps and workers. Always the first call.
    pub async fn ping(&self) -> Result<Capabilities, tonic::Status> {
        let pong = self.client().ping(gw::PingRequest {}).await?.into_inner();
        let enabled = |caps: &[crate::proto::apicaps::ApiCap]| {
            caps.iter()
                .filter(|c| c.enabled)
                .map(|c| c.id.clone())
                .collect::<BTreeSet<_>>()
        };
        let worker = pong.workers.first();
        Ok(Capabilities {
            gateway: enabled(&pong.frontend_api_caps),
            llb: enabled(&pong.llb_caps),
            platforms: worker.map(|w| w.platforms.clone()).unwrap_or_default(),
            version: worker
                .and_then(|w| w.buildkit_version.as_ref())
                .map(|v| v.version.clone())
                .unwrap_or_default(),
        })
    }

    /// Send one build warning (callers check [`gateway_caps::WARNINGS`]).
    pub async fn warn(&self, request: gw::WarnRequest) -> Result<(), tonic::Status> {
        self.client().warn(request).await?;
        Ok(())
    }

    /// Definitions the client passed as frontend inputs.
    pub async fn inputs(&self) -> Result<BTreeMap<String, pb::Definition>, tonic::Status> {
        Ok(self
            .client()
            .inputs(gw::InputsRequest {})
            .await?
            .into_inner()
            .definitions)
    }

    /// Solve a definition and return the result's ref ID.
    pub async fn solve(&self, definition: pb::Definition) -> Result<String, tonic::Status> {
        let request = gw::SolveRequest {
            definition: Some(definition),
            allow_result_return: true,
            allow_result_array_ref: true,
            ..Default::default()
        };
        let response = self.client().solve(request).await?.into_inner();
        result_ref(response)
    }

    /// Solve a definition and build it now, so that a failure comes back
    /// here (where the frontend can explain it) rather than when BuildKit
    /// exports the returned result. Daemons without `evaluate` (BuildKit
    /// 0.8) build a ref when a file of it is asked for: a stat of its root.
    pub async fn solve_evaluated(
        &self,
        definition: pb::Definition,
        caps: &Capabilities,
    ) -> Result<String, tonic::Status> {
        if caps.gateway.contains(gateway_caps::EVALUATE_SOLVE) {
            let request = gw::SolveRequest {
                definition: Some(definition),
                allow_result_return: true,
                allow_result_array_ref: true,
                evaluate: true,
                ..Default::default()
            };
            let response = self.client().solve(request).await?.into_inner();
            return result_ref(response);
        }
        let reference = self.solve(definition).await?;
        let request = gw::StatFileRequest {
            r#ref: reference.clone(),
            path: ".".to_string(),
        };
        self.client().stat_file(request).await?;
        Ok(reference)
    }

    /// Read a whole file from a solved ref.
    pub async fn read_file(&self, reference: &str, path: &str) -> Result<Vec<u8>, tonic::Status> {
        let request = gw::ReadFileRequest {
            r#ref: reference.to_string(),
            file_path: path.to_string(),
            range: None,
        };
        Ok(self.client().read_file(request).await?.into_inner().data)
    }

    /// The first `length` bytes of a file of a solved ref.
    pub async fn read_file_head(
        &self,
        reference: &str,
        path: &str,
        length: usize,
    ) -> Result<Vec<u8>, tonic::Status> {
        let request = gw::ReadFileRequest {
            r#ref: reference.to_string(),
            file_path: path.to_string(),
            range: Some(gw::FileRange {
                offset: 0,
                length: i64::try_from(length).unwrap_or(i64::MAX),
            }),
        };
        Ok(self.client().read_file(request).await?.into_inner().data)
    }

    /// Stat a path of a solved ref: `Ok(None)` when the daemon answers that
    /// it is not there (or cannot be read), the status for transport errors.
    pub async fn stat_file(
        &self,
        reference: &str,
        path: &str,
    ) -> Result<Option<crate::proto::fsutil::types::Stat>, tonic::Status> {
        let request = gw::StatFileRequest {
            r#ref: reference.to_string(),
            path: path.to_string(),
        };
        match self.client().stat_file(request).await {
            Ok(response) => Ok(response.into_inner().stat),
            Err(status) if status.code() == tonic::Code::Unavailable => Err(status),
            Err(status) => {
                tracing::debug!(%path, message = %status.message(), "stat failed");
                Ok(None)
            }
        }
    }

    /// Read a file of any size, in ranges of `READ_CHUNK` bytes (each
    /// well under the message limit), up to `limit` bytes in all.
    pub async fn read_file_chunked(
        &self,
        reference: &str,
        path: &str,
        limit: usize,
    ) -> Result<Vec<u8>, tonic::Status> {
        let mut data = Vec::new();
        loop {
            let request = gw::ReadFileRequest {
                r#ref: reference.to_string(),
                file_path: path.to_string(),
                range: Some(gw::FileRange {
                    offset: i64::try_from(data.len()).unwrap_or(i64::MAX),
                    length: READ_CHUNK as i64,
                }),
            };
            let chunk = self.client().read_file(request).await?.into_inner().data;
            let done = chunk.len() < READ_CHUNK;
            data.extend_from_slice(&chunk);
            if data.len() > limit {
                return Err(tonic::Status::resource_exhausted(format!(
                    "{path} is larger than {limit} bytes"
                )));
            }
            if done {
                return Ok(data);
            }
        }
    }

    /// Image config JSON for `reference` on `platform`.
    pub async fn resolve_image_config(
        &self,
        reference: &str,
        platform: &pb::Platform,
        mode: Option<&str>,
    ) -> Result<Vec<u8>, tonic::Status> {
        let request = gw::ResolveImageConfigRequest {
            r#ref: reference.to_string(),
            platform: Some(platform.clone()),
            resolve_mode: mode.unwrap_or_default().to_string(),
            log_name: format!("resolve image config for {reference}"),
            ..Default::default()
        };
        Ok(self
            .client()
            .resolve_image_config(request)
            .await?
            .into_inner()
            .config)
    }

    /// Return the build result: its refs (by ID where the daemon takes
    /// that) and metadata.
    pub async fn return_result(
        &self,
        refs: Refs,
        metadata: BTreeMap<String, Vec<u8>>,
        caps: &Capabilities,
    ) -> Result<(), tonic::Status> {
        let by_id = caps.gateway.contains(gateway_caps::PROTO_REF_ARRAY);
        let result = match refs {
            Refs::None => None,
            Refs::Single(id) if by_id => Some(gw::result::Result::Ref(gw::Ref { id, def: None })),
            Refs::Single(id) => Some(gw::result::Result::RefDeprecated(id)),
            Refs::PerPlatform(refs) if by_id => {
                let refs = refs
                    .into_iter()
                    .map(|(key, id)| (key, gw::Ref { id, def: None }))
                    .collect();
                Some(gw::result::Result::Refs(gw::RefMap { refs }))
            }
            Refs::PerPlatform(refs) => {
                Some(gw::result::Result::RefsDeprecated(gw::RefMapDeprecated {
                    refs: refs.into_iter().collect(),
                }))
            }
        };
        let result = gw::Result { result, metadata };
        self.client()
            .r#return(gw::ReturnRequest {
                result: Some(result),
                error: None,
            })
            .await?;
        Ok(())
    }

    /// Return an error for the client to show.
    pub async fn return_error(&self, status: rpc::Status) -> Result<(), tonic::Status> {
        self.client()
            .r#return(gw::ReturnRequest {
                result: None,
                error: Some(status),
            })
            .await?;
        Ok(())
    }
}

/// The google.rpc.Status behind a failed call, keeping buildkitd's details
/// (failing vertex, source locations) so the client can show them.
pub fn status_of(status: &tonic::Status) -> rpc::Status {
    if !status.details().is_empty() {
        if let Ok(decoded) = rpc::Status::decode(status.details()) {
            return decoded;
        }
    }
    rpc::Status {
        code: status.code() as i32,
        message: status.message().to_string(),
        details: Vec::new(),
    }
}

/// The ref ID a solve answered with.
fn result_ref(response: gw::SolveResponse) -> Result<String, tonic::Status> {
    let from_result = response.result.and_then(|result| match result.result {
        Some(gw::result::Result::Ref(r)) => Some(r.id),
        Some(gw::result::Result::RefDeprecated(id)) => Some(id),
        _ => None,
    });
    from_result
        .or_else(|| Some(response.r#ref).filter(|r| !r.is_empty()))
        .ok_or_else(|| tonic::Status::internal("solve returned no result reference"))
}
