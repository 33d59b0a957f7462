//! The built-in pipeline library: our own YAML implementations of melange's
//! built-in pipelines (same names, inputs and `needs.packages`), embedded in
//! the binary so `uses: autoconf/configure` works with no files on the host.
//! The YAML files beside this module are the library; `build.rs` lists them.

/// Every built-in pipeline as (name, YAML text), sorted by name.
pub static BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/builtin_pipelines.rs"));

/// The YAML of a built-in pipeline.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| BUILTIN[i].1)
}

/// Built-in pipeline names, for listings and suggestions.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use crate::config;
    use crate::plan::{self, BuildOptions, Library};

    /// A value for an input that satisfies melange's checks.
    fn sample(input: &str) -> &'static str {
        match input {
            "expected-sha256" => "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "expected-sha512" => "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "expected-commit" => "0123456789abcdef0123456789abcdef01234567",
            _ => "sample",
        }
    }

    /// Every built-in parses, plans when called from a package (required
    /// inputs given) and a subpackage, and every script it yields is valid
    /// POSIX shell for `sh -n`.
    #[test]
    fn every_builtin_plans_and_its_scripts_parse() {
        assert!(!super::BUILTIN.is_empty());
        let mut options = BuildOptions::default();
        options.named_contexts.insert(
            plan::ENVIRONMENT_CONTEXT.into(),
            "docker-image://busybox".into(),
        );
        for (name, text) in super::BUILTIN {
            let file = format!("<built-in>/{name}.yaml");
            let pipeline = config::load_pipeline(&file, text).unwrap_or_else(|e| panic!("{e}"));
            let with: String = pipeline
                .inputs
                .iter()
                .filter(|(_, input)| input.required)
                .map(|(n, _)| format!("      {}: {}\n", n.value, sample(&n.value)))
                .collect();
            let with = if with.is_empty() {
                String::new()
            } else {
                format!("    with:\n{with}")
            };
            let nested: String = with.lines().map(|l| format!("    {l}\n")).collect();
            let yaml = format!(
                "package: {{name: p, version: 1.0, epoch: 0}}\npipeline:\n  - uses: {name}\n{with}\
                 subpackages:\n  - name: p-sub\n    pipeline:\n      - uses: {name}\n{nested}"
            );
            let config = config::load("package.yaml", &yaml)
                .unwrap_or_else(|e| panic!("{name}: {e}\n{yaml}"));
            let planned = plan::plan("package.yaml", &config, &options, &Library::new())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            for step in &planned.steps {
                let mut sh = Command::new("sh")
                    .arg("-n")
                    .stdin(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                sh.stdin
                    .take()
                    .unwrap()
                    .write_all(step.script.as_bytes())
                    .unwrap();
                let out = sh.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "{name}: {}: {}\n{}",
                    step.name,
                    String::from_utf8_lossy(&out.stderr),
                    step.script
                );
            }
        }
    }
}
