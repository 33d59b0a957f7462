//! Image references and image configs: the normalization BuildKit applies to
//! `docker-image://` identifiers, and the parts of an OCI image config that
//! shape how steps run (Env, WorkingDir, User).

use serde::Deserialize;

/// Normalize like Docker's reference parser: `busybox` →
/// `docker.io/library/busybox:latest`, `me/app` → `docker.io/me/app:latest`,
/// `localhost:5000/x` kept, a tag added only when there is no tag or digest.
pub fn normalize_reference(reference: &str) -> Result<String, String> {
    let reference = reference.trim();
    if reference.is_empty() || reference.contains(char::is_whitespace) {
        return Err(format!("invalid image reference {reference:?}"));
    }
    let (first, rest) = match reference.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (reference, None),
    };
    let has_domain =
        rest.is_some() && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut normalized = match (has_domain, rest) {
        (true, _) => reference.to_string(),
        (false, Some(_)) => format!("docker.io/{reference}"),
        (false, None) => format!("docker.io/library/{reference}"),
    };
    if normalized.chars().any(|c| c.is_ascii_uppercase()) && !normalized.contains('@') {
        return Err(format!(
            "invalid image reference {reference:?}: repository names must be lowercase"
        ));
    }
    let last = normalized.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && !normalized.contains('@') {
        normalized.push_str(":latest");
    }
    Ok(normalized)
}

/// What the image's config says about running processes in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `KEY=VALUE` entries, in image order.
    pub env: Vec<(String, String)>,
    /// Working directory, if set.
    pub working_dir: Option<String>,
    /// User, if set.
    pub user: Option<String>,
}

/// The one member of an image config read here. Why not
/// `oci_spec::image::ImageConfiguration` whole: it requires `rootfs.diff_ids`
/// to be a list, and Docker's image store keeps a layerless image (`FROM
/// scratch` + `ENV`) with `"diff_ids": null`, which BuildKit hands over as is.
/// `config` is the OCI `Config` (Env, WorkingDir, User, …) from oci-spec.
#[derive(Deserialize)]
struct ConfigOnly {
    #[serde(default)]
    config: Option<oci_spec::image::Config>,
}

impl ImageConfig {
    /// Parse the JSON image config ResolveImageConfig returns.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let raw: ConfigOnly =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid image config: {e}"))?;
        let Some(config) = raw.config else {
            return Ok(ImageConfig::default());
        };
        let env = config
            .env()
            .iter()
            .flatten()
            .map(|entry| match entry.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (entry.clone(), String::new()),
            })
            .collect();
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        Ok(ImageConfig {
            env,
            working_dir: non_empty(config.working_dir()),
            user: non_empty(config.user()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalize_like_docker() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            (
                "melange-test-env:busybox",
                "docker.io/library/melange-test-env:busybox",
            ),
            ("me/app:1", "docker.io/me/app:1"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("ghcr.io/a/b@sha256:abcd", "ghcr.io/a/b@sha256:abcd"),
            (
                "docker.io/library/alpine:3.20",
                "docker.io/library/alpine:3.20",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_reference(input).unwrap(), want, "{input}");
        }
        assert!(normalize_reference("Bad/Name").is_err());
        assert!(normalize_reference("").is_err());
    }

    #[test]
    fn image_config_env_user_and_workdir() {
        let json = br#"{"architecture":"amd64","config":{"Env":["PATH=/bin","A=b=c"],"WorkingDir":"/w","User":"1000"}}"#;
        let config = ImageConfig::from_json(json).unwrap();
        assert_eq!(
            config.env,
            [("PATH".into(), "/bin".into()), ("A".into(), "b=c".into())]
        );
        assert_eq!(config.working_dir.as_deref(), Some("/w"));
        assert_eq!(config.user.as_deref(), Some("1000"));
        assert_eq!(
            ImageConfig::from_json(b"{}").unwrap(),
            ImageConfig::default()
        );
        assert!(ImageConfig::from_json(b"nope").is_err());
    }

    /// Docker's store keeps a layerless image's config with
    /// `"diff_ids": null` (read from a Docker 28.5 `FROM scratch` + `ENV`
    /// build): oci-spec's whole `ImageConfiguration` refuses it, the
    /// `config` member alone reads.
    #[test]
    fn a_layerless_docker_image_config_reads() {
        let json = br#"{"architecture":"amd64","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=b"],"WorkingDir":"/"},"created":null,"history":[{"created_by":"ENV A=b","comment":"buildkit.dockerfile.v0","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":null}}"#;
        assert!(serde_json::from_slice::<oci_spec::image::ImageConfiguration>(json).is_err());
        let config = ImageConfig::from_json(json).unwrap();
        assert_eq!(config.env[1], ("A".into(), "b".into()));
        assert_eq!(config.working_dir.as_deref(), Some("/"));
        assert_eq!(config.user, None);
        // Docker-only members (Healthcheck, ArgsEscaped) and Go maps are read past.
        let docker = br#"{"config":{"User":"nobody","ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Test":["NONE"]},"ArgsEscaped":true,"Env":null}}"#;
        let config = ImageConfig::from_json(docker).unwrap();
        assert_eq!(config.user.as_deref(), Some("nobody"));
        assert!(config.env.is_empty());
    }
}
