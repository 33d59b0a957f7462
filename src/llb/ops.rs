//! Op constructors on [`Graph`]: sources (image, local, http; the Git source
//! is in `git.rs`), exec with its mounts, file actions, and merge (with a
//! copy-chain fallback).

use std::collections::{BTreeMap, BTreeSet};

use super::caps::*;
use super::graph::{output, Graph, Inputs, LlbError, OpInfo, State};
use crate::proto::pb;

/// Options of a `local://` source.
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// Client session that owns the directory.
    pub session_id: Option<String>,
    /// Key under which BuildKit reuses earlier transfers of this directory.
    pub shared_key_hint: Option<String>,
    /// Transfer only these paths.
    pub follow_paths: Vec<String>,
    /// Transfer only matching files.
    pub include_patterns: Vec<String>,
    /// Skip matching files.
    pub exclude_patterns: Vec<String>,
    /// Always send the files, without comparing with earlier transfers
    /// (dropped on daemons without `source.local.differ`).
    pub differ_none: bool,
}

/// Options of an HTTP source.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// `sha256:<hex>` the download must match.
    pub checksum: Option<String>,
    /// File name of the downloaded file.
    pub filename: Option<String>,
    /// File mode of the downloaded file.
    pub mode: Option<u32>,
}

/// Network access of an exec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    /// The daemon's default (sandboxed network).
    #[default]
    Default,
    /// The host's network.
    Host,
    /// No network.
    None,
}

/// Cache mount sharing modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sharing {
    /// Concurrent builds use the cache together.
    #[default]
    Shared,
    /// Concurrent builds get separate copies.
    Private,
    /// Concurrent builds wait for each other.
    Locked,
}

/// A mount of an exec besides its root filesystem.
#[derive(Debug, Clone)]
pub enum Mount {
    /// A state (or a sub-path of it) bound at `dest`.
    Bind {
        /// Mount point.
        dest: String,
        /// What to mount.
        source: State,
        /// Sub-path of `source`.
        selector: Option<String>,
        /// Read-only, or writable with its result as an output of the exec.
        readonly: bool,
    },
    /// A persistent BuildKit cache.
    Cache {
        /// Mount point.
        dest: String,
        /// Cache ID.
        id: String,
        /// Sharing mode.
        sharing: Sharing,
        /// What a new cache directory starts with (the Dockerfile's
        /// `--mount=type=cache,from=…`); `None`: empty. BuildKit keys the
        /// directory by the ID *and* this state's snapshot, so a different
        /// base is a different directory.
        base: Option<State>,
    },
    /// A BuildKit secret as a file.
    Secret {
        /// File path.
        dest: String,
        /// Secret ID.
        id: String,
        /// File mode.
        mode: u32,
        /// Missing secret is not an error.
        optional: bool,
    },
    /// An empty in-memory filesystem.
    Tmpfs {
        /// Mount point.
        dest: String,
        /// Size limit in bytes (0 = default).
        size: i64,
    },
}

/// A process to run.
#[derive(Debug, Clone, Default)]
pub struct Exec {
    /// argv.
    pub args: Vec<String>,
    /// Environment, sorted by key so the op bytes are stable.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: String,
    /// User (empty = the image's default, root).
    pub user: String,
    /// Network mode.
    pub network: Network,
    /// Root filesystem.
    pub root: State,
    /// Further mounts.
    pub mounts: Vec<Mount>,
    /// Run with BuildKit's `security.insecure` mode (all capabilities); the
    /// client and daemon must allow that entitlement.
    pub insecure: bool,
}

/// The outputs of an exec: the root filesystem and each writable bind mount.
#[derive(Debug, Clone)]
pub struct ExecOutputs {
    /// Root filesystem after the process ran.
    pub root: State,
    /// Writable bind mounts after the process ran, in mount order.
    pub binds: Vec<State>,
}

