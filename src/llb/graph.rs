//! A typed LLB graph builder. Ops are marshalled as they are added (inputs
//! first), digests are sha256 of those bytes, and the Definition lists them in
//! insertion order with the terminal op last, so the same calls always give
//! byte-identical output. Each op records the caps its features need; asking
//! for a feature the daemon lacks is an error naming the cap.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use sha2::{Digest, Sha256};

use super::caps::{self, CapSet};
use crate::proto::pb;

/// Why LLB could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlbError {
    /// The daemon lacks a capability a requested feature needs.
    #[error("the BuildKit engine does not support `{cap}` (needed for {feature}); upgrade BuildKit / Docker")]
    MissingCap {
        /// Cap ID.
        cap: String,
        /// What wanted it.
        feature: String,
    },
    /// A definition handed in (frontend input) is malformed.
    #[error("invalid LLB definition: {0}")]
    InvalidDefinition(String),
}

/// One output of an op, or scratch (the empty filesystem).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct State {
    output: Option<(String, i64)>,
}

impl State {
    /// The empty filesystem.
    pub fn scratch() -> Self {
        State { output: None }
    }

    fn input(&self) -> Option<pb::Input> {
        self.output.as_ref().map(|(digest, index)| pb::Input {
            digest: digest.clone(),
            index: *index,
        })
    }

    /// The op digest behind this state (None for scratch).
    pub fn digest(&self) -> Option<&str> {
        self.output.as_ref().map(|(d, _)| d.as_str())
    }
}

/// Metadata for one op: its progress name and source lines.
#[derive(Debug, Clone, Default)]
pub struct OpInfo {
    /// Custom progress name (`llb.customname`).
    pub name: Option<String>,
    /// 1-based lines in the build file this op comes from.
    pub lines: Vec<usize>,
    /// Progress group, to fold related vertices in the UI.
    pub group: Option<(String, String)>,
    /// Run the op on every build, never from cache (needs `meta.ignorecache`).
    pub ignore_cache: bool,
}

impl OpInfo {
    /// An op with a progress name.
    pub fn named(name: impl Into<String>) -> Self {
        OpInfo {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    /// The same op pointing at build-file `line` (0: none known).
    pub fn at(mut self, line: usize) -> Self {
        if line > 0 {
            self.lines.push(line);
        }
        self
    }
}

/// The build file, attached as a source map so errors show its lines.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// File name as the user gave it.
    pub filename: String,
    /// File contents.
    pub data: Vec<u8>,
}

/// An LLB graph under construction.
pub struct Graph {
    ops: Vec<Vec<u8>>,
    seen: BTreeSet<String>,
    metadata: BTreeMap<String, pb::OpMetadata>,
    locations: BTreeMap<String, Vec<usize>>,
    platform: pb::Platform,
    /// The worker's platform when it differs from the target's: the
    /// frontend's own image exists only for it, and its binary runs there.
    build_platform: Option<pb::Platform>,
    /// Ops whose filesystem is the frontend's image (build platform).
    build_platform_ops: BTreeSet<String>,
    caps: CapSet,
    source: Option<SourceFile>,
    /// `--no-cache`: every op gets ignore-cache.
    ignore_cache: bool,
}

impl Graph {
    /// An empty graph for `platform`, limited to the daemon's `caps`.
    pub fn new(platform: pb::Platform, caps: CapSet) -> Self {
        Graph {
            ops: Vec::new(),
            seen: BTreeSet::new(),
            metadata: BTreeMap::new(),
            locations: BTreeMap::new(),
            platform,
            build_platform: None,
            build_platform_ops: BTreeSet::new(),
            caps,
            source: None,
            ignore_cache: false,
        }
    }

    /// Mark every op added from now on as ignore-cache (`--no-cache`).
    pub fn ignore_cache_everywhere(&mut self) {
        self.ignore_cache = true;
    }

    /// The caps this graph may use.
    pub fn caps(&self) -> &CapSet {
        &self.caps
    }

    /// Attach the build file for source maps.
    pub fn set_source(&mut self, source: SourceFile) {
        self.source = Some(source);
    }

    /// Fail with a clear error when `cap` is missing.
    pub fn require(&self, cap: &str, feature: &str) -> Result<(), LlbError> {
        if self.caps.supports(cap) {
            Ok(())
        } else {
            Err(LlbError::MissingCap {
                cap: cap.to_string(),
                feature: feature.to_string(),
            })
        }
    }

    /// Add a marshalled op; identical ops collapse into one vertex.
    pub(super) fn add(
        &mut self,
        op: pb::Op,
        needed: BTreeSet<&'static str>,
        info: OpInfo,
    ) -> Result<State, LlbError> {
        let feature = info.name.clone().unwrap_or_else(|| "an LLB op".to_string());
        let mut caps_map = BTreeMap::new();
        for cap in needed {
            self.require(cap, &feature)?;
            caps_map.insert(cap.to_string(), true);
        }
        let bytes = op.encode_to_vec();
        let digest = digest_of(&bytes);
        if self.seen.insert(digest.clone()) {
            self.ops.push(bytes);
        }
        let mut description = BTreeMap::new();
        if let Some(name) = info.name {
            if self.caps.supports(caps::META_DESCRIPTION) {
                description.insert("llb.customname".to_string(), name);
                caps_map.insert(caps::META_DESCRIPTION.to_string(), true);
            }
        }
        let ignore_cache = info.ignore_cache || self.ignore_cache;
        if ignore_cache {
            self.require(caps::META_IGNORE_CACHE, &feature)?;
            caps_map.insert(caps::META_IGNORE_CACHE.to_string(), true);
        }
        let progress_group = info.group.map(|(id, name)| pb::ProgressGroup {
            id,
            name,
            weak: false,
        });
        let meta = self.metadata.entry(digest.clone()).or_default();
        meta.ignore_cache |= ignore_cache;
        meta.description.extend(description);
        meta.caps.extend(caps_map);
        if progress_group.is_some() {
            meta.progress_group = progress_group;
        }
        if !info.lines.is_empty() {
            self.locations
                .entry(digest.clone())
                .or_default()
                .extend(info.lines);
        }
        Ok(State {
            output: Some((digest, 0)),
        })
    }

