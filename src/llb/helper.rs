//! The frontend's own binary as a step: environment installs, native
//! sources, git checkouts and packaging all run it from its own image, so
//! none of them depends on a tool of the build environment. Shared by those
//! modules, owned by none of them.

use std::collections::BTreeMap;

use super::graph::State;
use super::ops::{Exec, Mount, Network};
use crate::plan::packaging::HELPER_BINARY;

/// The helper binary with `args`, no network, as the image's user (root).
pub(super) fn helper_exec(root: State, args: Vec<String>, mounts: Vec<Mount>) -> Exec {
    let mut argv = vec![HELPER_BINARY.to_string()];
    argv.extend(args);
    Exec {
        args: argv,
        env: BTreeMap::from([("PATH".to_string(), "/".to_string())]),
        cwd: "/".into(),
        user: String::new(),
        network: Network::None,
        root,
        mounts,
        insecure: false,
    }
}

/// An empty writable mount whose result is an output of the exec.
pub(super) fn output_mount(dest: &str) -> Mount {
    Mount::Bind {
        dest: dest.into(),
        source: State::scratch(),
        selector: None,
        readonly: false,
    }
}
