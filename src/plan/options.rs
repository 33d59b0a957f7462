//! The client's side of a build: build-args, target, platform and named
//! contexts, as the gateway received them. Kept free of gateway types so
//! `plan` stays pure and the offline `plan` subcommand can fill it too.

use std::collections::BTreeMap;
use std::sync::Arc;

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
    /// The env file named by [`ENV_FILE_ARG`], read by the caller.
    pub env_file: Option<ContextFile>,
    /// The build file's text: each package's `.melange.yaml`. Shared (the
    /// gateway, the options and the packaging spec hold one copy), since a
    /// build file may be megabytes.
    pub build_file_text: Arc<str>,
}

/// A comma- or space-separated build-arg as a list.
pub fn list_arg(value: Option<&String>) -> Vec<String> {
    value
        .map(|v| {
            v.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Build-arg enabling build options (melange's `--build-option`), comma or
/// space separated.
pub const BUILD_OPTIONS_ARG: &str = "MELANGE_BUILD_OPTIONS";
/// Build-arg naming an env file in the context (melange's `--env-file`).
pub const ENV_FILE_ARG: &str = "MELANGE_ENV_FILE";

/// A text file read from the build context before planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextFile {
    /// Its path in the context, for messages.
    pub file: String,
    /// Its contents.
    pub text: String,
}

impl BuildOptions {
    /// Build options the user enabled, in the order given.
    pub fn enabled_build_options(&self) -> Vec<String> {
        list_arg(self.build_args.get(BUILD_OPTIONS_ARG))
    }

    /// The env file's context path, when one is asked for.
    pub fn env_file_path(&self) -> Option<String> {
        self.build_args
            .get(ENV_FILE_ARG)
            .map(|p| p.trim().trim_start_matches("./").to_string())
            .filter(|p| !p.is_empty())
    }

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

/// A named context's value, as clients send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum ContextValue {
    /// `docker-image://REF`.
    Image(String),
    /// `local:NAME`: a directory the client sends as local NAME.
    Local(String),
    /// `input:NAME`: a frontend input.
    Input(String),
}

impl ContextValue {
    /// Parse a `--build-context` value for context `name`.
    pub fn parse(name: &str, value: &str) -> Result<Self, String> {
        if let Some(reference) = value.strip_prefix("docker-image://") {
            Ok(ContextValue::Image(reference.to_string()))
        } else if let Some(local) = value.strip_prefix("local:") {
            Ok(ContextValue::Local(local.to_string()))
        } else if let Some(input) = value.strip_prefix("input:") {
            Ok(ContextValue::Input(
                input.split("::").next().unwrap_or(input).to_string(),
            ))
        } else {
            Err(format!(
                "named context {name:?}: unsupported value {value:?}; use docker-image://IMAGE, a local directory, or input:NAME"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_values_by_scheme() {
        assert_eq!(
            ContextValue::parse("e", "docker-image://busybox:1").unwrap(),
            ContextValue::Image("busybox:1".into())
        );
        assert_eq!(
            ContextValue::parse("e", "local:e").unwrap(),
            ContextValue::Local("e".into())
        );
        assert_eq!(
            ContextValue::parse("e", "input:x::linux/amd64").unwrap(),
            ContextValue::Input("x".into())
        );
        assert!(ContextValue::parse("e", "oci-layout:///x")
            .unwrap_err()
            .contains("unsupported value"));
    }

    #[test]
    fn platforms_parse_with_optional_variant() {
        assert_eq!(Platform::parse("linux/arm/v7").unwrap().variant, "v7");
        assert!(Platform::parse("linux").is_err());
    }
}