/// One file operation.
#[derive(Debug, Clone)]
pub enum FileAction {
    /// Create a directory.
    Mkdir {
        /// Path.
        path: String,
        /// Mode.
        mode: i32,
        /// Create missing parents.
        parents: bool,
    },
    /// Create a file with contents.
    Mkfile {
        /// Path.
        path: String,
        /// Mode.
        mode: i32,
        /// Contents.
        data: Vec<u8>,
    },
    /// Remove a path.
    Rm {
        /// Path.
        path: String,
        /// A missing path is not an error.
        allow_not_found: bool,
    },
    /// Copy from another state.
    Copy {
        /// Where to copy from.
        from: State,
        /// Source path in `from`.
        src: String,
        /// Destination path.
        dest: String,
        /// Copy a directory's contents rather than the directory itself.
        contents_only: bool,
        /// Create missing destination parents.
        create_parents: bool,
        /// Only these patterns.
        include: Vec<String>,
        /// Not these patterns.
        exclude: Vec<String>,
    },
}

impl Graph {
    /// `docker-image://` source.
    pub fn image(&mut self, reference: &str, info: OpInfo) -> Result<State, LlbError> {
        let source = pb::SourceOp {
            identifier: format!("docker-image://{reference}"),
            attrs: BTreeMap::new(),
        };
        let op = self.op(Vec::new(), pb::op::Op::Source(source));
        self.add(op, BTreeSet::from([SOURCE_IMAGE]), info)
    }

