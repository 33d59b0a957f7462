//! Compiles proto/ with protox (pure Rust, no system protoc) and generates
//! prost messages plus a tonic client for LLBBridge. Maps are BTreeMap so any
//! map we marshal (source attrs, metadata) has a deterministic byte order.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    embed_pipelines()?;
    let files = [
        "proto/buildkit/ops.proto",
        "proto/buildkit/caps.proto",
        "proto/buildkit/worker.proto",
        "proto/buildkit/gateway.proto",
        "proto/buildkit/errdefs.proto",
        "proto/fsutil/stat.proto",
        "proto/google/rpc/status.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .btree_map(".")
        // Only LLB types are shown as JSON (`melange-frontend plan`).
        .type_attribute(".pb", "#[derive(serde::Serialize)]")
        // File contents read as text in the JSON (numbers arrays otherwise).
        .field_attribute(
            ".pb.FileActionMkFile.data",
            "#[serde(serialize_with = \"crate::proto::bytes_as_text\")]",
        )
        .compile_fds(descriptors)?;
    Ok(())
}

/// Generate the table of built-in pipelines (`src/pipelines/**/*.yaml`),
/// sorted by name, so the library is embedded without listing files by hand.
fn embed_pipelines() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new("src/pipelines");
    println!("cargo:rerun-if-changed=src/pipelines");
    let mut files = Vec::new();
    collect_yaml(root, &mut files)?;
    let mut entries: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .with_extension("")
                .to_string_lossy()
                .replace('\\', "/");
            (name, path)
        })
        .collect();
    entries.sort();
    let mut table = String::from("&[\n");
    for (name, path) in entries {
        let absolute = std::fs::canonicalize(&path)?;
        table.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            absolute.to_string_lossy()
        ));
    }
    table.push_str("]\n");
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("builtin_pipelines.rs");
    std::fs::write(out, table)?;
    Ok(())
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect_yaml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml") {
            println!("cargo:rerun-if-changed={}", path.display());
            out.push(path);
        }
    }
    Ok(())
}
