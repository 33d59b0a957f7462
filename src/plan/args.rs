//! Every build-arg and named context the frontend reads, as data: the
//! `--call outline` answer and the reference in docs/build-args.md are
//! made from (and tested against) this table.

use super::environment::{ALLOW_UNTRUSTED_ARG, KEYRING_ARG, PACKAGES_ARG, REPOSITORIES_ARG};
use super::options::{BUILD_OPTIONS_ARG, ENV_FILE_ARG};
use super::packaging::{NAMESPACE_ARG, SIGNING_KEY_NAME_ARG};
use super::sourcedir::SOURCE_DIR_ARG;
use super::{CACHE_CONTEXT, ENVIRONMENT_CONTEXT, ENVIRONMENT_IMAGE_ARG, PIPELINE_DIR_ARG};

/// One build-arg: name, what it does, its default as the user sees it.
pub struct ArgDoc {
    /// `--build-arg NAME=…`.
    pub name: &'static str,
    /// One line.
    pub description: &'static str,
    /// The default (empty: none).
    pub default: &'static str,
}

/// The build-args, in the order the reference lists them.
pub static BUILD_ARGS: &[ArgDoc] = &[
    ArgDoc {
        name: "SOURCE_DATE_EPOCH",
        description: "every timestamp in the packages (whole seconds); exported to every step",
        default: "0",
    },
    ArgDoc {
        name: ENVIRONMENT_IMAGE_ARG,
        description: "the build environment image, for clients without named contexts",
        default: "",
    },
    ArgDoc {
        name: PIPELINE_DIR_ARG,
        description: "folders of the context searched for `uses:` pipelines before the built-ins",
        default: "pipelines",
    },
    ArgDoc {
        name: BUILD_OPTIONS_ARG,
        description: "names under top-level `options:` to enable (melange's --build-option)",
        default: "",
    },
    ArgDoc {
        name: ENV_FILE_ARG,
        description: "a KEY=VALUE file of the context under environment.environment (--env-file)",
        default: "",
    },
    ArgDoc {
        name: SOURCE_DIR_ARG,
        description: "the folder of the context copied into the workspace (--source-dir)",
        default: "./<package>/ when present, else the context",
    },
    ArgDoc {
        name: SIGNING_KEY_NAME_ARG,
        description: "the key name in signatures (.SIGN.RSA256.<name>.pub)",
        default: "melange.rsa",
    },
    ArgDoc {
        name: NAMESPACE_ARG,
        description: "the .PKGINFO maintainer (melange's --namespace)",
        default: "",
    },
    ArgDoc {
        name: REPOSITORIES_ARG,
        description: "repositories added to environment.contents.repositories",
        default: "",
    },
    ArgDoc {
        name: KEYRING_ARG,
        description: "public keys added to environment.contents.keyring",
        default: "",
    },
    ArgDoc {
        name: PACKAGES_ARG,
        description: "packages added to the environment's world",
        default: "",
    },
    ArgDoc {
        name: ALLOW_UNTRUSTED_ARG,
        description: "1: use indexes whose signature is missing or does not verify",
        default: "0",
    },
    ArgDoc {
        name: "MELANGE_HELPER_IMAGE_FROM",
        description: "where the helper image comes from: auto, frontend.bin or source (debugging)",
        default: "auto",
    },
];

/// The named contexts the frontend understands.
pub static NAMED_CONTEXTS: &[(&str, &str)] = &[
    (
        ENVIRONMENT_CONTEXT,
        "the build environment's root: docker-image://IMAGE, a directory or input:NAME",
    ),
    (
        CACHE_CONTEXT,
        "melange's --cache-dir at /var/cache/melange; its sha256:/sha512: files serve native fetches",
    ),
    (
        "any other",
        "read where a repository or key names it: context://NAME/PATH",
    ),
];

/// The signing key secret (optional: without it packages are unsigned).
pub const SIGNING_SECRET: &str = "melange.rsa";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_page_lists_every_build_arg_and_context() {
        let page = include_str!("../../docs/build-args.md");
        for arg in BUILD_ARGS {
            assert!(
                page.contains(&format!("`{}`", arg.name)),
                "{} undocumented",
                arg.name
            );
        }
        for (name, _) in &NAMED_CONTEXTS[..2] {
            assert!(page.contains(&format!("`{name}`")), "{name} undocumented");
        }
    }
}
