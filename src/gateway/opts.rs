//! The build's options as buildkitd hands them to a gateway frontend: one
//! environment variable `BUILDKIT_FRONTEND_OPT_<i>` per option, whose value is
//! `key=value`. Parsed into typed fields here so the rest never sees raw keys.

use std::collections::BTreeMap;

use crate::plan::{BuildOptions, Platform};

/// Prefix of the variables that carry frontend options.
pub const OPT_PREFIX: &str = "BUILDKIT_FRONTEND_OPT_";

/// Default build file name when the client sends none.
pub const DEFAULT_FILENAME: &str = "melange.yaml";

/// How image sources are resolved (`--pull` / local store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolveMode {
    /// Use a local copy when there is one.
    #[default]
    Default,
    /// Always check the registry.
    Pull,
    /// Only the local store.
    Local,
}

impl ResolveMode {
    /// The value ResolveImageConfig expects.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolveMode::Default => "default",
            ResolveMode::Pull => "pull",
            ResolveMode::Local => "local",
        }
    }
}

/// Everything the client asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrontendOpts {
    /// Build file name inside the `dockerfile` local.
    pub filename: String,
    /// Local name carrying the build file.
    pub dockerfile_key: String,
    /// Local name carrying the build context.
    pub context_key: String,
    /// Options that shape the plan (build-args, target, platform, named contexts).
    pub build: BuildOptions,
    /// Whether `--platform` was given (otherwise the worker's platform is used).
    pub platform_given: bool,
    /// Every platform `--platform` named, in order, without repeats; the
    /// first is also `build.platform`. Several make a multi-platform result.
    pub platforms: Vec<Platform>,
    /// Image resolution mode.
    pub resolve_mode: ResolveMode,
    /// The frontend's own image reference (`source`), if the client sent it.
    pub source: Option<String>,
    /// `--no-cache` (option `no-cache`, any value: this frontend has no
    /// stages to pick from): run every op again.
    pub no_cache: bool,
}

/// Collect `key=value` options from environment variables.
pub fn from_env<I: IntoIterator<Item = (String, String)>>(vars: I) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter(|(name, _)| name.starts_with(OPT_PREFIX))
        .map(|(_, value)| match value.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (value, String::new()),
        })
        .collect()
}