    /// `local://` source: a directory the client sends.
    pub fn local(
        &mut self,
        name: &str,
        options: &LocalOptions,
        info: OpInfo,
    ) -> Result<State, LlbError> {
        let mut attrs = BTreeMap::new();
        let mut needed = BTreeSet::from([SOURCE_LOCAL]);
        let mut set = |key: &str, value: String, cap: &'static str| {
            attrs.insert(key.to_string(), value);
            needed.insert(cap);
        };
        if let Some(session) = &options.session_id {
            set("local.session", session.clone(), SOURCE_LOCAL_SESSION_ID);
        }
        if let Some(hint) = &options.shared_key_hint {
            set(
                "local.sharedkeyhint",
                hint.clone(),
                SOURCE_LOCAL_SHARED_KEY_HINT,
            );
        }
        if !options.follow_paths.is_empty() {
            set(
                "local.followpaths",
                json_list(&options.follow_paths),
                SOURCE_LOCAL_FOLLOW_PATHS,
            );
        }
        if !options.include_patterns.is_empty() {
            set(
                "local.includepattern",
                json_list(&options.include_patterns),
                SOURCE_LOCAL_INCLUDE_PATTERNS,
            );
        }
        if !options.exclude_patterns.is_empty() {
            set(
                "local.excludepatterns",
                json_list(&options.exclude_patterns),
                SOURCE_LOCAL_EXCLUDE_PATTERNS,
            );
        }
        // Fallback: without the differ cap the daemon compares with the last
        // transfer, which is only slower, never wrong.
        if options.differ_none && self.caps().supports(SOURCE_LOCAL_DIFFER) {
            set("local.differ", "none".to_string(), SOURCE_LOCAL_DIFFER);
        }
        let source = pb::SourceOp {
            identifier: format!("local://{name}"),
            attrs,
        };
        let op = self.op(Vec::new(), pb::op::Op::Source(source));
        self.add(op, needed, info)
    }

    /// HTTP(S) source: one file, verified against `checksum` by BuildKit.
    pub fn http(
        &mut self,
        url: &str,
        options: &HttpOptions,
        info: OpInfo,
    ) -> Result<State, LlbError> {
        let mut attrs = BTreeMap::new();
        let mut needed = BTreeSet::from([SOURCE_HTTP]);
        if let Some(checksum) = &options.checksum {
            attrs.insert("http.checksum".to_string(), checksum.clone());
            needed.insert(SOURCE_HTTP_CHECKSUM);
        }
        if let Some(filename) = &options.filename {
            attrs.insert("http.filename".to_string(), filename.clone());
        }
        if let Some(mode) = options.mode {
            attrs.insert("http.perm".to_string(), format!("0{mode:o}"));
            needed.insert(SOURCE_HTTP_PERM);
        }
        let source = pb::SourceOp {
            identifier: url.to_string(),
            attrs,
        };
        let op = self.op(Vec::new(), pb::op::Op::Source(source));
        self.add(op, needed, info)
    }

    /// Run a process.
    pub fn exec(&mut self, exec: Exec, info: OpInfo) -> Result<ExecOutputs, LlbError> {
        let mut inputs = Inputs::default();
        let mut needed = BTreeSet::from([EXEC_META_BASE, EXEC_MOUNT_BIND]);
        let mut mounts = vec![pb::Mount {
            input: inputs.index(&exec.root),
            dest: "/".to_string(),
            output: 0,
            ..Default::default()
        }];
        let mut next_output = 1;
        for mount in &exec.mounts {
            mounts.push(mount_pb(mount, &mut inputs, &mut needed, &mut next_output));
        }
        let network = match exec.network {
            Network::Default => pb::NetMode::Unset,
            Network::Host => pb::NetMode::Host,
            Network::None => pb::NetMode::None,
        };
        if network != pb::NetMode::Unset {
            needed.insert(EXEC_META_NETWORK);
        }
        let meta = pb::Meta {
            args: exec.args,
            env: exec.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            cwd: exec.cwd,
            user: exec.user,
        };
        let security = if exec.insecure {
            needed.insert(EXEC_META_SECURITY);
            pb::SecurityMode::Insecure
        } else {
            pb::SecurityMode::Sandbox
        };
        let op = pb::ExecOp {
            meta: Some(meta),
            mounts,
            network: network.into(),
            security: security.into(),
        };
        let mut op = self.op(inputs.into_pb(), pb::op::Op::Exec(op));
        op.platform = Some(self.platform_for(&exec.root));
        let state = self.add(op, needed, info)?;
        let binds = (1..next_output).map(|i| output(&state, i)).collect();
        Ok(ExecOutputs { root: state, binds })
    }

    /// Apply file actions in order, starting from `base`.
    pub fn file(
        &mut self,
        base: &State,
        actions: Vec<FileAction>,
        info: OpInfo,
    ) -> Result<State, LlbError> {
        let mut inputs = Inputs::default();
        let base_index = inputs.index(base);
        // Copy sources must be registered before any chained index is computed,
        // because "previous action" indices start after the last input.
        let secondaries: Vec<i64> = actions
            .iter()
            .map(|action| match action {
                FileAction::Copy { from, .. } => inputs.index(from),
                _ => -1,
            })
            .collect();
        let count = actions.len();
        let first_chained = inputs.len();
        let mut pb_actions = Vec::with_capacity(count);
        for (i, (action, secondary)) in actions.into_iter().zip(secondaries).enumerate() {
            let index = i64::try_from(i).unwrap_or(i64::MAX);
            let input = if i == 0 {
                base_index
            } else {
                first_chained + index - 1
            };
            let output = if i + 1 == count { 0 } else { -1 };
            pb_actions.push(pb::FileAction {
                input,
                secondary_input: secondary,
                output,
                action: Some(file_action_pb(action)),
            });
        }
        let mut needed = BTreeSet::from([FILE_BASE]);
        if pb_actions.iter().any(has_patterns) {
            needed.insert(FILE_COPY_PATTERNS);
        }
        let op = self.op(
            inputs.into_pb(),
            pb::op::Op::File(pb::FileOp {
                actions: pb_actions,
            }),
        );
        self.add(op, needed, info)
    }

    /// Layer states on top of each other (later wins). Without `mergeop` the
    /// same result is built by copying each layer onto the first in turn.
    pub fn merge(&mut self, layers: &[State], info: OpInfo) -> Result<State, LlbError> {
        let Some((first, rest)) = layers.split_first() else {
            return Ok(State::scratch());
        };
        if rest.is_empty() {
            return Ok(first.clone());
        }
        if self.caps().supports(MERGE_OP) {
            let mut inputs = Inputs::default();
            let merge_inputs = layers
                .iter()
                .map(|layer| pb::MergeInput {
                    input: inputs.index(layer),
                })
                .collect();
            let op = self.op(
                inputs.into_pb(),
                pb::op::Op::Merge(pb::MergeOp {
                    inputs: merge_inputs,
                }),
            );
            return self.add(op, BTreeSet::from([MERGE_OP]), info);
        }
        let copies = rest
            .iter()
            .map(|layer| FileAction::Copy {
                from: layer.clone(),
                src: "/".into(),
                dest: "/".into(),
                contents_only: true,
                create_parents: true,
                include: Vec::new(),
                exclude: Vec::new(),
            })
            .collect();
        self.file(first, copies, info)
    }
}

