//! The variables a build file can use, computed once per build: package
//! identity, `vars:` after `var-transforms:`, targets, the build platform's
//! names (arch, GOARCH, GNU and Rust triplets) and build options. Step-,
//! subpackage- and range-specific variables are added by the caller.

use regex::Regex;

use crate::config::error::{LResult, Located};
use crate::config::subst::{substitute, substitute_known, Vars};
use crate::config::{BuildOption, Config};

use super::{PackageId, Platform, OUT_DIR};

/// Variables every step of the build sees (`targets.package.<name>` is added
/// once subpackage names are known, see [`add_package_targets`]).
pub(super) fn build_vars(
    config: &Config,
    package: &PackageId,
    platform: &Platform,
    enabled: &[&BuildOption],
) -> LResult<Vars> {
    let mut vars = Vars::new();
    let mut set = |k: &str, v: String| vars.insert(k.to_string(), v);
    set("package.name", package.name.clone());
    set("package.version", package.version.clone());
    set("package.epoch", package.epoch.clone());
    set("package.full-version", package.full_version());
    set(
        "package.description",
        config.package.description.value.clone(),
    );
    set("package.srcdir", super::WORKSPACE_DIR.to_string());
    set("targets.outdir", OUT_DIR.to_string());
    let destdir = format!("{OUT_DIR}/{}", package.name);
    set("targets.destdir", destdir.clone());
    set("targets.contextdir", destdir);
    set("context.name", package.name.clone());
    let arch = apk_arch(platform);
    set("build.arch", arch.to_string());
    set("build.goarch", platform.architecture.clone());
    set("host.triplet.gnu", gnu_triplet(arch, "gnu"));
    set("host.triplet.rust", rust_triplet(arch, "gnu"));
    for libc in ["glibc", "musl"] {
        let abi = if libc == "glibc" { "gnu" } else { "musl" };
        set(&format!("cross.triplet.gnu.{libc}"), gnu_triplet(arch, abi));
        set(
            &format!("cross.triplet.rust.{libc}"),
            rust_triplet(arch, abi),
        );
    }
    for option in &config.build_options {
        let on = enabled.iter().any(|e| e.name.value == option.name.value);
        set(
            &format!("options.{}.enabled", option.name.value),
            on.to_string(),
        );
    }
    // An enabled option's vars override the file's, as melange applies them.
    let option_vars = enabled.iter().flat_map(|option| option.vars.iter());
    for (name, value) in config.vars.iter().chain(option_vars) {
        let value = substitute_known(value, &vars);
        vars.insert(format!("vars.{}", name.value), value);
    }
    for transform in &config.var_transforms {
        let from = substitute(&transform.from, &vars)?;
        let regex = Regex::new(&transform.pattern.value).map_err(|e| {
            Located::new(
                transform.pattern.pos,
                format!("invalid regular expression in var-transforms: {e}"),
            )
        })?;
        let value = regex.replace_all(&from, transform.replace.value.as_str());
        vars.insert(format!("vars.{}", transform.to.value), value.into_owned());
    }
    Ok(vars)
}

/// The APK architecture name of a platform (`amd64` → `x86_64`).
pub fn apk_arch(platform: &Platform) -> &str {
    match (platform.architecture.as_str(), platform.variant.as_str()) {
        ("amd64", _) => "x86_64",
        ("arm64", _) => "aarch64",
        ("386", _) => "x86",
        ("arm", "v6") => "armhf",
        ("arm", _) => "armv7",
        ("loong64", _) => "loongarch64",
        (other, _) => other,
    }
}

/// GNU triplet as melange spells it (`x86_64-pc-linux-gnu`).
fn gnu_triplet(arch: &str, abi: &str) -> String {
    let vendor = if arch == "x86_64" { "pc" } else { "unknown" };
    format!("{arch}-{vendor}-linux-{abi}")
}

/// Rust target triple (`x86_64-unknown-linux-gnu`).
fn rust_triplet(arch: &str, abi: &str) -> String {
    format!("{arch}-unknown-linux-{abi}")
}

/// `targets.package.<name>`: each package's output folder.
pub(super) fn add_package_targets(vars: &mut Vars, package_names: &[String]) {
    for name in package_names {
        vars.insert(
            format!("targets.package.{name}"),
            format!("{OUT_DIR}/{name}"),
        );
    }
}
