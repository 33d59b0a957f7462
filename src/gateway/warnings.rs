//! Lint findings as BuildKit build warnings (the gateway's `Warn` RPC), so a
//! normal build says what `--check` would: Docker 28.5 prints `N warnings
//! found` and each warning with its line. BuildKit 0.8 has no such RPC
//! (no `gateway.warnings` cap): nothing is sent there.

use super::bridge::{gateway_caps, Bridge, Capabilities};
use crate::lint::{self, Finding};
use crate::proto::{gateway as gw, pb};

/// Send every finding as a warning; a failure to send is logged, never
/// fails the build.
pub(super) async fn send(
    bridge: &Bridge,
    caps: &Capabilities,
    findings: &[Finding],
    filename: &str,
    text: &str,
    vertex: Option<&str>,
) {
    if findings.is_empty() || !caps.gateway.contains(gateway_caps::WARNINGS) {
        return;
    }
    let info = pb::SourceInfo {
        filename: filename.to_string(),
        data: text.as_bytes().to_vec(),
        definition: None,
        language: "YAML".to_string(),
    };
    let vertex = vertex.unwrap_or_default();
    for finding in findings {
        let request = request(finding, vertex, &info);
        if let Err(status) = bridge.warn(request).await {
            tracing::warn!(message = %status.message(), "sending a build warning failed");
            return;
        }
    }
}

/// One finding as a `WarnRequest` on `vertex`.
fn request(finding: &Finding, vertex: &str, info: &pb::SourceInfo) -> gw::WarnRequest {
    let rule = lint::rule(finding.rule);
    let position = |line: usize, character: usize| pb::Position {
        line: i32::try_from(line).unwrap_or(i32::MAX),
        character: i32::try_from(character).unwrap_or(0),
    };
    gw::WarnRequest {
        digest: vertex.to_string(),
        level: 1,
        short: lint::report::short(finding).into_bytes(),
        detail: rule
            .map(|r| vec![r.description.as_bytes().to_vec()])
            .unwrap_or_default(),
        url: rule.map(|r| r.url()).unwrap_or_default(),
        info: Some(info.clone()),
        ranges: vec![pb::Range {
            start: Some(position(
                finding.pos.line,
                finding.pos.col.saturating_sub(1),
            )),
            end: Some(position(finding.end_line.max(finding.pos.line), 0)),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;

    #[test]
    fn a_warning_names_its_rule_line_and_documentation() {
        let finding = Finding::at(
            "IgnoredPackages",
            Pos { line: 9, col: 9 },
            "not installed: cmake",
        );
        let info = pb::SourceInfo {
            filename: "package.yaml".into(),
            ..Default::default()
        };
        let request = request(&finding, "sha256:ab", &info);
        assert_eq!(
            request.short,
            b"IgnoredPackages: not installed: cmake (line 9)"
        );
        assert_eq!(request.url, "docs/lint.md#ignoredpackages");
        assert_eq!(request.level, 1);
        assert_eq!(request.digest, "sha256:ab");
        let start = request.ranges[0].start.as_ref().unwrap();
        assert_eq!((start.line, start.character), (9, 8));
        assert_eq!(request.info.unwrap().filename, "package.yaml");
    }
}
