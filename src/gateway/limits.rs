//! gRPC message limits, answered in the user's terms. A build travels to
//! buildkitd as one Solve request whose definition holds every op (and the
//! build file itself, as a source map); BuildKit refuses a request larger
//! than its receive limit (4 MiB in BuildKit 0.8, Docker 20.10; larger in
//! later versions) with a raw `received message larger than max`, and an
//! error's details travel in an HTTP/2 header with its own limit. Here:
//! big build files leave the source map out, and a refused definition is
//! reported with its size and the daemon's limit.

use prost::Message;

use super::connect::MAX_MESSAGE_BYTES;
use super::{any, Failure, FAILED_PRECONDITION};
use crate::proto::{errdefs, pb};

/// The build file goes into the definition's source map and into error
/// details (so clients print the offending lines) only up to this size:
/// both must stay far below every daemon's message limit.
pub(super) const SOURCE_MAP_MAX: usize = 1 << 20;

/// Whether a build file of `len` bytes is attached to definitions and
/// errors.
pub(super) fn attach_source(len: usize) -> bool {
    len <= SOURCE_MAP_MAX
}

/// The source detail's type URL (errdefs.Source).
const SOURCE_TYPE: &str = "errdefs.Source";

/// `failure` with a source location at the build file's first line (its
/// text alone) when it has none. Why: BuildKit's Dockerfile frontend, which
/// forwards `# syntax=` builds to this one, attaches the *whole* build file
/// to an error that names no source, and the client then cannot receive an
/// error of a big file (its details travel in one HTTP/2 header:
/// `COMPRESSION_ERROR`). Used for build files over [`SOURCE_MAP_MAX`].
pub(super) fn with_first_line(mut failure: Failure, filename: &str, first_line: &str) -> Failure {
    let has_source = failure
        .0
        .details
        .iter()
        .any(|d| d.type_url.ends_with(SOURCE_TYPE));
    if has_source {
        return failure;
    }
    let line: String = first_line.chars().take(4096).collect();
    let position = pb::Position {
        line: 1,
        character: 0,
    };
    let source = errdefs::Source {
        info: Some(pb::SourceInfo {
            filename: filename.to_string(),
            data: format!("{line}\n").into_bytes(),
            definition: None,
            language: "YAML".to_string(),
        }),
        ranges: vec![pb::Range {
            start: Some(position),
            end: Some(position),
        }],
    };
    failure
        .0
        .details
        .push(any(SOURCE_TYPE, source.encode_to_vec()));
    failure
}

/// The first line of a build file's leading bytes.
pub(super) fn first_line(head: &[u8]) -> String {
    let text = String::from_utf8_lossy(head);
    text.lines().next().unwrap_or_default().to_string()
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
/// definition of `size` bytes made from a build file of `file_len` bytes,
/// as a sentence naming the sizes.
pub(super) fn explain(message: &str, size: usize, file_len: usize) -> Option<Failure> {
    let rest = message.split("larger than max").nth(1)?;
    let numbers: Vec<u64> = rest
        .trim_start_matches([' ', '('])
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .take(2)
        .collect();
    let limit = *numbers.get(1)?;
    let mut failure = too_large(size, limit, "this BuildKit accepts");
    failure.0.message.push_str(&format!(
        " (the build file itself is {file_len} bytes, {}, and is carried whole: it becomes \
         each package's .melange.yaml)",
        mib(file_len as u64)
    ));
    Some(failure)
}

fn too_large(size: usize, limit: u64, who: &str) -> Failure {
    Failure::new(
        FAILED_PRECONDITION,
        format!(
            "the build's LLB definition is {size} bytes ({}), more than {who} in one request \
             ({limit} bytes, {}): keep large content (scripts, data) in files of the source dir, \
             not in the build file",
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
        let failure = explain(message, 12_583_012, 12_000_000).expect("explained");
        let text = failure.0.message;
        assert!(text.contains("12583012 bytes (12.0 MiB)"), "{text}");
        assert!(text.contains("4194304 bytes, 4.0 MiB"), "{text}");
        assert!(
            text.contains("the build file itself is 12000000 bytes, 11.4 MiB"),
            "{text}"
        );
        assert!(explain("connection reset", 5, 1).is_none());
        assert!(explain("larger than max (no numbers)", 5, 1).is_none());
    }

    #[test]
    fn big_files_errors_carry_only_their_first_line() {
        let failure = Failure::new(3, "too big");
        let failure = with_first_line(failure, "package.yaml", "# syntax=x");
        assert_eq!(failure.0.details.len(), 1);
        let source = errdefs::Source::decode(failure.0.details[0].value.as_slice()).unwrap();
        assert_eq!(source.info.unwrap().data, b"# syntax=x\n");
        // an error that names its source keeps it, alone
        let again = with_first_line(failure, "package.yaml", "# other");
        assert_eq!(again.0.details.len(), 1);
        assert_eq!(first_line(b"# syntax=a\npackage:"), "# syntax=a");
        assert_eq!(first_line(b""), "");
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
