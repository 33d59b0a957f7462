//! The client's side of a build: build-args, target, platform and named
//! contexts, as the gateway received them. Kept free of gateway types so
//! `plan` stays pure and the offline `plan` subcommand can fill it too.

use std::collections::BTreeMap;

use serde::Serialize;

/// Target platform of the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// GOARCH spelling (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Variant (`v7`), may be empty.
    pub variant: String,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: String::new(),
        }
    }
}

impl Platform {
    /// Parse `os/arch[/variant]` as `--platform` gives it.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let parts: Vec<&str> = spec.trim().split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: String::new(),
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: variant.to_string(),
            }),
            _ => Err(format!(
                "invalid platform {spec:?}: expected os/arch[/variant], e.g. linux/amd64"
            )),
        }
    }
}

/// Options that shape the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--build-arg K=V`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--platform` (first one when several are given).
    pub platform: Platform,
    /// `--build-context NAME=VALUE`, value as sent by the client.
    pub named_contexts: BTreeMap<String, String>,
}

impl BuildOptions {
    /// `SOURCE_DATE_EPOCH` build-arg, default 0, validated as seconds.
    pub fn source_date_epoch(&self) -> Result<String, String> {
        match self.build_args.get("SOURCE_DATE_EPOCH").map(|s| s.trim()) {
            None | Some("") => Ok("0".to_string()),
            Some(value) if value.parse::<u64>().is_ok() => Ok(value.to_string()),
            Some(value) => Err(format!(
                "build-arg SOURCE_DATE_EPOCH must be whole seconds, got {value:?}"
            )),
        }
    }
}