    /// The platform every op carries.
    pub(super) fn platform(&self) -> pb::Platform {
        self.platform.clone()
    }

    /// The worker's platform, when the target is another (`--platform
    /// linux/arm64` on an amd64 worker): the helper image is resolved for
    /// it and the execs that run the helper declare it, so BuildKit neither
    /// looks for an arm64 variant of the frontend's image nor runs its
    /// binary under an emulator.
    pub fn set_build_platform(&mut self, platform: pb::Platform) {
        self.build_platform = (platform != self.platform).then_some(platform);
    }

    /// Add ops for the build platform: `add` runs with it as the graph's
    /// platform, and the resulting state is known to be a build-platform
    /// filesystem (an exec on it runs there too, see [`Graph::platform_for`]).
    pub(super) fn on_build_platform(
        &mut self,
        add: impl FnOnce(&mut Graph) -> Result<State, LlbError>,
    ) -> Result<State, LlbError> {
        let Some(build) = self.build_platform.clone() else {
            return add(self);
        };
        let target = std::mem::replace(&mut self.platform, build);
        let state = add(self);
        self.platform = target;
        let state = state?;
        if let Some(digest) = state.digest() {
            self.build_platform_ops.insert(digest.to_string());
        }
        Ok(state)
    }

    /// The platform of an exec on `root`: the build platform for the
    /// frontend's image, else the graph's.
    pub(super) fn platform_for(&self, root: &State) -> pb::Platform {
        match (&self.build_platform, root.digest()) {
            (Some(build), Some(digest)) if self.build_platform_ops.contains(digest) => {
                build.clone()
            }
            _ => self.platform(),
        }
    }

    /// Make an op with the graph's platform.
    pub(super) fn op(&self, inputs: Vec<pb::Input>, op: pb::op::Op) -> pb::Op {
        pb::Op {
            inputs,
            op: Some(op),
            platform: Some(self.platform()),
            constraints: None,
        }
    }

    /// Copy a definition from elsewhere (frontend inputs) into this graph and
    /// return the state it evaluates to.
    pub fn import(&mut self, def: &pb::Definition) -> Result<State, LlbError> {
        let Some(terminal) = def.def.last() else {
            return Err(LlbError::InvalidDefinition("empty definition".into()));
        };
        let terminal = pb::Op::decode(terminal.as_slice())
            .map_err(|e| LlbError::InvalidDefinition(e.to_string()))?;
        let Some(result) = terminal.inputs.first() else {
            return Err(LlbError::InvalidDefinition(
                "the last op has no input".into(),
            ));
        };
        for bytes in &def.def[..def.def.len() - 1] {
            let digest = digest_of(bytes);
            if self.seen.insert(digest.clone()) {
                self.ops.push(bytes.clone());
            }
            if let Some(meta) = def.metadata.get(&digest) {
                self.metadata.entry(digest).or_insert_with(|| meta.clone());
            }
        }
        Ok(State {
            output: Some((result.digest.clone(), result.index)),
        })
    }

    /// Serialize the graph with `result` as its output.
    pub fn finish(mut self, result: &State) -> pb::Definition {
        let terminal = pb::Op {
            inputs: result.input().into_iter().collect(),
            ..Default::default()
        };
        let bytes = terminal.encode_to_vec();
        if self.seen.insert(digest_of(&bytes)) {
            self.ops.push(bytes);
        }
        let source = self
            .source
            .take()
            .map(|file| super::sourcemap::source_map(file, &self.locations));
        pb::Definition {
            def: self.ops,
            metadata: self.metadata,
            source,
        }
    }
}

/// `sha256:<hex>` of an op's bytes: BuildKit's vertex digest.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Collects an op's distinct inputs, giving each state one input slot.
#[derive(Default)]
pub(super) struct Inputs {
    list: Vec<State>,
}

impl Inputs {
    /// Index of `state` among the op's inputs; -1 for scratch.
    pub(super) fn index(&mut self, state: &State) -> i64 {
        if state.output.is_none() {
            return -1;
        }
        let pos = self
            .list
            .iter()
            .position(|s| s == state)
            .unwrap_or_else(|| {
                self.list.push(state.clone());
                self.list.len() - 1
            });
        i64::try_from(pos).unwrap_or(i64::MAX)
    }

    pub(super) fn len(&self) -> i64 {
        i64::try_from(self.list.len()).unwrap_or(i64::MAX)
    }

    pub(super) fn into_pb(self) -> Vec<pb::Input> {
        self.list.iter().filter_map(State::input).collect()
    }
}

/// An output of the op just added.
pub(super) fn output(state: &State, index: i64) -> State {
    State {
        output: state
            .output
            .as_ref()
            .map(|(digest, _)| (digest.clone(), index)),
    }
}
