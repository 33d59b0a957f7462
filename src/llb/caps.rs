//! LLB capability IDs (BuildKit's names) and the set a daemon announced.
//! Every op records the caps its features need; building against a daemon
//! that lacks one either degrades (documented per call site) or fails naming
//! the cap, instead of sending LLB the daemon would misread.

use std::collections::BTreeSet;

/// `docker-image://` sources.
pub const SOURCE_IMAGE: &str = "source.image";
/// `local://` sources.
pub const SOURCE_LOCAL: &str = "source.local";
/// `local.session` attr.
pub const SOURCE_LOCAL_SESSION_ID: &str = "source.local.sessionid";
/// `local.sharedkeyhint` attr.
pub const SOURCE_LOCAL_SHARED_KEY_HINT: &str = "source.local.sharedkeyhint";
/// `local.followpaths` attr.
pub const SOURCE_LOCAL_FOLLOW_PATHS: &str = "source.local.followpaths";
/// `local.includepattern` attr.
pub const SOURCE_LOCAL_INCLUDE_PATTERNS: &str = "source.local.includepatterns";
/// `local.excludepatterns` attr.
pub const SOURCE_LOCAL_EXCLUDE_PATTERNS: &str = "source.local.excludepatterns";
/// `local.differ` attr.
pub const SOURCE_LOCAL_DIFFER: &str = "source.local.differ";
/// `https://` sources.
pub const SOURCE_HTTP: &str = "source.http";
/// `http.checksum` attr.
pub const SOURCE_HTTP_CHECKSUM: &str = "source.http.checksum";
/// `http.perm` attr.
pub const SOURCE_HTTP_PERM: &str = "source.http.perm";
/// `git://` sources.
pub const SOURCE_GIT: &str = "source.git";
/// `git.keepgitdir` attr.
pub const SOURCE_GIT_KEEP_DIR: &str = "source.git.keepgitdir";
/// `git.fullurl` attr.
pub const SOURCE_GIT_FULL_URL: &str = "source.git.fullurl";
/// `git.authtokensecret` / `git.authheadersecret` attrs.
pub const SOURCE_GIT_HTTP_AUTH: &str = "source.git.httpauth";
/// `git.mountsshsock` attr.
pub const SOURCE_GIT_MOUNT_SSH_SOCK: &str = "source.git.mountsshsock";
/// `git.skipsubmodules` attr.
pub const SOURCE_GIT_SKIP_SUBMODULES: &str = "source.git.skipsubmodules";
/// Exec ops at all.
pub const EXEC_META_BASE: &str = "exec.meta.base";
/// A network mode other than the default.
pub const EXEC_META_NETWORK: &str = "exec.meta.network";
/// Bind mounts (the root filesystem included).
pub const EXEC_META_SECURITY: &str = "exec.meta.security";
/// Bind mounts.
pub const EXEC_MOUNT_BIND: &str = "exec.mount.bind";
/// Bind mounts of a sub-path.
pub const EXEC_MOUNT_SELECTOR: &str = "exec.mount.selector";
/// Cache mounts.
pub const EXEC_MOUNT_CACHE: &str = "exec.mount.cache";
/// Cache mount sharing modes.
pub const EXEC_MOUNT_CACHE_SHARING: &str = "exec.mount.cache.sharing";
/// Secret mounts.
pub const EXEC_MOUNT_SECRET: &str = "exec.mount.secret";
/// tmpfs mounts.
pub const EXEC_MOUNT_TMPFS: &str = "exec.mount.tmpfs";
/// File ops (mkdir, mkfile, copy, rm).
pub const FILE_BASE: &str = "file.base";
/// Include/exclude patterns on file copies.
pub const FILE_COPY_PATTERNS: &str = "file.copy.includeexcludepatterns";
/// Merge ops.
pub const MERGE_OP: &str = "mergeop";
/// `ignore_cache` in op metadata: the op always runs.
pub const META_IGNORE_CACHE: &str = "meta.ignorecache";
/// Custom vertex names and other descriptions.
pub const META_DESCRIPTION: &str = "meta.description";

/// The LLB caps a daemon has enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapSet {
    enabled: Option<BTreeSet<String>>,
}

impl CapSet {
    /// Every cap: for offline planning, where no daemon constrains the LLB.
    pub fn all() -> Self {
        CapSet { enabled: None }
    }

    /// Exactly the given caps (from Ping).
    pub fn from_enabled<I: IntoIterator<Item = String>>(caps: I) -> Self {
        CapSet {
            enabled: Some(caps.into_iter().collect()),
        }
    }

    /// Whether the daemon can honour `cap`.
    pub fn supports(&self, cap: &str) -> bool {
        self.enabled.as_ref().is_none_or(|set| set.contains(cap))
    }
}