fn mount_pb(
    mount: &Mount,
    inputs: &mut Inputs,
    needed: &mut BTreeSet<&'static str>,
    next_output: &mut i64,
) -> pb::Mount {
    match mount {
        Mount::Bind {
            dest,
            source,
            selector,
            readonly,
        } => {
            if selector.is_some() {
                needed.insert(EXEC_MOUNT_SELECTOR);
            }
            let output = if *readonly {
                -1
            } else {
                *next_output += 1;
                *next_output - 1
            };
            pb::Mount {
                input: inputs.index(source),
                selector: selector.clone().unwrap_or_default(),
                dest: dest.clone(),
                output,
                readonly: *readonly,
                ..Default::default()
            }
        }
        Mount::Cache {
            dest,
            id,
            sharing,
            base,
        } => {
            needed.insert(EXEC_MOUNT_CACHE);
            needed.insert(EXEC_MOUNT_CACHE_SHARING);
            let sharing = match sharing {
                Sharing::Shared => pb::CacheSharingOpt::Shared,
                Sharing::Private => pb::CacheSharingOpt::Private,
                Sharing::Locked => pb::CacheSharingOpt::Locked,
            };
            pb::Mount {
                input: base.as_ref().map_or(-1, |base| inputs.index(base)),
                dest: dest.clone(),
                output: -1,
                mount_type: pb::MountType::Cache.into(),
                cache_opt: Some(pb::CacheOpt {
                    id: id.clone(),
                    sharing: sharing.into(),
                }),
                ..Default::default()
            }
        }
        Mount::Secret {
            dest,
            id,
            mode,
            optional,
        } => {
            needed.insert(EXEC_MOUNT_SECRET);
            pb::Mount {
                input: -1,
                dest: dest.clone(),
                output: -1,
                mount_type: pb::MountType::Secret.into(),
                secret_opt: Some(pb::SecretOpt {
                    id: id.clone(),
                    uid: 0,
                    gid: 0,
                    mode: *mode,
                    optional: *optional,
                }),
                ..Default::default()
            }
        }
        Mount::Tmpfs { dest, size } => {
            needed.insert(EXEC_MOUNT_TMPFS);
            pb::Mount {
                input: -1,
                dest: dest.clone(),
                output: -1,
                mount_type: pb::MountType::Tmpfs.into(),
                tmpfs_opt: Some(pb::TmpfsOpt { size: *size }),
                ..Default::default()
            }
        }
    }
}

fn file_action_pb(action: FileAction) -> pb::file_action::Action {
    use pb::file_action::Action;
    match action {
        FileAction::Mkdir {
            path,
            mode,
            parents,
        } => Action::Mkdir(pb::FileActionMkDir {
            path,
            mode,
            make_parents: parents,
            owner: None,
            timestamp: -1,
        }),
        FileAction::Mkfile { path, mode, data } => Action::Mkfile(pb::FileActionMkFile {
            path,
            mode,
            data,
            owner: None,
            timestamp: -1,
        }),
        FileAction::Rm {
            path,
            allow_not_found,
        } => Action::Rm(pb::FileActionRm {
            path,
            allow_not_found,
            allow_wildcard: false,
        }),
        FileAction::Copy {
            src,
            dest,
            contents_only,
            create_parents,
            include,
            exclude,
            ..
        } => Action::Copy(pb::FileActionCopy {
            src,
            dest,
            owner: None,
            mode: -1,
            follow_symlink: true,
            dir_copy_contents: contents_only,
            attempt_unpack_docker_compatibility: false,
            create_dest_path: create_parents,
            allow_wildcard: false,
            allow_empty_wildcard: false,
            timestamp: -1,
            include_patterns: include,
            exclude_patterns: exclude,
        }),
    }
}

fn has_patterns(action: &pb::FileAction) -> bool {
    matches!(&action.action, Some(pb::file_action::Action::Copy(c))
        if !c.include_patterns.is_empty() || !c.exclude_patterns.is_empty())
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_string())
}
