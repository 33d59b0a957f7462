//! The variables a build file can use, computed once per build: package
//! identity, `vars:` after `var-transforms:`, targets, the build platform's
//! names (arch, GOARCH, GNU and Rust triplets) and build options. Step-,
//! subpackage- and range-specific variables are added by the caller.

use regex::Regex;

use crate::config::error::{LResult, Located, Pos};
use crate::config::subst::{substitute, substitute_known, too_long, Vars, MAX_SUBSTITUTED};
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
    // What the file's own variables hold in all, bounded like one
    // substitution: each may build on the ones before.
    let mut total = 0;
    let mut define = |vars: &mut Vars, name: String, value: String, pos: Pos| {
        total += value.len();
        if total > MAX_SUBSTITUTED {
            return Err(Located::new(
                pos,
                format!(
                    "`vars:` and `var-transforms:` hold more than {} MiB of text in all",
                    MAX_SUBSTITUTED >> 20
                ),
            ));
        }
        vars.insert(name, value);
        Ok(())
    };
    for (name, value) in config.vars.iter().chain(option_vars) {
        let text = substitute_known(value, &vars)?;
        define(&mut vars, format!("vars.{}", name.value), text, value.pos)?;
    }
    for transform in &config.var_transforms {
        let from = substitute(&transform.from, &vars)?;
        let regex = Regex::new(&transform.pattern.value).map_err(|e| {
            Located::new(
                transform.pattern.pos,
                format!("invalid regular expression in var-transforms: {e}"),
            )
        })?;
        let value = replace_all(&regex, &from, &transform.replace.value)
            .ok_or_else(|| too_long(transform.replace.pos))?;
        let name = format!("vars.{}", transform.to.value);
        define(&mut vars, name, value, transform.replace.pos)?;
    }
    Ok(vars)
}

/// `regex.replace_all(from, template)`, or `None` past [`MAX_SUBSTITUTED`]:
/// checked before each match is expanded, since a template of many `$1`
/// over a long match would build gigabytes in one expansion.
fn replace_all(regex: &Regex, from: &str, template: &str) -> Option<String> {
    let references = template.matches('$').count();
    let mut out = String::new();
    let mut last = 0;
    for captures in regex.captures_iter(from) {
        let Some(found) = captures.get(0) else {
            continue;
        };
        // Every group lies inside the match, so this bounds the expansion.
        let most = template.len() + references * found.len();
        if out.len() + (found.start() - last) + most > MAX_SUBSTITUTED {
            return None;
        }
        out.push_str(&from[last..found.start()]);
        captures.expand(template, &mut out);
        last = found.end();
    }
    out.push_str(&from[last..]);
    (out.len() <= MAX_SUBSTITUTED).then_some(out)
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
