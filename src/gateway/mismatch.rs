//! A wrong `expected-sha256` as one line naming the URL and both digests.
//! BuildKit's HTTP source fails with `digest mismatch <actual>: <expected>`
//! (in whatever wrapping the daemon version adds), which names neither the
//! URL nor which digest is which; the solve error is rewritten from the
//! plan's native fetches, whose expected digests are known.

use crate::plan::sources::{Digest, NativeSource};
use crate::plan::BuildPlan;

/// The one-line explanation of a digest mismatch in `message`, when it is
/// one and a native fetch of `plan` expected that digest.
pub(super) fn explain(message: &str, plan: &BuildPlan) -> Option<String> {
    let (actual, expected) = mismatch_digests(message)?;
    plan.steps.iter().find_map(|step| {
        let Some(NativeSource::Fetch(fetch)) = &step.source else {
            return None;
        };
        match &fetch.digest {
            Digest::Sha256(hex) if format!("sha256:{hex}") == expected => Some(format!(
                "{}: {} does not have the expected-sha256: expected sha256:{hex}, downloaded {actual}",
                step.name, fetch.uri
            )),
            _ => None,
        }
    })
}

/// `(actual, expected)` from BuildKit's `digest mismatch A: E`.
fn mismatch_digests(message: &str) -> Option<(String, String)> {
    const MARK: &str = "digest mismatch ";
    let start = message.find(MARK)? + MARK.len();
    let rest = &message[start..];
    let (actual, rest) = take_digest(rest)?;
    let rest = rest.strip_prefix(':')?.trim_start();
    let (expected, _) = take_digest(rest)?;
    Some((actual, expected))
}

/// A leading `algorithm:hex` and what follows it.
fn take_digest(text: &str) -> Option<(String, &str)> {
    let (algorithm, rest) = text.split_once(':')?;
    if algorithm.is_empty() || !algorithm.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let len = rest
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(rest.len());
    (len > 0).then(|| (format!("{algorithm}:{}", &rest[..len]), &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::plan::{self, BuildOptions, Library};

    const GOOD: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const BAD: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn fetch_plan() -> BuildPlan {
        let yaml = format!(
            "package: {{name: p, version: 1}}\npipeline:\n  - runs: true\n  - uses: fetch\n    with:\n      uri: http://h/x-1.tar.gz\n      expected-sha256: {BAD}\n"
        );
        let config = config::load("package.yaml", &yaml).unwrap();
        let options = BuildOptions {
            named_contexts: [(
                plan::ENVIRONMENT_CONTEXT.to_string(),
                "docker-image://busybox".to_string(),
            )]
            .into(),
            target: Some("workspace".into()),
            ..Default::default()
        };
        plan::plan("package.yaml", &config, &options, &Library::new()).unwrap()
    }

    #[test]
    fn buildkit_mismatch_becomes_one_line_with_url_and_both_digests() {
        let message =
            format!("failed to compute cache key: digest mismatch sha256:{GOOD}: sha256:{BAD}");
        let line = explain(&message, &fetch_plan()).unwrap();
        assert_eq!(
            line,
            format!(
                "[3/4] uses: fetch: http://h/x-1.tar.gz does not have the expected-sha256: \
                 expected sha256:{BAD}, downloaded sha256:{GOOD}"
            )
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn other_errors_and_unknown_digests_are_left_alone() {
        let plan = fetch_plan();
        assert_eq!(explain("process did not complete", &plan), None);
        let other = format!("digest mismatch sha256:{BAD}: sha256:{GOOD}");
        assert_eq!(explain(&other, &plan), None);
        assert_eq!(explain("digest mismatch sha256:: x", &plan), None);
        assert_eq!(explain("digest mismatch ", &plan), None);
    }
}
