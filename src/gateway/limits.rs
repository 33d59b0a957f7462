//! gRPC message limits, answered in the user's terms. A build travels to
//! buildkitd as one Solve request whose definition holds every op (and the
//! build file itself, as a source map); BuildKit refuses a request larger
//! than its receive limit (4 MiB in BuildKit 0.8, Docker 20.10; larger in
//! later versions) with a raw `received message larger than max`, and an
//! error's details travel in an HTTP/2 header with its own limit. Here:
//! big build files leave the source map out, and a refused definition is
//! reported with its size and the daemon's limit.

use super::connect::MAX_MESSAGE_BYTES;
use super::{Failure, FAILED_PRECONDITION};

/// The build file goes into the definition's source map and into error
/// details (so clients print the offending lines) only up to this size:
/// both must stay far below every daemon's message limit.
pub(super) const SOURCE_MAP_MAX: usize = 1 << 20;

/// Whether a build file of `len` bytes is attached to definitions and
/// errors.
pub(super) fn attach_source(len: usize) -> bool {
    len <= SOURCE_MAP_MAX
}

/// Refuse a definition of `size` bytes that no daemon would take from us.
pub(super) fn check_definition(size: usize) -> Result<(), Failure> {
    match size > MAX_MESSAGE_BYTES {
        true => Err(too_large(
            size,
            MAX_MESSAGE_BYTES as u64,
            "this frontend sends",
        )),
        false => Ok(()),
    }
}

/// BuildKit's `received message larger than max (A vs. B)` for a
/// definition of `size` bytes, as a sentence naming both sizes.
pub(super) fn explain(message: &str, size: usize) -> Option<Failure> {
    let rest = message.split("larger than max").nth(1)?;
    let numbers: Vec<u64> = rest
        .trim_start_matches([' ', '('])
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .take(2)
        .collect();
    let limit = *numbers.get(1)?;
    Some(too_large(size, limit, "this BuildKit accepts"))
}

fn too_large(size: usize, limit: u64, who: &str) -> Failure {
    Failure::new(
        FAILED_PRECONDITION,
        format!(
            "the build's LLB definition is {size} bytes ({}), more than {who} in one request \
             ({limit} bytes, {}): the build file's scripts, vars and expanded pipelines are too \
             large; move large content into files of the source dir",
            mib(size as u64),
            mib(limit)
        ),
    )
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buildkits_refusal_names_both_sizes() {
        let message = "grpc: received message larger than max (12583012 vs. 4194304)";
        let failure = explain(message, 12_583_012).expect("explained");
        let text = failure.0.message;
        assert!(text.contains("12583012 bytes (12.0 MiB)"), "{text}");
        assert!(text.contains("4194304 bytes, 4.0 MiB"), "{text}");
        assert!(explain("connection reset", 5).is_none());
        assert!(explain("larger than max (no numbers)", 5).is_none());
    }

    #[test]
    fn limits() {
        assert!(attach_source(SOURCE_MAP_MAX));
        assert!(!attach_source(SOURCE_MAP_MAX + 1));
        assert!(check_definition(MAX_MESSAGE_BYTES).is_ok());
        let err = check_definition(MAX_MESSAGE_BYTES + 1).unwrap_err();
        assert!(err.0.message.contains("more than this frontend sends"));
    }
}
