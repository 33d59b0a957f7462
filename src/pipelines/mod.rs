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
