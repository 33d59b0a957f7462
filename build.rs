//! Compiles proto/ with protox (pure Rust, no system protoc) and generates
//! prost messages plus a tonic client for LLBBridge. Maps are BTreeMap so any
//! map we marshal (source attrs, metadata) has a deterministic byte order.

fn main() -> Result<(), Box<dyn std::error::Error>> {
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
        .compile_fds(descriptors)?;
    Ok(())
}
