//! Generated BuildKit wire types (see proto/ and build.rs). Modules nest like
//! the proto packages because prost's generated paths are relative to them;
//! the short aliases at the bottom are what the rest of the crate uses.
#![allow(clippy::all, missing_docs)]

/// Serialize bytes as a UTF-8 string when they are text (file contents in
/// `melange-frontend plan` output), else as a list of numbers.
pub fn bytes_as_text<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => serializer.collect_seq(bytes),
    }
}

pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/pb.rs"));
}

pub mod moby {
    pub mod buildkit {
        pub mod v1 {
            pub mod apicaps {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.apicaps.rs"));
            }
            pub mod types {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.types.rs"));
            }
            pub mod frontend {
                include!(concat!(env!("OUT_DIR"), "/moby.buildkit.v1.frontend.rs"));
            }
        }
    }
}

pub mod errdefs {
    include!(concat!(env!("OUT_DIR"), "/errdefs.rs"));
}

pub mod fsutil {

    pub mod types {
        include!(concat!(env!("OUT_DIR"), "/fsutil.types.rs"));
    }
}

pub mod google {
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    }
}

/// `google.rpc.Status`, the error shape of Return.
pub use google::rpc;
/// Capability records from Ping.
pub use moby::buildkit::v1::apicaps;
/// The LLBBridge gateway API.
pub use moby::buildkit::v1::frontend as gateway;