/// Interpret raw options; unknown keys are ignored (clients send many).
pub fn parse(raw: &BTreeMap<String, String>) -> Result<FrontendOpts, String> {
    let get = |key: &str| raw.get(key).filter(|v| !v.is_empty()).cloned();
    let mut opts = FrontendOpts {
        filename: get("filename").unwrap_or_else(|| DEFAULT_FILENAME.to_string()),
        dockerfile_key: get("dockerfilekey").unwrap_or_else(|| "dockerfile".to_string()),
        context_key: get("contextkey").unwrap_or_else(|| "context".to_string()),
        source: get("source"),
        no_cache: raw.contains_key("no-cache"),
        ..Default::default()
    };
    opts.build.target = get("target");
    if let Some(spec) = get("platform") {
        for one in spec.split(',').filter(|s| !s.trim().is_empty()) {
            let platform = Platform::parse(one)?;
            if !opts.platforms.contains(&platform) {
                opts.platforms.push(platform);
            }
        }
        if let Some(first) = opts.platforms.first() {
            opts.build.platform = first.clone();
            opts.platform_given = true;
        }
    }
    opts.resolve_mode = match get("image-resolve-mode").as_deref() {
        None | Some("default") => ResolveMode::Default,
        Some("pull") => ResolveMode::Pull,
        Some("local") => ResolveMode::Local,
        Some(other) => {
            return Err(format!(
                "invalid image-resolve-mode {other:?}: expected default, pull or local"
            ))
        }
    };
    for (key, value) in raw {
        if let Some(name) = key.strip_prefix("build-arg:") {
            opts.build
                .build_args
                .insert(name.to_string(), value.clone());
        } else if let Some(name) = key.strip_prefix("context:") {
            opts.build
                .named_contexts
                .insert(name.to_string(), value.clone());
        }
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_values_split_at_the_first_equals() {
        let vars = [
            (
                "BUILDKIT_FRONTEND_OPT_0".to_string(),
                "build-arg:A=b=c".to_string(),
            ),
            (
                "BUILDKIT_FRONTEND_OPT_1".to_string(),
                "filename=package.yaml".to_string(),
            ),
            (
                "BUILDKIT_FRONTEND_OPT_2".to_string(),
                "no-cache".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        assert_eq!(
            from_env(vars),
            raw(&[
                ("build-arg:A", "b=c"),
                ("filename", "package.yaml"),
                ("no-cache", "")
            ])
        );
    }

    #[test]
    fn no_cache_with_or_without_stage_names() {
        for value in ["", "build"] {
            let raw = BTreeMap::from([("no-cache".to_string(), value.to_string())]);
            assert!(parse(&raw).unwrap().no_cache);
        }
    }

    #[test]
    fn defaults_when_the_client_sends_nothing() {
        let opts = parse(&BTreeMap::new()).unwrap();
        assert!(!opts.no_cache);
        assert_eq!(opts.filename, "melange.yaml");
        assert_eq!(opts.dockerfile_key, "dockerfile");
        assert_eq!(opts.context_key, "context");
        assert_eq!(opts.build.platform, Platform::default());
        assert!(!opts.platform_given);
        assert!(opts.platforms.is_empty());
        assert_eq!(opts.resolve_mode, ResolveMode::Default);
    }

    #[test]
    fn typed_fields_from_buildx_style_options() {
        let opts = parse(&raw(&[
            ("filename", "package.yaml"),
            ("dockerfilekey", "df"),
            ("contextkey", "ctx"),
            ("target", "workspace"),
            ("platform", "linux/arm64/v8,linux/amd64"),
            ("build-arg:SOURCE_DATE_EPOCH", "5"),
            ("context:melange-environment", "docker-image://busybox"),
            ("context:melange-cache", "local:melange-cache"),
            ("image-resolve-mode", "pull"),
            ("source", "melange-frontend:dev"),
        ]))
        .unwrap();
        assert_eq!(opts.filename, "package.yaml");
        assert_eq!(
            (opts.dockerfile_key.as_str(), opts.context_key.as_str()),
            ("df", "ctx")
        );
        assert_eq!(opts.build.target.as_deref(), Some("workspace"));
        assert_eq!(opts.build.platform.architecture, "arm64");
        assert_eq!(opts.build.platform.variant, "v8");
        assert_eq!(
            opts.platforms,
            vec![
                Platform::parse("linux/arm64/v8").unwrap(),
                Platform::parse("linux/amd64").unwrap()
            ]
        );
        assert_eq!(opts.build.build_args["SOURCE_DATE_EPOCH"], "5");
        assert_eq!(
            opts.build.named_contexts["melange-environment"],
            "docker-image://busybox"
        );
        assert_eq!(
            opts.build.named_contexts["melange-cache"],
            "local:melange-cache"
        );
        assert_eq!(opts.resolve_mode, ResolveMode::Pull);
        assert_eq!(opts.source.as_deref(), Some("melange-frontend:dev"));
    }

    #[test]
    fn bad_values_are_clear_errors() {
        assert!(parse(&raw(&[("platform", "amd64")]))
            .unwrap_err()
            .contains("os/arch"));
        assert!(parse(&raw(&[("image-resolve-mode", "sometimes")]))
            .unwrap_err()
            .contains("image-resolve-mode"));
    }

    #[test]
    fn several_platforms_in_order_without_repeats() {
        let opts = parse(&raw(&[(
            "platform",
            "linux/amd64, linux/arm64,linux/amd64,",
        )]))
        .unwrap();
        let ids: Vec<String> = opts
            .platforms
            .iter()
            .map(|p| format!("{}/{}", p.os, p.architecture))
            .collect();
        assert_eq!(ids, ["linux/amd64", "linux/arm64"]);
        assert_eq!(opts.build.platform.architecture, "amd64");
        assert!(parse(&raw(&[("platform", "linux/amd64,arm64")]))
            .unwrap_err()
            .contains("os/arch"));
    }
}
